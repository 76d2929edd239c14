/* threads: a process with several threads, each with its own state that the
 * kernel keeps per thread: TID, name, signal mask, scheduling nice value,
 * and a running computation whose values live in its stack and FPU/SSE
 * registers.  After restore every thread must still be running (counters
 * move), have its own TID, name, mask and nice value, and its computation
 * must continue exactly where it was (checked against a closed form). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NTHREADS 4

struct worker {
	pthread_t th;
	int idx;
	pid_t tid;
	volatile uint64_t iters;
	volatile int stop;
	char err[256];
};

static struct worker w[NTHREADS];

static void *work(void *arg)
{
	struct worker *me = arg;
	char name[16], got[16] = { 0 };
	sigset_t set, cur;

	me->tid = syscall(SYS_gettid);
	snprintf(name, sizeof(name), "worker-%d", me->idx);
	prctl(PR_SET_NAME, name);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1 + (me->idx % 2));	/* masks differ per thread */
	sigaddset(&set, SIGRTMIN + me->idx);
	/* SIGTERM is for the main thread (waiting in sigsuspend): a
	 * process-directed signal may go to any thread that doesn't block it */
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	setpriority(PRIO_PROCESS, me->tid, me->idx);	/* per-thread nice */

	/* x_{n+1} = x_n * a + b in double: exactly reproducible sequence. */
	double x = 1.0 + me->idx, a = 0.5, b = 1.0 + me->idx;
	uint64_t n = 0;
	while (!me->stop) {
		for (int k = 0; k < 1000; k++) {
			x = x * a + b;
			n++;
		}
		me->iters = n;
	}
	/* x converges to 2b; after many steps it must equal 2b exactly */
	if (n > 200 && x != 2 * b)
		snprintf(me->err, sizeof(me->err), "thread %d: computation went wrong: %g != %g",
			 me->idx, x, 2 * b);
	if (syscall(SYS_gettid) != me->tid)
		snprintf(me->err, sizeof(me->err), "thread %d: tid changed %ld -> %d", me->idx,
			 (long)syscall(SYS_gettid), me->tid);
	prctl(PR_GET_NAME, got);
	if (strcmp(got, name))
		snprintf(me->err, sizeof(me->err), "thread %d: name is '%s', expected '%s'",
			 me->idx, got, name);
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	if (!sigismember(&cur, SIGUSR1 + (me->idx % 2)) || !sigismember(&cur, SIGRTMIN + me->idx) ||
	    !sigismember(&cur, SIGTERM) ||
	    sigismember(&cur, SIGUSR1 + 1 - (me->idx % 2)))
		snprintf(me->err, sizeof(me->err), "thread %d: signal mask was not kept", me->idx);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, me->tid);
	if (nice != me->idx)
		snprintf(me->err, sizeof(me->err), "thread %d: nice is %d, expected %d", me->idx,
			 nice, me->idx);
	return NULL;
}

int main(int argc, char **argv)
{
	test_doc = "several threads with per-thread state keep running after restore";
	test_init(argc, argv);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].idx = i;
		if (pthread_create(&w[i].th, NULL, work, &w[i]))
			setup_fail("pthread_create");
	}
	while (1) {
		int ready = 1;
		for (int i = 0; i < NTHREADS; i++)
			ready &= w[i].iters > 0;
		if (ready)
			break;
		test_sleep_ms(1);
	}
	test_daemon();
	test_waitsig();

	uint64_t before[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		before[i] = w[i].iters;
	test_sleep_ms(200);
	for (int i = 0; i < NTHREADS; i++) {
		if (w[i].iters == before[i])
			fail("thread %d (tid %d) makes no progress after restore", i, w[i].tid);
		w[i].stop = 1;
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].err[0])
			fail("%s", w[i].err);
	}
	pass();
	return 0;
}
