/* The dump's network guard: what the dump changes in the network outside
 * the target -- the lock rules (netlock.c) and TCP repair mode on the
 * target's connections -- must not outlive a cryo that dies before it has
 * undone them (or, with a plain dump, handed them to the restore).
 *
 * A ptrace-free helper does it: forked at the first change, holding
 * duplicates of the dumped TCP sockets (passed over SCM_RIGHTS) and the
 * list of locked connections.  cryo tells it of each change BEFORE making
 * it and waits for its answer (so nothing is changed that the guard has
 * not taken in), then "done" once the dump has undone them or keeps them on
 * purpose.  If its socket reaches EOF without "done", cryo is gone: it
 * turns repair mode off (and SO_REUSEADDR back on where it was), removes
 * the lock, and exits (status 1 if some of it failed, said on stderr).
 *
 * The guard can't be first: the kernel lets a ptraced tree go on the moment
 * its tracer dies, at the same time as it wakes the guard with the EOF.  So
 * repair mode is on only while cryo reads a connection's state (sk_tcp.c),
 * not across the dump: the frozen tree and the lock keep the state as it
 * was read.  "Killing" (a plain dump, the images committed): cryo turns
 * repair mode on again only once the tree is dead, so that the sockets
 * close silently; if it dies in between, the guard does that for the
 * sockets whose process is gone and keeps the lock for the restore.  The
 * helper ignores SIGINT and SIGHUP, which a terminal sends the whole job. */
#include "sockets/sk_inet-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { G_LOCK, G_REPAIR, G_KILLING, G_DONE };

#define G_CONNS 16
struct guard_msg {
	int type;
	int method;		/* G_LOCK */
	int reuseaddr;		/* G_REPAIR: SO_REUSEADDR to set again */
	int pid;		/* G_REPAIR: the process that has the socket */
	int n;			/* G_LOCK */
	struct inet_conn c[G_CONNS];
};

/* How long the guard waits, after "killing", for the tree to be dead. */
#define G_KILL_WAIT_MS 2000

/* --- the helper --- */

struct gsock {
	int fd, reuse, pidfd, pid;
};

struct guarded {
	struct inet_conn *conns[3];	/* per netlock method */
	int nconns[3];
	struct gsock *sk;
	int nsk;
	bool killing;
};

/* Is the process behind @pidfd gone (waiting up to *@left_ms, which it
 * counts down)? */
static bool proc_gone(int pidfd, int *left_ms)
{
	if (pidfd < 0)
		return false;
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	for (;;) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = poll(&p, 1, *left_ms);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		*left_ms -= (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (*left_ms < 0)
			*left_ms = 0;
		if (r > 0)
			return true;
		if (r == 0 || errno != EINTR)
			return false;
	}
}

/* cryo is gone: undo what it changed.  Returns the number of failures
 * (each said on stderr). */
static int undo(struct guarded *g)
{
	int failed = 0, off = 0, on = 1, silent = 0, wait_ms = G_KILL_WAIT_MS;
	int nconns = g->nconns[0] + g->nconns[1] + g->nconns[2];
	bool keep_lock = g->killing && g->nsk;
	for (int i = 0; i < g->nsk; i++) {
		struct gsock *s = &g->sk[i];
		/* killing: a socket whose process died closes silently, in
		 * repair mode, as it does when cryo ends the dump itself */
		if (g->killing && proc_gone(s->pidfd, &wait_ms)) {
			if (!setsockopt(s->fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on))) {
				silent++;
				continue;
			}
			fprintf(stderr, "cryo-guard: can't turn TCP repair mode on for the socket "
				"of dead process %d: %s\n", s->pid, strerror(errno));
			failed++;
		}
		keep_lock = false;
		if (setsockopt(s->fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off))) {
			fprintf(stderr, "cryo-guard: can't turn TCP repair mode off on a socket of "
				"process %d: %s: the process can't use that connection\n", s->pid,
				strerror(errno));
			failed++;
		} else if (s->reuse &&
			   setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &s->reuse, sizeof(int))) {
			fprintf(stderr, "cryo-guard: can't set SO_REUSEADDR again on a socket: %s\n",
				strerror(errno));
			failed++;
		}
	}
	if (keep_lock) {
		fprintf(stderr, "cryo-guard: cryo died after the dump, with the tree killed: %d "
			"connection(s) stay locked until they are restored (docs/tcp.md: remove the "
			"lock by hand if they never are)\n", nconns);
		return failed;
	}
	int unlocked = 0;
	for (int m = 0; m < 3; m++) {
		if (!g->nconns[m])
			continue;
		if (netlock_unlock(m, g->conns[m], g->nconns[m])) {
			fprintf(stderr, "cryo-guard: the network lock of %d connection(s) could not be "
				"removed: see docs/tcp.md to remove it by hand\n", g->nconns[m]);
			failed++;
		} else {
			unlocked += g->nconns[m];
		}
	}
	fprintf(stderr, "cryo-guard: cryo died during the dump: TCP repair mode is off on %d "
		"socket(s)%s, the network lock of %d of %d connection(s) removed%s\n",
		g->nsk - silent, silent ? " (the others' process died)" : "", unlocked, nconns,
		failed ? " (failures above)" : "");
	return failed;
}

static int keep(struct guarded *g, const struct guard_msg *m, int fd)
{
	if (m->type == G_LOCK && m->method >= 0 && m->method < 3 && m->n <= G_CONNS) {
		struct inet_conn *c = realloc(g->conns[m->method],
					      (g->nconns[m->method] + m->n) * sizeof(*c));
		if (!c)
			return -ENOMEM;
		memcpy(c + g->nconns[m->method], m->c, m->n * sizeof(*c));
		g->conns[m->method] = c;
		g->nconns[m->method] += m->n;
	} else if (m->type == G_REPAIR && fd >= 0) {
		struct gsock *s = realloc(g->sk, (g->nsk + 1) * sizeof(*s));
		if (!s)
			return -ENOMEM;
		g->sk = s;
		/* the process is frozen and alive now: its pidfd tells later
		 * whether it was killed */
		int pidfd = syscall(SYS_pidfd_open, m->pid, 0);	/* -1: taken as alive */
		g->sk[g->nsk++] = (struct gsock){ .fd = fd, .reuse = m->reuseaddr, .pidfd = pidfd,
						  .pid = m->pid };
	} else if (m->type == G_KILLING) {
		g->killing = true;
	} else {
		return -EINVAL;
	}
	return 0;
}

static __attribute__((noreturn)) void guard_main(int sk)
{
	struct guarded g = { 0 };
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "cryo-guard");
	/* nothing of cryo's: its duplicates of the target's descriptors would
	 * keep pipes and sockets open */
	if (dup2(sk, 3) != 3)
		_exit(1);
	syscall(SYS_close_range, 4, ~0U, 0);
	for (;;) {
		struct guard_msg m;
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &m, sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(3, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* cryo is gone */
		int fd = -1;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		int ret = (size_t)n == sizeof(m) ? 0 : -EBADMSG;
		if (!ret && m.type == G_DONE)
			_exit(0);
		ret = ret ?: keep(&g, &m, fd);
		if (ret && fd >= 0)
			close(fd);
		/* the answer cryo waits for before it makes the change */
		if (send(3, &ret, sizeof(ret), MSG_NOSIGNAL) != sizeof(ret) && errno != EPIPE)
			break;
	}
	_exit(undo(&g) ? 1 : 0);
}

/* --- cryo's side --- */

static int guard_send(struct net_guard *g, const struct guard_msg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(g->sk, &mh, MSG_NOSIGNAL) != sizeof(*m))
		return_perror("can't tell the network guard (pid %d) of a change", g->pid);
	if (m->type == G_DONE)
		return 0;
	int ans;
	ssize_t n;
	while ((n = recv(g->sk, &ans, sizeof(ans), 0)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return_perror("no answer from the network guard (pid %d)", g->pid);
	if (n != sizeof(ans)) {
		pr_err("the network guard (pid %d) is gone: the dump can't make changes to the "
		       "network it would not undo", g->pid);
		return -EPIPE;
	}
	if (ans)
		return log_errno(ans, "the network guard (pid %d) can't take in a change", g->pid);
	return 0;
}

static int guard_start(struct net_guard *g)
{
	int sv[2];
	if (g->sk >= 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return_perror("can't create the network guard's socket pair");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return_perror("can't fork the network guard");
	}
	if (pid == 0)
		guard_main(sv[1]);
	close(sv[1]);
	g->sk = sv[0];
	g->pid = pid;
	return 0;
}

int guard_locked(struct net_guard *g, enum netlock_method meth, const struct inet_conn *c, int n)
{
	if (meth == NETLOCK_SKIP || !n)
		return 0;
	int ret = guard_start(g);
	for (int i = 0; !ret && i < n; i += G_CONNS) {
		struct guard_msg m = { .type = G_LOCK, .method = meth };
		m.n = MIN(n - i, G_CONNS);
		memcpy(m.c, c + i, m.n * sizeof(*c));
		ret = guard_send(g, &m, -1);
	}
	return ret;
}

int guard_repair(struct net_guard *g, int fd, pid_t pid, bool reuseaddr)
{
	struct guard_msg m = { .type = G_REPAIR, .reuseaddr = reuseaddr, .pid = pid };
	int ret = guard_start(g);
	return ret ? ret : guard_send(g, &m, fd);
}

int guard_killing(struct net_guard *g)
{
	struct guard_msg m = { .type = G_KILLING };
	return g->sk < 0 ? 0 : guard_send(g, &m, -1);
}

void guard_done(struct net_guard *g)
{
	if (g->sk < 0)
		return;
	struct guard_msg m = { .type = G_DONE };
	guard_send(g, &m, -1);
	close(g->sk);
	g->sk = -1;
	int st;
	while (waitpid(g->pid, &st, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
}
