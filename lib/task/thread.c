/* Small per-thread settings: the robust futex list, the clear_child_tid
 * address, the alternate signal stack, the name and the scheduling
 * parameters. */
#include "task/task-int.h"
#include "restore/restore.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A call's result where 0 is success and anything else a failure (logged
 * by remote_call). */
static int zero_or_err(long ret)
{
	return ret ? (ret < 0 ? (int)ret : -EIO) : 0;
}

/* ---- robust futex list: readable from outside ---------------------------- */

static int robust_list_dump(struct task_dump *d)
{
	ThreadCoreEntry *tce = d->core->thread_core;
	uint64_t head = 0;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, d->t->tid, &head, &len)) {
		int ret = -errno;
		pr_perror("get_robust_list of task %d failed", d->t->tid);
		return ret;
	}
	tce->has_futex_rla = tce->has_futex_rla_len = 1;
	tce->futex_rla = head;
	tce->futex_rla_len = len;
	return 0;
}

static int robust_list_restore(const struct task_rst *tr)
{
	const ThreadCoreEntry *tc = tr->t->core->thread_core;
	return zero_or_err(remote_call(tr->r, "set_robust_list", __NR_set_robust_list,
				       tc->futex_rla, tc->futex_rla_len ? tc->futex_rla_len : 24));
}

const struct task_item task_item_robust_list = {
	"robust list", TASK_THREAD, TASK_PH_THREAD, robust_list_dump, robust_list_restore,
};

/* ---- clear_child_tid: only the thread can tell (PR_GET_TID_ADDRESS); it
 * goes into thread_info with the registers ---------------------------------- */

static int tid_address_dump(struct task_dump *d)
{
	uint64_t slot = remote_scratch_alloc(d->r, 8);
	if (!slot)
		return -ENOSPC;
	long lr = remote_call(d->r, "prctl(PR_GET_TID_ADDRESS)", __NR_prctl, PR_GET_TID_ADDRESS,
			      slot);
	if (lr)
		return lr < 0 ? lr : -EIO;
	return remote_read(d->r, slot, &d->tid_addr, 8);
}

static int tid_address_restore(const struct task_rst *tr)
{
	long ret = remote_call(tr->r, "set_tid_address", __NR_set_tid_address,
			       tr->t->core->thread_info->clear_tid_addr);
	return ret < 0 ? ret : 0;
}

const struct task_item task_item_tid_address = {
	"tid address", TASK_THREAD, TASK_PH_THREAD, tid_address_dump, tid_address_restore,
};

/* ---- sigaltstack -------------------------------------------------------- */

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

struct kstack {			/* the kernel's stack_t */
	uint64_t sp;
	int32_t flags, pad;
	uint64_t size;
};

static int sigaltstack_dump(struct task_dump *d)
{
	ThreadCoreEntry *tce = d->core->thread_core;
	struct kstack ss;
	uint64_t slot = remote_scratch_alloc(d->r, sizeof(ss));
	if (!slot)
		return -ENOSPC;
	long lr = remote_call(d->r, "sigaltstack", __NR_sigaltstack, 0, slot);
	if (lr)
		return lr < 0 ? lr : -EIO;
	int ret = remote_read(d->r, slot, &ss, sizeof(ss));
	if (ret)
		return ret;
	tce->sas = xmalloc(sizeof(*tce->sas));
	if (!tce->sas)
		return -ENOMEM;
	thread_sas_entry__init(tce->sas);
	tce->sas->has_ss_sp = tce->sas->has_ss_size = tce->sas->has_ss_flags = 1;
	tce->sas->ss_sp = ss.sp;
	tce->sas->ss_size = ss.size;
	tce->sas->ss_flags = ss.flags;
	return 0;
}

static int sigaltstack_restore(const struct task_rst *tr)
{
	const ThreadCoreEntry *tc = tr->t->core->thread_core;
	if (!tc->sas || (tc->sas->ss_flags & SS_DISABLE))
		return 0;
	/* SS_ONSTACK is not a setting (the kernel derives it from the stack
	 * pointer, which the registers give back); SS_AUTODISARM is one */
	struct kstack ss = { tc->sas->ss_sp, (int32_t)(tc->sas->ss_flags & SS_AUTODISARM), 0,
			     tc->sas->ss_size };
	remote_scratch_reset(tr->r);
	uint64_t a = remote_scratch_put(tr->r, &ss, sizeof(ss));
	if (!a)
		return -ENOSPC;
	return zero_or_err(remote_call(tr->r, "sigaltstack", __NR_sigaltstack, a));
}

const struct task_item task_item_sigaltstack = {
	"sigaltstack", TASK_THREAD, TASK_PH_THREAD, sigaltstack_dump, sigaltstack_restore,
};

/* ---- name --------------------------------------------------------------- */

static int comm_dump(struct task_dump *d)
{
	char path[64], *comm;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", d->p->pid, d->t->tid);
	if (read_file(AT_FDCWD, path, &comm, false) >= 0) {
		/* the kernel ends the name with one '\n'; the name itself may
		 * hold others (PR_SET_NAME takes any byte but NUL) */
		size_t len = strlen(comm);
		if (len && comm[len - 1] == '\n')
			comm[len - 1] = '\0';
		d->core->thread_core->comm = comm;
	}
	return 0;
}

static int comm_restore(const struct task_rst *tr)
{
	const CoreEntry *core = tr->t->core;
	const char *comm = core->thread_core->comm ? core->thread_core->comm
						   : (core->tc ? core->tc->comm : NULL);
	if (!comm)
		return 0;
	char name[16] = { 0 };
	snprintf(name, sizeof(name), "%s", comm);
	remote_scratch_reset(tr->r);
	uint64_t a = remote_scratch_put(tr->r, name, sizeof(name));
	if (!a)
		return -ENOSPC;
	return zero_or_err(remote_call(tr->r, "prctl(PR_SET_NAME)", __NR_prctl, PR_SET_NAME, a));
}

const struct task_item task_item_comm = {
	"name", TASK_THREAD, TASK_PH_THREAD, comm_dump, comm_restore,
};

/* ---- scheduling: from outside both ways ----------------------------------- */

/* CPU affinity is saved always and given back only with --with-cpu-affinity
 * (criu's rule: the restoring machine may have other CPUs). */
#define AFFINITY_WORDS 128	/* 8192 CPUs */

static int affinity_dump(ThreadCoreEntry *tce, pid_t tid)
{
	uint64_t mask[AFFINITY_WORDS] = { 0 };
	long n = syscall(__NR_sched_getaffinity, tid, sizeof(mask), mask);
	if (n < 0) {
		int ret = -errno;
		pr_perror("can't read the CPU affinity of thread %d", tid);
		return ret;
	}
	size_t words = n / sizeof(mask[0]);
	while (words && !mask[words - 1])
		words--;
	tce->cryo_cpu_affinity = xmalloc(words * sizeof(mask[0]) + 1);
	if (!tce->cryo_cpu_affinity)
		return -ENOMEM;
	memcpy(tce->cryo_cpu_affinity, mask, words * sizeof(mask[0]));
	tce->n_cryo_cpu_affinity = words;
	return 0;
}

static int affinity_restore(const struct task_rst *tr, const ThreadCoreEntry *tc)
{
	uint64_t mask[AFFINITY_WORDS] = { 0 };
	pid_t tid = tr->t->tid;
	if (!tr->ctx->opts->with_cpu_affinity)
		return 0;
	if (!tc->n_cryo_cpu_affinity) {
		pr_warn("thread %d: the images hold no CPU affinity (dumped by another tool?): "
			"--with-cpu-affinity has nothing to restore", tid);
		return 0;
	}
	if (tc->n_cryo_cpu_affinity > AFFINITY_WORDS) {
		pr_err("thread %d: the CPU affinity in the images names CPUs beyond %d", tid,
		       AFFINITY_WORDS * 64);
		return -EINVAL;
	}
	memcpy(mask, tc->cryo_cpu_affinity, tc->n_cryo_cpu_affinity * sizeof(mask[0]));
	if (syscall(__NR_sched_setaffinity, tid, sizeof(mask), mask)) {
		int ret = -errno;
		pr_err("--with-cpu-affinity: can't give thread %d its CPU affinity (first word "
		       "%#llx): %s (the CPUs are not on this machine or not in the cpuset cryo "
		       "may use; restore without --with-cpu-affinity to let it run anywhere)",
		       tid, (unsigned long long)mask[0], strerror(-ret));
		return ret;
	}
	return 0;
}

/* SCHED_DEADLINE has no sched_param: its runtime, deadline and period are
 * read and set with sched_getattr/sched_setattr (no glibc wrappers). */
struct cryo_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif

static int dl_dump(ThreadCoreEntry *tce, pid_t tid)
{
	struct cryo_sched_attr a = { 0 };
	if (syscall(__NR_sched_getattr, tid, &a, sizeof(a), 0)) {
		int ret = -errno;
		pr_perror("sched_getattr of SCHED_DEADLINE thread %d failed", tid);
		return ret;
	}
	tce->has_cryo_dl_runtime = tce->has_cryo_dl_deadline = tce->has_cryo_dl_period = 1;
	tce->has_cryo_sched_flags = 1;
	tce->cryo_dl_runtime = a.runtime;
	tce->cryo_dl_deadline = a.deadline;
	tce->cryo_dl_period = a.period;
	tce->cryo_sched_flags = a.flags;
	return 0;
}

static int dl_restore(const ThreadCoreEntry *tc, pid_t tid)
{
	struct cryo_sched_attr a = {
		.size = sizeof(a), .policy = SCHED_DEADLINE, .flags = tc->cryo_sched_flags,
		.runtime = tc->cryo_dl_runtime, .deadline = tc->cryo_dl_deadline,
		.period = tc->cryo_dl_period,
	};
	return syscall(__NR_sched_setattr, tid, &a, 0) ? -errno : 0;
}

static int sched_dump(struct task_dump *d)
{
	ThreadCoreEntry *tce = d->core->thread_core;
	pid_t tid = d->t->tid;
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, tid);
	int policy = sched_getscheduler(tid);
	struct sched_param sp = { 0 };
	if ((nice == -1 && errno) || policy < 0 || sched_getparam(tid, &sp)) {
		int ret = -errno;
		pr_perror("can't read the scheduling parameters of task %d", tid);
		return ret;
	}
	tce->has_sched_nice = tce->has_sched_policy = tce->has_sched_prio = 1;
	tce->sched_nice = nice;
	tce->sched_policy = policy;
	tce->sched_prio = sp.sched_priority;
	if ((policy & ~SCHED_RESET_ON_FORK) == SCHED_DEADLINE) {
		int ret = dl_dump(tce, tid);
		if (ret)
			return ret;
	}
	return affinity_dump(tce, tid);
}

/* A policy or nice value this cryo may not set is a warning, not a
 * failure. */
static int sched_restore(const struct task_rst *tr)
{
	const ThreadCoreEntry *tc = tr->t->core->thread_core;
	pid_t tid = tr->t->tid;
	if (tc->has_sched_policy && (tc->sched_policy & ~SCHED_RESET_ON_FORK) == SCHED_DEADLINE) {
		int ret = tc->has_cryo_dl_runtime ? dl_restore(tc, tid) : -EINVAL;
		if (ret)
			pr_warn("can't restore SCHED_DEADLINE (runtime %llu ns, deadline %llu ns, period "
				"%llu ns) of thread %d: %s", (unsigned long long)tc->cryo_dl_runtime,
				(unsigned long long)tc->cryo_dl_deadline,
				(unsigned long long)tc->cryo_dl_period, tid, strerror(-ret));
	} else if (tc->has_sched_policy) {
		struct sched_param sp = { .sched_priority = tc->sched_prio };
		if (sched_setscheduler(tid, tc->sched_policy, &sp))
			pr_warn("can't restore the scheduling policy %u of thread %d: %s",
				tc->sched_policy, tid, strerror(errno));
	}
	if (tc->has_sched_nice && setpriority(PRIO_PROCESS, tid, tc->sched_nice))
		pr_warn("can't restore the nice value %d of thread %d: %s", tc->sched_nice, tid,
			strerror(errno));
	return affinity_restore(tr, tc);
}

const struct task_item task_item_sched = {
	"scheduling", TASK_THREAD, TASK_PH_THREAD, sched_dump, sched_restore,
};
