#!/usr/bin/python3
"""crit oracle: cryo's image writer and `show` must agree with CRIU's crit.

Usage: crit_oracle.py IMAGES_TOOL

Writes a sample of every image kind cryo writes (images-tool gen), then for
each file compares, after parsing both JSON texts:
  crit decode -i F            with  images-tool show --plain --payload F
  crit decode -i F --pretty   with  images-tool show --payload F
  crit show --nopl F          with  images-tool show F
crit must also decode every file without error, and the parsed JSON must be
equal: no normalization is needed (hex strings, flag names, devices, IP
addresses and payload summaries all match crit's), except that fields named
cryo_* are cryo's own extensions (high field numbers crit skips) and may
appear only in cryo's output.  Exit 77 (skip) when crit is not installed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CRIT = '/usr/bin/crit'
PY = '/usr/bin/python3'


def diff(a, b, path='$'):
    """First difference between two JSON values, as text."""
    if type(a) != type(b):
        return '%s: crit %r, cryo %r' % (path, a, b)
    if isinstance(a, dict):
        for k in a:
            if k not in b:
                return '%s.%s: only in crit (%r)' % (path, k, a[k])
        for k in b:
            if k not in a and not k.startswith('cryo_'):
                return '%s.%s: only in cryo (%r)' % (path, k, b[k])
        for k in a:
            d = diff(a[k], b[k], path + '.' + k)
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return '%s: %d items in crit, %d in cryo' % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, '%s[%d]' % (path, i))
            if d:
                return d
        return None
    return None if a == b else '%s: crit %r, cryo %r' % (path, a, b)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(cmd), p.returncode,
                                                   p.stderr.decode(errors='replace')))
    return json.loads(p.stdout)


def main():
    tool = sys.argv[1]
    if not os.access(CRIT, os.X_OK) or not os.access(PY, os.X_OK):
        print('SKIP: crit (Debian package criu) is not installed')
        return 77
    try:
        subprocess.run([PY, '-c', 'import pycriu'], check=True,
                       stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        print('SKIP: %s cannot import pycriu' % PY)
        return 77

    tmp = tempfile.mkdtemp(prefix='cryo-crit-')
    failures = compared = 0
    try:
        subprocess.run([tool, 'gen', tmp, '--crit'], check=True)
        names = sorted(os.listdir(tmp))
        for name in names:
            path = os.path.join(tmp, name)
            if name.startswith('pages-'):
                continue  # raw; crit cannot decode it either
            modes = [
                ([CRIT, 'decode', '-i', path], ['--plain', '--payload']),
                ([CRIT, 'decode', '-i', path, '--pretty'], ['--payload']),
                ([CRIT, 'show', '--nopl', path], []),
            ]
            if name == 'bpfmap-data.img':
                # crit's own bug: its payload skipper for BPFMAP_DATA reads
                # a 'bytes' field that bpfmap_data_entry does not have
                # (AttributeError), so --nopl can't decode any such image
                modes.pop()
            for crit_args, cryo_args in modes:
                what = '%s (%s)' % (name, ' '.join(crit_args[1:-1]))
                try:
                    a = run([PY] + crit_args)
                    b = run([tool, 'show'] + cryo_args + [path])
                except (RuntimeError, ValueError) as e:
                    print('FAIL %s: %s' % (what, e))
                    failures += 1
                    continue
                compared += 1
                d = diff(a, b)
                if d:
                    print('FAIL %s: %s' % (what, d))
                    failures += 1
        # A whole directory at once: one object keyed by file name.
        whole = run([tool, 'show', tmp])
        want = set(n for n in names)
        if set(whole) != want:
            print('FAIL directory show: keys %s, files %s' % (sorted(whole), sorted(want)))
            failures += 1
    finally:
        shutil.rmtree(tmp)
    print('%d comparisons with crit, %d failures' % (compared, failures))
    return 1 if failures or not compared else 0


if __name__ == '__main__':
    sys.exit(main())
