/* Run a test's state in a forked child (tests with a --child option).
 *
 * A child is restored from its restored parent's memory (cryo's
 * mem_inherit.c), not as a new task: the same state may come back wrong
 * there only.  in_child() forks; the child builds the state, tells the
 * parent it is ready, waits for SIGUSR1 (sent after the restore, once the
 * parent got SIGTERM) and checks; its verdict is its exit status.  The
 * parent's own memory stays as it was (its vDSO, say): @parent_check, if
 * not NULL, checks it after the restore.
 */
#ifndef CRYO_TESTS_INCHILD_H
#define CRYO_TESTS_INCHILD_H

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static inline int in_child(void (*build)(void), void (*check)(void), void (*parent_check)(void))
{
	sigset_t usr1;
	int p[2], st;
	char c;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (pipe(p))
		setup_fail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int sig;
		test_forked_child();
		close(p[0]);
		build();
		if (write(p[1], "k", 1) != 1)
			_exit(2);
		close(p[1]);
		if (sigwait(&usr1, &sig))
			_exit(3);
		check();
		_exit(test_failures() ? 1 : 0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		waitpid(pid, &st, 0);
		setup_fail("the child could not build its state (status %#x)", st);
	}
	close(p[0]);

	test_daemon();
	test_waitsig();

	if (parent_check)
		parent_check();
	kill(pid, SIGUSR1);
	if (waitpid(pid, &st, 0) != pid)
		fail_errno("waitpid %d", pid);
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's state is wrong after restore (status %#x: see its messages)", st);
	return test_verdict();
}

#endif
