/* Walking a task's fd table: classify each descriptor, find the open file
 * descriptions it shares with descriptors seen before, and let the kind
 * write each description once. */
#include "files/files-int.h"
#include "util/log.h"
#include "util/util.h"
#include "seize/seize.h"

#include "fs.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#define SECRETMEM_MAGIC_FD 0x5345434d	/* SECRETMEM_MAGIC, linux/magic.h */
#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202	/* linux/magic.h */
#endif
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673	/* linux/magic.h */
#endif

/* Descriptors seen so far with one (dev, ino), sorted in kcmp's order of
 * their open file descriptions: anonymous inodes (every eventfd...) share
 * one inode, so a linear scan would make 10,000 eventfds quadratic. */
struct fd_ref {
	pid_t pid;
	int fd;
	uint32_t id;
};
struct fd_bucket {
	dev_t dev;
	ino_t ino;
	struct fd_ref *refs;
	int nr, cap;
	bool used;
};

int files_dump_begin(struct files_dump *fdm, int dirfd, const struct cryo_opts *o)
{
	memset(fdm, 0, sizeof(*fdm));
	fdm->dirfd = dirfd;
	fdm->opts = o;
	fdm->next_id = 1;
	fdm->pidfd = -1;
	int ret = fd_kinds_check();
	return ret ? ret : img_open(&fdm->files_img, dirfd, IMG_FILES, IMG_WRITE, 0);
}

int files_dump_img(struct files_dump *fdm, int type, struct cr_img **img)
{
	for (int i = 0; i < fdm->nr_extra; i++)
		if (fdm->extra_type[i] == type) {
			*img = fdm->extra[i];
			return 0;
		}
	if (fdm->nr_extra == (int)ARRAY_SIZE(fdm->extra))
		return -ENOSPC;
	int ret = img_open(img, fdm->dirfd, type, IMG_WRITE, 0);
	if (ret)
		return ret;
	fdm->extra_type[fdm->nr_extra] = type;
	fdm->extra[fdm->nr_extra++] = *img;
	return 0;
}

int files_dump_end(struct files_dump *fdm)
{
	int ret = 0;
	for (int k = 0; k < FDK_MAX; k++)
		if (fd_kind(k) && fd_kind(k)->dump_end) {
			int r1 = fd_kind(k)->dump_end(fdm);
			ret = ret ? ret : r1;
		}
	int r0 = img_close(fdm->files_img);
	ret = ret ? ret : r0;
	fdm->files_img = NULL;
	for (int i = 0; i < fdm->nr_extra; i++) {
		int r2 = img_close(fdm->extra[i]);
		ret = ret ? ret : r2;
	}
	fdm->nr_extra = 0;
	free(fdm->seen);
	fdm->seen = NULL;
	for (int i = 0; i < fdm->nr_inflight; i++)
		close(fdm->inflight[i]);
	free(fdm->inflight);
	fdm->inflight = NULL;
	fdm->nr_inflight = fdm->cap_inflight = 0;
	for (int i = 0; i < fdm->cap_buckets; i++)
		free(fdm->buckets[i].refs);
	free(fdm->buckets);
	fdm->buckets = NULL;
	fdm->cap_buckets = fdm->nr_buckets = 0;
	if (fdm->pidfd >= 0)
		close(fdm->pidfd);
	fdm->pidfd = -1;
	return ret;
}

void files_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	for (int k = 0; k < FDK_MAX; k++)
		if (fd_kind(k) && fd_kind(k)->dump_finish)
			fd_kind(k)->dump_finish(fdm, ok, killed);
}

void files_dump_killed(struct files_dump *fdm)
{
	for (int k = 0; k < FDK_MAX; k++)
		if (fd_kind(k) && fd_kind(k)->dump_killed)
			fd_kind(k)->dump_killed(fdm);
}

/* --- path-only files (exe, cwd, root, mapped files) --- */

static int read_link(pid_t pid, const char *link, const char *what, char *buf, size_t size)
{
	ssize_t n = readlink(link, buf, size - 1);
	if (n < 0)
		return_perror("can't read link %s (%s of process %d)", link, what, pid);
	buf[n] = '\0';
	return 0;
}

int files_dump_link(struct files_dump *fdm, pid_t pid, const char *proc_link, const char *what,
		    uint32_t *id)
{
	struct fd_dump d = { .fdm = fdm, .pid = pid, .fd = -1, .lfd = -1, .kind = FDK_REG };
	int ret = read_link(pid, proc_link, what, d.path, sizeof(d.path));
	if (ret)
		return ret;
	if (stat(proc_link, &d.st))
		return_perror("can't stat %s (%s of process %d)", proc_link, what, pid);
	for (int i = 0; i < fdm->nr_seen; i++) {
		struct file_seen *s = &fdm->seen[i];
		if (s->dev == d.st.st_dev && s->ino == d.st.st_ino) {
			*id = s->id;
			return 0;
		}
	}
	ret = regfile_check_path(&d, what);
	if (ret)
		return ret;
	d.id = fdm->next_id++;
	d.fi.flags = S_ISDIR(d.st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY;
	d.fi.mnt_id = -1;
	ret = fdk_reg.dump(&d);
	if (ret)
		return ret;
	struct file_seen *n = xrealloc(fdm->seen, (fdm->nr_seen + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	fdm->seen = n;
	n[fdm->nr_seen++] = (struct file_seen){ d.id, pid, -1, d.st.st_dev, d.st.st_ino };
	*id = d.id;
	return 0;
}

/* --- descriptors --- */

int fd_dump_lfd(struct fd_dump *d)
{
	if (d->lfd >= 0)
		return d->lfd;
	struct files_dump *fdm = d->fdm;
	if (fdm->pidfd < 0 || fdm->pidfd_pid != d->pid) {
		if (fdm->pidfd >= 0)
			close(fdm->pidfd);
		fdm->pidfd = syscall(SYS_pidfd_open, d->pid, 0);
		if (fdm->pidfd < 0) {
			int e = errno;
			pr_err("pidfd_open of process %d failed: %s (cryo needs pidfd_open and "
			       "pidfd_getfd, Linux 5.6+)", d->pid, strerror(e));
			return -e;
		}
		fdm->pidfd_pid = d->pid;
	}
	d->lfd = syscall(SYS_pidfd_getfd, fdm->pidfd, d->fd, 0);
	if (d->lfd < 0) {
		int e = errno;
		pr_err("pidfd_getfd of " FD_FMT " failed: %s", FD_ARGS(d), strerror(e));
		return -e;
	}
	return d->lfd;
}

int files_emit(struct fd_dump *d, FileEntry *fe)
{
	fe->has_id = fe->has_type = 1;
	fe->id = d->id;
	fe->type = fd_kind(d->kind)->fd_type;
	return img_write_msg(d->fdm->files_img, &fe->base);
}

bool fd_dump_in_pidns(const struct files_dump *fdm)
{
	const struct seized_tree *t = fdm->tree;
	return t && t->root && t->root->vpid != t->root->pid;
}

pid_t fd_dump_tree_vpid(const struct files_dump *fdm, int type, pid_t pid)
{
	const struct seized_tree *t = fdm->tree;
	if (!fd_dump_in_pidns(fdm))
		return pid;
	for (int i = 0; pid > 0 && i < t->nr_procs; i++) {
		const struct seized_proc *p = t->procs[i];
		if (type == F_OWNER_PGRP) {
			/* a group of the namespace: a member knows its number there */
			if (p->pgid == pid)
				return p->vpgid;
			continue;
		}
		if (p->pid == pid)
			return p->vpid;
		for (int k = 0; type == F_OWNER_TID && k < p->nr_threads; k++)
			if (p->threads[k].tid == pid)
				return p->threads[k].vtid;
	}
	return 0;
}

int fd_dump_fown(struct fd_dump *d, FownEntry *fown)
{
	struct f_owner_ex owner = { 0 };
	fown->has_uid = fown->has_euid = fown->has_signum = fown->has_pid_type = fown->has_pid = 1;
	fown->uid = fown->euid = 0;
	fown->signum = fown->pid_type = fown->pid = 0;
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	if (fcntl(lfd, F_GETOWN_EX, &owner))
		return_perror("fcntl(F_GETOWN_EX) on " FD_FMT, FD_ARGS(d));
	int sig = fcntl(lfd, F_GETSIG);
	if (sig < 0)
		return_perror("fcntl(F_GETSIG) on " FD_FMT, FD_ARGS(d));
	fown->signum = sig;
	fown->pid_type = owner.type;
	/* F_GETOWN_EX answers in cryo's PID namespace; the image holds the
	 * tree's PIDs (criu's too), which the restore translates back */
	fown->pid = fd_dump_tree_vpid(d->fdm, owner.type, owner.pid);
	if (owner.pid && !fown->pid) {
		pr_err(FD_FMT " sends its signals (F_SETOWN) to %s %d, which is outside the "
		       "tree's PID namespace: a restore can't give it that owner back; clear "
		       "the owner (F_SETOWN 0) or dump the owner with the tree", FD_ARGS(d),
		       owner.type == F_OWNER_PGRP ? "process group" : owner.type == F_OWNER_TID ?
		       "thread" : "process", owner.pid);
		return -EOPNOTSUPP;
	}
	if (owner.pid) {
		/* the owner's credentials are those of whoever set it; the
		 * task's own are the best guess visible from outside */
		struct stat st;
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d", d->pid);
		if (!stat(p, &st))
			fown->uid = fown->euid = st.st_uid;
	}
	return 0;
}

static int read_fdinfo(struct fd_dump *d)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", d->pid, d->fd);
	ssize_t n = read_file(AT_FDCWD, path, &d->fdinfo, false);
	if (n < 0)
		return n;
	int ret = proc_parse_fdinfo_text(d->fdinfo, &d->fi);
	if (ret)
		pr_err("can't parse %s", path);
	return ret;
}

static bool is_tty_major(unsigned maj)
{
	return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static int refuse(struct fd_dump *d, const char *what, const char *why)
{
	pr_err(FD_FMT " is %s (%s): %s", FD_ARGS(d), what, d->path, why);
	return -EOPNOTSUPP;
}

static const struct {
	const char *link;
	enum fd_kind_id kind;
} anon_kinds[] = {
	{ "anon_inode:[eventfd]", FDK_EVENTFD },
	{ "anon_inode:[eventpoll]", FDK_EPOLL },
	{ "anon_inode:[signalfd]", FDK_SIGNALFD },
	{ "anon_inode:[timerfd]", FDK_TIMERFD },
	{ "anon_inode:inotify", FDK_INOTIFY },
	{ "anon_inode:[fanotify]", FDK_FANOTIFY },
	{ "anon_inode:bpf-map", FDK_BPFMAP },
};

/* The other BPF objects a descriptor can hold, and why each stays out. */
static const struct {
	const char *link, *what, *why;
} bpf_refused[] = {
	{ "anon_inode:bpf-prog", "a BPF program",
	  "cryo can't checkpoint BPF programs (their verified code and the objects they "
	  "use can't be read back); only BPF maps are dumped" },
	{ "anon_inode:bpf_link", "a BPF link",
	  "cryo can't checkpoint BPF links (a program attached to a hook)" },
	{ "anon_inode:btf", "a BTF object",
	  "cryo can't checkpoint BTF type information objects" },
	{ "anon_inode:bpf_iter", "a BPF iterator", "cryo can't checkpoint BPF iterators" },
	{ "anon_inode:bpf-token", "a BPF token",
	  "cryo can't checkpoint BPF tokens (delegated BPF permissions)" },
};

/* Which kind is this descriptor?  Refuses (logged) what cryo can't dump. */
static int classify(struct fd_dump *d)
{
	if (d->fi.flags & O_PATH) {
		d->kind = FDK_REG;	/* reopened by path with O_PATH, whatever it is */
		return 0;
	}
	if (!strncmp(d->path, "anon_inode:", 11)) {
		for (size_t i = 0; i < ARRAY_SIZE(anon_kinds); i++)
			if (!strcmp(d->path, anon_kinds[i].link)) {
				d->kind = anon_kinds[i].kind;
				return 0;
			}
		if (!strcmp(d->path, "anon_inode:[io_uring]"))
			return refuse(d, "an io_uring instance", "io_uring can't be checkpointed "
				      "(neither criu nor cryo supports it yet)");
		if (!strcmp(d->path, "anon_inode:[pidfd]")) {
			d->kind = FDK_PIDFD;
			return 0;
		}
		for (size_t i = 0; i < ARRAY_SIZE(bpf_refused); i++)
			if (!strcmp(d->path, bpf_refused[i].link))
				return refuse(d, bpf_refused[i].what, bpf_refused[i].why);
		if (!strcmp(d->path, "anon_inode:[userfaultfd]"))
			return refuse(d, "a userfaultfd", "cryo can't dump userfaultfds");
		return refuse(d, "an anonymous-inode descriptor", "cryo can't dump this kind");
	}
	mode_t m = d->st.st_mode;
	if (S_ISFIFO(m)) {
		d->kind = !strncmp(d->path, "pipe:[", 6) ? FDK_PIPE : FDK_FIFO;
		return 0;
	}
	if (S_ISSOCK(m)) {
		int lfd = fd_dump_lfd(d);
		if (lfd < 0)
			return lfd;
		socklen_t l = sizeof(int);
		if (getsockopt(lfd, SOL_SOCKET, SO_DOMAIN, &d->sk_family, &l) ||
		    getsockopt(lfd, SOL_SOCKET, SO_TYPE, &d->sk_type, &l) ||
		    getsockopt(lfd, SOL_SOCKET, SO_PROTOCOL, &d->sk_proto, &l))
			return_perror("getsockopt(SO_DOMAIN/SO_TYPE/SO_PROTOCOL) on " FD_FMT,
				      FD_ARGS(d));
		switch (d->sk_family) {
		case AF_UNIX: d->kind = FDK_UNIX; return 0;
		case AF_INET:
		case AF_INET6: d->kind = FDK_INET; return 0;
		case AF_NETLINK: d->kind = FDK_NETLINK; return 0;
		case AF_PACKET: d->kind = FDK_PACKET; return 0;
		}
		char what[64];
		snprintf(what, sizeof(what), "a socket of address family %d", d->sk_family);
		return refuse(d, what, "cryo can dump unix, inet, netlink and packet sockets only");
	}
	if (S_ISCHR(m) && is_tty_major(major(d->st.st_rdev))) {
		d->kind = FDK_TTY;
		return 0;
	}
	/* /dev/net/tun: the misc device 10:200 */
	if (S_ISCHR(m) && major(d->st.st_rdev) == 10 && minor(d->st.st_rdev) == 200) {
		d->kind = FDK_TUN;
		return 0;
	}
	if (S_ISBLK(m))
		return refuse(d, "a block device", "cryo can't dump open block devices");
	if (S_ISREG(m) && d->path[0] != '/' && strstr(d->path, ":[")) {
		/* "net:[4026531840]": a namespace file, if nsfs says so */
		char link[64];
		struct statfs sfs;
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", d->pid, d->fd);
		if (!statfs(link, &sfs) && sfs.f_type == NSFS_MAGIC) {
			d->kind = FDK_NSFILE;
			return 0;
		}
	}
	if (S_ISREG(m) && !strncmp(d->path, "/memfd:", 7)) {
		d->kind = FDK_MEMFD;
		return 0;
	}
	if (S_ISREG(m) && !strncmp(d->path, "/secretmem", 10)) {
		char link[64];
		struct statfs sfs;
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", d->pid, d->fd);
		if (!statfs(link, &sfs) && sfs.f_type == SECRETMEM_MAGIC_FD)
			return refuse(d, "a secret memory file (memfd_secret)", "cryo can't save "
				      "secret memory yet (no process but its owner can read it); "
				      "close it before the dump");
	}
	if (S_ISREG(m) && d->path[0] == '/' && !strchr(d->path + 1, '/')) {
		/* a POSIX message queue's link is "/NAME", as a file of / */
		char link[64];
		struct statfs sfs;
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", d->pid, d->fd);
		if (!statfs(link, &sfs) && sfs.f_type == MQUEUE_MAGIC)
			return refuse(d, "a POSIX message queue", "cryo can't save message queues "
				      "yet (their messages and attributes); close it before the dump");
	}
	if (S_ISREG(m) || S_ISDIR(m) || S_ISCHR(m)) {
		d->kind = FDK_REG;
		return 0;
	}
	return refuse(d, "an unknown kind of file", "cryo can't dump it");
}

static struct fd_bucket *find_bucket(struct files_dump *fdm, dev_t dev, ino_t ino, bool create)
{
	if (create && (fdm->nr_buckets + 1) * 2 > fdm->cap_buckets) {
		int ncap = fdm->cap_buckets ? fdm->cap_buckets * 2 : 256;
		struct fd_bucket *nb = xzalloc(ncap * sizeof(*nb));
		if (!nb)
			return NULL;
		for (int i = 0; i < fdm->cap_buckets; i++) {
			struct fd_bucket *b = &fdm->buckets[i];
			if (!b->used)
				continue;
			size_t h = ((uint64_t)b->ino * 0x9E3779B97F4A7C15ull ^ b->dev) & (ncap - 1);
			while (nb[h].used)
				h = (h + 1) & (ncap - 1);
			nb[h] = *b;
		}
		free(fdm->buckets);
		fdm->buckets = nb;
		fdm->cap_buckets = ncap;
	}
	if (!fdm->cap_buckets)
		return NULL;
	size_t h = ((uint64_t)ino * 0x9E3779B97F4A7C15ull ^ dev) & (fdm->cap_buckets - 1);
	while (fdm->buckets[h].used) {
		struct fd_bucket *b = &fdm->buckets[h];
		if (b->dev == dev && b->ino == ino)
			return b;
		h = (h + 1) & (fdm->cap_buckets - 1);
	}
	if (!create)
		return NULL;
	struct fd_bucket *b = &fdm->buckets[h];
	*b = (struct fd_bucket){ .dev = dev, .ino = ino, .used = true };
	fdm->nr_buckets++;
	return b;
}

/* kcmp of two descriptors' open file descriptions: <0, 0, >0, or -2 when
 * the kernel gives no order (logged by the caller's fallback). */
static int cmp_file(pid_t p1, int fd1, pid_t p2, int fd2)
{
	long r = syscall(SYS_kcmp, p1, p2, KCMP_FILE, fd1, fd2);
	return r == 0 ? 0 : r == 1 ? -1 : r == 2 ? 1 : -2;
}

/* The id of the description @d shares with a descriptor seen before, or 0
 * (then *pos is where it goes in @b). */
static uint32_t lookup_shared(struct fd_bucket *b, struct fd_dump *d, int *pos)
{
	int lo = 0, hi = b->nr;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		int c = cmp_file(d->pid, d->fd, b->refs[mid].pid, b->refs[mid].fd);
		if (c == -2) {
			/* no ordering: compare with each */
			for (int i = 0; i < b->nr; i++)
				if (!cmp_file(d->pid, d->fd, b->refs[i].pid, b->refs[i].fd))
					return b->refs[i].id;
			*pos = b->nr;
			return 0;
		}
		if (c == 0)
			return b->refs[mid].id;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return 0;
}

static int bucket_insert(struct fd_bucket *b, int pos, struct fd_dump *d)
{
	if (b->nr == b->cap) {
		int ncap = b->cap ? b->cap * 2 : 2;
		struct fd_ref *n = xrealloc(b->refs, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		b->refs = n;
		b->cap = ncap;
	}
	memmove(&b->refs[pos + 1], &b->refs[pos], (b->nr - pos) * sizeof(b->refs[0]));
	b->refs[pos] = (struct fd_ref){ d->pid, d->fd, d->id };
	b->nr++;
	return 0;
}

/* Kinds whose ->dump works on a descriptor that only cryo holds (nothing
 * in it reads the task's fd table). */
static bool inflight_ok(enum fd_kind_id k)
{
	switch (k) {
	case FDK_REG: case FDK_MEMFD: case FDK_PIPE: case FDK_FIFO: case FDK_UNIX:
	case FDK_EVENTFD: case FDK_EPOLL: case FDK_SIGNALFD: case FDK_TIMERFD:
	case FDK_PIDFD: case FDK_NETLINK:
		return true;
	default:
		return false;
	}
}

/* A process of the tree that holds the description of cryo's descriptor
 * @fd (in flight) too, walked or not yet: *@hpid, *@hfd.  False if none. */
static bool find_holder(struct files_dump *fdm, int fd, const struct stat *st, pid_t *hpid,
			int *hfd)
{
	const struct seized_tree *t = fdm->tree;
	for (int i = 0; t && i < t->nr_procs; i++) {
		if (t->procs[i]->state == TASK_DEAD)
			continue;
		pid_t pid = t->procs[i]->pid;
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
		pid_t *fds;
		int n;
		if (proc_list_dir_pids(dir, &fds, &n))
			continue;
		bool found = false;
		for (int j = 0; j < n && !found; j++) {
			char link[96];
			struct stat fst;
			snprintf(link, sizeof(link), "%s/%d", dir, fds[j]);
			if (stat(link, &fst) || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino)
				continue;
			if (!cmp_file(getpid(), fd, pid, fds[j])) {
				*hpid = pid;
				*hfd = fds[j];
				found = true;
			}
		}
		free(fds);
		if (found)
			return true;
	}
	return false;
}

/* Read, classify and (the first time its description is seen) dump @d;
 * sets d->id.  @what: a descriptor in flight (cryo's own copy), or NULL. */
static int describe_fd(struct files_dump *fdm, struct fd_dump *d, const char *inflight)
{
	char link[96];
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", d->pid, d->fd);
	char what[32];
	snprintf(what, sizeof(what), "fd %d", d->fd);
	int ret = read_link(d->pid, link, what, d->path, sizeof(d->path));
	if (ret)
		return ret;
	if (stat(link, &d->st)) {
		/* a socket or anon inode can't be stat'ed by path only when it
		 * is gone; fall back to the descriptor itself */
		int lfd = fd_dump_lfd(d);
		if (lfd < 0)
			return lfd;
		if (fstat(lfd, &d->st))
			return_perror("can't stat " FD_FMT " (%s)", FD_ARGS(d), d->path);
	}
	ret = read_fdinfo(d);
	if (ret)
		return ret;
	ret = classify(d);
	if (ret)
		return ret;
	const struct fd_kind *k = fd_kind(d->kind);
	/* flock and POSIX locks can be taken on any file (a pipe, a socket):
	 * the lock would be lost */
	if (d->kind != FDK_REG && d->kind != FDK_MEMFD &&
	    (!strncmp(d->fdinfo, "lock:\t", 6) || strstr(d->fdinfo, "\nlock:\t"))) {
		pr_err(FD_FMT " is a %s (%s) that holds a file lock: cryo saves the locks of "
		       "regular files and memfds only (let the lock go before the dump)", FD_ARGS(d),
		       k->name, d->path);
		return -EOPNOTSUPP;
	}

	struct fd_bucket *b = find_bucket(fdm, d->st.st_dev, d->st.st_ino, true);
	if (!b)
		return -ENOMEM;
	int pos = 0;
	uint32_t id = lookup_shared(b, d, &pos);
	if (id) {
		d->id = id;
		return 0;
	}
	if (!k->dump) {
		pr_err(FD_FMT " is a %s (%s): cryo can't dump this kind yet", FD_ARGS(d), k->name,
		       d->path);
		return -EOPNOTSUPP;
	}
	pid_t hpid;
	int hfd;
	if (inflight && (!inflight_ok(d->kind) || d->kind == FDK_EPOLL) &&
	    find_holder(fdm, d->fd, &d->st, &hpid, &hfd)) {
		/* a process of the tree holds it too, not walked yet: dumped
		 * through that process's descriptor (what an epoll's
		 * registrations or a TCP socket's repair need) */
		struct fd_dump h = { .fdm = fdm, .pid = hpid, .fd = hfd, .lfd = -1 };
		ret = describe_fd(fdm, &h, NULL);
		if (h.lfd >= 0)
			close(h.lfd);
		free(h.fdinfo);
		d->id = h.id;
		return ret;
	}
	if (inflight && !inflight_ok(d->kind)) {
		pr_err("%s: a queued message carries a %s (%s) that no process of the tree "
		       "holds: cryo can't dump this kind of file in flight (SCM_RIGHTS); let the "
		       "receiver take it first", inflight, k->name, d->path);
		return -EOPNOTSUPP;
	}
	d->id = fdm->next_id++;
	/* known before its ->dump: a socket's queue may carry the socket
	 * itself (SCM_RIGHTS), which must then find this id */
	ret = bucket_insert(b, pos, d);
	return ret ? ret : k->dump(d);
}

static int dump_one_fd(struct files_dump *fdm, struct fd_dump *d, struct cr_img *img)
{
	int ret = describe_fd(fdm, d, NULL);
	if (ret)
		return ret;
	const struct fd_kind *k = fd_kind(d->kind);
	uint32_t id = d->id;
	FdinfoEntry fe = FDINFO_ENTRY__INIT;
	fe.has_id = fe.has_flags = fe.has_type = fe.has_fd = 1;
	fe.id = id;
	fe.flags = (d->fi.flags & O_CLOEXEC) ? FD_CLOEXEC : 0;
	fe.type = k->fd_type;
	fe.fd = d->fd;
	return img_write_msg(img, &fe.base);
}

int files_dump_inflight(struct files_dump *fdm, int fd, const char *what, uint32_t *id)
{
	if (fdm->nr_inflight == fdm->cap_inflight) {
		int ncap = fdm->cap_inflight ? fdm->cap_inflight * 2 : 16;
		int *n = xrealloc(fdm->inflight, ncap * sizeof(*n));
		if (!n) {
			close(fd);
			return -ENOMEM;
		}
		fdm->inflight = n;
		fdm->cap_inflight = ncap;
	}
	/* kept open until the dump ends: the buckets compare later
	 * descriptors with it (kcmp) */
	fdm->inflight[fdm->nr_inflight++] = fd;
	struct fd_dump d = { .fdm = fdm, .pid = getpid(), .fd = fd, .lfd = -1 };
	d.lfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d.lfd < 0)
		return_perror("%s: dup of a descriptor in flight", what);
	int ret = describe_fd(fdm, &d, what);
	if (ret == 0)
		*id = d.id;
	else if (ret != -ENOMEM)
		pr_err("%s: the descriptor above is in flight in this socket's queue (cryo's "
		       "copy of it is fd %d of process %d, cryo itself)", what, fd, d.pid);
	close(d.lfd);
	free(d.fdinfo);
	return ret;
}

int files_dump_fds(struct files_dump *fdm, pid_t pid, uint32_t files_id)
{
	char dir[64];
	pid_t *fds;
	int nfds;
	struct cr_img *img;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	int ret = proc_list_dir_pids(dir, &fds, &nfds);
	if (ret)
		return ret;
	ret = img_open(&img, fdm->dirfd, IMG_FDINFO, IMG_WRITE, files_id);
	if (ret) {
		free(fds);
		return ret;
	}
	for (int i = 0; i < nfds && !ret; i++) {
		struct fd_dump d = { .fdm = fdm, .pid = pid, .fd = fds[i], .lfd = -1 };
		ret = dump_one_fd(fdm, &d, img);
		if (d.lfd >= 0)
			close(d.lfd);
		free(d.fdinfo);
	}
	free(fds);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

int files_dump_fs(struct files_dump *fdm, pid_t pid, pid_t img_pid, unsigned umask_val)
{
	char link[64];
	FsEntry fe = FS_ENTRY__INIT;
	struct cr_img *img;
	int ret;

	snprintf(link, sizeof(link), "/proc/%d/cwd", pid);
	ret = files_dump_link(fdm, pid, link, "the working directory", &fe.cwd_id);
	if (ret)
		return ret;
	snprintf(link, sizeof(link), "/proc/%d/root", pid);
	ret = files_dump_link(fdm, pid, link, "the root directory", &fe.root_id);
	if (ret)
		return ret;
	fe.has_cwd_id = fe.has_root_id = fe.has_umask = 1;
	fe.umask = umask_val;
	ret = img_open(&img, fdm->dirfd, IMG_FS, IMG_WRITE, img_pid);
	if (ret)
		return ret;
	ret = img_write_msg(img, &fe.base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}
