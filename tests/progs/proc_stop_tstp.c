/* proc_stop_tstp: children stopped by SIGTSTP, SIGTTIN and SIGTTOU (and one
 * by SIGSTOP) come back stopped by that same signal.
 *
 * Each child moves into its own process group first: the test's group is
 * orphaned (its leader's parent is in another session), and the kernel
 * discards the terminal stop signals sent to an orphaned group.  The parent
 * consumes each stop report (waitpid WUNTRACED) before the dump.
 *
 * After restore, as with criu, each child has entered its group stop again,
 * so the parent has a fresh stop report: it must name the original signal
 * (WSTOPSIG).  With --untouched (a dump with --leave-running) the children
 * never left their stop, so there must be no report at all: the dump leaves
 * no trace, no continue and no new stop.  Either way the child must be in
 * state T, its counter (shared memory) must not move while stopped, and a
 * SIGCONT must resume it (a WCONTINUED report, the counter moves again). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static const int sigs[] = { SIGTSTP, SIGTTIN, SIGTTOU, SIGSTOP };
#define NR (int)(sizeof(sigs) / sizeof(sigs[0]))

static volatile uint64_t *counters;
static bool untouched;
TEST_OPTION(untouched, bool, "dumped with --leave-running: no new stop report", 0);

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}

int main(int argc, char **argv)
{
	pid_t kids[NR];
	test_doc = "children stopped by SIGTSTP/SIGTTIN/SIGTTOU/SIGSTOP keep their stop signal";
	test_init(argc, argv);

	counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counters == MAP_FAILED)
		setup_fail("mmap");
	for (int i = 0; i < NR; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			setup_fail("fork");
		if (kids[i] == 0) {
			test_forked_child();
			setpgid(0, 0);	/* a group that is not orphaned */
			while (test_go())
				counters[i]++;
			_exit(0);
		}
		setpgid(kids[i], kids[i]);
		while (!counters[i])
			test_sleep_ms(1);
		kill(kids[i], sigs[i]);
		int st;
		if (waitpid(kids[i], &st, WUNTRACED) != kids[i] || !WIFSTOPPED(st) ||
		    WSTOPSIG(st) != sigs[i])
			setup_fail("child %d did not stop with signal %d (status 0x%x)", kids[i],
				   sigs[i], st);
	}
	test_daemon();
	test_waitsig();

	for (int i = 0; i < NR; i++) {
		pid_t k = kids[i];
		siginfo_t si = { 0 };
		if (untouched) {
			if (waitid(P_PID, k, &si, WSTOPPED | WCONTINUED | WNOHANG) == 0 &&
			    si.si_pid == k)
				fail("child %d (stopped by %s): the dump left a report (code %d "
				     "signal %d): it was continued or stopped again", k,
				     strsignal(sigs[i]), si.si_code, si.si_status);
		} else if (waitid(P_PID, k, &si, WSTOPPED | WNOHANG) || si.si_pid != k) {
			fail("child %d (stopped by %s): no stop report after restore", k,
			     strsignal(sigs[i]));
			continue;
		} else if (si.si_code != CLD_STOPPED || si.si_status != sigs[i])
			fail("child %d: stop report code %d signal %d (%s), expected signal %d (%s)", k,
			     si.si_code, si.si_status, strsignal(si.si_status), sigs[i],
			     strsignal(sigs[i]));
		if (proc_state(k) != 'T')
			fail("child %d is in state %c, not stopped", k, proc_state(k));
		uint64_t before = counters[i];
		test_sleep_ms(50);
		if (counters[i] != before)
			fail("child %d runs while it should be stopped", k);
		if (getpgid(k) != k)
			fail("child %d is in group %d, expected its own", k, getpgid(k));
	}
	for (int i = 0; i < NR; i++) {
		pid_t k = kids[i];
		uint64_t before = counters[i];
		kill(k, SIGCONT);
		siginfo_t si = { 0 };
		if (waitid(P_PID, k, &si, WCONTINUED) || si.si_pid != k || si.si_code != CLD_CONTINUED)
			fail("child %d: no continue report after SIGCONT (code %d)", k, si.si_code);
		for (int t = 0; t < 2000 && counters[i] == before; t++)
			test_sleep_ms(1);
		if (counters[i] == before)
			fail("child %d did not run after SIGCONT", k);
		kill(k, SIGTERM);
		int st;
		if (waitpid(k, &st, 0) != k || !WIFEXITED(st) || WEXITSTATUS(st))
			fail("child %d ended with status 0x%x, expected exit 0", k, st);
	}
	return test_verdict();
}
