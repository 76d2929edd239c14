/* ns_netdev: devices of a network namespace beyond lo and veth, and its
 * static neighbours (the test unshares a network namespace and sets it up):
 *   - a bridge cryo-br0 (STP off, forward delay 7 s, hello 3 s, max age
 *     11 s, ageing 123 s, priority 0x1234, MAC, MTU) whose ports are
 *     cryo-x1 and cryo-y1, the peers of veths cryo-x0 and cryo-y0: after
 *     restore a frame sent on cryo-x0 (a packet socket) reaches cryo-y0
 *     through the bridge;
 *   - a macvlan cryo-mvi (mode bridge) on cryo-x0;
 *   - static neighbours on cryo-x0: IPv4 and IPv6 `nud permanent` and an
 *     IPv4 proxy entry; a dynamic (`nud reachable`) one, which is not saved;
 *   - tun/tap: a persistent tap cryo-tap0 no file holds (owner 1234, group
 *     4321, IFF_VNET_HDR, vnet header size 12, MAC, MTU 1400); a tun
 *     cryo-tun0 (IFF_NO_PI, not persistent, sndbuf 32768) held by the
 *     test's descriptor, with an address: after restore a datagram sent to its
 *     subnet is read from the descriptor, and the device goes away with it;
 *     a multi-queue tap cryo-mq0 with two queues, the second detached
 *     (TUNSETQUEUE IFF_DETACH_QUEUE), its file O_NONBLOCK; a /dev/net/tun
 *     descriptor never attached.
 * With --macvlan, instead: a veth cryo-v0 whose peer cryo-ndPID is in the
 * namespace the test started in, and a macvlan cryo-mv0 (mode private,
 * MAC, MTU) made there on cryo-ndPID and moved in (restored with --external
 * veth[cryo-v0]:HOST --external macvlan[cryo-mv0]:HOST).
 * With --hosttun: no namespace of its own, a tun file of a device in
 * cryo's namespace (refused). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool macvlan;
TEST_OPTION(macvlan, bool, "a veth to the outside and a macvlan on its host end", 0);
static bool hosttun;
TEST_OPTION(hosttun, bool, "a tun device in the namespace the test started in (refused)", 0);

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("%s: failed (%d)", cmd, st);
}

/* the output of a command, into @out */
static void run_out(char *out, size_t size, const char *fmt, ...)
{
	char cmd[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	size_t n = f ? fread(out, 1, size - 1, f) : 0;
	out[n] = '\0';
	if (f)
		pclose(f);
}

static void expect_in(const char *what, const char *out, const char *want)
{
	if (!strstr(out, want))
		fail("%s: \"%s\" lacks \"%s\"", what, out, want);
}

static int tun_open(const char *name, int flags, const char *what)
{
	int fd = open("/dev/net/tun", O_RDWR);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr))
		setup_fail("%s: TUNSETIFF %s: %s", what, name, strerror(errno));
	return fd;
}

static int packet_sock(const char *dev)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));	/* local experimental */
	struct sockaddr_ll sl = { .sll_family = AF_PACKET, .sll_protocol = htons(0x88b5),
				  .sll_ifindex = if_nametoindex(dev) };
	if (s < 0 || bind(s, (struct sockaddr *)&sl, sizeof(sl)))
		fail("packet socket on %s: %s", dev, strerror(errno));
	return s;
}

/* a frame sent on cryo-x0 comes out of cryo-y0: through cryo-br0 */
static void check_bridge_forwards(void)
{
	int rx = packet_sock("cryo-y0"), tx = packet_sock("cryo-x0");
	unsigned char f[64] = { 0x02, 0, 0, 0x77, 0x10, 0x02,	/* cryo-y0's MAC */
				0x02, 0, 0, 0x77, 0x10, 0x01, 0x88, 0xb5 };
	memcpy(f + 14, "through-the-bridge", 18);
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(tx, f, sizeof(f), 0) != sizeof(f)) {
		fail("send on cryo-x0: %s", strerror(errno));
		return;
	}
	unsigned char got[128];
	for (;;) {
		ssize_t n = recv(rx, got, sizeof(got), 0);
		if (n < 0) {
			fail("no frame came out of cryo-y0 through the bridge: %s", strerror(errno));
			break;
		}
		if (n >= 32 && !memcmp(got + 14, "through-the-bridge", 18))
			break;
	}
	close(rx);
	close(tx);
}

static void check_tun_attached(int fd, const char *want, int flags, const char *what)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr))
		fail("%s: TUNGETIFF: %s", what, strerror(errno));
	else if (strcmp(ifr.ifr_name, want) || (ifr.ifr_flags & ~IFF_PERSIST) != flags)
		fail("%s: attached to %s (flags 0x%x), not %s (0x%x)", what, ifr.ifr_name,
		     ifr.ifr_flags, want, flags);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (hosttun) {
		int fd = tun_open("cryo-htun0", IFF_TUN | IFF_NO_PI, "host tun");
		test_daemon();
		test_waitsig();
		check_tun_attached(fd, "cryo-htun0", IFF_TUN | IFF_NO_PI, "the host tun");
		pass();
		return 0;
	}
	char host_if[16];	/* its own: the last run's may still be going away */
	snprintf(host_if, sizeof(host_if), "cryo-nd%d", getpid() % 10000000);
	int host_ns = open("/proc/self/ns/net", O_RDONLY);
	if (host_ns < 0 || unshare(CLONE_NEWNET))
		setup_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
	int own_ns = open("/proc/self/ns/net", O_RDONLY);
	struct stat made;
	if (own_ns < 0 || fstat(own_ns, &made))
		setup_fail("open /proc/self/ns/net: %s", strerror(errno));
	sh("/sbin/ip link set lo up");
	unsigned mv_index = 0;
	if (macvlan) {
		sh("/sbin/ip link add cryo-v0 type veth peer name %s netns /proc/%d/fd/%d", host_if,
		   getpid(), host_ns);
		sh("/sbin/ip link set cryo-v0 up");
		/* made on the host end, in the namespace the test started in */
		if (setns(host_ns, CLONE_NEWNET))
			setup_fail("setns back: %s", strerror(errno));
		sh("/sbin/ip link add cryo-mv0 link %s address 02:00:00:77:20:01 netns /proc/%d/fd/%d "
		   "type macvlan mode private", host_if, getpid(), own_ns);
		if (setns(own_ns, CLONE_NEWNET))
			setup_fail("setns into its own: %s", strerror(errno));
		close(host_ns);	/* a file of a namespace not the tree's: refused */
		close(own_ns);
		sh("/sbin/ip link set cryo-mv0 mtu 1450 up");
		mv_index = if_nametoindex("cryo-mv0");
		test_daemon();
		test_waitsig();
		char out[1024];
		run_out(out, sizeof(out), "/sbin/ip -d -o link show cryo-mv0");
		expect_in("cryo-mv0", out, "macvlan mode private");
		expect_in("cryo-mv0", out, "02:00:00:77:20:01");
		expect_in("cryo-mv0", out, "mtu 1450");
		expect_in("cryo-mv0", out, ",UP");
		if (if_nametoindex("cryo-mv0") != mv_index)
			fail("cryo-mv0 has index %u, not %u", if_nametoindex("cryo-mv0"), mv_index);
		pass();
		return 0;
	}

	close(host_ns);
	close(own_ns);
	/* the bridge and its ports */
	sh("/sbin/ip link add cryo-x0 address 02:00:00:77:10:01 type veth peer name cryo-x1");
	sh("/sbin/ip link add cryo-y0 address 02:00:00:77:10:02 type veth peer name cryo-y1");
	/* STP off: its ports forward at once (with it, after 2 x forward delay) */
	sh("/sbin/ip link add cryo-br0 address 02:00:00:77:10:10 type bridge stp_state 0 "
	   "forward_delay 700 hello_time 300 max_age 1100 ageing_time 12300 priority 4660");
	sh("/sbin/ip link set cryo-x1 master cryo-br0");
	sh("/sbin/ip link set cryo-y1 master cryo-br0");
	sh("/sbin/ip link set cryo-br0 mtu 1400");	/* its own, not its ports' */
	for (const char *const *d = (const char *const[]){ "cryo-x0", "cryo-x1", "cryo-y0",
							    "cryo-y1", "cryo-br0", NULL }; *d; d++)
		sh("/sbin/ip link set %s up", *d);
	check_bridge_forwards();	/* the test's own setup works */
	/* a macvlan whose lower device is in the namespace too */
	sh("/sbin/ip link add cryo-mvi link cryo-x0 address 02:00:00:77:20:02 type macvlan mode "
	   "bridge");

	/* neighbours */
	sh("/sbin/ip addr add 10.77.1.1/24 dev cryo-x0");
	sh("/sbin/ip neigh add 10.77.1.5 lladdr 02:00:00:77:00:05 dev cryo-x0 nud permanent");
	sh("/sbin/ip -6 neigh add fd00:77:1::5 lladdr 02:00:00:77:00:06 dev cryo-x0 nud permanent");
	sh("/sbin/ip neigh add proxy 10.77.1.9 dev cryo-x0");
	sh("/sbin/ip neigh add 10.77.1.6 lladdr 02:00:00:77:00:07 dev cryo-x0 nud reachable");

	/* tun/tap */
	int tap = tun_open("cryo-tap0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, "persistent tap");
	int sndbuf = 65536, hdrsz = 12;
	if (ioctl(tap, TUNSETOWNER, 1234L) || ioctl(tap, TUNSETGROUP, 4321L) ||
	    ioctl(tap, TUNSETSNDBUF, &sndbuf) || ioctl(tap, TUNSETVNETHDRSZ, &hdrsz) ||
	    ioctl(tap, TUNSETPERSIST, 1L))
		setup_fail("cryo-tap0 settings: %s", strerror(errno));
	close(tap);
	sh("/sbin/ip link set cryo-tap0 address 02:00:00:77:30:01 mtu 1400 up");
	unsigned tap_index = if_nametoindex("cryo-tap0");
	int tun = tun_open("cryo-tun0", IFF_TUN | IFF_NO_PI, "tun");
	sndbuf = 32768;
	if (ioctl(tun, TUNSETSNDBUF, &sndbuf))
		setup_fail("cryo-tun0: TUNSETSNDBUF: %s", strerror(errno));
	sh("/sbin/ip addr add 10.77.2.1/24 dev cryo-tun0");
	sh("/sbin/ip link set cryo-tun0 up");
	unsigned tun_index = if_nametoindex("cryo-tun0");
	int mqf = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
	int q0 = tun_open("cryo-mq0", mqf, "mq queue 0");
	int q1 = tun_open("cryo-mq0", mqf, "mq queue 1");
	int bare = open("/dev/net/tun", O_RDWR);	/* never attached */
	if (bare < 0)
		setup_fail("open /dev/net/tun: %s", strerror(errno));
	struct ifreq dq = { .ifr_flags = IFF_DETACH_QUEUE };
	if (ioctl(q1, TUNSETQUEUE, &dq) || fcntl(q1, F_SETFL, O_NONBLOCK))
		setup_fail("detach queue 1 of cryo-mq0: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	char out[2048];
	/* bridge */
	run_out(out, sizeof(out), "/sbin/ip -d -o link show cryo-br0");
	expect_in("cryo-br0", out, "02:00:00:77:10:10");
	expect_in("cryo-br0", out, "mtu 1400");
	expect_in("cryo-br0", out, "forward_delay 700 hello_time 300 max_age 1100 ageing_time 12300");
	expect_in("cryo-br0", out, "stp_state 0 priority 4660");
	for (const char *const *p = (const char *const[]){ "cryo-x1", "cryo-y1", NULL }; *p; p++) {
		run_out(out, sizeof(out), "/sbin/ip -o link show %s", *p);
		expect_in(*p, out, "master cryo-br0");
		expect_in(*p, out, ",UP");
	}
	check_bridge_forwards();
	run_out(out, sizeof(out), "/sbin/ip -d -o link show cryo-mvi");
	expect_in("cryo-mvi", out, "cryo-mvi@cryo-x0:");
	expect_in("cryo-mvi", out, "02:00:00:77:20:02");
	expect_in("cryo-mvi", out, "macvlan mode bridge");

	/* neighbours: the static ones back, the dynamic one not */
	run_out(out, sizeof(out), "/sbin/ip neigh show dev cryo-x0 nud permanent");
	expect_in("IPv4 neighbours", out, "10.77.1.5 lladdr 02:00:00:77:00:05 PERMANENT");
	run_out(out, sizeof(out), "/sbin/ip -6 neigh show dev cryo-x0 nud permanent");
	expect_in("IPv6 neighbours", out, "fd00:77:1::5 lladdr 02:00:00:77:00:06 PERMANENT");
	run_out(out, sizeof(out), "/sbin/ip neigh show proxy");
	expect_in("proxy neighbours", out, "10.77.1.9 dev cryo-x0 proxy");
	/* (in the namespace it made, after a refused dump, the entry is there) */
	struct stat now;
	run_out(out, sizeof(out), "/sbin/ip neigh show 10.77.1.6");
	if (!stat("/proc/self/ns/net", &now) && now.st_ino != made.st_ino && out[0])
		fail("the dynamic neighbour 10.77.1.6 was restored: %s", out);

	/* the persistent tap, no file of the test's */
	if (if_nametoindex("cryo-tap0") != tap_index)
		fail("cryo-tap0 has index %u, not %u", if_nametoindex("cryo-tap0"), tap_index);
	run_out(out, sizeof(out), "/sbin/ip -d -o link show cryo-tap0");
	expect_in("cryo-tap0", out, "tun type tap pi off vnet_hdr on persist on user 1234 group 4321");
	expect_in("cryo-tap0", out, "02:00:00:77:30:01");
	expect_in("cryo-tap0", out, "mtu 1400");
	tap = open("/dev/net/tun", O_RDWR);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "cryo-tap0");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	hdrsz = 0;
	if (tap < 0 || ioctl(tap, TUNSETIFF, &ifr) || ioctl(tap, TUNGETVNETHDRSZ, &hdrsz))
		fail("attach to cryo-tap0: %s", strerror(errno));
	else if (hdrsz != 12)
		fail("cryo-tap0: vnet header size %d, not 12", hdrsz);
	if (tap >= 0)
		close(tap);

	/* the tun held by the test: attached, not persistent, carries data */
	check_tun_attached(tun, "cryo-tun0", IFF_TUN | IFF_NO_PI, "the tun descriptor");
	if (if_nametoindex("cryo-tun0") != tun_index)
		fail("cryo-tun0 has index %u, not %u", if_nametoindex("cryo-tun0"), tun_index);
	run_out(out, sizeof(out), "/sbin/ip -d -o link show cryo-tun0");
	expect_in("cryo-tun0", out, "tun type tun pi off vnet_hdr off persist off");
	sndbuf = 0;
	if (ioctl(tun, TUNGETSNDBUF, &sndbuf) || sndbuf != 32768)
		fail("the tun descriptor's sndbuf is %d, not 32768", sndbuf);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(7709) };
	inet_pton(AF_INET, "10.77.2.2", &to.sin_addr);
	if (sendto(u, "into-the-tun", 12, 0, (struct sockaddr *)&to, sizeof(to)) != 12)
		fail("send to 10.77.2.2 (through cryo-tun0): %s", strerror(errno));
	close(u);
	char pkt[256];
	for (;;) {	/* IPv6 router solicitations may come first */
		ssize_t n = read(tun, pkt, sizeof(pkt));
		if (n < 0) {
			fail("read from the tun descriptor: %s", strerror(errno));
			break;
		}
		if (n >= 40 && (pkt[0] >> 4) == 4 && !memcmp(pkt + n - 12, "into-the-tun", 12))
			break;
	}

	/* the multi-queue tap: queue 0 attached, queue 1 detached */
	run_out(out, sizeof(out), "/sbin/ip -d -o link show cryo-mq0");
	expect_in("cryo-mq0", out, "tun type tap pi off vnet_hdr off multi_queue numqueues 1 "
		  "numdisabled 1 persist off");
	check_tun_attached(q0, "cryo-mq0", mqf, "queue 0 of cryo-mq0");
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(q1, TUNGETIFF, &ifr) || !(ifr.ifr_flags & IFF_DETACH_QUEUE))
		fail("queue 1 of cryo-mq0 is not a detached queue (%s, flags 0x%x)", ifr.ifr_name,
		     ifr.ifr_flags);
	struct ifreq aq = { .ifr_flags = IFF_ATTACH_QUEUE };
	if (ioctl(q1, TUNSETQUEUE, &aq))
		fail("queue 1: TUNSETQUEUE IFF_ATTACH_QUEUE: %s (not a detached queue)",
		     strerror(errno));
	else
		check_tun_attached(q1, "cryo-mq0", mqf, "queue 1 of cryo-mq0, attached again");
	if (!(fcntl(q1, F_GETFL) & O_NONBLOCK))
		fail("queue 1 of cryo-mq0 lost O_NONBLOCK");

	memset(&ifr, 0, sizeof(ifr));
	if (!ioctl(bare, TUNGETIFF, &ifr) || errno != EBADFD)
		fail("the bare /dev/net/tun descriptor is attached (%s) or no tun file", ifr.ifr_name);

	/* the tun goes with its last descriptor: it was not persistent */
	close(tun);
	if (if_nametoindex("cryo-tun0"))
		fail("cryo-tun0 outlived its descriptor: it was left persistent");
	pass();
	return 0;
}
