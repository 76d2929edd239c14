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
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static void *thread_fn(void *arg)
{
	return (void *)((uintptr_t)arg * 3 + 1);
}

int main(int argc, char **argv)
{
	test_doc = "fork and thread churn during the dump";
	test_init(argc, argv);
	test_daemon();

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
	if (rounds < 10)
		fail("only %lu rounds", rounds);
	else
		pass();
	return 0;
}
