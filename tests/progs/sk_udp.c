/* sk_udp: UDP sockets.
 *
 * Before the checkpoint:
 *   u1  IPv4, bound to 127.0.0.1, SO_RCVBUF 64 KiB, SO_BROADCAST, SO_MARK 7;
 *   u2  IPv4, bound, connected to u1; one datagram sent to u1 and left
 *       queued there (criu drops queued datagrams at restore: it may be gone);
 *   u3  IPv6, bound to ::1, IPV6_V6ONLY, a classic BPF filter (accept all,
 *       three instructions);
 *   u4  IPv4, unbound, SO_RCVTIMEO about 1.25 s (the kernel rounds to
 *       jiffies), SO_BINDTODEVICE lo;
 *   u5  IPv4, connected to u1, shut down for writing.
 * After SIGTERM: names, peers and options as set; u2 -> u1 and u3 -> u3
 * carry datagrams with the right source; u5 can't send (EPIPE).
 */
#include <fcntl.h>
#include <linux/filter.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include "sk_inet_util.h"

static int udp(int family, bool bind_it, int v6only, struct sockaddr_storage *name, socklen_t *nl)
{
	int fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	if (family == AF_INET6)
		setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (bind_it) {
		struct sockaddr_storage ss;
		socklen_t l = loopback(family, &ss, 0);
		if (bind(fd, (struct sockaddr *)&ss, l))
			return -1;
	}
	*nl = sizeof(*name);
	getsockname(fd, (struct sockaddr *)name, nl);
	return fd;
}

static ssize_t recv_wait(int fd, char *b, size_t n, struct sockaddr_storage *from, socklen_t *fl)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1)
		return -1;
	*fl = sizeof(*from);
	return recvfrom(fd, b, n, 0, (struct sockaddr *)from, fl);
}

int main(int argc, char **argv)
{
	test_doc = "bound, connected, IPv6 and unbound UDP sockets and their options";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_storage n1, n2, n3, n4, n5, from;
	socklen_t l1, l2, l3, l4, l5, fl;
	int u1 = udp(AF_INET, true, 0, &n1, &l1), u2 = udp(AF_INET, true, 0, &n2, &l2);
	int u3 = udp(AF_INET6, true, 1, &n3, &l3), u4 = udp(AF_INET, false, 0, &n4, &l4);
	int u5 = udp(AF_INET, false, 0, &n5, &l5);
	if (u1 < 0 || u2 < 0 || u3 < 0 || u4 < 0 || u5 < 0)
		setup_fail("sockets: %s", strerror(errno));
	int rcv = 64 * 1024, one = 1, mark = 7;
	setsockopt(u1, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(u1, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	setsockopt(u1, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
	int rcv_got = sk_getint(u1, SOL_SOCKET, SO_RCVBUF);
	struct timeval tv = { 1, 250000 };
	setsockopt(u4, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	socklen_t tl = sizeof(tv);
	getsockopt(u4, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl);	/* in jiffies: rounded */
	struct sock_filter prog[3] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0, 0, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
	};
	struct sock_fprog fp = { 3, prog };
	if (setsockopt(u3, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) ||
	    setsockopt(u4, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2))
		setup_fail("filter, bindtodevice: %s", strerror(errno));
	if (connect(u2, (struct sockaddr *)&n1, l1) || connect(u5, (struct sockaddr *)&n1, l1))
		setup_fail("connect: %s", strerror(errno));
	if (shutdown(u5, SHUT_WR))
		setup_fail("shutdown: %s", strerror(errno));
	l5 = sizeof(n5);
	getsockname(u5, (struct sockaddr *)&n5, &l5);
	if (send(u2, "queued", 6, 0) != 6)
		setup_fail("send: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	if (!same_name(u1, &n1, l1, false) || !same_name(u2, &n2, l2, false) ||
	    !same_name(u3, &n3, l3, false) || !same_name(u5, &n5, l5, false))
		fail("a bound UDP socket changed its address");
	if (!same_name(u2, &n1, l1, true) || !same_name(u5, &n1, l1, true))
		fail("a connected UDP socket changed its peer");
	struct sockaddr_storage none;
	socklen_t nl = sizeof(none);
	if (!getpeername(u1, (struct sockaddr *)&none, &nl))
		fail("u1 got connected");
	expect_opt(u1, SOL_SOCKET, SO_RCVBUF, rcv_got, "u1");
	expect_opt(u1, SOL_SOCKET, SO_BROADCAST, 1, "u1");
	expect_opt(u1, SOL_SOCKET, SO_MARK, 7, "u1");
	expect_opt(u2, SOL_SOCKET, SO_BROADCAST, 0, "u2");
	expect_opt(u3, SOL_IPV6, IPV6_V6ONLY, 1, "u3");
	struct timeval tv2 = { 0 };
	tl = sizeof(tv2);
	if (getsockopt(u4, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl) || tv2.tv_sec != tv.tv_sec ||
	    tv2.tv_usec != tv.tv_usec)
		fail("u4: SO_RCVTIMEO is %ld.%06ld, was %ld.%06ld", (long)tv2.tv_sec,
		     (long)tv2.tv_usec, (long)tv.tv_sec, (long)tv.tv_usec);

	struct sock_filter got[8];
	socklen_t gl = 8;	/* in instructions */
	if (getsockopt(u3, SOL_SOCKET, SO_GET_FILTER, got, &gl) || gl != 3 ||
	    memcmp(got, prog, sizeof(prog)))
		fail("u3: the BPF filter differs (%u instructions)", gl);
	char dev[16] = "";
	socklen_t dl = sizeof(dev);
	if (getsockopt(u4, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl) || strcmp(dev, "lo"))
		fail("u4: SO_BINDTODEVICE is \"%s\", not lo", dev);

	char b[32];
	/* the queued datagram: kept (no restore) or dropped (as criu does) */
	ssize_t r = recv(u1, b, sizeof(b), MSG_DONTWAIT);
	if (r >= 0 && (r != 6 || memcmp(b, "queued", 6)))
		fail("u1: unexpected queued datagram of %zd bytes", r);
	test_msg("the queued datagram was %s", r >= 0 ? "kept" : "dropped");
	if (send(u2, "after", 5, 0) != 5)
		fail("u2: send: %s", strerror(errno));
	r = recv_wait(u1, b, sizeof(b), &from, &fl);
	if (r != 5 || memcmp(b, "after", 5))
		fail("u1 did not receive u2's datagram (%zd)", r);
	else if (fl != l2 || memcmp(&from, &n2, l2))
		fail("u1: the datagram came from another address than u2's");
	if (sendto(u3, "six", 3, 0, (struct sockaddr *)&n3, l3) != 3 ||
	    recv_wait(u3, b, sizeof(b), &from, &fl) != 3)
		fail("u3 (IPv6): datagram to itself lost: %s", strerror(errno));
	if (send(u5, "x", 1, 0) != -1 || errno != EPIPE)
		fail("u5: send after SHUT_WR did not fail with EPIPE (%s)", strerror(errno));
	return test_verdict();
}
