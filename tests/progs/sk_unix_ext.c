/* sk_unix_ext: unix sockets whose peer is outside the dumped tree, and
 * what must be refused.  A helper process Y, forked and then orphaned (so
 * it is no part of the tree), holds the outside ends and echoes what it
 * gets; it quits on "quit", once its sockets are closed, or after 20 s idle.
 *
 * --mode ext:     the tree has a datagram socket T (abstract name)
 *                 connected to Y's datagram socket, with a message from Y
 *                 queued, and a stream socket connected to Y's listener.
 *                 Dumped and restored with --ext-unix-sk: T gets its queue
 *                 back and both reach Y again (the stream as a new
 *                 connection).
 * --mode stream:  one end of a stream socket pair is Y's: refused (criu's
 *                 message) without --ext-unix-sk.
 * --mode pending: a listener of the tree has a connection from Y that is
 *                 not accepted yet: refused.
 * --mode scm:     a socket pair of the tree has a descriptor in flight
 *                 (SCM_RIGHTS) that can't be restored (an epoll with a
 *                 registration, held by no process): refused.
 * In every mode the test checks afterwards that its sockets still work.
 */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *mode = "ext";
TEST_OPTION(mode, string, "ext, stream, pending or scm", 0);

static socklen_t abs_addr(struct sockaddr_un *a, const char *tag)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "cryo-skext-%s-%d", tag, getpid());
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sun_path + 1);
}

/* Y: echo on datagram socket @dg (to the sender), accept on @ls, echo on
 * streams; quit on "quit", when all are closed, or after 20 s idle. */
static void helper(int dg, int ls, int st)
{
	struct pollfd p[16];
	int n = 0;
	if (dg >= 0)
		p[n++] = (struct pollfd){ dg, POLLIN, 0 };
	if (ls >= 0)
		p[n++] = (struct pollfd){ ls, POLLIN, 0 };
	if (st >= 0)
		p[n++] = (struct pollfd){ st, POLLIN, 0 };
	for (;;) {
		int live = 0;
		for (int i = 0; i < n; i++)
			live += p[i].fd >= 0;
		int r = live ? poll(p, n, 20000) : 0;
		if (r <= 0)
			_exit(0);
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			char b[256];
			if (p[i].fd == ls) {
				int a = accept(ls, NULL, NULL);
				if (a >= 0 && n < 16)
					p[n++] = (struct pollfd){ a, POLLIN, 0 };
				continue;
			}
			struct sockaddr_un from;
			socklen_t fl = sizeof(from);
			ssize_t len = recvfrom(p[i].fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
			if (len <= 0) {
				p[i].fd = -1;
				continue;
			}
			if (len == 4 && !memcmp(b, "quit", 4))
				_exit(0);
			if (p[i].fd == dg)
				sendto(dg, b, len, 0, (struct sockaddr *)&from, fl);
			else
				send(p[i].fd, b, len, MSG_NOSIGNAL);
		}
	}
}

/* Fork Y (orphaned: not in the tree) with these sockets. */
static void start_helper(int dg, int ls, int st)
{
	pid_t x = fork();
	if (x < 0)
		setup_fail("fork");
	if (x == 0) {
		test_forked_child();
		pid_t y = fork();
		if (y == 0) {
			setsid();
			/* only its own sockets: nothing of the tree's */
			for (int fd = 0; fd < 1024; fd++)
				if (fd != dg && fd != ls && fd != st)
					close(fd);
			helper(dg, ls, st);
		}
		_exit(y < 0);
	}
	int status;
	if (waitpid(x, &status, 0) != x || status)
		setup_fail("starting the helper");
}

static void echo_check(int s, const char *msg, const char *what)
{
	char b[64];
	if (send(s, msg, strlen(msg), MSG_NOSIGNAL) != (ssize_t)strlen(msg)) {
		fail_errno("%s: send", what);
		return;
	}
	struct pollfd p = { s, POLLIN, 0 };
	ssize_t n = poll(&p, 1, 5000) == 1 ? recv(s, b, sizeof(b), 0) : -1;
	if (n != (ssize_t)strlen(msg) || memcmp(b, msg, n))
		fail("%s: no echo from the outside peer (got %zd)", what, n);
}

int main(int argc, char **argv)
{
	test_doc = "unix sockets with a peer outside the tree; refusals";
	test_init(argc, argv);
	int T = -1, C = -1, sp[2] = { -1, -1 }, L = -1, quit = -1;
	struct sockaddr_un a;
	socklen_t al;

	if (!strcmp(mode, "ext")) {
		int B = socket(AF_UNIX, SOCK_DGRAM, 0);
		al = abs_addr(&a, "y");
		if (bind(B, (struct sockaddr *)&a, al))
			setup_fail("bind B: %s", strerror(errno));
		T = socket(AF_UNIX, SOCK_DGRAM, 0);
		struct sockaddr_un ta;
		socklen_t tl = abs_addr(&ta, "t");
		if (bind(T, (struct sockaddr *)&ta, tl) || connect(T, (struct sockaddr *)&a, al))
			setup_fail("T: %s", strerror(errno));
		if (sendto(B, "hello-from-y", 12, 0, (struct sockaddr *)&ta, tl) != 12)
			setup_fail("sendto T: %s", strerror(errno));
		int YL = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un la;
		socklen_t ll = abs_addr(&la, "l");
		if (bind(YL, (struct sockaddr *)&la, ll) || listen(YL, 4))
			setup_fail("YL: %s", strerror(errno));
		C = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(C, (struct sockaddr *)&la, ll))
			setup_fail("connect C: %s", strerror(errno));
		int A = accept(YL, NULL, NULL);
		start_helper(B, YL, A);
		close(B);
		close(YL);
		close(A);
		quit = T;
	} else if (!strcmp(mode, "stream")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
			setup_fail("socketpair");
		start_helper(-1, -1, sp[1]);
		close(sp[1]);
		quit = sp[0];
	} else if (!strcmp(mode, "pending")) {
		L = socket(AF_UNIX, SOCK_STREAM, 0);
		al = abs_addr(&a, "p");
		if (bind(L, (struct sockaddr *)&a, al) || listen(L, 4))
			setup_fail("L: %s", strerror(errno));
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, al))
			setup_fail("connect: %s", strerror(errno));
		start_helper(-1, -1, c);
		close(c);
	} else if (!strcmp(mode, "scm")) {
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sp))
			setup_fail("socketpair");
		int nul = epoll_create1(0), ev = eventfd(0, 0);
		struct epoll_event ee = { .events = EPOLLIN };
		if (nul < 0 || ev < 0 || epoll_ctl(nul, EPOLL_CTL_ADD, ev, &ee))
			setup_fail("epoll: %s", strerror(errno));
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} c;
		char byte = 'x';
		struct iovec iov = { &byte, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
				     .msg_controllen = sizeof(c.b) };
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &nul, sizeof(int));
		if (sendmsg(sp[0], &mh, 0) != 1)
			setup_fail("sendmsg: %s", strerror(errno));
		close(nul);	/* the eventfd stays: closing it would end the registration */
	} else
		setup_fail("unknown mode %s", mode);

	test_daemon();
	test_waitsig();

	if (!strcmp(mode, "ext")) {
		char b[64];
		ssize_t n = recv(T, b, sizeof(b), MSG_DONTWAIT);
		if (n != 12 || memcmp(b, "hello-from-y", 12))
			fail("T lost the message queued from outside (got %zd)", n);
		echo_check(T, "ping", "datagram socket connected outside");
		echo_check(C, "stream-ping", "stream connected to an outside listener");
	} else if (!strcmp(mode, "stream")) {
		echo_check(sp[0], "ping", "stream pair with an outside end");
	} else if (!strcmp(mode, "pending")) {
		int x = accept4(L, NULL, NULL, SOCK_NONBLOCK);
		if (x < 0)
			fail_errno("the pending connection is gone");
	} else if (!strcmp(mode, "scm")) {
		char byte;
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} c;
		struct iovec iov = { &byte, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
				     .msg_controllen = sizeof(c.b) };
		if (recvmsg(sp[1], &mh, MSG_DONTWAIT) != 1 || !CMSG_FIRSTHDR(&mh) ||
		    CMSG_FIRSTHDR(&mh)->cmsg_type != SCM_RIGHTS)
			fail("the descriptor in flight is lost");
	}
	if (quit >= 0)
		send(quit, "quit", 4, MSG_NOSIGNAL);
	return test_verdict();
}
