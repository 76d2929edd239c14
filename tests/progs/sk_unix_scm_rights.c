/* sk_unix_scm_rights: descriptors in flight (SCM_RIGHTS) on unix sockets.
 *
 * Before the checkpoint, queued and not received:
 *   - stream pair S: "AAAAAAAAAA" (no descriptors), "BBBB" with a regular
 *     file at offset 6 (the test keeps its own descriptor of that same
 *     description), "CCC" with the read end of a pipe holding "pipedata"
 *     (only in flight: the test keeps the write end), "DD";
 *   - datagram pair D: a message with an eventfd (count 5) and a memfd at
 *     offset 3 (both only in flight), a message with D's receiving socket
 *     itself, a message with a socket E1 whose only reference is in flight
 *     (its peer E0 is the test's; E1 has "hello-e" queued);
 *   - seqpacket pair Q: a record with an empty epoll and the regular file
 *     again, a record with a socket N1 (only in flight) whose own queue
 *     holds a message carrying an eventfd (count 7): a descriptor in
 *     flight inside a descriptor in flight;
 *   - datagram pair G: a child sent the parent an epoll with a registration
 *     (its eventfd, count 1, data 77) and keeps the epoll and the eventfd
 *     (the parent, walked first, meets it in flight).
 * After SIGTERM each message is received: boundaries, data, counts,
 * offsets, and shared descriptions (kcmp) are checked.
 */
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static void send_fds(int sk, const void *b, size_t n, const int *fds, int nfds, const char *what)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} c;
	struct iovec iov = { (void *)b, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(ch), fds, nfds * sizeof(int));
	}
	if (sendmsg(sk, &mh, 0) != (ssize_t)n)
		setup_fail("sendmsg %s: %s", what, strerror(errno));
}

/* Receive up to @n bytes; the descriptors that came along go to @fds.
 * Returns the byte count (or -1); *nfds the number of descriptors. */
static ssize_t recv_fds(int sk, void *b, size_t n, int *fds, int *nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} c;
	struct iovec iov = { b, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = sizeof(c.b) };
	ssize_t r = recvmsg(sk, &mh, MSG_DONTWAIT);
	*nfds = 0;
	if (r < 0)
		return r;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch))
		if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
			int k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + *nfds, CMSG_DATA(ch), k * sizeof(int));
			*nfds += k;
		}
	return r;
}

/* Receive one message of exactly @want with @want_fds descriptors. */
static bool expect(int sk, const char *want, int want_fds, int *fds, const char *what)
{
	char buf[256];
	int nfds;
	size_t len = strlen(want);
	ssize_t r = recv_fds(sk, buf, len, fds, &nfds);
	if (r < 0) {
		fail("%s: recvmsg: %s", what, strerror(errno));
		return false;
	}
	if ((size_t)r != len || memcmp(buf, want, len)) {
		fail("%s: got %zd bytes \"%.*s\", want \"%s\"", what, r, (int)(r > 0 ? r : 0), buf,
		     want);
		return false;
	}
	if (nfds != want_fds) {
		fail("%s: came with %d descriptors, want %d", what, nfds, want_fds);
		return false;
	}
	return true;
}

static bool same_file(int a, int b)
{
	pid_t p = getpid();
	return syscall(SYS_kcmp, p, p, KCMP_FILE, a, b) == 0;
}

static void expect_read(int fd, const char *want, const char *what)
{
	char buf[64] = { 0 };
	size_t n = strlen(want);
	ssize_t r = read(fd, buf, n);
	if (r != (ssize_t)n || memcmp(buf, want, n))
		fail("%s: read %zd bytes \"%.*s\", want \"%s\"", what, r, (int)(r > 0 ? r : 0), buf,
		     want);
}

static void expect_eventfd(int fd, uint64_t want, const char *what)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v) || v != want)
		fail("%s: eventfd reads %llu, want %llu (%s)", what, (unsigned long long)v,
		     (unsigned long long)want, strerror(errno));
}

int main(int argc, char **argv)
{
	test_doc = "descriptors in flight (SCM_RIGHTS) on unix stream, datagram, seqpacket";
	test_init(argc, argv);

	int s[2], d[2], q[2], e[2], n[2], p[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) || socketpair(AF_UNIX, SOCK_DGRAM, 0, d) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q) || socketpair(AF_UNIX, SOCK_STREAM, 0, e) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, n) || pipe(p))
		setup_fail("socketpair/pipe: %s", strerror(errno));

	char path[] = "/tmp/cryo-scm-XXXXXX";
	int reg = mkstemp(path);
	if (reg < 0 || write(reg, "hello world", 11) != 11 || lseek(reg, 6, SEEK_SET) != 6)
		setup_fail("regular file: %s", strerror(errno));
	unlink(path);	/* a deleted file too: only held by descriptors */

	/* stream */
	send_fds(s[0], "AAAAAAAAAA", 10, NULL, 0, "A");
	send_fds(s[0], "BBBB", 4, &reg, 1, "B");
	if (write(p[1], "pipedata", 8) != 8)
		setup_fail("pipe write");
	send_fds(s[0], "CCC", 3, &p[0], 1, "C");
	close(p[0]);
	send_fds(s[0], "DD", 2, NULL, 0, "D");

	/* datagram */
	int efd = eventfd(5, 0), mfd = memfd_create("scm-memfd", 0);
	if (efd < 0 || mfd < 0 || write(mfd, "memfd-content", 13) != 13 ||
	    lseek(mfd, 3, SEEK_SET) != 3)
		setup_fail("eventfd/memfd: %s", strerror(errno));
	int two[2] = { efd, mfd };
	send_fds(d[0], "m1", 2, two, 2, "m1");
	close(efd);
	close(mfd);
	send_fds(d[0], "self", 4, &d[1], 1, "self");
	send_fds(e[0], "hello-e", 7, NULL, 0, "e");
	send_fds(d[0], "only", 4, &e[1], 1, "only");
	close(e[1]);

	/* seqpacket */
	int ep = epoll_create1(0);
	if (ep < 0)
		setup_fail("epoll_create1: %s", strerror(errno));
	int epreg[2] = { ep, reg };
	send_fds(q[0], "epoll+reg", 9, epreg, 2, "q1");
	close(ep);
	int efd7 = eventfd(7, 0);
	send_fds(n[0], "inner", 5, &efd7, 1, "inner");
	close(efd7);
	send_fds(q[0], "nested", 6, &n[1], 1, "q2");
	close(n[1]);

	int g[2], sync[2], quit[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, g) || pipe(sync) || pipe(quit))
		setup_fail("socketpair/pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		setup_fail("fork");
	if (child == 0) {
		test_forked_child();
		int cev = eventfd(1, 0), cep = epoll_create1(0);
		struct epoll_event ee = { .events = EPOLLIN, .data.u64 = 77 };
		if (cev < 0 || cep < 0 || epoll_ctl(cep, EPOLL_CTL_ADD, cev, &ee))
			_exit(3);
		send_fds(g[0], "ep", 2, &cep, 1, "child epoll");
		char c = 'x';
		if (write(sync[1], &c, 1) != 1)
			_exit(4);
		if (read(quit[0], &c, 1) != 1)
			_exit(5);
		_exit(0);
	}
	char c;
	if (read(sync[0], &c, 1) != 1)
		setup_fail("the child did not send its epoll");

	test_daemon();
	test_waitsig();

	int fds[8];
	/* stream: a read takes the bytes up to the message with descriptors
	 * (cryo can't tell where it begins: docs/unix-sockets.md) */
	if (expect(s[1], "AAAAAAAAAABBBB", 1, fds, "stream A+B")) {
		if (!same_file(fds[0], reg))
			fail("stream B: the file is not the test's own description");
		expect_read(fds[0], "world", "stream B file");
		if (lseek(reg, 0, SEEK_CUR) != 11)
			fail("the regular file's offset is not shared with the one in flight");
		close(fds[0]);
	}
	if (expect(s[1], "CCC", 1, fds, "stream C")) {
		expect_read(fds[0], "pipedata", "pipe in flight");
		if (write(p[1], "more", 4) != 4)
			fail("pipe write after restore");
		expect_read(fds[0], "more", "pipe in flight, new data");
		close(fds[0]);
	}
	expect(s[1], "DD", 0, fds, "stream D");

	/* datagram */
	if (expect(d[1], "m1", 2, fds, "dgram m1")) {
		expect_eventfd(fds[0], 5, "eventfd in flight");
		if (lseek(fds[1], 0, SEEK_CUR) != 3)
			fail("memfd in flight: offset %ld, want 3", (long)lseek(fds[1], 0, SEEK_CUR));
		expect_read(fds[1], "fd-content", "memfd in flight");
		close(fds[0]);
		close(fds[1]);
	}
	if (expect(d[1], "self", 1, fds, "dgram self")) {
		if (!same_file(fds[0], d[1]))
			fail("dgram self: not the receiving socket itself");
		close(fds[0]);
	}
	if (expect(d[1], "only", 1, fds, "dgram only")) {
		int e1 = fds[0];
		expect(e1, "hello-e", 0, fds, "socket in flight's queue");
		if (send(e1, "back", 4, 0) != 4)
			fail("send on the socket from flight: %s", strerror(errno));
		else
			expect(e[0], "back", 0, fds, "its peer");
		close(e1);
	}

	/* seqpacket */
	if (expect(q[1], "epoll+reg", 2, fds, "seqpacket epoll+reg")) {
		struct epoll_event ev;
		if (epoll_wait(fds[0], &ev, 1, 0) != 0)
			fail("epoll in flight: not an empty epoll (%s)", strerror(errno));
		if (!same_file(fds[1], reg))
			fail("seqpacket: the regular file is not the test's own description");
		close(fds[0]);
		close(fds[1]);
	}
	if (expect(q[1], "nested", 1, fds, "seqpacket nested")) {
		int n1 = fds[0];
		if (expect(n1, "inner", 1, fds, "nested socket's message"))
			expect_eventfd(fds[0], 7, "eventfd in flight in flight");
		close(n1);
	}
	if (expect(g[1], "ep", 1, fds, "the child's epoll")) {
		struct epoll_event ev = { 0 };
		if (epoll_wait(fds[0], &ev, 1, 0) != 1 || ev.data.u64 != 77 || !(ev.events & EPOLLIN))
			fail("the child's epoll lost its registration (data %llu)",
			     (unsigned long long)ev.data.u64);
		close(fds[0]);
	}
	if (write(quit[1], "q", 1) != 1)
		fail("can't tell the child to quit");
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child failed (status %#x)", st);
	pass();
	return 0;
}
