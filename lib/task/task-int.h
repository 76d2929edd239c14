/* Internal to lib/task: the items of the table (table.c) and helpers they
 * share. */
#ifndef CRYO_TASK_INT_H
#define CRYO_TASK_INT_H

#include "task/task.h"

/* cpu.c */
extern const struct task_item task_item_cpu, task_item_sigmask;
/* rseq.c */
extern const struct task_item task_item_rseq;
/* A thread stopped inside an rseq critical section goes on at its abort
 * handler (@live and @image rip), as the kernel would have made it;
 * *@cs_ptr gets the rseq_cs pointer found. */
int task_rseq_abort(pid_t tid, uint64_t *cs_ptr, struct user_regs_struct *live,
		    struct user_regs_struct *image);
/* thread.c */
extern const struct task_item task_item_robust_list, task_item_tid_address,
	task_item_sigaltstack, task_item_comm, task_item_sched, task_item_mdwe,
	task_item_mcl_future;
/* spec.c */
extern const struct task_item task_item_cpuctl;
/* mm.c */
extern const struct task_item task_item_mm;
/* proc.c */
extern const struct task_item task_item_sigactions, task_item_personality;
/* subsys.c: items whose work is in lib/signals and lib/creds */
extern const struct task_item task_item_creds_proc, task_item_signals_proc,
	task_item_seccomp_shared, task_item_signals, task_item_timers_arm, task_item_creds,
	task_item_lsm;

#endif
