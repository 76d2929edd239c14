"""Tests run under a pseudo-terminal (.desc key tty = yes), as a shell job.

A "terminal session" is a new pty and a leader process (a fork of the
runner) that starts a session with the pty as its controlling terminal,
runs one command in it (in its own process group, which is made the
foreground group, as a shell does for a foreground job) and then stays,
so the terminal and the session outlive the command.  What is written to
the terminal is copied to a log file by a thread reading the master.

run.py uses it for two things when a test has tty = yes:
  - the test program starts in one terminal session, with the pty as its
    stdin, stdout and stderr (the program must keep its session: see
    TEST_NO_SETSID in tests/lib/zdtmtst.h);
  - cryo restore runs in another one, with the pty as its stdin (its output
    goes to the usual file), so --shell-job gives the restored tree that
    terminal, and the restored tree joins that session.
The dump needs no terminal (it is run as usual, with --shell-job from the
test's dump_opts).
"""

import fcntl
import os
import select
import signal
import subprocess
import termios
import threading
import time


def _foreground():
    """In the new job, before exec: its group takes the terminal (stdin), as
    a shell does for a foreground job."""
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.tcsetpgrp(0, os.getpgrp())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)


class TerminalSession:
    def __init__(self, logpath):
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)
        self.log = open(logpath, 'ab')
        self.logpath = logpath
        self.leader = None
        self.reader = None

    def run(self, cmd, cwd, env, out_path, timeout, stdio_all):
        """Run @cmd in the session: stdin on the pty; stdout and stderr on
        the pty too if @stdio_all, else appended to @out_path.  Returns its
        exit status (None on timeout: its process group is killed)."""
        rpipe, wpipe = os.pipe()
        pid = os.fork()
        if pid == 0:        # the leader: no return from here
            code = 1
            try:
                os.close(rpipe)
                os.close(self.master)
                os.setsid()
                fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
                out = None if stdio_all else open(out_path, 'ab')
                p = subprocess.Popen(cmd, stdin=self.slave,
                                     stdout=self.slave if stdio_all else out,
                                     stderr=self.slave if stdio_all else subprocess.STDOUT,
                                     cwd=cwd, env=env, process_group=0,
                                     preexec_fn=_foreground)
                try:
                    rc = p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    p.wait()
                    rc = 'timeout'
                os.write(wpipe, str(rc).encode())
                os.close(wpipe)
                while True:         # keep the session (and its terminal)
                    signal.pause()
            except BaseException:
                pass
            os._exit(code)
        os.close(wpipe)
        self.leader = pid
        if self.reader is None:
            self.reader = threading.Thread(target=self._copy, daemon=True)
            self.reader.start()
        deadline = time.time() + timeout + 5
        data = b''
        while time.time() < deadline:
            r, _, _ = select.select([rpipe], [], [], 0.5)
            if r:
                chunk = os.read(rpipe, 64)
                if not chunk:
                    break
                data += chunk
        os.close(rpipe)
        text = data.decode(errors='replace')
        return int(text) if text.lstrip('-').isdigit() else None

    def _copy(self):
        while True:
            try:
                b = os.read(self.master, 4096)
            except OSError:
                return
            if not b:
                return
            self.log.write(b)
            self.log.flush()

    def output(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def close(self):
        if self.leader:
            try:
                os.kill(self.leader, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(self.leader, 0)
            except OSError:
                pass
            self.leader = None
        for fd in (self.slave, self.master):
            try:
                os.close(fd)
            except OSError:
                pass
        self.slave = self.master = -1
        if self.reader:
            self.reader.join(2)
        self.log.close()


def close_all(sessions):
    while sessions:
        sessions.pop().close()
