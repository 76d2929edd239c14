# sqlite3: a shell inside BEGIN IMMEDIATE (a write lock: fcntl locks on the
# database) fed through a FIFO; another connection must stay locked out until
# the shell commits after the restore.  Needs --file-locks.
have_sqlite() { command -v sqlite3 >/dev/null; }
SQ_N=0
sq_check() {
	SQ_N=$((SQ_N + 1))
	local other
	other=$(sqlite3 -cmd '.timeout 0' "$W/sq.db" "INSERT INTO t VALUES (900 + $SQ_N)" 2>&1)
	echo "INSERT INTO t VALUES ($SQ_N); SELECT 'n', count(*) FROM t;" > "$W/sq.in"
	sleep 0.3
	CHECK_WHY="other writer: '$other', shell: '$(tail -1 "$W/sq.out")'"
	case "$other" in *locked*) ;; *) return 1;; esac
	[ "$(tail -1 "$W/sq.out")" = "n|$((SQ_N + 1))" ]
}
run_sqlite() {
	rm -f "$W/sq.db" "$W/sq.in" "$W/sq.out"; mkfifo "$W/sq.in"
	sqlite3 "$W/sq.db" "CREATE TABLE t(k int); INSERT INTO t VALUES (0)"
	setsid sqlite3 -list "$W/sq.db" < "$W/sq.in" > "$W/sq.out" 2>&1 &
	local pid=$!
	( exec sleep 100000 > "$W/sq.in" ) &
	local w=$!
	echo "BEGIN IMMEDIATE;" > "$W/sq.in"; sleep 0.3
	# without --file-locks: refused naming it
	local d=$W/img-sq-nolocks; rm -rf "$d"; mkdir -p "$d"
	if "$CRYO" dump -t "$pid" -D "$d" -o dump.log 2>/dev/null; then
		record sqlite write-lock refuse FAIL - - - "dump accepted a held lock without --file-locks"
	else
		record sqlite write-lock refuse PASS - - - "$(grep -m1 -o -- '--file-locks.*' "$d/dump.log")"
	fi
	RST_OPTS=(--file-locks)
	modes sqlite write-lock "$pid" sq_check --file-locks
	kill_tree "$pid"; kill "$w"
}
