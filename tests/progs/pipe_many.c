/* pipe_many: many pipes at once (scale): 2000 pipes, each holding its own
 * 100 bytes; the write ends of the odd ones are closed.
 * After SIGTERM: every pipe holds exactly its bytes; the odd ones then give
 * EOF, the even ones still carry data. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "zdtmtst.h"

#define N 2000

int main(int argc, char **argv)
{
	test_doc = "2000 pipes with data";
	test_init(argc, argv);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
	setrlimit(RLIMIT_NOFILE, &rl);
	static int r[N], w[N];
	char buf[100];
	for (int i = 0; i < N; i++) {
		int p[2];
		if (pipe2(p, O_NONBLOCK))
			setup_fail("pipe %d: %s", i, strerror(errno));
		r[i] = p[0];
		w[i] = p[1];
		pattern_fill(buf, sizeof(buf), 1000 + i);
		if (write(w[i], buf, sizeof(buf)) != sizeof(buf))
			setup_fail("write: %s", strerror(errno));
		if (i & 1)
			close(w[i]);
	}
	test_daemon();
	test_waitsig();
	for (int i = 0; i < N; i++) {
		char got[200];
		ssize_t n = read(r[i], got, sizeof(got));
		if (n != 100 || pattern_check(got, 100, 1000 + i) >= 0) {
			fail("pipe %d: read %zd bytes, or wrong ones", i, n);
			break;
		}
		n = read(r[i], got, 1);
		if ((i & 1) ? n != 0 : (n != -1 || errno != EAGAIN)) {
			fail("pipe %d: after its data, read returned %zd (%s)", i, n,
			     n < 0 ? strerror(errno) : "");
			break;
		}
		if (!(i & 1) && (write(w[i], "z", 1) != 1 || read(r[i], got, 1) != 1))
			fail("pipe %d does not carry data", i);
	}
	pass();
	return 0;
}
