#include "arch/x86.h"
#include "util/log.h"
#include "util/util.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#define XSAVE_MAX (64 * 1024)
#define USER_CS_64 0x33

/* Legacy FXSAVE region layout (Intel SDM vol. 1, 10.5.1). */
#define FX_CWD 0
#define FX_SWD 2
#define FX_TWD 4
#define FX_FOP 6
#define FX_RIP 8
#define FX_RDP 16
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
#define FX_ST 32	/* 8 x 16 bytes */
#define FX_XMM 160	/* 16 x 16 bytes */
#define XSAVE_HDR_BV 512

/* XSAVE components that the image format carries, and their sizes in
 * 32/64-bit words of the image's repeated fields. */
enum {
	XFEATURE_YMM = 2,
	XFEATURE_BNDREGS = 3,
	XFEATURE_BNDCSR = 4,
	XFEATURE_OPMASK = 5,
	XFEATURE_ZMM_HI256 = 6,
	XFEATURE_HI16_ZMM = 7,
	XFEATURE_PKRU = 9,
};
/* x87 | SSE plus the components above. */
#define XFEATURES_IN_IMAGE (0x3ULL | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | \
			    (1 << 7) | (1 << 9))

/* Offset of component @i in the standard (non-compacted) XSAVE format, which
 * is what ptrace's NT_X86_XSTATE uses. */
static unsigned xfeature_offset(unsigned i, unsigned *size)
{
	unsigned eax, ebx, ecx, edx;
	__cpuid_count(0xd, i, eax, ebx, ecx, edx);
	*size = eax;
	return ebx;
}

int arch_get_cpu_state(pid_t tid, struct cpu_state *cs)
{
	memset(cs, 0, sizeof(*cs));
	if (ptrace(PTRACE_GETREGS, tid, 0, &cs->regs))
		return_perror("PTRACE_GETREGS of task %d failed", tid);
	cs->xsave = xzalloc(XSAVE_MAX);
	if (!cs->xsave)
		return -ENOMEM;
	struct iovec iov = { cs->xsave, XSAVE_MAX };
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov)) {
		int e = errno;
		pr_perror("PTRACE_GETREGSET NT_X86_XSTATE of task %d failed (cryo needs a CPU "
			  "and kernel with XSAVE)", tid);
		free(cs->xsave);
		cs->xsave = NULL;
		return -e;
	}
	cs->xsave_len = iov.iov_len;
	return 0;
}

void arch_free_cpu_state(struct cpu_state *cs)
{
	free(cs->xsave);
	cs->xsave = NULL;
}

int arch_set_cpu_state(pid_t tid, const struct cpu_state *cs)
{
	if (cs->xsave) {
		struct iovec iov = { cs->xsave, cs->xsave_len };
		if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov))
			return_perror("PTRACE_SETREGSET NT_X86_XSTATE of task %d failed", tid);
	}
	if (ptrace(PTRACE_SETREGS, tid, 0, &cs->regs))
		return_perror("PTRACE_SETREGS of task %d failed", tid);
	return 0;
}

/* Kernel-internal restart codes (include/linux/errno.h, not in UAPI). */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516
#define NR_restart_syscall 219

void arch_fixup_syscall_restart(struct user_regs_struct *regs)
{
	if ((long)regs->orig_rax < 0)
		return;
	switch ((long)regs->rax) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		regs->rax = regs->orig_rax;
		regs->rip -= 2;
		break;
	case -ERESTART_RESTARTBLOCK:
		/* In the same task restart_syscall continues the call; in a
		 * restored one it returns -EINTR, as after a signal. */
		regs->rax = NR_restart_syscall;
		regs->rip -= 2;
		break;
	default:
		return;
	}
	regs->orig_rax = -1;
}

long arch_interrupted_syscall(const struct user_regs_struct *regs, bool fixed, uint64_t args[6])
{
	long nr = (long)regs->orig_rax;
	if (fixed) {
		if (nr != -1)
			return -1;
		nr = (long)regs->rax;
	} else {
		if (nr < 0)
			return -1;
		switch ((long)regs->rax) {
		case -ERESTARTSYS:
		case -ERESTARTNOINTR:
		case -ERESTARTNOHAND:
		case -ERESTART_RESTARTBLOCK:
			break;
		default:
			return -1;
		}
	}
	args[0] = regs->rdi;
	args[1] = regs->rsi;
	args[2] = regs->rdx;
	args[3] = regs->r10;
	args[4] = regs->r8;
	args[5] = regs->r9;
	return nr;
}

bool arch_at_syscall_insn(pid_t tid, const struct user_regs_struct *regs)
{
	errno = 0;
	long w = ptrace(PTRACE_PEEKTEXT, tid, regs->rip, 0);
	/* syscall: 0f 05 (little endian: the low two bytes) */
	return !errno && (w & 0xffff) == 0x050f;
}

#define NR_poll 7
#define NR_nanosleep 35
#define NR_futex 202
#define NR_clock_nanosleep 230
#define NR_epoll_wait 232
#define NR_epoll_pwait 281
#define NR_epoll_pwait2 441
#define TIMER_ABSTIME_FLAG 1
#define FUTEX_WAIT_OP 0
#define FUTEX_WAIT_BITSET_OP 9
#define FUTEX_OP_FLAGS (128 | 256)	/* FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME */

/* Issue the interrupted call again, with the arguments it had (the kernel
 * keeps rdi..r9 across a system call). */
static void reissue(struct user_regs_struct *regs, uint64_t nr)
{
	regs->rax = nr;
	regs->rip -= 2;
	regs->orig_rax = -1;
}

int arch_fixup_restart_for_image(struct user_regs_struct *regs, const char **call)
{
	*call = NULL;
	if ((long)regs->orig_rax < 0 || (long)regs->rax != -ERESTART_RESTARTBLOCK) {
		arch_fixup_syscall_restart(regs);
		return ARCH_RESTART_EXACT;
	}
	/* The kernel keeps what the call needs to go on (its deadline) in the
	 * task's restart block, which a restored task does not have:
	 * restart_syscall would return EINTR there.  The call is re-issued
	 * instead, with the time left where the kernel wrote it to the call's
	 * rem argument, as is where its timeout is absolute, and with its
	 * whole (relative) timeout otherwise. */
	switch (regs->orig_rax) {
	case NR_nanosleep:
		*call = "nanosleep";
		if (regs->rsi) {
			regs->rdi = regs->rsi;	/* sleep the time left */
			reissue(regs, NR_nanosleep);
			return ARCH_RESTART_EXACT;
		}
		reissue(regs, NR_nanosleep);
		return ARCH_RESTART_FULL_TIMEOUT;
	case NR_clock_nanosleep:
		*call = "clock_nanosleep";
		if (regs->rsi & TIMER_ABSTIME_FLAG) {
			reissue(regs, NR_clock_nanosleep);
			return ARCH_RESTART_EXACT;
		}
		if (regs->r10) {
			regs->rdx = regs->r10;
			reissue(regs, NR_clock_nanosleep);
			return ARCH_RESTART_EXACT;
		}
		reissue(regs, NR_clock_nanosleep);
		return ARCH_RESTART_FULL_TIMEOUT;
	case NR_poll:
		*call = "poll";	/* only a poll with a timeout gets a restart block */
		reissue(regs, NR_poll);
		return ARCH_RESTART_FULL_TIMEOUT;
	case NR_futex: {
		unsigned cmd = regs->rsi & ~FUTEX_OP_FLAGS;
		*call = cmd == FUTEX_WAIT_BITSET_OP ? "futex(FUTEX_WAIT_BITSET)" : "futex(FUTEX_WAIT)";
		if (cmd == FUTEX_WAIT_BITSET_OP) {	/* an absolute timeout */
			reissue(regs, NR_futex);
			return ARCH_RESTART_EXACT;
		}
		if (cmd == FUTEX_WAIT_OP) {
			reissue(regs, NR_futex);
			return ARCH_RESTART_FULL_TIMEOUT;
		}
		break;
	}
	}
	arch_fixup_syscall_restart(regs);
	return ARCH_RESTART_EINTR;
}

bool arch_continue_as(struct user_regs_struct *regs, uint64_t nr)
{
	if ((long)regs->orig_rax != NR_restart_syscall || (long)regs->rax != -ERESTART_RESTARTBLOCK)
		return false;
	regs->orig_rax = nr;
	return true;
}

int arch_restart_epoll_eintr(struct user_regs_struct *regs)
{
	if ((long)regs->orig_rax < 0 || (long)regs->rax != -EINTR)
		return ARCH_RESTART_NONE;
	bool timed;
	switch (regs->orig_rax) {
	case NR_epoll_wait:
	case NR_epoll_pwait:
		timed = (int)regs->r10 > 0;
		break;
	case NR_epoll_pwait2:
		timed = regs->r10 != 0;
		break;
	default:
		return ARCH_RESTART_NONE;
	}
	reissue(regs, regs->orig_rax);
	return timed ? ARCH_RESTART_FULL_TIMEOUT : ARCH_RESTART_EXACT;
}

int arch_task_is_compat(const struct user_regs_struct *regs)
{
	return regs->cs != USER_CS_64;
}

static uint32_t *words32(const unsigned char *p, size_t n)
{
	uint32_t *v = xmalloc(n * 4);
	if (v)
		memcpy(v, p, n * 4);
	return v;
}

static uint64_t *words64(const unsigned char *p, size_t n)
{
	uint64_t *v = xmalloc(n * 8);
	if (v)
		memcpy(v, p, n * 8);
	return v;
}

/* Copy component @feat into a repeated field of @words_len words. */
#define XCOMP(feat, field, wsize, nwords)                                      \
	do {                                                                   \
		unsigned sz, off = xfeature_offset(feat, &sz);                 \
		if (off && off + (nwords) * (wsize) <= cs->xsave_len &&        \
		    sz >= (nwords) * (wsize)) {                                \
			xs->field = (wsize) == 4 ? (void *)words32(cs->xsave + off, nwords) \
						 : (void *)words64(cs->xsave + off, nwords); \
			if (!xs->field)                                        \
				goto nomem;                                    \
			xs->n_##field = (nwords);                              \
		}                                                              \
	} while (0)

int arch_cpu_state_to_image(const struct cpu_state *cs, uint64_t clear_tid_addr,
			    ThreadInfoX86 **out)
{
	const struct user_regs_struct *r = &cs->regs;
	ThreadInfoX86 *ti = xzalloc(sizeof(*ti));
	UserX86RegsEntry *g = xzalloc(sizeof(*g));
	UserX86FpregsEntry *fp = xzalloc(sizeof(*fp));
	UserX86XsaveEntry *xs = xzalloc(sizeof(*xs));
	if (!ti || !g || !fp || !xs) {
		free(ti);
		free(g);
		free(fp);
		free(xs);
		return -ENOMEM;
	}
	thread_info_x86__init(ti);
	user_x86_regs_entry__init(g);
	user_x86_fpregs_entry__init(fp);
	user_x86_xsave_entry__init(xs);
	ti->gpregs = g;
	ti->fpregs = fp;
	ti->has_clear_tid_addr = 1;
	ti->clear_tid_addr = clear_tid_addr;

#define G(f, v) (g->has_##f = 1, g->f = (v))
	G(r15, r->r15); G(r14, r->r14); G(r13, r->r13); G(r12, r->r12);
	G(bp, r->rbp); G(bx, r->rbx); G(r11, r->r11); G(r10, r->r10);
	G(r9, r->r9); G(r8, r->r8); G(ax, r->rax); G(cx, r->rcx);
	G(dx, r->rdx); G(si, r->rsi); G(di, r->rdi); G(orig_ax, r->orig_rax);
	G(ip, r->rip); G(cs, r->cs); G(flags, r->eflags); G(sp, r->rsp);
	G(ss, r->ss); G(fs_base, r->fs_base); G(gs_base, r->gs_base);
	G(ds, r->ds); G(es, r->es); G(fs, r->fs); G(gs, r->gs);
	G(mode, arch_task_is_compat(r) ? USER_X86_REGS_MODE__COMPAT : USER_X86_REGS_MODE__NATIVE);
#undef G

	const unsigned char *x = cs->xsave;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
#define LD(type, var, off) (memcpy(&var, x + (off), sizeof(type)), var)
	fp->has_cwd = fp->has_swd = fp->has_twd = fp->has_fop = 1;
	fp->has_rip = fp->has_rdp = fp->has_mxcsr = fp->has_mxcsr_mask = 1;
	fp->cwd = LD(uint16_t, u16, FX_CWD);
	fp->swd = LD(uint16_t, u16, FX_SWD);
	fp->twd = LD(uint16_t, u16, FX_TWD);
	fp->fop = LD(uint16_t, u16, FX_FOP);
	fp->rip = LD(uint64_t, u64, FX_RIP);
	fp->rdp = LD(uint64_t, u64, FX_RDP);
	fp->mxcsr = LD(uint32_t, u32, FX_MXCSR);
	fp->mxcsr_mask = LD(uint32_t, u32, FX_MXCSR_MASK);
#undef LD
	fp->st_space = words32(x + FX_ST, 32);
	fp->xmm_space = words32(x + FX_XMM, 64);
	fp->padding = xzalloc(24 * 4);
	if (!fp->st_space || !fp->xmm_space || !fp->padding)
		goto nomem;
	fp->n_st_space = 32;
	fp->n_xmm_space = 64;
	fp->n_padding = 24;

	if (cs->xsave_len > XSAVE_HDR_BV + 8) {
		uint64_t bv;
		memcpy(&bv, x + XSAVE_HDR_BV, 8);
		if (bv & ~XFEATURES_IN_IMAGE)
			pr_warn("XSAVE components 0x%llx of this task are not saved (the image "
				"format has no place for them); they restart in their initial state",
				(unsigned long long)(bv & ~XFEATURES_IN_IMAGE));
		fp->xsave = xs;
		xs->has_xstate_bv = 1;
		xs->xstate_bv = bv & XFEATURES_IN_IMAGE;
		XCOMP(XFEATURE_YMM, ymmh_space, 4, 64);
		XCOMP(XFEATURE_BNDREGS, bndreg_state, 8, 8);
		XCOMP(XFEATURE_BNDCSR, bndcsr_state, 8, 2);
		XCOMP(XFEATURE_OPMASK, opmask_reg, 8, 8);
		XCOMP(XFEATURE_ZMM_HI256, zmm_upper, 8, 64);
		XCOMP(XFEATURE_HI16_ZMM, hi16_zmm, 8, 128);
		XCOMP(XFEATURE_PKRU, pkru, 4, 2);
	} else {
		free(xs);
	}
	*out = ti;
	return 0;
nomem:
	if (!fp->xsave)
		free(xs);
	protobuf_c_message_free_unpacked(&ti->base, NULL);
	return -ENOMEM;
}

static int put_comp(struct cpu_state *cs, unsigned feat, const void *src, size_t n, size_t wsize)
{
	unsigned sz, off = xfeature_offset(feat, &sz);
	if (!n)
		return 0;
	if (!off || n * wsize > sz || off + n * wsize > cs->xsave_len) {
		pr_err("the image has XSAVE component %u (%zu bytes) that this CPU does not "
		       "support: restore on a CPU with the same features", feat, n * wsize);
		return -EINVAL;
	}
	memcpy(cs->xsave + off, src, n * wsize);
	return 0;
}

int arch_image_to_cpu_state(const ThreadInfoX86 *ti, struct cpu_state *cs)
{
	const UserX86RegsEntry *g = ti->gpregs;
	struct user_regs_struct *r = &cs->regs;
	if (!g) {
		pr_err("core image has no general registers");
		return -EINVAL;
	}
	if (g->has_mode && g->mode == USER_X86_REGS_MODE__COMPAT) {
		pr_err("the image holds a 32-bit (compat) task: cryo does not restore those yet");
		return -EOPNOTSUPP;
	}
	r->r15 = g->r15; r->r14 = g->r14; r->r13 = g->r13; r->r12 = g->r12;
	r->rbp = g->bp; r->rbx = g->bx; r->r11 = g->r11; r->r10 = g->r10;
	r->r9 = g->r9; r->r8 = g->r8; r->rax = g->ax; r->rcx = g->cx;
	r->rdx = g->dx; r->rsi = g->si; r->rdi = g->di; r->orig_rax = g->orig_ax;
	r->rip = g->ip; r->cs = g->cs; r->eflags = g->flags; r->rsp = g->sp;
	r->ss = g->ss; r->fs_base = g->fs_base; r->gs_base = g->gs_base;
	r->ds = g->ds; r->es = g->es; r->fs = g->fs; r->gs = g->gs;

	const UserX86FpregsEntry *fp = ti->fpregs;
	if (!fp || !cs->xsave || cs->xsave_len < XSAVE_HDR_BV + 64)
		return 0;
	unsigned char *x = cs->xsave;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
#define ST(type, var, off, val) (var = (type)(val), memcpy(x + (off), &var, sizeof(type)))
	ST(uint16_t, u16, FX_CWD, fp->cwd);
	ST(uint16_t, u16, FX_SWD, fp->swd);
	ST(uint16_t, u16, FX_TWD, fp->twd);
	ST(uint16_t, u16, FX_FOP, fp->fop);
	ST(uint64_t, u64, FX_RIP, fp->rip);
	ST(uint64_t, u64, FX_RDP, fp->rdp);
	ST(uint32_t, u32, FX_MXCSR, fp->mxcsr);
	ST(uint32_t, u32, FX_MXCSR_MASK, fp->mxcsr_mask);
#undef ST
	if (fp->n_st_space > 32 || fp->n_xmm_space > 64) {
		pr_err("core image: FPU register arrays are too long");
		return -EINVAL;
	}
	memcpy(x + FX_ST, fp->st_space, fp->n_st_space * 4);
	memcpy(x + FX_XMM, fp->xmm_space, fp->n_xmm_space * 4);

	uint64_t bv = 0x3;	/* x87 and SSE state are always given */
	const UserX86XsaveEntry *xs = fp->xsave;
	if (xs) {
		int ret = 0;
		bv = (xs->xstate_bv & XFEATURES_IN_IMAGE) | 0x3;
		ret |= put_comp(cs, XFEATURE_YMM, xs->ymmh_space, xs->n_ymmh_space, 4);
		ret |= put_comp(cs, XFEATURE_BNDREGS, xs->bndreg_state, xs->n_bndreg_state, 8);
		ret |= put_comp(cs, XFEATURE_BNDCSR, xs->bndcsr_state, xs->n_bndcsr_state, 8);
		ret |= put_comp(cs, XFEATURE_OPMASK, xs->opmask_reg, xs->n_opmask_reg, 8);
		ret |= put_comp(cs, XFEATURE_ZMM_HI256, xs->zmm_upper, xs->n_zmm_upper, 8);
		ret |= put_comp(cs, XFEATURE_HI16_ZMM, xs->hi16_zmm, xs->n_hi16_zmm, 8);
		ret |= put_comp(cs, XFEATURE_PKRU, xs->pkru, xs->n_pkru, 4);
		if (ret)
			return -EINVAL;
	}
	memcpy(x + XSAVE_HDR_BV, &bv, 8);
	memset(x + XSAVE_HDR_BV + 8, 0, 8);	/* xcomp_bv: standard format */
	return 0;
}
