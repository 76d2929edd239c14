# tmux: a server with two sessions (one window running top, one a shell
# counting into a file), a client attached through script(1) on a pty; the
# tree dumped is the server (an attached client is outside and its socket has
# no name: refused, then detached).  Checks: sessions listable, the shell still
# counting, a new client can attach.
have_tmux() { command -v tmux >/dev/null && command -v script >/dev/null; }
TM="tmux -S $W/tmux.sock"
tm_check() {
	local s a b
	s=$($TM ls 2>&1 | cut -d: -f1 | sort | tr '\n' ' ')
	a=$(wc -l < "$W/tmux.cnt"); sleep 1; b=$(wc -l < "$W/tmux.cnt")
	# attach a fresh client on a pty for a moment
	timeout 2 script -qfc "$TM attach -t s1" /dev/null </dev/null >/dev/null 2>&1
	CHECK_WHY="sessions '$s', counter $a -> $b"
	[ "$s" = "s1 s2 " ] && [ "$b" -gt "$a" ]
}
run_tmux() {
	rm -f "$W/tmux.sock" "$W/tmux.cnt"
	TM="tmux -S $W/tmux.sock"
	setsid $TM new-session -d -s s1 "top -d 0.5" </dev/null >/dev/null 2>&1
	$TM new-session -d -s s2 "while :; do echo x >> $W/tmux.cnt; sleep 0.2; done"
	local pid; pid=$($TM display -p '#{pid}')
	sleep 1
	modes tmux "server+2 sessions" "$pid" tm_check --shell-job
	# with a client attached through script (a pty outside the tree)
	(setsid script -qfc "$TM attach -t s1" /dev/null </dev/null >/dev/null 2>&1 &)
	sleep 1
	# the client's socket has no name: refused (naming what helps), then
	# detached, as the message says
	local d=$W/img-tmux-attached; rm -rf "$d"; mkdir -p "$d"
	# (the server holds the client's terminal too: that is named first)
	local m
	if "$CRYO" dump -t "$pid" -D "$d" -o dump.log --ext-unix-sk 2>/dev/null; then
		record tmux attached-client refuse FAIL - - - "dump accepted an unnamed outside peer"
	elif m=$(grep -m1 -o -e 'held only as a descriptor.*' -e 'that peer has no name.*' "$d/dump.log"); then
		record tmux attached-client refuse PASS - - - "$m"
	else
		record tmux attached-client refuse FAIL - - - "$(grep -m1 Error "$d/dump.log")"
	fi
	$TM detach-client -s s1; sleep 0.5
	MODES=plain modes tmux "client detached" "$pid" tm_check
	$TM kill-server 2>/dev/null; kill_tree "$pid"
}
