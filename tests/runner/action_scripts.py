#!/usr/bin/env python3
"""--action-script (criu's action scripts), as a dump_wrap or restore_wrap:

  action_scripts.py dump [fail=ACTION] CRYO dump ARGS...
  action_scripts.py restore [fail=ACTION] CRYO restore ARGS...
      runs the command with --action-script naming this file in "log" mode:
      each run appends the action and its CRTOOLS_* environment to
      action-scripts.log in the working directory (the images directory's
      parent) and prints a line to stdout (which goes to cryo's log); with
      fail=ACTION the script exits 1 at that action.  Then checks the
      sequence of actions (criu's, up to the failing one), that
      CRTOOLS_IMAGE_DIR is the images directory, that CRTOOLS_INIT_PID is
      the tree's root (absent at pre-restore, before the root exists), that
      stdin was /dev/null and that the output reached the log.  Exits with
      the command's status, or 1 (with a message) when a check fails.
  action_scripts.py log LOGFILE [FAIL-ACTION]
      the script itself."""
import json
import os
import subprocess
import sys

HERE = os.path.abspath(__file__)
CRIT = ['/usr/bin/python3', '/usr/bin/crit']
SEQ = {
    'dump': ['pre-dump', 'post-dump'],
    'restore': ['pre-restore', 'setup-namespaces', 'post-setup-namespaces', 'post-restore',
                'pre-resume', 'network-unlock', 'post-resume'],
}


def die(msg):
    sys.stderr.write('action_scripts.py: %s\n' % msg)
    sys.exit(1)


def log_mode(logfile, fail):
    act = os.environ.get('CRTOOLS_SCRIPT_ACTION')
    rec = {k: v for k, v in os.environ.items() if k.startswith('CRTOOLS_')}
    try:
        rec['stdin'] = os.readlink('/proc/self/fd/0')
    except OSError as e:
        rec['stdin'] = 'error: %s' % e
    with open(logfile, 'a') as f:
        f.write(json.dumps(rec) + '\n')
    print('action-script-output %s' % act, flush=True)
    return 1 if act == fail else 0


def root_pid(imgdir):
    out = subprocess.run(CRIT + ['decode', '-i', os.path.join(imgdir, 'pstree.img')],
                         stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out)['entries'][0]['pid']


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == 'log':
        return log_mode(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    if len(sys.argv) < 4 or sys.argv[1] not in SEQ:
        sys.exit('usage: action_scripts.py dump|restore [fail=ACTION] CRYO-COMMAND...')
    what, args = sys.argv[1], sys.argv[2:]
    fail = None
    if args[0].startswith('fail='):
        fail, args = args[0][5:], args[1:]
    imgdir = os.path.abspath(args[args.index('-D') + 1])
    logfile = os.path.join(os.path.dirname(imgdir), 'action-scripts.%s.log' % what)
    if os.path.exists(logfile):
        os.unlink(logfile)
    script = '/usr/bin/python3 %s log %s%s' % (HERE, logfile, ' ' + fail if fail else '')
    p = subprocess.run(args + ['--action-script', script], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(p.stdout)
    if fail and not p.returncode:
        die('%s succeeded although its %s action script failed' % (what, fail))
    if not fail and p.returncode:
        return p.returncode
    try:
        recs = [json.loads(l) for l in open(logfile)]
    except OSError as e:
        die('no action script ran (%s)' % e)
    seq = [r.get('CRTOOLS_SCRIPT_ACTION') for r in recs]
    want = SEQ[what]
    if fail:
        want = want[:want.index(fail) + 1]
    if seq != want:
        die('actions %s, expected %s' % (seq, want))
    pid = root_pid(imgdir)
    for r in recs:
        act = r['CRTOOLS_SCRIPT_ACTION']
        d = r.get('CRTOOLS_IMAGE_DIR', '')
        if not os.path.isabs(d) or not os.path.samefile(d, imgdir):
            die('%s: CRTOOLS_IMAGE_DIR %r is not the images directory %s' % (act, d, imgdir))
        init = r.get('CRTOOLS_INIT_PID')
        expect = None if act == 'pre-restore' else str(pid)
        if init != expect:
            die('%s: CRTOOLS_INIT_PID %r, expected %r' % (act, init, expect))
        if r['stdin'] != '/dev/null':
            die('%s: the script\'s stdin is %s, not /dev/null' % (act, r['stdin']))
    logname = args[args.index('-o') + 1] if '-o' in args else None
    if logname:
        text = open(os.path.join(imgdir, logname)).read()
        for act in want:
            if 'action-script-output %s' % act not in text:
                die('the %s script\'s output is not in %s' % (act, logname))
    return p.returncode


if __name__ == '__main__':
    sys.exit(main())
