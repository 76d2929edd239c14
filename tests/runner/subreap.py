#!/usr/bin/python3
"""Run a command as a child subreaper and report what it leaves behind.

  subreap.py REPORT.json -- COMMAND [ARGS...]

Becomes a child subreaper (PR_SET_CHILD_SUBREAPER), runs COMMAND and waits
for it.  Whatever COMMAND started and did not take down with it is then
reparented here instead of to pid 1: every such process (alive or zombie)
is recorded in REPORT.json as {"rc": N, "left": [[pid, state, comm], ...]},
then killed (SIGKILL, by pid: they are descendants of COMMAND, which this
script started) and reaped.  Exits with COMMAND's exit status (128+signal
if it was killed).

The fault-injection tests run a restore that must fail through it: "no
process is left" then means REPORT's "left" is empty.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children():
    """[(pid, state, comm)] of processes whose parent is this one."""
    me = os.getpid()
    res = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index('(') + 1:s.rindex(')')]
        rest = s[s.rindex(')') + 2:].split()
        if int(rest[1]) == me:
            res.append((int(d), rest[0], comm))
    return sorted(res)


def main():
    if len(sys.argv) < 4 or sys.argv[2] != '--':
        print(__doc__, file=sys.stderr)
        return 2
    report, cmd = sys.argv[1], sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0):
        print('subreap: prctl(PR_SET_CHILD_SUBREAPER): %s'
              % os.strerror(ctypes.get_errno()), file=sys.stderr)
        return 125
    # The runner kills this process group on a timeout: pass SIGTERM on.
    p = subprocess.Popen(cmd)
    signal.signal(signal.SIGTERM, lambda s, f: p.kill())
    rc = p.wait()
    if rc < 0:
        rc = 128 - rc
    # A grandchild that COMMAND killed on its way out may still be dying:
    # record what is there now, then take everything down.
    left = children()
    for pid, _, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.02)
    with open(report, 'w') as f:
        json.dump({'rc': rc, 'left': left}, f)
    return rc


if __name__ == '__main__':
    sys.exit(main())
