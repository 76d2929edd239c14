/* itimers: the three interval timers of a process.
 *
 * State built before the checkpoint:
 *   - ITIMER_REAL: 50 ms, then every 50 ms (a SIGALRM handler counts);
 *   - ITIMER_VIRTUAL: 1000.5 s of user CPU time, interval 3.25 s (the test
 *     sleeps, so it hardly moves);
 *   - ITIMER_PROF: 30 ms of CPU time, interval 20 ms (a SIGPROF handler
 *     counts; it fires only while the test burns CPU after the restore).
 * After SIGTERM:
 *   - each interval is exactly what was set; ITIMER_VIRTUAL has between
 *     999.5 and 1000.5 s left; ITIMER_REAL at most 50 ms; ITIMER_PROF at
 *     most 30 ms (CPU-time timers read back rounded up to a tick: 10 ms of
 *     slack);
 *   - ITIMER_REAL keeps firing: over 1 s of wall time, between 5 and 22
 *     SIGALRMs (20 expected; the machine is shared);
 *   - ITIMER_PROF fires while 400 ms of CPU are burnt: between 5 and 22.
 */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t alrm, prof;

static void on_alrm(int sig)
{
	(void)sig;
	alrm++;
}

static void on_prof(int sig)
{
	(void)sig;
	prof++;
}

static const struct itimerval want_real = { { 0, 50000 }, { 0, 50000 } };
static const struct itimerval want_virt = { { 3, 250000 }, { 1000, 500000 } };
static const struct itimerval want_prof = { { 0, 20000 }, { 0, 30000 } };

static long usec(const struct timeval *tv)
{
	return tv->tv_sec * 1000000L + tv->tv_usec;
}

/* @slack: CPU-time timers are kept in ticks and read back rounded up. */
static void check_timer(const char *name, int which, const struct itimerval *want, long min_left,
			long slack)
{
	struct itimerval cur;

	if (getitimer(which, &cur)) {
		fail("getitimer(%s): %s", name, strerror(errno));
		return;
	}
	if (usec(&cur.it_interval) != usec(&want->it_interval))
		fail("%s interval is %ld us, expected %ld us", name, usec(&cur.it_interval),
		     usec(&want->it_interval));
	if (usec(&cur.it_value) > usec(&want->it_value) + slack || usec(&cur.it_value) < min_left)
		fail("%s has %ld us left, expected between %ld and %ld us", name, usec(&cur.it_value),
		     min_left, usec(&want->it_value) + slack);
	test_msg("%s: %ld us left, interval %ld us", name, usec(&cur.it_value),
		 usec(&cur.it_interval));
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_flags = SA_RESTART };

	test_doc = "interval timers: ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF";
	test_init(argc, argv);

	sa.sa_handler = on_alrm;
	if (sigaction(SIGALRM, &sa, NULL))
		setup_fail("sigaction: %s", strerror(errno));
	sa.sa_handler = on_prof;
	if (sigaction(SIGPROF, &sa, NULL))
		setup_fail("sigaction: %s", strerror(errno));
	if (setitimer(ITIMER_REAL, &want_real, NULL) || setitimer(ITIMER_VIRTUAL, &want_virt, NULL) ||
	    setitimer(ITIMER_PROF, &want_prof, NULL))
		setup_fail("setitimer: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	check_timer("ITIMER_REAL", ITIMER_REAL, &want_real, 1, 0);
	check_timer("ITIMER_VIRTUAL", ITIMER_VIRTUAL, &want_virt, usec(&want_virt.it_value) - 1000000,
		    10000);
	check_timer("ITIMER_PROF", ITIMER_PROF, &want_prof, 1, 10000);

	/* ITIMER_REAL keeps firing at its interval */
	int a0 = alrm;
	uint64_t end = test_now_ns() + 1000000000ULL;
	while (test_now_ns() < end)
		test_sleep_ms(10);
	int n = alrm - a0;
	test_msg("%d SIGALRM in 1 s", n);
	if (n < 5 || n > 22)
		fail("ITIMER_REAL fired %d times in 1 s, expected about 20 (50 ms interval)", n);

	/* ITIMER_PROF fires as CPU time is used */
	int p0 = prof;
	uint64_t c_end = cpu_ns() + 400000000ULL;
	while (cpu_ns() < c_end)
		;
	n = prof - p0;
	test_msg("%d SIGPROF in 400 ms of CPU", n);
	if (n < 5 || n > 22)
		fail("ITIMER_PROF fired %d times in 400 ms of CPU, expected about 20 (20 ms interval)", n);

	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	setitimer(ITIMER_PROF, &off, NULL);
	return test_verdict();
}
