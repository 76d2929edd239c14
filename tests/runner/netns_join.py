#!/usr/bin/python3
"""Network namespaces that exist already, for tests/progs/ns_net_external
and ns_net_join (cryo's --external net[INODE]:KEY, --inherit-fd, --join-ns).

  netns_join.py external KEY -- CRYO dump -t PID ...
      adds --external net[INODE]:KEY, INODE being PID's network namespace
  netns_join.py inherit KEY -- CRYO restore ...
  netns_join.py join -- CRYO restore ...
      makes a network namespace set up as tests/progs/ns_net.c expects it
      (a namespace that is joined gets nothing from the images: lo up with
      MTU 60000, its addresses, routes and sysctls), then runs the restore
      into it, given as --inherit-fd fd[N]:KEY (N: this process's
      descriptor on it, inherited by cryo) or --join-ns net:/proc/self/fd/N.

The namespace is made by this process itself (unshare, then setns back),
so nothing is left behind: it lives as long as a descriptor or a process
is in it.
"""
import ctypes
import os
import subprocess
import sys

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        sys.exit('netns_join.py: %s: %s' % (what, os.strerror(err)))


def make_netns():
    home = os.open('/proc/self/ns/net', os.O_RDONLY)
    check(libc.unshare(CLONE_NEWNET), 'unshare(CLONE_NEWNET)')
    ip = '/sbin/ip'
    for args in (['link', 'set', 'lo', 'up', 'mtu', '60000'],
                 ['addr', 'add', '10.77.0.1/24', 'dev', 'lo'],
                 ['addr', 'add', 'fd00:77::1/64', 'dev', 'lo', 'nodad'],
                 ['route', 'add', '10.78.0.0/16', 'via', '10.77.0.2', 'dev', 'lo'],
                 ['-6', 'route', 'add', 'fd00:78::/64', 'dev', 'lo', 'metric', '77'],
                 ['rule', 'add', 'from', '10.77.0.0/24', 'lookup', '100', 'priority', '1000'],
                 ['-6', 'rule', 'add', 'from', 'fd00:77::/64', 'lookup', '200', 'priority',
                  '2000']):
        subprocess.run([ip] + args, check=True)
    subprocess.run(['/usr/sbin/iptables', '-A', 'INPUT', '-s', '10.99.0.0/16', '-j', 'DROP'],
                   check=True)
    for name, val in (('core/somaxconn', '777'), ('unix/max_dgram_qlen', '77'),
                      ('ipv4/conf/all/log_martians', '1'),
                      ('ipv4/conf/lo/route_localnet', '1'),
                      ('ipv6/conf/lo/hop_limit', '33')):
        with open('/proc/sys/net/' + name, 'w') as f:
            f.write(val)
    fd = os.open('/proc/self/ns/net', os.O_RDONLY)
    check(libc.setns(home, CLONE_NEWNET), 'setns back')
    os.close(home)
    os.set_inheritable(fd, True)
    return fd


def main():
    mode = sys.argv[1]
    cmd = sys.argv[sys.argv.index('--') + 1:]
    if mode == 'external':
        pid = cmd[cmd.index('-t') + 1]
        ino = os.stat('/proc/%s/ns/net' % pid).st_ino
        cmd += ['--external', 'net[%d]:%s' % (ino, sys.argv[2])]
    elif mode == 'inherit':
        fd = make_netns()
        cmd += ['--inherit-fd', 'fd[%d]:%s' % (fd, sys.argv[2])]
    elif mode == 'join':
        fd = make_netns()
        cmd += ['--join-ns', 'net:/proc/self/fd/%d' % fd]
    else:
        sys.exit('netns_join.py: unknown mode %s' % mode)
    os.execvp(cmd[0], cmd)


main()
