/* Table-driven socket option checks for sk_inet_opts and sk_tcp_opts: each
 * option is set to a value that is not its default, the value the kernel
 * then reports is recorded (it may round or double it), and after the
 * restore the option must report exactly that again. */
#ifndef SK_OPTS_UTIL_H
#define SK_OPTS_UTIL_H

#include <stdint.h>

#include "sk_inet_util.h"

struct iopt {
	int level, name;
	const char *str;
	int64_t val;		/* set to this */
	int len;		/* 0: an int; 8: a 64-bit value */
	int64_t got;		/* what getsockopt said afterwards */
};
#define IOPT(level, name, val) { level, name, #name, val, 0, 0 }
#define IOPT64(level, name, val) { level, name, #name, val, 8, 0 }

static inline int iopt_get(int fd, const struct iopt *o, int64_t *v)
{
	uint64_t u = 0;
	int i = 0;
	socklen_t l = o->len == 8 ? sizeof(u) : sizeof(i);
	/* the *FORCE options are set only: read the size */
	int name = o->level != SOL_SOCKET ? o->name : o->name == SO_RCVBUFFORCE ? SO_RCVBUF :
		   o->name == SO_SNDBUFFORCE ? SO_SNDBUF : o->name;
	if (getsockopt(fd, o->level, name, o->len == 8 ? (void *)&u : (void *)&i, &l))
		return -1;
	*v = o->len == 8 ? (int64_t)u : i;
	return 0;
}

/* Set every option of @t on @fd (and on a fresh socket @fresh, to see that
 * the value is not the default); setup_fail on errors. */
static inline void iopts_set(int fd, int fresh, struct iopt *t, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		struct iopt *o = &t[i];
		int iv = (int)o->val;
		uint64_t uv = o->val;
		const void *p = o->len == 8 ? (void *)&uv : (void *)&iv;
		socklen_t l = o->len == 8 ? sizeof(uv) : sizeof(iv);
		int64_t def = 0;
		if (fresh >= 0 && iopt_get(fresh, o, &def))
			setup_fail("%s: getsockopt(%s) on a fresh socket: %s", what, o->str,
				   strerror(errno));
		if (setsockopt(fd, o->level, o->name, p, l) || iopt_get(fd, o, &o->got))
			setup_fail("%s: setsockopt(%s, %lld): %s", what, o->str, (long long)o->val,
				   strerror(errno));
		if (fresh >= 0 && def == o->got)
			setup_fail("%s: %s = %lld is its default: the test would prove nothing",
				   what, o->str, (long long)o->got);
	}
}

static inline void iopts_check(int fd, const struct iopt *t, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		int64_t v = -12345;
		if (iopt_get(fd, &t[i], &v))
			fail("%s: getsockopt(%s): %s", what, t[i].str, strerror(errno));
		else if (v != t[i].got)
			fail("%s: %s is %lld, was %lld", what, t[i].str, (long long)v,
			     (long long)t[i].got);
	}
}

#define NOPTS(t) ((int)(sizeof(t) / sizeof((t)[0])))

#endif
