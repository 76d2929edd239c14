/* ev_epoll_closed: an epoll registration whose fd was closed while its file
 * lives on (at another number): restored on that file, under the old
 * number, the fd itself left closed. */
#include <sys/epoll.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "epoll registration made with a since-closed fd: refused";
	test_init(argc, argv);
	int p[2], ep = epoll_create1(0);
	if (ep < 0 || pipe(p))
		setup_fail("pipe/epoll: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev))
		setup_fail("epoll_ctl: %s", strerror(errno));
	int keep = dup(p[0]);
	close(p[0]);
	test_daemon();
	test_waitsig();
	/* the registration is still there and works */
	if (write(p[1], "x", 1) != 1 || epoll_wait(ep, &ev, 1, 0) != 1 || ev.data.u64 != 7)
		fail("the registration was lost");
	(void)keep;
	pass();
	return 0;
}
