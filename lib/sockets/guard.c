/* The dump's network guard: what the dump changes in the network outside
 * the target -- the lock rules (netlock.c) and TCP repair mode on the
 * target's connections -- must not outlive a cryo that dies before it has
 * undone them (or, with a plain dump, handed them to the restore).
 *
 * A ptrace-free helper does it: forked at the first change, holding
 * duplicates of the sockets in repair mode (passed over SCM_RIGHTS) and the
 * list of locked connections.  cryo tells it of each change, then "done"
 * once the dump has undone them or keeps them on purpose.  If its socket
 * reaches EOF without "done", cryo is gone: it turns repair mode off (and
 * SO_REUSEADDR back on where it was), removes the lock, and exits.  The
 * helper ignores SIGINT and SIGHUP, which a terminal sends the whole job. */
#include "sockets/sk_inet.h"
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { G_LOCK, G_REPAIR, G_DONE };

#define G_CONNS 16
struct guard_msg {
	int type;
	int method;		/* G_LOCK */
	int reuseaddr;		/* G_REPAIR: SO_REUSEADDR to set again */
	int n;			/* G_LOCK */
	struct inet_conn c[G_CONNS];
};

static int guard_sk = -1;
static pid_t guard_pid;

/* --- the helper --- */

struct guarded {
	struct inet_conn *conns[3];	/* per netlock method */
	int nconns[3];
	int *fds, *reuse, nfds;
};

static void undo(struct guarded *g)
{
	int one = 0;
	for (int i = 0; i < g->nfds; i++) {
		setsockopt(g->fds[i], IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one));
		if (g->reuse[i])
			setsockopt(g->fds[i], SOL_SOCKET, SO_REUSEADDR, &g->reuse[i], sizeof(int));
	}
	for (int m = 0; m < 3; m++)
		if (g->nconns[m])
			netlock_unlock(m, g->conns[m], g->nconns[m]);
	fprintf(stderr, "cryo-guard: cryo died during the dump: TCP repair mode was turned off "
		"on %d socket(s) and the network lock of %d connection(s) removed\n", g->nfds,
		g->nconns[0] + g->nconns[1] + g->nconns[2]);
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
		int *f = realloc(g->fds, (g->nfds + 1) * sizeof(int));
		int *r = f ? realloc(g->reuse, (g->nfds + 1) * sizeof(int)) : NULL;
		if (f)
			g->fds = f;
		if (!r)
			return -ENOMEM;
		g->reuse = r;
		g->fds[g->nfds] = fd;
		g->reuse[g->nfds++] = m->reuseaddr;
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
		if ((size_t)n != sizeof(m))
			continue;
		if (m.type == G_DONE)
			_exit(0);
		keep(&g, &m, fd);
	}
	undo(&g);
	_exit(0);
}

/* --- cryo's side --- */

static int guard_send(const struct guard_msg *m, int fd)
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
	if (sendmsg(guard_sk, &mh, MSG_NOSIGNAL) != sizeof(*m))
		return_perror("can't tell the network guard (pid %d) of a change", guard_pid);
	return 0;
}

static int guard_start(void)
{
	int sv[2];
	if (guard_sk >= 0)
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
	guard_sk = sv[0];
	guard_pid = pid;
	return 0;
}

int guard_locked(enum netlock_method meth, const struct inet_conn *c, int n)
{
	if (meth == NETLOCK_SKIP || !n)
		return 0;
	int ret = guard_start();
	for (int i = 0; !ret && i < n; i += G_CONNS) {
		struct guard_msg m = { .type = G_LOCK, .method = meth };
		m.n = MIN(n - i, G_CONNS);
		memcpy(m.c, c + i, m.n * sizeof(*c));
		ret = guard_send(&m, -1);
	}
	return ret;
}

int guard_repair(int fd, bool reuseaddr)
{
	struct guard_msg m = { .type = G_REPAIR, .reuseaddr = reuseaddr };
	int ret = guard_start();
	return ret ? ret : guard_send(&m, fd);
}

void guard_done(void)
{
	if (guard_sk < 0)
		return;
	struct guard_msg m = { .type = G_DONE };
	guard_send(&m, -1);
	close(guard_sk);
	guard_sk = -1;
	while (waitpid(guard_pid, NULL, 0) < 0 && errno == EINTR)
		;
	guard_pid = 0;
}
