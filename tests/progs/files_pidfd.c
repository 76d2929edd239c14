/* files_pidfd: pidfds of processes in the tree.
 *
 * State built before the checkpoint: a child C waiting for SIGUSR1 (then it
 * exits 7), with a nonblocking pidfd at fd 40, its dup at 41, and a second
 * pidfd (blocking) at 42; a zombie child Z (exit 9, not reaped) with a pidfd
 * at 43.
 * After SIGTERM: fds 40/41 are one description with O_NONBLOCK, 42 is
 * blocking; each fdinfo names its child's PID; waitid(P_PIDFD) on 43 reaps Z
 * with status 9; pidfd_send_signal on 40 reaches C; 42 polls readable once
 * C has exited, and waitid(P_PIDFD) on it gives status 7.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int fdinfo_pid(int fd)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	int pid = -2;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Pid:", 4))
			pid = atoi(line + 4);
	if (f)
		fclose(f);
	return pid;
}

static void place(int fd, int at)
{
	if (fd < 0 || dup2(fd, at) != at)
		setup_fail("pidfd at %d: %s", at, strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	test_doc = "pidfds of a live child and of a zombie";
	test_init(argc, argv);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	pid_t c = fork();
	if (c == 0) {
		test_forked_child();
		int sig;
		sigwait(&usr1, &sig);
		_exit(7);
	}
	pid_t z = fork();
	if (z == 0) {
		test_forked_child();
		_exit(9);
	}
	place(syscall(SYS_pidfd_open, c, O_NONBLOCK), 40);
	if (dup2(40, 41) != 41)
		setup_fail("dup2: %s", strerror(errno));
	place(syscall(SYS_pidfd_open, c, 0), 42);
	place(syscall(SYS_pidfd_open, z, 0), 43);
	siginfo_t si;
	if (waitid(P_PID, z, &si, WEXITED | WNOWAIT))	/* Z is a zombie now */
		setup_fail("waitid: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	if (!(fcntl(40, F_GETFL) & O_NONBLOCK) || (fcntl(42, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK of the pidfds changed");
	if (fdinfo_pid(40) != c || fdinfo_pid(41) != c || fdinfo_pid(42) != c ||
	    fdinfo_pid(43) != z)
		fail("the pidfds refer to %d/%d/%d/%d, expected %d, %d, %d, %d", fdinfo_pid(40),
		     fdinfo_pid(41), fdinfo_pid(42), fdinfo_pid(43), c, c, c, z);
	/* one description: O_NONBLOCK set through 41 shows on 40 */
	fcntl(41, F_SETFL, 0);
	if (fcntl(40, F_GETFL) & O_NONBLOCK)
		fail("fds 40 and 41 are no longer one open file description");
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, 43, &si, WEXITED) || si.si_pid != z || si.si_status != 9)
		fail("waitid on Z's pidfd: %s, pid %d, status %d", strerror(errno), si.si_pid,
		     si.si_status);
	if (syscall(SYS_pidfd_send_signal, 40, SIGUSR1, NULL, 0))
		fail("pidfd_send_signal: %s", strerror(errno));
	struct pollfd p = { 42, POLLIN, 0 };
	if (poll(&p, 1, 5000) != 1)
		fail("C's pidfd did not become readable after it exited");
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, 42, &si, WEXITED) || si.si_pid != c || si.si_status != 7)
		fail("waitid on C's pidfd: %s, pid %d, status %d", strerror(errno), si.si_pid,
		     si.si_status);
	pass();
	return 0;
}
