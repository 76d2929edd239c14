/* proc_ptraced_refuse: a process of the tree traces another (a debugger or
 * a sandbox supervisor inside a container): the child runs getppid() in a
 * loop and its parent steps it from syscall stop to syscall stop
 * (PTRACE_SYSCALL) all the time, also while cryo dumps.  cryo can't seize
 * a task another tracer holds, nor give that tracing back: the dump must
 * refuse, and leave both as they were: after SIGTERM the parent must still
 * be the child's tracer (TracerPid) and go on stepping it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int tracer_of(pid_t pid)
{
	char path[64], line[256];
	int t = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &t) == 1)
			break;
	if (f)
		fclose(f);
	return t;
}

/* one step: wait for the next stop, let it run to the next one */
static int step(pid_t kid)
{
	int st;
	pid_t w = waitpid(kid, &st, __WALL | WNOHANG);
	if (w == 0)
		return 0;
	if (w != kid || !WIFSTOPPED(st))
		return -1;
	/* a group stop or a signal stop (cryo's SIGSTOP, if it got that far)
	 * is passed on as the kernel would: 0 for syscall stops */
	int sig = WSTOPSIG(st) == (SIGTRAP | 0x80) || WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st);
	if (st >> 16 == PTRACE_EVENT_STOP)
		sig = 0;
	if (ptrace(PTRACE_SYSCALL, kid, 0, sig))
		return -1;
	return 1;
}

int main(int argc, char **argv)
{
	test_doc = "a task traced by another of the tree is refused, both unharmed";
	test_init(argc, argv);

	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		for (;;)
			syscall(SYS_getppid);
	}
	if (ptrace(PTRACE_SEIZE, kid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) ||
	    ptrace(PTRACE_INTERRUPT, kid, 0, 0))
		setup_fail("PTRACE_SEIZE %d: %s", kid, strerror(errno));
	unsigned long steps = 0;
	while (steps < 100) {
		int r = step(kid);
		if (r < 0)
			setup_fail("stepping %d: %s", kid, strerror(errno));
		steps += r;
	}
	test_daemon();
	while (test_go()) {
		int r = step(kid);
		if (r < 0) {
			fail_errno("stepping %d after %lu steps", kid, steps);
			break;
		}
		steps += r;
		if (!r)
			usleep(50);
	}
	/* still ours, still stepping */
	if (tracer_of(kid) != getpid())
		fail("the child %d is traced by %d, not by its parent %d", kid, tracer_of(kid),
		     getpid());
	unsigned long more = 0;
	for (int i = 0; i < 200000 && more < 100; i++) {
		int r = step(kid);
		if (r < 0) {
			fail_errno("stepping %d after SIGTERM", kid);
			break;
		}
		more += r;
		if (!r)
			usleep(50);
	}
	if (more < 100)
		fail("the child made %lu syscall stops after SIGTERM, not 100", more);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, __WALL);
	return test_verdict();
}
