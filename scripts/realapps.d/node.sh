# node: an HTTP server (keep-alive) and, in the same tree, a client that
# sends a request on one connection every 100 ms and logs the answers (the
# connection must be the same one after the restore: --tcp-established).
have_node() { command -v node >/dev/null; }
nd_check() {
	local a b
	a=$(grep -c '^ok' "$W/node.log"); sleep 1.5; b=$(grep -c '^ok' "$W/node.log")
	CHECK_WHY="answers $a -> $b, $(grep -m1 -v '^ok' "$W/node.log")"
	[ "$b" -gt "$a" ] && ! grep -qv '^ok' "$W/node.log"
}
run_node() {
	cat > "$W/node.js" <<'JSEOF'
const http = require('http'), fs = require('fs');
const out = fs.openSync(process.argv[2], 'a');
let n = 0;
const srv = http.createServer((req, res) => { n++; res.end('answer ' + n); });
srv.keepAliveTimeout = 600000;
srv.listen(0, '127.0.0.1', () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let port0 = null, i = 0;
  const tick = () => {
    const req = http.get({ host: '127.0.0.1', port: srv.address().port, agent }, (res) => {
      let b = ''; res.on('data', (d) => b += d);
      res.on('end', () => {
        const lp = req.socket.localPort;
        if (port0 === null) port0 = lp;
        i++;
        fs.writeSync(out, (lp === port0 && b === 'answer ' + i ? 'ok ' : 'BAD ') + i + ' ' + lp + ' ' + b + '\n');
        setTimeout(tick, 100);
      });
    });
    req.on('error', (e) => { fs.writeSync(out, 'ERR ' + e + '\n'); setTimeout(tick, 100); });
  };
  tick();
});
JSEOF
	rm -f "$W/node.log"
	setsid node "$W/node.js" "$W/node.log" </dev/null >/dev/null 2>&1 &
	local pid=$!
	sleep 2
	RST_OPTS=(--tcp-established)
	modes node http-keepalive "$pid" nd_check --tcp-established
	kill_tree "$pid"
}
