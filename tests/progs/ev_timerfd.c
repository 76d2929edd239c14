/* ev_timerfd: timerfds across a checkpoint.
 *
 * State built before the checkpoint:
 *   L: CLOCK_MONOTONIC, relative, 30 s one-shot (never reached in the test);
 *   P: CLOCK_MONOTONIC, relative, first expiry in 1.5 s then every 0.4 s,
 *      non-blocking;
 *   A: CLOCK_REALTIME, TFD_TIMER_ABSTIME, at now + 2 s, one-shot;
 *   E: CLOCK_BOOTTIME, 1 ms one-shot, expired and not read: 1 tick pending;
 *   R: CLOCK_MONOTONIC, 1 ms then every 0.5 s, expired and not read (the
 *      kernel leaves such a timer stopped until it is read);
 *   D: disarmed (never set).
 * After SIGTERM (criu's semantics: time left at the dump runs again from
 *   the restore): fdinfo shows the same clocks and settime flags; L has
 *   between 0 and 30 s left, and not less than 30 s minus the real time
 *   since it was set; P, A fire at the time timerfd_gettime said (within
 *   0.25 s), P then every 0.4 s; E reads 1 tick; R reads at least 1 tick and
 *   fires again within 0.5 s; D stays disarmed.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *fdinfo(int fd)
{
	static char buf[4096];
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static double ts(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

static double now(void)
{
	return test_now_ns() / 1e9;
}

static int mk(int clock, int flags, double value, double interval, int sflags)
{
	int fd = timerfd_create(clock, flags);
	if (fd < 0)
		setup_fail("timerfd_create(%d): %s", clock, strerror(errno));
	if (value == 0)
		return fd;
	struct itimerspec it = { { (time_t)interval, (long)((interval - (time_t)interval) * 1e9) },
				 { (time_t)value, (long)((value - (time_t)value) * 1e9) } };
	if (timerfd_settime(fd, sflags, &it, NULL))
		setup_fail("timerfd_settime: %s", strerror(errno));
	return fd;
}

/* Wait for @fd to expire; returns the time it did, or -1 after @limit s. */
static double wait_fire(int fd, double limit)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r = poll(&p, 1, (int)(limit * 1000));
	if (r != 1)
		return -1;
	double t = now();
	uint64_t ticks;
	if (read(fd, &ticks, 8) != 8)
		return -1;
	return t;
}

static void check_info(int fd, const char *clock, const char *flags, const char *what)
{
	char *fi = fdinfo(fd);
	if (!strstr(fi, clock) || !strstr(fi, flags))
		fail("%s: fdinfo lacks '%s' or '%s':\n%s", what, clock, flags, fi);
}

int main(int argc, char **argv)
{
	test_doc = "timerfd clocks, relative/absolute, intervals, pending ticks";
	test_init(argc, argv);
	double t0 = now();
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	int l = mk(CLOCK_MONOTONIC, 0, 30, 0, 0);
	int p = mk(CLOCK_MONOTONIC, TFD_NONBLOCK, 1.5, 0.4, 0);
	int a = mk(CLOCK_REALTIME, 0, ts(&rt) + 2, 0, TFD_TIMER_ABSTIME);
	int e = mk(CLOCK_BOOTTIME, TFD_NONBLOCK, 0.001, 0, 0);
	int r = mk(CLOCK_MONOTONIC, 0, 0.001, 0.5, 0);
	int d = mk(CLOCK_MONOTONIC, 0, 0, 0, 0);
	test_sleep_ms(20);

	test_daemon();
	test_waitsig();

	check_info(l, "clockid: 1", "settime flags: 00", "L");
	check_info(p, "clockid: 1", "settime flags: 00", "P");
	check_info(a, "clockid: 0", "settime flags: 01", "A");
	check_info(e, "clockid: 7", "settime flags: 00", "E");
	struct itimerspec il, ip, ia, id;
	double tg = now();
	timerfd_gettime(l, &il);
	timerfd_gettime(p, &ip);
	timerfd_gettime(a, &ia);
	timerfd_gettime(d, &id);
	double left = ts(&il.it_value);
	if (left <= 0 || left > 30 || left < 30 - (tg - t0) - 0.1)
		fail("L has %.3f s left, expected at most 30 and at least %.3f", left,
		     30 - (tg - t0));
	if (ts(&il.it_interval) != 0)
		fail("L got an interval");
	if (ts(&id.it_value) != 0 || ts(&id.it_interval) != 0)
		fail("D became armed");
	if (ts(&ip.it_interval) < 0.3999 || ts(&ip.it_interval) > 0.4001)
		fail("P's interval is %.6f s, expected 0.4", ts(&ip.it_interval));
	if (!(fcntl(p, F_GETFL) & O_NONBLOCK))
		fail("P lost O_NONBLOCK");

	uint64_t ticks = 0;
	if (read(e, &ticks, 8) != 8 || ticks != 1)
		fail("E: read %llu ticks (%s), expected the 1 pending",
		     (unsigned long long)ticks, strerror(errno));
	if (read(r, &ticks, 8) != 8 || ticks < 1)
		fail("R: no pending tick");
	double fr = wait_fire(r, 1.0);
	if (fr < 0 || fr - tg > 0.75)
		fail("R did not fire again within 0.5 s (%.3f)", fr < 0 ? -1 : fr - tg);

	/* P and A: on time by what gettime said */
	double due_p = tg + ts(&ip.it_value), due_a = tg + ts(&ia.it_value);
	if (ts(&ip.it_value) <= 0 || ts(&ip.it_value) > 1.5)
		fail("P has %.3f s left, expected (0, 1.5]", ts(&ip.it_value));
	if (ts(&ia.it_value) <= 0 || ts(&ia.it_value) > 2)
		fail("A has %.3f s left, expected (0, 2]", ts(&ia.it_value));
	double fa = wait_fire(a, 3);
	if (fa < 0 || fa < due_a - 0.01 || fa > due_a + 0.25)
		fail("A fired at %+.3f s from when due", fa < 0 ? 99 : fa - due_a);
	/* P may have fired already: count its ticks since it was due */
	struct pollfd pp = { p, POLLIN, 0 };
	double last = -1;
	int n = 0;
	while (now() < due_p + 1.3 && poll(&pp, 1, 2000) == 1) {
		double t = now();
		uint64_t k;
		if (read(p, &k, 8) == 8) {
			n += k;
			last = t;
		}
	}
	if (n < 3 || n > 5)
		fail("P ticked %d times in the 1.3 s after it was due, expected about 4", n);
	(void)last;
	if (ts(&id.it_value) != 0)
		fail("D armed");
	pass();
	return 0;
}
