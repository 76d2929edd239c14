"""What the scripted checks share (option_effects.py, hostile.py, rpc.py...):
the paths, the exceptions a check raises, /proc helpers, a check's context
(its work files, the cryo commands it ran with their output, the processes
it owns and kills by PID at the end) and the loop that runs named checks
and prints "PASS PREFIX:NAME" / "FAIL PREFIX:NAME: why" / "SKIP ..." lines
and the "N passed, N failed" summary that tests/run-all counts."""

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run      # noqa: E402  (proc_tree, wait_gone, proc_stat, proc_exe, ensure_pid_room)

BUILD = os.path.abspath(os.environ.get('BUILD') or os.path.join(SRC_ROOT, 'build'))
CRYO = os.path.abspath(os.environ.get('CRYO') or os.path.join(BUILD, 'cli', 'cryo'))
PROGS = os.path.join(BUILD, 'tests', 'progs')
GONE_TIMEOUT = 20       # pid 1 reaps orphans slowly
CRYO_TIMEOUT = 30       # any one cryo command


class CheckFailed(Exception):
    pass


class CheckSkipped(Exception):
    pass


def note(msg):
    print('# ' + msg, flush=True)


def prog_path(name):
    return os.path.realpath(os.path.join(PROGS, name))


def read(path, mode='r'):
    with open(path, mode) as f:
        return f.read()


def state(pid):
    """The state letter of pid, None if it does not exist."""
    st = run.proc_stat(pid)
    return st[0] if st else None


def exe_of(pid):
    e = run.proc_exe(pid)
    return os.path.realpath(e) if e else None


BUSYBOX = '/bin/busybox'


def busybox_root(root, dirs=('bin', 'proc', 'sys', 'dev', 'tmp')):
    """A busybox-static root file system at @root: the directories @dirs,
    /bin/busybox, and a link per applet (relative, as the container sees
    them: busybox --install would link to its path here)."""
    for d in dirs:
        os.makedirs(os.path.join(root, d))
    shutil.copy2(BUSYBOX, os.path.join(root, 'bin', 'busybox'))
    applets = subprocess.run([BUSYBOX, '--list'], stdout=subprocess.PIPE, check=True,
                             universal_newlines=True).stdout.split()
    for a in applets:
        if a != 'busybox':
            os.symlink('busybox', os.path.join(root, 'bin', a))


def int_file(root, name='count'):
    """The number in @root/@name (a container's loop writes /count), None
    while there is none."""
    try:
        return int(read(os.path.join(root, name)).strip())
    except (OSError, ValueError):
        return None


def wait_count(root, above, timeout=10):
    """The loop's count in @root once it is above @above; fails if it does
    not get there in @timeout s."""
    v = wait_until(lambda: (int_file(root) or 0) > above and int_file(root), timeout, 0.05)
    if not v:
        raise CheckFailed('the loop\'s count in %s stays at %s (not above %d in %d s)'
                          % (root, int_file(root), above, timeout))
    return v


def loop_continues(read, ref, low, high, t_restore, what):
    """After a restore: a loop writing 10 counts a second goes on from
    where the images have it.  @read() (the count, or None) is sampled for
    1.5 s from @ref, what it said before the restore.  The first new value
    must be in [@low, @high] (the checkpoint's count + 1, or + 2 when the
    loop was caught between its increment and its write), plus 10 a second
    for the time since the restore began at @t_restore (the loop runs
    before the first sample); a loop started again would write 1, 2...
    Each later value must be the one before + 1.  Returns the values."""
    seen = []
    t_first = None
    t0 = time.time()
    while time.time() - t0 < 1.5:
        v = read()
        if v is not None and (seen[-1:] or [ref])[-1] != v:
            if not seen:
                t_first = time.time()
            seen.append(v)
        time.sleep(0.005)
    if len(seen) < 3:
        raise CheckFailed('%s: the loop wrote %s in 1.5 s after the restore (at 10 a '
                          'second): it does not run' % (what, seen))
    slack = int(10 * (t_first - t_restore)) + 1
    if not low <= seen[0] <= high + slack:
        raise CheckFailed('%s: the first count after the restore is %d, not in [%d, %d] '
                          '(the checkpoint\'s + 1 or 2, + %d for the time since the restore '
                          'began): the loop restarted or lost its state'
                          % (what, seen[0], low, high + slack, slack))
    for a, b in zip(seen, seen[1:]):
        if b != a + 1:
            raise CheckFailed('%s: the count went from %d to %d after the restore (%s)'
                              % (what, a, b, seen))
    return seen


def wait_until(cond, timeout, step=0.02):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def reap_if_child(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class Check:
    """One check's context: @wdir holds its files; the cryo commands it runs
    are logged in @cmds (NN-TAG.cmd / .out) and run there by default."""

    def __init__(self, name, wdir, cmds=None):
        self.name = name
        self.wdir = wdir
        self.cmds = cmds or wdir
        os.makedirs(self.cmds, exist_ok=True)
        self.owned = {}         # pid -> exe it must run to be killed
        self.popens = []
        self.n = 0

    def path(self, *p):
        return os.path.join(self.wdir, *p)

    def own(self, pid, exe):
        self.owned[pid] = exe

    def dirs(self):
        """What to remove when the check passed."""
        return [self.wdir]

    def cryo(self, args, tag, timeout=CRYO_TIMEOUT, cwd=None, pass_fds=(), prefix=()):
        """Run cryo to completion: (rc, stdout, stderr, seconds); rc None on
        timeout (then cryo is killed)."""
        self.n += 1
        cmd = list(prefix) + [CRYO] + list(args)
        base = os.path.join(self.cmds, '%02d-%s' % (self.n, tag))
        with open(base + '.cmd', 'w') as f:
            f.write(' '.join(cmd) + '\n')
        t0 = time.time()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=cwd or self.cmds, pass_fds=pass_fds,
                             universal_newlines=True, errors='replace')
        self.popens.append(p)
        self.own(p.pid, os.path.realpath(CRYO))
        try:
            out, err = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            rc = None
        dt = time.time() - t0
        with open(base + '.out', 'w') as f:
            f.write('rc %s, %.2f s\n--- stdout\n%s--- stderr\n%s' % (rc, dt, out, err))
        return rc, out, err, dt

    def cryo_ok(self, args, tag, **kw):
        """cryo that must succeed: (stdout, stderr, seconds)."""
        rc, out, err, dt = self.cryo(args, tag, **kw)
        if rc != 0:
            lines = (err + out).strip().splitlines()
            errs = [l for l in lines if 'rror' in l] or lines[-1:] or ['no output']
            raise CheckFailed('cryo %s exited %s: %s' % (' '.join(args), rc, ' | '.join(errs[:3])))
        return out, err, dt

    def cleanup(self):
        """Kill (by PID, only if it still runs what we started there) and
        reap what this check owns; wait until the killed ones are gone, so
        that nothing restores their PIDs while they linger."""
        for p in self.popens:
            if p.poll() is None:
                try:
                    p.kill()
                    p.wait(5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        killed = []
        for pid, exe in self.owned.items():
            st = state(pid)
            if st is None:
                continue
            if st not in 'ZX' and exe_of(pid) in (exe, os.path.realpath(CRYO)):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except OSError:
                    pass
            reap_if_child(pid)
        for pid in killed:
            wait_until(lambda: (reap_if_child(pid), not os.path.exists('/proc/%d' % pid))[1],
                       GONE_TIMEOUT, 0.05)


def run_checks(prefix, checks, make_check, doc, needs=(), argv=None):
    """The main loop of a check script.  @checks: [(name, fn(check))];
    @make_check(name) -> Check; @needs: [(what, path)] that must be
    executable.  Arguments: check names (default all), --keep (keep the
    files of passed checks), -h.  Returns the exit status: 0, 1 if any
    failed, 77 if all were skipped."""
    args = list(sys.argv[1:] if argv is None else argv)
    if '-h' in args or '--help' in args:
        print(doc)
        return 0
    keep = '--keep' in args
    if keep:
        args.remove('--keep')
    names = [n for n, _ in checks]
    unknown = [a for a in args if a not in names]
    if unknown:
        print('unknown check(s): %s (known: %s)' % (' '.join(unknown), ' '.join(names)),
              file=sys.stderr)
        return 2
    todo = [(n, f) for n, f in checks if not args or n in args]
    if os.geteuid() != 0:
        for n, _ in todo:
            print('SKIP %s:%s: needs root' % (prefix, n))
        print('0 passed, 0 failed')
        return 77
    missing = [(w, p) for w, p in [('cryo', CRYO)] + list(needs) if not os.access(p, os.X_OK)]
    if missing:
        for n, _ in todo:
            print('FAIL %s:%s: no %s at %s (build first)' % (prefix, n, missing[0][0],
                                                            missing[0][1]))
        print('0 passed, %d failed' % len(todo))
        return 1
    run.ensure_pid_room()
    print('# cryo: %s' % CRYO, flush=True)

    current = []

    def on_signal(sig, frame):
        for c in current:
            c.cleanup()
        sys.exit(128 + sig)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    passed = failed = skipped = 0
    t_all = time.time()
    for name, fn in todo:
        c = make_check(name)
        current[:] = [c]
        t0 = time.time()
        res, why = 'PASS', None
        try:
            fn(c)
        except CheckFailed as e:
            res, why = 'FAIL', str(e)
        except CheckSkipped as e:
            res, why = 'SKIP', str(e)
        except Exception as e:      # a bug here or an unexpected state: still a FAIL
            res, why = 'FAIL', 'unexpected %s: %s' % (type(e).__name__, e)
        finally:
            c.cleanup()
            current[:] = []
        note('%s: %.1f s' % (name, time.time() - t0))
        if res == 'PASS':
            passed += 1
            print('PASS %s:%s' % (prefix, name), flush=True)
            if not keep:
                for d in c.dirs():
                    shutil.rmtree(d, ignore_errors=True)
        elif res == 'SKIP':
            skipped += 1
            print('SKIP %s:%s: %s' % (prefix, name, why), flush=True)
        else:
            failed += 1
            print('FAIL %s:%s: %s (files in %s)' % (prefix, name, why, c.wdir), flush=True)
    note('%.1f s in all' % (time.time() - t_all))
    print('%d passed, %d failed' % (passed, failed))
    if failed:
        return 1
    return 77 if skipped and not passed else 0
