/* The lazy-pages daemon's guard (see lazy_daemon.c): forked once the
 * daemon has the tree, it holds a copy of every userfaultfd, so that the
 * kernel does not unregister the memory (and let the tree read zeros where
 * pages are missing) if the daemon dies; when the daemon's end of their
 * socket pair closes without its "done" ('D'), it kills the restored
 * processes (through their pidfds) and their descendants. */
#include "mem/lazy.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The guard: holds the userfaultfds (inherited, and those of forks from
 * the daemon) until the daemon says "done"; kills the tree if the daemon
 * goes first. */
static long pidfd_pid(int pidfd)
{
	char path[64], *buf, *q;
	long pid = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if (read_file(AT_FDCWD, path, &buf, true) < 0)
		return -1;
	q = strstr(buf, "\nPid:");
	if (q)
		pid = strtol(q + 5, NULL, 10);
	free(buf);
	return pid;
}

static void kill_descendants(pid_t pid, int depth)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d || depth > 64) {
		if (d)
			closedir(d);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char cpath[320], *buf;
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", pid, de->d_name);
		if (read_file(AT_FDCWD, cpath, &buf, true) < 0)
			continue;
		for (char *s = buf, *e; *s; s = e) {
			long c = strtol(s, &e, 10);
			if (e == s)
				break;
			kill_descendants((pid_t)c, depth + 1);
			kill((pid_t)c, SIGKILL);
		}
		free(buf);
	}
	closedir(d);
}

static void guard_main(const int *pidfds, int npidfds, int sk)
{
	for (;;) {
		char c, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &c, 1 };
		struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(sk, &h, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 1 && c == 'D')
			_exit(0);
		if (n == 1)
			continue;	/* a fork's userfaultfd: kept */
		break;
	}
	pr_err("lazy-pages: the daemon is gone before the memory of the restored tree was "
	       "complete: killing the restored processes and their descendants (their missing "
	       "pages can never come)");
	for (int i = 0; i < npidfds; i++) {
		long pid = pidfd_pid(pidfds[i]);
		if (pid > 0) {
			kill_descendants((pid_t)pid, 0);
			pr_err("lazy-pages: killing process %ld", pid);
		}
		syscall(SYS_pidfd_send_signal, pidfds[i], SIGKILL, NULL, 0);
	}
	_exit(1);
}

int lazy_guard_start(const int *pidfds, int npidfds, int *sk, pid_t *guard)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return_perror("lazy-pages: can't create the guard's socket pair");
	pid_t pid = fork();
	if (pid < 0) {
		close(sp[0]);
		close(sp[1]);
		return_perror("lazy-pages: can't fork the guard");
	}
	if (pid == 0) {
		close(sp[0]);
		guard_main(pidfds, npidfds, sp[1]);
	}
	close(sp[1]);
	*sk = sp[0];
	*guard = pid;
	return 0;
}

/* A forked child's userfaultfd, for the guard to hold too. */
int lazy_guard_pass(int sk, int fd)
{
	char c = 'F', cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &c, 1 };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sk, &h, MSG_NOSIGNAL) != 1)
		return log_errno(-errno, "lazy-pages: can't pass a forked child's userfaultfd "
				 "to the guard");
	return 0;
}
