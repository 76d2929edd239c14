#!/usr/bin/python3
"""Does cryo treat images and the images/work directories as hostile input?

Whoever can write to an images (or work) directory must not be able to make
a root cryo read or write files elsewhere, hang, or create and remove files
where a dump never would.  Each check below plants or forges something, runs
real dumps and restores of test programs (BUILD/tests/progs: counter,
files_ghost, files_link_remap) and observes what cryo does:

  control              the unmodified images of each program restore and the
                       program passes (so a refusal below is not a general
                       failure)
  symlink_image_read   after a dump the pages image is replaced by a symlink
                       to a private victim file: restore refused ("symbolic
                       link")
  parent_link          "parent" (an incremental dump's link to the previous
                       dump) leading through a second symlink, or not a
                       link: restore refused, nothing read there
  fifo_image           core-PID.img replaced by a FIFO: restore refused ("not
                       a regular file"); `cryo show DIR` and `cryo show
                       DIR/core-PID.img` return within seconds
  planted_dump         symlinks (to existing victims and to a name that does
                       not exist) and hard links (to victims on the same
                       file system) planted under names the dump will write:
                       the dump succeeds, victims keep content, mtime and link
                       count, nothing is created through a dangling link, the
                       images are fresh regular files, the restore works
  planted_log_pidfile  dump.log, restore.log and the pidfile planted as
                       symlinks (to victims, and dangling) in the work dirs
                       (-o and --pidfile relative, restore with -W): victims
                       unchanged, nothing created through a dangling link,
                       the logs and the pidfile are fresh regular files with
                       what they should hold
  ghost_dotdot         files.img rewritten (crit) so that a ghost file's name
                       is SCRATCH/sub/../evil-ID: restore refused (".." /
                       "forged"), SCRATCH/evil-ID not created
  ghost_symlink_dir    a ghost file's name rewritten to SCRATCH/link/x-ID with
                       SCRATCH/link -> SCRATCH/other: restore refused
                       ("symbolic link"), nothing created in SCRATCH/other
  forged_remap         (--link-remap) the link remap's name (.../link_remap.N)
                       rewritten to a victim file next to it: restore refused
                       ("where a dump makes it"), the victim still there
  cgroup_dotdot        (--manage-cgroups) a cgroup set's path in cgroup.img
                       rewritten to /../../SCRATCH-victim: restore refused
                       ("damaged"), nothing made outside the cgroup mounts

Every refusal must exit non-zero with the key phrase on stderr or in the log
and leave none of the dumped PIDs alive when cryo returns; then the original
images are put back and must restore and pass.  Images are changed the way
anyone who can write the directory can: with crit, and inventory.img is
re-encoded by crit too, which drops what cryo adds there to notice damaged
images (criu-made or forged images lack it), so that each refusal comes from
the defence the check is about, not from an integrity check in front of it.

Each check has a scratch dir TOP/NAME (TOP: a mkdtemp dir) and its victims
in TOP/NAME.outside; after each step everything in TOP outside the scratch
dir (type, contents, size, mtime, link count, inode, symlink target, and
directory mtimes: nothing new) must be as before, and so must the scratch
dir itself (but for its images and command dirs) around a refused restore.

Every check prints "PASS hostile:NAME" or "FAIL hostile:NAME: reason"
("SKIP ..." when not root or without crit); notes start with "#"; the last
line is "N passed, N failed".  Exit status: 0 if all passed, 1 if any
failed, 77 if everything was skipped (not root).  Work files: /tmp/cryo-
hostile.*/, removed when every check passed and kept (and named) otherwise.

  tests/runner/hostile.py [--keep] [NAME...]

Environment: CRYO (cryo binary, default BUILD/cli/cryo), BUILD (build dir,
default build/ of this repository; test programs in BUILD/tests/progs).
Only processes this script started (or restored) are killed, by PID.
"""

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checklib import (CRYO_TIMEOUT, GONE_TIMEOUT, CheckFailed, CheckSkipped,  # noqa: E402
                      note, prog_path, read, reap_if_child, run_checks, state, wait_until)
import checklib  # noqa: E402
import run      # noqa: E402  (proc_tree, wait_gone)

CRIT = ['/usr/bin/python3', '/usr/bin/crit']

BLOCK_TIMEOUT = 10      # a cryo command that could block on a FIFO
SHOW_TIMEOUT = 5        # cryo show of a directory or image with a FIFO


def write(path, data, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)


def pattern(seed, size):
    """size bytes of a pattern no image holds."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += hashlib.sha256(b'cryo-hostile-%d-%d' % (seed, n)).digest()
        n += 1
    return bytes(out[:size])


# ---- file system snapshots ----------------------------------------------------

def snapshot(root, skip=()):
    """{relative path: what it is} for root and everything below it, but for
    the paths in skip (and what is under them).  Regular files: size, mtime,
    link count, inode, mode and a digest of the contents; symlinks: the
    target; directories: mtime (an entry made and removed again shows)."""
    skip = {os.path.abspath(s) for s in skip}
    res = {}

    def entry(p):
        st = os.lstat(p)
        e = {'type': stat.S_IFMT(st.st_mode), 'mode': stat.S_IMODE(st.st_mode),
             'ino': st.st_ino, 'nlink': st.st_nlink, 'mtime': st.st_mtime_ns}
        if stat.S_ISREG(st.st_mode):
            e['size'] = st.st_size
            e['sha'] = hashlib.sha256(read(p, 'rb')).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            e['target'] = os.readlink(p)
        return e

    res['.'] = entry(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if p in skip:
                continue
            res[os.path.relpath(p, root)] = entry(p)
    return res


def snap_diff(before, after):
    """Differences, as words (empty: none)."""
    out = []
    for k in sorted(set(before) | set(after)):
        a, b = before.get(k), after.get(k)
        if a == b:
            continue
        if a is None:
            out.append('%s appeared' % k)
        elif b is None:
            out.append('%s vanished' % k)
        else:
            what = [f for f in sorted(set(a) | set(b)) if a.get(f) != b.get(f)]
            out.append('%s changed (%s)' % (k, ', '.join(
                '%s %s -> %s' % (f, a.get(f), b.get(f)) if f != 'sha' else 'contents'
                for f in what)))
    return out


# ---- one check's context ----------------------------------------------------

class Prog:
    """A started test program: pid, its tree, where its files are."""

    def __init__(self, name, binary, pid, tree, pdir):
        self.name, self.binary, self.pid, self.tree, self.dir = name, binary, pid, tree, pdir
        self.outfile = os.path.join(pdir, 'test.out')


class Check(checklib.Check):
    """Scratch dir, victims dir and the processes of one check; cleanup()
    kills them (by pid, only those it started or restored)."""

    def __init__(self, top, name):
        self.top = top
        self.scratch = os.path.join(top, name)
        self.outside = os.path.join(top, name + '.outside')
        os.makedirs(self.scratch)
        os.makedirs(self.outside)
        super().__init__(name, self.scratch, os.path.join(self.scratch, 'cmds'))
        self.base = None

    def dirs(self):
        return [self.scratch, self.outside]

    def vpath(self, *p):
        return os.path.join(self.outside, *p)

    # -- nothing outside the scratch dir changes

    def outside_snapshot(self):
        return snapshot(self.top, skip=[self.scratch])

    def mark_outside(self):
        """What TOP outside the scratch dir holds now: it must stay so."""
        self.base = self.outside_snapshot()

    def check_outside(self, when):
        if self.base is None:
            return
        d = snap_diff(self.base, self.outside_snapshot())
        if d:
            raise CheckFailed('%s, outside the scratch dir %s: %s'
                              % (when, self.scratch, '; '.join(d[:6])))

    def scratch_snapshot(self, imgdirs):
        return snapshot(self.scratch, skip=[self.cmds] + [self.path(d) for d in imgdirs])

    # -- test programs

    def start(self, name, sub='prog', uid=None):
        """@uid: run it as that user (and group), in a directory it owns."""
        binary = prog_path(name)
        pdir = self.path(sub)
        os.makedirs(pdir)
        pidfile = os.path.join(pdir, 'test.pid')
        cmd = [binary, '--pidfile', pidfile, '--outfile', os.path.join(pdir, 'test.out')]
        if uid is not None:
            os.chown(pdir, uid, uid)
            cmd = ['setpriv', '--reuid', str(uid), '--regid', str(uid), '--clear-groups',
                   '--'] + cmd
        with open(os.devnull) as fin, open(os.path.join(pdir, 'stdout.txt'), 'w') as fout, \
                open(os.path.join(pdir, 'stderr.txt'), 'w') as ferr:
            if uid is not None:     # its own files, as if it had opened them
                os.fchown(fout.fileno(), uid, uid)
                os.fchown(ferr.fileno(), uid, uid)
            p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=pdir,
                                 start_new_session=True)
        self.own(p.pid, binary)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise CheckFailed('%s did not become ready in 30 s' % name)
        if rc != 0:
            raise CheckFailed('%s setup failed (exit %d, stderr %r)'
                              % (name, rc, read(os.path.join(pdir, 'stderr.txt'))[-200:]))
        pid = int(read(pidfile).strip())
        self.own(pid, binary)
        tree = run.proc_tree(pid)
        if not tree or state(pid) in ('Z', 'X'):
            raise CheckFailed('%s %d died right after setup' % (name, pid))
        for t in tree:
            self.own(t, binary)
        return Prog(name, binary, pid, tree, pdir)

    def verdict(self, prog, what):
        """SIGTERM the (restored) program, wait until its pid is gone; it
        must have written PASS."""
        try:
            os.kill(prog.pid, signal.SIGTERM)
        except OSError as e:
            raise CheckFailed('cannot SIGTERM %s %d %s: %s' % (prog.name, prog.pid, what, e))
        if not wait_until(lambda: state(prog.pid) in (None, 'Z', 'X'), 20):
            raise CheckFailed('%s %d did not exit within 20 s of SIGTERM %s'
                              % (prog.name, prog.pid, what))
        reap_if_child(prog.pid)
        self.wait_gone(prog.tree, 'after its verdict')
        try:
            lines = read(prog.outfile, 'r').splitlines()
        except OSError:
            lines = []
        fails = [l for l in lines if l.startswith('FAIL')]
        if fails:
            raise CheckFailed('%s says %s: %s' % (prog.name, what, fails[0]))
        if 'PASS' not in lines:
            raise CheckFailed('%s %d exited %s without a verdict' % (prog.name, prog.pid, what))

    def wait_gone(self, pids, what):
        left = run.wait_gone(pids, GONE_TIMEOUT)
        if left:
            raise CheckFailed('processes %s still there %d s %s (states %s)'
                              % (left, GONE_TIMEOUT, what, [state(p) for p in left]))

    # -- cryo

    def dump(self, prog, imgdir='img', extra=(), tag='dump'):
        d = self.path(imgdir)
        os.makedirs(d, exist_ok=True)
        self.cryo_ok(['dump', '-t', str(prog.pid), '-D', d, '-o', 'dump.log', '-v4']
                     + list(extra), tag)
        self.wait_gone(prog.tree, 'after the dump')
        return d

    def restore(self, imgdir, tag, extra=(), timeout=CRYO_TIMEOUT):
        """cryo restore -d; returns (rc, stdout + stderr + log, pidfile)."""
        rpf = os.path.join(self.cmds, '%s.pid' % tag)
        rc, out, err, _ = self.cryo(['restore', '-D', imgdir, '-d', '-o', '%s.log' % tag, '-v4',
                                  '--pidfile', rpf] + list(extra), tag, timeout=timeout)
        try:
            log = read(os.path.join(imgdir, '%s.log' % tag), 'r')
        except OSError:
            log = ''
        return rc, '%s\n%s\n%s' % (out, err, log), rpf

    def restore_ok(self, prog, imgdir, tag, extra=()):
        """A restore that must work: the same pids back, running; then its
        verdict."""
        rc, text, rpf = self.restore(imgdir, tag, extra)
        for t in prog.tree:             # whatever came back is ours to clean up
            self.own(t, prog.binary)
        if rc != 0:
            errs = [l for l in text.splitlines() if 'rror' in l or 'refused' in l]
            raise CheckFailed('restore (%s) of %s exited %s: %s'
                              % (tag, prog.name, rc, ' | '.join(errs[:3]) or text.strip()[-300:]))
        try:
            rpid = int(read(rpf).strip())
        except (OSError, ValueError) as e:
            raise CheckFailed('restore (%s): no valid --pidfile: %s' % (tag, e))
        if rpid != prog.pid:
            raise CheckFailed('restore (%s): --pidfile says %d, the dumped pid was %d'
                              % (tag, rpid, prog.pid))
        for t in prog.tree:
            if state(t) in (None, 'Z', 'X'):
                raise CheckFailed('restore (%s): %d is %s' % (tag, t, state(t) or 'gone'))
        self.verdict(prog, 'after restore (%s)' % tag)

    def refused(self, prog, imgdir, tag, phrases, extra=(), timeout=CRYO_TIMEOUT, what=''):
        """A restore that must be refused: non-zero exit (not a timeout), every
        phrase of @phrases (a str, or a tuple: one of them) in its output or
        log, and none of the dumped pids left.  Returns the message lines."""
        rc, text, _ = self.restore(imgdir, tag, extra, timeout=timeout)
        for t in prog.tree:
            self.own(t, prog.binary)
        if rc is None:
            raise CheckFailed('restore %s hung: still running after %d s (killed)'
                              % (what, timeout))
        if rc == 0:
            raise CheckFailed('restore %s succeeded (exit 0); it must be refused' % what)
        msgs = [l for l in text.splitlines() if 'rror' in l or 'refused' in l] or \
            text.strip().splitlines()[-3:]
        for ph in phrases:
            alts = ph if isinstance(ph, tuple) else (ph,)
            if not any(a in text for a in alts):
                raise CheckFailed('restore %s failed (exit %d) without saying %s: %s'
                                  % (what, rc, ' or '.join('"%s"' % a for a in alts),
                                     ' | '.join(msgs[:3])))
        # cryo kills and reaps what it made before it reports the failure
        left = [p for p in prog.tree if os.path.exists('/proc/%d' % p)]
        if left:
            raise CheckFailed('after the refused restore %s returned, dumped pid(s) %s exist '
                              '(states %s)' % (what, left, [state(p) for p in left]))
        note('%s: restore %s refused (exit %d): %s' % (self.name, what, rc, msgs[0].strip()
                                                      if msgs else ''))
        return msgs


# ---- crit ---------------------------------------------------------------------

def crit_decode(c, img):
    out = os.path.join(c.cmds, os.path.basename(img) + '.%d.json' % c.n)
    c.n += 1
    r = subprocess.run(CRIT + ['decode', '-i', img, '-o', out], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode:
        raise CheckFailed('crit decode -i %s failed: %s' % (img, r.stdout.strip()[-300:]))
    with open(out) as f:
        return json.load(f)


def crit_encode(c, data, img):
    src = os.path.join(c.cmds, os.path.basename(img) + '.%d.forged.json' % c.n)
    c.n += 1
    with open(src, 'w') as f:
        json.dump(data, f, indent=1)
    os.unlink(img)
    r = subprocess.run(CRIT + ['encode', '-i', src, '-o', img], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode:
        raise CheckFailed('crit encode -o %s failed: %s' % (img, r.stdout.strip()[-300:]))


def need_crit():
    if not os.access(CRIT[1], os.R_OK):
        raise CheckSkipped('no crit at %s' % CRIT[1])


def reg_names(files):
    """{files.img entry id: its reg name}."""
    return {e['id']: e['reg']['name'] for e in files['entries']
            if e.get('type') == 'REG' and 'reg' in e}


def set_reg_name(files, fid, name):
    for e in files['entries']:
        if e['id'] == fid:
            e['reg']['name'] = name
            return
    raise CheckFailed('files.img has no entry %d' % fid)


def remaps(c, imgdir, kind):
    """[(orig_id, remap_id)] of the remap-fpath.img entries of @kind."""
    path = os.path.join(imgdir, 'remap-fpath.img')
    if not os.path.exists(path):
        raise CheckFailed('the dump wrote no remap-fpath.img')
    res = [(e['orig_id'], e['remap_id']) for e in crit_decode(c, path)['entries']
           if e.get('remap_type') == kind]
    if not res:
        raise CheckFailed('remap-fpath.img has no %s entry' % kind)
    return res


def backup(c, imgdir, name):
    src = os.path.join(imgdir, name)
    dst = os.path.join(c.cmds, name + '.orig')
    shutil.copy2(src, dst)
    return dst


def put_back(c, imgdir, name):
    """The dump's own image back in place of whatever is there now."""
    dst = os.path.join(imgdir, name)
    if os.path.lexists(dst):
        os.unlink(dst)
    shutil.copy2(os.path.join(c.cmds, name + '.orig'), dst)


def inventory_as_crit_writes_it(c, imgdir):
    """inventory.img decoded and encoded again by crit, which keeps only
    what criu knows: whatever cryo adds there to notice damaged images
    (such as the size of each image) goes, as it would from images that
    criu wrote or that someone forged whole.  So each refusal below comes
    from the defence the check is about, not from an integrity check in
    front of it.  The original is kept for put_back()."""
    need_crit()
    inv = os.path.join(imgdir, 'inventory.img')
    backup(c, imgdir, 'inventory.img')
    before = os.path.getsize(inv)
    crit_encode(c, crit_decode(c, inv), inv)
    if os.path.getsize(inv) != before:
        note('%s: inventory.img re-encoded by crit: %d -> %d bytes (cryo\'s own additions '
             'dropped)' % (c.name, before, os.path.getsize(inv)))


# ---- the checks ---------------------------------------------------------------

def check_control(c):
    """Each program's unmodified images, in the layout the other checks use."""
    for name, extra in (('counter', []), ('files_ghost', []),
                        ('files_link_remap', ['--link-remap'])):
        prog = c.start(name, sub=name)
        c.mark_outside()
        img = c.dump(prog, 'img-' + name, extra, tag='dump-' + name)
        c.check_outside('after the dump of %s' % name)
        c.restore_ok(prog, img, 'restore-' + name, extra)
        c.check_outside('after the restore of %s' % name)
        note('control: %s dumped, restored (pid %d) and passed' % (name, prog.pid))


def check_symlink_image_read(c):
    need_crit()
    prog = c.start('counter')
    img = c.dump(prog)
    inventory_as_crit_writes_it(c, img)
    pages = sorted(n for n in os.listdir(img) if n.startswith('pages-') and n.endswith('.img'))
    if not pages:
        raise CheckFailed('the dump wrote no pages-*.img (%s)' % ' '.join(sorted(os.listdir(img))))
    for i, n in enumerate(pages):
        backup(c, img, n)
        size = os.path.getsize(os.path.join(img, n))
        write(c.vpath('victim-%d' % i), pattern(i, size), 0o600)
    c.mark_outside()
    for i, n in enumerate(pages):
        os.unlink(os.path.join(img, n))
        os.symlink(c.vpath('victim-%d' % i), os.path.join(img, n))
    c.refused(prog, img, 'restore-symlink', ['symbolic link'],
              what='with %s a symlink to a victim' % pages[0])
    c.check_outside('after the refused restore')
    for n in pages + ['inventory.img']:
        put_back(c, img, n)
    c.restore_ok(prog, img, 'restore-orig')
    c.check_outside('after the restore of the original images')


def check_parent_link(c):
    need_crit()
    prog = c.start('counter')
    img = c.dump(prog)
    inventory_as_crit_writes_it(c, img)
    # a previous dump reached through a second symlink (victim's directory)
    os.makedirs(c.vpath('victim-dir'))
    write(c.vpath('victim-dir', 'inventory.img'), pattern(1, 4096), 0o600)
    c.mark_outside()
    os.symlink(c.vpath('victim-dir'), os.path.join(os.path.dirname(img), 'via-link'))
    os.symlink('../via-link', os.path.join(img, 'parent'))
    c.refused(prog, img, 'restore-parent-symlink', ['no symbolic link'],
              what='with parent -> ../via-link -> a victim directory')
    c.check_outside('after the refused restore')
    # "parent" that is no link at all
    os.unlink(os.path.join(img, 'parent'))
    os.makedirs(os.path.join(img, 'parent'))
    c.refused(prog, img, 'restore-parent-dir', ['is not a symbolic link'],
              what='with parent a directory')
    os.rmdir(os.path.join(img, 'parent'))
    put_back(c, img, 'inventory.img')
    c.restore_ok(prog, img, 'restore-orig')
    c.check_outside('after the restore of the original images')


def check_fifo_image(c):
    need_crit()
    prog = c.start('counter')
    img = c.dump(prog)
    inventory_as_crit_writes_it(c, img)
    core = 'core-%d.img' % prog.pid
    backup(c, img, core)
    c.mark_outside()
    os.unlink(os.path.join(img, core))
    os.mkfifo(os.path.join(img, core), 0o600)
    c.refused(prog, img, 'restore-fifo', ['not a regular file'], timeout=BLOCK_TIMEOUT,
              what='with %s a FIFO' % core)
    shown = []
    for target, tag in ((img, 'show-dir'), (os.path.join(img, core), 'show-fifo')):
        t0 = time.time()
        rc, out, err, _ = c.cryo(['show', target], tag, timeout=SHOW_TIMEOUT)
        dt = time.time() - t0
        if rc is None:
            raise CheckFailed('cryo show %s blocked: still running after %d s (killed)'
                              % (target, SHOW_TIMEOUT))
        shown.append('show %s: exit %d in %.2f s' % (os.path.relpath(target, c.scratch), rc, dt))
        if target != img:
            if rc == 0:
                raise CheckFailed('cryo show of the FIFO %s exited 0' % core)
            if 'not a regular file' not in out + err:
                raise CheckFailed('cryo show of the FIFO %s failed (exit %d) without saying '
                                  '"not a regular file": %s'
                                  % (core, rc, (err or out).strip()[-200:]))
    note('fifo_image: ' + '; '.join(shown))
    if not stat.S_ISFIFO(os.lstat(os.path.join(img, core)).st_mode):
        raise CheckFailed('%s is no longer the FIFO that was planted' % core)
    c.check_outside('after the refused restore and cryo show')
    put_back(c, img, core)
    put_back(c, img, 'inventory.img')
    c.restore_ok(prog, img, 'restore-orig')
    c.check_outside('after the restore of the original images')


def check_planted_dump(c):
    prog = c.start('counter')
    img = c.path('img')
    os.makedirs(img)
    pid = prog.pid
    # name in the images dir -> (how it is planted, victim)
    plants = {
        'pages-1.img': ('symlink', 'victim-pages'),
        'core-%d.img' % pid: ('symlink', 'victim-core'),
        'stats-dump': ('symlink', 'victim-stats'),
        'inventory.img': ('symlink', 'victim-inventory'),
        'files.img': ('symlink', 'absent-files'),         # dangling: must not be created
        'mm-%d.img' % pid: ('hardlink', 'victim-mm'),
        'pagemap-%d.img' % pid: ('hardlink', 'victim-pagemap'),
    }
    for i, (name, (how, victim)) in enumerate(sorted(plants.items())):
        if not victim.startswith('absent'):
            write(c.vpath(victim), pattern(100 + i, 4096 + i), 0o600)
    c.mark_outside()            # victims with one link each, before planting
    vino = {}
    for name, (how, victim) in plants.items():
        dst = os.path.join(img, name)
        if how == 'symlink':
            os.symlink(c.vpath(victim), dst)
        else:
            os.link(c.vpath(victim), dst)
            vino[name] = os.stat(c.vpath(victim)).st_ino
    c.cryo_ok(['dump', '-t', str(pid), '-D', img, '-o', 'dump.log', '-v4'], 'dump-planted')
    c.wait_gone(prog.tree, 'after the dump')
    c.check_outside('after the dump into the planted images dir')
    for name, (how, victim) in sorted(plants.items()):
        p = os.path.join(img, name)
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode):
            raise CheckFailed('after the dump %s (planted: a %s to %s) is not a regular file '
                              '(mode 0%o)' % (name, how, victim, st.st_mode))
        if st.st_nlink != 1 or st.st_ino == vino.get(name):
            raise CheckFailed('after the dump %s (planted: a hard link to %s) has %d links, '
                              'inode %d (the victim\'s: %s)'
                              % (name, victim, st.st_nlink, st.st_ino, vino.get(name)))
        if st.st_size == 0:
            raise CheckFailed('after the dump %s is empty' % name)
    note('planted_dump: %s: fresh regular files after the dump, victims unchanged'
         % ', '.join('%s (%s)' % (n, h) for n, (h, _) in sorted(plants.items())))
    c.restore_ok(prog, img, 'restore')
    c.check_outside('after the restore')


def check_planted_log_pidfile(c):
    prog = c.start('counter')
    img = c.path('img')
    work = c.path('work')
    os.makedirs(img)
    os.makedirs(work)
    write(c.vpath('victim-dump-log'), pattern(200, 3000), 0o600)
    write(c.vpath('victim-restore-log'), pattern(201, 3001), 0o600)
    write(c.vpath('victim-pidfile'), 'victim pidfile\n', 0o644)
    c.mark_outside()
    # dump: the work dir is the images dir; restore: -W work
    plants = [(os.path.join(img, 'dump.log'), c.vpath('victim-dump-log')),
              (os.path.join(work, 'restore.log'), c.vpath('victim-restore-log')),
              (os.path.join(work, 'pf'), c.vpath('victim-pidfile')),
              (os.path.join(work, 'restore2.log'), c.vpath('absent-log')),    # dangling
              (os.path.join(work, 'pf2'), c.vpath('absent-pidfile'))]         # dangling
    for link, target in plants:
        os.symlink(target, link)
    c.cryo_ok(['dump', '-t', str(prog.pid), '-D', img, '-o', 'dump.log', '-v4'],
              'dump-planted', cwd=c.cmds)
    c.wait_gone(prog.tree, 'after the dump')
    c.check_outside('after dump -o dump.log')
    stdout = os.path.join(prog.dir, 'stdout.txt')
    stdout_size = os.path.getsize(stdout)
    # two restores, the second one into the dangling names; the first is killed
    # (and gone) before the second restores the same pid, and what it printed
    # is cut off again (the counter checks its stdout holds exactly 1..N)
    for log, pf, tag in (('restore.log', 'pf', 'restore'), ('restore2.log', 'pf2', 'restore2')):
        if tag == 'restore2':
            os.truncate(stdout, stdout_size)
        c.cryo_ok(['restore', '-D', img, '-W', work, '-d', '-o', log, '-v4', '--pidfile', pf],
                  tag, cwd=c.cmds)
        for t in prog.tree:
            c.own(t, prog.binary)
        c.check_outside('after restore -W work -o %s --pidfile %s' % (log, pf))
        for name, want in ((os.path.join(work, pf), None), (os.path.join(work, log), 'restore'),
                           (os.path.join(img, 'dump.log'), 'dump')):
            try:
                st = os.lstat(name)
            except OSError as e:
                raise CheckFailed('after the %s: %s' % (tag, e))
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise CheckFailed('%s (planted: a symlink) is not a fresh regular file after '
                                  'the %s (mode 0%o, %d links)'
                                  % (os.path.relpath(name, c.scratch), tag, st.st_mode,
                                     st.st_nlink))
            text = read(name, 'r')
            if want is None:
                if text.strip() != str(prog.pid):
                    raise CheckFailed('the pidfile %s holds %r, not the pid %d'
                                      % (pf, text[:100], prog.pid))
            elif '%s, images in %s' % (want, img) not in text or str(prog.pid) not in text:
                raise CheckFailed('%s does not look like the %s log: %r'
                                  % (os.path.basename(name), want, text[:200]))
        if tag == 'restore':
            os.kill(prog.pid, signal.SIGKILL)
            c.wait_gone(prog.tree, 'after SIGKILL')
    note('planted_log_pidfile: dump.log, restore.log, pf (symlinks to victims) and '
         'restore2.log, pf2 (dangling symlinks) are fresh regular files; victims unchanged, '
         'nothing created outside')
    c.verdict(prog, 'after restore -W work')
    c.check_outside('after the verdict')


def ghost_forge(c, newname):
    """files_ghost dumped; every ghost-remapped file's name in files.img
    rewritten to newname(id); then the restore must be refused.  Returns
    (prog, img, forged names)."""
    need_crit()
    prog = c.start('files_ghost')
    img = c.dump(prog)
    ghosts = remaps(c, img, 'GHOST')
    files = crit_decode(c, os.path.join(img, 'files.img'))
    names = reg_names(files)
    forged = {}
    for orig, _ in ghosts:
        if orig not in names:
            raise CheckFailed('files.img has no regular file %d (remap-fpath.img names it)' % orig)
        forged[orig] = newname(orig)
        set_reg_name(files, orig, forged[orig])
    note('%s: ghost files %s renamed to %s' % (
        c.name, ', '.join(sorted({os.path.relpath(names[o], c.scratch) for o in forged})),
        ', '.join(sorted(os.path.relpath(n, c.scratch) if n.startswith(c.scratch) else n
                         for n in forged.values()))))
    backup(c, img, 'files.img')
    crit_encode(c, files, os.path.join(img, 'files.img'))
    inventory_as_crit_writes_it(c, img)
    return prog, img, forged


def check_ghost_dotdot(c):
    os.makedirs(c.path('sub'))
    prog, img, forged = ghost_forge(c, lambda i: c.path('sub') + '/../evil-%d' % i)
    c.mark_outside()
    inside = c.scratch_snapshot(['img'])
    c.refused(prog, img, 'restore-forged', ['refused', ('..', 'forged')],
              what='with ghost files named SCRATCH/sub/../evil-ID')
    made = [n for n in os.listdir(c.scratch) if n.startswith('evil')]
    if made:
        raise CheckFailed('the refused restore created %s in the scratch dir' % ' '.join(made))
    d = snap_diff(inside, c.scratch_snapshot(['img']))
    if d:
        raise CheckFailed('the refused restore changed the scratch dir: %s' % '; '.join(d[:6]))
    c.check_outside('after the refused restore')
    put_back(c, img, 'files.img')
    put_back(c, img, 'inventory.img')
    c.restore_ok(prog, img, 'restore-orig')
    c.check_outside('after the restore of the original images')


def check_ghost_symlink_dir(c):
    os.makedirs(c.path('other'))
    os.symlink(c.path('other'), c.path('link'))
    prog, img, forged = ghost_forge(c, lambda i: c.path('link') + '/x-%d' % i)
    c.mark_outside()
    inside = c.scratch_snapshot(['img'])
    c.refused(prog, img, 'restore-forged', ['symbolic link'],
              what='with ghost files named SCRATCH/link/x-ID, link -> other')
    made = os.listdir(c.path('other'))
    if made:
        raise CheckFailed('the refused restore created %s in SCRATCH/other (through the '
                          'symlink SCRATCH/link)' % ' '.join(made))
    d = snap_diff(inside, c.scratch_snapshot(['img']))
    if d:
        raise CheckFailed('the refused restore changed the scratch dir: %s' % '; '.join(d[:6]))
    c.check_outside('after the refused restore')
    put_back(c, img, 'files.img')
    put_back(c, img, 'inventory.img')
    c.restore_ok(prog, img, 'restore-orig')
    c.check_outside('after the restore of the original images')


def check_forged_remap(c):
    need_crit()
    prog = c.start('files_link_remap')
    img = c.dump(prog, extra=['--link-remap'])
    linked = remaps(c, img, 'LINKED')
    files = crit_decode(c, os.path.join(img, 'files.img'))
    names = reg_names(files)
    # the size the deleted file had: a restore that took the victim for the
    # link remap would pass --file-validation and go on to remove it
    sizes = {e['id']: e['reg'].get('size') for e in files['entries'] if 'reg' in e}
    size = sizes.get(linked[0][0]) or 16
    victim = os.path.join(prog.dir, 'victim')
    vdata = ('victim-' * size)[:size - 1] + '\n'
    write(victim, vdata, 0o600)
    for orig, rid in linked:
        lname = names.get(rid)
        if not lname or os.path.basename(lname) != 'link_remap.%d' % rid:
            raise CheckFailed('the link remap of %s is %r, not .../link_remap.%d'
                              % (names.get(orig), lname, rid))
        if not os.path.exists(lname):
            raise CheckFailed('the dump left no %s' % lname)
        set_reg_name(files, rid, victim)
        note('forged_remap: link remap %s of the deleted %s renamed to %s'
             % (os.path.relpath(lname, c.scratch), os.path.relpath(names[orig], c.scratch),
                os.path.relpath(victim, c.scratch)))
    backup(c, img, 'files.img')
    crit_encode(c, files, os.path.join(img, 'files.img'))
    inventory_as_crit_writes_it(c, img)
    c.mark_outside()
    inside = c.scratch_snapshot(['img'])
    c.refused(prog, img, 'restore-forged', ['where a dump makes it'], extra=['--link-remap'],
              what='with the link remap renamed to a victim')
    if not os.path.isfile(victim) or read(victim) != vdata:
        raise CheckFailed('the refused restore removed or changed the victim %s' % victim)
    d = snap_diff(inside, c.scratch_snapshot(['img']))
    if d:
        raise CheckFailed('the refused restore changed the scratch dir: %s' % '; '.join(d[:6]))
    c.check_outside('after the refused restore')
    put_back(c, img, 'files.img')
    put_back(c, img, 'inventory.img')
    c.restore_ok(prog, img, 'restore-orig', extra=['--link-remap'])
    if not os.path.isfile(victim):
        raise CheckFailed('the restore of the original images removed the victim %s' % victim)
    c.check_outside('after the restore of the original images')


def check_cgroup_dotdot(c):
    """cgroup.img's paths name directories a restore with --manage-cgroups
    makes and files it writes: one with ".." is refused."""
    need_crit()
    prog = c.start('counter')
    img = c.dump(prog, extra=['--manage-cgroups'])
    inventory_as_crit_writes_it(c, img)
    path = os.path.join(img, 'cgroup.img')
    data = crit_decode(c, path)
    backup(c, img, 'cgroup.img')
    victim = c.vpath('made-by-cgroup')
    for s in data['entries'][0]['sets']:
        for m in s['ctls']:
            m['path'] = '/../../../..' + victim
    crit_encode(c, data, path)
    c.mark_outside()
    c.refused(prog, img, 'restore-cg', ['cgroup path', 'damaged'], ['--manage-cgroups'],
              what='with cgroup.img naming a path with ..')
    c.check_outside('after the refused restore')
    if os.path.exists(victim):
        raise CheckFailed('the refused restore made %s' % victim)
    put_back(c, img, 'cgroup.img')
    c.restore_ok(prog, img, 'restore-orig', ['--manage-cgroups'])


# ---- images cut short, --images-trust owner -----------------------------------

def check_truncated_pagemap(c):
    """A pagemap cut at an entry boundary still parses; the sizes the dump
    recorded in inventory.img make the restore refuse it."""
    need_crit()
    prog = c.start('counter')
    img = c.dump(prog)
    pm = 'pagemap-%d.img' % prog.pid
    data = crit_decode(c, os.path.join(img, pm))
    if len(data['entries']) < 3:
        raise CheckFailed('%s has too few entries to cut: %d' % (pm, len(data['entries'])))
    backup(c, img, pm)
    data['entries'] = data['entries'][:-1]
    crit_encode(c, data, os.path.join(img, pm))
    c.mark_outside()
    c.refused(prog, img, 'restore-cut', ['cut short', pm], what='with %s one entry short' % pm)
    c.check_outside('after the refused restore')
    put_back(c, img, pm)
    c.restore_ok(prog, img, 'restore-orig')


NOBODY = 65534


def chown_tree(path, uid, gid):
    for d, _, files in os.walk(path):
        os.chown(d, uid, gid)
        for f in files:
            os.chown(os.path.join(d, f), uid, gid)


def check_trust_owner(c):
    """--images-trust owner: images of root's (root-owned) restore; a
    directory others may write, or a non-root owner whose images ask for
    root, is refused."""
    prog = c.start('counter')
    img = c.dump(prog)
    os.chmod(img, 0o770)
    c.refused(prog, img, 'restore-grpw', ['--images-trust owner', 'writable by its group'],
              ['--images-trust', 'owner'], what='from a group-writable directory')
    os.chmod(img, 0o700)
    chown_tree(img, NOBODY, NOBODY)
    c.refused(prog, img, 'restore-nobody', ['--images-trust owner', 'asks for uid 0'],
              ['--images-trust', 'owner'], what='of a root process from nobody\'s directory')
    # without the option the same images restore (cryo trusts them, as criu)
    c.restore_ok(prog, img, 'restore-any')
    prog = c.start('counter', sub='prog2')
    img = c.dump(prog, 'img2')
    c.restore_ok(prog, img, 'restore-root', ['--images-trust', 'owner'])


def check_trust_mntns(c):
    """--images-trust owner: images of a tree in a mount namespace of its
    own, owned by another user than root, are refused (cryo would make the
    mounts they describe as root); as root's they restore."""
    prog = c.start('ns_mnt')
    img = c.dump(prog)
    os.chmod(img, 0o700)
    chown_tree(img, NOBODY, NOBODY)
    c.refused(prog, img, 'restore-nobody', ['--images-trust owner', 'mount namespace'],
              ['--images-trust', 'owner'], what='of a mount namespace from nobody\'s directory')
    chown_tree(img, 0, 0)
    c.restore_ok(prog, img, 'restore-root', ['--images-trust', 'owner'])


def check_trust_unprivileged(c):
    """An unprivileged user's process: its own images restore under
    --images-trust owner; forged to open a file it can't read, or to run as
    root, they are refused."""
    need_crit()
    os.chmod(c.top, 0o711)      # mkdtemp's 0700 would keep nobody out
    prog = c.start('counter', uid=NOBODY)
    img = c.dump(prog)
    chown_tree(img, NOBODY, NOBODY)
    os.chmod(img, 0o700)
    c.restore_ok(prog, img, 'restore-own', ['--images-trust', 'owner'])

    prog = c.start('counter', sub='prog2', uid=NOBODY)
    img = c.dump(prog, 'img2')
    chown_tree(img, NOBODY, NOBODY)
    os.chmod(img, 0o700)
    inventory_as_crit_writes_it(c, img)
    write(c.vpath('secret'), b'root only\n', 0o600)
    files = crit_decode(c, os.path.join(img, 'files.img'))
    names = reg_names(files)
    out = [i for i, n in names.items() if n.endswith('/stdout.txt')]
    if not out:
        raise CheckFailed('files.img has no stdout.txt among %s' % sorted(names.values()))
    backup(c, img, 'files.img')
    set_reg_name(files, out[0], c.vpath('secret'))
    crit_encode(c, files, os.path.join(img, 'files.img'))
    os.chown(os.path.join(img, 'files.img'), NOBODY, NOBODY)
    c.mark_outside()
    c.refused(prog, img, 'restore-secret', ['--images-trust owner', 'secret', 'may not'],
              ['--images-trust', 'owner'], what='with files.img naming a root-only file')
    c.check_outside('after the refused restore')
    put_back(c, img, 'files.img')
    os.chown(os.path.join(img, 'files.img'), NOBODY, NOBODY)

    core = 'core-%d.img' % prog.pid
    data = crit_decode(c, os.path.join(img, core))
    backup(c, img, core)
    cr = data['entries'][0]['thread_core']['creds']
    for k in ('uid', 'euid', 'suid', 'fsuid'):
        cr[k] = 0
    crit_encode(c, data, os.path.join(img, core))
    os.chown(os.path.join(img, core), NOBODY, NOBODY)
    c.refused(prog, img, 'restore-root', ['--images-trust owner', 'asks for uid 0'],
              ['--images-trust', 'owner'], what='with the core forged to uid 0')
    put_back(c, img, core)
    os.chown(os.path.join(img, core), NOBODY, NOBODY)
    c.restore_ok(prog, img, 'restore-orig', ['--images-trust', 'owner'])


CHECKS = [
    ('control', check_control),
    ('symlink_image_read', check_symlink_image_read),
    ('fifo_image', check_fifo_image),
    ('parent_link', check_parent_link),
    ('planted_dump', check_planted_dump),
    ('planted_log_pidfile', check_planted_log_pidfile),
    ('ghost_dotdot', check_ghost_dotdot),
    ('ghost_symlink_dir', check_ghost_symlink_dir),
    ('forged_remap', check_forged_remap),
    ('cgroup_dotdot', check_cgroup_dotdot),
    ('truncated_pagemap', check_truncated_pagemap),
    ('trust_owner', check_trust_owner),
    ('trust_unprivileged', check_trust_unprivileged),
    ('trust_mntns', check_trust_mntns),
]


def main():
    top = tempfile.mkdtemp(prefix='cryo-hostile.', dir='/tmp')
    note('work files in %s' % top)
    rc = run_checks('hostile', CHECKS, lambda name: Check(top, name), __doc__,
                    needs=[(n, prog_path(n)) for n in
                           ('counter', 'files_ghost', 'files_link_remap', 'ns_mnt')])
    if rc in (0, 77) and '--keep' not in sys.argv:
        shutil.rmtree(top, ignore_errors=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
