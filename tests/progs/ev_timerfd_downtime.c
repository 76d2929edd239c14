/* ev_timerfd_downtime: the time between dump and restore does not count
 * for a timerfd (criu's semantics, see docs/pipes-events.md).  The .desc
 * makes the restore start 2 s after the dump.
 *
 * State built before the checkpoint: R, relative one-shot, 5 s; A,
 * CLOCK_MONOTONIC absolute one-shot at now + 5 s.
 * After SIGTERM: both have at least 1 s more left than 5 s minus the real
 * time since they were set (they stood still during the downtime), and at
 * most 5 s; R then fires when gettime said.
 */
#include <poll.h>
#include <stdio.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static double ts(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	test_doc = "timerfd time left excludes the downtime";
	test_init(argc, argv);
	double t0 = test_now_ns() / 1e9;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int r = timerfd_create(CLOCK_MONOTONIC, 0), a = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec ir = { .it_value = { 5, 0 } };
	struct itimerspec ia = { .it_value = { now.tv_sec + 5, now.tv_nsec } };
	if (r < 0 || a < 0 || timerfd_settime(r, 0, &ir, NULL) ||
	    timerfd_settime(a, TFD_TIMER_ABSTIME, &ia, NULL))
		setup_fail("timerfd: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	double tg = test_now_ns() / 1e9, since = tg - t0;
	struct itimerspec gr, ga;
	timerfd_gettime(r, &gr);
	timerfd_gettime(a, &ga);
	test_msg("%.3f s since set; left: R %.3f s, A %.3f s", since, ts(&gr.it_value),
		 ts(&ga.it_value));
	if (since < 2)
		fail("only %.3f s since the timers were set: no downtime (check the .desc)",
		     since);
	if (ts(&gr.it_value) > 5 || ts(&gr.it_value) < 5 - since + 1)
		fail("R has %.3f s left: the downtime was counted (or the time is wrong)",
		     ts(&gr.it_value));
	if (ts(&ga.it_value) > 5 || ts(&ga.it_value) < 5 - since + 1)
		fail("A has %.3f s left: the downtime was counted (or the time is wrong)",
		     ts(&ga.it_value));
	struct pollfd p = { r, POLLIN, 0 };
	double due = tg + ts(&gr.it_value);
	if (poll(&p, 1, 7000) != 1)
		fail("R did not fire");
	double t = test_now_ns() / 1e9;
	if (t < due - 0.01 || t > due + 0.25)
		fail("R fired %+.3f s from when due", t - due);
	pass();
	return 0;
}
