/* Task state of a seized process: registers and FPU state read with ptrace,
 * and the few values only the task itself can report (signal actions,
 * clear_child_tid, sigaltstack, brk...) through system calls run in it. */
#include "dump/dump.h"
#include "arch/x86.h"
#include "images/image.h"
#include "proc/proc.h"
#include "seize/remote.h"
#include "mem/mem.h"
#include "signals/signals.h"
#include "creds/creds.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

#include "rseq.pb-c.h"
#include "sa.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/membarrier.h>
#include "compat/uapi-extra.h"

#define SIGMAX 64

struct kernel_sigaction {
	uint64_t handler, flags, restorer, mask;
};

/* A shadow stack (CET) makes rt_sigreturn pop a token our frame has no
 * counterpart for: such a thread is injected into the unguarded way. */
static bool thread_has_shstk(pid_t pid, pid_t tid)
{
	char path[64], *st;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	if (read_file(AT_FDCWD, path, &st, false) < 0)
		return false;
	char *f = strstr(st, "\nx86_Thread_features:");
	bool on = false;
	if (f) {
		f += strlen("\nx86_Thread_features:");
		f[strcspn(f, "\n")] = '\0';
		on = strstr(f, "shstk") != NULL;
	}
	free(st);
	return on;
}

static long rcall(struct remote *r, const char *what, long nr, uint64_t a1, uint64_t a2,
		  uint64_t a3, uint64_t a4)
{
	long ret = remote_syscall(r, nr, a1, a2, a3, a4, 0, 0);
	if (ret < 0 && ret >= -4095)
		pr_err("%s in task %d failed: %s", what, r->tid, strerror(-ret));
	return ret;
}

/* membarrier registrations belong to the mm and only the task can ask for
 * them (MEMBARRIER_CMD_GET_REGISTRATIONS, 6.3).  A kernel without membarrier
 * has none to lose; one without the query can't tell us, so the restored
 * process might miss a registration: say so. */
static int dump_membarrier(struct remote *r, MmEntry *mm)
{
	long lr = remote_syscall(r, __NR_membarrier, CRYO_MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0,
				 0, 0, 0);
	if (lr == -ENOSYS)
		return 0;
	if (lr == -EINVAL) {
		pr_warn("process %d: this kernel can't report membarrier registrations "
			"(MEMBARRIER_CMD_GET_REGISTRATIONS needs 6.3): the restored process will "
			"have none", r->tid);
		return 0;
	}
	if (lr < 0) {
		pr_err("membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS) in task %d failed: %s", r->tid,
		       strerror(-lr));
		return lr;
	}
	if (lr) {
		mm->has_cryo_membarrier = 1;
		mm->cryo_membarrier = lr;
	}
	return 0;
}

static int dump_sigactions(struct remote *r, TaskCoreEntry *tc)
{
	uint64_t buf = remote_scratch_alloc(r, sizeof(struct kernel_sigaction));
	if (!buf)
		return -ENOSPC;
	tc->sigactions = xzalloc((SIGMAX - 2) * sizeof(SaEntry *));
	if (!tc->sigactions)
		return -ENOMEM;
	for (int sig = 1; sig <= SIGMAX; sig++) {
		struct kernel_sigaction ka;
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		long ret = rcall(r, "rt_sigaction", __NR_rt_sigaction, sig, 0, buf, 8);
		if (ret)
			return ret < 0 ? ret : -EIO;
		ret = remote_read(r, buf, &ka, sizeof(ka));
		if (ret)
			return ret;
		SaEntry *sa = xmalloc(sizeof(*sa));
		if (!sa)
			return -ENOMEM;
		sa_entry__init(sa);
		sa->has_sigaction = sa->has_flags = sa->has_restorer = sa->has_mask = 1;
		sa->sigaction = ka.handler;
		sa->flags = ka.flags;
		sa->restorer = ka.restorer;
		sa->mask = ka.mask;
		tc->sigactions[tc->n_sigactions++] = sa;
	}
	return 0;
}

static int read_mem(pid_t tid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, len, addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* A thread stopped inside an rseq critical section is aborted by the
 * kernel on its next return to user space (the preemption that stopped it
 * flagged it) -- but the syscalls the dump runs in it return to user space
 * outside the section first, and that clears rseq_cs without an abort: the
 * thread would then go on inside a section that is no longer guarded, in
 * the image and, with --leave-running, live.  So do what the kernel would
 * have done: resume at the abort handler (after checking the signature
 * before it, as the kernel does).  Must run before anything is injected.
 * *@cs_ptr gets the rseq_cs pointer found. */
static int rseq_abort(pid_t tid, uint64_t *cs_ptr, struct user_regs_struct *live,
		      struct user_regs_struct *image)
{
	struct __ptrace_rseq_configuration rc;
	struct {
		uint32_t version, flags;
		uint64_t start_ip, post_commit_offset, abort_ip;
	} cs;
	*cs_ptr = 0;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rc), &rc) != sizeof(rc) ||
	    !rc.rseq_abi_pointer || rc.rseq_abi_size < 16 ||
	    read_mem(tid, rc.rseq_abi_pointer + 8, cs_ptr, sizeof(*cs_ptr)) || !*cs_ptr)
		return 0;
	if (read_mem(tid, *cs_ptr, &cs, sizeof(cs)))
		return 0;	/* the kernel would kill it at its next resume, not us */
	if (live->rip < cs.start_ip || live->rip - cs.start_ip >= cs.post_commit_offset)
		return 0;
	uint32_t sig;
	if (read_mem(tid, cs.abort_ip - 4, &sig, sizeof(sig)) || sig != rc.signature) {
		pr_err("thread %d is inside an rseq critical section whose abort handler at %#llx "
		       "lacks the registered signature: the kernel will kill it; not dumped",
		       tid, (unsigned long long)cs.abort_ip);
		return -EINVAL;
	}
	pr_debug("thread %d: inside an rseq critical section at %#llx, resumes at its abort "
		 "handler %#llx", tid, (unsigned long long)live->rip,
		 (unsigned long long)cs.abort_ip);
	live->rip = image->rip = cs.abort_ip;
	return 0;
}

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
			 struct user_regs_struct *image)
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
			if (how == ARCH_RESTART_FULL_TIMEOUT)
				pr_warn("thread %d was in an epoll wait with a timeout, which cryo's "
					"interrupt ends with EINTR: it is issued again with its whole "
					"timeout (the time left is not known)", t->tid);
			return 0;
		}
	}
	const char *call;
	unsigned long long nr = image->orig_rax;
	int how = arch_fixup_restart_for_image(image, &call);
	/* Where the re-issued call is exact, this process re-issues it too
	 * rather than going through restart_syscall: a later dump of it then
	 * still sees which call it is in. */
	if (how == ARCH_RESTART_EXACT && call)
		t->regs = *image;
	else
		arch_fixup_syscall_restart(&t->regs);
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

static int dump_thread(struct dump_ctx *ctx, struct seized_proc *p, struct seized_thread *t,
		       const struct task_code *code, MmEntry *mm, uint32_t *files_id)
{
	struct cpu_state cs;
	struct remote r = { .mem_fd = -1 };
	CoreEntry core = CORE_ENTRY__INIT;
	ThreadCoreEntry *tce = NULL;
	TaskCoreEntry *tc = NULL;
	long lr;
	int ret;

	ret = arch_get_cpu_state(t->tid, &cs);
	if (ret)
		return ret;
	if (arch_task_is_compat(&cs.regs)) {
		pr_err("task %d runs 32-bit code: cryo does not dump compat tasks yet", t->tid);
		arch_free_cpu_state(&cs);
		return -EOPNOTSUPP;
	}
	/* Registers as they must be wherever the task resumes: here after
	 * release, or in the restored task. */
	t->regs = cs.regs;
	ret = fixup_restart(p, t, &cs.regs);
	if (ret)
		goto out_cs;
	uint64_t rseq_cs;
	ret = rseq_abort(t->tid, &rseq_cs, &t->regs, &cs.regs);
	if (ret)
		goto out_cs;
	t->regs_dirty = true;

	if (!t->mask_dirty && ptrace(PTRACE_GETSIGMASK, t->tid, sizeof(t->sigmask), &t->sigmask)) {
		ret = -errno;
		pr_perror("PTRACE_GETSIGMASK of task %d failed", t->tid);
		goto out_cs;
	}
	t->mask_dirty = true;
	const struct sigreturn_gadget *guard = code->sigreturn.ip ? &code->sigreturn : NULL;
	if (guard && thread_has_shstk(p->pid, t->tid)) {
		pr_warn("thread %d has a shadow stack: cryo runs its system calls unguarded; "
			"should cryo be killed during one of them, the thread may crash", t->tid);
		guard = NULL;
	}
	ret = remote_dump_begin(&r, t->tid, &t->regs, t->sigmask, cs.xsave, cs.xsave_len, guard,
				code->syscall_ip);
	if (ret)
		goto out;

	uint64_t slot = remote_scratch_alloc(&r, 64);
	uint64_t tid_addr = 0;
	lr = rcall(&r, "prctl(PR_GET_TID_ADDRESS)", __NR_prctl, PR_GET_TID_ADDRESS, slot, 0, 0);
	if (lr || (ret = remote_read(&r, slot, &tid_addr, 8))) {
		ret = ret ? ret : (lr < 0 ? lr : -EIO);
		goto out;
	}

	tce = xzalloc(sizeof(*tce));
	if (!tce) {
		ret = -ENOMEM;
		goto out;
	}
	thread_core_entry__init(tce);
	core.thread_core = tce;

	/* robust futex list: readable from outside */
	uint64_t head = 0;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, t->tid, &head, &len)) {
		ret = -errno;
		pr_perror("get_robust_list of task %d failed", t->tid);
		goto out;
	}
	tce->has_futex_rla = tce->has_futex_rla_len = 1;
	tce->futex_rla = head;
	tce->futex_rla_len = len;

	tce->has_blk_sigset = 1;
	tce->blk_sigset = t->sigmask;

	/* sigaltstack */
	struct {
		uint64_t sp;
		int32_t flags, pad;
		uint64_t size;
	} ss;
	lr = rcall(&r, "sigaltstack", __NR_sigaltstack, 0, slot, 0, 0);
	if (lr || (ret = remote_read(&r, slot, &ss, sizeof(ss)))) {
		ret = ret ? ret : (lr < 0 ? lr : -EIO);
		goto out;
	}
	tce->sas = xmalloc(sizeof(*tce->sas));
	if (!tce->sas) {
		ret = -ENOMEM;
		goto out;
	}
	thread_sas_entry__init(tce->sas);
	tce->sas->has_ss_sp = tce->sas->has_ss_size = tce->sas->has_ss_flags = 1;
	tce->sas->ss_sp = ss.sp;
	tce->sas->ss_size = ss.size;
	tce->sas->ss_flags = ss.flags;

	/* scheduling */
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, t->tid);
	int policy = sched_getscheduler(t->tid);
	struct sched_param sp = { 0 };
	if ((nice == -1 && errno) || policy < 0 || sched_getparam(t->tid, &sp)) {
		ret = -errno;
		pr_perror("can't read the scheduling parameters of task %d", t->tid);
		goto out;
	}
	tce->has_sched_nice = tce->has_sched_policy = tce->has_sched_prio = 1;
	tce->sched_nice = nice;
	tce->sched_policy = policy;
	tce->sched_prio = sp.sched_priority;

	/* rseq registration */
	struct __ptrace_rseq_configuration rc;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, t->tid, sizeof(rc), &rc) == sizeof(rc) &&
	    rc.rseq_abi_pointer) {
		tce->rseq_entry = xmalloc(sizeof(RseqEntry));
		if (!tce->rseq_entry) {
			ret = -ENOMEM;
			goto out;
		}
		rseq_entry__init(tce->rseq_entry);
		tce->rseq_entry->has_rseq_abi_pointer = tce->rseq_entry->has_rseq_abi_size = 1;
		tce->rseq_entry->has_signature = 1;
		tce->rseq_entry->rseq_abi_pointer = rc.rseq_abi_pointer;
		tce->rseq_entry->rseq_abi_size = rc.rseq_abi_size;
		tce->rseq_entry->signature = rc.signature;
		if (rseq_cs) {
			tce->rseq_entry->has_rseq_cs_pointer = 1;
			tce->rseq_entry->rseq_cs_pointer = rseq_cs;
		}
	}

	ret = signals_dump_thread(&r, p->pid, t->tid, tce);
	if (!ret)
		ret = creds_dump_thread(&r, p->pid, t->tid, tce);
	if (ret)
		goto out;

	/* thread name */
	char path[64], *comm;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", p->pid, t->tid);
	if (read_file(AT_FDCWD, path, &comm, false) >= 0) {
		comm[strcspn(comm, "\n")] = '\0';
		tce->comm = comm;
	}

	if (t->tid == p->pid) {
		/* Process-wide state, from the leader. */
		tc = xzalloc(sizeof(*tc));
		if (!tc) {
			ret = -ENOMEM;
			goto out;
		}
		task_core_entry__init(tc);
		core.tc = tc;
		tc->has_task_state = tc->has_exit_code = tc->has_personality = 1;
		tc->has_flags = tc->has_blk_sigset = 1;
		tc->task_state = p->state;
		if (p->state == TASK_STOPPED) {	/* criu's stop_signo */
			tc->has_stop_signo = 1;
			tc->stop_signo = p->stop_signo;
		}
		tc->cg_set = dump_cg_set(ctx, p);
		tc->has_cg_set = tc->cg_set != 0;
		tc->blk_sigset = t->sigmask;
		tc->comm = xstrdup(p->comm);
		lr = rcall(&r, "personality", __NR_personality, 0xffffffff, 0, 0, 0);
		if (lr < 0) {
			ret = lr;
			goto out;
		}
		tc->personality = lr;
		ret = dump_sigactions(&r, tc);
		if (ret)
			goto out;
		ret = signals_dump_proc(&r, p->pid, tc);
		if (!ret)
			ret = creds_dump_proc(&r, p->pid, tc);
		if (ret)
			goto out;
		lr = rcall(&r, "brk", __NR_brk, 0, 0, 0, 0);
		if (lr < 0) {
			ret = lr;
			goto out;
		}
		mm->has_mm_brk = 1;
		mm->mm_brk = lr;
		lr = rcall(&r, "prctl(PR_GET_DUMPABLE)", __NR_prctl, PR_GET_DUMPABLE, 0, 0, 0);
		if (lr < 0) {
			ret = lr;
			goto out;
		}
		mm->has_dumpable = 1;
		mm->dumpable = lr;
		lr = rcall(&r, "prctl(PR_GET_THP_DISABLE)", __NR_prctl, PR_GET_THP_DISABLE, 0, 0, 0);
		if (lr < 0) {
			ret = lr;
			goto out;
		}
		mm->has_thp_disabled = 1;
		mm->thp_disabled = lr;
		ret = dump_membarrier(&r, mm);
		if (!ret)
			ret = aio_dump_check(&r, p->pid, mm);
		if (ret)
			goto out;

		TaskKobjIdsEntry *ids = xmalloc(sizeof(*ids));
		if (!ids) {
			ret = -ENOMEM;
			goto out;
		}
		task_kobj_ids_entry__init(ids);
		core.ids = ids;
		ids->has_vm_id = ids->has_files_id = ids->has_fs_id = ids->has_sighand_id = 1;
		const struct dump_kobj_ids *k = dump_proc_kobj(ctx, p);
		if (!k) {
			ret = -EINVAL;
			goto out;
		}
		ids->vm_id = k->id[DUMP_KOBJ_VM];
		ids->files_id = k->id[DUMP_KOBJ_FILES];
		*files_id = ids->files_id;
		ids->fs_id = k->id[DUMP_KOBJ_FS];
		ids->sighand_id = k->id[DUMP_KOBJ_SIGHAND];
		ret = ns_dump_fill_ids(&ctx->ns, p->pid, ids);
		if (ret)
			goto out;
	}

	FAULT_POINT_RET(ret, "dump:task-state");
	if (ret)
		goto out;

	core.has_mtype = 1;
	core.mtype = CORE_ENTRY__MARCH__X86_64;
	ret = arch_cpu_state_to_image(&cs, tid_addr, &core.thread_info);
	if (ret)
		goto out;

	struct cr_img *img;
	ret = img_open(&img, ctx->dirfd, IMG_CORE, IMG_WRITE, t->tid);
	if (!ret) {
		ret = img_write_msg(img, &core.base);
		int r2 = img_close(img);
		ret = ret ? ret : r2;
	}
	if (!ret && core.ids && t->tid == p->pid && p == ctx->tree.root) {
		ctx->root_ids = core.ids;
		core.ids = NULL;	/* kept for the inventory */
	}
out:
	/* Done with the thread as soon as its calls are: mask, registers and
	 * stack bytes back now, not at the end of the dump. */
	{
		int r2 = remote_dump_end(&r);
		if (!r2)
			t->regs_dirty = t->mask_dirty = false;
		ret = ret ? ret : r2;
	}
	/* Free what we built (all malloc'ed): the stack-allocated core itself
	 * is not freed, its members are. */
	if (core.thread_info)
		protobuf_c_message_free_unpacked(&core.thread_info->base, NULL);
	if (core.tc)
		protobuf_c_message_free_unpacked(&core.tc->base, NULL);
	if (core.ids)
		protobuf_c_message_free_unpacked(&core.ids->base, NULL);
	if (core.thread_core)
		protobuf_c_message_free_unpacked(&core.thread_core->base, NULL);
out_cs:
	arch_free_cpu_state(&cs);
	return ret;
}

static int dump_zombie(struct dump_ctx *ctx, struct seized_proc *p)
{
	CoreEntry core = CORE_ENTRY__INIT;
	TaskCoreEntry tc = TASK_CORE_ENTRY__INIT;
	struct cr_img *img;
	if (p->exit_code & 0x80) {
		/* a status with WCOREDUMP can only come from a core dump */
		pr_err("zombie %d (%s), a child of %d, was killed by signal %d and dumped core: "
		       "cryo can't recreate the core-dump flag of its exit status (it would have "
		       "to dump core again); dump once its parent has reaped it", p->pid, p->comm,
		       p->ppid, p->exit_code & 0x7f);
		return -EOPNOTSUPP;
	}
	core.has_mtype = 1;
	core.mtype = CORE_ENTRY__MARCH__X86_64;
	core.tc = &tc;
	tc.has_task_state = tc.has_exit_code = tc.has_personality = tc.has_flags = 1;
	tc.has_blk_sigset = 1;
	tc.task_state = TASK_DEAD;
	tc.exit_code = p->exit_code;
	tc.comm = p->comm;
	int ret = img_open(&img, ctx->dirfd, IMG_CORE, IMG_WRITE, p->pid);
	if (ret)
		return ret;
	ret = img_write_msg(img, &core.base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

int dump_task_cores(struct dump_ctx *ctx, struct seized_proc *p, MmEntry *mm,
		    const struct task_code *code, uint32_t *files_id)
{
	if (p->state == TASK_DEAD)
		return dump_zombie(ctx, p);
	for (int i = 0; i < p->nr_threads; i++) {
		int ret = dump_thread(ctx, p, &p->threads[i], code, mm, files_id);
		if (ret)
			return ret;
	}
	return 0;
}
