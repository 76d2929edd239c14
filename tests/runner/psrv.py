"""A `cryo page-server` for one dump (run.py's page-server variant,
page_server.py): started on 127.0.0.1 on a free port, ready once it wrote
its --status-fd byte; finish() waits for it to exit after the dump."""

import os
import socket
import subprocess
import time


def free_port():
    """A TCP port nothing listens on now (the kernel's pick; another process
    could take it before the server binds it: rare, and then the server
    fails to start, saying so)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PageServer:
    def __init__(self, cryo, imgdir, out_path, extra=(), timeout=30, log_dir=None):
        self.port = free_port()
        self.out_path = out_path
        r, w = os.pipe()
        self.log_path = os.path.join(log_dir or imgdir, os.path.basename(out_path) + '.log')
        cmd = [cryo, 'page-server', '-D', imgdir, '--address', '127.0.0.1',
               '--port', str(self.port), '--status-fd', str(w), '-v4',
               '-o', self.log_path] + list(extra)
        with open(out_path, 'w') as out:
            self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, pass_fds=(w,), cwd=imgdir)
        os.close(w)
        ready = b''
        deadline = time.time() + timeout
        while time.time() < deadline:
            import select
            rl, _, _ = select.select([r], [], [], 0.1)
            if rl:
                ready = os.read(r, 1)
                break
            if self.p.poll() is not None:
                break
        os.close(r)
        if ready != b'\0':
            self.kill()
            raise RuntimeError('cryo page-server did not become ready (exit %s): %s'
                               % (self.p.returncode, self.output()))

    def args(self):
        return ['--page-server', '--address', '127.0.0.1', '--port', str(self.port)]

    def output(self):
        try:
            with open(self.out_path) as f:
                out = f.read()
        except OSError:
            out = ''
        try:
            with open(self.log_path) as f:
                out += f.read()
        except OSError:
            pass
        return out

    def finish(self, timeout=30):
        """The server's exit status once the dump is over (None: it hung and
        was killed)."""
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
