/* mem_aio_fork_refuse: a child forked after io_setup() keeps a copy of its
 * parent's AIO ring mapping, but not the context (the kernel does not copy
 * contexts to a new mm).  cryo does not recreate such a mapping: the dump
 * must refuse, naming it, and leave both processes running unharmed: after
 * SIGTERM the parent's context still works and the child still has the
 * mapping (and, as before, no context).
 */
#include <linux/aio_abi.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	int pfd[2];
	test_doc = "a fork's copy of its parent's AIO ring: the dump refuses clearly";
	test_init(argc, argv);
	if (syscall(SYS_io_setup, 8, &ctx))
		setup_fail("io_setup: %s", strerror(errno));
	if (pipe(pfd))
		setup_fail("pipe");
	pid_t c = fork();
	if (c < 0)
		setup_fail("fork");
	if (c == 0) {
		test_forked_child();
		close(pfd[1]);
		char x;
		/* the parent's SIGTERM check writes one byte: report then */
		if (read(pfd[0], &x, 1) != 1)
			_exit(3);
		struct smaps_vma v;
		if (smaps_lookup((void *)ctx, NULL, &v) || strncmp(v.path, "/[aio]", 6))
			_exit(1);
		struct timespec ts = { 0, 0 };
		struct io_event ev;
		if (syscall(SYS_io_getevents, ctx, 0, 1, &ev, &ts) != -1 || errno != EINVAL)
			_exit(2);
		_exit(0);
	}
	close(pfd[0]);
	test_daemon();
	test_waitsig();
	struct smaps_vma v;
	if (smaps_lookup((void *)ctx, NULL, &v) || strncmp(v.path, "/[aio]", 6))
		fail("the AIO ring at 0x%lx is gone", (unsigned long)ctx);
	struct timespec ts = { 0, 0 };
	struct io_event ev;
	if (syscall(SYS_io_getevents, ctx, 0, 1, &ev, &ts) != 0)
		fail("io_getevents on the parent's context: %s", strerror(errno));
	if (syscall(SYS_io_destroy, ctx))
		fail_errno("io_destroy");
	int s = 0;
	if (write(pfd[1], "x", 1) != 1 || waitpid(c, &s, 0) != c || !WIFEXITED(s) || WEXITSTATUS(s))
		fail("the child's ring check failed (status 0x%x)", s);
	return test_verdict();
}
