/* Registers and FPU (XSAVE) state, and the signal mask: captured before
 * anything is injected into a thread, saved in core-TID.img's thread_info
 * and blk_sigset, and set last at restore, from outside with ptrace. */
#include "task/task-int.h"
#include "arch/x86.h"
#include "proc/proc.h"
#include "restore/restore.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "util/log.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

/* Would a signal pending for thread @t (one caught while seizing it, or
 * one queued and not blocked) have interrupted its system call? */
static int signal_pending_for(struct seized_proc *p, struct seized_thread *t, bool *pending)
{
	struct proc_status st = { 0 };
	int ret = proc_read_status(p->pid, t->tid, &st);
	if (ret)
		return ret;
	uint64_t m = (st.sig_pnd | st.shd_pnd) & ~t->sigmask & ~st.sig_ign;
	*pending = m || t->pending_signal;
	proc_status_free(&st);
	return 0;
}

/* Registers of @t as it must go on after an interrupted system call: in
 * this process after its release (t->regs: restart codes applied as the
 * kernel would) and in a restored copy (@image: without the kernel's
 * restart block, arch_fixup_restart_for_image).  An epoll wait stopped by
 * cryo's interrupt has returned EINTR, which no restart code covers: unless
 * a signal that would have interrupted it anyway is pending, it is issued
 * again, in both. */
static int fixup_restart(struct seized_proc *p, struct seized_thread *t,
			 struct user_regs_struct *image, bool warn)
{
	struct user_regs_struct e = *image;
	if (arch_restart_epoll_eintr(&e) != ARCH_RESTART_NONE) {
		bool pending;
		int ret = signal_pending_for(p, t, &pending);
		if (ret)
			return ret;
		if (!pending) {
			int how = arch_restart_epoll_eintr(image);
			arch_restart_epoll_eintr(&t->regs);
			if (how == ARCH_RESTART_FULL_TIMEOUT && warn)
				pr_warn("thread %d was in an epoll wait with a timeout, which cryo's "
					"interrupt ends with EINTR: it is issued again with its whole "
					"timeout (the time left is not known)", t->tid);
			return 0;
		}
	}
	/* restart_syscall going on with the call the previous dump let go
	 * (dump/restart_calls.c): that call, by its number */
	uint64_t found_ip = image->rip, found_sp = image->rsp, args[6] = { 0 };
	arch_interrupted_syscall(image, false, args);
	const char *call;
	if (t->cont_in.nr && found_ip == t->cont_in.ip && found_sp == t->cont_in.sp &&
	    !memcmp(args, t->cont_in.args, sizeof(args))) {
		/* only as the record was made: a call that goes on with its
		 * whole timeout (the record is input, its number unchecked) */
		struct user_regs_struct trial = *image;
		bool in_restart = arch_continue_as(&trial, t->cont_in.nr);
		if (in_restart &&
		    arch_fixup_restart_for_image(&trial, &call) == ARCH_RESTART_FULL_TIMEOUT) {
			arch_continue_as(image, t->cont_in.nr);
			pr_debug("thread %d is in restart_syscall going on with system call %llu "
				 "(recorded by the previous dump)", t->tid,
				 (unsigned long long)t->cont_in.nr);
		} else if (in_restart) {
			pr_warn("thread %d: the previous dump's record names system call %llu, which "
				"does not go on through restart_syscall: record ignored", t->tid,
				(unsigned long long)t->cont_in.nr);
		}
	}
	unsigned long long nr = image->orig_rax;
	int how = arch_fixup_restart_for_image(image, &call);
	/* this process goes on through restart_syscall (t->regs below): the
	 * next dump learns the call from the record */
	if (how == ARCH_RESTART_FULL_TIMEOUT) {
		t->cont_out.nr = nr;
		t->cont_out.ip = found_ip;
		t->cont_out.sp = found_sp;
		memcpy(t->cont_out.args, args, sizeof(args));
	}
	/* Where the re-issued call is exact, this process re-issues it too
	 * rather than going through restart_syscall: a later dump of it then
	 * still sees which call it is in. */
	if (how == ARCH_RESTART_EXACT && call)
		t->regs = *image;
	else
		arch_fixup_syscall_restart(&t->regs);
	if (!warn)
		return 0;
	if (how == ARCH_RESTART_FULL_TIMEOUT)
		pr_warn("thread %d was in %s with a relative timeout, whose time left the kernel "
			"does not show: after a restore the call starts again with its whole timeout",
			t->tid, call);
	else if (how == ARCH_RESTART_EINTR && nr == __NR_restart_syscall)
		pr_warn("thread %d was in restart_syscall, going on with a call interrupted "
			"before (by an earlier dump, a stop or a signal); which call is not known, "
			"so after a restore it returns EINTR", t->tid);
	else if (how == ARCH_RESTART_EINTR)
		pr_warn("thread %d was in system call %llu, which the kernel would resume from a "
			"restart block that a restored task does not have: after a restore the call "
			"returns EINTR", t->tid, nr);
	return 0;
}

int task_cpu_capture(struct task_dump *d)
{
	struct seized_thread *t = d->t;
	int ret = arch_get_cpu_state(t->tid, &d->cs);
	if (ret)
		return ret;
	if (arch_task_is_compat(&d->cs.regs)) {
		pr_err("task %d runs 32-bit code: cryo does not dump compat tasks yet", t->tid);
		return -EOPNOTSUPP;
	}
	/* Registers as they must be wherever the task resumes: here after
	 * release, or in the restored task. */
	t->regs = d->cs.regs;
	ret = fixup_restart(d->p, t, &d->cs.regs, true);
	if (!ret)
		ret = task_rseq_abort(t->tid, &d->rseq_cs, &t->regs, &d->cs.regs);
	if (!ret)
		t->regs_dirty = true;
	return ret;
}

int task_cpu_fix_resume(struct seized_proc *p, struct seized_thread *t)
{
	if (!t->seized || t->regs_dirty)
		return 0;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &t->regs)) {
		/* killed from outside meanwhile (SIGKILL ends a ptrace stop):
		 * nothing of it is let go */
		if (errno == ESRCH)
			return 0;
		return log_errno(-errno, "can't read the registers of thread %d", t->tid);
	}
	struct user_regs_struct image = t->regs;
	int ret = fixup_restart(p, t, &image, false);
	if (ret == -ESRCH)
		return 0;
	if (!ret)
		t->regs_dirty = true;
	return ret;
}

void task_dump_free(struct task_dump *d)
{
	arch_free_cpu_state(&d->cs);
}

static int cpu_dump(struct task_dump *d)
{
	return arch_cpu_state_to_image(&d->cs, d->tid_addr, &d->core->thread_info);
}

/* The thread's own registers, last.  The leader also removes the
 * trampoline (stopping at syscall exit), after putting back an ignored
 * SIGTRAP: every int3 stop before it would have reset it. */
static int cpu_restore(const struct task_rst *tr)
{
	struct rst_proc *p = tr->p;
	struct rst_thread *t = tr->t;
	bool leader = t == rst_leader(p);
	struct cpu_state cs = { 0 };
	int ret = arch_get_cpu_state(t->tid, &cs);
	if (!ret)
		ret = arch_image_to_cpu_state(t->core->thread_info, &cs);
	if (ret)
		goto out;
	arch_fixup_syscall_restart(&cs.regs);
	cs.regs.orig_rax = -1;
	if (leader && p->sigtrap_ignored) {
		const SaEntry *sa = p->sigtrap_sa;
		uint64_t ka[4] = { sa->sigaction, sa->flags, sa->restorer, sa->mask };
		remote_scratch_reset(&t->r);
		uint64_t a = remote_scratch_put(&t->r, ka, sizeof(ka));
		long r2 = a ? remote_syscall_noint3(&t->r, __NR_rt_sigaction, SIGTRAP, a, 0, 8, 0, 0)
			    : -ENOSPC;
		if (r2) {
			pr_err("can't restore SIGTRAP's action (ignored) in process %d: %s", p->pid,
			       strerror(-r2));
			ret = r2;
			goto out;
		}
	}
	if (leader)
		ret = remote_unmap_trampoline(&t->r, tr->ctx->trampoline, TRAMPOLINE_SIZE);
	if (!ret)
		ret = arch_set_cpu_state(t->tid, &cs);
out:
	arch_free_cpu_state(&cs);
	return ret;
}

const struct task_item task_item_cpu = {
	"registers", TASK_THREAD, TASK_PH_THREAD, cpu_dump, cpu_restore,
};

/* The mask as found at seize (seize.c reads it; the driver, for a thread
 * seized without it).  The leader's also goes into task_core_entry, as
 * criu writes it. */
static int sigmask_dump(struct task_dump *d)
{
	ThreadCoreEntry *tce = d->core->thread_core;
	tce->has_blk_sigset = 1;
	tce->blk_sigset = d->t->sigmask;
	if (d->core->tc) {
		d->core->tc->has_blk_sigset = 1;
		d->core->tc->blk_sigset = d->t->sigmask;
	}
	return 0;
}

/* After the registers: every signal stays blocked until then. */
static int sigmask_restore(const struct task_rst *tr)
{
	const ThreadCoreEntry *tc = tr->t->core->thread_core;
	const TaskCoreEntry *ptc = tr->p->core->tc;
	uint64_t mask = tc->has_blk_sigset ? tc->blk_sigset : (ptc ? ptc->blk_sigset : 0);
	if (ptrace(PTRACE_SETSIGMASK, tr->t->tid, sizeof(mask), &mask)) {
		int ret = -errno;
		pr_perror("PTRACE_SETSIGMASK of restored thread %d failed", tr->t->tid);
		return ret;
	}
	return 0;
}

const struct task_item task_item_sigmask = {
	"signal mask", TASK_THREAD, TASK_PH_THREAD, sigmask_dump, sigmask_restore,
};
