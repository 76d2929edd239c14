"""Real-program tests of the integration runner (ids real:NAME).

Beside the self-checking C tests, ordinary programs -- a Python interpreter,
bash, gawk, perl, coreutils sleep, C programs from tests/progs that behave
like ordinary programs -- must, after dump + kill + restore, produce exactly
what an uninterrupted run produces.  Each is tests/real/NAME.desc (plus
whatever script it runs), metadata below.  A test:

  1. runs the command uninterrupted (the reference): stdout, stderr, exit
     status, wall time;
  2. runs it again (own session, stdin /dev/null, stdout and stderr to
     files, same environment, a fresh cwd), and when `dump_after` says so
     -- after N lines of output, mid-way -- runs `cryo dump` (which kills
     it), checks it is gone, waits `downtime`, and runs `cryo restore` in
     the foreground (no -d: cryo waits for the restored program and logs its
     exit status);
  3. compares stdout, stderr and exit status with the reference (exactly),
     and that the dump happened mid-way (some output before, some after).

A program that restarted from scratch prints its first lines twice; one
that lost state prints different numbers; either fails.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

REAL_METADATA = """\
Real programs: tests/real/NAME.desc, run as test real:NAME (same syntax as
tests/progs/NAME.desc).  Keys:

  cmd          = the command; {real} is tests/real, {build} the build dir
                 (tests/real/NAME.c are built as {build}/tests/runner/NAME),
                 {progs} BUILD/tests/progs; run through no shell
  env          = VAR=value ... added to the fixed environment
                 (PATH=/usr/bin:/bin LANG=C LC_ALL=C HOME=/)
  dump_after   = lines N   dump once stdout holds N lines (default lines 1)
               | seconds S dump S seconds after the start
  downtime     = seconds between the dump and the restore (0)
  compare      = what must equal the uninterrupted run: any of stdout
                 stderr exit (default: all three)
  runtime      = S: the program takes S seconds of wall time by itself
                 (e.g. sleep S); after the restore it must end neither
                 early (before start + S - tolerance) nor late, as if its
                 time had restarted (after restore + time left at the
                 dump + tolerance)
  tolerance    = seconds, for runtime (1.0)
  alive_after  = S: no reference run; the restored program must still be
                 running S seconds after the restore, sleeping in the
                 same system call as when dumped, then it is killed
  leave_running = yes: dump with --leave-running, then the runner kills
                 the program (SIGKILL) itself -- the images are the same; a
                 way around a dump that cannot kill the program yet
  unsupported  = text ...: if cryo fails saying this, SKIP (an engine
                 feature not there yet), e.g. "not supported yet"
  known_bug    = text ...: if cryo fails saying this, SKIP as a known
                 engine bug (say which in a comment); once fixed, it passes
  dump_opts, restore_opts, skip, probe, features, root: as for tests/progs
  timeout      = seconds for each run and each cryo step (120)
"""

REAL_DEFAULTS = {
    'cmd': '',
    'env': '',
    'dump_after': 'lines 1',
    'downtime': '0',
    'compare': 'stdout stderr exit',
    'runtime': '',
    'tolerance': '1.0',
    'alive_after': '',
    'unsupported': '',
    'known_bug': '',
    'leave_running': 'no',
    'dump_opts': '',
    'restore_opts': '',
    'skip': '',
    'probe': '',
    'features': '',
    'root': 'yes',
    'timeout': '120',
}

BASE_ENV = {'PATH': '/usr/bin:/bin', 'LANG': 'C', 'LC_ALL': 'C', 'HOME': '/'}

# system calls a sleeping program may be found in (x86_64): nanosleep,
# clock_nanosleep, restart_syscall
SLEEP_SYSCALLS = {35, 230, 219}


def first_diff(a, b):
    """A short description of where two texts differ."""
    la, lb = a.splitlines(), b.splitlines()
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else '<end>'
        y = lb[i] if i < len(lb) else '<end>'
        if x != y:
            return 'line %d: reference %r, restored run %r' % (i + 1, x[:120], y[:120])
    return 'same lines, different bytes (trailing newline?)'


def read(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def status_text(rc):
    if rc is None:
        return 'unknown'
    return 'exit %d' % rc if rc >= 0 else 'killed by signal %d' % -rc


class RealTests:
    """Mixed into run.Runner: the real:* tests."""

    def real_entries(self):
        from run import MetaError, parse_desc
        d = self.args.real
        res = []
        if not d or not os.path.isdir(d):
            return res
        for fn in sorted(os.listdir(d)):
            if not fn.endswith('.desc'):
                continue
            name = fn[:-5]
            tid = 'real:' + name
            try:
                meta = parse_desc(os.path.join(d, fn), REAL_DEFAULTS)
                if not meta['cmd']:
                    raise MetaError('%s: no cmd' % fn)
            except MetaError as e:
                res.append((tid, 'real', {'kind': 'error', 'msg': 'bad metadata: %s' % e}, None))
                continue
            res.append((tid, 'real', {'kind': 'real', 'name': name}, meta))
        return res

    # -- helpers -----------------------------------------------------------

    def real_cmd(self, meta):
        from run import MetaError
        text = meta['cmd'].replace('{real}', self.args.real).replace(
            '{progs}', self.bindir).replace('{build}', self.args.build)
        cmd = shlex.split(text)
        if not cmd:
            raise MetaError('empty cmd')
        env = dict(BASE_ENV)
        env.update(self.env_of(meta['env']))
        exe = cmd[0] if '/' in cmd[0] else shutil.which(cmd[0], path=env['PATH'])
        return cmd, env, os.path.realpath(exe) if exe else None

    def real_spawn(self, cmd, env, rundir):
        os.makedirs(rundir)
        with open(os.devnull) as fin, \
                open(os.path.join(rundir, 'stdout'), 'w') as fout, \
                open(os.path.join(rundir, 'stderr'), 'w') as ferr:
            return subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=rundir,
                                    env=env, start_new_session=True)

    def real_unsupported(self, meta, text):
        from run import TestSkipped
        for key, what in (('unsupported', 'engine'), ('known_bug', 'known engine bug')):
            u = meta[key]
            if u and u in text:
                line = next((l for l in text.splitlines() if u in l), u)
                line = re.sub(r'^\(\s*[0-9.]+\)\s*', '', line.strip())
                raise TestSkipped('%s: %s' % (what, line[:200]))

    def real_output_at(self, rundir):
        return read(os.path.join(rundir, 'stdout')).count('\n')

    # -- the test ----------------------------------------------------------

    def do_real(self, name, meta, ctx):
        from run import TestFailed, MetaError, wait_gone
        self.check_skip(meta)
        if not os.access(self.cryo, os.X_OK):
            raise TestFailed('cryo binary %s not found' % self.cryo)
        cmd, env, exe = self.real_cmd(meta)
        if not exe or not os.access(exe, os.X_OK):
            raise TestFailed('%s not found (scripts/install-deps.sh installs it; '
                             'a program of tests/progs: run ninja)' % cmd[0])
        timeout = float(meta['timeout'])
        wdir = ctx['wdir']
        compare = meta['compare'].split()
        for c in compare:
            if c not in ('stdout', 'stderr', 'exit'):
                raise MetaError('compare: unknown "%s"' % c)
        try:
            how, val = meta['dump_after'].split()
            val = float(val)
            assert how in ('lines', 'seconds')
        except (ValueError, AssertionError):
            raise MetaError('dump_after must be "lines N" or "seconds S"')
        alive_after = float(meta['alive_after']) if meta['alive_after'] else None

        # 1. the reference
        ref = None
        if alive_after is None:
            rdir = os.path.join(wdir, 'reference')
            t0 = time.time()
            p = self.real_spawn(cmd, env, rdir)
            self.own(p.pid, exe)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TestFailed('the uninterrupted run did not end in %gs' % timeout)
            ref = {'rc': rc, 'time': time.time() - t0,
                   'stdout': read(os.path.join(rdir, 'stdout')),
                   'stderr': read(os.path.join(rdir, 'stderr'))}
            ctx['logs'].append(os.path.join(rdir, 'stderr'))
            if how == 'lines' and ref['stdout'].count('\n') <= val:
                raise MetaError('dump_after = lines %g, but the whole output has only %d lines'
                                % (val, ref['stdout'].count('\n')))

        # 2. the checkpointed run
        rundir = os.path.join(wdir, 'run')
        imgdir = os.path.join(wdir, 'images')
        os.makedirs(imgdir)
        t_start = time.time()
        p = self.real_spawn(cmd, env, rundir)
        pid = p.pid
        self.own(pid, exe)
        ctx['outfile'] = os.path.join(rundir, 'stdout')
        ctx['stderr'] = os.path.join(rundir, 'stderr')
        deadline = t_start + timeout
        while True:
            if p.poll() is not None:
                raise TestFailed('the program ended (%s) before the checkpoint (dump_after '
                                 '= %s)' % (status_text(p.returncode), meta['dump_after']))
            if how == 'lines' and self.real_output_at(rundir) >= val:
                break
            if how == 'seconds' and time.time() - t_start >= val:
                break
            if time.time() > deadline:
                raise TestFailed('no checkpoint point (dump_after = %s) within %gs'
                                 % (meta['dump_after'], timeout))
            time.sleep(0.01)
        t_dump = time.time()
        dcmd = [self.cryo, 'dump', '-t', str(pid), '-D', imgdir, '-o', 'dump.log', '-v4'] + \
            shlex.split(meta['dump_opts'])
        if meta['leave_running'] == 'yes':
            dcmd.append('--leave-running')
        out = os.path.join(wdir, 'dump.out')
        ctx['logs'] += [out, os.path.join(imgdir, 'dump.log')]
        rc, text = self.run_cmd(dcmd, out, timeout)
        text += read(os.path.join(imgdir, 'dump.log'))
        if rc != 0:
            self.real_unsupported(meta, text)
            raise TestFailed('dump failed (%s)' % ('hung' if rc is None else 'exit %d' % rc))
        lines_at_dump = self.real_output_at(rundir)
        if meta['leave_running'] == 'yes':
            if p.poll() is not None:
                raise TestFailed('the program ended (%s) during dump --leave-running'
                                 % status_text(p.returncode))
            p.kill()
        try:
            prc = p.wait(timeout=self.args.gone_timeout)
        except subprocess.TimeoutExpired:
            raise TestFailed('the program is still running %gs after the dump'
                             % self.args.gone_timeout)
        if prc != -signal.SIGKILL:
            raise TestFailed('the program ended by itself (%s) during the dump'
                             % status_text(prc))
        left = wait_gone([pid], self.args.gone_timeout)
        if left:
            raise TestFailed('pid %d still present after the dump' % pid)
        time.sleep(float(meta['downtime']))

        pidfile = os.path.join(imgdir, 'restore.pid')
        rcmd = [self.cryo, 'restore', '-D', imgdir, '-o', 'restore.log', '-v4',
                '--pidfile', pidfile] + shlex.split(meta['restore_opts'])
        rout = os.path.join(wdir, 'restore.out')
        rlog = os.path.join(imgdir, 'restore.log')
        ctx['logs'] += [rout, rlog]
        t_restore = time.time()
        with open(rout, 'w') as f:
            f.write('$ %s\n' % ' '.join(shlex.quote(c) for c in rcmd))
            f.flush()
            cp = subprocess.Popen(rcmd, stdin=subprocess.DEVNULL, stdout=f,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        self.own(cp.pid, os.path.realpath(self.cryo))
        self.own(pid, exe)
        try:
            if alive_after is not None:
                self.real_alive_after(cp, pid, alive_after, rlog, rout, meta)
                ctx['note'] = 'dumped after %.1fs, sleeping on %gs after the restore' % (
                    t_dump - t_start, alive_after)
                return
            try:
                crc = cp.wait(timeout=max(1.0, deadline - time.time() + timeout))
            except subprocess.TimeoutExpired:
                raise TestFailed('the restored program did not end (cryo restore still '
                                 'waiting for it after %gs)' % (time.time() - t_restore))
            t_end = time.time()
        finally:
            if cp.poll() is None:
                try:
                    os.killpg(cp.pid, signal.SIGKILL)
                except OSError:
                    pass
                cp.wait()
        log = read(rlog) + read(rout)
        if crc != 0:
            self.real_unsupported(meta, log)
            raise TestFailed('restore failed (exit %d)' % crc)

        try:
            with open(pidfile) as f:
                rpid = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise TestFailed('restore: no valid --pidfile: %s' % e)
        if rpid != pid:
            raise TestFailed('restore: --pidfile says %d, the dumped pid was %d' % (rpid, pid))

        # 3. compare
        m = re.search(r'Restored root task exited with status (\d+)', log)
        k = re.search(r'Restored root task was killed by signal (\d+)', log)
        got_rc = int(m.group(1)) if m else -int(k.group(1)) if k else None
        got = {'stdout': read(os.path.join(rundir, 'stdout')),
               'stderr': read(os.path.join(rundir, 'stderr'))}
        if 'stdout' in compare and got['stdout'] != ref['stdout']:
            raise TestFailed('stdout differs from the uninterrupted run: %s'
                             % first_diff(ref['stdout'], got['stdout']))
        if 'stderr' in compare and got['stderr'] != ref['stderr']:
            raise TestFailed('stderr differs from the uninterrupted run: %s'
                             % first_diff(ref['stderr'], got['stderr']))
        if 'exit' in compare and got_rc != ref['rc']:
            raise TestFailed('the restored program ended with %s, the uninterrupted run '
                             'with %s' % (status_text(got_rc) if got_rc is not None else
                                          'an unknown status (no "Restored root task" '
                                          'line in restore.log)', status_text(ref['rc'])))
        total = ref['stdout'].count('\n')
        if how == 'lines' and not 0 < lines_at_dump < total:
            raise TestFailed('not dumped mid-way: %d of %d lines were out at the dump'
                             % (lines_at_dump, total))
        note = 'dumped at %.1fs' % (t_dump - t_start)
        if how == 'lines':
            note += ', after %d of %d lines' % (lines_at_dump, total)
        if meta['runtime']:
            note += self.real_check_runtime(meta, t_start, t_dump, t_restore, t_end)
        ctx['note'] = note

    def real_check_runtime(self, meta, t_start, t_dump, t_restore, t_end):
        from run import TestFailed
        S, tol = float(meta['runtime']), float(meta['tolerance'])
        ran, down = t_end - t_start, t_restore - t_dump
        left = S - (t_dump - t_start)
        early = S - tol                                # absolute deadline kept
        late = (t_restore - t_start) + left + tol      # time left kept
        if ran < early:
            raise TestFailed('ended early: %.2fs after its start, it sleeps %gs (down %.2fs '
                             'from %.2fs); an interrupted sleep that returned at the restore?'
                             % (ran, S, down, t_dump - t_start))
        if ran > late:
            raise TestFailed('ended late: %.2fs after its start; with %.2fs left at the dump '
                             'and %.2fs down it should end by %.2fs: its sleep restarted '
                             'from scratch?' % (ran, left, down, late - tol))
        return '; ran %.2fs (sleep %g, down %.2fs; allowed %.2f..%.2f)' % (
            ran, S, down, early, late)

    def real_alive_after(self, cp, pid, secs, rlog, rout, meta):
        from run import TestFailed, proc_stat
        deadline = time.time() + secs
        while time.time() < deadline:
            if cp.poll() is not None:
                log = read(rlog) + read(rout)
                if cp.returncode != 0:
                    self.real_unsupported(meta, log)
                    raise TestFailed('restore failed (exit %d)' % cp.returncode)
                raise TestFailed('the restored program ended after %.2fs; it should sleep '
                                 'on (%s)' % (secs - (deadline - time.time()),
                                              ', '.join(re.findall(r'Restored root task.*',
                                                                   log)) or '?'))
            time.sleep(0.05)
        st = proc_stat(pid)
        if st is None or st[0] not in 'S':
            raise TestFailed('restored pid %d is %s, expected sleeping (S)'
                             % (pid, 'gone' if st is None else 'in state ' + st[0]))
        try:
            with open('/proc/%d/syscall' % pid) as f:
                nr = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            nr = None
        if nr is not None and nr not in SLEEP_SYSCALLS:
            raise TestFailed('restored pid %d is in system call %d, not a sleep' % (pid, nr))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            cp.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise TestFailed('cryo restore did not end after its restored program was killed')
