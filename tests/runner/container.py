#!/usr/bin/python3
"""A real container without a runtime, dumped and restored with cryo's CLI.

tests/tools/ctr_launch starts it: a busybox-static root file system made by
the check (with tests/tools/ctr_shm, a static SysV shm writer), new pid,
mnt, net, ipc, uts and cgroup namespaces, pivot_root, /proc (masked:
/dev/null bound over kcore, keys, timer_list), /sys read-only, /dev a tmpfs
with device binds, devpts newinstance + ptmx, shm, mqueue; lo up; a v1
memory cgroup with a 64 MiB limit (the cgroup namespace's root).  Inside:
  - a shell loop writing COUNT to /count every 0.1 s,
  - a busybox nc echo server on 127.0.0.1:9090 and a client sending 1, 2,
    3... every 0.1 s over one connection, what comes back going to /echoed,
  - ctr_shm: a 1 MiB segment with a pattern and a counter it bumps.
Dump: `cryo dump -t INIT --tcp-established --manage-cgroups`; the
container's cgroup is then removed, so the restore must make it again.

  container:restore     restore -d --root ROOT: the container's mounts (its
                        mountinfo: roots, mount points, mount flags, fs
                        types, super-block options, in order) are the
                        dumped ones, the loop goes on from its
                        count, the echoed lines go on over the same
                        connection with none lost or repeated, the shm
                        segment (read from outside: nsenter -i ctr_shm read)
                        has its pattern and a counter past the dump's, the
                        restored init is in the container's cgroup with its
                        64 MiB limit, the host name is the container's
  container:two-copies  one checkpoint restored twice at once (two cryo
                        restores running side by side, each on a copy of
                        the root file system, --cgroup-root memory:PATH
                        giving each a cgroup of its own, made by the
                        restore with the saved limit): both go on as above, each in
                        its own root, namespaces and cgroup with the limit

Everything a check started is killed by PID; its cgroups are removed.
Lines "PASS container:NAME" / "FAIL container:NAME: why" (SKIP when not
root, busybox-static is missing or the memory controller is not v1).
Environment: CRYO, BUILD.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checklib     # noqa: E402
from checklib import CheckFailed, CheckSkipped  # noqa: E402

BUSYBOX = '/bin/busybox'
LAUNCH = os.path.join(checklib.BUILD, 'tests', 'tools', 'ctr_launch')
SHM = os.path.join(checklib.BUILD, 'tests', 'tools', 'ctr_shm')
MEMCG = '/sys/fs/cgroup/memory'
LIMIT = 64 << 20
SHM_KEY = '0x4372'
HOSTNAME = 'cryo-ctr'
SCRIPT = ('/bin/ctr_shm run %s & nc -l -p 9090 -e cat & usleep 300000; '
          '(j=0; while true; do j=$((j+1)); echo $j; usleep 100000; done) | '
          'nc 127.0.0.1 9090 > /echoed & '
          'i=0; while true; do i=$((i+1)); echo $i > /count; usleep 100000; done' % SHM_KEY)


def own_memcg():
    """The memory cgroup this script runs in (the container's goes below)."""
    for line in checklib.read('/proc/self/cgroup').splitlines():
        _, ctrls, path = line.split(':', 2)
        if 'memory' in ctrls.split(','):
            return path
    raise CheckSkipped('no v1 memory hierarchy (%s)' % MEMCG)


def make_rootfs(root):
    checklib.busybox_root(root)
    shutil.copy2(SHM, os.path.join(root, 'bin', 'ctr_shm'))


def rmcg(path):
    """Remove a memory cgroup (its tasks gone) and the ones below it."""
    full = MEMCG + path
    if not os.path.isdir(full):
        return
    for d, subs, _ in sorted(os.walk(full), key=lambda w: -len(w[0])):
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


class CtrCheck(checklib.Check):
    def __init__(self, name):
        wdir = tempfile.mkdtemp(prefix='cryo-ctr.%s.' % name)
        super().__init__(name, wdir)
        self.cgroups = []

    def cgroup(self, name, make=True):
        """A memory cgroup path of this check's (made, with the limit, if
        @make; removed at the end either way)."""
        path = '%s/cryo-ctr-%d-%s-%s' % (own_memcg().rstrip('/'), os.getpid(), self.name, name)
        if make:
            os.makedirs(MEMCG + path)
            with open(MEMCG + path + '/memory.limit_in_bytes', 'w') as f:
                f.write(str(LIMIT))
        self.cgroups.append(path)
        return path

    def launch(self, root, cg):
        r = subprocess.run([LAUNCH, root, MEMCG + cg + '/cgroup.procs', HOSTNAME,
                            '/bin/sh', '-c', SCRIPT], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
        if r.returncode:
            raise CheckFailed('ctr_launch failed: %s' % r.stderr.strip())
        pid = int(r.stdout.strip())
        self.own_tree(pid)
        return pid

    def own_tree(self, pid):
        """Own the container's init (killing it ends its pid namespace)."""
        self.own(pid, checklib.exe_of(pid))

    def cleanup(self):
        super().cleanup()
        for cg in self.cgroups:
            rmcg(cg)


value = checklib.int_file


def echoed(root):
    try:
        return checklib.read(os.path.join(root, 'echoed')).split()
    except OSError:
        return []


wait_count = checklib.wait_count


def shm_read(pid):
    r = subprocess.run(['nsenter', '-t', str(pid), '-i', SHM, 'read', SHM_KEY],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=10)
    out = r.stdout.strip()
    if r.returncode or not out.endswith(' ok'):
        raise CheckFailed('shm segment %s in the IPC namespace of %d: %s (exit %d)'
                          % (SHM_KEY, pid, out, r.returncode))
    return int(out.split()[0])


def memcg_of(pid):
    for line in checklib.read('/proc/%d/cgroup' % pid).splitlines():
        _, ctrls, path = line.split(':', 2)
        if 'memory' in ctrls.split(','):
            return path
    return None


def started(c, root, cg):
    pid = c.launch(root, cg)
    wait_count(root, 5)
    checklib.wait_until(lambda: len(echoed(root)) > 5, 10, 0.05)
    if len(echoed(root)) <= 5:
        raise CheckFailed('the echo client inside the container gets nothing back')
    return pid


def mounts(pid):
    """The container's mounts as it sees them: (root, mount point, mount
    options, fs type, super options) in order."""
    out = []
    for line in checklib.read('/proc/%d/mountinfo' % pid).splitlines():
        left, right = line.split(' - ', 1)
        f, r = left.split(), right.split()
        out.append((f[3], f[4], f[5], r[0], r[2] if len(r) > 2 else ''))
    return out


def dump(c, pid, root):
    shm = shm_read(pid)
    c.mounts = mounts(pid)
    masked = [m for m in c.mounts if m[1].startswith('/proc/') and m[0] == '/null']
    if not masked or not any(m[1] == '/dev/pts' and m[3] == 'devpts' for m in c.mounts):
        raise CheckFailed('the container lacks masked paths or its devpts: %s' % c.mounts)
    img = c.path('img')
    os.makedirs(img)
    c.cryo_ok(['dump', '-t', str(pid), '-D', img, '-o', 'dump.log', '-v4',
               '--tcp-established', '--manage-cgroups'], 'dump')
    if not checklib.wait_until(lambda: checklib.state(pid) is None, 10, 0.05):
        raise CheckFailed('the container\'s init %d runs on after the dump' % pid)
    return img, value(root, 'count'), len(echoed(root)), shm


def restore(c, img, root, tag, extra=()):
    pidfile = c.path('%s.pid' % tag)
    c.cryo_ok(['restore', '-D', img, '-W', c.path(), '-o', '%s.log' % tag, '-v4', '-d',
               '--root', root, '--tcp-established', '--manage-cgroups',
               '--pidfile', pidfile] + list(extra), tag)
    pid = int(checklib.read(pidfile).strip())
    c.own_tree(pid)
    return pid


def goes_on(c, pid, root, cg, count, lines, shm, what, since):
    """The restored container @pid runs on from the checkpoint: its loop
    (restored at time @since) from @count, not from 1."""
    want = [(root if m[1] == '/' else m[0],) + m[1:] for m in c.mounts]
    if mounts(pid) != want:
        raise CheckFailed('%s: the mounts differ from the dumped container\'s:\n  %s\nnot\n  %s'
                          % (what, mounts(pid), want))
    got = wait_count(root, count)
    if got > count + 3 + int((time.time() - since) * 10):
        raise CheckFailed('%s: the loop restarted or jumped: %d after %d' % (what, got, count))
    if not checklib.wait_until(lambda: len(echoed(root)) > lines + 5, 10, 0.05):
        raise CheckFailed('%s: no echo over the restored connection (%d lines, %d at the dump)'
                          % (what, len(echoed(root)), lines))
    e = echoed(root)
    if e != [str(i) for i in range(1, len(e) + 1)]:
        bad = next(i for i, v in enumerate(e) if v != str(i + 1))
        raise CheckFailed('%s: echoed lines lost or repeated at line %d: %s'
                          % (what, bad + 1, e[max(0, bad - 2):bad + 3]))
    n = shm_read(pid)
    if n <= shm:
        raise CheckFailed('%s: shm counter %d, not past the dump\'s %d' % (what, n, shm))
    got_cg = memcg_of(pid)
    if got_cg != cg:
        raise CheckFailed('%s: init in memory cgroup %s, not %s' % (what, got_cg, cg))
    limit = int(checklib.read(MEMCG + cg + '/memory.limit_in_bytes'))
    if limit != LIMIT:
        raise CheckFailed('%s: memory.limit_in_bytes of %s is %d, not %d' % (what, cg, limit, LIMIT))
    inner = subprocess.run(['nsenter', '-t', str(pid), '-C', '-m', 'cat', '/proc/1/cgroup'],
                           stdout=subprocess.PIPE, universal_newlines=True).stdout
    mem = [l for l in inner.splitlines() if 'memory' in l.split(':')[1].split(',')]
    if mem != [mem[0].rsplit(':', 1)[0] + ':/'] if mem else True:
        raise CheckFailed('%s: inside, /proc/1/cgroup does not show the cgroup namespace\'s '
                          'root: %s' % (what, mem))
    host = subprocess.run(['nsenter', '-t', str(pid), '-u', 'hostname'], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.strip()
    if host != HOSTNAME:
        raise CheckFailed('%s: host name %r, not %r' % (what, host, HOSTNAME))


def check_restore(c):
    root = c.path('root')
    make_rootfs(root)
    cg = c.cgroup('ctr')
    pid = started(c, root, cg)
    img, count, lines, shm = dump(c, pid, root)
    rmcg(cg)
    new = restore(c, img, root, 'restore')
    goes_on(c, new, root, cg, count, lines, shm, 'restored', time.time())


def check_two_copies(c):
    root = c.path('root')
    make_rootfs(root)
    cg = c.cgroup('ctr')
    pid = started(c, root, cg)
    img, count, lines, shm = dump(c, pid, root)
    rmcg(cg)
    copies = []
    for name in ('a', 'b'):
        r = c.path('root-' + name)
        shutil.copytree(root, r, symlinks=True)
        # the container's cgroup of each copy: made by the restore, with
        # the saved limit (criu's --cgroup-root replaces the root's path)
        copies.append((name, r, c.cgroup(name, make=False)))
    res = {}

    def one(name, r, parent):
        try:
            res[name] = restore(c, img, r, 'restore-' + name,
                                ['--cgroup-root', 'memory:' + parent])
        except CheckFailed as e:
            res[name] = e
    ts = [threading.Thread(target=one, args=cp) for cp in copies]
    # each copy runs from the end of its own restore, the first done
    # maybe well before the other: count from before both began
    since = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for name, r, parent in copies:
        if isinstance(res[name], CheckFailed):
            raise CheckFailed('copy %s: %s' % (name, res[name]))
    for name, r, parent in copies:
        goes_on(c, res[name], r, parent, count, lines, shm, 'copy ' + name, since)


CHECKS = [
    ('restore', check_restore),
    ('two-copies', check_two_copies),
]


def main():
    if os.geteuid() == 0 and not os.access(BUSYBOX, os.X_OK):
        for n, _ in CHECKS:
            print('SKIP container:%s: no busybox-static (%s)' % (n, BUSYBOX))
        print('0 passed, 0 failed')
        return 77
    return checklib.run_checks('container', CHECKS, CtrCheck, __doc__,
                               needs=[('ctr_launch', LAUNCH), ('ctr_shm', SHM)])


if __name__ == '__main__':
    sys.exit(main())
