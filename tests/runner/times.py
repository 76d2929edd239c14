#!/usr/bin/python3
"""Sum the phase times that `run.py --times FILE` wrote, per variant.

  tests/runner/times.py FILE [FILE...]

One table per file: for each variant (default, iter2, leave-running, ns,
fault=*, ... and fault:* / real:* for those tests) the number of runs, the
mean seconds of a run and the mean seconds of each phase; then all runs.
"""
import json
import re
import sys

PHASES = ('start', 'dump', 'wait-gone', 'restore', 'check', 'settle', 'verdict',
          'cleanup', 'other')


def variant(tid):
    if tid.startswith(('fault:', 'real:')):
        return tid.split(':', 1)[0] + ':*'
    v = tid.split(':', 1)[1] if ':' in tid else 'default'
    return re.sub(r'fault=[^+]*', 'fault=*', v)


def report(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rows = [r for r in rows if r['result'] != 'SKIP']
    groups = {}
    for r in rows:
        groups.setdefault(variant(r['id']), []).append(r)
    groups['(all)'] = rows
    print('%s: %d runs, %.1f s' % (path, len(rows), sum(r['seconds'] for r in rows)))
    print('%-22s %5s %7s %6s ' % ('variant', 'runs', 'total', 'mean') +
          ' '.join('%9s' % p for p in PHASES))
    for v, rs in sorted(groups.items(), key=lambda kv: -sum(r['seconds'] for r in kv[1])):
        tot = sum(r['seconds'] for r in rs)
        mean = {p: sum(r['phases'].get(p, 0) for r in rs) / len(rs) for p in PHASES}
        print('%-22s %5d %7.1f %6.2f ' % (v, len(rs), tot, tot / len(rs)) +
              ' '.join('%9.3f' % mean[p] for p in PHASES))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    for path in sys.argv[1:]:
        report(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
