/* File locks (-l/--file-locks), in filelocks.img as criu writes them.
 *
 * Dump: /proc/PID/fdinfo/FD lists, as "lock:" lines, the locks taken
 * through that open file description: flock and OFD locks (owned by the
 * description) and POSIX locks of the process (owned by its fd table).  A
 * description is dumped once, through its first fd: flock/OFD locks are
 * saved there, POSIX locks of that process too, and POSIX locks of other
 * processes of the same inode (/proc/locks) are looked up in their fds
 * that share the description.
 * Restore: flock and OFD locks are taken by cryo on its own descriptor of
 * the description (they belong to it); POSIX locks by the task itself
 * (an injected fcntl(F_SETLK)), once its fds are in place.
 */
#include "files/reg-int.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* criu's file_lock_entry.flag values */
#define FL_POSIX 1
#define FL_FLOCK 2
#define FL_OFD 4

struct lock_line {
	int kind;		/* FL_*, 0 for leases and others */
	const char *kname;
	int type;		/* F_RDLCK / F_WRLCK */
	pid_t pid;
	unsigned maj, min;
	unsigned long ino;
	long long start, end;	/* end -1: EOF */
};

/* "lock:\t1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" */
static int parse_line(const char *s, struct lock_line *l)
{
	char kind[16], adv[16], type[16], end[32];
	int id;
	if (sscanf(s, "lock:\t%d: %15s %15s %15s %d %x:%x:%lu %lld %31s", &id, kind, adv, type,
		   &l->pid, &l->maj, &l->min, &l->ino, &l->start, end) != 10)
		return -EINVAL;
	l->kind = !strcmp(kind, "POSIX") ? FL_POSIX : !strcmp(kind, "FLOCK") ? FL_FLOCK :
		  !strcmp(kind, "OFDLCK") ? FL_OFD : 0;
	l->kname = l->kind == FL_POSIX ? "POSIX" : l->kind == FL_FLOCK ? "flock" :
		   l->kind == FL_OFD ? "OFD" : "lease or other";
	l->type = !strcmp(type, "READ") ? F_RDLCK : !strcmp(type, "WRITE") ? F_WRLCK : -1;
	l->end = strcmp(end, "EOF") ? atoll(end) : -1;
	return 0;
}

static int write_lock(struct fd_dump *d, const struct lock_line *l, pid_t pid, int fd)
{
	struct cr_img *img;
	int ret = files_dump_img(d->fdm, IMG_FILE_LOCKS, &img);
	if (ret)
		return ret;
	FileLockEntry e = FILE_LOCK_ENTRY__INIT;
	e.has_flag = e.has_type = e.has_pid = e.has_fd = e.has_start = e.has_len = 1;
	e.flag = l->kind;
	e.type = l->type;
	e.pid = pid;
	e.fd = fd;
	e.start = l->start;
	e.len = l->end < 0 ? 0 : l->end - l->start + 1;
	pr_info("%s %s lock of process %d on fd %d: start %lld len %lld", l->kname,
		l->type == F_RDLCK ? "read" : "write", pid, fd, (long long)e.start, (long long)e.len);
	return img_write_msg(img, &e.base);
}

/* Each "lock:" line of @text: POSIX ones only if @posix_only. */
static int dump_lines(struct fd_dump *d, const char *text, pid_t pid, int fd, bool posix_only)
{
	for (const char *s = strstr(text, "lock:\t"); s; s = strstr(s + 1, "\nlock:\t")) {
		if (*s == '\n')
			s++;
		struct lock_line l;
		if (parse_line(s, &l)) {
			pr_err("can't parse the lock line of fd %d of process %d: %.80s", fd, pid, s);
			return -EINVAL;
		}
		if (posix_only && l.kind != FL_POSIX)
			continue;
		if (!d->fdm->opts->file_locks) {
			pr_err("fd %d of process %d (%s) holds a %s lock: dump with --file-locks (-l) "
			       "to save file locks", fd, pid, d->path, l.kname);
			return -EOPNOTSUPP;
		}
		if (!l.kind || l.type < 0) {
			pr_err("fd %d of process %d (%s) holds a %s lock (%.60s): cryo can save "
			       "flock, POSIX and OFD read/write locks only", fd, pid, d->path, l.kname, s);
			return -EOPNOTSUPP;
		}
		/* someone else's POSIX lock on a description we share is theirs */
		if (l.kind == FL_POSIX && l.pid != pid)
			continue;
		int ret = write_lock(d, &l, pid, fd);
		if (ret)
			return ret;
	}
	return 0;
}

/* POSIX locks of process @p (not d->pid) on d's inode, held through a
 * descriptor of d's open file description. */
static int dump_other(struct fd_dump *d, pid_t p)
{
	char dir[64];
	pid_t *fds;
	int nfds;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", p);
	if (proc_list_dir_pids(dir, &fds, &nfds))
		return 0;	/* gone, or not ours to see */
	int ret = 0;
	for (int i = 0; i < nfds && !ret; i++) {
		if (syscall(SYS_kcmp, d->pid, p, KCMP_FILE, d->fd, fds[i]) != 0)
			continue;
		char path[64], *text = NULL;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", p, fds[i]);
		if (read_file(AT_FDCWD, path, &text, true) < 0)
			continue;
		ret = dump_lines(d, text, p, fds[i], true);
		free(text);
		break;	/* all of p's fds of the description show the same locks */
	}
	free(fds);
	return ret;
}

int locks_dump(struct fd_dump *d)
{
	int ret = dump_lines(d, d->fdinfo, d->pid, d->fd, false);
	if (ret)
		return ret;
	/* other processes' POSIX locks on this inode */
	char *all = NULL;
	if (read_file(AT_FDCWD, "/proc/locks", &all, true) < 0)
		return 0;
	pid_t done[16];
	int nd = 0;
	for (char *s = all; s && *s && !ret; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
		char kind[16];
		pid_t p;
		unsigned maj, min;
		unsigned long ino;
		if (sscanf(s, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &p, &maj, &min, &ino) != 5 ||
		    strcmp(kind, "POSIX") || p == d->pid || ino != d->st.st_ino ||
		    makedev(maj, min) != d->st.st_dev)
			continue;
		bool seen = false;
		for (int i = 0; i < nd; i++)
			seen |= done[i] == p;
		if (seen)
			continue;
		if (nd < (int)ARRAY_SIZE(done))
			done[nd++] = p;
		ret = dump_other(d, p);
	}
	free(all);
	return ret;
}

/* ---------------- restore ---------------- */

static int load_locks(struct files_restore *fr, struct reg_rst *st)
{
	struct cr_img *img;
	if (st->locks_loaded)
		return 0;
	st->locks_loaded = true;
	int ret = img_open(&img, fr->dirfd, IMG_FILE_LOCKS, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		FileLockEntry *e;
		ret = img_read_msg(img, &file_lock_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			break;
		FileLockEntry **n = xrealloc(st->locks, (st->nr_locks + 1) * sizeof(*n));
		if (!n) {
			protobuf_c_message_free_unpacked(&e->base, NULL);
			ret = -ENOMEM;
			break;
		}
		st->locks = n;
		n[st->nr_locks++] = e;
	}
	img_close(img);
	if (!ret && st->nr_locks && !fr->opts->file_locks) {
		pr_err("the images hold %d file lock(s): restore with --file-locks (-l)",
		       st->nr_locks);
		ret = -EINVAL;
	}
	return ret;
}

static int take_lock(struct files_restore *fr, struct remote *r, pid_t pid, struct rst_file *f,
		     int fd, const FileLockEntry *e)
{
	(void)fr;
	const char *name = f->fe->reg && f->fe->reg->name ? f->fe->reg->name : "a memfd";
	struct flock fl = { .l_type = e->type, .l_whence = SEEK_SET, .l_start = e->start,
			    .l_len = e->len };
	if (e->type != F_RDLCK && e->type != F_WRLCK) {
		pr_err("filelocks.img: lock of type %u on fd %d of process %d is not supported",
		       e->type, e->fd, pid);
		return -EINVAL;
	}
	if (e->flag & FL_FLOCK) {
		if (flock(f->lfd, (e->type == F_RDLCK ? LOCK_SH : LOCK_EX) | LOCK_NB))
			return_perror("can't retake the flock lock of fd %d of process %d on %s "
				      "(held by someone else now?)", e->fd, pid, name);
	} else if (e->flag & FL_OFD) {
		if (fcntl(f->lfd, F_OFD_SETLK, &fl))
			return_perror("can't retake the OFD lock of fd %d of process %d on %s "
				      "(held by someone else now?)", e->fd, pid, name);
	} else if (e->flag & FL_POSIX) {
		/* a POSIX lock belongs to the process: it takes it itself */
		remote_scratch_reset(r);
		uint64_t a = remote_scratch_put(r, &fl, sizeof(fl));
		if (!a)
			return -ENOSPC;
		long ret = remote_syscall(r, __NR_fcntl, fd, F_SETLK, a, 0, 0, 0);
		if (ret) {
			pr_err("process %d can't retake its POSIX lock on %s (fd %d, start %lld len "
			       "%lld): %s (held by someone else now?)", pid, name, e->fd,
			       (long long)e->start, (long long)e->len, strerror(-ret));
			return ret < 0 ? ret : -EIO;
		}
	} else {
		pr_err("filelocks.img: lock kind %u is not supported", e->flag);
		return -EINVAL;
	}
	pr_debug("lock retaken: kind %u type %u, process %d fd %d", e->flag, e->type, pid, e->fd);
	return 0;
}

int locks_post(struct files_restore *fr, struct remote *r, pid_t pid, struct rst_file *f, int fd)
{
	struct reg_rst *st = reg_rst_state(fr);
	if (!st)
		return -ENOMEM;
	int ret = load_locks(fr, st);
	for (int i = 0; i < st->nr_locks && !ret; i++) {
		const FileLockEntry *e = st->locks[i];
		if (e->pid != pid)
			continue;
		/* is the lock's fd this description in that task? */
		if (e->fd != fd && syscall(SYS_kcmp, pid, pid, KCMP_FILE, e->fd, fd) != 0)
			continue;
		ret = take_lock(fr, r, pid, f, fd, e);
	}
	return ret;
}

void locks_restore_finish(struct files_restore *fr)
{
	struct reg_rst *st = fr->kind_state[FDK_REG];
	if (!st)
		return;
	for (int i = 0; i < st->nr_locks; i++)
		protobuf_c_message_free_unpacked(&st->locks[i]->base, NULL);
	free(st->locks);
	st->locks = NULL;
	st->nr_locks = 0;
}
