/* x86_64 CPU state: registers and the XSAVE area, and their image form
 * (CRIU's thread_info_x86 / user_x86_fpregs_entry / user_x86_xsave_entry). */
#ifndef CRYO_ARCH_X86_H
#define CRYO_ARCH_X86_H

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
/* The same for registers saved in an image: a restored task has no kernel
 * restart block, so an interrupted nanosleep/clock_nanosleep is re-issued
 * with the time that was left (written by the kernel to its rem argument)
 * instead of restart_syscall (which would return EINTR there). */
void arch_fixup_restart_for_image(struct user_regs_struct *regs);
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
