/* files_pidfd_dead: pidfds of processes that have exited and been reaped.
 *
 * State built before the checkpoint: a child exited with status 3 and was
 * reaped; a nonblocking pidfd of it at fd 40, a blocking one at 41 (two
 * descriptions), and 42 a dup of 40; a second child killed by SIGUSR2 and
 * reaped, its pidfd at 43.
 * After SIGTERM: every fdinfo shows "Pid: -1"; 40/42 are one description
 * with O_NONBLOCK, 41 is blocking; each polls readable at once;
 * pidfd_send_signal gives ESRCH; waitid(P_PIDFD) gives ECHILD (nothing left
 * to reap); where the kernel reports it (PIDFD_GET_INFO with
 * PIDFD_INFO_EXIT, Linux 6.15), the exit status is the same: exit 3 on
 * 40/41, SIGUSR2 on 43.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
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

/* linux/pidfd.h (6.13+; PIDFD_INFO_EXIT 6.15), its first 64 bytes */
struct pidfd_info_v0 {
	uint64_t mask, cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define PIDFD_GET_INFO_V0 _IOWR(0xFF, 11, struct pidfd_info_v0)
#define PIDFD_INFO_EXIT_BIT (1ULL << 3)

/* The exit status @fd reports, or -1 if the kernel reports none. */
static int exit_status(int fd)
{
	struct pidfd_info_v0 i = { .mask = PIDFD_INFO_EXIT_BIT };
	if (ioctl(fd, PIDFD_GET_INFO_V0, &i) || !(i.mask & PIDFD_INFO_EXIT_BIT))
		return -1;
	return i.exit_code;
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
	pid_t k = fork();
	if (k == 0) {
		pause();
		_exit(1);
	}
	place(syscall(SYS_pidfd_open, k, 0), 43);
	kill(k, SIGUSR2);
	if (waitpid(k, &st, 0) != k || !WIFSIGNALED(st) || WTERMSIG(st) != SIGUSR2)
		setup_fail("waitpid(%d): %s", k, strerror(errno));
	bool have_exit = exit_status(40) == 0x300 && exit_status(43) == st;

	test_daemon();
	test_waitsig();

	for (int fd = 40; fd <= 43; fd++)
		if (fdinfo_pid(fd) != -1)
			fail("fd %d: fdinfo Pid: %d, expected -1 (reaped)", fd, fdinfo_pid(fd));
	if (!(fcntl(40, F_GETFL) & O_NONBLOCK) || (fcntl(41, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK of the pidfds changed");
	fcntl(42, F_SETFL, 0);
	if (fcntl(40, F_GETFL) & O_NONBLOCK)
		fail("fds 40 and 42 are no longer one open file description");
	if (have_exit && (exit_status(40) != 0x300 || exit_status(41) != 0x300 ||
			  exit_status(43) != st))
		fail("the exit statuses are %#x/%#x/%#x, expected %#x, %#x, %#x", exit_status(40),
		     exit_status(41), exit_status(43), 0x300, 0x300, st);
	for (int fd = 40; fd <= 43; fd += fd == 41 ? 2 : 1) {
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
