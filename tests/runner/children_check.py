#!/usr/bin/env python3
"""A dump_wrap for tree_churn_children: every dump's images must hold each
long-lived child of the test.

  children_check.py SLOTS [--timed] CRYO dump ARGS...
      runs the dump; when it succeeds, reads pstree.img and each process's
      core-PID.img in the images directory (-D) with pycriu (crit's
      decoder) and checks that for each slot 0..SLOTS-1 a live process
      named "slotNN" is in the tree (the test keeps one alive for every
      slot at all times).  --timed (the test's --timed): also a live
      "spawner" or "orph-x" (the test has one of them at all times).  Exits
      with the dump's status, or 1 naming what is missing."""
import os
import subprocess
import sys

import pycriu.images


def load(path):
    with open(path, 'rb') as f:
        return pycriu.images.load(f)


def images_dir(argv):
    for i, a in enumerate(argv):
        if a in ('-D', '--images-dir') and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith('--images-dir='):
            return a.split('=', 1)[1]
    sys.exit('children_check.py: no -D in the dump command')


def main():
    if len(sys.argv) < 4:
        sys.exit('usage: children_check.py SLOTS CRYO dump ARGS...')
    slots = int(sys.argv[1])
    cmd = sys.argv[2:]
    timed = cmd[0] == '--timed'
    if timed:
        cmd = cmd[1:]
    rc = subprocess.call(cmd)
    if rc != 0:
        return rc
    d = images_dir(cmd)
    found = {}
    for e in load(os.path.join(d, 'pstree.img'))['entries']:
        core = load(os.path.join(d, 'core-%d.img' % e['pid']))['entries'][0]
        tc = core['tc']
        name = tc.get('comm', '')
        # task_state 1: alive; 2: dead (zombie); 3: stopped
        if tc.get('task_state') in (1, 3):
            found.setdefault(name, []).append(e['pid'])
    missing = ['slot%02d' % s for s in range(slots) if 'slot%02d' % s not in found]
    if timed and 'spawner' not in found and 'orph-x' not in found:
        missing.append('spawner or orph-x')
    if missing:
        sys.stderr.write('children_check.py: the dump in %s left out a live child: no %s '
                         'in its images (found: %s)\n' % (d, ', '.join(missing), sorted(found)))
        return 1
    print('children_check.py: all %d long-lived children in the images' % slots, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
