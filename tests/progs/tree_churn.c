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
 *           (its count grows) and there must still be 4 of them.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool bomb;
TEST_OPTION(bomb, bool, "also chains of threads starting their successors", 0);

#define CHAINS 4
static volatile unsigned long born[CHAINS];

static void *link_fn(void *arg)
{
	uintptr_t chain = (uintptr_t)arg;
	pthread_t t;
	pthread_attr_t a;
	born[chain]++;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	/* EAGAIN: the predecessor has not gone yet */
	while (pthread_create(&t, &a, link_fn, arg) == EAGAIN)
		usleep(100);
	return NULL;
}

static int nr_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	int n = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
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

	for (uintptr_t c = 0; bomb && c < CHAINS; c++) {
		pthread_t t;
		if (pthread_create(&t, NULL, link_fn, (void *)c) || pthread_detach(t))
			setup_fail("pthread_create");
	}
	unsigned long rounds = 0;
	while (test_go()) {
		int code = (int)(rounds & 0x7f);
		pid_t c = fork();
		if (c < 0) {
			fail_errno("fork");
			return 1;
		}
		if (c == 0)
			_exit(code);
		pthread_t t;
		void *res;
		int e = pthread_create(&t, NULL, thread_fn, (void *)(uintptr_t)rounds);
		if (e) {
			fail("pthread_create: %s", strerror(e));
			return 1;
		}
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
	if (bomb) {
		unsigned long before[CHAINS];
		for (int c = 0; c < CHAINS; c++)
			before[c] = born[c];
		usleep(200000);
		for (int c = 0; c < CHAINS; c++)
			if (born[c] <= before[c] + 10)
				fail("thread chain %d stopped: %lu threads, then %lu", c, before[c],
				     born[c]);
		/* 4 chains, each one thread (or two while one hands over) */
		int n = nr_threads();
		if (n < 1 + CHAINS || n > 1 + 2 * CHAINS)
			fail("%d threads, not 1 + %d chains", n, CHAINS);
	}
	if (rounds < 10)
		fail("only %lu rounds", rounds);
	else
		pass();
	return 0;
}
