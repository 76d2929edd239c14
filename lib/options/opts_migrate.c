/* The options of `cryo migrate` (their table entries are in options.c). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options/internal.h"

static int number(const char *val, long min, long max, long *out)
{
	char *end;
	if (!val || !*val || *val == '-' || *val == '+')
		return -EINVAL;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int err_out(char *err, size_t len, const char *what)
{
	snprintf(err, len, "%s", what);
	return -EINVAL;
}

int opts_set_migrate_to(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
			bool neg, char *err, size_t errlen)
{
	(void)opt, (void)neg;
	const char *colon = strrchr(val, ':');
	long port;
	if (!colon || colon == val || number(colon + 1, 1, 65535, &port))
		return err_out(err, errlen, "expected HOST:PORT (a TCP port 1-65535)");
	char *host = strndup(val, colon - val);
	if (!host)
		return -ENOMEM;
	/* [::1]:PORT: the brackets are not part of the address */
	size_t n = strlen(host);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	free(o->migrate_to);
	o->migrate_to = host;
	o->migrate_port = port;
	return 0;
}

int opts_set_migrate_listen(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
			    bool neg, char *err, size_t errlen)
{
	(void)opt, (void)neg;
	long port;
	if (number(val, 1, 65535, &port))
		return err_out(err, errlen, "expected a TCP port number 1-65535");
	o->migrate_listen = port;
	return 0;
}

int opts_set_max_iterations(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
			    bool neg, char *err, size_t errlen)
{
	(void)opt, (void)neg;
	long v;
	if (number(val, 0, 64, &v))
		return err_out(err, errlen, "expected a number of pre-copy iterations 0-64");
	o->migrate_iters = v;
	return 0;
}

int opts_set_converge(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
		      bool neg, char *err, size_t errlen)
{
	(void)opt, (void)neg;
	long v;
	size_t n = strlen(val);
	char buf[16];
	if (n && n < sizeof(buf) && val[n - 1] == '%') {
		memcpy(buf, val, n - 1);
		buf[n - 1] = '\0';
		val = buf;
	}
	if (number(val, 1, 100, &v))
		return err_out(err, errlen, "expected a percentage 1-100");
	o->migrate_converge = v;
	return 0;
}
