/* The table of task state and the walks over it that the dump and restore
 * drivers use. */
#include "task/task-int.h"
#include "restore/restore.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "util/log.h"

#include <errno.h>

/* Restore order.  Within a phase, items run in this order; for each thread
 * in TASK_PH_THREAD, the thread's items in this order (the credentials
 * last but the registers: they restrict what follows). */
const struct task_item *const task_items[] = {
	&task_item_mm,			/* TASK_PH_MM */
	&task_item_sigactions,		/* TASK_PH_PROC */
	&task_item_personality,
	&task_item_creds_proc,
	&task_item_lsm,			/* last before the threads are made */
	&task_item_signals_proc,	/* TASK_PH_THREADS */
	&task_item_seccomp_shared,	/* TASK_PH_SHARED */
	&task_item_mcl_future,		/* after every mapping of the restore */
	&task_item_mdwe,		/* no PROT_EXEC gained after it */
	&task_item_robust_list,		/* TASK_PH_THREAD */
	&task_item_tid_address,
	&task_item_rseq,
	&task_item_sigaltstack,
	&task_item_comm,
	&task_item_sched,
	&task_item_signals,
	&task_item_timers_arm,
	&task_item_creds,
	&task_item_cpuctl,		/* after seccomp: it may force-disable */
	&task_item_cpu,
	&task_item_sigmask,
};
const int task_nr_items = sizeof(task_items) / sizeof(task_items[0]);

int task_dump_items(struct task_dump *d)
{
	for (int i = 0; i < task_nr_items; i++) {
		const struct task_item *it = task_items[i];
		if (!it->dump || (it->scope != TASK_THREAD && !d->leader))
			continue;
		/* an item's scratch memory is its own for the item's time */
		size_t used = d->r->scratch_used;
		int ret = it->dump(d);
		d->r->scratch_used = used;
		if (ret) {
			pr_debug("thread %d: dumping %s failed", d->t->tid, it->name);
			return ret;
		}
	}
	return 0;
}

static int restore_items(struct rst_ctx *ctx, struct rst_proc *p, struct rst_thread *t,
			 enum task_phase ph)
{
	struct task_rst tr = { ctx, p, t, &t->r };
	bool leader = t == rst_leader(p);
	for (int i = 0; i < task_nr_items; i++) {
		const struct task_item *it = task_items[i];
		if (it->phase != ph || !it->restore || (it->scope == TASK_LEADER && !leader))
			continue;
		int ret = it->restore(&tr);
		if (ret) {
			pr_debug("thread %d: restoring %s failed", t->tid, it->name);
			return ret;
		}
	}
	return 0;
}

int task_restore_phase(struct rst_ctx *ctx, struct rst_proc *p, enum task_phase ph)
{
	if (ph != TASK_PH_THREAD)
		return restore_items(ctx, p, rst_leader(p), ph);
	/* Other threads first, the leader last: it removes the trampoline. */
	for (int i = p->nr_threads - 1; i >= 0; i--) {
		int ret = restore_items(ctx, p, &p->thr[i], ph);
		if (ret)
			return ret;
	}
	return 0;
}
