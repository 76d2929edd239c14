"""Fault-injection tests of the integration runner ("never harm the target").

cryo fails at a named stage when CRYO_FAULT=STAGE is set, as if a real
error had happened there; CRYO_FAULT=list prints every stage it reaches as
"fault-stage: NAME" (on stderr).  The stages are not listed here: they are
discovered from the engine, so a stage added to cryo later gets its test
without any change to the runner.

  fault:discover        dump (--leave-running, then plain) and restore the
                        target with CRYO_FAULT=list: collects the stages; the
                        list mode itself must change nothing (restored
                        target passes)
  fault:dump:STAGE      one per dump stage: a dump failing there must exit
                        non-zero with "fault injected at STAGE", and leave
                        the target running (not stopped, not traced, same
                        tree, same signal state and mappings, still making
                        progress), passing its own checks after SIGTERM; the
                        images directory, seeded with a complete older dump,
                        must hold no inventory.img (no completeness claim)
  fault:restore:STAGE   one per restore stage: after a good dump, a restore
                        failing there must exit non-zero with the message
                        and leave no process behind (the dumped PIDs gone,
                        nothing of cryo's reparented to a subreaper); then a
                        normal restore must work and the target pass

The target is tests/progs/fault_target (run.py --fault-target NAME picks
another test program; its .desc gives its stdio and args).  A stage seen
only in the --leave-running dump is tested in that mode.
"""
import fnmatch
import json
import os
import re
import shutil
import time

FAULT_PATTERN_PROBES = ('fault', 'fault:discover', 'fault:dump:x', 'fault:restore:x')


def wanted(patterns):
    """Do the selection patterns (empty: everything) ask for fault tests?"""
    if not patterns:
        return True
    return any(p.startswith('fault:') or
               any(fnmatch.fnmatchcase(probe, p) for probe in FAULT_PATTERN_PROBES)
               for p in patterns)


def stages_of(text):
    """Ordered, unique stage names from CRYO_FAULT=list output."""
    res = []
    for m in re.finditer(r'^fault-stage: (\S+)\s*$', text, re.M):
        if m.group(1) not in res:
            res.append(m.group(1))
    return res


def status_fields(pid):
    """{field: value} of /proc/PID/status, or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            return dict(l.split(':\t', 1) for l in f.read().splitlines() if ':\t' in l)
    except OSError:
        return None


def tracers(pid):
    """{tid: TracerPid} for the threads of pid that are traced."""
    res = {}
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return res
    for t in tids:
        try:
            with open('/proc/%d/task/%s/status' % (pid, t)) as f:
                for l in f:
                    if l.startswith('TracerPid:'):
                        tp = int(l.split()[1])
                        if tp:
                            res[int(t)] = tp
        except OSError:
            pass
    return res


def maps_of(pid):
    """The mappings, with the stack's growing start left out."""
    try:
        with open('/proc/%d/maps' % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    res = []
    for l in lines:
        if l.endswith('[stack]'):
            l = '-' + l.split('-', 1)[1]
        res.append(l)
    return res


def count_lines(path):
    try:
        with open(path, 'rb') as f:
            return f.read().count(b'\n')
    except OSError:
        return 0


class FaultTests:
    """Mixed into run.Runner: the fault:* tests."""

    def fault_entries(self):
        """Test entries once fault:discover ran (else just that one)."""
        res = [('fault:discover', 'fault', {'kind': 'fault', 'what': 'discover'}, None)]
        for stage, mode in (self.fault_stages or {}).get('dump', []):
            res.append(('fault:' + stage, 'fault',
                        {'kind': 'fault', 'what': 'dump', 'stage': stage, 'mode': mode}, None))
        for stage in (self.fault_stages or {}).get('restore', []):
            res.append(('fault:' + stage, 'fault',
                        {'kind': 'fault', 'what': 'restore', 'stage': stage}, None))
        return res

    def fault_meta(self):
        name = self.args.fault_target
        from run import parse_desc  # noqa: the runner module
        meta = parse_desc(os.path.join(self.args.progs, name + '.desc'))
        return name, meta

    def fault_start(self, ctx):
        """Start the target; wait until it shows progress on stdout."""
        from run import parse_variant
        name, meta = self.fault_meta()
        self.check_skip(meta)
        if not os.access(self.cryo, os.X_OK):
            from run import TestFailed
            raise TestFailed('cryo binary %s not found' % self.cryo)
        mods = parse_variant('default')
        pid = self.start(name, mods, meta, ctx)
        ctx['stdout'] = os.path.join(ctx['wdir'], 'stdout.txt')
        self.fault_wait_progress(ctx, pid, 0, 'after start')
        return pid, meta

    def fault_wait_progress(self, ctx, pid, since, what, need=3, timeout=5.0):
        """Wait until the target's stdout has @need lines more than @since
        (only if it writes there: stdio = file)."""
        from run import TestFailed
        if not os.path.exists(ctx.get('stdout', '')):
            return 0
        deadline = time.time() + timeout
        n = count_lines(ctx['stdout'])
        while n < since + need and time.time() < deadline:
            time.sleep(0.02)
            n = count_lines(ctx['stdout'])
        if n < since + need:
            raise TestFailed('target %d made no progress %s (stdout: %d lines, was %d)'
                             % (pid, what, n, since))
        return n

    def fault_dump(self, pid, ctx, meta, imgdir, tag, env, leave_running=False):
        import shlex
        os.makedirs(imgdir, exist_ok=True)
        cmd = [self.cryo, 'dump', '-t', str(pid), '-D', imgdir, '-o', 'dump.log', '-v4']
        if leave_running:
            cmd.append('--leave-running')
        cmd += shlex.split(meta['dump_opts'])
        out = os.path.join(ctx['wdir'], '%s.out' % tag)
        ctx['logs'] += [out, os.path.join(imgdir, 'dump.log')]
        full_env = self.env_of(meta['dump_env'])
        full_env.update(env)
        rc, text = self.run_cmd(cmd, out, float(meta['timeout']), env=full_env)
        try:
            with open(os.path.join(imgdir, 'dump.log'), errors='replace') as f:
                text += f.read()
        except OSError:
            pass
        return rc, text

    def fault_restore(self, ctx, meta, imgdir, tag, env, subreap_report=None):
        import shlex
        pidfile = os.path.join(imgdir, '%s.pid' % tag)
        cmd = [self.cryo, 'restore', '-D', imgdir, '-d', '-o', '%s.log' % tag, '-v4',
               '--pidfile', pidfile] + shlex.split(meta['restore_opts'])
        if subreap_report:
            cmd = ['/usr/bin/python3', os.path.join(os.path.dirname(__file__), 'subreap.py'),
                   subreap_report, '--'] + cmd
        out = os.path.join(ctx['wdir'], '%s.out' % tag)
        ctx['logs'] += [out, os.path.join(imgdir, '%s.log' % tag)]
        full_env = self.env_of(meta['restore_env'])
        full_env.update(env)
        rc, text = self.run_cmd(cmd, out, float(meta['timeout']), env=full_env)
        try:
            with open(os.path.join(imgdir, '%s.log' % tag), errors='replace') as f:
                text += f.read()
        except OSError:
            pass
        return rc, text, pidfile

    def fault_good_restore(self, pid, tree, ctx, meta, imgdir, tag, env=None):
        """Restore that must work: same pid, running, then the verdict."""
        from run import TestFailed, proc_exe
        rc, _, pidfile = self.fault_restore(ctx, meta, imgdir, tag, env or {})
        for p in tree:
            self.own(p, ctx['binary'])
        if rc is None:
            raise TestFailed('%s hung' % tag)
        if rc != 0:
            raise TestFailed('%s failed (exit %d)' % (tag, rc))
        try:
            with open(pidfile) as f:
                rpid = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise TestFailed('%s: no valid --pidfile: %s' % (tag, e))
        if rpid != pid:
            raise TestFailed('%s: --pidfile says %d, the dumped pid was %d' % (tag, rpid, pid))
        self.check_running(tree, 'after %s' % tag)
        exe = proc_exe(pid)
        if exe and os.path.realpath(exe) != ctx['binary']:
            raise TestFailed('restored pid %d runs %s' % (pid, exe))
        time.sleep(float(meta['settle']))
        self.check_running(tree, 'after %s' % tag)

    def fault_expect_failure(self, step, stage, rc, text, meta):
        from run import TestFailed
        if rc is None:
            raise TestFailed('%s with CRYO_FAULT=%s hung (timeout %ss)'
                             % (step, stage, meta['timeout']))
        if rc == 0:
            raise TestFailed('%s with CRYO_FAULT=%s succeeded (exit 0): the stage was not '
                             'reached, or its failure was ignored' % (step, stage))
        msg = 'fault injected at %s' % stage
        if msg not in text:
            raise TestFailed('%s failed (exit %d) without "%s" in its output or log'
                             % (step, rc, msg))

    # -- the tests -------------------------------------------------------

    def fault_discover(self, ctx):
        """Collect the stages (self.fault_stages) and check list mode is
        harmless."""
        from run import TestFailed, proc_tree, wait_gone
        pid, meta = self.fault_start(ctx)
        tree = proc_tree(pid)
        wdir = ctx['wdir']
        found = {'dump': [], 'restore': []}

        rc, text = self.fault_dump(pid, ctx, meta, os.path.join(wdir, 'images-R'),
                                   'dump-R', {'CRYO_FAULT': 'list'}, leave_running=True)
        if rc != 0:
            raise TestFailed('dump --leave-running with CRYO_FAULT=list failed (exit %s)' % rc)
        seen_r = stages_of(text)
        self.check_running(tree, 'after dump --leave-running with CRYO_FAULT=list')

        imgdir = os.path.join(wdir, 'images')
        rc, text = self.fault_dump(pid, ctx, meta, imgdir, 'dump', {'CRYO_FAULT': 'list'})
        if rc != 0:
            raise TestFailed('dump with CRYO_FAULT=list failed (exit %s)' % rc)
        seen = stages_of(text)
        left = wait_gone(tree, self.args.gone_timeout)
        if left:
            raise TestFailed('processes still present after the dump: %s' % left)
        # keep a complete dump: the dump-stage tests seed their images dir
        # with it, so "no inventory.img" also means "the stale one went"
        shutil.rmtree(self.fault_stale, ignore_errors=True)
        shutil.copytree(imgdir, self.fault_stale)

        env = {'CRYO_FAULT': 'list'}
        rc, text, _ = self.fault_restore(ctx, meta, imgdir, 'restore-list', env)
        for p in tree:
            self.own(p, ctx['binary'])
        rstages = stages_of(text)
        for s in seen:
            found['dump'].append((s, 'kill'))
        for s in seen_r:
            if s not in seen:
                found['dump'].append((s, 'leave-running'))
        found['restore'] = rstages
        if not found['dump']:
            raise TestFailed('cryo dump with CRYO_FAULT=list printed no "fault-stage:" line')
        if not found['restore']:
            raise TestFailed('cryo restore with CRYO_FAULT=list printed no "fault-stage:" line')
        # known from here on, even if what follows fails
        self.fault_stages = found
        if rc != 0:
            raise TestFailed('restore with CRYO_FAULT=list failed (exit %s)' % rc)
        self.check_running(tree, 'after restore with CRYO_FAULT=list')
        self.verdict(pid, meta, ctx, 'after restore with CRYO_FAULT=list')
        ctx['note'] = '%d dump, %d restore stages' % (len(found['dump']), len(found['restore']))

    def fault_dump_stage(self, ctx, stage, mode):
        from run import TestFailed, proc_stat, proc_tree
        pid, meta = self.fault_start(ctx)
        tree = proc_tree(pid)
        before = {p: (status_fields(p), maps_of(p)) for p in tree}
        imgdir = os.path.join(ctx['wdir'], 'images')
        if os.path.isdir(self.fault_stale):
            shutil.copytree(self.fault_stale, imgdir)
        n0 = count_lines(ctx.get('stdout', ''))
        rc, text = self.fault_dump(pid, ctx, meta, imgdir, 'dump', {'CRYO_FAULT': stage},
                                   leave_running=(mode == 'leave-running'))
        self.fault_expect_failure('dump', stage, rc, text, meta)

        # cryo has exited: the target must be running right now (a short
        # grace only for the kernel to finish waking it)
        for p in tree:
            st = proc_stat(p)
            if st is None or st[0] in 'ZX':
                raise TestFailed('process %d is %s after the failed dump'
                                 % (p, 'gone' if st is None else 'a zombie'))
            deadline = time.time() + 0.3
            while st and st[0] in 'Tt' and time.time() < deadline:
                time.sleep(0.02)
                st = proc_stat(p)
            if st and st[0] in 'Tt':
                raise TestFailed('process %d is left stopped (state %s) after the failed dump'
                                 % (p, st[0]))
            tr = tracers(p)
            if tr:
                raise TestFailed('process %d is left traced after the failed dump: %s'
                                 % (p, ', '.join('thread %d by %d' % kv
                                                 for kv in sorted(tr.items()))))
        now = proc_tree(pid)
        if now != tree:
            raise TestFailed('process tree changed by the failed dump: %s -> %s' % (tree, now))
        for p in tree:
            st0, maps0 = before[p]
            st1, maps1 = status_fields(p), maps_of(p)
            for k in ('SigBlk', 'SigIgn', 'SigCgt', 'SigPnd', 'ShdPnd', 'Threads',
                      'NoNewPrivs', 'Seccomp', 'Uid', 'Gid', 'CapEff'):
                if st0 and st1 and st0.get(k) != st1.get(k):
                    raise TestFailed('process %d: %s changed by the failed dump: %s -> %s'
                                     % (p, k, st0.get(k), st1.get(k)))
            if maps0 != maps1:
                gone = [l for l in maps0 or [] if l not in (maps1 or [])]
                new = [l for l in maps1 or [] if l not in (maps0 or [])]
                raise TestFailed('process %d: mappings changed by the failed dump: '
                                 'gone %s, new %s' % (p, gone[:3], new[:3]))
        claims = sorted(f for f in os.listdir(imgdir) if f.startswith('inventory'))
        if claims:
            raise TestFailed('the failed dump left %s in the images dir (a completeness '
                             'claim)' % ', '.join(claims))
        self.fault_wait_progress(ctx, pid, max(n0, count_lines(ctx.get('stdout', ''))),
                                 'after the failed dump')
        self.verdict(pid, meta, ctx, 'after the failed dump')

    def fault_restore_stage(self, ctx, stage):
        from run import TestFailed, proc_tree, wait_gone
        pid, meta = self.fault_start(ctx)
        tree = proc_tree(pid)
        imgdir = os.path.join(ctx['wdir'], 'images')
        rc, _ = self.fault_dump(pid, ctx, meta, imgdir, 'dump', {})
        if rc != 0:
            raise TestFailed('dump failed (exit %s)' % rc)
        left = wait_gone(tree, self.args.gone_timeout)
        if left:
            raise TestFailed('processes still present after the dump: %s' % left)

        report = os.path.join(ctx['wdir'], 'subreap.json')
        rc, text, _ = self.fault_restore(ctx, meta, imgdir, 'restore-fault',
                                         {'CRYO_FAULT': stage}, subreap_report=report)
        for p in tree:
            self.own(p, ctx['binary'])
        self.fault_expect_failure('restore', stage, rc, text, meta)
        try:
            with open(report) as f:
                rep = json.load(f)
        except (OSError, ValueError) as e:
            raise TestFailed('subreap.py wrote no report: %s' % e)
        if rep['left']:
            raise TestFailed('the failed restore left processes behind (reparented to the '
                             'subreaper, then killed): %s'
                             % ', '.join('%d %s (%s)' % tuple(x) for x in rep['left']))
        left = wait_gone(tree, self.args.gone_timeout)
        if left:
            raise TestFailed('dumped pids exist after the failed restore: %s' % left)

        self.fault_good_restore(pid, tree, ctx, meta, imgdir, 'restore')
        self.verdict(pid, meta, ctx, 'after the failed restore and a good one')

    def do_fault(self, spec, ctx):
        if spec['what'] == 'discover':
            self.fault_discover(ctx)
        elif self.fault_stages is None:
            from run import TestFailed
            raise TestFailed('fault:discover failed: no stages known')
        elif spec['what'] == 'dump':
            self.fault_dump_stage(ctx, spec['stage'], spec['mode'])
        else:
            self.fault_restore_stage(ctx, spec['stage'])
