/* rseq: the thread's registration (read from outside with
 * PTRACE_GET_RSEQ_CONFIGURATION, made again in the restored thread with
 * rseq()), and a critical section the thread is stopped in. */
#include "task/task-int.h"
#include "restore/restore.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include "rseq.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat/uapi-extra.h"

static int read_mem(pid_t tid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, len, addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* A thread stopped inside an rseq critical section is aborted by the
 * kernel on its next return to user space (the preemption that stopped it
 * flagged it) -- but the syscalls the dump runs in it return to user space
 * outside the section first, and that clears rseq_cs without an abort: the
 * thread would then go on inside a section that is no longer guarded, in
 * the image and, with --leave-running, live.  So do what the kernel would
 * have done: resume at the abort handler (after checking the signature
 * before it, as the kernel does).  Must run before anything is injected. */
int task_rseq_abort(pid_t tid, uint64_t *cs_ptr, struct user_regs_struct *live,
		    struct user_regs_struct *image)
{
	struct __ptrace_rseq_configuration rc;
	struct {
		uint32_t version, flags;
		uint64_t start_ip, post_commit_offset, abort_ip;
	} cs;
	*cs_ptr = 0;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rc), &rc) != sizeof(rc) ||
	    !rc.rseq_abi_pointer || rc.rseq_abi_size < 16 ||
	    read_mem(tid, rc.rseq_abi_pointer + 8, cs_ptr, sizeof(*cs_ptr)) || !*cs_ptr)
		return 0;
	if (read_mem(tid, *cs_ptr, &cs, sizeof(cs)))
		return 0;	/* the kernel would kill it at its next resume, not us */
	if (live->rip < cs.start_ip || live->rip - cs.start_ip >= cs.post_commit_offset)
		return 0;
	uint32_t sig;
	if (read_mem(tid, cs.abort_ip - 4, &sig, sizeof(sig)) || sig != rc.signature) {
		pr_err("thread %d is inside an rseq critical section whose abort handler at %#llx "
		       "lacks the registered signature: the kernel will kill it; not dumped",
		       tid, (unsigned long long)cs.abort_ip);
		return -EINVAL;
	}
	pr_debug("thread %d: inside an rseq critical section at %#llx, resumes at its abort "
		 "handler %#llx", tid, (unsigned long long)live->rip,
		 (unsigned long long)cs.abort_ip);
	live->rip = image->rip = cs.abort_ip;
	return 0;
}

static int rseq_dump(struct task_dump *d)
{
	ThreadCoreEntry *tce = d->core->thread_core;
	struct __ptrace_rseq_configuration rc;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, d->t->tid, sizeof(rc), &rc) != sizeof(rc) ||
	    !rc.rseq_abi_pointer)
		return 0;
	RseqEntry *re = xmalloc(sizeof(*re));
	if (!re)
		return -ENOMEM;
	rseq_entry__init(re);
	tce->rseq_entry = re;
	re->has_rseq_abi_pointer = re->has_rseq_abi_size = re->has_signature = 1;
	re->rseq_abi_pointer = rc.rseq_abi_pointer;
	re->rseq_abi_size = rc.rseq_abi_size;
	re->signature = rc.signature;
	if (d->rseq_cs) {
		re->has_rseq_cs_pointer = 1;
		re->rseq_cs_pointer = d->rseq_cs;
	}
	return 0;
}

static int rseq_restore(const struct task_rst *tr)
{
	const RseqEntry *re = tr->t->core->thread_core->rseq_entry;
	if (!re || !re->rseq_abi_pointer)
		return 0;
	long ret = remote_call(tr->r, "rseq registration", __NR_rseq, re->rseq_abi_pointer,
			       re->rseq_abi_size, 0, re->signature);
	return ret ? (ret < 0 ? ret : -EIO) : 0;
}

const struct task_item task_item_rseq = {
	"rseq", TASK_THREAD, TASK_PH_THREAD, rseq_dump, rseq_restore,
};
