"""page_server.py's checks of --tls beyond the page server: lazy pages
(dump --lazy-pages serving, lazy-pages --page-server fetching) and cryo
migrate, with the CA and certificates of page_server.make_pki().  Every
accepted run goes through tlsproxy.Proxy, whose capture must be TLS records
both ways (a plaintext stream fails the check)."""

import os
import shutil
import socket
import struct
import subprocess
import time

from checklib import CRYO, CheckFailed, note, reap_if_child, state, wait_until
import lazy_pages
import psrv
import run
import tlsproxy

PS_IOV_GET = 7


def tls_args(P, cert, ca='ca'):
    return ['--tls', '--tls-cacert', P(ca + '.pem'), '--tls-cert', P(cert + '.pem'),
            '--tls-key', P(cert + '.key')]


def out_of(c, tag):
    try:
        return open(c.path(tag + '.out'), errors='replace').read()
    except OSError:
        return ''


def lazy_dump(c, pid, tag, tls):
    """dump --lazy-pages on a free port, once it serves; (Popen, port, dir)."""
    src = c.path(tag)
    os.makedirs(src)
    port = psrv.free_port()
    out = open(c.path(tag + '.out'), 'w')
    d = subprocess.Popen([CRYO, 'dump', '-t', str(pid), '-D', src, '-o', 'dump.log', '-v4',
                          '--lazy-pages', '--address', '127.0.0.1', '--port', str(port)] + tls,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    c.popens.append(d)
    c.own(d.pid, os.path.realpath(CRYO))
    log = os.path.join(src, 'dump.log')
    if not wait_until(lambda: d.poll() is not None or (
            os.path.exists(log) and 'stage lazy-serve' in open(log, errors='replace').read()),
            120):
        raise CheckFailed('%s: dump --lazy-pages never came to serving its pages' % tag)
    if d.poll() is not None:
        raise CheckFailed('%s: dump --lazy-pages exited %s before serving: %s'
                          % (tag, d.returncode, out_of(c, tag)[-300:]))
    return d, port, src


def lazy_daemon(c, src, tag, port, tls):
    """The images of @src but the lazy pages in a new directory, and a
    lazy-pages --page-server there; (Popen, dir)."""
    dst = c.path(tag)
    os.makedirs(dst)
    for f in os.listdir(src):
        if f.endswith('.img'):
            shutil.copy(os.path.join(src, f), dst)
    out = open(c.path(tag + '.out'), 'w')
    d = subprocess.Popen([CRYO, 'lazy-pages', '-D', dst, '-o', 'lazy-pages.log', '-v4',
                          '--page-server', '--address', '127.0.0.1', '--port', str(port)] + tls,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    out.close()
    c.popens.append(d)
    c.own(d.pid, os.path.realpath(CRYO))
    return d, dst


def daemon_log(dst):
    try:
        return open(os.path.join(dst, 'lazy-pages.log'), errors='replace').read()
    except OSError:
        return ''


def check_tls_lazy(c, make_pki):
    """One dump serving over TLS: refused clients first (it waits for the
    right destination again after each), then the daemon that restores."""
    P = make_pki(c)
    pid = c.start_prog('anon_mem')
    # no key: refused before the freeze, and by the daemon at once
    missing = ['--tls-key', c.path('pki', 'missing.key')]
    rc, out, err, _ = c.cryo(['dump', '-t', str(pid), '-D', c.path(), '-o', 'nokey.log',
                              '--lazy-pages', '--address', '127.0.0.1', '--port',
                              str(psrv.free_port())] + tls_args(P, 'server') + missing,
                             'dump-nokey')
    if rc == 0 or 'missing.key' not in err or '--tls-key' not in err:
        raise CheckFailed('dump --lazy-pages with a missing key: exit %s, %s' % (rc, err[-300:]))
    if 'frozen' in open(c.path('nokey.log'), errors='replace').read():
        raise CheckFailed('dump --lazy-pages with a missing key froze the tree first')
    c.running(pid, 'after the dump refused for a missing key')
    rc, out, err, _ = c.cryo(['lazy-pages', '-D', c.path(), '--page-server', '--address',
                              '127.0.0.1', '--port', str(psrv.free_port())] +
                             tls_args(P, 'client') + missing, 'lazy-nokey')
    if rc == 0 or 'missing.key' not in err:
        raise CheckFailed('lazy-pages with a missing key: exit %s, %s' % (rc, err[-300:]))

    d, port, src = lazy_dump(c, pid, 'src', tls_args(P, 'server'))
    dlog = os.path.join(src, 'dump.log')
    # a plain client: closed at once, the dump names it and serves on
    s = socket.create_connection(('127.0.0.1', port), timeout=20)
    s.sendall(struct.pack('<IIQQ', PS_IOV_GET, 1, 0x10000, (pid << 8) | 2))
    try:
        got = s.recv(4096)
    except socket.timeout:
        raise CheckFailed('the TLS dump neither answered nor closed a plain GET in 20 s')
    s.close()
    if got.startswith(struct.pack('<I', 6)):
        raise CheckFailed('the TLS dump answered a plain GET in plaintext')
    if not wait_until(lambda: 'refused the connection from 127.0.0.1' in
                      open(dlog, errors='replace').read(), 10):
        raise CheckFailed('the dump does not say it refused the plain client: %s'
                          % open(dlog, errors='replace').read()[-300:])
    if d.poll() is not None:
        raise CheckFailed('dump --lazy-pages --tls exited %s after a plain client' % d.returncode)
    log = open(dlog, errors='replace').read()
    note('plain client: %s' % [l for l in log.splitlines() if 'handshake' in l][0][-160:])
    # a daemon of another CA: refused before any restore, both ends say why
    ld, dst = lazy_daemon(c, src, 'ca-dst', port, tls_args(P, 'stranger', 'other-ca'))
    try:
        lrc = ld.wait(30)
    except subprocess.TimeoutExpired:
        raise CheckFailed('a lazy-pages daemon of another CA still runs after 30 s')
    log = daemon_log(dst)
    if lrc == 0 or "lazy-pages: the dump's page server 127.0.0.1:%d" % port not in log:
        raise CheckFailed('a lazy-pages daemon of another CA: exit %s, %s' % (lrc, log[-300:]))
    if os.path.exists(os.path.join(dst, 'lazy-pages.socket')):
        raise CheckFailed('the refused daemon left its socket for a restore')
    note('another CA: %s' % [l for l in log.splitlines() if 'TLS' in l][-1][-160:])
    if not wait_until(lambda: open(dlog).read().count('refused the connection') == 2, 10) or \
            d.poll() is not None:
        raise CheckFailed('the dump did not refuse the daemon of another CA and serve on')
    shutil.rmtree(dst)

    # the good daemon, through the recording proxy
    lazy_bytes = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src)
                     if f.startswith('pages-'))
    proxy = tlsproxy.Proxy('127.0.0.1', port)
    try:
        ld, dst = lazy_daemon(c, src, 'dst', proxy.port, tls_args(P, 'client'))
        sock = os.path.join(dst, 'lazy-pages.socket')
        if not wait_until(lambda: os.path.exists(sock) or ld.poll() is not None, 10) or \
                ld.poll() is not None:
            raise CheckFailed('lazy-pages --page-server --tls does not listen (exit %s): %s'
                              % (ld.poll(), daemon_log(dst)[-300:]))
        host = lazy_pages.restore_pidns(c, dst)
        try:
            lrc = ld.wait(120)
            rc = d.wait(30)
        except subprocess.TimeoutExpired:
            raise CheckFailed('the lazy run over TLS still runs after 120 s')
        log = daemon_log(dst)
        if lrc != 0 or 'memory complete' not in log or 'requests to the dump' not in log:
            raise CheckFailed('lazy-pages --tls exited %s without completing: %s'
                              % (lrc, log[-400:]))
        if rc != 0 or 'pages served over TLS' not in open(dlog).read():
            raise CheckFailed('dump --lazy-pages --tls exited %s, or served not over TLS' % rc)
        for where in (log, open(dlog).read()):
            if 'TLS session established' not in where:
                raise CheckFailed('an end of the lazy connection does not say it uses TLS')
        proxy.close()
        try:
            note('lazy pages: ' + tlsproxy.check_tls_streams(proxy, 1 << 20, 'lazy pages'))
        except ValueError as e:
            raise CheckFailed(str(e))
    finally:
        proxy.close()
    note('%d bytes of pages images written by the dump, the rest served' % lazy_bytes)
    if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 20):
        raise CheckFailed('the dumped process %d still runs after its pages were served' % pid)
    reap_if_child(pid)
    time.sleep(0.3)
    c.verdict(host, 'after a lazy restore over TLS')


def mig_dest(c, tag, port, tls):
    dst = c.path(tag)
    os.makedirs(dst)
    out = open(c.path(tag + '.out'), 'w')
    p = subprocess.Popen([CRYO, 'migrate', '--listen', str(port), '--address', '127.0.0.1',
                          '-D', dst, '--pid-ns', '--pidfile', c.path(tag + '.pid'),
                          '-o', 'dest.log', '-v4'] + tls,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    out.close()
    c.popens.append(p)
    c.own(p.pid, os.path.realpath(CRYO))
    log = os.path.join(dst, 'dest.log')
    if not wait_until(lambda: p.poll() is not None or (
            os.path.exists(log) and 'waiting for the source' in open(log).read()), 10) or \
            p.poll() is not None:
        raise CheckFailed('migrate --listen --tls does not listen (exit %s)' % p.poll())
    return p, dst


def mig_source(c, pid, tag, port, tls, extra=()):
    src = c.path(tag)
    os.makedirs(src)
    rc, out, err, dt = c.cryo(['migrate', '-t', str(pid), '--to', '127.0.0.1:%d' % port,
                               '-D', src, '-o', 'src.log', '-v4'] + tls + list(extra), tag,
                              timeout=120)
    return rc, out + err, src


def check_tls_migrate(c, make_pki):
    P = make_pki(c)
    pid = c.start_prog('mem_migrate')
    time.sleep(0.3)
    node = tls_args(P, 'node')
    # refused, the tree untouched: a plain source, a source of another CA,
    # a source without its key
    for tag, stls, text, dtext in (
            ('plain', [], 'does the destination use --tls', 'handshake failed'),
            ('ca', tls_args(P, 'stranger', 'other-ca'), 'migrate: the destination 127.0.0.1',
             'migrate: the source 127.0.0.1'),
            ('nokey', node + ['--tls-key', c.path('pki', 'missing.key')], 'missing.key', None),
            ('name', tls_args(P, 'node-far'), "the source's certificate does not name "
             '127.0.0.1', "the source's certificate does not name 127.0.0.1")):
        port = psrv.free_port()
        dp, dst = mig_dest(c, 'dst-' + tag, port, node)
        rc, out, src = mig_source(c, pid, 'src-' + tag, port, stls)
        if not dtext:
            # refused before it connects: the destination still waits
            time.sleep(0.2)
            if dp.poll() is not None:
                raise CheckFailed('%s: the destination exited %s: the source reached it'
                                  % (tag, dp.returncode))
            dp.kill()
        try:
            drc = dp.wait(30)
        except subprocess.TimeoutExpired:
            raise CheckFailed('%s: migrate --listen --tls still runs 30 s after a refused '
                              'source' % tag)
        dlog = open(os.path.join(dst, 'dest.log'), errors='replace').read()
        if rc == 0 or text not in out or (dtext and (drc == 0 or dtext not in dlog)):
            raise CheckFailed('%s: source exit %s (%s), destination exit %s (%s)'
                              % (tag, rc, out.strip()[-300:], drc, dlog[-300:]))
        if os.listdir(src) != ['src.log']:
            raise CheckFailed('%s: the refused source dumped: %s' % (tag, os.listdir(src)))
        note('%s: %s' % (tag, [l for l in out.splitlines() if 'rror' in l][-1][:200]))
        c.running(pid, 'after the refused migration (%s)' % tag)

    # a destination without its key: refused at once
    rc, out, err, _ = c.cryo(['migrate', '--listen', str(psrv.free_port()), '-D', c.path()] +
                             node + ['--tls-key', c.path('pki', 'missing.key')], 'dest-nokey')
    if rc == 0 or 'missing.key' not in err:
        raise CheckFailed('migrate --listen with a missing key: exit %s, %s' % (rc, err[-300:]))

    # the good run: pre-copy and lazy pages, the stream through the proxy
    port = psrv.free_port()
    dp, dst = mig_dest(c, 'dst', port, node)
    proxy = tlsproxy.Proxy('127.0.0.1', port)
    try:
        rc, out, src = mig_source(c, pid, 'src', proxy.port, node,
                                  ['--max-iterations', '2', '--lazy-pages'])
        if rc != 0:
            raise CheckFailed('migrate --tls: the source exited %s: %s' % (rc, out[-400:]))
        try:
            drc = dp.wait(120)
        except subprocess.TimeoutExpired:
            raise CheckFailed('migrate --listen --tls still runs 120 s after the source')
        if os.path.exists(c.path('dst.pid')):
            host = int(open(c.path('dst.pid')).read())
            init = run.proc_stat(host)
            if init:
                c.own(init[1], os.path.realpath(CRYO))     # the PID namespace's init
            c.own(host, c.binary)
        if drc != 0:
            raise CheckFailed('migrate --listen --tls exited %s' % drc)
        proxy.close()
        try:
            note('migrate stream: ' +
                 tlsproxy.check_tls_streams(proxy, 1 << 20, 'migrate', up=True))
        except ValueError as e:
            raise CheckFailed(str(e))
        wire = b''.join(bytes(b) for b in proxy.up)
        for plain in (b'cryo-migrate', b'pagemap-', b'inventory.img', b'CMIG'):
            if plain in wire:
                raise CheckFailed('%r went over the wire in plaintext' % plain)
    finally:
        proxy.close()
    slog = open(os.path.join(src, 'src.log'), errors='replace').read()
    dlog = open(os.path.join(dst, 'dest.log'), errors='replace').read()
    llog = open(os.path.join(dst, 'final', 'lazy-pages.log'), errors='replace').read()
    for text, where, what in (('migrate: the destination 127.0.0.1', slog, 'the source'),
                              ('migrate: the source 127.0.0.1', dlog, 'the destination'),
                              ("lazy-pages: the dump's page server 127.0.0.1", llog,
                               'the daemon'),
                              ('lazy pages: the destination 127.0.0.1', slog,
                               "the source's final dump")):
        if not any(text in l and 'TLS session established' in l for l in where.splitlines()):
            raise CheckFailed('%s does not say its TLS session with %s is established'
                              % (what, text.split(': ', 1)[1]))
    if 'memory complete' not in llog:
        raise CheckFailed('the lazy-pages daemon over TLS never said "memory complete"')
    if 'pages served over TLS' not in slog:
        raise CheckFailed('the final dump did not serve its lazy pages over TLS')
    if not wait_until(lambda: state(pid) in (None, 'Z', 'X'), 20):
        raise CheckFailed('the source process %d still runs after the migration' % pid)
    reap_if_child(pid)
    time.sleep(0.5)
    c.verdict(host, 'after the migration over TLS')
