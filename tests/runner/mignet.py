"""Two hosts and a client in network namespaces, for cryo migrate with an
established TCP connection (tests/runner/migrate.py's tcp check,
scripts/bench migrate):

   src 10.99.1.2 --veth-- 10.99.1.1  cli  10.99.2.1 --veth-- 10.99.2.2 dst

cli routes between the two.  The service address 10.99.9.1 starts on
src's loopback and cli's route to it points at src; the destination's
action script (dest_script()) adds the address to dst's loopback at
pre-restore (the restored sockets bind it) and points cli's route at dst
at network-unlock: the address moves with the tree.  rto_min 5ms on that
route: the client's retransmissions then show the pause, not TCP's
backoff.  Namespace names end in the runner's PID (no collision between
two runners)."""

import os
import re
import signal
import socket
import subprocess
import threading
import time

SERVICE, SVC_PORT, MIG_PORT = '10.99.9.1', 7000, 7001
DST_ADDR, SRC_ADDR = '10.99.2.2', '10.99.1.2'


class NetError(Exception):
    pass


class Net:
    def __init__(self):
        sfx = '-%d' % os.getpid()
        self.src, self.dst, self.cli = ('cryo-mig-src' + sfx, 'cryo-mig-dst' + sfx,
                                        'cryo-mig-cli' + sfx)

    def sh(self, *cmd, ns=None, check=True):
        full = (['ip', 'netns', 'exec', ns] if ns else []) + list(cmd)
        r = subprocess.run(full, capture_output=True, text=True)
        if check and r.returncode:
            raise NetError('%s: %s' % (' '.join(full), r.stderr.strip()))
        return r.stdout

    def exec_in(self, ns):
        # only the network namespace: `ip netns exec` would also give the
        # command a mount namespace of its own, and cryo dumps a tree only
        # from its own mount namespace (or dumps the tree's as a container's)
        return ['nsenter', '--net=/run/netns/' + ns]

    def teardown(self):
        for ns in (self.src, self.dst, self.cli):
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)

    def setup(self):
        self.teardown()
        for ns in (self.src, self.dst, self.cli):
            self.sh('ip', 'netns', 'add', ns)
            self.sh('ip', 'link', 'set', 'lo', 'up', ns=ns)
        self.sh('ip', 'link', 'add', 'mig-s', 'netns', self.src, 'type', 'veth', 'peer',
                'mig-cs', 'netns', self.cli)
        self.sh('ip', 'link', 'add', 'mig-d', 'netns', self.dst, 'type', 'veth', 'peer',
                'mig-cd', 'netns', self.cli)
        for ns, dev, addr in ((self.src, 'mig-s', SRC_ADDR + '/24'),
                              (self.cli, 'mig-cs', '10.99.1.1/24'),
                              (self.dst, 'mig-d', DST_ADDR + '/24'),
                              (self.cli, 'mig-cd', '10.99.2.1/24')):
            self.sh('ip', 'addr', 'add', addr, 'dev', dev, ns=ns)
            self.sh('ip', 'link', 'set', dev, 'up', ns=ns)
        self.sh('ip', 'route', 'add', 'default', 'via', '10.99.1.1', ns=self.src)
        self.sh('ip', 'route', 'add', 'default', 'via', '10.99.2.1', ns=self.dst)
        self.sh('sysctl', '-qw', 'net.ipv4.ip_forward=1', ns=self.cli)

    def place_service(self):
        """The service address on src, cli's route to it."""
        self.sh('ip', 'addr', 'del', SERVICE + '/32', 'dev', 'lo', ns=self.src, check=False)
        self.sh('ip', 'addr', 'add', SERVICE + '/32', 'dev', 'lo', ns=self.src)
        self.sh('ip', 'addr', 'del', SERVICE + '/32', 'dev', 'lo', ns=self.dst, check=False)
        self.sh('ip', 'route', 'replace', SERVICE + '/32', 'via', SRC_ADDR, 'rto_min', '5ms',
                ns=self.cli)

    def route_to(self):
        """Where cli sends the service's packets now."""
        out = self.sh('ip', 'route', 'get', SERVICE, ns=self.cli)
        return out.split(' via ')[1].split()[0] if ' via ' in out else None

    def dest_script(self):
        return ('case "$CRTOOLS_SCRIPT_ACTION" in '
                'pre-restore) ip addr add %s/32 dev lo ;; '
                'network-unlock) ip netns exec %s ip route replace %s/32 via %s rto_min 5ms ;; '
                'esac' % (SERVICE, self.cli, SERVICE, DST_ADDR))

    def tx_bytes(self):
        return int(self.sh('cat', '/sys/class/net/mig-s/statistics/tx_bytes', ns=self.src))


class Client(threading.Thread):
    """In cli, connected to the service: a byte every millisecond, each
    echo timed (the socket is made in cli by a helper that passes it back)."""

    def __init__(self, net):
        super().__init__(daemon=True)
        self.times, self.stop, self.error = [], False, None
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        code = ('import socket;'
                's=socket.create_connection(("%s",%d),timeout=10);'
                's.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1);'
                'u=socket.socket(fileno=%d);socket.send_fds(u,[b"s"],[s.fileno()])'
                % (SERVICE, SVC_PORT, b.fileno()))
        p = subprocess.run(net.exec_in(net.cli) + ['/usr/bin/python3', '-c', code],
                           pass_fds=(b.fileno(),), capture_output=True, text=True, timeout=20)
        b.close()
        if p.returncode:
            a.close()
            raise NetError('the client could not connect: %s' % p.stderr.strip()[-300:])
        _, fds, _, _ = socket.recv_fds(a, 16, 1)
        a.close()
        self.sk = socket.socket(fileno=fds[0])
        self.sk.settimeout(60)
        self.local = self.sk.getsockname()

    def run(self):
        try:
            while not self.stop:
                self.sk.sendall(b'x')
                if self.sk.recv(1) != b'x':
                    raise NetError('the echo is wrong, or the connection closed')
                self.times.append(time.monotonic())
                time.sleep(0.001)
        except Exception as e:      # reported by the caller
            self.error = e

    def gap_since(self, t0):
        """The longest time without an echo since @t0."""
        ts = [t for t in self.times if t >= t0 - 0.01]
        return max((b - a for a, b in zip(ts, ts[1:])), default=None)

    def finish(self, timeout=30):
        self.stop = True
        self.join(timeout)
        self.sk.close()
        if self.error:
            raise NetError('the client: %s' % self.error)


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
    raise NetError('%s did not appear' % path)


def migrate_once(net, cryo, prog, d, pages, rate, extra, log_level='-v2', dest_extra=()):
    """One migration of mem_migrate with a client connected; returns the
    figures.  Raises NetError on any failure."""
    src, dst = os.path.join(d, 'src'), os.path.join(d, 'dst')
    os.makedirs(src)
    os.makedirs(dst)
    net.place_service()
    out, pidf = os.path.join(d, 't.out'), os.path.join(d, 't.pid')
    subprocess.run(net.exec_in(net.src) + [prog, '--pidfile', pidf, '--outfile', out,
                                           '--pages', str(pages), '--hot', '10',
                                           '--rate', str(rate), '--serve', str(SVC_PORT)],
                   check=True, timeout=300)
    pid = int(wait_file(pidf))
    res = {'pid': pid, 'outfile': out}
    cli = Client(net)
    cli.start()
    time.sleep(1.0)     # a steady state: writes and echoes going
    restored = os.path.join(d, 'restored.pid')
    dlog = open(os.path.join(d, 'dest.out'), 'w')
    dest = subprocess.Popen(net.exec_in(net.dst) + [
        cryo, 'migrate', '--listen', str(MIG_PORT), '-D', dst, '--pid-ns',
        '--pidfile', restored, '--tcp-established', '--action-script', net.dest_script(),
        '-o', 'dest.log', log_level] + list(dest_extra), stdout=dlog, stderr=dlog)
    dlog.close()
    time.sleep(0.3)
    tx0, t0 = net.tx_bytes(), time.monotonic()
    srcp = subprocess.run(net.exec_in(net.src) + [
        cryo, 'migrate', '-t', str(pid), '--to', '%s:%d' % (DST_ADDR, MIG_PORT),
        '--address', SRC_ADDR, '--tcp-established', '-D', src, '-o', 'src.log', log_level] +
        extra, capture_output=True, text=True, timeout=600)
    try:
        drc = dest.wait(600)
    except subprocess.TimeoutExpired:
        dest.kill()
        raise NetError('the destination still runs 600 s after the source')
    res['total_s'] = time.monotonic() - t0
    res['sent_bytes'] = net.tx_bytes() - tx0
    res['source_output'] = srcp.stdout + srcp.stderr
    if srcp.returncode or drc:
        cli.stop = True
        raise NetError('source exit %s, destination exit %s: %s' % (
            srcp.returncode, drc, res['source_output'].strip()[-400:]))
    time.sleep(0.5)     # echoes from the destination
    cli.finish()
    gap = cli.gap_since(t0)
    res['downtime_ms'] = gap * 1000 if gap else None
    res['echo_times'] = list(cli.times)
    res['echoes_after'] = len([t for t in cli.times if t > t0 + res['total_s']])
    log = open(os.path.join(src, 'src.log'), errors='replace').read()
    res['iterations'] = len(re.findall(r'migrate: pre-copy \d+:', log))
    m = re.search(r'\((\d+) ms after the freeze\)', log)
    res['pause_ms'] = int(m.group(1)) if m else None
    # the log's times are from the source's start (~t0): the echo gap
    # around the final dump's freeze, and the pre-dumps' own freezes
    # (cryo's pre-dump copies the pages while the tree is frozen)
    stages = [(float(t), w, st) for t, w, st in
              re.findall(r'^\((\d+\.\d+)\) (pre-dump|dump): stage (\S+)', log, re.M)]
    final = [t for t, w, st in stages if w == 'dump' and st == 'freeze']
    res['switch_ms'] = None
    if final:
        # the log starts a few ms after t0 (the exec): the longest gap
        # that begins within 50 ms of the freeze's log time
        ft = t0 + final[0]
        gaps = [b - a for a, b in zip(cli.times, cli.times[1:]) if b > ft and a < ft + 0.05]
        if gaps:
            res['switch_ms'] = max(gaps) * 1000
    pre = []
    for (t, w, st), (t2, w2, st2) in zip(stages, stages[1:]):
        if w == 'pre-dump' and st == 'freeze':
            rel = [x for x, ww, ss in stages if ww == 'pre-dump' and ss == 'release' and x > t]
            if rel:
                pre.append((rel[0] - t) * 1000)
    res['predump_freeze_ms'] = pre
    res['split'] = split(os.path.join(src, 'src.log'), os.path.join(dst, 'dest.log'),
                         cli.times)
    res['route'] = net.route_to()
    host = int(wait_file(restored))
    res['restored'] = host
    return res


def log_events(path):
    """(CLOCK_MONOTONIC seconds, message) of each line of a cryo log
    written with -v4 (its first lines say where its clock starts)."""
    base, ev = None, []
    try:
        text = open(path, errors='replace').read()
    except OSError:
        return []
    for t, msg in re.findall(r'^\((\d+\.\d+)\) (.*)$', text, re.M):
        m = re.match(r'log times count from CLOCK_MONOTONIC (\d+\.\d+)', msg)
        if m and base is None:
            base = float(m.group(1))
        ev.append((float(t), msg))
    return [(base + t, msg) for t, msg in ev] if base is not None else []


# the switch-over's steps, each the first line matching in that log
SPLIT = (('committed', 'src', r'^dump: notify post-dump'),
         ('sent', 'src', r'^migrate: images sent'),
         ('restoring', 'dst', r'^restore: stage images'),
         ('released', 'dst', r'^restore: stage release'),
         ('unlocked', 'dst', r'^restore: notify post-resume'))


def split(src_log, dst_log, echoes):
    """ms after the final dump's freeze at which each step of SPLIT was
    reached, and the first echo after it; {} without -v4 logs."""
    logs = {'src': log_events(src_log), 'dst': log_events(dst_log)}
    fr = [t for t, m in logs['src'] if m == 'dump: stage freeze']
    if not fr:
        return {}
    out = {}
    for name, w, pat in SPLIT:
        ts = [t for t, m in logs[w] if t >= fr[0] and re.search(pat, m)]
        if ts:
            out[name] = (ts[0] - fr[0]) * 1000
    after = [t for t in echoes if t > fr[0] + 0.002]
    if after:
        out['reply'] = (after[0] - fr[0]) * 1000
    return out


def verdict(host, outfile):
    """SIGTERM to the migrated service; its check of every byte must pass."""
    os.kill(host, signal.SIGTERM)
    end = time.monotonic() + 60
    while os.path.exists('/proc/%d' % host) and time.monotonic() < end:
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)
    text = open(outfile).read()
    if 'PASS' not in text.split():
        raise NetError('the migrated service did not pass: %s' % text.strip()[-300:])
