/* sk_tcp_reuseport: sockets sharing a port, restored without "Address
 * already in use".
 *
 *   P: two SO_REUSEPORT listeners and a connection accepted from the group;
 *   Q: a socket bound with SO_REUSEADDR (not listening) and a listener on the
 *      same port with SO_REUSEADDR (bound after it), and an accepted
 *      connection;
 *   R: a connection whose listener was closed, the port taken again by a
 *      new listener (SO_REUSEADDR).
 * After the restore: every socket has its address and its SO_REUSEADDR /
 * SO_REUSEPORT values, each listener accepts, the connections carry data
 * both ways.  --v6 (::1), --mapped (dual-stack sockets, IPv4 peers).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool v6, mapped;
TEST_OPTION(v6, bool, "IPv6 (::1)", 0);
TEST_OPTION(mapped, bool, "dual-stack sockets, IPv4-mapped peers", 0);

struct sk {
	const char *name;
	int fd;
	struct sockaddr_storage ss;
	socklen_t len;
	int reuseaddr, reuseport;
};

static int fam(void)
{
	return v6 || mapped ? AF_INET6 : AF_INET;
}

static int mksock(int reuseaddr, int reuseport)
{
	int fd = socket(fam(), SOCK_STREAM, 0), zero = 0;
	if (fd < 0)
		setup_fail("socket: %s", strerror(errno));
	if (mapped)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (reuseaddr)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuseaddr, sizeof(reuseaddr));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, sizeof(reuseport));
	return fd;
}

/* the address to bind: loopback, or "any" for a dual-stack socket */
static socklen_t local(struct sockaddr_storage *ss, unsigned port)
{
	socklen_t l = loopback(fam(), ss, port);
	if (mapped)
		((struct sockaddr_in6 *)ss)->sin6_addr = in6addr_any;
	return l;
}

/* where to connect to: the port on loopback (IPv4 for --mapped) */
static socklen_t target(struct sockaddr_storage *ss, unsigned port)
{
	return loopback(mapped ? AF_INET : fam(), ss, port);
}

static unsigned port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &l);
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
					       ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void do_bind(int fd, unsigned port, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t l = local(&ss, port);
	if (bind(fd, (struct sockaddr *)&ss, l))
		setup_fail("%s: bind to port %u: %s", what, port, strerror(errno));
}

static int client(unsigned port, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t l = target(&ss, port);
	int c = socket(mapped ? AF_INET : fam(), SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, l))
		setup_fail("%s: connect to port %u: %s", what, port, strerror(errno));
	return c;
}

static struct sk sks[16];
static int nr;

static void note(const char *name, int fd)
{
	struct sk *s = &sks[nr++];
	s->name = name;
	s->fd = fd;
	s->len = sizeof(s->ss);
	getsockname(fd, (struct sockaddr *)&s->ss, &s->len);
	s->reuseaddr = sk_getint(fd, SOL_SOCKET, SO_REUSEADDR);
	s->reuseport = sk_getint(fd, SOL_SOCKET, SO_REUSEPORT);
}

static void talk(int a, int b, const char *what)
{
	char m[] = "ping", r[sizeof(m)];
	for (int dir = 0; dir < 2; dir++) {
		int from = dir ? b : a, to = dir ? a : b;
		struct pollfd p = { .fd = to, .events = POLLIN };
		if (write(from, m, sizeof(m)) != sizeof(m) || poll(&p, 1, 3000) != 1 ||
		    read(to, r, sizeof(r)) != sizeof(r) || memcmp(r, m, sizeof(m)))
			fail("%s: no data %s", what, dir ? "back" : "across");
	}
}

static void accepts(int l, unsigned port, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len = target(&ss, port);
	int c = socket(mapped ? AF_INET : fam(), SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len)) {
		fail("%s: connect to port %u: %s", what, port, strerror(errno));
		return;
	}
	int a = accept_wait(l, 3000);
	if (a < 0)
		fail("%s: nothing accepted", what);
	else
		talk(c, a, what);
	close(c);
	if (a >= 0)
		close(a);
}

int main(int argc, char **argv)
{
	test_doc = "TCP sockets sharing ports";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);

	/* P: a SO_REUSEPORT group */
	int p1 = mksock(0, 1), p2 = mksock(0, 1);
	do_bind(p1, 0, "P1");
	unsigned P = port_of(p1);
	do_bind(p2, P, "P2");
	if (listen(p1, 8) || listen(p2, 8))
		setup_fail("P: listen: %s", strerror(errno));
	int pc = client(P, "P");
	struct pollfd pp[2] = { { .fd = p1, .events = POLLIN }, { .fd = p2, .events = POLLIN } };
	if (poll(pp, 2, 3000) < 1)
		setup_fail("P: nothing to accept");
	int ps = accept(pp[0].revents ? p1 : p2, NULL, NULL);

	/* Q: bound with SO_REUSEADDR, then a listener on the same port */
	int ql = mksock(1, 0), qb = mksock(1, 0);	/* the listener first in fd order */
	do_bind(qb, 0, "Qb");
	unsigned Q = port_of(qb);
	do_bind(ql, Q, "Ql");
	if (listen(ql, 8))
		setup_fail("Q: listen: %s", strerror(errno));
	int qc = client(Q, "Q");
	int qs = accept_wait(ql, 3000);

	/* R: the listener of an open connection closed, its port taken again */
	int rl = mksock(1, 0);
	do_bind(rl, 0, "R");
	unsigned R = port_of(rl);
	if (listen(rl, 8))
		setup_fail("R: listen: %s", strerror(errno));
	int rc = client(R, "R");
	int rs = accept_wait(rl, 3000);
	close(rl);
	int rl2 = mksock(1, 0);
	do_bind(rl2, R, "R2");
	if (listen(rl2, 8))
		setup_fail("R2: listen: %s", strerror(errno));
	if (ps < 0 || qs < 0 || rs < 0)
		setup_fail("accept: %s", strerror(errno));

	note("P1 listener", p1);
	note("P2 listener", p2);
	note("P client", pc);
	note("P accepted", ps);
	note("Q bound", qb);
	note("Q listener", ql);
	note("Q client", qc);
	note("Q accepted", qs);
	note("R client", rc);
	note("R accepted", rs);
	note("R new listener", rl2);
	test_msg("ports %u %u %u", P, Q, R);

	test_daemon();
	test_waitsig();

	for (int i = 0; i < nr; i++) {
		struct sk *s = &sks[i];
		if (!same_name(s->fd, &s->ss, s->len, false))
			fail("%s: its address changed", s->name);
		expect_opt(s->fd, SOL_SOCKET, SO_REUSEADDR, s->reuseaddr, s->name);
		expect_opt(s->fd, SOL_SOCKET, SO_REUSEPORT, s->reuseport, s->name);
	}
	if (sk_state(p1) != TCP_LISTEN || sk_state(p2) != TCP_LISTEN || sk_state(ql) != TCP_LISTEN ||
	    sk_state(rl2) != TCP_LISTEN || sk_state(qb) != TCP_CLOSE)
		fail("listener states %d %d %d %d, bound %d", sk_state(p1), sk_state(p2),
		     sk_state(ql), sk_state(rl2), sk_state(qb));
	talk(pc, ps, "P");
	talk(qc, qs, "Q");
	talk(rc, rs, "R");
	/* the group: connections keep coming until each listener got one */
	bool got1 = false, got2 = false;
	for (int i = 0; i < 64 && !(got1 && got2); i++) {
		struct sockaddr_storage ss;
		socklen_t len = target(&ss, P);
		int c = socket(mapped ? AF_INET : fam(), SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&ss, len)) {
			fail("P: connect after the restore: %s", strerror(errno));
			break;
		}
		struct pollfd q[2] = { { .fd = p1, .events = POLLIN }, { .fd = p2, .events = POLLIN } };
		if (poll(q, 2, 3000) < 1) {
			fail("P: no listener of the group accepts");
			break;
		}
		int a = accept(q[0].revents ? p1 : p2, NULL, NULL);
		if (q[0].revents)
			got1 = true;
		else
			got2 = true;
		close(a);
		close(c);
	}
	if (!got1 || !got2)
		fail("P: the group does not share connections (listener 1 %d, 2 %d)", got1, got2);
	accepts(ql, Q, "Q listener");
	accepts(rl2, R, "R new listener");
	return test_verdict();
}
