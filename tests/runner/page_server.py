#!/usr/bin/python3
"""cryo page-server and dump --page-server (criu's page server protocol).

  BUILD=build tests/runner/page_server.py [CHECK...] [--keep]

The byte-for-byte memory checks of whole dumps through a page server are
run.py's page-server variants (anon_mem, mem_shmem, mem_memfd, mem_sysv,
mem_cow_chain_full).  These checks cover the rest:

  separate-dir   the server writes into a directory of its own; its
                 pagemap/pages images, decoded by crit, are the process's
                 and shared memory's; copied into the dump's directory they
                 restore anon_mem and mem_shmem, which check every byte
  ps-socket      --ps-socket on both sides (a socket pair): the dump ends
                 the session with FLUSH_N_CLOSE and the server exits 0
  garbage        malformed commands (unknown, bad flags, zero-page and
                 wrapping runs, GET, a bad image type, runs out of order,
                 a cut header, random bytes): the server exits 1 naming
                 the problem, nothing crashes
  server-gone    a server that takes the first pages and closes the
                 connection: the dump fails naming the page server, the
                 process runs on unharmed and passes its own check
  unreachable    nothing listens on the port: the dump fails before the
                 tree is frozen, saying so; the process runs on
  daemon         page-server --daemon --pidfile: cryo returns at once, the
                 daemon serves a session (a flush and close sent by hand)
                 and exits
  refusals       --lazy-pages on page-server is refused
  tls            --tls on both ends with a CA, server and client certificates
                 made here (openssl): the dump goes through and restores
                 (every byte checked); refused, with the process running on:
                 a server certificate that does not name --address (and
                 accepted with --tls-no-cn-verify), a client certificate of
                 another CA, a client certificate revoked by --tls-cacrl, a
                 dump without --tls (the server ends the session)
  tls-lazy       dump --lazy-pages --tls and lazy-pages --page-server --tls
                 (ps_tls_checks.py): anon_mem restored lazily with every page
                 from the dump over TLS, through a recording proxy whose
                 capture must be TLS records both ways (so a TLS skipped
                 fails), and the program checks every byte; refused, the
                 process running on: a plain client (the dump names it and
                 ends, no hang), a daemon of another CA (refused before any
                 restore), a missing --tls-key (before the freeze; the daemon
                 at once)
  tls-migrate    migrate --tls on both ends, pre-copy and --lazy-pages: the
                 stream (through the proxy: TLS records only, no image name
                 or magic in plaintext) and the lazy pages' connection both
                 say TLS, mem_migrate passes its check of every byte;
                 refused, the tree untouched: a plain source, a source of
                 another CA, a source whose certificate does not name its
                 address, a source without its key (before it connects), a
                 destination without its key (at once)
  criu-server    `criu page-server` receiving from `cryo dump`, where criu
                 can start at all (criu 3.17's kernel probes fail on this
                 kernel: then SKIP, saying why)
"""
import atexit
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import (CRYO, PROGS, Check, CheckFailed, CheckSkipped, note,  # noqa: E402
                      reap_if_child, run_checks, state, wait_until)
import psrv     # noqa: E402
import ps_tls_checks    # noqa: E402

CRIT = ['/usr/bin/python3', '/usr/bin/crit']
PS_IOV_OPEN2, PS_IOV_ADD_F, PS_IOV_GET, PS_IOV_FLUSH_N_CLOSE = 4, 6, 7, 0x1024
PE_PARENT, PE_PRESENT = 1, 4


def iov(cmd, nr=0, vaddr=0, dst=(10 << 8) | 1, flags=0):
    return struct.pack('<IIQQ', flags << 16 | cmd, nr, vaddr, dst)


class PSCheck(Check):
    def __init__(self, name):
        super().__init__(name, tempfile.mkdtemp(prefix='cryo-ps.%s.' % name, dir='/tmp'))
        self.servers = []

    def start_prog(self, name, tag='t'):
        binary = os.path.realpath(os.path.join(PROGS, name))
        pidfile, self.outfile = self.path('%s.pid' % tag), self.path('%s.out' % tag)
        with open(os.devnull) as fin, open(os.devnull, 'w') as fout:
            p = subprocess.Popen([binary, '--pidfile', pidfile, '--outfile', self.outfile],
                                 stdin=fin, stdout=fout, stderr=fout, cwd=self.wdir,
                                 start_new_session=True)
        self.own(p.pid, binary)
        if p.wait(timeout=30) != 0:
            raise CheckFailed('%s setup failed' % name)
        pid = int(open(pidfile).read())
        self.own(pid, binary)
        self.binary = binary
        return pid

    def verdict(self, pid, what):
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 30):
            raise CheckFailed('%d did not end within 30 s of SIGTERM %s' % (pid, what))
        reap_if_child(pid)
        lines = open(self.outfile).read().splitlines()
        fails = [l for l in lines if l.startswith('FAIL')]
        if fails or 'PASS' not in lines:
            raise CheckFailed('test %s: %s' % (what, fails[0] if fails else 'no verdict'))

    def running(self, pid, what):
        st = state(pid)
        if st is None or st in 'ZXTt':
            raise CheckFailed('process %d is in state %s %s' % (pid, st, what))

    def wait_gone(self, pid):
        if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 20):
            raise CheckFailed('%d still runs after the dump' % pid)
        reap_if_child(pid)

    def server(self, imgdir, tag, extra=()):
        try:
            s = psrv.PageServer(CRYO, imgdir, self.path('%s.out' % tag), extra)
        except RuntimeError as e:
            raise CheckFailed(str(e))
        self.servers.append(s)
        self.own(s.p.pid, os.path.realpath(CRYO))
        return s

    def restore(self, imgdir, pid, tag='restore'):
        pf = self.path('%s.pid' % tag)
        self.cryo_ok(['restore', '-D', imgdir, '-d', '--pidfile', pf, '-o', tag + '.log',
                      '-v4'], tag)
        if int(open(pf).read()) != pid:
            raise CheckFailed('restored a pid other than %d' % pid)
        self.own(pid, self.binary)

    def cleanup(self):
        for s in self.servers:
            s.kill()
        super().cleanup()


def mkdirs(c, *names):
    for n in names:
        os.makedirs(c.path(n), exist_ok=True)
    return [c.path(n) for n in names]


def crit_json(path):
    import json
    out = subprocess.run(CRIT + ['decode', '-i', path], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    if out.returncode != 0:
        raise CheckFailed('crit decode %s: %s' % (path, out.stderr.strip()[-300:]))
    return json.loads(out.stdout)


def present(flags):
    """crit shows PagemapEntry flags as a number or as names."""
    return flags & PE_PRESENT if isinstance(flags, int) else 'PRESENT' in str(flags)


def check_separate_dir(c):
    for prog, shmem in (('anon_mem', False), ('mem_shmem', True)):
        pid = c.start_prog(prog, prog)
        imgs, recv = mkdirs(c, prog + '-images', prog + '-received')
        srv = c.server(recv, prog + '-server')
        c.cryo_ok(['dump', '-t', str(pid), '-D', imgs, '-o', 'dump.log', '-v4'] + srv.args(),
                  prog + '-dump')
        c.wait_gone(pid)
        if srv.finish() != 0:
            raise CheckFailed('page server exited %s: %s' % (srv.p.returncode,
                                                              srv.output()[-500:]))
        local = [f for f in os.listdir(imgs) if f.startswith(('pagemap-', 'pages-'))]
        if local:
            raise CheckFailed('dump --page-server wrote %s locally' % ' '.join(local))
        got = sorted(f for f in os.listdir(recv) if f.endswith('.img'))
        pm = 'pagemap-%d.img' % pid
        if pm not in got:
            raise CheckFailed('the server wrote %s, no %s' % (' '.join(got), pm))
        if shmem and not any(f.startswith('pagemap-shmem-') for f in got):
            raise CheckFailed('no pagemap-shmem image among %s' % ' '.join(got))
        # crit reads them; the pages file each head names holds the runs' bytes
        for f in got:
            if not f.startswith('pagemap-'):
                continue
            d = crit_json(os.path.join(recv, f))
            ents = d['entries']
            pid_ = ents[0]['pages_id']
            npages = sum(e['nr_pages'] for e in ents[1:] if present(e.get('flags', 0)))
            size = os.path.getsize(os.path.join(recv, 'pages-%d.img' % pid_))
            if size != npages * 4096 or not npages:
                raise CheckFailed('%s: %d present pages, pages-%d.img is %d bytes'
                                  % (f, npages, pid_, size))
            note('%s: %d entries, %d pages in pages-%d.img' % (f, len(ents) - 1, npages, pid_))
        for f in got:
            if f.startswith(('pagemap-', 'pages-')):
                shutil.copy(os.path.join(recv, f), imgs)
        c.restore(imgs, pid, prog + '-restore')
        time.sleep(0.3)
        c.running(pid, 'after the restore')
        c.verdict(pid, 'after the restore from the received pages')


def check_ps_socket(c):
    pid = c.start_prog('anon_mem')
    imgs, = mkdirs(c, 'images')
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    srv_out = open(c.path('server.out'), 'w')
    srv = subprocess.Popen([CRYO, 'page-server', '-D', imgs, '--ps-socket', str(b.fileno()),
                            '-o', 'server.log', '-v4'], pass_fds=(b.fileno(),), cwd=imgs,
                           stdout=srv_out, stderr=subprocess.STDOUT)
    c.own(srv.pid, os.path.realpath(CRYO))
    b.close()
    c.cryo_ok(['dump', '-t', str(pid), '-D', imgs, '--page-server', '--ps-socket',
               str(a.fileno()), '-o', 'dump.log', '-v4'], 'dump', pass_fds=(a.fileno(),))
    a.close()
    try:
        rc = srv.wait(30)
    except subprocess.TimeoutExpired:
        raise CheckFailed('the page server did not exit after FLUSH_N_CLOSE')
    if rc != 0:
        raise CheckFailed('the page server on --ps-socket exited %d' % rc)
    log = open(os.path.join(imgs, 'server.log')).read()
    if 'FLUSH_N_CLOSE' not in log:
        raise CheckFailed('the dump did not end with FLUSH_N_CLOSE on --ps-socket')
    c.wait_gone(pid)
    c.restore(imgs, pid)
    c.verdict(pid, 'after a dump over --ps-socket')


def garbage_cases():
    d = (10 << 8) | 1
    yield 'unknown command', iov(PS_IOV_OPEN2) + iov(0x77), 'unknown command'
    yield 'ADD_F flags', iov(PS_IOV_OPEN2) + iov(PS_IOV_ADD_F, 1, 0, d, 0x30), 'flags 0x30'
    yield 'zero pages', iov(PS_IOV_OPEN2) + iov(PS_IOV_ADD_F, 0, 0x1000, d, PE_PRESENT), '0 pages'
    yield 'wraps', iov(PS_IOV_OPEN2) + iov(PS_IOV_ADD_F, 16, 2**64 - 4096, d, PE_PRESENT), 'wraps'
    yield 'unaligned', iov(PS_IOV_ADD_F, 1, 0x1234, d, PE_PRESENT), 'not page aligned'
    yield 'GET', iov(PS_IOV_GET, 1, 0x1000), 'lazy-pages'
    yield 'image type', iov(PS_IOV_OPEN2, dst=(10 << 8) | 99), 'unknown image type'
    yield 'order', (iov(PS_IOV_OPEN2) + iov(PS_IOV_ADD_F, 2, 0x4000, d, PE_PARENT) +
                    iov(PS_IOV_ADD_F, 1, 0x4000, d, PE_PARENT)), 'address order'
    yield 'cut header', iov(PS_IOV_OPEN2)[:13], 'in the middle of a command'
    yield 'cut pages', (iov(PS_IOV_OPEN2) + iov(PS_IOV_ADD_F, 4, 0, d, PE_PRESENT) +
                        b'x' * 5000), "in the middle of a run's pages"
    yield 'no flush', iov(PS_IOV_OPEN2), 'without flushing'
    rnd = random.Random(14)
    for i in range(4):
        yield 'random %d' % i, bytes(rnd.randrange(256) for _ in range(24 * 8)), ''


def check_garbage(c):
    recv, = mkdirs(c, 'received')
    for i, (what, data, msg) in enumerate(garbage_cases()):
        srv = c.server(recv, 'server%d' % i)
        s = socket.create_connection(('127.0.0.1', srv.port))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        rc = srv.finish(20)
        out = srv.output()
        if rc is None:
            raise CheckFailed('%s: the page server hung' % what)
        if rc != 1:
            raise CheckFailed('%s: the page server exited %s, expected 1 (%s)' % (what, rc,
                                                                                out[-300:]))
        if msg not in out or 'Error' not in out:
            raise CheckFailed('%s: the page server said nothing of "%s": %s'
                              % (what, msg, out[-400:]))
        note('%s: %s' % (what, [l for l in out.splitlines() if 'Error' in l][0][:150]))


def fake_server(lsk, take, result):
    """Accept one dump, answer its first open, take @take bytes, close."""
    try:
        s, _ = lsk.accept()
        got = b''
        while len(got) < 24:
            got += s.recv(24 - len(got))
        s.sendall(b'\0')
        n = 0
        while n < take:
            chunk = s.recv(65536)
            if not chunk:
                break
            n += len(chunk)
        result.append(n)
        s.close()
    except OSError as e:
        result.append(str(e))


def check_server_gone(c):
    pid = c.start_prog('anon_mem')
    imgs, = mkdirs(c, 'images')
    lsk = socket.socket()
    lsk.bind(('127.0.0.1', 0))
    lsk.listen(1)
    result = []
    t = threading.Thread(target=fake_server, args=(lsk, 1 << 20, result), daemon=True)
    t.start()
    rc, out, err, _ = c.cryo(['dump', '-t', str(pid), '-D', imgs, '--page-server',
                              '--address', '127.0.0.1', '--port', str(lsk.getsockname()[1]),
                              '-o', 'dump.log', '-v4'], 'dump')
    t.join(10)
    lsk.close()
    if rc == 0:
        raise CheckFailed('the dump succeeded though the page server went away')
    if 'page server 127.0.0.1' not in err:
        raise CheckFailed('the dump failed without naming the page server: %s' % err[-400:])
    note('server took %s bytes; dump said: %s' % (result, err.strip().splitlines()[0][:200]))
    if os.path.exists(os.path.join(imgs, 'inventory.img')):
        raise CheckFailed('the failed dump left an inventory.img')
    time.sleep(0.3)
    c.running(pid, 'after the failed dump')
    c.verdict(pid, 'after the failed dump')


def check_unreachable(c):
    pid = c.start_prog('anon_mem')
    imgs, = mkdirs(c, 'images')
    port = psrv.free_port()
    rc, out, err, _ = c.cryo(['dump', '-t', str(pid), '-D', imgs, '--page-server',
                              '--address', '127.0.0.1', '--port', str(port), '-o', 'dump.log',
                              '-v4'], 'dump')
    if rc == 0 or "can't connect to the page server at 127.0.0.1:%d" % port not in err:
        raise CheckFailed('dump to a closed port: exit %s, %s' % (rc, err[-300:]))
    log = open(os.path.join(imgs, 'dump.log')).read()
    if 'frozen' in log:
        raise CheckFailed('the tree was frozen before the page server was reached')
    c.running(pid, 'after the failed dump')
    c.verdict(pid, 'after the failed dump')


def check_daemon(c):
    d, = mkdirs(c, 'd')
    port = psrv.free_port()
    pf = c.path('ps.pid')
    c.cryo_ok(['page-server', '-D', d, '--address', '127.0.0.1', '--port', str(port),
               '--daemon', '--pidfile', pf, '-o', 'ps.log', '-v4'], 'daemon')
    pid = int(open(pf).read())
    c.own(pid, os.path.realpath(CRYO))
    if state(pid) in (None, 'Z', 'X'):
        raise CheckFailed('the page server daemon %d is not running' % pid)
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(iov(PS_IOV_OPEN2, dst=(77 << 8) | 1))
    if s.recv(1) != b'\0':
        raise CheckFailed('no has-parent answer to OPEN2')
    s.sendall(iov(PS_IOV_ADD_F, 1, 0x10000, (77 << 8) | 1, PE_PRESENT) + b'\x42' * 4096 +
              iov(PS_IOV_FLUSH_N_CLOSE, dst=0))
    status = s.recv(4)
    s.close()
    if status != b'\0\0\0\0':
        raise CheckFailed('flush answered %r' % status)
    if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 10):
        raise CheckFailed('the daemon did not exit after FLUSH_N_CLOSE')
    if open(os.path.join(d, 'pages-1.img'), 'rb').read() != b'\x42' * 4096:
        raise CheckFailed('pages-1.img does not hold the page sent')
    ents = crit_json(os.path.join(d, 'pagemap-77.img'))['entries']
    if ents[0].get('pages_id') != 1 or ents[1]['vaddr'] not in (0x10000, '0x10000') \
            or ents[1]['nr_pages'] != 1:
        raise CheckFailed('pagemap-77.img: %s' % ents)


def check_refusals(c):
    d, = mkdirs(c, 'd')
    for args, text in ((['page-server', '-D', d, '--port', '1', '--lazy-pages'],
                        'page-server --lazy-pages (serving the pages of a lazy restore from here) '
                        'is not implemented yet'),
                       (['page-server', '-D', d], 'needs the --port')):
        rc, out, err, _ = c.cryo(args, 'refuse')
        if rc != 1 or text not in err:
            raise CheckFailed('cryo %s: exit %s, %s' % (' '.join(args), rc, err[-200:]))


def openssl(c, *args):
    p = subprocess.run(['openssl'] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, cwd=c.path('pki'))
    if p.returncode:
        raise CheckFailed('openssl %s: %s' % (' '.join(args), p.stdout[-300:]))


_pki = []    # the first check's pki directory, copied by the next ones


def make_pki(c):
    """make_pki_once() for the first check that asks, a copy for the others
    (one set of keys per run: key generation is slow on a loaded machine)."""
    dst = c.path('pki')
    if _pki and os.path.isdir(_pki[0]):
        shutil.copytree(_pki[0], dst)
        return lambda n: os.path.join(dst, n)
    P = make_pki_once(c)
    keep = tempfile.mkdtemp(prefix='cryo-ps.pki.', dir='/tmp')
    shutil.copytree(dst, os.path.join(keep, 'pki'))
    _pki[:] = [os.path.join(keep, 'pki')]
    atexit.register(shutil.rmtree, keep, True)
    return P


def make_pki_once(c):
    """ca (CA), other-ca, server (localhost, 127.0.0.1), node (the same
    names, a client too: a migrate end), node-far (a migrate end named only
    elsewhere.example), wrong-name (only
    elsewhere.example), client, stranger (signed by other-ca), revoked
    (client cert in crl.pem)."""
    os.makedirs(c.path('pki'), exist_ok=True)
    P = lambda n: c.path('pki', n)  # noqa: E731
    for ca in ('ca', 'other-ca'):
        openssl(c, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                '-nodes', '-days', '2',
                '-subj', '/CN=cryo test %s' % ca, '-keyout', P(ca + '.key'),
                '-out', P(ca + '.pem'))
    certs = (('server', 'ca', 'localhost', 'DNS:localhost,IP:127.0.0.1'),
             ('node', 'ca', 'localhost', 'DNS:localhost,IP:127.0.0.1'),
             ('node-far', 'ca', 'elsewhere.example', 'DNS:elsewhere.example'),
             ('wrong-name', 'ca', 'elsewhere.example', 'DNS:elsewhere.example'),
             ('client', 'ca', 'cryo client', None),
             ('revoked', 'ca', 'cryo revoked client', None),
             ('stranger', 'other-ca', 'cryo stranger', None))
    for n, ca, cn, san in certs:
        openssl(c, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                '-nodes', '-subj', '/CN=%s' % cn,
                '-keyout', P(n + '.key'), '-out', P(n + '.csr'))
        ext = P(n + '.ext')
        with open(ext, 'w') as f:
            f.write('basicConstraints=CA:FALSE\n')
            f.write('keyUsage=digitalSignature\n')
            # node: a migrate end, client and server both
            f.write('extendedKeyUsage=%s\n' % ('serverAuth,clientAuth' if 'node' in n else
                                               'serverAuth' if san else 'clientAuth'))
            if san:
                f.write('subjectAltName=%s\n' % san)
        openssl(c, 'x509', '-req', '-in', P(n + '.csr'), '-CA', P(ca + '.pem'),
                '-CAkey', P(ca + '.key'), '-CAcreateserial', '-days', '2',
                '-extfile', ext, '-out', P(n + '.pem'))
    with open(P('ca.cnf'), 'w') as f:
        f.write('[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ncrlnumber = %s\n'
                'default_md = sha256\ndefault_crl_days = 2\n' % (P('index.txt'), P('crlnumber')))
    open(P('index.txt'), 'w').close()
    with open(P('crlnumber'), 'w') as f:
        f.write('01\n')
    openssl(c, 'ca', '-config', P('ca.cnf'), '-keyfile', P('ca.key'), '-cert', P('ca.pem'),
            '-revoke', P('revoked.pem'))
    openssl(c, 'ca', '-config', P('ca.cnf'), '-keyfile', P('ca.key'), '-cert', P('ca.pem'),
            '-gencrl', '-out', P('crl.pem'))
    return P


def check_tls(c):
    P = make_pki(c)

    def tls(cert, ca='ca'):
        return ['--tls', '--tls-cacert', P(ca + '.pem'), '--tls-cert', P(cert + '.pem'),
                '--tls-key', P(cert + '.key')]

    pid = c.start_prog('anon_mem')
    # refused: the dump fails before the freeze, the process runs on
    # (server cert, client cert, server options, what the dump says, what the
    # server says): the end that rejects the other's certificate says why
    bad = (('wrong-name', 'client', [], 'must name 127.0.0.1', ''),
           # GnuTLS sends no certificate the server's CA did not sign
           ('server', 'stranger', [], 'page server', 'Certificate is required'),
           ('server', 'revoked', ['--tls-cacrl', P('crl.pem')], 'page server',
            'is not accepted'),
           ('server', None, [], 'page server', 'handshake failed'))
    for i, (scert, ccert, sextra, text, stext) in enumerate(bad):
        recv, imgs = mkdirs(c, 'recv-bad%d' % i, 'images-bad%d' % i)
        srv = c.server(recv, 'server-bad%d' % i, tls(scert) + sextra)
        dump_tls = tls(ccert) if ccert else []
        rc, out, err, _ = c.cryo(['dump', '-t', str(pid), '-D', imgs, '-o', 'dump.log', '-v4']
                                 + srv.args() + dump_tls, 'dump-bad%d' % i)
        srv.finish(10)
        if rc == 0 or text not in err:
            raise CheckFailed('dump %d (server %s, client %s) exit %s: %s'
                              % (i, scert, ccert, rc, err[-300:]))
        if srv.p.returncode == 0 or stext not in srv.output():
            raise CheckFailed('the page server of case %d exited %s: %s'
                              % (i, srv.p.returncode, srv.output()[-300:]))
        note('refused %d (server %s, client %s): %s | server: %s'
             % (i, scert, ccert, err.strip().splitlines()[-1][:160],
                [l for l in srv.output().splitlines() if 'rror' in l][-1:]))
        c.running(pid, 'after the refused TLS dump %d' % i)
    # the name is not checked with --tls-no-cn-verify; the revocation list
    # given to the server lets the good client through
    for scert, extra, tag in (('wrong-name', ['--tls-no-cn-verify'], 'nocn'),
                              ('server', [], 'good')):
        recv, imgs = mkdirs(c, 'recv-' + tag, 'images-' + tag)
        srv = c.server(recv, 'server-' + tag, tls(scert) + ['--tls-cacrl', P('crl.pem')])
        c.cryo_ok(['dump', '-t', str(pid), '-D', imgs, '-o', 'dump.log', '-v4'] + srv.args()
                  + tls('client') + extra + (['-R'] if tag == 'nocn' else []), 'dump-' + tag)
        if srv.finish() != 0:
            raise CheckFailed('page server (%s) exited %s: %s'
                              % (tag, srv.p.returncode, srv.output()[-500:]))
        if 'TLS session established' not in srv.output():
            raise CheckFailed('the page server (%s) does not say it used TLS' % tag)
    c.wait_gone(pid)
    for f in os.listdir(recv):
        if f.startswith(('pagemap-', 'pages-')):
            shutil.copy(os.path.join(recv, f), imgs)
    c.restore(imgs, pid, 'restore')
    time.sleep(0.3)
    c.running(pid, 'after the restore')
    c.verdict(pid, 'after the restore from the pages received over TLS')


def check_criu_server(c):
    criu = shutil.which('criu')
    if not criu:
        raise CheckSkipped('no criu binary')
    recv, imgs = mkdirs(c, 'received', 'images')
    port = psrv.free_port()
    p = subprocess.run([criu, 'page-server', '-D', recv, '--address', '127.0.0.1', '--port',
                        str(port), '-d', '-o', 'criu.log', '-v4'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
    if p.returncode != 0:
        log = ''
        try:
            log = open(os.path.join(recv, 'criu.log')).read()
        except OSError:
            pass
        errs = [l for l in (p.stdout + log).splitlines() if 'Error' in l]
        raise CheckSkipped('criu page-server does not start here: %s'
                           % (errs[-1] if errs else 'exit %d' % p.returncode))
    pid = c.start_prog('anon_mem')
    c.cryo_ok(['dump', '-t', str(pid), '-D', imgs, '--page-server', '--address', '127.0.0.1',
               '--port', str(port), '-o', 'dump.log', '-v4'], 'dump')
    c.wait_gone(pid)
    for f in os.listdir(recv):
        if f.startswith(('pagemap-', 'pages-')):
            shutil.copy(os.path.join(recv, f), imgs)
    c.restore(imgs, pid)
    c.verdict(pid, 'after a dump to criu page-server')


CHECKS = [
    ('separate-dir', check_separate_dir),
    ('ps-socket', check_ps_socket),
    ('garbage', check_garbage),
    ('server-gone', check_server_gone),
    ('unreachable', check_unreachable),
    ('daemon', check_daemon),
    ('refusals', check_refusals),
    ('tls', check_tls),
    ('tls-lazy', lambda c: ps_tls_checks.check_tls_lazy(c, make_pki)),
    ('tls-migrate', lambda c: ps_tls_checks.check_tls_migrate(c, make_pki)),
    ('criu-server', check_criu_server),
]


def main():
    return run_checks('page-server', CHECKS, PSCheck, __doc__)


if __name__ == '__main__':
    sys.exit(main())
