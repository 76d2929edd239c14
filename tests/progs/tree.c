/* tree: a process tree with the relations the kernel keeps between tasks.
 *
 *   root (session leader, group leader)
 *   +-- A   own process group           +-- A1  in A's group
 *   +-- B   in root's group             +-- B1  own session (setsid)
 *   +-- Z   zombie: exited with 42, not reaped yet
 *   +-- S   stopped (SIGSTOP)
 *
 * Every live task keeps a private memory pattern and a counter.  After
 * restore: the same PIDs, parents, groups and sessions; Z is still a zombie
 * whose status is 42; S is still stopped; every task still runs and its
 * memory is intact.  Children report by exit status to their parent, which
 * reaps them: real parent/child links are needed for that. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MEM (1 << 20)

struct self {
	pid_t ppid, pgid, sid;
	char *mem;
	uint64_t seed;
};

static int check_self(const char *who, struct self *s)
{
	int bad = 0;
	if (s->ppid && getppid() != s->ppid) {
		test_msg("%s: parent is %d, expected %d", who, getppid(), s->ppid);
		bad = 1;
	}
	if (getpgid(0) != s->pgid) {
		test_msg("%s: process group is %d, expected %d", who, getpgid(0), s->pgid);
		bad = 1;
	}
	if (getsid(0) != s->sid) {
		test_msg("%s: session is %d, expected %d", who, getsid(0), s->sid);
		bad = 1;
	}
	if (pattern_check(s->mem, MEM, s->seed) >= 0) {
		test_msg("%s: memory pattern damaged", who);
		bad = 1;
	}
	return bad;
}

static void remember(struct self *s, uint64_t seed)
{
	s->ppid = getppid();
	s->pgid = getpgid(0);
	s->sid = getsid(0);
	s->seed = seed;
	s->mem = malloc(MEM);
	pattern_fill(s->mem, MEM, seed);
}

/* Run until SIGTERM, then stop @kid (if any), check, and exit with 0/1. */
static void __attribute__((noreturn)) child_loop(const char *who, struct self *s, pid_t kid)
{
	volatile uint64_t n = 0;
	while (test_go())
		n++;
	int bad = check_self(who, s);
	if (kid > 0) {
		int st;
		kill(kid, SIGTERM);
		if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			test_msg("%s: its child %d failed (status 0x%x)", who, kid, st);
			bad = 1;
		}
	}
	_exit(bad);
}

static int inherited_sync = -1;	/* our parent's sync pipe, not for our kids */

static pid_t spawn(const char *who, uint64_t seed, int mode)
{
	int sync[2];
	if (pipe(sync))
		setup_fail("pipe");
	pid_t pid = fork();
	if (pid < 0)
		setup_fail("fork");
	if (pid) {
		char c;
		close(sync[1]);
		if (read(sync[0], &c, 1) != 1)
			setup_fail("child %s did not start", who);
		close(sync[0]);
		return pid;
	}
	close(sync[0]);
	test_forked_child();
	if (inherited_sync >= 0)
		close(inherited_sync);
	inherited_sync = sync[1];
	struct self s;
	pid_t kid = 0;
	if (mode == 'A') {
		setpgid(0, 0);
		remember(&s, seed);
		kid = spawn("A1", seed + 10, 'a');
	} else if (mode == 'B') {
		remember(&s, seed);
		kid = spawn("B1", seed + 10, 's');
	} else if (mode == 's') {
		setsid();
		remember(&s, seed);
	} else {
		remember(&s, seed);
	}
	if (write(sync[1], "x", 1) != 1)
		_exit(2);
	close(sync[1]);
	inherited_sync = -1;
	if (mode == 'S')
		raise(SIGSTOP);		/* stopped with no pipe end left open */
	child_loop(who, &s, kid);
}

int main(int argc, char **argv)
{
	struct self me;
	test_doc = "a process tree: groups, sessions, a zombie and a stopped child";
	test_init(argc, argv);
	remember(&me, 1);
	me.ppid = 0;	/* restored with -d, the root is reparented (as with criu) */

	pid_t a = spawn("A", 100, 'A');
	pid_t b = spawn("B", 200, 'B');
	pid_t z = fork();
	if (z == 0) {
		test_forked_child();
		_exit(42);
	}
	pid_t s = spawn("S", 300, 'S');
	/* wait until Z is a zombie and S is stopped */
	for (int i = 0; i < 1000; i++) {
		siginfo_t si = { 0 };
		int ok = !waitid(P_PID, z, &si, WEXITED | WNOHANG | WNOWAIT) && si.si_pid == z;
		si.si_pid = 0;
		ok &= !waitid(P_PID, s, &si, WSTOPPED | WNOHANG | WNOWAIT) && si.si_pid == s;
		if (ok)
			break;
		test_sleep_ms(2);
	}
	test_daemon();
	test_waitsig();

	if (check_self("root", &me))
		fail("the root's own state changed (see messages)");
	siginfo_t si = { 0 };
	if (waitid(P_PID, z, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid != z)
		fail("Z (%d) is not a zombie child any more", z);
	si.si_pid = 0;
	if (waitid(P_PID, s, &si, WSTOPPED | WNOHANG | WNOWAIT) || si.si_pid != s)
		fail("S (%d) is not stopped any more", s);

	int st;
	kill(a, SIGTERM);
	kill(b, SIGTERM);
	if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("A (%d) or its child failed (status 0x%x)", a, st);
	if (waitpid(b, &st, 0) != b || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("B (%d) or its child failed (status 0x%x)", b, st);
	if (waitpid(z, &st, 0) != z || !WIFEXITED(st) || WEXITSTATUS(st) != 42)
		fail("Z (%d) exit status is 0x%x, expected exit code 42", z, st);
	kill(s, SIGTERM);
	kill(s, SIGCONT);
	if (waitpid(s, &st, 0) != s || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("S (%d) failed after SIGCONT (status 0x%x)", s, st);
	pass();
	return 0;
}
