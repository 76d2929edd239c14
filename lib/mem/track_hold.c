/* Holding the tracking between two cryo invocations: a small daemon keeps
 * each process's userfaultfd (and a pidfd of the process) open, listening
 * on an abstract unix socket named after the images directory's device
 * and inode.  The next dump (`--prev-images-dir` naming that directory)
 * connects and gets the descriptors over SCM_RIGHTS; the holder then
 * exits.  It also exits once every tracked process is gone.
 *
 * Trust: an abstract name can be bound by anyone in the network
 * namespace, so each side checks the other's credentials (SO_PEERCRED):
 * the holder hands its descriptors only to a peer of its own user (a
 * userfaultfd gives power over the target's memory), and the dump takes
 * descriptors only from a holder of its own user. */
#include "mem/track.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* One message per process: its PID, with [uffd, pidfd]; PID 0 ends. */
struct hold_msg {
	int32_t pid;
};

static int hold_addr(int dirfd, struct sockaddr_un *sa, socklen_t *len)
{
	struct stat st;
	if (fstat(dirfd, &st))
		return_perror("can't stat the images directory");
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "cryo-track/%llx/%llx",
			 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	return 0;
}

static bool peer_is_us(int sk, uid_t uid)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	return !getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &cr, &l) && cr.uid == uid;
}

static int send_one(int sk, int32_t pid, const int *fds, int nfds)
{
	struct hold_msg m = { pid };
	struct iovec iov = { &m, sizeof(m) };
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(sk, &mh, MSG_NOSIGNAL) == sizeof(m) ? 0 : -errno;
}

/* The daemon: silent, in no session of the caller's, holding nothing but
 * its socket and the descriptors. */
static void __attribute__((noreturn)) holder_main(int sk, struct mem_track *t)
{
	int n = t->n, live = n;
	struct pollfd *pf = calloc(n + 1, sizeof(*pf));
	if (!pf)
		_exit(1);
	pf[0] = (struct pollfd){ .fd = sk, .events = POLLIN };
	for (int i = 0; i < n; i++)
		pf[i + 1] = (struct pollfd){ .fd = t->v[i].pidfd, .events = POLLIN };
	while (live) {
		if (poll(pf, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int i = 0; i < n; i++)
			if (pf[i + 1].fd >= 0 && pf[i + 1].revents) {
				/* the process exited: its tracking is over */
				close(t->v[i].uffd);
				close(t->v[i].pidfd);
				t->v[i].uffd = t->v[i].pidfd = pf[i + 1].fd = -1;
				live--;
			}
		if (!live || !(pf[0].revents & POLLIN))
			continue;
		int c = accept4(sk, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (!peer_is_us(c, getuid())) {
			close(c);
			continue;
		}
		int ret = 0;
		for (int i = 0; !ret && i < n; i++)
			if (t->v[i].uffd >= 0)
				ret = send_one(c, t->v[i].pid, (int[]){ t->v[i].uffd, t->v[i].pidfd }, 2);
		if (!ret)
			ret = send_one(c, 0, NULL, 0);
		if (!ret)
			_exit(0);	/* handed over: the descriptors are in flight */
		close(c);
	}
	_exit(0);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* In the daemon: close every descriptor but @keep (and 0-2, on /dev/null). */
static void close_all_but(int *keep, int n)
{
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		for (int fd = 0; fd < 3; fd++)
			if (fd != null)
				dup2(null, fd);
		if (null > 2) {
			bool kept = false;
			for (int i = 0; i < n; i++)
				kept |= keep[i] == null;
			if (!kept)
				close(null);
		}
	}
	qsort(keep, n, sizeof(int), cmp_int);
	int from = 3;
	for (int i = 0; i < n; i++) {
		if (keep[i] < from)
			continue;
		if (keep[i] > from)
			syscall(SYS_close_range, from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

int mem_track_hold(int dirfd, struct mem_track *t)
{
	struct sockaddr_un sa;
	socklen_t len;
	int ret = 0;
	if (!t->n)
		return 0;
	if (t->kind == KDAT_DT_SOFT_DIRTY)
		return mem_sd_hold(dirfd, t, "/proc");	/* no descriptor to hold */
	ret = hold_addr(dirfd, &sa, &len);
	if (ret)
		return ret;
	int sk = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return_perror("can't create the socket of the tracking holder");
	int b = bind(sk, (struct sockaddr *)&sa, len);
	if (b && errno == EADDRINUSE) {
		/* a holder of an earlier pre-dump into this directory: its
		 * tracking is replaced by ours, take it and let it go */
		struct mem_track old = { 0 };
		mem_track_take(dirfd, NULL, &old);
		mem_track_free(&old);
		b = bind(sk, (struct sockaddr *)&sa, len);
	}
	if (b || listen(sk, 4)) {
		ret = -errno;
		close(sk);
		return log_errno(ret, "can't listen on the tracking holder's socket @%s",
				 sa.sun_path + 1);
	}
	int pp[2];
	if (pipe2(pp, O_CLOEXEC)) {
		ret = -errno;
		close(sk);
		return log_errno(ret, "can't make a pipe for the tracking holder");
	}
	pid_t c = fork();
	if (c < 0) {
		ret = -errno;
		close(sk);
		close(pp[0]);
		close(pp[1]);
		return log_errno(ret, "can't fork the tracking holder");
	}
	if (c == 0) {
		setsid();
		pid_t g = fork();
		if (g != 0) {
			/* its PID, for the message (and the tests) */
			if (write(pp[1], &g, sizeof(g)) != sizeof(g))
				_exit(1);
			_exit(0);
		}
		int *keep = calloc(2 * t->n + 1, sizeof(int)), nk = 0;
		if (!keep)
			_exit(1);
		keep[nk++] = sk;
		for (int i = 0; i < t->n; i++) {
			keep[nk++] = t->v[i].uffd;
			keep[nk++] = t->v[i].pidfd;
		}
		close_all_but(keep, nk);
		free(keep);
		if (chdir("/"))
			_exit(1);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		prctl(PR_SET_NAME, "cryo-track");
		holder_main(sk, t);
	}
	int st;
	pid_t holder = -1;
	close(pp[1]);
	if (read(pp[0], &holder, sizeof(holder)) != sizeof(holder))
		holder = -1;
	close(pp[0]);
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	close(sk);
	if (holder < 0) {
		pr_err("the tracking holder could not be started");
		return -ECHILD;
	}
	pr_info("dirty tracking of %d process(es) held for the next dump by cryo-track "
		"process %d (socket @%s)", t->n, holder, sa.sun_path + 1);
	mem_track_free(t);
	return 0;
}

int mem_track_take(int prev_dirfd, const char *prev_name, struct mem_track *t)
{
	struct sockaddr_un sa;
	socklen_t len;
	/* a soft-dirty pre-dump left a marker instead of a holder */
	enum kdat_dirty_track kind = t->kind;
	int ret = mem_sd_take(prev_dirfd, prev_name, t, "/proc");
	if (!ret && !kdat_has(KF_SOFT_DIRTY)) {
		/* every page would read as clean */
		mem_track_free(t);
		t->kind = kind;
		pr_warn("the previous dump %s tracked with soft-dirty bits, which this kernel lacks "
			"(%s): this dump writes every page, as a full dump",
			prev_name ? prev_name : "", kdat_detail(KF_SOFT_DIRTY));
	}
	if (ret <= 0)
		return ret;
	ret = hold_addr(prev_dirfd, &sa, &len);
	if (ret)
		return ret;
	int sk = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return_perror("can't create a socket to the tracking holder");
	if (connect(sk, (struct sockaddr *)&sa, len)) {
		if (prev_name)
			pr_warn("the dirty-memory tracking of the previous dump %s is gone (its "
				"cryo-track holder process is not running: %s): this dump writes "
				"every page, as a full dump", prev_name, strerror(errno));
		close(sk);
		return 0;
	}
	if (!peer_is_us(sk, geteuid())) {
		pr_warn("the tracking holder socket @%s belongs to another user: ignored; this "
			"dump writes every page, as a full dump", sa.sun_path + 1);
		close(sk);
		return 0;
	}
	for (;;) {
		struct hold_msg m;
		struct iovec iov = { &m, sizeof(m) };
		union {
			char buf[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t got = recvmsg(sk, &mh, MSG_CMSG_CLOEXEC);
		if (got != sizeof(m)) {
			ret = got < 0 ? -errno : -EPROTO;
			break;
		}
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		int fds[2] = { -1, -1 };
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(2 * sizeof(int)))
			memcpy(fds, CMSG_DATA(c), sizeof(fds));
		if (!m.pid)
			break;
		if (fds[0] < 0 || fds[1] < 0 || (mh.msg_flags & MSG_CTRUNC)) {
			if (fds[0] >= 0)
				close(fds[0]);
			ret = -EPROTO;
			break;
		}
		ret = mem_track_add(t, m.pid, fds[0], fds[1]);
		if (ret)
			break;
	}
	close(sk);
	if (ret) {
		mem_track_free(t);
		if (prev_name)
			pr_warn("can't take the dirty-memory tracking of the previous dump %s from "
				"its holder (%s): this dump writes every page, as a full dump",
				prev_name, strerror(-ret));
		return 0;
	}
	mem_track_prune(t);
	if (t->n)
		t->kind = KDAT_DT_UFFD_WP_SCAN;
	pr_info("dirty tracking of %d process(es) taken from the holder of %s", t->n,
		prev_name ? prev_name : "this directory");
	return 0;
}
