/* Running system calls inside a stopped, traced task.
 *
 * Dump side: the target's code is never modified, and a thread is never
 * left resumable in a state that is not its own, even if cryo dies (when
 * the tracer dies the kernel detaches the thread, which then runs on from
 * its current registers).  remote_dump_begin() writes an rt_sigreturn frame
 * holding the thread's registers, signal mask and XSAVE area below its red
 * zone and points it at a "mov $15, %eax; syscall" (rt_sigreturn) sequence
 * found in its own code -- glibc's and musl's __restore_rt, Go's
 * sigreturn.  Each injected call is swapped in for that rt_sigreturn at its
 * syscall-entry stop, with the sequence as its return address; so at every
 * moment, if cryo stops driving the thread, it finishes what it is doing
 * and executes rt_sigreturn on the frame: back to exactly where it was.
 * remote_dump_end() puts registers, mask and stack bytes back directly
 * (the frame's rt_sigreturn is only for a dead cryo: it would also make a
 * sleep interrupted by the dump return EINTR -- restore_sigcontext() resets
 * the restart block).  Without such a sequence in the task (or with a
 * shadow stack, which rt_sigreturn checks), the calls run from a `syscall`
 * in the vDSO as before (or elsewhere in the task's code, if it unmapped its
 * vDSO), and only the microseconds of one call are exposed.
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
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>

/* ptrace options of every restored task (PTRACE_SEIZE of the root; tasks
 * and threads cloned in them inherit them); lib/creds adds
 * PTRACE_O_SUSPEND_SECCOMP to these with PTRACE_SETOPTIONS. */
#define RESTORE_PTRACE_OPTIONS (PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | \
				PTRACE_O_TRACEFORK | PTRACE_O_TRACECLONE)

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
	/* Dump side, between remote_dump_begin() and remote_dump_end() */
	uint64_t sigreturn_ip;		/* the guard: rt_sigreturn sequence, or 0 */
	uint64_t sigreturn_end;		/* just after its syscall instruction */
	uint64_t guard_sp;		/* rsp for it: the frame */
	struct user_regs_struct orig_regs;
	uint64_t orig_mask;
	uint64_t saved_addr;		/* stack bytes used, and their old contents */
	void *saved;
	size_t saved_len;
	bool regs_changed, mask_changed;
};

/* "mov $15, %eax|%rax; syscall" (rt_sigreturn) in a task's code. */
struct sigreturn_gadget {
	uint64_t ip, end;		/* end: after the syscall instruction */
};
/* What the search found in each library, for the rest of one dump (the
 * processes of a tree mostly map the same ones); zeroed to start, freed
 * with sigreturn_memo_free. */
struct sigreturn_memo {
	struct scan_memo *v;
	size_t n, cap;
};
void sigreturn_memo_free(struct sigreturn_memo *m);
struct proc_maps;
/* Look for the sequence in @pid's executable mappings (libc's first).
 * Returns 0 and fills @g, or -ENOENT (not logged) if there is none. */
int remote_find_sigreturn(pid_t pid, const struct proc_maps *maps, struct sigreturn_memo *memo,
			  struct sigreturn_gadget *g);

/* A `syscall` instruction for the unguarded way: in @pid's vDSO, or in its
 * other code when it has none.  0, or -ENOENT (not logged). */
int remote_find_syscall(pid_t pid, const struct proc_maps *maps, uint64_t *ip);

/* Dump side: make @tid (stopped, registers @regs and mask @sigmask as found,
 * XSAVE area @xsave) ready for remote_syscall(), guarded by @g (NULL: the
 * unguarded way, from the `syscall` at @syscall_ip).  Always call
 * remote_dump_end() afterwards, also on failure. */
int remote_dump_begin(struct remote *r, pid_t tid, const struct user_regs_struct *regs,
		      uint64_t sigmask, const void *xsave, size_t xsave_len,
		      const struct sigreturn_gadget *g, uint64_t syscall_ip);
/* Put back the thread's signal mask, registers and stack bytes.  Returns 0
 * or the first error (logged). */
int remote_dump_end(struct remote *r);

/* Restore side: @tid is a fork of this process stopped under ptrace. */
int remote_init_gadget(struct remote *r, pid_t tid);
/* Restore side: map the trampoline at @addr (code page + data pages) and
 * switch @r to it.  TRAMPOLINE_SIZE bytes are used. */
#define TRAMPOLINE_SIZE (64 * 4096UL)
int remote_setup_trampoline(struct remote *r, uint64_t addr);
void remote_fini(struct remote *r);
int remote_open_mem(pid_t tid);	/* /proc/TID/mem, read-write (logged) */
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

/* remote_call(r, "WHAT", nr, args...): remote_syscall with up to six
 * arguments (the missing ones 0), and a failure (-4095..-1) is logged once
 * as "WHAT in task TID failed: ERROR".  Returns the raw result: callers only
 * pass the code up.  For a failure the caller words itself, use
 * remote_syscall. */
long remote_call_v(struct remote *r, const char *what, const uint64_t nr_args[7]);
#define remote_call(r, what, ...) \
	remote_call_v((r), (what), (const uint64_t[7]){ __VA_ARGS__ })

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
