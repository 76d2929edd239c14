/* Running system calls inside a stopped, traced task.
 *
 * Dump side: the target's code is never modified.  We point the thread at a
 * `syscall` instruction found in its vDSO and run it with PTRACE_SYSCALL
 * (stop at entry, stop at exit), using the stack below the red zone as
 * scratch memory; registers are put back afterwards.
 *
 * Restore side: the task is our own fork, so our `syscall; int3` gadget is
 * at the same address in it.  Through that we map a small trampoline (one
 * code page holding the gadget and a batch loop, plus data pages) at an
 * address free in the target's layout, and drive everything from there:
 * one ptrace stop per syscall, or one per batch of syscalls.
 */
#ifndef CRYO_SEIZE_REMOTE_H
#define CRYO_SEIZE_REMOTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct remote {
	pid_t tid;
	int mem_fd;			/* /proc/TID/mem */
	bool two_stop;			/* PTRACE_SYSCALL entry+exit (dump side) */
	uint64_t syscall_ip;		/* address of "syscall" (+ "int3" unless two_stop) */
	uint64_t batch_ip;		/* batch loop in the trampoline, 0 if none */
	uint64_t scratch;		/* scratch memory in the task */
	size_t scratch_size;
	size_t scratch_used;
	struct user_regs_struct base;	/* registers used as the template */
	unsigned timeout_ms;		/* longest a call may take (0: default) */
	pid_t new_child;		/* pid reported by a fork/clone event during the
					 * last call (PTRACE_O_TRACEFORK/TRACECLONE), or 0 */
};

/* Dump side: find a syscall instruction in the vDSO at [vdso_start, vdso_end)
 * and prepare to inject into @tid (stopped, with @regs saved). */
int remote_init_dump(struct remote *r, pid_t tid, const struct user_regs_struct *regs,
		     uint64_t vdso_start, uint64_t vdso_end);
/* Restore side: @tid is a fork of this process stopped under ptrace. */
int remote_init_gadget(struct remote *r, pid_t tid);
/* Restore side: map the trampoline at @addr (code page + data pages) and
 * switch @r to it.  TRAMPOLINE_SIZE bytes are used. */
#define TRAMPOLINE_SIZE (64 * 4096UL)
int remote_setup_trampoline(struct remote *r, uint64_t addr);
void remote_fini(struct remote *r);
/* Another thread/process sharing @from's trampoline (its fork or thread). */
int remote_init_sibling(struct remote *r, const struct remote *from, pid_t tid);
/* Run a syscall that does not return (exit_group, kill of oneself) and wait
 * for the task to exit.  Returns 0 once it is gone. */
int remote_syscall_noreturn(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3);

/* Run one syscall; returns its raw result (negative errno on failure), or
 * -ECHILD... style codes for ptrace trouble with *ptrace_err set.  The
 * caller decides whether a failed call is fatal and logs it. */
long remote_syscall(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		    uint64_t a4, uint64_t a5, uint64_t a6);

/* The same, stopping at syscall entry and exit (PTRACE_SYSCALL) instead of
 * on the int3 after it: for calls that must not be followed by a forced
 * SIGTRAP (which resets an ignored SIGTRAP to SIG_DFL). */
long remote_syscall_noint3(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
			   uint64_t a4, uint64_t a5, uint64_t a6);

/* Copy data into the task's scratch area; returns its remote address or 0
 * (logged) if the scratch is full.  remote_scratch_reset() frees it all. */
uint64_t remote_scratch_put(struct remote *r, const void *data, size_t len);
uint64_t remote_scratch_alloc(struct remote *r, size_t len);
void remote_scratch_reset(struct remote *r);

int remote_read(struct remote *r, uint64_t addr, void *buf, size_t len);
int remote_write(struct remote *r, uint64_t addr, const void *buf, size_t len);

/* Batches (restore side): syscalls executed back to back in the task with
 * one ptrace stop; the loop stops at the first call returning an error. */
struct remote_call {
	uint64_t nr, a[6];
	int64_t ret;
};
#define REMOTE_BATCH_MAX 512
struct remote_batch {
	struct remote_call calls[REMOTE_BATCH_MAX];
	int n;
};
/* Runs the batch; returns the number of calls that completed successfully
 * (== b->n if all did), or a negative code on ptrace trouble (logged).
 * Each call's result is in calls[i].ret. */
int remote_batch_run(struct remote *r, struct remote_batch *b);

/* remote_batch_run, and every call must have succeeded (a pread64 must
 * also have read its whole count: a short read means a truncated image).
 * Logs the first call that did not, prefixed with @what; on success the
 * batch is emptied for reuse.  Returns 0 or a negative code. */
int remote_batch_exec(struct remote *r, struct remote_batch *b, const char *what);

/* The fully-resumable end of a restore: unmap the trampoline with a final
 * syscall run from it, stopping at syscall exit. */
int remote_unmap_trampoline(struct remote *r, uint64_t addr, size_t len);

#endif
