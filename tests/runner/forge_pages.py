#!/usr/bin/python3
"""Forge pagemap images whose pages are elsewhere, then run the restore.

  forge_pages.py parent|lazy -- CRYO restore -D DIR ...

Rewrites, with crit (CRIU's own decoder, an independent encoder), the
last entry of every process's pagemap-PID.img in DIR: "parent" makes it a
PE_PARENT entry (its pages in a previous dump's images: an incremental
dump, as criu --prev-images-dir writes), "lazy" a PE_LAZY|PE_PRESENT one
(served by a lazy-pages daemon).  inventory.img is re-encoded by crit too,
which drops the image sizes cryo records there (so the refusal under test,
not the size check, answers); then execs the command.  Used as
restore_wrap by tests whose restore must refuse such images.
"""
import glob
import json
import os
import subprocess
import sys

CRIT = ['/usr/bin/python3', '/usr/bin/crit']
FLAGS = {'parent': 1, 'lazy': 2 | 4}    # PE_PARENT; PE_LAZY | PE_PRESENT


def main():
    flags = FLAGS[sys.argv[1]]
    cmd = sys.argv[sys.argv.index('--') + 1:]
    imgdir = cmd[cmd.index('-D') + 1]
    forged = 0
    for pm in glob.glob(os.path.join(imgdir, 'pagemap-[0-9]*.img')):
        img = json.loads(subprocess.run(CRIT + ['decode', '-i', pm], check=True,
                                        capture_output=True, text=True).stdout)
        ents = img['entries']
        if len(ents) < 2:
            continue
        ents[-1]['flags'] = flags
        subprocess.run(CRIT + ['encode', '-o', pm], input=json.dumps(img), check=True,
                       text=True)
        forged += 1
    if not forged:
        sys.exit('forge_pages.py: no pagemap image in %s has an entry' % imgdir)
    inv = os.path.join(imgdir, 'inventory.img')
    img = subprocess.run(CRIT + ['decode', '-i', inv], check=True, capture_output=True,
                         text=True).stdout
    subprocess.run(CRIT + ['encode', '-o', inv], input=img, check=True, text=True)
    os.execvp(cmd[0], cmd)


main()
