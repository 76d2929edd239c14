/* sk_tcp_freebind: TCP sockets bound with IP_FREEBIND (IPV6_FREEBIND) to
 * addresses no interface has: a listener and a bound socket, plus a
 * listener on loopback with IP_FREEBIND set.  After the restore each has its
 * address, port, state and option; the loopback listener accepts.
 * --v6 (2001:db8::/32), --mapped (dual-stack socket, ::ffff:192.0.2.x).
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "sk_inet_util.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

static bool v6, mapped;
TEST_OPTION(v6, bool, "IPv6", 0);
TEST_OPTION(mapped, bool, "IPv4-mapped addresses on IPv6 sockets", 0);

struct sk {
	const char *name;
	int fd, state;
	struct sockaddr_storage ss;
	socklen_t len;
};

static socklen_t addr(struct sockaddr_storage *ss, const char *a)
{
	memset(ss, 0, sizeof(*ss));
	if (v6 || mapped) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		char m[64];
		snprintf(m, sizeof(m), "::ffff:%s", a);
		s->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, mapped ? m : a, &s->sin6_addr) != 1)
			setup_fail("bad address %s", a);
		return sizeof(*s);
	}
	struct sockaddr_in *s = (struct sockaddr_in *)ss;
	s->sin_family = AF_INET;
	inet_pton(AF_INET, a, &s->sin_addr);
	return sizeof(*s);
}

static void mk(struct sk *k, const char *name, const char *a, bool listening)
{
	int fam = v6 || mapped ? AF_INET6 : AF_INET, one = 1, zero = 0;
	k->name = name;
	k->fd = socket(fam, SOCK_STREAM, 0);
	if (k->fd < 0)
		setup_fail("socket: %s", strerror(errno));
	if (mapped)
		setsockopt(k->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (fam == AF_INET6 && !mapped ?
	    setsockopt(k->fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) :
	    setsockopt(k->fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)))
		setup_fail("%s: FREEBIND: %s", name, strerror(errno));
	socklen_t l = addr(&k->ss, a);
	if (bind(k->fd, (struct sockaddr *)&k->ss, l))
		setup_fail("%s: bind to %s: %s", name, a, strerror(errno));
	if (listening && listen(k->fd, 5))
		setup_fail("%s: listen: %s", name, strerror(errno));
	k->len = sizeof(k->ss);
	getsockname(k->fd, (struct sockaddr *)&k->ss, &k->len);
	k->state = listening ? TCP_LISTEN : TCP_CLOSE;
}

int main(int argc, char **argv)
{
	test_doc = "TCP sockets bound to non-local addresses with IP_FREEBIND";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	struct sk k[3];
	bool six = v6 && !mapped;
	mk(&k[0], "listener on a foreign address", six ? "2001:db8::1" : "192.0.2.1", true);
	mk(&k[1], "bound socket on a foreign address", six ? "2001:db8::7" : "198.51.100.7", false);
	mk(&k[2], "loopback listener", six ? "::1" : "127.0.0.1", true);

	test_daemon();
	test_waitsig();

	for (int i = 0; i < 3; i++) {
		if (!same_name(k[i].fd, &k[i].ss, k[i].len, false))
			fail("%s: its address changed", k[i].name);
		if (sk_state(k[i].fd) != k[i].state)
			fail("%s: state %d, not %d", k[i].name, sk_state(k[i].fd), k[i].state);
		if (six)
			expect_opt(k[i].fd, IPPROTO_IPV6, IPV6_FREEBIND, 1, k[i].name);
		else
			expect_opt(k[i].fd, IPPROTO_IP, IP_FREEBIND, 1, k[i].name);
	}
	int c = socket(k[2].ss.ss_family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&k[2].ss, k[2].len) || accept_wait(k[2].fd, 3000) < 0)
		fail("the loopback listener does not accept: %s", strerror(errno));
	return test_verdict();
}
