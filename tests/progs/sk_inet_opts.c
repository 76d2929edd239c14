/* sk_inet_opts: socket-, IP- and IPv6-level options of UDP and unconnected
 * TCP sockets, each set to a value other than its default.
 *
 * Before the checkpoint:
 *   u4  UDP, IPv4, bound to 127.0.0.1: the IP_* options, many SO_* ones
 *       (forced buffer sizes, linger, lo as its device, timestamps, busy
 *       polling...), a multicast membership (239.1.2.3 on lo);
 *   u6  UDP, IPv6 only, bound to [::1]: the IPV6_* options and a membership
 *       (ff15::1234 on lo);
 *   d6  UDP, dual-stack IPv6: some IP_* options (they act on its IPv4
 *       traffic);
 *   t4  TCP, IPv4, bound, not connected: the TCP_* options and IP_TOS;
 *   l4  UDP-Lite, IPv4, bound: its checksum coverages.
 * u4 and u6 also carry the UDP-level options (UDP_CORK with nothing queued,
 * UDP_SEGMENT, UDP_GRO, UDP_NO_CHECK6_*); d6 is an ESP-in-UDP socket
 * (UDP_ENCAP).  Byte-string options: u4 and t4 send IP options (record
 * route), u6 hop-by-hop and destination options headers (IPV6_HOPOPTS,
 * IPV6_DSTOPTS).
 * After SIGTERM: every option reads back exactly as before; the
 * memberships are there.
 */
#include <linux/net_tstamp.h>
#include <netinet/udp.h>
#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include "sk_opts_util.h"

#ifndef IPV6_FLOWINFO_SEND
#define IPV6_FLOWINFO_SEND 33	/* linux/in6.h */
#endif
#ifndef IPV6_PREFER_SRC_TMP
#define IPV6_PREFER_SRC_TMP 0x0001	/* linux/in6.h */
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103		/* linux/udp.h */
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef UDP_NO_CHECK6_TX
#define UDP_NO_CHECK6_TX 101
#define UDP_NO_CHECK6_RX 102
#endif
#ifndef UDPLITE_SEND_CSCOV
#define UDPLITE_SEND_CSCOV 10	/* linux/udp.h */
#define UDPLITE_RECV_CSCOV 11
#endif
#ifndef SOL_UDPLITE
#define SOL_UDPLITE 136
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51	/* linux/in.h, 6.3 */
#endif

static struct iopt u4_opts[] = {
	IOPT(SOL_IP, IP_TOS, 0x10),
	IOPT(SOL_IP, IP_TTL, 33),
	IOPT(SOL_IP, IP_FREEBIND, 1),
	IOPT(SOL_IP, IP_TRANSPARENT, 1),
	IOPT(SOL_IP, IP_RECVERR, 1),
	IOPT(SOL_IP, IP_PKTINFO, 1),
	IOPT(SOL_IP, IP_RECVTOS, 1),
	IOPT(SOL_IP, IP_RECVTTL, 1),
	IOPT(SOL_IP, IP_RECVOPTS, 1),
	IOPT(SOL_IP, IP_RETOPTS, 1),
	IOPT(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE),
	IOPT(SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1),
	IOPT(SOL_IP, IP_MULTICAST_TTL, 5),
	IOPT(SOL_IP, IP_MULTICAST_LOOP, 0),
	IOPT(SOL_IP, IP_MULTICAST_ALL, 0),
	IOPT(SOL_IP, IP_RECVORIGDSTADDR, 1),
	IOPT(SOL_IP, IP_MINTTL, 2),
	IOPT(SOL_IP, IP_RECVFRAGSIZE, 1),
	IOPT(SOL_IP, IP_CHECKSUM, 1),
	IOPT(SOL_IP, IP_RECVERR_RFC4884, 1),
	IOPT(SOL_IP, IP_LOCAL_PORT_RANGE, 40000 | 50000 << 16),
	IOPT(SOL_SOCKET, SO_PRIORITY, 5),
	IOPT(SOL_SOCKET, SO_RCVLOWAT, 10),
	IOPT(SOL_SOCKET, SO_MARK, 9),
	IOPT(SOL_SOCKET, SO_BROADCAST, 1),
	IOPT(SOL_SOCKET, SO_REUSEADDR, 1),
	IOPT(SOL_SOCKET, SO_REUSEPORT, 1),
	IOPT(SOL_SOCKET, SO_OOBINLINE, 1),
	IOPT(SOL_SOCKET, SO_KEEPALIVE, 1),
	IOPT(SOL_SOCKET, SO_DONTROUTE, 1),
	IOPT(SOL_SOCKET, SO_RCVBUFFORCE, 50000),
	IOPT(SOL_SOCKET, SO_SNDBUFFORCE, 40000),
	IOPT(SOL_SOCKET, SO_TIMESTAMPNS_OLD, 1),
	IOPT(SOL_SOCKET, SO_TIMESTAMPING_OLD, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE),
	IOPT(SOL_SOCKET, SO_BUSY_POLL, 50),
	IOPT(SOL_SOCKET, SO_PREFER_BUSY_POLL, 1),
	IOPT(SOL_SOCKET, SO_INCOMING_CPU, 0),
	IOPT(SOL_SOCKET, SO_ZEROCOPY, 1),
	IOPT(SOL_SOCKET, SO_RXQ_OVFL, 1),
	IOPT(SOL_SOCKET, SO_WIFI_STATUS, 1),
	IOPT(SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1),
	IOPT(SOL_SOCKET, SO_RCVMARK, 1),
	IOPT64(SOL_SOCKET, SO_MAX_PACING_RATE, 1000000),
	/* struct sock_txtime: CLOCK_MONOTONIC, SOF_TXTIME_REPORT_ERRORS */
	IOPT64(SOL_SOCKET, SO_TXTIME, 1 | (int64_t)SOF_TXTIME_REPORT_ERRORS << 32),
	IOPT(SOL_UDP, UDP_CORK, 1),
	IOPT(SOL_UDP, UDP_SEGMENT, 1200),
	IOPT(SOL_UDP, UDP_GRO, 1),
};

static struct iopt u6_opts[] = {
	IOPT(SOL_IPV6, IPV6_V6ONLY, 1),
	IOPT(SOL_IPV6, IPV6_UNICAST_HOPS, 17),
	IOPT(SOL_IPV6, IPV6_TCLASS, 0x20),
	IOPT(SOL_IPV6, IPV6_RECVPKTINFO, 1),
	IOPT(SOL_IPV6, IPV6_RECVHOPLIMIT, 1),
	IOPT(SOL_IPV6, IPV6_RECVTCLASS, 1),
	IOPT(SOL_IPV6, IPV6_RECVRTHDR, 1),
	IOPT(SOL_IPV6, IPV6_RECVHOPOPTS, 1),
	IOPT(SOL_IPV6, IPV6_RECVDSTOPTS, 1),
	IOPT(SOL_IPV6, IPV6_RECVPATHMTU, 1),
	IOPT(SOL_IPV6, IPV6_2292PKTINFO, 1),
	IOPT(SOL_IPV6, IPV6_MULTICAST_HOPS, 4),
	IOPT(SOL_IPV6, IPV6_MULTICAST_LOOP, 0),
	IOPT(SOL_IPV6, IPV6_MULTICAST_IF, 1),
	IOPT(SOL_IPV6, IPV6_MULTICAST_ALL, 0),
	IOPT(SOL_IPV6, IPV6_FREEBIND, 1),
	IOPT(SOL_IPV6, IPV6_TRANSPARENT, 1),
	IOPT(SOL_IPV6, IPV6_RECVERR, 1),
	IOPT(SOL_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE),
	IOPT(SOL_IPV6, IPV6_DONTFRAG, 1),
	IOPT(SOL_IPV6, IPV6_MINHOPCOUNT, 3),
	IOPT(SOL_IPV6, IPV6_RECVORIGDSTADDR, 1),
	IOPT(SOL_IPV6, IPV6_RECVFRAGSIZE, 1),
	IOPT(SOL_IPV6, IPV6_UNICAST_IF, 0x01000000),	/* htonl(lo) */
	IOPT(SOL_IPV6, IPV6_AUTOFLOWLABEL, 0),
	IOPT(SOL_IPV6, IPV6_FLOWINFO_SEND, 1),
	IOPT(SOL_IPV6, IPV6_ADDR_PREFERENCES, IPV6_PREFER_SRC_TMP),
	IOPT(SOL_SOCKET, SO_TIMESTAMP_OLD, 1),
	IOPT(SOL_UDP, UDP_NO_CHECK6_TX, 1),
	IOPT(SOL_UDP, UDP_NO_CHECK6_RX, 1),
};

static struct iopt l4_opts[] = {
	IOPT(SOL_UDPLITE, UDPLITE_SEND_CSCOV, 20),
	IOPT(SOL_UDPLITE, UDPLITE_RECV_CSCOV, 24),
};

static struct iopt d6_opts[] = {
	IOPT(SOL_IP, IP_TOS, 0x08),
	IOPT(SOL_IP, IP_TTL, 40),
	IOPT(SOL_IP, IP_MULTICAST_TTL, 3),
	IOPT(SOL_IP, IP_PKTINFO, 1),
	IOPT(SOL_IPV6, IPV6_UNICAST_HOPS, 9),
	IOPT(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP),
};

static struct iopt t4_opts[] = {
	IOPT(SOL_TCP, TCP_NODELAY, 1),
	IOPT(SOL_TCP, TCP_CORK, 1),
	IOPT(SOL_TCP, TCP_KEEPIDLE, 100),
	IOPT(SOL_TCP, TCP_KEEPINTVL, 20),
	IOPT(SOL_TCP, TCP_KEEPCNT, 4),
	IOPT(SOL_TCP, TCP_USER_TIMEOUT, 5000),
	IOPT(SOL_TCP, TCP_NOTSENT_LOWAT, 12345),
	IOPT(SOL_TCP, TCP_MAXSEG, 1000),
	IOPT(SOL_TCP, TCP_SYNCNT, 3),
	IOPT(SOL_TCP, TCP_LINGER2, 10),
	IOPT(SOL_TCP, TCP_WINDOW_CLAMP, 30000),
	IOPT(SOL_TCP, TCP_THIN_LINEAR_TIMEOUTS, 1),
	IOPT(SOL_TCP, TCP_FASTOPEN_CONNECT, 1),
	IOPT(SOL_TCP, TCP_FASTOPEN_NO_COOKIE, 1),
	IOPT(SOL_TCP, TCP_INQ, 1),
	IOPT(SOL_TCP, TCP_TX_DELAY, 100),
	IOPT(SOL_TCP, TCP_SAVE_SYN, 1),
	IOPT(SOL_TCP, TCP_DEFER_ACCEPT, 5),
	IOPT(SOL_IP, IP_TOS, 0x04),
	IOPT(SOL_SOCKET, SO_KEEPALIVE, 1),
	IOPT(SOL_SOCKET, SO_PRIORITY, 3),
	IOPT(SOL_SOCKET, SO_TXREHASH, 0),
};

/* a byte-string option: set it, and check it reads back the same */
struct bopt {
	int fd, level, name;
	const char *str;
	unsigned char val[8];
};

static int bopts_do(struct bopt *b, int n, bool check)
{
	int bad = 0;
	for (int i = 0; i < n; i++) {
		unsigned char got[64];
		socklen_t l = sizeof(got);
		if (!check && setsockopt(b[i].fd, b[i].level, b[i].name, b[i].val, sizeof(b[i].val)))
			setup_fail("setsockopt(%s): %s", b[i].str, strerror(errno));
		if (getsockopt(b[i].fd, b[i].level, b[i].name, got, &l) || l != sizeof(b[i].val) ||
		    memcmp(got, b[i].val, l)) {
			fail("%s: %u bytes, not the 8 set", b[i].str, l);
			bad++;
		}
	}
	return bad;
}

static int bound(int family, int type, int v6only)
{
	int fd = socket(family, type, 0);
	struct sockaddr_storage ss;
	socklen_t l = loopback(family, &ss, 0);
	if (fd < 0)
		return -1;
	if (family == AF_INET6 && setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		return -1;
	return bind(fd, (struct sockaddr *)&ss, l) ? -1 : fd;
}

static bool member4(int fd, const char *group)
{
	struct ip_msfilter f = { .imsf_fmode = 0 };
	socklen_t l = sizeof(f);
	inet_pton(AF_INET, group, &f.imsf_multiaddr);
	f.imsf_interface.s_addr = htonl(INADDR_LOOPBACK);
	return !getsockopt(fd, SOL_IP, IP_MSFILTER, &f, &l);
}

static bool member6(int fd, const char *group)
{
	struct group_filter f;
	memset(&f, 0, sizeof(f));
	socklen_t l = sizeof(f);
	struct sockaddr_in6 *g = (struct sockaddr_in6 *)&f.gf_group;
	g->sin6_family = AF_INET6;
	inet_pton(AF_INET6, group, &g->sin6_addr);
	f.gf_interface = if_nametoindex("lo");
	return !getsockopt(fd, SOL_IPV6, MCAST_MSFILTER, &f, &l);
}

int main(int argc, char **argv)
{
	test_doc = "socket-, IP-, IPv6- and TCP-level options of UDP and unconnected TCP sockets";
	test_init(argc, argv);
	int u4 = socket(AF_INET, SOCK_DGRAM, 0), u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	int d6 = socket(AF_INET6, SOCK_DGRAM, 0), t4 = bound(AF_INET, SOCK_STREAM, 0);
	int f4 = socket(AF_INET, SOCK_DGRAM, 0), f6 = socket(AF_INET6, SOCK_DGRAM, 0);
	int ft = socket(AF_INET, SOCK_STREAM, 0);
	int l4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	int fl = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	if (u4 < 0 || u6 < 0 || d6 < 0 || t4 < 0 || f4 < 0 || f6 < 0 || ft < 0 || l4 < 0 || fl < 0)
		setup_fail("sockets: %s", strerror(errno));
	/* IP_FREEBIND etc. before the bind, as a program would */
	iopts_set(u4, f4, u4_opts, NOPTS(u4_opts), "u4");
	struct sockaddr_storage ss;
	socklen_t l = loopback(AF_INET, &ss, 0);
	if (bind(u4, (struct sockaddr *)&ss, l))
		setup_fail("bind u4: %s", strerror(errno));
	struct linger lg = { 1, 7 };
	struct in_addr lo4 = { htonl(INADDR_LOOPBACK) };
	struct ip_mreqn mr = { .imr_ifindex = (int)if_nametoindex("lo") };
	inet_pton(AF_INET, "239.1.2.3", &mr.imr_multiaddr);
	if (setsockopt(u4, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
	    setsockopt(u4, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2) ||
	    setsockopt(u4, SOL_IP, IP_MULTICAST_IF, &lo4, sizeof(lo4)) ||
	    setsockopt(u4, SOL_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)))
		setup_fail("u4: linger, device, multicast: %s", strerror(errno));
	iopts_set(u6, f6, u6_opts, NOPTS(u6_opts), "u6");
	struct ipv6_mreq m6 = { .ipv6mr_interface = if_nametoindex("lo") };
	inet_pton(AF_INET6, "ff15::1234", &m6.ipv6mr_multiaddr);
	if (setsockopt(u6, SOL_IPV6, IPV6_JOIN_GROUP, &m6, sizeof(m6)))
		setup_fail("u6: IPV6_JOIN_GROUP: %s", strerror(errno));
	iopts_set(d6, f6, d6_opts, NOPTS(d6_opts), "d6");
	l = loopback(AF_INET6, &ss, 0);
	if (bind(u6, (struct sockaddr *)&ss, l) || bind(d6, (struct sockaddr *)&ss, l))
		setup_fail("bind u6, d6: %s", strerror(errno));
	iopts_set(t4, ft, t4_opts, NOPTS(t4_opts), "t4");
	iopts_set(l4, fl, l4_opts, NOPTS(l4_opts), "l4");
	struct sockaddr_storage ln;
	socklen_t lnl = loopback(AF_INET, &ss, 0);
	if (bind(l4, (struct sockaddr *)&ss, lnl) || getsockname(l4, (struct sockaddr *)&ln, &lnl))
		setup_fail("bind l4: %s", strerror(errno));
	if (setsockopt(t4, SOL_TCP, TCP_CONGESTION, "reno", 4))
		setup_fail("t4: TCP_CONGESTION reno: %s", strerror(errno));
	if (!member4(u4, "239.1.2.3") || !member6(u6, "ff15::1234") || member4(f4, "239.1.2.3"))
		setup_fail("membership probes do not work here");
	/* record route with two slots (NOP-padded); PadN options */
	struct bopt bo[] = {
		{ u4, SOL_IP, IP_OPTIONS, "u4 IP_OPTIONS", { 7, 7, 4, 0, 0, 0, 0, 1 } },
		{ t4, SOL_IP, IP_OPTIONS, "t4 IP_OPTIONS", { 7, 7, 4, 0, 0, 0, 0, 1 } },
		{ u6, SOL_IPV6, IPV6_HOPOPTS, "u6 IPV6_HOPOPTS", { 0, 0, 1, 4, 0, 0, 0, 0 } },
		{ u6, SOL_IPV6, IPV6_DSTOPTS, "u6 IPV6_DSTOPTS", { 0, 0, 1, 4, 0, 0, 0, 0 } },
	};
	if (bopts_do(bo, NOPTS(bo), false))
		setup_fail("byte-string options do not read back here");
	close(f4);
	close(f6);
	close(ft);
	close(fl);

	test_daemon();
	test_waitsig();

	iopts_check(u4, u4_opts, NOPTS(u4_opts), "u4");
	iopts_check(u6, u6_opts, NOPTS(u6_opts), "u6");
	iopts_check(d6, d6_opts, NOPTS(d6_opts), "d6");
	iopts_check(t4, t4_opts, NOPTS(t4_opts), "t4");
	iopts_check(l4, l4_opts, NOPTS(l4_opts), "l4");
	bopts_do(bo, NOPTS(bo), true);
	int proto = 0;
	socklen_t pl = sizeof(proto);
	struct sockaddr_storage ln2;
	socklen_t lnl2 = sizeof(ln2);
	if (getsockopt(l4, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) || proto != IPPROTO_UDPLITE)
		fail("l4: SO_PROTOCOL is %d, not UDP-Lite", proto);
	if (getsockname(l4, (struct sockaddr *)&ln2, &lnl2) || lnl2 != lnl || memcmp(&ln, &ln2, lnl))
		fail("l4: its name changed");
	struct linger lg2 = { 0, 0 };
	socklen_t ll = sizeof(lg2);
	if (getsockopt(u4, SOL_SOCKET, SO_LINGER, &lg2, &ll) || lg2.l_onoff != 1 || lg2.l_linger != 7)
		fail("u4: SO_LINGER is %d/%d, was 1/7", lg2.l_onoff, lg2.l_linger);
	char dev[IFNAMSIZ] = "";
	socklen_t dl = sizeof(dev);
	if (getsockopt(u4, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl) || strcmp(dev, "lo"))
		fail("u4: SO_BINDTODEVICE is \"%s\", not lo", dev);
	struct in_addr mif = { 0 };
	socklen_t ml = sizeof(mif);
	if (getsockopt(u4, SOL_IP, IP_MULTICAST_IF, &mif, &ml) || mif.s_addr != lo4.s_addr)
		fail("u4: IP_MULTICAST_IF is %s, not 127.0.0.1", inet_ntoa(mif));
	if (!member4(u4, "239.1.2.3"))
		fail("u4: no longer a member of 239.1.2.3 on lo");
	if (!member6(u6, "ff15::1234"))
		fail("u6: no longer a member of ff15::1234 on lo");
	char cc[16] = "";
	socklen_t cl = sizeof(cc);
	if (getsockopt(t4, SOL_TCP, TCP_CONGESTION, cc, &cl) || strcmp(cc, "reno"))
		fail("t4: TCP_CONGESTION is \"%s\", not reno", cc);
	return test_verdict();
}
