/* pidfds (pidfd_open, clone's CLONE_PIDFD): a descriptor for a process.
 *
 * Only a pidfd of a process in the dumped tree (alive, or a zombie not yet
 * reaped) is saved: that process comes back with its PID, so pidfd_open at
 * restore, once the whole tree exists, refers to the same process.  A pidfd
 * of a process outside the tree is refused (its PID may belong to another
 * process by the time of the restore).
 *
 * A pidfd of a process that has exited and been reaped (fdinfo "Pid: -1")
 * only reports that exit: it polls readable, pidfd_send_signal gives ESRCH
 * and waitid(P_PIDFD) ECHILD; since Linux 6.15 PIDFD_GET_INFO also reports
 * its exit status (PIDFD_INFO_EXIT).  It is restored as a pidfd of a
 * short-lived child of cryo, taken before that child exits with the same
 * status and kept after cryo reaped it, which behaves the same.
 *
 * In a tree that runs in a PID namespace of its own, fdinfo's Pid: is
 * cryo's (the PID namespace of the /proc it reads); the image records the
 * PID inside (criu's nspid is the innermost one too), and the restore opens
 * the pidfd through cryo's PID for that process. */
#include "files/files-int.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include "pidfd.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat/uapi-extra.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL	/* linux/pidfd.h, Linux 6.9 */
#endif

static int fdinfo_int(const char *text, const char *key, long *v)
{
	const char *p = strstr(text, key);
	if (!p || (p != text && p[-1] != '\n'))
		return -ENOENT;
	*v = strtol(p + strlen(key), NULL, 10);
	return 0;
}

/* Is @pid (a process or thread) @root or below it?  Through /proc/PID/stat
 * parents: a thread's parent is its process's. */
static bool in_tree(pid_t pid, pid_t root)
{
	for (int depth = 0; pid > 1 && depth < 4096; depth++) {
		if (pid == root)
			return true;
		char path[64], *text;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if (read_file(AT_FDCWD, path, &text, true) < 0)
			return false;
		const char *close = strrchr(text, ')');
		int ppid = 0;
		if (!close || sscanf(close + 1, " %*c %d", &ppid) != 1)
			ppid = 0;
		free(text);
		pid = ppid;
	}
	return false;
}

static int pidfd_dump(struct fd_dump *d)
{
	long pid;
	if (fdinfo_int(d->fdinfo, "Pid:", &pid)) {
		pr_err(FD_FMT " is a pidfd whose fdinfo shows no Pid: (kernel too old?)", FD_ARGS(d));
		return -EOPNOTSUPP;
	}
	/* 0: a process in a pid namespace cryo can't see; -1: reaped. */
	if (pid == 0) {
		pr_err(FD_FMT " is a pidfd of a process outside cryo's pid namespace: cryo "
		       "can't make sure it would be the same process at restore", FD_ARGS(d));
		return -EOPNOTSUPP;
	}
	if (pid > 0 && !in_tree(pid, d->fdm->opts->pid)) {
		pr_err(FD_FMT " is a pidfd of process %ld, which is not in the dumped tree: cryo "
		       "can't make sure it would be the same process at restore", FD_ARGS(d), pid);
		return -EOPNOTSUPP;
	}
	FileEntry fe = FILE_ENTRY__INIT;
	PidfdEntry pe = PIDFD_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	fown.has_uid = fown.has_euid = fown.has_signum = fown.has_pid_type = fown.has_pid = 1;
	pe.has_id = pe.has_ino = pe.has_flags = pe.has_nspid = 1;
	pe.id = d->id;
	pe.ino = d->st.st_ino;
	pe.flags = d->fi.flags & ~O_CLOEXEC;
	pe.nspid = pid < 0 ? -1 : fd_dump_tree_vpid(d->fdm, F_OWNER_TID, pid);
	if (!pe.nspid) {
		pr_err(FD_FMT " is a pidfd of process %ld, which is not in the tree's PID "
		       "namespace: cryo can't name it in the images", FD_ARGS(d), pid);
		return -EOPNOTSUPP;
	}
	pe.fown = &fown;
	if (pid < 0) {
		/* the exit status, where the kernel keeps it for pidfds */
		int lfd = fd_dump_lfd(d);
		if (lfd < 0)
			return lfd;
		struct pidfd_info info = { .mask = PIDFD_INFO_EXIT };
		if (!ioctl(lfd, PIDFD_GET_INFO, &info) && (info.mask & PIDFD_INFO_EXIT)) {
			pe.has_exit_status = 1;
			pe.exit_status = info.exit_code;
		}
	}
	fe.pidfd = &pe;
	return files_emit(d, &fe);
}

/* In the helper: end with wait status @status (a signal's without a core
 * dump). */
static void __attribute__((noreturn)) exit_as(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		sigset_t all;
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);	/* no core file */
		signal(sig, SIG_DFL);
		sigemptyset(&all);
		sigaddset(&all, sig);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		raise(sig);
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 0);
}

/* A pidfd of a process that has exited and been reaped: fork a child, take
 * its pidfd, let it exit with @status and reap it.  The child is made in the
 * tree's PID namespace: a pidfd keeps the namespace of its process, and one
 * of a process outside the tree's namespace (cryo's) would give EINVAL, not
 * ESRCH, to pidfd_send_signal and no exit status to PIDFD_GET_INFO there.
 * setns(CLONE_NEWPID) only moves cryo's children; cryo comes back to its
 * own (its active one) right after the fork. */
static int pidfd_of_dead(struct files_restore *fr, struct rst_file *f, unsigned flags, int status)
{
	uint32_t id = f->fe->id;
	int go[2];
	if (pipe2(go, O_CLOEXEC))
		return_perror("pipe for the exited process of pidfd %u", id);
	int ret = files_rst_enter_ns(fr, f, CLONE_NEWPID);
	if (ret) {
		close(go[0]);
		close(go[1]);
		return ret;
	}
	pid_t pid = fork();
	int fork_err = errno;
	if (pid != 0)	/* the child stays (it is in the tree's namespace already) */
		ret = files_rst_leave_ns(fr, CLONE_NEWPID);
	if (pid < 0 || ret) {
		close(go[0]);
		close(go[1]);
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		if (ret)
			return ret;
		errno = fork_err;
		return_perror("fork (in the tree's PID namespace) for the exited process of "
			      "pidfd %u", id);
	}
	if (pid == 0) {
		char c;
		close(go[1]);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		exit_as(status);
	}
	close(go[0]);
	int fd = syscall(SYS_pidfd_open, pid, flags);
	int err = errno;
	close(go[1]);	/* now it may exit */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		errno = err;
		return_perror("pidfd_open(%d, %#x) of a helper for pidfd %u", pid, flags, id);
	}
	return fd;
}

static int pidfd_open_kind(struct files_restore *fr, struct rst_file *f)
{
	const PidfdEntry *pe = f->fe->pidfd;
	if (!pe || !pe->has_nspid) {
		pr_err("files.img: pidfd %u has no pidfd_entry", f->fe->id);
		return -EINVAL;
	}
	unsigned flags = pe->flags & (O_NONBLOCK | PIDFD_THREAD);
	if (pe->nspid < 0) {
		int fd = pidfd_of_dead(fr, f, flags, pe->has_exit_status ? pe->exit_status : 0);
		if (fd < 0)
			return fd;
		f->lfd = fd;
		return 0;
	}
	if (pe->nspid == 0) {
		pr_err("files.img: pidfd %u refers to pid 0", f->fe->id);
		return -EINVAL;
	}
	/* the image's PID is the tree's; pidfd_open takes cryo's */
	pid_t pid = fr->host_pid ? fr->host_pid(fr->host_pid_arg, flags & PIDFD_THREAD ?
						 F_OWNER_TID : F_OWNER_PID, pe->nspid) : pe->nspid;
	if (pid <= 0) {
		pr_err("pidfd %u: process %d of the images has not been restored (yet)", f->fe->id,
		       pe->nspid);
		return -ESRCH;
	}
	int fd = syscall(SYS_pidfd_open, pid, flags);
	if (fd < 0)
		return_perror("pidfd_open(%d, %#x) for pidfd %u (the restored process %d should "
			      "exist by now)", pid, flags, f->fe->id, pe->nspid);
	f->lfd = fd;
	return 0;
}

const struct fd_kind fdk_pidfd = {
	.name = "pidfd",
	.fd_type = FD_TYPES__PIDFD,
	.dump = pidfd_dump,
	.open = pidfd_open_kind,
};
