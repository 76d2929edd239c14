#!/usr/bin/python3
"""cryo integration test runner.

Takes each test program of tests/progs through a checkpoint/restore cycle:

  start (daemon, stdio per metadata) -> wait pidfile
  -> cryo dump -t PID -D DIR -o dump.log -v4
  -> all processes of the tree gone (waits until /proc/PID disappears)
  -> cryo restore -D DIR -d -o restore.log -v4 --pidfile F
  -> same PIDs back, running (not stopped) -> SIGTERM -> verdict from outfile

Tests are tests/progs/NAME.c, built as BUILD/tests/progs/NAME; the optional
tests/progs/NAME.desc holds their metadata (see METADATA below, or
`run.py --help-desc`).  Each test runs in one or more variants; a test id is
NAME or NAME:VARIANT.

Usage:
  tests/runner/run.py                       # every test, every variant
  tests/runner/run.py anon_mem              # all variants of one test
  tests/runner/run.py anon_mem:iter2 'counter*'
  tests/runner/run.py --list
  CRYO=/path/to/cryo tests/runner/run.py    # or --cryo PATH

Results (images, logs, outfiles) of failed tests stay in tests/out/ID/
(--results DIR); --keep keeps those of passed tests too.  The last line is
"N passed, N failed, N skipped"; the exit status is 1 if any test failed.
"""

import argparse
import ctypes
import fcntl
import fnmatch
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
import weakref

# fault.py and real.py import names from this module as "run"
if __name__ == '__main__':
    sys.modules.setdefault('run', sys.modules[__name__])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault    # noqa: E402
import ptyjob   # noqa: E402
import psrv     # noqa: E402
import real     # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(HERE))

METADATA = """\
Metadata: tests/progs/NAME.desc, optional, one "key = value" per line,
'#' starts a comment, a trailing backslash continues a line.

  variants     = default static iter2 leave-running ...
                 Space-separated; each variant is one run, reported as
                 NAME:VARIANT ("default" is reported as plain NAME).  A
                 variant is modifiers joined by '+', e.g. static+iter3:
                   default        dump, restore, check (once)
                   static         run NAME-static (built with -static)
                   iterN          dump/restore N times in a row
                   preN           before each dump, N chained `cryo
                                  pre-dump`s while the test runs on (each
                                  must leave it unharmed); the dump then
                                  writes only what changed since
                                  (--track-mem --prev-images-dir)
                   leave-running  dump --leave-running N times (iterN), no
                                  restore; the original must go on and pass
                   stdio-null     stdin/stdout/stderr on /dev/null
                   stdio-file     stdin from a regular file, stdout and
                                  stderr to regular files
                   pidns-copies   dump --leave-running, then restore two
                                  copies with --pid-ns while the original
                                  runs; each (and the original) must pass
                   page-server    each dump sends its pages to a `cryo
                                  page-server` (127.0.0.1, a free port)
                                  writing into the same images directory;
                                  it must exit 0 after a dump that succeeds
                   snapshot       dump --leave-running --background-snapshot
                                  (cryo's extension); the original must
                                  go on unharmed, then it is SIGKILLed and
                                  the images restored: the copy must pass
                   lazy           restore --lazy-pages with a `cryo
                                  lazy-pages` daemon on the images
                                  directory; the daemon must exit 0 with
                                  the memory complete before the SIGTERM
                   ns             the test starts (--in-new-ns, tests/lib/ns.c)
                                  in new PID, mount, network, IPC, UTS and
                                  cgroup namespaces under a small init
                                  (PID 1 there; with TEST_NEW_PIDNS the
                                  test is that init), with its own /proc
                                  and lo up; the tree is dumped and
                                  restored with them: the restored init
                                  must be PID 1 of new namespaces and the
                                  tree keep its PIDs inside (as pidns_root)
                                  `run.py --flavor ns` runs every selected
                                  test in this variant alone (its first
                                  own variant +ns, e.g. leave-running+ns),
                                  `--flavor all` adds it to its own ones
                   uns            as ns, the namespaces owned by a new
                                  user namespace (--in-new-userns: maps
                                  0 100000 65536, written from outside;
                                  the test is root inside); the root must
                                  also be in a user namespace of its own
                                  that owns the others (`--flavor uns`)
                 (default: "default")
                   fault=STAGE    CRYO_FAULT=STAGE (dump:... or restore:...)
                                  makes the first dump (or restore) fail; it
                                  must report "fault injected at STAGE",
                                  leave the process running and unharmed (a
                                  dump) or leave nothing behind (a restore),
                                  and the normal cycle must then still work
  faults       = STAGE ...  shorthand: adds a variant fault=STAGE per stage
  prog         = program to run (default: NAME), to reuse another test's
                 program with other metadata
  stdio        = null | file    stdio when no stdio-* modifier (null)
  args         = extra arguments for the test program
  dump_opts    = extra cryo dump options (e.g. --shell-job)
  restore_opts = extra cryo restore options
  dump_env     = VAR=value ... for cryo dump (e.g. CRYO_FAULT=dump:pages)
  restore_env  = VAR=value ... for cryo restore
  dump_wrap    = command prefix for cryo dump ({runner} as in restore_wrap),
                 e.g. to add options only known once the test runs
  restore_wrap = command prefix for cryo restore, e.g. "prlimit --nofile=512:1024 --"
                 ({runner} is tests/runner, e.g. for forge_ns.py)
                 (restore under tighter limits than the dumped process had)
  refuse       = exact text cryo must print when it refuses (non-zero exit);
                 the test process must stay running, unharmed, and pass
  images_max   = MiB: every successful dump's pages-*.img files together
                 must be no larger (e.g. memory shared copy-on-write in a
                 tree must be written once)
  images_min   = MiB: ... and no smaller
  refuse_at    = dump | restore  (default dump).  With restore: the dump
                 must succeed and the restore fail, leaving no process
  features     = NAME ...  kernel features (`cryo check --feature NAME`);
                 SKIP if one is missing
  probe        = shell command; SKIP unless it exits 0
  root         = yes | no   needs root (default yes); SKIP otherwise
  skip         = reason     always SKIP (disabled test)
  timeout      = seconds for each cryo step and for the verdict (60)
  settle       = seconds to let the restored test run before SIGTERM (0.5)
  churn        = yes: the test forks and ends tasks all the time; only its
                 root is checked to be running and the same after each step
                 (the tree's other members come and go)
  tty          = yes: a shell job on a terminal (tests/runner/ptyjob.py):
                 the test starts in a new session whose controlling
                 terminal is a new pty, with it as stdin/stdout/stderr
                 (stdio is ignored; the program must not setsid, see
                 TEST_NO_SETSID); cryo restore runs in another such session
                 (a new pty as its stdin), so --shell-job (in dump_opts and
                 restore_opts) hands the restored tree that terminal
  ns           = yes | no: REASON | bug: WHAT   whether the test can run in
                 the ns variant (default yes); "no" makes NAME:ns a SKIP
                 with the reason (a state that can't exist there, e.g. a
                 test that needs the host's namespaces or makes its own),
                 "bug" a SKIP as a known engine bug there (say which; once
                 fixed, the line goes)
  uns          = yes | no: REASON | bug: WHAT   the same for the uns variant
                 (default: the ns answer)
  pidns_root   = yes: the test's root is the init of a PID namespace of
                 its own (TEST_NEW_PIDNS); the restore gives it a new one,
                 so the restored root has a new PID here: the runner checks
                 the PIDs inside the namespace instead (NSpid: the root's
                 is 1, the tree's are the dumped ones) and follows the
                 restored tree from then on
"""

DEFAULTS = {
    'variants': 'default',
    'faults': '',
    'prog': '',
    'stdio': 'null',
    'args': '',
    'dump_opts': '',
    'restore_opts': '',
    'dump_env': '',
    'restore_env': '',
    'restore_wrap': '',
    'dump_wrap': '',
    'refuse': '',
    'refuse_at': 'dump',
    'features': '',
    'probe': '',
    'root': 'yes',
    'skip': '',
    'timeout': '60',
    'settle': '0.5',
    'churn': 'no',
    'tty': 'no',
    'pidns_root': 'no',
    'ns': 'yes',
    'uns': '',
    'images_max': '',
    'images_min': '',
}

START_TIMEOUT = 30      # launcher must report "ready" within this
GONE_TIMEOUT = 20       # pid 1 reaps orphans slowly: wait this long for /proc/PID to go
TAIL_LINES = 25


class MetaError(Exception):
    pass


class TestFailed(Exception):
    pass


class TestSkipped(Exception):
    pass


def parse_desc(path, defaults=None):
    defaults = defaults or DEFAULTS
    meta = dict(defaults)
    if not os.path.exists(path):
        return meta
    with open(path) as f:
        lines = f.read().split('\n')
    buf = ''
    for n, line in enumerate(lines, 1):
        if not buf and line.lstrip().startswith('#'):
            continue
        if line.endswith('\\'):
            buf += line[:-1] + ' '
            continue
        line = buf + line
        buf = ''
        # strip a trailing comment (" #" so values may contain '#')
        line = re.sub(r'(^|\s)#.*$', '', line).strip()
        if not line:
            continue
        if '=' not in line:
            raise MetaError('%s:%d: expected "key = value"' % (path, n))
        key, val = (s.strip() for s in line.split('=', 1))
        if key not in defaults:
            raise MetaError('%s:%d: unknown key "%s" (known: %s)' %
                            (path, n, key, ', '.join(sorted(defaults))))
        meta[key] = val
    return meta


def parse_variant(v):
    """'static+iter2' -> dict of settings."""
    mods = {'static': False, 'iters': 1, 'leave_running': False, 'stdio': None,
            'fault': None, 'pidns': False, 'page_server': False, 'lazy': False,
            'snapshot': False, 'ns': False, 'uns': False, 'pre': 0}
    for m in v.split('+'):
        if m == 'default':
            pass
        elif m == 'static':
            mods['static'] = True
        elif re.fullmatch(r'iter[1-9][0-9]*', m):
            mods['iters'] = int(m[4:])
        elif re.fullmatch(r'pre[1-9][0-9]*', m):
            mods['pre'] = int(m[3:])
        elif m == 'leave-running':
            mods['leave_running'] = True
        elif m == 'pidns-copies':
            mods['pidns'] = True
        elif m == 'page-server':
            mods['page_server'] = True
        elif m == 'lazy':
            mods['lazy'] = True
        elif m == 'snapshot':
            mods['snapshot'] = True
        elif m == 'ns':
            mods['ns'] = True
        elif m == 'uns':
            mods['ns'] = mods['uns'] = True
        elif m in ('stdio-null', 'stdio-file'):
            mods['stdio'] = m[6:]
        elif re.fullmatch(r'fault=(dump|restore):[A-Za-z0-9_.-]+', m):
            mods['fault'] = m[6:]
        else:
            raise MetaError('unknown variant modifier "%s" in "%s"' % (m, v))
    if mods['ns'] and mods['pidns']:
        raise MetaError('ns does not combine with pidns-copies')
    if mods['pre'] and (mods['pidns'] or mods['snapshot'] or mods['lazy']):
        raise MetaError('preN does not combine with pidns-copies, snapshot or lazy')
    if 'ns' in v.split('+') and mods['uns']:
        raise MetaError('ns and uns exclude each other')
    return mods


NS_KINDS = ('pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup')


def ns_inode(pid, kind):
    try:
        return os.stat('/proc/%s/ns/%s' % (pid, kind)).st_ino
    except OSError:
        return None


NS_GET_USERNS = 0xb701     # _IO(0xb7, 0x1), linux/nsfs.h


def ns_owner(pid, kind):
    """Inode of the user namespace that owns pid's @kind namespace."""
    try:
        fd = os.open('/proc/%s/ns/%s' % (pid, kind), os.O_RDONLY)
    except OSError:
        return None
    try:
        ufd = fcntl.ioctl(fd, NS_GET_USERNS)
        try:
            return os.fstat(ufd).st_ino
        finally:
            os.close(ufd)
    except OSError:
        return None
    finally:
        os.close(fd)


def flavor_variants(meta, variants, flavor):
    """The variants a test runs in under --flavor: its own (h), the ns
    variant alone (ns), or both (all); uns: the ns variant with uns for ns
    (a test's own ns variants too)."""
    if flavor == 'h':
        return variants
    if flavor == 'uns':
        nsv = flavor_variants(meta, variants, 'ns')
        return ['+'.join('uns' if m == 'ns' else m for m in v.split('+')) for v in nsv]
    if any('ns' in v.split('+') for v in variants):
        nsv = [v for v in variants if 'ns' in v.split('+')]
    else:
        # the test's first own variant, in the namespaces (a test that is
        # only run leave-running keeps that)
        own = [v for v in variants if not v.startswith('fault=') and
               'pidns-copies' not in v.split('+')]
        nsv = ['ns' if not own or own[0] == 'default' else own[0] + '+ns']
    return nsv if flavor == 'ns' else variants + [v for v in nsv if v not in variants]


def with_variants(meta, variants, mod):
    """--with MOD: each test once, in its first own variant with MOD added
    (a sweep: e.g. every test through iter2, leave-running or pre2).  Tests
    that must be refused, and variants MOD does not apply to (fault=,
    pidns-copies, snapshot, lazy), and tests whose dump_wrap drives the dumps
    itself (predump.py), keep their first variant unchanged."""
    own = [v for v in variants if not v.startswith('fault=')] or ['default']
    v = own[0]
    mods = v.split('+')
    if meta['refuse'] or any(m in ('pidns-copies', 'snapshot', 'lazy') for m in mods) or \
            'predump.py' in meta['dump_wrap']:     # (drives its own dumps)
        return [v]
    kind = re.sub(r'[0-9]+$', '', mod)
    mods = [m for m in mods if m != 'default' and re.sub(r'[0-9]+$', '', m) != kind]
    if mod == 'leave-running':
        mods = [m for m in mods if not m.startswith('pre')]
    elif kind == 'pre' and 'leave-running' in mods:
        return [v]
    return ['+'.join(mods + [mod])]


# ---- processes --------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, sid) of pid, or None if it does not exist."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    rest = s[s.rindex(')') + 2:].split()
    return rest[0], int(rest[1]), int(rest[3])


def nspid_inner(pid):
    """pid's PID in its own (innermost) PID namespace, or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('NSpid:'):
                    return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_exists(pid):
    return os.path.exists('/proc/%d' % pid)


def proc_exe(pid):
    try:
        return os.readlink('/proc/%d/exe' % pid)
    except OSError:
        return None


def all_stats():
    res = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                res[int(d)] = st
    return res


def proc_tree(root):
    """root and its descendants (live or zombie)."""
    stats = all_stats()
    if root not in stats:
        return []
    children = {}
    for pid, (_, ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return sorted(tree)


def session_members(sid):
    return sorted(p for p, (_, _, s) in all_stats().items() if s == sid)


# ---- reaping: the runner as a child subreaper ----------------------------------
#
# A killed test tree's processes are orphans (the launcher that started the
# test has exited), and only their parent can free their PIDs, which the
# restore needs again.  Left to pid 1 that takes up to 2 s on some machines
# (an init that reaps on a timer).  So the runner makes itself a child
# subreaper (PR_SET_CHILD_SUBREAPER): the test's root, whose launcher exits,
# the restored root, whose `cryo restore -d` exits, and the orphans of a tree
# being killed are reparented to the runner instead of pid 1, and the runner
# reaps them itself at once.  It never calls waitpid(-1): that would take
# the exit status of a subprocess.Popen child from its owner (Popen.wait
# would then report 0); it reaps only given PIDs, or zombies among its
# children that no live Popen object owns.  A test's processes see the
# runner as their parent (or the parent of their orphans) where they saw
# pid 1: both are outside the test's session, so process groups stay
# orphaned or not as before; tests that need their own orphans make
# themselves subreapers.  --no-subreaper restores the old behaviour.

PR_SET_CHILD_SUBREAPER = 36
_popens = weakref.WeakSet()     # every subprocess.Popen of this process
_popen_init = subprocess.Popen.__init__


def _tracked_popen_init(self, *a, **kw):
    _popen_init(self, *a, **kw)
    _popens.add(self)


class Reaper:
    on = False

    @classmethod
    def enable(cls):
        """Become a child subreaper; False (and a note) if the kernel says no."""
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0):
            print('note: prctl(PR_SET_CHILD_SUBREAPER) failed (%s): orphans go to pid 1'
                  % os.strerror(ctypes.get_errno()), flush=True)
            return False
        subprocess.Popen.__init__ = _tracked_popen_init
        cls.on = True
        return True

    @staticmethod
    def busy():
        """PIDs of our Popen children whose status is not collected yet."""
        return {p.pid for p in list(_popens) if p.returncode is None}

    @classmethod
    def reap(cls, pids):
        """Collect those of @pids that are zombie children of ours."""
        if not cls.on:
            return
        busy = cls.busy()
        for pid in pids:
            if pid in busy:
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            except OSError:
                pass

    @classmethod
    def sweep(cls):
        """Collect every zombie child that no Popen object owns (what the
        last test left: its killed processes were reparented here)."""
        if not cls.on:
            return
        kids = set()
        try:
            # each thread's children (CONFIG_PROC_CHILDREN): no walk of /proc
            for t in os.listdir('/proc/self/task'):
                with open('/proc/self/task/%s/children' % t) as f:
                    kids.update(int(x) for x in f.read().split())
        except OSError:
            me = os.getpid()
            kids = set(p for p, (_, ppid, _) in all_stats().items() if ppid == me)
        cls.reap([p for p in kids if (proc_stat(p) or 'X')[0] in 'ZX'])


def wait_gone(pids, timeout):
    """Wait until no pid of pids has a /proc entry; return those left.
    The runner reaps those that are its children (Reaper)."""
    deadline = time.time() + timeout
    Reaper.reap(pids)
    Reaper.sweep()
    left = [p for p in pids if proc_exists(p)]
    while left and time.time() < deadline:
        time.sleep(0.01 if Reaper.on else 0.05)
        Reaper.reap(left)
        left = [p for p in left if proc_exists(p)]
    # the tree's orphans (reparented here, e.g. children it forked as it
    # was killed) hold its PIDs as their process group and session IDs
    # until they are reaped: the restore needs those PIDs free too
    Reaper.sweep()
    return left


def pidfd_open(pid):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def wait_exited(pid, timeout):
    """Wait until pid exited (gone or zombie); True if it did.  Sleeps on a
    pidfd (readable once the process exits) between looks at its state."""
    deadline = time.time() + timeout
    fd = pidfd_open(pid)
    poller = None
    if fd is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    try:
        while time.time() < deadline:
            st = proc_stat(pid)
            if st is None or st[0] in 'ZX':
                return True
            if poller:
                if poller.poll(50):
                    time.sleep(0.005)   # exited: its state follows at once
            else:
                time.sleep(0.05)
        return False
    finally:
        if fd is not None:
            os.close(fd)


class Phases:
    """Where a test's seconds go (--times FILE): time.time() spent in each
    named phase, summed over the test (an iterN test dumps N times)."""

    def __init__(self):
        self.t = {}
        self.cur = None
        self.since = 0.0

    def switch(self, name):
        """End the current phase and start @name (None: no phase)."""
        now = time.time()
        if self.cur:
            self.t[self.cur] = self.t.get(self.cur, 0.0) + now - self.since
        self.cur, self.since = name, now

    class _Ctx:
        def __init__(self, ph, name):
            self.ph, self.name = ph, name

        def __enter__(self):
            self.prev = self.ph.cur
            self.ph.switch(self.name)

        def __exit__(self, *a):
            self.ph.switch(self.prev)

    def __call__(self, name):
        """with phases('dump'): ... (nests: the outer phase resumes)"""
        return Phases._Ctx(self, name)


def tail(path, n=TAIL_LINES):
    try:
        with open(path, errors='replace') as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    return lines[-n:]


# ---- the runner --------------------------------------------------------------

class Runner(fault.FaultTests, real.RealTests):
    def __init__(self, args):
        self.args = args
        self.cryo = args.cryo
        self.bindir = args.bindir
        self.results = args.results
        self.feature_cache = {}
        self.owned = {}             # pid -> exe we expect it to run
        self.counts = {'passed': 0, 'failed': 0, 'skipped': 0}
        self.report = []
        self.fault_stages = None    # fault:discover fills it
        self.fault_stale = os.path.join(args.results, '.fault-stale')
        self.pty_sessions = []      # tty = yes: ptyjob.TerminalSession
        self.phases = Phases()      # --times: this test's phases

    # -- cleanup: kill only what we started, by PID, checking it is still ours

    def own(self, pid, exe):
        self.owned[pid] = exe

    def kill_owned(self):
        """SIGKILL every process we started or restored that is still there:
        a pid counts as ours only while it runs the test binary (or cryo, as
        a half-restored task may); with it go its session and descendants."""
        ok_exes = set(e for e in self.owned.values() if e)
        ok_exes.add(os.path.realpath(self.cryo))
        victims = set()
        for pid in self.owned:
            st = proc_stat(pid)
            if st is None or st[0] in 'ZX':
                continue
            cur = proc_exe(pid)
            if cur is None or os.path.realpath(cur) not in ok_exes:
                continue
            victims.add(pid)
            victims.update(proc_tree(pid))
            if st[2] == pid:
                victims.update(session_members(pid))
        for pid in sorted(victims):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.owned.clear()
        ptyjob.close_all(self.pty_sessions)
        Reaper.sweep()

    def run_cmd(self, cmd, logpath, timeout, env=None, cwd=None):
        """Run a command (cryo), output to logpath; kill its group on timeout.
        Returns (rc, output) with rc None on timeout."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(logpath, 'w') as out:
            out.write('$ %s\n' % ' '.join(shlex.quote(c) for c in cmd))
            out.flush()
            try:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env=full_env,
                                     cwd=cwd, start_new_session=True)
            except OSError as e:
                out.write('cannot run: %s\n' % e)
                return 127, str(e)
            try:
                rc = self.wait_reaping(p, timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
                rc = None
        with open(logpath, errors='replace') as f:
            return rc, f.read()

    @staticmethod
    def wait_reaping(p, timeout):
        """p.wait(timeout), reaping orphans meanwhile as pid 1 would (Reaper):
        a killed tree's last orphans may turn zombie while cryo runs, and
        the restore needs the PIDs they hold as group and session IDs."""
        if not Reaper.on:
            return p.wait(timeout=timeout)
        deadline = time.time() + timeout
        while True:
            try:
                return p.wait(timeout=max(0.0, min(0.05, deadline - time.time())))
            except subprocess.TimeoutExpired:
                if time.time() >= deadline:
                    raise
                Reaper.sweep()

    def known_features(self):
        """Feature names from `cryo check --feature list`, None if unavailable."""
        if not hasattr(self, '_known'):
            d = os.path.join(self.results, '.check')
            os.makedirs(d, exist_ok=True)
            rc, out = self.run_cmd([self.cryo, 'check', '--feature', 'list'],
                                   os.path.join(d, 'list.log'), 30)
            names = set()
            for l in out.splitlines()[1:]:
                m = re.match(r'([a-z0-9_]+)\s', l)
                if m:
                    names.add(m.group(1))
            self._known = names if rc == 0 and names else None
        return self._known

    def feature_present(self, name):
        if name not in self.feature_cache:
            d = os.path.join(self.results, '.check')
            os.makedirs(d, exist_ok=True)
            rc, out = self.run_cmd([self.cryo, 'check', '--feature', name],
                                   os.path.join(d, name + '.log'), 30)
            lines = [l for l in out.splitlines()[1:] if l.strip()]
            self.feature_cache[name] = (rc == 0, lines[-1] if lines else '')
        return self.feature_cache[name]

    # -- one test --------------------------------------------------------

    def tests(self):
        """[(test id, name, variant, meta)] for tests/progs/*.c and *.desc"""
        res = []
        names = set()
        for fn in os.listdir(self.args.progs):
            # a test is NAME.c (+ optional NAME.desc); a NAME.desc alone
            # describes a prebuilt program (the runner's self-test uses that)
            if fn.endswith('.c') or fn.endswith('.desc'):
                names.add(fn.rsplit('.', 1)[0])
        for name in sorted(names):
            desc = os.path.join(self.args.progs, name + '.desc')
            try:
                meta = parse_desc(desc)
                variants = meta['variants'].split()
                variants += ['fault=' + f for f in meta['faults'].split()]
                variants = flavor_variants(meta, variants, getattr(self.args, 'flavor', 'h'))
                if getattr(self.args, 'with_mod', None):
                    variants = with_variants(meta, variants, self.args.with_mod)
                for v in variants:
                    parse_variant(v)
            except MetaError as e:
                res.append((name, name, None, str(e)))
                continue
            for v in variants:
                tid = name if v == 'default' else '%s:%s' % (name, v)
                res.append((tid, name, v, meta))
        return res

    def run_test(self, tid, name, variant, meta):
        t0 = time.time()
        self.phases = Phases()
        self.phases.switch('other')
        wdir = os.path.join(self.results, tid.replace(':', '.'))
        shutil.rmtree(wdir, ignore_errors=True)
        os.makedirs(wdir)
        ctx = {'wdir': wdir, 'logs': []}
        try:
            if variant is None:
                raise TestFailed('bad metadata: %s' % meta)
            if isinstance(variant, dict) and variant['kind'] == 'error':
                raise TestFailed(variant['msg'])
            if isinstance(variant, dict) and variant['kind'] == 'fault':
                self.do_fault(variant, ctx)
            elif isinstance(variant, dict) and variant['kind'] == 'real':
                self.do_real(name, meta, ctx)
            else:
                self.do_test(name, variant, meta, ctx)
            verdict, reason = 'PASS', ctx.get('note', '')
        except MetaError as e:
            verdict, reason = 'FAIL', 'bad metadata: %s' % e
        except TestSkipped as e:
            verdict, reason = 'SKIP', str(e)
        except TestFailed as e:
            verdict, reason = 'FAIL', str(e)
        except Exception as e:      # a runner bug must not stop the suite
            import traceback
            with open(os.path.join(wdir, 'runner-error.txt'), 'w') as f:
                traceback.print_exc(file=f)
            ctx['logs'].append(os.path.join(wdir, 'runner-error.txt'))
            verdict, reason = 'FAIL', 'runner error: %s: %s' % (type(e).__name__, e)
        finally:
            with self.phases('cleanup'):
                self.kill_owned()
        dt = time.time() - t0
        self.phases.switch(None)
        if self.args.times:
            with open(self.args.times, 'a') as f:
                f.write(json.dumps({'id': tid, 'result': verdict, 'seconds': round(dt, 3),
                                    'phases': {k: round(v, 3) for k, v in
                                               self.phases.t.items()}}) + '\n')
        line = '%-4s %s' % (verdict, tid)
        if reason:
            line += ': ' + reason
        print('%s (%.1fs)' % (line, dt) if verdict != 'SKIP' else line, flush=True)
        self.report.append({'id': tid, 'result': verdict, 'reason': reason,
                            'seconds': round(dt, 2)})
        if verdict == 'FAIL':
            self.counts['failed'] += 1
            self.print_tails(ctx)
            print('     results kept in %s' % wdir, flush=True)
        else:
            self.counts['passed' if verdict == 'PASS' else 'skipped'] += 1
            if not self.args.keep:
                shutil.rmtree(wdir, ignore_errors=True)

    def print_tails(self, ctx):
        seen = set()
        for path in ctx['logs'] + [ctx.get('outfile'), ctx.get('stderr')]:
            if not path or path in seen:
                continue
            seen.add(path)
            lines = tail(path)
            if not lines:
                continue
            rel = os.path.relpath(path)
            print('     --- tail of %s' % (path if rel.startswith('..') else rel), flush=True)
            for l in lines:
                print('     | ' + l)
        sys.stdout.flush()

    def check_skip(self, meta):
        if meta['skip']:
            raise TestSkipped(meta['skip'])
        if meta['root'] == 'yes' and os.geteuid() != 0:
            raise TestSkipped('needs root')
        for feat in meta['features'].split():
            known = self.known_features()
            if known is not None and feat not in known:
                raise MetaError('features: "%s" is not a feature cryo knows '
                                '(cryo check --feature list)' % feat)
            ok, why = self.feature_present(feat)
            if not ok:
                raise TestSkipped('kernel feature "%s" missing (cryo check --feature %s%s)'
                                  % (feat, feat, ': ' + why if why else ' failed'))
        if meta['probe']:
            r = subprocess.run(['sh', '-c', meta['probe']], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                raise TestSkipped('probe failed: %s' % meta['probe'])

    def env_of(self, s):
        env = {}
        for item in shlex.split(s):
            if '=' not in item:
                raise MetaError('expected VAR=value, got "%s"' % item)
            k, v = item.split('=', 1)
            env[k] = v
        return env

    def run_in_terminal(self, ctx, tag, cmd, out_path, timeout, env=None, stdio_all=False):
        """tty = yes: run @cmd in a new terminal session (ptyjob.py); output
        to @out_path unless @stdio_all.  Returns (rc, output), rc None on
        timeout."""
        s = ptyjob.TerminalSession(os.path.join(ctx['wdir'], 'pty-%s.log' % tag))
        self.pty_sessions.append(s)
        ctx['logs'].append(s.logpath)
        full_env = dict(os.environ)
        full_env.update(env or {})
        if out_path:
            with open(out_path, 'w') as out:
                out.write('$ %s  (in a terminal session, %s)\n'
                          % (' '.join(shlex.quote(c) for c in cmd), s.name))
        rc = s.run(cmd, ctx['wdir'], full_env, out_path, timeout, stdio_all)
        out = ''
        if out_path:
            with open(out_path, errors='replace') as f:
                out = f.read()
        return rc, out

    def start(self, name, mods, meta, ctx):
        with self.phases('start'):
            return self.start_test(name, mods, meta, ctx)

    def start_test(self, name, mods, meta, ctx):
        wdir = ctx['wdir']
        binname = name + ('-static' if mods['static'] else '')
        binary = os.path.join(self.bindir, binname)
        if not os.access(binary, os.X_OK):
            raise TestFailed('%s not built (add "%s" to %s in tests/progs/meson.build '
                             'and run ninja)' % (binary, name,
                                                 'static_progs' if mods['static'] else 'test_progs'))
        binary = os.path.realpath(binary)
        ctx['binary'] = binary
        pidfile = os.path.join(wdir, 'test.pid')
        outfile = os.path.join(wdir, 'test.out')
        ctx['outfile'] = outfile
        stdio = mods['stdio'] or meta['stdio']
        if stdio == 'file':
            stdin_path = os.path.join(wdir, 'stdin.txt')
            with open(stdin_path, 'w') as f:
                f.write('stdin of %s\n' % name)
            fin = open(stdin_path)
            fout = open(os.path.join(wdir, 'stdout.txt'), 'w')
            ferr = open(os.path.join(wdir, 'stderr.txt'), 'w')
            ctx['stderr'] = ferr.name
        elif stdio == 'null':
            fin = open(os.devnull)
            fout = open(os.devnull, 'w')
            ferr = open(os.devnull, 'w')
        else:
            raise MetaError('stdio must be null or file, not "%s"' % stdio)
        cmd = [binary, '--pidfile', pidfile, '--outfile', outfile] + shlex.split(meta['args'])
        if mods['uns']:
            cmd.append('--in-new-userns')
        elif mods['ns']:
            cmd.append('--in-new-ns')
        with open(os.path.join(wdir, 'start.cmd'), 'w') as f:
            f.write(' '.join(shlex.quote(c) for c in cmd) + '\n')
        if meta['tty'] == 'yes':
            fin.close()
            fout.close()
            ferr.close()
            rc, _ = self.run_in_terminal(ctx, 'test', cmd, None, START_TIMEOUT, stdio_all=True)
            if rc is None:
                raise TestFailed('test did not become ready in %ds' % START_TIMEOUT)
        else:
            try:
                p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=wdir,
                                     start_new_session=True)
            except OSError as e:
                raise TestFailed('cannot start %s: %s' % (binary, e))
            finally:
                fin.close()
                fout.close()
                ferr.close()
            self.own(p.pid, binary)
            try:
                rc = p.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise TestFailed('test did not become ready in %ds' % START_TIMEOUT)
        if rc == 2:
            raise TestFailed('test rejected its arguments: %s' % ' '.join(cmd))
        if rc != 0:
            raise TestFailed('test setup failed (launcher exit %d)' % rc)
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise TestFailed('no valid pidfile %s: %s' % (pidfile, e))
        self.own(pid, binary)
        if not proc_exists(pid):
            raise TestFailed('test process %d died right after setup' % pid)
        if mods['ns']:
            self.check_own_ns(pid, 'at the start', mods['uns'])
        return pid

    def check_own_ns(self, pid, what, uns=False):
        """ns variant: the tree's root is PID 1 of namespaces other than the
        runner's; uns: and in a user namespace of its own, which owns them
        and maps its root to the host's 100000."""
        if nspid_inner(pid) != 1:
            raise TestFailed('ns: the root %d is PID %s in its namespace %s, not 1'
                             % (pid, nspid_inner(pid), what))
        same = [k for k in NS_KINDS if ns_inode(pid, k) in (None, ns_inode('self', k))]
        if same:
            raise TestFailed('ns: the root %d is in the runner\'s %s namespace(s) %s'
                             % (pid, ', '.join(same), what))
        if not uns:
            return
        user = ns_inode(pid, 'user')
        if user in (None, ns_inode('self', 'user')):
            raise TestFailed('uns: the root %d is in the runner\'s user namespace %s'
                             % (pid, what))
        other = [k for k in NS_KINDS if ns_owner(pid, k) != user]
        if other:
            raise TestFailed('uns: the %s namespace(s) of the root %d are not owned by its '
                             'user namespace %s' % (', '.join(other), pid, what))
        for f in ('uid_map', 'gid_map'):
            try:
                with open('/proc/%d/%s' % (pid, f)) as fm:
                    m = fm.read().split()
            except OSError as e:
                raise TestFailed('uns: %s of the root %d %s: %s' % (f, pid, what, e))
            if m != ['0', '100000', '65536']:
                raise TestFailed('uns: %s of the root %d %s reads "%s", not "0 100000 65536"'
                                 % (f, pid, what, ' '.join(m)))

    def check_running(self, pids, what, expect=None):
        """Every pid alive and neither stopped nor traced nor zombie -- except
        those that the test made a zombie or stopped on purpose (@expect, the
        states seen before the dump): they must be exactly that again."""
        with self.phases('check'):
            self.check_running_now(pids, what, expect)

    def check_running_now(self, pids, what, expect=None):
        expect = expect or {}
        for p in pids:
            st = proc_stat(p)
            if st is None:
                raise TestFailed('process %d is gone %s' % (p, what))
            want = expect.get(p)
            if want in ('Z', 'T', 't'):   # t: a tracee in a ptrace stop (proc_ptrace_refuse)
                if st[0] != want and not (want == 'T' and st[0] == 't'):
                    raise TestFailed('process %d is in state %s %s; it was %s before the dump'
                                     % (p, st[0], what, want))
                continue
            if st[0] in 'ZX':
                raise TestFailed('process %d is a zombie %s' % (p, what))
            if st[0] in 'Tt':
                # cryo may take a moment to let go: give it one (0.5 s)
                deadline = time.time() + 0.5
                while st and st[0] in 'Tt' and time.time() < deadline:
                    time.sleep(0.01)
                    st = proc_stat(p)
                if st and st[0] in 'Tt':
                    raise TestFailed('process %d is stopped (state %s) %s' % (p, st[0], what))

    def refusal_ok(self, step, rc, out, logfile, meta, text):
        if rc is None:
            raise TestFailed('%s hung (timeout %ss) instead of refusing' % (step, meta['timeout']))
        if rc == 0:
            raise TestFailed('%s succeeded; expected it to refuse with "%s"' % (step, text))
        log = ''
        try:
            with open(logfile, errors='replace') as f:
                log = f.read()
        except OSError:
            pass
        if text not in out and text not in log:
            raise TestFailed('%s failed (exit %d) but without the expected message "%s"'
                             % (step, rc, text))

    def verdict(self, pid, meta, ctx, what):
        with self.phases('verdict'):
            self.verdict_of(pid, meta, ctx, what)

    def verdict_of(self, pid, meta, ctx, what):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError as e:
            raise TestFailed('cannot send SIGTERM to %d %s: %s' % (pid, what, e))
        timeout = float(meta['timeout'])
        if not wait_exited(pid, timeout):
            raise TestFailed('test %d did not finish within %gs of SIGTERM %s'
                             % (pid, timeout, what))
        lines = tail(ctx['outfile'], 100000) or []
        fails = [l for l in lines if l.startswith('FAIL')]
        if fails:
            raise TestFailed('test says: %s' % fails[0])
        if 'PASS' not in lines:
            raise TestFailed('test %d exited %s without a verdict' % (pid, what))

    def pre_dumps(self, pid, tree, meta, ctx, tag, n, expect):
        """@n chained `cryo pre-dump`s of the running test (preN); each must
        succeed and leave the tree running.  Returns the last one's images
        directory, the parent of the dump that follows."""
        prev = None
        for k in range(1, n + 1):
            d = os.path.join(ctx['wdir'], 'pre%s-%d' % (tag, k))
            os.makedirs(d, exist_ok=True)
            cmd = [self.cryo, 'pre-dump', '-t', str(pid), '-D', d, '-o', 'pre-dump.log', '-v4']
            if prev:
                cmd += ['--prev-images-dir', os.path.relpath(prev, d)]
            cmd += [o for o in shlex.split(meta['dump_opts']) if o not in ('--leave-running', '-R')]
            out_path = os.path.join(ctx['wdir'], 'pre-dump%s-%d.out' % (tag, k))
            ctx['logs'] += [out_path, os.path.join(d, 'pre-dump.log')]
            with self.phases('dump'):
                rc, _ = self.run_cmd(cmd, out_path, float(meta['timeout']),
                                     env=self.env_of(meta['dump_env']))
            if rc is None:
                raise TestFailed('pre-dump%s-%d hung (timeout %ss)' % (tag, k, meta['timeout']))
            if rc != 0:
                raise TestFailed('pre-dump%s-%d failed (exit %d)' % (tag, k, rc))
            self.check_running(tree, 'after pre-dump%s-%d' % (tag, k), expect)
            prev = d
        return prev

    def dump(self, pid, tree, meta, ctx, tag, leave_running=False, fault=None, snapshot=False,
             prev=None):
        """cryo dump; returns (rc, output, log path)."""
        imgdir = os.path.join(ctx['wdir'], 'images' + tag)
        os.makedirs(imgdir, exist_ok=True)
        ctx['imgdir'] = imgdir
        cmd = shlex.split(meta['dump_wrap'].replace('{runner}', HERE)) + [
            self.cryo, 'dump', '-t', str(pid), '-D', imgdir, '-o', 'dump.log', '-v4']
        if prev:
            cmd += ['--track-mem', '--prev-images-dir', os.path.relpath(prev, imgdir)]
        if leave_running:
            cmd.append('--leave-running')
        if snapshot:
            cmd += ['--leave-running', '--background-snapshot']
        cmd += shlex.split(meta['dump_opts'])
        env = self.env_of(meta['dump_env'])
        if fault:
            env['CRYO_FAULT'] = fault
        out_path = os.path.join(ctx['wdir'], 'dump%s.out' % tag)
        log_path = os.path.join(imgdir, 'dump.log')
        ctx['logs'] += [out_path, log_path]
        srv = None
        if ctx.get('page_server'):
            ps_out = os.path.join(ctx['wdir'], 'page-server%s.out' % tag)
            try:
                srv = psrv.PageServer(self.cryo, imgdir, ps_out)
            except RuntimeError as e:
                raise TestFailed(str(e))
            ctx['logs'] += [ps_out, srv.log_path]
            cmd += srv.args()
        with self.phases('dump'):
            rc, out = self.run_cmd(cmd, out_path, float(meta['timeout']), env=env)
        if srv:
            src = srv.finish()
            if rc == 0 and src != 0:
                raise TestFailed('the page server exited %s after a dump that succeeded' % src)
            if rc == 0 and 'pages received' not in srv.output():
                raise TestFailed('the page server did not report the pages it received')
        return rc, out, log_path

    def check_images_size(self, meta, ctx, tag, incremental=False):
        if not meta['images_max'] and not meta['images_min']:
            return
        d = ctx['imgdir']
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                   if f.startswith('pages-') and f.endswith('.img'))
        # (after pre-dumps, the dump writes only what changed since)
        if meta['images_min'] and not incremental and \
                size < float(meta['images_min']) * 1048576:
            raise TestFailed('dump%s wrote %.1f MiB of pages images, less than images_min = %s MiB'
                             % (tag, size / 1048576, meta['images_min']))
        if meta['images_max'] and size > float(meta['images_max']) * 1048576:
            raise TestFailed('dump%s wrote %.1f MiB of pages images, more than images_max = %s MiB'
                             % (tag, size / 1048576, meta['images_max']))

    def restore(self, tree, meta, ctx, tag, fault=None):
        """cryo restore from the last dump; returns (rc, output, log, pidfile)."""
        imgdir = ctx['imgdir']
        rpidfile = os.path.join(imgdir, 'restore%s.pid' % tag)
        cmd = shlex.split(meta['restore_wrap'].replace('{runner}', HERE)) + [
            self.cryo, 'restore', '-D', imgdir, '-d', '-o', 'restore%s.log' % tag, '-v4',
            '--pidfile', rpidfile] + shlex.split(meta['restore_opts'])
        env = self.env_of(meta['restore_env'])
        if fault:
            env['CRYO_FAULT'] = fault
        out_path = os.path.join(ctx['wdir'], 'restore%s.out' % tag)
        log_path = os.path.join(imgdir, 'restore%s.log' % tag)
        ctx['logs'] += [out_path, log_path]
        lazyd = self.start_lazy_daemon(ctx, tag, cmd) if ctx.get('lazy') else None
        with self.phases('restore'):
            if meta['tty'] == 'yes':
                rc, out = self.run_in_terminal(ctx, 'restore%s' % tag, cmd, out_path,
                                               float(meta['timeout']), env=env)
            else:
                rc, out = self.run_cmd(cmd, out_path, float(meta['timeout']), env=env)
        if lazyd:
            self.finish_lazy_daemon(lazyd, rc, float(meta['timeout']))
        for p in tree:          # whatever came back is ours to clean up
            self.own(p, ctx['binary'])
        return rc, out, log_path, rpidfile

    def start_lazy_daemon(self, ctx, tag, cmd):
        """The "lazy" variant: `cryo lazy-pages` on the images directory,
        listening before the restore --lazy-pages (added to @cmd) starts."""
        imgdir = ctx['imgdir']
        sock = os.path.join(imgdir, 'lazy-pages.socket')
        out_path = os.path.join(ctx['wdir'], 'lazy-pages%s.out' % tag)
        log_path = os.path.join(imgdir, 'lazy-pages%s.log' % tag)
        ctx['logs'] += [out_path, log_path]
        if os.path.exists(sock):
            os.unlink(sock)
        out = open(out_path, 'w')
        d = subprocess.Popen([self.cryo, 'lazy-pages', '-D', imgdir, '-o', log_path, '-v4'],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True)
        out.close()
        self.own(d.pid, os.path.realpath(self.cryo))
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if d.poll() is not None or time.time() > deadline:
                raise TestFailed('cryo lazy-pages did not listen on %s (exit %s)'
                                 % (sock, d.poll()))
            time.sleep(0.02)
        cmd.append('--lazy-pages')
        return (d, log_path)

    def finish_lazy_daemon(self, lazyd, rc, timeout):
        d, log_path = lazyd
        if rc != 0:
            if d.poll() is None:
                d.kill()
            d.wait()
            return
        try:
            drc = d.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
            raise TestFailed('cryo lazy-pages still running %gs after the restore' % timeout)
        log = open(log_path, errors='replace').read()
        if drc != 0 or 'memory complete' not in log:
            raise TestFailed('cryo lazy-pages exited %s without completing the memory (see %s)'
                             % (drc, log_path))

    def tree_of(self, pid, meta):
        """The tree checked around each step: all of it, or with churn only
        the root."""
        return [pid] if meta['churn'] == 'yes' else proc_tree(pid)

    def check_unharmed(self, pid, tree, what, expect=None):
        self.check_running(tree, what, expect)
        if len(tree) > 1 and proc_tree(pid) != tree:
            raise TestFailed('process tree changed %s: %s -> %s' % (what, tree, proc_tree(pid)))

    def wait_tree_gone(self, tree, what):
        with self.phases('wait-gone'):
            left = wait_gone(tree, self.args.gone_timeout)
        if left:
            states = ', '.join('%d (%s)' % (p, (proc_stat(p) or '?')[0]) for p in left)
            raise TestFailed('processes still present %gs %s: %s'
                             % (self.args.gone_timeout, what, states))

    def check_restored(self, pid, tree, rpidfile, ctx, tag, expect=None):
        try:
            with open(rpidfile) as f:
                rpid = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise TestFailed('restore%s: no valid --pidfile %s: %s' % (tag, rpidfile, e))
        self.own(rpid, ctx['binary'])
        if ctx.get('inner'):
            # a PID namespace of its own: a new PID here, the old ones inside
            return self.check_restored_pidns(pid, tree, rpid, ctx, tag, expect)
        if rpid != pid:
            raise TestFailed('restore%s: --pidfile says %d, the dumped pid was %d'
                             % (tag, rpid, pid))
        self.check_running(tree, 'after restore%s' % tag, expect)
        exe = proc_exe(pid)
        if exe and os.path.realpath(exe) != ctx['binary']:
            raise TestFailed('restored pid %d runs %s, not %s' % (pid, exe, ctx['binary']))
        now = proc_tree(pid)
        if len(tree) > 1 and now != tree:
            raise TestFailed('restore%s: process tree %s, dumped tree was %s' % (tag, now, tree))

    def check_restored_pidns(self, pid, tree, rpid, ctx, tag, expect):
        """The restored root (rpid here) must be PID 1 of a new PID namespace
        and its tree hold the dumped PIDs inside it (ctx['inner']: host pid ->
        inner pid of the dumped tree).  Returns the restored (pid, tree,
        expect) in this namespace's PIDs."""
        inner = ctx['inner']
        expect = expect or {}
        if nspid_inner(rpid) != 1 or rpid == pid:
            raise TestFailed('restore%s: the restored root %d is PID %s in its namespace, not 1 '
                             'in a new one' % (tag, rpid, nspid_inner(rpid)))
        now = proc_tree(rpid)
        now_inner = {p: nspid_inner(p) for p in now}
        for p in now:
            self.own(p, ctx['binary'])
        # the ns variant's init is not the test's: the tree is checked
        # whole where the test's own is more than one process, as here
        whole = len(tree) > (2 if ctx.get('ns_init') else 1)
        lost = set(inner.values()) - set(now_inner.values())
        if (whole and sorted(now_inner.values()) != sorted(inner.values())) or lost:
            raise TestFailed('restore%s: PIDs inside the namespace %s, dumped %s'
                             % (tag, sorted(now_inner.values()), sorted(inner.values())))
        if not whole:
            # a lone test may fork once restored (lazy_mem): followed as
            # without the init, only the dumped PIDs are checked
            now = [p for p in now if now_inner[p] in set(inner.values())]
        by_inner = {v: k for k, v in inner.items()}
        new_expect = {p: expect[by_inner[i]] for p, i in now_inner.items()
                      if i in by_inner and by_inner[i] in expect}
        self.check_running(now, 'after restore%s' % tag, new_expect)
        exe = proc_exe(rpid)
        if exe and os.path.realpath(exe) != ctx['binary']:
            raise TestFailed('restored pid %d runs %s, not %s' % (rpid, exe, ctx['binary']))
        return rpid, now, new_expect

    def do_pidns_copies(self, pid, meta, ctx, ncopies=2):
        """restore --pid-ns: copies of one checkpoint run side by side while
        the original keeps its PID; inside its namespace each copy has the
        original PID.  Each copy, then the original, must pass its check."""
        tree = proc_tree(pid)
        rc, out, log = self.dump(pid, tree, meta, ctx, '', leave_running=True)
        if rc != 0:
            raise TestFailed('dump --leave-running failed (exit %s)' % rc)
        copies = []
        for k in range(1, ncopies + 1):
            pf = os.path.join(ctx['wdir'], 'copy%d.pid' % k)
            cmd = [self.cryo, 'restore', '-D', ctx['imgdir'], '-d', '--pid-ns', '--pidfile', pf,
                   '-o', 'restore-copy%d.log' % k, '-v4'] + shlex.split(meta['restore_opts'])
            out_path = os.path.join(ctx['wdir'], 'restore-copy%d.out' % k)
            ctx['logs'] += [out_path, os.path.join(ctx['imgdir'], 'restore-copy%d.log' % k)]
            rc, out = self.run_cmd(cmd, out_path, float(meta['timeout']))
            if rc != 0:
                raise TestFailed('restore --pid-ns of copy %d failed (exit %s)' % (k, rc))
            try:
                with open(pf) as f:
                    host = int(f.read().strip())
            except (OSError, ValueError) as e:
                raise TestFailed('copy %d: no valid --pidfile: %s' % (k, e))
            self.own(host, ctx['binary'])
            nspid = None
            try:
                with open('/proc/%d/status' % host) as f:
                    for line in f:
                        if line.startswith('NSpid:'):
                            nspid = [int(x) for x in line.split()[1:]]
            except OSError:
                pass
            if not nspid or nspid[-1] != pid or host == pid:
                raise TestFailed('copy %d (host pid %d) has NSpid %s; expected %d inside its '
                                 'namespace' % (k, host, nspid, pid))
            copies.append(host)
        time.sleep(float(meta['settle']))
        self.check_running(copies + [pid], 'with %d copies restored' % ncopies)
        # every process appends its verdict to the same outfile, after the
        # ready token line that each of them checks: judge them one by one
        with open(ctx['outfile']) as f:
            base = f.read()
        for who, p in [('copy %d' % (i + 1), c) for i, c in enumerate(copies)] + \
                      [('the original', pid)]:
            with open(ctx['outfile'], 'w') as f:
                f.write(base)
            self.verdict(p, meta, ctx, '(%s)' % who)

    def do_test(self, name, variant, meta, ctx):
        mods = parse_variant(variant)
        self.check_skip(meta)
        # uns: its own answer, else the ns one
        nskey = 'uns' if mods['uns'] and meta['uns'] else 'ns'
        if mods['ns'] and meta[nskey] != 'yes':
            m = re.match(r'(no|bug)\b[ :]*(.*)', meta[nskey])
            if not m:
                raise MetaError('%s must be "yes", "no: REASON" or "bug: WHAT", not "%s"'
                                % (nskey, meta[nskey]))
            raise TestSkipped('%s: %s%s' % (nskey, 'known bug: ' if m.group(1) == 'bug' else '',
                                            m.group(2) or 'no reason given'))
        ctx['ns_init'] = mods['ns'] and meta['pidns_root'] != 'yes'
        if not os.access(self.cryo, os.X_OK):
            raise TestFailed('cryo binary %s not found (build it, or set CRYO=/--cryo)'
                             % self.cryo)
        refuse_at = meta['refuse_at'] if meta['refuse'] else None
        if refuse_at not in (None, 'dump', 'restore'):
            raise MetaError('refuse_at must be dump or restore')
        fault = mods['fault']
        if fault and (refuse_at or mods['leave_running']):
            raise MetaError('fault= does not combine with refuse or leave-running')
        try:
            timeout = float(meta['timeout'])
            float(meta['settle'])
        except ValueError:
            raise MetaError('timeout and settle must be numbers')

        ctx['page_server'] = mods['page_server']
        ctx['lazy'] = mods['lazy']
        pid = self.start(meta['prog'] or name, mods, meta, ctx)
        if mods['pidns']:
            return self.do_pidns_copies(pid, meta, ctx)

        for it in range(1, mods['iters'] + 1):
            tag = '' if mods['iters'] == 1 else '-%d' % it
            tree = self.tree_of(pid, meta)
            # zombies and stopped tasks made on purpose by the test (tree test)
            expect = {p: (proc_stat(p) or '?')[0] for p in tree}
            expect = {p: st for p, st in expect.items() if st in 'ZTt' and p != pid}
            self.check_running(tree, 'before dump%s' % tag, expect)
            if meta['pidns_root'] == 'yes' or mods['ns']:
                inner = {p: nspid_inner(p) for p in tree}
                if inner.get(pid) != 1:
                    raise TestFailed('pidns_root: the test process %d is PID %s in its '
                                     'namespace, not 1' % (pid, inner.get(pid)))
                ctx['inner'] = inner

            if fault and it == 1 and fault.startswith('dump:'):
                # the faulted dump must fail and leave the tree as it was;
                # then the normal dump below must still work
                rc, out, log = self.dump(pid, tree, meta, ctx, tag + '-fault', fault=fault,
                                         snapshot=mods['snapshot'])
                self.refusal_ok('dump with CRYO_FAULT=%s' % fault, rc, out, log, meta,
                                'fault injected at %s' % fault)
                self.check_unharmed(pid, tree, 'after the failed dump (CRYO_FAULT=%s)' % fault, expect)

            prev = None
            if mods['pre'] and refuse_at != 'dump':
                prev = self.pre_dumps(pid, tree, meta, ctx, tag, mods['pre'], expect)
            rc, out, log = self.dump(pid, tree, meta, ctx, tag,
                                     leave_running=mods['leave_running'],
                                     snapshot=mods['snapshot'], prev=prev)
            if refuse_at == 'dump':
                self.refusal_ok('dump', rc, out, log, meta, meta['refuse'])
                self.check_unharmed(pid, tree, 'after the refused dump', expect)
                self.verdict(pid, meta, ctx, 'after the refused dump')
                return
            if rc is None:
                raise TestFailed('dump%s hung (timeout %gs)' % (tag, timeout))
            if rc != 0:
                raise TestFailed('dump%s failed (exit %d)' % (tag, rc))
            self.check_images_size(meta, ctx, tag, incremental=bool(prev))
            if mods['leave_running']:
                self.check_unharmed(pid, tree, 'after dump --leave-running%s' % tag, expect)
                continue
            if mods['snapshot']:
                # the original ran on during the copy: unharmed; then it
                # goes, and the images (the freeze instant) must restore
                self.check_unharmed(pid, tree, 'after dump --background-snapshot%s' % tag,
                                    expect)
                # all of it, children forked since too (churn)
                now = sorted(set(tree) | set(proc_tree(pid)))
                for p in now:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.wait_tree_gone(now, 'after the original was killed%s' % tag)
            self.wait_tree_gone(tree, 'after dump%s' % tag)

            if fault and it == 1 and fault.startswith('restore:'):
                # the faulted restore must fail and leave nothing behind;
                # the images must still restore afterwards
                rc, out, log, _ = self.restore(tree, meta, ctx, tag + '-fault', fault=fault)
                self.refusal_ok('restore with CRYO_FAULT=%s' % fault, rc, out, log, meta,
                                'fault injected at %s' % fault)
                self.wait_tree_gone(tree, 'after the failed restore (CRYO_FAULT=%s)' % fault)

            rc, out, log, rpidfile = self.restore(tree, meta, ctx, tag)
            if refuse_at == 'restore':
                self.refusal_ok('restore', rc, out, log, meta, meta['refuse'])
                self.wait_tree_gone(tree, 'after the refused restore')
                return
            if rc is None:
                raise TestFailed('restore%s hung (timeout %gs)' % (tag, timeout))
            if rc != 0:
                raise TestFailed('restore%s failed (exit %d)' % (tag, rc))
            with self.phases('check'):
                moved = self.check_restored(pid, tree, rpidfile, ctx, tag, expect)
            if moved:
                # the tree lives on under new PIDs here: follow it
                pid, tree, expect = moved
                ctx['inner'] = None
            if mods['ns']:
                self.check_own_ns(pid, 'after restore%s' % tag, mods['uns'])
            with self.phases('settle'):
                time.sleep(float(meta['settle']))
            self.check_running(tree, 'after restore%s' % tag, expect)

        self.verdict(pid, meta, ctx, 'after %s' % ('dump --leave-running'
                                                   if mods['leave_running'] else 'restore'))


def ensure_pid_room():
    """Restores need the dumped PIDs to be free again.  With the default
    pid_max (32768) a busy machine wraps around within seconds and hands a
    just-freed PID to an unrelated process; raise it (as root) so PIDs are
    not reused during a test run."""
    path = '/proc/sys/kernel/pid_max'
    try:
        with open(path) as f:
            cur = int(f.read())
        if cur < 4194304 and os.geteuid() == 0:
            with open(path, 'w') as f:
                f.write('4194304')
            print('note: raised kernel.pid_max from %d to 4194304 so that PIDs are not '
                  'reused during the run' % cur)
    except (OSError, ValueError):
        pass


def main():
    ap = argparse.ArgumentParser(
        description='cryo integration test runner',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=METADATA)
    ap.add_argument('tests', nargs='*', help='test ids or globs (NAME, NAME:VARIANT, an*)')
    ap.add_argument('--build', default=os.environ.get('BUILD', os.path.join(SRC_ROOT, 'build')),
                    help='meson build dir (default: build, env BUILD)')
    ap.add_argument('--cryo', default=os.environ.get('CRYO'),
                    help='cryo binary (default: BUILD/cli/cryo, env CRYO)')
    ap.add_argument('--progs', default=os.path.join(SRC_ROOT, 'tests', 'progs'),
                    help='test sources and .desc files (default: tests/progs)')
    ap.add_argument('--bindir', help='test binaries (default: BUILD/tests/progs)')
    ap.add_argument('--results', default=os.path.join(SRC_ROOT, 'tests', 'out'),
                    help='where images and logs go (default: tests/out)')
    ap.add_argument('--keep', action='store_true', help='keep results of passed tests')
    ap.add_argument('--exclude', action='append', default=[], metavar='PATTERN',
                    help='leave out the test ids (NAME:VARIANT) that match; repeatable '
                    '(e.g. --exclude "*:iter2")')
    ap.add_argument('--gone-timeout', type=float, default=GONE_TIMEOUT,
                    help='seconds to wait for dumped processes to disappear (%d)' % GONE_TIMEOUT)
    ap.add_argument('--list', action='store_true', help='list test ids and exit')
    ap.add_argument('--no-subreaper', action='store_true',
                    help='leave the tests\' orphans to pid 1 (the runner is a child subreaper '
                    'and reaps them itself by default: see Reaper)')
    ap.add_argument('--fault-target', default='fault_target',
                    help='test program the fault:* tests use (default fault_target; '
                    '"none" disables them)')
    ap.add_argument('--real', default=os.path.join(SRC_ROOT, 'tests', 'real'),
                    help='real-program tests (default: tests/real)')
    ap.add_argument('--summary', help='write a JSON summary here')
    ap.add_argument('--times', default=os.environ.get('CRYO_RUNNER_TIMES'),
                    help='append one JSON line per test to this file: its seconds in each '
                    'phase (start, dump, wait-gone, restore, check, settle, verdict, '
                    'cleanup, other); tests/runner/times.py sums them (env CRYO_RUNNER_TIMES)')
    ap.add_argument('--flavor', choices=('h', 'ns', 'uns', 'all'),
                    default=os.environ.get('CRYO_TEST_FLAVOR', 'h'),
                    help='h: each test in its own variants (default); ns: each test in the ns '
                    'variant alone (namespaces of its own, see --help-desc), no fault:* or '
                    'real:* tests; uns: the same in the uns variant (and a user namespace); '
                    'all: h and ns (env CRYO_TEST_FLAVOR)')
    ap.add_argument('--with', dest='with_mod', metavar='MOD',
                    help='a sweep: each selected test once, in its first own variant with '
                    'the variant modifier MOD added (e.g. iter2, leave-running, pre2); '
                    'tests that must be refused run as they are')
    ap.add_argument('--help-desc', action='store_true', help='describe the metadata format')
    args = ap.parse_args()
    if args.with_mod:
        try:
            parse_variant(args.with_mod)
        except MetaError as e:
            ap.error('--with: %s' % e)
    ensure_pid_room()
    if args.help_desc:
        print(METADATA)
        print(real.REAL_METADATA)
        print('Fault injection (ids fault:*):')
        print(fault.__doc__)
        return 0
    args.build = os.path.abspath(args.build)
    if not args.cryo:
        args.cryo = os.path.join(args.build, 'cli', 'cryo')
    args.cryo = os.path.abspath(args.cryo)
    if not args.bindir:
        args.bindir = os.path.join(args.build, 'tests', 'progs')
    args.results = os.path.abspath(args.results)

    r = Runner(args)
    pats = args.tests

    def selected(t):
        if any(fnmatch.fnmatchcase(t[0], p) for p in args.exclude):
            return False
        return not pats or any(fnmatch.fnmatchcase(t[0], p) or fnmatch.fnmatchcase(t[1], p)
                               for p in pats)
    allt = r.tests() + (r.real_entries() if args.flavor not in ('ns', 'uns') else [])
    tests = [t for t in allt if selected(t)]
    with_fault = args.fault_target != 'none' and args.flavor not in ('ns', 'uns') and \
        fault.wanted(pats)
    unknown = [p for p in pats
               if not any(fnmatch.fnmatchcase(t[0], p) or fnmatch.fnmatchcase(t[1], p)
                          for t in allt) and not (with_fault and fault.wanted([p]))]
    if unknown:
        print('no such test: %s (see --list)' % ', '.join(unknown), file=sys.stderr)
        return 2
    if args.list:
        for t in tests:
            print(t[0])
        if with_fault:
            print('fault:discover')
            print('fault:dump:*      (one per stage, discovered at run time: CRYO_FAULT=list)')
            print('fault:restore:*   (one per stage, discovered at run time)')
        return 0

    def on_signal(sig, frame):
        r.kill_owned()
        sys.exit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    os.makedirs(args.results, exist_ok=True)
    if not args.no_subreaper:
        Reaper.enable()
    print('cryo: %s' % args.cryo, flush=True)
    try:
        progs = [t for t in tests if not isinstance(t[2], dict)]
        reals = [t for t in tests if isinstance(t[2], dict)]
        for t in progs:
            r.run_test(*t)
        if with_fault:
            disc = r.fault_entries()[0]
            r.run_test(*disc)
            stages = r.fault_entries()[1:]
            fsel = [t for t in stages if selected(t)]
            for t in fsel:
                r.run_test(*t)
            # an exact stage name that the engine does not have
            for p in pats:
                if p.startswith('fault:') and p != 'fault:discover' and \
                        not any(fnmatch.fnmatchcase(t[0], p) for t in stages) and \
                        r.fault_stages is not None:
                    r.run_test(p, 'fault', {'kind': 'error', 'msg': 'no such stage: cryo '
                                            'reached %s' % ', '.join(t[0][6:] for t in stages)},
                               None)
            shutil.rmtree(r.fault_stale, ignore_errors=True)
        for t in reals:
            r.run_test(*t)
    finally:
        r.kill_owned()
    c = r.counts
    if args.summary:
        with open(args.summary, 'w') as f:
            json.dump({'counts': c, 'tests': r.report}, f, indent=1)
    print('%d passed, %d failed, %d skipped' % (c['passed'], c['failed'], c['skipped']))
    if c['failed']:
        return 1
    if not c['passed'] and c['skipped']:
        return 77       # meson's "skipped"
    return 0


if __name__ == '__main__':
    sys.exit(main())
