# python: four threads counting, the main thread echoing lines through a pipe
# to a child `cat` and checking each answer.
PY=/usr/bin/python3
have_python() { [ -x $PY ]; }
py_check() {
	local a b
	a=$(grep -c '^ok' "$W/py.log"); sleep 1; b=$(grep -c '^ok' "$W/py.log")
	CHECK_WHY="lines $a -> $b, $(grep -m1 BAD "$W/py.log")"
	[ "$b" -gt "$a" ] && ! grep -q BAD "$W/py.log"
}
run_python() {
	cat > "$W/py.py" <<'PYEOF'
import threading, subprocess, time, sys
p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
cnt = [0] * 4
lock = threading.Lock()
def worker(i):
    while True:
        with lock:
            cnt[i] += 1
        time.sleep(0.01)
for i in range(4):
    threading.Thread(target=worker, args=(i,), daemon=True).start()
heap = [bytes([i % 256]) * 4096 for i in range(2000)]
out = open(sys.argv[1], "a", buffering=1)
n = 0
while True:
    n += 1
    msg = ("line %d\n" % n).encode()
    p.stdin.write(msg); p.stdin.flush()
    r = p.stdout.readline()
    if r != msg or any(h != bytes([i % 256]) * 4096 for i, h in enumerate(heap)):
        out.write("BAD %r %r\n" % (r, msg)); sys.exit(1)
    with lock:
        s = sum(cnt)
    out.write("ok %d %d\n" % (n, s))
    time.sleep(0.05)
PYEOF
	rm -f "$W/py.log"
	setsid $PY "$W/py.py" "$W/py.log" </dev/null >/dev/null 2>&1 &
	local pid=$!
	sleep 1
	modes python threads+pipe $pid py_check
	kill_tree $pid
}
