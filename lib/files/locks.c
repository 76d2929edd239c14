/* File locks (-l/--file-locks), in filelocks.img as criu writes them;
 * leases (F_SETLEASE) too, the description's like an OFD lock.
 *
 * Dump: /proc/PID/fdinfo/FD lists, as "lock:" lines, the locks taken
 * through that open file description: flock and OFD locks (owned by the
 * description) and POSIX locks of the process (owned by its fd table).  A
 * description is dumped once, through its first fd: flock/OFD locks are
 * saved there, POSIX locks of that process too, and POSIX locks of other
 * processes of the same inode (/proc/locks) are looked up in their fds
 * that share the description.
 * Each entry names the process of the tree that takes the lock again and
 * its fd: a POSIX lock's owner; for a flock, the process that took it
 * (/proc/locks shows it) if it still holds the description, else the
 * first holder; for an OFD lock (pid -1 whoever took it), the first holder.
 * Restore: each process takes its locks itself, with an injected flock or
 * fcntl on its own descriptor once its fds are in place: a POSIX lock is
 * the process's, a flock or OFD lock the description's (the very one the
 * task got), with the task as its taker.
 * A lease being broken is saved with the type it is broken to (criu's
 * LEASE_BREAKING bit); the restore takes the lease it comes from and cryo
 * breaks it again (lease_after); an open still waiting on it is refused.
 */
#include "files/reg-int.h"
#include "arch/x86.h"
#include "proc/proc.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* criu's file_lock_entry.flag values */
#define FL_POSIX 1
#define FL_FLOCK 2
#define FL_OFD 4
#define FL_LEASE 8
/* criu's file_lock_entry.type of a lease being broken: the type it is
 * being broken to (what F_GETLEASE answers) with this bit */
#define LEASE_BREAKING 4

struct lock_line {
	int kind;		/* FL_*, 0 for others */
	const char *kname;
	int type;		/* F_RDLCK / F_WRLCK */
	bool breaking;		/* a lease being broken (or a breaker's entry) */
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
		  !strcmp(kind, "OFDLCK") ? FL_OFD : !strcmp(kind, "LEASE") ? FL_LEASE : 0;
	l->kname = l->kind == FL_POSIX ? "POSIX" : l->kind == FL_FLOCK ? "flock" :
		   l->kind == FL_OFD ? "OFD" : l->kind == FL_LEASE ? "lease" : "unknown kind of";
	/* "LEASE  ACTIVE", "LEASE  BREAKING" or "LEASE  BREAKER" */
	l->breaking = l->kind == FL_LEASE && strcmp(adv, "ACTIVE");
	/* a lease being broken shows the type it is broken to, UNLCK too */
	l->type = !strcmp(type, "READ") ? F_RDLCK : !strcmp(type, "WRITE") ? F_WRLCK :
		  l->breaking && !strcmp(type, "UNLCK") ? F_UNLCK : -1;
	l->end = strcmp(end, "EOF") ? atoll(end) : -1;
	return 0;
}

/* The PID the images record for process @pid of the tree: the tree's
 * (lib/dump/vpid.c), which differs from cryo's in a PID namespace of its
 * own. */
static pid_t tree_vpid(const struct files_dump *fdm, pid_t pid)
{
	for (int i = 0; fdm->tree && i < fdm->tree->nr_procs; i++)
		if (fdm->tree->procs[i]->pid == pid)
			return fdm->tree->procs[i]->vpid;
	return pid;
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
	e.pid = tree_vpid(d->fdm, pid);	/* /proc/locks shows cryo's PIDs */
	e.fd = fd;
	e.start = l->start;
	e.len = l->end < 0 ? 0 : l->end - l->start + 1;
	int t = l->type & ~LEASE_BREAKING;
	pr_info("%s %s%s lock of process %d on fd %d: start %lld len %lld", l->kname,
		l->type & LEASE_BREAKING ? "being broken to " : "",
		t == F_RDLCK ? "read" : t == F_WRLCK ? "write" : "none", pid, fd,
		(long long)e.start, (long long)e.len);
	return img_write_msg(img, &e.base);
}

static bool in_tree(const struct files_dump *fdm, pid_t p)
{
	if (!fdm->tree)
		return false;
	for (int i = 0; i < fdm->tree->nr_procs; i++)
		if (fdm->tree->procs[i]->pid == p && fdm->tree->procs[i]->state != TASK_DEAD)
			return true;
	return false;
}

/* The lowest fd of process @p that is d's open file description, or -1. */
static int fd_in(struct fd_dump *d, pid_t p)
{
	char dir[64];
	pid_t *fds;
	int nfds, found = -1;
	if (p == d->pid)
		return d->fd;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", p);
	if (proc_list_dir_pids(dir, &fds, &nfds))
		return -1;	/* gone, or not ours to see */
	for (int i = 0; i < nfds; i++)
		if ((found < 0 || fds[i] < found) &&
		    syscall(SYS_kcmp, d->pid, p, KCMP_FILE, d->fd, fds[i]) == 0)
			found = fds[i];
	free(fds);
	return found;
}

bool locks_file_leased(dev_t dev, ino_t ino)
{
	char *all = NULL;
	bool found = false;
	/* unreadable: as if leased (the caller then opens nothing) */
	if (read_file(AT_FDCWD, "/proc/locks", &all, true) < 0)
		return true;
	for (char *s = all; s && *s && !found; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
		char kind[16];
		unsigned maj, min;
		unsigned long i;
		found = sscanf(s, "%*d: %15s %*s %*s %*d %x:%x:%lu", kind, &maj, &min, &i) == 4 &&
			!strcmp(kind, "LEASE") && i == ino && makedev(maj, min) == dev;
	}
	free(all);
	return found;
}

/* Does thread @t of the tree (stopped) make a call that opens or
 * truncates d's file once it goes on: one a lease break blocked until the
 * freeze interrupted it (it issues the call again)?  1 yes, 0 no. */
static int thread_opens(struct fd_dump *d, pid_t pid, const struct seized_thread *t)
{
	struct user_regs_struct regs;
	uint64_t a[6];
	long nr;
	int dirfd = AT_FDCWD;
	uint64_t at;

	/* as found, or fixed up for its resume once its registers were
	 * dumped (task_cpu_capture, set back by remote_dump_end) */
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &regs))
		return 0;
	nr = arch_interrupted_syscall(&regs, false, a);
	/* fixed up: rax is the call's number only where the ip is at the
	 * syscall instruction (in user code rax is anything) */
	if (nr < 0 && arch_at_syscall_insn(t->tid, &regs))
		nr = arch_interrupted_syscall(&regs, true, a);
	switch (nr) {
	case __NR_open:
	case __NR_creat:
	case __NR_truncate:
		at = a[0];
		break;
	case __NR_openat:
	case __NR_openat2:
		dirfd = (int)a[0];
		at = a[1];
		break;
	case __NR_open_by_handle_at:
		return 1;	/* which file is not known: as if this one */
	default:
		return 0;
	}
	char name[PATH_MAX], path[PATH_MAX + 64], mem[64];
	snprintf(mem, sizeof(mem), "/proc/%d/mem", t->tid);
	int mfd = open(mem, O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return 0;
	ssize_t n = pread(mfd, name, sizeof(name) - 1, (off_t)at);
	close(mfd);
	if (n <= 0)
		return 0;
	name[n] = 0;
	if (name[0] == '/')
		snprintf(path, sizeof(path), "/proc/%d/root%s", t->tid, name);
	else if (dirfd == AT_FDCWD)
		snprintf(path, sizeof(path), "/proc/%d/cwd/%s", t->tid, name);
	else
		snprintf(path, sizeof(path), "/proc/%d/fd/%d/%s", pid, dirfd, name);
	/* O_PATH: no lease break, no wait on a FIFO */
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* no such file: not this one */
	int same = !fstat(fd, &st) && st.st_dev == d->st.st_dev && st.st_ino == d->st.st_ino;
	close(fd);
	return same;
}

/* A lease of d being broken (line @l, its target type as /proc shows it):
 * saved as being broken to the type F_GETLEASE answers, which the restore
 * takes and breaks again.  What can't be done again is refused: an opener
 * blocked in open() on the lease, in the tree (the freeze interrupted it,
 * it opens again once released) or outside (it waits on this one). */
static int lease_breaking(struct fd_dump *d, struct lock_line *l)
{
	char *all = NULL;
	/* outside: /proc/locks lists a blocked breaker ("N: -> LEASE
	 * BREAKER", no file of its own) right after the lease it waits on */
	if (read_file(AT_FDCWD, "/proc/locks", &all, true) >= 0) {
		bool ours = false;
		pid_t waiter = 0;
		for (char *s = all; s && *s && !waiter; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
			char kind[16];
			pid_t p;
			unsigned maj, min;
			unsigned long ino;
			if (sscanf(s, "%*d: %15s", kind) != 1)
				continue;
			if (!strcmp(kind, "->")) {
				if (ours && sscanf(s, "%*d: -> %15s %*s %*s %d", kind, &p) == 2 &&
				    !strcmp(kind, "LEASE"))
					waiter = p;
				continue;
			}
			ours = sscanf(s, "%*d: %15s %*s %*s %*d %x:%x:%lu", kind, &maj, &min,
				      &ino) == 4 && !strcmp(kind, "LEASE") && ino == d->st.st_ino &&
			       makedev(maj, min) == d->st.st_dev;
		}
		free(all);
		if (waiter) {
			pr_err(FD_FMT " holds a lease being broken by process %d, which is blocked "
			       "opening the file: cryo can't make a blocked open again; dump once "
			       "the holder has given the lease up (F_SETLEASE F_UNLCK or F_RDLCK) "
			       "or the break timed out (/proc/sys/fs/lease-break-time)", FD_ARGS(d),
			       waiter);
			return -EOPNOTSUPP;
		}
	}
	for (int i = 0; d->fdm->tree && i < d->fdm->tree->nr_procs; i++) {
		const struct seized_proc *p = d->fdm->tree->procs[i];
		for (int k = 0; p->state != TASK_DEAD && k < p->nr_threads; k++) {
			if (!p->threads[k].seized || !thread_opens(d, p->pid, &p->threads[k]))
				continue;
			pr_err(FD_FMT " holds a lease being broken, and thread %d of the tree was "
			       "blocked opening the file (the freeze interrupted its open, which it "
			       "makes again once it goes on): cryo can't restore an open blocked "
			       "on a lease; dump once the holder has given the lease up (F_SETLEASE "
			       "F_UNLCK or F_RDLCK) or the break timed out "
			       "(/proc/sys/fs/lease-break-time)", FD_ARGS(d), p->threads[k].tid);
			return -EOPNOTSUPP;
		}
	}
	/* the target from the holder's own description; /proc may show the
	 * lease's own type on other kernels */
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	int target = fcntl(lfd, F_GETLEASE);
	if (target < 0)
		return log_errno(-errno, "F_GETLEASE on " FD_FMT, FD_ARGS(d));
	/* a break that timed out meanwhile left no lease or a read one */
	char path[64], *now = NULL;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", d->pid, d->fd);
	bool still = read_file(AT_FDCWD, path, &now, true) >= 0 && strstr(now, "LEASE  BREAKING");
	free(now);
	if (!still || (target != F_RDLCK && target != F_UNLCK)) {
		pr_err(FD_FMT " holds a lease whose break ended while it was dumped (F_GETLEASE: "
		       "%d): dump again", FD_ARGS(d), target);
		return -EAGAIN;
	}
	l->type = target | LEASE_BREAKING;
	return 0;
}

/* Each "lock:" line of @text (the fdinfo of @fd of process @pid, which is
 * d's description): POSIX ones only if @posix_only. */
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
			       "flock, POSIX, OFD locks and leases, read or write, only", fd, pid,
			       d->path, l.kname, s);
			return -EOPNOTSUPP;
		}
		if (l.breaking) {
			int ret = lease_breaking(d, &l);
			if (ret)
				return ret;
		}
		/* someone else's POSIX lock on a description we share is theirs */
		if (l.kind == FL_POSIX && l.pid != pid)
			continue;
		/* A flock belongs to the description, but /proc/locks names the
		 * process that took it: if that one is in the tree and holds the
		 * description, it takes it again at restore.  (An OFD lock shows
		 * pid -1 whoever took it: the first holder takes it again; so is
		 * a lease, the description's too.) */
		pid_t owner = pid;
		int owner_fd = fd;
		if (l.kind == FL_FLOCK && l.pid > 0 && l.pid != pid && in_tree(d->fdm, l.pid)) {
			int ofd = fd_in(d, l.pid);
			if (ofd >= 0) {
				owner = l.pid;
				owner_fd = ofd;
			}
		}
		int ret = write_lock(d, &l, owner, owner_fd);
		if (ret)
			return ret;
	}
	return 0;
}

/* POSIX locks of process @p (not d->pid) of the tree on d's inode, held
 * through a descriptor of d's open file description (the fdinfo of each of
 * p's fds of the description shows the same ones). */
static int dump_other(struct fd_dump *d, pid_t p)
{
	int fd = fd_in(d, p);
	if (fd < 0)
		return 0;
	char path[64], *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", p, fd);
	if (read_file(AT_FDCWD, path, &text, true) < 0)
		return 0;
	int ret = dump_lines(d, text, p, fd, true);
	free(text);
	return ret;
}

/* The device /proc/locks names @d's file by: its super block's.  stat
 * says the same but on overlayfs, which reports a non-directory's layer
 * device (a pseudo one per layer file system) where its layers are on
 * several file systems without xino, while /proc/locks shows the
 * overlay's own: that of the descriptor's mount (fdinfo mnt_id). */
static dev_t lock_dev(struct fd_dump *d)
{
	struct statfs sf;
	int lfd = d->fd >= 0 ? fd_dump_lfd(d) : -1;
	if (lfd < 0 || fstatfs(lfd, &sf) || sf.f_type != OVERLAYFS_SUPER_MAGIC ||
	    S_ISDIR(d->st.st_mode))
		return d->st.st_dev;
	char path[64], *mi = NULL;
	dev_t dev = d->st.st_dev;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", d->pid);
	if (read_file(AT_FDCWD, path, &mi, true) < 0)
		return dev;
	for (char *l = mi; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		int id;
		unsigned maj, min;
		if (sscanf(l, "%d %*d %u:%u", &id, &maj, &min) == 3 && id == d->fi.mnt_id) {
			dev = makedev(maj, min);
			break;
		}
	}
	free(mi);
	return dev;
}

/* Is a process of the tree other than @pid alive (one that can hold a
 * POSIX lock through a description it shares with @pid)? */
static bool others_in_tree(const struct files_dump *fdm, pid_t pid)
{
	for (int i = 0; fdm->tree && i < fdm->tree->nr_procs; i++)
		if (fdm->tree->procs[i]->pid != pid && fdm->tree->procs[i]->state != TASK_DEAD)
			return true;
	return false;
}

int locks_dump(struct fd_dump *d)
{
	int ret = dump_lines(d, d->fdinfo, d->pid, d->fd, false);
	if (ret)
		return ret;
	/* other processes' POSIX locks on this inode.  A tree of one process
	 * has none to look for: the first read of /proc/locks in a while
	 * costs an RCU grace period (its seq_file takes the file-lock rwsem
	 * for writing), 7-15 ms of the freeze for nothing */
	if (!others_in_tree(d->fdm, d->pid))
		return 0;
	char *all = NULL;
	if (read_file(AT_FDCWD, "/proc/locks", &all, true) < 0)
		return 0;
	pid_t *done = NULL;
	int nd = 0;
	dev_t dev = lock_dev(d);
	for (char *s = all; s && *s && !ret; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
		char kind[16];
		pid_t p;
		unsigned maj, min;
		unsigned long ino;
		/* (a waiter's line, "N: -> POSIX ...", reads "->" as its kind) */
		if (sscanf(s, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &p, &maj, &min, &ino) != 5 ||
		    strcmp(kind, "POSIX") || p == d->pid || ino != d->st.st_ino ||
		    makedev(maj, min) != dev || !in_tree(d->fdm, p))
			continue;
		bool seen = false;
		for (int i = 0; i < nd && !seen; i++)
			seen = done[i] == p;
		if (seen)
			continue;
		pid_t *n = xrealloc(done, (nd + 1) * sizeof(*n));
		if (!n) {
			ret = -ENOMEM;
			break;
		}
		done = n;
		done[nd++] = p;
		ret = dump_other(d, p);
	}
	free(done);
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

/* F_SETLEASE wants the caller's fsuid to own the file, or CAP_LEASE in the
 * initial user namespace.  A task restored in a user namespace of its own
 * still has cryo's fsuid (its ids come last) and no capability there:
 * it takes the lease with the file owner's id as its fsuid (mapped into
 * its namespace), as the task that took it had, and gives it back. */
static long lease_as_owner(struct remote *r, pid_t pid, int fd, uint32_t type)
{
	struct proc_idmap *m = calloc(1, sizeof(*m));
	char path[64];
	struct stat st;
	uint32_t inside;
	long ret, prev;

	if (!m)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", r->tid, fd);
	if (stat(path, &st) || proc_read_idmap(pid, "uid_map", m) ||
	    !proc_idmap_inside(m, st.st_uid, &inside)) {
		free(m);
		return -EACCES;		/* as the kernel said: no way around it */
	}
	free(m);
	prev = remote_syscall(r, __NR_setfsuid, inside, 0, 0, 0, 0, 0);
	ret = remote_syscall(r, __NR_fcntl, fd, F_SETLEASE, type, 0, 0, 0);
	remote_syscall(r, __NR_setfsuid, prev, 0, 0, 0, 0, 0);
	return ret;
}

/* Lease taken again by task @pid on its @fd (cryo's copy: f->lfd), which
 * F_SETLEASE made the file's owner (F_SETOWN): a lease being broken
 * (@target F_RDLCK or F_UNLCK, else -1) is broken again by cryo's
 * non-blocking open, which fails, while the file has no owner, so that no
 * signal for it reaches the task (the original break's was delivered
 * already, or is restored as pending); then the image's owner is set. */
static int lease_after(struct rst_file *f, pid_t pid, int fd, const char *name, int target)
{
	const FownEntry *fown = f->fe->reg ? f->fe->reg->fown : f->fe->memfd ?
				f->fe->memfd->fown : NULL;
	if (f->lfd < 0) {
		pr_err("lease on %s (fd %d of process %d): cryo's copy of the file is gone", name,
		       fd, pid);
		return -EINVAL;
	}
	if (fcntl(f->lfd, F_SETOWN, 0))
		return log_errno(-errno, "can't clear the owner of %s (F_SETOWN 0)", name);
	if (target >= 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
		/* a writer breaks any lease to F_UNLCK, a reader a write one
		 * to F_RDLCK */
		int o = open(path, (target == F_UNLCK ? O_WRONLY : O_RDONLY) | O_NONBLOCK |
			     O_NOCTTY | O_CLOEXEC);
		int err = errno;
		if (o >= 0) {
			close(o);
			pr_err("the lease on %s (fd %d of process %d) was not broken by a "
			       "conflicting open", name, fd, pid);
			return -EIO;
		}
		if (err != EWOULDBLOCK) {
			pr_err("can't break the lease on %s (fd %d of process %d) again: opening it "
			       "for %s: %s", name, fd, pid, target == F_UNLCK ? "writing" :
			       "reading", strerror(err));
			return -err;
		}
		pr_debug("lease on %s broken again, to type %d", name, target);
	}
	return files_apply_fown(f->fr, f->lfd, fown, name);
}

/* Task @pid takes lock @e again on its own descriptor @fd. */
static int take_lock(struct remote *r, pid_t pid, struct rst_file *f, int fd,
		     const FileLockEntry *e)
{
	const char *name = f->fe->reg && f->fe->reg->name ? f->fe->reg->name : "a memfd";
	struct flock fl = { .l_type = e->type, .l_whence = SEEK_SET, .l_start = e->start,
			    .l_len = e->len };
	const char *kind;
	long ret;
	bool breaking = (e->flag & FL_LEASE) && (e->type & LEASE_BREAKING);
	uint32_t type = e->type & ~(breaking ? LEASE_BREAKING : 0);
	if (breaking ? type != F_RDLCK && type != F_UNLCK : type != F_RDLCK && type != F_WRLCK) {
		pr_err("filelocks.img: lock of type %u on fd %d of process %d is not supported",
		       e->type, e->fd, pid);
		return -EINVAL;
	}
	if (e->flag & FL_FLOCK) {
		kind = "flock";
		ret = remote_syscall(r, __NR_flock, fd, (e->type == F_RDLCK ? LOCK_SH : LOCK_EX) |
				     LOCK_NB, 0, 0, 0, 0);
	} else if (e->flag & (FL_OFD | FL_POSIX)) {
		kind = e->flag & FL_OFD ? "OFD" : "POSIX";
		remote_scratch_reset(r);
		uint64_t a = remote_scratch_put(r, &fl, sizeof(fl));
		if (!a)
			return -ENOSPC;
		ret = remote_syscall(r, __NR_fcntl, fd, e->flag & FL_OFD ? F_OFD_SETLK : F_SETLK, a,
				     0, 0, 0);
	} else if (e->flag & FL_LEASE) {
		/* F_SETLEASE also makes the task the file's owner (F_SETOWN),
		 * as it did when the task took it */
		kind = "lease";
		uint32_t take = e->type;
		if (breaking) {
			/* the lease a break to @type comes from: a write lease
			 * broken by a reader (F_RDLCK); to F_UNLCK, a read lease
			 * broken by a writer, or a write one on a description
			 * open for writing (no read lease there) */
			long acc = remote_syscall(r, __NR_fcntl, fd, F_GETFL, 0, 0, 0, 0);
			if (acc < 0)
				return log_errno((int)acc, "F_GETFL of fd %d of process %d", fd, pid);
			take = type == F_UNLCK && (acc & O_ACCMODE) == O_RDONLY ? F_RDLCK : F_WRLCK;
		}
		ret = remote_syscall(r, __NR_fcntl, fd, F_SETLEASE, take, 0, 0, 0);
		if (ret == -EACCES)
			ret = lease_as_owner(r, pid, fd, take);
		if (!ret)
			return lease_after(f, pid, fd, name, breaking ? (int)type : -1);
	} else {
		pr_err("filelocks.img: lock kind %u is not supported", e->flag);
		return -EINVAL;
	}
	if (ret) {
		pr_err("process %d can't take its %s %s lock on %s again (fd %d, start %lld len "
		       "%lld): %s%s", pid, kind, breaking ? "being broken" : type == F_RDLCK ? "read" :
		       "write", name, e->fd,
		       (long long)e->start, (long long)e->len, strerror(ret < 0 ? -ret : EIO),
		       ret == -EAGAIN && (e->flag & FL_LEASE) ? " (the file is open elsewhere now "
		       "in a way the lease excludes: close it there and restore again)" :
		       ret == -EAGAIN || ret == -EACCES ? " (someone else holds a conflicting "
		       "lock on the file now: let it go and restore again)" : "");
		return ret < 0 ? ret : -EIO;
	}
	pr_debug("lock retaken: %s type %u, process %d fd %d", kind, e->type, pid, e->fd);
	return 0;
}

int locks_post(struct files_restore *fr, struct remote *r, pid_t pid, struct rst_file *f, int fd)
{
	struct reg_rst *st = reg_rst_state(fr);
	if (!st)
		return -ENOMEM;
	int ret = load_locks(fr, st);
	/* the image names the owner with the PID the tree sees (@pid is
	 * cryo's): asked of the task, which differ in a PID namespace of the
	 * tree's own */
	pid_t tree_pid = pid;
	if (!ret && st->nr_locks) {
		long got = remote_call(r, "getpid", __NR_getpid, 0, 0, 0, 0);
		if (got <= 0)
			return got < 0 ? (int)got : -EIO;
		tree_pid = (pid_t)got;
	}
	for (int i = 0; i < st->nr_locks && !ret; i++) {
		const FileLockEntry *e = st->locks[i];
		/* a task in a nested PID namespace sees another PID than
		 * the tree's: the image's, translated, names it too */
		if (e->pid != tree_pid &&
		    (!fr->host_pid || fr->host_pid(fr->host_pid_arg, F_OWNER_PID, e->pid) != pid))
			continue;
		/* is the lock's fd this description in that task? */
		if (e->fd != fd && syscall(SYS_kcmp, pid, pid, KCMP_FILE, e->fd, fd) != 0)
			continue;
		ret = take_lock(r, pid, f, fd, e);
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
