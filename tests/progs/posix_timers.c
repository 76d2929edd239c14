/* posix_timers: POSIX timers with their IDs, clocks, notifications, times.
 *
 * State built before the checkpoint (IDs are handed out from 0):
 *   0  CLOCK_MONOTONIC, SIGRTMIN+1 (handled) with sival_ptr 0xdead0000,
 *      every 50 ms: the handler counts and checks si_timerid/si_value;
 *   1  CLOCK_REALTIME, SIGRTMIN+2 (blocked), sival_int 0x1111, once in 1000 s;
 *   2-4 created and deleted: a hole;
 *   5  CLOCK_MONOTONIC, SIGEV_NONE, 500 s then every 3 s;
 *   6  CLOCK_BOOTTIME, SIGEV_THREAD_ID to the main thread, SIGRTMIN+3
 *      (blocked), 200 s then every 1.5 s;
 *   7  CLOCK_PROCESS_CPUTIME_ID, SIGRTMIN+4 (blocked), 100 s of CPU;
 *   8  CLOCK_MONOTONIC, no sigevent (SIGALRM with the ID as value), disarmed;
 *   9  CLOCK_MONOTONIC, SIGRTMIN+5 (blocked), every 10 ms: its signal is
 *      pending with overruns piling up;
 *   --big_id N (default 5000; 0 for none): one more timer with ID N, made
 *      with prctl(PR_TIMER_CREATE_RESTORE_IDS) when the kernel has it,
 *      CLOCK_MONOTONIC, SIGEV_NONE, 300 s.
 * After SIGTERM:
 *   - /proc/self/timers is exactly what it was (IDs, signals, values,
 *     notification targets, clocks); the deleted IDs are gone (EINVAL);
 *   - intervals are exact; remaining times are at most what they were set to
 *     and at least that minus the wall (or CPU) time since;
 *   - timer 9's pending signal is SI_TIMER with its ID and value and a sane
 *     si_overrun (at most the 10 ms periods since it was armed); it keeps
 *     firing; timer 0 keeps firing every 50 ms (5 to 22 times in 1 s) with
 *     its ID and value, and timer_getoverrun() stays sane;
 *   - a new timer gets an ID that was not in use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#endif
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static unsigned big_id = 5000;
TEST_OPTION(big_id, uint, "ID of one more timer made with PR_TIMER_CREATE_RESTORE_IDS (0: none)", 0);

#define NT 10
struct tdef {
	int clock;
	int notify;	/* -1: NULL sigevent */
	int sig;	/* offset from SIGRTMIN, or 0 */
	long sival;
	struct itimerspec its;
	bool deleted;
};

static struct tdef defs[NT] = {
	[0] = { CLOCK_MONOTONIC, SIGEV_SIGNAL, 1, 0xdead0000, { { 0, 50000000 }, { 0, 50000000 } } },
	[1] = { CLOCK_REALTIME, SIGEV_SIGNAL, 2, 0x1111, { { 0, 0 }, { 1000, 0 } } },
	[2] = { CLOCK_MONOTONIC, SIGEV_SIGNAL, 2, 2, { { 0, 0 }, { 0, 0 } }, true },
	[3] = { CLOCK_MONOTONIC, SIGEV_SIGNAL, 2, 3, { { 0, 0 }, { 0, 0 } }, true },
	[4] = { CLOCK_MONOTONIC, SIGEV_SIGNAL, 2, 4, { { 0, 0 }, { 0, 0 } }, true },
	[5] = { CLOCK_MONOTONIC, SIGEV_NONE, 0, 0x5555, { { 3, 0 }, { 500, 0 } } },
	[6] = { CLOCK_BOOTTIME, SIGEV_SIGNAL | SIGEV_THREAD_ID, 3, 0x6666,
		{ { 1, 500000000 }, { 200, 0 } } },
	[7] = { CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, 4, 0x7777, { { 0, 0 }, { 100, 0 } } },
	[8] = { CLOCK_MONOTONIC, -1, 0, 0, { { 0, 0 }, { 0, 0 } } },
	[9] = { CLOCK_MONOTONIC, SIGEV_SIGNAL, 5, 0x9999, { { 0, 10000000 }, { 0, 10000000 } } },
};
static timer_t ids[NT];
static timer_t big;
static bool have_big;
static struct itimerspec big_its = { { 0, 0 }, { 300, 0 } };
static char *proc_before;
static uint64_t t_armed;

static volatile sig_atomic_t t0_fired, t0_bad;

static void on_t0(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_TIMER || si->si_timerid != 0 ||
	    si->si_value.sival_ptr != (void *)0xdead0000 || si->si_overrun < 0)
		t0_bad++;
	t0_fired++;
}

static char *read_proc_timers(void)
{
	FILE *f = fopen("/proc/self/timers", "r");
	char *buf = NULL;
	size_t len = 0;
	if (!f)
		return strdup("");
	FILE *m = open_memstream(&buf, &len);
	char line[256];
	while (fgets(line, sizeof(line), f))
		fputs(line, m);
	fclose(f);
	fclose(m);
	return buf;
}

static long ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000L + ts->tv_nsec;
}

static void build_state(void)
{
	sigset_t block;
	struct sigaction sa = { .sa_sigaction = on_t0, .sa_flags = SA_SIGINFO | SA_RESTART };

	sigemptyset(&block);
	for (int i = 2; i <= 5; i++)
		sigaddset(&block, SIGRTMIN + i);
	sigaddset(&block, SIGALRM);
	if (sigprocmask(SIG_BLOCK, &block, NULL) || sigaction(SIGRTMIN + 1, &sa, NULL))
		setup_fail("signals: %s", strerror(errno));

	for (int i = 0; i < NT; i++) {
		struct sigevent sev;
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = defs[i].notify;
		sev.sigev_signo = defs[i].sig ? SIGRTMIN + defs[i].sig : 0;
		sev.sigev_value.sival_ptr = (void *)defs[i].sival;
		if (defs[i].notify & SIGEV_THREAD_ID)
			sev.sigev_notify_thread_id = gettid();
		if (timer_create(defs[i].clock, defs[i].notify < 0 ? NULL : &sev, &ids[i]))
			setup_fail("timer_create %d: %s", i, strerror(errno));
		if ((long)ids[i] != i)
			setup_fail("timer %d got ID %ld (this test needs IDs from 0)", i, (long)ids[i]);
	}
	t_armed = test_now_ns();
	if (big_id) {
		int kid = big_id;
		struct sigevent sev = { .sigev_notify = SIGEV_NONE };
		if (prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0) == 0) {
			if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &kid))
				setup_fail("timer_create with ID %u: %s", big_id, strerror(errno));
			prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0);
			if ((unsigned)kid != big_id)
				setup_fail("timer_create gave ID %d, asked for %u", kid, big_id);
			big = (timer_t)(long)kid;
			have_big = true;
			if (timer_settime(big, 0, &big_its, NULL))
				setup_fail("timer_settime big: %s", strerror(errno));
		} else {
			test_msg("no PR_TIMER_CREATE_RESTORE_IDS (%s): no timer with ID %u",
				 strerror(errno), big_id);
		}
	}
	for (int i = 0; i < NT; i++) {
		if (defs[i].deleted) {
			if (timer_delete(ids[i]))
				setup_fail("timer_delete %d: %s", i, strerror(errno));
			continue;
		}
		if (timer_settime(ids[i], 0, &defs[i].its, NULL))
			setup_fail("timer_settime %d: %s", i, strerror(errno));
	}
	test_sleep_ms(100);	/* timer 9's signal is pending, with overruns */
	proc_before = read_proc_timers();
}

static void check_times(int i, timer_t id, const struct itimerspec *want, long slack)
{
	struct itimerspec cur;
	if (timer_gettime(id, &cur)) {
		fail("timer %ld: timer_gettime: %s", (long)id, strerror(errno));
		return;
	}
	long elapsed = test_now_ns() - t_armed;
	if (ns(&cur.it_interval) != ns(&want->it_interval))
		fail("timer %ld: interval %ld ns, expected %ld", (long)id, ns(&cur.it_interval),
		     ns(&want->it_interval));
	long v = ns(&cur.it_value), w = ns(&want->it_value);
	if (!w) {
		if (v)
			fail("timer %ld: armed (%ld ns left) but was disarmed", (long)id, v);
	} else if (ns(&want->it_interval) && w <= 100000000) {
		/* fast periodic timer: within one period */
		if (v <= 0 || v > ns(&want->it_interval))
			fail("timer %ld: %ld ns left, expected within its %ld ns period", (long)id,
			     v, ns(&want->it_interval));
	} else if (v > w + slack || v < w - elapsed) {
		fail("timer %ld: %ld ns left, expected between %ld and %ld", (long)id, v, w - elapsed,
		     w + slack);
	}
	(void)i;
}

static void check_state(void)
{
	struct itimerspec cur;
	siginfo_t si;
	sigset_t one;
	struct timespec wait1 = { 1, 0 };

	char *now = read_proc_timers();
	if (strcmp(now, proc_before)) {
		fail("/proc/self/timers changed");
		test_msg("before:\n%s", proc_before);
		test_msg("after:\n%s", now);
	}
	free(now);

	for (int i = 0; i < NT; i++) {
		if (defs[i].deleted) {
			if (timer_gettime(ids[i], &cur) == 0 || errno != EINVAL)
				fail("deleted timer %d exists again", i);
			continue;
		}
		check_times(i, ids[i], &defs[i].its,
			    defs[i].clock == CLOCK_PROCESS_CPUTIME_ID ? 10000000 : 0);
	}
	if (have_big)
		check_times(-1, big, &big_its, 0);

	/* timer 9: its pending signal, then a new one */
	sigemptyset(&one);
	sigaddset(&one, SIGRTMIN + 5);
	for (int round = 0; round < 2; round++) {
		long max_overrun = test_now_ns() - t_armed;
		max_overrun = max_overrun / 10000000 + 1;
		/* timer 0's handler runs meanwhile: sigtimedwait is never restarted
		 * after a handler (signal(7)), so EINTR here means "wait again" */
		int got;
		do
			got = sigtimedwait(&one, &si, &wait1);
		while (got < 0 && errno == EINTR);
		if (got != SIGRTMIN + 5) {
			fail("timer 9 (round %d): no signal: %s", round, strerror(errno));
			break;
		}
		test_msg("timer 9 signal %d: code %d timerid %d value %#x overrun %d", round,
			 si.si_code, si.si_timerid, si.si_value.sival_int, si.si_overrun);
		if (si.si_code != SI_TIMER || si.si_timerid != 9 || si.si_value.sival_int != 0x9999)
			fail("timer 9 (round %d): si_code %d si_timerid %d si_value %#x", round,
			     si.si_code, si.si_timerid, si.si_value.sival_int);
		if (si.si_overrun < 0 || si.si_overrun > max_overrun)
			fail("timer 9 (round %d): si_overrun %d, expected 0..%ld", round,
			     si.si_overrun, max_overrun);
	}
	int ov = timer_getoverrun(ids[9]);
	if (ov < 0 || ov > (long)((test_now_ns() - t_armed) / 10000000 + 1))
		fail("timer_getoverrun(9) = %d", ov);

	/* timer 0 keeps firing */
	int f0 = t0_fired;
	uint64_t end = test_now_ns() + 1000000000ULL;
	while (test_now_ns() < end)
		test_sleep_ms(10);
	int n = t0_fired - f0;
	test_msg("timer 0 fired %d times in 1 s", n);
	if (n < 5 || n > 22)
		fail("timer 0 fired %d times in 1 s, expected about 20 (50 ms period)", n);
	if (t0_bad)
		fail("timer 0's signal came %d times with a wrong siginfo", (int)t0_bad);
	ov = timer_getoverrun(ids[0]);
	if (ov < 0 || ov > 20)
		fail("timer_getoverrun(0) = %d", ov);

	/* a new timer takes a free ID */
	timer_t nt;
	if (timer_create(CLOCK_MONOTONIC, NULL, &nt))
		fail("timer_create after restore: %s", strerror(errno));
	else {
		for (int i = 0; i < NT; i++)
			if (nt == ids[i] && !defs[i].deleted)
				fail("new timer got ID %ld, which is in use", (long)nt);
		if (have_big && nt == big)
			fail("new timer got the big ID %ld", (long)nt);
	}
}

int main(int argc, char **argv)
{
	test_doc = "POSIX timers: IDs with a hole, clocks, notifications, times, overruns";
	test_init(argc, argv);
	build_state();
	test_daemon();
	test_waitsig();
	check_state();
	return test_verdict();
}
