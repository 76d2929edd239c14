/* sk_raw: raw sockets (CAP_NET_RAW).
 *
 * Before the checkpoint:
 *   r1  IPv4 raw ICMP, ICMP_FILTER passing echo replies only, connected to
 *       127.0.0.1 (getpeername can't show it: a raw socket's peer has no
 *       port);
 *   r2  IPv4 raw IPPROTO_RAW (IP_HDRINCL implied);
 *   r3  IPv6 raw ICMPv6, ICMP6_FILTER passing echo replies only, connected
 *       to ::1;
 *   r4  IPv4 raw UDP bound to 127.0.0.1, IP_HDRINCL set, IP_FREEBIND.
 * After SIGTERM: protocols, filters and options as set; r1 pings
 * 127.0.0.1 with send() (no address: it must still be connected) and the
 * first packet it reads is the echo reply (the filter holds back its own
 * echo request); r3 can send() too.
 */
#include <linux/icmp.h>
#include <unistd.h>

#include "sk_inet_util.h"

#ifndef ICMPV6_FILTER
#define ICMPV6_FILTER 1
#endif

int main(int argc, char **argv)
{
	test_doc = "raw IPv4/IPv6 sockets: ICMP filters, IP_HDRINCL, bound raw socket";
	test_init(argc, argv);
	int r1 = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	int r2 = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	int r3 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	int r4 = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	if (r1 < 0 || r2 < 0 || r3 < 0 || r4 < 0)
		setup_fail("raw sockets: %s", strerror(errno));
	struct icmp_filter f1 = { ~(1u << ICMP_ECHOREPLY) };
	uint32_t f3[8];
	memset(f3, 0xff, sizeof(f3));
	f3[129 >> 5] &= ~(1u << (129 & 31));	/* ICMPv6 echo reply passes */
	int one = 1;
	if (setsockopt(r1, SOL_RAW, ICMP_FILTER, &f1, sizeof(f1)) ||
	    setsockopt(r3, SOL_ICMPV6, ICMPV6_FILTER, f3, sizeof(f3)) ||
	    setsockopt(r4, SOL_IP, IP_HDRINCL, &one, sizeof(one)) ||
	    setsockopt(r4, SOL_IP, IP_FREEBIND, &one, sizeof(one)))
		setup_fail("raw socket options: %s", strerror(errno));
	struct sockaddr_storage ss;
	socklen_t l = loopback(AF_INET, &ss, 0);
	if (bind(r4, (struct sockaddr *)&ss, l))
		setup_fail("bind: %s", strerror(errno));
	struct sockaddr_storage s6;
	socklen_t l6 = loopback(AF_INET6, &s6, 0);
	if (connect(r1, (struct sockaddr *)&ss, l) || connect(r3, (struct sockaddr *)&s6, l6))
		setup_fail("connect r1, r3: %s", strerror(errno));
	struct sockaddr_in n4;
	socklen_t n4l = sizeof(n4);
	getsockname(r4, (struct sockaddr *)&n4, &n4l);

	test_daemon();
	test_waitsig();

	expect_opt(r1, SOL_SOCKET, SO_TYPE, SOCK_RAW, "r1");
	expect_opt(r1, SOL_SOCKET, SO_PROTOCOL, IPPROTO_ICMP, "r1");
	expect_opt(r2, SOL_SOCKET, SO_PROTOCOL, IPPROTO_RAW, "r2");
	expect_opt(r2, SOL_IP, IP_HDRINCL, 1, "r2");
	expect_opt(r3, SOL_SOCKET, SO_DOMAIN, AF_INET6, "r3");
	expect_opt(r3, SOL_SOCKET, SO_PROTOCOL, IPPROTO_ICMPV6, "r3");
	expect_opt(r4, SOL_SOCKET, SO_PROTOCOL, IPPROTO_UDP, "r4");
	expect_opt(r4, SOL_IP, IP_HDRINCL, 1, "r4");
	expect_opt(r4, SOL_IP, IP_FREEBIND, 1, "r4");
	expect_opt(r1, SOL_IP, IP_HDRINCL, 0, "r1");
	struct sockaddr_in m4;
	socklen_t m4l = sizeof(m4);
	if (getsockname(r4, (struct sockaddr *)&m4, &m4l) || m4.sin_addr.s_addr != n4.sin_addr.s_addr)
		fail("r4: its address changed");
	struct icmp_filter g1 = { 0 };
	socklen_t gl = sizeof(g1);
	if (getsockopt(r1, SOL_RAW, ICMP_FILTER, &g1, &gl) || g1.data != f1.data)
		fail("r1: ICMP_FILTER is %#x, expected %#x", g1.data, f1.data);
	uint32_t g3[8] = { 0 };
	gl = sizeof(g3);
	if (getsockopt(r3, SOL_ICMPV6, ICMPV6_FILTER, g3, &gl) || memcmp(g3, f3, sizeof(f3)))
		fail("r3: ICMP6_FILTER differs");

	/* a ping through r1: only the reply may come back */
	struct icmphdr req = { .type = ICMP_ECHO, .un.echo = { .id = htons(0x4242), .sequence = htons(1) } };
	uint32_t sum = 0;
	uint16_t *w = (uint16_t *)&req;
	for (size_t i = 0; i < sizeof(req) / 2; i++)
		sum += w[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	req.checksum = ~sum;
	struct icmphdr req6 = { .type = 128 };	/* ICMPv6 echo request */
	if (send(r3, &req6, sizeof(req6), 0) != sizeof(req6))
		fail("r3: send without an address: %s (not connected any more?)", strerror(errno));
	if (send(r1, &req, sizeof(req), 0) != sizeof(req)) {
		fail("r1: send without an address: %s (not connected any more?)", strerror(errno));
	} else {
		char b[256];
		struct pollfd p = { .fd = r1, .events = POLLIN };
		ssize_t n = poll(&p, 1, 2000) == 1 ? recv(r1, b, sizeof(b), 0) : -1;
		if (n < 20 + (ssize_t)sizeof(req))
			fail("r1: no echo reply (%zd)", n);
		else if (((struct icmphdr *)(b + (b[0] & 0xf) * 4))->type != ICMP_ECHOREPLY)
			fail("r1: got ICMP type %d, the filter passes echo replies only",
			     ((struct icmphdr *)(b + (b[0] & 0xf) * 4))->type);
	}
	return test_verdict();
}
