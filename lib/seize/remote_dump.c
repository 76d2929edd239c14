/* Dump side of remote.h: preparing a seized thread for injected system
 * calls under the rt_sigreturn guard, and putting it back afterwards. */
#include "seize/remote.h"
#include "arch/x86.h"
#include "proc/proc.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <unistd.h>

#define RED_ZONE 128
#define DUMP_DATA 1024		/* scratch for the calls' arguments and results */
#define SCAN_CHUNK (1 << 20)
#define SCAN_LIMIT (256ULL << 20)

/* rt_sigreturn (15) as glibc and musl (movq $15, %rax) and Go (movl) emit it */
static const unsigned char seq_movq[] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };
static const unsigned char seq_movl[] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05 };

static bool scan_chunk(const unsigned char *buf, size_t n, uint64_t base,
		       struct sigreturn_gadget *g)
{
	const unsigned char *hit = memmem(buf, n, seq_movq, sizeof(seq_movq));
	size_t len = sizeof(seq_movq);
	if (!hit) {
		hit = memmem(buf, n, seq_movl, sizeof(seq_movl));
		len = sizeof(seq_movl);
	}
	if (!hit)
		return false;
	g->ip = base + (hit - buf);
	g->end = g->ip + len;
	return true;
}

/* Search one mapping through /proc/PID/mem (which also reads execute-only
 * code); returns true when found. */
static bool scan_vma(int fd, const struct proc_vma *v, unsigned char *buf, uint64_t *budget,
		     struct sigreturn_gadget *g)
{
	const size_t overlap = sizeof(seq_movq) - 1;
	for (uint64_t a = v->start; a < v->end && *budget;) {
		size_t n = MIN((uint64_t)SCAN_CHUNK, v->end - a);
		ssize_t got = pread(fd, buf, n, a);
		if (got <= 0)
			return false;
		if (scan_chunk(buf, got, a, g))
			return true;
		*budget -= MIN(*budget, (uint64_t)got);
		if ((size_t)got <= overlap || a + got >= v->end)
			break;
		a += got - overlap;
	}
	return false;
}

/* What the search found in each file mapping: the processes of a tree
 * mostly map the same libraries, and searching libc's code costs ~2 MB of
 * reads per process.  Keyed by the file (device, inode) and the mapping's
 * offset and size; a hit is checked again in each process (its code may
 * differ from the file's, e.g. after a debugger's write), a miss is
 * trusted. */
struct scan_memo {
	unsigned major, minor;
	uint64_t ino, pgoff, len;
	int64_t at;		/* the sequence's offset in the mapping, -1: none */
	size_t seq_len;
};

void sigreturn_memo_free(struct sigreturn_memo *m)
{
	free(m->v);
	*m = (struct sigreturn_memo){ 0 };
}

static struct scan_memo *memo_find(struct sigreturn_memo *memo, const struct proc_vma *v)
{
	if (!v->ino || v->deleted)
		return NULL;
	for (size_t i = 0; i < memo->n; i++) {
		struct scan_memo *m = &memo->v[i];
		if (m->ino == v->ino && m->major == v->dev_major && m->minor == v->dev_minor &&
		    m->pgoff == v->pgoff && m->len == v->end - v->start)
			return m;
	}
	return NULL;
}

static void memo_add(struct sigreturn_memo *memo, const struct proc_vma *v, int64_t at,
		     size_t seq_len)
{
	if (!v->ino || v->deleted)
		return;
	if (memo->n == memo->cap) {
		size_t cap = memo->cap ? memo->cap * 2 : 16;
		struct scan_memo *n = realloc(memo->v, cap * sizeof(*n));
		if (!n)
			return;	/* just not remembered */
		memo->v = n;
		memo->cap = cap;
	}
	memo->v[memo->n++] = (struct scan_memo){ v->dev_major, v->dev_minor, v->ino, v->pgoff,
					      v->end - v->start, at, seq_len };
}

/* scan_vma, through the memo. */
static bool scan_vma_memo(struct sigreturn_memo *memo, int fd, const struct proc_vma *v,
			  unsigned char *buf, uint64_t *budget, struct sigreturn_gadget *g)
{
	struct scan_memo *m = memo_find(memo, v);
	if (m && m->at < 0) {
		*budget -= MIN(*budget, v->end - v->start);
		return false;
	}
	if (m) {
		unsigned char code[sizeof(seq_movq)];
		uint64_t ip = v->start + m->at;
		if (pread(fd, code, m->seq_len, ip) == (ssize_t)m->seq_len &&
		    scan_chunk(code, m->seq_len, ip, g) && g->ip == ip)
			return true;
		/* not there in this process: search it the long way */
	}
	uint64_t before = *budget;
	bool found = scan_vma(fd, v, buf, budget, g);
	/* a search the budget cut short proves nothing */
	if (!m && (found || *budget || before - *budget >= v->end - v->start))
		memo_add(memo, v, found ? (int64_t)(g->ip - v->start) : -1, found ? g->end - g->ip : 0);
	return found;
}

static bool vma_is_code(const struct proc_vma *v)
{
	return (v->prot & PROT_EXEC) && !v->vm_io && !v->vm_pfnmap &&
	       !(v->path && !strcmp(v->path, "[vsyscall]"));
}

int remote_find_sigreturn(pid_t pid, const struct proc_maps *maps, struct sigreturn_memo *memo,
			  struct sigreturn_gadget *g)
{
	char path[64];
	uint64_t budget = SCAN_LIMIT;
	bool found = false;
	memset(g, 0, sizeof(*g));
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unsigned char *buf = xmalloc(SCAN_CHUNK);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	/* the C library's restorer first: small, and nearly always there */
	for (int pass = 0; pass < 2 && !found; pass++)
		for (int i = 0; i < maps->n && !found; i++) {
			const struct proc_vma *v = &maps->v[i];
			bool libc = v->path && strstr(v->path, "/libc");
			if (vma_is_code(v) && libc == !pass)
				found = scan_vma_memo(memo, fd, v, buf, &budget, g);
		}
	free(buf);
	close(fd);
	if (found)
		pr_debug("process %d: rt_sigreturn sequence at %#llx", pid, (unsigned long long)g->ip);
	return found ? 0 : -ENOENT;
}

/* A `syscall` instruction (0f 05) for the unguarded way: the vDSO's, or,
 * in a task that unmapped its vDSO, the first in its code (libc's first).
 * Any such byte pair will do, even inside a longer instruction: the thread
 * is started right on it and stopped at the call's exit. */
int remote_find_syscall(pid_t pid, const struct proc_maps *maps, uint64_t *ip)
{
	static const unsigned char insn[] = { 0x0f, 0x05 };
	char path[64];
	uint64_t budget = SCAN_LIMIT;
	*ip = 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unsigned char *buf = xmalloc(SCAN_CHUNK);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 3 && !*ip; pass++)
		for (int i = 0; i < maps->n && !*ip && budget; i++) {
			const struct proc_vma *v = &maps->v[i];
			bool vdso = v->path && !strcmp(v->path, "[vdso]");
			bool libc = v->path && strstr(v->path, "/libc");
			if (!vma_is_code(v) || (pass == 0 && !vdso) || (pass == 1 && !libc) ||
			    (pass == 2 && (vdso || libc)))
				continue;
			for (uint64_t a = v->start; a < v->end && budget;) {
				size_t n = MIN((uint64_t)SCAN_CHUNK, v->end - a);
				ssize_t got = pread(fd, buf, n, a);
				if (got <= 0)
					break;
				const unsigned char *hit = memmem(buf, got, insn, sizeof(insn));
				if (hit) {
					*ip = a + (hit - buf);
					break;
				}
				budget -= MIN(budget, (uint64_t)got);
				if (got <= 1 || a + got >= v->end)
					break;
				a += got - 1;
			}
		}
	free(buf);
	close(fd);
	if (*ip)
		pr_debug("process %d: syscall instruction at %#llx", pid, (unsigned long long)*ip);
	return *ip ? 0 : -ENOENT;
}

int remote_dump_begin(struct remote *r, pid_t tid, const struct user_regs_struct *regs,
		      uint64_t sigmask, const void *xsave, size_t xsave_len,
		      const struct sigreturn_gadget *g, uint64_t syscall_ip)
{
	uint64_t all = ~0ULL;
	int ret;

	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->two_stop = true;
	r->base = *regs;
	r->orig_regs = *regs;
	r->orig_mask = sigmask;
	r->mem_fd = remote_open_mem(tid);
	if (r->mem_fd < 0)
		return r->mem_fd;
	if (!g) {
		if (!syscall_ip) {
			pr_err("task %d: no syscall instruction in its code (nor a vDSO): cryo needs "
			       "one to query the task's state without injecting code", tid);
			return -EOPNOTSUPP;
		}
		r->syscall_ip = syscall_ip;
	}

	/* Stack below the red zone, from the top: the calls' data, then (if
	 * guarded) the frame with its XSAVE area.  rsp points into the frame
	 * while guarded, so a signal frame the kernel might push (below rsp
	 * and its red zone) cannot overwrite it. */
	uint64_t top = (regs->rsp - RED_ZONE) & ~63ULL;
	uint64_t data = top - DUMP_DATA;
	size_t frame_len = g ? arch_sigframe_size(xsave_len) : 0;
	uint64_t frame = (data - frame_len) & ~63ULL;
	r->scratch = data;
	r->scratch_size = DUMP_DATA;
	r->saved_addr = frame;
	r->saved_len = top - frame;
	r->saved = xmalloc(r->saved_len);
	if (!r->saved)
		return -ENOMEM;
	ret = remote_read(r, r->saved_addr, r->saved, r->saved_len);
	if (ret) {
		free(r->saved);
		r->saved = NULL;
		return ret;
	}

	if (g) {
		void *buf = xmalloc(frame_len);
		if (!buf)
			return -ENOMEM;
		ret = arch_build_sigframe(buf, frame, regs, sigmask, xsave, xsave_len, &r->guard_sp);
		if (!ret)
			ret = remote_write(r, frame, buf, frame_len);
		free(buf);
		if (ret)
			return ret;
		/* Armed from here on: the thread, if let go, runs rt_sigreturn
		 * on the frame.  Registers first, then the mask -- never a
		 * moment with all signals blocked and its own code to run. */
		struct user_regs_struct arm = *regs;
		arm.rip = g->ip;
		arm.rsp = r->guard_sp;
		arm.orig_rax = -1;	/* no syscall restart on the way out */
		r->regs_changed = true;
		if (ptrace(PTRACE_SETREGS, tid, 0, &arm))
			return_perror("PTRACE_SETREGS of task %d failed", tid);
		r->sigreturn_ip = g->ip;
		r->sigreturn_end = g->end;
		r->syscall_ip = g->end - 2;
	}
	/* No signal may be delivered (and lost to the image) meanwhile. */
	r->mask_changed = true;
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(all), &all))
		return_perror("PTRACE_SETSIGMASK of task %d failed", tid);
	return 0;
}

int remote_dump_end(struct remote *r)
{
	int ret = 0;
	/* Mask first: should cryo die right after it, the guard still puts the
	 * registers back. */
	if (r->mask_changed &&
	    ptrace(PTRACE_SETSIGMASK, r->tid, sizeof(r->orig_mask), &r->orig_mask) &&
	    errno != ESRCH) {
		ret = -errno;
		pr_perror("can't restore the signal mask of task %d", r->tid);
	}
	/* The unguarded way changes the registers with every call.  orig_rax
	 * -1: the thread may sit at a syscall-entry stop (a failed call), where
	 * any other number would be run; the restart it could ask for on the
	 * way out is already in the registers (arch_fixup_syscall_restart). */
	struct user_regs_struct regs = r->orig_regs;
	regs.orig_rax = -1;
	if ((r->regs_changed || !r->sigreturn_ip) &&
	    ptrace(PTRACE_SETREGS, r->tid, 0, &regs) && errno != ESRCH) {
		ret = ret ? ret : -errno;
		pr_perror("can't restore the registers of task %d", r->tid);
	}
	if (r->saved) {
		/* below the red zone: not the program's state, but keep it */
		int r2 = remote_write(r, r->saved_addr, r->saved, r->saved_len);
		ret = ret ? ret : r2;
		free(r->saved);
		r->saved = NULL;
	}
	r->sigreturn_ip = 0;
	r->mask_changed = r->regs_changed = false;
	remote_fini(r);
	return ret;
}
