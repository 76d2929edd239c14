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
  remote         dump --lazy-pages --port N keeps the tree frozen and serves
                 its private anonymous pages; the images (without them)
                 copied to another directory, lazy-pages --page-server there
                 and restore --lazy-pages --pid-ns (the dumped PIDs are
                 still taken): anon_mem and lazy_mem pass their checks of
                 every byte, the daemon completes, the dump exits 0 and its
                 tree is gone
  source-dies    the dump serving the pages is killed mid-transfer: the
                 daemon says so, its guard kills the restored process, which
                 never runs on with missing pages
  refusals       dump --lazy-pages without --port, with --leave-running,
                 and page-server --lazy-pages are refused
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import (CRYO, PROGS, Check, CheckFailed, note,  # noqa: E402
                      reap_if_child, run_checks, state, wait_until)
import run  # noqa: E402
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
    # the socket listens before --daemon returns; the pidfile comes from
    # the daemon itself, just after
    if not wait_until(lambda: os.path.exists(pf) and open(pf).read().strip(), 5):
        raise CheckFailed('no --pidfile 5 s after lazy-pages --daemon returned')
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


def free_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def remote_setup(c, prog):
    """dump --lazy-pages serving on a free port, the images (no pages of
    lazy memory) copied to a second directory, a lazy-pages --page-server
    daemon there; returns (pid, dump Popen, destination dir, daemon)."""
    pid = c.start_prog(prog, prog)
    src, dst = c.path('src'), c.path('dst')
    os.makedirs(src)
    os.makedirs(dst)
    port = free_port()
    out = open(c.path('dump.out'), 'w')
    dump = subprocess.Popen([CRYO, 'dump', '-t', str(pid), '-D', src, '-o', 'dump.log', '-v4',
                             '--lazy-pages', '--address', '127.0.0.1', '--port', str(port)],
                            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    out.close()
    c.popens.append(dump)
    c.own(dump.pid, os.path.realpath(CRYO))
    log = os.path.join(src, 'dump.log')
    if not wait_until(lambda: dump.poll() is not None or
                      'stage lazy-serve' in open(log, errors='replace').read()
                      if os.path.exists(log) else False, 120):
        raise CheckFailed('dump --lazy-pages never came to serving its pages')
    if dump.poll() is not None:
        raise CheckFailed('dump --lazy-pages exited %s before serving' % dump.returncode)
    if state(pid) in (None, 'Z', 'X'):
        raise CheckFailed('the dumped process is gone while its pages are still served')
    pm = open(os.path.join(src, 'pagemap-%d.img' % pid), 'rb').read()
    lazy_bytes = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src)
                     if f.startswith('pages-'))
    for f in os.listdir(src):
        if f.endswith('.img') or f == 'stats-dump':
            shutil.copy(os.path.join(src, f), dst)
    note('%s: %d bytes of pages images, pagemap %d bytes' % (prog, lazy_bytes, len(pm)))
    sock = os.path.join(dst, 'lazy-pages.socket')
    dout = open(c.path('lazy-pages.out'), 'w')
    c.daemon_log = os.path.join(dst, 'lazy-pages.log')
    d = subprocess.Popen([CRYO, 'lazy-pages', '-D', dst, '-o', c.daemon_log, '-v4',
                          '--page-server', '--address', '127.0.0.1', '--port', str(port)],
                         stdin=subprocess.DEVNULL, stdout=dout, stderr=dout,
                         start_new_session=True)
    dout.close()
    c.popens.append(d)
    c.own(d.pid, os.path.realpath(CRYO))
    if not wait_until(lambda: os.path.exists(sock) or d.poll() is not None, 10) or \
            d.poll() is not None:
        raise CheckFailed('cryo lazy-pages --page-server does not listen (exit %s)' % d.poll())
    return pid, dump, dst, d


def restore_pidns(c, dst, tag='restore'):
    """restore --lazy-pages in a new PID namespace (the dumped tree still
    holds its PIDs, frozen); returns the restored root's host PID."""
    pf = c.path('%s.pid' % tag)
    # the namespace's init (a cryo) stays: its output goes to a file, not a
    # pipe that would stay open
    with open(c.path('%s.out' % tag), 'w') as out:
        p = subprocess.Popen([CRYO, 'restore', '-D', dst, '-d', '--pid-ns', '--lazy-pages',
                              '--pidfile', pf, '-o', tag + '.log', '-v4'],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        c.own(p.pid, os.path.realpath(CRYO))
        rc = p.wait(120)
    if rc != 0:
        raise CheckFailed('restore --pid-ns --lazy-pages exited %s' % rc)
    host = int(open(pf).read())
    init = run.proc_stat(host)
    if init:
        c.own(init[1], os.path.realpath(CRYO))     # the namespace's init
    c.own(host, c.binary)
    return host


def check_remote(c):
    for prog in ('anon_mem', 'lazy_mem'):
        pid, dump, dst, d = remote_setup(c, prog)
        host = restore_pidns(c, dst, 'restore-' + prog)
        try:
            rc = d.wait(120)
        except subprocess.TimeoutExpired:
            raise CheckFailed('%s: cryo lazy-pages --page-server still runs 120 s after the '
                              'restore' % prog)
        log = open(c.daemon_log, errors='replace').read()
        if rc != 0 or 'memory complete' not in log or 'requests to the dump' not in log:
            raise CheckFailed('%s: cryo lazy-pages --page-server exited %s without completing '
                              'the memory from the dump' % (prog, rc))
        try:
            drc = dump.wait(30)
        except subprocess.TimeoutExpired:
            raise CheckFailed('%s: dump --lazy-pages still runs after the destination closed'
                              % prog)
        if drc != 0:
            raise CheckFailed('%s: dump --lazy-pages exited %s' % (prog, drc))
        if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 20):
            raise CheckFailed('%s: the dumped process %d still runs after the dump' % (prog, pid))
        reap_if_child(pid)
        done = [l for l in log.splitlines() if 'memory complete' in l][0]
        note('%s: %s' % (prog, done.split('lazy-pages: ', 1)[-1]))
        time.sleep(0.5)
        c.verdict(host, '%s after a lazy restore from the dump' % prog)
        shutil.rmtree(c.path('src'))
        shutil.rmtree(c.path('dst'))


def check_source_dies(c):
    pid, dump, dst, d = remote_setup(c, 'lazy_mem')
    host = restore_pidns(c, dst)
    if d.poll() is not None:
        raise CheckFailed('the daemon was done before the dump could be killed')
    dump.kill()
    dump.wait()
    if not wait_until(lambda: state(host) in (None, 'Z', 'X'), 10):
        raise CheckFailed('process %d still runs (state %s) 10 s after the dump serving its '
                          'pages died' % (host, state(host)))
    reap_if_child(host)
    try:
        d.wait(10)
    except subprocess.TimeoutExpired:
        raise CheckFailed('the daemon still runs 10 s after its source died')
    log = open(c.daemon_log, errors='replace').read()
    if "the dump's page server 127.0.0.1" not in log or 'the guard kills the tree' not in log:
        raise CheckFailed('the daemon did not say that the source is gone and the tree killed')
    if 'PASS' in open(c.outfile).read().splitlines():
        raise CheckFailed('the program ran to a verdict after its source died')
    # the dumped process: cryo dump was killed, the frozen tree goes on (not traced)
    if state(pid) in (None, 'Z', 'X'):
        note('the dumped process %d is gone with the dump' % pid)
    note('process %d killed when its source died' % host)


def check_refusals(c):
    for args, text in ((['dump', '-t', '1', '-D', c.wdir, '--lazy-pages'],
                        'dump --lazy-pages needs the --port'),
                       (['dump', '-t', '1', '-D', c.wdir, '--lazy-pages', '--port', '1', '-R'],
                        'dump --lazy-pages with --leave-running is not implemented yet'),
                       (['page-server', '-D', c.wdir, '--port', '1', '--lazy-pages'],
                        'page-server --lazy-pages (serving the pages of a lazy restore from '
                        'here) is not implemented yet')):
        rc, out, err, _ = c.cryo(args, args[0])
        if rc == 0 or text not in err:
            raise CheckFailed('cryo %s: exit %s, %s' % (' '.join(args), rc, err.strip()[-300:]))


CHECKS = [
    ('mem', check_mem),
    ('daemon-dies', check_daemon_dies),
    ('no-daemon', check_no_daemon),
    ('tree', check_tree),
    ('daemon-mode', check_daemon_mode),
    ('remote', check_remote),
    ('source-dies', check_source_dies),
    ('refusals', check_refusals),
]


def main():
    return run_checks('lazy-pages', CHECKS, LazyCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
