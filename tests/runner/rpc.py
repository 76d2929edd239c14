#!/usr/bin/python3
"""criu's RPC with Debian's pycriu (package criu) as an independent client.

pycriu starts "criu swrk FD": here a temporary directory holds a `criu`
symlink to the cryo under test, and pycriu is pointed at it.  Checks:

  rpc:version         VERSION answers criu's interface (>= 3.11 for podman)
  rpc:features        FEATURE_CHECK: mem_track, lazy_pages and pidfd_store as
                      `cryo check --feature` answers mem_dirty_track, lazy_pages
                      and pidfd_store (true on this kernel: cryo does
                      pre-dumps and lazy restores here)
  rpc:check           CHECK succeeds
  rpc:dump-restore    DUMP of tests/progs/anon_mem (memory patterns), not left
                      running: the process is gone; RESTORE: it comes back
                      with its PID as this script's child, and reports PASS
                      on SIGTERM
  rpc:dump-esrch      DUMP of a PID nobody has: success false, cr_errno ESRCH,
                      cr_errmsg naming the PID
  rpc:unknown-field   a criu_opts field cryo does not know (number 100): a
                      clean error naming it, and the target is untouched
  rpc:refused-option  mntns_compat_mode (refused by cryo): the option's note, also
                      in the log file the request named, with the request
  rpc:unknown-type    an unknown request type: a clean error
  rpc:notify          DUMP with notify_scripts: pre-dump then post-dump, each
                      waiting for the answer; a failed answer fails the dump
                      and leaves the target running
  rpc:notify-netns    DUMP of a tree in a network namespace of its own
                      (ns_net): network-lock between pre-dump and post-dump
  rpc:notify-restore  RESTORE with notify_scripts: pre-restore, post-restore
                      and post-resume with the root's PID; a failed post-restore
                      answer fails the restore and the tree is killed
  rpc:notify-action-script  DUMP with notify_scripts and a config_file naming an
                      --action-script: at each action the script runs first
                      (with CRTOOLS_SCRIPT_ACTION, CRTOOLS_INIT_PID), then the
                      client is notified; a script failing at pre-dump fails
                      the dump before the client hears of it
  rpc:orphan-pts      tests/progs/tty_external (a pty slave whose master a
                      process outside the tree holds) dumped with
                      orphan_pts_master, restored with it and notify_scripts:
                      the orphan-pts-master notification carries a pty master
                      (SCM_RIGHTS), before post-restore; answering "pong" on
                      it, the restored program finds its terminal (echo off,
                      33x77) and the answer
  rpc:keep-open       keep_open: more requests on one connection; a request
                      whose process dies (CRYO_FAULT=kill:dump:frozen) is
                      answered for, its target runs on, the connection goes on;
                      without keep_open the connection ends
  rpc:cgroups-runc    what runc sends: DUMP with manage_cgroups and a v1
                      freeze_cgroup, of tests/progs/cgroup_tree (a tree in
                      cgroups of its own, with properties); its cgroups are
                      removed; RESTORE with manage_cgroups_mode SOFT and a
                      cg_root per hierarchy (a new container's path; the v2
                      one with an empty controller): the tree comes back in
                      the new cgroups, made with their properties
  rpc:wait-pid        WAIT_PID of a PID that is not cryo's child: the error
  rpc:single-pre-dump SINGLE_PRE_DUMP (libcriu's one-shot pre-dump) leaves the
                      program running and writes its memory; a DUMP with
                      parent_img and track_mem leaves pages to it; RESTORE:
                      the program checks its memory
  rpc:cpuinfo         CPUINFO_DUMP writes cpuinfo.img (crit reads it); CPUINFO_CHECK
                      of it succeeds; of an empty directory: success false
                      naming cpuinfo.img
  rpc:page-server     PAGE_SERVER_CHLD on a given port: answered with the
                      server's PID (a child of the swrk) and port; a DUMP with
                      ps sends its pages there; WAIT_PID of the server: exit
                      0; RESTORE from the directory: the program checks its
                      memory.  PAGE_SERVER with port 0: a port is chosen and
                      answered, the server is nobody's child of the swrk's,
                      serves the dump and exits
  rpc:service         cryo service --address PATH --daemon --pidfile FILE
                      --status-fd FD (a zero byte once listening):
                      VERSION and a failing DUMP over the socket, then a
                      second connection still served
  rpc:socket-activation  the service started by systemd-socket-activate
                      (LISTEN_FDS) serves on the socket it was passed

Lines "PASS rpc:NAME" / "FAIL rpc:NAME: why" (SKIP when not root or pycriu
is missing); exit status 0, 1 if any failed, 77 if skipped.
Environment: CRYO, BUILD (as option_effects.py).  Only processes this
script started are killed, by PID.
"""

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get('BUILD') or os.path.join(SRC_ROOT, 'build'))
CRYO = os.path.abspath(os.environ.get('CRYO') or os.path.join(BUILD, 'cli', 'cryo'))
PROG = os.path.join(BUILD, 'tests', 'progs', 'anon_mem')

results = []


class Failed(Exception):
    pass


def report(name, ok, why=''):
    results.append(ok)
    print('%s rpc:%s%s' % ('PASS' if ok else 'FAIL', name, '' if ok else ': ' + why), flush=True)


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read().rsplit(')', 1)[1].split()[0]
        return st not in ('Z', 'X')
    except OSError:
        return False


def ppid_of(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[1])


def wait_until(cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class Env:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='cryo-rpc.')
        os.makedirs(os.path.join(self.tmp, 'bin'))
        os.symlink(CRYO, os.path.join(self.tmp, 'bin', 'criu'))
        self.criu = os.path.join(self.tmp, 'bin', 'criu')
        self.pids = []
        self.n = 0

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def client(self):
        import pycriu
        c = pycriu.criu()
        c.use_binary(self.criu)
        return c

    def start_prog(self, prog=None, cwd=None):
        self.n += 1
        pidf, self.outfile = self.path('p%d.pid' % self.n), self.path('p%d.out' % self.n)
        p = subprocess.Popen([prog or PROG, '--pidfile', pidf, '--outfile', self.outfile],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, cwd=cwd)
        if p.wait(timeout=30) != 0:
            raise Failed('anon_mem setup failed')
        with open(pidf) as f:
            pid = int(f.read())
        self.pids.append(pid)
        return pid

    def imgdir(self, name):
        d = self.path(name)
        os.makedirs(d)
        return os.open(d, os.O_DIRECTORY)

    def verdict(self, pid, outfile, reap):
        os.kill(pid, signal.SIGTERM)
        if reap:
            os.waitpid(pid, 0)
        elif not wait_until(lambda: not alive(pid), 20):
            raise Failed('%d did not exit after SIGTERM' % pid)
        with open(outfile) as f:
            lines = f.read().splitlines()
        if 'PASS' not in lines:
            raise Failed('the program says: %s' % ' | '.join(l for l in lines if 'FAIL' in l)[:300])

    def cleanup(self, keep):
        for pid in self.pids:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- a raw client, for what pycriu can't send -------------------------------

def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def swrk(env, environ=None):
    """(socket, Popen) of a `cryo swrk` of our own."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    p = subprocess.Popen([env.criu, 'swrk', str(b.fileno())], pass_fds=[b.fileno()],
                         env=environ,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(env.path('swrk-%d.err' % time.time_ns()), 'w'))
    b.close()
    return a, p


def recv_resp(sk):
    from pycriu import rpc_pb2 as rpc
    sk.settimeout(60)
    buf = sk.recv(1 << 20)
    if not buf:
        raise Failed('cryo closed the connection without an answer')
    r = rpc.criu_resp()
    r.ParseFromString(buf)
    return r


# ---- the checks ---------------------------------------------------------------

def check_version(env):
    from pycriu import rpc_pb2 as rpc
    req = rpc.criu_req(type=rpc.VERSION)
    r = env.client()._send_req_and_recv_resp(req)
    v = r.version
    if not r.success or (v.major_number, v.minor_number) < (3, 11):
        raise Failed('answer %s' % r)


def check_features(env):
    from pycriu import rpc_pb2 as rpc
    req = rpc.criu_req(type=rpc.FEATURE_CHECK)
    req.features.mem_track = True
    req.features.lazy_pages = True
    req.features.pidfd_store = True
    r = env.client()._send_req_and_recv_resp(req)
    f = r.features
    want = {}
    for name in ('mem_dirty_track', 'lazy_pages', 'pidfd_store'):
        p = subprocess.run([CRYO, 'check', '--feature', name], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        want[name] = p.returncode == 0
    if not r.success or not all(f.HasField(n) for n in ('mem_track', 'lazy_pages', 'pidfd_store')):
        raise Failed('answer %s' % r)
    got = {'mem_dirty_track': f.mem_track, 'lazy_pages': f.lazy_pages,
           'pidfd_store': f.pidfd_store}
    if got != want:
        raise Failed('FEATURE_CHECK answers %s, cryo check --feature says %s' % (got, want))


def check_check(env):
    env.client().check()


def check_dump_restore(env):
    pid = env.start_prog()
    out = env.outfile
    fd = env.imgdir('img')
    c = env.client()
    c.opts.images_dir_fd = fd
    c.opts.pid = pid
    c.opts.log_level = 4
    c.opts.log_file = 'dump.log'
    c.opts.leave_running = False
    d = c.dump()
    if d.restored:
        raise Failed('dump answer says restored')
    if not wait_until(lambda: not alive(pid), 20):
        raise Failed('%d still runs after a dump without leave_running' % pid)
    if not os.path.exists(env.path('img', 'inventory.img')):
        raise Failed('no inventory.img')
    c = env.client()
    c.opts.images_dir_fd = fd
    c.opts.log_level = 4
    c.opts.log_file = 'restore.log'
    r = c.restore()
    if r.pid != pid:
        raise Failed('restore answered pid %d, the dumped pid was %d' % (r.pid, pid))
    if ppid_of(pid) != os.getpid():
        raise Failed('the restored %d is the child of %d, not of the client %d'
                     % (pid, ppid_of(pid), os.getpid()))
    env.verdict(pid, out, reap=True)
    os.close(fd)


def expect_error(fn, code, *words):
    import pycriu
    try:
        fn()
    except pycriu.CRIUExceptionExternal as e:
        if code is not None and e.errno != code:
            raise Failed('cr_errno %d, expected %d' % (e.errno, code))
        return
    raise Failed('the request succeeded')


def check_dump_esrch(env):
    from pycriu import rpc_pb2 as rpc
    pid = 4194000
    while os.path.exists('/proc/%d' % pid):
        pid -= 1
    fd = env.imgdir('img-esrch')
    req = rpc.criu_req(type=rpc.DUMP)
    req.opts.images_dir_fd = fd
    req.opts.pid = pid
    r = env.client()._send_req_and_recv_resp(req)
    os.close(fd)
    if r.success or r.cr_errno != errno.ESRCH or str(pid) not in r.cr_errmsg:
        raise Failed('answer %s' % r)


def check_unknown_field(env):
    from pycriu import rpc_pb2 as rpc
    pid = env.start_prog()
    fd = env.imgdir('img-unknown')
    opts = rpc.criu_opts(images_dir_fd=fd, pid=pid).SerializeToString()
    opts += varint(100 << 3) + varint(1)            # field 100, varint 1
    raw = rpc.criu_req(type=rpc.DUMP).SerializeToString()
    raw += varint(2 << 3 | 2) + varint(len(opts)) + opts
    sk, p = swrk(env)
    sk.send(raw)
    r = recv_resp(sk)
    sk.close()
    p.wait(timeout=30)
    os.close(fd)
    if r.success or r.cr_errno != errno.EBADRQC or '100' not in r.cr_errmsg:
        raise Failed('answer %s' % r)
    if not alive(pid):
        raise Failed('the target died')
    env.verdict(pid, env.outfile, reap=False)


def check_refused_option(env):
    from pycriu import rpc_pb2 as rpc
    # the one field Debian's pycriu has whose option cryo still refuses is a
    # restore's (criu's old mount engine): refused before the images are read
    fd = env.imgdir('img-refused')
    req = rpc.criu_req(type=rpc.RESTORE)
    req.opts.images_dir_fd = fd
    req.opts.mntns_compat_mode = True
    req.opts.log_file = 'restore.log'
    r = env.client()._send_req_and_recv_resp(req)
    os.close(fd)
    if r.success or r.cr_errno != errno.EBADRQC or 'mntns_compat_mode' not in r.cr_errmsg or \
            'not implemented' not in r.cr_errmsg:
        raise Failed('answer %s' % r)
    # the log the request named has the request and why it was refused
    # (runc shows its client only cr_errno and the log's path)
    log = os.path.join(env.path('img-refused'), 'restore.log')
    text = open(log).read() if os.path.exists(log) else ''
    if 'mntns_compat_mode=true' not in text or 'RPC restore refused' not in text or \
            'not implemented' not in text.split('RPC restore refused', 1)[1]:
        raise Failed('%s does not name the refused request and why: %s' % (log, text[-400:]))


def check_unknown_type(env):
    sk, p = swrk(env)
    sk.send(varint(1 << 3) + varint(77))        # criu_req.type = 77
    r = recv_resp(sk)
    sk.close()
    p.wait(timeout=30)
    if r.success or '77' not in r.cr_errmsg:
        raise Failed('answer %s' % r)



def exchange_notified(env, req, answers):
    """Send @req over a fresh swrk, answering each NOTIFY as @answers says
    (default: success); (notifications seen, the final answer)."""
    from pycriu import rpc_pb2 as rpc
    sk, p = swrk(env)
    sk.send(req.SerializeToString())
    seen = []
    while True:
        r = recv_resp(sk)
        if r.type != rpc.NOTIFY:
            break
        seen.append((r.notify.script, r.notify.pid))
        ok = answers.get(r.notify.script, True)
        sk.send(rpc.criu_req(type=rpc.NOTIFY, notify_success=ok).SerializeToString())
    sk.close()
    p.wait(timeout=30)
    return seen, r

def notify_dump(env, name, answers, prog=None):
    """A DUMP with notify_scripts answered by @answers; (scripts seen, final resp)."""
    from pycriu import rpc_pb2 as rpc
    pid = env.start_prog(prog)
    fd = env.imgdir(name)
    req = rpc.criu_req(type=rpc.DUMP)
    req.opts.images_dir_fd = fd
    req.opts.pid = pid
    req.opts.leave_running = True
    req.opts.notify_scripts = True
    req.opts.tcp_established = True
    seen, r = exchange_notified(env, req, answers)
    os.close(fd)
    return pid, seen, r


def check_notify_netns(env):
    # a tree in a network namespace of its own (tests/progs/ns_net): criu's
    # network-lock comes between pre-dump and post-dump
    prog = os.path.join(os.path.dirname(PROG), 'ns_net')
    pid, seen, r = notify_dump(env, 'img-notify-net', {}, prog)
    if not r.success or seen != [('pre-dump', pid), ('network-lock', pid), ('post-dump', pid)]:
        raise Failed('notifications %s, answer %s' % (seen, r))
    env.verdict(pid, env.outfile, reap=False)


def check_notify(env):
    pid, seen, r = notify_dump(env, 'img-notify', {})
    if not r.success or seen != [('pre-dump', pid), ('post-dump', pid)]:
        raise Failed('notifications %s, answer %s' % (seen, r))
    env.verdict(pid, env.outfile, reap=False)
    pid, seen, r = notify_dump(env, 'img-notify-fail', {'pre-dump': False})
    if r.success or seen != [('pre-dump', pid)] or 'pre-dump' not in r.cr_errmsg:
        raise Failed('with pre-dump failing: notifications %s, answer %s' % (seen, r))
    env.verdict(pid, env.outfile, reap=False)


def check_notify_action_script(env):
    from pycriu import rpc_pb2 as rpc
    log = env.path('as.log')
    script = env.path('as.sh')
    with open(script, 'w') as f:
        f.write('#!/bin/sh\necho "$CRTOOLS_SCRIPT_ACTION $CRTOOLS_INIT_PID" >> %s\n'
                '[ "$CRTOOLS_SCRIPT_ACTION" != "$AS_FAIL" ]\n' % log)
    os.chmod(script, 0o755)
    conf = env.path('as.conf')
    with open(conf, 'w') as f:
        f.write('action-script %s\n' % script)

    def run(name, fail):
        if os.path.exists(log):
            os.unlink(log)
        os.environ['AS_FAIL'] = fail
        pid = env.start_prog()
        fd = env.imgdir(name)
        req = rpc.criu_req(type=rpc.DUMP)
        req.opts.images_dir_fd = fd
        req.opts.pid = pid
        req.opts.leave_running = True
        req.opts.notify_scripts = True
        req.opts.config_file = conf
        sk, p = swrk(env)
        sk.send(req.SerializeToString())
        seen = []
        while True:
            r = recv_resp(sk)
            if r.type != rpc.NOTIFY:
                break
            # the script of this action ran before the client hears of it
            with open(log) as f:
                lines = f.read().split('\n')
            seen.append((r.notify.script, lines[-2] if len(lines) > 1 else None))
            sk.send(rpc.criu_req(type=rpc.NOTIFY, notify_success=True).SerializeToString())
        sk.close()
        p.wait(timeout=30)
        os.close(fd)
        del os.environ['AS_FAIL']
        with open(log) as f:
            ran = f.read().split('\n')[:-1]
        return pid, seen, ran, r

    pid, seen, ran, r = run('img-as', '')
    want = [('pre-dump', 'pre-dump %d' % pid), ('post-dump', 'post-dump %d' % pid)]
    if not r.success or seen != want or ran != [w[1] for w in want]:
        raise Failed('notifications %s, scripts %s, answer %s' % (seen, ran, r))
    env.verdict(pid, env.outfile, reap=False)
    pid, seen, ran, r = run('img-as-fail', 'pre-dump')
    if r.success or seen or ran != ['pre-dump %d' % pid] or \
            'pre-dump action script' not in r.cr_errmsg:
        raise Failed('with the pre-dump script failing: notifications %s, scripts %s, '
                     'answer %s' % (seen, ran, r))
    env.verdict(pid, env.outfile, reap=False)


def notify_restore(env, name, answers):
    """Dump a program, then RESTORE it with notify_scripts over our own swrk,
    answering @answers; (pid, notifications seen, final resp)."""
    from pycriu import rpc_pb2 as rpc
    pid = env.start_prog()
    fd = env.imgdir(name)
    c = env.client()
    c.opts.images_dir_fd = fd
    c.opts.pid = pid
    c.dump()
    if not wait_until(lambda: not alive(pid), 20):
        raise Failed('%d still runs after the dump' % pid)
    req = rpc.criu_req(type=rpc.RESTORE)
    req.opts.images_dir_fd = fd
    req.opts.notify_scripts = True
    seen, r = exchange_notified(env, req, answers)
    os.close(fd)
    return pid, seen, r


def check_notify_restore(env):
    pid, seen, r = notify_restore(env, 'img-nr', {})
    # criu's order, at the restore's stage boundaries
    want = [('pre-restore', 0), ('setup-namespaces', pid), ('post-setup-namespaces', pid),
            ('post-restore', pid), ('pre-resume', pid), ('network-unlock', pid),
            ('post-resume', pid)]
    if not r.success or r.restore.pid != pid or seen != want:
        raise Failed('notifications %s, answer %s' % (seen, r))
    env.verdict(pid, env.outfile, reap=True)
    # a failed answer: the restore fails and the restored tree is killed
    pid, seen, r = notify_restore(env, 'img-nr-fail', {'post-restore': False})
    if r.success or 'post-restore' not in r.cr_errmsg or seen[-1] != ('post-restore', pid):
        raise Failed('with post-restore failing: notifications %s, answer %s' % (seen, r))
    _, st = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(st) or os.WTERMSIG(st) != signal.SIGKILL:
        raise Failed('the restored %d ended with status %#x, not killed' % (pid, st))


def check_orphan_pts(env):
    """tests/progs/tty_external (a pty slave at fd 20, its master held by a
    process outside the tree) dumped with orphan_pts_master, restored with
    orphan_pts_master and notify_scripts: the orphan-pts-master notification
    brings a pty master (SCM_RIGHTS) between post-setup-namespaces and
    post-restore; this script answers "pong" on it, the program checks its
    new terminal (echo off, 33x77) and gets the answer."""
    import array
    import fcntl
    import select
    import threading
    from pycriu import rpc_pb2 as rpc
    os.environ['TTY_EXTERNAL_NEW_PAIR'] = '1'
    try:
        # it writes tty_external.key where it runs: in the check's directory
        pid = env.start_prog(os.path.join(BUILD, 'tests', 'progs', 'tty_external'), env.tmp)
    finally:
        del os.environ['TTY_EXTERNAL_NEW_PAIR']
    out = env.outfile
    fd = env.imgdir('img-orphan')
    req = rpc.criu_req(type=rpc.DUMP)
    req.opts.images_dir_fd = fd
    req.opts.pid = pid
    req.opts.log_level = 4
    req.opts.log_file = 'dump.log'
    req.opts.orphan_pts_master = True
    sk, p = swrk(env)
    sk.send(req.SerializeToString())
    r = recv_resp(sk)
    sk.close()
    p.wait(timeout=30)
    if not r.success:
        raise Failed('DUMP with orphan_pts_master: %s' % r.cr_errmsg)
    if not wait_until(lambda: not alive(pid), 20):
        raise Failed('%d still runs after the dump' % pid)
    req = rpc.criu_req(type=rpc.RESTORE)
    req.opts.images_dir_fd = fd
    req.opts.log_level = 4
    req.opts.log_file = 'restore.log'
    req.opts.notify_scripts = True
    req.opts.orphan_pts_master = True
    sk, p = swrk(env)
    sk.send(req.SerializeToString())
    seen, masters = [], []
    while True:
        sk.settimeout(60)
        buf, anc, _, _ = sk.recvmsg(1 << 16, socket.CMSG_LEN(4 * 4))
        fds = []
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += list(array.array('i', data[:len(data) - len(data) % 4]))
        r = rpc.criu_resp()
        r.ParseFromString(buf)
        if r.type != rpc.NOTIFY:
            break
        seen.append(r.notify.script)
        if fds:
            if r.notify.script != 'orphan-pts-master':
                raise Failed('descriptors came with the %s notification' % r.notify.script)
            masters += fds
        sk.send(rpc.criu_req(type=rpc.NOTIFY, notify_success=True).SerializeToString())
    sk.close()
    p.wait(timeout=30)
    os.close(fd)
    if not r.success:
        raise Failed('RESTORE: %s (notifications %s)' % (r.cr_errmsg, seen))
    if len(masters) != 1 or 'orphan-pts-master' not in seen or \
            seen.index('orphan-pts-master') > seen.index('post-restore'):
        raise Failed('notifications %s, %d descriptors' % (seen, len(masters)))
    m = masters[0]
    try:
        fcntl.ioctl(m, 0x80045430, b'\0' * 4)      # TIOCGPTN
    except OSError as e:
        raise Failed('the descriptor sent is no pty master: %s' % e)
    stop = []

    def holder():
        got = b''
        while not stop:
            rr, _, _ = select.select([m], [], [], 0.1)
            if not rr:
                continue
            try:
                got += os.read(m, 256)
            except OSError:
                return
            if b'ping' in got:
                os.write(m, b'pong\n')
                got = b''
    t = threading.Thread(target=holder, daemon=True)
    t.start()
    try:
        env.verdict(pid, out, reap=True)
    finally:
        stop.append(1)
        t.join(5)
        os.close(m)


def check_keep_open(env):
    """keep_open keeps the connection for the next request; a request
    process that dies (CRYO_FAULT=kill:dump:frozen: cryo SIGKILLs itself
    with the tree frozen) is answered for, the target runs on, and the
    connection still serves."""
    from pycriu import rpc_pb2 as rpc
    pid = env.start_prog()
    fd = env.imgdir('img-crash')
    environ = dict(os.environ, CRYO_FAULT='kill:dump:frozen')
    sk, p = swrk(env, environ)
    req = rpc.criu_req(type=rpc.DUMP, keep_open=True)
    req.opts.images_dir_fd = fd
    req.opts.pid = pid
    sk.send(req.SerializeToString())
    r = recv_resp(sk)
    if r.success or r.type != rpc.DUMP or 'signal 9' not in r.cr_errmsg:
        raise Failed('answer for the killed request: %s' % r)
    if not wait_until(lambda: alive(pid), 5):
        raise Failed('the target died with the request')
    sk.send(rpc.criu_req(type=rpc.VERSION, keep_open=True).SerializeToString())
    r = recv_resp(sk)
    if not r.success or r.type != rpc.VERSION:
        raise Failed('VERSION after the crash: %s' % r)
    sk.send(rpc.criu_req(type=rpc.FEATURE_CHECK).SerializeToString())
    r = recv_resp(sk)
    if not r.success or r.type != rpc.FEATURE_CHECK:
        raise Failed('FEATURE_CHECK after the crash: %s' % r)
    # without keep_open the connection ends with the answer
    sk.settimeout(10)
    if sk.recv(100) != b'':
        raise Failed('the connection stayed open without keep_open')
    sk.close()
    p.wait(timeout=30)
    os.close(fd)
    env.verdict(pid, env.outfile, reap=False)


CG_HIERS = ('cpu', 'memory', 'pids', 'cpuset', 'freezer', 'unified')


def rm_cgroup(name):
    for h in CG_HIERS:
        top = os.path.join('/sys/fs/cgroup', h, name)
        for _ in range(100):
            try:
                for d, _subs, _files in os.walk(top, topdown=False):
                    os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def check_cgroups_runc(env):
    from pycriu import rpc_pb2 as rpc
    if not os.path.exists('/sys/fs/cgroup/freezer/cgroup.procs'):
        raise Failed('no cgroup v1 freezer at /sys/fs/cgroup/freezer')
    name, new = 'cryo-test-cgrpc', '/cryo-test-cgrpc2'
    prog = os.path.join(BUILD, 'tests', 'progs', 'cgroup_tree')
    pidf, out = env.path('cg.pid'), env.path('cg.out')
    p = subprocess.Popen([prog, '--pidfile', pidf, '--outfile', out, '--name', name,
                          '--moved', new], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    if p.wait(timeout=30) != 0:
        raise Failed('cgroup_tree setup failed')
    with open(pidf) as f:
        pid = int(f.read())
    env.pids.append(pid)
    fd = env.imgdir('img-cg')
    req = rpc.criu_req(type=rpc.DUMP)
    req.opts.images_dir_fd = fd
    req.opts.pid = pid
    req.opts.log_level = 4
    req.opts.log_file = 'dump.log'
    req.opts.manage_cgroups = True
    req.opts.freeze_cgroup = '/sys/fs/cgroup/freezer/' + name
    r = env.client()._send_req_and_recv_resp(req)
    if not r.success:
        raise Failed('dump: %s' % r.cr_errmsg)
    if not wait_until(lambda: not alive(pid), 20):
        raise Failed('%d still runs after the dump' % pid)
    rm_cgroup(name)
    req = rpc.criu_req(type=rpc.RESTORE)
    req.opts.images_dir_fd = fd
    req.opts.log_level = 4
    req.opts.log_file = 'restore.log'
    req.opts.manage_cgroups = True
    req.opts.manage_cgroups_mode = rpc.SOFT
    for ctl in ('cpu', 'memory', 'pids', 'cpuset', 'freezer', ''):
        req.opts.cg_root.add(ctrl=ctl, path=new)
    r = env.client()._send_req_and_recv_resp(req)
    os.close(fd)
    if not r.success:
        rm_cgroup(new.lstrip('/'))
        raise Failed('restore: %s' % r.cr_errmsg)
    if r.restore.pid != pid:
        raise Failed('restore answered pid %d, the dumped pid was %d' % (r.restore.pid, pid))
    env.verdict(pid, out, reap=True)     # it removes its cgroups, old and new
    rm_cgroup(name)
    rm_cgroup(new.lstrip('/'))


def check_wait_pid(env):
    import pycriu
    try:
        env.client().wait_pid(1)
    except pycriu.CRIUExceptionExternal as e:
        if e.errno != errno.ECHILD:
            raise Failed('cr_errno %d, expected ECHILD' % e.errno)
        return
    raise Failed('WAIT_PID of pid 1 succeeded')


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_page_server(env):
    from pycriu import rpc_pb2 as rpc
    for kind in ('chld', 'daemon'):
        pid = env.start_prog()
        out = env.outfile
        fd = env.imgdir('img-ps-' + kind)
        sk, p = swrk(env)
        req = rpc.criu_req(type=rpc.PAGE_SERVER_CHLD if kind == 'chld' else rpc.PAGE_SERVER,
                           keep_open=True)
        req.opts.images_dir_fd = fd
        req.opts.log_level = 4
        req.opts.log_file = 'ps.log'
        req.opts.ps.address = '127.0.0.1'
        want_port = free_port() if kind == 'chld' else 0
        req.opts.ps.port = want_port
        sk.send(req.SerializeToString())
        r = recv_resp(sk)
        if not r.success or not r.HasField('ps') or r.ps.pid <= 0 or r.ps.port <= 0:
            raise Failed('%s: answer %s' % (kind, r))
        if want_port and r.ps.port != want_port:
            raise Failed('%s: the server listens on %d, %d was asked' % (kind, r.ps.port,
                                                                        want_port))
        pspid, port = r.ps.pid, r.ps.port
        env.pids.append(pspid)
        pp = ppid_of(pspid)
        if (kind == 'chld') != (pp == p.pid):
            raise Failed('%s: the page server %d is the child of %s (the swrk is %d)'
                         % (kind, pspid, pp, p.pid))
        req = rpc.criu_req(type=rpc.DUMP, keep_open=True)
        req.opts.images_dir_fd = fd
        req.opts.pid = pid
        req.opts.log_level = 4
        req.opts.log_file = 'dump.log'
        req.opts.ps.address = '127.0.0.1'
        req.opts.ps.port = port
        sk.send(req.SerializeToString())
        r = recv_resp(sk)
        if not r.success:
            raise Failed('%s: DUMP to the page server: %s' % (kind, r.cr_errmsg))
        if kind == 'chld':
            sk.send(rpc.criu_req(type=rpc.WAIT_PID, pid=pspid).SerializeToString())
            r = recv_resp(sk)
            if not r.success or r.status != 0:
                raise Failed('WAIT_PID of the page server %d: %s' % (pspid, r))
        else:
            if not wait_until(lambda: not alive(pspid), 20):
                raise Failed('the page server %d still runs after the dump' % pspid)
            sk.send(rpc.criu_req(type=rpc.VERSION).SerializeToString())
            recv_resp(sk)
        sk.close()
        p.wait(timeout=30)
        if not [f for f in os.listdir(env.path('img-ps-' + kind)) if f.startswith('pages-')]:
            raise Failed('%s: no pages image in the directory the page server wrote' % kind)
        if not wait_until(lambda: not alive(pid), 20):
            raise Failed('%d still runs after the dump' % pid)
        c = env.client()
        c.opts.images_dir_fd = fd
        c.opts.log_level = 4
        c.opts.log_file = 'restore.log'
        rr = c.restore()
        if rr.pid != pid:
            raise Failed('%s: restore answered pid %d, not %d' % (kind, rr.pid, pid))
        env.verdict(pid, out, reap=True)
        os.close(fd)


def check_single_pre_dump(env):
    from pycriu import rpc_pb2 as rpc
    pid = env.start_prog()
    out = env.outfile
    pre = env.imgdir('pre')
    sk, p = swrk(env)
    req = rpc.criu_req(type=rpc.SINGLE_PRE_DUMP, keep_open=True)
    req.opts.images_dir_fd = pre
    req.opts.pid = pid
    req.opts.log_level = 4
    req.opts.log_file = 'pre.log'
    sk.send(req.SerializeToString())
    r = recv_resp(sk)
    if not r.success or r.type != rpc.SINGLE_PRE_DUMP:
        raise Failed('SINGLE_PRE_DUMP: %s' % r)
    if not alive(pid):
        raise Failed('the program is gone after SINGLE_PRE_DUMP')
    fd = env.imgdir('img')
    req = rpc.criu_req(type=rpc.DUMP)
    req.opts.images_dir_fd = fd
    req.opts.pid = pid
    req.opts.log_level = 4
    req.opts.log_file = 'dump.log'
    req.opts.parent_img = '../pre'
    req.opts.track_mem = True
    sk.send(req.SerializeToString())
    r = recv_resp(sk)
    if not r.success:
        raise Failed('DUMP after SINGLE_PRE_DUMP: %s' % r.cr_errmsg)
    sk.close()
    p.wait(timeout=30)
    if not wait_until(lambda: not alive(pid), 20):
        raise Failed('%d still runs after the dump' % pid)
    c = env.client()
    c.opts.images_dir_fd = fd
    c.opts.log_level = 4
    c.opts.log_file = 'restore.log'
    if c.restore().pid != pid:
        raise Failed('restore answered another pid')
    env.verdict(pid, out, reap=True)


def check_cpuinfo(env):
    from pycriu import rpc_pb2 as rpc
    fd = env.imgdir('cpu')
    sk, p = swrk(env)
    for t in (rpc.CPUINFO_DUMP, rpc.CPUINFO_CHECK):
        req = rpc.criu_req(type=t, keep_open=True)
        req.opts.images_dir_fd = fd
        req.opts.log_level = 4
        req.opts.log_file = 'cpuinfo.log'
        sk.send(req.SerializeToString())
        r = recv_resp(sk)
        if not r.success or r.type != t:
            raise Failed('%s: %s' % (rpc.criu_req_type.Name(t), r))
    out = subprocess.run(['/usr/bin/python3', '/usr/bin/crit', 'decode', '-i',
                          env.path('cpu', 'cpuinfo.img')], capture_output=True, text=True)
    if out.returncode or 'x86_entry' not in out.stdout:
        raise Failed('crit can\'t read cpuinfo.img: %s' % (out.stderr or out.stdout)[-300:])
    empty = env.imgdir('nocpu')
    req = rpc.criu_req(type=rpc.CPUINFO_CHECK)
    req.opts.images_dir_fd = empty
    sk.send(req.SerializeToString())
    r = recv_resp(sk)
    if r.success or 'cpuinfo.img' not in r.cr_errmsg:
        raise Failed('CPUINFO_CHECK without cpuinfo.img: %s' % r)
    sk.close()
    p.wait(timeout=30)
    os.close(fd)
    os.close(empty)


def check_service(env):
    import pycriu
    from pycriu import rpc_pb2 as rpc
    addr, pidfile = env.path('svc.sock'), env.path('svc.pid')
    rfd, wfd = os.pipe()
    rc = subprocess.run([CRYO, 'service', '--address', addr, '--daemon', '--pidfile', pidfile,
                         '--status-fd', str(wfd), '-o', env.path('svc.log'), '-v4'],
                        stdin=subprocess.DEVNULL, pass_fds=[wfd], timeout=30).returncode
    os.close(wfd)
    if rc != 0:
        raise Failed('cryo service exited %d' % rc)
    # --status-fd: one zero byte, then the end (the daemon closed it)
    ready = b''
    while True:
        b = os.read(rfd, 16)
        if not b:
            break
        ready += b
    os.close(rfd)
    if ready != b'\0':
        raise Failed('--status-fd got %r, not one zero byte' % ready)
    if not wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0, 10):
        raise Failed('no pidfile')
    with open(pidfile) as f:
        spid = int(f.read())
    env.pids.append(spid)
    try:
        for _ in range(2):      # a failed request must not end the service
            c = pycriu.criu()
            c.use_sk(addr)
            r = c._send_req_and_recv_resp(rpc.criu_req(type=rpc.VERSION))
            if not r.success or r.version.major_number != 3:
                raise Failed('VERSION over the service: %s' % r)
            c = pycriu.criu()
            c.use_sk(addr)
            req = rpc.criu_req(type=rpc.DUMP)
            fd = os.open(env.tmp, os.O_DIRECTORY)
            req.opts.images_dir_fd = fd
            req.opts.pid = 4194001
            r = c._send_req_and_recv_resp(req)
            os.close(fd)
            if r.success or r.cr_errno != errno.ESRCH:
                raise Failed('DUMP of no process over the service: %s' % r)
            if not alive(spid):
                raise Failed('the service %d is gone' % spid)
    finally:
        os.kill(spid, signal.SIGTERM)


def check_socket_activation(env):
    """systemd-socket-activate listens and starts the service with the
    socket as fd 3 (LISTEN_FDS=1) at the first connection."""
    import pycriu
    from pycriu import rpc_pb2 as rpc
    tool = shutil.which('systemd-socket-activate')
    if not tool:
        raise Failed('systemd-socket-activate is missing (package systemd)')
    addr = env.path('act.sock')
    p = subprocess.Popen([tool, '--seqpacket', '-l', addr, CRYO, 'service', '-o',
                          env.path('act.log'), '-v4'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(env.path('act.err'), 'w'))
    env.pids.append(p.pid)
    try:
        if not wait_until(lambda: os.path.exists(addr), 10):
            raise Failed('systemd-socket-activate did not listen')
        for _ in range(2):
            c = pycriu.criu()
            c.use_sk(addr)
            r = c._send_req_and_recv_resp(rpc.criu_req(type=rpc.VERSION))
            if not r.success or r.version.major_number != 3:
                raise Failed('VERSION over the passed socket: %s' % r)
        with open(env.path('act.log')) as f:
            if 'systemd passed' not in f.read():
                raise Failed('the service did not use the passed socket (see act.log)')
    finally:
        p.kill()
        p.wait()


CHECKS = [
    ('version', check_version), ('features', check_features), ('check', check_check),
    ('dump-restore', check_dump_restore), ('dump-esrch', check_dump_esrch),
    ('unknown-field', check_unknown_field), ('refused-option', check_refused_option),
    ('unknown-type', check_unknown_type), ('notify', check_notify),
    ('notify-restore', check_notify_restore), ('notify-netns', check_notify_netns),
    ('notify-action-script', check_notify_action_script), ('keep-open', check_keep_open),
    ('orphan-pts', check_orphan_pts),
    ('cgroups-runc', check_cgroups_runc), ('wait-pid', check_wait_pid),
    ('single-pre-dump', check_single_pre_dump), ('cpuinfo', check_cpuinfo), ('page-server', check_page_server),
    ('service', check_service), ('socket-activation', check_socket_activation),
]


def main():
    names = sys.argv[1:]
    if os.geteuid() != 0:
        for n, _ in CHECKS:
            print('SKIP rpc:%s: needs root' % n)
        return 77
    try:
        import pycriu  # noqa: F401
    except ImportError:
        for n, _ in CHECKS:
            print('SKIP rpc:%s: pycriu (Debian package criu) is not installed' % n)
        return 77
    failed = False
    for name, fn in CHECKS:
        if names and name not in names:
            continue
        env = Env()
        ok = False
        try:
            fn(env)
            report(name, True)
            ok = True
        except Failed as e:
            report(name, False, str(e))
        except Exception as e:  # noqa: BLE001 - a crash is a failure
            report(name, False, '%s: %s' % (type(e).__name__, e))
        failed = failed or not ok
        env.cleanup(keep=not ok)
        if not ok:
            print('# files kept in %s' % env.tmp)
    print('%d passed, %d failed' % (results.count(True), results.count(False)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
