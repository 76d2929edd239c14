"""A TCP proxy on 127.0.0.1 that keeps every byte it forwards, to show what
went over the wire (page_server.py's TLS checks), and a parser of TLS
records: a capture that is not a sequence of TLS records (a plaintext
stream) fails the check, so a TLS silently skipped does not pass."""

import socket
import threading


class Proxy:
    """Listens on a free port; each connection it accepts is joined to
    (host, port).  up/down: the bytes of every connection, client to server
    and back, in order."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.lsk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsk.bind(('127.0.0.1', 0))
        self.lsk.listen(4)
        self.port = self.lsk.getsockname()[1]
        self.up, self.down = [], []
        self.conns = 0
        self.closed = False
        self.threads = []
        self.socks = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsk.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.target, timeout=10)
                s.settimeout(None)
            except OSError:
                c.close()
                continue
            self.conns += 1
            self.socks += [c, s]
            up, down = bytearray(), bytearray()
            self.up.append(up)
            self.down.append(down)
            for a, b, buf in ((c, s, up), (s, c, down)):
                t = threading.Thread(target=self._pump, args=(a, b, buf), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pump(a, b, buf):
        try:
            while True:
                d = a.recv(1 << 16)
                if not d:
                    break
                buf += d
                b.sendall(d)
        except OSError:
            pass
        for s, how in ((b, socket.SHUT_WR), (a, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass

    def close(self):
        """Once both ends are done: what is left open (a peer's copy of
        its socket in another process) is cut."""
        if self.closed:
            return
        self.closed = True
        for s in [self.lsk] + self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(2)
        for s in [self.lsk] + self.socks:
            s.close()


def tls_records(data):
    """None if @data is a sequence of TLS records (the last one may be cut:
    a capture can end in the middle), else what is wrong with it."""
    i, n = 0, 0
    while i + 5 <= len(data):
        ctype, major, minor = data[i], data[i + 1], data[i + 2]
        length = data[i + 3] << 8 | data[i + 4]
        if ctype not in (20, 21, 22, 23) or major != 3 or minor > 4 or length > (1 << 14) + 2048:
            return 'byte %d (record %d) is not a TLS record header: %s' % (
                i, n, data[i:i + 8].hex())
        i += 5 + length
        n += 1
    if not n:
        return 'no TLS record in %d bytes' % len(data)
    if data[0] != 22:
        return 'the stream does not begin with a handshake record: %s' % data[:8].hex()
    return None


def check_tls_streams(proxy, min_bytes, what, up=False):
    """Every connection through @proxy was TLS both ways, and at least
    @min_bytes went down in all (@up: client to server).  Returns a short
    summary; raises ValueError naming the problem."""
    if not proxy.conns:
        raise ValueError('%s: nothing connected through the proxy' % what)
    for k, (cs, sc) in enumerate(zip(proxy.up, proxy.down)):
        for d, name in ((bytes(cs), 'client to server'), (bytes(sc), 'server to client')):
            bad = tls_records(d)
            if bad:
                raise ValueError('%s, connection %d, %s (%d bytes): %s'
                                 % (what, k, name, len(d), bad))
    total = sum(len(d) for d in (proxy.up if up else proxy.down))
    if total < min_bytes:
        raise ValueError('%s: only %d bytes went to the %s, expected at least %d'
                         % (what, total, 'server' if up else 'client', min_bytes))
    return '%d connection(s), %d bytes up, %d down, all TLS records' % (
        proxy.conns, sum(len(d) for d in proxy.up), sum(len(d) for d in proxy.down))
