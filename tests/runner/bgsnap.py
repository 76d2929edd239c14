#!/usr/bin/python3
"""The background snapshot (cryo's extension: dump/pre-dump --leave-running
--background-snapshot) beyond what run.py's "snapshot" variant shows.

  kill:POINT   cryo SIGKILLed while the tree's memory is write-protected and
               the tree runs (CRYO_FAULT=kill:POINT: dump:bg-release, the
               first and a later 1 MiB chunk of the copy, dump:bg-chunk#N):
               the writers must not hang on a write-protect fault (the
               kernel releases cryo's userfaultfds when it dies, which wakes
               them), nothing may stay protected, no inventory.img may be
               left, and the program must then pass (its threads kept
               writing, its memory consistent)
  unmap        a thread keeps filling, unmapping and mapping a region again
               during the dump: the dump either succeeds (the writes before
               each munmap faulted the pages into cryo first), and the
               restore passes, or fails naming the memory unmapped before
               it was copied; either way the original is unharmed and passes
  predump      pre-dump --background-snapshot (copied after the release),
               then a dump --prev-images-dir --track-mem: the restore of the
               chain must be a consistent cut (pages the tree wrote during
               the pre-dump's copy are written again by the dump)
  refuse       dump --background-snapshot without --leave-running, and with
               --page-server, are refused, the tree unharmed

The program is tests/progs/bgsnap (threads writing generation counters at
full speed; it checks the cut itself at SIGTERM).  Lines: PASS/FAIL/SKIP
bgsnap:NAME, then "N passed, N failed".

  tests/runner/bgsnap.py [NAME...] [--keep]
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import (CheckFailed, CheckSkipped, note, prog_path, read, run_checks, state,  # noqa: E402
                      wait_until)
import checklib  # noqa: E402
import run      # noqa: E402

PROG = 'bgsnap'
ARGS = ['--threads', '3', '--mb', '64', '--kwrite']


class Check(checklib.Check):
    def __init__(self, top, name):
        super().__init__(name, os.path.join(top, name.replace(':', '_').replace('#', '_')))

    def start(self):
        if subprocess.run([checklib.CRYO, 'check', '--feature', 'background_snapshot'],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
            raise CheckSkipped('cryo check --feature background_snapshot: not on this kernel')
        binary = prog_path(PROG)
        pdir = self.path('prog')
        os.makedirs(pdir)
        self.outfile = os.path.join(pdir, 'test.out')
        pidfile = os.path.join(pdir, 'test.pid')
        cmd = [binary, '--pidfile', pidfile, '--outfile', self.outfile] + ARGS
        with open(os.devnull) as fin, open(os.path.join(pdir, 'stdout.txt'), 'w') as fout:
            p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=subprocess.STDOUT,
                                 cwd=pdir, start_new_session=True)
        self.own(p.pid, binary)
        if p.wait(timeout=60) != 0:
            raise CheckFailed('%s setup failed' % PROG)
        pid = int(read(pidfile).strip())
        self.own(pid, binary)
        self.binary = binary
        return pid

    def running(self, pid, what):
        st = state(pid)
        if st is None or st in 'ZXtT':
            raise CheckFailed('%s: process %d is %s' % (what, pid, st or 'gone'))
        for tid in os.listdir('/proc/%d/task' % pid):
            status = read('/proc/%d/task/%s/status' % (pid, tid))
            for line in status.splitlines():
                if line.startswith('TracerPid:') and line.split()[1] != '0':
                    raise CheckFailed('%s: thread %s still traced' % (what, tid))

    def verdict(self, pid, what):
        """SIGTERM; the program must write PASS (it checks its threads made
        progress and its memory is a consistent cut)."""
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: state(pid) in (None, 'Z'), 60, 0.05):
            raise CheckFailed('%s: the program did not finish after SIGTERM (hung on a '
                              'write-protect fault?)' % what)
        checklib.reap_if_child(pid)
        out = read(self.outfile) if os.path.exists(self.outfile) else ''
        lines = [l for l in out.splitlines() if not l.startswith('#')]
        if not lines or lines[-1] != 'PASS':
            raise CheckFailed('%s: the program reports %r' % (what, lines[-1:] or 'nothing'))

    def dump(self, imgdir, extra, tag, env=None, must=True):
        os.makedirs(self.path(imgdir), exist_ok=True)
        args = extra[:1] + ['-t', str(self.pid), '-D', self.path(imgdir), '-o', 'cryo.log',
                            '-v4'] + extra[1:]
        old = dict(os.environ)
        try:
            if env:
                os.environ.update(env)
            rc, out, err, dt = self.cryo(args, tag)
        finally:
            os.environ.clear()
            os.environ.update(old)
        if must and rc != 0:
            raise CheckFailed('cryo %s exited %s: %s' % (tag, rc, (err + out).strip()[-300:]))
        return rc, out, err

    def restore(self, imgdir):
        pidfile = self.path(imgdir + '.rpid')
        self.cryo_ok(['restore', '-D', self.path(imgdir), '-o', 'restore.log', '-v4', '-d',
                      '--pidfile', pidfile], 'restore')
        rpid = int(read(pidfile).strip())
        self.own(rpid, self.binary)
        return rpid

    def kill_tree(self, pid):
        tree = run.proc_tree(pid) or [pid]
        for p in tree:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        checklib.reap_if_child(pid)
        if run.wait_gone(tree, 20):
            raise CheckFailed('the tree %s did not go' % tree)


def kill_check(point):
    def fn(c):
        c.pid = c.start()
        rc, out, err = c.dump('img', ['dump', '-R', '--background-snapshot'], 'dump-killed',
                              env={'CRYO_FAULT': 'kill:' + point}, must=False)
        if rc != -signal.SIGKILL:
            raise CheckFailed('cryo was to die at %s (SIGKILL), it exited %s: %s'
                              % (point, rc, (err + out).strip()[-300:]))
        if os.path.exists(c.path('img', 'inventory.img')):
            raise CheckFailed('a killed dump left inventory.img')
        time.sleep(0.3)
        c.running(c.pid, 'after cryo died at %s' % point)
        maps = read('/proc/%d/smaps' % c.pid)
        uw = [l for l in maps.splitlines() if l.startswith('VmFlags:') and ' uw' in l]
        if uw:
            raise CheckFailed('memory still registered for write-protection after cryo '
                              'died: %s' % uw[0])
        c.verdict(c.pid, 'after cryo died at %s' % point)
    return fn


def check_unmap(c):
    global ARGS
    saved, ARGS = ARGS, ARGS + ['--unmap']
    try:
        c.pid = c.start()
    finally:
        ARGS = saved
    rc, out, err = c.dump('img', ['dump', '-R', '--background-snapshot'], 'dump', must=False)
    msg = 'was unmapped or dropped'
    if rc != 0 and msg not in err + out and 'was replaced' not in err + out:
        raise CheckFailed('the dump failed otherwise (exit %s): %s'
                          % (rc, (err + out).strip()[-300:]))
    note('the dump %s' % ('succeeded' if rc == 0 else 'failed as it should: ' +
                          [l for l in (err + out).splitlines() if 'during the background' in l][0]))
    time.sleep(0.2)
    c.running(c.pid, 'after the dump')
    maps = read('/proc/%d/smaps' % c.pid)
    if [l for l in maps.splitlines() if l.startswith('VmFlags:') and ' uw' in l]:
        raise CheckFailed('memory still registered after the dump')
    if rc != 0:
        c.verdict(c.pid, 'after the failed dump')
        return
    c.kill_tree(c.pid)
    rpid = c.restore('img')
    time.sleep(0.3)
    c.running(rpid, 'after the restore')
    c.verdict(rpid, 'after the restore')


def check_predump(c):
    c.pid = c.start()
    c.dump('pre', ['pre-dump', '--background-snapshot'], 'pre-dump')
    log = read(c.path('pre', 'cryo.log'))
    if 'its memory is copied while it runs' not in log:
        raise CheckFailed('pre-dump --background-snapshot did not copy after the release')
    c.dump('final', ['dump', '--prev-images-dir', '../pre', '--track-mem'], 'dump')
    run.wait_gone([c.pid], 20)
    checklib.reap_if_child(c.pid)
    rpid = c.restore('final')
    time.sleep(0.3)
    c.running(rpid, 'after the restore of the chain')
    c.verdict(rpid, 'after the restore of the chain')


def check_refuse(c):
    c.pid = c.start()
    for extra, text in (
            (['dump', '--background-snapshot'],
             '--background-snapshot lets the tree run while its memory is copied: it needs '
             '--leave-running'),
            (['dump', '-R', '--background-snapshot', '--page-server', '--address', '127.0.0.1',
              '--port', '1'],
             'dump --background-snapshot with --page-server is not implemented yet')):
        rc, out, err = c.dump('img', extra, 'refused', must=False)
        if rc == 0 or text not in err + out:
            raise CheckFailed('cryo %s: exit %s, expected a refusal %r, got %r'
                              % (' '.join(extra), rc, text, (err + out).strip()[-300:]))
        c.running(c.pid, 'after the refusal')
    c.verdict(c.pid, 'after the refusals')


CHECKS = [('kill:dump:bg-release', kill_check('dump:bg-release')),
          ('kill:dump:bg-chunk#1', kill_check('dump:bg-chunk#1')),
          ('kill:dump:bg-chunk#60', kill_check('dump:bg-chunk#60')),
          ('unmap', check_unmap),
          ('predump', check_predump),
          ('refuse', check_refuse)]


def main():
    top = tempfile.mkdtemp(prefix='cryo-bgsnap.', dir='/tmp')
    note('work files in %s' % top)
    rc = run_checks('bgsnap', CHECKS, lambda name: Check(top, name), __doc__,
                    needs=[(PROG, prog_path(PROG))])
    if rc in (0, 77) and '--keep' not in sys.argv:
        shutil.rmtree(top, ignore_errors=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
