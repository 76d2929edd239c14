#!/usr/bin/python3
"""cryo's libcriu.so driven by a C program built against it.

Runs tests/libcriu/libcriu_check.c (it lists its checks) with the cryo
under test as the service binary and tests/progs/anon_mem as the program it
dumps and restores, in each build tests/libcriu/meson.build made:
  ours     our criu.h and libcriu.so
  criuh    criu's criu.h (Debian's package criu), our libcriu.so
  criulib  criu's criu.h and criu's libcriu.so (checks the checks)
Lines "PASS libcriu:VARIANT/NAME" / "FAIL libcriu:VARIANT/NAME: why"; SKIP
when not root.  The temporary directory (images, dump.log, restore.log) is
kept when a check failed.  Environment: CRYO, BUILD (as option_effects.py).
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
VARIANTS = [('ours', 'libcriu_check'), ('criuh', 'libcriu_check_criuh'),
            ('criulib', 'libcriu_check_criulib')]
NAMES = ['version', 'features', 'check', 'no-binary', 'dump-esrch', 'dump-restore', 'notify-fail']


def main():
    if os.geteuid() != 0:
        for v, _ in VARIANTS:
            for n in NAMES:
                print('SKIP libcriu:%s/%s: needs root' % (v, n))
        return 77
    only = sys.argv[1:]
    failed = False
    for variant, exe in VARIANTS:
        if only and variant not in only:
            continue
        path = os.path.join(BUILD, 'tests', 'libcriu', exe)
        if not os.path.exists(path):
            if variant == 'ours':
                print('FAIL libcriu:ours/build: %s is missing' % path)
                failed = True
            else:
                print('# libcriu:%s not built (criu\'s criu.h or libcriu.so missing)' % variant)
            continue
        tmp = tempfile.mkdtemp(prefix='cryo-libcriu-%s.' % variant)
        try:
            rc = subprocess.run([path, CRYO, PROG, tmp, variant], stdin=subprocess.DEVNULL,
                                timeout=300).returncode
        except subprocess.TimeoutExpired:
            print('FAIL libcriu:%s/timeout: %s ran over 300 s' % (variant, path))
            rc = 1
        sys.stdout.flush()
        if rc == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print('# files kept in %s' % tmp)
            failed = True
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
