/* sk_tcp_inflight: a listener with a connection not accepted yet.
 *
 * A client connects to the test's listener and closes; the connection waits
 * in the accept queue.  criu refuses that (sk_tcp_inflight.desc);
 * --skip-in-flight drops it (sk_tcp_inflight_skip.desc, --skip): after the
 * restore the queue is empty and the listener accepts a new connection.
 * Without a dump (the refused case), the old connection is still queued.
 */
#include <unistd.h>

#include "sk_inet_util.h"

static bool skip;
TEST_OPTION(skip, bool, "the dump used --skip-in-flight: the queued connection is gone", 0);

int main(int argc, char **argv)
{
	test_doc = "listening TCP socket with a connection in its accept queue";
	test_init(argc, argv);
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&ss, &len))
		setup_fail("listener: %s", strerror(errno));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
		setup_fail("connect: %s", strerror(errno));
	struct sockaddr_storage old;
	socklen_t ol = sizeof(old);
	getsockname(c, (struct sockaddr *)&old, &ol);
	close(c);

	test_daemon();
	test_waitsig();

	if (sk_state(l) != TCP_LISTEN)
		fail("the listener is in state %d", sk_state(l));
	int a = accept_wait(l, 200);
	if (skip && a >= 0)
		fail("the in-flight connection survived --skip-in-flight");
	if (!skip) {
		if (a < 0)
			fail("the queued connection is gone without --skip-in-flight");
		else if (!same_name(a, &old, ol, true))
			fail("the queued connection is not the one made before");
	}
	if (a >= 0)
		close(a);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
		fail("connect after the restore: %s", strerror(errno));
	else if ((a = accept_wait(l, 2000)) < 0)
		fail("a new connection is not accepted: %s", strerror(errno));
	return test_verdict();
}
