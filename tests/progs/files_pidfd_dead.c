/* files_pidfd_dead: pidfds of processes that have exited and been reaped.
 *
 * State built before the checkpoint: a child exited with status 3 and was
 * reaped; a nonblocking pidfd of it at fd 40, a blocking one at 41 (two
 * descriptions), and 42 a dup of 40.
 * After SIGTERM: every fdinfo shows "Pid: -1"; 40/42 are one description
 * with O_NONBLOCK, 41 is blocking; each polls readable at once;
 * pidfd_send_signal gives ESRCH; waitid(P_PIDFD) gives ECHILD (nothing left
 * to reap).
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
	test_doc = "pidfds of a process that has exited and been reaped";
	test_init(argc, argv);
	int go[2];
	if (pipe(go))
		setup_fail("pipe: %s", strerror(errno));
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(go[1]);
		if (read(go[0], &b, 1) < 0)
			_exit(1);
		_exit(3);
	}
	close(go[0]);
	place(syscall(SYS_pidfd_open, c, O_NONBLOCK), 40);
	place(syscall(SYS_pidfd_open, c, 0), 41);
	if (dup2(40, 42) != 42)
		setup_fail("dup2: %s", strerror(errno));
	close(go[1]);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
		setup_fail("waitpid(%d): %s", c, strerror(errno));

	test_daemon();
	test_waitsig();

	for (int fd = 40; fd <= 42; fd++)
		if (fdinfo_pid(fd) != -1)
			fail("fd %d: fdinfo Pid: %d, expected -1 (reaped)", fd, fdinfo_pid(fd));
	if (!(fcntl(40, F_GETFL) & O_NONBLOCK) || (fcntl(41, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK of the pidfds changed");
	fcntl(42, F_SETFL, 0);
	if (fcntl(40, F_GETFL) & O_NONBLOCK)
		fail("fds 40 and 42 are no longer one open file description");
	for (int fd = 40; fd <= 41; fd++) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
			fail("fd %d: the pidfd of an exited process does not poll readable", fd);
		errno = 0;
		if (syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) != -1 || errno != ESRCH)
			fail("fd %d: pidfd_send_signal: %s, expected ESRCH", fd, strerror(errno));
		siginfo_t si;
		errno = 0;
		if (waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG) != -1 || errno != ECHILD)
			fail("fd %d: waitid(P_PIDFD): %s, expected ECHILD", fd, strerror(errno));
	}
	pass();
	return 0;
}
