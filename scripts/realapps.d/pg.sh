# postgres: a server with a client in a transaction over TCP on 127.0.0.1 (the
# client outside the tree: --tcp-established) and one over the unix socket (an
# unnamed client socket outside the tree: refused, naming what helps); pg-tree:
# a shell holding the server and both clients, dumped together.
PGBIN=/usr/lib/postgresql/15/bin
PGPORT=54329
have_pg() { [ -x $PGBIN/postgres ] && id postgres >/dev/null 2>&1; }
have_pg_tree() { have_pg; }
pg_q() { $PGBIN/psql -X -h 127.0.0.1 -p $PGPORT -U postgres -At -c "$1" 2>&1; }
pg_init() {
	local d=$W/pg
	rm -rf "$d"; mkdir -p "$d"; chown postgres "$d"
	su postgres -c "$PGBIN/initdb -D $d/data -A trust" >/dev/null 2>&1 || return 1
	for c in u t; do mkfifo "$d/in.$c"; done
}
pg_server_cmd() { echo "$PGBIN/postgres -D $W/pg/data -k $W/pg -p $PGPORT -c listen_addresses=127.0.0.1"; }
pg_wait() { for _ in $(seq 100); do pg_q 'select 1' >/dev/null && return 0; sleep 0.1; done; return 1; }
# client $1 (u or t) on host $2, fed through FIFO in.$1; a writer holds it open
pg_client() {
	( cd "$W/pg" && exec $PGBIN/psql -X -h "$2" -p $PGPORT -U postgres -At < in.$1 > out.$1 2>&1 ) &
	( exec sleep 100000 > "$W/pg/in.$1" ) &
}
PG_N=100
pg_check() {
	local d=$W/pg n
	PG_N=$((PG_N + 1))
	echo "INSERT INTO t VALUES ($PG_N, 'in-tx'); SELECT 'tx', count(*) FROM t WHERE k >= 100;" > "$d/in.t"
	n=$(pg_q "SELECT string_agg(k::text, ',' ORDER BY k) FROM t")
	sleep 0.5
	CHECK_WHY="committed rows '$n', transaction's answer '$(tail -1 "$d/out.t")'"
	# the transaction's rows are not visible outside it; its own count is
	[ "$n" = "1,2,3" ] && [ "$(tail -1 "$d/out.t")" = "tx|$((PG_N - 100))" ]
}
pg_setup_data() {
	PG_N=100
	pg_q "CREATE TABLE t(k int primary key, v text); INSERT INTO t VALUES (1,'one'),(2,'two'),(3,'three')" >/dev/null
	echo "BEGIN;" > "$W/pg/in.t"
}
run_pg() {
	pg_init || return
	# (its log to /dev/null: with --leave-running a growing log file fails the
	# restore's size check, as in criu)
	su postgres -c "setsid $(pg_server_cmd) </dev/null >/dev/null 2>&1 &"
	pg_wait || { log "postgres did not start"; return; }
	local pid; pid=$(head -1 "$W/pg/data/postmaster.pid")
	pg_client t 127.0.0.1
	pg_client u "$W/pg"
	sleep 0.5
	pg_setup_data
	# the unix client: a refusal that must not suggest --ext-unix-sk
	local d=$W/img-pg-unix; rm -rf "$d"; mkdir -p "$d"
	if "$CRYO" dump -t "$pid" -D "$d" -o dump.log --tcp-established --ext-unix-sk 2>/dev/null; then
		record pg unix-client refuse FAIL - - - "dump accepted an unnamed outside peer"
	else
		record pg unix-client refuse PASS - - - "$(grep -m1 -o 'that peer has no name.*' "$d/dump.log")"
	fi
	echo '\q' > "$W/pg/in.u"; sleep 0.3
	# without --tcp-established: refused naming it
	if "$CRYO" dump -t "$pid" -D "$d" -o dump2.log 2>/dev/null; then
		record pg tcp-client refuse FAIL - - - "dump accepted an established connection"
	else
		record pg tcp-client refuse PASS - - - "$(grep -m1 -o 'consider using --tcp-established' "$d/dump2.log")"
	fi
	RST_OPTS=(--tcp-established)
	# not --leave-running: the connection goes on with the tree left running,
	# and killing that tree (to restore) resets it for the client
	MODES="plain predump" modes pg tcp-client-in-tx "$pid" pg_check --tcp-established
	kill_tree "$pid"
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
}
run_pg_tree() {
	pg_init || return
	chmod 777 "$W/pg"
	# one shell holds the server and both clients: every connection is inside
	setsid bash -c "$(declare -f pg_client); PGBIN=$PGBIN PGPORT=$PGPORT W=$W
		su postgres -c '$(pg_server_cmd) </dev/null >$W/pg/log 2>&1' &
		sleep 3; pg_client t 127.0.0.1; pg_client u $W/pg; wait" </dev/null >/dev/null 2>&1 &
	local pid=$!
	pg_wait || { log "postgres did not start"; return; }
	sleep 3.5
	pg_setup_data
	echo "BEGIN; INSERT INTO t VALUES (50,'u-tx');" > "$W/pg/in.u"
	RST_OPTS=(--tcp-established)
	modes pg tree-2-clients-in-tx "$pid" pg_check --tcp-established
	kill_tree "$pid"
}
