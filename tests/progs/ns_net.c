/* ns_net: a tree in a network namespace of its own (the test unshares
 * one, sets it up with ip(8), then forks a child that shares it) is dumped
 * and restored into a new one made as it was:
 *   - lo up with MTU 60000, an extra IPv4 and IPv6 address on it, an IPv4
 *     route through a gateway, an IPv6 one with a metric;
 *   - an iptables rule (INPUT: drop 10.99.0.0/16);
 *   - sysctls: net.core.somaxconn, net.unix.max_dgram_qlen,
 *     net.ipv4.conf.all.log_martians, net.ipv4.conf.lo.route_localnet,
 *     net.ipv6.conf.lo.hop_limit;
 *   - a TCP connection over the extra address with unread data both ways,
 *     its listener (still listening), a bound UDP socket with a datagram
 *     queued, and a unix datagram socket on an abstract name (abstract
 *     names are per network namespace);
 *   - with --nsfd: descriptors held on /proc/self/ns/net and on
 *     /proc/self/ns/uts (cryo's own UTS namespace), which must name the
 *     restored network namespace and the UTS namespace the process is in.
 * On SIGTERM each is checked exactly, in a namespace that is not the one
 * the test started in, shared by the child.
 *   --hostfd    hold a descriptor on the network namespace the test started
 *               in: not the tree's, cryo refuses it
 *   --nft       also make an nftables table of its own (inet cryotest) with
 *               a chain and a rule, checked after restore
 *   --dev KIND  also make a device of KIND: macvtap: cryo refuses it; veth: a
 *               pair cryo-v0, cryo-v1 inside, checked after restore;
 *               veth-out: a veth cryo-v0 whose peer cryo-nsnet-h0 is in the
 *               namespace the test started in (restored with --external
 *               veth[cryo-v0]:NAME): its index, MAC, MTU and flags are checked */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *dev;
TEST_OPTION(dev, string, "also make a device of this kind (refused)", 0);
static bool nsfd;
TEST_OPTION(nsfd, bool, "hold a descriptor on /proc/self/ns/net", 0);
static bool hostfd;
TEST_OPTION(hostfd, bool, "hold a descriptor on the network namespace it started in (refused)", 0);
static bool nft;
TEST_OPTION(nft, bool, "also make an nftables table with a rule", 0);

#define ADDR4 "10.77.0.1"
#define ADDR6 "fd00:77::1"
#define PORT 7707
#define UPORT 7708
#define ABSTRACT "cryo-ns-net-test"

static ino_t ns_ino(pid_t pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	return stat(path, &st) ? 0 : st.st_ino;
}

static void ip(const char *args)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "/sbin/ip %s", args);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("%s: failed (%d)", cmd, st);
}

static void set_sysctl(const char *name, const char *val)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/%s", name);
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		setup_fail("write %s: %s", path, strerror(errno));
	close(fd);
}

static void check_sysctl(const char *name, const char *want)
{
	char path[128], buf[64] = "";
	snprintf(path, sizeof(path), "/proc/sys/net/%s", name);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		fail_errno("read %s", path);
		return;
	}
	buf[strcspn(buf, "\n")] = '\0';
	if (strcmp(buf, want))
		fail("net.%s is \"%s\", not \"%s\"", name, buf, want);
}

static socklen_t addr4(struct sockaddr_in *a, unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ADDR4, &a->sin_addr);
	return sizeof(*a);
}

static socklen_t abstract(struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path + 1, ABSTRACT, strlen(ABSTRACT));
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ABSTRACT);
}

/* exactly @want (@n bytes) waiting on @fd, and nothing more */
static void expect_data(int fd, const char *want, size_t n, const char *what)
{
	char buf[256];
	ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (got != (ssize_t)n || memcmp(buf, want, n))
		fail("%s: read %zd bytes (%.*s), not the %zu in flight (%s)", what, got,
		     got > 0 ? (int)got : 0, buf, n, want);
}

static bool has_addr(const char *want, int family)
{
	struct ifaddrs *ifa, *i;
	bool found = false;
	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		char s[INET6_ADDRSTRLEN] = "";
		if (!i->ifa_addr || i->ifa_addr->sa_family != family || strcmp(i->ifa_name, "lo"))
			continue;
		if (family == AF_INET)
			inet_ntop(family, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, s, sizeof(s));
		else
			inet_ntop(family, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, s,
				  sizeof(s));
		found = !strcmp(s, want);
	}
	freeifaddrs(ifa);
	return found;
}

/* a line of /proc/net/route or ipv6_route holding each of @words */
static bool has_route(const char *file, const char *w1, const char *w2)
{
	FILE *f = fopen(file, "r");
	char line[512];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, w1) && strstr(line, w2);
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	ino_t host = ns_ino(getpid());
	int hfd = hostfd ? open("/proc/self/ns/net", O_RDONLY) : -1;
	if (hostfd && hfd < 0)
		setup_fail("open /proc/self/ns/net: %s", strerror(errno));
	if (unshare(CLONE_NEWNET))
		setup_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
	ip("link set lo up mtu 60000");
	ip("addr add " ADDR4 "/24 dev lo");
	ip("addr add " ADDR6 "/64 dev lo nodad");
	ip("route add 10.78.0.0/16 via 10.77.0.2 dev lo");
	ip("-6 route add fd00:78::/64 dev lo metric 77");	/* no IPv6 gateway on lo */
	ip("rule add from 10.77.0.0/24 lookup 100 priority 1000");
	ip("-6 rule add from fd00:77::/64 lookup 200 priority 2000");
	char cmd[160];
	bool veth_out = dev && !strcmp(dev, "veth-out");
	unsigned veth_index = 0;
	if (veth_out) {
		snprintf(cmd, sizeof(cmd), "link add cryo-v0 address 02:00:00:77:00:01 mtu 1400 "
			 "type veth peer name cryo-nsnet-h0 netns %d", getppid());
		ip(cmd);
		ip("link set cryo-v0 up");
		veth_index = if_nametoindex("cryo-v0");
	} else if (dev && !strcmp(dev, "veth")) {
		ip("link add cryo-v0 address 02:00:00:77:00:02 mtu 1300 type veth peer name cryo-v1 "
		   "address 02:00:00:77:00:03 mtu 1300");
		ip("link set cryo-v0 up");
		ip("link set cryo-v1 up");
		veth_index = if_nametoindex("cryo-v0") * 1000 + if_nametoindex("cryo-v1");
	} else if (dev) {	/* macvtap: refused (a bridge was, before cryo saved bridges) */
		ip("link add cryo-d1 type veth peer name cryo-d2");
		ip("link add cryo-d0 link cryo-d1 type macvtap");
	}
	if (system("/usr/sbin/iptables -A INPUT -s 10.99.0.0/16 -j DROP"))
		setup_fail("iptables -A INPUT failed");
	if (nft && system("/usr/sbin/nft add table inet cryotest && /usr/sbin/nft add chain inet "
			  "cryotest input '{ type filter hook input priority 0; }' && "
			  "/usr/sbin/nft add rule inet cryotest input ip saddr 10.98.0.0/16 drop"))
		setup_fail("nft add table, chain, rule failed");
	set_sysctl("core/somaxconn", "777");
	set_sysctl("unix/max_dgram_qlen", "77");
	set_sysctl("ipv4/conf/all/log_martians", "1");
	set_sysctl("ipv4/conf/lo/route_localnet", "1");
	set_sysctl("ipv6/conf/lo/hop_limit", "33");

	struct sockaddr_in a;
	socklen_t al = addr4(&a, PORT);
	int one = 1;
	int lsk = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0 || setsockopt(lsk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lsk, (struct sockaddr *)&a, al) || listen(lsk, 8))
		setup_fail("listener on " ADDR4 ":%d: %s", PORT, strerror(errno));
	int cli = socket(AF_INET, SOCK_STREAM, 0);
	if (cli < 0 || connect(cli, (struct sockaddr *)&a, al))
		setup_fail("connect: %s", strerror(errno));
	int srv = accept(lsk, NULL, NULL);
	if (srv < 0)
		setup_fail("accept: %s", strerror(errno));
	if (send(cli, "to-server", 9, 0) != 9 || send(srv, "to-client!", 10, 0) != 10)
		setup_fail("send: %s", strerror(errno));

	struct sockaddr_in ua;
	socklen_t ual = addr4(&ua, UPORT);
	int udp = socket(AF_INET, SOCK_DGRAM, 0), usend = socket(AF_INET, SOCK_DGRAM, 0);
	if (udp < 0 || usend < 0 || bind(udp, (struct sockaddr *)&ua, ual) ||
	    sendto(usend, "datagram", 8, 0, (struct sockaddr *)&ua, ual) != 8)
		setup_fail("udp: %s", strerror(errno));
	close(usend);

	struct sockaddr_un un;
	socklen_t unl = abstract(&un);
	int usk = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (usk < 0 || bind(usk, (struct sockaddr *)&un, unl))
		setup_fail("unix socket on @" ABSTRACT ": %s", strerror(errno));

	int nfd = -1, ufd = -1;
	if (nsfd && ((nfd = open("/proc/self/ns/net", O_RDONLY)) < 0 ||
		     (ufd = open("/proc/self/ns/uts", O_RDONLY)) < 0))
		setup_fail("open /proc/self/ns/net, uts: %s", strerror(errno));

	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		for (;;)
			pause();
	}

	test_daemon();
	test_waitsig();

	ino_t now = ns_ino(getpid());
	if (now == host)
		fail("back in the network namespace the test started in (net:[%lu])",
		     (unsigned long)host);
	if (ns_ino(kid) != now)
		fail("the child %d is in another network namespace than its parent", kid);
	if (nfd >= 0) {
		struct stat st;
		if (fstat(nfd, &st))
			fail_errno("fstat of the held namespace descriptor");
		else if (st.st_ino != now)
			fail("the held /proc/self/ns/net descriptor names net:[%lu], the process is "
			     "in net:[%lu]", (unsigned long)st.st_ino, (unsigned long)now);
		struct stat us, uself;
		if (fstat(ufd, &us) || stat("/proc/self/ns/uts", &uself))
			fail_errno("fstat of the held UTS namespace descriptor");
		else if (us.st_ino != uself.st_ino)
			fail("the held /proc/self/ns/uts descriptor names uts:[%lu], the process is "
			     "in uts:[%lu]", (unsigned long)us.st_ino, (unsigned long)uself.st_ino);
	}

	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) || !(ifr.ifr_flags & IFF_UP))
		fail("lo is not up (flags 0x%x)", ifr.ifr_flags);
	if (ioctl(s, SIOCGIFMTU, &ifr) || ifr.ifr_mtu != 60000)
		fail("lo's MTU is %d, not 60000", ifr.ifr_mtu);
	close(s);
	if (dev && !strcmp(dev, "veth")) {
		unsigned now_idx = if_nametoindex("cryo-v0") * 1000 + if_nametoindex("cryo-v1");
		if (now_idx != veth_index)
			fail("the veth pair has indexes %u, not %u (v0 * 1000 + v1)", now_idx,
			     veth_index);
		const char *want[][3] = { { "cryo-v0", "cryo-v0@cryo-v1:", "02:00:00:77:00:02" },
					  { "cryo-v1", "cryo-v1@cryo-v0:", "02:00:00:77:00:03" } };
		for (int i = 0; i < 2; i++) {
			char c[96], out[512] = "";
			snprintf(c, sizeof(c), "/sbin/ip -o link show %s", want[i][0]);
			FILE *f = popen(c, "r");
			size_t on = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
			out[on] = '\0';
			if (f)
				pclose(f);
			if (!strstr(out, want[i][1]) || !strstr(out, want[i][2]) ||
			    !strstr(out, "mtu 1300") || !strstr(out, ",UP"))
				fail("veth %s is not as it was (its peer, address, MTU 1300, up): %s",
				     want[i][0], out);
		}
	}
	if (veth_out) {
		memset(&ifr, 0, sizeof(ifr));
		strcpy(ifr.ifr_name, "cryo-v0");
		s = socket(AF_INET, SOCK_DGRAM, 0);
		if (if_nametoindex("cryo-v0") != veth_index)
			fail("cryo-v0 has index %u, not %u", if_nametoindex("cryo-v0"), veth_index);
		if (ioctl(s, SIOCGIFFLAGS, &ifr) || !(ifr.ifr_flags & IFF_UP))
			fail("cryo-v0 is not up (flags 0x%x)", ifr.ifr_flags);
		if (ioctl(s, SIOCGIFMTU, &ifr) || ifr.ifr_mtu != 1400)
			fail("cryo-v0's MTU is %d, not 1400", ifr.ifr_mtu);
		static const unsigned char mac[6] = { 2, 0, 0, 0x77, 0, 1 };
		if (ioctl(s, SIOCGIFHWADDR, &ifr) || memcmp(ifr.ifr_hwaddr.sa_data, mac, 6))
			fail("cryo-v0's MAC address is not 02:00:00:77:00:01");
		close(s);
	}
	if (!has_addr(ADDR4, AF_INET))
		fail("lo has no address " ADDR4);
	if (!has_addr(ADDR6, AF_INET6))
		fail("lo has no address " ADDR6);
	/* 10.78.0.0 via 10.77.0.2, little-endian hex in /proc/net/route */
	if (!has_route("/proc/net/route", "00004E0A", "02004D0A"))
		fail("no route to 10.78.0.0/16 via 10.77.0.2");
	if (!has_route("/proc/net/ipv6_route", "fd000078000000000000000000000000 40",
		       " 0000004d "))
		fail("no route to fd00:78::/64 with metric 77");
	/* the kernel's rules and ours, each once, IPv4 and IPv6 */
	static const char *const rule_cmds[2] = { "/sbin/ip rule", "/sbin/ip -6 rule" };
	static const char *const rule_want[2] = {
		"0:\tfrom all lookup local\n1000:\tfrom 10.77.0.0/24 lookup 100\n"
		"32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
		"0:\tfrom all lookup local\n2000:\tfrom fd00:77::/64 lookup 200\n"
		"32766:\tfrom all lookup main\n" };
	for (int i = 0; i < 2; i++) {
		FILE *rf = popen(rule_cmds[i], "r");
		char rbuf[1024] = "";
		size_t rn = rf ? fread(rbuf, 1, sizeof(rbuf) - 1, rf) : 0;
		rbuf[rn] = '\0';
		if (rf)
			pclose(rf);
		if (strcmp(rbuf, rule_want[i]))
			fail("the rules are not the kernel's and ours: %s says \"%s\"", rule_cmds[i],
			     rbuf);
	}
	FILE *ipt = popen("/usr/sbin/iptables -S INPUT", "r");
	char rules[1024] = "";
	size_t rl = ipt ? fread(rules, 1, sizeof(rules) - 1, ipt) : 0;
	rules[rl] = '\0';
	if (ipt)
		pclose(ipt);
	if (!strstr(rules, "-A INPUT -s 10.99.0.0/16 -j DROP"))
		fail("the iptables rule is gone: iptables -S INPUT says \"%s\"", rules);
	if (nft) {
		FILE *nf = popen("/usr/sbin/nft list table inet cryotest 2>&1", "r");
		char nbuf[2048] = "";
		size_t nn = nf ? fread(nbuf, 1, sizeof(nbuf) - 1, nf) : 0;
		nbuf[nn] = '\0';
		if (nf)
			pclose(nf);
		if (!strstr(nbuf, "hook input priority filter") ||
		    !strstr(nbuf, "ip saddr 10.98.0.0/16 drop"))
			fail("the nftables table inet cryotest is not back: \"%s\"", nbuf);
	}
	check_sysctl("core/somaxconn", "777");
	check_sysctl("unix/max_dgram_qlen", "77");
	check_sysctl("ipv4/conf/all/log_martians", "1");
	check_sysctl("ipv4/conf/lo/route_localnet", "1");
	check_sysctl("ipv6/conf/lo/hop_limit", "33");

	/* the connection: its data in flight, then it still carries data */
	expect_data(srv, "to-server", 9, "the accepted end");
	expect_data(cli, "to-client!", 10, "the connecting end");
	if (send(cli, "ping", 4, 0) != 4)
		fail_errno("send on the restored connection");
	else {
		char buf[8];
		ssize_t n = recv(srv, buf, sizeof(buf), 0);
		if (n != 4 || memcmp(buf, "ping", 4))
			fail("the restored connection carried %zd bytes, not \"ping\"", n);
	}
	/* the listener takes a new connection */
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	if (c2 < 0 || connect(c2, (struct sockaddr *)&a, al))
		fail_errno("connect to the restored listener");
	else {
		int s2 = accept(lsk, NULL, NULL);
		if (s2 < 0)
			fail_errno("accept on the restored listener");
		else
			close(s2);
	}
	if (c2 >= 0)
		close(c2);
	/* the datagram queued on the UDP socket, bound where it was */
	struct sockaddr_in got;
	socklen_t gl = sizeof(got);
	if (getsockname(udp, (struct sockaddr *)&got, &gl) || got.sin_port != htons(UPORT) ||
	    got.sin_addr.s_addr != ua.sin_addr.s_addr)
		fail("the UDP socket is not bound to " ADDR4 ":%d", UPORT);
	expect_data(udp, "datagram", 8, "the UDP socket");
	/* the abstract name is the namespace's: a sender here reaches it */
	int us2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (us2 < 0 || sendto(us2, "unix", 4, 0, (struct sockaddr *)&un, unl) != 4)
		fail_errno("send to @" ABSTRACT " in the restored namespace");
	else
		expect_data(usk, "unix", 4, "the unix socket on @" ABSTRACT);
	if (us2 >= 0)
		close(us2);

	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	pass();
	return 0;
}
