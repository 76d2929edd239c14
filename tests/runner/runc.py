#!/usr/bin/python3
"""runc (Debian's, 1.1.5) driving the cryo under test as its criu
(`runc --criu CRYO`), unchanged, over criu's RPC (`cryo swrk`).

Each check makes its own bundle under /tmp/cryo-runc.*: a root file system
of busybox-static (/bin/busybox and a link per applet) and runc's spec,
changed to run a shell loop that writes "COUNT" to /count every 0.1 s and
a busybox httpd on 127.0.0.1:8080 in the container's network namespace,
serving a token of the check's.  runc keeps its state under the check's
directory (--root), so nothing of other runc users is touched.

  runc:checkpoint-restore  runc checkpoint (the container is gone), runc
                    restore -d: the same loop goes on from where it was (the
                    count strictly increasing from the value it had, not
                    restarted), httpd (same PID inside) serves the token,
                    runc state says running
  runc:leave-running  checkpoint --leave-running: the container runs on
                    (the same init, its count still growing); then it is
                    deleted and the images restored: the loop goes on from
                    the checkpoint's count
  runc:two-copies   one checkpoint restored twice at once, as two container
                    ids with bundles of their own (copies of the root file
                    system): both run, each loop going on from the
                    checkpoint's count in its own /count, both serve
  runc:tcp-established  a container with a TCP connection inside (busybox
                    nc: an echo server and a client sending 1, 2, 3...):
                    checkpoint without --tcp-established is refused (cryo's
                    message names the option) and the container runs on;
                    with it on both sides the connection survives: the
                    lines echoed back go on with none lost or repeated
                    (it needs lo up in the restored network namespace)
  runc:pre-dump     checkpoint --pre-dump (runc asks FEATURE_CHECK
                    mem_track first), the container runs on; checkpoint
                    --parent-path ../pre: its stats-dump (read by crit)
                    leaves pages to the pre-dump; the restore goes on from
                    the checkpoint's count
  runc:terminal      a container with a terminal ("terminal": true): a
                    shell on it answering each line typed with how many it
                    read; the pty master runc sends to the console socket is
                    this script's.  Echo off and 37x111 set, checkpoint (runc
                    sends orphan_pts_master), restore with a new console
                    socket: cryo's orphan-pts-master notification gives runc
                    a new master, which comes to the new socket; on it the
                    pair has echo off, 37x111, the restored init as session
                    and foreground group, the loop goes on and the same
                    shell answers "reply 2 ..." (its count went on), and
                    what it writes to /dev/console (runc's bind mount of
                    the slave, made anew) comes to the new master

The restored container's cgroup v1 mounts (/sys/fs/cgroup/CTRL) show the
hierarchy's root where the original showed its own cgroup: runc names the
hierarchy's mount point as their source at restore (as with criu, which
binds what it is given); not checked here.

After every runc checkpoint/restore the requests and notifications cryo
logged (the work directory's dump.log / restore.log: "RPC ... request:",
"notifying the client") are printed as '#' lines, so a failure shows which
field or notification went wrong.  Every container a check made is
removed with `runc delete -f` (also when it failed); the files of a failed
check are kept.  Lines "PASS runc:NAME" / "FAIL runc:NAME: why" (SKIP when
not root, or runc or busybox-static is missing).  Environment: CRYO, BUILD.
"""

import array
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checklib     # noqa: E402
from checklib import CheckFailed, note  # noqa: E402

RUNC = shutil.which('runc') or '/usr/sbin/runc'
BUSYBOX = '/bin/busybox'
PORT = 8080
ECHO_PORT = 9090
RUNC_TIMEOUT = 60


class RuncCheck(checklib.Check):
    """A check's directory holds runc's state (state/), its bundles and
    the images; the containers it made are deleted at the end."""

    def __init__(self, name):
        wdir = tempfile.mkdtemp(prefix='cryo-runc.%s.' % name)
        super().__init__(name, wdir)
        self.state = self.path('state')
        os.makedirs(self.state)
        self.ids = []
        self.keep_fds = []
        self.restore_opts = []
        self.restore_began = 0
        self.token = 'token-%s-%d' % (name, os.getpid())

    @staticmethod
    def cid(short):
        """A container id no other runc user has (ids are host-wide: the
        cgroups runc makes are named after them)."""
        return 'cryo%d-%s' % (os.getpid(), short)

    def pipes(self):
        """stdin, stdout and stderr for a container: pipes (a host file or
        /dev/null is outside its mount namespace: cryo, as criu, can't dump
        a descriptor on it), whose other ends this check keeps.  runc
        records them (descriptors.json) and gives the restore new ones
        (inherit_fd pipe:[INODE])."""
        ends = []
        for _ in range(3):
            r, w = os.pipe()
            ends.append((r, w))
        self.keep_fds += [ends[0][1], ends[1][0], ends[2][0]]
        return [ends[0][0], ends[1][1], ends[2][1]]

    def runc(self, args, tag, timeout=RUNC_TIMEOUT, ok=True, stdio=None):
        """runc with this check's state and cryo as its criu: (rc, output).
        @stdio: the container's (run, restore), else /dev/null and the
        output file."""
        self.n += 1
        base = os.path.join(self.cmds, '%02d-%s' % (self.n, tag))
        cmd = [RUNC, '--root', self.state, '--criu', checklib.CRYO]
        if stdio:
            cmd += ['--log', base + '.out']
        cmd += list(args)
        with open(base + '.cmd', 'w') as f:
            f.write(' '.join(cmd) + '\n')
        t0 = time.time()
        with open(base + '.out', 'w') as out:
            io = stdio or [subprocess.DEVNULL, out, out]
            try:
                rc = subprocess.run(cmd, stdin=io[0], stdout=io[1], stderr=io[2],
                                    timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                rc = None
        if args[0] in ('checkpoint', 'restore'):
            note('%s: runc %s: %.2f s (exit %s)' % (self.name, args[0], time.time() - t0, rc))
        if stdio:
            for fd in stdio:
                os.close(fd)
        text = checklib.read(base + '.out')
        if ok and rc != 0:
            raise CheckFailed('runc %s exited %s: %s' % (' '.join(args), rc,
                                                          ' | '.join(text.strip().splitlines()[-3:])))
        return rc, text

    def bundle(self, name, tcp=False):
        """A bundle: busybox root file system, runc's spec with the loop;
        @tcp: also an echo server (nc -l -e cat) on port 9090 and a client
        of it sending 1, 2, 3... every 0.1 s, what comes back going to
        /echoed (a connection inside the container)."""
        b = self.path(name)
        root = os.path.join(b, 'rootfs')
        checklib.busybox_root(root, ('bin', 'proc', 'sys', 'dev', 'tmp', 'www'))
        with open(os.path.join(root, 'www', 'index.html'), 'w') as f:
            f.write(self.token + '\n')
        subprocess.run([RUNC, 'spec'], cwd=b, check=True)
        cfg_path = os.path.join(b, 'config.json')
        cfg = json.load(open(cfg_path))
        cfg['process']['terminal'] = False
        echo = ('nc -l -p %d -e cat & usleep 300000; '
                '(j=0; while true; do j=$((j+1)); echo $j; usleep 100000; done) | '
                'nc 127.0.0.1 %d > /echoed & ' % (ECHO_PORT, ECHO_PORT)) if tcp else ''
        cfg['process']['args'] = [
            '/bin/sh', '-c',
            'httpd -f -p 127.0.0.1:%d -h /www & %s'
            'i=0; while true; do i=$((i+1)); echo $i > /count; usleep 100000; done'
            % (PORT, echo)]
        cfg['root']['readonly'] = False
        json.dump(cfg, open(cfg_path, 'w'), indent=1)
        return b

    def copy_bundle(self, src, name):
        b = self.path(name)
        shutil.copytree(src, b, symlinks=True)
        return b

    def run(self, bundle, cid):
        self.ids.append(cid)
        self.runc(['run', '-d', '--bundle', bundle, cid], 'run-' + cid, stdio=self.pipes())
        return self.init_pid(cid)

    def init_pid(self, cid):
        rc, text = self.runc(['state', cid], 'state-' + cid)
        st = json.loads(text[text.index('{'):])
        if st.get('status') != 'running':
            raise CheckFailed('runc state %s: status %s, not running' % (cid, st.get('status')))
        return st['pid']

    def rpc_log(self, work, what):
        """The requests and notifications cryo logged in @work/@what."""
        p = os.path.join(work, what)
        if not os.path.exists(p):
            note('%s: no %s (cryo did not start or could not log)' % (self.name, p))
            return
        for line in checklib.read(p).splitlines():
            if 'RPC' in line or 'Error' in line:
                note('%s %s: %s' % (self.name, what, line.strip()))

    def checkpoint(self, cid, images, extra=()):
        work = images + '.work'
        try:
            self.runc(['checkpoint', '--image-path', images, '--work-path', work] + list(extra)
                      + [cid], 'checkpoint-' + cid)
        finally:
            self.rpc_log(work, 'dump.log')

    def restore(self, bundle, cid, images):
        work = self.path('restore-%s.work' % cid)
        if cid not in self.ids:
            self.ids.append(cid)
        self.restore_began = time.time()
        try:
            self.runc(['restore', '-d', '--image-path', images, '--work-path', work,
                       '--bundle', bundle] + self.restore_opts + [cid], 'restore-' + cid,
                      stdio=self.pipes())
        finally:
            self.rpc_log(work, 'restore.log')
        return self.init_pid(cid)

    def cleanup(self):
        for cid in reversed(self.ids):
            self.runc(['delete', '-f', cid], 'delete-' + cid, ok=False)
        for fd in self.keep_fds:
            os.close(fd)
        self.keep_fds = []
        super().cleanup()


def log_text(work, name):
    """cryo's log in a work directory, '' if it wrote none."""
    try:
        return checklib.read(os.path.join(work, name))
    except OSError:
        return ''


def count(bundle):
    return checklib.int_file(os.path.join(bundle, 'rootfs'))


def wait_count(bundle, above, timeout=10):
    return checklib.wait_count(os.path.join(bundle, 'rootfs'), above, timeout)


def serves(c, pid, what):
    """httpd in the container of init @pid answers with the check's token."""
    get = ('import socket\n'
           's = socket.create_connection(("127.0.0.1", %d), timeout=5)\n'
           's.sendall(b"GET /index.html HTTP/1.0\\r\\n\\r\\n")\n'
           'd = b""\n'
           'while True:\n'
           '    b = s.recv(4096)\n'
           '    if not b:\n'
           '        break\n'
           '    d += b\n'
           'print(d.decode(errors="replace").split("\\r\\n\\r\\n", 1)[-1])\n' % PORT)
    cmd = ['nsenter', '-t', str(pid), '-n', sys.executable, '-c', get]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=20)
    if r.returncode != 0 or r.stdout.strip() != c.token:
        raise CheckFailed('%s: httpd does not serve the token (GET exited %d: %s)'
                          % (what, r.returncode, r.stdout.strip()[-300:]))


def httpd_nspid(pid):
    """httpd's PID inside the container of init @pid."""
    kids = checklib.read('/proc/%d/task/%d/children' % (pid, pid)).split()
    for k in kids:
        try:
            if checklib.read('/proc/%s/comm' % k).strip() == 'httpd':
                for line in checklib.read('/proc/%s/status' % k).splitlines():
                    if line.startswith('NSpid:'):
                        return int(line.split()[-1])
        except OSError:
            continue
    raise CheckFailed('init %d has no httpd child' % pid)


def continues(c, bundle, ref, low, high, what):
    """After a restore: the loop goes on from where the images have it.
    /count (@ref before the restore: nothing writes it between) is sampled
    for 1.5 s.  The first new value must be in [@low, @high] (the
    checkpoint's count + 1, or + 2 when the loop was caught between its
    increment and its write), plus 10 a second for the time since the
    restore began (the loop runs before the first sample); a loop started
    again would write 1, 2...: below @low, as the checks let the count pass
    10 before the checkpoint.  Each later value must be the one before + 1."""
    seen = checklib.loop_continues(lambda: count(bundle), ref, low, high, c.restore_began,
                                   what)
    note('%s: the file said %s, the restored loop wrote %s' % (what, ref, seen))


def check_checkpoint_restore(c):
    b = c.bundle('b1')
    pid = c.run(b, c.cid('c1'))
    wait_count(b, 10)
    serves(c, pid, 'before the checkpoint')
    inner = httpd_nspid(pid)
    img = c.path('img')
    c.checkpoint(c.cid('c1'), img)
    before = count(b)
    rc, text = c.runc(['state', c.cid('c1')], 'state-gone', ok=False)
    if rc == 0 and '"running"' in text:
        raise CheckFailed('runc state c1 says running after a checkpoint without '
                          '--leave-running')
    time.sleep(0.3)
    if count(b) != before:
        raise CheckFailed('the count moved from %d to %d after the checkpoint: the loop '
                          'still runs' % (before, count(b)))
    pid2 = c.restore(b, c.cid('c1'), img)
    continues(c, b, before, before + 1, before + 2, 'c1')
    serves(c, pid2, 'after the restore')
    if httpd_nspid(pid2) != inner:
        raise CheckFailed('httpd is PID %d inside the container after the restore, was %d'
                          % (httpd_nspid(pid2), inner))


def check_leave_running(c):
    b = c.bundle('b1')
    pid = c.run(b, c.cid('c1'))
    pre = wait_count(b, 10)
    img = c.path('img')
    c.checkpoint(c.cid('c1'), img, ['--leave-running'])
    at = count(b)
    if c.init_pid(c.cid('c1')) != pid:
        raise CheckFailed('the container\'s init is %d after the checkpoint, was %d'
                          % (c.init_pid(c.cid('c1')), pid))
    wait_count(b, at)
    serves(c, pid, 'after checkpoint --leave-running')
    c.runc(['delete', '-f', c.cid('c1')], 'delete-c1')
    c.ids.remove(c.cid('c1'))
    ref = count(b)
    pid2 = c.restore(b, c.cid('c1'), img)
    # the images hold the count of a moment during the checkpoint
    continues(c, b, ref, pre + 1, at + 2, 'c1 restored')
    serves(c, pid2, 'after the restore')


def check_two_copies(c):
    b = c.bundle('b1')
    c.run(b, c.cid('c1'))
    wait_count(b, 10)
    img = c.path('img')
    c.checkpoint(c.cid('c1'), img)
    before = count(b)
    c.runc(['delete', '-f', c.cid('c1')], 'delete-c1', ok=False)
    ba = c.copy_bundle(b, 'ba')
    bb = c.copy_bundle(b, 'bb')
    pa = c.restore(ba, c.cid('ca'), img)
    continues(c, ba, before, before + 1, before + 2, 'copy ca')
    pb = c.restore(bb, c.cid('cb'), img)
    continues(c, bb, before, before + 1, before + 2, 'copy cb')
    if pa == pb:
        raise CheckFailed('both copies have init %d' % pa)
    wait_count(ba, count(ba))   # both run at once
    serves(c, pa, 'copy ca')
    serves(c, pb, 'copy cb')
    if count(b) != before:
        raise CheckFailed('the original bundle\'s count moved (%d -> %d): a copy writes '
                          'into the wrong root file system' % (before, count(b)))


def echoed(bundle):
    """The lines the echo client got back: 1, 2, 3, ... with none lost or
    repeated; their number."""
    try:
        lines = checklib.read(os.path.join(bundle, 'rootfs', 'echoed')).split('\n')
    except OSError:
        return 0
    lines = [l for l in lines[:-1]]     # the last one may be partly written
    for n, l in enumerate(lines, 1):
        if l != str(n):
            raise CheckFailed('line %d the echo client got back is "%s", not %d: the '
                              'connection lost or repeated data' % (n, l, n))
    return len(lines)


def wait_echoed(bundle, above, what, timeout=10):
    n = checklib.wait_until(lambda: echoed(bundle) > above and echoed(bundle), timeout, 0.05)
    if not n:
        raise CheckFailed('%s: the echo client got %d lines back, not more than %d in %d s: '
                          'the connection does not carry data' % (what, echoed(bundle), above,
                                                                  timeout))
    return n


def check_tcp_established(c):
    b = c.bundle('b1', tcp=True)
    pid = c.run(b, c.cid('c1'))
    wait_count(b, 10)
    wait_echoed(b, 3, 'before the checkpoint')
    img = c.path('img')
    # without --tcp-established the connection makes runc's checkpoint fail,
    # and the container runs on as it was
    rc, text = c.runc(['checkpoint', '--image-path', c.path('img0'), '--work-path',
                       c.path('img0.work'), c.cid('c1')], 'checkpoint-refused', ok=False)
    c.rpc_log(c.path('img0.work'), 'dump.log')
    if rc == 0:
        raise CheckFailed('runc checkpoint without --tcp-established succeeded with a '
                          'connection open')
    log = log_text(c.path('img0.work'), 'dump.log')
    if '--tcp-established' not in log:
        raise CheckFailed('the refused checkpoint does not name --tcp-established: %s'
                          % log.strip().splitlines()[-1:])
    if c.init_pid(c.cid('c1')) != pid:
        raise CheckFailed('the container\'s init changed after the refused checkpoint')
    n0 = wait_echoed(b, echoed(b), 'after the refused checkpoint')
    c.checkpoint(c.cid('c1'), img, ['--tcp-established'])
    before = count(b)
    n1 = echoed(b)
    c.restore_opts = ['--tcp-established']
    pid2 = c.restore(b, c.cid('c1'), img)
    continues(c, b, before, before + 1, before + 2, 'c1')
    n2 = wait_echoed(b, n1 + 3, 'after the restore')
    note('echo client: %d lines back before the checkpoints, %d at the checkpoint, %d after '
         'the restore' % (n0, n1, n2))
    serves(c, pid2, 'after the restore')


def crit_stats(path):
    """stats-dump decoded by criu's crit (an independent reader)."""
    r = subprocess.run(['/usr/bin/python3', '/usr/bin/crit', 'decode', '-i', path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        raise CheckFailed('crit decode -i %s: %s' % (path, r.stdout.strip()[-300:]))
    return json.loads(r.stdout)['entries'][0]['dump']


def check_pre_dump(c):
    b = c.bundle('b1')
    pid = c.run(b, c.cid('c1'))
    wait_count(b, 10)
    pre = c.path('pre')
    c.checkpoint(c.cid('c1'), pre, ['--pre-dump'])
    if c.init_pid(c.cid('c1')) != pid:
        raise CheckFailed('the container\'s init changed after checkpoint --pre-dump')
    wait_count(b, count(b))
    img = c.path('img')
    c.checkpoint(c.cid('c1'), img, ['--parent-path', '../pre'])
    before = count(b)
    st = crit_stats(os.path.join(img, 'stats-dump'))
    if not st.get('pages_skipped_parent'):
        raise CheckFailed('the checkpoint after the pre-dump wrote every page again '
                          '(stats-dump: %s)' % st)
    note('pre-dump: %d pages written, %d left to the pre-dump'
         % (st.get('pages_written', 0), st['pages_skipped_parent']))
    pid2 = c.restore(b, c.cid('c1'), img)
    continues(c, b, before, before + 1, before + 2, 'c1')
    serves(c, pid2, 'after the restore')


def console_master(c):
    """A console socket that keeps the pty master runc (or cryo, through
    runc, at restore) sends: (path, thread, box); box[0] is the master once
    the thread is done."""
    path = c.path('console-%d.sock' % c.n)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    box = []

    def take():
        srv.settimeout(60)
        try:
            conn, _ = srv.accept()
        except OSError:
            srv.close()
            return
        _, anc, _, _ = conn.recvmsg(4096, socket.CMSG_LEN(4 * 4))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = list(array.array('i', data[:len(data) - len(data) % 4]))
                c.keep_fds += fds
                box.extend(fds)
        conn.close()
        srv.close()
    t = threading.Thread(target=take, daemon=True)
    t.start()
    return path, t, box


def pty_read_until(fd, want, timeout=10):
    """What the container writes to its terminal until @want shows up."""
    import select
    got = b''
    t0 = time.time()
    while want.encode() not in got:
        left = timeout - (time.time() - t0)
        if left <= 0:
            raise CheckFailed('the container\'s terminal did not say %r in %d s; it said %r'
                              % (want, timeout, got[-300:]))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                got += os.read(fd, 4096)
            except OSError as e:
                raise CheckFailed('reading the container\'s terminal: %s (said so far %r)'
                                  % (e, got[-300:]))
    return got.decode(errors='replace')


def pty_state(fd):
    """(echo on, rows, cols, foreground group, session) of the pty of master @fd."""
    import fcntl
    import struct
    import termios
    lflag = termios.tcgetattr(fd)[3]
    rows, cols, _, _ = struct.unpack('HHHH', fcntl.ioctl(fd, termios.TIOCGWINSZ, b'\0' * 8))
    pgrp = struct.unpack('i', fcntl.ioctl(fd, termios.TIOCGPGRP, b'\0' * 4))[0]
    sid = struct.unpack('i', fcntl.ioctl(fd, 0x5429, b'\0' * 4))[0]     # TIOCGSID
    return bool(lflag & termios.ECHO), rows, cols, pgrp, sid


def check_terminal(c):
    import fcntl
    import struct
    import termios
    b = c.bundle('b1')
    cfg_path = os.path.join(b, 'config.json')
    cfg = json.load(open(cfg_path))
    cfg['process']['terminal'] = True
    # the count loop in the background; in the foreground a shell that
    # answers each line typed with how many it has read (its state)
    cfg['process']['args'] = [
        '/bin/sh', '-c',
        '(i=0; while true; do i=$((i+1)); echo $i > /count; usleep 100000; done) & '
        'echo ready; n=0; while read l; do n=$((n+1)); '
        'if [ "$l" = size ]; then l="size $(stty size)"; fi; '
        'if [ "$l" = cons ]; then echo "console $n" > /dev/console; fi; '
        'echo "reply $n $l"; done']
    json.dump(cfg, open(cfg_path, 'w'), indent=1)
    sock, taker, box = console_master(c)
    cid = c.cid('c1')
    c.ids.append(cid)
    c.runc(['run', '-d', '--console-socket', sock, '--bundle', b, cid], 'run-' + cid)
    taker.join(30)
    if not box:
        raise CheckFailed('runc sent no pty master to the console socket')
    m = box[0]
    pid = c.init_pid(cid)
    pty_read_until(m, 'ready')
    wait_count(b, 10)
    # the state the restore must give the new pair: echo off, 37x111
    attr = termios.tcgetattr(m)
    attr[3] &= ~termios.ECHO
    termios.tcsetattr(m, termios.TCSANOW, attr)
    fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack('HHHH', 37, 111, 0, 0))
    os.write(m, b'one\n')
    pty_read_until(m, 'reply 1 one')
    st = pty_state(m)
    if st != (False, 37, 111, pid, pid):
        raise CheckFailed('before the checkpoint: terminal state %s, not (echo off, 37, 111, '
                          'foreground group and session %d)' % (st, pid))
    c.checkpoint(cid, c.path('img'))
    before = count(b)
    os.close(m)
    c.keep_fds.remove(m)
    sock2, taker2, box2 = console_master(c)
    work = c.path('restore.work')
    c.restore_began = time.time()
    try:
        c.runc(['restore', '-d', '--console-socket', sock2, '--image-path', c.path('img'),
                '--work-path', work, '--bundle', b, cid], 'restore-' + cid)
    finally:
        c.rpc_log(work, 'restore.log')
    taker2.join(30)
    if not box2:
        raise CheckFailed('the restore sent no pty master to the new console socket')
    if 'orphan-pts-master' not in log_text(work, 'restore.log'):
        raise CheckFailed('restore.log has no orphan-pts-master notification')
    m2 = box2[0]
    pid2 = c.init_pid(cid)
    continues(c, b, before, before + 1, before + 2, 'c1')
    st = pty_state(m2)
    if st != (False, 37, 111, pid2, pid2):
        raise CheckFailed('after the restore: terminal state %s, not (echo off, 37, 111, '
                          'foreground group and session %d: the restored init)' % (st, pid2))
    # the same shell goes on: its count of lines read, and its terminal
    os.write(m2, b'two\n')
    pty_read_until(m2, 'reply 2 two')
    os.write(m2, b'size\n')
    pty_read_until(m2, 'reply 3 size 37 111')
    # /dev/console (runc's bind of the slave) is the new pty too
    os.write(m2, b'cons\n')
    pty_read_until(m2, 'console 4')
    note('terminal: the restored shell answered on the new master (echo off, 37x111, '
         'foreground group %d)' % pid2)


CHECKS = [
    ('checkpoint-restore', check_checkpoint_restore),
    ('leave-running', check_leave_running),
    ('two-copies', check_two_copies),
    ('tcp-established', check_tcp_established),
    ('pre-dump', check_pre_dump),
    ('terminal', check_terminal),
]


def main():
    if os.geteuid() == 0:
        for what, path in (('runc', RUNC), ('busybox-static', BUSYBOX)):
            if not os.access(path, os.X_OK):
                for n, _ in CHECKS:
                    print('SKIP runc:%s: no %s (%s; apt-get install runc busybox-static)'
                          % (n, what, path))
                print('0 passed, 0 failed')
                return 77
        r = subprocess.run(['file', '-L', BUSYBOX], stdout=subprocess.PIPE,
                           universal_newlines=True)
        if r.returncode == 0 and 'statically linked' not in r.stdout:
            for n, _ in CHECKS:
                print('SKIP runc:%s: %s is not statically linked (busybox-static)' % (n, BUSYBOX))
            print('0 passed, 0 failed')
            return 77
        note('runc: %s' % subprocess.run([RUNC, '--version'], stdout=subprocess.PIPE,
                                         universal_newlines=True).stdout.splitlines()[0])
    return checklib.run_checks('runc', CHECKS, RuncCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
