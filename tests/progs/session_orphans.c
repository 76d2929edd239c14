/* session_orphans: sessions and process groups whose leader left the tree.
 *
 * State built before the checkpoint (the test is a child subreaper):
 *   - L does setsid(), forks A (stays in group L) and B (its own group B,
 *     session L), and exits: A and B are reparented to the test;
 *   - P does setpgid(0, 0), forks Q (stays in group P, the test's session),
 *     and exits: Q is reparented to the test;
 *   - Z leads its own group, forks Y (joins group Z) and then exits, but
 *     stays a zombie child of the test (not reaped): group Z's leader is a
 *     zombie.
 * L and P are reaped before the checkpoint.  After SIGTERM: A, B and Q are
 * still the test's children, with the same sessions and groups (each checks
 * itself on SIGUSR1 and reports by exit status); no process holds the PIDs L
 * or P (helper tasks of the restore are gone); Z is still a zombie with its
 * status, and Y is in group Z.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static sigset_t usr1;

/* in a member: wait for SIGUSR1, then check own session/group/parent */
static void member(pid_t sid, pid_t pgid, pid_t ppid)
{
	test_forked_child();
	syscall(SYS_close_range, 3, ~0U, 0);	/* the setup's pipes */
	int sig;
	sigwait(&usr1, &sig);
	int code = 0;
	if (getsid(0) != sid)
		code |= 1;
	if (getpgid(0) != pgid)
		code |= 2;
	if (getppid() != ppid)
		code |= 4;
	_exit(code ? 10 + code : 0);
}

static pid_t fork_or_die(void)
{
	pid_t p = fork();
	if (p < 0)
		setup_fail("fork: %s", strerror(errno));
	return p;
}

static void reap(pid_t pid, const char *what)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("%s did not exit cleanly (status %#x)", what, st);
}

int main(int argc, char **argv)
{
	test_doc = "sessions and process groups whose leaders left the tree (helper tasks)";
	test_init(argc, argv);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		setup_fail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	pid_t me = getpid(), mysid = getsid(0);

	/* pids of the grandchildren come back through a pipe */
	int pp[2];
	if (pipe(pp))
		setup_fail("pipe: %s", strerror(errno));
	pid_t l = fork_or_die();
	if (l == 0) {
		setsid();
		pid_t lid = getpid();
		pid_t a = fork_or_die();
		if (a == 0)
			member(lid, lid, me);
		pid_t b = fork_or_die();
		if (b == 0) {
			setpgid(0, 0);
			member(lid, getpid(), me);
		}
		pid_t ab[2] = { a, b };
		if (write(pp[1], ab, sizeof(ab)) != sizeof(ab))
			_exit(1);
		_exit(0);
	}
	pid_t ab[2];
	if (read(pp[0], ab, sizeof(ab)) != sizeof(ab))
		setup_fail("no pids from L");
	reap(l, "L");

	pid_t p = fork_or_die();
	if (p == 0) {
		setpgid(0, 0);
		pid_t pid_p = getpid();
		pid_t q = fork_or_die();
		if (q == 0)
			member(mysid, pid_p, me);
		if (write(pp[1], &q, sizeof(q)) != sizeof(q))
			_exit(1);
		_exit(0);
	}
	pid_t q;
	if (read(pp[0], &q, sizeof(q)) != sizeof(q))
		setup_fail("no pid from P");
	reap(p, "P");

	/* Z: a zombie group leader with a live member Y */
	int zp[2];
	if (pipe(zp))
		setup_fail("pipe: %s", strerror(errno));
	pid_t z = fork_or_die();
	if (z == 0) {
		test_forked_child();
		setpgid(0, 0);
		close(pp[0]);
		close(pp[1]);
		close(zp[1]);
		char c;
		if (read(zp[0], &c, 1) != 1)	/* Y has joined */
			_exit(1);
		_exit(42);
	}
	setpgid(z, z);
	pid_t y = fork_or_die();
	if (y == 0) {
		setpgid(0, z);
		if (write(zp[1], "j", 1) != 1)
			_exit(1);
		member(mysid, z, me);
	}
	setpgid(y, z);
	close(zp[0]);
	close(zp[1]);
	close(pp[0]);
	close(pp[1]);
	/* wait until Z is a zombie */
	siginfo_t si;
	if (waitid(P_PID, z, &si, WEXITED | WNOWAIT))
		setup_fail("waitid Z: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	pid_t kids[4] = { ab[0], ab[1], q, y };
	const char *names[4] = { "A (session L, group L)", "B (session L, own group)",
				 "Q (group P)", "Y (group of zombie Z)" };
	if (!kill(l, 0) || errno != ESRCH)
		fail("PID %d (L) exists after restore: a helper task was left behind", l);
	if (!kill(p, 0) || errno != ESRCH)
		fail("PID %d (P) exists after restore: a helper task was left behind", p);
	for (int i = 0; i < 4; i++)
		kill(kids[i], SIGUSR1);
	for (int i = 0; i < 4; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) != kids[i]) {
			fail("%s (pid %d) is not our child any more: %s", names[i], kids[i],
			     strerror(errno));
			continue;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail("%s (pid %d) found itself wrong: exit %d (1 session, 2 group, 4 parent; "
			     "+10)", names[i], kids[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	int st;
	if (waitpid(z, &st, WNOHANG) != z || !WIFEXITED(st) || WEXITSTATUS(st) != 42)
		fail("zombie Z (pid %d) is not a zombie with status 42 (status %#x)", z, st);
	pass();
	return 0;
}
