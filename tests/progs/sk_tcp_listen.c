/* sk_tcp_listen: listening and not-connected TCP sockets.
 *
 * Before the checkpoint:
 *   a  IPv4 listener on 127.0.0.1, SO_REUSEADDR, backlog 7, SO_KEEPALIVE
 *      with TCP_KEEPIDLE 123, SO_RCVBUF 96 KiB, SO_PRIORITY 3;
 *   b  IPv6 listener on ::1, IPV6_V6ONLY, backlog 3, non-blocking;
 *   c  IPv6 listener on :: (dual stack, V6ONLY off);
 *   d, e  two SO_REUSEPORT listeners on one 127.0.0.1 port;
 *   f  a TCP socket bound to 127.0.0.1 but not listening, SO_LINGER 5 s;
 *   g  an unbound TCP socket, TCP_NODELAY-free, SO_SNDTIMEO 2.5 s.
 * After SIGTERM: addresses, states, backlogs and options are as set, and
 * every listener accepts a new connection (c one made over IPv4).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include "sk_inet_util.h"

struct lst {
	int fd, family, backlog;
	struct sockaddr_storage name;
	socklen_t len;
	const char *what;
};

static int mk(struct lst *l, int family, bool any, int backlog, int reuseaddr, int reuseport,
	      int v6only, unsigned port)
{
	int one = 1;
	l->family = family;
	l->backlog = backlog;
	l->fd = socket(family, SOCK_STREAM, 0);
	if (l->fd < 0)
		return -1;
	if (reuseaddr)
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(l->fd, SOL_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss, port);
	if (any)
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_any;
	if (bind(l->fd, (struct sockaddr *)&ss, len))
		return -1;
	if (backlog && listen(l->fd, backlog))
		return -1;
	l->len = sizeof(l->name);
	return getsockname(l->fd, (struct sockaddr *)&l->name, &l->len);
}

/* A new connection to @l is accepted there (from @family's loopback). */
static void check_accepts(struct lst *l, int family, struct lst *alt)
{
	struct sockaddr_storage ss = l->name;
	socklen_t len = l->len;
	if (family != l->family) {
		unsigned port = ntohs(((struct sockaddr_in6 *)&l->name)->sin6_port);
		len = loopback(family, &ss, port);
	}
	int c = socket(family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len)) {
		fail("%s: connect: %s", l->what, strerror(errno));
		return;
	}
	int a = accept_wait(l->fd, 2000);
	if (a < 0 && alt)
		a = accept_wait(alt->fd, 2000);
	if (a < 0) {
		fail("%s: nothing accepted: %s", l->what, strerror(errno));
		close(c);
		return;
	}
	if (write(c, "ping", 4) != 4)
		fail("%s: write: %s", l->what, strerror(errno));
	char b[8];
	struct pollfd p = { .fd = a, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1 || read(a, b, sizeof(b)) != 4 || memcmp(b, "ping", 4))
		fail("%s: the accepted connection did not carry data", l->what);
	close(a);
	close(c);
}

static void check_listener(struct lst *l)
{
	if (!same_name(l->fd, &l->name, l->len, false))
		fail("%s: its address changed", l->what);
	if (sk_state(l->fd) != TCP_LISTEN)
		fail("%s: state %d, not LISTEN", l->what, sk_state(l->fd));
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	if (!getsockopt(l->fd, SOL_TCP, TCP_INFO, &ti, &tl) && (int)ti.tcpi_sacked != l->backlog)
		fail("%s: backlog %u, expected %d", l->what, ti.tcpi_sacked, l->backlog);
}

int main(int argc, char **argv)
{
	test_doc = "listening, bound and unbound TCP sockets, IPv4 and IPv6, their options";
	test_init(argc, argv);
	struct lst a = { .what = "a (IPv4 listener)" }, b = { .what = "b (IPv6 v6only listener)" },
		   c = { .what = "c (dual-stack listener)" }, d = { .what = "d (reuseport 1)" },
		   e = { .what = "e (reuseport 2)" }, f = { .what = "f (bound socket)" };
	if (mk(&a, AF_INET, false, 7, 1, 0, 0, 0) || mk(&b, AF_INET6, false, 3, 0, 0, 1, 0) ||
	    mk(&c, AF_INET6, true, 5, 0, 0, 0, 0) || mk(&d, AF_INET, false, 4, 0, 1, 0, 0))
		setup_fail("listeners: %s", strerror(errno));
	if (mk(&e, AF_INET, false, 4, 0, 1, 0, ntohs(((struct sockaddr_in *)&d.name)->sin_port)))
		setup_fail("second reuseport listener: %s", strerror(errno));
	if (mk(&f, AF_INET, false, 0, 0, 0, 0, 0))
		setup_fail("bound socket: %s", strerror(errno));
	int one = 1, idle = 123, rcv = 96 * 1024, prio = 3;
	setsockopt(a.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(a.fd, SOL_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(a.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(a.fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	int rcv_got = sk_getint(a.fd, SOL_SOCKET, SO_RCVBUF);
	fcntl(b.fd, F_SETFL, O_NONBLOCK);
	struct linger lg = { 1, 5 };
	setsockopt(f.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	int g = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { 2, 500000 };
	if (g < 0 || setsockopt(g, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		setup_fail("unbound socket: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	struct lst *ls[] = { &a, &b, &c, &d, &e };
	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++)
		check_listener(ls[i]);
	expect_opt(a.fd, SOL_SOCKET, SO_REUSEADDR, 1, a.what);
	expect_opt(a.fd, SOL_SOCKET, SO_REUSEPORT, 0, a.what);
	expect_opt(a.fd, SOL_SOCKET, SO_KEEPALIVE, 1, a.what);
	expect_opt(a.fd, SOL_TCP, TCP_KEEPIDLE, 123, a.what);
	expect_opt(a.fd, SOL_SOCKET, SO_RCVBUF, rcv_got, a.what);
	expect_opt(a.fd, SOL_SOCKET, SO_PRIORITY, 3, a.what);
	expect_opt(b.fd, SOL_IPV6, IPV6_V6ONLY, 1, b.what);
	expect_opt(b.fd, SOL_SOCKET, SO_REUSEADDR, 0, b.what);
	expect_opt(c.fd, SOL_IPV6, IPV6_V6ONLY, 0, c.what);
	expect_opt(d.fd, SOL_SOCKET, SO_REUSEPORT, 1, d.what);
	expect_opt(e.fd, SOL_SOCKET, SO_REUSEPORT, 1, e.what);
	if (!(fcntl(b.fd, F_GETFL) & O_NONBLOCK))
		fail("%s: O_NONBLOCK lost", b.what);
	if (!same_name(f.fd, &f.name, f.len, false))
		fail("%s: its address changed", f.what);
	if (sk_state(f.fd) != TCP_CLOSE)
		fail("%s: state %d, not CLOSE", f.what, sk_state(f.fd));
	struct linger lg2 = { 0 };
	socklen_t ll = sizeof(lg2);
	if (getsockopt(f.fd, SOL_SOCKET, SO_LINGER, &lg2, &ll) || !lg2.l_onoff || lg2.l_linger != 5)
		fail("%s: SO_LINGER is %d/%d, expected 1/5", f.what, lg2.l_onoff, lg2.l_linger);
	struct timeval tv2 = { 0 };
	socklen_t tl = sizeof(tv2);
	if (getsockopt(g, SOL_SOCKET, SO_SNDTIMEO, &tv2, &tl) || tv2.tv_sec != 2 ||
	    tv2.tv_usec != 500000)
		fail("g (unbound socket): SO_SNDTIMEO is %ld.%06ld", (long)tv2.tv_sec,
		     (long)tv2.tv_usec);
	if (sk_state(g) != TCP_CLOSE)
		fail("g (unbound socket): state %d", sk_state(g));

	check_accepts(&a, AF_INET, NULL);
	check_accepts(&b, AF_INET6, NULL);
	check_accepts(&c, AF_INET6, NULL);
	check_accepts(&c, AF_INET, NULL);
	check_accepts(&d, AF_INET, &e);
	check_accepts(&e, AF_INET, &d);
	/* f can still listen and g connect */
	if (listen(f.fd, 1))
		fail("%s: listen: %s", f.what, strerror(errno));
	else {
		f.backlog = 1;
		f.family = AF_INET;
		check_accepts(&f, AF_INET, NULL);
	}
	return test_verdict();
}
