/* ev_epoll_elsewhere_refuse: an epoll registration whose fd was closed in
 * the process, while the registered file (a pipe's read end) lives on in
 * its child only.  The registration can only be made again by a process
 * holding the file at the registration's number, and the child holds no
 * epoll: the dump must refuse, naming the child; after the refused dump
 * the registration still works. */
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "epoll registration of a file only a child holds: refused";
	test_init(argc, argv);
	int p[2], ep = epoll_create1(0);
	if (ep < 0 || pipe(p))
		setup_fail("pipe/epoll: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 9 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev))
		setup_fail("epoll_ctl: %s", strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		close(ep);
		for (;;)
			pause();
	}
	close(p[0]);
	test_daemon();
	test_waitsig();
	if (write(p[1], "x", 1) != 1 || epoll_wait(ep, &ev, 1, 0) != 1 || ev.data.u64 != 9)
		fail("the registration was lost");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	pass();
	return 0;
}
