#!/usr/bin/python3
"""cryo's libcriu.so driven by a C program built against it.

Runs {BUILD}/tests/libcriu/libcriu_check (tests/libcriu/libcriu_check.c,
which lists its checks) with the cryo under test as the service binary and
tests/progs/anon_mem as the program it dumps and restores.  Its lines are
"PASS libcriu:NAME" / "FAIL libcriu:NAME: why"; SKIP when not root.  The
temporary directory (images, dump.log, restore.log) is kept when a check
failed.  Environment: CRYO, BUILD (as option_effects.py).
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get('BUILD') or os.path.join(SRC_ROOT, 'build'))
CRYO = os.path.abspath(os.environ.get('CRYO') or os.path.join(BUILD, 'cli', 'cryo'))
PROG = os.path.join(BUILD, 'tests', 'progs', 'anon_mem')
CHECK = os.path.join(BUILD, 'tests', 'libcriu', 'libcriu_check')
NAMES = ['version', 'features', 'check', 'no-binary', 'dump-esrch', 'dump-restore', 'notify-fail']


def main():
    if os.geteuid() != 0:
        for n in NAMES:
            print('SKIP libcriu:%s: needs root' % n)
        return 77
    tmp = tempfile.mkdtemp(prefix='cryo-libcriu.')
    try:
        rc = subprocess.run([CHECK, CRYO, PROG, tmp], stdin=subprocess.DEVNULL, timeout=300).returncode
    except subprocess.TimeoutExpired:
        print('FAIL libcriu:timeout: %s ran over 300 s' % CHECK)
        rc = 1
    if rc == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print('# files kept in %s' % tmp)
    return 0 if rc == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
