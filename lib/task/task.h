/* Task state: each piece of per-process and per-thread state (registers,
 * signal mask and altstack, signal actions, rseq, robust list, mm fields,
 * pending signals, timers, credentials...) is one item with its dump and its
 * restore side by side, in one file per item or small group, and one table
 * (table.c) lists them in the order they are restored.  Adding a piece of
 * task state is one file plus one table line.
 *
 * lib/dump/dump_task.c and lib/restore/restore_task.c are the drivers: the
 * dump one readies a thread for injected calls and runs every item's dump
 * for it; the restore one builds the task (memory, descriptors, threads)
 * and runs the items of each phase at its place.  Items whose kernel
 * interfaces belong to another subsystem (lib/signals, lib/creds) are thin
 * entries calling that subsystem's hooks. */
#ifndef CRYO_TASK_H
#define CRYO_TASK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/x86.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"

struct dump_ctx;
struct remote;
struct rst_ctx;
struct rst_proc;
struct rst_thread;
struct seized_proc;
struct seized_thread;

/* Whose state an item is: the process's (dumped from and restored through
 * the leader), every thread's, or only the leader's as a thread. */
enum task_scope { TASK_PROC, TASK_THREAD, TASK_LEADER };

/* Where an item restores, in the order restore_task_state() runs them. */
enum task_phase {
	TASK_PH_MM,		/* memory is in place; descriptors are not yet */
	TASK_PH_PROC,		/* descriptors and cwd too; the root is not changed
				 * yet and the other threads do not exist */
	TASK_PH_THREADS,	/* every thread exists */
	TASK_PH_SHARED,		/* just before the per-thread state */
	TASK_PH_THREAD,		/* each thread, the leader last; the last item of
				 * the leader removes the trampoline */
	TASK_PH_NR
};

/* One thread being dumped: stopped, every signal blocked, @r ready to run
 * system calls in it (seize/remote.h), scratch memory saved around each
 * item. */
struct task_dump {
	struct dump_ctx *ctx;
	struct seized_proc *p;
	struct seized_thread *t;
	struct remote *r;
	bool leader;
	CoreEntry *core;	/* thread_core; tc too for the leader */
	MmEntry *mm;		/* the leader's mm-PID.img entry, NULL otherwise */
	struct cpu_state cs;	/* as the thread must resume (task_cpu_capture) */
	uint64_t rseq_cs;	/* the rseq_cs pointer found at capture, 0: none */
	uint64_t tid_addr;	/* clear_child_tid, for thread_info */
};

/* One thread (or, for process items, the leader) being restored. */
struct task_rst {
	struct rst_ctx *ctx;
	struct rst_proc *p;
	struct rst_thread *t;
	struct remote *r;	/* &t->r */
};

struct task_item {
	const char *name;
	enum task_scope scope;
	enum task_phase phase;	/* TASK_PH_THREAD for thread and leader items */
	int (*dump)(struct task_dump *d);		/* NULL: nothing to save */
	int (*restore)(const struct task_rst *tr);	/* NULL: nothing to do */
};

/* The table, in restore order (process items first). */
extern const struct task_item *const task_items[];
extern const int task_nr_items;

/* Dump, before anything is injected into the thread: its registers and
 * XSAVE area into d->cs (also t->regs: how this process resumes), with an
 * interrupted system call or rseq critical section resolved as the kernel
 * would.  task_dump_free() frees d->cs. */
int task_cpu_capture(struct task_dump *d);
/* Registers of a seized thread that is let go without being dumped (a
 * pre-dump, a dump that failed or was refused): as task_cpu_capture sets
 * them, so that an epoll wait cryo's interrupt ended is issued again rather
 * than returning EINTR, and a call with an exact restart is re-issued
 * rather than left to restart_syscall (which a later dump could not name). */
int task_cpu_fix_resume(struct seized_proc *p, struct seized_thread *t);
void task_dump_free(struct task_dump *d);
/* Every item's dump for d->t (the process items too, for the leader). */
int task_dump_items(struct task_dump *d);

/* Every item of phase @ph for @p (each thread for TASK_PH_THREAD). */
int task_restore_phase(struct rst_ctx *ctx, struct rst_proc *p, enum task_phase ph);

#endif
