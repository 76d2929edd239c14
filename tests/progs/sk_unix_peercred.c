/* Peer credentials of unix sockets (SO_PEERCRED, SO_PEERGROUPS): the
 * kernel takes them from the calling task at socketpair(), listen() (the
 * listener's, copied to its clients by connect()) and connect() (the
 * accepted end's), and never again.  Set up, as root:
 *   - a stream pair made by the process as root;
 *   - a stream pair made by a child with uid/gid 2000 and groups 2001,
 *     2002, which exited (its PID stays in the pair);
 *   - a listener (abstract name) listened on as root, a connection to it
 *     by a child with uid 3000 (exited), accepted by the process: the
 *     accepted end names that child, the client the listener's maker;
 *   - two named datagram sockets connected to each other (connect gives
 *     none: PID 0, uid/gid -1, SO_PEERGROUPS fails with ENODATA);
 *   - a datagram pair made by a child running as uid/gid 1000 (groups 1001
 *     1002), which keeps one end and reports what it reads there;
 *   - the listener listened on again with effective ids 1000 (its own
 *     become those; its client keeps the old).
 * After SIGTERM every socket must read what it read before: pid, uid, gid
 * and groups; SO_PEERPIDFD names the process itself and the live child.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sk_unix_util.h"
#include "zdtmtst.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* SO_PEERPIDFD of @fd names process @pid (pidfs: one inode per process). */
static bool peer_pidfd_is(int fd, pid_t pid)
{
	int p = -1;
	socklen_t l = sizeof(p);
	struct stat a, b;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &p, &l))
		return false;
	int q = syscall(SYS_pidfd_open, pid, 0);
	bool same = q >= 0 && !fstat(p, &a) && !fstat(q, &b) && a.st_ino == b.st_ino;
	close(p);
	if (q >= 0)
		close(q);
	return same;
}

struct want {
	const char *what;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int nr_groups;			/* -1: none (ENODATA) */
	gid_t groups[8];
};

static struct want w[16];
static int nw;

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return x < y ? -1 : x > y;
}

static void expect(const char *what, int fd, pid_t pid, uid_t uid, gid_t gid, int n,
		   const gid_t *groups)
{
	struct want *x = &w[nw++];
	*x = (struct want){ what, fd, pid, uid, gid, n, { 0 } };
	for (int i = 0; i < n; i++)
		x->groups[i] = groups[i];
	qsort(x->groups, n > 0 ? n : 0, sizeof(gid_t), cmp_gid);
}

/* The credentials as read now: fail (after restore) or setup_fail (before). */
static void check(const struct want *x, bool after)
{
	struct ucred uc;
	socklen_t l = sizeof(uc);
	gid_t g[64];
	socklen_t gl = sizeof(g);
	char why[256] = "";
	if (getsockopt(x->fd, SOL_SOCKET, SO_PEERCRED, &uc, &l))
		snprintf(why, sizeof(why), "SO_PEERCRED: %s", strerror(errno));
	else if (uc.pid != x->pid || uc.uid != x->uid || uc.gid != x->gid)
		snprintf(why, sizeof(why), "SO_PEERCRED pid %d uid %d gid %d, expected %d %d %d",
			 uc.pid, (int)uc.uid, (int)uc.gid, x->pid, (int)x->uid, (int)x->gid);
	else if (getsockopt(x->fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl)) {
		if (errno != ENODATA || x->nr_groups >= 0)
			snprintf(why, sizeof(why), "SO_PEERGROUPS: %s", strerror(errno));
	} else if (x->nr_groups < 0) {
		snprintf(why, sizeof(why), "SO_PEERGROUPS gives %u groups, expected none",
			 (unsigned)(gl / sizeof(gid_t)));
	} else {
		int n = gl / sizeof(gid_t);
		qsort(g, n, sizeof(gid_t), cmp_gid);
		if (n != x->nr_groups || memcmp(g, x->groups, n * sizeof(gid_t)))
			snprintf(why, sizeof(why), "SO_PEERGROUPS gives %d groups (first %d), "
				 "expected %d (first %d)", n, n ? (int)g[0] : -1, x->nr_groups,
				 x->nr_groups > 0 ? (int)x->groups[0] : -1);
	}
	if (!why[0])
		return;
	if (after)
		fail("%s: %s", x->what, why);
	else
		setup_fail("%s: %s", x->what, why);
}

static void send_fds(int ch, int a, int b)
{
	int fds[2] = { a, b };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(fds))];
	} c;
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	memset(&c, 0, sizeof(c));
	c.h.cmsg_level = SOL_SOCKET;
	c.h.cmsg_type = SCM_RIGHTS;
	c.h.cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(&c.h), fds, sizeof(fds));
	if (sendmsg(ch, &mh, 0) != 1)
		_exit(2);
}

static void recv_fds(int ch, int *a, int *b)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} c;
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	if (recvmsg(ch, &mh, 0) != 1 || c.h.cmsg_type != SCM_RIGHTS)
		setup_fail("receiving a child's sockets: %s", strerror(errno));
	int fds[2] = { -1, -1 };
	memcpy(fds, CMSG_DATA(&c.h), c.h.cmsg_len - CMSG_LEN(0));
	*a = fds[0];
	*b = fds[1];
}

static void become(uid_t uid, gid_t gid, int n, const gid_t *groups)
{
	if (setgroups(n, groups) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		_exit(3);
}

static pid_t reap(pid_t c)
{
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("child %d failed (status %#x)", c, st);
	return c;
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	pid_t me = getpid();
	gid_t g0[64];
	int n0 = getgroups(64, g0);
	int ch[2];
	if (n0 < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, ch))
		setup_fail("getgroups, socketpair: %s", strerror(errno));

	/* as root */
	int a[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, a))
		setup_fail("socketpair: %s", strerror(errno));
	expect("root's stream pair [0]", a[0], me, 0, 0, n0, g0);
	expect("root's stream pair [1]", a[1], me, 0, 0, n0, g0);

	/* by a child with other ids, which exits */
	static const gid_t g2[] = { 2001, 2002 };
	pid_t c = fork();
	if (!c) {
		int p[2];
		become(2000, 2000, 2, g2);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, p))
			_exit(4);
		send_fds(ch[1], p[0], p[1]);
		_exit(0);
	}
	int b[2];
	recv_fds(ch[0], &b[0], &b[1]);
	reap(c);
	expect("an exited child's stream pair [0]", b[0], c, 2000, 2000, 2, g2);
	expect("an exited child's stream pair [1]", b[1], c, 2000, 2000, 2, g2);

	/* a listener, a connection made by a child with uid 3000 */
	char lname[64];
	snprintf(lname, sizeof(lname), "@peercred-l-%d", (int)me);
	int l = un_socket(SOCK_STREAM, lname);
	if (listen(l, 4))
		setup_fail("listen: %s", strerror(errno));
	static const gid_t g3[] = { 3001 };
	c = fork();
	if (!c) {
		become(3000, 3000, 1, g3);
		int k = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un ad;
		socklen_t al = un_addr(&ad, lname);
		if (k < 0 || connect(k, (struct sockaddr *)&ad, al))
			_exit(5);
		send_fds(ch[1], k, k);
		_exit(0);
	}
	int k, k2;
	recv_fds(ch[0], &k, &k2);
	close(k2);
	pid_t kc = reap(c);
	int acc = accept(l, NULL, NULL);
	if (acc < 0)
		setup_fail("accept: %s", strerror(errno));
	expect("the client of the listener", k, me, 0, 0, n0, g0);
	expect("the accepted connection", acc, kc, 3000, 3000, 1, g3);

	/* datagram sockets connected by connect: none */
	char n1[64], n2[64];
	snprintf(n1, sizeof(n1), "@peercred-d1-%d", (int)me);
	snprintf(n2, sizeof(n2), "@peercred-d2-%d", (int)me);
	int d1 = un_socket(SOCK_DGRAM, n1), d2 = un_socket(SOCK_DGRAM, n2);
	struct sockaddr_un ad;
	socklen_t al = un_addr(&ad, n2);
	if (connect(d1, (struct sockaddr *)&ad, al))
		setup_fail("connect d1: %s", strerror(errno));
	al = un_addr(&ad, n1);
	if (connect(d2, (struct sockaddr *)&ad, al))
		setup_fail("connect d2: %s", strerror(errno));
	expect("a connected datagram socket", d1, 0, (uid_t)-1, (gid_t)-1, -1, NULL);
	expect("its connected peer", d2, 0, (uid_t)-1, (gid_t)-1, -1, NULL);

	/* a child running as uid 1000 makes a datagram pair and keeps one end */
	static const gid_t g1[] = { 1001, 1002 };
	pid_t u = fork();
	if (!u) {
		int p[2];
		become(1000, 1000, 2, g1);
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, p))
			_exit(4);
		send_fds(ch[1], p[0], p[0]);
		close(p[0]);
		for (;;) {
			char m;
			if (recv(p[1], &m, 1, 0) != 1 || m == 'q')
				_exit(0);
			struct ucred uc = { 0, 0, 0 };
			socklen_t ul = sizeof(uc);
			getsockopt(p[1], SOL_SOCKET, SO_PEERCRED, &uc, &ul);
			send(p[1], &uc, sizeof(uc), 0);
		}
	}
	int e, e2;
	recv_fds(ch[0], &e, &e2);
	close(e2);
	expect("a datagram pair made by a uid 1000 process", e, u, 1000, 1000, 2, g1);

	/* the listener listened on again with other effective ids: its own
	 * are those now, its client's stay */
	if (setgroups(2, g1) || setresgid(-1, 1000, -1) || setresuid(-1, 1000, -1))
		setup_fail("switching to uid 1000: %s", strerror(errno));
	if (listen(l, 4))
		setup_fail("listen again: %s", strerror(errno));
	if (setresuid(-1, 0, -1) || setresgid(-1, 0, -1) || setgroups(n0, g0))
		setup_fail("switching back to root: %s", strerror(errno));
	expect("the listener, listened on again as uid 1000", l, me, 1000, 1000, 2, g1);

	for (int i = 0; i < nw; i++)
		check(&w[i], false);
	if (!peer_pidfd_is(a[0], me) || !peer_pidfd_is(e, u))
		setup_fail("SO_PEERPIDFD does not name the makers: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	for (int i = 0; i < nw; i++)
		check(&w[i], true);
	if (!peer_pidfd_is(a[0], me))
		fail("SO_PEERPIDFD of the root's pair is not a pidfd of the process");
	if (!peer_pidfd_is(e, u))
		fail("SO_PEERPIDFD of the uid 1000 child's pair is not a pidfd of the child");
	/* the child's end, as the child reads it */
	struct ucred uc = { 0, 0, 0 };
	if (send(e, "c", 1, 0) != 1 || recv(e, &uc, sizeof(uc), 0) != sizeof(uc))
		fail("the uid 1000 child does not answer: %s", strerror(errno));
	else if (uc.pid != u || uc.uid != 1000 || uc.gid != 1000)
		fail("the uid 1000 child's end: SO_PEERCRED pid %d uid %d gid %d, expected %d "
		     "1000 1000", uc.pid, (int)uc.uid, (int)uc.gid, u);
	send(e, "q", 1, 0);
	int st;
	if (waitpid(u, &st, 0) != u || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the uid 1000 child did not exit cleanly");
	/* the pairs still carry data */
	char buf[8];
	if (send(a[0], "a", 1, 0) != 1 || recv(a[1], buf, 8, 0) != 1 ||
	    send(b[1], "b", 1, 0) != 1 || recv(b[0], buf, 8, 0) != 1 ||
	    send(k, "k", 1, 0) != 1 || recv(acc, buf, 8, 0) != 1 ||
	    send(d1, "d", 1, 0) != 1 || recv(d2, buf, 8, 0) != 1)
		fail("a connection does not carry data: %s", strerror(errno));
	pass();
	return 0;
}
