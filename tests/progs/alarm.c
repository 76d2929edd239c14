/* alarm: a pending alarm() (ITIMER_REAL without interval) survives with its
 * remaining time, and a second, short one fires after the restore.
 *
 * Before the checkpoint: alarm(1000).  After SIGTERM: getitimer(ITIMER_REAL)
 * shows no interval and a remaining time between 1000 s minus the wall time
 * since it was set and 1000 s (the time between dump and restore does not
 * count, so it may well be more than the wall clock suggests);
 * alarm(0) returns the same in whole seconds.  Then alarm(1) must deliver
 * SIGALRM within 0.9 to 3 s.
 */
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t fired;

static void on_alrm(int sig)
{
	(void)sig;
	fired++;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alrm };
	struct itimerval cur;
	uint64_t t0;

	test_doc = "alarm(): remaining time of a pending alarm, and a new one fires";
	test_init(argc, argv);
	if (sigaction(SIGALRM, &sa, NULL))
		setup_fail("sigaction: %s", strerror(errno));
	t0 = test_now_ns();
	alarm(1000);

	test_daemon();
	test_waitsig();

	if (getitimer(ITIMER_REAL, &cur))
		fail("getitimer: %s", strerror(errno));
	uint64_t elapsed_us = (test_now_ns() - t0) / 1000;
	long left = cur.it_value.tv_sec * 1000000L + cur.it_value.tv_usec;
	test_msg("alarm: %ld us left, %lu us of wall time since alarm(1000)", left, elapsed_us);
	if (cur.it_interval.tv_sec || cur.it_interval.tv_usec)
		fail("alarm has an interval of %ld.%06ld s", cur.it_interval.tv_sec,
		     cur.it_interval.tv_usec);
	if (left > 1000000000L || left < 1000000000L - (long)elapsed_us)
		fail("alarm has %ld us left, expected between %ld and 1000000000", left,
		     1000000000L - (long)elapsed_us);
	unsigned sec = alarm(0);
	if (sec > 1000 || sec < 1000 - elapsed_us / 1000000 - 1)
		fail("alarm(0) returned %u s, expected about %lu", sec, 1000 - elapsed_us / 1000000);
	if (fired)
		fail("SIGALRM arrived %d times too early", (int)fired);

	uint64_t t1 = test_now_ns();
	alarm(1);
	while (!fired && test_now_ns() - t1 < 3000000000ULL)
		test_sleep_ms(10);
	uint64_t ms = (test_now_ns() - t1) / 1000000;
	if (fired != 1 || ms < 900)
		fail("alarm(1) fired %d times after %lu ms", (int)fired, ms);
	return test_verdict();
}
