/* A first RTO for restored TCP connections to a local peer.
 *
 * A connection connected in repair mode has no RTT sample (no handshake
 * was timed), so the kernel seeds its RTO from the network namespace's
 * TCP metrics cache (tcp_init_metrics): the RTT last saved for the same
 * source and destination addresses.  With no entry there it falls back to
 * a conservative 3 s (RFC 6298 5.7), and until the connection's first
 * acked data every timer based on the RTO waits that long: a
 * retransmission, a zero-window probe, and the probe that sends what a
 * TCP_CORK holds back (200 ms on the dumped connection).  The cache is per
 * network namespace and can't be written (its netlink family only reads
 * and deletes), so a restore into a namespace of its own (or one whose
 * cache was flushed) slows every restored connection down.
 *
 * Where the peer's address is local (loopback, or an address of the
 * namespace, the connection's other end restored alongside or a local
 * server), cryo fills the cache as the kernel does: a short connection
 * from the source address to a listener on the peer's, closed actively so
 * that it goes through TIME_WAIT, which saves its RTT (tcp_time_wait ->
 * tcp_update_metrics).  Its TIME_WAIT entry stays (ephemeral ports; a
 * listener restored later on that port clears it, inet_clear_holders).
 * A remote peer can't be timed without sending to it: its connection keeps
 * the kernel's 3 s until its first RTT sample.  Best effort: a failure only
 * leaves the kernel's default, and is logged as info.
 */
#include "sockets/sk_inet-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEED_WAIT_MS 1000

static bool wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;
	while ((r = poll(&p, 1, SEED_WAIT_MS)) < 0 && errno == EINTR)
		;
	return r == 1;
}

/* @src and @dst (ports 0): 1 if the cache now has an entry, 0 if the peer is
 * not local or the exchange failed (the step it failed at in *@step). */
static int seed(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		socklen_t l, const char **step)
{
	struct sockaddr_storage la;
	socklen_t ll = sizeof(la);
	int lsk = socket(dst->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, a = -1, ret = 0;
	char b;
	*step = "listener";
	if (lsk < 0 || bind(lsk, (const struct sockaddr *)dst, l) || listen(lsk, 1) ||
	    getsockname(lsk, (struct sockaddr *)&la, &ll))
		goto out;	/* EADDRNOTAVAIL: not an address of this namespace */
	*step = "connect";
	c = socket(src->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c < 0 || bind(c, (const struct sockaddr *)src, l))
		goto out;
	if (connect(c, (struct sockaddr *)&la, ll) && errno != EINPROGRESS)
		goto out;
	*step = "accept";
	if (!wait_fd(lsk, POLLIN) || (a = accept4(lsk, NULL, NULL, SOCK_CLOEXEC)) < 0)
		goto out;
	/* c's FIN first: c is the one that goes through TIME_WAIT */
	*step = "close";
	if (shutdown(c, SHUT_WR) || !wait_fd(a, POLLIN) || read(a, &b, 1) != 0)
		goto out;
	close(a);
	a = -1;
	/* the peer's FIN seen: c went to TIME_WAIT, its RTT saved */
	if (!wait_fd(c, POLLIN | POLLRDHUP))
		goto out;
	ret = 1;
out:
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	if (lsk >= 0)
		close(lsk);
	return ret;
}

int tcp_seed_rtt(struct files_restore *fr, const InetSkEntry *ie)
{
	struct inet_rst_state *st = inet_rst_state(fr);
	struct sockaddr_storage src, dst;
	socklen_t l, ld;
	if (!st)
		return -ENOMEM;
	if (inet_sockaddr(ie, true, &src, &l) || inet_sockaddr(ie, false, &dst, &ld) || l != ld)
		return 0;
	/* the port is at the same offset in sockaddr_in and sockaddr_in6 */
	((struct sockaddr_in *)&src)->sin_port = 0;
	((struct sockaddr_in *)&dst)->sin_port = 0;
	for (int i = 0; i < st->nr_seeded; i++)
		if (!memcmp(&st->seeded[i][0], &src, l) && !memcmp(&st->seeded[i][1], &dst, l))
			return 0;
	struct sockaddr_storage (*n)[2] = xrealloc(st->seeded, (st->nr_seeded + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->seeded = n;
	memcpy(&n[st->nr_seeded][0], &src, sizeof(src));
	memcpy(&n[st->nr_seeded][1], &dst, sizeof(dst));
	st->nr_seeded++;
	const char *step;
	if (seed(&src, &dst, l, &step))
		pr_info("TCP connection %u: the first RTO of connections to its peer's address "
			"timed by a local connection", ie->id);
	else
		pr_info("TCP connection %u: no local connection to its peer's address (%s: %s): "
			"its first RTO is the kernel's default", ie->id, step, strerror(errno));
	return 0;
}
