#!/usr/bin/python3
"""cryo SIGKILLed in the middle of a dump must never harm the dumped process.

The target is tests/progs/inject_target (a busy thread checking register
relations in a loop, a sleeping thread, signal masks, an alternate signal
stack, a memory pattern, a file offset; it checks them all after SIGTERM).
For `dump --leave-running` and for a plain `dump`, cryo is killed with
SIGKILL:

  kill-dump:random:MODE    at random moments between 0 and the measured
                           length of a whole dump (x 1.2; half of them in
                           its first 30 %, where calls are injected)
  kill-dump:stage:MODE     at each fault stage of the dump (CRYO_FAULT=
                           kill:STAGE, the stages listed by CRYO_FAULT=list),
                           and inside the injected system calls at random
                           call numbers (kill:dump:inject-entry#N, -exit#N)

  kill-dump:tcp:MODE:STAGE a loopback TCP stream (tests/progs/sk_tcp_stream)
                           dumped with --tcp-established, cryo killed while
                           the connection is locked: the stream must go on
                           and no lock remain (the tree never sees repair
                           mode); plain:dump:killed: killed after the commit,
                           the tree dead: the images must restore and the
                           stream go on (--tcp-only --repeat N: only these)
  kill-restore:STAGE       a complete dump restored with cryo killed at each
                           restore fault stage (restore:root-created is
                           between clone3 and PTRACE_SEIZE): no process of
                           the tree may stay behind (the dumped PIDs gone
                           or zombies); then a normal restore must pass

After each kill of a dump: the target still runs (all its threads, none stopped or
traced: State not T/t, TracerPid 0), and the images directory holds no
inventory.img unless the dump had committed (then every image it names is
there).  A plain dump that finished may have killed the target: that is
its job, and a new target is started.  Every 10 kills (every kill in the
plain mode) the target is sent SIGTERM and must report PASS.  Lines: "PASS kill-dump:..." / "FAIL
kill-dump:...: reason" (SKIP when not root), notes start with "#", the last
line is "N passed, N failed".  Exit status 0, 1 if any failed, 77 if
skipped.  Work files in /tmp/cryo-killdump.*: removed unless a check failed.

  tests/runner/kill_dump.py [--kills N] [--seed S]

Environment: CRYO, BUILD (as option_effects.py), KILL_DUMP_KILLS (kills in
all, default 100), KILL_DUMP_MEM_MB (target memory, default 64),
KILL_DUMP_SEED.  Only processes this script started are killed, by PID.
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get('BUILD') or os.path.join(SRC_ROOT, 'build'))
CRYO = os.path.abspath(os.environ.get('CRYO') or os.path.join(BUILD, 'cli', 'cryo'))
TARGET = os.path.join(BUILD, 'tests', 'progs', 'inject_target')
BATCH = 10              # kills per target before its verdict
VERDICT_TIMEOUT = 15


def note(msg):
    print('# ' + msg, flush=True)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def thread_states(pid):
    """{tid: (state letter, tracer pid)} of a live (not zombie) process."""
    res = {}
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return res
    for t in tids:
        st = read('/proc/%d/task/%s/status' % (pid, t))
        if not st:
            continue
        f = dict(line.split(':', 1) for line in st.splitlines() if ':' in line)
        res[int(t)] = (f.get('State', '?').split()[0], int(f.get('TracerPid', '0')))
    return res


def sigkill_pending(pid):
    """Whether a SIGKILL is queued to @pid or one of its threads (a group
    exit has begun)."""
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return False
    for t in tids:
        for line in (read('/proc/%d/task/%s/status' % (pid, t)) or '').splitlines():
            if line.startswith(('SigPnd:', 'ShdPnd:')) and \
                    int(line.split()[1], 16) & (1 << (signal.SIGKILL - 1)):
                return True
    return False


def alive(pid):
    st = read('/proc/%d/stat' % pid)
    return bool(st) and st[st.rindex(')') + 2] not in 'ZX'


class Target:
    """One inject_target process, started in its own work dir."""

    def __init__(self, work, n, mem_mb, prog=TARGET):
        self.dir = os.path.join(work, 't%d' % n)
        os.makedirs(self.dir)
        self.out = os.path.join(self.dir, 'out')
        pidfile = os.path.join(self.dir, 'pid')
        args = ['--mem_mb', str(mem_mb)] if prog == TARGET else []
        rc = subprocess.call([prog, '--pidfile', pidfile, '--outfile', self.out] + args,
                             cwd=self.dir,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if rc != 0:
            raise RuntimeError('%s did not start (exit %d): %s' %
                               (os.path.basename(prog), rc, read(self.out)))
        self.pid = int(read(pidfile))
        self.tids = sorted(thread_states(self.pid))
        self.kills = []     # what happened to it, for messages

    def verdicts(self):
        return [l for l in (read(self.out) or '').splitlines()
                if l == 'PASS' or l.startswith('FAIL')]

    def verdict(self):
        """SIGTERM, then its PASS/FAIL line (or a reason)."""
        before = len(self.verdicts())
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.time() + VERDICT_TIMEOUT
        while time.time() < deadline:
            v = self.verdicts()[before:]
            if v:
                return v[0]
            if not alive(self.pid):
                time.sleep(0.05)
                v = self.verdicts()[before:]
                return v[0] if v else 'FAIL: exited without a verdict'
            time.sleep(0.02)
        self.stop()
        return 'FAIL: no verdict within %d s' % VERDICT_TIMEOUT

    def stop(self):
        if alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)

    def stop_all(self):
        """The target and what it started (a TCP peer): the processes whose
        working directory is this target's own."""
        self.stop()
        for d in os.listdir('/proc'):
            try:
                if d.isdigit() and os.readlink('/proc/%s/cwd' % d) == self.dir:
                    os.kill(int(d), signal.SIGKILL)
            except OSError:
                pass


def dump_cmd(pid, imgdir, leave_running):
    cmd = [CRYO, 'dump', '-t', str(pid), '-D', imgdir, '-o', 'dump.log', '-v4']
    return cmd + (['-R'] if leave_running else [])


def images_complete(imgdir, target):
    """Reason the images are not a complete dump of @target, or None."""
    # (not stats-dump: it is written after the commit, once the tree is
    # released, as its frozen time ends there; a kill in between leaves a
    # complete dump without statistics, and the client saw cryo fail)
    need = ['pstree.img', 'mm-%d.img' % target.pid]
    need += ['core-%d.img' % t for t in target.tids]
    missing = [n for n in need if not os.path.exists(os.path.join(imgdir, n))]
    return 'inventory.img but no %s' % ', '.join(missing) if missing else None


class Run:
    def __init__(self, work, mem_mb):
        self.work = work
        self.mem_mb = mem_mb
        self.ntargets = 0
        self.nkills = 0
        self.finished = 0       # cryo finished before the kill
        self.failures = []
        self.target = None

    def new_target(self):
        self.ntargets += 1
        self.target = Target(self.work, self.ntargets, self.mem_mb)

    def close_target(self):
        t, self.target = self.target, None
        if t is None:
            return None
        v = t.verdict()
        if v != 'PASS':
            return 'target %d after %s: %s' % (t.pid, '; '.join(t.kills), v)
        return None

    def kill_once(self, leave_running, delay, env_fault=None):
        """One dump killed after @delay seconds (or by CRYO_FAULT); returns a
        failure reason or None."""
        if self.target is None:
            self.new_target()
        t = self.target
        self.nkills += 1
        imgdir = os.path.join(self.work, 'img%d' % self.nkills)
        os.makedirs(imgdir)
        env = dict(os.environ)
        env.pop('CRYO_FAULT', None)
        what = env_fault or '%.1f ms' % (delay * 1000)
        if env_fault:
            env['CRYO_FAULT'] = env_fault
        p = subprocess.Popen(dump_cmd(t.pid, imgdir, leave_running), env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if not env_fault:
            time.sleep(delay)
            p.kill()
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return 'cryo (%s) hung' % what
        t.kills.append(what)
        killed = rc == -signal.SIGKILL
        if not killed and rc != 0:
            return 'cryo (%s) exited %d: see %s/dump.log' % (what, rc, imgdir)
        if not killed:
            self.finished += 1
        inv = os.path.exists(os.path.join(imgdir, 'inventory.img'))
        if inv:
            bad = images_complete(imgdir, t)
            if bad:
                return 'cryo killed at %s left %s' % (what, bad)
        elif not killed:
            return 'cryo (%s) exited 0 without inventory.img' % what
        if not leave_running and inv and killed:
            # cryo may have been killed between its SIGKILL of the dumped
            # tree and the tree's end: a group exit in progress (threads
            # gone, leader not yet a zombie) is a tree about to die, not a
            # harmed one
            for _ in range(100):
                if not alive(t.pid) or (sorted(thread_states(t.pid)) == t.tids
                                        and not sigkill_pending(t.pid)):
                    break
                time.sleep(0.05)
        if not alive(t.pid):
            if not leave_running and inv:
                self.target = None      # a dump that ended in killing it
                shutil.rmtree(imgdir, ignore_errors=True)
                return None
            self.target = None
            return 'target %d died (cryo killed at %s; no complete dump): %s' % (
                t.pid, what, (read(t.out) or '').strip()[-300:])
        if not leave_running and not killed:
            return 'plain dump finished but target %d still runs' % t.pid
        states = thread_states(t.pid)
        if sorted(states) != t.tids:
            return 'target %d has threads %s, had %s (cryo killed at %s)' % (
                t.pid, sorted(states), t.tids, what)
        for tid, (st, tracer) in states.items():
            if st in 'Tt' or tracer:
                return 'thread %d of target %d is %s, traced by %d (cryo killed at %s)' % (
                    tid, t.pid, st, tracer, what)
        shutil.rmtree(imgdir, ignore_errors=True)
        # a plain dump that finishes kills the target, verdict unread: so
        # there each kill gets its own verdict
        if len(t.kills) >= (BATCH if leave_running else 1):
            return self.close_target()
        return None


def measure(run, leave_running):
    """Median wall time of a whole dump (leave-running, to keep the target)."""
    if run.target is None:
        run.new_target()
    times = []
    for i in range(3):
        imgdir = os.path.join(run.work, 'measure%d' % i)
        os.makedirs(imgdir)
        t0 = time.monotonic()
        rc = subprocess.call(dump_cmd(run.target.pid, imgdir, True),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.monotonic() - t0)
        if rc:
            raise RuntimeError('a full dump failed (exit %d): see %s/dump.log' % (rc, imgdir))
        shutil.rmtree(imgdir)
    return sorted(times)[1]


def list_stages(run):
    imgdir = os.path.join(run.work, 'stages')
    os.makedirs(imgdir)
    env = dict(os.environ, CRYO_FAULT='list')
    r = subprocess.run(dump_cmd(run.target.pid, imgdir, True), env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    shutil.rmtree(imgdir)
    stages = []
    for line in r.stderr.splitlines():
        if line.startswith('fault-stage: dump:'):
            s = line.split()[1]
            if s not in stages:
                stages.append(s)
    return stages


def list_restore_stages(imgdir):
    env = dict(os.environ, CRYO_FAULT='list')
    r = subprocess.run([CRYO, 'restore', '-D', imgdir, '-d', '-o', 'restore.log', '-v4'],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stages = []
    for line in r.stderr.splitlines():
        if line.startswith('fault-stage: restore:'):
            s = line.split()[1]
            if s not in stages:
                stages.append(s)
    return r.returncode, stages


def gone(pids, timeout=10):
    """Have all @pids exited (absent, or zombies waiting for their reaper)?"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.02)
    return False


def kill_restores(run):
    """Dump a target, then kill cryo at each restore stage; returns (name,
    failure or None) pairs."""
    run.new_target()
    t = run.target
    imgdir = os.path.join(run.work, 'restore-img')
    os.makedirs(imgdir)
    if subprocess.call(dump_cmd(t.pid, imgdir, False), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL):
        return [('kill-restore:setup', 'the dump failed: see %s/dump.log' % imgdir)]
    run.target = None
    if not gone([t.pid]):
        return [('kill-restore:setup', 'the dumped target %d did not go' % t.pid)]
    # a restore with CRYO_FAULT=list is a real one: note the stages, then
    # let that copy report its verdict
    rc, stages = list_restore_stages(imgdir)
    if rc:
        return [('kill-restore:setup', 'restore failed (exit %d): see %s/restore.log'
                 % (rc, imgdir))]
    v = t.verdict()
    if v != 'PASS':
        return [('kill-restore:setup', 'restored target: %s' % v)]
    if not gone(t.tids):
        return [('kill-restore:setup', 'restored target %d did not exit' % t.pid)]
    res = []
    for st in stages:
        name = 'kill-restore:%s' % st
        env = dict(os.environ, CRYO_FAULT='kill:' + st)
        rc = subprocess.call([CRYO, 'restore', '-D', imgdir, '-d', '-o', 'restore.log', '-v4'],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rc != -signal.SIGKILL:
            res.append((name, 'cryo exited %d instead of being killed' % rc))
            continue
        left = [p for p in t.tids if alive(p)]
        if left and not gone(left):
            res.append((name, 'left behind: %s' % ', '.join(
                '%d (%s)' % (p, (read('/proc/%d/comm' % p) or '?').strip()) for p in left)))
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)      # a stray of the restore we ran
                except OSError:
                    pass
            gone(left)
            continue
        res.append((name, None))
    # and the images still restore
    if subprocess.call([CRYO, 'restore', '-D', imgdir, '-d', '-o', 'restore.log'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        res.append(('kill-restore:after', 'a normal restore failed: see %s/restore.log' % imgdir))
    else:
        v = t.verdict()
        res.append(('kill-restore:after', None if v == 'PASS' else 'restored target: ' + v))
    return res


def kill_tcp(run):
    """A loopback TCP stream (tests/progs/sk_tcp_stream, which checks after
    SIGTERM that its stream went on intact and that no network lock names
    the connection) dumped with cryo killed while its connection is locked
    and in repair mode: the guard (lib/sockets/guard.c) must undo both."""
    res = []
    prog = os.path.join(BUILD, 'tests', 'progs', 'sk_tcp_stream')
    for lr in (True, False):
        for stage in ('dump:memory', 'dump:before-commit') + (() if lr else ('dump:killed',)):
            name = 'kill-dump:tcp:%s:%s' % ('leave-running' if lr else 'plain', stage)
            run.ntargets += 1
            try:
                t = Target(run.work, run.ntargets, 0, prog)
            except RuntimeError as e:
                res.append((name, str(e)))
                continue
            imgdir = os.path.join(run.work, 'tcp%d' % run.ntargets)
            os.makedirs(imgdir)
            time.sleep(0.3)     # data queued both ways
            env = dict(os.environ, CRYO_FAULT='kill:' + stage)
            rc = subprocess.call(dump_cmd(t.pid, imgdir, lr) + ['--tcp-established'], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            why = None
            if rc != -signal.SIGKILL:
                why = 'cryo exited %d instead of being killed' % rc
            elif stage == 'dump:killed':
                # killed after the commit, the tree dead: the guard closes
                # the socket silently and keeps the lock; the images restore
                time.sleep(1)
                if not gone([t.pid]):
                    why = 'the dumped target %d did not go' % t.pid
                elif subprocess.call([CRYO, 'restore', '-D', imgdir, '-d', '-o', 'restore.log',
                                      '-v4', '--tcp-established'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                    why = 'cryo killed at %s: the restore failed: see %s/restore.log' % (
                        stage, imgdir)
                else:
                    time.sleep(1)
                    v = t.verdict()
                    if v != 'PASS':
                        why = 'cryo killed at %s: restored target: %s (images in %s)' % (
                            stage, v, imgdir)
            else:
                time.sleep(1)   # the guard runs iptables
                v = t.verdict()
                if v != 'PASS':
                    why = 'cryo killed at %s: %s (images in %s)' % (stage, v, imgdir)
            t.stop_all()
            res.append((name, why))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--kills', type=int, default=int(os.environ.get('KILL_DUMP_KILLS', 100)))
    ap.add_argument('--seed', type=int, default=int(os.environ.get('KILL_DUMP_SEED', 0)) or None)
    ap.add_argument('--mem-mb', type=int, default=int(os.environ.get('KILL_DUMP_MEM_MB', 64)))
    ap.add_argument('--tcp-only', action='store_true',
                    help='only the kill-dump:tcp checks (the network guard)')
    ap.add_argument('--repeat', type=int, default=1,
                    help='run the kill-dump:tcp checks this many times')
    args = ap.parse_args()
    modes = (('leave-running', True), ('plain', False))
    if os.geteuid() != 0:
        for m, _ in modes:
            print('SKIP kill-dump:random:%s: needs root' % m)
            print('SKIP kill-dump:stage:%s: needs root' % m)
        print('0 passed, 0 failed')
        return 77
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    work = tempfile.mkdtemp(prefix='cryo-killdump.')
    note('seed %d, work dir %s, %d kills, target memory %d MiB' %
         (seed, work, args.kills, args.mem_mb))
    run = Run(work, args.mem_mb)
    passed = failed = 0
    try:
        if args.tcp_only:
            for _ in range(args.repeat):
                for name, why in kill_tcp(run):
                    if why:
                        failed += 1
                        print('FAIL %s: %s' % (name, why), flush=True)
                    else:
                        passed += 1
                        print('PASS %s' % name, flush=True)
            raise StopIteration
        dur = measure(run, True)
        stages = list_stages(run)
        note('a whole dump takes %.1f ms; dump stages: %s' % (dur * 1000, ' '.join(stages)))
        per_mode = max(args.kills // len(modes), 1)
        for mname, lr in modes:
            # a third targeted at stages and injected calls, the rest random
            plans = {'random': [], 'stage': []}
            targeted = ['kill:%s' % s for s in stages]
            n_stage = max(per_mode // 3, len(targeted))
            while len(targeted) < n_stage:
                targeted.append('kill:dump:inject-%s#%d' % (rnd.choice(('entry', 'exit')),
                                                           rnd.randint(1, 120)))
            plans['stage'] = [(0, f) for f in targeted[:n_stage]]
            # half of them early, where the calls are injected
            plans['random'] = [(rnd.uniform(0, dur * (1.2 if i % 2 else 0.3)), None)
                               for i in range(max(per_mode - n_stage, 1))]
            for kind in ('random', 'stage'):
                fails = []
                start_kills, start_fin = run.nkills, run.finished
                for delay, fault in plans[kind]:
                    try:
                        r = run.kill_once(lr, delay, fault)
                    except RuntimeError as e:
                        r = str(e)
                    if r:
                        fails.append(r)
                        if run.target:
                            run.target.stop()
                            run.target = None
                r = run.close_target()
                if r:
                    fails.append(r)
                n = run.nkills - start_kills
                fin = run.finished - start_fin
                name = 'kill-dump:%s:%s' % (kind, mname)
                if fails:
                    failed += 1
                    print('FAIL %s: %d of %d kills harmed: %s' % (name, len(fails), n,
                                                                  ' | '.join(fails[:5])))
                else:
                    passed += 1
                    print('PASS %s: %d kills (%d dumps finished first), target unharmed' %
                          (name, n, fin), flush=True)
        tcp = [r for _ in range(args.repeat) for r in kill_tcp(run)]
        for name, why in tcp + kill_restores(run):
            if why:
                failed += 1
                print('FAIL %s: %s' % (name, why))
            else:
                passed += 1
                print('PASS %s' % name, flush=True)
    except StopIteration:
        pass
    except RuntimeError as e:
        failed += 1
        print('FAIL kill-dump:setup: %s' % e)
    finally:
        if run.target:
            run.target.stop()
    print('%d passed, %d failed' % (passed, failed))
    if failed:
        note('work files kept in %s' % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
