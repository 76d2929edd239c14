#!/usr/bin/python3
"""Forge the BPF map entries of files.img, then run the restore.

  forge_bpfmap.py WHAT -- CRYO restore -D DIR ...

WHAT:
  token-flag   every BPFMAP file entry's map_flags gets BPF_F_TOKEN_FD
               (1 << 16), which would make BPF_MAP_CREATE take a BPF token
               from a descriptor of the call (map_token_fd, 0: cryo's stdin);
               no dump writes it (the kernel does not keep it in map_flags)

files.img is rewritten with crit; inventory.img is re-encoded by crit, which
drops the image sizes cryo records there (so the refusal under test, not the
size check, answers).  Then execs the command.  Used as restore_wrap by a test
whose restore must be refused.
"""
import json
import os
import subprocess
import sys

CRIT = ['/usr/bin/python3', '/usr/bin/crit']
BPF_F_TOKEN_FD = 1 << 16


def recode(path, change):
    js = json.loads(subprocess.run(CRIT + ['decode', '-i', path], check=True,
                                   capture_output=True, text=True).stdout)
    n = change(js)
    subprocess.run(CRIT + ['encode', '-o', path], input=json.dumps(js), check=True, text=True)
    return n


def token_flag(js):
    n = 0
    for e in js['entries']:
        if 'bpf' in e:
            e['bpf']['map_flags'] = e['bpf'].get('map_flags', 0) | BPF_F_TOKEN_FD
            n += 1
    return n


def main():
    what = sys.argv[1]
    cmd = sys.argv[sys.argv.index('--') + 1:]
    imgdir = cmd[cmd.index('-D') + 1]
    if what != 'token-flag':
        sys.exit('forge_bpfmap.py: unknown forgery %s' % what)
    if not recode(os.path.join(imgdir, 'files.img'), token_flag):
        sys.exit('forge_bpfmap.py: no BPF map entry in %s/files.img' % imgdir)
    recode(os.path.join(imgdir, 'inventory.img'), lambda js: 1)
    os.execvp(cmd[0], cmd)


main()
