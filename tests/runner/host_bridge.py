#!/usr/bin/python3
"""A bridge in cryo's network namespace for the length of a restore, for
tests/progs/ns_net_veth_bridge (cryo's --external veth[IN]:OUT@BRIDGE).

  host_bridge.py BRIDGE OUT -- CRYO restore ...
      makes bridge BRIDGE, runs the restore, then checks that the veth's
      host end OUT is a port of BRIDGE (exit 1 if not, or the restore's
      own status) and removes the bridge (its ports are let go; OUT goes
      with the restored namespace).
"""
import subprocess
import sys

IP = '/sbin/ip'


def main():
    if len(sys.argv) < 5 or sys.argv[3] != '--':
        sys.exit('usage: host_bridge.py BRIDGE OUT -- CMD...')
    br, out, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
    subprocess.run([IP, 'link', 'add', br, 'type', 'bridge'], check=True)
    try:
        rc = subprocess.run(cmd).returncode
        if rc == 0:
            link = subprocess.run([IP, '-o', 'link', 'show', out], capture_output=True,
                                  text=True).stdout
            if ' master %s ' % br not in link:
                print('host_bridge.py: %s is not a port of %s after the restore: %s'
                      % (out, br, link.strip()), file=sys.stderr)
                rc = 1
    finally:
        subprocess.run([IP, 'link', 'del', br])
    return rc


if __name__ == '__main__':
    sys.exit(main())
