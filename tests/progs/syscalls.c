/* syscalls: tasks stopped inside system calls continue correctly.
 *
 *  - relative nanosleep(3 s) in an EINTR loop with rem (as sleep(1) does):
 *    must end 3 s of *running* time after it began, i.e. 3 s plus the time
 *    the process was frozen (measured by a 10 ms ticker thread: the sum of
 *    its gaps over 50 ms) -- not early, not restarted from scratch;
 *  - absolute clock_nanosleep(TIMER_ABSTIME) to start + 3 s: ends then (or at
 *    once if the restore came later);
 *  - a thread blocked in waitpid() on a child that exits with 7 after
 *    restore gets exactly that status;
 *  - a thread in pthread_cond_wait (futex wait, no timeout) wakes when
 *    signalled after restore.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SLEEP_NS (3000000000ULL)

static uint64_t t0;
static volatile uint64_t max_gap, frozen_total, rel_elapsed, abs_end;
static volatile int ticker_stop, rel_done, abs_done, wait_status = -1, cond_woken;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static pid_t kid;

static void block_term(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void *ticker(void *a)
{
	block_term();
	uint64_t last = test_now_ns();
	while (!ticker_stop) {
		struct timespec req = { 0, 10000000 }, rem;
		while (nanosleep(&req, &rem) && errno == EINTR)
			req = rem;
		uint64_t now = test_now_ns();
		if (now - last > max_gap)
			max_gap = now - last;
		if (now - last > 50000000ULL)	/* a freeze, not scheduling noise */
			frozen_total += now - last;
		last = now;
	}
	return NULL;
}

static void *rel_sleeper(void *a)
{
	block_term();
	struct timespec req = { SLEEP_NS / 1000000000ULL, 0 }, rem;
	uint64_t start = test_now_ns();
	while (nanosleep(&req, &rem) && errno == EINTR)
		req = rem;
	rel_elapsed = test_now_ns() - start;
	rel_done = 1;
	return NULL;
}

static void *abs_sleeper(void *a)
{
	block_term();
	uint64_t target = t0 + SLEEP_NS;
	struct timespec ts = { target / 1000000000ULL, target % 1000000000ULL };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	abs_end = test_now_ns();
	abs_done = 1;
	return NULL;
}

static void *waiter(void *a)
{
	block_term();
	int st;
	if (waitpid(kid, &st, 0) == kid)
		wait_status = st;
	return NULL;
}

static void *cond_waiter(void *a)
{
	block_term();
	pthread_mutex_lock(&mu);
	while (!cond_flag)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	cond_woken = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[5];
	test_doc = "tasks stopped inside system calls continue correctly";
	test_init(argc, argv);

	int go[2];
	if (pipe(go))
		setup_fail("pipe");
	kid = fork();
	if (kid == 0) {
		test_forked_child();
		close(go[1]);
		/* wait for the parent's signal... through SIGUSR1 after restore */
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGUSR1);
		sigprocmask(SIG_BLOCK, &s, NULL);
		close(go[0]);
		int sig;
		sigwait(&s, &sig);
		_exit(7);
	}
	close(go[0]);
	close(go[1]);

	t0 = test_now_ns();
	pthread_create(&th[0], NULL, ticker, NULL);
	pthread_create(&th[1], NULL, rel_sleeper, NULL);
	pthread_create(&th[2], NULL, abs_sleeper, NULL);
	pthread_create(&th[3], NULL, waiter, NULL);
	pthread_create(&th[4], NULL, cond_waiter, NULL);
	test_sleep_ms(100);
	test_daemon();
	test_waitsig();

	/* after restore: let the sleeps finish */
	uint64_t deadline = test_now_ns() + 20000000000ULL;
	while ((!rel_done || !abs_done) && test_now_ns() < deadline)
		test_sleep_ms(10);
	ticker_stop = 1;
	kill(kid, SIGUSR1);
	pthread_mutex_lock(&mu);
	cond_flag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 5; i++)
		pthread_join(th[i], NULL);

	double gap = frozen_total / 1e9, rel = rel_elapsed / 1e9;
	test_msg("frozen for about %.3f s; relative sleep took %.3f s", gap, rel);
	if (!rel_done || !abs_done)
		fail("sleeps did not finish (relative %d, absolute %d)", rel_done, abs_done);
	/* 3 s of sleep, plus the freeze when it happened inside the sleep */
	if (rel < 3.0 - 0.05)
		fail("relative sleep ended early: %.3f s < 3 s", rel);
	if (rel > 3.0 + gap + 0.5)
		fail("relative sleep took %.3f s: more than 3 s + %.3f s frozen (restarted?)", rel, gap);
	double abs_late = ((double)abs_end - (double)(t0 + SLEEP_NS)) / 1e9;
	if (abs_late < -0.01)
		fail("absolute sleep ended %.3f s before its deadline", -abs_late);
	if (abs_late > 0.5 && abs_late > gap + 0.5)
		fail("absolute sleep ended %.3f s after its deadline", abs_late);
	if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 7)
		fail("waitpid in the restored process got status 0x%x, expected exit 7", wait_status);
	if (!cond_woken)
		fail("the condition variable waiter did not wake");
	pass();
	return 0;
}
