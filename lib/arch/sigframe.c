/* An rt_sigreturn frame that puts a thread back exactly as it was found.
 *
 * The dump arms it before the first injected system call of a thread
 * (seize/remote.c): if cryo dies while the thread runs a call for it, the
 * kernel detaches the thread, which finishes the call and then executes
 * rt_sigreturn on this frame, getting back its registers, signal mask and
 * FPU/vector state.  Layout (increasing addresses): the frame (pretcode +
 * ucontext), then at the next 64-byte boundary the XSAVE area in the form a
 * signal frame carries it (sw_reserved describing it, FP_XSTATE_MAGIC2
 * after it). */
#include "arch/x86.h"
#include "util/log.h"
#include "util/util.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>

/* The kernel's x86_64 struct sigcontext / ucontext / rt_sigframe (UAPI
 * asm/sigcontext.h, asm/ucontext.h; glibc's own names clash with them). */
struct x86_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved1[8];
};

struct x86_ucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	struct {
		uint64_t ss_sp;
		int32_t ss_flags, pad;
		uint64_t ss_size;
	} uc_stack;
	struct x86_sigcontext uc_mcontext;
	uint64_t uc_sigmask;
};

struct x86_rt_sigframe {
	uint64_t pretcode;		/* the return address a handler would pop */
	struct x86_ucontext uc;
};

_Static_assert(sizeof(struct x86_sigcontext) == 256, "sigcontext layout");
_Static_assert(sizeof(struct x86_ucontext) == 304, "ucontext layout");

/* struct _fpx_sw_bytes, in the FXSAVE area's software-reserved bytes */
struct fpx_sw_bytes {
	uint32_t magic1, extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size, padding[7];
};

#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define UC_STRICT_RESTORE_SS 0x4
#define FP_XSTATE_MAGIC1 0x46505853U
#define FP_XSTATE_MAGIC2 0x46505845U
#define FX_SW_BYTES 464			/* offset of sw_reserved in FXSAVE */
#define XSAVE_HDR_BV 512
#define XSAVE_MIN (512 + 64)		/* legacy area + XSAVE header */
#define FPSTATE_OFF ROUND_UP(sizeof(struct x86_rt_sigframe), 64)
/* Not a valid sigaltstack mode: rt_sigreturn's do_sigaltstack() refuses it
 * with EINVAL, which restore_altstack() ignores -- so the thread keeps its
 * alternate stack as it is, which cryo does not know before asking. */
#define SS_KEEP_AS_IS 0x4

/* Bytes of the standard-format XSAVE area holding @xfeatures. */
static size_t xstate_size_for(uint64_t xfeatures)
{
	size_t size = XSAVE_MIN;
	for (unsigned i = 2; i < 63; i++) {
		unsigned eax, ebx, ecx, edx;
		if (!(xfeatures & (1ULL << i)))
			continue;
		__cpuid_count(0xd, i, eax, ebx, ecx, edx);
		if (ebx + eax > size)
			size = ebx + eax;
	}
	return size;
}

size_t arch_sigframe_size(size_t xsave_len)
{
	return FPSTATE_OFF + ROUND_UP(xsave_len + sizeof(uint32_t), 64);
}

int arch_build_sigframe(void *buf, uint64_t addr, const struct user_regs_struct *regs,
			uint64_t sigmask, const void *xsave, size_t xsave_len, uint64_t *sp)
{
	struct x86_rt_sigframe *f = buf;
	struct x86_sigcontext *sc = &f->uc.uc_mcontext;
	unsigned char *fp = (unsigned char *)buf + FPSTATE_OFF;

	if (addr % 64) {
		pr_err("signal frame at %#llx is not 64-byte aligned", (unsigned long long)addr);
		return -EINVAL;
	}
	memset(buf, 0, arch_sigframe_size(xsave_len));
	f->uc.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	f->uc.uc_stack.ss_flags = SS_KEEP_AS_IS;
	f->uc.uc_sigmask = sigmask;
	sc->r8 = regs->r8;
	sc->r9 = regs->r9;
	sc->r10 = regs->r10;
	sc->r11 = regs->r11;
	sc->r12 = regs->r12;
	sc->r13 = regs->r13;
	sc->r14 = regs->r14;
	sc->r15 = regs->r15;
	sc->rdi = regs->rdi;
	sc->rsi = regs->rsi;
	sc->rbp = regs->rbp;
	sc->rbx = regs->rbx;
	sc->rdx = regs->rdx;
	sc->rax = regs->rax;
	sc->rcx = regs->rcx;
	sc->rsp = regs->rsp;
	sc->rip = regs->rip;
	sc->eflags = regs->eflags;
	sc->cs = regs->cs;
	sc->ss = regs->ss;

	if (xsave && xsave_len >= XSAVE_MIN) {
		/* Only the components the thread uses (XSTATE_BV), so that the
		 * size fits the thread's own signal-frame size (the kernel checks
		 * xstate_size against it; AMX state exists only where used). */
		uint64_t bv;
		memcpy(&bv, (const unsigned char *)xsave + XSAVE_HDR_BV, sizeof(bv));
		uint64_t xfeatures = bv | 0x3;
		size_t size = xstate_size_for(xfeatures);
		if (size > xsave_len) {
			pr_err("XSAVE area of %zu bytes is smaller than its features %#llx need "
			       "(%zu)", xsave_len, (unsigned long long)xfeatures, size);
			return -EINVAL;
		}
		memcpy(fp, xsave, size);
		struct fpx_sw_bytes sw = {
			.magic1 = FP_XSTATE_MAGIC1,
			.extended_size = size + sizeof(uint32_t),
			.xfeatures = xfeatures,
			.xstate_size = size,
		};
		memcpy(fp + FX_SW_BYTES, &sw, sizeof(sw));
		uint32_t magic2 = FP_XSTATE_MAGIC2;
		memcpy(fp + size, &magic2, sizeof(magic2));
		sc->fpstate = addr + FPSTATE_OFF;
	}
	/* rt_sigreturn finds the frame at rsp - 8, where a handler's "ret"
	 * into the restorer would have left rsp. */
	*sp = addr + sizeof(uint64_t);
	return 0;
}
