/* sk_packet_sockpacket: obsolete SOCK_PACKET sockets (AF_PACKET, bound by
 * device name with a struct sockaddr; needs CAP_NET_RAW).
 *
 * Before the checkpoint: a SOCK_PACKET socket for ETH_P_ALL bound to "lo"
 * (fd s); one for ETH_P_IP, not bound (fd u).
 * After SIGTERM: both are SOCK_PACKET sockets (SO_TYPE) of AF_PACKET
 * (SO_DOMAIN); s is bound to "lo" (getsockname gives the device name), u
 * to nothing; both see a UDP datagram sent to 127.0.0.1 (so u still takes
 * IP frames: its protocol, which SO_PROTOCOL does not show for SOCK_PACKET)
 * and name "lo" as its source device.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

static int sockopt(int s, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	getsockopt(s, SOL_SOCKET, opt, &v, &l);
	return v;
}

static void check(int s, const char *dev, const char *what)
{
	if (sockopt(s, SO_DOMAIN) != AF_PACKET || sockopt(s, SO_TYPE) != SOCK_PACKET)
		fail("%s: domain %d type %d, expected %d %d", what, sockopt(s, SO_DOMAIN),
		     sockopt(s, SO_TYPE), AF_PACKET, SOCK_PACKET);
	struct sockaddr a;
	memset(&a, 0, sizeof(a));
	socklen_t l = sizeof(a);
	if (getsockname(s, &a, &l))
		fail_errno("%s: getsockname", what);
	else if (a.sa_family != AF_PACKET || strncmp(a.sa_data, dev, sizeof(a.sa_data)))
		fail("%s: bound to \"%.14s\", expected \"%s\"", what, a.sa_data, dev);
}

/* Does @s see a UDP datagram to 127.0.0.1, from "lo"? */
static void see(int s, const char *what)
{
	char buf[2048];
	while (recv(s, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	int d = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char marker[] = "cryo-sk-sockpacket-marker";
	bool seen = false;
	for (int tries = 0; tries < 5 && !seen; tries++) {
		sendto(d, marker, sizeof(marker), 0, (struct sockaddr *)&to, sizeof(to));
		struct pollfd p = { s, POLLIN, 0 };
		while (!seen && poll(&p, 1, 500) == 1) {
			struct sockaddr from;
			memset(&from, 0, sizeof(from));
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(s, buf, sizeof(buf), 0, &from, &fl);
			seen = n > 0 && memmem(buf, n, marker, sizeof(marker));
			if (seen && strcmp(from.sa_data, "lo"))
				fail("%s: a frame came from \"%.14s\", expected \"lo\"", what,
				     from.sa_data);
		}
	}
	close(d);
	if (!seen)
		fail("%s does not see loopback traffic", what);
}

int main(int argc, char **argv)
{
	test_doc = "SOCK_PACKET sockets";
	test_init(argc, argv);
	int s = socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_ALL));
	int u = socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_IP));
	if (s < 0 || u < 0)
		setup_fail("socket(AF_PACKET, SOCK_PACKET): %s", strerror(errno));
	struct sockaddr a = { .sa_family = AF_PACKET };
	strcpy(a.sa_data, "lo");
	if (bind(s, &a, sizeof(a)))
		setup_fail("bind to lo: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	check(s, "lo", "bound SOCK_PACKET socket");
	check(u, "", "unbound SOCK_PACKET socket");
	see(s, "bound SOCK_PACKET socket");
	see(u, "unbound SOCK_PACKET socket");
	return test_verdict();
}
