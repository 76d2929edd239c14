/* sk_unix_pair: unix socket pairs with data queued in both directions.
 *
 * Before the checkpoint:
 *   - stream pair S0/S1: 3000 bytes queued to S1 of which it read 1000
 *     (partly read), 500 bytes queued to S0; S1 sets SO_PASSCRED,
 *     SO_PASSSEC, SO_PASSPIDFD, SO_PASSRIGHTS off and a larger SO_RCVBUF;
 *     S0 is O_NONBLOCK;
 *   - datagram pair D0/D1: messages of 1, 0, 7000 and 33 bytes to D1 and
 *     two to D0 (boundaries must survive);
 *   - seqpacket pair Q0/Q1: three records to Q1, Q1 peeked one of them
 *     with SO_PEEK_OFF, which is 5 then (the offset must come back);
 *   - a stream pair W0/W1 with W0 shut down for writing after queueing
 *     "bye" (W1 reads "bye" then EOF);
 *   - a datagram pair whose end X1 lives in a child process (both ends
 *     anywhere in the tree): the child echoes what it reads, doubled;
 *   - a stream socket whose peer was closed with 100 bytes still unread
 *     (reads them, then EOF), and a datagram socket likewise (reads its
 *     two messages, then sending fails with ECONNREFUSED);
 *   - sockets never connected: stream, seqpacket, and a stream socket bound
 *     to an abstract name but not listening.
 * After SIGTERM: every queue reads back exactly, new data crosses every
 * pair both ways, options and flags are as set, SO_PEERCRED's pid, uid and
 * gid are the process's (it made the pair).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76		/* asm-generic/socket.h, 6.5 */
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83	/* asm-generic/socket.h, 6.16 */
#endif

#include "zdtmtst.h"

static char big[8192];

static void xsend(int fd, const void *b, size_t n, const char *what)
{
	if (send(fd, b, n, 0) != (ssize_t)n)
		setup_fail("send %s: %s", what, strerror(errno));
}

/* read exactly @n bytes of stream data equal to big[off..] */
static void expect_stream(int fd, size_t off, size_t n, const char *what)
{
	char buf[8192];
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r <= 0) {
			fail("%s: got %zu of %zu bytes (%s)", what, got, n,
			     r ? strerror(errno) : "EOF");
			return;
		}
		got += r;
	}
	if (memcmp(buf, big + off, n))
		fail("%s: the data differs", what);
}

static void expect_msg(int fd, size_t off, size_t n, const char *what)
{
	char buf[8192];
	ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (r != (ssize_t)n)
		fail("%s: message of %zd bytes, expected %zu (%s)", what, r, n,
		     r < 0 ? strerror(errno) : "");
	else if (memcmp(buf, big + off, n))
		fail("%s: the message differs", what);
}

static void expect_empty(int fd, const char *what)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
	if (r != -1 || errno != EAGAIN)
		fail("%s: expected an empty queue, recv gave %zd (%s)", what, r, strerror(errno));
}

static void expect_eof(int fd, const char *what)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
	if (r != 0)
		fail("%s: expected EOF, recv gave %zd (%s)", what, r, r < 0 ? strerror(errno) : "");
}

static void roundtrip(int a, int b, const char *what)
{
	char m[32], r[32];
	snprintf(m, sizeof(m), "ping %s", what);
	if (send(a, m, strlen(m), 0) != (ssize_t)strlen(m) ||
	    recv(b, r, sizeof(r), 0) != (ssize_t)strlen(m) || memcmp(m, r, strlen(m)))
		fail("%s: new data does not cross from one end to the other", what);
	if (send(b, m, 3, 0) != 3 || recv(a, r, sizeof(r), 0) != 3 || memcmp(m, r, 3))
		fail("%s: new data does not cross back", what);
}

static int getint(int fd, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	getsockopt(fd, SOL_SOCKET, opt, &v, &l);
	return v;
}

int main(int argc, char **argv)
{
	test_doc = "unix socket pairs (stream, datagram, seqpacket) with queued data";
	test_init(argc, argv);
	pattern_fill(big, sizeof(big), 42);

	int s[2], d[2], q[2], w[2], x[2], o[2], od[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) || socketpair(AF_UNIX, SOCK_DGRAM, 0, d) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q) || socketpair(AF_UNIX, SOCK_STREAM, 0, w) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, x) || socketpair(AF_UNIX, SOCK_STREAM, 0, o) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, od))
		setup_fail("socketpair: %s", strerror(errno));

	/* stream: 3000 to s1, 1000 of them read; 500 to s0 */
	int one = 1, rcv = 300000;
	setsockopt(s[1], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	int want_rcv = getint(s[1], SO_RCVBUF);
	xsend(s[0], big, 3000, "s0");
	char tmp[1000];
	if (recv(s[1], tmp, 1000, 0) != 1000)
		setup_fail("partial read");
	int zero = 0;
	if (setsockopt(s[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    setsockopt(s[1], SOL_SOCKET, SO_PASSSEC, &one, sizeof(one)) ||
	    setsockopt(s[1], SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one)) ||
	    setsockopt(s[1], SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero)))
		setup_fail("SO_PASS*: %s", strerror(errno));
	xsend(s[1], big + 100, 500, "s1");
	fcntl(s[0], F_SETFL, O_NONBLOCK);

	/* datagrams */
	size_t dl[] = { 1, 0, 7000, 33 };
	size_t doff[] = { 5, 0, 10, 900 };
	int sndbuf = 1 << 20;
	setsockopt(d[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (int i = 0; i < 4; i++)
		xsend(d[0], big + doff[i], dl[i], "d0");
	xsend(d[1], big + 1, 11, "d1");
	xsend(d[1], big + 2, 22, "d1");

	/* seqpacket: three records, one peeked with a peek offset */
	xsend(q[0], big + 50, 100, "q0");
	xsend(q[0], big + 60, 200, "q0");
	xsend(q[0], big + 70, 300, "q0");
	int off = 0;
	setsockopt(q[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	if (recv(q[1], tmp, 5, MSG_PEEK) != 5)
		setup_fail("peek");
	int want_peek = getint(q[1], SO_PEEK_OFF);

	/* shut down for writing after "bye" */
	xsend(w[0], "bye", 3, "w0");
	shutdown(w[0], SHUT_WR);

	/* orphan: peer closed with data unread */
	xsend(o[0], big + 3000, 100, "o0");
	close(o[0]);
	xsend(od[0], big + 10, 10, "od0");
	xsend(od[0], big + 20, 20, "od0");
	close(od[0]);
	int us = socket(AF_UNIX, SOCK_STREAM, 0), uq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	int bs = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un ba = { .sun_family = AF_UNIX };
	snprintf(ba.sun_path + 1, sizeof(ba.sun_path) - 1, "cryo-skpair-%d", getpid());
	socklen_t bl = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ba.sun_path + 1);
	if (us < 0 || uq < 0 || bind(bs, (struct sockaddr *)&ba, bl))
		setup_fail("unconnected sockets: %s", strerror(errno));

	pid_t child = fork();
	if (child < 0)
		setup_fail("fork");
	if (child == 0) {
		test_forked_child();
		close(x[0]);
		char b[256];
		for (;;) {
			ssize_t n = recv(x[1], b, 128, 0);
			if (n <= 0)
				_exit(n == 0 ? 0 : 1);
			memcpy(b + n, b, n);
			if (send(x[1], b, 2 * n, 0) != 2 * n)
				_exit(2);
			if (n == 4 && !memcmp(b, "quit", 4))
				_exit(0);
		}
	}
	close(x[1]);
	/* queued for the child before the checkpoint: it is asleep in recv and
	 * gets it at once; so queue the reply direction: nothing to do */

	test_daemon();
	test_waitsig();

	expect_stream(s[1], 1000, 2000, "stream s1 (partly read)");
	expect_empty(s[1], "stream s1");
	expect_stream(s[0], 100, 500, "stream s0");
	for (int i = 0; i < 4; i++)
		expect_msg(d[1], doff[i], dl[i], "datagram d1");
	expect_empty(d[1], "datagram d1");
	expect_msg(d[0], 1, 11, "datagram d0");
	expect_msg(d[0], 2, 22, "datagram d0");
	if (getint(q[1], SO_PEEK_OFF) != want_peek)
		fail("SO_PEEK_OFF is %d, was %d", getint(q[1], SO_PEEK_OFF), want_peek);
	if (getint(q[0], SO_PEEK_OFF) != -1)
		fail("SO_PEEK_OFF of q0 is %d, was disabled", getint(q[0], SO_PEEK_OFF));
	off = -1;
	setsockopt(q[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	expect_msg(q[1], 50, 100, "seqpacket q1");
	expect_msg(q[1], 60, 200, "seqpacket q1");
	expect_msg(q[1], 70, 300, "seqpacket q1");
	expect_empty(q[1], "seqpacket q1");
	char bye[8];
	if (recv(w[1], bye, sizeof(bye), MSG_DONTWAIT) != 3 || memcmp(bye, "bye", 3))
		fail("w1 did not read \"bye\"");
	expect_eof(w[1], "w1 after its peer shut down writing");
	if (send(w[0], "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		fail("w0 can still write after shutdown(SHUT_WR)");
	expect_stream(o[1], 3000, 100, "o1 (peer closed)");
	expect_eof(o[1], "o1 after its data");
	expect_msg(od[1], 10, 10, "od1 (peer closed)");
	expect_msg(od[1], 20, 20, "od1 (peer closed)");
	if (send(od[1], "x", 1, 0) != -1 || errno != ECONNREFUSED)
		fail("od1: sending to its closed peer did not fail with ECONNREFUSED (%s)",
		     strerror(errno));

	/* the unconnected ones: a listener and a client now */
	if (listen(bs, 1) || connect(us, (struct sockaddr *)&ba, bl))
		fail_errno("listen/connect on the unconnected sockets");
	else {
		int acc = accept(bs, NULL, NULL);
		roundtrip(us, acc, "late connection");
		close(acc);
	}
	int getint_type = getint(uq, SO_TYPE);
	if (getint_type != SOCK_SEQPACKET)
		fail("the unconnected seqpacket socket is of type %d", getint_type);

	if (getint(s[1], SO_PASSCRED) != 1)
		fail("SO_PASSCRED of s1 is lost");
	if (getint(s[1], SO_PASSSEC) != 1 || getint(s[1], SO_PASSPIDFD) != 1 ||
	    getint(s[1], SO_PASSRIGHTS) != 0)
		fail("s1: SO_PASSSEC %d, SO_PASSPIDFD %d, SO_PASSRIGHTS %d; were 1, 1, 0",
		     getint(s[1], SO_PASSSEC), getint(s[1], SO_PASSPIDFD),
		     getint(s[1], SO_PASSRIGHTS));
	if (getint(s[1], SO_RCVBUF) != want_rcv)
		fail("SO_RCVBUF of s1 is %d, expected %d", getint(s[1], SO_RCVBUF), want_rcv);
	if (!(fcntl(s[0], F_GETFL) & O_NONBLOCK) || fcntl(s[1], F_GETFL) & O_NONBLOCK)
		fail("O_NONBLOCK of the stream pair is wrong");
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	if (getsockopt(s[0], SOL_SOCKET, SO_PEERCRED, &uc, &ul))
		fail_errno("SO_PEERCRED");
	else if (uc.pid != getpid() || uc.uid != getuid() || uc.gid != getgid())
		fail("SO_PEERCRED says pid %d uid %u gid %u, expected %d %u %u (the pair's "
		     "maker)", uc.pid, uc.uid, uc.gid, getpid(), getuid(), getgid());

	fcntl(s[0], F_SETFL, 0);
	roundtrip(s[0], s[1], "stream");
	roundtrip(d[0], d[1], "datagram");
	roundtrip(q[0], q[1], "seqpacket");

	/* the child's end */
	char r[64];
	if (send(x[0], "abcd", 4, 0) != 4 || recv(x[0], r, sizeof(r), 0) != 8 ||
	    memcmp(r, "abcdabcd", 8))
		fail("the child's end of the datagram pair does not answer");
	send(x[0], "quit", 4, 0);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child failed (status %#x)", st);
	return test_verdict();
}
