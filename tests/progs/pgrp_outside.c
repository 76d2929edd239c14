/* pgrp_outside: a process group whose leader is outside the tree, with the
 * root of the tree in it and --members N - 1 children of the root.
 *
 * The test stays in its launcher's session (TEST_NO_SETSID: a session
 * leader can't change its group).  It forks L, which makes its own group
 * and exits once the test has joined it; the test then forks the other
 * members, which stay in group L.  L is reaped before the checkpoint, so
 * the group's leader is outside the dumped tree.
 *
 * After SIGTERM: the test is still in group L, each child is still in
 * group L, in the test's session, and the test's child (each checks itself
 * on SIGUSR1 and reports by exit status); no process holds the PID L (the
 * restore's helper task is gone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int members = 3;
TEST_OPTION(members, int, "processes in the group (the test and members - 1 children)", 0);

static sigset_t usr1;

static void member(pid_t pgid, pid_t ppid)
{
	test_forked_child();
	int sig;
	sigwait(&usr1, &sig);
	int code = 0;
	if (getsid(0) != getsid(ppid))
		code |= 1;
	if (getpgid(0) != pgid)
		code |= 2;
	if (getppid() != ppid)
		code |= 4;
	_exit(code ? 10 + code : 0);
}

int main(int argc, char **argv)
{
	test_doc = "a process group led from outside the tree, with the root and children in it";
	test_flags |= TEST_NO_SETSID;
	test_init(argc, argv);
	if (members < 1 || members > 8)
		setup_fail("--members must be 1..8");
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (getsid(0) == getpid())
		setup_fail("the test leads its session: it can't join another group");

	int jp[2];
	if (pipe(jp))
		setup_fail("pipe: %s", strerror(errno));
	pid_t l = fork();
	if (l < 0)
		setup_fail("fork: %s", strerror(errno));
	if (l == 0) {
		test_forked_child();
		close(jp[1]);
		char c;
		if (setpgid(0, 0) || read(jp[0], &c, 1) != 1)	/* the test has joined */
			_exit(1);
		_exit(0);
	}
	close(jp[0]);
	setpgid(l, l);	/* either of us may get there first */
	if (setpgid(0, l))
		setup_fail("setpgid(0, %d): %s", l, strerror(errno));
	if (write(jp[1], "j", 1) != 1)
		setup_fail("write: %s", strerror(errno));
	close(jp[1]);
	int st;
	if (waitpid(l, &st, 0) != l || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("L did not exit cleanly (status %#x)", st);

	pid_t me = getpid(), kids[8];
	for (int i = 0; i < members - 1; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			setup_fail("fork: %s", strerror(errno));
		if (kids[i] == 0)
			member(l, me);
	}
	if (getpgid(0) != l)
		setup_fail("not in group %d", l);

	test_daemon();
	test_waitsig();

	if (getpgid(0) != l)
		fail("the test is in group %d after restore, not in group %d", getpgid(0), l);
	if (!kill(l, 0) || errno != ESRCH)
		fail("PID %d (L) exists after restore: a helper task was left behind", l);
	for (int i = 0; i < members - 1; i++)
		kill(kids[i], SIGUSR1);
	for (int i = 0; i < members - 1; i++) {
		if (waitpid(kids[i], &st, 0) != kids[i]) {
			fail("member %d is not our child any more: %s", kids[i], strerror(errno));
			continue;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail("member %d found itself wrong: exit %d (1 session, 2 group, 4 parent; +10)",
			     kids[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	pass();
	return 0;
}
