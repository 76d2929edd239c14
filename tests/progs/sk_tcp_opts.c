/* sk_tcp_opts: options of TCP listeners and established connections.
 *
 * Before the checkpoint:
 *   l   IPv4 listener: TCP_DEFER_ACCEPT, TCP_FASTOPEN, TCP_MAXSEG, TCP_NODELAY,
 *       keepalive, TCP_SAVE_SYN, IP_TOS, SO_PRIORITY, reno congestion control;
 *   l6  IPv6 listener: IPV6_TCLASS, IPV6_UNICAST_HOPS, TCP_USER_TIMEOUT;
 *   c/a a connection of l (client c, accepted a), both in the tree, data
 *       queued both ways: on c TCP_CORK, keepalive, TCP_USER_TIMEOUT,
 *       TCP_NOTSENT_LOWAT, TCP_WINDOW_CLAMP, TCP_LINGER2, TCP_THIN_LINEAR_
 *       TIMEOUTS, IP_TOS, IP_TTL, SO_MARK, a forced SO_SNDBUF, reno; on a
 *       TCP_NODELAY, TCP_KEEPIDLE, TCP_INQ, IP_TOS, SO_PRIORITY.
 * After SIGTERM: every option reads back as before; the queued data
 * arrives, new data flows both ways, l and l6 accept new connections.
 */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "sk_opts_util.h"

static struct iopt l_opts[] = {
	IOPT(SOL_TCP, TCP_DEFER_ACCEPT, 5),
	IOPT(SOL_TCP, TCP_FASTOPEN, 8),
	IOPT(SOL_TCP, TCP_MAXSEG, 1200),
	IOPT(SOL_TCP, TCP_NODELAY, 1),
	IOPT(SOL_TCP, TCP_KEEPIDLE, 77),
	IOPT(SOL_TCP, TCP_SAVE_SYN, 1),
	IOPT(SOL_IP, IP_TOS, 0x10),
	IOPT(SOL_SOCKET, SO_KEEPALIVE, 1),
	IOPT(SOL_SOCKET, SO_PRIORITY, 4),
};

static struct iopt l6_opts[] = {
	IOPT(SOL_IPV6, IPV6_TCLASS, 0x28),
	IOPT(SOL_IPV6, IPV6_UNICAST_HOPS, 21),
	IOPT(SOL_TCP, TCP_USER_TIMEOUT, 3000),
};

static struct iopt c_opts[] = {
	IOPT(SOL_TCP, TCP_CORK, 1),
	IOPT(SOL_TCP, TCP_KEEPIDLE, 100),
	IOPT(SOL_TCP, TCP_KEEPINTVL, 20),
	IOPT(SOL_TCP, TCP_KEEPCNT, 4),
	IOPT(SOL_TCP, TCP_USER_TIMEOUT, 5000),
	IOPT(SOL_TCP, TCP_NOTSENT_LOWAT, 12345),
	IOPT(SOL_TCP, TCP_WINDOW_CLAMP, 20000),
	IOPT(SOL_TCP, TCP_LINGER2, 10),
	IOPT(SOL_TCP, TCP_THIN_LINEAR_TIMEOUTS, 1),
	IOPT(SOL_IP, IP_TOS, 0x08),
	IOPT(SOL_IP, IP_TTL, 33),
	IOPT(SOL_SOCKET, SO_KEEPALIVE, 1),
	IOPT(SOL_SOCKET, SO_MARK, 11),
	IOPT(SOL_SOCKET, SO_SNDBUFFORCE, 60000),
};

static struct iopt a_opts[] = {
	IOPT(SOL_TCP, TCP_NODELAY, 1),
	IOPT(SOL_TCP, TCP_KEEPIDLE, 55),
	IOPT(SOL_TCP, TCP_INQ, 1),
	IOPT(SOL_IP, IP_TOS, 0x04),
	IOPT(SOL_SOCKET, SO_PRIORITY, 2),
};

static int listener(int family, struct sockaddr_storage *name, socklen_t *nl)
{
	int fd = socket(family, SOCK_STREAM, 0), one = 1;
	struct sockaddr_storage ss;
	socklen_t l = loopback(family, &ss, 0);
	if (fd < 0 || (family == AF_INET6 && setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&ss, l))
		return -1;
	*nl = sizeof(*name);
	getsockname(fd, (struct sockaddr *)name, nl);
	return fd;
}

static void check_cc(int fd, const char *want, const char *what)
{
	char cc[16] = "";
	socklen_t cl = sizeof(cc);
	if (getsockopt(fd, SOL_TCP, TCP_CONGESTION, cc, &cl) || strcmp(cc, want))
		fail("%s: TCP_CONGESTION is \"%s\", not %s", what, cc, want);
}

static ssize_t read_wait(int fd, char *b, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 3000) != 1)
		return -1;
	return recv(fd, b, n, MSG_DONTWAIT);
}

static void try_connect(const struct sockaddr_storage *n, socklen_t l, int lfd, const char *what)
{
	int fd = socket(n->ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)n, l)) {
		fail("%s: connect: %s", what, strerror(errno));
	} else {
		/* TCP_DEFER_ACCEPT: the listener wakes when data comes */
		if (send(fd, "x", 1, 0) != 1)
			fail("%s: send: %s", what, strerror(errno));
		int acc = accept_wait(lfd, 3000);
		if (acc < 0)
			fail("%s: no connection to accept", what);
		else
			close(acc);
	}
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	test_doc = "options of TCP listeners and established connections";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_storage n4, n6;
	socklen_t l4, l6;
	int l = listener(AF_INET, &n4, &l4), ll6 = listener(AF_INET6, &n6, &l6);
	int ft = socket(AF_INET, SOCK_STREAM, 0), ft6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || ll6 < 0 || ft < 0 || ft6 < 0)
		setup_fail("sockets: %s", strerror(errno));
	iopts_set(l, ft, l_opts, NOPTS(l_opts), "l");
	iopts_set(ll6, ft6, l6_opts, NOPTS(l6_opts), "l6");
	if (setsockopt(l, SOL_TCP, TCP_CONGESTION, "reno", 4) || listen(l, 8) || listen(ll6, 8))
		setup_fail("listen: %s", strerror(errno));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&n4, l4))
		setup_fail("connect: %s", strerror(errno));
	if (send(c, "hello", 5, 0) != 5)	/* TCP_DEFER_ACCEPT waits for data */
		setup_fail("send: %s", strerror(errno));
	int a = accept_wait(l, 5000);
	if (a < 0)
		setup_fail("accept: %s", strerror(errno));
	char b[64];
	if (read_wait(a, b, 5) != 5)
		setup_fail("first data lost");
	iopts_set(c, ft, c_opts, NOPTS(c_opts), "c");
	iopts_set(a, ft, a_opts, NOPTS(a_opts), "a");
	if (setsockopt(c, SOL_TCP, TCP_CONGESTION, "reno", 4))
		setup_fail("c: TCP_CONGESTION: %s", strerror(errno));
	/* queued both ways, unread */
	if (send(a, "to-c", 4, 0) != 4 || send(c, "to-a", 4, 0) != 4)
		setup_fail("send: %s", strerror(errno));
	test_sleep_ms(300);	/* c is corked: its 4 bytes leave after 200 ms */
	close(ft);
	close(ft6);

	test_daemon();
	test_waitsig();

	iopts_check(l, l_opts, NOPTS(l_opts), "l");
	iopts_check(ll6, l6_opts, NOPTS(l6_opts), "l6");
	iopts_check(c, c_opts, NOPTS(c_opts), "c");
	iopts_check(a, a_opts, NOPTS(a_opts), "a");
	check_cc(l, "reno", "l");
	check_cc(c, "reno", "c");
	if (read_wait(c, b, sizeof(b)) != 4 || memcmp(b, "to-c", 4))
		fail("c: the queued data is lost");
	if (read_wait(a, b, sizeof(b)) != 4 || memcmp(b, "to-a", 4))
		fail("a: the queued data is lost");
	if (send(a, "more", 4, 0) != 4 || read_wait(c, b, sizeof(b)) != 4)
		fail("a -> c after the restore: %s", strerror(errno));
	if (send(c, "more", 4, 0) != 4 || read_wait(a, b, sizeof(b)) != 4)
		fail("c -> a after the restore (corked: sent after 200 ms): %s", strerror(errno));
	try_connect(&n4, l4, l, "l");
	try_connect(&n6, l6, ll6, "l6");
	return test_verdict();
}
