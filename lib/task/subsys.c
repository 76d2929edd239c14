/* Items whose kernel interfaces lib/signals (pending signals, timers) and
 * lib/creds (credentials, seccomp, rlimits and prctl settings) know: the
 * table's entries for them, calling those subsystems' hooks. */
#include "task/task-int.h"
#include "creds/creds.h"
#include "dump/dump.h"
#include "restore/restore.h"
#include "seize/seize.h"
#include "signals/signals.h"

/* ---- lib/creds ------------------------------------------------------------ */

static int creds_proc_dump(struct task_dump *d)
{
	return creds_dump_proc(d->r, d->p->pid, d->core->tc);
}

static int creds_proc_restore(const struct task_rst *tr)
{
	return creds_restore_proc(tr->r, tr->p->pid, tr->p->core->tc);
}

const struct task_item task_item_creds_proc = {
	"process settings", TASK_PROC, TASK_PH_PROC, creds_proc_dump, creds_proc_restore,
};

/* The LSM label, set by the leader before the other threads exist (they
 * inherit it; SELinux lets only a single-threaded process change it). */
static int lsm_restore(const struct task_rst *tr)
{
	return lsm_restore_proc(tr->r, &tr->ctx->creds, tr->p->pid,
				tr->p->thr[0].core->thread_core);
}

const struct task_item task_item_lsm = {
	"LSM label", TASK_PROC, TASK_PH_PROC, NULL, lsm_restore,
};

/* Seccomp filters all threads share (TSYNC): once, from the leader, before
 * any thread's own credentials. */
static int seccomp_shared_restore(const struct task_rst *tr)
{
	struct rst_proc *p = tr->p;
	const ThreadCoreEntry *tces[p->nr_threads];
	pid_t tids[p->nr_threads];
	for (int i = 0; i < p->nr_threads; i++) {
		tces[i] = p->thr[i].core->thread_core;
		tids[i] = p->thr[i].tid;
	}
	return creds_restore_seccomp_shared(tr->r, &tr->ctx->creds, p->pid, tids, tces,
					    p->nr_threads);
}

const struct task_item task_item_seccomp_shared = {
	"shared seccomp filters", TASK_PROC, TASK_PH_SHARED, NULL, seccomp_shared_restore,
};

static int creds_dump(struct task_dump *d)
{
	return creds_dump_thread(d->r, &d->ctx->creds, d->p->pid, d->t->tid,
				 d->core->thread_core);
}

/* Last but the registers: dropping privileges or installing a seccomp
 * filter restricts every later step. */
static int creds_restore(const struct task_rst *tr)
{
	return creds_restore_thread(tr->r, &tr->ctx->creds, tr->p->pid, tr->t->tid,
				    tr->t->core->thread_core);
}

const struct task_item task_item_creds = {
	"credentials", TASK_THREAD, TASK_PH_THREAD, creds_dump, creds_restore,
};

/* ---- lib/signals ------------------------------------------------------- */

/* The shared queue and the timers (created disarmed), once every thread
 * exists. */
static int signals_proc_dump(struct task_dump *d)
{
	return signals_dump_proc(d->r, d->p->pid, d->core->tc);
}

/* the signals are queued by the task itself (rt_sigqueueinfo): with the
 * PIDs it knows, the tree's (vpid, vtid) */
static int signals_proc_restore(const struct task_rst *tr)
{
	return signals_restore_proc(tr->r, tr->p->vpid, tr->p->core->tc);
}

const struct task_item task_item_signals_proc = {
	"shared pending signals and timers", TASK_PROC, TASK_PH_THREADS, signals_proc_dump,
	signals_proc_restore,
};

static int signals_dump(struct task_dump *d)
{
	return signals_dump_thread(d->r, d->p->pid, d->t->tid, d->core->thread_core);
}

static int signals_restore(const struct task_rst *tr)
{
	return signals_restore_thread(tr->r, tr->p->vpid, tr->t->vtid, tr->t->core->thread_core);
}

const struct task_item task_item_signals = {
	"pending signals", TASK_THREAD, TASK_PH_THREAD, signals_dump, signals_restore,
};

/* The leader's queues are full: arm the timers now, as late as possible,
 * so nothing they fire lands before a dumped signal. */
static int timers_arm_restore(const struct task_rst *tr)
{
	return timers_restore_arm(tr->r, tr->p->pid, tr->p->core->tc);
}

const struct task_item task_item_timers_arm = {
	"timers armed", TASK_LEADER, TASK_PH_THREAD, NULL, timers_arm_restore,
};
