/* sk_tcp_reset: TCP sockets whose connection ended, the descriptor still
 * open (state CLOSE), each with what it still has to report:
 *   reset:   reset by the peer with 3 bytes unread: the bytes, then
 *            ECONNRESET, then end of file;
 *   reset2:  reset, nothing unread: SO_ERROR is ECONNRESET;
 *   pipe:    the peer sent data and FIN, then a reset: the data, end of file,
 *            SO_ERROR EPIPE;
 *   refused: a non-blocking connect refused: SO_ERROR ECONNREFUSED;
 *   closed:  closed normally both ways with 3 bytes unread: the bytes, end
 *            of file, no error;
 *   read:    reset, the error already read: end of file, no error.
 * After the restore each is in state CLOSE, writes fail with EPIPE, and its
 * data and error come exactly once, in that order.
 * --v6 (::1), --mapped (IPv6 sockets, IPv4 peers).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool v6, mapped;
TEST_OPTION(v6, bool, "IPv6 (::1)", 0);
TEST_OPTION(mapped, bool, "IPv6 sockets, IPv4-mapped peers", 0);

static int lsn;
static struct sockaddr_storage lss;
static socklen_t llen;

static int fam(void)
{
	return v6 || mapped ? AF_INET6 : AF_INET;
}

static void listener(void)
{
	int zero = 0;
	llen = loopback(fam(), &lss, 0);
	lsn = socket(fam(), SOCK_STREAM, 0);
	if (mapped) {
		setsockopt(lsn, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		((struct sockaddr_in6 *)&lss)->sin6_addr = in6addr_any;
	}
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&lss, llen) || listen(lsn, 8) ||
	    getsockname(lsn, (struct sockaddr *)&lss, &llen))
		setup_fail("listener: %s", strerror(errno));
	if (mapped)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &((struct sockaddr_in6 *)&lss)->sin6_addr);
}

/* a connected client (returned) and its accepted end (*s) */
static int conn(int *s)
{
	int c = socket(fam(), SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&lss, llen))
		setup_fail("connect: %s", strerror(errno));
	*s = accept(lsn, NULL, NULL);
	if (*s < 0)
		setup_fail("accept: %s", strerror(errno));
	return c;
}

static void rst_close(int s)
{
	struct linger lg = { 1, 0 };
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
}

static void wait_state(int fd, int st, const char *what)
{
	for (int i = 0; i < 100 && sk_state(fd) != st; i++)
		usleep(10 * 1000);
	if (sk_state(fd) != st)
		setup_fail("%s: state %d, not %d", what, sk_state(fd), st);
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t l = sizeof(e);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
	return e;
}

/* the next read: @want bytes "abc", or an error @err, or end of file */
static void expect_read(int fd, const char *want, int err, const char *what)
{
	char b[16];
	ssize_t r = read(fd, b, sizeof(b));
	if (want) {
		if (r != (ssize_t)strlen(want) || memcmp(b, want, r))
			fail("%s: read gave %zd (%s), not the data \"%s\"", what, r,
			     r < 0 ? strerror(errno) : "data", want);
	} else if (err) {
		if (r != -1 || errno != err)
			fail("%s: read gave %zd (%s), not %s", what, r, r < 0 ? strerror(errno) : "data",
			     strerror(err));
	} else if (r != 0) {
		fail("%s: read gave %zd (%s), not end of file", what, r,
		     r < 0 ? strerror(errno) : "data");
	}
}

int main(int argc, char **argv)
{
	test_doc = "TCP sockets reset or closed, with errors and data pending";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	listener();
	int s;

	int reset = conn(&s);
	if (write(s, "abc", 3) != 3)
		setup_fail("write: %s", strerror(errno));
	usleep(20 * 1000);
	rst_close(s);
	wait_state(reset, TCP_CLOSE, "reset");

	int reset2 = conn(&s);
	rst_close(s);
	wait_state(reset2, TCP_CLOSE, "reset2");

	int pipe_ = conn(&s);
	if (write(s, "def", 3) != 3)
		setup_fail("write: %s", strerror(errno));
	shutdown(s, SHUT_WR);
	wait_state(pipe_, TCP_CLOSE_WAIT, "pipe");
	rst_close(s);
	wait_state(pipe_, TCP_CLOSE, "pipe");

	int refused = socket(fam(), SOCK_STREAM, 0);
	{
		/* a port bound by nobody listening */
		struct sockaddr_storage ss;
		socklen_t l = loopback(fam(), &ss, 0);
		int tmp = socket(fam(), SOCK_STREAM, 0);
		if (bind(tmp, (struct sockaddr *)&ss, l) || getsockname(tmp, (struct sockaddr *)&ss, &l))
			setup_fail("bind: %s", strerror(errno));
		if (mapped) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6->sin6_addr);
			int zero = 0;
			setsockopt(refused, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		}
		fcntl(refused, F_SETFL, O_NONBLOCK);
		connect(refused, (struct sockaddr *)&ss, l);
		struct pollfd p = { .fd = refused, .events = POLLOUT };
		poll(&p, 1, 2000);
		close(tmp);
		wait_state(refused, TCP_CLOSE, "refused");
	}

	int closed = conn(&s);
	if (write(s, "xyz", 3) != 3)
		setup_fail("write: %s", strerror(errno));
	close(s);
	wait_state(closed, TCP_CLOSE_WAIT, "closed");
	shutdown(closed, SHUT_WR);
	wait_state(closed, TCP_CLOSE, "closed");

	int readerr = conn(&s);
	rst_close(s);
	wait_state(readerr, TCP_CLOSE, "read");
	if (so_error(readerr) != ECONNRESET)
		setup_fail("read: no ECONNRESET");

	test_daemon();
	test_waitsig();

	int all[] = { reset, reset2, pipe_, refused, closed, readerr };
	const char *names[] = { "reset", "reset2", "pipe", "refused", "closed", "read" };
	for (int i = 0; i < 6; i++)
		if (sk_state(all[i]) != TCP_CLOSE)
			fail("%s: state %d, not CLOSE", names[i], sk_state(all[i]));

	expect_read(reset, "abc", 0, "reset");
	expect_read(reset, NULL, ECONNRESET, "reset");
	expect_read(reset, NULL, 0, "reset");

	if (so_error(reset2) != ECONNRESET)
		fail("reset2: SO_ERROR %d, not ECONNRESET", so_error(reset2));

	expect_read(pipe_, "def", 0, "pipe");
	expect_read(pipe_, NULL, 0, "pipe");
	if (so_error(pipe_) != EPIPE)
		fail("pipe: SO_ERROR %d, not EPIPE", so_error(pipe_));

	if (so_error(refused) != ECONNREFUSED)
		fail("refused: SO_ERROR %d, not ECONNREFUSED", so_error(refused));

	if (so_error(closed) != 0)
		fail("closed: SO_ERROR %d, not 0", so_error(closed));
	expect_read(closed, "xyz", 0, "closed");
	expect_read(closed, NULL, 0, "closed");

	if (so_error(readerr) != 0)
		fail("read: SO_ERROR %d, not 0", so_error(readerr));
	expect_read(readerr, NULL, 0, "read");

	/* every error reported once: now all are plain closed sockets */
	for (int i = 0; i < 6; i++) {
		if (so_error(all[i]) != 0)
			fail("%s: SO_ERROR %d after the error was read", names[i], so_error(all[i]));
		if (i != 3 && (write(all[i], "x", 1) != -1 || errno != EPIPE))
			fail("%s: write did not fail with EPIPE (%s)", names[i], strerror(errno));
	}
	return test_verdict();
}
