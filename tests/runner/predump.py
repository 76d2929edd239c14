#!/usr/bin/env python3
"""dump_wrap for incremental dumps (tests/progs/mem_predump.c):

  predump.py chain CRYO dump ARGS...
      cryo pre-dump into ../pre1, step 1 of the test, cryo pre-dump
      --prev-images-dir ../pre1 into ../pre2, step 2, then the dump itself
      with --prev-images-dir ../pre2 --track-mem.  Checks with crit that
      pre2's and the dump's pagemaps have PE_PARENT entries, that the dump
      has its "parent" link, and that each stats-dump carries criu's fields
      filled (pages written and left to the parent, times).
  predump.py dead-holder CRYO dump ARGS...
      cryo pre-dump into ../pre1, then kills the cryo-track process holding
      its tracking, steps 1 and 2, then the dump with --prev-images-dir
      ../pre1 --track-mem: it must say that it is a full dump, and write no
      PE_PARENT entry and no parent link.
  predump.py pre-only CRYO dump ARGS...
      only cryo pre-dump into ../pre1 (for refusals): its output and status.
  predump.py dedup CRYO dump ARGS... (pre-dump 2 with --pre-dump-mode read)
      as chain, with --auto-dedup on pre-dump 2 and on the dump: the pages
      they write again must be punched out of pre1's and pre2's pages
      images (st_blocks shrink by at least the pages the test rewrote).
  predump.py dedup-cmd CRYO dump ARGS...
      as chain, then `cryo dedup -D` of the dump: pre1 and pre2 shrink.
  predump.py restored-dedup CRYO restore ARGS... (a restore_wrap)
      the restore (with --auto-dedup), then every pages image of the
      images directory must hold no block any more.

A step: SIGUSR1 to the test, then wait for predump.stepN in its working
directory (the parent of the images directory).  Exits with the dump's
status, or 1 (with a message) if a check fails."""
import json
import os
import re
import signal
import subprocess
import sys
import time

CRIT = ['/usr/bin/python3', '/usr/bin/crit']


def die(msg):
    sys.stderr.write('predump.py: %s\n' % msg)
    sys.exit(1)


def run(cmd, what):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=60)
    sys.stdout.write(p.stdout)
    if p.returncode:
        die('%s failed (exit %d)' % (what, p.returncode))
    return p.stdout


def step(pid, wdir, n):
    os.kill(pid, signal.SIGUSR1)
    ack = os.path.join(wdir, 'predump.step%d' % n)
    for _ in range(1000):
        if os.path.exists(ack):
            return
        time.sleep(0.01)
    die('the test did not do step %d' % n)


def holder_alive(pid):
    """A cryo-track process that has not exited within 2 s."""
    for _ in range(200):
        try:
            with open('/proc/%d/stat' % pid) as f:
                st = f.read()
        except OSError:
            return False
        if '(cryo-track)' not in st or st.rsplit(')', 1)[1].split()[0] in 'ZX':
            return False
        time.sleep(0.01)
    return True


def decode(path):
    out = subprocess.run(CRIT + ['decode', '-i', path], stdout=subprocess.PIPE, check=True,
                         text=True).stdout
    return json.loads(out)


def parent_entries(imgdir, pid):
    img = decode(os.path.join(imgdir, 'pagemap-%d.img' % pid))
    n = 0
    for e in img['entries'][1:]:
        flags = e.get('flags', '')
        if 'PE_PARENT' in str(flags) or (isinstance(flags, int) and flags & 1):
            n += e['nr_pages']
    return n


STATS = ('freezing_time', 'frozen_time', 'memdump_time', 'memwrite_time', 'pages_scanned',
         'pages_skipped_parent', 'pages_written', 'irmap_resolve', 'pages_lazy', 'page_pipes',
         'page_pipe_bufs', 'shpages_scanned', 'shpages_skipped_parent', 'shpages_written')


def check_stats(imgdir, what, written, skipped_min):
    """stats-dump carries criu's fields, filled: at least @written pages
    written and @skipped_min left to the previous dump."""
    st = decode(os.path.join(imgdir, 'stats-dump'))['entries'][0]['dump']
    missing = [f for f in STATS if f not in st]
    if missing:
        die('%s: stats-dump lacks %s' % (what, ', '.join(missing)))
    v = {f: int(st[f]) for f in STATS}
    bad = []
    if v['pages_written'] < written:
        bad.append('pages_written < %d' % written)
    if v['pages_skipped_parent'] < skipped_min or (skipped_min == 0 and v['pages_skipped_parent']):
        bad.append('pages_skipped_parent not %s %d' % ('>=' if skipped_min else '==', skipped_min))
    if v['pages_scanned'] < v['pages_written'] + v['pages_skipped_parent']:
        bad.append('pages_scanned < written + skipped')
    if not (0 < v['memwrite_time'] <= v['memdump_time'] <= v['frozen_time']):
        bad.append('not 0 < memwrite_time <= memdump_time <= frozen_time')
    if v['freezing_time'] <= 0:
        bad.append('freezing_time 0')
    if v['pages_lazy'] or v['page_pipes'] or v['page_pipe_bufs'] or v['shpages_skipped_parent']:
        bad.append('lazy pages, page pipes or shared pages left to a parent')
    if v['shpages_written'] > v['shpages_scanned']:
        bad.append('shpages_written > shpages_scanned')
    if bad:
        die('%s: stats-dump %s: %s' % (what, v, '; '.join(bad)))


def skipped(imgdir):
    st = decode(os.path.join(imgdir, 'stats-dump'))
    return int(st['entries'][0]['dump'].get('pages_skipped_parent', 0))


def pages_kib(imgdir):
    """KiB allocated to the pages images of a directory."""
    n = 0
    for f in os.listdir(imgdir):
        if re.fullmatch(r'pages-\d+\.img', f):
            n += os.stat(os.path.join(imgdir, f)).st_blocks * 512
    return n // 1024


def shrunk(what, before, after, pages):
    if before - after < pages * 4:
        die('%s: its pages images went from %d KiB to %d KiB, expected at least %d KiB '
            'punched out' % (what, before, after, pages * 4))


def restored_dedup(cmd):
    imgdir = os.path.abspath(cmd[cmd.index('-D') + 1])
    rc = subprocess.run(cmd).returncode
    if rc:
        return rc
    left = pages_kib(imgdir)
    if left:
        die('restore --auto-dedup left %d KiB in the pages images of %s' % (left, imgdir))
    return 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == 'restored-dedup':
        return restored_dedup(sys.argv[2:])
    if len(sys.argv) < 4 or sys.argv[1] not in ('chain', 'dead-holder', 'pre-only', 'dedup',
                                                'dedup-cmd'):
        sys.exit('usage: predump.py chain|dead-holder|pre-only|dedup|dedup-cmd CRYO-COMMAND...')
    mode, cmd = sys.argv[1], sys.argv[2:]
    dedup = ['--auto-dedup'] if mode == 'dedup' else []
    chain = mode in ('chain', 'dedup', 'dedup-cmd')
    cryo = cmd[0]
    pid = int(cmd[cmd.index('-t') + 1])
    imgdir = os.path.abspath(cmd[cmd.index('-D') + 1])
    wdir = os.path.dirname(imgdir)
    def pre(n):
        d = os.path.join(wdir, 'pre%d' % n)
        os.makedirs(d, exist_ok=True)
        return d

    if mode == 'pre-only':
        p = subprocess.run([cryo, 'pre-dump', '-t', str(pid), '-D', pre(1)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(p.stdout)
        return p.returncode
    run([cryo, 'pre-dump', '-t', str(pid), '-D', pre(1), '-v4', '-o', 'pre-dump.log'],
              'pre-dump 1')
    # A, B, E, F: 104 pages
    check_stats(pre(1), 'pre-dump 1', 104, 0)
    log = open(os.path.join(pre(1), 'pre-dump.log')).read()
    m = re.search(r'held for the next dump by cryo-track process (\d+)', log)
    if not m:
        die('pre-dump 1 did not say which process holds its tracking')
    holder = int(m.group(1))
    if mode == 'dead-holder':
        os.kill(holder, signal.SIGKILL)
        for _ in range(500):
            if not os.path.exists('/proc/%d' % holder):
                break
            time.sleep(0.01)
    step(pid, wdir, 1)
    last = 1
    if chain:
        kib1 = pages_kib(pre(1))
        # pre-dump 2 in criu's read mode (cryo's pre-dump copies while
        # frozen in both modes): recorded in the inventory
        mode2 = ['--pre-dump-mode', 'read'] if dedup else []
        run([cryo, 'pre-dump', '-t', str(pid), '-D', pre(2), '--prev-images-dir', '../pre1',
             '--track-mem', '-v4', '-o', 'pre-dump.log'] + dedup + mode2, 'pre-dump 2')
        if dedup:
            modes = [decode(os.path.join(pre(n), 'inventory.img'))['entries'][0].get(
                'pre_dump_mode') for n in (1, 2)]
            if modes != [1, 2]:
                die('inventory.img pre_dump_mode of pre1, pre2: %s, expected 1 (splice), '
                    '2 (read)' % modes)
        # A pages 0-9 and 40 written again, C new; A's 53 others unchanged
        check_stats(pre(2), 'pre-dump 2', 19, 53)
        if dedup:
            # A pages 0-9 and 40 written again
            shrunk('pre1 after pre-dump 2 --auto-dedup', kib1, pages_kib(pre(1)), 11)
        elif pages_kib(pre(1)) != kib1:
            die('pre-dump 2 without --auto-dedup changed pre1')
        if holder_alive(holder):
            die('the holder of pre-dump 1 (%d) is still there after pre-dump 2 took its '
                'tracking' % holder)
        if parent_entries(pre(2), pid) == 0:
            die('pre-dump 2 has no PE_PARENT entry')
        last = 2
    step(pid, wdir, 2)

    final = cmd + ['--prev-images-dir', '../pre%d' % last, '--track-mem'] + dedup
    kib1, kib2 = pages_kib(pre(1)), pages_kib(pre(last))
    rc = subprocess.run(final).returncode
    if rc:
        return rc
    if mode == 'dedup-cmd':
        if (pages_kib(pre(1)), pages_kib(pre(2))) != (kib1, kib2):
            die('the dump without --auto-dedup changed pre1 or pre2')
        run([cryo, 'dedup', '-D', imgdir, '-v4', '-o', 'dedup.log'], 'cryo dedup')
    if mode in ('dedup', 'dedup-cmd'):
        # A pages 5-9 and C page 0 (pre2's own), A pages 10-14 (pre1's)
        shrunk('pre2 after the dump\'s dedup', kib2, pages_kib(pre(2)), 6)
        shrunk('pre1 after the dump\'s dedup', kib1, pages_kib(pre(1)), 5)
    log = open(os.path.join(imgdir, 'dump.log')).read()
    n = parent_entries(imgdir, pid)
    if chain:
        if os.readlink(os.path.join(imgdir, 'parent')) != '../pre2':
            die('the dump has no "parent" link to ../pre2')
        if n < 40:
            die('the dump left only %d pages to pre2 (PE_PARENT), expected at least 40' % n)
        if skipped(imgdir) < n:
            die('stats-dump counts fewer skipped pages than the PE_PARENT entries (%d)' % n)
        # A pages 5-14, C page 0, D: 15 pages
        check_stats(imgdir, 'the dump', 15, n)
    else:
        if 'as a full dump' not in log:
            die('the dump after a dead holder does not say that it is a full dump')
        if n or os.path.lexists(os.path.join(imgdir, 'parent')):
            die('the dump after a dead holder still refers to pre1 (%d PE_PARENT pages)' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main())
