#include "seize/remote.h"
#include "seize/seize.h"
#include "util/fault.h"
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char cryo_gadget[], cryo_tramp_start[], cryo_tramp_end[];

#define REMOTE_STOP_TIMEOUT_MS 10000
#define RESTORE_STOP_TIMEOUT_MS 600000
#define BATCH_OFFSET 16		/* batch loop offset in trampoline.S */
int remote_open_mem(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open %s", path);
	return fd;
}

int remote_read(struct remote *r, uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(r->mem_fd, buf, len, addr);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EFAULT;
		pr_err("can't read %zu bytes at 0x%llx in task %d: %s", len,
		       (unsigned long long)addr, r->tid, strerror(e));
		return -e;
	}
	return 0;
}

int remote_write(struct remote *r, uint64_t addr, const void *buf, size_t len)
{
	ssize_t n = pwrite(r->mem_fd, buf, len, addr);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EFAULT;
		pr_err("can't write %zu bytes at 0x%llx in task %d: %s", len,
		       (unsigned long long)addr, r->tid, strerror(e));
		return -e;
	}
	return 0;
}

int remote_init_gadget(struct remote *r, pid_t tid)
{
	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->mem_fd = remote_open_mem(tid);
	if (r->mem_fd < 0)
		return r->mem_fd;
	if (ptrace(PTRACE_GETREGS, tid, 0, &r->base)) {
		int e = errno;
		pr_perror("PTRACE_GETREGS of new task %d failed", tid);
		close(r->mem_fd);
		return -e;
	}
	r->syscall_ip = (uint64_t)cryo_gadget;
	/* Our own new task: a batch may fill gigabytes, limited by memory
	 * bandwidth, not by anything that could hang. */
	r->timeout_ms = RESTORE_STOP_TIMEOUT_MS;
	return 0;
}

int remote_init_sibling(struct remote *r, const struct remote *from, pid_t tid)
{
	*r = *from;
	r->tid = tid;
	r->new_child = 0;
	r->mem_fd = remote_open_mem(tid);
	if (r->mem_fd < 0)
		return r->mem_fd;
	if (ptrace(PTRACE_GETREGS, tid, 0, &r->base)) {
		int e = errno;
		pr_perror("PTRACE_GETREGS of new task %d failed", tid);
		close(r->mem_fd);
		r->mem_fd = -1;
		return -e;
	}
	return 0;
}

int remote_syscall_noreturn(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct user_regs_struct regs = r->base;
	int status;
	regs.rip = r->syscall_ip;
	regs.rax = nr;
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.orig_rax = -1;
	if (ptrace(PTRACE_SETREGS, r->tid, 0, &regs))
		return_perror("PTRACE_SETREGS of task %d failed", r->tid);
	if (ptrace(PTRACE_CONT, r->tid, 0, 0))
		return_perror("can't resume task %d", r->tid);
	for (;;) {
		if (waitpid(r->tid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return_perror("waitpid(%d) failed", r->tid);
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return 0;
		/* a signal-delivery stop (kill of oneself) must pass the signal on */
		int sig = (WIFSTOPPED(status) && !(status >> 16)) ? WSTOPSIG(status) : 0;
		if (ptrace(PTRACE_CONT, r->tid, 0, sig) && errno != ESRCH)
			return_perror("can't resume exiting task %d", r->tid);
	}
}

void remote_fini(struct remote *r)
{
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	r->mem_fd = -1;
}

uint64_t remote_scratch_alloc(struct remote *r, size_t len)
{
	size_t off = ROUND_UP(r->scratch_used, 16);
	if (off + len > r->scratch_size) {
		pr_err("scratch area of task %d exhausted (%zu + %zu > %zu bytes)", r->tid, off,
		       len, r->scratch_size);
		return 0;
	}
	r->scratch_used = off + len;
	return r->scratch + off;
}

uint64_t remote_scratch_put(struct remote *r, const void *data, size_t len)
{
	uint64_t a = remote_scratch_alloc(r, len);
	if (a && remote_write(r, a, data, len))
		return 0;
	return a;
}

void remote_scratch_reset(struct remote *r)
{
	r->scratch_used = 0;
}

/* Resume with @req and wait for the next stop; returns 0 or -errno. */
static int resume_wait(struct remote *r, int req, int *status)
{
	if (ptrace(req, r->tid, 0, 0))
		return_perror("can't resume task %d", r->tid);
	int ret = ptrace_wait_stop(r->tid, status, r->timeout_ms ? r->timeout_ms : REMOTE_STOP_TIMEOUT_MS);
	if (ret)
		return ret;
	if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
		pr_err("task %d died while cryo was running a system call in it (%s %d)", r->tid,
		       WIFEXITED(*status) ? "exit code" : "signal",
		       WIFEXITED(*status) ? WEXITSTATUS(*status) : WTERMSIG(*status));
		return -ECHILD;
	}
	return 0;
}

/* PTRACE_SYSCALL and wait for a syscall stop, passing over the trap that
 * reports the end of a group stop (PTRACE_EVENT_STOP after SIGCONT). */
static int syscall_step(struct remote *r, int *status)
{
	for (int i = 0; i < 8; i++) {
		int ret = resume_wait(r, PTRACE_SYSCALL, status);
		if (ret)
			return ret;
		if (!(WIFSTOPPED(*status) && (*status >> 16) == PTRACE_EVENT_STOP))
			return 0;
	}
	return 0;
}

static int expect_syscall_stop(struct remote *r, int status, const char *what)
{
	if (WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80))
		return 0;
	pr_err("task %d: unexpected stop (status 0x%x) while waiting for syscall %s", r->tid,
	       status, what);
	return -EIO;
}

/* One call under the guard (remote.h): the thread sits at the guard's
 * rt_sigreturn sequence.  Let it enter rt_sigreturn, then swap our call in
 * at the entry stop, returning to the sequence again. */
static int run_guarded(struct remote *r, struct user_regs_struct *regs)
{
	struct user_regs_struct cur;
	int status;
	int ret = syscall_step(r, &status);
	if (!ret)
		ret = expect_syscall_stop(r, status, "entry");
	if (ret)
		return ret;
	if (ptrace(PTRACE_GETREGS, r->tid, 0, &cur))
		return_perror("PTRACE_GETREGS of task %d failed", r->tid);
	if (cur.orig_rax != __NR_rt_sigreturn || cur.rip != r->sigreturn_end) {
		pr_err("task %d entered system call %lld at %#llx, not the rt_sigreturn at %#llx "
		       "cryo set up", r->tid, (long long)cur.orig_rax, (unsigned long long)cur.rip,
		       (unsigned long long)r->sigreturn_end);
		return -EIO;
	}
	/* The kernel takes the number (orig_rax) and arguments from the
	 * registers after the entry stop; rip is where the call returns to. */
	cur.orig_rax = regs->rax;
	cur.rdi = regs->rdi;
	cur.rsi = regs->rsi;
	cur.rdx = regs->rdx;
	cur.r10 = regs->r10;
	cur.r8 = regs->r8;
	cur.r9 = regs->r9;
	cur.rip = r->sigreturn_ip;
	cur.rsp = r->guard_sp;
	if (ptrace(PTRACE_SETREGS, r->tid, 0, &cur))
		return_perror("PTRACE_SETREGS of task %d failed", r->tid);
	FAULT_POINT("dump:inject-entry");
	ret = syscall_step(r, &status);
	if (!ret)
		ret = expect_syscall_stop(r, status, "exit");
	if (ret)
		return ret;
	if (ptrace(PTRACE_GETREGS, r->tid, 0, regs))
		return_perror("PTRACE_GETREGS of task %d failed", r->tid);
	FAULT_POINT("dump:inject-exit");
	return 0;
}

static int run_regs(struct remote *r, struct user_regs_struct *regs)
{
	int status, ret;
	if (r->sigreturn_ip)
		return run_guarded(r, regs);
	/* orig_rax = -1: no syscall-restart processing when the task resumes. */
	regs->orig_rax = -1;
	if (ptrace(PTRACE_SETREGS, r->tid, 0, regs))
		return_perror("PTRACE_SETREGS of task %d failed", r->tid);
	if (r->two_stop) {
		ret = syscall_step(r, &status);
		if (!ret)
			ret = expect_syscall_stop(r, status, "entry");
		if (!ret)
			ret = syscall_step(r, &status);
		if (!ret)
			ret = expect_syscall_stop(r, status, "exit");
	} else {
		r->new_child = 0;
		ret = resume_wait(r, PTRACE_CONT, &status);
		/* A fork/clone run here stops first at its ptrace event: note the
		 * new task and go on to the int3. */
		while (!ret && WIFSTOPPED(status) &&
		       ((status >> 16) == PTRACE_EVENT_FORK || (status >> 16) == PTRACE_EVENT_CLONE ||
			(status >> 16) == PTRACE_EVENT_VFORK)) {
			unsigned long msg = 0;
			if (ptrace(PTRACE_GETEVENTMSG, r->tid, 0, &msg))
				return_perror("PTRACE_GETEVENTMSG of task %d failed", r->tid);
			r->new_child = msg;
			ret = resume_wait(r, PTRACE_CONT, &status);
		}
		if (!ret && !(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && !(status >> 16))) {
			pr_err("task %d: unexpected stop (status 0x%x) after a system call", r->tid,
			       status);
			ret = -EIO;
		}
	}
	if (ret)
		return ret;
	if (ptrace(PTRACE_GETREGS, r->tid, 0, regs))
		return_perror("PTRACE_GETREGS of task %d failed", r->tid);
	return 0;
}

long remote_syscall(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		    uint64_t a4, uint64_t a5, uint64_t a6)
{
	struct user_regs_struct regs = r->base;
	regs.rip = r->syscall_ip;
	regs.rax = nr;
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.r10 = a4;
	regs.r8 = a5;
	regs.r9 = a6;
	int ret = run_regs(r, &regs);
	if (ret)
		return ret;
	return (long)regs.rax;
}

int remote_batch_run(struct remote *r, struct remote_batch *b)
{
	if (!b->n)
		return 0;
	if (!r->batch_ip) {
		/* No trampoline: one stop per call. */
		for (int i = 0; i < b->n; i++) {
			struct remote_call *c = &b->calls[i];
			c->ret = remote_syscall(r, c->nr, c->a[0], c->a[1], c->a[2], c->a[3],
						c->a[4], c->a[5]);
			if (c->ret < 0 && c->ret >= -4095)
				return i;
		}
		return b->n;
	}
	size_t tsize = b->n * sizeof(struct remote_call);
	size_t saved_used = r->scratch_used;
	uint64_t table = remote_scratch_put(r, b->calls, tsize);
	if (!table)
		return -ENOSPC;
	struct user_regs_struct regs = r->base;
	regs.rip = r->batch_ip;
	regs.rbx = table;
	regs.r12 = b->n;
	int ret = run_regs(r, &regs);
	r->scratch_used = saved_used;
	if (ret)
		return ret;
	int done = (regs.rbx - table) / sizeof(struct remote_call);
	if (done < 0 || done > b->n) {
		pr_err("task %d: batch loop ended at an impossible position", r->tid);
		return -EIO;
	}
	ret = remote_read(r, table, b->calls, tsize);
	if (ret)
		return ret;
	return done;
}

int remote_batch_exec(struct remote *r, struct remote_batch *b, const char *what)
{
	int done = remote_batch_run(r, b);
	if (done < 0)
		return done;
	for (int i = 0; i < b->n; i++) {
		const struct remote_call *c = &b->calls[i];
		bool pread = c->nr == __NR_pread64;
		if (i < done && (!pread || (uint64_t)c->ret == c->a[2]))
			continue;
		/* for pread the address is the 2nd argument, else the 1st */
		pr_err("%s: system call %llu at 0x%llx (%llu bytes) in task %d failed: %s", what,
		       (unsigned long long)c->nr, (unsigned long long)c->a[pread],
		       (unsigned long long)c->a[pread + 1], r->tid,
		       c->ret < 0 ? strerror((int)-c->ret) : "short read: the image is truncated");
		return c->ret < 0 ? (int)c->ret : -EIO;
	}
	b->n = 0;
	return 0;
}

int remote_setup_trampoline(struct remote *r, uint64_t addr)
{
	long ret = remote_syscall(r, __NR_mmap, addr, TRAMPOLINE_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (ret != (long)addr) {
		pr_err("task %d: mmap of the trampoline at 0x%llx failed: %s", r->tid,
		       (unsigned long long)addr, ret < 0 ? strerror(-ret) : "wrong address");
		return ret < 0 ? ret : -EINVAL;
	}
	size_t len = cryo_tramp_end - cryo_tramp_start;
	int err = remote_write(r, addr, cryo_tramp_start, len);
	if (err)
		return err;
	ret = remote_syscall(r, __NR_mprotect, addr, PAGE_SIZE, PROT_READ | PROT_EXEC, 0, 0, 0);
	if (ret)
		return log_errno(ret, "task %d: mprotect of the trampoline failed", r->tid);
	r->syscall_ip = addr;
	r->batch_ip = addr + BATCH_OFFSET;
	r->scratch = addr + PAGE_SIZE;
	r->scratch_size = TRAMPOLINE_SIZE - PAGE_SIZE;
	r->scratch_used = 0;
	return 0;
}

long remote_call_v(struct remote *r, const char *what, const uint64_t a[7])
{
	long ret = remote_syscall(r, (long)a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
	if (ret < 0 && ret >= -4095)
		pr_err("%s in task %d failed: %s", what, r->tid, strerror((int)-ret));
	return ret;
}

long remote_syscall_noint3(struct remote *r, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
			   uint64_t a4, uint64_t a5, uint64_t a6)
{
	bool saved = r->two_stop;
	r->two_stop = true;
	long ret = remote_syscall(r, nr, a1, a2, a3, a4, a5, a6);
	r->two_stop = saved;
	return ret;
}

int remote_unmap_trampoline(struct remote *r, uint64_t addr, size_t len)
{
	struct user_regs_struct regs = r->base;
	bool saved = r->two_stop;
	regs.rip = r->syscall_ip;
	regs.rax = __NR_munmap;
	regs.rdi = addr;
	regs.rsi = len;
	/* Stop at syscall exit: the task must not execute the int3 that is gone. */
	r->two_stop = true;
	int ret = run_regs(r, &regs);
	r->two_stop = saved;
	if (ret)
		return ret;
	if ((long)regs.rax) {
		pr_err("task %d: munmap of the trampoline failed: %s", r->tid,
		       strerror(-(long)regs.rax));
		return regs.rax;
	}
	return 0;
}
