#!/usr/bin/python3
"""Self-test of the integration runner, without a working cryo engine.

Runs tests/runner/run.py against fake-cryo (which "restores" by re-running
the program) with a set of made-up tests (.desc files pointing at
selftest-prog and at the real test programs) and checks that every outcome
is reported as it should be: PASS, FAIL with the right reason, SKIP; that
honest tests catch a re-run or corrupted memory; that the counts line is
right; and that no process is left behind.

  tests/runner/selftest.py [--build DIR] [-v]

Needs root (fake-cryo picks PIDs through /proc/sys/kernel/ns_last_pid).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(HERE))

ST = 'selftest-prog'
# name: (program, desc text, expected {test id: (result, reason regex)})
CASES = [
    ('pass', ST, 'args = --mode pass\nvariants = default iter2 leave-running stdio-file',
     {'pass': ('PASS', ''), 'pass:iter2': ('PASS', ''),
      'pass:leave-running': ('PASS', ''), 'pass:stdio-file': ('PASS', '')}),
    ('verdict_fail', ST, 'args = --mode fail',
     {'verdict_fail': ('FAIL', r'test says: FAIL: .*deliberate failure')}),
    ('noverdict', ST, 'args = --mode noverdict',
     {'noverdict': ('FAIL', r'without a verdict')}),
    ('hang_after_term', ST, 'args = --mode hang\ntimeout = 3',
     {'hang_after_term': ('FAIL', r'did not finish within 3s of SIGTERM')}),
    ('setup_fail', ST, 'args = --mode setupfail',
     {'setup_fail': ('FAIL', r'test setup failed')}),
    ('bad_args', ST, 'args = --no-such-option',
     {'bad_args': ('FAIL', r'rejected its arguments')}),
    ('dump_fail', ST, 'dump_env = FAKE_CRYO=dump-fail',
     {'dump_fail': ('FAIL', r'^dump failed \(exit 1\)')}),
    ('dump_hang', ST, 'dump_env = FAKE_CRYO=dump-hang\ntimeout = 3',
     {'dump_hang': ('FAIL', r'dump hung')}),
    ('dump_keeps_alive', ST, 'dump_env = FAKE_CRYO=dump-keep',
     {'dump_keeps_alive': ('FAIL', r'still present .* after dump')}),
    ('dump_leaves_stopped', ST, 'variants = leave-running\ndump_env = FAKE_CRYO=dump-stop',
     {'dump_leaves_stopped:leave-running': ('FAIL', r'is stopped')}),
    ('restore_fail', ST, 'restore_env = FAKE_CRYO=restore-fail',
     {'restore_fail': ('FAIL', r'^restore failed \(exit 1\)')}),
    ('restore_hang', ST, 'restore_env = FAKE_CRYO=restore-hang\ntimeout = 3',
     {'restore_hang': ('FAIL', r'restore hung')}),
    ('restore_wrongpid', ST, 'restore_env = FAKE_CRYO=restore-wrongpid',
     {'restore_wrongpid': ('FAIL', r'--pidfile says \d+, the dumped pid was')}),
    ('refuse', ST, 'dump_env = FAKE_CRYO=dump-fail\n'
     'refuse = the target has a frobnicator', {'refuse': ('PASS', '')}),
    ('refuse_other_text', ST, 'dump_env = FAKE_CRYO=dump-fail\nrefuse = something else',
     {'refuse_other_text': ('FAIL', r'without the expected message "something else"')}),
    ('refuse_not', ST, 'refuse = the target has a frobnicator',
     {'refuse_not': ('FAIL', r'dump succeeded; expected it to refuse')}),
    ('refuse_harms', ST, 'args = --mode fail\ndump_env = FAKE_CRYO=dump-fail\n'
     'refuse = the target has a frobnicator',
     {'refuse_harms': ('FAIL', r'test says: FAIL')}),
    ('refuse_restore', ST, 'restore_env = FAKE_CRYO=restore-fail\nrefuse_at = restore\n'
     'refuse = restore refused', {'refuse_restore': ('PASS', '')}),
    ('faults', ST, 'faults = dump:somewhere restore:elsewhere',
     {'faults': ('PASS', ''), 'faults:fault=dump:somewhere': ('PASS', ''), 'faults:fault=restore:elsewhere': ('PASS', '')}),
    ('fault_harms', ST, 'args = --mode fail\nvariants = fault=dump:x',
     {'fault_harms:fault=dump:x': ('FAIL', r'test says: FAIL')}),
    ('fault_ignored', ST, 'variants = fault=dump:x\ndump_env = FAKE_CRYO=ignore-fault',
     {'fault_ignored:fault=dump:x': ('FAIL', r'succeeded; expected it to refuse with "fault injected at dump:x"')}),
    ('reuse_prog', None, 'prog = selftest-prog', {'reuse_prog': ('PASS', '')}),
    ('feature_missing', ST, 'features = no_such_feature',
     {'feature_missing': ('SKIP', r'kernel feature "no_such_feature" missing')}),
    ('feature_present', ST, 'features = fake_feature', {'feature_present': ('PASS', '')}),
    ('probe_fails', ST, 'probe = test -e /no/such/file',
     {'probe_fails': ('SKIP', r'probe failed')}),
    ('disabled', ST, 'skip = not yet', {'disabled': ('SKIP', r'^not yet$')}),
    ('ns_no', ST, 'variants = ns\nns = no: needs the host\'s namespaces',
     {'ns_no:ns': ('SKIP', r"^ns: needs the host's namespaces$")}),
    ('ns_bad', ST, 'variants = ns\nns = maybe',
     {'ns_bad:ns': ('FAIL', r'ns must be "yes", "no: REASON" or "bug: WHAT"')}),
    ('bad_key', ST, 'no_such_key = 1', {'bad_key': ('FAIL', r'bad metadata: .*unknown key')}),
    ('bad_variant', ST, 'variants = bogus',
     {'bad_variant': ('FAIL', r'bad metadata: .*unknown variant modifier "bogus"')}),
    ('not_built', None, '', {'not_built': ('FAIL', r'not built')}),
    # honest tests: a re-run or corrupted memory must FAIL
    ('anon_mem_rerun', 'anon_mem', '',
     {'anon_mem_rerun': ('FAIL', r'memory not preserved')}),
    ('anon_mem_running', 'anon_mem', 'variants = leave-running',
     {'anon_mem_running:leave-running': ('PASS', '')}),
    ('anon_mem_corrupt', 'anon_mem', 'variants = leave-running\ndump_env = FAKE_CRYO=dump-corrupt',
     {'anon_mem_corrupt:leave-running': ('FAIL', r'64M mapping: page \d+ byte 0 is 0xa5')}),
    ('mem_progress_corrupt', 'mem_progress',
     'variants = leave-running\ndump_env = FAKE_CRYO=dump-corrupt',
     {'mem_progress_corrupt:leave-running': ('FAIL', r'test says: FAIL: .*page \d+')}),
    ('counter_rerun', 'counter', 'stdio = file',
     {'counter_rerun': ('FAIL', r'stdout line \d+ reads')}),
]

# Fault injection (run.py 'fault:*' against fake-cryo, whose stages do the
# harm they are named for; see fake-cryo).  The fake "restores" by re-running,
# so every restore ends with the honest target failing.
FAULT_EXPECTED = {
    'fault:discover': ('FAIL', r'test says: FAIL'),
    'fault:dump:clean': ('PASS', ''),
    'fault:dump:rl-only': ('PASS', ''),
    'fault:dump:stop': ('FAIL', r'left stopped \(state T\) after the failed dump'),
    'fault:dump:inventory': ('FAIL', r'left inventory.img in the images dir'),
    'fault:dump:kill': ('FAIL', r'is (gone|a zombie) after the failed dump'),
    'fault:dump:nomsg': ('FAIL', r'without "fault injected at dump:nomsg"'),
    'fault:dump:ignored': ('FAIL', r'CRYO_FAULT=dump:ignored succeeded'),
    'fault:restore:clean': ('FAIL', r'test says: FAIL'),
    'fault:restore:leave': ('FAIL', r'left processes behind .*sleep'),
}


def fault_selftest(tmp, env, progs, verbose):
    """run.py 'fault:*' with fake-cryo; returns a list of problems."""
    descdir, bindir = os.path.join(tmp, 'fprogs'), os.path.join(tmp, 'fbin')
    os.makedirs(descdir)
    os.makedirs(bindir)
    shutil.copy(os.path.join(SRC_ROOT, 'tests', 'progs', 'fault_target.desc'), descdir)
    os.symlink(os.path.join(progs, 'fault_target'), os.path.join(bindir, 'fault_target'))
    summary = os.path.join(tmp, 'fault-summary.json')
    cmd = ['/usr/bin/python3', os.path.join(HERE, 'run.py'),
           '--cryo', os.path.join(HERE, 'fake-cryo'), '--progs', descdir,
           '--bindir', bindir, '--results', os.path.join(tmp, 'fout'),
           '--summary', summary, '--gone-timeout', '12', 'fault:*']
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=600)
    if verbose:
        print(r.stdout)
    bad = []
    try:
        with open(summary) as f:
            results = {t['id']: t for t in json.load(f)['tests']}
    except (OSError, ValueError) as e:
        return ['fault run wrote no summary: %s\n%s' % (e, r.stdout)]
    for tid, (res, rx) in sorted(FAULT_EXPECTED.items()):
        t = results.get(tid)
        if not t:
            bad.append('%s: not run' % tid)
        elif t['result'] != res or not re.search(rx, t['reason']):
            bad.append('%s: got %s "%s", expected %s matching /%s/'
                       % (tid, t['result'], t['reason'], res, rx))
    for tid in results:
        if tid not in FAULT_EXPECTED:
            bad.append('%s: unexpected test' % tid)
    if bad and not verbose:
        print(r.stdout)
    # the fake's "sleep 60" (it inherits SELFTEST_TAG) must have been
    # killed by subreap.py
    tag = ('SELFTEST_TAG=%s' % tmp).encode()
    for d in os.listdir('/proc'):
        try:
            with open('/proc/%s/environ' % d, 'rb') as f:
                if tag in f.read().split(b'\0'):
                    bad.append('restore:leave: its sleep 60 (pid %s) is still there' % d)
        except OSError:
            pass
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(SRC_ROOT, 'build'))
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('cases', nargs='*', help='only these cases')
    args = ap.parse_args()
    if os.geteuid() != 0:
        print('runner self-test needs root: skipped')
        return 77
    build = os.path.abspath(args.build)
    progs = os.path.join(build, 'tests', 'progs')
    prog_path = {ST: os.path.join(build, 'tests', 'runner', ST)}
    for p in ('anon_mem', 'mem_progress', 'counter'):
        prog_path[p] = os.path.join(progs, p)
    for p, path in prog_path.items():
        if not os.access(path, os.X_OK):
            print('%s not built (ninja -C %s)' % (path, build))
            return 1

    tmp = tempfile.mkdtemp(prefix='cryo-runner-selftest.')
    descdir, bindir = os.path.join(tmp, 'progs'), os.path.join(tmp, 'bin')
    os.makedirs(descdir)
    os.makedirs(bindir)
    os.symlink(prog_path[ST], os.path.join(bindir, ST))
    expected = {}
    cases = [c for c in CASES if not args.cases or c[0] in args.cases]
    for name, prog, desc, exp in cases:
        with open(os.path.join(descdir, name + '.desc'), 'w') as f:
            f.write(desc + '\n')
        if prog:
            os.symlink(prog_path[prog], os.path.join(bindir, name))
        expected.update(exp)

    summary = os.path.join(tmp, 'summary.json')
    env = dict(os.environ, FAKE_CRYO_FEATURES='fake_feature')
    env.pop('FAKE_CRYO', None)
    env.pop('CRYO_FAULT', None)
    env['SELFTEST_TAG'] = tmp
    nodir = os.path.join(tmp, 'no-real-tests')
    cmd = ['/usr/bin/python3', os.path.join(HERE, 'run.py'),
           '--cryo', os.path.join(HERE, 'fake-cryo'), '--progs', descdir,
           '--bindir', bindir, '--results', os.path.join(tmp, 'out'),
           '--summary', summary, '--gone-timeout', '12', '--fault-target', 'none',
           '--real', nodir]
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=1200)
    if args.verbose:
        print(r.stdout)

    bad = []
    if not args.cases or 'fault' in args.cases:
        bad += fault_selftest(tmp, env, progs, args.verbose)
    try:
        with open(summary) as f:
            got = json.load(f)
    except (OSError, ValueError) as e:
        print(r.stdout)
        print('runner wrote no summary: %s' % e)
        return 1
    results = {t['id']: t for t in got['tests']}
    for tid, (res, rx) in sorted(expected.items()):
        t = results.get(tid)
        if not t:
            bad.append('%s: not run' % tid)
        elif t['result'] != res or not re.search(rx, t['reason']):
            bad.append('%s: got %s "%s", expected %s matching /%s/'
                       % (tid, t['result'], t['reason'], res, rx))
    for tid in results:
        if tid not in expected:
            bad.append('%s: unexpected test' % tid)
    want = {k: sum(1 for v in expected.values() if v[0] == k) for k in ('PASS', 'FAIL', 'SKIP')}
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ''
    want_line = '%d passed, %d failed, %d skipped' % (want['PASS'], want['FAIL'], want['SKIP'])
    if last != want_line:
        bad.append('last line "%s", expected "%s"' % (last, want_line))
    if r.returncode != (1 if want['FAIL'] else 0):
        bad.append('runner exit status %d' % r.returncode)
    # results of failed tests are kept, of passed tests removed
    for tid, t in results.items():
        d = os.path.join(tmp, 'out', tid.replace(':', '.'))
        if os.path.isdir(d) != (t['result'] == 'FAIL'):
            bad.append('%s: results dir %s' % (tid, 'kept' if os.path.isdir(d) else 'missing'))
    # nothing left running
    exes = set(os.path.realpath(p) for p in prog_path.values())
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                exe = os.readlink('/proc/%s/exe' % d)
            except OSError:
                continue
            if exe in exes:
                bad.append('process %s (%s) left behind' % (d, exe))

    for b in bad:
        print('SELFTEST FAIL ' + b)
    if bad:
        if not args.verbose:
            print(r.stdout)
        print('results in %s' % tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print('runner self-test: %d cases + %d fault cases OK (%s)'
          % (len(expected), len(FAULT_EXPECTED), want_line))
    return 0


if __name__ == '__main__':
    sys.exit(main())
