#!/usr/bin/python3
"""cryo migrate: source and destination on this machine (127.0.0.1).

  BUILD=build tests/runner/migrate.py [CHECK...] [--keep]

The program is mem_migrate (16 MiB, a 10% hot set rewritten all the time,
cold pages now and then; after SIGTERM it checks every byte against the
generation it has in memory).  The destination restores with --pid-ns (the
source's PIDs are still taken while the destination restores: its tree is
frozen until the destination answers) and writes the restored root's host
PID with --pidfile.

  precopy        pre-copy iterations (the memory changes between them)
                 until --converge, then the final dump copied: the source
                 exits 0 and its process is gone, the destination received
                 1..N and final with their parent links, the final pagemap
                 leaves pages to the last pre-dump (PE_PARENT), and the
                 restored program passes its check of every byte
  both           the same with --lazy-pages: the pages written since the
                 last pre-dump are served post-copy (PE_LAZY in the final
                 pagemap, and PE_PARENT for the others), the destination
                 exits 0 once its lazy-pages daemon has them all
  postcopy       --max-iterations 0 --lazy-pages: no pre-copy, everything
                 private served post-copy
  plain          --max-iterations 0: one dump, copied, restored
  dest-fails     the destination's restore fails (CRYO_FAULT=
                 restore:before-release there): the source says so, exits 1,
                 and its process runs on, not stopped, with no cryo-track
                 holder left, and passes its check of every byte
  tcp            between network namespaces (tests/runner/mignet.py: two
                 hosts and a client routed between them): the program echoes
                 a TCP connection from the client, migrates with
                 --tcp-established (pre-copy and --lazy-pages) while the
                 client sends a byte every millisecond; the service address
                 moves with it (the destination's action script): the
                 connection goes on at the destination without an error,
                 and the program passes
  tcp-nft        the same with --network-lock nftables on both ends (the
                 destination unlocks through the table's pass sets, and
                 takes the connection out and the table away after its
                 answer): no table is left at the destination
  lost-ready     the destination restores and holds its tree, but its
                 "ready" is lost (CRYO_FAULT=migrate:lose-ready there: the
                 connection is cut instead): the source exits 1 and its
                 process runs on and passes; the destination kills the tree
                 it restored: exactly one tree runs
  lost-go        the source's "go" is lost (CRYO_FAULT=migrate:lose-go on
                 the source): the source kills its tree and exits 1, the
                 destination kills the tree it restored, keeps the images and
                 names them: no tree runs; then `cryo restore` of those
                 images by hand brings the tree back and it passes
  lost-running   the destination's last answer ("it runs") is lost
                 (CRYO_FAULT=migrate:lose-running there): the source still
                 kills its tree (exit 1, it can't tell), the restored one
                 runs on and passes: exactly one tree runs
  dest-gone      nothing listens at --to: refused before the tree is touched
  refusals       migrate without --to or --listen, --to without -t,
                 --prev-images-dir (--tls: page_server.py's tls-migrate)
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import (CRYO, PROGS, Check, CheckFailed, note,  # noqa: E402
                      reap_if_child, run_checks, state, wait_until)
import run  # noqa: E402
from psrv import free_port  # noqa: E402
import mignet  # noqa: E402

CRIT = ['/usr/bin/python3', '/usr/bin/crit']


class MigCheck(Check):
    def __init__(self, name):
        super().__init__(name, tempfile.mkdtemp(prefix='cryo-migrate.%s.' % name, dir='/tmp'))

    def start_prog(self, args=()):
        binary = os.path.realpath(os.path.join(PROGS, 'mem_migrate'))
        pidfile, self.outfile = self.path('t.pid'), self.path('t.out')
        p = subprocess.Popen([binary, '--pidfile', pidfile, '--outfile', self.outfile] +
                             list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=self.wdir, start_new_session=True)
        self.own(p.pid, binary)
        if p.wait(timeout=60) != 0:
            raise CheckFailed('mem_migrate setup failed')
        pid = int(open(pidfile).read())
        self.own(pid, binary)
        self.binary = binary
        return pid

    def dest(self, port, env=None):
        d = self.path('dst')
        os.makedirs(d)
        out = open(self.path('dest.out'), 'w')
        p = subprocess.Popen([CRYO, 'migrate', '--listen', str(port), '--address', '127.0.0.1',
                              '-D', d, '--pid-ns', '--pidfile', self.path('restored.pid'),
                              '-o', 'dest.log', '-v4'],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             env=dict(os.environ, **(env or {})), start_new_session=True)
        out.close()
        self.popens.append(p)
        self.own(p.pid, os.path.realpath(CRYO))
        self.dest_log = os.path.join(d, 'dest.log')
        if not wait_until(lambda: p.poll() is not None or (
                os.path.exists(self.dest_log) and
                'waiting for the source' in open(self.dest_log, errors='replace').read()), 10):
            raise CheckFailed('migrate --listen does not listen')
        if p.poll() is not None:
            raise CheckFailed('migrate --listen exited %s at once' % p.returncode)
        return p, d

    def source(self, pid, port, args=()):
        s = self.path('src')
        os.makedirs(s)
        rc, out, err, dt = self.cryo(['migrate', '-t', str(pid), '--to', '127.0.0.1:%d' % port,
                                      '-D', s, '-o', 'src.log', '-v4'] + list(args), 'source',
                                     timeout=120)
        self.src_log = open(os.path.join(s, 'src.log'), errors='replace').read() \
            if os.path.exists(os.path.join(s, 'src.log')) else ''
        return rc, out + err, dt, s

    def verdict(self, pid, what):
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 60):
            raise CheckFailed('%d did not end within 60 s of SIGTERM %s' % (pid, what))
        reap_if_child(pid)
        lines = open(self.outfile).read().splitlines()
        fails = [l for l in lines if l.startswith('FAIL')]
        if fails or 'PASS' not in lines:
            raise CheckFailed('test %s: %s' % (what, fails[0] if fails else 'no verdict'))
        msg = [l for l in lines if 'page writes' in l]
        if msg:
            note(msg[-1].strip())


def pagemap_pages(imgdir, pid, flag):
    out = subprocess.run(CRIT + ['decode', '-i', os.path.join(imgdir, 'pagemap-%d.img' % pid)],
                         stdout=subprocess.PIPE, check=True, text=True).stdout
    bit = {'PE_PARENT': 1, 'PE_LAZY': 2}[flag]      # criu's values
    n = 0
    for e in json.loads(out)['entries'][1:]:
        f = e.get('flags', '')
        if (f & bit) if isinstance(f, int) else flag in str(f):
            n += e['nr_pages']
    return n


def migrate_ok(c, args, lazy, min_iters):
    pid = c.start_prog()
    time.sleep(0.3)
    port = free_port()
    dp, dst = c.dest(port)
    rc, out, dt, src = c.source(pid, port, args)
    if rc != 0:
        raise CheckFailed('the source exited %s: %s' % (rc, out.strip()[-400:]))
    try:
        drc = dp.wait(120)
    except subprocess.TimeoutExpired:
        raise CheckFailed('migrate --listen still runs 120 s after the source is done')
    if drc != 0:
        raise CheckFailed('migrate --listen exited %s' % drc)
    if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 20):
        raise CheckFailed('the source process %d still runs after the migration' % pid)
    reap_if_child(pid)
    iters = [l for l in c.src_log.splitlines() if 'migrate: pre-copy ' in l]
    note('source: %d pre-copy iteration(s), %.2f s' % (len(iters), dt))
    for l in iters:
        note(l.split('migrate: ', 1)[1])
    if len(iters) < min_iters:
        raise CheckFailed('%d pre-copy iterations, expected at least %d' % (len(iters), min_iters))
    got = sorted(os.listdir(dst))
    want = sorted([str(i) for i in range(1, len(iters) + 1)] + ['final', 'dest.log'])
    if got != want:
        raise CheckFailed('the destination holds %s, expected %s' % (got, want))
    final = os.path.join(dst, 'final')
    vpid = pid     # the images keep the dumped PIDs
    if iters:
        link = os.readlink(os.path.join(final, 'parent'))
        if link != '../%d' % len(iters):
            raise CheckFailed('final/parent -> %s, expected ../%d' % (link, len(iters)))
        par = pagemap_pages(final, vpid, 'PE_PARENT')
        if par < 1000:
            raise CheckFailed('the final dump left only %d pages to the pre-dumps' % par)
        note('final dump: %d pages left to the pre-dumps' % par)
    lz = pagemap_pages(final, vpid, 'PE_LAZY')
    if lazy and not lz:
        raise CheckFailed('--lazy-pages, but the final pagemap has no PE_LAZY run')
    if not lazy and lz:
        raise CheckFailed('%d PE_LAZY pages without --lazy-pages' % lz)
    if lazy and iters:
        # the pre-copied pages too are left to the daemon (read from the
        # pre-copy directories' pages images), not filled before the release
        m = re.search(r'left to the lazy-pages daemon \((\d+) previous', open(c.dest_log).read())
        if not m or int(m.group(1)) < 1:
            raise CheckFailed('the restore did not leave the pre-copied pages to the daemon')
        note('the restore left the pre-copied pages to the daemon (%s pages images)' %
             m.group(1))
    if lazy:
        note('final dump: %d pages served post-copy' % lz)
        dlog = open(os.path.join(final, 'lazy-pages.log'), errors='replace').read()
        if 'memory complete' not in dlog:
            raise CheckFailed('the lazy-pages daemon never said "memory complete"')
    host = int(open(c.path('restored.pid')).read())
    init = run.proc_stat(host)
    if init:
        c.own(init[1], os.path.realpath(CRYO))     # the PID namespace's init
    c.own(host, c.binary)
    time.sleep(0.5)
    c.verdict(host, 'after the migration')


def check_precopy(c):
    migrate_ok(c, [], False, 2)


def check_both(c):
    migrate_ok(c, ['--lazy-pages'], True, 2)


def check_postcopy(c):
    migrate_ok(c, ['--max-iterations', '0', '--lazy-pages'], True, 0)


def check_plain(c):
    migrate_ok(c, ['--max-iterations', '0'], False, 0)


def holders():
    """PIDs of cryo-track processes."""
    r = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = run.proc_stat(int(d))
            try:
                comm = open('/proc/%s/comm' % d).read().strip()
            except OSError:
                continue
            if comm == 'cryo-track' and st:
                r.append(int(d))
    return set(r)


def check_dest_fails(c):
    pid = c.start_prog()
    time.sleep(0.3)
    before = holders()
    port = free_port()
    dp, dst = c.dest(port, env={'CRYO_FAULT': 'restore:before-release'})
    rc, out, dt, src = c.source(pid, port, ['--max-iterations', '3'])
    if rc == 0:
        raise CheckFailed('the source exited 0 though the destination failed')
    for text in ('fault injected at restore:before-release', 'goes on running here'):
        if text not in out:
            raise CheckFailed('the source did not say "%s": %s' % (text, out.strip()[-400:]))
    try:
        dp.wait(30)
    except subprocess.TimeoutExpired:
        raise CheckFailed('migrate --listen still runs after its restore failed')
    if dp.returncode == 0:
        raise CheckFailed('migrate --listen exited 0 after its restore failed')
    time.sleep(0.3)
    st = state(pid)
    if st is None or st in 'ZXtT':
        raise CheckFailed('the source process %d is %s after the failed migration' %
                          (pid, 'gone' if st is None else 'in state ' + st))
    if os.path.exists(c.path('restored.pid')):
        host = int(open(c.path('restored.pid')).read())
        if state(host) not in (None, 'Z', 'X'):
            c.own(host, c.binary)
            raise CheckFailed('the failed restore left process %d behind' % host)
    if not wait_until(lambda: not (holders() - before), 5):
        raise CheckFailed('cryo-track holder(s) %s left after the failed migration' %
                          sorted(holders() - before))
    c.verdict(pid, 'on the source after the failed migration')


def alive(pid):
    return state(pid) not in (None, 'Z', 'X')


def restored_pid(c):
    if not os.path.exists(c.path('restored.pid')):
        return None
    host = int(open(c.path('restored.pid')).read())
    init = run.proc_stat(host)
    if init and alive(init[1]):
        c.own(init[1], os.path.realpath(CRYO))
    c.own(host, c.binary)
    return host


def lost_step(c, dest_env, src_env):
    """A migration whose hand-over loses one message; the source's result."""
    pid = c.start_prog()
    time.sleep(0.3)
    port = free_port()
    dp, dst = c.dest(port, env=dest_env)
    old = os.environ.get('CRYO_FAULT')
    if src_env:
        os.environ['CRYO_FAULT'] = src_env
    try:
        rc, out, dt, src = c.source(pid, port, ['--max-iterations', '1'])
    finally:
        if src_env:
            if old is None:
                del os.environ['CRYO_FAULT']
            else:
                os.environ['CRYO_FAULT'] = old
    try:
        dp.wait(60)
    except subprocess.TimeoutExpired:
        raise CheckFailed('migrate --listen still runs after the source ended')
    dout = open(c.path('dest.out'), errors='replace').read()
    return pid, rc, out, dp.returncode, dout, dst


def check_lost_ready(c):
    pid, rc, out, drc, dout, dst = lost_step(c, {'CRYO_FAULT': 'migrate:lose-ready'}, None)
    if rc == 0 or 'goes on running here' not in out:
        raise CheckFailed('the source without "ready": exit %s, %s' % (rc, out.strip()[-400:]))
    if drc == 0 or 'no go from the source' not in dout:
        raise CheckFailed('the destination without go: exit %s, %s' % (drc, dout.strip()[-400:]))
    time.sleep(0.3)
    host = restored_pid(c)
    if host and alive(host):
        raise CheckFailed('both trees run: the restored %d and the source %d' % (host, pid))
    st = state(pid)
    if st is None or st in 'ZXtT':
        raise CheckFailed('the source process %d is %s' % (pid, st or 'gone'))
    c.verdict(pid, 'on the source after a lost "ready"')


def check_lost_go(c):
    pid, rc, out, drc, dout, dst = lost_step(c, None, 'migrate:lose-go')
    if rc == 0 or 'did not confirm' not in out:
        raise CheckFailed('the source after a lost go: exit %s, %s' % (rc, out.strip()[-400:]))
    final = os.path.join(dst, 'final')
    if drc == 0 or ('images stay in %s' % final) not in dout:
        raise CheckFailed('the destination without go: exit %s, %s' % (drc, dout.strip()[-400:]))
    if not wait_until(lambda: not alive(pid), 20):
        raise CheckFailed('the source process %d still runs after a lost go' % pid)
    reap_if_child(pid)
    host = restored_pid(c)
    if host and alive(host):
        raise CheckFailed('the destination let its tree %d run without the go' % host)
    if not os.path.exists(os.path.join(final, 'inventory.img')):
        raise CheckFailed('the destination did not keep the images in %s' % final)
    note('no tree runs after a lost go; the images stay at the destination')
    # the user's way back: restore the kept images by hand
    if os.path.exists(c.path('restored.pid')):
        os.unlink(c.path('restored.pid'))
    # (the source's PIDs are free now; a --pid-ns init would keep the
    # runner's pipes open)
    rc, rout, rerr, _ = c.cryo(['restore', '-D', final, '-d', '--pidfile',
                                c.path('restored.pid'), '-o', 'byhand.log', '-v4'], 'restore',
                               timeout=60)
    if rc != 0:
        raise CheckFailed('cryo restore of the kept images failed: %s' % rerr.strip()[-400:])
    host = restored_pid(c)
    time.sleep(0.3)
    c.verdict(host, 'restored by hand from the images the destination kept')


def check_lost_running(c):
    pid, rc, out, drc, dout, dst = lost_step(c, {'CRYO_FAULT': 'migrate:lose-running'}, None)
    if rc == 0 or 'did not confirm' not in out:
        raise CheckFailed('the source after a lost answer: exit %s, %s' % (rc, out.strip()[-400:]))
    if not wait_until(lambda: not alive(pid), 20):
        raise CheckFailed('both trees run: the source process %d still runs' % pid)
    reap_if_child(pid)
    host = restored_pid(c)
    if not host or not alive(host):
        raise CheckFailed('no tree runs after a lost last answer (destination exit %s: %s)' %
                          (drc, dout.strip()[-300:]))
    time.sleep(0.3)
    c.verdict(host, 'at the destination after its lost answer')


def check_tcp(c, lock=()):
    net = mignet.Net()
    net.setup()
    prog = os.path.realpath(os.path.join(PROGS, 'mem_migrate'))
    c.binary = prog
    try:
        try:
            r = mignet.migrate_once(net, CRYO, prog, c.path('run'), 4096, 16,
                                    ['--lazy-pages'] + list(lock), log_level='-v4',
                                    dest_extra=lock)
        except mignet.NetError as e:
            raise CheckFailed(str(e))
        finally:
            pf = c.path('run', 't.pid')
            if os.path.exists(pf):
                c.own(int(open(pf).read()), prog)
        host = r['restored']
        init = run.proc_stat(host)
        if init:
            c.own(init[1], os.path.realpath(CRYO))
        c.own(host, prog)
        note('downtime %.1f ms (longest echo gap), %d pre-copy iteration(s), %d bytes sent, '
             '%d echoes after the migration' % (r['downtime_ms'] or -1, r['iterations'],
                                                r['sent_bytes'], r['echoes_after']))
        if r['route'] != mignet.DST_ADDR:
            raise CheckFailed("the client's route to the service goes to %s, not the "
                              "destination" % r['route'])
        if r['echoes_after'] < 10:
            raise CheckFailed('only %d echoes after the migration' % r['echoes_after'])
        if r['iterations'] < 2:
            raise CheckFailed('%d pre-copy iterations, expected at least 2' % r['iterations'])
        if not wait_until(lambda: state(r['pid']) in (None, 'Z', 'X'), 20):
            raise CheckFailed('the source process %d still runs' % r['pid'])
        if lock:
            # the destination let the connection through (pass4) and then
            # took it out of the lock and removed the table
            left = net.sh('nft', 'list', 'table', 'inet', 'cryo', ns=net.dst, check=False)
            if left.strip():
                raise CheckFailed('the destination left its lock behind: %s' % ' '.join(left.split())[:400])
        c.outfile = r['outfile']
        c.verdict(host, 'after the migration with its TCP connection')
    finally:
        net.teardown()


def check_tcp_nft(c):
    check_tcp(c, ('--network-lock', 'nftables'))


def check_dest_gone(c):
    pid = c.start_prog()
    port = free_port()
    rc, out, dt, src = c.source(pid, port)
    if rc == 0 or 'is `cryo migrate --listen %d -D DIR` running there?' % port not in out:
        raise CheckFailed('migrate to nothing: exit %s, %s' % (rc, out.strip()[-300:]))
    if os.listdir(src) != ['src.log']:
        raise CheckFailed('migrate to nothing dumped: %s' % os.listdir(src))
    c.verdict(pid, 'after a migration to nothing')


def check_refusals(c):
    for args, text in ((['migrate', '-D', c.wdir], 'migrate needs either --to HOST:PORT'),
                       (['migrate', '--to', '127.0.0.1:1', '-D', c.wdir],
                        'migrate --to needs the root of the process tree'),
                       (['migrate', '-t', '1', '--to', 'h:1', '--prev-images-dir', 'x',
                         '-D', c.wdir], 'migrate runs its own pre-dumps and dump'),
                       (['migrate', '-t', '1', '--to', 'nohost', '-D', c.wdir],
                        'expected HOST:PORT'),
                       (['migrate', '--listen', '1', '--max-iterations', '65', '-D', c.wdir],
                        'expected a number of pre-copy iterations'),
                       (['migrate', '--listen', '1', '--converge', '0', '-D', c.wdir],
                        'expected a percentage 1-100')):
        rc, out, err, _ = c.cryo(args, args[0])
        if rc == 0 or text not in err:
            raise CheckFailed('cryo %s: exit %s, %s' % (' '.join(args), rc, err.strip()[-300:]))


CHECKS = [
    ('precopy', check_precopy),
    ('both', check_both),
    ('postcopy', check_postcopy),
    ('plain', check_plain),
    ('dest-fails', check_dest_fails),
    ('tcp', check_tcp),
    ('tcp-nft', check_tcp_nft),
    ('lost-ready', check_lost_ready),
    ('lost-go', check_lost_go),
    ('lost-running', check_lost_running),
    ('dest-gone', check_dest_gone),
    ('refusals', check_refusals),
]


def main():
    return run_checks('migrate', CHECKS, MigCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
