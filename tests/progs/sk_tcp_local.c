/* sk_tcp_local: both ends of a loopback TCP connection in the tree, with
 * unread data queued each way (160 KiB client to server, 48 KiB back), and
 * the listener they came from.
 *
 * Default (--tcp-established): after the restore every queued byte arrives
 * intact, the addresses are the same, TCP_NODELAY and the non-blocking flag
 * are kept, and new data flows both ways.
 * --closed (dumped or restored with --tcp-close): both sockets read end of
 * file and writes fail with EPIPE; the listener still works.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool closed;
TEST_OPTION(closed, bool, "the connection was restored with --tcp-close", 0);

#define C2S (160 * 1024)
#define S2C (48 * 1024)

static int write_all_nb(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 2000) != 1)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		b += w;
		n -= w;
	}
	return 0;
}

static ssize_t read_exact(int fd, char *b, size_t n, int ms)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, ms) != 1)
			break;
		ssize_t r = read(fd, b + got, n - got);
		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

int main(int argc, char **argv)
{
	test_doc = "both ends of a loopback TCP connection, data queued both ways";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&ss, &len))
		setup_fail("listener: %s", strerror(errno));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
		setup_fail("connect: %s", strerror(errno));
	int s = accept(l, NULL, NULL);
	if (s < 0)
		setup_fail("accept: %s", strerror(errno));
	int one = 1;
	setsockopt(c, SOL_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(s, F_SETFL, O_NONBLOCK);
	fcntl(c, F_SETFL, O_NONBLOCK);
	struct sockaddr_storage cn, cp;
	socklen_t cnl = sizeof(cn), cpl = sizeof(cp);
	getsockname(c, (struct sockaddr *)&cn, &cnl);
	getpeername(c, (struct sockaddr *)&cp, &cpl);

	char *c2s = malloc(C2S), *s2c = malloc(S2C), *buf = malloc(C2S);
	pattern_fill(c2s, C2S, 11);
	pattern_fill(s2c, S2C, 12);
	if (write_all_nb(c, c2s, C2S) || write_all_nb(s, s2c, S2C))
		setup_fail("queueing data: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	if (closed) {
		char b[16];
		ssize_t r = read(c, b, sizeof(b));
		if (r != 0)
			fail("client: read gave %zd (%s), not end of file", r,
			     r < 0 ? strerror(errno) : "data");
		r = read(s, b, sizeof(b));
		if (r != 0)
			fail("server side: read gave %zd (%s), not end of file", r,
			     r < 0 ? strerror(errno) : "data");
		if (write(c, "x", 1) != -1 || errno != EPIPE)
			fail("client: write did not fail with EPIPE (%s)", strerror(errno));
		int c2 = socket(AF_INET, SOCK_STREAM, 0);
		if (c2 < 0 || connect(c2, (struct sockaddr *)&ss, len) || accept_wait(l, 2000) < 0)
			fail("the listener does not work: %s", strerror(errno));
		return test_verdict();
	}
	if (sk_state(c) != TCP_ESTABLISHED || sk_state(s) != TCP_ESTABLISHED)
		fail("states %d/%d, not ESTABLISHED", sk_state(c), sk_state(s));
	if (!same_name(c, &cn, cnl, false) || !same_name(c, &cp, cpl, true))
		fail("the client's addresses changed");
	expect_opt(c, SOL_TCP, TCP_NODELAY, 1, "client");
	if (!(fcntl(s, F_GETFL) & O_NONBLOCK))
		fail("server side: O_NONBLOCK lost");
	ssize_t got = read_exact(s, buf, C2S, 3000);
	if (got != C2S)
		fail("server side got %zd of %d queued bytes", got, C2S);
	else if (pattern_check(buf, C2S, 11) >= 0)
		fail("server side: queued data differs at %zd", pattern_check(buf, C2S, 11));
	got = read_exact(c, buf, S2C, 3000);
	if (got != S2C)
		fail("client got %zd of %d queued bytes", got, S2C);
	else if (pattern_check(buf, S2C, 12) >= 0)
		fail("client: queued data differs at %zd", pattern_check(buf, S2C, 12));
	/* and new data */
	if (write_all_nb(c, c2s, 1000) || read_exact(s, buf, 1000, 2000) != 1000 ||
	    memcmp(buf, c2s, 1000))
		fail("new data client -> server failed");
	if (write_all_nb(s, s2c, 1000) || read_exact(c, buf, 1000, 2000) != 1000 ||
	    memcmp(buf, s2c, 1000))
		fail("new data server -> client failed");
	return test_verdict();
}
