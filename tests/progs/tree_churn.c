/* tree_churn: a dump while processes and threads come and go.
 *
 * Until SIGTERM, the main thread forks children that exit at once with a
 * known code (each reaped and its status checked) and starts threads that
 * exit at once (each joined, its result checked), so at any moment a task
 * may be half created, running, exiting or a zombie.  The dump must still
 * succeed (a task that exits while it is being seized is simply gone) and
 * the restored process must go on churning with every status right.
 * After SIGTERM: no wrong exit code or thread result was seen, and the loop
 * went on after the restore.
 *   --bomb  also 4 chains of threads that each start their successor and
 *           exit (criu's transition/thread-bomb): threads are born by
 *           threads being seized; after the restore each chain must go on
 *           (its count grows) and there must still be 4 of them; a chain
 *           whose thread could not start its successor is reported.
 * A watchdog thread fails the test if the main loop has not ended 10 s
 * after SIGTERM (a thread left out of the dump may hold a glibc lock the
 * others wait for): a FAIL naming the step it hangs in, not a runner
 * timeout.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool bomb;
TEST_OPTION(bomb, bool, "also chains of threads starting their successors", 0);

#define CHAINS 4
static volatile unsigned long born[CHAINS];
static volatile int chain_err[CHAINS];	/* pthread_create's error that ended it */
static const char *volatile step = "start";	/* what the main loop does now */
static volatile bool main_done;

static void *link_fn(void *arg)
{
	uintptr_t chain = (uintptr_t)arg;
	pthread_t t;
	pthread_attr_t a;
	born[chain]++;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	/* EAGAIN: the predecessor has not gone yet */
	int e;
	while ((e = pthread_create(&t, &a, link_fn, arg)) == EAGAIN)
		usleep(100);
	if (e)
		chain_err[chain] = e;
	return NULL;
}

/* Without stdio (malloc): the watchdog calls it while a lock may be lost. */
static int nr_threads(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : -1;
}

static void *watchdog_fn(void *arg)
{
	(void)arg;
	while (test_go())
		usleep(100000);
	for (int i = 0; i < 100; i++) {
		if (main_done)
			return NULL;
		usleep(100000);
	}
	fail("the main loop did not end within 10 s of SIGTERM: stuck in %s; %d threads; "
	     "chains born %lu %lu %lu %lu", step, nr_threads(), born[0], born[1], born[2],
	     born[3]);
	_exit(1);
}

static void *thread_fn(void *arg)
{
	return (void *)((uintptr_t)arg * 3 + 1);
}

int main(int argc, char **argv)
{
	test_doc = "fork and thread churn during the dump";
	test_init(argc, argv);
	test_daemon();

	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog_fn, NULL))
		setup_fail("pthread_create");
	for (uintptr_t c = 0; bomb && c < CHAINS; c++) {
		pthread_t t;
		if (pthread_create(&t, NULL, link_fn, (void *)c) || pthread_detach(t))
			setup_fail("pthread_create");
	}
	unsigned long rounds = 0;
	while (test_go()) {
		int code = (int)(rounds & 0x7f);
		step = "fork";
		pid_t c = fork();
		if (c < 0) {
			fail_errno("fork");
			return 1;
		}
		if (c == 0)
			_exit(code);
		pthread_t t;
		void *res;
		step = "pthread_create";
		int e = pthread_create(&t, NULL, thread_fn, (void *)(uintptr_t)rounds);
		if (e) {
			fail("pthread_create: %s", strerror(e));
			return 1;
		}
		step = "pthread_join";
		if ((e = pthread_join(t, &res))) {
			fail("pthread_join: %s", strerror(e));
			return 1;
		}
		if ((uintptr_t)res != (uintptr_t)rounds * 3 + 1) {
			fail("thread %lu returned %lu", rounds, (unsigned long)(uintptr_t)res);
			return 1;
		}
		int st;
		pid_t w;
		step = "waitpid";
		while ((w = waitpid(c, &st, 0)) < 0 && errno == EINTR)
			;
		if (w != c) {
			fail_errno("waitpid(%d)", c);
			return 1;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != code) {
			fail("child %d: status 0x%x, expected exit code %d", c, st, code);
			return 1;
		}
		rounds++;
	}
	main_done = true;
	pthread_join(wd, NULL);
	if (bomb) {
		unsigned long before[CHAINS];
		for (int c = 0; c < CHAINS; c++)
			before[c] = born[c];
		usleep(200000);
		for (int c = 0; c < CHAINS; c++)
			if (chain_err[c])
				fail("thread chain %d ended: pthread_create: %s", c,
				     strerror(chain_err[c]));
			else if (born[c] <= before[c] + 10)
				fail("thread chain %d stopped: %lu threads, then %lu", c, before[c],
				     born[c]);
		/* main and 4 chains, each one thread or two while it hands over
		 * (a thread that started its successor may wait for a CPU to exit) */
		int n = 0;
		for (int i = 0; i < 20; i++) {
			n = nr_threads();
			if (n >= 1 + CHAINS && n <= 1 + 2 * CHAINS)
				break;
			usleep(50000);
		}
		if (n < 1 + CHAINS || n > 1 + 2 * CHAINS)
			fail("%d threads, not 1 + %d chains", n, CHAINS);
	}
	if (rounds < 10)
		fail("only %lu rounds", rounds);
	else
		pass();
	return 0;
}
