"""`scripts/bench runc`: `runc checkpoint` + `runc restore` of a container
with cryo as runc's criu, against the same process dumped and restored by
`cryo` directly.

The process: tests/bench/bench_target mem 256 (256 MiB of private anonymous
memory, every page written).  In the container it is the init of a runc
bundle (runc's default spec: new pid, mnt, net, ipc, uts namespaces, proc,
sys, dev; its root file system holds bench_target and its libraries), run
with `runc --criu CRYO run -d`, its stdio on pipes this script keeps (runc
gives the restore new ones).  Each side is checkpointed and restored RUNS
times in a row, images on tmpfs; the minimum of the wall times is reported,
and the runc figures against cryo's: the difference is what runc, the RPC
(swrk, the request, notifications) and the container's namespaces and
mounts add.  At the end the process checks its memory (SIGTERM; exit 0).
"""

import json
import os
import shutil
import signal
import subprocess
import time

import bench_container

MIB = 256
RUNC = shutil.which('runc') or '/usr/sbin/runc'


class BenchError(Exception):
    pass


def timed(cmd, stdio=None):
    """(rc, wall ns, output) of @cmd; @stdio: its stdin, stdout, stderr."""
    t0 = time.monotonic_ns()
    if stdio:
        p = subprocess.run(cmd, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
        out = ''
    else:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        out = p.stdout + p.stderr
    return p.returncode, time.monotonic_ns() - t0, out


def pipes(keep):
    """The container's stdio: pipe ends for it; the other ends go to @keep."""
    ends = [os.pipe() for _ in range(3)]
    keep += [ends[0][1], ends[1][0], ends[2][0]]
    return [ends[0][0], ends[1][1], ends[2][1]]


def close_all(fds):
    for fd in fds:
        os.close(fd)


def runc_side(a, bench, work, target):
    res = {'case': 'runc-container', 'mib': MIB, 'dump_ns': [], 'restore_ns': []}
    bundle = os.path.join(work, 'bundle')
    root = os.path.join(bundle, 'rootfs')
    state = os.path.join(work, 'state')
    os.makedirs(bundle)
    bench_container.make_root(root, target)
    subprocess.run([RUNC, 'spec'], cwd=bundle, check=True)
    cfg_path = os.path.join(bundle, 'config.json')
    cfg = json.load(open(cfg_path))
    cfg['process']['terminal'] = False
    cfg['process']['args'] = ['/bin/bench_target', 'mem', str(MIB), '--pidfile', '/pid']
    cfg['root'] = {'path': 'rootfs', 'readonly': False}
    json.dump(cfg, open(cfg_path, 'w'), indent=1)
    cid = 'cryo-bench-%d' % os.getpid()
    base = [RUNC, '--root', state, '--criu', a.cryo]
    keep = []
    started = False
    try:
        io = pipes(keep)
        rc, _, out = timed(base + ['run', '-d', '--bundle', bundle, cid], io)
        close_all(io)
        if rc:
            raise BenchError('runc run failed (exit %d)' % rc)
        started = True
        pid = bench.read_pid(os.path.join(root, 'pid'), timeout=120)
        for run in range(a.runs):
            img = os.path.join(work, 'img')
            wk = os.path.join(work, 'work')
            shutil.rmtree(img, ignore_errors=True)
            shutil.rmtree(wk, ignore_errors=True)
            rc, wall, out = timed(base + ['checkpoint', '--image-path', img, '--work-path', wk,
                                          cid])
            if rc:
                raise BenchError('runc checkpoint failed (exit %d): %s\n%s'
                                 % (rc, out.strip()[-300:],
                                    bench.log_tail(os.path.join(wk, 'dump.log'))))
            res['dump_ns'].append(wall)
            if run == 0:
                res['image_bytes'] = sum(os.path.getsize(os.path.join(img, f))
                                         for f in os.listdir(img))
            io = pipes(keep)
            rc, wall, _ = timed(base + ['restore', '-d', '--image-path', img, '--work-path',
                                        wk + '-r', '--bundle', bundle, cid], io)
            close_all(io)
            if rc:
                raise BenchError('runc restore failed (exit %d):\n%s'
                                 % (rc, bench.log_tail(os.path.join(wk + '-r', 'restore.log'))))
            res['restore_ns'].append(wall)
            shutil.rmtree(wk + '-r', ignore_errors=True)
        # the restored init is ours (the subreaper): its exit says whether
        # its memory came back right
        out = subprocess.run(base + ['state', cid], capture_output=True, text=True).stdout
        pid = json.loads(out)['pid']
        os.kill(pid, signal.SIGTERM)
        _, st = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(st)
        res['verified'] = code == 0
        if code:
            raise BenchError('runc: the restored process found its memory wrong (exit %d)' % code)
    finally:
        if started:
            subprocess.run(base + ['delete', '-f', cid], capture_output=True)
        bench.reap_children()
        close_all(keep)
    return res


def cryo_side(a, bench, work, target):
    res = {'case': 'runc-plain', 'mib': MIB, 'dump_ns': [], 'restore_ns': []}
    os.makedirs(work)
    pidfile = os.path.join(work, 'pid')
    devnull = os.open('/dev/null', os.O_RDWR)
    p = subprocess.Popen([target, 'mem', str(MIB), '--pidfile', pidfile], stdin=devnull,
                         stdout=devnull, stderr=devnull, start_new_session=True)
    os.close(devnull)
    pid = bench.read_pid(pidfile, timeout=120)
    alive = True
    try:
        for run in range(a.runs):
            img = os.path.join(work, 'img')
            shutil.rmtree(img, ignore_errors=True)
            os.makedirs(img)
            rc, wall, _, _ = bench.run_cryo(target, a.cryo, ['dump', '-t', str(pid), '-D', img,
                                                             '-o', 'dump.log'],
                                            os.path.join(work, 'dump.out'))
            if rc:
                raise BenchError('cryo dump failed (exit %d)' % rc)
            alive = False
            res['dump_ns'].append(wall)
            bench.wait_gone([pid])
            rpid = os.path.join(work, 'restored.pid')
            if os.path.exists(rpid):
                os.unlink(rpid)
            rc, wall, _, _ = bench.run_cryo(target, a.cryo, ['restore', '-D', img, '-d', '-o',
                                                             'restore.log', '--pidfile', rpid],
                                            os.path.join(work, 'restore.out'))
            if rc:
                raise BenchError('cryo restore failed (exit %d)' % rc)
            alive = True
            res['restore_ns'].append(wall)
            pid = bench.read_pid(rpid)
        os.kill(pid, signal.SIGTERM)
        _, st = os.waitpid(pid, 0)
        alive = False
        if os.waitstatus_to_exitcode(st):
            raise BenchError('the restored process found its memory wrong')
    finally:
        if alive:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        bench.reap_children()
        if p.poll() is None:
            p.kill()
    return res


def main(a, bench):
    if not os.access(RUNC, os.X_OK):
        raise BenchError('runc is not installed (apt-get install runc)')
    base = os.path.join(a.dir, 'runc')
    shutil.rmtree(base, ignore_errors=True)
    target = os.path.join(a.build, 'tests', 'bench', 'bench_target')
    try:
        plain = cryo_side(a, bench, os.path.join(base, 'plain'), target)
        ctr = runc_side(a, bench, os.path.join(base, 'runc'), target)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    mn, ms = bench.mn, bench.ms
    d0, d1 = mn(plain['dump_ns']), mn(ctr['dump_ns'])
    r0, r1 = mn(plain['restore_ns']), mn(ctr['restore_ns'])
    print('runc   1 x %d MiB           cryo dump %-10s restore %-10s' % (MIB, ms(d0), ms(r0)))
    print('%-23s runc checkpoint %-10s restore %-10s' % ('', ms(d1), ms(r1)))
    print('%-23s runc/cryo: checkpoint %.2f (%+.1f ms), restore %.2f (%+.1f ms)'
          % ('', d1 / d0, (d1 - d0) / 1e6, r1 / r0, (r1 - r0) / 1e6))
    return [plain, ctr]
