/* Helpers of the unix socket name tests (sk_unix_relative, _removed_dir,
 * _name_replaced, _queued_bound, _dgram_gone_peer). */
#ifndef SK_UNIX_UTIL_H
#define SK_UNIX_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "zdtmtst.h"

/* @name: a path, or "@x" for the abstract name "x". */
static inline socklen_t un_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (!name)
		return sizeof(sa_family_t);
	if (name[0] == '@') {
		snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s", name + 1);
		return offsetof(struct sockaddr_un, sun_path) + strlen(name);
	}
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

/* A socket of @type bound to @name (NULL: unbound). */
static inline int un_socket(int type, const char *name)
{
	int s = socket(AF_UNIX, type, 0);
	if (s < 0)
		setup_fail("socket: %s", strerror(errno));
	if (name) {
		struct sockaddr_un a;
		socklen_t l = un_addr(&a, name);
		if (bind(s, (struct sockaddr *)&a, l))
			setup_fail("bind %s: %s", name, strerror(errno));
	}
	return s;
}

static inline void un_connect(int s, const char *name)
{
	struct sockaddr_un a;
	socklen_t l = un_addr(&a, name);
	if (connect(s, (struct sockaddr *)&a, l))
		setup_fail("connect %s: %s", name, strerror(errno));
}

/* Does the address @a/@l name @want (NULL: unnamed)? */
static inline bool un_is(const struct sockaddr_un *a, socklen_t l, const char *want)
{
	if (!want)	/* an unnamed sender reads as no address at all */
		return l <= sizeof(sa_family_t);
	struct sockaddr_un w;
	socklen_t wl = un_addr(&w, want);
	if (want[0] != '@')
		wl--;	/* the kernel may or may not count the NUL of a path */
	if (a->sun_path[0] && l > wl && ((char *)a)[l - 1] == '\0')
		l--;
	return l == wl && !memcmp(a, &w, l);
}

static inline const char *un_str(const struct sockaddr_un *a, socklen_t l, char *buf, size_t n)
{
	if (l <= sizeof(sa_family_t))
		snprintf(buf, n, "(unnamed)");
	else if (!a->sun_path[0])
		snprintf(buf, n, "@%.*s", (int)(l - offsetof(struct sockaddr_un, sun_path) - 1),
			 a->sun_path + 1);
	else
		snprintf(buf, n, "%.*s", (int)(l - offsetof(struct sockaddr_un, sun_path)),
			 a->sun_path);
	return buf;
}

/* getsockname (peer false) or getpeername of @s must be @want. */
static inline void un_check_name(int s, bool peer, const char *want, const char *what)
{
	struct sockaddr_un a;
	socklen_t l = sizeof(a);
	memset(&a, 0, sizeof(a));
	if ((peer ? getpeername : getsockname)(s, (struct sockaddr *)&a, &l)) {
		fail("%s: get%sname: %s", what, peer ? "peer" : "sock", strerror(errno));
		return;
	}
	char buf[256];
	if (!un_is(&a, l, want))
		fail("%s: %s name is %s, want %s", what, peer ? "peer" : "own",
		     un_str(&a, l, buf, sizeof(buf)), want ? want : "(unnamed)");
}

/* The next datagram on @s must be @data from @from (NULL: unnamed). */
static inline void un_expect_from(int s, const char *data, const char *from, const char *what)
{
	char b[256], nb[256];
	struct sockaddr_un a;
	socklen_t l = sizeof(a);
	memset(&a, 0, sizeof(a));
	ssize_t n = recvfrom(s, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&a, &l);
	if (n != (ssize_t)strlen(data) || memcmp(b, data, n)) {
		fail("%s: got %zd bytes \"%.*s\", want \"%s\" (%s)", what, n, (int)(n > 0 ? n : 0), b,
		     data, n < 0 ? strerror(errno) : "");
		return;
	}
	if (!un_is(&a, l, from))
		fail("%s: sent from %s, want %s", what, un_str(&a, l, nb, sizeof(nb)),
		     from ? from : "(unnamed)");
}

#endif
