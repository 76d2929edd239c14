"""`scripts/bench container`: a container's dump and restore against the
same process tree outside one.

The tree: tests/bench/bench_target tree 20 26 (the root and 19 children,
26 MiB of private anonymous memory written in each: 520 MiB).  Outside a
container it runs as the `tree` cases do.  In the container it runs as its
init, started by tests/tools/ctr_launch (tests/runner/container.py's
launcher): new pid, mnt, net, ipc, uts and cgroup namespaces, a root file
system on the images' tmpfs holding bench_target and its libraries,
pivot_root, proc, sys (read-only), a /dev tmpfs with device binds, devpts,
shm and mqueue, masked paths, lo up, and a v1 memory cgroup of its own
(dumped and restored with --manage-cgroups; the restore gets --root).

Each is dumped and restored RUNS times in a row (the restored tree is the
next dump's), images on tmpfs; the minimum is reported, and the container's
against the plain tree's: the ratio and the difference in milliseconds is
what the namespaces, mounts and cgroup cost.  Next to them the machine's
floors for the same 520 MiB (write to tmpfs, pread into fresh memory, as
the memory cases measure them) and both trees' ratios to them.  At the end the tree checks
its memory (SIGTERM to its root; the container's init is its root).
"""

import os
import shutil
import signal
import subprocess
import time

NPROCS, MIB = 20, 26


class BenchError(Exception):
    pass


def libs_of(path):
    """The shared objects @path loads (ldd), to copy into the root."""
    out = subprocess.run(['ldd', path], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith('/') and os.path.exists(p):
                libs.append(p)
    return libs


def make_root(root, target):
    for d in ('bin', 'proc', 'sys', 'dev', 'tmp'):
        os.makedirs(os.path.join(root, d))
    shutil.copy2(target, os.path.join(root, 'bin', 'bench_target'))
    for lib in libs_of(target):
        dst = os.path.join(root, lib.lstrip('/'))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dst)


def own_memcg():
    with open('/proc/self/cgroup') as f:
        for line in f:
            _, ctrls, path = line.rstrip('\n').split(':', 2)
            if 'memory' in ctrls.split(','):
                return path
    return None


def rm_memcg(full):
    for _ in range(100):
        try:
            os.rmdir(full)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def one(a, bench, work, container):
    """Dump and restore the tree RUNS times; returns the result dict."""
    target = os.path.join(a.build, 'tests', 'bench', 'bench_target')
    launch = os.path.join(a.build, 'tests', 'tools', 'ctr_launch')
    name = 'container' if container else 'plain'
    res = {'case': 'container-' + name, 'processes': NPROCS, 'mib_per_process': MIB,
           'dump_ns': [], 'restore_ns': [], 'frozen_us': [], 'dump_cpu_us': [],
           'restore_cpu_us': []}
    os.makedirs(work)
    imgdir = os.path.join(work, 'img')
    root = os.path.join(work, 'root')
    cg_full = None
    extra_d, extra_r = [], []
    if container:
        make_root(root, target)
        cg = own_memcg()
        if cg is None or not os.path.isdir('/sys/fs/cgroup/memory'):
            raise BenchError('no v1 memory hierarchy for the container\'s cgroup')
        cg_full = '/sys/fs/cgroup/memory%s/cryo-bench-%d' % (cg.rstrip('/'), os.getpid())
        os.makedirs(cg_full)
        out = subprocess.run([launch, root, cg_full + '/cgroup.procs', 'bench',
                              '/bin/bench_target', 'tree', str(NPROCS), str(MIB),
                              '--pidfile', '/pid'], capture_output=True, text=True)
        if out.returncode:
            raise BenchError('ctr_launch: %s' % out.stderr.strip())
        pid = int(out.stdout.strip())
        bench.read_pid(os.path.join(root, 'pid'), timeout=300)
        extra_d = ['--manage-cgroups']
        extra_r = ['--manage-cgroups', '--root', root]
    else:
        pidfile = os.path.join(work, 'pid')
        devnull = os.open('/dev/null', os.O_RDWR)
        p = subprocess.Popen([target, 'tree', str(NPROCS), str(MIB), '--pidfile', pidfile],
                             stdin=devnull, stdout=devnull, stderr=devnull,
                             start_new_session=True, close_fds=True)
        os.close(devnull)
        pid = bench.read_pid(pidfile, timeout=300)
        if pid != p.pid:
            raise BenchError('unexpected pid in %s' % pidfile)
    alive = True
    try:
        for run in range(a.runs):
            pids = bench.tree_pids(pid)
            if len(pids) != NPROCS:
                raise BenchError('%s run %d: %d processes, not %d' % (name, run, len(pids), NPROCS))
            shutil.rmtree(imgdir, ignore_errors=True)
            os.makedirs(imgdir)
            dlog = os.path.join(work, 'dump.log')
            rc, wall, _, cpu = bench.run_cryo(target, a.cryo, ['dump', '-t', str(pid), '-D', imgdir,
                                                           '-o', dlog, '-v3', '--display-stats']
                                              + extra_d, os.path.join(work, 'dump.out'))
            if rc:
                raise BenchError('%s dump failed (exit %d):\n%s' % (name, rc, bench.log_tail(dlog)))
            alive = False
            res['dump_ns'].append(wall)
            res['dump_cpu_us'].append(cpu)
            m = (bench.log_value(os.path.join(work, 'dump.out'), r'Frozen time: (\d+) us') or
                 bench.log_value(dlog, r'Frozen time: (\d+) us'))
            res['frozen_us'].append(int(m.group(1)) if m else None)
            if run == 0:	# the first dump's (later ones may find pages unchanged)
                res['image_bytes'] = sum(os.path.getsize(os.path.join(imgdir, f))
                                         for f in os.listdir(imgdir))
            bench.wait_gone(pids)
            if cg_full:
                rm_memcg(cg_full)	# the restore makes it again
            rlog = os.path.join(work, 'restore.log')
            rpid = os.path.join(work, 'restored.pid')
            if os.path.exists(rpid):
                os.unlink(rpid)
            rc, wall, _, cpu = bench.run_cryo(target, a.cryo, ['restore', '-D', imgdir, '-d', '-o',
                                                           rlog, '-v3', '--pidfile', rpid]
                                              + extra_r, os.path.join(work, 'restore.out'))
            if rc:
                raise BenchError('%s restore failed (exit %d):\n%s'
                                 % (name, rc, bench.log_tail(rlog)))
            alive = True
            res['restore_ns'].append(wall)
            res['restore_cpu_us'].append(cpu)
            pid = bench.read_pid(rpid)
        pids = bench.tree_pids(pid)
        os.kill(pid, signal.SIGTERM)
        _, st = os.waitpid(pid, 0)
        alive = False
        code = os.waitstatus_to_exitcode(st)
        res['verified'] = code == 0
        if code:
            raise BenchError('%s: the restored tree found its memory wrong (exit %d)' % (name, code))
        bench.wait_gone(pids)
    finally:
        if alive:
            for q in bench.tree_pids(pid):
                try:
                    os.kill(q, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
            bench.reap_children()
        if cg_full:
            rm_memcg(cg_full)
        shutil.rmtree(work, ignore_errors=True)
    return res


def main(a, bench):
    """Both trees, then the report; returns the results."""
    base = os.path.join(a.dir, 'container')
    shutil.rmtree(base, ignore_errors=True)
    plain = one(a, bench, os.path.join(base, 'plain'), False)
    ctr = one(a, bench, os.path.join(base, 'container'), True)
    # the machine's floors for the same bytes (as the memory cases)
    target = os.path.join(a.build, 'tests', 'bench', 'bench_target')
    f = os.path.join(base, 'floor')
    fw, fr = [], []
    for _ in range(a.runs):
        fw.append(bench.run_floor(target, ['floor-write', str(NPROCS * MIB), f]))
        fr.append(bench.run_floor(target, ['floor-read', str(NPROCS * MIB), f]))
        os.unlink(f)
    mn = bench.mn
    ctr['floor_write_ns'], ctr['floor_pread_ns'] = fw, fr
    what = '%d x %d MiB' % (NPROCS, MIB)
    for r, label in ((plain, 'plain'), (ctr, 'ctr')):
        fz = mn(r['frozen_us'])
        print('%-6s %-16s dump %-10s (frozen %s, cpu %s)  restore %-10s (cpu %s)' % (
            label, what, bench.ms(mn(r['dump_ns'])),
            bench.ms(fz * 1000) if fz is not None else '-',
            bench.ms(mn(r['dump_cpu_us']) * 1000), bench.ms(mn(r['restore_ns'])),
            bench.ms(mn(r['restore_cpu_us']) * 1000)))
    d0, d1 = mn(plain['dump_ns']), mn(ctr['dump_ns'])
    r0, r1 = mn(plain['restore_ns']), mn(ctr['restore_ns'])
    print('%-23s container/plain: dump %.2f (%+.1f ms), restore %.2f (%+.1f ms); '
          'images %.1f vs %.1f MiB' % ('', d1 / d0, (d1 - d0) / 1e6, r1 / r0, (r1 - r0) / 1e6,
                                       ctr['image_bytes'] / 1048576,
                                       plain['image_bytes'] / 1048576))
    print('%-23s floors: write %s, pread %s; dump/write %.2f (plain %.2f), restore/pread %.2f '
          '(plain %.2f)' % ('', bench.ms(mn(fw)), bench.ms(mn(fr)), d1 / mn(fw), d0 / mn(fw),
                            r1 / mn(fr), r0 / mn(fr)))
    shutil.rmtree(base, ignore_errors=True)
    return [plain, ctr]
