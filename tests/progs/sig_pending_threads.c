/* sig_pending_threads: per-thread pending signals of several threads, and a
 * POSIX timer that notifies one thread (SIGEV_THREAD_ID).
 *
 * State built before the checkpoint: the main thread and two more, every
 * test signal blocked in all of them.
 *   - each extra thread k (1, 2) has in its own queue: SIGUSR1 and
 *     SIGRTMIN+1 three times with values 1000*k + 0..2 (pthread_sigqueue
 *     from the main thread), in that order;
 *   - the main thread has SIGRTMIN+1 once (value 7) in its own queue;
 *   - the shared queue has SIGRTMIN+1 twice (values 50, 51);
 *   - a POSIX timer notifies thread 2 with SIGRTMIN+7 every 20 ms.
 * After SIGTERM, each thread checks its own SigPnd in
 * /proc/self/task/TID/status, then dequeues its signals with sigtimedwait()
 * and checks their values in order (its own entries first, then, for the
 * main thread only, the shared ones); thread 2 then receives SIGRTMIN+7
 * from the timer with the timer's ID.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static pthread_t th[3];
static pid_t tids[3];
static pthread_barrier_t ready, go, done;
static timer_t timer;

/* SigPnd of thread @tid of this process (all ones if it can't be read) */
static uint64_t thread_pending(pid_t tid)
{
	char path[64], line[256];
	uint64_t m = ~0ULL;
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return m;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "SigPnd:", 7))
			sscanf(line + 7, "%lx", &m);
	fclose(f);
	return m;
}

static void expect(int k, int sig, int code, int value)
{
	sigset_t one;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	sigemptyset(&one);
	sigaddset(&one, sig);
	if (sigtimedwait(&one, &si, &zero) != sig) {
		fail("thread %d: signal %d (value %d) not pending: %s", k, sig, value, strerror(errno));
		return;
	}
	if (si.si_code != code || (code == SI_QUEUE && si.si_value.sival_int != value))
		fail("thread %d: signal %d: code %d value %d, expected %d %d", k, sig, si.si_code,
		     si.si_value.sival_int, code, value);
}

static void check_thread(int k)
{
	uint64_t want = 1ULL << (SIGRTMIN + 1 - 1);
	if (k)
		want |= 1ULL << (SIGUSR1 - 1);
	if (k == 2)
		want |= 1ULL << (SIGRTMIN + 7 - 1);	/* the timer's */
	uint64_t got = thread_pending(gettid());
	if (got != want)
		fail("thread %d: SigPnd %016lx, expected %016lx", k, got, want);
	if (k) {
		expect(k, SIGUSR1, SI_QUEUE, 0);
		for (int i = 0; i < 3; i++)
			expect(k, SIGRTMIN + 1, SI_QUEUE, 1000 * k + i);
	} else {
		expect(k, SIGRTMIN + 1, SI_QUEUE, 7);
		expect(k, SIGRTMIN + 1, SI_QUEUE, 50);
		expect(k, SIGRTMIN + 1, SI_QUEUE, 51);
	}
	if (k == 2) {
		sigset_t one;
		siginfo_t si;
		struct timespec sec = { 2, 0 };
		sigemptyset(&one);
		sigaddset(&one, SIGRTMIN + 7);
		if (sigtimedwait(&one, &si, &sec) != SIGRTMIN + 7)
			fail("thread 2: no timer signal: %s", strerror(errno));
		else if (si.si_code != SI_TIMER || si.si_timerid != (long)timer ||
			 si.si_value.sival_int != 0x77)
			fail("thread 2: timer signal code %d timerid %d value %#x", si.si_code,
			     si.si_timerid, si.si_value.sival_int);
	}
}

static void *thread_fn(void *arg)
{
	int k = (int)(long)arg;
	tids[k] = gettid();
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&go);
	check_thread(k);
	pthread_barrier_wait(&done);
	return NULL;
}

int main(int argc, char **argv)
{
	sigset_t block;

	test_doc = "per-thread pending signals of several threads, SIGEV_THREAD_ID timer";
	test_init(argc, argv);

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGRTMIN + 1);
	sigaddset(&block, SIGRTMIN + 7);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	pthread_barrier_init(&ready, NULL, 3);
	pthread_barrier_init(&go, NULL, 3);
	pthread_barrier_init(&done, NULL, 3);
	tids[0] = gettid();
	for (long k = 1; k < 3; k++)
		if (pthread_create(&th[k], NULL, thread_fn, (void *)k))
			setup_fail("pthread_create");
	pthread_barrier_wait(&ready);

	for (int k = 1; k < 3; k++) {
		union sigval v = { 0 };
		if (pthread_sigqueue(th[k], SIGUSR1, v))
			setup_fail("pthread_sigqueue: %s", strerror(errno));
		for (int i = 0; i < 3; i++) {
			v.sival_int = 1000 * k + i;
			if (pthread_sigqueue(th[k], SIGRTMIN + 1, v))
				setup_fail("pthread_sigqueue: %s", strerror(errno));
		}
	}
	union sigval v = { .sival_int = 7 };
	pthread_sigqueue(pthread_self(), SIGRTMIN + 1, v);
	for (int i = 50; i < 52; i++) {
		v.sival_int = i;
		sigqueue(getpid(), SIGRTMIN + 1, v);
	}
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL | SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN + 7;
	sev.sigev_value.sival_int = 0x77;
	sev.sigev_notify_thread_id = tids[2];
	struct itimerspec its = { { 0, 20000000 }, { 0, 20000000 } };
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) || timer_settime(timer, 0, &its, NULL))
		setup_fail("timer: %s", strerror(errno));
	/* ready only once the timer's signal is pending in thread 2: the
	 * dump may come (and with --leave-running the check) sooner than
	 * its first expiry */
	while (!(thread_pending(tids[2]) & (1ULL << (SIGRTMIN + 7 - 1))))
		usleep(5000);

	test_daemon();
	test_waitsig();

	pthread_barrier_wait(&go);
	check_thread(0);
	pthread_barrier_wait(&done);
	for (int k = 1; k < 3; k++)
		pthread_join(th[k], NULL);
	return test_verdict();
}
