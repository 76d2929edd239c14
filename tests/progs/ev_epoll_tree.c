/* ev_epoll_tree: one epoll instance shared by a parent and its child.
 *
 * State built before the checkpoint: the parent registers a pipe's read end
 * (fd A) and an eventfd in an epoll, then forks; the child closes its copy
 * of A and puts /dev/null at that number (so only the parent's fd A is the
 * registered file) and keeps the epoll.
 * After SIGTERM: the parent sees the registrations once (not twice, not
 * missing); the child, told by SIGUSR1, waits on the shared epoll and must
 * see the pipe's data written by the parent (data 0xa) and the eventfd
 * (data 0xb).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int count_regs(int ep)
{
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", ep);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = 0;
	int c = 0;
	for (char *s = buf; (s = strstr(s, "tfd:")); s++)
		c++;
	return c;
}

int main(int argc, char **argv)
{
	test_doc = "an epoll shared by a parent and a child";
	test_init(argc, argv);
	int p[2], ep = epoll_create1(0), efd = eventfd(0, 0);
	if (pipe(p) || ep < 0 || efd < 0)
		setup_fail("setup: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xa };
	struct epoll_event ev2 = { .events = EPOLLIN, .data.u64 = 0xb };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev2))
		setup_fail("epoll_ctl: %s", strerror(errno));
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	pid_t child = fork();
	if (child == 0) {
		test_forked_child();
		int n = open("/dev/null", O_RDONLY);
		if (n < 0 || dup2(n, p[0]) != p[0])
			_exit(1);
		close(n);
		int sig;
		if (sigwait(&usr1, &sig))
			_exit(2);
		struct epoll_event got[4];
		int k = epoll_wait(ep, got, 4, 5000);
		if (k != 2)
			_exit(10 + (k < 0 ? 9 : k));
		uint64_t s = got[0].data.u64 + got[1].data.u64;
		_exit(s == 0xa + 0xb ? 0 : 3);
	}

	test_daemon();
	test_waitsig();

	if (count_regs(ep) != 2)
		fail("the epoll has %d registrations, expected 2", count_regs(ep));
	uint64_t one = 1;
	if (write(p[1], "x", 1) != 1 || write(efd, &one, 8) != 8)
		fail("write: %s", strerror(errno));
	kill(child, SIGUSR1);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child did not see both events on the shared epoll (status %#x)", st);
	pass();
	return 0;
}
