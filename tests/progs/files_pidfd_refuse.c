/* files_pidfd_refuse: a pidfd of a process outside the dumped tree (pid 1)
 * is refused (its PID may name another process at restore); the test runs
 * on and checks its pidfd still refers to pid 1. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "a pidfd of a process outside the tree is refused";
	test_init(argc, argv);
	int fd = syscall(SYS_pidfd_open, 1, 0);
	if (fd < 0)
		setup_fail("pidfd_open(1): %s", strerror(errno));
	test_daemon();
	test_waitsig();
	if (syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0))
		fail("the pidfd of pid 1 no longer works: %s", strerror(errno));
	pass();
	return 0;
}
