#!/usr/bin/python3
"""LXC (Debian's, 5.0) driving the cryo under test as its criu, unchanged:
lxc-checkpoint runs criu's command line (`criu dump ...`, `criu restore
...`, found in PATH: a directory holding a `criu` link to cryo comes
first).

Each check makes its own container under its directory (-P LXCPATH, so
nothing of other LXC users is touched): a busybox-static root file system,
a network namespace with lo only (lxc.net.0.type = empty), no console,
and an init that runs a shell loop writing "COUNT" to /count every 0.1 s.

  lxc:checkpoint-restore  lxc-checkpoint -s (the container stops) then
                    lxc-checkpoint -r: the container runs again with a new
                    init PID whose loop goes on from the checkpoint's count
                    (each value the one before + 1), not from 1

What LXC passes that criu has and cryo maps (see docs/ARCHITECTURE.md):
--enable-external-sharing/-masters, --enable-fs hugetlbfs/tracefs,
--force-irmap, --cgroup-root CTRL:/lxc.payload.NAME at dump and restore,
--freeze-cgroup on a v1 freezer, --ext-mount-map console: (no console),
"--external apparmor:unconfined" (LXC 5.0 repeats its last argument for
an "empty" network), --lsm-profile apparmor:unconfined.

LXC makes the container's mounts shared (peer groups inside its mount
namespace, the root with mounts under it, /dev and a bind of a file of it
peers): the restored container must have the same peer groups (its
mountinfo, group ids renamed by first appearance, as before).  The
host's hybrid cgroups (v1 controllers + v2 at /sys/fs/cgroup/unified) do
not trouble LXC 5.0.

Every container the check started is stopped with lxc-stop -k and its
monitor ended by PID, also when the check failed; the files of a failed
check (cryo's dump.log / restore.log in the checkpoint directory) are
kept.  Lines "PASS lxc:NAME" / "FAIL lxc:NAME: why" (SKIP when not root,
or lxc or busybox-static is missing).  Environment: CRYO, BUILD."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checklib     # noqa: E402
from checklib import CheckFailed, note  # noqa: E402

LXC_START = shutil.which('lxc-start') or '/usr/bin/lxc-start'
BUSYBOX = '/bin/busybox'
LXC_TIMEOUT = 60


class LxcCheck(checklib.Check):
    def __init__(self, name):
        wdir = tempfile.mkdtemp(prefix='cryo-lxc.%s.' % name)
        super().__init__(name, wdir)
        self.lxcpath = self.path('lxc')
        os.makedirs(self.lxcpath)
        bindir = self.path('bin')
        os.makedirs(bindir)
        os.symlink(checklib.CRYO, os.path.join(bindir, 'criu'))
        self.env = dict(os.environ, PATH=bindir + ':' + os.environ.get('PATH', '/usr/bin:/bin'))
        self.names = []

    def lxc(self, tool, args, tag, ok=True, timeout=LXC_TIMEOUT):
        """An lxc-* tool with the check's LXCPATH: (rc, output).  Its
        output goes to a file: a daemonized monitor keeps it open."""
        self.n += 1
        base = os.path.join(self.cmds, '%02d-%s' % (self.n, tag))
        cmd = ['lxc-' + tool, '-P', self.lxcpath] + list(args)
        with open(base + '.cmd', 'w') as f:
            f.write(' '.join(cmd) + '\n')
        t0 = time.time()
        with open(base + '.out', 'w') as out:
            try:
                rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    env=self.env, timeout=timeout,
                                    start_new_session=True).returncode
            except subprocess.TimeoutExpired:
                rc = None
        if tool == 'checkpoint':
            note('%s: lxc-checkpoint %s: %.2f s (exit %s)' % (self.name, ' '.join(args[2:3]),
                                                            time.time() - t0, rc))
        text = checklib.read(base + '.out')
        if ok and rc != 0:
            raise CheckFailed('lxc-%s %s exited %s: %s' % (tool, ' '.join(args), rc,
                                                           ' | '.join(text.strip().splitlines()[-3:])))
        return rc, text

    def make(self, name):
        """A busybox container: its config and root file system."""
        d = os.path.join(self.lxcpath, name)
        root = os.path.join(d, 'rootfs')
        checklib.busybox_root(root, ('bin', 'proc', 'sys', 'dev', 'tmp', 'etc'))
        # LXC splits lxc.init.cmd at blanks: the loop is a script
        scripts = {
            'loop.sh': 'i=0; while true; do i=$((i+1)); echo $i > /count; usleep 100000; done',
        }
        for n, body in scripts.items():
            with open(os.path.join(root, n), 'w') as f:
                f.write('#!/bin/sh\n%s\n' % body)
            os.chmod(os.path.join(root, n), 0o755)
        with open(os.path.join(d, 'config'), 'w') as f:
            f.write('lxc.uts.name = %s\n'
                    'lxc.rootfs.path = dir:%s\n'
                    'lxc.net.0.type = empty\n'
                    'lxc.apparmor.profile = unconfined\n'
                    'lxc.console.path = none\n'
                    'lxc.tty.max = 0\n'
                    'lxc.pty.max = 0\n'
                    'lxc.mount.auto = proc:rw sys:ro\n'
                    'lxc.autodev = 1\n'
                    'lxc.init.cmd = /loop.sh\n' % (name, root))
        return root

    def init_pid(self, name):
        rc, text = self.lxc('info', ['-n', name, '-pH'], 'info-' + name, ok=False)
        try:
            return int(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise CheckFailed('lxc-info -n %s gives no init PID: %s' % (name, text.strip()[-200:]))

    def state(self, name):
        rc, text = self.lxc('info', ['-n', name, '-sH'], 'state-' + name, ok=False)
        return text.strip().splitlines()[-1] if text.strip() else None

    def monitors(self):
        """LXC's monitors of the check's containers ("[lxc monitor] LXCPATH NAME")."""
        found = []
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                cmd = checklib.read('/proc/%s/cmdline' % d)
            except OSError:
                continue
            if cmd.startswith('[lxc monitor] %s ' % self.lxcpath):
                found.append(int(d))
        return found

    def cleanup(self):
        for name in self.names:
            if self.state(name) not in (None, 'STOPPED'):
                self.lxc('stop', ['-n', name, '-k'], 'stop-' + name, ok=False)
        for pid in self.monitors():
            self.own(pid, os.path.realpath('/proc/%d/exe' % pid))
        super().cleanup()


count = checklib.int_file
wait_count = checklib.wait_count


def cryo_log(c, path, what):
    try:
        text = checklib.read(path)
    except OSError:
        note('%s: no %s' % (c.name, path))
        return
    for line in text.splitlines():
        if 'Error' in line or 'Warn' in line or ' command line' in line:
            note('%s %s: %s' % (c.name, what, line.strip()))


def mounts(pid):
    """The mounts of @pid's namespace: root, mount point, fs type and
    propagation, peer group ids renamed by first appearance."""
    names, out = {}, []
    for line in checklib.read('/proc/%d/mountinfo' % pid).splitlines():
        f = line.split()
        sep = f.index('-')
        prop = []
        for tag in f[6:sep]:
            kind, _, num = tag.partition(':')
            if kind in ('shared', 'master'):
                prop.append('%s:%s' % (kind, names.setdefault(num, 'g%d' % len(names))))
            else:
                prop.append(tag)
        out.append('%s %s %s %s' % (f[3], f[4], f[sep + 1], ' '.join(prop)))
    return out


def check_checkpoint_restore(c):
    name = 'cryo%d' % os.getpid()
    root = c.make(name)
    c.names.append(name)
    c.lxc('start', ['-n', name, '-l', 'DEBUG', '-o', c.path('start.log')], 'start')
    pid = c.init_pid(name)
    wait_count(root, 10)
    mounts_before = mounts(pid)
    if not any('shared:' in m for m in mounts_before):
        raise CheckFailed('LXC made no shared mount in the container: %s' % mounts_before)
    ck = c.path('ck')
    try:
        c.lxc('checkpoint', ['-n', name, '-s', '-D', ck, '-v'], 'checkpoint')
    finally:
        cryo_log(c, os.path.join(ck, 'dump.log'), 'dump.log')
    if c.state(name) != 'STOPPED':
        raise CheckFailed('the container is %s after lxc-checkpoint -s' % c.state(name))
    before = count(root)
    time.sleep(0.3)
    if count(root) != before:
        raise CheckFailed('the count moved from %d to %d after the checkpoint: the loop still '
                          'runs' % (before, count(root)))
    t_restore = time.time()
    try:
        c.lxc('checkpoint', ['-n', name, '-r', '-D', ck, '-v'], 'restore')
    finally:
        cryo_log(c, os.path.join(ck, 'restore.log'), 'restore.log')
    if c.state(name) != 'RUNNING':
        raise CheckFailed('the container is %s after lxc-checkpoint -r' % c.state(name))
    pid2 = c.init_pid(name)
    if pid2 == pid:
        raise CheckFailed('the restored init has the old PID %d' % pid)
    mounts_after = mounts(pid2)
    if mounts_after != mounts_before:
        raise CheckFailed('the restored container\'s mounts (propagation) differ:\n  %s\nwere\n'
                          '  %s' % ('\n  '.join(mounts_after), '\n  '.join(mounts_before)))
    seen = checklib.loop_continues(lambda: count(root), before, before + 1, before + 2, t_restore,
                                   c.name)
    # its cgroup namespace is rooted at its cgroups, as LXC made it: from
    # inside, every hierarchy reads "/"
    r = subprocess.run(['nsenter', '-t', str(pid2), '-C', 'cat', '/proc/%d/cgroup' % pid2],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    inside = r.stdout
    bad = [l for l in inside.splitlines() if not l.endswith(':/')]
    if r.returncode != 0 or bad:
        raise CheckFailed('inside its cgroup namespace the restored init reads %s (not "/")'
                          % (bad or inside.strip()))
    note('%s: the file said %d, the restored loop (init %d, was %d) wrote %s; its '
         'cgroups inside: %s; its mounts: %s' % (c.name, before, pid2, pid, seen,
                                                 ' '.join(inside.split())[:200],
                                                 '; '.join(mounts_after)))


CHECKS = [
    ('checkpoint-restore', check_checkpoint_restore),
]


def main():
    if os.geteuid() == 0:
        for what, path in (('lxc', LXC_START), ('busybox-static', BUSYBOX)):
            if not os.access(path, os.X_OK):
                for n, _ in CHECKS:
                    print('SKIP lxc:%s: no %s (%s; apt-get install lxc busybox-static)'
                          % (n, what, path))
                print('0 passed, 0 failed')
                return 77
        note('lxc: %s' % subprocess.run([LXC_START, '--version'], stdout=subprocess.PIPE,
                                        universal_newlines=True).stdout.strip())
    return checklib.run_checks('lxc', CHECKS, LxcCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
