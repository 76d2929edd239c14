#!/usr/bin/python3
"""containerd (Debian's, 1.6) driving the cryo under test as its criu,
unchanged: containerd -> its runc shim (containerd-shim-runc-v2) -> runc
-> criu's RPC (`cryo swrk`), the path Kubernetes' container checkpointing
takes through containerd.

Each check starts a private containerd (its own --config with root, state
and socket under /tmp/cryo-ctrd.*, the CRI plugin off) whose PATH starts
with a directory holding a `criu` link to the cryo under test: the shim
and runc inherit it.  A busybox image (busybox-static, one layer, built
here as a docker-archive tar) is imported with `ctr image import`; the
container runs a shell loop writing "COUNT" to /count every 0.1 s.

  containerd:checkpoint-restore  `ctr container checkpoint --task --rw
                    --image` (containerd pauses the task, a v1 freezer
                    cgroup frozen before the dump, and resumes it after):
                    the task runs on with the same PID, its count growing
                    and its freezer THAWED; then it is killed and removed
                    and `ctr container restore --live --rw` starts it again
                    from the checkpoint image: a new PID whose loop goes on
                    from the checkpoint's count (each value the one before
                    + 1, the first within what the time since the checkpoint
                    allows), not from 1

The runc shim's criu log (work/dump.log of the checkpoint, restore.log)
is removed by containerd; the RPC requests are printed from the logs the
shim leaves when criu fails.  Every task, container and image the check
made is removed with ctr, the shims and containerd are ended by PID (also
when the check failed); the files of a failed check are kept.  Lines
"PASS containerd:NAME" / "FAIL containerd:NAME: why" (SKIP when not root,
or containerd, ctr, the runc shim, runc or busybox-static is missing).
Environment: CRYO, BUILD."""

import hashlib
import io
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

CONTAINERD = shutil.which('containerd') or '/usr/bin/containerd'
CTR = shutil.which('ctr') or '/usr/bin/ctr'
SHIM = shutil.which('containerd-shim-runc-v2') or '/usr/bin/containerd-shim-runc-v2'
RUNC = shutil.which('runc') or '/usr/sbin/runc'
BUSYBOX = '/bin/busybox'
IMAGE = 'localhost/cryo-busybox:test'
LOOP = 'i=0; while true; do i=$((i+1)); echo $i > /count; usleep 100000; done'
CTR_TIMEOUT = 60


def image_tar(path):
    """A docker-archive tar of one layer: busybox and a link per applet."""
    lb = io.BytesIO()
    with tarfile.open(fileobj=lb, mode='w') as t:
        for d in ('bin', 'proc', 'sys', 'dev', 'tmp', 'etc'):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        t.add(BUSYBOX, 'bin/busybox')
        applets = subprocess.run([BUSYBOX, '--list'], stdout=subprocess.PIPE, check=True,
                                 universal_newlines=True).stdout.split()
        for a in applets:
            if a != 'busybox':
                ti = tarfile.TarInfo('bin/' + a)
                ti.type, ti.linkname = tarfile.SYMTYPE, 'busybox'
                t.addfile(ti)
    layer = lb.getvalue()
    cfg = json.dumps({'architecture': 'amd64', 'os': 'linux',
                      'config': {'Cmd': ['/bin/sh'], 'Env': ['PATH=/bin']},
                      'rootfs': {'type': 'layers', 'diff_ids':
                                 ['sha256:' + hashlib.sha256(layer).hexdigest()]}}).encode()
    cname = hashlib.sha256(cfg).hexdigest() + '.json'
    man = json.dumps([{'Config': cname, 'RepoTags': [IMAGE], 'Layers': ['layer.tar']}]).encode()
    with tarfile.open(path, 'w') as t:
        for name, data in (('layer.tar', layer), (cname, cfg), ('manifest.json', man)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))


class CtrdCheck(checklib.Check):
    """A private containerd under the check's directory."""

    def __init__(self, name):
        wdir = tempfile.mkdtemp(prefix='cryo-ctrd.%s.' % name)
        super().__init__(name, wdir)
        self.sock = self.path('ctrd.sock')
        self.ns = 'cryo%d' % os.getpid()    # cgroups are named after it: host-wide
        self.cids = []
        self.images = []
        self.daemon = None
        bindir = self.path('bin')
        os.makedirs(bindir)
        os.symlink(checklib.CRYO, os.path.join(bindir, 'criu'))
        self.env = dict(os.environ, PATH=bindir + ':' + os.environ.get('PATH', '/usr/bin:/bin'))

    def start(self):
        cfg = self.path('config.toml')
        with open(cfg, 'w') as f:
            f.write('version = 2\nroot = "%s"\nstate = "%s"\n'
                    'disabled_plugins = ["io.containerd.grpc.v1.cri", '
                    '"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", '
                    '"io.containerd.snapshotter.v1.devmapper", '
                    '"io.containerd.snapshotter.v1.aufs"]\n'
                    '[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n'
                    '[debug]\n  address = "%s"\n'
                    % (self.path('root'), self.path('state'), self.sock, self.sock,
                       self.path('debug.sock')))
        log = open(self.path('containerd.log'), 'w')
        self.daemon = subprocess.Popen([CONTAINERD, '--config', cfg], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=log, env=self.env,
                                       start_new_session=True)
        log.close()
        self.own(self.daemon.pid, os.path.realpath(CONTAINERD))
        if not checklib.wait_until(lambda: self.ctr(['version'], 'version', ok=False)[0] == 0,
                                   15, 0.2):
            raise CheckFailed('the private containerd did not answer in 15 s: %s'
                              % checklib.read(self.path('containerd.log'))[-300:])

    def ctr(self, args, tag, ok=True, timeout=CTR_TIMEOUT):
        self.n += 1
        base = os.path.join(self.cmds, '%02d-%s' % (self.n, tag))
        cmd = [CTR, '-a', self.sock, '-n', self.ns] + list(args)
        with open(base + '.cmd', 'w') as f:
            f.write(' '.join(cmd) + '\n')
        t0 = time.time()
        with open(base + '.out', 'w') as out:
            try:
                rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    env=self.env, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                rc = None
        if tag.startswith(('checkpoint', 'restore')):
            note('%s: ctr %s: %.2f s (exit %s)' % (self.name, ' '.join(args[:2]),
                                                   time.time() - t0, rc))
        text = checklib.read(base + '.out')
        if ok and rc != 0:
            self.shim_logs()
            raise CheckFailed('ctr %s exited %s: %s' % (' '.join(args), rc,
                                                         ' | '.join(text.strip().splitlines()[-3:])))
        return rc, text

    def shim_logs(self):
        """The criu logs runc leaves in the task's bundle when criu failed."""
        for cid in self.cids:
            b = os.path.join(self.path('state'), 'io.containerd.runtime.v2.task', self.ns, cid)
            for what in ('criu-dump.log', 'criu-restore.log'):
                p = os.path.join(b, what)
                if os.path.exists(p):
                    for line in checklib.read(p).splitlines():
                        if 'RPC' in line or 'Error' in line:
                            note('%s %s: %s' % (self.name, what, line.strip()))

    def task_pid(self, cid):
        _, text = self.ctr(['task', 'ls'], 'task-ls')
        for line in text.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0] == cid:
                if f[2] != 'RUNNING':
                    raise CheckFailed('task %s is %s, not RUNNING' % (cid, f[2]))
                return int(f[1])
        raise CheckFailed('containerd has no task %s' % cid)

    def remove(self, cid):
        self.ctr(['task', 'kill', '-s', 'KILL', cid], 'kill-' + cid, ok=False)
        checklib.wait_until(lambda: self.ctr(['task', 'rm', cid], 'task-rm-' + cid,
                                             ok=False)[0] == 0, 10, 0.2)
        self.ctr(['container', 'rm', cid], 'c-rm-' + cid, ok=False)

    def shims(self):
        """The shims of this containerd: their command line names its socket."""
        found = []
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                cmd = checklib.read('/proc/%s/cmdline' % d).split('\0')
            except OSError:
                continue
            if cmd and os.path.basename(cmd[0]) == 'containerd-shim-runc-v2' and \
                    self.sock in cmd:
                found.append(int(d))
        return found

    def cleanup(self):
        if self.daemon and self.daemon.poll() is None:
            for cid in reversed(self.cids):
                self.remove(cid)
            for ref in self.images:
                self.ctr(['image', 'rm', ref], 'image-rm', ok=False)
        for pid in self.shims():
            self.own(pid, os.path.realpath(SHIM))
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        if self.daemon and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # what is still mounted under the check's directory (a snapshot)
        for line in reversed(checklib.read('/proc/self/mountinfo').splitlines()):
            mp = line.split()[4]
            if mp.startswith(self.wdir + '/'):
                subprocess.run(['umount', '-l', mp], stderr=subprocess.DEVNULL)
        # the (empty) cgroups containerd made for the check's namespace
        for top in ('/sys/fs/cgroup', '/sys/fs/cgroup/unified'):
            try:
                hier = os.listdir(top)
            except OSError:
                continue
            for h in hier + ['.']:
                d = os.path.join(top, h, self.ns)
                if os.path.isdir(d):
                    try:
                        os.rmdir(d)
                    except OSError as e:
                        note('%s: can\'t remove cgroup %s: %s' % (self.name, d, e))
        super().cleanup()


def count(pid):
    try:
        return int(checklib.read('/proc/%d/root/count' % pid).strip())
    except (OSError, ValueError):
        return None


def wait_count(pid, above, timeout=10):
    v = checklib.wait_until(lambda: (count(pid) or 0) > above and count(pid), timeout, 0.05)
    if not v:
        raise CheckFailed('the loop\'s count in task %d stays at %s (not above %d in %d s)'
                          % (pid, count(pid), above, timeout))
    return v


def freezer_state(pid):
    for line in checklib.read('/proc/%d/cgroup' % pid).splitlines():
        f = line.split(':', 2)
        if f[1] == 'freezer':
            try:
                return checklib.read('/sys/fs/cgroup/freezer%s/freezer.state' % f[2]).strip()
            except OSError:
                return None
    return None


def check_checkpoint_restore(c):
    c.start()
    tar = c.path('image.tar')
    image_tar(tar)
    c.ctr(['image', 'import', tar], 'import')
    c.images.append(IMAGE)
    cid = 'c1'
    c.cids.append(cid)
    c.ctr(['run', '-d', IMAGE, cid, '/bin/sh', '-c', LOOP], 'run')
    pid = c.task_pid(cid)
    pre = wait_count(pid, 10)
    ref = 'localhost/cryo-ckpt-%d:1' % os.getpid()
    t_ckpt = time.time()
    c.ctr(['container', 'checkpoint', '--task', '--rw', '--image', cid, ref], 'checkpoint')
    c.images.append(ref)
    at = count(pid)
    if c.task_pid(cid) != pid:
        raise CheckFailed('the task is %d after the checkpoint, was %d' % (c.task_pid(cid), pid))
    wait_count(pid, at)
    st = freezer_state(pid)
    if st not in (None, 'THAWED'):
        raise CheckFailed('the task\'s freezer cgroup is %s after the checkpoint' % st)
    c.remove(cid)
    t_restore = time.time()
    c.ctr(['container', 'restore', '--live', '--rw', cid, ref], 'restore')
    pid2 = c.task_pid(cid)
    if pid2 == pid:
        raise CheckFailed('the restored task has the old PID %d' % pid)
    # the file as the restored rw layer has it: what the loop writes next
    # is the first new value
    ref = count(pid2)
    # the images hold a count between pre and at (the checkpoint's moment)
    seen = checklib.loop_continues(lambda: count(pid2), ref, pre + 1, at + 2, t_restore, c.name)
    note('%s: count %d..%d during the checkpoint (%.1f s before the restore), the file said '
         '%s, the restored loop wrote %s' % (c.name, pre, at, t_restore - t_ckpt, ref, seen))


CHECKS = [
    ('checkpoint-restore', check_checkpoint_restore),
]


def main():
    if os.geteuid() == 0:
        for what, path in (('containerd', CONTAINERD), ('ctr', CTR),
                           ('containerd-shim-runc-v2', SHIM), ('runc', RUNC),
                           ('busybox-static', BUSYBOX)):
            if not os.access(path, os.X_OK):
                for n, _ in CHECKS:
                    print('SKIP containerd:%s: no %s (%s; apt-get install containerd runc '
                          'busybox-static)' % (n, what, path))
                print('0 passed, 0 failed')
                return 77
        note('containerd: %s' % subprocess.run([CONTAINERD, '--version'], stdout=subprocess.PIPE,
                                               universal_newlines=True).stdout.strip())
    return checklib.run_checks('containerd', CHECKS, CtrdCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
