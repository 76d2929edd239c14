#!/usr/bin/python3
"""Forge images that carry an LSM label, then run the restore.

  forge_lsm.py TYPE LABEL -- CRYO restore -D DIR ...

Rewrites, with crit (CRIU's own decoder, an independent encoder), inventory.img
so that its lsmtype is TYPE (SELINUX, APPARMOR) and every thread's credentials
in the core images so that their lsm_profile is LABEL, as images dumped on a
host with that LSM active would be; then execs the command.  Used as
restore_wrap by tests whose restore must refuse such images here (this host
has no LSM active) before creating any process, or must restore them with
--lsm-profile none:.
"""
import glob
import json
import os
import subprocess
import sys

CRIT = ['/usr/bin/python3', '/usr/bin/crit']


def crit(op, path, data=None):
    if op == 'decode':
        return json.loads(subprocess.run(CRIT + ['decode', '-i', path], check=True,
                                         capture_output=True, text=True).stdout)
    subprocess.run(CRIT + ['encode', '-o', path], input=json.dumps(data), check=True,
                   text=True)


def main():
    lsmtype, label = sys.argv[1], sys.argv[2]
    cmd = sys.argv[sys.argv.index('--') + 1:]
    imgdir = cmd[cmd.index('-D') + 1]
    forged = 0
    for core in glob.glob(os.path.join(imgdir, 'core-*.img')):
        img = crit('decode', core)
        creds = img['entries'][0].get('thread_core', {}).get('creds')
        if creds is None:
            continue
        creds['lsm_profile'] = label
        crit('encode', core, img)
        forged += 1
    if not forged:
        sys.exit('forge_lsm.py: no core image in %s has credentials' % imgdir)
    inv = os.path.join(imgdir, 'inventory.img')
    img = crit('decode', inv)
    img['entries'][0]['lsmtype'] = lsmtype
    crit('encode', inv, img)
    os.execvp(cmd[0], cmd)


main()
