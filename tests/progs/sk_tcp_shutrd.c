/* sk_tcp_shutrd: an established loopback TCP connection, both ends in the
 * tree, whose client shut down reading (shutdown(SHUT_RD): no FIN, the
 * state stays ESTABLISHED) with 3 bytes queued to it before.
 * After SIGTERM: the client's reads still end at once (the 3 bytes, then
 * end of file), and data still flows from the client to the server. */
#include <signal.h>
#include <unistd.h>

#include "sk_inet_util.h"

int main(int argc, char **argv)
{
	test_doc = "a TCP connection shut down for reading";
	test_init(argc, argv);
	struct sockaddr_storage ss;
	socklen_t l = loopback(AF_INET, &ss, 0);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || c < 0 || bind(lfd, (struct sockaddr *)&ss, l) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &l) || connect(c, (struct sockaddr *)&ss, l))
		setup_fail("connect: %s", strerror(errno));
	int s = accept_wait(lfd, 2000);
	if (s < 0 || send(s, "abc", 3, 0) != 3)
		setup_fail("accept, send: %s", strerror(errno));
	usleep(100000);
	if (shutdown(c, SHUT_RD))
		setup_fail("shutdown: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	char b[8];
	struct pollfd p = { .fd = c, .events = POLLIN };
	ssize_t n = poll(&p, 1, 1000) == 1 ? recv(c, b, sizeof(b), MSG_DONTWAIT) : -2;
	ssize_t n2 = recv(c, b, sizeof(b), MSG_DONTWAIT);
	if (n != 3 && n != 0)
		fail("the client's first read gives %zd (%s), not the 3 bytes", n, strerror(errno));
	if (n == 3 && n2 != 0)
		fail("the client's reads do not end after the queued bytes (%zd, %s): SHUT_RD lost",
		     n2, n2 < 0 ? strerror(errno) : "data");
	p.fd = s;
	if (send(c, "xy", 2, 0) != 2 || poll(&p, 1, 2000) != 1 || recv(s, b, 2, 0) != 2)
		fail("no data from the client to the server");
	return test_verdict();
}
