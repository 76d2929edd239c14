/* Restoring fd tables: cryo opens each open file description once (the
 * kind's ->open) and passes it to the tasks that hold it. */
#include "files/files-int.h"
#include "files/fd_plan-int.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int cmp_entry(const void *a, const void *b)
{
	const FileEntry *x = *(FileEntry *const *)a, *y = *(FileEntry *const *)b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int files_restore_load(struct files_restore *fr, int dirfd, const struct cryo_opts *o)
{
	struct cr_img *img;
	int ret, cap = 0;
	memset(fr, 0, sizeof(*fr));
	fr->dirfd = dirfd;
	fr->opts = o;
	fr->transport[0] = fr->transport[1] = -1;
	ns_set_self(&fr->ns);
	for (int k = 0; k < NS__MAX; k++)
		fr->ns_back[k] = -1;
	ret = fd_kinds_check();
	if (ret)
		return ret;
	ret = img_open(&img, dirfd, IMG_FILES, IMG_READ | IMG_MISSING_OK, 0);
	if (ret && ret != -ENOENT)
		return ret;
	while (!ret) {
		FileEntry *fe;
		ret = img_read_msg(img, &file_entry__descriptor, (ProtobufCMessage **)&fe);
		if (ret <= 0)
			break;
		ret = 0;
		if (fr->nr_files == cap) {
			cap = cap ? cap * 2 : 32;
			FileEntry **n = xrealloc(fr->files, cap * sizeof(*n));
			if (!n) {
				protobuf_c_message_free_unpacked(&fe->base, NULL);
				ret = -ENOMEM;
				break;
			}
			fr->files = n;
		}
		fr->files[fr->nr_files++] = fe;
	}
	if (ret == -ENOENT)
		ret = 0;
	else
		img_close(img);
	if (ret < 0)
		return ret;
	if (fr->nr_files)	/* xqsort(NULL, 0) is undefined */
		xqsort(fr->files, fr->nr_files, sizeof(fr->files[0]), cmp_entry);
	for (int i = 1; i < fr->nr_files; i++)
		if (fr->files[i]->id == fr->files[i - 1]->id) {
			pr_err("files.img: file id %u appears twice", fr->files[i]->id);
			return -EINVAL;
		}
	fr->rf = xzalloc((fr->nr_files + 1) * sizeof(*fr->rf));
	if (!fr->rf)
		return -ENOMEM;
	for (int i = 0; i < fr->nr_files; i++) {
		fr->rf[i].fe = fr->files[i];
		fr->rf[i].lfd = -1;
		fr->rf[i].fr = fr;
	}

	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp))
		return_perror("can't create the socket pair that passes descriptors to the "
			      "restored tasks");
	fr->transport[0] = sp[0];
	/* the tasks' end: inherited (no exec happens), kept out of the way of
	 * low numbers while cryo's descriptors are still open in new tasks */
	fr->transport[1] = fcntl(sp[1], F_DUPFD, 100);
	close(sp[1]);
	if (fr->transport[1] < 0)
		return_perror("can't duplicate the descriptor-passing socket");
	return 0;
}

const FileEntry *files_find(const struct files_restore *fr, uint32_t id)
{
	struct rst_file *f = files_rst_find((struct files_restore *)fr, id);
	return f ? f->fe : NULL;
}

struct rst_file *files_rst_find(struct files_restore *fr, uint32_t id)
{
	int lo = 0, hi = fr->nr_files;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		uint32_t m = fr->files[mid]->id;
		if (m == id)
			return &fr->rf[mid];
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int files_rst_open(struct files_restore *fr, struct rst_file *f)
{
	if (f->lfd >= 0)
		return f->lfd;
	const struct fd_kind *k = fd_kind_of_type(f->fe->type);
	if (!k || !k->open) {
		pr_err("files.img: file %u is of type %d, which cryo can't restore%s", f->fe->id,
		       f->fe->type, k ? " yet" : "");
		return -EOPNOTSUPP;
	}
	int ret = k->open(fr, f);
	if (ret > 0) {
		pr_err("restoring %s %u: its open step returned %d (a bug: it must return 0 "
		       "or a negative error)", k->name, f->fe->id, ret);
		ret = -EINVAL;
	}
	if (ret)
		return ret;
	if (f->lfd < 0) {
		pr_err("restoring %s %u opened nothing", k->name, f->fe->id);
		return -EINVAL;
	}
	return f->lfd;
}

int files_restore_img(struct files_restore *fr, int type, struct cr_img **img)
{
	for (int i = 0; i < fr->nr_extra; i++)
		if (fr->extra_type[i] == type) {
			*img = fr->extra[i];
			return 0;
		}
	if (fr->nr_extra == (int)ARRAY_SIZE(fr->extra))
		return -ENOSPC;
	int ret = img_open(img, fr->dirfd, type, IMG_READ, 0);
	if (ret)
		return ret;
	fr->extra_type[fr->nr_extra] = type;
	fr->extra[fr->nr_extra++] = *img;
	return 0;
}

int files_rst_enter_ns(struct files_restore *fr, const struct rst_file *f, int clone_flag)
{
	const struct ns_desc *d = ns_desc_by_flag(clone_flag);
	if (!d) {
		pr_err("entering a namespace for file %u: 0x%x is no namespace kind (a bug)",
		       f->fe->id, clone_flag);
		return -EINVAL;
	}
	if (fr->ns_entered & (1u << d->kind)) {
		pr_err("file %u: already inside a %s namespace of a file (a bug: enter and leave "
		       "in pairs)", f->fe->id, d->what);
		return -EBUSY;
	}
	int ret = ns_enter(f->ns ? f->ns : &fr->ns, d, &fr->ns_back[d->kind]);
	if (!ret)
		fr->ns_entered |= 1u << d->kind;
	return ret;
}

int files_rst_leave_ns(struct files_restore *fr, int clone_flag)
{
	const struct ns_desc *d = ns_desc_by_flag(clone_flag);
	if (!d || !(fr->ns_entered & (1u << d->kind))) {
		pr_err("leaving a namespace (0x%x) not entered (a bug)", clone_flag);
		return -EINVAL;
	}
	int back = fr->ns_back[d->kind];
	fr->ns_back[d->kind] = -1;
	fr->ns_entered &= ~(1u << d->kind);
	return ns_leave(d, back);
}

int files_rst_enter_mnt(struct files_restore *fr, int *cwd)
{
	const struct ns_desc *d = ns_desc(NS_MNT);
	*cwd = -1;
	if (fr->ns.fd[NS_MNT] < 0 || (fr->ns_entered & (1u << NS_MNT)))
		return 0;
	*cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*cwd < 0)
		return log_errno(-errno, "can't open cryo's working directory");
	int ret = ns_enter(&fr->ns, d, &fr->ns_back[NS_MNT]);
	if (ret) {
		close(*cwd);
		*cwd = -1;
		return ret;
	}
	fr->ns_entered |= 1u << NS_MNT;
	return 0;
}

int files_rst_leave_mnt(struct files_restore *fr, int cwd)
{
	if (cwd < 0)
		return 0;
	int back = fr->ns_back[NS_MNT];
	fr->ns_back[NS_MNT] = -1;
	fr->ns_entered &= ~(1u << NS_MNT);
	int ret = ns_leave(ns_desc(NS_MNT), back);
	if (fchdir(cwd) && !ret)
		ret = log_errno(-errno, "can't go back to cryo's working directory");
	close(cwd);
	return ret;
}

/* A ping socket is allowed to tasks whose group is in the namespace's
 * net.ipv4.ping_group_range, which names groups of the namespace's user
 * namespace: the restored task's may not include cryo's own (a container's
 * root group).  The range is widened for cryo's socket() alone and put back
 * (the file, opened in the socket's network namespace, is that one's). */
static int ping_socket_widened(int family, int type, int protocol)
{
	const char *path = "/proc/sys/net/ipv4/ping_group_range";
	char old[64];
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -EACCES;
	ssize_t n = pread(fd, old, sizeof(old) - 1, 0);
	static const char all[] = "0 2147483647";
	if (n <= 0 || pwrite(fd, all, sizeof(all) - 1, 0) != (ssize_t)sizeof(all) - 1) {
		close(fd);
		return -EACCES;
	}
	int sk = socket(family, type, protocol);
	int err = sk < 0 ? -errno : 0;
	if (pwrite(fd, old, n, 0) != n) {
		err = log_errno(-errno, "can't put net.ipv4.ping_group_range back to %.*s after "
				"making a ping socket", (int)n - 1, old);
		if (sk >= 0)
			close(sk);
		sk = -1;
	}
	close(fd);
	return sk >= 0 ? sk : err;
}

int files_rst_socket(struct files_restore *fr, const struct rst_file *f, int family, int type,
		     int protocol)
{
	int ret = files_rst_enter_ns(fr, f, CLONE_NEWNET);
	if (ret)
		return ret;
	int sk = socket(family, type, protocol);
	int err = sk < 0 ? -errno : 0;
	if (err == -EACCES && (type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) == SOCK_DGRAM &&
	    (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6)) {
		sk = ping_socket_widened(family, type, protocol);
		err = sk < 0 ? sk : 0;
	}
	ret = files_rst_leave_ns(fr, CLONE_NEWNET);
	if (ret) {
		if (sk >= 0)
			close(sk);
		return ret;
	}
	return sk >= 0 ? sk : err;
}

int files_apply_fown(struct files_restore *fr, int lfd, const FownEntry *fown,
		     const char *what)
{
	if (!fown)
		return 0;
	if (fown->signum && fcntl(lfd, F_SETSIG, fown->signum))
		return_perror("fcntl(F_SETSIG, %u) on %s", fown->signum, what);
	if (fown->pid) {
		/* the image has the tree's PID; cryo's fcntl takes its own */
		pid_t pid = fr && fr->host_pid ? fr->host_pid(fr->host_pid_arg, fown->pid_type,
							       fown->pid) : (pid_t)fown->pid;
		if (pid == -EAGAIN) {
			/* a thread created after the descriptors: later */
			struct files_owner_later *l = xrealloc(fr->later,
							       (fr->nr_later + 1) * sizeof(*l));
			if (!l)
				return -ENOMEM;
			fr->later = l;
			l += fr->nr_later;
			l->lfd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
			if (l->lfd < 0)
				return_perror("dup of %s for its owner", what);
			l->vtid = fown->pid;
			snprintf(l->what, sizeof(l->what), "%s", what);
			fr->nr_later++;
			return 0;
		}
		if (pid <= 0) {
			pr_err("%s: its owner (F_SETOWN), %s %u of the images, is not a restored "
			       "%s", what, fown->pid_type == F_OWNER_PGRP ?
			       "group" : fown->pid_type == F_OWNER_TID ? "thread" : "process",
			       fown->pid, fown->pid_type == F_OWNER_PGRP ? "group" : "task");
			return -ESRCH;
		}
		struct f_owner_ex o = { .type = fown->pid_type, .pid = pid };
		if (fcntl(lfd, F_SETOWN_EX, &o))
			return_perror("fcntl(F_SETOWN_EX, %d) on %s", pid, what);
	}
	return 0;
}

int files_rst_adopt(struct rst_file *f, int fd, int ret, unsigned flags, const FownEntry *fown,
		    const char *what)
{
	if (!ret && flags != FILES_FLAGS_AS_OPENED)
		ret = files_apply_flags(fd, flags, what);
	if (!ret)
		ret = files_apply_fown(f->fr, fd, fown, what);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	f->lfd = fd;
	return 0;
}

int files_apply_flags(int lfd, unsigned flags, const char *what)
{
	unsigned settable = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
	int cur = fcntl(lfd, F_GETFL);
	if (cur < 0)
		return_perror("fcntl(F_GETFL) on %s", what);
	unsigned want = (cur & ~settable) | (flags & settable);
	if ((unsigned)cur != want && fcntl(lfd, F_SETFL, want))
		return_perror("fcntl(F_SETFL, 0%o) on %s", want, what);
	return 0;
}

/* --- putting descriptors into a task --- */

struct placing {
	const struct files_restore *fr;
	struct remote *r;
	pid_t pid;
	struct remote_batch *b;
	int spare_base;			/* free numbers above every target */
	uint64_t msg_addr;		/* msghdr + iovec + byte + cmsg in the task */
};

static int batch_add(struct placing *pl, long nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	if (pl->b->n == REMOTE_BATCH_MAX) {
		int ret = remote_batch_exec(pl->r, pl->b, "placing descriptors");
		if (ret)
			return ret;
	}
	pl->b->calls[pl->b->n++] = (struct remote_call){ .nr = nr, .a = { a1, a2, a3 } };
	return 0;
}

struct remote_msg {
	struct msghdr mh;
	struct iovec iov;
	char byte[8];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
	} c;
};

/* Send @n descriptors to the task and receive them there; @got gets the
 * numbers they landed at, in order. */
static int pass_fds(struct placing *pl, const int *lfds, int n, int *got)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))];
	} c;
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(ch), lfds, n * sizeof(int));
	if (sendmsg(pl->fr->transport[0], &mh, 0) != 1)
		return_perror("can't pass %d descriptor(s) to restored process %d", n, pl->pid);

	/* the task's side */
	struct remote_msg rm = { 0 };
	uint64_t base = pl->msg_addr;
	rm.iov.iov_base = (void *)(base + offsetof(struct remote_msg, byte));
	rm.iov.iov_len = 1;
	rm.mh.msg_iov = (void *)(base + offsetof(struct remote_msg, iov));
	rm.mh.msg_iovlen = 1;
	rm.mh.msg_control = (void *)(base + offsetof(struct remote_msg, c));
	rm.mh.msg_controllen = sizeof(rm.c.buf);
	int ret = remote_write(pl->r, base, &rm, sizeof(rm));
	if (ret)
		return ret;
	long got_n = remote_syscall(pl->r, __NR_recvmsg, pl->fr->transport[1], base,
				    MSG_CMSG_CLOEXEC | MSG_DONTWAIT, 0, 0, 0);
	if (got_n != 1) {
		pr_err("restored process %d could not receive its descriptors: recvmsg %s", pl->pid,
		       got_n < 0 ? strerror(-got_n) : "returned no data");
		return got_n < 0 ? got_n : -EIO;
	}
	ret = remote_read(pl->r, base, &rm, sizeof(rm));
	if (ret)
		return ret;
	if (rm.mh.msg_flags & MSG_CTRUNC || rm.c.h.cmsg_type != SCM_RIGHTS ||
	    rm.c.h.cmsg_len != CMSG_LEN(n * sizeof(int))) {
		pr_err("restored process %d received %zu descriptor(s) instead of %d "
		       "(its RLIMIT_NOFILE may be too low)", pl->pid,
		       rm.c.h.cmsg_len > CMSG_LEN(0) ? (rm.c.h.cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0,
		       n);
		return -EMFILE;
	}
	memcpy(got, CMSG_DATA(&rm.c.h), n * sizeof(int));
	return 0;
}

int files_restore_give_fd(const struct files_restore *fr, struct remote *r, pid_t pid, int lfd)
{
	/* The task's end must still be where it inherited it: not once its
	 * own descriptors are in place (then the number is closed or another
	 * file), as in a task sharing its table (CLONE_FILES) with one done. */
	char link[64];
	struct stat here, there;
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", pid, fr->transport[1]);
	if (fr->transport[1] < 0 || fstat(fr->transport[1], &here) || stat(link, &there) ||
	    here.st_ino != there.st_ino || here.st_dev != there.st_dev)
		return -EBADF;
	return files_restore_pass_fd(fr, r, pid, lfd);
}

int files_restore_pass_fd(const struct files_restore *fr, struct remote *r, pid_t pid, int lfd)
{
	struct placing pl = { .fr = fr, .r = r, .pid = pid };
	remote_scratch_reset(r);
	pl.msg_addr = remote_scratch_alloc(r, sizeof(struct remote_msg));
	if (!pl.msg_addr)
		return -ENOSPC;
	int got;
	int ret = pass_fds(&pl, &lfd, 1, &got);
	return ret ? ret : got;
}

static int plan_call(void *arg, long nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	return batch_add(arg, nr, a1, a2, a3);
}

/* Place slots [from, to): the first ones of their files were received at
 * recv[] (chunk-relative, for slots whose src is -1). */
static int place_chunk(struct placing *pl, struct fd_slot *s, int from, int to, int *recv,
		       int nrecv)
{
	int ret = fd_plan_chunk(s, from, to, recv, nrecv, pl->spare_base, pl->fr->transport[1],
				plan_call, pl);
	return ret ? ret : remote_batch_exec(pl->r, pl->b, "placing descriptors");
}

/* Room in process @pid's descriptor table up to @need: the placing uses
 * numbers above the highest of its descriptors, which may be right under
 * its RLIMIT_NOFILE (or above the restorer's, which it has now).  Its own
 * limits are set later, with its other settings.  Fails where the hard
 * limit can't be raised (no CAP_SYS_RESOURCE). */
static int fds_room(pid_t pid, int need)
{
	struct rlimit cur;
	if (prlimit(pid, RLIMIT_NOFILE, NULL, &cur))
		return_perror("prlimit(%d, RLIMIT_NOFILE) failed", pid);
	if (cur.rlim_cur >= (rlim_t)need)
		return 0;
	struct rlimit want = { need, MAX(cur.rlim_max, (rlim_t)need) };
	return prlimit(pid, RLIMIT_NOFILE, &want, NULL) ? -errno : 0;
}

int files_restore_fds(struct files_restore *fr, struct remote *r, pid_t pid, FdinfoEntry **fds,
		      int nr)
{
	struct fd_slot *s = xzalloc((nr + 1) * sizeof(*s));
	struct remote_batch *b = xmalloc(sizeof(*b));
	int ret = 0, maxfd = -1;
	if (!s || !b) {
		ret = -ENOMEM;
		goto out;
	}
	b->n = 0;
	for (int i = 0; i < nr; i++) {
		s[i].target = fds[i]->fd;
		s[i].cloexec = fds[i]->flags & FD_CLOEXEC;
		s[i].f = files_rst_find(fr, fds[i]->id);
		if (!s[i].f) {
			pr_err("fd %u of process %d: file id %u is missing from files.img",
			       fds[i]->fd, pid, fds[i]->id);
			ret = -EINVAL;
			goto out;
		}
		if (fds[i]->fd > INT_MAX - 4096) {
			pr_err("fd %u of process %d is out of range", fds[i]->fd, pid);
			ret = -EINVAL;
			goto out;
		}
	}
	ret = fd_plan_slots(s, nr, pid, &maxfd);
	if (ret)
		goto out;
	/* the socket, then spares for the received ones: above the highest
	 * descriptor, or else in a gap between them */
	int room = FDS_PER_MSG + 3, base = maxfd + 1;
	ret = fds_room(pid, maxfd + 1 + room);
	if (ret) {
		base = fd_plan_gap(s, nr, room);
		if (base < 0) {
			pr_err("process %d has descriptors up to %d and no %d free numbers between "
			       "them: can't raise its RLIMIT_NOFILE to %d to place them: %s (raising "
			       "a hard limit needs CAP_SYS_RESOURCE, and at most fs.nr_open)", pid,
			       maxfd, room, maxfd + 1 + room, strerror(-ret));
			goto out;
		}
		ret = 0;
	}

	struct placing pl = { .fr = fr, .r = r, .pid = pid, .b = b, .spare_base = base + 1 };
	remote_scratch_reset(r);
	pl.msg_addr = remote_scratch_alloc(r, sizeof(struct remote_msg));
	if (!pl.msg_addr) {
		ret = -ENOSPC;
		goto out;
	}
	int transport = fr->transport[1];
	if (transport <= maxfd && transport != base) {
		ret = batch_add(&pl, __NR_dup3, transport, base, O_CLOEXEC);
		if (!ret)
			ret = batch_add(&pl, __NR_close, transport, 0, 0);
		if (!ret)
			ret = remote_batch_exec(r, b, "moving the descriptor-passing socket");
		if (ret)
			goto out;
		transport = base;
	}
	int saved_transport = fr->transport[1];
	fr->transport[1] = transport;	/* pass_fds receives on it */

	for (int from = 0; from < nr && !ret;) {
		int lfds[FDS_PER_MSG], recv[FDS_PER_MSG], n = 0, to = from;
		while (to < nr && (s[to].src >= 0 || n < FDS_PER_MSG)) {
			if (s[to].src < 0) {
				int lfd = files_rst_open(fr, s[to].f);
				if (lfd < 0) {
					ret = lfd;
					break;
				}
				lfds[n++] = lfd;
			}
			to++;
		}
		if (!ret && n)
			ret = pass_fds(&pl, lfds, n, recv);
		if (!ret)
			ret = place_chunk(&pl, s, from, to, recv, n);
		from = to;
	}
	fr->transport[1] = saved_transport;

	/* What only the task can do, once all its fds are there.  Epoll
	 * first: a registration made through a since-reused fd number briefly
	 * closes that number (eventpoll.c), which would drop the POSIX locks
	 * of the task on the file there, so locks come after. */
	for (int pass = 0; pass < 2 && !ret; pass++)
		for (int i = 0; i < nr && !ret; i++) {
			if (s[i].src >= 0 || (s[i].f->fe->type == FD_TYPES__EVENTPOLL) != !pass)
				continue;
			const struct fd_kind *k = fd_kind_of_type(s[i].f->fe->type);
			if (k && k->post)
				ret = k->post(fr, r, pid, s[i].f, s[i].target);
		}
	if (!ret) {
		long c = remote_syscall(r, __NR_close, transport, 0, 0, 0, 0, 0);
		if (c) {
			pr_err("can't close the descriptor-passing socket in process %d: %s", pid,
			       strerror(-c));
			ret = c;
		}
	}
	if (!ret)
		pr_debug("task %d: %d fds restored", pid, nr);
out:
	free(s);
	free(b);
	return ret;
}

int files_restore_owners(struct files_restore *fr)
{
	int ret = 0;
	for (int i = 0; i < fr->nr_later && !ret; i++) {
		struct files_owner_later *l = &fr->later[i];
		pid_t tid = fr->host_pid(fr->host_pid_arg, F_OWNER_TID, l->vtid);
		struct f_owner_ex o = { .type = F_OWNER_TID, .pid = tid };
		if (tid <= 0) {
			pr_err("%s: its owner (F_SETOWN_EX), thread %d, has not been restored", l->what,
			       l->vtid);
			ret = -ESRCH;
		} else if (fcntl(l->lfd, F_SETOWN_EX, &o)) {
			ret = -errno;
			pr_perror("fcntl(F_SETOWN_EX, thread %d) on %s", tid, l->what);
		}
	}
	return ret;
}

int files_restore_preopen(struct files_restore *fr)
{
	for (int k = 0; k < FDK_MAX; k++)
		if (fd_kind(k) && fd_kind(k)->preopen) {
			int ret = fd_kind(k)->preopen(fr);
			if (ret)
				return ret;
		}
	return 0;
}

void files_restore_finish(struct files_restore *fr, bool ok)
{
	for (int i = 0; i < fr->nr_later; i++)
		close(fr->later[i].lfd);
	free(fr->later);
	fr->later = NULL;
	fr->nr_later = 0;
	for (int k = 0; k < FDK_MAX; k++)
		if (fd_kind(k) && fd_kind(k)->restore_finish)
			fd_kind(k)->restore_finish(fr, ok);
	for (int i = 0; i < fr->nr_files; i++)
		if (fr->rf && fr->rf[i].lfd >= 0) {
			close(fr->rf[i].lfd);
			fr->rf[i].lfd = -1;
		}
}

void files_restore_free(struct files_restore *fr)
{
	for (int i = 0; i < fr->nr_files; i++) {
		if (fr->rf && fr->rf[i].lfd >= 0)
			close(fr->rf[i].lfd);
		protobuf_c_message_free_unpacked(&fr->files[i]->base, NULL);
	}
	free(fr->files);
	free(fr->rf);
	fr->files = NULL;
	fr->rf = NULL;
	fr->nr_files = 0;
	for (int i = 0; i < fr->nr_extra; i++)
		img_close(fr->extra[i]);
	fr->nr_extra = 0;
	for (int i = 0; i < 2; i++)
		if (fr->transport[i] >= 0)
			close(fr->transport[i]);
	fr->transport[0] = fr->transport[1] = -1;
	for (int k = 0; k < NS__MAX; k++)	/* an enter without its leave: a bug */
		if (fr->ns_entered & (1u << k) && fr->ns_back[k] >= 0) {
			close(fr->ns_back[k]);
			fr->ns_back[k] = -1;
		}
	fr->ns_entered = 0;
}
