/* `cryo service`: criu's RPC on a listening UNIX socket.
 *
 * The socket is --address (criu's default: criu_service.socket in the work
 * directory), or the one systemd passes (LISTEN_FDS=1, LISTEN_PID=us, fd
 * 3).  Each connection is served by a process of its own (its requests'
 * operations each run in a further child, rpc.c), so a client can't
 * disturb another or the service.  --daemon: into the background once the
 * socket listens; --pidfile: the service's PID; --status-fd: a zero byte
 * once ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rpc/rpc-int.h"
#include "util/log.h"
#include "util/util.h"

#define DEFAULT_ADDRESS "criu_service.socket"
#define SD_LISTEN_FDS_START 3

static void reap(int sig)
{
	int e = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = e;
}

/* systemd socket activation: 1 if @fd is ours, 0 if none was passed. */
static int activated_socket(int *fd)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (!pid || !fds || atoi(pid) != getpid())
		return 0;
	if (atoi(fds) != 1) {
		pr_err("service: LISTEN_FDS=%s: cryo serves one socket (pass exactly one)", fds);
		return -EINVAL;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	*fd = SD_LISTEN_FDS_START;
	fcntl(*fd, F_SETFD, FD_CLOEXEC);
	return 1;
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		pr_err("service: the socket path %s is too long (at most %zu bytes)", path,
		       sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return_perror("service: can't create a socket");
	/* a stale socket of an earlier service is replaced, as criu does */
	struct stat st;
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 16)) {
		int e = errno;
		close(fd);
		return log_errno(-e, "service: can't listen on %s", path);
	}
	return fd;
}

int rpc_service(struct cryo_opts *base)
{
	const char *path = base->address_socket ? base->address_socket :
			   base->address ? base->address : DEFAULT_ADDRESS;
	struct sigaction sa = { .sa_handler = reap };
	int lfd = -1, ret;

	ret = activated_socket(&lfd);
	if (ret < 0)
		return ret;
	if (!ret) {
		lfd = listen_on(path);
		if (lfd < 0)
			return lfd;
		pr_info("service: listening on %s", path);
	} else {
		pr_info("service: listening on the socket systemd passed (fd %d)", lfd);
	}
	if (base->daemon && daemon(1, 0)) {
		ret = -errno;
		pr_perror("service: can't go into the background");
		close(lfd);
		return ret;
	}
	if (base->pidfile) {
		ret = write_pidfile(base->pidfile, getpid());
		if (ret) {
			close(lfd);
			return ret;
		}
	}
	if (base->status_fd >= 0) {
		/* criu's readiness signal: one zero byte, then the end */
		char zero = 0;
		if (write(base->status_fd, &zero, 1) != 1)
			pr_perror("service: can't write to --status-fd %d", base->status_fd);
		close(base->status_fd);
	}
	/* no SA_RESTART: accept() returns to reap finished connections */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (;;) {
		int sk = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (sk < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			ret = -errno;
			pr_perror("service: accept on %s failed", path);
			break;
		}
		pid_t pid = fork();
		if (pid < 0) {
			pr_perror("service: can't fork a process for a connection");
			rpc_send_error(sk, CRIU_REQ_TYPE__EMPTY, -errno, "the service can't fork");
			close(sk);
			continue;
		}
		if (pid == 0) {
			struct rpc_peer peer = { .pid = rpc_peer_pid(sk), .swrk = false };
			signal(SIGCHLD, SIG_DFL);
			close(lfd);
			_exit(rpc_serve(sk, &peer) < 0 ? 1 : 0);
		}
		close(sk);
	}
	close(lfd);
	return ret;
}
