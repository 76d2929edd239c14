/* The end of a restore: zombies made to exit with their old status (once
 * their groups are in place), and the release of the tree, stopped tasks
 * stopped again by the signal that had stopped them. */
#include "restore/restore.h"
#include "proc/proc.h"
#include "seize/seize.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

#include "sa.pb-c.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Take back, in @parent (all signals blocked), the SIGCHLD that the exit of
 * @pid (a zombie made for the restore, or a helper) sent it. */
int take_back_sigchld(struct rst_proc *parent, pid_t pid)
{
	struct remote *pr = &rst_leader(parent)->r;
	uint64_t set = 1ULL << (SIGCHLD - 1);
	struct timespec zero = { 0, 0 };
	remote_scratch_reset(pr);
	uint64_t s = remote_scratch_put(pr, &set, sizeof(set));
	uint64_t t = remote_scratch_put(pr, &zero, sizeof(zero));
	if (!s || !t)
		return -ENOSPC;
	long got = remote_syscall(pr, __NR_rt_sigtimedwait, s, 0, t, 8, 0, 0);
	if (got != SIGCHLD && got != -EAGAIN) {
		pr_err("can't take back the SIGCHLD of %d in its parent %d: %s", pid, parent->pid,
		       got < 0 ? strerror(-got) : "unexpected signal");
		return got < 0 ? got : -EIO;
	}
	return 0;
}

/* The exit status of zombie @z, checked: what wait() reported as its
 * status -- an exit code, or a terminating signal. */
int zombie_check_status(const struct rst_proc *z)
{
	unsigned st = z->core->tc->has_exit_code ? z->core->tc->exit_code : 0;
	unsigned sig = st & 0x7f;
	if (st & 0x80) {
		pr_err("zombie %d was killed by signal %u and dumped core: cryo can't recreate the "
		       "core-dump flag of its status (it would have to dump core again)", z->pid, sig);
		return -EOPNOTSUPP;
	}
	if (st > 0xffff || (sig && st > 0x7f) || sig == 0x7f || sig == SIGSTOP || sig > 64) {
		pr_err("core-%d.img: invalid exit status 0x%x of a zombie", z->pid, st);
		return -EINVAL;
	}
	return 0;
}

/* A zombie, created as a live fork of its parent (which is where its
 * session came from; setsid if it led one) and put into its process
 * group with the others (set_pgids): now made to exit with its old status.
 * Its SIGCHLD to the parent is taken back: the parent saw it long ago. */
static int make_zombie(struct rst_proc *z)
{
	struct remote *r = &rst_leader(z)->r;
	int status = z->core->tc->exit_code;
	int ret;
	if (status & 0x7f) {
		int sig = status & 0x7f;
		uint64_t set = 1ULL << (sig - 1);
		uint64_t sa[4] = { 0 };		/* SIG_DFL */
		remote_scratch_reset(r);
		uint64_t a = remote_scratch_put(r, sa, sizeof(sa));
		uint64_t m = remote_scratch_put(r, &set, sizeof(set));
		if (!a || !m)
			return -ENOSPC;
		/* SIGKILL's action can't be set (EINVAL), nor blocked; the
		 * others get their default, unblocked.  No core dump: the
		 * status had no core-dump flag (zombie_check_status). */
		if (sig != SIGKILL &&
		    (remote_call(r, "rt_sigaction", __NR_rt_sigaction, sig, a, 0, 8) ||
		     remote_call(r, "rt_sigprocmask", __NR_rt_sigprocmask, SIG_UNBLOCK, m, 0, 8)))
			return -EIO;
		if (remote_call(r, "prctl(PR_SET_DUMPABLE)", __NR_prctl, PR_SET_DUMPABLE, 0, 0, 0))
			return -EIO;
		/* itself, by its PID in its own namespace */
		ret = remote_syscall_noreturn(r, __NR_kill, z->nspid[z->nslv], sig, 0);
	} else {
		ret = remote_syscall_noreturn(r, __NR_exit_group, (status >> 8) & 0xff, 0, 0);
	}
	if (ret)
		return ret;
	z->exited = true;
	remote_fini(r);
	return take_back_sigchld(z->parent, z->vpid);
}

int make_zombies(struct rst_ctx *ctx)
{
	for (int i = ctx->nr_procs - 1; i >= 0; i--) {
		struct rst_proc *z = &ctx->procs[i];
		if (z->state != TASK_DEAD || z->exited)
			continue;
		int ret = make_zombie(z);
		if (ret)
			return ret;
	}
	return 0;
}

/* criu's sigactions list skips SIGKILL and SIGSTOP. */
static const SaEntry *sa_of(const TaskCoreEntry *tc, int sig)
{
	size_t k = sig - 1 - (sig > SIGKILL) - (sig > SIGSTOP);
	return k < tc->n_sigactions ? tc->sigactions[k] : NULL;
}

/* The signal that stops @p again: the one that had stopped it (criu's
 * stop_signo), if the kernel will act on it as it did then -- a terminal
 * stop signal with its default action, not blocked by every thread, and
 * (the kernel drops these otherwise) a group that is not orphaned. */
static int stop_signal(struct rst_proc *p)
{
	const TaskCoreEntry *tc = p->core->tc;
	if (p->state != TASK_STOPPED || !tc->has_stop_signo || tc->stop_signo == SIGSTOP)
		return SIGSTOP;
	int sig = tc->stop_signo;
	const char *why = NULL;
	const SaEntry *sa = sa_of(tc, sig);
	bool blocked = true;
	for (int t = 0; t < p->nr_threads; t++) {
		const ThreadCoreEntry *th = p->thr[t].core->thread_core;
		uint64_t m = th->has_blk_sigset ? th->blk_sigset : tc->blk_sigset;
		blocked &= (m >> (sig - 1)) & 1;
	}
	if (sa && sa->sigaction != (uint64_t)(uintptr_t)SIG_DFL)
		why = "its action is not the default one";
	else if (blocked)
		why = "every thread blocks it";
	/* /proc shows cryo's PIDs: the group as cryo sees it (the image's
	 * is the tree's, another number in a PID namespace of its own) */
	else if (proc_pgrp_orphaned(p->pid != p->vpid && getpgid(p->pid) > 0 ? getpgid(p->pid)
									      : p->pgid))
		why = "its process group is orphaned now, and the kernel drops it";
	if (why) {
		pr_warn("process %d was stopped by signal %d (%s), which would not stop it now: %s; "
			"stopped with SIGSTOP instead", p->pid, sig, strsignal(sig), why);
		return SIGSTOP;
	}
	return sig;
}

/* Take back the tasks that release_all let go before a later failure, so
 * that kill_created kills and reaps them as it does the others (as their
 * tracer again, cryo gets their exit reports). */
static void reseize_released(struct rst_ctx *ctx)
{
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		for (int t = 0; t < p->nr_threads; t++) {
			struct rst_thread *th = &p->thr[t];
			if (!th->released)
				continue;
			th->released = false;
			if (ptrace(PTRACE_SEIZE, th->tid, 0, PTRACE_O_EXITKILL)) {
				/* not cryo's to wait for any more: killed all the same */
				pr_perror("can't seize released task %d again; killing it", th->tid);
				kill(p->pid, SIGKILL);
				th->created = false;
			}
		}
	}
}

/* Let every task go: from here on the tree runs as if it never stopped.
 * A task that was stopped gets its stop signal queued before the detach:
 * it enters its group stop as it resumes, and its parent gets a stop
 * report with that signal (as after criu's restore).  On a failure
 * (a detach that fails), the tasks let go already are taken back: the
 * caller kills the whole tree, as after any failure before. */
int release_all(struct rst_ctx *ctx)
{
	int ret = 0, i;
	bool released = false;
	int sigs[ctx->nr_procs];
	for (i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		sigs[i] = 0;
		if (p->state == TASK_STOPPED)
			sigs[i] = stop_signal(p);
		else if (p->state != TASK_DEAD && ctx->opts->leave_stopped)
			sigs[i] = SIGSTOP;
	}
	for (i = ctx->nr_procs - 1; i >= 0 && !ret; i--) {
		struct rst_proc *p = &ctx->procs[i];
		if (p->state == TASK_DEAD)
			continue;
		if (sigs[i])
			kill(p->pid, sigs[i]);
		for (int t = p->nr_threads - 1; t >= 0; t--) {
			/* a failure once a first task runs free */
			if (released && fault_inject_fail_only("restore:releasing")) {
				pr_err("fault injected at restore:releasing (CRYO_FAULT)");
				ret = -EIO;
				break;
			}
			released = true;
			if (ptrace(PTRACE_DETACH, p->thr[t].tid, 0, 0)) {
				ret = -errno;
				pr_perror("can't detach from restored task %d", p->thr[t].tid);
				break;
			}
			p->thr[t].released = true;
		}
	}
	if (ret) {
		reseize_released(ctx);
		return ret;
	}
	/* Return only once the stopped ones really are stopped: the signal is
	 * acted on when each task runs again after the detach. */
	for (i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		if (sigs[i] && wait_pid_stopped(p->pid, 2000))
			pr_warn("restored process %d has not stopped yet", p->pid);
	}
	return 0;
}

/* The tree is out of cryo's hands: nothing is to be killed any more. */
void release_done(struct rst_ctx *ctx)
{
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		for (int t = 0; t < p->nr_threads; t++)
			p->thr[t].created = false;
		p->created = false;
	}
}
