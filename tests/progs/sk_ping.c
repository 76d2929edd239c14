/* sk_ping: ICMP "ping" sockets (SOCK_DGRAM, IPPROTO_ICMP/ICMPV6).
 *
 * Runs in the ns variant only: ping sockets need the group in
 * net.ipv4.ping_group_range, which the test widens in its own network
 * namespace (only when lo is the only interface, i.e. a fresh one).
 * Before the checkpoint: p4, IPv4, bound to 127.0.0.1 with identifier
 * 0x4321, connected to 127.0.0.1, one echo exchanged; p6, IPv6, bound to
 * ::1 with identifier 0x5678, not connected, IPV6_RECVHOPLIMIT on.
 * After SIGTERM: names (identifiers), peer and option as before, and both
 * get echo replies with their identifier and the sequence numbers sent.
 */
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <unistd.h>

#include "sk_inet_util.h"

static int only_lo(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int n = 0, lo = 0;
	for (i = ifs; i && i->if_index; i++, n++)
		lo += !strcmp(i->if_name, "lo");
	if (ifs)
		if_freenameindex(ifs);
	return n == 1 && lo == 1;
}

/* an echo request with @id/@seq, then wait for its reply */
static int echo(int fd, int family, const struct sockaddr_storage *to, socklen_t tl, int id,
		int seq)
{
	struct icmphdr h = { .type = family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST };
	h.un.echo.sequence = htons(seq);
	if (sendto(fd, &h, sizeof(h), 0, (const struct sockaddr *)to, to ? tl : 0) != sizeof(h))
		return -1;
	for (int i = 0; i < 4; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct icmphdr r;
		if (poll(&p, 1, 1000) != 1 || recv(fd, &r, sizeof(r), 0) != sizeof(r))
			return -1;
		if (r.type == (family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY) &&
		    ntohs(r.un.echo.id) == id && ntohs(r.un.echo.sequence) == seq)
			return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	test_doc = "ICMP ping sockets, IPv4 and IPv6";
	test_init(argc, argv);
	int p4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (p4 < 0 && errno == EACCES && only_lo()) {
		/* every group; in a user namespace only mapped ones can be
		 * named: then its root group alone */
		static const char *const ranges[] = { "0 2147483647", "0 0" };
		for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
			FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "w");
			if (!f)
				break;
			fputs(ranges[i], f);
			if (!fclose(f))
				break;
		}
		p4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	}
	int p6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
	if (p4 < 0 || p6 < 0)
		setup_fail("ping sockets: %s (net.ipv4.ping_group_range)", strerror(errno));
	struct sockaddr_storage a4, a6, dst;
	socklen_t l4 = loopback(AF_INET, &a4, 0x4321), l6 = loopback(AF_INET6, &a6, 0x5678);
	socklen_t dl = loopback(AF_INET, &dst, 0);
	int one = 1;
	if (bind(p4, (struct sockaddr *)&a4, l4) || bind(p6, (struct sockaddr *)&a6, l6) ||
	    connect(p4, (struct sockaddr *)&dst, dl) ||
	    setsockopt(p6, SOL_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)))
		setup_fail("bind, connect: %s", strerror(errno));
	struct sockaddr_storage d6;
	socklen_t d6l = loopback(AF_INET6, &d6, 0);
	if (echo(p4, AF_INET, NULL, 0, 0x4321, 1) || echo(p6, AF_INET6, &d6, d6l, 0x5678, 1))
		setup_fail("no echo reply before the checkpoint");

	test_daemon();
	test_waitsig();

	if (!same_name(p4, &a4, l4, false) || !same_name(p6, &a6, l6, false))
		fail("a ping socket's address or identifier changed");
	/* (getpeername says ENOTCONN for a ping socket: the echo below is sent
	 * without an address, which only a connected one can) */
	if (sk_getint(p6, SOL_IPV6, IPV6_RECVHOPLIMIT) != 1)
		fail("p6: IPV6_RECVHOPLIMIT lost");
	if (echo(p4, AF_INET, NULL, 0, 0x4321, 2))
		fail("p4: no echo reply after the restore");
	if (echo(p6, AF_INET6, &d6, d6l, 0x5678, 2))
		fail("p6: no echo reply after the restore");
	return test_verdict();
}
