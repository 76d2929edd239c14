/* sk_tcp_stream: a TCP connection checkpointed mid-stream, its peer outside
 * the dumped tree and running all along.
 *
 * The test makes a loopback connection (a listener, a client, the accepted
 * socket), then forks a peer that double-forks away from the tree (its own
 * session, reparented to init) and keeps one end.  The test keeps the other
 * end: the client (default) or the accepted socket and the listener
 * (--server).  Both ends send increasing 32-bit numbers as fast as they can
 * and read them slowly, in bursts, so that at the dump both the send queue
 * and the receive queue of the dumped socket hold data.  Buffers are set to
 * 128 KiB (SO_SNDBUF/SO_RCVBUF) so the queues stay bounded.
 *
 * After SIGTERM the test stops sending (shutdown SHUT_WR once its last
 * number is out); the peer, at that end of stream, stops too and sends a
 * trailer: a marker, the number of errors it saw, how many numbers it got
 * and how many it sent.  The test checks that every number arrived exactly
 * once and in order on both sides and that no network lock (nftables table
 * "inet cryo", iptables chain CRYO) still names the connection, then kills
 * the peer by its PID.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool server, v6;
TEST_OPTION(server, bool, "the dumped side is the server (accepted socket + listener)", 0);
TEST_OPTION(v6, bool, "IPv6 (::1) instead of 127.0.0.1", 0);
static bool mapped;
TEST_OPTION(mapped, bool, "a dual-stack IPv6 listener, an IPv4 client: the accepted socket "
	    "is IPv6 with IPv4-mapped addresses", 0);

#define MARK 0xffffffffu
#define READ_BURST 4096		/* bytes read per round */
#define BUF_SIZE (128 * 1024)

struct end {
	int fd;
	uint32_t in_next;	/* next number expected */
	uint8_t part[4];
	int npart;
	uint32_t out_next;	/* next number to send */
	uint32_t obuf[1024];
	size_t olen, ooff;	/* bytes */
	bool eof, stop_sending, trailer_queued, done_sending;
	int errors;
	char first_err[160];
	int ntrailer;		/* words of the trailer seen (0: none) */
	uint32_t trailer[4];
};

static void got_word(struct end *e, uint32_t w)
{
	if (e->ntrailer) {
		if (e->ntrailer < 4)
			e->trailer[e->ntrailer++] = w;
		return;
	}
	if (w == MARK) {
		e->trailer[0] = w;
		e->ntrailer = 1;
		return;
	}
	if (w != e->in_next) {
		if (!e->errors++)
			snprintf(e->first_err, sizeof(e->first_err), "got %u where %u was expected", w,
				 e->in_next);
		e->in_next = w + 1;
		return;
	}
	e->in_next++;
}

static void got_bytes(struct end *e, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		e->part[e->npart++] = b[i];
		if (e->npart == 4) {
			uint32_t w;
			memcpy(&w, e->part, 4);
			got_word(e, w);
			e->npart = 0;
		}
	}
}

/* One round: read a burst if there is one, write what the socket takes.
 * Returns -1 on a socket error (logged in e->first_err). */
static int pump(struct end *e, int timeout_ms, bool reading)
{
	struct pollfd p = { .fd = e->fd, .events = reading ? POLLIN : 0 };
	if (!e->done_sending)
		p.events |= POLLOUT;
	if (poll(&p, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (reading && (p.revents & (POLLIN | POLLHUP | POLLERR)) && !e->eof) {
		uint8_t b[READ_BURST];
		ssize_t n = read(e->fd, b, sizeof(b));
		if (n == 0)
			e->eof = true;
		else if (n > 0)
			got_bytes(e, b, n);
		else if (errno != EAGAIN && errno != EINTR) {
			snprintf(e->first_err, sizeof(e->first_err), "read: %s", strerror(errno));
			return -1;
		}
	}
	/* writes faster than the other side reads: the send queue fills */
	for (int round = 0; (p.revents & POLLOUT) && !e->done_sending && round < 16; round++) {
		if (e->ooff == e->olen) {
			if (e->stop_sending) {
				e->done_sending = true;
				return 0;
			}
			for (size_t i = 0; i < 1024; i++)
				e->obuf[i] = e->out_next++;
			e->olen = sizeof(e->obuf);
			e->ooff = 0;
		}
		ssize_t n = write(e->fd, (char *)e->obuf + e->ooff, e->olen - e->ooff);
		if (n > 0)
			e->ooff += n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(e->first_err, sizeof(e->first_err), "write: %s", strerror(errno));
			return -1;
		} else
			break;
	}
	return 0;
}

/* The peer, outside the tree: until the test's end of stream, then the
 * trailer; gives up after 120 s without any progress. */
static void run_peer(int fd)
{
	struct end e = { .fd = fd };
	uint64_t last = test_now_ns();
	uint32_t seen_in = 0, seen_out = 0;
	for (;;) {
		/* reads in bursts, 100 ms out of 400 (always once the test
		 * ends its stream): the dumped side's send queue fills up */
		bool reading = e.eof || e.stop_sending || (test_now_ns() / 1000000) % 400 < 100;
		if (pump(&e, 5, reading) < 0)
			break;
		if (e.eof && !e.stop_sending)
			e.stop_sending = true;	/* finish the numbers in the buffer */
		if (e.done_sending && !e.trailer_queued) {
			uint32_t t[4] = { MARK, e.errors, e.in_next, e.out_next };
			memcpy(e.obuf, t, sizeof(t));
			e.olen = sizeof(t);
			e.ooff = 0;
			e.trailer_queued = true;
			e.done_sending = false;
			e.stop_sending = true;
		}
		if (e.trailer_queued && e.done_sending) {
			shutdown(fd, SHUT_WR);
			/* the test closes when it has the trailer */
			struct pollfd p = { .fd = fd, .events = POLLIN };
			poll(&p, 1, 60000);
			break;
		}
		if (e.in_next != seen_in || e.out_next != seen_out) {
			seen_in = e.in_next;
			seen_out = e.out_next;
			last = test_now_ns();
		} else if (test_now_ns() - last > 120ull * 1000000000) {
			break;
		}
		usleep(1000);	/* slow reader: queues fill up on both sides */
	}
	_exit(0);
}

static int make_pair(int *lst, int *cli, int *acc)
{
	int fam = v6 ? AF_INET6 : AF_INET;
	struct sockaddr_storage ss = { 0 };
	socklen_t l;
	if (v6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_addr = in6addr_loopback;
		l = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		l = sizeof(*s);
	}
	if (mapped) {
		struct sockaddr_in6 any = { .sin6_family = AF_INET6, .sin6_addr = in6addr_any };
		int zero = 0;
		*lst = socket(AF_INET6, SOCK_STREAM, 0);
		socklen_t al = sizeof(any);
		if (*lst < 0 || setsockopt(*lst, SOL_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
		    bind(*lst, (struct sockaddr *)&any, al) || listen(*lst, 16) ||
		    getsockname(*lst, (struct sockaddr *)&any, &al))
			return -1;
		((struct sockaddr_in *)&ss)->sin_port = any.sin6_port;
	} else {
		*lst = socket(fam, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(*lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (*lst < 0 || bind(*lst, (struct sockaddr *)&ss, l) || listen(*lst, 16) ||
		    getsockname(*lst, (struct sockaddr *)&ss, &l))
			return -1;
	}
	*cli = socket(fam, SOCK_STREAM, 0);
	if (*cli < 0 || connect(*cli, (struct sockaddr *)&ss, l))
		return -1;
	*acc = accept(*lst, NULL, NULL);
	return *acc < 0 ? -1 : 0;
}

/* Is the connection (both ports on one line) still in a network lock? */
static bool still_locked(int fd)
{
	struct sockaddr_storage a, b;
	socklen_t al = sizeof(a), bl = sizeof(b);
	if (getsockname(fd, (struct sockaddr *)&a, &al) || getpeername(fd, (struct sockaddr *)&b, &bl))
		return false;
	unsigned pa = ntohs(((struct sockaddr_in *)&a)->sin_port);
	unsigned pb = ntohs(((struct sockaddr_in *)&b)->sin_port);
	FILE *f = popen("nft list table inet cryo 2>/dev/null; iptables -w -S CRYO 2>/dev/null; "
			"ip6tables -w -S CRYO 2>/dev/null", "r");
	if (!f)
		return false;
	char line[512], sa[16], sb[16];
	bool found = false;
	snprintf(sa, sizeof(sa), " %u ", pa);
	snprintf(sb, sizeof(sb), " %u ", pb);
	while (fgets(line, sizeof(line), f)) {
		for (char *c = line; *c; c++)
			if (*c == '\n' || *c == ',')
				*c = ' ';
		if (strstr(line, sa) && strstr(line, sb)) {
			test_msg("still locked: %s", line);
			found = true;
		}
	}
	pclose(f);
	return found;
}

int main(int argc, char **argv)
{
	test_doc = "loopback TCP stream checkpointed mid-flight, the peer outside the tree";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);

	int lst, cli, acc;
	if (make_pair(&lst, &cli, &acc))
		setup_fail("loopback connection: %s", strerror(errno));
	int mine = server ? acc : cli, theirs = server ? cli : acc;
	int bufsz = BUF_SIZE;
	setsockopt(mine, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(mine, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	setsockopt(theirs, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(theirs, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	int one = 1;
	setsockopt(mine, SOL_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(mine, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	int idle = 77;
	setsockopt(mine, SOL_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));

	int pp[2];
	if (pipe(pp))
		setup_fail("pipe: %s", strerror(errno));
	pid_t c = fork();
	if (c < 0)
		setup_fail("fork: %s", strerror(errno));
	if (c == 0) {
		test_forked_child();
		setsid();
		pid_t g = fork();
		if (g == 0) {
			pid_t me = getpid();
			close(pp[0]);
			close(mine);
			close(lst);
			if (write(pp[1], &me, sizeof(me)) != sizeof(me))
				_exit(1);
			close(pp[1]);
			fcntl(theirs, F_SETFL, O_NONBLOCK);
			run_peer(theirs);
		}
		_exit(g < 0);
	}
	int st;
	waitpid(c, &st, 0);
	pid_t peer = 0;
	close(pp[1]);
	if (read(pp[0], &peer, sizeof(peer)) != sizeof(peer) || peer <= 0)
		setup_fail("the peer did not start");
	close(pp[0]);
	close(theirs);
	if (!server)
		close(lst);
	fcntl(mine, F_SETFL, O_NONBLOCK);

	struct end e = { .fd = mine };
	test_daemon();
	while (test_go()) {
		if (pump(&e, 5, true) < 0)
			break;
		if (e.eof)
			break;
		usleep(1000);
	}
	uint32_t at_term_in = e.in_next, at_term_out = e.out_next;
	test_msg("at SIGTERM: %u numbers received, %u sent", at_term_in, at_term_out);
	/* end of stream: our last numbers, then SHUT_WR; read up to the trailer */
	e.stop_sending = true;
	bool shut = false;
	uint64_t t0 = test_now_ns();
	while (e.ntrailer < 4 && !e.eof && test_now_ns() - t0 < 60ull * 1000000000) {
		if (pump(&e, 5, true) < 0)
			break;
		if (e.done_sending && !shut) {
			shutdown(mine, SHUT_WR);
			shut = true;
		}
	}
	if (e.first_err[0] && e.errors == 0)
		fail("the dumped side: %s", e.first_err);
	else if (e.errors)
		fail("the dumped side saw %d numbers out of order; first: %s", e.errors, e.first_err);
	if (e.ntrailer < 4)
		fail("no trailer from the peer (%s; %u numbers received)",
		     e.eof ? "end of stream first" : "timeout", e.in_next);
	else {
		if (e.trailer[1])
			fail("the peer saw %u numbers out of order", e.trailer[1]);
		if (e.trailer[2] != e.out_next)
			fail("the peer received %u numbers, %u were sent", e.trailer[2], e.out_next);
		if (e.trailer[3] != e.in_next)
			fail("the peer sent %u numbers, %u were received", e.trailer[3], e.in_next);
		test_msg("%u numbers each way checked (%u/%u at SIGTERM)", e.in_next, at_term_in,
			 at_term_out);
	}
	if (e.in_next < 10000 || e.out_next < 10000)
		fail("too little traffic: %u in, %u out", e.in_next, e.out_next);
	/* after a restore, a refused or failed dump, or --leave-running, the
	 * network lock of the connection is gone */
	if (still_locked(mine))
		fail("the connection is still in the network lock");
	kill(peer, SIGKILL);
	close(mine);
	return test_verdict();
}
