/* sk_udp_self: UDP sockets connected to themselves.
 *
 * Before the checkpoint:
 *   s4  IPv4, bound to 127.0.0.1:P, connected to 127.0.0.1:P, two datagrams
 *       it sent to itself left queued ("one", "two");
 *   s6  IPv6, the same on [::1]:Q, one datagram ("six") queued.
 * After SIGTERM: each is still connected to its own name, the queued
 * datagrams come first, in order, from its own address; a new datagram it
 * sends reaches it.
 */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "sk_inet_util.h"

static int self_sock(int family, struct sockaddr_storage *name, socklen_t *nl)
{
	struct sockaddr_storage ss;
	socklen_t l = loopback(family, &ss, 0);
	int fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, l))
		return -1;
	*nl = sizeof(*name);
	if (getsockname(fd, (struct sockaddr *)name, nl) || connect(fd, (struct sockaddr *)name, *nl))
		return -1;
	return fd;
}

static void expect_dgram(int fd, const char *want, const struct sockaddr_storage *name,
			 socklen_t nl, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[64];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	memset(&from, 0, sizeof(from));
	if (poll(&p, 1, 2000) != 1) {
		fail("%s: no datagram \"%s\" (waited 2 s)", what, want);
		return;
	}
	ssize_t n = recvfrom(fd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n != (ssize_t)strlen(want) || memcmp(b, want, n))
		fail("%s: got %zd bytes \"%.*s\", expected \"%s\"", what, n, n > 0 ? (int)n : 0, b,
		     want);
	else if (fl != nl || memcmp(&from, name, nl))
		fail("%s: \"%s\" came from another address than its own", what, want);
}

static void check(int fd, const struct sockaddr_storage *name, socklen_t nl, const char **queued,
		  const char *what)
{
	if (!same_name(fd, name, nl, false))
		fail("%s: its own address changed", what);
	if (!same_name(fd, name, nl, true))
		fail("%s: it is no longer connected to itself (getpeername: %s)", what,
		     strerror(errno));
	for (; *queued; queued++)
		expect_dgram(fd, *queued, name, nl, what);
	char b[8];
	if (recv(fd, b, sizeof(b), MSG_DONTWAIT) >= 0)
		fail("%s: more datagrams queued than it sent itself", what);
	if (send(fd, "new", 3, 0) != 3)
		fail("%s: send to itself: %s", what, strerror(errno));
	else
		expect_dgram(fd, "new", name, nl, what);
}

int main(int argc, char **argv)
{
	test_doc = "UDP sockets connected to themselves, with datagrams queued to themselves";
	test_init(argc, argv);
	struct sockaddr_storage n4, n6;
	socklen_t l4, l6;
	int s4 = self_sock(AF_INET, &n4, &l4), s6 = self_sock(AF_INET6, &n6, &l6);
	if (s4 < 0 || s6 < 0)
		setup_fail("sockets: %s", strerror(errno));
	if (send(s4, "one", 3, 0) != 3 || send(s4, "two", 3, 0) != 3 || send(s6, "six", 3, 0) != 3)
		setup_fail("send: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	const char *q4[] = { "one", "two", NULL }, *q6[] = { "six", NULL };
	check(s4, &n4, l4, q4, "s4 (IPv4)");
	check(s6, &n6, l6, q6, "s6 (IPv6)");
	return test_verdict();
}
