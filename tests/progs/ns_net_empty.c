/* ns_net_empty: --empty-ns net (runc's default).  The test unshares a
 * network namespace and changes it the way a runtime or the program could
 * (lo up with MTU 60000, an extra address on lo, net.core.somaxconn 777,
 * an iptables rule), then opens a TCP connection over 127.0.0.1 with data
 * in flight both ways, its listener, and an abstract unix socket; a child
 * shares the namespace.  Dumped and restored with --empty-ns net, none of
 * the namespace's contents come back: on SIGTERM the tree must be in a new
 * namespace (not the one it started in, the child in the same), lo up
 * with the kernel's MTU (65536) and 127.0.0.1 but not the extra address,
 * somaxconn and the iptables chain as a new namespace has them; and the
 * sockets must be back exactly: the connection's data in flight, the
 * connection still carrying data, the listener accepting, the abstract
 * name reachable. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
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

#define EXTRA "10.76.0.1"
#define PORT 7706
#define ABSTRACT "cryo-ns-net-empty"

static ino_t ns_ino(pid_t pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	return stat(path, &st) ? 0 : st.st_ino;
}

/* The network namespace's cookie: unlike its inode number, never reused (an
 * inode freed with the dumped namespace can come back on a restored one) */
static uint64_t netns_cookie(void)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &c, &l))
		setup_fail("getsockopt(SO_NETNS_COOKIE): %s", strerror(errno));
	close(s);
	return c;
}

static void sh(const char *cmd)
{
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("%s: failed (%d)", cmd, st);
}

static void read_str(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* the output of @cmd (cut) */
static void run_out(const char *cmd, char *buf, size_t size)
{
	FILE *f = popen(cmd, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		pclose(f);
}

static bool lo_has(const char *want)
{
	struct ifaddrs *ifa, *i;
	bool found = false;
	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		char s[INET_ADDRSTRLEN] = "";
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, "lo"))
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, s, sizeof(s));
		found = !strcmp(s, want);
	}
	freeifaddrs(ifa);
	return found;
}

static void expect_data(int fd, const char *want, size_t n, const char *what)
{
	char buf[256];
	ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (got != (ssize_t)n || memcmp(buf, want, n))
		fail("%s: read %zd bytes (%.*s), not the %zu in flight (%s)", what, got,
		     got > 0 ? (int)got : 0, buf, n, want);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	ino_t host = ns_ino(getpid());
	if (unshare(CLONE_NEWNET))
		setup_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
	/* what a fresh namespace has, to compare with after the restore */
	char fresh_somaxconn[32];
	read_str("/proc/sys/net/core/somaxconn", fresh_somaxconn, sizeof(fresh_somaxconn));
	if (!strcmp(fresh_somaxconn, "777"))
		setup_fail("a new namespace has net.core.somaxconn 777 already");
	sh("/sbin/ip link set lo up mtu 60000");
	sh("/sbin/ip addr add " EXTRA "/24 dev lo");
	sh("echo 777 > /proc/sys/net/core/somaxconn");
	sh("/usr/sbin/iptables -A INPUT -s 10.99.0.0/16 -j DROP");

	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	int lsk = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0 || setsockopt(lsk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lsk, (struct sockaddr *)&a, sizeof(a)) || listen(lsk, 8))
		setup_fail("listener on 127.0.0.1:%d: %s", PORT, strerror(errno));
	int cli = socket(AF_INET, SOCK_STREAM, 0);
	if (cli < 0 || connect(cli, (struct sockaddr *)&a, sizeof(a)))
		setup_fail("connect: %s", strerror(errno));
	int srv = accept(lsk, NULL, NULL);
	if (srv < 0)
		setup_fail("accept: %s", strerror(errno));
	if (send(cli, "to-server", 9, 0) != 9 || send(srv, "to-client!", 10, 0) != 10)
		setup_fail("send: %s", strerror(errno));

	struct sockaddr_un un = { .sun_family = AF_UNIX };
	memcpy(un.sun_path + 1, ABSTRACT, strlen(ABSTRACT));
	socklen_t unl = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ABSTRACT);
	int usk = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (usk < 0 || bind(usk, (struct sockaddr *)&un, unl))
		setup_fail("unix socket on @" ABSTRACT ": %s", strerror(errno));

	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		for (;;)
			pause();
	}
	uint64_t before = netns_cookie();

	test_daemon();
	test_waitsig();

	ino_t now = ns_ino(getpid());
	if (now == host)
		fail("back in the network namespace the test started in (net:[%lu])",
		     (unsigned long)host);
	if (ns_ino(kid) != now)
		fail("the child %d is in another network namespace than its parent", kid);
	/* the namespace is a new one only after a dump and restore */
	bool restored = netns_cookie() != before;

	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) || !(ifr.ifr_flags & IFF_UP))
		fail("lo is not up (flags 0x%x)", ifr.ifr_flags);
	int want_mtu = restored ? 65536 : 60000;
	if (ioctl(s, SIOCGIFMTU, &ifr) || ifr.ifr_mtu != want_mtu)
		fail("lo's MTU is %d, not %d", ifr.ifr_mtu, want_mtu);
	close(s);
	if (!lo_has("127.0.0.1"))
		fail("lo has no 127.0.0.1");
	if (lo_has(EXTRA) == restored)
		fail("lo %s " EXTRA " (--empty-ns net: a restored namespace has none of the "
		     "dumped one's addresses)", restored ? "has" : "lost");
	char buf[1024];
	read_str("/proc/sys/net/core/somaxconn", buf, sizeof(buf));
	if (strcmp(buf, restored ? fresh_somaxconn : "777"))
		fail("net.core.somaxconn is %s, not %s", buf, restored ? fresh_somaxconn : "777");
	run_out("/usr/sbin/iptables -S INPUT 2>&1", buf, sizeof(buf));
	if ((strstr(buf, "-A INPUT -s 10.99.0.0/16 -j DROP") != NULL) == restored)
		fail("the iptables rule is %s: iptables -S INPUT says \"%s\"",
		     restored ? "back" : "gone", buf);

	expect_data(srv, "to-server", 9, "the accepted end");
	expect_data(cli, "to-client!", 10, "the connecting end");
	if (send(cli, "ping", 4, 0) != 4) {
		fail_errno("send on the restored connection");
	} else {
		char b[8];
		ssize_t n = recv(srv, b, sizeof(b), 0);
		if (n != 4 || memcmp(b, "ping", 4))
			fail("the restored connection carried %zd bytes, not \"ping\"", n);
	}
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	if (c2 < 0 || connect(c2, (struct sockaddr *)&a, sizeof(a))) {
		fail_errno("connect to the restored listener");
	} else {
		int s2 = accept(lsk, NULL, NULL);
		if (s2 < 0)
			fail_errno("accept on the restored listener");
		else
			close(s2);
	}
	if (c2 >= 0)
		close(c2);
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
