/* epoll: the registrations (target fd number, events, data).
 *
 * An epoll registration is keyed by the registering task's fd number and
 * file, so only a task can restore it: cryo creates the epoll file, and the
 * ->post step runs epoll_ctl(EPOLL_CTL_ADD) in the task, in batches, once
 * all its fds are in place.
 *
 * fdinfo lists "tfd: N events: X data: Y pos: ino: sdev:" per registration.
 * A registration outlives the fd it was made with (it goes only when the
 * file is released), so at dump kcmp(KCMP_EPOLL_TFD) checks that fd N of
 * the dumping process still is the registered file.  If it was closed or
 * replaced, the registered file is looked for among the process's other
 * fds (the kernel keeps the file, kcmp compares it with each) and its fd M
 * saved (cryo_fd): the restore puts the file at N for the epoll_ctl and
 * then gives N back what it holds (restore_moved).  A registered file the
 * process no longer holds at all is refused.
 *
 * epoll_ctl always adds EPOLLERR|EPOLLHUP, so a oneshot registration that
 * fired (disarmed: only its flags left) can't be made directly: it is made
 * armed and fired once more in the task (restore_disarmed).
 *
 * An epoll file shared by several processes is registered once, in the
 * first restored process that holds it (the one it was dumped from, the
 * tree being walked in the same order).
 */
#include "files/events-int.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include "eventpoll.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kcmp.h>

/* flags of a registration, kept when a oneshot one fires (the kernel's
 * EP_PRIVATE_BITS) */
#define EP_PRIVATE (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)

/* The fd of process @d->pid that is the file of registration @slot of
 * its epoll, or -ENOENT; @d->pid's fds are tried in order. */
static int find_registered(struct fd_dump *d, const struct kcmp_epoll_slot *slot)
{
	char dir[64];
	pid_t *fds;
	int nfds, found = -ENOENT;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", d->pid);
	int ret = proc_list_dir_pids(dir, &fds, &nfds);
	if (ret)
		return ret;
	for (int i = 0; i < nfds && found < 0; i++)
		if (fds[i] != (int)slot->tfd && syscall(SYS_kcmp, d->pid, d->pid, KCMP_EPOLL_TFD,
							 fds[i], slot) == 0)
			found = fds[i];
	free(fds);
	return found;
}

/* Is the registered file of @slot an fd of another process of the tree?
 * Its pid, or 0. */
static pid_t registered_elsewhere(struct fd_dump *d, const struct kcmp_epoll_slot *slot)
{
	for (int p = 0; d->fdm->tree && p < d->fdm->tree->nr_procs; p++) {
		const struct seized_proc *sp = d->fdm->tree->procs[p];
		if (sp->pid == d->pid || sp->state == TASK_DEAD)
			continue;
		char dir[64];
		pid_t *fds;
		int nfds;
		snprintf(dir, sizeof(dir), "/proc/%d/fd", sp->pid);
		if (proc_list_dir_pids(dir, &fds, &nfds))
			continue;
		bool hit = false;
		for (int i = 0; i < nfds && !hit; i++)
			hit = syscall(SYS_kcmp, sp->pid, d->pid, KCMP_EPOLL_TFD, fds[i], slot) == 0;
		free(fds);
		if (hit)
			return sp->pid;
	}
	return 0;
}

static int epoll_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	EventpollFileEntry e = EVENTPOLL_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	EventpollTfdEntry *tfds = NULL, **ptrs = NULL;
	int n = 0, cap = 0, ret = 0;

	for (const char *p = d->fdinfo; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "tfd:", 4))
			continue;
		int tfd;
		unsigned events, sdev;
		unsigned long long data, ino;
		long long pos;
		if (sscanf(p, "tfd: %d events: %x data: %llx pos:%lli ino:%llx sdev:%x", &tfd,
			   &events, &data, &pos, &ino, &sdev) != 6) {
			pr_err(FD_FMT ": can't parse an epoll registration in its fdinfo: %.80s",
			       FD_ARGS(d), p);
			ret = -EINVAL;
			goto out;
		}
		if (d->pid == getpid()) {
			/* in flight: the numbers are another task's */
			pr_err("a queued message carries an epoll (SCM_RIGHTS) with registrations "
			       "that no process of the tree holds: its registrations are keyed "
			       "by fd numbers of a process cryo can't tell, so it can't be "
			       "restored; let the receiver take it first");
			ret = -EOPNOTSUPP;
			goto out;
		}
		/* the n-th registration with this fd number (kcmp's toff) */
		int toff = 0;
		for (int i = 0; i < n; i++)
			toff += (int)tfds[i].tfd == tfd;
		struct kcmp_epoll_slot slot = { .efd = d->fd, .tfd = tfd, .toff = toff };
		long k = syscall(SYS_kcmp, d->pid, d->pid, KCMP_EPOLL_TFD, tfd, &slot);
		int moved = -1;
		if (k < 0 && errno != EBADF && errno != ENOENT) {
			ret = -errno;
			pr_perror("kcmp(KCMP_EPOLL_TFD) on epoll " FD_FMT ", target fd %d",
				  FD_ARGS(d), tfd);
			goto out;
		}
		if (k != 0) {
			const char *now = k < 0 ? "closed" : "another file";
			moved = find_registered(d, &slot);
			if (moved == -ENOENT) {
				pid_t other = registered_elsewhere(d, &slot);
				if (other)
					pr_err("epoll " FD_FMT " has a registration made with fd %d, "
					       "now %s; the registered file is held by process %d "
					       "only, not by this one: cryo can't make the "
					       "registration again from here (keep an fd of the file "
					       "in process %d, or close it everywhere)", FD_ARGS(d),
					       tfd, now, other, d->pid);
				else
					pr_err("epoll " FD_FMT " has a registration made with fd %d, "
					       "now %s; no fd of the tree holds the registered file "
					       "any more (it lives on outside the tree, in a mapping "
					       "or in flight in a socket): cryo can't reach it to "
					       "make the registration again", FD_ARGS(d), tfd, now);
				ret = -EOPNOTSUPP;
				goto out;
			}
			if (moved < 0) {
				ret = moved;
				goto out;
			}
			if ((events & EPOLLONESHOT) && !(events & ~EP_PRIVATE)) {
				pr_err("epoll " FD_FMT " has a fired oneshot registration made with "
				       "fd %d, now %s: cryo can't make one both disarmed and on "
				       "another file's number", FD_ARGS(d), tfd, now);
				ret = -EOPNOTSUPP;
				goto out;
			}
			pr_info("epoll " FD_FMT ": the registration made with fd %d (now %s) is of "
				"the file at fd %d", FD_ARGS(d), tfd, now, moved);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			EventpollTfdEntry *nt = xrealloc(tfds, cap * sizeof(*nt));
			if (!nt) {
				ret = -ENOMEM;
				goto out;
			}
			tfds = nt;
		}
		EventpollTfdEntry *t = &tfds[n++];
		*t = (EventpollTfdEntry)EVENTPOLL_TFD_ENTRY__INIT;
		t->has_id = t->has_tfd = t->has_events = t->has_data = 1;
		t->has_dev = t->has_inode = t->has_pos = 1;
		t->id = d->id;
		t->tfd = tfd;
		t->events = events;
		t->data = data;
		t->dev = sdev;
		t->inode = ino;
		t->pos = pos;
		if (moved >= 0) {
			t->has_cryo_fd = 1;
			t->cryo_fd = moved;
		}
	}
	ptrs = xmalloc((n + 1) * sizeof(*ptrs));
	if (!ptrs) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++)
		ptrs[i] = &tfds[i];
	ret = fd_dump_fown(d, &fown);
	if (ret)
		goto out;
	e.has_id = e.has_flags = 1;
	e.id = d->id;
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.fown = &fown;
	e.n_tfd = n;
	e.tfd = ptrs;
	fe.epfd = &e;
	ret = files_emit(d, &fe);
	if (!ret)
		pr_debug("epoll " FD_FMT ": %d registrations", FD_ARGS(d), n);
out:
	free(tfds);
	free(ptrs);
	return ret;
}

static int epoll_open(struct files_restore *fr, struct rst_file *f)
{
	(void)fr;
	const EventpollFileEntry *e = f->fe->epfd;
	if (!e) {
		pr_err("files.img: epoll %u has no eventpoll entry", f->fe->id);
		return -EINVAL;
	}
	char what[32];
	snprintf(what, sizeof(what), "epoll %u", f->fe->id);
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return_perror("epoll_create1 for %s", what);
	f->priv = NULL;		/* set once registered */
	return files_rst_adopt(f, fd, 0, e->flags, e->fown, what);
}

#define EP_CHUNK 256
/* every readiness event: a disarmed oneshot registration is re-made with
 * them all, so that it fires at once and is disarmed again */
#define EP_ANY (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | \
		EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP)

static bool disarmed(const EventpollTfdEntry *t)
{
	return (t->events & EPOLLONESHOT) && !(t->events & ~EP_PRIVATE);
}

/* epoll_ctl(@op) in the task for the registrations @pick selects (with
 * @extra events added), in batches. */
static int ctl_batch(struct remote *r, struct remote_batch *b, struct epoll_event *ev, int fd,
		     const EventpollFileEntry *e, int op, bool want_disarmed, uint32_t extra,
		     const char *what)
{
	int ret = 0;
	size_t i = 0;
	while (i < e->n_tfd && !ret) {
		/* the descriptor-passing scratch is no longer used once every
		 * fd is in place: the post steps may reuse it all */
		remote_scratch_reset(r);
		uint64_t addr = remote_scratch_alloc(r, EP_CHUNK * sizeof(*ev));
		if (!addr)
			return -ENOSPC;
		b->n = 0;
		for (; i < e->n_tfd && b->n < EP_CHUNK; i++) {
			const EventpollTfdEntry *t = e->tfd[i];
			if (disarmed(t) != want_disarmed || t->has_cryo_fd)
				continue;
			ev[b->n].events = t->events | extra;
			ev[b->n].data.u64 = t->data;
			b->calls[b->n] = (struct remote_call){
				.nr = __NR_epoll_ctl,
				.a = { fd, op, t->tfd, addr + b->n * sizeof(*ev) } };
			b->n++;
		}
		if (!b->n)
			break;
		ret = remote_write(r, addr, ev, b->n * sizeof(*ev));
		if (!ret)
			ret = remote_batch_exec(r, b, what);
	}
	return ret;
}

/* Registrations of @e that fired as oneshot and are disarmed: added with
 * every event and harvested with epoll_wait, which disarms them again with
 * their flags and data as they were.  One whose file is ready for nothing
 * stays armed: it is left waiting for errors and hangups only (the least
 * epoll_ctl allows), with a warning. */
static int restore_disarmed(struct remote *r, struct remote_batch *b, struct epoll_event *ev,
			    pid_t pid, int fd, const EventpollFileEntry *e, const char *what)
{
	size_t n = 0;
	for (size_t i = 0; i < e->n_tfd; i++)
		n += disarmed(e->tfd[i]) && !e->tfd[i]->has_cryo_fd;
	if (!n)
		return 0;
	int ret = ctl_batch(r, b, ev, fd, e, EPOLL_CTL_ADD, true, EP_ANY, what);
	if (ret)
		return ret;
	remote_scratch_reset(r);
	uint64_t addr = remote_scratch_alloc(r, EP_CHUNK * sizeof(*ev));
	if (!addr)
		return -ENOSPC;
	for (;;) {
		long got = remote_syscall(r, __NR_epoll_wait, fd, addr, EP_CHUNK, 0, 0, 0);
		if (got < 0)
			return log_errno(got, "%s: epoll_wait to disarm oneshot registrations failed", what);
		if (got == 0)
			break;
	}
	/* which are still armed? */
	char path[64], *fi = NULL;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	if (read_file(AT_FDCWD, path, &fi, false) < 0)
		return -EIO;
	b->n = 0;
	for (const char *p = fi; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		int tfd;
		unsigned events;
		unsigned long long data;
		if (strncmp(p, "tfd:", 4) ||
		    sscanf(p, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3 ||
		    !(events & ~EP_PRIVATE))
			continue;
		for (size_t i = 0; i < e->n_tfd; i++) {
			const EventpollTfdEntry *t = e->tfd[i];
			if (!disarmed(t) || (int)t->tfd != tfd || t->data != data)
				continue;
			pr_warn("%s: the oneshot registration of fd %d had fired and its file is "
				"ready for nothing now: it is restored waiting for errors and "
				"hangups (epoll_ctl can't make a disarmed one)", what, tfd);
			if (b->n < EP_CHUNK) {
				ev[b->n].events = t->events;
				ev[b->n].data.u64 = t->data;
				uint64_t at = addr + b->n * sizeof(*ev);
				b->calls[b->n] = (struct remote_call){
					.nr = __NR_epoll_ctl,
					.a = { fd, EPOLL_CTL_MOD, t->tfd, at } };
				b->n++;
			}
			break;
		}
	}
	free(fi);
	if (!b->n)
		return 0;
	ret = remote_write(r, addr, ev, b->n * sizeof(*ev));
	return ret ? ret : remote_batch_exec(r, b, what);
}

/* Registrations whose fd N was closed or reused after they were made
 * (cryo_fd: the registered file is at fd M): the kernel keys a
 * registration by file and fd number, so the file is put at N for the
 * epoll_ctl, and whatever N held (or nothing) is given back after. */
static int restore_moved(struct remote *r, pid_t pid, int fd, const EventpollTfdEntry *t,
			 const char *what)
{
	int n = t->tfd, m = t->cryo_fd, ep = fd;
	long save = -1, ret;
	if (n == m || n > INT_MAX - 4096 || m > INT_MAX - 4096) {
		pr_err("%s: the registration of fd %d is said to be of the file at fd %d: refused "
		       "(damaged images)", what, n, m);
		return -EINVAL;
	}
	long fdflags = remote_syscall(r, __NR_fcntl, n, F_GETFD, 0, 0, 0, 0);
	if (fdflags >= 0) {
		save = remote_syscall(r, __NR_fcntl, n, F_DUPFD_CLOEXEC, 0, 0, 0, 0);
		if (save < 0)
			return log_errno(save, "%s: can't move fd %d of process %d aside", what, n, pid);
		if (n == fd)
			ep = save;
	} else if (fdflags != -EBADF) {
		return log_errno(fdflags, "%s: fcntl(F_GETFD) on fd %d of process %d", what, n, pid);
	}
	struct epoll_event ev = { .events = t->events, .data.u64 = t->data };
	remote_scratch_reset(r);
	uint64_t addr = remote_scratch_put(r, &ev, sizeof(ev));
	if (!addr)
		return -ENOSPC;
	ret = remote_syscall(r, __NR_dup3, m, n, 0, 0, 0, 0);
	if (ret == n)
		ret = remote_syscall(r, __NR_epoll_ctl, ep, EPOLL_CTL_ADD, n, addr, 0, 0);
	else if (ret >= 0)
		ret = -EIO;
	if (ret)
		return log_errno(ret, "%s: can't register the file at fd %d under its old number %d", what,
				 m, n);
	/* N gets back what it held, with its close-on-exec flag, or is closed */
	if (save >= 0)
		ret = remote_syscall(r, __NR_dup3, save, n, fdflags & FD_CLOEXEC ? O_CLOEXEC : 0,
				     0, 0, 0);
	if (ret >= 0)
		ret = remote_syscall(r, __NR_close, save >= 0 ? save : n, 0, 0, 0, 0, 0);
	if (ret < 0)
		return log_errno(ret, "%s: can't give fd %d back after registering through it", what, n);
	pr_debug("%s: registration of fd %d made with the file at fd %d", what, n, m);
	return 0;
}

static int epoll_post(struct files_restore *fr, struct remote *r, pid_t pid, struct rst_file *f,
		      int fd)
{
	(void)fr;
	const EventpollFileEntry *e = f->fe->epfd;
	if (f->priv || !e->n_tfd)
		return 0;
	f->priv = (void *)1;
	struct remote_batch *b = xmalloc(sizeof(*b));
	struct epoll_event *ev = xmalloc(EP_CHUNK * sizeof(*ev));
	int ret = -ENOMEM;
	char what[96];
	snprintf(what, sizeof(what), "registering the targets of epoll fd %d in process %d", fd,
		 pid);
	if (b && ev)
		ret = restore_disarmed(r, b, ev, pid, fd, e, what);
	if (!ret)
		ret = ctl_batch(r, b, ev, fd, e, EPOLL_CTL_ADD, false, 0, what);
	for (size_t i = 0; i < e->n_tfd && !ret; i++)
		if (e->tfd[i]->has_cryo_fd)
			ret = restore_moved(r, pid, fd, e->tfd[i], what);
	if (!ret)
		pr_debug("%s: %zu registrations", what, e->n_tfd);
	free(b);
	free(ev);
	return ret;
}

const struct fd_kind fdk_epoll = {
	.name = "epoll instance",
	.fd_type = FD_TYPES__EVENTPOLL,
	.dump = epoll_dump,
	.open = epoll_open,
	.post = epoll_post,
};
