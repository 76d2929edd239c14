/* Terminals, restore side (see tty.h and docs/terminals.md).
 *
 * A pty pair is recreated in cryo at its old index (ptmx is opened until
 * devpts hands out that index), with its settings, window size, packet
 * mode and queued bytes; it is locked and made exclusive again only once
 * every descriptor of it is open.  The controlling terminal and the
 * foreground group are set by the session leader itself (tty_restore_task,
 * injected open + TIOCSCTTY + TIOCSPGRP), and /dev/tty is opened in the
 * task that holds it, then taken into cryo (pidfd_getfd) so processes that
 * share it get the same open file description.  The shell's terminal
 * (--shell-job) becomes the restoring cryo's own terminal. */
#include "files/files-int.h"
#include "files/tty-int.h"
#include "seize/remote.h"
#include "util/pipeline.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct pty_pair {
	int index;
	int master;		/* cryo's duplicate of the master */
	int slave;		/* cryo's own slave descriptor, kept to the end */
	const TtyInfoEntry *mi, *si;
};

/* --orphan-pts-master: a slave whose master was outside the tree, on a new
 * pair (any free index) whose master went to the RPC client. */
struct pty_orphan {
	int old_index, new_index;
	int master, slave;	/* cryo's, closed at the end */
	char dir[64];		/* the devpts directory the slave was in */
};

struct tty_rst_state {
	struct pty_orphan *orphans;
	int norphans;
	TtyInfoEntry **info;
	int ninfo;
	TtyDataEntry **data;
	int ndata;
	struct pty_pair *pairs;
	int npairs;
	int shell_fd;		/* cryo's terminal (0, 1 or 2), -1 until needed */
	bool shell_used, shell_termios_done;
	pid_t root;		/* first process seen by tty_restore_task */
};

static int load_img(struct files_restore *fr, int type, const ProtobufCMessageDescriptor *desc,
		    ProtobufCMessage ***out, int *n)
{
	struct cr_img *img;
	int ret = img_open(&img, fr->dirfd, type, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		ProtobufCMessage *m;
		ret = img_read_msg(img, desc, &m);
		if (ret <= 0)
			break;
		ProtobufCMessage **nv = xrealloc(*out, (*n + 1) * sizeof(*nv));
		if (!nv) {
			protobuf_c_message_free_unpacked(m, NULL);
			ret = -ENOMEM;
			break;
		}
		*out = nv;
		(*out)[(*n)++] = m;
	}
	img_close(img);
	return ret < 0 ? ret : 0;
}

static int rstate(struct files_restore *fr, struct tty_rst_state **out)
{
	struct tty_rst_state *s = fr->kind_state[FDK_TTY];
	if (s) {
		*out = s;
		return 0;
	}
	s = xzalloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->shell_fd = -1;
	fr->kind_state[FDK_TTY] = s;
	*out = s;
	bool any = false;
	for (int i = 0; i < fr->nr_files && !any; i++)
		any = fr->files[i]->type == FD_TYPES__TTY;
	if (!any)
		return 0;
	int ret = load_img(fr, IMG_TTY_INFO, &tty_info_entry__descriptor,
			   (ProtobufCMessage ***)&s->info, &s->ninfo);
	if (!ret)
		ret = load_img(fr, IMG_TTY_DATA, &tty_data_entry__descriptor,
			       (ProtobufCMessage ***)&s->data, &s->ndata);
	return ret;
}

static TtyInfoEntry *find_info(struct tty_rst_state *s, uint32_t id)
{
	for (int i = 0; i < s->ninfo; i++)
		if (s->info[i]->id == id)
			return s->info[i];
	return NULL;
}

static const TtyDataEntry *find_data(struct tty_rst_state *s, uint32_t id)
{
	for (int i = 0; i < s->ndata; i++)
		if (s->data[i]->tty_id == id)
			return s->data[i];
	return NULL;
}

/* The entry of the file (in files.img) that is the master of pty @index. */
static struct rst_file *master_file(struct files_restore *fr, int index)
{
	for (int i = 0; i < fr->nr_files; i++) {
		const FileEntry *fe = fr->files[i];
		if (fe->type == FD_TYPES__TTY && fe->tty &&
		    fe->tty->tty_info_id == tty_pty_info_id(index, true))
			return &fr->rf[i];
	}
	return NULL;
}

static const char *regf_path(struct files_restore *fr, const TtyFileEntry *tfe)
{
	if (!tfe->has_regf_id)
		return NULL;
	const FileEntry *fe = files_find(fr, tfe->regf_id);
	return fe && fe->reg && fe->reg->name ? fe->reg->name : NULL;
}

static int set_params(int slave, const TtyInfoEntry *ie, const char *what)
{
	struct termios t;
	if (ie->termios) {
		tty_termios_from_entry(ie->termios, &t);
		if (tty_ioctl_quiet(slave, TCSETS, &t))
			return_perror("can't restore the settings (termios) of %s", what);
	}
	if (ie->winsize) {
		struct winsize w = { .ws_row = ie->winsize->ws_row, .ws_col = ie->winsize->ws_col,
				     .ws_xpixel = ie->winsize->ws_xpixel,
				     .ws_ypixel = ie->winsize->ws_ypixel };
		if (ioctl(slave, TIOCSWINSZ, &w))
			return_perror("can't restore the window size of %s", what);
	}
	if (ie->termios_locked) {
		struct termios none;
		tty_termios_from_entry(ie->termios_locked, &t);
		memset(&none, 0, sizeof(none));
		if (memcmp(&t, &none, sizeof(t)) && ioctl(slave, TIOCSLCKTRMIOS, &t))
			return_perror("can't restore the locked settings of %s (TIOCSLCKTRMIOS needs "
				      "CAP_SYS_ADMIN)", what);
	}
	return 0;
}

/* The slave inode's owner and mode as dumped (devpts made it root's, with
 * the mount's mode). */
static int set_owner(int slave, const TtyInfoEntry *ie, const char *what)
{
	if (!ie || !ie->has_uid || !ie->has_gid)
		return 0;
	if (fchown(slave, ie->uid, ie->gid))
		return_perror("can't give %s its owner back (fchown to uid %u gid %u)", what,
			      ie->uid, ie->gid);
	if (ie->has_mode && fchmod(slave, ie->mode & 07777))
		return_perror("can't give %s its mode %04o back (fchmod)", what, ie->mode & 07777);
	return 0;
}

/* ptmx hands out the lowest free index: open it until ours comes up. */
int tty_open_ptmx_at(const char *ptmx, int index)
{
	int *extra = xmalloc((TTY_MAX_PTY_INDEX + 1) * sizeof(int)), n = 0, fd = -1, ret = 0;
	if (!extra)
		return -ENOMEM;
	while (fd < 0) {
		int m = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (m < 0) {
			ret = -errno;
			pr_perror("can't open %s to recreate /dev/pts/%d", ptmx, index);
			break;
		}
		int got;
		if (ioctl(m, TIOCGPTN, &got)) {
			ret = -errno;
			pr_perror("ioctl(TIOCGPTN) on %s", ptmx);
			close(m);
			break;
		}
		if (got == index) {
			fd = m;
			break;
		}
		if (got > index || n > TTY_MAX_PTY_INDEX) {
			close(m);
			pr_err("can't recreate pseudo-terminal /dev/pts/%d: that index is in use on this "
			       "system (devpts handed out %d instead). cryo gives a restored pty its old "
			       "index, as criu does: close the terminal that holds /dev/pts/%d and "
			       "restore again", index, got, index);
			ret = -EBUSY;
			break;
		}
		extra[n++] = m;		/* keep the lower index taken while we go on */
	}
	for (int i = 0; i < n; i++)
		close(extra[i]);
	free(extra);
	return fd >= 0 ? fd : ret;
}

/* Recreate pty @index: the master (returned, for the master file) and all
 * its settings and queued bytes. */
static int pty_create(struct files_restore *fr, struct tty_rst_state *s, int index,
		      const char *ptmx)
{
	char what[32];
	snprintf(what, sizeof(what), "/dev/pts/%d", index);
	for (int i = 0; i < s->npairs; i++)
		if (s->pairs[i].index == index) {
			pr_err("files.img: two masters of %s", what);
			return -EINVAL;
		}
	struct pty_pair *np = xrealloc(s->pairs, (s->npairs + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	s->pairs = np;
	const TtyInfoEntry *mi = find_info(s, tty_pty_info_id(index, true));
	const TtyInfoEntry *si = find_info(s, tty_pty_info_id(index, false));
	const TtyInfoEntry *params = si && si->termios ? si : mi;
	if (!params || !params->termios) {
		pr_err("tty-info.img has no settings for %s", what);
		return -EINVAL;
	}
	int m = tty_open_ptmx_at(ptmx && *ptmx ? ptmx : "/dev/ptmx", index);
	if (m < 0)
		return m;
	int zero = 0, sl = -1, ret = 0, one = 1;
	if (ioctl(m, TIOCSPTLCK, &zero)) {
		ret = -errno;
		pr_perror("can't unlock %s", what);
		goto err;
	}
	sl = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0) {
		ret = -errno;
		pr_perror("can't open the slave side of %s (TIOCGPTPEER, Linux 4.13+)", what);
		goto err;
	}
	const TtyDataEntry *in = find_data(s, tty_pty_info_id(index, false));
	const TtyDataEntry *out = find_data(s, tty_pty_info_id(index, true));
	if (in || out) {
		ret = tty_pty_refill(m, sl, in ? in->data.data : NULL, in ? in->data.len : 0,
				     out ? out->data.data : NULL, out ? out->data.len : 0, what);
		if (ret)
			goto err;
		pr_info("%s: %zu input and %zu output bytes queued again", what,
			in ? in->data.len : 0, out ? out->data.len : 0);
	}
	ret = set_params(sl, params, what);
	if (!ret && mi && mi->packet_mode && ioctl(m, TIOCPKT, &one)) {
		ret = -errno;
		pr_perror("can't set packet mode on the master of %s", what);
	}
	if (!ret)
		ret = set_owner(sl, si && si->has_uid ? si : mi, what);
	if (ret)
		goto err;
	int dup_m = fcntl(m, F_DUPFD_CLOEXEC, 3);
	if (dup_m < 0) {
		ret = -errno;
		pr_perror("can't duplicate the master of %s", what);
		goto err;
	}
	s->pairs[s->npairs++] = (struct pty_pair){ index, dup_m, sl, mi, si };
	return m;
err:
	if (sl >= 0)
		close(sl);
	close(m);
	return ret;
}

static struct pty_pair *find_pair(struct tty_rst_state *s, int index)
{
	for (int i = 0; i < s->npairs; i++)
		if (s->pairs[i].index == index)
			return &s->pairs[i];
	return NULL;
}

/* --shell-job: the terminal of the shell the tree ran in becomes cryo's. */
static int shell_open(struct files_restore *fr, struct tty_rst_state *s, const TtyInfoEntry *ie,
		      const FileEntry *fe)
{
	if (!fr->opts->shell_job) {
		pr_err("file %u is the terminal of the shell the dumped tree was started from: "
		       "restore with --shell-job, from the terminal that should take its place",
		       fe->id);
		return -EOPNOTSUPP;
	}
	for (int fd = 0; fd < 3 && s->shell_fd < 0; fd++)
		if (isatty(fd))
			s->shell_fd = fd;
	if (s->shell_fd < 0) {
		pr_err("--shell-job: none of cryo's standard input, output and error is a terminal, "
		       "so there is no terminal to give the restored tree: run the restore from one");
		return -ENOTTY;
	}
	char p[32];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", s->shell_fd);
	int fd = open(p, (fe->tty->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't reopen cryo's terminal (fd %d) for the restored tree",
			      s->shell_fd);
	/* its settings are the tree's (as criu does); its window size stays
	 * that of the terminal restored into */
	if (!s->shell_termios_done && ie->termios) {
		struct termios t;
		tty_termios_from_entry(ie->termios, &t);
		if (tty_ioctl_quiet(fd, TCSETS, &t))
			pr_warn("can't give cryo's terminal the dumped settings: %s", strerror(errno));
		s->shell_termios_done = true;
	}
	s->shell_used = true;
	pr_info("file %u: cryo's terminal (fd %d) stands in for the shell's", fe->id, s->shell_fd);
	return fd;
}

static struct pty_orphan *find_orphan(struct tty_rst_state *s, int old_index)
{
	for (int i = 0; i < s->norphans; i++)
		if (s->orphans[i].old_index == old_index)
			return &s->orphans[i];
	return NULL;
}

/* The devpts directory of slave path @path ("/dev/pts/3" -> "/dev/pts"). */
static void pts_dir(const char *path, char *dir, size_t len)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || slash == path || path[0] != '/')
		snprintf(dir, len, "/dev/pts");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* A new pty pair for orphaned slave @ie (criu's orphan_pts_master): made
 * from the ptmx of the devpts the slave was on, in the tree's mount
 * namespace (a container has a devpts instance of its own), given the
 * slave's settings, window size and owner, its master handed to the RPC
 * client with the orphan-pts-master notification.  Bytes queued in the
 * old pair stayed with the old master (outside the tree). */
static int orphan_create(struct files_restore *fr, struct tty_rst_state *s,
			 const TtyInfoEntry *ie, const TtyFileEntry *tfe, struct pty_orphan **out)
{
	int index = ie->pty->index;
	const struct pipeline_hook *h = fr->opts->notify;
	if (!h || !h->notify_fd) {
		pr_err("the slave of /dev/pts/%d had its master outside the dumped tree (dumped with "
		       "--orphan-pts-master): the restore makes a new pair and hands its master to "
		       "the RPC client (criu's orphan-pts-master notification), but this restore "
		       "has no client to take it: restore through runc, podman or libcriu (with "
		       "orphan_pts_master and notify_scripts), or dump the tree with its terminal's "
		       "master inside", index);
		return -EOPNOTSUPP;
	}
	struct pty_orphan o = { .old_index = index, .master = -1, .slave = -1 };
	pts_dir(regf_path(fr, tfe), o.dir, sizeof(o.dir));
	char ptmx[80], what[160];
	snprintf(ptmx, sizeof(ptmx), "%s/ptmx", o.dir);
	snprintf(what, sizeof(what), "the new pair for %s/%d", o.dir, index);
	int cwd, ret = files_rst_enter_mnt(fr, &cwd);
	if (ret)
		return ret;
	/* the pty a bind mount (/dev/console) made at this index, if any */
	struct stat dst;
	o.master = stat(o.dir, &dst) ? -1 : tty_devpts_take(dst.st_dev, index);
	if (o.master >= 0)
		pr_info("%s/%d: the pty made for a bind mount of it takes the orphaned slave's place",
			o.dir, index);
	else
		o.master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
	int e = errno;
	ret = files_rst_leave_mnt(fr, cwd);
	if (o.master < 0) {
		errno = e;
		return_perror("can't open %s in the restored tree's mount namespace to make a new "
			      "pty pair for the orphaned slave /dev/pts/%d", ptmx, index);
	}
	if (ret)
		goto err;
	int zero = 0;
	if (ioctl(o.master, TIOCSPTLCK, &zero) || ioctl(o.master, TIOCGPTN, &o.new_index)) {
		ret = -errno;
		pr_perror("can't unlock %s", what);
		goto err;
	}
	snprintf(what, sizeof(what), "%s/%d (for %s/%d)", o.dir, o.new_index, o.dir, index);
	o.slave = ioctl(o.master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (o.slave < 0) {
		ret = -errno;
		pr_perror("can't open the slave side of %s (TIOCGPTPEER)", what);
		goto err;
	}
	ret = set_params(o.slave, ie, what);
	if (!ret)
		ret = set_owner(o.slave, ie, what);
	if (ret)
		goto err;
	struct pty_orphan *no = xrealloc(s->orphans, (s->norphans + 1) * sizeof(*no));
	if (!no) {
		ret = -ENOMEM;
		goto err;
	}
	s->orphans = no;
	pr_info("%s: a new pty pair for the orphaned slave; its master goes to the RPC client",
		what);
	ret = h->notify_fd("orphan-pts-master", o.master, h->arg);
	if (ret) {
		pr_err("the RPC client did not take the master of %s (orphan-pts-master "
		       "notification): %s", what, strerror(-ret));
		goto err;
	}
	s->orphans[s->norphans] = o;
	*out = &s->orphans[s->norphans++];
	return 0;
err:
	if (o.slave >= 0)
		close(o.slave);
	close(o.master);
	return ret;
}

static int orphan_open(struct files_restore *fr, struct tty_rst_state *s, const TtyInfoEntry *ie,
		       const TtyFileEntry *tfe)
{
	struct pty_orphan *o = find_orphan(s, ie->pty->index);
	if (!o) {
		int ret = orphan_create(fr, s, ie, tfe, &o);
		if (ret)
			return ret;
	}
	int fd = ioctl(o->master, TIOCGPTPEER, (tfe->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open the slave of the new pair %s/%d", o->dir, o->new_index);
	return fd;
}

int tty_open(struct files_restore *fr, struct rst_file *f)
{
	struct tty_rst_state *s;
	int ret = rstate(fr, &s);
	if (ret)
		return ret;
	const TtyFileEntry *tfe = f->fe->tty;
	if (!tfe) {
		pr_err("files.img: terminal %u has no tty entry", f->fe->id);
		return -EINVAL;
	}
	const TtyInfoEntry *ie = find_info(s, tfe->tty_info_id);
	if (!ie) {
		pr_err("tty-info.img has no entry %u (for file %u)", tfe->tty_info_id, f->fe->id);
		return -EINVAL;
	}
	char what[80];
	int fd;
	switch (ie->type) {
	case TTY_TYPE__PTY: {
		if (!ie->pty) {
			pr_err("tty-info.img: pty entry %u has no index", ie->id);
			return -EINVAL;
		}
		int index = ie->pty->index;
		snprintf(what, sizeof(what), "%s of /dev/pts/%d", tfe->tty_info_id & 1 ?
			 "the master" : "the slave", index);
		if (tfe->tty_info_id & 1) {
			fd = pty_create(fr, s, index, regf_path(fr, tfe));
			break;
		}
		struct rst_file *mf = master_file(fr, index);
		if (!mf && fr->opts->orphan_pts_master) {
			fd = orphan_open(fr, s, ie, tfe);
			break;
		}
		if (!mf) {
			fd = shell_open(fr, s, ie, f->fe);
			break;
		}
		ret = files_rst_open(fr, mf);
		if (ret < 0)
			return ret;
		struct pty_pair *p = find_pair(s, index);
		if (!p)
			return -EINVAL;
		fd = ioctl(p->master, TIOCGPTPEER, (tfe->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return_perror("can't open %s", what);
		break;
	}
	case TTY_TYPE__VT:
	case TTY_TYPE__CONSOLE:
		if (!ie->sid) {
			/* nobody's controlling terminal: the device, reopened */
			const char *path = regf_path(fr, tfe);
			snprintf(what, sizeof(what), "%s %s", ie->type == TTY_TYPE__VT ?
				 "virtual console" : "the system console", path ? path : "?");
			if (!path) {
				pr_err("files.img: %s (file %u) has no path", what, f->fe->id);
				return -EINVAL;
			}
			fd = open(path, (tfe->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
			if (fd < 0)
				return_perror("can't reopen %s (file %u): the device must exist "
					      "where the tree is restored", what, f->fe->id);
			break;
		}
		/* the shell's terminal */
		__attribute__((fallthrough));
	case TTY_TYPE__SERIAL:
		snprintf(what, sizeof(what), "terminal %u", f->fe->id);
		fd = shell_open(fr, s, ie, f->fe);
		break;
	case TTY_TYPE__EXT_TTY: {
		/* given by whoever restores: --inherit-fd fd[N]:tty[RDEV:DEV] */
		char key[48];
		snprintf(key, sizeof(key), "tty[%x:%x]", ie->rdev, ie->dev);
		snprintf(what, sizeof(what), "external terminal %s", key);
		int n = files_inherited_fd(fr, key);
		if (n == -1) {
			pr_err("file %u is an external terminal (dumped with --external %s): "
			       "restore with --inherit-fd fd[N]:%s, cryo's fd N open on the "
			       "terminal that takes its place", f->fe->id, key, key);
			return -EOPNOTSUPP;
		}
		if (n < 0)
			return n;
		fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return_perror("can't duplicate fd %d (--inherit-fd for %s)", n, key);
		break;
	}
	case TTY_TYPE__CTTY:
		/* tty_restore_task opens it in its task first */
		pr_err("/dev/tty (file %u) was not opened by the process holding it", f->fe->id);
		return -EINVAL;
	default:
		pr_err("file %u is a terminal of type %d: cryo can't restore it", f->fe->id, ie->type);
		return -EOPNOTSUPP;
	}
	if (fd < 0)
		return fd;
	return files_rst_adopt(f, fd, 0, tfe->flags, tfe->fown, what);
}

/* --- in the restored task --- */

static long task_open(struct remote *r, const char *path, int flags)
{
	uint64_t a = remote_scratch_put(r, path, strlen(path) + 1);
	if (!a)
		return -ENOSPC;
	return remote_syscall(r, __NR_openat, AT_FDCWD, a, flags, 0, 0, 0);
}

/* Session leader @pid takes pty @ie as its controlling terminal. */
static int take_ctty(struct files_restore *fr, struct tty_rst_state *s, struct remote *r,
		     pid_t pid, const TtyInfoEntry *ie)
{
	int index = ie->pty->index;
	struct rst_file *mf = master_file(fr, index);
	char path[96];
	snprintf(path, sizeof(path), "/dev/pts/%d", index);
	if (!mf && fr->opts->orphan_pts_master) {
		/* its new pair: made with the slave's file (opened now) */
		struct rst_file *sf = NULL;
		for (int i = 0; i < fr->nr_files && !sf; i++) {
			const FileEntry *fe = fr->files[i];
			if (fe->type == FD_TYPES__TTY && fe->tty &&
			    fe->tty->tty_info_id == tty_pty_info_id(index, false))
				sf = &fr->rf[i];
		}
		int ret = sf ? files_rst_open(fr, sf) : -EINVAL;
		if (!sf)
			pr_err("session %d had /dev/pts/%d as its controlling terminal, but the images "
			       "hold no descriptor of it", pid, index);
		if (ret < 0)
			return ret;
		struct pty_orphan *o = find_orphan(s, index);
		if (!o)
			return -EINVAL;
		snprintf(path, sizeof(path), "%s/%d", o->dir, o->new_index);
	} else if (!mf) {
		pr_err("session %d had /dev/pts/%d as its controlling terminal, but the images hold "
		       "no master of it", pid, index);
		return -EINVAL;
	} else {
		int ret = files_rst_open(fr, mf);
		if (ret < 0)
			return ret;
	}
	remote_scratch_reset(r);
	long fd = task_open(r, path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(fd, "restored process %d can't open %s to take it as its controlling terminal",
				 pid, path);
	long rc = remote_syscall(r, __NR_ioctl, fd, TIOCSCTTY, 0, 0, 0, 0);
	if (rc < 0)
		pr_err("restored process %d can't take %s as its controlling terminal "
		       "(TIOCSCTTY): %s", pid, path, strerror(-rc));
	if (!rc && ie->pgrp && (pid_t)ie->pgrp != pid) {
		int pg = ie->pgrp;
		uint64_t a = remote_scratch_put(r, &pg, sizeof(pg));
		long r2 = a ? remote_syscall(r, __NR_ioctl, fd, TIOCSPGRP, a, 0, 0, 0) : -ENOSPC;
		if (r2 < 0)
			pr_warn("the foreground process group %d of %s can't be set back (%s): the "
				"session leader's group stays in the foreground", pg, path,
				strerror(-r2));
	}
	remote_syscall(r, __NR_close, fd, 0, 0, 0, 0, 0);
	if (!rc)
		pr_info("process %d: %s is its controlling terminal again (foreground group %u)", pid,
			path, ie->pgrp ? ie->pgrp : (unsigned)pid);
	return rc;
}

/* /dev/tty: opened by the task itself, then taken into cryo. */
static int open_dev_tty(struct files_restore *fr, struct remote *r, pid_t pid, struct rst_file *f)
{
	const TtyFileEntry *tfe = f->fe->tty;
	int flags = (tfe->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_CLOEXEC;
	remote_scratch_reset(r);
	long fd = task_open(r, "/dev/tty", flags);
	if (fd < 0) {
		pr_err("restored process %d can't open /dev/tty (file %u): %s%s", pid, f->fe->id,
		       strerror(-fd), fd == -ENXIO ? " (it has no controlling terminal)" : "");
		return fd;
	}
	int ret = 0;
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	int lfd = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	if (lfd < 0) {
		ret = -errno;
		pr_perror("can't take /dev/tty of restored process %d into cryo (pidfd_getfd)", pid);
	}
	if (pidfd >= 0)
		close(pidfd);
	remote_syscall(r, __NR_close, fd, 0, 0, 0, 0, 0);
	if (!ret)
		ret = files_apply_fown(fr, lfd, tfe->fown, "/dev/tty");
	if (ret) {
		if (lfd >= 0)
			close(lfd);
		return ret;
	}
	f->lfd = lfd;
	return 0;
}

int tty_restore_task(struct files_restore *fr, struct remote *r, pid_t pid, pid_t sid,
		     FdinfoEntry **fds, int nr)
{
	struct tty_rst_state *s;
	int ret = rstate(fr, &s);
	if (ret || !s->ninfo)
		return ret;
	/* @pid and @sid are the tree's PIDs (the task's own ioctls take them);
	 * cryo's calls (pidfd_open, getpgid) take the PID cryo sees */
	pid_t host = fr->host_pid ? fr->host_pid(fr->host_pid_arg, F_OWNER_PID, pid) : pid;
	if (host <= 0) {
		pr_err("process %d of the images: no restored task has that PID", pid);
		return -ESRCH;
	}
	if (!s->root)
		s->root = host;
	if (pid == sid)
		for (int i = 0; i < s->ninfo; i++) {
			const TtyInfoEntry *ie = s->info[i];
			if ((pid_t)ie->sid == pid && ie->type == TTY_TYPE__PTY && ie->pty) {
				ret = take_ctty(fr, s, r, pid, ie);
				if (ret)
					return ret;
				break;
			}
		}
	for (int i = 0; i < nr && !ret; i++) {
		struct rst_file *f = files_rst_find(fr, fds[i]->id);
		if (!f || f->lfd >= 0 || f->fe->type != FD_TYPES__TTY || !f->fe->tty)
			continue;
		const TtyInfoEntry *ie = find_info(s, f->fe->tty->tty_info_id);
		if (ie && ie->type == TTY_TYPE__CTTY)
			ret = open_dev_tty(fr, r, host, f);
	}
	return ret;
}

void tty_restore_finish(struct files_restore *fr, bool ok)
{
	struct tty_rst_state *s = fr->kind_state[FDK_TTY];
	tty_devpts_release();	/* made for a mount and not adopted */
	if (!s)
		return;
	int one = 1;
	for (int i = 0; i < s->npairs; i++) {
		struct pty_pair *p = &s->pairs[i];
		/* last: these keep new opens out */
		if (ok && p->mi && p->mi->locked && ioctl(p->master, TIOCSPTLCK, &one))
			pr_warn("can't lock /dev/pts/%d again: %s", p->index, strerror(errno));
		if (ok && p->si && p->si->exclusive && ioctl(p->slave, TIOCEXCL))
			pr_warn("can't make /dev/pts/%d exclusive again: %s", p->index, strerror(errno));
		if (ok && p->mi && p->mi->exclusive && ioctl(p->master, TIOCEXCL))
			pr_warn("can't make the master of /dev/pts/%d exclusive again: %s", p->index,
				strerror(errno));
		close(p->master);
		close(p->slave);
	}
	for (int i = 0; i < s->norphans; i++) {
		close(s->orphans[i].master);
		close(s->orphans[i].slave);
	}
	free(s->orphans);
	/* --shell-job: a restore that waits for the tree hands it the terminal
	 * (as a shell does for its foreground job) when cryo has it */
	if (ok && s->shell_used && s->root > 0 && !fr->opts->restore_detached) {
		pid_t mine = getpgrp(), rg = getpgid(s->root);
		if (tcgetpgrp(s->shell_fd) == mine && rg > 0 && rg != mine) {
			if (tty_ioctl_quiet(s->shell_fd, TIOCSPGRP, &rg))
				pr_warn("can't put the restored process group %d in the foreground of "
					"cryo's terminal: %s", rg, strerror(errno));
			else
				pr_info("process group %d is the foreground of cryo's terminal", rg);
		}
	}
	for (int i = 0; i < s->ninfo; i++)
		protobuf_c_message_free_unpacked(&s->info[i]->base, NULL);
	for (int i = 0; i < s->ndata; i++)
		protobuf_c_message_free_unpacked(&s->data[i]->base, NULL);
	free(s->info);
	free(s->data);
	free(s->pairs);
	free(s);
	fr->kind_state[FDK_TTY] = NULL;
}
