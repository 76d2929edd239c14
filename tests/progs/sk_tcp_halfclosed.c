/* sk_tcp_halfclosed: both ends of loopback TCP connections in the tree, in
 * the states a shutdown leads to, with data still queued.
 *
 * Default: a client that sent data and shut down writing (FIN_WAIT2), its
 * server with that data unread (CLOSE_WAIT) and replying.
 * --closing: the states that need a FIN stuck behind data the peer does not
 * read (tiny buffers, a zero window):
 *   FIN_WAIT1 (data and FIN not sent) against ESTABLISHED,
 *   CLOSING (FIN not sent, the peer's FIN received) against FIN_WAIT2,
 *   LAST_ACK (the peer shut down first, our data and FIN stuck) against
 *   FIN_WAIT2.
 * --v6 (::1), --mapped (IPv6 sockets talking IPv4, ::ffff:127.0.0.1).
 *
 * After the restore: each socket's TCP_MAXSEG (its send MSS) reads as
 * before the dump, before any new exchange; its TCP_INFO state is the dumped one, every
 * byte arrives once and in order, end of file where the peer shut down,
 * EPIPE writing where we did, and the open direction still carries data.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool v6, mapped, closing;
TEST_OPTION(v6, bool, "IPv6 (::1)", 0);
TEST_OPTION(mapped, bool, "IPv6 sockets with IPv4-mapped addresses", 0);
TEST_OPTION(closing, bool, "FIN_WAIT1, CLOSING and LAST_ACK", 0);

#define BIG (4u << 20)
static char *big;

struct pair {
	const char *name;
	int c, s;
	int cstate, sstate;	/* expected */
	size_t c2s, s2c;	/* bytes written each way, unread */
	bool cshut, sshut;	/* shut down writing */
	uint64_t cseed, sseed;
	int cmss, smss;		/* TCP_MAXSEG before the dump */
};

static int maxseg(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, SOL_TCP, TCP_MAXSEG, &v, &l))
		return -errno;
	return v;
}

static int family(void)
{
	return v6 || mapped ? AF_INET6 : AF_INET;
}

static void connect_pair(struct pair *p, int bufsz)
{
	int fam = family();
	struct sockaddr_storage ss;
	socklen_t len = loopback(fam, &ss, 0);
	int l = socket(fam, SOCK_STREAM, 0), zero = 0;
	if (mapped)
		setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bufsz) {
		/* inherited by the accepted socket; before the handshake, so
		 * that the window scale is small too */
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
		setsockopt(l, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	}
	if (mapped)
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_any;
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&ss, &len))
		setup_fail("%s: listener: %s", p->name, strerror(errno));
	if (mapped)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	p->c = socket(fam, SOCK_STREAM, 0);
	if (bufsz) {
		setsockopt(p->c, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
		setsockopt(p->c, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	}
	if (p->c < 0 || connect(p->c, (struct sockaddr *)&ss, len))
		setup_fail("%s: connect: %s", p->name, strerror(errno));
	p->s = accept(l, NULL, NULL);
	if (p->s < 0)
		setup_fail("%s: accept: %s", p->name, strerror(errno));
	close(l);
	fcntl(p->c, F_SETFL, O_NONBLOCK);
	fcntl(p->s, F_SETFL, O_NONBLOCK);
}

/* Write the pattern of @seed from offset *@off until the socket takes no
 * more (the peer's window and our buffer full), or @max bytes. */
static void fill(int fd, size_t *off, uint64_t seed, size_t max, const char *what)
{
	for (int calm = 0; calm < 3 && *off < max;) {
		size_t n = max - *off < 65536 ? max - *off : 65536;
		for (size_t i = 0; i < n; i++)
			big[i] = pattern_byte(seed, *off + i);
		ssize_t w = write(fd, big, n);
		if (w > 0) {
			*off += w;
			calm = 0;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			setup_fail("%s: write: %s", what, strerror(errno));
		calm++;
		usleep(100 * 1000);
	}
}

static void wait_states(struct pair *p)
{
	for (int i = 0; i < 50; i++) {
		if (sk_state(p->c) == p->cstate && sk_state(p->s) == p->sstate)
			return;
		usleep(20 * 1000);
	}
	setup_fail("%s: states %d/%d, expected %d/%d", p->name, sk_state(p->c), sk_state(p->s),
		   p->cstate, p->sstate);
}

static void setup(struct pair *p)
{
	size_t off;
	switch (p->cstate) {
	case TCP_FIN_WAIT2:
		if (p->sstate == TCP_CLOSE_WAIT) {
			/* half-closed with data both ways */
			connect_pair(p, 0);
			p->c2s = 100000;
			p->s2c = 70000;
			off = 0;
			fill(p->c, &off, p->cseed, p->c2s, p->name);
			if (off != p->c2s)
				setup_fail("%s: only %zu bytes queued", p->name, off);
			shutdown(p->c, SHUT_WR);
			p->cshut = true;
			off = 0;
			fill(p->s, &off, p->sseed, p->s2c, p->name);
			break;
		}
		/* LAST_ACK: the client shut down first; the server's data and
		 * FIN stuck behind the client's zero window */
		connect_pair(p, 4096);
		shutdown(p->c, SHUT_WR);
		p->cshut = true;
		usleep(50 * 1000);
		fill(p->s, &p->s2c, p->sseed, BIG, p->name);
		shutdown(p->s, SHUT_WR);
		p->sshut = true;
		break;
	case TCP_FIN_WAIT1:
		/* the client's data and FIN stuck behind a zero window */
		connect_pair(p, 4096);
		p->s2c = 3000;
		off = 0;
		fill(p->s, &off, p->sseed, p->s2c, p->name);
		fill(p->c, &p->c2s, p->cseed, BIG, p->name);
		shutdown(p->c, SHUT_WR);
		p->cshut = true;
		break;
	case TCP_CLOSING:
		/* as FIN_WAIT1, and the server shuts down too */
		connect_pair(p, 4096);
		fill(p->c, &p->c2s, p->cseed, BIG, p->name);
		shutdown(p->c, SHUT_WR);
		p->cshut = true;
		usleep(50 * 1000);
		shutdown(p->s, SHUT_WR);
		p->sshut = true;
		break;
	}
	wait_states(p);
}

/* Read exactly @n bytes of the pattern of @seed, then (if @eof) end of
 * file. */
static void drain(int fd, size_t n, uint64_t seed, bool eof, const char *what, const char *name)
{
	char *b = malloc(n + 1);
	size_t got = 0;
	ssize_t r = -1;
	while (got < n + eof) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, 5000) != 1)
			break;
		r = read(fd, b + got, n + 1 - got);
		if (r <= 0)
			break;
		got += r;
	}
	if (got != n)
		fail("%s: %s got %zu of %zu bytes (last read %zd: %s)", name, what, got, n, r,
		     r < 0 ? strerror(errno) : "ok");
	else if (pattern_check(b, n, seed) >= 0)
		fail("%s: %s: the data differs at byte %zd", name, what, pattern_check(b, n, seed));
	else if (eof && r != 0)
		fail("%s: %s: no end of file after the data (%zd: %s)", name, what, r,
		     r < 0 ? strerror(errno) : "more data");
	free(b);
}

static void check(struct pair *p)
{
	int cs = sk_state(p->c), ss = sk_state(p->s);
	/* first, before anything new is exchanged */
	if (maxseg(p->c) != p->cmss || maxseg(p->s) != p->smss)
		fail("%s: TCP_MAXSEG client %d, server %d; before the dump %d, %d", p->name,
		     maxseg(p->c), maxseg(p->s), p->cmss, p->smss);
	if (cs != p->cstate || ss != p->sstate) {
		fail("%s: states after the restore %d/%d, expected %d/%d", p->name, cs, ss,
		     p->cstate, p->sstate);
		return;
	}
	/* our own FIN: writing fails */
	if (p->cshut && (write(p->c, "x", 1) != -1 || errno != EPIPE))
		fail("%s: client: a write after shutdown did not fail with EPIPE", p->name);
	if (p->sshut && (write(p->s, "x", 1) != -1 || errno != EPIPE))
		fail("%s: server: a write after shutdown did not fail with EPIPE", p->name);
	drain(p->s, p->c2s, p->cseed, p->cshut, "server reading", p->name);
	drain(p->c, p->s2c, p->sseed, p->sshut, "client reading", p->name);
	/* the directions still open carry new data */
	char msg[] = "after the restore", b[sizeof(msg)];
	if (!p->sshut) {
		if (write(p->s, msg, sizeof(msg)) != sizeof(msg))
			fail("%s: server: write: %s", p->name, strerror(errno));
		struct pollfd pf = { .fd = p->c, .events = POLLIN };
		if (poll(&pf, 1, 5000) != 1 || read(p->c, b, sizeof(b)) != sizeof(b) ||
		    memcmp(b, msg, sizeof(b)))
			fail("%s: new data server -> client did not arrive", p->name);
		shutdown(p->s, SHUT_WR);
		if (poll(&pf, 1, 5000) != 1 || read(p->c, b, sizeof(b)) != 0)
			fail("%s: client: no end of file after the server's shutdown", p->name);
	}
	if (!p->cshut) {
		if (write(p->c, msg, sizeof(msg)) != sizeof(msg))
			fail("%s: client: write: %s", p->name, strerror(errno));
		struct pollfd pf = { .fd = p->s, .events = POLLIN };
		if (poll(&pf, 1, 5000) != 1 || read(p->s, b, sizeof(b)) != sizeof(b) ||
		    memcmp(b, msg, sizeof(b)))
			fail("%s: new data client -> server did not arrive", p->name);
	}
}

int main(int argc, char **argv)
{
	test_doc = "TCP connections half closed, data queued";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	big = malloc(65536);
	struct pair pairs[] = {
		{ .name = "FIN_WAIT2/CLOSE_WAIT", .cstate = TCP_FIN_WAIT2, .sstate = TCP_CLOSE_WAIT },
		{ .name = "FIN_WAIT1/ESTABLISHED", .cstate = TCP_FIN_WAIT1, .sstate = TCP_ESTABLISHED },
		{ .name = "CLOSING/FIN_WAIT2", .cstate = TCP_CLOSING, .sstate = TCP_FIN_WAIT2 },
		{ .name = "FIN_WAIT2/LAST_ACK", .cstate = TCP_FIN_WAIT2, .sstate = TCP_LAST_ACK },
	};
	int first = closing ? 1 : 0, last = closing ? 4 : 1;
	for (int i = first; i < last; i++) {
		pairs[i].cseed = 100 + i;
		pairs[i].sseed = 200 + i;
		setup(&pairs[i]);
		pairs[i].cmss = maxseg(pairs[i].c);
		pairs[i].smss = maxseg(pairs[i].s);
		test_msg("%s: %zu bytes client -> server, %zu back; mss %d/%d", pairs[i].name,
			 pairs[i].c2s, pairs[i].s2c, pairs[i].cmss, pairs[i].smss);
	}

	test_daemon();
	test_waitsig();

	for (int i = first; i < last; i++)
		check(&pairs[i]);
	return test_verdict();
}
