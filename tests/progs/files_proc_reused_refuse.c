/* files_proc_reused_refuse: an fd on /proc/PID of a child that has exited,
 * whose PID was then given to another child (clone3 with set_tid).  A
 * restore would need a process with that PID to reopen the file through,
 * so the dump must refuse, naming the PID; after it the fd still is the
 * dead child's (reading fails with ESRCH).  The second child is ended by
 * its PID. */
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static pid_t child(pid_t want)
{
	struct clone_args args = { .exit_signal = SIGCHLD };
	if (want) {
		args.set_tid = (uint64_t)(uintptr_t)&want;
		args.set_tid_size = 1;
	}
	pid_t p = syscall(SYS_clone3, &args, sizeof(args));
	if (p == 0) {
		test_forked_child();
		for (;;)
			pause();
	}
	return p;
}

int main(int argc, char **argv)
{
	test_doc = "fd on /proc/PID of a dead child whose PID was reused: refused";
	test_init(argc, argv);
	pid_t kid = child(0);
	if (kid < 0)
		setup_fail("clone3: %s", strerror(errno));
	char status[80];
	snprintf(status, sizeof(status), "/proc/%d/status", kid);
	int s = open(status, O_RDONLY);
	if (s < 0 || dup2(s, 40) != 40 || close(s))
		setup_fail("open %s: %s", status, strerror(errno));
	kill(kid, SIGKILL);
	if (waitpid(kid, NULL, 0) != kid)
		setup_fail("waitpid: %s", strerror(errno));
	pid_t again = child(kid);
	if (again != kid)
		setup_fail("clone3 with set_tid %d: %s", kid, strerror(errno));

	test_daemon();
	test_waitsig();

	char buf[64];
	if (read(40, buf, sizeof(buf)) >= 0 || errno != ESRCH)
		fail("fd 40 reads as a live process's status (%s)", strerror(errno));
	kill(again, SIGKILL);
	waitpid(again, NULL, 0);
	pass();
	return 0;
}
