#!/usr/bin/python3
"""restore --lazy-pages with the `cryo lazy-pages` daemon (post-copy from
the images directory).

  BUILD=build tests/runner/lazy_pages.py [CHECK...] [--keep]

run.py's "lazy" variant (lazy_mem:lazy, anon_mem:lazy, threads:lazy) runs
the usual dump/restore/verdict cycle with a lazy restore.  These checks
cover the rest:

  mem            lazy_mem (400 MiB read at random by four threads right
                 after the restore; a fork, mremap, munmap and
                 MADV_DONTNEED of ranges still missing): the daemon exits 0
                 with the memory complete, its log shows that it followed
                 the fork and the remap, and the program passes its check
                 of every byte
  daemon-dies    the daemon is killed (SIGKILL) right after the restore,
                 pages still missing: its guard kills the restored process
                 (and the child it forks), which must be gone within 10 s
                 and never run on with zeros; the guard says why
  no-daemon      restore --lazy-pages with no daemon listening: refused
                 before any process exists, naming the socket and what to
                 start; nothing is left
  tree           a tree of processes (tree: groups, sessions, a zombie, a
                 stopped task, each with its own memory pattern): each live
                 process is served, the daemon completes, the tree passes
  daemon-mode    lazy-pages --daemon --pidfile returns once it listens; it
                 serves a lazy restore of anon_mem and exits by itself
  refusals       dump --lazy-pages and lazy-pages --page-server (remote
                 lazy pages) are refused as not implemented yet
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import (CRYO, PROGS, Check, CheckFailed, note,  # noqa: E402
                      reap_if_child, run_checks, state, wait_until)
import tempfile  # noqa: E402


class LazyCheck(Check):
    def __init__(self, name):
        super().__init__(name, tempfile.mkdtemp(prefix='cryo-lazy.%s.' % name, dir='/tmp'))

    def start_prog(self, name, tag='t'):
        binary = os.path.realpath(os.path.join(PROGS, name))
        pidfile, self.outfile = self.path('%s.pid' % tag), self.path('%s.out' % tag)
        with open(os.devnull) as fin, open(os.devnull, 'w') as fout:
            p = subprocess.Popen([binary, '--pidfile', pidfile, '--outfile', self.outfile],
                                 stdin=fin, stdout=fout, stderr=fout, cwd=self.wdir,
                                 start_new_session=True)
        self.own(p.pid, binary)
        if p.wait(timeout=60) != 0:
            raise CheckFailed('%s setup failed' % name)
        pid = int(open(pidfile).read())
        self.own(pid, binary)
        self.binary = binary
        return pid

    def dump(self, pid, tag='dump'):
        imgs = self.path('images')
        os.makedirs(imgs, exist_ok=True)
        self.cryo_ok(['dump', '-t', str(pid), '-D', imgs, '-o', 'dump.log', '-v4'], tag,
                     timeout=120)
        if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 20):
            raise CheckFailed('%d still runs after the dump' % pid)
        reap_if_child(pid)
        return imgs

    def daemon(self, imgs, tag='lazy-pages'):
        sock = os.path.join(imgs, 'lazy-pages.socket')
        out = open(self.path('%s.out' % tag), 'w')
        self.daemon_log = os.path.join(imgs, '%s.log' % tag)
        d = subprocess.Popen([CRYO, 'lazy-pages', '-D', imgs, '-o', self.daemon_log, '-v4'],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True)
        out.close()
        self.popens.append(d)
        self.own(d.pid, os.path.realpath(CRYO))
        if not wait_until(lambda: os.path.exists(sock) or d.poll() is not None, 10):
            raise CheckFailed('cryo lazy-pages does not listen on %s' % sock)
        if d.poll() is not None:
            raise CheckFailed('cryo lazy-pages exited %s at once' % d.returncode)
        return d

    def restore(self, imgs, pid, tag='restore', lazy=True):
        pf = self.path('%s.pid' % tag)
        t0 = time.time()
        self.cryo_ok(['restore', '-D', imgs, '-d', '--pidfile', pf, '-o', tag + '.log', '-v4']
                     + (['--lazy-pages'] if lazy else []), tag, timeout=120)
        dt = time.time() - t0
        if int(open(pf).read()) != pid:
            raise CheckFailed('restored a pid other than %d' % pid)
        self.own(pid, self.binary)
        return dt

    def verdict(self, pid, what):
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 60):
            raise CheckFailed('%d did not end within 60 s of SIGTERM %s' % (pid, what))
        reap_if_child(pid)
        lines = open(self.outfile).read().splitlines()
        fails = [l for l in lines if l.startswith('FAIL')]
        if fails or 'PASS' not in lines:
            raise CheckFailed('test %s: %s' % (what, fails[0] if fails else 'no verdict'))


def check_mem(c):
    pid = c.start_prog('lazy_mem')
    imgs = c.dump(pid)
    d = c.daemon(imgs)
    dt = c.restore(imgs, pid)
    try:
        rc = d.wait(120)
    except subprocess.TimeoutExpired:
        raise CheckFailed('cryo lazy-pages still runs 120 s after the restore')
    log = open(c.daemon_log, errors='replace').read()
    if rc != 0 or 'memory complete' not in log:
        raise CheckFailed('cryo lazy-pages exited %s without "memory complete"' % rc)
    for what, text in (('the fork', 'forked (uffd'), ('the mremap', 'lazy-pages: remap'),
                       ('the child exit', 'exited with')):
        if text not in log:
            raise CheckFailed('the daemon never saw %s while pages were missing (no "%s" in '
                              'its log)' % (what, text))
    done = [l for l in log.splitlines() if 'memory complete' in l][0]
    note('restore --lazy-pages: %.2f s; %s' % (dt, done.split('lazy-pages: ', 1)[-1]))
    c.verdict(pid, 'after the lazy restore')


def check_daemon_dies(c):
    pid = c.start_prog('lazy_mem')
    imgs = c.dump(pid)
    d = c.daemon(imgs)
    c.restore(imgs, pid)
    if d.poll() is not None:
        raise CheckFailed('the daemon was done before it could be killed (exit %s): the '
                          'memory is too small for this check' % d.returncode)
    d.kill()
    d.wait()
    if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 10):
        raise CheckFailed('process %d still runs (state %s) 10 s after the lazy-pages daemon '
                          'died with pages missing' % (pid, state(pid)))
    reap_if_child(pid)
    log = open(c.daemon_log, errors='replace').read()
    if 'the daemon is gone before the memory' not in log:
        raise CheckFailed('the guard did not say why it killed the tree')
    out = open(c.outfile).read()
    if 'PASS' in out.splitlines():
        raise CheckFailed('the program ran to a verdict after the daemon died')
    note('process %d killed by the guard' % pid)


def check_no_daemon(c):
    pid = c.start_prog('lazy_mem')
    imgs = c.dump(pid)
    rc, out, err, _ = c.cryo(['restore', '-D', imgs, '-d', '--lazy-pages', '-o', 'r.log',
                              '-v4'], 'restore-no-daemon')
    if rc == 0:
        raise CheckFailed('restore --lazy-pages succeeded with no daemon')
    if "can't connect to the lazy-pages daemon" not in err or 'cryo lazy-pages -D' not in err:
        raise CheckFailed('the refusal does not say what is missing: %s' % err.strip()[-300:])
    if state(pid) not in (None, 'Z', 'X'):
        raise CheckFailed('process %d exists after the refused restore' % pid)


def check_tree(c):
    pid = c.start_prog('tree')
    imgs = c.dump(pid)
    d = c.daemon(imgs)
    c.restore(imgs, pid)
    try:
        rc = d.wait(60)
    except subprocess.TimeoutExpired:
        raise CheckFailed('cryo lazy-pages still runs 60 s after the restore')
    log = open(c.daemon_log, errors='replace').read()
    if rc != 0 or 'memory complete' not in log:
        raise CheckFailed('cryo lazy-pages exited %s without "memory complete"' % rc)
    served = [l for l in log.splitlines() if 'pages to fill' in l]
    if len(served) < 4:
        raise CheckFailed('the daemon served %d processes of the tree, not all its live ones'
                          % len(served))
    time.sleep(0.5)
    c.verdict(pid, 'after the lazy restore of the tree')


def check_daemon_mode(c):
    pid = c.start_prog('anon_mem')
    imgs = c.dump(pid)
    pf = c.path('lazy.pid')
    c.cryo_ok(['lazy-pages', '-D', imgs, '--daemon', '--pidfile', pf, '-o', 'lazy-pages.log',
               '-v4'], 'lazy-pages-daemon', timeout=10)
    dpid = int(open(pf).read())
    c.own(dpid, os.path.realpath(CRYO))
    if state(dpid) in (None, 'Z', 'X'):
        raise CheckFailed('the daemon %d is not running after --daemon returned' % dpid)
    c.restore(imgs, pid)
    if not wait_until(lambda: state(dpid) in (None, 'Z', 'X'), 60):
        raise CheckFailed('the daemon %d still runs 60 s after the restore' % dpid)
    log = open(os.path.join(imgs, 'lazy-pages.log'), errors='replace').read()
    if 'memory complete' not in log:
        raise CheckFailed('the daemon ended without "memory complete"')
    time.sleep(0.3)
    c.verdict(pid, 'after a lazy restore served by lazy-pages --daemon')


def check_refusals(c):
    for args, text in ((['dump', '-t', '1', '-D', c.wdir, '--lazy-pages'],
                        'dump --lazy-pages (keeping the memory on the source'),
                       (['lazy-pages', '-D', c.wdir, '--page-server', '--address', '127.0.0.1',
                         '--port', '1'], 'lazy-pages --page-server (pages from a remote dump')):
        rc, out, err, _ = c.cryo(args, args[0])
        if rc == 0 or text not in err or 'not implemented yet' not in err:
            raise CheckFailed('cryo %s: exit %s, %s' % (' '.join(args), rc, err.strip()[-300:]))


CHECKS = [
    ('mem', check_mem),
    ('daemon-dies', check_daemon_dies),
    ('no-daemon', check_no_daemon),
    ('tree', check_tree),
    ('daemon-mode', check_daemon_mode),
    ('refusals', check_refusals),
]


def main():
    return run_checks('lazy-pages', CHECKS, LazyCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
