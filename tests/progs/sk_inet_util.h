/* Small helpers shared by the inet socket tests (sk_tcp_*, sk_udp*, sk_raw*). */
#ifndef SK_INET_UTIL_H
#define SK_INET_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "zdtmtst.h"

static inline socklen_t loopback(int family, struct sockaddr_storage *ss, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_addr = in6addr_loopback;
		s->sin6_port = htons(port);
		return sizeof(*s);
	}
	struct sockaddr_in *s = (struct sockaddr_in *)ss;
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->sin_port = htons(port);
	return sizeof(*s);
}

static inline int sk_getint(int fd, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, level, opt, &v, &l))
		return -1;
	return v;
}

/* Check an int option equals @want (fail()s otherwise). */
#define expect_opt(fd, level, opt, want, what)                                 \
	do {                                                                   \
		int __v = sk_getint(fd, level, opt);                           \
		if (__v != (int)(want))                                        \
			fail("%s: " #opt " is %d, expected %d", what, __v,     \
			     (int)(want));                                     \
	} while (0)

static inline int sk_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l))
		return -1;
	return ti.tcpi_state;
}

/* Same address and port as @ss (length @l)? */
static inline bool same_name(int fd, const struct sockaddr_storage *ss, socklen_t l, bool peer)
{
	struct sockaddr_storage now;
	socklen_t nl = sizeof(now);
	memset(&now, 0, sizeof(now));
	if ((peer ? getpeername(fd, (struct sockaddr *)&now, &nl) :
		    getsockname(fd, (struct sockaddr *)&now, &nl)) || nl != l)
		return false;
	return !memcmp(&now, ss, l);
}

/* accept() with a timeout (the listener may be non-blocking or not). */
static inline int accept_wait(int lfd, int ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

#endif
