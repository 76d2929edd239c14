/* sk_tcp_synsent: a TCP socket still connecting (SYN_SENT).
 *
 * A peer outside the tree (double-forked away) listens with a backlog of 0
 * and one connection it does not accept: the accept queue is full, so the
 * kernel drops the SYNs of our non-blocking connect, which stays in SYN_SENT
 * retransmitting.  After the restore the socket is still in SYN_SENT; the
 * peer is told (SIGUSR1) to accept: the connect completes (SO_ERROR 0,
 * ESTABLISHED) and data goes both ways.  --v6, --mapped.
 * --timedout: the connect (TCP_SYNCNT 1) gives up, ETIMEDOUT pending: cryo
 * must refuse to dump it, and the error must still be there afterwards.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool v6, mapped, timedout;
TEST_OPTION(v6, bool, "IPv6 (::1)", 0);
TEST_OPTION(timedout, bool, "a connect that timed out (refused at dump)", 0);
TEST_OPTION(mapped, bool, "an IPv6 socket connecting to ::ffff:127.0.0.1", 0);

static volatile sig_atomic_t go;

static void on_usr1(int s)
{
	(void)s;
	go = 1;
}

static int fam(void)
{
	return v6 || mapped ? AF_INET6 : AF_INET;
}

/* outside the tree: accept when told, answer "hello" with "world" */
static void run_peer(int l, int filler)
{
	for (int i = 0; i < 1200 && !go; i++)
		usleep(100 * 1000);
	if (!go)
		_exit(1);
	int a = accept(l, NULL, NULL);	/* the filler */
	close(a);
	close(filler);
	a = accept(l, NULL, NULL);	/* the restored connect */
	char b[5];
	ssize_t got = 0;
	while (a >= 0 && got < 5) {
		ssize_t r = read(a, b + got, 5 - got);
		if (r <= 0)
			_exit(1);
		got += r;
	}
	if (a < 0 || memcmp(b, "hello", 5) || write(a, "world", 5) != 5)
		_exit(1);
	while (read(a, b, sizeof(b)) > 0)
		;
	_exit(0);
}

int main(int argc, char **argv)
{
	test_doc = "a TCP socket in SYN_SENT";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_storage ss;
	socklen_t len = loopback(fam(), &ss, 0);
	int zero = 0;
	int l = socket(fam(), SOCK_STREAM, 0);
	if (mapped) {
		setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_any;
	}
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) || listen(l, 0) ||
	    getsockname(l, (struct sockaddr *)&ss, &len))
		setup_fail("listener: %s", strerror(errno));
	if (mapped)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	int filler = socket(fam(), SOCK_STREAM, 0);
	if (filler < 0 || connect(filler, (struct sockaddr *)&ss, len))
		setup_fail("filler: %s", strerror(errno));

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
			signal(SIGUSR1, on_usr1);
			close(pp[0]);
			if (write(pp[1], &me, sizeof(me)) != sizeof(me))
				_exit(1);
			close(pp[1]);
			run_peer(l, filler);
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
	close(l);
	close(filler);

	int sk = socket(fam(), SOCK_STREAM, 0), one = 1;
	if (timedout)
		setsockopt(sk, IPPROTO_TCP, TCP_SYNCNT, &one, sizeof(one));
	fcntl(sk, F_SETFL, O_NONBLOCK);
	if (connect(sk, (struct sockaddr *)&ss, len) == 0 || errno != EINPROGRESS)
		setup_fail("connect did not stay in progress: %s", strerror(errno));
	usleep(100 * 1000);
	if (timedout) {
		/* SYN, one retransmission after 1 s, given up 2 s later */
		for (int i = 0; i < 100 && sk_state(sk) != TCP_CLOSE; i++)
			usleep(100 * 1000);
		if (sk_state(sk) != TCP_CLOSE) {
			kill(peer, SIGKILL);
			setup_fail("the connect did not time out (state %d)", sk_state(sk));
		}
		test_daemon();
		test_waitsig();
		int e = -1;
		socklen_t el = sizeof(e);
		getsockopt(sk, SOL_SOCKET, SO_ERROR, &e, &el);
		if (e != ETIMEDOUT)
			fail("SO_ERROR is %d (%s), not ETIMEDOUT", e, strerror(e));
		kill(peer, SIGKILL);
		return test_verdict();
	}
	if (sk_state(sk) != TCP_SYN_SENT) {
		kill(peer, SIGKILL);
		setup_fail("state %d, not SYN_SENT", sk_state(sk));
	}

	test_daemon();
	test_waitsig();

	if (sk_state(sk) != TCP_SYN_SENT)
		fail("state %d after the restore, not SYN_SENT", sk_state(sk));
	kill(peer, SIGUSR1);
	struct pollfd p = { .fd = sk, .events = POLLOUT };
	int e = -1;
	socklen_t el = sizeof(e);
	if (poll(&p, 1, 20000) != 1)
		fail("the connect did not complete");
	else if (getsockopt(sk, SOL_SOCKET, SO_ERROR, &e, &el) || e)
		fail("the connect failed: %s", strerror(e));
	else if (sk_state(sk) != TCP_ESTABLISHED)
		fail("state %d after the connect, not ESTABLISHED", sk_state(sk));
	else {
		char b[5];
		p.events = POLLIN;
		if (write(sk, "hello", 5) != 5 || poll(&p, 1, 5000) != 1 || read(sk, b, 5) != 5 ||
		    memcmp(b, "world", 5))
			fail("no data both ways after the connect");
	}
	close(sk);
	kill(peer, SIGKILL);
	return test_verdict();
}
