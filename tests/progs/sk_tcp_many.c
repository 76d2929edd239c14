/* sk_tcp_many: 32 loopback TCP connections, both ends in the tree, one
 * listener; each connection has its own unread data queued each way (4 KiB
 * plus its index, so a mix-up between connections shows).  After the
 * restore every connection carries its own data and new data.
 */
#include <fcntl.h>
#include <unistd.h>

#include "sk_inet_util.h"

#define N 32

static ssize_t read_exact(int fd, char *b, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 3000) != 1)
			break;
		ssize_t r = read(fd, b + got, n - got);
		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

int main(int argc, char **argv)
{
	test_doc = "32 established loopback TCP connections with queued data";
	test_init(argc, argv);
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) || listen(l, N) ||
	    getsockname(l, (struct sockaddr *)&ss, &len))
		setup_fail("listener: %s", strerror(errno));
	int c[N], s[N];
	static char buf[8192], want[8192];
	for (int i = 0; i < N; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (c[i] < 0 || connect(c[i], (struct sockaddr *)&ss, len) ||
		    (s[i] = accept(l, NULL, NULL)) < 0)
			setup_fail("connection %d: %s", i, strerror(errno));
		pattern_fill(want, 4096 + i, 100 + i);
		if (write(c[i], want, 4096 + i) != 4096 + i)
			setup_fail("write: %s", strerror(errno));
		pattern_fill(want, 4096 + i, 200 + i);
		if (write(s[i], want, 4096 + i) != 4096 + i)
			setup_fail("write: %s", strerror(errno));
	}

	test_daemon();
	test_waitsig();

	for (int i = 0; i < N; i++) {
		if (read_exact(s[i], buf, 4096 + i) != 4096 + i ||
		    pattern_check(buf, 4096 + i, 100 + i) >= 0)
			fail("connection %d: the server side's queued data is wrong", i);
		if (read_exact(c[i], buf, 4096 + i) != 4096 + i ||
		    pattern_check(buf, 4096 + i, 200 + i) >= 0)
			fail("connection %d: the client's queued data is wrong", i);
		if (write(c[i], "new", 3) != 3 || read_exact(s[i], buf, 3) != 3 ||
		    memcmp(buf, "new", 3))
			fail("connection %d: new data lost", i);
	}
	return test_verdict();
}
