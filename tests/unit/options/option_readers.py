#!/usr/bin/python3
"""Every option cryo accepts acts, or is refused: no option is parsed and
then read by nothing.

  option_readers.py CRYO-DOCGEN SOURCE-ROOT

Walks the option table (`cryo-docgen table`) against
tests/unit/options/option-effects.txt:
  - an option that is neither refused (not_yet) nor declared without
    effect (ignored, with the note saying why) must be listed there;
  - its field must be read somewhere outside lib/options (lib/, cli/);
  - one of its listed tests must exist and use it (--NAME, or -X for its
    short name);
  - nothing is listed that the table does not have, or that is refused.
The refusals themselves (command line, configuration file, RPC path) are
checked by test_table.c.
"""
import os
import re
import subprocess
import sys


def main():
    docgen, root = sys.argv[1], sys.argv[2]
    out = subprocess.run([docgen, 'table'], check=True, capture_output=True,
                         text=True).stdout
    table = {}
    for line in out.splitlines():
        name, short, flags, cmds = line.split('\t')
        table[name] = (short, set(flags.split(',')) - {'-'}, cmds)

    listed = {}
    path = os.path.join(root, 'tests/unit/options/option-effects.txt')
    for n, line in enumerate(open(path), 1):
        line = line.split('#', 1)[0].split()
        if not line:
            continue
        if len(line) < 3:
            sys.exit('%s:%d: expected OPTION FIELD TEST...' % (path, n))
        listed[line[0]] = (line[1], line[2:], n)

    # what lib/ and cli/ read, lib/options excepted
    code = []
    for top in ('lib', 'cli'):
        for d, _, files in os.walk(os.path.join(root, top)):
            if os.path.relpath(d, root).startswith('lib/options'):
                continue
            code += [open(os.path.join(d, f), errors='replace').read()
                     for f in files if f.endswith('.c')]
    code = '\n'.join(code)

    bad = []
    for name, (short, flags, cmds) in table.items():
        refused = 'not_yet' in flags
        if name not in listed:
            if not refused and 'ignored' not in flags:
                bad.append('--%s is accepted (for %s) but nothing says what reads it: '
                           'refuse it (OPTF_NOT_YET) or list it in option-effects.txt with '
                           'its field and a test' % (name, cmds))
            continue
        field, tests, n = listed[name]
        if refused:
            bad.append('option-effects.txt:%d: --%s is refused (not_yet) yet listed as '
                       'implemented' % (n, name))
            continue
        if field == '-':
            if 'cmdline' not in flags and name != 'ms':
                bad.append('option-effects.txt:%d: --%s has no field but is not a '
                           'command-line-only option' % (n, name))
        elif not re.search(r'(->|\.)%s\b' % re.escape(field), code):
            bad.append('--%s: its field "%s" is read nowhere outside lib/options'
                       % (name, field))
        pats = [r'--%s\b' % re.escape(name)]
        if short != '-':
            pats.append(r'''(^|[\s'"])-%s''' % re.escape(short))
        shown = False
        for t in tests:
            p = os.path.join(root, 'tests', t)
            if not os.path.exists(p):
                bad.append('option-effects.txt:%d: --%s: no test %s' % (n, name, t))
                continue
            text = open(p, errors='replace').read()
            shown = shown or any(re.search(x, text, re.M) for x in pats)
        if not shown:
            bad.append('option-effects.txt:%d: --%s: none of %s uses it'
                       % (n, name, ' '.join(tests)))
    for name in listed:
        if name not in table:
            bad.append('option-effects.txt: --%s is not in the option table' % name)

    for b in bad:
        print('FAIL', b)
    print('option-readers: %d options, %d listed as implemented, %d refused or '
          'without effect; %d problems' % (
              len(table), len(listed),
              sum(1 for v in table.values() if v[1] & {'not_yet', 'ignored'}), len(bad)))
    sys.exit(1 if bad else 0)


main()
