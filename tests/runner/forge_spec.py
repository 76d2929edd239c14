#!/usr/bin/python3
"""Forge images whose threads had a speculation control set, then run the
restore.

  forge_spec.py VALUE -- CRYO restore -D DIR ...

Appends to the core_entry of every core-*.img a thread_core holding only
cryo's extension field cryo_spec_store_bypass (1008) = VALUE (e.g. 5:
PR_SPEC_PRCTL | PR_SPEC_DISABLE), as a dump on a machine whose CPU lets a
task control speculative store bypass writes it.  (crit can't encode a
field criu does not know; protobuf merges a second occurrence of a message
field into the first.)  inventory.img is re-encoded by crit, which drops
the image sizes cryo records there (so the refusal under test, not the
size check, answers).  Then execs the command.  Used as restore_wrap by a
test whose restore must fail on a machine where a task can't control it.
"""
import glob
import os
import struct
import subprocess
import sys

CRIT = ['/usr/bin/python3', '/usr/bin/crit']

COMMON, SERVICE = 0x54564319, 0x55105940


def varint(v):
    out = b''
    while True:
        b = v & 0x7f
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def forge(path, value):
    with open(path, 'rb') as f:
        data = f.read()
    off = 4
    if struct.unpack_from('<I', data, 0)[0] in (COMMON, SERVICE):
        off = 8
    size = struct.unpack_from('<I', data, off)[0]
    payload = data[off + 4:off + 4 + size]
    inner = varint(1008 << 3) + varint(value)
    payload += varint(5 << 3 | 2) + varint(len(inner)) + inner
    with open(path, 'wb') as f:
        f.write(data[:off] + struct.pack('<I', len(payload)) + payload + data[off + 4 + size:])


def main():
    value = int(sys.argv[1], 0)
    cmd = sys.argv[sys.argv.index('--') + 1:]
    imgdir = cmd[cmd.index('-D') + 1]
    cores = glob.glob(os.path.join(imgdir, 'core-*.img'))
    if not cores:
        sys.exit('forge_spec.py: no core image in %s' % imgdir)
    for core in cores:
        forge(core, value)
    inv = os.path.join(imgdir, 'inventory.img')
    js = subprocess.run(CRIT + ['decode', '-i', inv], check=True, capture_output=True,
                        text=True).stdout
    subprocess.run(CRIT + ['encode', '-o', inv], input=js, check=True, text=True)
    os.execvp(cmd[0], cmd)


main()
