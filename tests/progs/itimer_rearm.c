/* itimer_rearm: a periodic ITIMER_REAL that expired while SIGALRM is
 * blocked.  The kernel starts its next period only when that SIGALRM is
 * dequeued; until then getitimer() shows a zero value and the interval.
 *
 * Before the checkpoint: SIGALRM blocked, setitimer(ITIMER_REAL, 10 ms,
 * interval 100 ms), wait until it has expired.  After SIGTERM: the value is
 * still 0 with a 100 ms interval and SIGALRM is pending (once); unblocking
 * it runs the handler once, and from then on the timer fires every 100 ms
 * again (3 to 12 times in 1 s).
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

static void check_itimer(const char *when, long want_value_max)
{
	struct itimerval cur;
	getitimer(ITIMER_REAL, &cur);
	long v = cur.it_value.tv_sec * 1000000L + cur.it_value.tv_usec;
	long i = cur.it_interval.tv_sec * 1000000L + cur.it_interval.tv_usec;
	test_msg("%s: value %ld us, interval %ld us", when, v, i);
	if (i != 100000 || v > want_value_max)
		fail("%s: ITIMER_REAL value %ld us interval %ld us, expected at most %ld and 100000",
		     when, v, i, want_value_max);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alrm, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 100000 }, { 0, 10000 } };
	sigset_t alrm, pend;

	test_doc = "ITIMER_REAL expired with SIGALRM blocked: re-armed when SIGALRM is dequeued";
	test_init(argc, argv);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	if (sigaction(SIGALRM, &sa, NULL) || sigprocmask(SIG_BLOCK, &alrm, NULL))
		setup_fail("sigaction: %s", strerror(errno));
	if (setitimer(ITIMER_REAL, &it, NULL))
		setup_fail("setitimer: %s", strerror(errno));
	test_sleep_ms(50);
	sigpending(&pend);
	if (!sigismember(&pend, SIGALRM))
		setup_fail("SIGALRM is not pending 50 ms after a 10 ms timer");

	test_daemon();
	test_waitsig();

	check_itimer("after restore", 0);
	sigpending(&pend);
	if (!sigismember(&pend, SIGALRM))
		fail("SIGALRM is no longer pending");
	sigprocmask(SIG_UNBLOCK, &alrm, NULL);
	if (fired != 1)
		fail("unblocking SIGALRM ran the handler %d times, expected 1", (int)fired);
	check_itimer("after the SIGALRM", 100000);
	int f0 = fired;
	uint64_t end = test_now_ns() + 1000000000ULL;
	while (test_now_ns() < end)
		test_sleep_ms(10);
	int n = fired - f0;
	test_msg("%d SIGALRM in 1 s", n);
	if (n < 3 || n > 12)
		fail("ITIMER_REAL fired %d times in 1 s after the re-arm, expected about 10", n);
	return test_verdict();
}
