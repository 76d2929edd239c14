/* Terminals, dump side (see tty.h and docs/terminals.md).
 *
 * ->dump classifies each open terminal description (pty master, pty slave,
 * /dev/tty, virtual console, serial port) and writes its tty_file_entry.
 * What needs the whole tree waits for tty_dump_tree: which session each
 * terminal controls (and whether that session's leader is in the tree:
 * if not, it is the shell's terminal, refused without --shell-job), the
 * tty-info.img entries, and last the bytes queued in each pty pair.
 *
 * Queued bytes can't be peeked at: they are read (consumed) from the
 * stopped tree, and written back in ->dump_finish unless the tree is
 * killed after a successful dump, as criu does. */
#include "files/files-int.h"
#include "files/tty-int.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include "regfile.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/major.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

enum tty_class { TC_PTM, TC_PTS, TC_CTTY, TC_VT, TC_SERIAL, TC_EXT, TC_CONSOLE };

static const char *const class_name[] = {
	[TC_PTM] = "a pseudo-terminal master",
	[TC_PTS] = "a pseudo-terminal slave",
	[TC_CTTY] = "/dev/tty",
	[TC_VT] = "a virtual console",
	[TC_SERIAL] = "a serial port",
	[TC_EXT] = "an external terminal",
	[TC_CONSOLE] = "the system console",
};

/* One dumped open file description of a terminal. */
struct tty_desc {
	uint32_t info_id;
	enum tty_class cls;
	int index;		/* pty index (of the terminal it reaches), or -1 */
	dev_t rdev, dev;	/* of the descriptor itself */
	dev_t real;		/* the terminal it reaches: a pty's slave side */
	int lfd;		/* cryo's duplicate */
	pid_t pid;
	int fd;
	char *path;
	pid_t sid, pgrp;	/* session it controls and its foreground group */
};

/* Bytes read out of a pty pair (to be put back unless the tree dies). */
struct pty_queued {
	int master;		/* a tty_desc's lfd (the tree's description) */
	int slave;		/* cryo's own slave descriptor, or -1 */
	char *in, *out;		/* typed in, not read by the slave / written by it */
	size_t in_len, out_len;
	char what[32];
};

struct tty_dump_state {
	struct tty_desc *v;
	int n, cap;
	struct pty_queued *q;
	int nq;
};

/* --- dump: one description --- */

static bool is_pts(dev_t d)
{
	return major(d) >= UNIX98_PTY_SLAVE_MAJOR &&
	       major(d) < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT;
}

static int pts_index(dev_t d)
{
	return (major(d) - UNIX98_PTY_SLAVE_MAJOR) * 256 + minor(d);
}

static dev_t pts_dev(int index)
{
	return makedev(UNIX98_PTY_SLAVE_MAJOR + index / 256, index % 256);
}

static struct tty_dump_state *dstate(struct files_dump *fdm)
{
	struct tty_dump_state *s = fdm->kind_state[FDK_TTY];
	if (!s) {
		s = xzalloc(sizeof(*s));
		fdm->kind_state[FDK_TTY] = s;
	}
	return s;
}

static int refuse(struct fd_dump *d, const char *what, const char *why)
{
	pr_err(FD_FMT " is %s (%s): %s", FD_ARGS(d), what, d->path, why);
	return -EOPNOTSUPP;
}

/* --external tty[RDEV:DEV] (criu's key: the descriptor's st_rdev and
 * st_dev in hex): a terminal that whoever restores hands back with
 * --inherit-fd, e.g. a pty slave whose master is outside the tree. */
static bool is_external(struct fd_dump *d)
{
	char key[64];
	const struct str_list *l = &d->fdm->opts->external;
	snprintf(key, sizeof(key), "tty[%llx:%llx]", (unsigned long long)d->st.st_rdev,
		 (unsigned long long)d->st.st_dev);
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], key)) {
			pr_info(FD_FMT " (%s) is an external terminal: %s", FD_ARGS(d), d->path,
				key);
			return true;
		}
	return false;
}

static int classify(struct fd_dump *d, int lfd, struct tty_desc *t)
{
	unsigned maj = major(t->rdev), min = minor(t->rdev);
	t->index = -1;
	t->real = t->rdev;
	if (is_external(d)) {
		/* tty_info_entry keeps 32 bits of each (the key at restore) */
		if (t->rdev > UINT32_MAX || t->dev > UINT32_MAX)
			return refuse(d, "an external terminal", "its device numbers do not fit "
				      "criu's image format");
		t->cls = TC_EXT;
		t->info_id = TTY_INFO_EXT;
		return 0;
	}
	if (maj == TTYAUX_MAJOR && min == 2) {
		int idx;
		if (ioctl(lfd, TIOCGPTN, &idx))
			return_perror("ioctl(TIOCGPTN) on " FD_FMT " (%s)", FD_ARGS(d), d->path);
		t->cls = TC_PTM;
		t->index = idx;
		t->real = pts_dev(idx);
	} else if (is_pts(t->rdev)) {
		t->cls = TC_PTS;
		t->index = pts_index(t->rdev);
	} else if (maj == TTYAUX_MAJOR && min == 0) {
		unsigned int dev;
		if (ioctl(lfd, TIOCGDEV, &dev)) {
			if (errno == EIO)
				return refuse(d, "/dev/tty", "its terminal was hung up (its session "
					      "ended): cryo can't restore a hung-up terminal");
			return_perror("ioctl(TIOCGDEV) on " FD_FMT " (%s)", FD_ARGS(d), d->path);
		}
		t->cls = TC_CTTY;
		t->real = makedev(major(dev), minor(dev));
		if (is_pts(t->real))
			t->index = pts_index(t->real);
		else if (major(t->real) != TTY_MAJOR)
			return refuse(d, "/dev/tty", "it stands for a terminal that is neither a "
				      "pseudo-terminal nor a console or serial port: cryo can't "
				      "restore it");
	} else if (maj == TTYAUX_MAJOR && min == 1) {
		t->cls = TC_CONSOLE;
	} else if (maj == TTY_MAJOR) {
		t->cls = min < 64 ? TC_VT : TC_SERIAL;
	} else {
		return refuse(d, "a terminal of an unknown kind", "cryo restores pseudo-terminals "
			      "(and, with --shell-job, the shell's terminal) only");
	}
	if (t->index > TTY_MAX_PTY_INDEX) {
		char why[160];
		snprintf(why, sizeof(why), "its index %d is above %d, the largest criu's image "
			 "format can number", t->index, TTY_MAX_PTY_INDEX);
		return refuse(d, "a pseudo-terminal", why);
	}
	switch (t->cls) {
	case TC_PTM: t->info_id = tty_pty_info_id(t->index, true); break;
	case TC_PTS: t->info_id = tty_pty_info_id(t->index, false); break;
	case TC_CTTY: t->info_id = TTY_INFO_CTTY; break;
	case TC_VT: t->info_id = TTY_INFO_VT; break;
	case TC_SERIAL: t->info_id = TTY_INFO_SERIAL; break;
	case TC_EXT: break;	/* set above */
	case TC_CONSOLE: t->info_id = TTY_INFO_CONSOLE; break;
	}
	return 0;
}

static int tty_dump(struct fd_dump *d)
{
	struct tty_dump_state *s = dstate(d->fdm);
	if (!s)
		return -ENOMEM;
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	struct tty_desc t = { .rdev = d->st.st_rdev, .dev = d->st.st_dev, .pid = d->pid,
			      .fd = d->fd, .lfd = -1 };
	int ret = classify(d, lfd, &t);
	if (ret)
		return ret;

	FownEntry fown = FOWN_ENTRY__INIT;
	ret = fd_dump_fown(d, &fown);
	if (ret)
		return ret;
	/* the device's path, as criu writes it: a reg_file_entry of its own */
	RegFileEntry rfe = REG_FILE_ENTRY__INIT;
	FileEntry rfe_fe = FILE_ENTRY__INIT;
	uint32_t regf_id = d->fdm->next_id++;
	rfe.has_id = rfe.has_flags = rfe.has_pos = 1;
	rfe.id = regf_id;
	rfe.flags = d->fi.flags & ~O_CLOEXEC;
	rfe.fown = &fown;
	rfe.name = d->path;
	rfe.has_mnt_id = 1;
	rfe.mnt_id = d->fi.mnt_id;
	rfe.has_mode = 1;
	rfe.mode = d->st.st_mode;
	rfe_fe.has_type = rfe_fe.has_id = 1;
	rfe_fe.type = FD_TYPES__REG;
	rfe_fe.id = regf_id;
	rfe_fe.reg = &rfe;
	ret = img_write_msg(d->fdm->files_img, &rfe_fe.base);
	if (ret)
		return ret;

	TtyFileEntry tfe = TTY_FILE_ENTRY__INIT;
	FileEntry fe = FILE_ENTRY__INIT;
	tfe.has_id = tfe.has_tty_info_id = tfe.has_flags = tfe.has_regf_id = 1;
	tfe.id = d->id;
	tfe.tty_info_id = t.info_id;
	tfe.flags = d->fi.flags & ~O_CLOEXEC;
	tfe.fown = &fown;
	tfe.regf_id = regf_id;
	fe.tty = &tfe;
	ret = files_emit(d, &fe);
	if (ret)
		return ret;

	if (s->n == s->cap) {
		int ncap = s->cap ? s->cap * 2 : 8;
		struct tty_desc *n = xrealloc(s->v, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->v = n;
		s->cap = ncap;
	}
	t.lfd = fcntl(lfd, F_DUPFD_CLOEXEC, 3);
	if (t.lfd < 0)
		return_perror("can't duplicate the descriptor of " FD_FMT, FD_ARGS(d));
	t.path = strdup(d->path);
	if (!t.path) {
		close(t.lfd);
		return -ENOMEM;
	}
	s->v[s->n++] = t;
	pr_debug(FD_FMT ": %s %s, tty info %u", FD_ARGS(d), class_name[t.cls], d->path, t.info_id);
	return 0;
}

/* --- dump: the whole tree --- */

struct stat_tty {
	pid_t sid, tpgid;
	dev_t tty;
};

static int read_stat_tty(pid_t pid, struct stat_tty *o)
{
	char path[64], *buf;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	ssize_t n = read_file(AT_FDCWD, path, &buf, true);
	if (n < 0)
		return n;
	char *p = strrchr(buf, ')'), st;
	int ppid, pgrp, sid, ttynr, tpgid;
	int got = p ? sscanf(p + 1, " %c %d %d %d %d %d", &st, &ppid, &pgrp, &sid, &ttynr, &tpgid)
		    : 0;
	free(buf);
	if (got != 6)
		return -EINVAL;
	o->sid = sid;
	o->tpgid = tpgid > 0 ? tpgid : 0;
	o->tty = ttynr ? makedev(major((unsigned)ttynr), minor((unsigned)ttynr)) : 0;
	return 0;
}

static bool in_tree(const struct seized_tree *tree, pid_t pid)
{
	for (int i = 0; i < tree->nr_procs; i++)
		if (tree->procs[i]->pid == pid)
			return true;
	return false;
}

/* The session of tree task @pid as cryo sees it; 0 if not in the tree. */
static pid_t task_sid(const struct seized_tree *tree, pid_t pid)
{
	for (int i = 0; i < tree->nr_procs; i++)
		if (tree->procs[i]->pid == pid)
			return tree->procs[i]->sid;
	return 0;
}

static struct tty_desc *master_of(struct tty_dump_state *s, int index)
{
	for (int i = 0; i < s->n; i++)
		if (s->v[i].cls == TC_PTM && s->v[i].index == index)
			return &s->v[i];
	return NULL;
}

static bool stat_matches(pid_t pid, dev_t real, pid_t *sid, pid_t *pgrp)
{
	struct stat_tty st;
	if (read_stat_tty(pid, &st) || st.tty != real)
		return false;
	*sid = st.sid;
	*pgrp = st.tpgid;
	return true;
}

/* Which session has @t's terminal as its controlling terminal (0: none),
 * and its foreground process group. */
static void find_session(struct tty_dump_state *s, const struct seized_tree *tree,
			 struct tty_desc *t)
{
	int v;
	t->sid = t->pgrp = 0;
	/* the master answers for its slave, to anyone */
	struct tty_desc *m = t->index >= 0 ? master_of(s, t->index) : NULL;
	if (m) {
		if (!ioctl(m->lfd, TIOCGSID, &v)) {
			t->sid = v;
			if (!ioctl(m->lfd, TIOCGPGRP, &v))
				t->pgrp = v;
		}
		return;
	}
	/* the terminal itself answers only if it is cryo's own */
	if (!ioctl(t->lfd, TIOCGSID, &v)) {
		t->sid = v;
		if (!ioctl(t->lfd, TIOCGPGRP, &v))
			t->pgrp = v;
		return;
	}
	/* otherwise: a process whose controlling terminal it is */
	for (int i = 0; i < tree->nr_procs; i++)
		if (stat_matches(tree->procs[i]->pid, t->real, &t->sid, &t->pgrp))
			return;
	DIR *dir = opendir("/proc");
	if (!dir)
		return;
	struct dirent *de;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (stat_matches(pid, t->real, &t->sid, &t->pgrp))
			break;
	}
	closedir(dir);
}

#define TREFUSE(t, fmt, ...)                                                              \
	do {                                                                              \
		pr_err("fd %d of process %d is %s (%s): " fmt, (t)->fd, (t)->pid,           \
		       class_name[(t)->cls], (t)->path, ##__VA_ARGS__);                    \
		return -EOPNOTSUPP;                                                       \
	} while (0)

/* --orphan-pts-master: a pty slave whose master is outside the tree (a
 * container runtime's console) is dumped as a plain pty slave; the
 * restore makes a new pair and hands its master to the RPC client.  Not
 * for the terminal of a session led from outside (the shell's: that is
 * --shell-job), and /dev/tty only alongside a slave descriptor of the
 * same pty (the restore recreates the pair from the slave's entry). */
static bool orphan_ok(struct files_dump *fdm, struct tty_dump_state *s, struct tty_desc *t,
		      bool ext)
{
	if (!fdm->opts->orphan_pts_master || ext || t->index < 0 || !is_pts(t->real) ||
	    master_of(s, t->index))
		return false;
	bool slave = t->cls == TC_PTS;
	for (int i = 0; i < s->n && !slave; i++)
		slave = s->v[i].cls == TC_PTS && s->v[i].index == t->index;
	if (!slave)
		return false;
	if (t->cls == TC_PTS)
		pr_info("fd %d of process %d (%s): its pty master is outside the tree; the restore "
			"gives it a new pair whose master goes to the RPC client "
			"(--orphan-pts-master)", t->fd, t->pid, t->path);
	return true;
}

static int check_one(struct files_dump *fdm, struct tty_dump_state *s,
		     const struct seized_tree *tree, struct tty_desc *t, struct tty_desc **shell)
{
	char real[32];
	if (is_pts(t->real))
		snprintf(real, sizeof(real), "/dev/pts/%d", t->index);
	else
		snprintf(real, sizeof(real), "device %u:%u", major(t->real), minor(t->real));
	if (t->cls == TC_CTTY) {
		struct stat_tty me;
		if (read_stat_tty(t->pid, &me) || me.tty != t->real)
			TREFUSE(t, "it was opened on %s, which is no longer the controlling terminal "
				"of that process: cryo can reopen /dev/tty only as the process's "
				"controlling terminal", real);
	}
	bool ext = t->sid && !in_tree(tree, t->sid);
	if (t->cls == TC_EXT) {
		if (t->sid && !ext)
			TREFUSE(t, "it is the controlling terminal of session %d of the dumped tree: "
				"cryo restores an external terminal (--external tty[...]) as a plain "
				"descriptor only", t->sid);
		return 0;
	}
	if (t->index >= 0 && master_of(s, t->index)) {
		/* a pair made inside the tree */
		if (ext)
			TREFUSE(t, "%s is the controlling terminal of session %d, whose leader is "
				"not in the dumped tree: dump the session leader with it", real,
				t->sid);
		return 0;
	}
	if (orphan_ok(fdm, s, t, ext))
		return 0;
	if (t->sid && !ext)
		TREFUSE(t, "%s is the controlling terminal of session %d of the dumped tree, but "
			"%s: cryo can't recreate it%s", real, t->sid,
			t->index >= 0 ? "its pty master is not in the tree"
				      : "cryo recreates pseudo-terminals only",
			t->index >= 0 ? " (a container runtime's console, runc's \"terminal\": "
					"true: dump and restore with --orphan-pts-master, criu's "
					"orphan_pts_master, which runc and podman send: the restore then "
					"hands a new master to the RPC client)" : "");
	/* The system console and a virtual console, held as plain descriptors,
	 * are devices that stay: they are reopened by path (as criu does). */
	if (!t->sid && (t->cls == TC_VT || t->cls == TC_CONSOLE))
		return 0;
	if (!ext && (t->cls == TC_VT || t->cls == TC_SERIAL || !is_pts(t->real)))
		TREFUSE(t, "cryo recreates pseudo-terminals only (a console or serial port can "
			"stand in only for the terminal of the shell the tree was started from, "
			"with --shell-job)");
	if (!fdm->opts->shell_job) {
		/* A terminal multiplexer's server (tmux, screen) holds its clients'
		 * terminals, passed over a unix socket: not its own session's. */
		pid_t holder_sid = task_sid(tree, t->pid);
		if (ext && holder_sid > 0 && holder_sid != t->sid)
			TREFUSE(t, "%s is the terminal of session %d outside the dumped tree, held "
				"only as a descriptor (not this process's controlling terminal: "
				"passed to it, as a terminal multiplexer's clients pass theirs): "
				"close it before the dump (detach that client), or dump with "
				"--shell-job to give it the restoring cryo's terminal", real,
				t->sid);
		if (ext)
			TREFUSE(t, "%s is the terminal of the shell that started it (session %d, "
				"outside the dumped tree). Task attached to shell terminal. Consider "
				"using --shell-job option.", real, t->sid);
		TREFUSE(t, "a pseudo-terminal whose master is not in the dumped tree: cryo can't "
			"recreate it (with --shell-job it is replaced by cryo's own terminal; with "
			"--orphan-pts-master, as container runtimes dump their consoles, by a new "
			"pair whose master goes to the RPC client at restore)");
	}
	/* --shell-job: at restore, cryo's terminal takes its place */
	if (*shell && (*shell)->real != t->real)
		TREFUSE(t, "a second terminal from outside the tree (fd %d of process %d is %s): "
			"only one, the shell's, can be replaced by cryo's terminal", (*shell)->fd,
			(*shell)->pid, (*shell)->path);
	if (!*shell)
		pr_info("fd %d of process %d (%s) is the shell's terminal: restore gives it the "
			"restoring cryo's terminal (--shell-job)", t->fd, t->pid, t->path);
	*shell = t;
	return 0;
}

/* The owner and mode of pty @index's slave inode (/dev/pts/N), which
 * chown/chmod (grantpt) may have changed: through a slave descriptor of
 * the tree, or one opened from the master with O_PATH (which, unlike a
 * real open, leaves the pair as it is: its last close would hang up the
 * master). */
static int slave_stat(struct tty_dump_state *s, struct tty_desc *t, struct stat *st)
{
	for (int i = 0; i < s->n; i++)
		if (s->v[i].cls == TC_PTS && s->v[i].index == t->index) {
			if (fstat(s->v[i].lfd, st))
				return_perror("fstat of fd %d of process %d (%s)", s->v[i].fd,
					      s->v[i].pid, s->v[i].path);
			return 0;
		}
	struct tty_desc *m = master_of(s, t->index);
	if (!m)
		return -ENOENT;
	int fd = ioctl(m->lfd, TIOCGPTPEER, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't reach the slave of /dev/pts/%d through its master (fd %d of "
			      "process %d) to read its owner (TIOCGPTPEER)", t->index, m->fd,
			      m->pid);
	int ret = fstat(fd, st) ? -errno : 0;
	if (ret)
		pr_perror("fstat of the slave of /dev/pts/%d", t->index);
	close(fd);
	return ret;
}

static int write_info(struct tty_dump_state *s, struct cr_img *img, struct tty_desc *t)
{
	TtyInfoEntry ie = TTY_INFO_ENTRY__INIT;
	TermiosEntry te = TERMIOS_ENTRY__INIT, tl = TERMIOS_ENTRY__INIT;
	WinsizeEntry we = WINSIZE_ENTRY__INIT;
	TtyPtyEntry pe = TTY_PTY_ENTRY__INIT;
	uint32_t cc[TTY_NCC], ccl[TTY_NCC];
	struct termios tm, tml;
	struct winsize ws;
	int v;

	memset(&tm, 0, sizeof(tm));
	memset(&tml, 0, sizeof(tml));
	memset(&ws, 0, sizeof(ws));
	if (ioctl(t->lfd, TCGETS, &tm)) {
		if (errno == EIO)
			TREFUSE(t, "the terminal was hung up: cryo can't restore a hung-up terminal");
		return_perror("can't read the settings (TCGETS) of fd %d of process %d (%s)", t->fd,
			      t->pid, t->path);
	}
	if (ioctl(t->lfd, TIOCGLCKTRMIOS, &tml) || ioctl(t->lfd, TIOCGWINSZ, &ws))
		return_perror("can't read the locked settings or window size of fd %d of process "
			      "%d (%s)", t->fd, t->pid, t->path);
	ie.has_id = ie.has_type = ie.has_locked = ie.has_exclusive = ie.has_packet_mode = 1;
	ie.has_sid = ie.has_pgrp = ie.has_rdev = ie.has_dev = 1;
	ie.id = t->info_id;
	ie.sid = t->sid;
	ie.pgrp = t->pgrp;
	ie.rdev = t->rdev;
	ie.dev = t->dev;
	switch (t->cls) {
	case TC_PTM:
	case TC_PTS: ie.type = TTY_TYPE__PTY; break;
	case TC_CTTY: ie.type = TTY_TYPE__CTTY; break;
	case TC_VT: ie.type = TTY_TYPE__VT; break;
	case TC_SERIAL: ie.type = TTY_TYPE__SERIAL; break;
	case TC_EXT: ie.type = TTY_TYPE__EXT_TTY; break;
	case TC_CONSOLE: ie.type = TTY_TYPE__CONSOLE; break;
	}
	if (ie.type == TTY_TYPE__PTY) {
		pe.has_index = 1;
		pe.index = t->index;
		ie.pty = &pe;
		struct tty_desc *m = master_of(s, t->index);
		if (m && !ioctl(m->lfd, TIOCGPTLCK, &v))
			ie.locked = v;
		if (m && !ioctl(m->lfd, TIOCGPKT, &v))
			ie.packet_mode = v;
		/* both entries of a pair carry the slave's owner and mode (the
		 * master's own inode is the system's /dev/ptmx) */
		struct stat st;
		int ret = slave_stat(s, t, &st);
		if (ret)
			return ret;
		ie.has_uid = ie.has_gid = ie.has_mode = 1;
		ie.uid = st.st_uid;
		ie.gid = st.st_gid;
		ie.mode = st.st_mode & 07777;
	}
	if (!ioctl(t->lfd, TIOCGEXCL, &v))
		ie.exclusive = v;
	tty_termios_to_entry(&tm, &te, cc);
	tty_termios_to_entry(&tml, &tl, ccl);
	we.has_ws_row = we.has_ws_col = we.has_ws_xpixel = we.has_ws_ypixel = 1;
	we.ws_row = ws.ws_row;
	we.ws_col = ws.ws_col;
	we.ws_xpixel = ws.ws_xpixel;
	we.ws_ypixel = ws.ws_ypixel;
	ie.termios = &te;
	ie.termios_locked = &tl;
	ie.winsize = &we;
	pr_debug("tty info %u: %s, session %d, foreground group %d", ie.id, t->path, ie.sid,
		 ie.pgrp);
	return img_write_msg(img, &ie.base);
}

/* Read everything a descriptor has (it is non-blocking).  In packet mode
 * each read of a master starts with a status byte: data reads carry
 * TIOCPKT_DATA (0), a lone non-zero byte is a status report (dropped). */
static int drain(int fd, bool packet, char **buf, size_t *len, const char *what)
{
	size_t cap = 0;
	char chunk[4096];
	*buf = NULL;
	*len = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EIO)))
			return 0;	/* EIO: the other side is closed and nothing is left */
		if (n < 0)
			return_perror("can't read the bytes queued in %s", what);
		char *p = chunk;
		if (packet) {
			if (chunk[0] != TIOCPKT_DATA) {
				pr_info("%s: packet-mode status 0x%x is not kept", what, chunk[0]);
				continue;
			}
			p++;
			n--;
		}
		if (*len + n > cap) {
			cap = (*len + n) * 2;
			char *nb = xrealloc(*buf, cap);
			if (!nb)
				return -ENOMEM;
			*buf = nb;
		}
		memcpy(*buf + *len, p, n);
		*len += n;
	}
}

/* A slave descriptor of cryo's own (the tree's may be absent), even if the
 * pty is locked against new opens. */
static int open_peer(int master, int flags, const char *what)
{
	int locked = 0, zero = 0, one = 1;
	ioctl(master, TIOCGPTLCK, &locked);
	if (locked && ioctl(master, TIOCSPTLCK, &zero))
		return_perror("can't unlock %s", what);
	int fd = ioctl(master, TIOCGPTPEER, flags);
	int e = errno;
	if (locked)
		ioctl(master, TIOCSPTLCK, &one);
	if (fd < 0) {
		errno = e;
		return_perror("can't open the slave side of %s (TIOCGPTPEER, Linux 4.13+)", what);
	}
	return fd;
}

static int data_entry(struct files_dump *fdm, uint32_t id, const char *buf, size_t len)
{
	struct cr_img *img;
	int ret = files_dump_img(fdm, IMG_TTY_DATA, &img);
	if (ret)
		return ret;
	TtyDataEntry de = TTY_DATA_ENTRY__INIT;
	de.has_tty_id = de.has_data = 1;
	de.tty_id = id;
	de.data.data = (uint8_t *)buf;
	de.data.len = len;
	return img_write_msg(img, &de.base);
}

static int dump_queued(struct files_dump *fdm, struct tty_dump_state *s, struct tty_desc *m)
{
	struct pty_queued *q = xrealloc(s->q, (s->nq + 1) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	s->q = q;
	q = &s->q[s->nq++];
	memset(q, 0, sizeof(*q));
	q->master = m->lfd;
	q->slave = -1;
	snprintf(q->what, sizeof(q->what), "/dev/pts/%d", m->index);

	/* output of the slave side, waiting in the master (the tree's own
	 * description: its flags are put back) */
	int fl = fcntl(m->lfd, F_GETFL), pkt = 0;
	if (fl < 0)
		return_perror("fcntl(F_GETFL) on the master of %s", q->what);
	ioctl(m->lfd, TIOCGPKT, &pkt);
	if (fcntl(m->lfd, F_SETFL, fl | O_NONBLOCK))
		return_perror("fcntl(F_SETFL) on the master of %s", q->what);
	int ret = drain(m->lfd, pkt, &q->out, &q->out_len, q->what);
	if (fcntl(m->lfd, F_SETFL, fl) && !ret)
		return_perror("can't put the flags of the master of %s back", q->what);
	if (ret)
		return ret;

	/* input typed into the master, waiting in the slave: read with
	 * canonical mode off, or a line not ended yet would not come out */
	q->slave = open_peer(m->lfd, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, q->what);
	if (q->slave < 0)
		return q->slave;
	struct termios old, lck, nolck, raw;
	memset(&old, 0, sizeof(old));
	memset(&lck, 0, sizeof(lck));
	memset(&nolck, 0, sizeof(nolck));
	if (ioctl(q->slave, TCGETS, &old) || ioctl(q->slave, TIOCGLCKTRMIOS, &lck))
		return_perror("can't read the settings of %s", q->what);
	bool canon = old.c_lflag & ICANON;
	bool locked = memcmp(&lck, &nolck, sizeof(lck)) != 0;
	if (canon) {
		raw = old;
		raw.c_lflag &= ~ICANON;
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if ((locked && ioctl(q->slave, TIOCSLCKTRMIOS, &nolck)) ||
		    tty_ioctl_quiet(q->slave, TCSETS, &raw))
			return_perror("can't turn canonical mode off on %s to read its input", q->what);
	}
	ret = drain(q->slave, false, &q->in, &q->in_len, q->what);
	if (canon && (tty_ioctl_quiet(q->slave, TCSETS, &old) ||
		      (locked && ioctl(q->slave, TIOCSLCKTRMIOS, &lck))) && !ret)
		return_perror("can't set the settings of %s back", q->what);
	if (ret)
		return ret;

	pr_info("%s: %zu input and %zu output bytes queued", q->what, q->in_len, q->out_len);
	if (q->out_len) {
		ret = data_entry(fdm, m->info_id, q->out, q->out_len);
		if (ret)
			return ret;
	}
	if (q->in_len) {
		bool slave_file = false;
		for (int i = 0; i < s->n; i++)
			if (s->v[i].info_id == tty_pty_info_id(m->index, false))
				slave_file = true;
		/* criu's format keeps input only with a slave file to hang it on */
		if (!slave_file)
			pr_warn("%s: %zu bytes of input are lost: no process of the tree has the "
				"slave open", q->what, q->in_len);
		else
			ret = data_entry(fdm, tty_pty_info_id(m->index, false), q->in, q->in_len);
	}
	return ret;
}

/* TIOCGSID, TIOCGPGRP and /proc/PID/stat give cryo's PIDs; the image
 * holds the tree's (criu's too), which the tree's own ioctls take at
 * restore (take_ctty runs in the task). */
static int to_tree_pids(struct files_dump *fdm, const struct seized_tree *tree,
			struct tty_desc *t)
{
	if (!fd_dump_in_pidns(fdm) || !t->sid)
		return 0;
	if (!in_tree(tree, t->sid)) {
		/* its leader is outside the namespace: no PID there */
		if (t->cls != TC_EXT)
			TREFUSE(t, "its session %d is led from outside the tree's PID namespace (the "
				"shell's terminal?): cryo can't hand a terminal from outside to a tree "
				"restored in a PID namespace of its own (--shell-job is not supported "
				"there); give the container a terminal of its own (a pty pair made "
				"inside the tree)", t->sid);
		t->sid = t->pgrp = 0;
		return 0;
	}
	pid_t sid = fd_dump_tree_vpid(fdm, F_OWNER_PID, t->sid);
	pid_t pgrp = t->pgrp ? fd_dump_tree_vpid(fdm, F_OWNER_PGRP, t->pgrp) : 0;
	if (t->pgrp && !pgrp)
		pr_warn("fd %d of process %d (%s): the foreground group %d of session %d has no "
			"process left; the session leader's group takes the foreground at restore",
			t->fd, t->pid, t->path, t->pgrp, t->sid);
	pr_debug("fd %d of process %d (%s): session %d, foreground group %d as the tree sees "
		 "them (%d and %d as cryo does)", t->fd, t->pid, t->path, sid, pgrp, t->sid,
		 t->pgrp);
	t->sid = sid;
	t->pgrp = pgrp;
	return 0;
}

int tty_dump_tree(struct files_dump *fdm, const struct seized_tree *tree)
{
	struct tty_dump_state *s = fdm->kind_state[FDK_TTY];
	if (!s || !s->n)
		return 0;
	struct tty_desc *shell = NULL;
	for (int i = 0; i < s->n; i++) {
		find_session(s, tree, &s->v[i]);
		int ret = check_one(fdm, s, tree, &s->v[i], &shell);
		if (!ret)
			ret = to_tree_pids(fdm, tree, &s->v[i]);
		if (ret)
			return ret;
	}
	struct cr_img *img;
	int ret = files_dump_img(fdm, IMG_TTY_INFO, &img);
	for (int i = 0; i < s->n && !ret; i++) {
		struct tty_desc *t = &s->v[i];
		bool first = true;
		for (int j = 0; j < i && first; j++) {
			if (s->v[j].info_id != t->info_id)
				continue;
			first = false;
			if (s->v[j].real != t->real)
				TREFUSE(t, "fd %d of process %d (%s) reaches another terminal; criu's image "
					"format holds one /dev/tty (or console) per dump", s->v[j].fd,
					s->v[j].pid, s->v[j].path);
		}
		if (first)
			ret = write_info(s, img, t);
	}
	/* last: reading the queued bytes consumes them */
	for (int i = 0; i < s->n && !ret; i++)
		if (s->v[i].cls == TC_PTM)
			ret = dump_queued(fdm, s, &s->v[i]);
	return ret;
}

static void tty_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	struct tty_dump_state *s = fdm->kind_state[FDK_TTY];
	if (!s)
		return;
	for (int i = 0; i < s->nq; i++) {
		struct pty_queued *q = &s->q[i];
		/* the tree goes on: its queued bytes go back where they were */
		if ((!ok || !killed) && q->slave >= 0 && (q->in_len || q->out_len) &&
		    tty_pty_refill(q->master, q->slave, q->in, q->in_len, q->out, q->out_len, q->what))
			pr_err("%s: the bytes queued in it could not all be put back", q->what);
		if (q->slave >= 0)
			close(q->slave);
		free(q->in);
		free(q->out);
	}
	for (int i = 0; i < s->n; i++) {
		close(s->v[i].lfd);
		free(s->v[i].path);
	}
	free(s->q);
	free(s->v);
	free(s);
	fdm->kind_state[FDK_TTY] = NULL;
}

const struct fd_kind fdk_tty = {
	.name = "terminal",
	.fd_type = FD_TYPES__TTY,
	.dump = tty_dump,
	.open = tty_open,
	.dump_finish = tty_dump_finish,
	.restore_finish = tty_restore_finish,
};
