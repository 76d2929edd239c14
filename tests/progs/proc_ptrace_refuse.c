/* proc_ptrace_refuse: a task of the tree is traced; cryo can't seize it (a
 * task has one tracer) and can't recreate a ptrace relation: the dump must
 * refuse, naming the tracer and the tracee, and leave both as they were.
 *
 * --mode=stopped  the root PTRACE_ATTACHes its child, which sits in a
 *                 ptrace stop the root has waited for
 * --mode=running  the root PTRACE_SEIZEs its child, which keeps running
 * --mode=outside  a process outside the tree (double-forked away, as
 *                 strace would be) PTRACE_SEIZEs the root's child, which
 *                 keeps running
 * --mode=traceme  the root's child called PTRACE_TRACEME and stopped
 *                 itself (SIGSTOP): the stop is pending, the root has not
 *                 waited for it yet
 *
 * After SIGTERM: the child is still traced by the same tracer; a running
 * child still counts; the root (its tracer) still controls it (stopped:
 * PTRACE_PEEKUSER answers; running: PTRACE_INTERRUPT stops it; traceme:
 * the pending stop is still there for waitpid).  The outside tracer
 * reports through shared memory that it still traces. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *mode = "stopped";
TEST_OPTION(mode, string, "stopped, running, outside or traceme", 0);

struct shared {
	volatile unsigned long count;	/* the child's */
	volatile pid_t tracer;		/* the outside tracer */
	volatile int stop;		/* the outside tracer: detach and exit */
};
static struct shared *sh;

static int tracer_of(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	int t = -1;
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "TracerPid: %d", &t) == 1)
			break;
	fclose(f);
	return t;
}

static char state_of(pid_t pid)
{
	char path[64], buf[512], *p;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return p && p[1] ? p[2] : '?';
}

static void counting(void)
{
	for (;;)
		sh->count++;
}

/* The outside tracer: seizes @child, passes its signals on, and goes
 * once told to. */
static void outside_tracer(pid_t child)
{
	if (ptrace(PTRACE_SEIZE, child, 0, 0))
		_exit(1);
	sh->tracer = getpid();
	while (!sh->stop) {
		int s;
		pid_t r = waitpid(child, &s, __WALL | WNOHANG);
		if (r == child && WIFSTOPPED(s))
			ptrace(PTRACE_CONT, child, 0, (s >> 16) ? 0 : WSTOPSIG(s));
		else if (r == child)
			_exit(0);
		usleep(1000);
	}
	ptrace(PTRACE_DETACH, child, 0, 0);
	_exit(0);
}

static bool counts(void)
{
	unsigned long a = sh->count;
	for (int i = 0; i < 500 && sh->count == a; i++)
		usleep(1000);
	return sh->count != a;
}

int main(int argc, char **argv)
{
	int s;
	pid_t child, expect;

	test_doc = "a traced task in the tree: refused, tracer and tracee unharmed";
	test_init(argc, argv);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	bool traceme = !strcmp(mode, "traceme");
	child = fork();
	if (child < 0)
		setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		if (traceme) {
			if (ptrace(PTRACE_TRACEME, 0, 0, 0))
				_exit(1);
			raise(SIGSTOP);
		}
		counting();
	}
	expect = getpid();
	if (!strcmp(mode, "stopped")) {
		if (ptrace(PTRACE_ATTACH, child, 0, 0) || waitpid(child, &s, __WALL) != child ||
		    !WIFSTOPPED(s))
			setup_fail("PTRACE_ATTACH of %d: %s", (int)child, strerror(errno));
	} else if (!strcmp(mode, "running")) {
		if (ptrace(PTRACE_SEIZE, child, 0, 0))
			setup_fail("PTRACE_SEIZE of %d: %s", (int)child, strerror(errno));
	} else if (!strcmp(mode, "outside")) {
		pid_t h = fork();
		if (h == 0) {
			if (fork() == 0)
				outside_tracer(child);
			_exit(0);
		}
		waitpid(h, &s, 0);
		for (int i = 0; i < 5000 && !sh->tracer; i++)
			usleep(1000);
		if (!sh->tracer)
			setup_fail("the outside tracer did not attach");
		expect = sh->tracer;
	} else if (traceme) {
		for (int i = 0; i < 5000 && state_of(child) != 't'; i++)
			usleep(1000);
	} else {
		setup_fail("unknown --mode %s", mode);
	}
	if (tracer_of(child) != expect)
		setup_fail("child %d: TracerPid %d, not %d", (int)child, tracer_of(child),
			   (int)expect);
	test_msg("child %d traced by %d (%s)", (int)child, (int)expect, mode);

	test_daemon();
	test_waitsig();

	if (tracer_of(child) != expect)
		fail("child %d: TracerPid %d, not %d as before the dump", (int)child,
		     tracer_of(child), (int)expect);
	if (!strcmp(mode, "stopped")) {
		errno = 0;
		ptrace(PTRACE_PEEKUSER, child, offsetof(struct user_regs_struct, rip), 0);
		if (errno)
			fail("PTRACE_PEEKUSER on the stopped child: %s", strerror(errno));
		if (state_of(child) != 't')
			fail("the child is in state %c, not in its ptrace stop (t)", state_of(child));
		if (counts())
			fail("the stopped child runs");
	} else if (traceme) {
		if (waitpid(child, &s, __WALL | WNOHANG) != child || !WIFSTOPPED(s) ||
		    WSTOPSIG(s) != SIGSTOP)
			fail("the child's SIGSTOP stop is no longer pending for its tracer (status "
			     "%#x)", s);
	} else {
		if (!counts())
			fail("the child no longer runs");
		if (!strcmp(mode, "running") &&
		    (ptrace(PTRACE_INTERRUPT, child, 0, 0) || waitpid(child, &s, __WALL) != child ||
		     !WIFSTOPPED(s)))
			fail("PTRACE_INTERRUPT of the child: %s", strerror(errno));
	}
	if (!strcmp(mode, "outside")) {
		sh->stop = 1;
		for (int i = 0; i < 5000 && tracer_of(child) > 0; i++)
			usleep(1000);
	}
	kill(child, SIGKILL);
	waitpid(child, &s, __WALL);
	return test_verdict();
}
