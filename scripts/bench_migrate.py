"""scripts/bench migrate: live migration between two hosts.

Three network namespaces: cryo-mig-src and cryo-mig-dst stand for the two
hosts, cryo-mig-cli for a client (and the router between them):

   src 10.99.1.2 --veth-- 10.99.1.1  cli  10.99.2.1 --veth-- 10.99.2.2 dst

The service address 10.99.9.1 is on src's loopback; cli routes it to src.
The service is tests/progs/mem_migrate --serve: 1 GiB of private memory
(--mib), a 10% hot set rewritten at a steady rate (--rate pages/ms) and cold
pages now and then, echoing the bytes of one TCP connection.  The client
(in cli) sends a byte every millisecond and times the echoes.

Each mode runs `cryo migrate --listen` in dst and `cryo migrate -t PID --to
10.99.2.2:PORT --tcp-established` in src.  The destination's action script
adds the service address to dst's loopback at pre-restore and, at
network-unlock, points cli's route for it to dst (the address moves with
the tree; rto_min 5ms on that route, so that the client's retransmissions
measure the pause rather than TCP's backoff).  Reported per mode:

  downtime   the longest gap between two echoes during the migration (the
             last reply before the freeze to the first one after)
  total      from the source's start until both ends exited (with
             post-copy: until the destination's daemon had every page)
  sent       bytes src sent on its veth (images, pages, everything)
  iters      pre-copy iterations

Modes: plain (--max-iterations 0: one dump, copied, restored), precopy
(iterations until 70% of the pages stay unchanged), postcopy
(--max-iterations 0 --lazy-pages), both (pre-copy, then --lazy-pages).
After each, the restored service gets SIGTERM and must pass its check of
every byte."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

NS_SRC, NS_DST, NS_CLI = 'cryo-mig-src', 'cryo-mig-dst', 'cryo-mig-cli'
SERVICE, SVC_PORT, MIG_PORT = '10.99.9.1', 7000, 7001
MODES = {
    'plain': ['--max-iterations', '0'],
    'precopy': [],
    'postcopy': ['--max-iterations', '0', '--lazy-pages'],
    'both': ['--lazy-pages'],
}


class BenchError(Exception):
    pass


def sh(*cmd, ns=None, check=True):
    full = (['ip', 'netns', 'exec', ns] if ns else []) + list(cmd)
    r = subprocess.run(full, capture_output=True, text=True)
    if check and r.returncode:
        raise BenchError('%s: %s' % (' '.join(full), r.stderr.strip()))
    return r.stdout


def teardown():
    for ns in (NS_SRC, NS_DST, NS_CLI):
        subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)


def setup():
    teardown()
    for ns in (NS_SRC, NS_DST, NS_CLI):
        sh('ip', 'netns', 'add', ns)
        sh('ip', 'link', 'set', 'lo', 'up', ns=ns)
    sh('ip', 'link', 'add', 'mig-s', 'netns', NS_SRC, 'type', 'veth', 'peer', 'mig-cs',
       'netns', NS_CLI)
    sh('ip', 'link', 'add', 'mig-d', 'netns', NS_DST, 'type', 'veth', 'peer', 'mig-cd',
       'netns', NS_CLI)
    for ns, dev, addr in ((NS_SRC, 'mig-s', '10.99.1.2/24'), (NS_CLI, 'mig-cs', '10.99.1.1/24'),
                          (NS_DST, 'mig-d', '10.99.2.2/24'), (NS_CLI, 'mig-cd', '10.99.2.1/24')):
        sh('ip', 'addr', 'add', addr, 'dev', dev, ns=ns)
        sh('ip', 'link', 'set', dev, 'up', ns=ns)
    sh('ip', 'route', 'add', 'default', 'via', '10.99.1.1', ns=NS_SRC)
    sh('ip', 'route', 'add', 'default', 'via', '10.99.2.1', ns=NS_DST)
    sh('sysctl', '-qw', 'net.ipv4.ip_forward=1', ns=NS_CLI)


def place_service():
    """The service address on src, cli's route to it."""
    sh('ip', 'addr', 'add', SERVICE + '/32', 'dev', 'lo', ns=NS_SRC)
    sh('ip', 'addr', 'del', SERVICE + '/32', 'dev', 'lo', ns=NS_DST, check=False)
    sh('ip', 'route', 'replace', SERVICE + '/32', 'via', '10.99.1.2', 'rto_min', '5ms', ns=NS_CLI)


def tx_bytes():
    return int(sh('cat', '/sys/class/net/mig-s/statistics/tx_bytes', ns=NS_SRC))


class Client(threading.Thread):
    """In cli: a byte every millisecond, each echo timed."""

    def __init__(self):
        super().__init__(daemon=True)
        self.times, self.stop, self.error = [], False, None
        # the socket is made inside cli by a helper that passes it back
        self.sk = self.connect_in_ns()

    def connect_in_ns(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        code = ('import socket,sys;'
                's=socket.create_connection(("%s",%d),timeout=10);'
                's.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1);'
                'u=socket.socket(fileno=%d);socket.send_fds(u,[b"s"],[s.fileno()])'
                % (SERVICE, SVC_PORT, b.fileno()))
        p = subprocess.run(['ip', 'netns', 'exec', NS_CLI, '/usr/bin/python3', '-c', code],
                           pass_fds=(b.fileno(),), capture_output=True, text=True, timeout=20)
        b.close()
        if p.returncode:
            raise BenchError('the client could not connect: %s' % p.stderr.strip()[-300:])
        _, fds, _, _ = socket.recv_fds(a, 16, 1)
        a.close()
        sk = socket.socket(fileno=fds[0])
        sk.settimeout(60)
        return sk

    def run(self):
        try:
            while not self.stop:
                self.sk.sendall(b'x')
                if self.sk.recv(1) != b'x':
                    raise BenchError('the echo is wrong or the connection closed')
                self.times.append(time.monotonic())
                time.sleep(0.001)
        except Exception as e:      # reported by the main thread
            self.error = e

    def gap_since(self, t0):
        ts = [t for t in self.times if t >= t0 - 0.01]
        return max((b - a for a, b in zip(ts, ts[1:])), default=None)


def wait_file(path, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            s = open(path).read().strip()
            if s:
                return s
        except OSError:
            pass
        time.sleep(0.01)
    raise BenchError('%s did not appear' % path)


def run_mode(a, mode, prog, work):
    d = os.path.join(work, mode)
    src, dst = os.path.join(d, 'src'), os.path.join(d, 'dst')
    os.makedirs(src)
    os.makedirs(dst)
    place_service()
    out = os.path.join(d, 't.out')
    pidf = os.path.join(d, 't.pid')
    subprocess.run(['ip', 'netns', 'exec', NS_SRC, prog, '--pidfile', pidf, '--outfile', out,
                    '--pages', str(a.mib * 256), '--hot', '10', '--rate', str(a.rate),
                    '--serve', str(SVC_PORT)], check=True, timeout=120)
    pid = int(wait_file(pidf))
    cli = Client()
    cli.start()
    time.sleep(1.0)     # a steady state: writes and echoes going
    script = ('case "$CRTOOLS_SCRIPT_ACTION" in '
              'pre-restore) ip addr add %s/32 dev lo ;; '
              'network-unlock) ip netns exec %s ip route replace %s/32 via 10.99.2.2 '
              'rto_min 5ms ;; esac' % (SERVICE, NS_CLI, SERVICE))
    restored = os.path.join(d, 'restored.pid')
    dlog = open(os.path.join(d, 'dest.out'), 'w')
    dest = subprocess.Popen(['ip', 'netns', 'exec', NS_DST, a.cryo, 'migrate', '--listen',
                             str(MIG_PORT), '-D', dst, '--pid-ns', '--pidfile', restored,
                             '--tcp-established', '--action-script', script,
                             '-o', 'dest.log', '-v4'], stdout=dlog, stderr=dlog)
    time.sleep(0.3)
    tx0, t0 = tx_bytes(), time.monotonic()
    srcp = subprocess.run(['ip', 'netns', 'exec', NS_SRC, a.cryo, 'migrate', '-t', str(pid),
                           '--to', '10.99.2.2:%d' % MIG_PORT, '--address', '10.99.1.2',
                           '--tcp-established', '-D', src, '-o', 'src.log', '-v4'] +
                          MODES[mode], capture_output=True, text=True, timeout=600)
    try:
        drc = dest.wait(600)
    finally:
        dlog.close()
    total = time.monotonic() - t0
    sent = tx_bytes() - tx0
    if srcp.returncode or drc:
        raise BenchError('%s: source exit %s, destination exit %s: %s' % (
            mode, srcp.returncode, drc, (srcp.stdout + srcp.stderr).strip()[-400:]))
    time.sleep(0.5)     # echoes from the destination
    cli.stop = True
    cli.join(30)
    if cli.error:
        raise BenchError('%s: the client: %s' % (mode, cli.error))
    gap = cli.gap_since(t0)
    log = open(os.path.join(src, 'src.log'), errors='replace').read()
    iters = len(re.findall(r'migrate: pre-copy \d+:', log))
    host = int(wait_file(restored))
    os.kill(host, signal.SIGTERM)
    end = time.monotonic() + 60
    while os.path.exists('/proc/%d' % host) and time.monotonic() < end:
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)
    verdict = open(out).read()
    if 'PASS' not in verdict.split():
        raise BenchError('%s: the migrated service did not pass: %s' % (mode, verdict.strip()))
    cli.sk.close()
    shutil.rmtree(d, ignore_errors=True)
    return {'mode': mode, 'downtime_ms': gap * 1000 if gap else None, 'total_s': total,
            'sent_bytes': sent, 'iterations': iters, 'mib': a.mib}


def main(a, modes):
    prog = os.path.join(a.build, 'tests', 'progs', 'mem_migrate')
    if not os.access(prog, os.X_OK):
        raise BenchError('%s not found: build first' % prog)
    work = os.path.join(a.dir, 'migrate')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    setup()
    results = []
    try:
        print('migrate: %d MiB, 10%% hot, %d pages/ms written; downtime = longest echo gap'
              % (a.mib, a.rate))
        for m in modes:
            r = run_mode(a, m, prog, work)
            results.append(r)
            print('%-9s downtime %7.1f ms  total %6.2f s  sent %7.1f MiB (%.2fx memory)  '
                  'iterations %d' % (m, r['downtime_ms'] or -1, r['total_s'],
                                     r['sent_bytes'] / 2**20, r['sent_bytes'] / (a.mib * 2**20),
                                     r['iterations']), flush=True)
    finally:
        teardown()
        shutil.rmtree(work, ignore_errors=True)
    return results
