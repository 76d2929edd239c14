#!/usr/bin/python3
"""Forge the dump's clocks, then run the restore.

  forge_clocks.py SECONDS -- CRYO restore -D DIR ...

Rewrites, with crit (CRIU's own decoder, an independent encoder),
timens-0.img in DIR -- the CLOCK_MONOTONIC and CLOCK_BOOTTIME values of
the dumping tool's time namespace at the dump -- SECONDS later, as if the
dump had been taken on a machine up that much longer (a restore after a
reboot); inventory.img is re-encoded by crit too, which drops the image
sizes cryo records there; then execs the command.
"""
import json
import os
import subprocess
import sys

CRIT = ['/usr/bin/python3', '/usr/bin/crit']


def main():
    secs = int(sys.argv[1])
    cmd = sys.argv[sys.argv.index('--') + 1:]
    imgdir = cmd[cmd.index('-D') + 1]
    path = os.path.join(imgdir, 'timens-0.img')
    if not os.path.exists(path):
        sys.exit('forge_clocks.py: no %s' % path)
    img = json.loads(subprocess.run(CRIT + ['decode', '-i', path], check=True,
                                    capture_output=True, text=True).stdout)
    e = img['entries'][0]
    for clock in ('monotonic', 'boottime'):
        e[clock]['tv_sec'] = int(e[clock]['tv_sec']) + secs
    subprocess.run(CRIT + ['encode', '-o', path], input=json.dumps(img), check=True, text=True)
    inv = os.path.join(imgdir, 'inventory.img')
    img = subprocess.run(CRIT + ['decode', '-i', inv], check=True, capture_output=True,
                         text=True).stdout
    subprocess.run(CRIT + ['encode', '-o', inv], input=img, check=True, text=True)
    os.execvp(cmd[0], cmd)


main()
