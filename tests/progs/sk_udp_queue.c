/* sk_udp_queue: datagrams queued on UDP sockets, with their senders.
 *
 * State built before the checkpoint (loopback only):
 *   - S4, bound to 127.0.0.1: datagrams from A (bound: 5 bytes, empty, 60000
 *     bytes) and from B (autobound);
 *   - C, bound, got one datagram from B, then was connected to A, and got
 *     two more from A (what was queued before the connect stays);
 *   - S6, bound to ::1: two datagrams from a ::1 sender;
 *   - D, dual-stack on ::, a datagram from an IPv4 sender (v4-mapped).
 * After SIGTERM: each socket returns exactly its datagrams in order, each
 * with its sender's address and port, and then nothing more.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

struct expect {
	int sk;
	const char *name;
	int from;		/* index in senders[] */
	size_t len;
	uint64_t seed;
};

static int senders[5];
static struct sockaddr_storage saddr[5];

static int udp(int fam, const char *addr)
{
	int s = socket(fam, SOCK_DGRAM, 0);
	struct sockaddr_storage ss = { 0 };
	socklen_t l;
	if (fam == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &a->sin_addr);
		l = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		l = sizeof(*a);
	}
	if (s < 0 || bind(s, (struct sockaddr *)&ss, l))
		setup_fail("bind %s: %s", addr, strerror(errno));
	return s;
}

static void send_to(int from, int to, size_t len, uint64_t seed)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	getsockname(to, (struct sockaddr *)&ss, &l);
	if (from == 3 && ss.ss_family == AF_INET6) {
		/* an IPv4 sender to the dual-stack socket: 127.0.0.1, its port */
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = ((struct sockaddr_in6 *)&ss)->sin6_port,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		memcpy(&ss, &a, sizeof(a));
		l = sizeof(a);
	}
	char *buf = malloc(len + 1);
	pattern_fill(buf, len, seed);
	if (sendto(senders[from], buf, len, 0, (struct sockaddr *)&ss, l) != (ssize_t)len)
		setup_fail("sendto: %s", strerror(errno));
	free(buf);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family == AF_INET6 && b->ss_family == AF_INET) {
		/* a dual-stack socket sees an IPv4 sender as ::ffff:a.b.c.d */
		const struct sockaddr_in6 *x = (const void *)a;
		const struct sockaddr_in *y = (const void *)b;
		return IN6_IS_ADDR_V4MAPPED(&x->sin6_addr) && x->sin6_port == y->sin_port &&
		       !memcmp(&x->sin6_addr.s6_addr[12], &y->sin_addr, 4);
	}
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

int main(int argc, char **argv)
{
	test_doc = "datagrams queued on UDP sockets come back with their senders";
	test_init(argc, argv);
	senders[0] = udp(AF_INET, "127.0.0.1");			/* A */
	senders[1] = socket(AF_INET, SOCK_DGRAM, 0);		/* B: autobound */
	senders[2] = udp(AF_INET6, "::1");
	senders[3] = udp(AF_INET, "127.0.0.1");
	int s4 = udp(AF_INET, "127.0.0.1"), c = udp(AF_INET, "127.0.0.1");
	int s6 = udp(AF_INET6, "::1"), d = udp(AF_INET6, "::");
	send_to(0, s4, 5, 1);
	send_to(0, s4, 0, 2);
	send_to(0, s4, 60000, 3);
	send_to(1, s4, 77, 4);
	send_to(1, c, 11, 5);
	struct sockaddr_storage aa;
	socklen_t l = sizeof(aa);
	getsockname(senders[0], (struct sockaddr *)&aa, &l);
	if (connect(c, (struct sockaddr *)&aa, l))
		setup_fail("connect: %s", strerror(errno));
	send_to(0, c, 12, 6);
	send_to(0, c, 13, 7);
	send_to(2, s6, 100, 8);
	send_to(2, s6, 1000, 9);
	send_to(3, d, 33, 10);
	for (int i = 0; i < 4; i++) {
		l = sizeof(saddr[i]);
		getsockname(senders[i], (struct sockaddr *)&saddr[i], &l);
	}
	/* B was autobound to 0.0.0.0: its datagrams leave from 127.0.0.1 */
	((struct sockaddr_in *)&saddr[1])->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct expect ex[] = {
		{ s4, "S4", 0, 5, 1 }, { s4, "S4", 0, 0, 2 }, { s4, "S4", 0, 60000, 3 },
		{ s4, "S4", 1, 77, 4 }, { c, "C", 1, 11, 5 }, { c, "C", 0, 12, 6 },
		{ c, "C", 0, 13, 7 }, { s6, "S6", 2, 100, 8 }, { s6, "S6", 2, 1000, 9 },
		{ d, "D", 3, 33, 10 },
	};

	test_daemon();
	test_waitsig();

	char *buf = malloc(65536);
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(ex[i].sk, buf, 65536, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			fail("%s: datagram %zu missing: %s", ex[i].name, i, strerror(errno));
			continue;
		}
		if ((size_t)n != ex[i].len || pattern_check(buf, n, ex[i].seed) >= 0)
			fail("%s: datagram %zu is %zd bytes (expected %zu) or its data differs",
			     ex[i].name, i, n, ex[i].len);
		if (!same_addr(&from, &saddr[ex[i].from]))
			fail("%s: datagram %zu comes from another address or port", ex[i].name, i);
	}
	int socks[] = { s4, c, s6, d };
	for (int i = 0; i < 4; i++)
		if (recv(socks[i], buf, 65536, MSG_DONTWAIT) >= 0)
			fail("socket %d holds more datagrams than it had", i);
	pass();
	return 0;
}
