#!/usr/bin/env python3
"""dump_wrap / restore_wrap for tests holding an external terminal
(tests/progs/tty_external.c).

  ext_tty.py dump CRYO-COMMAND...     adds --external tty[RDEV:DEV]
  ext_tty.py restore CRYO-COMMAND...  opens the terminal (O_NOCTTY) at fd 7
                                      and adds --inherit-fd fd[7]:tty[RDEV:DEV]

The test writes the key and the terminal's path into tty_external.key in
its working directory, the parent of the images directory (-D)."""
import os
import sys

INHERIT_FD = 7


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ('dump', 'restore'):
        sys.exit('usage: ext_tty.py dump|restore CRYO-COMMAND...')
    mode, cmd = sys.argv[1], sys.argv[2:]
    imgdir = cmd[cmd.index('-D') + 1]
    keyfile = os.path.join(os.path.dirname(os.path.abspath(imgdir)), 'tty_external.key')
    with open(keyfile) as f:
        key, path = f.read().split()[:2]
    if mode == 'dump':
        cmd += ['--external', key]
    else:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        if fd != INHERIT_FD:
            os.dup2(fd, INHERIT_FD)
            os.close(fd)
        os.set_inheritable(INHERIT_FD, True)
        cmd += ['--inherit-fd', 'fd[%d]:%s' % (INHERIT_FD, key)]
    os.execv(cmd[0], cmd)


if __name__ == '__main__':
    main()
