/* --freeze-cgroup: freeze the tree's cgroup while it is seized, so nothing
 * in it forks or exits meanwhile; the tasks stay stopped by ptrace once it
 * is thawed.  cgroup v2 (cgroup.freeze, cgroup.events "frozen 1") or the v1
 * freezer (freezer.state FROZEN/THAWED).
 *
 * A guard process, forked before the freeze, holds the read end of a pipe
 * whose write end only cryo has: if cryo dies before it thaws (SIGKILL, a
 * crash), the guard reads EOF and thaws the cgroup itself, so the target is
 * never left frozen by cryo.  A cgroup frozen before the dump (a paused
 * container: containerd pauses a task before it checkpoints it) is left
 * frozen (v2: ptrace reaches frozen tasks).  v1 frozen tasks answer no
 * ptrace interrupt, so such a cgroup is thawed once the tasks are caught
 * (they stay in ptrace stops) and frozen again once the dump let them go,
 * as criu does (cg_refreeze); only a leave-running/stopped dump freezes it
 * again: a killed tree has nothing left to keep frozen. */
#include "cgroup/cgroup-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct cg_freezer {
	char dir[PATH_MAX];
	bool v1;
	bool was_frozen;	/* frozen before the dump: v2 left so, v1 frozen again */
	pid_t guard;
	int guard_fd;		/* the pipe's write end: closing it without a byte thaws */
};

bool cg_freezer_v1(const struct cg_freezer *f)
{
	return f && f->v1;
}

bool cg_freezer_refreeze(const struct cg_freezer *f)
{
	return f && f->v1 && f->was_frozen;
}

int cg_refreeze(const char *dir)
{
	int ret = cg_write_file(dir, "freezer.state", "FROZEN");
	if (ret)
		return log_errno(ret, "can't freeze v1 freezer cgroup %s again after the dump (it was "
				 "frozen before it); freeze it by hand (echo FROZEN > "
				 "%s/freezer.state)", dir, dir);
	pr_info("v1 freezer cgroup %s frozen again, as it was before the dump", dir);
	return 0;
}

static int read_state(const struct cg_freezer *f, bool *frozen)
{
	char *st = NULL;
	int ret = cg_read_prop(f->dir, f->v1 ? "freezer.state" : "cgroup.events", &st);
	if (ret)
		return ret;
	*frozen = f->v1 ? !strcmp(st, "FROZEN") : strstr(st, "frozen 1") != NULL;
	free(st);
	return 0;
}

/* The guard: only async-signal-safe calls after the fork. */
static __attribute__((noreturn)) void guard_run(int rfd, const char *path, const char *thaw)
{
	char c;
	ssize_t n;
	while ((n = read(rfd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n <= 0) {	/* cryo is gone without thawing */
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, thaw, strlen(thaw)) < 0)
				_exit(2);
			close(fd);
		}
		_exit(1);
	}
	_exit(0);
}

static int start_guard(struct cg_freezer *f)
{
	char path[PATH_MAX + 32];
	const char *thaw = f->v1 ? "THAWED" : "0";
	int p[2];
	snprintf(path, sizeof(path), "%s/%s", f->dir, f->v1 ? "freezer.state" : "cgroup.freeze");
	if (pipe2(p, O_CLOEXEC))
		return log_errno(-errno, "can't make the freezer guard's pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return log_errno(-errno, "can't fork the freezer guard");
	}
	if (pid == 0) {
		close(p[1]);
		/* its own session: a signal to cryo's group does not end it */
		setsid();
		/* nothing of cryo's kept open: only the pipe, as fd 3 */
		if (p[0] != 3 && dup2(p[0], 3) < 0)
			_exit(3);
		syscall(SYS_close_range, 4, ~0U, 0);
		guard_run(3, path, thaw);
	}
	close(p[0]);
	f->guard = pid;
	f->guard_fd = p[1];
	return 0;
}

static void end_guard(struct cg_freezer *f)
{
	if (f->guard_fd >= 0) {
		if (write(f->guard_fd, "x", 1) != 1)
			pr_warn("can't dismiss the freezer guard %d: %m", f->guard);
		close(f->guard_fd);
		f->guard_fd = -1;
	}
	if (f->guard > 0)
		while (waitpid(f->guard, NULL, 0) < 0 && errno == EINTR)
			;
	f->guard = 0;
}

int cg_freeze(struct cg_freezer **out, const char *dir, unsigned timeout_s)
{
	struct cg_freezer *f = xzalloc(sizeof(*f));
	char *probe;
	bool frozen = false;
	int ret;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->guard_fd = -1;
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	if (cg_read_prop(dir, "cgroup.freeze", &probe) == 0) {
		free(probe);
	} else if (cg_read_prop(dir, "freezer.state", &probe) == 0) {
		free(probe);
		f->v1 = true;
	} else {
		pr_err("%s is not a freezer cgroup: --freeze-cgroup needs a cgroup v2 directory "
		       "(with cgroup.freeze) or a v1 freezer one (with freezer.state)", dir);
		free(f);
		return -ENOENT;
	}
	ret = read_state(f, &frozen);
	if (!ret && frozen && f->v1) {
		/* no guard: cryo thaws it as soon as the tasks are caught */
		f->was_frozen = true;
		pr_info("v1 freezer cgroup %s is frozen already: thawed once its tasks are caught, "
			"frozen again after the dump", dir);
		*out = f;
		return 0;
	} else if (!ret && frozen) {
		f->was_frozen = true;	/* v2: ptrace reaches frozen tasks; left frozen */
		pr_info("cgroup %s is frozen already: it stays so", dir);
		*out = f;
		return 0;
	}
	if (!ret)
		ret = start_guard(f);
	if (!ret) {
		ret = cg_write_file(dir, f->v1 ? "freezer.state" : "cgroup.freeze", f->v1 ? "FROZEN" : "1");
		if (ret)
			log_errno(ret, "can't freeze cgroup %s", dir);
	}
	uint64_t deadline = now_ns() + (uint64_t)(timeout_s ? timeout_s : 10) * 1000000000ULL;
	while (!ret) {
		ret = read_state(f, &frozen);
		if (ret) {
			log_errno(ret, "can't read the freezer state of %s", dir);
			break;
		}
		if (frozen)
			break;
		if (now_ns() > deadline) {
			pr_err("cgroup %s did not freeze within %u s (try a larger --timeout)", dir,
			       timeout_s ? timeout_s : 10);
			ret = -ETIMEDOUT;
			break;
		}
		usleep(1000);
	}
	if (ret) {
		if (f->guard)
			cg_thaw(f);
		else
			free(f);
		return ret;
	}
	*out = f;
	return 0;
}

int cg_thaw(struct cg_freezer *f)
{
	int ret = 0;
	if (!f)
		return 0;
	if (!f->was_frozen || f->v1) {
		ret = cg_write_file(f->dir, f->v1 ? "freezer.state" : "cgroup.freeze",
				    f->v1 ? "THAWED" : "0");
		if (ret)
			log_errno(ret, "can't thaw cgroup %s", f->dir);
	}
	if (ret)
		close(f->guard_fd);	/* the guard tries once more */
	else
		end_guard(f);
	free(f);
	return ret;
}
