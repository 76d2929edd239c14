# java: 40 threads incrementing their counters, a live heap of 200 MiB of
# byte arrays with known contents; the main thread checks the heap and logs
# the total every 200 ms.
have_java() { command -v java >/dev/null; }
jv_check() {
	local a b
	a=$(grep -c '^ok' "$W/jv.log"); sleep 2; b=$(grep -c '^ok' "$W/jv.log")
	CHECK_WHY="lines $a -> $b, $(grep -m1 -v '^ok' "$W/jv.log")"
	[ "$b" -gt "$a" ] && ! grep -qv '^ok' "$W/jv.log"
}
run_java() {
	mkdir -p "$W/jv"
	cat > "$W/jv/Load.java" <<'JEOF'
import java.io.*;
import java.util.*;
import java.util.concurrent.atomic.*;
public class Load {
    public static void main(String[] a) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(a[0], true), true);
        AtomicLongArray cnt = new AtomicLongArray(40);
        for (int i = 0; i < 40; i++) {
            final int k = i;
            Thread t = new Thread(() -> {
                while (true) {
                    cnt.incrementAndGet(k);
                    try { Thread.sleep(5); } catch (InterruptedException e) { return; }
                }
            });
            t.setDaemon(true);
            t.start();
        }
        List<byte[]> heap = new ArrayList<>();
        for (int i = 0; i < 200; i++) { byte[] b = new byte[1 << 20]; Arrays.fill(b, (byte) i); heap.add(b); }
        long last = 0;
        while (true) {
            long s = 0;
            for (int i = 0; i < 40; i++) s += cnt.get(i);
            boolean good = s > last;
            for (int i = 0; i < 200; i++) { byte[] b = heap.get(i); if (b[0] != (byte) i || b[b.length - 1] != (byte) i) good = false; }
            out.println((good ? "ok " : "BAD ") + s);
            last = s;
            Thread.sleep(200);
        }
    }
}
JEOF
	rm -f "$W/jv.log"
	setsid java -Xmx512m -XX:+UseSerialGC "$W/jv/Load.java" "$W/jv.log" </dev/null >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 100); do [ -s "$W/jv.log" ] && break; sleep 0.2; done
	modes java "40 threads+200M heap" "$pid" jv_check
	kill_tree "$pid"
}
