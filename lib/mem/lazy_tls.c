/* The lazy-pages daemon's connection to the dump over TLS (lazy.h:
 * struct lazy_tls): the handshake goes on while the daemon waits for the
 * restore and ends before the first page is asked for. */
#include "mem/lazy.h"
#include "mem/ps_tls.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static int step(struct lazy_tls *lt)
{
	if (!lt->t || lt->done)
		return 0;
	int ret = ps_tls_handshake(lt->t);
	if (!ret)
		lt->done = true;
	return ret == -EAGAIN ? 0 : ret;
}

static short wanted(struct lazy_tls *lt)
{
	return ps_tls_handshake_wants_write(lt->t) ? POLLOUT : POLLIN;
}

int lazy_tls_begin(struct lazy_tls *lt, int sk, const char *name, const struct lazy_daemon_args *a)
{
	struct ps_tls_opts o = *a->tls;
	o.hostname = a->address;	/* the dump's certificate must name it */
	o.what = "lazy-pages: the dump's page server";
	o.no_handshake_timeout = true;	/* the dump answers once it serves */
	lt->sk = sk;
	lt->name = name;
	int fl = fcntl(sk, F_GETFL);
	if (fl < 0 || fcntl(sk, F_SETFL, fl | O_NONBLOCK))
		return log_errno(-errno, "lazy-pages: can't make the connection to %s non-blocking",
				 name);
	int ret = ps_tls_begin(sk, false, &o, name, &lt->t);
	return ret ? ret : step(lt);	/* sends its hello */
}

int lazy_tls_accept(struct lazy_tls *lt, int lsk, const char *dir)
{
	for (;;) {
		struct pollfd p[2] = { { lsk, POLLIN, 0 }, { -1, 0, 0 } };
		if (lt->t && !lt->done)
			p[1] = (struct pollfd){ lt->sk, wanted(lt), 0 };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return log_errno(-errno, "lazy-pages: poll failed");
		}
		if (p[1].revents) {
			int ret = step(lt);
			if (ret)
				return ret;
		}
		if (!p[0].revents)
			continue;
		int sk = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
		if (sk >= 0)
			return sk;
		if (errno != EINTR)
			return log_errno(-errno, "lazy-pages: accept on %s/%s failed", dir,
					 LAZY_SOCKET);
	}
}

int lazy_tls_finish(struct lazy_tls *lt)
{
	if (!lt->t)
		return 0;
	while (!lt->done) {
		struct pollfd p = { lt->sk, wanted(lt), 0 };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return log_errno(-errno, "lazy-pages: poll failed");
		int ret = step(lt);
		if (ret)
			return ret;
	}
	int fl = fcntl(lt->sk, F_GETFL);	/* requests and answers block from here on */
	if (fl < 0 || fcntl(lt->sk, F_SETFL, fl & ~O_NONBLOCK))
		return log_errno(-errno, "lazy-pages: can't make the connection to %s blocking",
				 lt->name);
	return 0;
}
