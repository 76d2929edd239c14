/* sk_netlink: netlink sockets.
 *
 * Before the checkpoint: a NETLINK_ROUTE socket bound to an explicit port
 * id with groups RTNLGRP_LINK (bind) and RTNLGRP_BRVLAN (33, beyond the
 * first word, joined with NETLINK_ADD_MEMBERSHIP), O_NONBLOCK and a larger
 * SO_RCVBUF; an autobound NETLINK_ROUTE socket (port id from its first
 * request) with the flags iproute2 and libnl set (NETLINK_EXT_ACK,
 * NETLINK_GET_STRICT_CHK, NETLINK_CAP_ACK, NETLINK_NO_ENOBUFS, ...); an
 * unbound NETLINK_GENERIC socket.
 * After SIGTERM: the port ids, memberships, options and flags are the same,
 * and each socket can still talk to the kernel (RTM_GETLINK dump answered,
 * genetlink family lookup answered).
 */
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static uint32_t portid(int s)
{
	struct sockaddr_nl a = { 0 };
	socklen_t l = sizeof(a);
	getsockname(s, (struct sockaddr *)&a, &l);
	return a.nl_pid;
}

static int groups(int s, uint32_t *g, int n)
{
	socklen_t l = n * sizeof(*g);
	memset(g, 0, l);
	return getsockopt(s, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g, &l);
}

/* send a request and wait for any answer of the kernel */
static int ask(int s, uint16_t type, uint16_t flags, const void *payload, size_t plen)
{
	struct {
		struct nlmsghdr h;
		char p[64];
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(plen), .nlmsg_type = type,
			 .nlmsg_flags = NLM_F_REQUEST | flags, .nlmsg_seq = 7 } };
	memcpy(req.p, payload, plen);
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	if (sendto(s, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&k, sizeof(k)) < 0)
		return -1;
	struct pollfd p = { s, POLLIN, 0 };
	if (poll(&p, 1, 5000) != 1)
		return -1;
	char buf[32768];
	ssize_t n = recv(s, buf, sizeof(buf), 0);
	if (n < (ssize_t)sizeof(struct nlmsghdr))
		return -1;
	/* drain the rest of a dump */
	while (recv(s, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	return 0;
}

static int ask_links(int s)
{
	struct rtgenmsg g = { .rtgen_family = AF_UNSPEC };
	return ask(s, RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g));
}

int main(int argc, char **argv)
{
	test_doc = "netlink sockets: port ids, groups, options";
	test_init(argc, argv);

	int a = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	int b = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	int c = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_GENERIC);
	if (a < 0 || b < 0 || c < 0)
		setup_fail("socket: %s", strerror(errno));
	uint32_t want_port = 0x40000000u + (getpid() & 0xffff);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = want_port,
				  .nl_groups = 1u << (RTNLGRP_LINK - 1) };
	if (bind(a, (struct sockaddr *)&sa, sizeof(sa)))
		setup_fail("bind: %s", strerror(errno));
	int g = 33;
	if (setsockopt(a, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)))
		setup_fail("NETLINK_ADD_MEMBERSHIP: %s", strerror(errno));
	int rcv = 1 << 20;
	setsockopt(a, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	fcntl(a, F_SETFL, O_NONBLOCK);
	if (ask_links(b))
		setup_fail("RTM_GETLINK on the autobound socket");
	static const int nlflags[] = { NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR,
				       NETLINK_NO_ENOBUFS, NETLINK_LISTEN_ALL_NSID,
				       NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK };
	int one = 1;
	for (unsigned i = 0; i < sizeof(nlflags) / sizeof(nlflags[0]); i++) {
		int v = -1;
		socklen_t vl = sizeof(v);
		if (setsockopt(b, SOL_NETLINK, nlflags[i], &one, sizeof(one)) ||
		    getsockopt(b, SOL_NETLINK, nlflags[i], &v, &vl) || v != 1 ||
		    getsockopt(c, SOL_NETLINK, nlflags[i], &v, &vl) || v != 0)
			setup_fail("netlink flag %d: %s", nlflags[i], strerror(errno));
	}
	uint32_t ga[4], pa = portid(a), pb = portid(b), pc = portid(c);
	groups(a, ga, 4);
	int rcv_a;
	socklen_t l = sizeof(rcv_a);
	getsockopt(a, SOL_SOCKET, SO_RCVBUF, &rcv_a, &l);

	test_daemon();
	test_waitsig();

	if (portid(a) != pa || portid(b) != pb || portid(c) != pc)
		fail("port ids changed: %u %u %u, were %u %u %u", portid(a), portid(b), portid(c),
		     pa, pb, pc);
	uint32_t gn[4];
	if (groups(a, gn, 4) || memcmp(ga, gn, sizeof(ga)))
		fail("memberships changed: %#x %#x, were %#x %#x", gn[0], gn[1], ga[0], ga[1]);
	int r;
	l = sizeof(r);
	if (getsockopt(a, SOL_SOCKET, SO_RCVBUF, &r, &l) || r != rcv_a)
		fail("SO_RCVBUF is %d, was %d", r, rcv_a);
	for (unsigned i = 0; i < sizeof(nlflags) / sizeof(nlflags[0]); i++) {
		int vb = -1, vc = -1;
		socklen_t vl = sizeof(vb);
		getsockopt(b, SOL_NETLINK, nlflags[i], &vb, &vl);
		vl = sizeof(vc);
		getsockopt(c, SOL_NETLINK, nlflags[i], &vc, &vl);
		if (vb != 1 || vc != 0)
			fail("netlink flag %d is %d on b (was 1), %d on c (was 0)", nlflags[i], vb, vc);
	}
	if (!(fcntl(a, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK lost");
	fcntl(a, F_SETFL, 0);
	if (ask_links(a) || ask_links(b))
		fail("the route sockets get no answer from the kernel");
	struct {
		struct genlmsghdr g;
		struct nlattr a;
		char name[8];
	} gq = { .g = { .cmd = CTRL_CMD_GETFAMILY, .version = 1 },
		 .a = { .nla_len = NLA_HDRLEN + 6, .nla_type = CTRL_ATTR_FAMILY_NAME },
		 .name = "nlctrl" };
	if (ask(c, GENL_ID_CTRL, 0, &gq, sizeof(gq)))
		fail("the generic netlink socket gets no answer");
	return test_verdict();
}
