#!/usr/bin/python3
"""Do cryo's command-line options have their documented effects?

Each check below runs real dumps and restores (of the counter test program,
BUILD/tests/progs/counter) and observes what one option changes, comparing
with a run without it where that is the point:

  leave-stopped     dump -s leaves the dumped process there, stopped (T);
                    restore -d -s leaves the restored root stopped; SIGCONT
                    lets it count on
  restore-sibling   restore -d -S: the restored root is a child of cryo's
                    parent (this script); with -d alone it is not (it is
                    cryo's child, orphaned when cryo exits); -S without -d
                    is refused
  work-dir          -W: the -o log and a relative --pidfile land in the work
                    dir, not in the images dir
  display-stats     dump --display-stats prints "Displaying dump stats:" and
                    its figures; restore --display-stats prints restore
                    statistics; neither is printed without the option
  daemon            restore --daemon returns while the restored tree runs on
                    (as -d does)
  close             cryo --close 7 ...: cryo, waiting for a restored tree
                    (restore without -d), no longer has the fd 7 it was
                    started with; without --close it has
  timeout           dump --timeout N gives up seizing a task that cannot
                    stop (in a frozen v1 freezer cgroup, state D) after N
                    seconds and says so; a normal dump with --timeout 1 works
  restore-detached  without -d cryo waits for the restored root (its parent)
                    and exits 0 once it has exited; with -d it returns at
                    once and the tree runs on
  skip-file-rwx-check  the counter's output file is chmod'ed between dump
                    and restore: restore refuses (naming the file and both
                    modes) and restores nothing; with --skip-file-rwx-check
                    the counter comes back and counts on
  cpu-cap           dump --cpu-cap writes cpuinfo.img (crit reads it), restore
                    --cpu-cap checks this CPU against it and restores; with
                    an instruction-set bit this CPU lacks written into it
                    (crit), `cpuinfo check` and restore --cpu-cap refuse
                    naming the word and bit (nothing restored), --cpu-cap=^ins
                    lets it pass; an XSAVE feature this CPU lacks: fpu refuses
  cgroup-yard       a counter in cgroups of its own (v1 pids, v2) dumped with
                    --manage-cgroups --cgroup-yard /sys/fs/cgroup, its
                    cgroups removed; restored in a mount namespace without
                    /sys/fs/cgroup, with --cgroup-yard Y where Y/pids and
                    Y/unified are mounts of those hierarchies: a yard without pids is refused,
                    naming it (nothing restored); with both, the counter is
                    back in its cgroups (made again through the yard) and
                    the mount table cryo left is the one it was given
  exec-cmd          restore --exec-cmd -- sleep N: once the tree is
                    restored cryo's process becomes sleep, the restored
                    root's parent; a command that does not exist is refused
                    before anything is restored (the PID stays free)

Every check prints "PASS option-effect:NAME" or "FAIL option-effect:NAME:
reason" ("SKIP ..." when not root), notes start with "#"; the last line is
"N passed, N failed".  Exit status: 0 if all passed, 1 if any failed, 77 if
everything was skipped (not root).  Work files: /tmp/cryo-optfx.NAME.*,
removed when the check passes and kept (and named) when it fails.

  tests/runner/option_effects.py [--keep] [NAME...]

Environment: CRYO (cryo binary, default BUILD/cli/cryo), BUILD (build dir,
default build/ of this repository; test programs in BUILD/tests/progs).
Only processes this script started (or restored) are killed, by PID.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checklib import (CRYO, PROGS, GONE_TIMEOUT, CheckFailed, note,  # noqa: E402
                      reap_if_child, run_checks, state, wait_until)
import checklib  # noqa: E402
import run  # noqa: E402

COUNTER = os.path.realpath(os.path.join(PROGS, 'counter'))


def proc_stat(pid):
    """(state, ppid) or None."""
    st = run.proc_stat(pid)
    return st[:2] if st else None


def status_ppid(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('PPid:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_of(pid):
    res = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pid:
                res.append(int(d))
    return res


# ---- one check's context ----------------------------------------------------

class Check(checklib.Check):
    """Work dir and the processes of one check; cleanup() kills them."""

    def __init__(self, name):
        super().__init__(name, tempfile.mkdtemp(prefix='cryo-optfx.%s.' % name, dir='/tmp'))

    # -- test program

    def start_counter(self, tag='c'):
        """Start the counter (daemonized, its own session, stdout on a file);
        returns its pid once it wrote its pidfile."""
        pidfile = self.path('%s.pid' % tag)
        self.outfile = self.path('%s.out' % tag)
        self.countfile = self.path('%s.count' % tag)
        cmd = [COUNTER, '--pidfile', pidfile, '--outfile', self.outfile]
        with open(os.devnull) as fin, open(self.countfile, 'w') as fout, \
                open(self.path('%s.stderr' % tag), 'w') as ferr:
            p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=self.wdir,
                                 start_new_session=True)
        self.own(p.pid, COUNTER)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise CheckFailed('counter did not become ready in 30 s')
        if rc != 0:
            raise CheckFailed('counter setup failed (exit %d)' % rc)
        with open(pidfile) as f:
            pid = int(f.read().strip())
        self.own(pid, COUNTER)
        if state(pid) in (None, 'Z', 'X'):
            raise CheckFailed('counter %d died right after setup' % pid)
        return pid

    def count(self):
        try:
            return os.path.getsize(self.countfile)
        except OSError:
            return -1

    def verdict(self, pid, what):
        """SIGTERM the (restored) counter; it must write PASS."""
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError as e:
            raise CheckFailed('cannot SIGTERM %d %s: %s' % (pid, what, e))
        if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 20):
            raise CheckFailed('counter %d did not exit within 20 s of SIGTERM %s' % (pid, what))
        reap_if_child(pid)
        try:
            with open(self.outfile) as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        fails = [l for l in lines if l.startswith('FAIL')]
        if fails:
            raise CheckFailed('counter says %s: %s' % (what, fails[0]))
        if 'PASS' not in lines:
            raise CheckFailed('counter %d exited %s without a verdict' % (pid, what))

    # -- cryo

    def dump(self, pid, imgdir, extra=(), tag='dump'):
        os.makedirs(self.path(imgdir), exist_ok=True)
        return self.cryo_ok(['dump', '-t', str(pid), '-D', self.path(imgdir)] + list(extra), tag)

    def wait_gone(self, pid):
        if not wait_until(lambda: not os.path.exists('/proc/%d' % pid), GONE_TIMEOUT, 0.05):
            raise CheckFailed('process %d still there %d s after the dump (state %s)'
                              % (pid, GONE_TIMEOUT, state(pid)))

    def dump_gone(self, pid, imgdir, extra=(), tag='dump'):
        r = self.dump(pid, imgdir, extra, tag)
        self.wait_gone(pid)
        return r

    def restored_pid(self, pidfile, want):
        try:
            with open(pidfile) as f:
                rpid = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise CheckFailed('no valid restore --pidfile %s: %s' % (pidfile, e))
        self.own(rpid, COUNTER)
        if rpid != want:
            raise CheckFailed('restore --pidfile says %d, the dumped pid was %d' % (rpid, want))
        return rpid

    def check_running(self, pid, what):
        """pid alive, not stopped, and counting."""
        st = state(pid)
        if st is None or st in 'ZX':
            raise CheckFailed('process %d is %s %s' % (pid, 'gone' if st is None else 'a zombie',
                                                       what))
        if st in 'Tt':
            raise CheckFailed('process %d is stopped (state %s) %s' % (pid, st, what))
        c0 = self.count()
        if not wait_until(lambda: self.count() > c0, 3):
            raise CheckFailed('process %d (state %s) does not count on %s'
                              % (pid, state(pid), what))


# ---- the checks ---------------------------------------------------------------

def check_stopped(c, pid, who):
    """@pid is stopped (state T) and its count stands still."""
    st = state(pid)
    if st != 'T':
        raise CheckFailed('%s is in state %s, not T (stopped)' % (who, st))
    c0 = c.count()
    time.sleep(0.4)
    if c.count() != c0 or state(pid) != 'T':
        raise CheckFailed('%s counts on (state %s)' % (who, state(pid)))


def check_leave_stopped(c):
    pid = c.start_counter()
    c.dump(pid, 'img', ['-s', '-o', 'dump.log', '-v4'])
    wait_until(lambda: state(pid) in ('T', None), 2)
    if state(pid) is None:
        raise CheckFailed('dump -s: process %d is gone after the dump' % pid)
    check_stopped(c, pid, 'dump -s: process %d' % pid)
    note('leave-stopped: after dump -s, %d is in state T and does not count' % pid)
    os.kill(pid, signal.SIGKILL)
    c.wait_gone(pid)

    rpidfile = c.path('restore.pid')
    c.cryo_ok(['restore', '-D', c.path('img'), '-d', '-s', '--pidfile', rpidfile,
               '-o', 'restore.log', '-v4'], 'restore')
    c.restored_pid(rpidfile, pid)
    check_stopped(c, pid, 'restore -d -s: the restored root %d' % pid)
    os.kill(pid, signal.SIGCONT)
    c.check_running(pid, 'after restore -d -s and SIGCONT')
    note('leave-stopped: after restore -d -s, %d is in state T; SIGCONT lets it count on' % pid)
    c.verdict(pid, 'after restore -d -s and SIGCONT')


def check_restore_sibling(c):
    me = os.getpid()
    # -S needs -d
    os.makedirs(c.path('img'))
    rc, out, err, _ = c.cryo(['restore', '-D', c.path('img'), '-S'], 'restore-S-without-d')
    if rc == 0 or 'only makes sense with --restore-detached' not in out + err:
        raise CheckFailed('restore -S without -d: expected a refusal "--restore-sibling only '
                          'makes sense with --restore-detached", got exit %s: %s'
                          % (rc, (err or out).strip()[-200:]))

    # -d alone: cryo's child, orphaned when cryo exits -- not ours
    pid = c.start_counter('b')
    c.dump_gone(pid, 'img2', ['-o', 'dump.log', '-v4'])
    rpidfile = c.path('restore-d.pid')
    c.cryo_ok(['restore', '-D', c.path('img2'), '-d', '--pidfile', rpidfile,
               '-o', 'restore-d.log', '-v4'], 'restore-d')
    cryo_pid = c.popens[-1].pid
    c.restored_pid(rpidfile, pid)
    ppid = status_ppid(pid)
    if ppid == me:
        raise CheckFailed('restore -d (no -S): the restored root %d is a child of this script '
                          'too, as with -S' % pid)
    if ppid == cryo_pid:
        raise CheckFailed('restore -d (no -S): the restored root %d still has the exited cryo '
                          '%d as its parent' % (pid, cryo_pid))
    c.check_running(pid, 'after restore -d')
    note('restore-sibling: with -d alone the restored root %d has PPid %s (cryo %d was its '
         'parent and has exited; the orphan went to the reaper), not this script %d'
         % (pid, ppid, cryo_pid, me))
    c.verdict(pid, 'after restore -d')

    # -d -S: a child of cryo's parent (this script)
    pid = c.start_counter('a')
    c.dump_gone(pid, 'img', ['-o', 'dump.log', '-v4'])
    rpidfile = c.path('restore-S.pid')
    c.cryo_ok(['restore', '-D', c.path('img'), '-d', '-S', '--pidfile', rpidfile,
               '-o', 'restore-S.log', '-v4'], 'restore-S')
    cryo_pid = c.popens[-1].pid
    c.restored_pid(rpidfile, pid)
    ppid = status_ppid(pid)
    if ppid != me:
        raise CheckFailed('restore -d -S: the restored root %d has PPid %s; cryo\'s parent '
                          '(this script) is %d (cryo was %d)' % (pid, ppid, me, cryo_pid))
    c.check_running(pid, 'after restore -d -S')
    note('restore-sibling: with -d -S the restored root %d has PPid %d = this script '
         '(cryo was %d)' % (pid, ppid, cryo_pid))
    c.verdict(pid, 'after restore -d -S')


def check_work_dir(c):
    pid = c.start_counter()
    os.makedirs(c.path('img'))
    os.makedirs(c.path('work'))
    os.makedirs(c.path('work2'))
    os.makedirs(c.path('cwd'))
    # -D and -W relative to where cryo starts (cwd), -o and --pidfile to -W
    c.cryo_ok(['dump', '-t', str(pid), '-D', '../img', '-W', '../work', '-o', 'x.log', '-v4'],
              'dump', cwd=c.path('cwd'))
    c.wait_gone(pid)
    if not os.path.exists(c.path('img', 'inventory.img')):
        raise CheckFailed('dump -D ../img -W ../work: no inventory.img in the images dir')
    if not os.path.isfile(c.path('work', 'x.log')) or not os.path.getsize(c.path('work', 'x.log')):
        raise CheckFailed('dump -W work -o x.log: no (or an empty) x.log in the work dir '
                          '(images dir has: %s)' % ' '.join(sorted(os.listdir(c.path('img')))))
    for d in ('img', 'cwd'):
        if os.path.exists(c.path(d, 'x.log')):
            raise CheckFailed('dump -W work -o x.log: x.log also in %s/' % d)
    if os.path.exists(c.path('work', 'inventory.img')):
        raise CheckFailed('dump -D img -W work: images were written to the work dir')

    c.cryo_ok(['restore', '-D', '../img', '-W', '../work2', '-d', '-o', 'r.log', '-v4',
               '--pidfile', 'r.pid'], 'restore', cwd=c.path('cwd'))
    for f in ('r.log', 'r.pid'):
        if not os.path.isfile(c.path('work2', f)):
            raise CheckFailed('restore -W work2 -o r.log --pidfile r.pid: no %s in the work dir '
                              '(images dir has: %s)'
                              % (f, ' '.join(sorted(os.listdir(c.path('img'))))))
        for d in ('img', 'cwd'):
            if os.path.exists(c.path(d, f)):
                raise CheckFailed('restore -W work2: %s also in %s/' % (f, d))
    c.restored_pid(c.path('work2', 'r.pid'), pid)
    c.check_running(pid, 'after restore -W')
    note('work-dir: dump log in work/, restore log and relative pidfile in work2/, '
         'nothing in the images dir')
    # documented as "log file, pidfile and statistics": where did stats go?
    stats = [d for d in ('img', 'work', 'cwd') if os.path.exists(c.path(d, 'stats-dump'))]
    note('work-dir: stats-dump written to: %s (docs/commands.md: -W is the "directory for the '
         'log file, pidfile and statistics"; criu writes stats-* to the work dir)'
         % (', '.join(d + '/' for d in stats) or 'nowhere'))
    c.verdict(pid, 'after restore -W')


DUMP_STATS_RE = [r'^Displaying dump stats:$', r'^Freezing time: \d+ us$',
                 r'^Frozen time: \d+ us$', r'^Memory dump time: \d+ us$',
                 r'Memory pages scanned: \d+ \(0x[0-9a-f]+\)$',
                 r'Memory pages written: \d+ \(0x[0-9a-f]+\)$']
RESTORE_STATS_RE = r'(?im)^Displaying restore stats:|restore stats'
ANY_STATS_RE = r'(?i)displaying .*stats|freezing time|pages (scanned|written|restored)'


def check_display_stats(c):
    problems = []
    pid = c.start_counter()
    # no -o: cryo logs to stderr; statistics are user-facing output (stdout)
    out0, err0, _ = c.dump(pid, 'img0', ['-R'], tag='dump-R-plain')
    if re.search(ANY_STATS_RE, out0 + err0):
        problems.append('dump without --display-stats printed statistics')
    out1, err1, _ = c.dump(pid, 'img1', ['--display-stats'], tag='dump-stats')
    c.wait_gone(pid)
    missing = [r for r in DUMP_STATS_RE if not re.search('(?m)' + r, out1)]
    if missing:
        where = ' (they are on stderr)' if not re.search(ANY_STATS_RE, out1) and \
            re.search(ANY_STATS_RE, err1) else ''
        problems.append('dump --display-stats: stdout lacks %s%s'
                        % (', '.join('/%s/' % m for m in missing), where))
    else:
        note('display-stats: dump --display-stats printed: %s'
             % '; '.join(l for l in out1.splitlines() if l.strip()))
    rpidfile = c.path('r1.pid')
    outr, errr, _ = c.cryo_ok(['restore', '-D', c.path('img1'), '-d', '--display-stats',
                               '--pidfile', rpidfile], 'restore-stats')
    c.restored_pid(rpidfile, pid)
    if not re.search(RESTORE_STATS_RE, outr):
        problems.append('restore --display-stats printed no restore statistics (stdout: %r, '
                        'stderr: %r)' % (outr.strip()[-200:], errr.strip()[-200:]))
    c.check_running(pid, 'after restore --display-stats')
    # control: a restore without the option
    c.dump_gone(pid, 'img2', tag='dump-plain')
    rpidfile = c.path('r2.pid')
    outp, errp, _ = c.cryo_ok(['restore', '-D', c.path('img2'), '-d', '--pidfile', rpidfile],
                              'restore-plain')
    c.restored_pid(rpidfile, pid)
    if re.search(ANY_STATS_RE, outp + errp):
        problems.append('restore without --display-stats printed statistics')
    c.check_running(pid, 'after restore')
    # where do they go with -o FILE?  (a note only: criu prints them on stdout)
    c.dump_gone(pid, 'img3', ['--display-stats', '-o', 'd3.log'], tag='dump-stats-o')
    out3 = open(c.path('%02d-dump-stats-o.out' % c.n)).read()
    log3 = open(c.path('img3', 'd3.log'), errors='replace').read()
    in_out = 'Displaying dump stats' in out3.split('--- stderr')[0]
    in_log = 'Displaying dump stats' in log3
    note('display-stats: with -o d3.log the dump statistics went to: %s (criu prints pr_msg '
         'output on stdout whatever -o says)'
         % (' and '.join(w for w, b in (('stdout', in_out), ('the log', in_log)) if b)
            or 'nowhere'))
    rpidfile = c.path('r3.pid')
    c.cryo_ok(['restore', '-D', c.path('img3'), '-d', '--pidfile', rpidfile], 'restore3')
    c.restored_pid(rpidfile, pid)
    c.verdict(pid, 'after the last restore')
    if problems:
        raise CheckFailed('; '.join(problems))


def check_daemon(c):
    pid = c.start_counter()
    c.dump_gone(pid, 'img', ['-o', 'dump.log', '-v4'])
    rpidfile = c.path('r.pid')
    rc, out, err, dt = c.cryo(['restore', '-D', c.path('img'), '--daemon', '--pidfile', rpidfile,
                               '-o', 'restore.log', '-v4'], 'restore-daemon', timeout=10)
    cryo_pid = c.popens[-1].pid
    if rc is None:
        raise CheckFailed('restore --daemon did not return within 10 s (it waited for the '
                          'restored tree, as without -d)')
    if rc != 0:
        raise CheckFailed('restore --daemon exited %d: %s' % (rc, (err or out).strip()[-200:]))
    c.restored_pid(rpidfile, pid)
    c.check_running(pid, 'after cryo restore --daemon returned')
    ppid = status_ppid(pid)
    if ppid == cryo_pid:
        raise CheckFailed('restored root %d still has the exited cryo as parent' % pid)
    note('daemon: restore --daemon returned in %.2f s (exit 0); %d runs on (PPid %s)'
         % (dt, pid, ppid))
    c.verdict(pid, 'after restore --daemon')


def cryo_fds(pid):
    try:
        return {int(f): os.readlink('/proc/%d/fd/%s' % (pid, f))
                for f in os.listdir('/proc/%d/fd' % pid)}
    except OSError:
        return None


def restore_waiting(c, imgdir, tag, extra_front=()):
    """cryo [extra_front] restore without -d, started with fd 7 on a marker file;
    returns (fds cryo has while it waits, its exit code after the root's end)."""
    marker = c.path('fd7-marker')
    open(marker, 'w').close()
    rpidfile = c.path('%s.pid' % tag)
    # fd 7 comes from the shell, which then execs cryo (same pid)
    cmd = ['/bin/sh', '-c', 'exec "$0" "$@" 7<"%s"' % marker, CRYO] + list(extra_front) + \
        ['restore', '-D', c.path(imgdir), '--pidfile', rpidfile, '-o', '%s.log' % tag, '-v4']
    with open(c.path('%s.cmd' % tag), 'w') as f:
        f.write(' '.join(cmd) + '\n')
    out = open(c.path('%s.out' % tag), 'w')
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         cwd=c.wdir)
    out.close()
    c.popens.append(p)
    if not wait_until(lambda: os.path.exists(rpidfile) or p.poll() is not None, 20):
        raise CheckFailed('%s: no pidfile within 20 s' % tag)
    return p, rpidfile, marker


def check_close(c):
    results = {}
    for tag, front in (('plain', []), ('close7', ['--close', '7'])):
        pid = c.start_counter(tag)
        c.dump_gone(pid, 'img-' + tag, ['-o', 'dump.log', '-v4'])
        p, rpidfile, marker = restore_waiting(c, 'img-' + tag, 'restore-' + tag, front)
        if p.poll() is not None:
            raise CheckFailed('cryo %srestore (no -d) exited %d before the tree ended'
                              % (' '.join(front) + ' ' if front else '', p.returncode))
        c.restored_pid(rpidfile, pid)
        c.own(p.pid, os.path.realpath(CRYO))
        time.sleep(0.2)
        fds = cryo_fds(p.pid)
        if fds is None or p.poll() is not None:
            raise CheckFailed('cryo %d is gone while its restored tree runs' % p.pid)
        results[tag] = fds.get(7)
        root7 = cryo_fds(pid).get(7) if cryo_fds(pid) else None
        if root7 is not None:
            note('close: the restored root %d has an fd 7 (%s) it did not have when dumped '
                 '(cryo %s)' % (pid, root7, tag))
        c.verdict(pid, 'after restore (%s)' % tag)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            raise CheckFailed('cryo restore (no -d) did not exit within 10 s of its tree\'s end')
        if rc != 0:
            raise CheckFailed('cryo restore (no -d, %s) exited %d' % (tag, rc))
    if results['plain'] != marker:
        raise CheckFailed('control: cryo started with fd 7 on %s shows fd 7 = %s while it '
                          'waits (the observation does not work)' % (marker, results['plain']))
    if results['close7'] is not None:
        raise CheckFailed('cryo --close 7 still has fd 7 (%s) while it waits for the restored '
                          'tree' % results['close7'])
    note('close: while waiting for its restored tree cryo has fd 7 -> %s without --close, '
         'no fd 7 with --close 7' % marker)


def check_timeout(c):
    # a normal dump with --timeout 1 works
    pid = c.start_counter()
    c.dump_gone(pid, 'img', ['--timeout', '1', '-o', 'dump.log', '-v4'])
    rpidfile = c.path('r.pid')
    c.cryo_ok(['restore', '-D', c.path('img'), '-d', '--pidfile', rpidfile], 'restore')
    c.restored_pid(rpidfile, pid)
    c.check_running(pid, 'after a dump with --timeout 1 and a restore')
    c.verdict(pid, 'after a dump with --timeout 1 and a restore')

    # a task that cannot stop: the dump gives up after --timeout seconds.  A
    # task in a FROZEN v1 freezer cgroup sleeps uninterruptibly (state D)
    # until it is thawed (a vfork parent did too, but cryo now refuses a
    # vfork at once, before it waits for anything)
    fz = '/sys/fs/cgroup/freezer'
    if not os.path.exists(os.path.join(fz, 'freezer.state')) and \
            not os.path.exists(os.path.join(fz, 'cgroup.procs')):
        note('timeout: no v1 freezer hierarchy, so only a normal dump with --timeout 1 was '
             'checked')
        return
    cg = os.path.join(fz, 'cryo-optfx-timeout-%d' % os.getpid())
    os.makedirs(cg, exist_ok=True)
    p = subprocess.Popen(['sleep', '600'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    c.popens.append(p)
    c.own(p.pid, 'sleep')
    try:
        with open(os.path.join(cg, 'cgroup.procs'), 'w') as f:
            f.write(str(p.pid))
        with open(os.path.join(cg, 'freezer.state'), 'w') as f:
            f.write('FROZEN')
        if not wait_until(lambda: state(p.pid) == 'D', 5):
            raise CheckFailed('frozen task %d is not in state D (state %s)'
                              % (p.pid, state(p.pid)))
        seen = []
        for secs in (1, 2):
            os.makedirs(c.path('imgv%d' % secs))
            rc, out, err, dt = c.cryo(['dump', '-t', str(p.pid), '-D', c.path('imgv%d' % secs),
                                       '--timeout', str(secs), '-o', 'dump.log', '-v4'],
                                      'dump-frozen-timeout%d' % secs, timeout=30)
            log = open(c.path('imgv%d' % secs, 'dump.log'), errors='replace').read() \
                if os.path.exists(c.path('imgv%d' % secs, 'dump.log')) else ''
            if rc == 0:
                raise CheckFailed('dump --timeout %d of a task that cannot stop (frozen, '
                                  'state D) succeeded' % secs)
            if rc is None:
                raise CheckFailed('dump --timeout %d of a task that cannot stop did not give '
                                  'up within 30 s' % secs)
            msg = 'within %d ms' % (secs * 1000)
            if msg not in out + err + log:
                raise CheckFailed('dump --timeout %d failed (exit %d, %.1f s) without saying '
                                  '"%s": %s' % (secs, rc, dt, msg, (err or out).strip()[-200:]))
            if not secs - 0.1 <= dt <= secs + 4:
                raise CheckFailed('dump --timeout %d gave up after %.2f s' % (secs, dt))
            if state(p.pid) != 'D':
                raise CheckFailed('after the failed dump the frozen task %d is in state %s, '
                                  'not D' % (p.pid, state(p.pid)))
            seen.append('--timeout %d: gave up after %.2f s ("%s")' % (secs, dt, msg))
        note('timeout: dump of a task in a frozen v1 freezer cgroup (state D): ' +
             '; '.join(seen))
    finally:
        try:
            with open(os.path.join(cg, 'freezer.state'), 'w') as f:
                f.write('THAWED')
        except OSError:
            pass
        p.kill()
        p.wait()
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)


def check_restore_detached(c):
    # without -d: cryo waits, as the root's parent, until the root exits; then 0
    pid = c.start_counter('a')
    c.dump_gone(pid, 'img', ['-o', 'dump.log', '-v4'])
    rpidfile = c.path('r-wait.pid')
    t0 = time.time()
    p = subprocess.Popen([CRYO, 'restore', '-D', c.path('img'), '--pidfile', rpidfile,
                          '-o', 'restore-wait.log', '-v4'], stdin=subprocess.DEVNULL,
                         stdout=open(c.path('restore-wait.out'), 'w'), stderr=subprocess.STDOUT,
                         cwd=c.wdir)
    c.popens.append(p)
    c.own(p.pid, os.path.realpath(CRYO))
    if not wait_until(lambda: os.path.exists(rpidfile) or p.poll() is not None, 20):
        raise CheckFailed('restore (no -d): no pidfile within 20 s')
    c.restored_pid(rpidfile, pid)
    c.check_running(pid, 'during restore (no -d)')
    time.sleep(0.5)
    if p.poll() is not None:
        raise CheckFailed('restore without -d returned (exit %d, after %.1f s) while the '
                          'restored root %d still runs' % (p.returncode, time.time() - t0, pid))
    ppid = status_ppid(pid)
    if ppid != p.pid:
        raise CheckFailed('restore (no -d): the restored root %d has PPid %s, not cryo %d'
                          % (pid, ppid, p.pid))
    c.verdict(pid, 'after restore (no -d)')
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        raise CheckFailed('restore (no -d) did not exit within 10 s of the root\'s exit')
    if rc != 0:
        raise CheckFailed('restore (no -d) exited %d after the restored root exited' % rc)
    note('restore-detached: without -d cryo %d stayed, the root\'s parent, until the root '
         'exited, then exited 0' % p.pid)

    # with -d: returns at once, the tree runs on
    pid = c.start_counter('b')
    c.dump_gone(pid, 'img2', ['-o', 'dump.log', '-v4'])
    rpidfile = c.path('r-d.pid')
    rc, out, err, dt = c.cryo(['restore', '-D', c.path('img2'), '-d', '--pidfile', rpidfile,
                               '-o', 'restore-d.log', '-v4'], 'restore-d', timeout=10)
    if rc is None:
        raise CheckFailed('restore -d did not return within 10 s')
    if rc != 0:
        raise CheckFailed('restore -d exited %d' % rc)
    c.restored_pid(rpidfile, pid)
    c.check_running(pid, 'after restore -d returned')
    note('restore-detached: with -d cryo returned in %.2f s, %d runs on' % (dt, pid))
    c.verdict(pid, 'after restore -d')


def check_skip_file_rwx_check(c):
    pid = c.start_counter('a')
    mode = os.stat(c.countfile).st_mode & 0o777
    c.dump_gone(pid, 'img', ['-o', 'dump.log', '-v4'])
    os.chmod(c.countfile, 0o600 if mode != 0o600 else 0o640)
    rc, out, err, dt = c.cryo(['restore', '-D', c.path('img'), '-d', '-o', 'restore-no.log',
                               '-v4'], 'restore-no', timeout=20)
    if rc in (None, 0):
        raise CheckFailed('restore of a file whose mode changed exited %s' % rc)
    want = '%s changed since the dump: its permissions are' % c.countfile
    if want not in out + err or '--skip-file-rwx-check' not in out + err:
        raise CheckFailed('restore did not say the mode of %s changed: %s'
                          % (c.countfile, (out + err).strip()[-300:]))
    if not wait_until(lambda: not os.path.exists('/proc/%d' % pid), GONE_TIMEOUT, 0.05):
        raise CheckFailed('the refused restore left %d (state %s)' % (pid, state(pid)))
    rpidfile = c.path('r.pid')
    c.cryo_ok(['restore', '-D', c.path('img'), '-d', '--pidfile', rpidfile,
               '--skip-file-rwx-check', '-o', 'restore-skip.log', '-v4'], 'restore-skip')
    c.restored_pid(rpidfile, pid)
    c.check_running(pid, 'after restore --skip-file-rwx-check')
    changed = os.stat(c.countfile).st_mode & 0o777
    os.chmod(c.countfile, mode)     # the counter checks its stdout's mode
    c.verdict(pid, 'after restore --skip-file-rwx-check')
    note('skip-file-rwx-check: mode 0%o -> 0%o refused without the option, restored with it'
         % (mode, changed))


CRIT = ['/usr/bin/python3', '/usr/bin/crit']


def crit_forge_cpuinfo(path, fn):
    import json
    img = json.loads(subprocess.run(CRIT + ['decode', '-i', path], check=True,
                                    capture_output=True, text=True).stdout)
    fn(img['entries'][0]['x86_entry'][0])
    subprocess.run(CRIT + ['encode', '-o', path], input=json.dumps(img), check=True, text=True)


def check_cpu_cap(c):
    pid = c.start_counter('a')
    c.dump_gone(pid, 'img', ['-o', 'dump.log', '-v4', '--cpu-cap'])
    info = c.path('img', 'cpuinfo.img')
    if not os.path.exists(info):
        raise CheckFailed('dump --cpu-cap wrote no cpuinfo.img')
    # a copy of the images with an instruction-set bit this CPU lacks
    shutil.copytree(c.path('img'), c.path('bad'))
    word9 = {}

    def lacks_ins(x):
        caps = x['capability']
        # instruction-set bits (cpuinfo.c's INS_MASK): avx512pf/er, hle, rtm, avx2...,
        # amx, avx512_fp16, avx_vnni, xop, fma4, tbm
        for w, b in ((9, 26), (9, 27), (9, 4), (9, 11), (9, 5), (9, 16), (18, 24), (18, 23),
                     (18, 2), (12, 4), (6, 11), (6, 16), (6, 21), (16, 28)):
            if not caps[w] & (1 << b):
                caps[w] |= 1 << b
                word9['bit'] = (w, b)
                return
        raise CheckFailed('this CPU has every probed instruction-set bit')
    crit_forge_cpuinfo(c.path('bad', 'cpuinfo.img'), lacks_ins)
    rc, out, err, dt = c.cryo(['cpuinfo', 'check', '-D', c.path('bad')], 'check-bad')
    want = 'word %d bit %d' % word9['bit']
    if rc == 0 or want not in out + err:
        raise CheckFailed('cpuinfo check of a CPU with an extra instruction bit: exit %s, %s'
                          % (rc, (out + err).strip()[-300:]))
    rc, out, err, dt = c.cryo(['cpuinfo', 'check', '-D', c.path('bad'), '--cpu-cap=^ins'],
                              'check-noins')
    if rc != 0:
        raise CheckFailed('cpuinfo check --cpu-cap=^ins failed: %s' % (out + err).strip()[-300:])
    rc, out, err, dt = c.cryo(['restore', '-D', c.path('bad'), '-d', '--cpu-cap',
                               '-o', 'restore-bad.log', '-v4'], 'restore-bad', timeout=20)
    if rc in (None, 0) or want not in out + err:
        raise CheckFailed('restore --cpu-cap on images of a CPU with more instructions: exit '
                          '%s, %s' % (rc, (out + err).strip()[-300:]))
    if os.path.exists('/proc/%d' % pid):
        raise CheckFailed('the refused restore left %d' % pid)

    def more_xsave(x):
        m = int(x['xfeatures_mask'])
        # a state component this CPU does not enable: AMX, PKRU, MPX, AVX-512
        bit = next(b for b in (17, 18, 9, 3, 4, 5, 6, 7) if not m & (1 << b))
        x['xfeatures_mask'] = m | (1 << bit)
    shutil.copytree(c.path('img'), c.path('badfpu'))
    crit_forge_cpuinfo(c.path('badfpu', 'cpuinfo.img'), more_xsave)
    rc, out, err, dt = c.cryo(['cpuinfo', 'check', '-D', c.path('badfpu'), '--cpu-cap=fpu'],
                              'check-badfpu')
    if rc == 0 or 'lacks XSAVE features' not in out + err:
        raise CheckFailed('cpuinfo check of an extra XSAVE feature: exit %s, %s'
                          % (rc, (out + err).strip()[-300:]))
    rpidfile = c.path('r.pid')
    c.cryo_ok(['restore', '-D', c.path('img'), '-d', '--cpu-cap', '--pidfile', rpidfile,
               '-o', 'restore.log', '-v4'], 'restore')
    c.restored_pid(rpidfile, pid)
    c.check_running(pid, 'after restore --cpu-cap')
    c.verdict(pid, 'after restore --cpu-cap')
    note('cpu-cap: cpuinfo.img written and checked; word %d bit %d added: refused, ^ins: '
         'passes; an XSAVE feature added: fpu refuses' % word9['bit'])


def check_exec_cmd(c):
    sleep = shutil.which('sleep')
    pid = c.start_counter('a')
    c.dump_gone(pid, 'img', ['-o', 'dump.log', '-v4'])
    # a command that can't run: refused before any process is made
    rc, out, err, dt = c.cryo(['restore', '-D', c.path('img'), '-o', 'restore-bad.log', '-v4',
                               '--exec-cmd', '--', 'cryo-no-such-command'], 'restore-bad',
                              timeout=20)
    if rc in (None, 0):
        raise CheckFailed('restore --exec-cmd of a missing command exited %s' % rc)
    if 'cryo-no-such-command is not an executable file' not in out + err:
        raise CheckFailed('restore --exec-cmd of a missing command did not say why: %s'
                          % (out + err).strip()[-300:])
    if os.path.exists('/proc/%d' % pid):
        raise CheckFailed('restore --exec-cmd of a missing command left %d (state %s)'
                          % (pid, state(pid)))
    rpidfile = c.path('r.pid')
    p = subprocess.Popen([CRYO, 'restore', '-D', c.path('img'), '--pidfile', rpidfile,
                          '-o', 'restore.log', '-v4', '--exec-cmd', '--', sleep, '60'],
                         stdin=subprocess.DEVNULL, stdout=open(c.path('restore.out'), 'w'),
                         stderr=subprocess.STDOUT, cwd=c.wdir)
    c.popens.append(p)
    c.own(p.pid, os.path.realpath(CRYO))
    if not wait_until(lambda: os.path.exists(rpidfile) or p.poll() is not None, 20):
        raise CheckFailed('restore --exec-cmd: no pidfile within 20 s')
    c.restored_pid(rpidfile, pid)

    def exe():
        try:
            return os.path.realpath('/proc/%d/exe' % p.pid)
        except OSError:
            return None
    if not wait_until(lambda: exe() == os.path.realpath(sleep) or p.poll() is not None, 10):
        raise CheckFailed('restore --exec-cmd: cryo %d did not become %s (exe %s, exit %s)'
                          % (p.pid, sleep, exe(), p.poll()))
    c.own(p.pid, os.path.realpath(sleep))
    ppid = status_ppid(pid)
    if ppid != p.pid:
        raise CheckFailed('restore --exec-cmd: the restored root %d has PPid %s, not %d '
                          '(cryo, now sleep)' % (pid, ppid, p.pid))
    c.check_running(pid, 'under the --exec-cmd command')
    c.verdict(pid, 'after restore --exec-cmd')
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    note('exec-cmd: cryo %d became %s, the restored root\'s parent; a missing command was '
         'refused with nothing restored' % (p.pid, sleep))


def cg_line(pid, name):
    """The path of hierarchy @name ('' for v2) in /proc/PID/cgroup."""
    with open('/proc/%d/cgroup' % pid) as f:
        for line in f:
            parts = line.rstrip('\n').split(':', 2)
            if len(parts) == 3 and parts[1] == name:
                return parts[2]
    return None


def mount_ids(path):
    with open(path) as f:
        return sorted(line.split()[0] + ' ' + line.split()[4] for line in f)


def rmdir_gone(d):
    """Remove cgroup @d (a reaped task may hold it a moment); True once gone."""
    def gone():
        try:
            os.rmdir(d)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True
    return wait_until(gone, 5)


def check_cgroup_yard(c):
    hosts = {'pids': '/sys/fs/cgroup/pids', '': '/sys/fs/cgroup/unified'}
    if not all(os.path.exists(os.path.join(h, 'cgroup.procs')) for h in hosts.values()):
        raise CheckFailed('needs v1 pids at /sys/fs/cgroup/pids and cgroup2 at '
                          '/sys/fs/cgroup/unified (this machine\'s hybrid layout)')
    pid = c.start_counter('a')
    cgname = 'cryo-optfx-yard-%d' % pid
    dirs = [os.path.join(h, cgname) for h in hosts.values()]
    try:
        for d in dirs:
            os.mkdir(d)
            with open(os.path.join(d, 'cgroup.procs'), 'w') as f:
                f.write(str(pid))
        def yard(tag, hiers):
            """A restore prefix: a mount namespace without /sys/fs/cgroup,
            with a yard of @hiers mounted (its mount table saved)."""
            y = c.path('yard-' + tag)
            cmds = ['umount -R -l /sys/fs/cgroup']
            for h in hiers:
                d = os.path.join(y, 'unified' if h == '' else h)
                os.makedirs(d)
                cmds.append('mount -t cgroup2 none %s' % d if h == '' else
                            'mount -t cgroup -o %s none %s' % (h, d))
            cmds.append('cat /proc/self/mountinfo > %s' % c.path('mounts-' + tag))
            script = ' && '.join(cmds) + ' && exec "$@"'
            return y, ['unshare', '-m', '--propagation', 'private', '--', 'sh', '-c', script, 'sh']

        # the dump reads the cgroups through a yard too (in cryo's mount
        # namespace, the tree's: /sys/fs/cgroup has pids and unified)
        c.dump_gone(pid, 'img', ['-o', 'dump.log', '-v4', '--manage-cgroups',
                                 '--cgroup-yard', '/sys/fs/cgroup'])
        if not all([rmdir_gone(d) for d in dirs]):
            raise CheckFailed('cannot remove the dumped counter\'s cgroups %s' % dirs)

        y, prefix = yard('partial', [''])
        rc, out, err, dt = c.cryo(['restore', '-D', c.path('img'), '-d', '--manage-cgroups',
                                   '--cgroup-yard', y, '-o', 'restore-partial.log', '-v4'],
                                  'restore-partial', prefix=prefix, timeout=20)
        want = 'cgroup hierarchy pids is not mounted at %s/pids' % y
        if rc in (None, 0) or want not in out + err:
            raise CheckFailed('restore with a yard lacking pids exited %s without saying "%s": %s'
                              % (rc, want, (out + err).strip()[-300:]))
        if os.path.exists('/proc/%d' % pid) or any(os.path.exists(d) for d in dirs):
            raise CheckFailed('the refused restore left the counter or its cgroups')

        y, prefix = yard('full', ['pids', ''])
        rpidfile = c.path('r.pid')
        c.cryo_ok(['restore', '-D', c.path('img'), '-d', '--pidfile', rpidfile,
                   '--manage-cgroups', '--cgroup-yard', y, '-o', 'restore.log', '-v4'],
                  'restore', prefix=prefix)
        c.restored_pid(rpidfile, pid)
        c.check_running(pid, 'after restore --cgroup-yard')
        for name in hosts:
            got = cg_line(pid, name)
            if got != '/' + cgname:
                raise CheckFailed('restored counter is in %s:%s, expected /%s'
                                  % (name or 'cgroup2', got, cgname))
        if not all(os.path.isdir(d) for d in dirs):
            raise CheckFailed('the restore did not make the cgroups %s again' % dirs)
        before = mount_ids(c.path('mounts-full'))
        after = mount_ids('/proc/%d/mountinfo' % pid)
        if before != after:
            raise CheckFailed('cryo changed the mount table it was given: %s'
                              % sorted(set(before) ^ set(after))[:4])
        c.verdict(pid, 'after restore --cgroup-yard')
        note('cgroup-yard: a yard without pids refused by name; with pids and unified the '
             'counter is back in /%s of both, no mount added' % cgname)
    finally:
        if state(pid) not in (None, 'Z', 'X'):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: state(pid) in (None, 'Z', 'X'), 5)
        for d in dirs:
            rmdir_gone(d)


CHECKS = [
    ('leave-stopped', check_leave_stopped),
    ('restore-sibling', check_restore_sibling),
    ('work-dir', check_work_dir),
    ('display-stats', check_display_stats),
    ('daemon', check_daemon),
    ('close', check_close),
    ('timeout', check_timeout),
    ('restore-detached', check_restore_detached),
    ('exec-cmd', check_exec_cmd),
    ('cpu-cap', check_cpu_cap),
    ('skip-file-rwx-check', check_skip_file_rwx_check),
    ('cgroup-yard', check_cgroup_yard),
]


def main():
    return run_checks('option-effect', CHECKS, Check, __doc__, needs=[('counter', COUNTER)])


if __name__ == '__main__':
    sys.exit(main())
