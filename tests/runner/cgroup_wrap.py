#!/usr/bin/python3
"""Restore wrapper of the cgroup tests (tests/progs/cgroup_*.desc).

cgroup_wrap.py [--remove NAME]... [--remove-after NAME]...
               [--cpuset-parent NAME:CPUS] [--kill-frozen LINK] [--append ARG]...
               -- CMD...

--remove NAME: before CMD, remove the cgroup /NAME (and what is below it) in
  every cgroup hierarchy mounted: the dumped process is gone, so the restore
  must make its cgroups itself.
--cpuset-parent NAME:CPUS: make the v1 cpuset /NAME limited to CPUS (mems 0)
  before CMD and remove it after.
--remove-after NAME: as --remove, after CMD (a refused restore leaves the
  dumped process's cgroups, which nothing else would remove).
--kill-frozen LINK: first run CMD (a dump with --freeze-cgroup) with
  CRYO_FAULT=kill:dump:cgroup-frozen, so that cryo dies with the cgroup
  LINK points to frozen; within 2 s it must be thawed again (cryo's guard),
  else exit 1; then run CMD normally.
--append ARG: add ARG to CMD (e.g. a path under {runner}).
--frozen LINK: freeze the v1 freezer cgroup LINK points to before CMD (a
  paused container) and thaw it after; a CMD that fails must leave it
  frozen (else reported, and exit 0: the runner's refusal check fails), and
  so must a dump with --leave-running that succeeded (else reported, exit 1:
  cryo thaws it to seize the tasks and must freeze it again).
--absent-after NAME: after CMD, if it failed, no hierarchy
  may hold the cgroup /NAME (but --cpuset-parent's own): the failed restore
  must have removed what it made.  If one does, it is reported and the
  wrapper exits 0, which the runner takes for a restore that did not fail.
Runs CMD and exits with its status.
"""
import os
import subprocess
import sys
import time


def mounts():
    out = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            left, right = line.split(' - ', 1)
            fstype = right.split()[0]
            if fstype in ('cgroup', 'cgroup2') and left.split()[3] == '/':
                out.append(left.split()[4])
    return out


def remove(path):
    if not os.path.isdir(path):
        return
    for _ in range(100):
        try:
            for d, subs, _files in os.walk(path, topdown=False):
                os.rmdir(d)
            return
        except OSError:
            time.sleep(0.05)   # a killed task may still hold it
    print('cgroup_wrap: cannot remove %s' % path, file=sys.stderr)


def frozen(cg):
    if os.path.exists(os.path.join(cg, 'cgroup.events')):
        with open(os.path.join(cg, 'cgroup.events')) as f:
            return 'frozen 1' in f.read()
    with open(os.path.join(cg, 'freezer.state')) as f:
        return f.read().strip() != 'THAWED'


def check_kill_frozen(cmd, link):
    cg = os.path.realpath(link)
    env = dict(os.environ, CRYO_FAULT='kill:dump:cgroup-frozen')
    rc = subprocess.call(cmd, env=env)
    if rc != -9:
        print('cgroup_wrap: the dump with CRYO_FAULT=kill:dump:cgroup-frozen ended %d, '
              'not killed' % rc, file=sys.stderr)
        return False
    for _ in range(200):
        if not frozen(cg):
            print('cgroup_wrap: cryo killed with %s frozen: thawed again' % cg,
                  file=sys.stderr)
            return True
        time.sleep(0.01)
    print('cgroup_wrap: cryo killed with %s frozen: still frozen after 2 s' % cg,
          file=sys.stderr)
    return False


def main():
    args = sys.argv[1:]
    removes, after, parent, kill_frozen, extra, absent = [], [], None, None, [], []
    paused = None
    while args and args[0] != '--':
        if args[0] == '--remove':
            removes.append(args[1])
        elif args[0] == '--remove-after':
            after.append(args[1])
        elif args[0] == '--frozen':
            paused = os.path.realpath(args[1])
        elif args[0] == '--absent-after':
            absent.append(args[1])
        elif args[0] == '--append':
            extra.append(args[1])
        elif args[0] == '--kill-frozen':
            kill_frozen = args[1]
        elif args[0] == '--cpuset-parent':
            parent = args[1]
        else:
            sys.exit('cgroup_wrap: unknown option %s' % args[0])
        args = args[2:]
    cmd = args[1:] + extra
    for name in removes:
        for m in mounts():
            remove(os.path.join(m, name))
    pdir = None
    if parent:
        name, cpus = parent.split(':')
        pdir = os.path.join('/sys/fs/cgroup/cpuset', name)
        os.makedirs(pdir, exist_ok=True)
        for f, v in (('cpuset.cpus', cpus), ('cpuset.mems', '0')):
            with open(os.path.join(pdir, f), 'w') as fh:
                fh.write(v)
    if kill_frozen and not check_kill_frozen(cmd, kill_frozen):
        sys.exit(1)
    if paused:
        with open(os.path.join(paused, 'freezer.state'), 'w') as f:
            f.write('FROZEN')
    try:
        rc = subprocess.call(cmd)
        if paused and rc != 0 and not frozen(paused):
            print('cgroup_wrap: the refused dump thawed %s, which it did not freeze' % paused,
                  file=sys.stderr)
            rc = 0
        if paused and rc == 0 and '--leave-running' in cmd and not frozen(paused):
            print('cgroup_wrap: the dump with --leave-running left %s thawed; it was frozen '
                  'before the dump' % paused, file=sys.stderr)
            rc = 1
        left = [os.path.join(m, n) for n in absent for m in mounts()
                if rc != 0 and os.path.isdir(os.path.join(m, n)) and
                os.path.join(m, n) != pdir]
        if left:
            print('cgroup_wrap: the failed restore left cgroups behind: %s' % ' '.join(left),
                  file=sys.stderr)
            rc = 0
    finally:
        if paused:
            with open(os.path.join(paused, 'freezer.state'), 'w') as f:
                f.write('THAWED')
        if pdir:
            remove(pdir)
        for name in after:
            for m in mounts():
                remove(os.path.join(m, name))
    sys.exit(rc)


if __name__ == '__main__':
    main()
