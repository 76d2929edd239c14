/* sk_tcp_urg_refuse: urgent data on a loopback TCP connection, both ends
 * in the tree.  The client sends "abc", one urgent byte 'U' (MSG_OOB) and
 * "def"; the accepted socket reads nothing before the checkpoint (with
 * --oob_read: it has read 'U' with MSG_OOB already, the mark is still ahead).
 * TCP repair can't put an urgent mark back (the restore lost the byte and,
 * as SIOCINQ stops at the mark, "def" too): the dump must refuse.
 * After SIGTERM: the accepted socket reads "abc", is then at the mark
 * (SIOCATMARK), gets 'U' with MSG_OOB (unless read before) and "def". */
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool oob_read;
TEST_OPTION(oob_read, bool, "read the urgent byte before the checkpoint", 0);

static int read_n(int fd, char *b, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2000) != 1)
			return -1;
		ssize_t r = recv(fd, b + got, n - got, 0);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	test_doc = "urgent (out-of-band) TCP data queued unread";
	test_init(argc, argv);
	struct sockaddr_storage ss;
	socklen_t l = loopback(AF_INET, &ss, 0);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || c < 0 || bind(lfd, (struct sockaddr *)&ss, l) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &l) || connect(c, (struct sockaddr *)&ss, l))
		setup_fail("connect: %s", strerror(errno));
	int s = accept_wait(lfd, 2000);
	if (s < 0 || send(c, "abc", 3, 0) != 3 || send(c, "U", 1, MSG_OOB) != 1 ||
	    send(c, "def", 3, 0) != 3)
		setup_fail("accept, send: %s", strerror(errno));
	char u = 0;
	for (int i = 0; i < 100 && recv(s, &u, 1, MSG_OOB | MSG_PEEK) != 1; i++)
		usleep(10000);
	if (u != 'U')
		setup_fail("the urgent byte did not arrive");
	if (oob_read && recv(s, &u, 1, MSG_OOB) != 1)
		setup_fail("recv(MSG_OOB): %s", strerror(errno));

	test_daemon();
	test_waitsig();

	char b[4] = "";
	int mark = -1;
	if (read_n(s, b, 3) || memcmp(b, "abc", 3))
		fail("the data before the mark is \"%.3s\", not abc", b);
	if (ioctl(s, SIOCATMARK, &mark) || mark != 1)
		fail("not at the urgent mark after abc (SIOCATMARK %d)", mark);
	u = 0;
	if (!oob_read && (recv(s, &u, 1, MSG_OOB) != 1 || u != 'U'))
		fail("the urgent byte is lost (%s)", strerror(errno));
	memset(b, 0, sizeof(b));
	if (read_n(s, b, 3) || memcmp(b, "def", 3))
		fail("the data after the mark is \"%.3s\", not def", b);
	return test_verdict();
}
