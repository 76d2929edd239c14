#!/usr/bin/python3
"""Forge images that record a namespace, then run the restore.

  forge_ns.py KIND -- CRYO restore -D DIR ...

Rewrites, with crit (CRIU's own decoder, an independent encoder), every
core image in DIR that carries kernel object ids so that its KIND_ns_id
(net, ipc, uts, mnt, user, cgroup, time, pid) differs from the dump's root
namespace (inventory root_ids), as images of a process in a namespace of
its own would; inventory.img is re-encoded by crit too, which drops the
image sizes cryo records there (so the refusal under test, not the size
check, answers); then execs the command.  Used as restore_wrap by tests
whose restore must refuse such images before creating any process.
"""
import glob
import json
import os
import subprocess
import sys

CRIT = ['/usr/bin/python3', '/usr/bin/crit']


def main():
    kind = sys.argv[1]
    cmd = sys.argv[sys.argv.index('--') + 1:]
    imgdir = cmd[cmd.index('-D') + 1]
    field = '%s_ns_id' % kind
    forged = 0
    for core in glob.glob(os.path.join(imgdir, 'core-*.img')):
        img = json.loads(subprocess.run(CRIT + ['decode', '-i', core], check=True,
                                        capture_output=True, text=True).stdout)
        ids = img['entries'][0].get('ids')
        if not ids or field not in ids:
            continue
        ids[field] += 1000
        subprocess.run(CRIT + ['encode', '-o', core], input=json.dumps(img), check=True,
                       text=True)
        forged += 1
    if not forged:
        sys.exit('forge_ns.py: no core image in %s has %s' % (imgdir, field))
    inv = os.path.join(imgdir, 'inventory.img')
    img = subprocess.run(CRIT + ['decode', '-i', inv], check=True, capture_output=True,
                         text=True).stdout
    subprocess.run(CRIT + ['encode', '-o', inv], input=img, check=True, text=True)
    os.execvp(cmd[0], cmd)


main()
