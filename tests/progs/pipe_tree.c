/* pipe_tree: pipes shared between a parent and its child.
 *
 * State built before the checkpoint:
 *   P: the parent keeps only the read end, the child only the write end;
 *      the child wrote 4000 bytes into it;
 *   Q: both ends in both processes (inherited), 6000 bytes in it, of which
 *      the parent read 1000.
 * After SIGTERM the parent tells the child (SIGUSR1) to read 2000 bytes of
 *   Q, write 100 more bytes into P, and exit; the parent then reads P's
 *   4100 bytes and must see EOF (no end left open anywhere else, cryo's
 *   copies included), and reads Q's remaining 3000 bytes: one pipe, shared.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	test_doc = "pipes shared by a parent and a child";
	test_init(argc, argv);
	int p[2], q[2];
	char buf[8192], want[8192];
	if (pipe(p) || pipe(q))
		setup_fail("pipe: %s", strerror(errno));
	pattern_fill(buf, 6000, 11);
	if (write(q[1], buf, 6000) != 6000 || read(q[0], buf, 1000) != 1000)
		setup_fail("pipe Q: %s", strerror(errno));

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	pid_t child = fork();
	if (child == 0) {
		test_forked_child();
		close(p[0]);
		pattern_fill(buf, 4100, 12);
		if (write(p[1], buf, 4000) != 4000)
			_exit(2);
		int sig;
		if (sigwait(&usr1, &sig))
			_exit(3);
		char r[2000];
		pattern_fill(want, 6000, 11);
		if (read_all(q[0], r, 2000) || memcmp(r, want + 1000, 2000))
			_exit(4);
		if (write(p[1], buf + 4000, 100) != 100)
			_exit(5);
		_exit(0);
	}
	close(p[1]);
	/* wait until the child's 4000 bytes are in P */
	for (int i = 0; i < 1000; i++) {
		int n = 0;
		ioctl(p[0], FIONREAD, &n);
		if (n == 4000)
			break;
		test_sleep_ms(5);
	}

	test_daemon();
	test_waitsig();

	kill(child, SIGUSR1);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child failed (status %#x)", st);
	pattern_fill(want, 4100, 12);
	if (read_all(p[0], buf, 4100))
		fail("P: short read: %s", strerror(errno));
	else if (memcmp(buf, want, 4100))
		fail("P: data differs");
	ssize_t n = read(p[0], buf, 1);
	if (n != 0)
		fail("P: no EOF once the child exited (read returned %zd): a write end is "
		     "still open somewhere", n);
	pattern_fill(want, 6000, 11);
	fcntl(q[0], F_SETFL, O_NONBLOCK);
	if (read_all(q[0], buf, 3000))
		fail("Q: short read: %s", strerror(errno));
	else if (memcmp(buf, want + 3000, 3000))
		fail("Q: data differs (the child's read did not take from the same pipe?)");
	if (read(q[0], buf, 1) != -1 || errno != EAGAIN)
		fail("Q holds more than expected");
	pass();
	return 0;
}
