/* x86_64 CPU state: registers and the XSAVE area, and their image form
 * (CRIU's thread_info_x86 / user_x86_fpregs_entry / user_x86_xsave_entry). */
#ifndef CRYO_ARCH_X86_H
#define CRYO_ARCH_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "core-x86.pb-c.h"

struct cpu_state {
	struct user_regs_struct regs;
	unsigned char *xsave;	/* PTRACE_GETREGSET NT_X86_XSTATE buffer */
	size_t xsave_len;
};

/* Read registers and extended state of a stopped tracee.  Returns 0/-errno. */
int arch_get_cpu_state(pid_t tid, struct cpu_state *cs);
void arch_free_cpu_state(struct cpu_state *cs);
/* Write extended state (SETREGSET NT_X86_XSTATE) and then general registers. */
int arch_set_cpu_state(pid_t tid, const struct cpu_state *cs);

/* Registers as a task stopped inside an interrupted system call would
 * continue: the restart the kernel would have done is applied now, so that
 * the registers are valid wherever the task is resumed from. */
void arch_fixup_syscall_restart(struct user_regs_struct *regs);
/* The system call a stopped thread will issue again once resumed, with
 * its six arguments in @args; -1 if none.  @regs as found (@fixed false):
 * a call a stop interrupted with a restart code; as fixed up for the
 * resume (arch_fixup_syscall_restart, the image's: @fixed true): the call
 * the registers are set to issue (they do not say whether the thread was
 * in it, only which call it would make). */
long arch_interrupted_syscall(const struct user_regs_struct *regs, bool fixed, uint64_t args[6]);
/* Is stopped thread @tid's @regs ip at a syscall instruction?  Registers
 * fixed up for a re-issue point there; a thread stopped in user code has
 * orig_rax -1 too, with whatever its code left in rax (false, or an
 * unreadable ip). */
bool arch_at_syscall_insn(pid_t tid, const struct user_regs_struct *regs);
/* The same for registers saved in an image.  A restored task has no
 * kernel restart block, so a call interrupted with ERESTART_RESTARTBLOCK is
 * re-issued instead of restart_syscall (which would return EINTR there):
 * nanosleep/clock_nanosleep with the time left (written by the kernel to
 * their rem argument), absolute waits unchanged, and relative ones without
 * a rem (poll, FUTEX_WAIT, sleeps with rem NULL) with their whole timeout.
 * Returns ARCH_RESTART_*; *@call names the call (NULL: no restart block). */
enum { ARCH_RESTART_NONE, ARCH_RESTART_EXACT, ARCH_RESTART_FULL_TIMEOUT, ARCH_RESTART_EINTR };
int arch_fixup_restart_for_image(struct user_regs_struct *regs, const char **call);
/* An epoll wait has no restart code: one stopped by cryo's interrupt has
 * returned -EINTR.  Makes @regs issue it again (the caller checks that no
 * signal that would have interrupted it is pending).  Returns
 * ARCH_RESTART_NONE (not such a call), _EXACT (no timeout) or
 * _FULL_TIMEOUT. */
int arch_restart_epoll_eintr(struct user_regs_struct *regs);
/* A thread stopped in restart_syscall goes on with an earlier call whose
 * arguments are still in its registers: makes @regs read as stopped in call
 * @nr itself (as arch_fixup_restart_for_image expects).  Returns whether
 * @regs were in restart_syscall. */
bool arch_continue_as(struct user_regs_struct *regs, uint64_t nr);
/* rt_sigreturn frame (sigframe.c) putting back @regs, @sigmask and the
 * XSAVE area @xsave (PTRACE_GETREGSET form), laid out for task address
 * @addr (64-byte aligned) in @buf of arch_sigframe_size(xsave_len) bytes.
 * *@sp gets the stack pointer at which an rt_sigreturn uses the frame.  The
 * thread's sigaltstack is left as it is. */
size_t arch_sigframe_size(size_t xsave_len);
int arch_build_sigframe(void *buf, uint64_t addr, const struct user_regs_struct *regs,
			uint64_t sigmask, const void *xsave, size_t xsave_len, uint64_t *sp);

/* True if the task runs 64-bit code (cs == __USER_CS). */
int arch_task_is_compat(const struct user_regs_struct *regs);

/* Build the image form (malloc'ed; free with protobuf_c_message_free_unpacked). */
int arch_cpu_state_to_image(const struct cpu_state *cs, uint64_t clear_tid_addr,
			    ThreadInfoX86 **out);
/* Image -> registers, and XSAVE area into @cs->xsave (which must hold the
 * restoring task's own XSAVE area as a template, for its size and header). */
int arch_image_to_cpu_state(const ThreadInfoX86 *ti, struct cpu_state *cs);

#endif
