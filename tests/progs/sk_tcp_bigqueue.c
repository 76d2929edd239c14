/* sk_tcp_bigqueue: TCP queues larger than the socket's buffer.
 *
 * Pair A: the client wrote 8 MiB (SO_SNDBUFFORCE) that the server, with a
 * tiny receive buffer, does not read: nearly all of it is in the client's
 * send queue, never sent; then the client's SO_SNDBUF goes down to 4 KiB.
 * Pair B: 4 MiB received and unread by a server whose SO_RCVBUF then goes
 * down to 4 KiB.
 * After the restore: every byte arrives once and in order, the buffer sizes
 * are the small ones again, and both connections carry new data both ways.
 * --v6: over ::1.
 */
#include <fcntl.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool v6;
TEST_OPTION(v6, bool, "IPv6 (::1)", 0);

#define A_LEN (8u << 20)
#define B_LEN (4u << 20)

static void pair(int *c, int *s, int lrcv, int csnd)
{
	int fam = v6 ? AF_INET6 : AF_INET;
	struct sockaddr_storage ss;
	socklen_t len = loopback(fam, &ss, 0);
	int l = socket(fam, SOCK_STREAM, 0);
	if (lrcv)
		setsockopt(l, SOL_SOCKET, SO_RCVBUFFORCE, &lrcv, sizeof(lrcv));
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&ss, &len))
		setup_fail("listener: %s", strerror(errno));
	*c = socket(fam, SOCK_STREAM, 0);
	if (csnd && setsockopt(*c, SOL_SOCKET, SO_SNDBUFFORCE, &csnd, sizeof(csnd)))
		setup_fail("SO_SNDBUFFORCE: %s", strerror(errno));
	if (*c < 0 || connect(*c, (struct sockaddr *)&ss, len))
		setup_fail("connect: %s", strerror(errno));
	*s = accept(l, NULL, NULL);
	if (*s < 0)
		setup_fail("accept: %s", strerror(errno));
	close(l);
	fcntl(*c, F_SETFL, O_NONBLOCK);
	fcntl(*s, F_SETFL, O_NONBLOCK);
}

static void write_all(int fd, const char *b, size_t n, const char *what)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 5000) != 1)
				setup_fail("%s: the socket takes no more (%zu bytes left)", what, n);
			continue;
		}
		if (w <= 0)
			setup_fail("%s: write: %s", what, strerror(errno));
		b += w;
		n -= w;
	}
}

static bool read_all(int fd, char *b, size_t n, const char *what)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) != 1)
			break;
		ssize_t r = read(fd, b + got, n - got);
		if (r <= 0)
			break;
		got += r;
	}
	if (got != n)
		fail("%s: got %zu of %zu bytes", what, got, n);
	return got == n;
}

static int ioctl_int(int fd, unsigned long req)
{
	int v = -1;
	ioctl(fd, req, &v);
	return v;
}

static void both_ways(int c, int s, const char *what)
{
	char m[] = "both ways", b[sizeof(m)];
	if (write(c, m, sizeof(m)) != sizeof(m) || !read_all(s, b, sizeof(b), what) ||
	    memcmp(b, m, sizeof(m)))
		fail("%s: new data client -> server failed", what);
	if (write(s, m, sizeof(m)) != sizeof(m) || !read_all(c, b, sizeof(b), what) ||
	    memcmp(b, m, sizeof(m)))
		fail("%s: new data server -> client failed", what);
}

int main(int argc, char **argv)
{
	test_doc = "TCP queues larger than the socket buffers";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	char *buf = malloc(A_LEN);
	int ac, as, bc, bs, small = 4096;

	/* A: 8 MiB unsent */
	pair(&ac, &as, small, 4 * A_LEN);
	pattern_fill(buf, A_LEN, 31);
	write_all(ac, buf, A_LEN, "A");
	if (setsockopt(ac, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)))
		setup_fail("A: SO_SNDBUF: %s", strerror(errno));
	int a_snd = sk_getint(ac, SOL_SOCKET, SO_SNDBUF);

	/* B: 4 MiB received, unread */
	pair(&bc, &bs, 4 * B_LEN, 4 * B_LEN);
	pattern_fill(buf, B_LEN, 32);
	write_all(bc, buf, B_LEN, "B");
	for (int i = 0; i < 250 && ioctl_int(bs, SIOCINQ) != (int)B_LEN; i++)
		usleep(20 * 1000);
	if (ioctl_int(bs, SIOCINQ) != (int)B_LEN)
		setup_fail("B: %d bytes received, not %u", ioctl_int(bs, SIOCINQ), B_LEN);
	if (setsockopt(bs, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)))
		setup_fail("B: SO_RCVBUF: %s", strerror(errno));
	int b_rcv = sk_getint(bs, SOL_SOCKET, SO_RCVBUF);
	test_msg("A: %d bytes in the send queue (%d not sent), SO_SNDBUF %d; B: %d received, "
		 "SO_RCVBUF %d", ioctl_int(ac, SIOCOUTQ), ioctl_int(ac, SIOCOUTQNSD), a_snd,
		 ioctl_int(bs, SIOCINQ), b_rcv);

	test_daemon();
	test_waitsig();

	expect_opt(ac, SOL_SOCKET, SO_SNDBUF, a_snd, "A client");
	expect_opt(bs, SOL_SOCKET, SO_RCVBUF, b_rcv, "B server");
	if (sk_state(ac) != TCP_ESTABLISHED || sk_state(as) != TCP_ESTABLISHED ||
	    sk_state(bc) != TCP_ESTABLISHED || sk_state(bs) != TCP_ESTABLISHED)
		fail("states %d/%d %d/%d, not ESTABLISHED", sk_state(ac), sk_state(as),
		     sk_state(bc), sk_state(bs));
	if (read_all(as, buf, A_LEN, "A server") && pattern_check(buf, A_LEN, 31) >= 0)
		fail("A: data differs at byte %zd", pattern_check(buf, A_LEN, 31));
	if (read_all(bs, buf, B_LEN, "B server") && pattern_check(buf, B_LEN, 32) >= 0)
		fail("B: data differs at byte %zd", pattern_check(buf, B_LEN, 32));
	char extra;
	if (read(as, &extra, 1) != -1 || read(bs, &extra, 1) != -1)
		fail("more data than was written");
	both_ways(ac, as, "A");
	both_ways(bc, bs, "B");
	return test_verdict();
}
