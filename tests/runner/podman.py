#!/usr/bin/python3
"""podman (Debian's, 4.3.1, with runc) driving the cryo under test as its
criu, unchanged: podman and runc find criu in PATH, so each check puts a
directory with a `criu` link to cryo first in PATH.

Each check has its own podman storage (/tmp/cpm.*: --root, --runroot,
the vfs driver: the host's containers and images are never touched; the
check's logs are under /tmp/cryo-podman.*) and its own image: a
busybox-static root file system tarred and `podman import`ed.  The
containers run a shell loop writing "COUNT" to /count every 0.1 s (read
from the container's root file system, `podman mount`), with
--network none (no CNI: lo only) and the options this host needs
(--runtime runc --cgroup-manager=cgroupfs --events-backend=file, and
--ulimit nofile/nproc: root lacks CAP_SYS_RESOURCE here).

  podman:checkpoint-restore  podman container checkpoint (the container
                    exits, its loop stops), podman container restore: the
                    same loop goes on from where it was, not restarted
  podman:export-import  checkpoint --export to a tar archive, whose images
                    criu's crit decodes (pstree: the loop's shell as the
                    root; stats-dump with pages written); the container
                    removed, restore --import brings it back and restore
                    --import --name a second copy beside it: both loops go
                    on from the checkpoint's count, each in its own root
  podman:print-stats-keep  checkpoint and restore with --print-stats
                    --keep: podman's statistics carry criu's stats-dump
                    and stats-restore fields (read from the work
                    directory, where criu writes them), crit decodes the
                    same figures, and the images and logs stay
  podman:leave-running  checkpoint --leave-running --export: the same
                    init runs on, its count growing; removed and restored
                    from the archive, the loop goes on from the
                    checkpoint's count
  podman:tcp-established  a TCP connection inside the container (busybox
                    nc: an echo server and a client sending 1, 2, 3...):
                    checkpoint without --tcp-established fails with cryo's
                    message naming the option and the container runs on;
                    with it on both sides the connection survives, no line
                    lost or repeated

After each checkpoint/restore the requests and notifications cryo logged
(dump.log / restore.log in the container's directory: "RPC ... request:")
are kept, and printed as '#' lines when the check fails.  Every container
and image a check made is removed and its storage deleted, also when it
failed (its command logs are kept).  Lines "PASS podman:NAME" /
"FAIL podman:NAME: why" (SKIP when not root, or podman, runc or
busybox-static is missing).  Environment: CRYO, BUILD.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checklib     # noqa: E402
from checklib import CheckFailed, note  # noqa: E402

PODMAN = shutil.which('podman') or '/usr/bin/podman'
RUNC = shutil.which('runc') or '/usr/sbin/runc'
BUSYBOX = '/bin/busybox'
CRIT = ['/usr/bin/python3', '/usr/bin/crit']
PODMAN_TIMEOUT = 60
IMAGE = 'localhost/cryo-test-busybox'
RUN_OPTS = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit',
            'nproc=4096:4096']
LOOP = 'i=0; while true; do i=$((i+1)); echo $i > /count; usleep 100000; done'
ECHO_PORT = 9090
ECHO = ('nc -l -p %d -e cat & usleep 300000; '
        '(j=0; while true; do j=$((j+1)); echo $j; usleep 100000; done) | '
        'nc 127.0.0.1 %d > /echoed & ' % (ECHO_PORT, ECHO_PORT))


class PodmanCheck(checklib.Check):
    """A check's directory holds the `criu` link (bin/) and the command
    logs; its podman storage is /tmp/cpm.* (removed at the end)."""

    def __init__(self, name):
        wdir = tempfile.mkdtemp(prefix='cryo-podman.%s.' % name)
        super().__init__(name, wdir)
        # podman wants its runroot under 50 characters: a short name
        self.store = tempfile.mkdtemp(prefix='cpm.', dir='/tmp')
        os.makedirs(self.path('bin'))
        os.symlink(checklib.CRYO, self.path('bin', 'criu'))
        self.env = dict(os.environ, PATH=self.path('bin') + ':' + os.environ.get('PATH', ''))
        self.rpc = []
        self.ids = set()
        self.imported = False

    def podman(self, args, tag, ok=True, timeout=PODMAN_TIMEOUT):
        """podman with this check's storage and cryo as its criu: (rc, stdout, stderr)."""
        self.n += 1
        base = os.path.join(self.cmds, '%02d-%s' % (self.n, tag))
        cmd = [PODMAN, '--root', os.path.join(self.store, 'root'), '--runroot',
               os.path.join(self.store, 'run'), '--storage-driver', 'vfs', '--runtime', RUNC,
               '--cgroup-manager=cgroupfs', '--events-backend=file'] + list(args)
        with open(base + '.cmd', 'w') as f:
            f.write(' '.join(cmd) + '\n')
        t0 = time.time()
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True,
                               errors='replace', timeout=timeout, env=self.env)
            rc, out, err = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = None, e.stdout or '', e.stderr or ''
            out = out if isinstance(out, str) else out.decode(errors='replace')
            err = err if isinstance(err, str) else err.decode(errors='replace')
        dt = time.time() - t0
        with open(base + '.out', 'w') as f:
            f.write('rc %s, %.2f s\n--- stdout\n%s--- stderr\n%s' % (rc, dt, out, err))
        if args[:2] in (['container', 'checkpoint'], ['container', 'restore']):
            note('%s: podman %s: %.2f s (exit %s)' % (self.name, args[1], dt, rc))
        if ok and rc != 0:
            raise CheckFailed('podman %s exited %s: %s' % (' '.join(args), rc, ' | '.join(
                (err or out).strip().splitlines()[-3:])))
        return rc, out, err

    def image(self):
        if self.imported:
            return
        root = self.path('rootfs')
        checklib.busybox_root(root, ('bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'run'))
        tar = self.path('rootfs.tar')
        with tarfile.open(tar, 'w') as t:
            t.add(root, arcname='.')
        shutil.rmtree(root)
        self.podman(['import', tar, IMAGE], 'import')
        self.imported = True

    def run(self, name, script=LOOP):
        self.image()
        self.podman(['run', '-d', '--name', name] + RUN_OPTS + [IMAGE, '/bin/sh', '-c', script],
                    'run-' + name)
        return self.init_pid(name)

    def inspect(self, name, fmt):
        return self.podman(['inspect', '--format', fmt, name], 'inspect-' + name)[1].strip()

    def rootfs(self, name):
        """The container's root file system (vfs: a directory)."""
        return self.podman(['mount', name], 'mount-' + name)[1].strip()

    def init_pid(self, name):
        st = self.inspect(name, '{{.State.Status}} {{.State.Pid}} {{.Id}}').split()
        if len(st) == 3:
            self.ids.add(st.pop())
        if len(st) != 2 or st[0] != 'running' or st[1] == '0':
            raise CheckFailed('container %s is %s, not running' % (name, ' '.join(st)))
        return int(st[1])

    def keep_rpc(self, name, what):
        """The requests and notifications cryo logged in container @name's
        directory (@what: dump.log or restore.log), kept for a failure."""
        try:
            d = self.inspect(name, '{{.StaticDir}}')
            text = checklib.read(os.path.join(d, what))
        except (CheckFailed, OSError) as e:
            self.rpc.append('%s %s: not there (%s)' % (name, what, e))
            return ''
        for line in text.splitlines():
            if 'RPC' in line or 'Error' in line:
                self.rpc.append('%s %s: %s' % (name, what, line.strip()))
        return text

    def checkpoint(self, name, extra=(), ok=True):
        try:
            return self.podman(['container', 'checkpoint'] + list(extra) + [name],
                               'checkpoint-' + name, ok=ok)
        finally:
            self.keep_rpc(name, 'dump.log')

    def restore(self, name, extra=(), ok=True, log_as=None):
        self.restore_began = time.time()
        try:
            return self.podman(['container', 'restore'] + list(extra) + ([name] if name else []),
                               'restore-' + (log_as or name), ok=ok)
        finally:
            if '--keep' in extra:
                self.keep_rpc(log_as or name, 'restore.log')

    def cleanup(self):
        if os.path.isdir(self.store):
            self.podman(['rm', '-f', '-a', '-t', '0'], 'rm-all', ok=False)
            self.podman(['rmi', '-a', '-f'], 'rmi-all', ok=False)
            # whatever podman left mounted there (none expected)
            mnts = [l.split()[4] for l in checklib.read('/proc/self/mountinfo').splitlines()
                    if l.split()[4].startswith(self.store + '/')]
            for m in sorted(mnts, key=len, reverse=True):
                subprocess.run(['umount', '-l', m], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.store, ignore_errors=True)
        self.kill_orphans()
        super().cleanup()

    def kill_orphans(self):
        """A container podman lost track of (it failed after the restore
        and counts it as exited) runs on in its cgroup, which
        `podman rm` leaves: its processes, which this check started, are
        killed by PID and the cgroups removed."""
        for cid in self.ids:
            dirs = glob.glob('/sys/fs/cgroup/*/libpod_parent/libpod-%s' % cid)
            pids = set()
            for d in dirs:
                try:
                    pids |= set(int(p) for p in checklib.read(d + '/cgroup.procs').split())
                except OSError:
                    pass
            for pid in pids:
                note('%s: killing %d, left running in container %s' % (self.name, pid, cid[:12]))
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for d in dirs:
                checklib.wait_until(lambda: not os.path.exists(d) or (
                    not checklib.read(d + '/cgroup.procs').strip() and
                    (os.rmdir(d), True)[1]), 5, 0.05)


count = checklib.int_file
wait_count = checklib.wait_count


def continues(c, root, low, high, what):
    """After a restore: /count in the container's root file system @root,
    sampled for 1.5 s, goes on from the images' count (@low - 1, what the
    file says until the loop writes again): the first new value in
    [@low, @high] plus 10 a second since the restore began (a restarted
    loop writes 1, 2...: below @low, the checks let it pass 10 first), each
    later one the one before + 1."""
    seen = checklib.loop_continues(lambda: count(root), low - 1, low, high, c.restore_began,
                                   what)
    note('%s: the restored loop wrote %s (from [%d, %d] on)' % (what, seen, low, high))


def stopped(c, name, root):
    """After a checkpoint without --leave-running: the container is no
    longer running and its loop writes no more.  The count it left."""
    st = c.inspect(name, '{{.State.Status}}')
    if st == 'running':
        raise CheckFailed('container %s still runs after the checkpoint' % name)
    at = count(root)
    time.sleep(0.3)
    if count(root) != at:
        raise CheckFailed('the count moved from %s to %s after the checkpoint: the loop '
                          'still runs' % (at, count(root)))
    return at


def crit(path):
    r = subprocess.run(CRIT + ['decode', '-i', path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        raise CheckFailed('crit decode -i %s: %s' % (path, r.stdout.strip()[-300:]))
    return json.loads(r.stdout)['entries']


def check_checkpoint_restore(c):
    c.run('c1')
    root = c.rootfs('c1')
    wait_count(root, 10)
    c.checkpoint('c1')
    at = stopped(c, 'c1', root)
    c.restore('c1')
    c.init_pid('c1')
    continues(c, root, at + 1, at + 2, 'c1')


def check_export_import(c):
    c.run('c1')
    root = c.rootfs('c1')
    wait_count(root, 10)
    tar = c.path('c1.tar')
    c.checkpoint('c1', ['--export', tar])
    at = stopped(c, 'c1', root)
    # crit, an independent reader, decodes the archive's images
    x = c.path('x')
    os.makedirs(x)
    r = subprocess.run(['tar', '-xf', tar, '-C', x], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        raise CheckFailed('tar -xf %s: %s' % (tar, r.stdout.strip()[-300:]))
    img = os.path.join(x, 'checkpoint')
    tree = crit(os.path.join(img, 'pstree.img'))
    if not tree or tree[0].get('pid') != 1 or any(e.get('ppid') != 1 for e in tree[1:]):
        raise CheckFailed('the archive\'s pstree.img has %s, not the loop\'s shell as PID 1 '
                          '(with at most its usleep)' % [(e.get('pid'), e.get('ppid'))
                                                         for e in tree])
    core = crit(os.path.join(img, 'core-1.img'))[0]
    comm = core['tc']['comm']
    if comm != 'sh':
        raise CheckFailed('the archive\'s core-1.img names "%s", not sh' % comm)
    n = 0
    for f in sorted(os.listdir(img)):
        if f.endswith('.img') and not f.startswith(('pages-', 'tmpfs-')):
            crit(os.path.join(img, f))
            n += 1
    st = crit(os.path.join(x, 'stats-dump'))[0]['dump']
    if not st.get('pages_written'):
        raise CheckFailed('the archive\'s stats-dump has no pages written: %s' % st)
    note('crit decoded %d images of the archive; stats-dump: %d pages written'
         % (n, st['pages_written']))
    c.podman(['rm', '-f', 'c1'], 'rm-c1')
    c.restore('', ['--import', tar], log_as='c1')
    c.init_pid('c1')
    ra = c.rootfs('c1')
    continues(c, ra, at + 1, at + 2, 'c1 imported')
    c.restore('', ['--import', tar, '--name', 'c2'], log_as='c2')
    pb = c.init_pid('c2')
    rb = c.rootfs('c2')
    continues(c, rb, at + 1, at + 2, 'c2 imported beside c1')
    if os.path.samefile(ra, rb) or not os.path.samefile(
            os.path.join(rb, 'count'), '/proc/%d/root/count' % pb):
        raise CheckFailed('c2 does not write its own /count (%s, c1 in %s)' % (rb, ra))
    wait_count(ra, count(ra))   # both run at once
    wait_count(rb, count(rb))


def check_print_stats_keep(c):
    c.run('c1')
    root = c.rootfs('c1')
    wait_count(root, 10)
    _, out, _ = c.checkpoint('c1', ['--keep', '--print-stats'])
    at = stopped(c, 'c1', root)
    stats = json.loads(out)
    cs = (stats.get('container_statistics') or [{}])[0].get('criu_statistics') or {}
    for k in ('freezing_time', 'frozen_time', 'pages_scanned', 'pages_written'):
        if not cs.get(k):
            raise CheckFailed('checkpoint --print-stats: criu_statistics has no %s: %s'
                              % (k, stats))
    d = c.inspect('c1', '{{.StaticDir}}')
    for f in ('checkpoint/inventory.img', 'checkpoint/pstree.img', 'dump.log', 'stats-dump'):
        if not os.path.exists(os.path.join(d, f)):
            raise CheckFailed('checkpoint --keep: %s is not kept' % f)
    st = crit(os.path.join(d, 'stats-dump'))[0]['dump']
    if st.get('pages_written') != cs['pages_written'] or \
            st.get('frozen_time') != cs['frozen_time']:
        raise CheckFailed('podman\'s figures %s are not stats-dump\'s %s' % (cs, st))
    _, out, _ = c.restore('c1', ['--keep', '--print-stats'])
    c.init_pid('c1')
    continues(c, root, at + 1, at + 2, 'c1')
    stats = json.loads(out)
    rs = (stats.get('container_statistics') or [{}])[0].get('criu_statistics') or {}
    for k in ('restore_time', 'forking_time', 'pages_restored'):
        if not rs.get(k):
            raise CheckFailed('restore --print-stats: criu_statistics has no %s: %s'
                              % (k, stats))
    if rs['pages_restored'] != cs['pages_written']:
        raise CheckFailed('the restore put back %d pages, the checkpoint wrote %d'
                          % (rs['pages_restored'], cs['pages_written']))
    for f in ('checkpoint/inventory.img', 'restore.log', 'stats-restore'):
        if not os.path.exists(os.path.join(d, f)):
            raise CheckFailed('restore --keep: %s is not kept' % f)
    note('stats: %d pages written, frozen %d us; restore %d us'
         % (cs['pages_written'], cs['frozen_time'], rs['restore_time']))


def check_leave_running(c):
    pid = c.run('c1')
    root = c.rootfs('c1')
    pre = wait_count(root, 10)
    tar = c.path('c1.tar')
    c.checkpoint('c1', ['--leave-running', '--export', tar])
    at = count(root)
    if c.init_pid('c1') != pid:
        raise CheckFailed('the container\'s init is %d after checkpoint --leave-running, '
                          'was %d' % (c.init_pid('c1'), pid))
    wait_count(root, at)
    c.podman(['rm', '-f', '-t', '0', 'c1'], 'rm-c1')
    c.restore('', ['--import', tar], log_as='c1')
    c.init_pid('c1')
    # the images hold the count of a moment during the checkpoint
    continues(c, c.rootfs('c1'), pre + 1, at + 2, 'c1 restored')


def echoed(root):
    try:
        lines = checklib.read(os.path.join(root, 'echoed')).split('\n')[:-1]
    except OSError:
        return 0
    for n, l in enumerate(lines, 1):
        if l != str(n):
            raise CheckFailed('line %d the echo client got back is "%s", not %d: the '
                              'connection lost or repeated data' % (n, l, n))
    return len(lines)


def wait_echoed(root, above, what, timeout=10):
    n = checklib.wait_until(lambda: echoed(root) > above and echoed(root), timeout, 0.05)
    if not n:
        raise CheckFailed('%s: the echo client got %d lines back, not more than %d in %d s'
                          % (what, echoed(root), above, timeout))
    return n


def check_tcp_established(c):
    pid = c.run('c1', ECHO + LOOP)
    root = c.rootfs('c1')
    wait_count(root, 10)
    wait_echoed(root, 3, 'before the checkpoint')
    rc, _, _ = c.checkpoint('c1', ok=False)
    log = checklib.read(os.path.join(c.inspect('c1', '{{.StaticDir}}'), 'dump.log'))
    if rc == 0:
        raise CheckFailed('checkpoint without --tcp-established succeeded with a connection '
                          'open')
    if '--tcp-established' not in log:
        raise CheckFailed('the refused checkpoint does not name --tcp-established: %s'
                          % log.strip().splitlines()[-1:])
    if c.init_pid('c1') != pid:
        raise CheckFailed('the container\'s init changed after the refused checkpoint')
    n0 = wait_echoed(root, echoed(root), 'after the refused checkpoint')
    c.checkpoint('c1', ['--tcp-established'])
    at = stopped(c, 'c1', root)
    n1 = echoed(root)
    c.restore('c1', ['--tcp-established'])
    c.init_pid('c1')
    continues(c, root, at + 1, at + 2, 'c1')
    n2 = wait_echoed(root, n1 + 3, 'after the restore')
    note('echo client: %d lines back before, %d at the checkpoint, %d after the restore'
         % (n0, n1, n2))


def with_rpc(fn):
    """On a failure, what podman (through runc) sent: the decoded requests
    cryo logged."""
    def run(c):
        try:
            fn(c)
        except Exception:
            for line in c.rpc:
                note('%s %s' % (c.name, line))
            raise
    return run


CHECKS = [
    ('checkpoint-restore', with_rpc(check_checkpoint_restore)),
    ('export-import', with_rpc(check_export_import)),
    ('print-stats-keep', with_rpc(check_print_stats_keep)),
    ('leave-running', with_rpc(check_leave_running)),
    ('tcp-established', with_rpc(check_tcp_established)),
]


def main():
    if os.geteuid() == 0:
        for what, path in (('podman', PODMAN), ('runc', RUNC), ('busybox-static', BUSYBOX)):
            if not os.access(path, os.X_OK):
                for n, _ in CHECKS:
                    print('SKIP podman:%s: no %s (%s; apt-get install --no-install-recommends '
                          'podman runc busybox-static)' % (n, what, path))
                print('0 passed, 0 failed')
                return 77
        r = subprocess.run(['file', '-L', BUSYBOX], stdout=subprocess.PIPE,
                           universal_newlines=True)
        if r.returncode == 0 and 'statically linked' not in r.stdout:
            for n, _ in CHECKS:
                print('SKIP podman:%s: %s is not statically linked (busybox-static)'
                      % (n, BUSYBOX))
            print('0 passed, 0 failed')
            return 77
        note('podman: %s' % subprocess.run([PODMAN, '--version'], stdout=subprocess.PIPE,
                                           universal_newlines=True).stdout.strip())
    return checklib.run_checks('podman', CHECKS, PodmanCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
