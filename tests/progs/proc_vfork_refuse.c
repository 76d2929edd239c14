/* proc_vfork_refuse: a child of the root called vfork() and its vfork child
 * waits without exec'ing (criu's vfork00 state): the vfork child shares its
 * parent's memory, and the parent sleeps in the kernel until the child
 * execs or exits.  cryo can't recreate the shared address space: the dump
 * must refuse promptly (not hang on the parent's vfork wait), naming the
 * sharing, and leave all three running; after SIGTERM the root kills the
 * vfork child (it sent its pid), whose parent returns from vfork() and
 * reports that it saw the SIGKILL. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	int p[2], s;

	test_doc = "a vfork child that has not exec'ed yet: refused";
	test_init(argc, argv);
	if (pipe(p))
		setup_fail("pipe");
	pid_t c = fork();
	if (c < 0)
		setup_fail("fork");
	if (c == 0) {
		close(p[0]);
		pid_t v = vfork();
		if (v == 0) {
			/* only raw syscalls here: the memory is the parent's */
			pid_t me = syscall(SYS_getpid);
			syscall(SYS_write, p[1], &me, sizeof(me));
			syscall(SYS_pause);
			_exit(0);
		}
		if (v < 0)
			_exit(2);
		if (waitpid(v, &s, 0) != v)
			_exit(3);
		_exit(WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL ? 0 : 4);
	}
	close(p[1]);
	pid_t v;
	if (read(p[0], &v, sizeof(v)) != sizeof(v))
		setup_fail("the vfork child did not start");
	test_daemon();
	test_waitsig();

	if (kill(v, SIGKILL))
		fail("the vfork child %d is gone: %s", (int)v, strerror(errno));
	if (waitpid(c, &s, 0) != c || !WIFEXITED(s) || WEXITSTATUS(s))
		fail("the vfork parent ended with status 0x%x", s);
	return test_verdict();
}
