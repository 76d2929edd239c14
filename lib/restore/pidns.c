/* --pid-ns: restore into a new PID namespace (a cryo extension).
 *
 * cryo forks itself into a new PID and mount namespace, mounts a /proc of
 * that namespace, and runs the ordinary restore from inside: there the
 * dumped PIDs are free whatever runs on the host, so any number of copies
 * of one checkpoint can run side by side, each keeping its PIDs inside.
 * The inner cryo then stays as the namespace's init (PID 1), reaping
 * orphans, and exits with the root's status when the root exits, which
 * ends the namespace. */
#include "cryo.h"
#include "restore/restore.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the namespace's init tells the outer cryo: the restore's result,
 * the root's PID in the namespace, and the first error (the message was
 * printed by the init already; the outer cryo's error object gets it). */
struct pidns_report {
	int32_t ret, root;
	struct cryo_error err;
};

static __attribute__((noreturn)) void inner(struct cryo_opts *o, int report_fd, int parent_pidfd)
{
	struct pidns_report rep = { 0 };
	pid_t root = 0;
	/* the outer cryo's error object, as forked: fill the copy, send it */
	struct cryo_error *err = log_capture_errors(NULL);
	if (!err)
		err = &rep.err;
	log_capture_errors(err);

	/* Until the outer cryo has the result, its death ends this init and
	 * with it everything restored in the namespace: a killed restore
	 * leaves nothing behind.  The parent is outside our PID namespace
	 * (getppid() says 0): whether it died before the prctl, its pidfd
	 * tells. */
	struct pollfd pp = { .fd = parent_pidfd, .events = POLLIN };
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || poll(&pp, 1, 0) != 0)
		_exit(1);
	close(parent_pidfd);

	/* Our own /proc, showing this namespace's PIDs; mounts stay private
	 * to this namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		rep.ret = -errno;
		pr_perror("can't mount /proc for the new PID namespace");
		rep.err = *err;
		(void)!write(report_fd, &rep, sizeof(rep));
		_exit(1);
	}
	o->pid_ns = false;
	o->restore_detached = true;
	char *pidfile = o->pidfile;
	o->pidfile = NULL;
	(void)pidfile;
	rep.ret = cryo_restore_here(o, NULL, &root);
	rep.root = root;
	rep.err = *err;
	/* restored: from now on the namespace lives on its own (cleared
	 * before the report, which the outer cryo may exit right after) */
	if (!rep.ret)
		prctl(PR_SET_PDEATHSIG, 0);
	(void)!write(report_fd, &rep, sizeof(rep));
	close(report_fd);
	if (rep.ret)
		_exit(1);
	log_fini();
	/* init of the namespace: reap everything, leave with the root */
	for (;;) {
		int st;
		pid_t p = wait(&st);
		if (p < 0 && errno == ECHILD)
			_exit(0);
		if (p == root)
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
}

int restore_in_new_pidns(struct cryo_opts *o, int *exit_status)
{
	int pfd[2];
	int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (self < 0)
		return_perror("pidfd_open of cryo itself (for the PID namespace helper)");
	if (pipe2(pfd, O_CLOEXEC)) {
		close(self);
		return_perror("pipe2 for the PID namespace helper");
	}
	struct clone_args args = {
		.flags = CLONE_NEWPID | CLONE_NEWNS,
		.exit_signal = SIGCHLD,
	};
	pid_t init = syscall(SYS_clone3, &args, sizeof(args));
	if (init < 0) {
		int e = errno;
		pr_err("can't create a new PID namespace (clone3 with CLONE_NEWPID|CLONE_NEWNS): %s%s",
		       strerror(e), e == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
		close(pfd[0]);
		close(pfd[1]);
		close(self);
		return -e;
	}
	if (init == 0) {
		close(pfd[0]);
		inner(o, pfd[1], self);
	}
	close(self);
	close(pfd[1]);
	struct pidns_report rep = { .ret = -EIO };
	ssize_t n = read_all(pfd[0], &rep, sizeof(rep));
	close(pfd[0]);
	if (n != sizeof(rep) || rep.ret) {
		int st;
		waitpid(init, &st, 0);
		if (n != sizeof(rep)) {
			pr_err("the restore inside the new PID namespace died without a report");
			return -EIO;
		}
		log_record_error(rep.err.code, rep.err.where, rep.err.msg);
		return rep.ret;
	}
	/* The root is the namespace init's only child: its host PID. */
	char path[64], *kids = NULL;
	pid_t host_root = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", init, init);
	if (read_file(AT_FDCWD, path, &kids, false) >= 0) {
		host_root = atoi(kids);
		free(kids);
	}
	pr_info("restored into a new PID namespace: root %d inside is %d on the host (namespace "
		"init %d)", rep.root, host_root, init);
	if (o->pidfile && host_root) {
		int ret = write_pidfile(o->pidfile, host_root);
		if (ret)
			return ret;
	}
	if (!o->restore_detached) {
		int st;
		while (waitpid(init, &st, 0) < 0)
			if (errno != EINTR)
				return_perror("waiting for the PID namespace init %d", init);
		if (exit_status)
			*exit_status = st;
	}
	return 0;
}
