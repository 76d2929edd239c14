/* sk_packet: AF_PACKET sockets (needs CAP_NET_RAW).
 *
 * Before the checkpoint: a SOCK_RAW socket for ETH_P_ALL bound to the
 * loopback interface with TPACKET_V2, PACKET_AUXDATA and a promiscuous
 * membership on lo; a SOCK_DGRAM socket for ETH_P_IP, not bound, in a
 * hash fanout group, with PACKET_ORIGDEV, PACKET_TIMESTAMP,
 * PACKET_QDISC_BYPASS and PACKET_IGNORE_OUTGOING.
 * (--mode ring: a receive ring, not mapped, is set up instead; sk_packet_ring
 * has mapped rings.  --mode fanout_bpf: the datagram socket's fanout group is
 * steered by a classic BPF program, which can't be read back: refused.)
 * After SIGTERM: protocol and interface (getsockname), options and
 * membership are the same, and the raw socket sees a UDP datagram sent to
 * 127.0.0.1.
 */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/net_tstamp.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *mode = "plain";
TEST_OPTION(mode, string, "plain, ring or fanout_bpf", 0);

static int getopt_int(int s, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	getsockopt(s, SOL_PACKET, opt, &v, &l);
	return v;
}

static void check_name(int s, int proto, int ifindex, const char *what)
{
	struct sockaddr_ll a = { 0 };
	socklen_t l = sizeof(a);
	if (getsockname(s, (struct sockaddr *)&a, &l))
		fail_errno("%s: getsockname", what);
	else if (a.sll_protocol != htons(proto) || a.sll_ifindex != ifindex)
		fail("%s: protocol %#x interface %d, expected %#x %d", what, ntohs(a.sll_protocol),
		     a.sll_ifindex, proto, ifindex);
}

int main(int argc, char **argv)
{
	test_doc = "packet sockets bound to loopback";
	test_init(argc, argv);
	int lo = if_nametoindex("lo");
	int r = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	int d = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	if (r < 0 || d < 0 || !lo)
		setup_fail("socket(AF_PACKET): %s", strerror(errno));
	int fan = (getpid() & 0xffff) | PACKET_FANOUT_HASH << 16;
	if (!strcmp(mode, "fanout_bpf")) {
		/* return 0: every frame to the group's first socket */
		struct sock_filter f[1] = { BPF_STMT(BPF_RET | BPF_K, 0) };
		struct sock_fprog fp = { 1, f };
		fan = (getpid() & 0xffff) | PACKET_FANOUT_CBPF << 16;
		if (setsockopt(d, SOL_PACKET, PACKET_FANOUT, &fan, sizeof(fan)) ||
		    setsockopt(d, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof(fp)))
			setup_fail("PACKET_FANOUT(CBPF): %s", strerror(errno));
	} else if (!strcmp(mode, "plain")) {
		int one = 1, ts = SOF_TIMESTAMPING_RAW_HARDWARE;
		if (setsockopt(d, SOL_PACKET, PACKET_FANOUT, &fan, sizeof(fan)) ||
		    setsockopt(d, SOL_PACKET, PACKET_ORIGDEV, &one, sizeof(one)) ||
		    setsockopt(d, SOL_PACKET, PACKET_TIMESTAMP, &ts, sizeof(ts)) ||
		    setsockopt(d, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) ||
		    setsockopt(d, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)))
			setup_fail("datagram socket options: %s", strerror(errno));
	}
	if (!strcmp(mode, "ring")) {
		int v = TPACKET_V2;
		setsockopt(r, SOL_PACKET, PACKET_VERSION, &v, sizeof(v));
		struct tpacket_req req = { .tp_block_size = 4096, .tp_block_nr = 4,
					   .tp_frame_size = 2048, .tp_frame_nr = 8 };
		if (setsockopt(r, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
			setup_fail("PACKET_RX_RING: %s", strerror(errno));
	} else {
		int v = TPACKET_V2, one = 1;
		if (setsockopt(r, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) ||
		    setsockopt(r, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)))
			setup_fail("packet options: %s", strerror(errno));
		struct packet_mreq mr = { .mr_ifindex = lo, .mr_type = PACKET_MR_PROMISC };
		if (setsockopt(r, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
			setup_fail("PACKET_ADD_MEMBERSHIP: %s", strerror(errno));
	}
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				 .sll_ifindex = lo };
	if (bind(r, (struct sockaddr *)&a, sizeof(a)))
		setup_fail("bind to lo: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	if (!strcmp(mode, "ring")) {
		/* the refused dump left it as it was */
		check_name(r, ETH_P_ALL, lo, "packet socket with a ring");
		return test_verdict();
	}
	if (getopt_int(d, PACKET_FANOUT) != fan)
		fail("d: PACKET_FANOUT is %#x, was %#x", getopt_int(d, PACKET_FANOUT), fan);
	if (!strcmp(mode, "fanout_bpf"))
		return test_verdict();
	if (getopt_int(d, PACKET_ORIGDEV) != 1 || getopt_int(d, PACKET_QDISC_BYPASS) != 1 ||
	    getopt_int(d, PACKET_IGNORE_OUTGOING) != 1 ||
	    getopt_int(d, PACKET_TIMESTAMP) != SOF_TIMESTAMPING_RAW_HARDWARE)
		fail("d: PACKET_ORIGDEV %d, QDISC_BYPASS %d, IGNORE_OUTGOING %d, TIMESTAMP %#x",
		     getopt_int(d, PACKET_ORIGDEV), getopt_int(d, PACKET_QDISC_BYPASS),
		     getopt_int(d, PACKET_IGNORE_OUTGOING), getopt_int(d, PACKET_TIMESTAMP));
	check_name(r, ETH_P_ALL, lo, "raw packet socket");
	check_name(d, ETH_P_IP, 0, "datagram packet socket");
	if (getopt_int(r, PACKET_VERSION) != TPACKET_V2)
		fail("PACKET_VERSION is %d", getopt_int(r, PACKET_VERSION));
	if (getopt_int(r, PACKET_AUXDATA) != 1)
		fail("PACKET_AUXDATA is lost");
	/* frames queued before the checkpoint are not kept: drain, then send */
	char buf[2048];
	while (recv(r, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char marker[] = "cryo-sk-packet-marker";
	bool seen = false;
	for (int tries = 0; tries < 5 && !seen; tries++) {
		sendto(u, marker, sizeof(marker), 0, (struct sockaddr *)&to, sizeof(to));
		struct pollfd p = { r, POLLIN, 0 };
		while (!seen && poll(&p, 1, 500) == 1) {
			ssize_t n = recv(r, buf, sizeof(buf), 0);
			seen = n > 0 && memmem(buf, n, marker, sizeof(marker));
		}
	}
	if (!seen)
		fail("the raw packet socket does not see loopback traffic");
	return test_verdict();
}
