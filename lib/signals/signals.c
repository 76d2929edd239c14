/* Pending signals: the shared queue of a process (signals_s in its
 * task_core_entry) and the private queue of each thread (signals_p in its
 * thread_core_entry), each a list of raw 128-byte siginfo_t in queue order.
 *
 * Dump: PTRACE_PEEKSIGINFO (with PTRACE_PEEKSIGINFO_SHARED for the shared
 * queue) copies the queued siginfos without dequeuing them, so a dump with
 * --leave-running leaves them pending.  A signal can also be pending with no
 * queue entry (the kernel sets only the bit when it cannot allocate one, e.g.
 * over RLIMIT_SIGPENDING); such a signal is found in SigPnd/ShdPnd of
 * /proc/PID/task/TID/status and saved as the siginfo the kernel would deliver
 * for it (SI_USER, si_pid 0, si_uid 0).
 *
 * Restore: the new task queues each siginfo to itself, in order, with
 * rt_sigqueueinfo (shared) or rt_tgsigqueueinfo (private), while every signal
 * is blocked.  A task may send itself a siginfo with any si_code, so the
 * siginfo arrives exactly as it was dumped.  Timers are armed after the
 * leader's queues are filled (timers.c). */
#include "signals/signals.h"
#include "signals/signals-int.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "siginfo.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SIGINFO_SIZE 128	/* sizeof(siginfo_t) on x86_64: the image's blob size */
#define SIG_MAX 64
#define SIGBIT(sig) (1ULL << ((sig) - 1))
#define PEEK_BATCH 32
#define QUEUE_BATCH 256		/* siginfos per remote batch (scratch: 32 KiB) */

_Static_assert(sizeof(siginfo_t) == SIGINFO_SIZE, "siginfo_t is not 128 bytes");

static const char *queue_name(bool shared)
{
	return shared ? "shared" : "per-thread";
}

/* SigPnd (private) or ShdPnd (shared) of /proc/PID/task/TID/status. */
static int read_pending_mask(pid_t pid, pid_t tid, bool shared, uint64_t *mask)
{
	const char *key = shared ? "ShdPnd:" : "SigPnd:";
	char path[64], *buf, *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	n = read_file(AT_FDCWD, path, &buf, false);
	if (n < 0)
		return (int)n;
	p = strstr(buf, key);
	if (!p || sscanf(p + strlen(key), "%lx", mask) != 1) {
		pr_err("%s has no readable %s line: can't tell which signals of task %d are pending",
		       path, key, tid);
		free(buf);
		return -EINVAL;
	}
	free(buf);
	return 0;
}

static int queue_append(SignalQueueEntry *q, const void *si)
{
	SiginfoEntry **v = xrealloc(q->signals, (q->n_signals + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	q->signals = v;
	SiginfoEntry *e = xmalloc(sizeof(*e));
	void *data = xmalloc(SIGINFO_SIZE);
	if (!e || !data) {
		free(e);
		free(data);
		return -ENOMEM;
	}
	siginfo_entry__init(e);
	memcpy(data, si, SIGINFO_SIZE);
	e->has_siginfo = 1;
	e->siginfo.len = SIGINFO_SIZE;
	e->siginfo.data = data;
	q->signals[q->n_signals++] = e;
	return 0;
}

/* Copy one pending queue of @tid (without dequeuing anything). */
static int dump_queue(pid_t pid, pid_t tid, bool shared, SignalQueueEntry **out)
{
	siginfo_t buf[PEEK_BATCH];
	uint64_t mask, queued = 0;
	SignalQueueEntry *q;
	int ret;

	*out = NULL;
	/* The mask first: the task is stopped, so anything pending now is
	 * still queued when we peek (new signals only add entries). */
	ret = read_pending_mask(pid, tid, shared, &mask);
	if (ret)
		return ret;
	q = xmalloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	signal_queue_entry__init(q);

	for (uint64_t off = 0;;) {
		struct __ptrace_peeksiginfo_args a = {
			.off = off,
			.flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
			.nr = PEEK_BATCH,
		};
		long n = ptrace(PTRACE_PEEKSIGINFO, tid, &a, buf);
		if (n < 0) {
			ret = -errno;
			pr_perror("PTRACE_PEEKSIGINFO of the %s signal queue of task %d failed",
				  queue_name(shared), tid);
			goto err;
		}
		if (n == 0)
			break;
		for (long i = 0; i < n; i++) {
			int sig = buf[i].si_signo;
			if (sig < 1 || sig > SIG_MAX) {
				pr_err("the %s signal queue of task %d holds signal %d, which is not a signal number",
				       queue_name(shared), tid, sig);
				ret = -EINVAL;
				goto err;
			}
			queued |= SIGBIT(sig);
			if (sig == SIGTRAP) {
				pr_err("task %d has a pending SIGTRAP (si_code %d) in its %s queue: cryo can't restore it "
				       "(its restore trampoline stops on int3, which unblocks and consumes SIGTRAP); "
				       "let the task handle it and dump again",
				       tid, buf[i].si_code, queue_name(shared));
				ret = -EOPNOTSUPP;
				goto err;
			}
			if (sig == SIGKILL || sig == SIGSTOP) {
				/* SIGKILL: the task is dying anyway; SIGSTOP is the
				 * stopped state, which the task state carries. */
				pr_info("task %d: pending %s is not saved", tid, strsignal(sig));
				continue;
			}
			ret = queue_append(q, &buf[i]);
			if (ret)
				goto err;
		}
		off += n;
	}

	/* Pending without a queue entry: delivered as SI_USER from pid 0. */
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		uint64_t bit = SIGBIT(sig);
		if (!(mask & bit) || (queued & bit) || sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sig == SIGTRAP) {
			pr_err("task %d has a pending SIGTRAP in its %s queue: cryo can't restore it "
			       "(its restore trampoline stops on int3, which unblocks and consumes SIGTRAP); "
			       "let the task handle it and dump again", tid, queue_name(shared));
			ret = -EOPNOTSUPP;
			goto err;
		}
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		si.si_signo = sig;
		si.si_code = SI_USER;
		pr_debug("task %d: %s signal %d pending without siginfo", tid, queue_name(shared), sig);
		ret = queue_append(q, &si);
		if (ret)
			goto err;
	}

	pr_debug("task %d: %zu %s pending signal(s)", tid, q->n_signals, queue_name(shared));
	if (!q->n_signals) {
		signal_queue_entry__free_unpacked(q, NULL);
		return 0;
	}
	*out = q;
	return 0;
err:
	signal_queue_entry__free_unpacked(q, NULL);
	return ret;
}

int signals_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc)
{
	int ret = dump_queue(pid, pid, true, &tc->signals_s);
	if (ret)
		return ret;
	return timers_dump(r, pid, tc);
}

int signals_dump_thread(struct remote *r, pid_t pid, pid_t tid, ThreadCoreEntry *tce)
{
	(void)r;
	return dump_queue(pid, tid, false, &tce->signals_p);
}

/* Queue every siginfo of @q in the task @r drives (which is @tid), in order. */
static int restore_queue(struct remote *r, pid_t pid, pid_t tid, bool shared,
			 const SignalQueueEntry *q)
{
	struct remote_batch *b;
	size_t i = 0;
	int ret = 0;

	if (!q || !q->n_signals)
		return 0;
	/* @tid is the TID the task knows (another than cryo's r->tid in a PID
	 * namespace of the tree's own): ask the task who it is */
	long self = remote_call(r, "gettid", __NR_gettid, 0, 0, 0, 0);
	if (self < 0)
		return (int)self;
	if (self != tid) {
		pr_err("pending signals of thread %d can only be queued by the thread itself (driving %ld)",
		       tid, self);
		return -EINVAL;
	}
	/* Every signal must be blocked while we queue, or the first one we
	 * queue is delivered at once.  The new task blocks them itself, but it
	 * may have been stopped before it got that far: make sure.  SIGKILL
	 * and SIGSTOP can't be blocked.  SIGTRAP stays unblocked: the
	 * trampoline stops on int3, and the kernel resets the handler of a
	 * blocked SIGTRAP it forces (the restored handler would be lost); it
	 * also unblocks it, which is why a pending SIGTRAP is refused. */
	uint64_t mask, all = ~0ULL, want = ~SIGBIT(SIGTRAP);
	const uint64_t unblockable = SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) | SIGBIT(SIGTRAP);
	if (ptrace(PTRACE_GETSIGMASK, r->tid, sizeof(mask), &mask))
		return_perror("PTRACE_GETSIGMASK of restored task %d failed", tid);
	if ((mask | unblockable) != all) {
		pr_debug("task %d: blocking all signals but SIGTRAP (mask was %016lx)", tid, mask);
		if (ptrace(PTRACE_SETSIGMASK, r->tid, sizeof(want), &want))
			return_perror("PTRACE_SETSIGMASK of restored task %d failed", tid);
	}
	/* Validate everything before queueing anything. */
	for (i = 0; i < q->n_signals; i++) {
		const SiginfoEntry *e = q->signals[i];
		if (!e->has_siginfo || e->siginfo.len != SIGINFO_SIZE) {
			pr_err("image: %s pending signal %zu of task %d has a %zu-byte siginfo, expected %d",
			       queue_name(shared), i, tid, e->has_siginfo ? e->siginfo.len : 0,
			       SIGINFO_SIZE);
			return -EINVAL;
		}
		int sig;
		memcpy(&sig, e->siginfo.data, sizeof(sig));
		if (sig < 1 || sig > SIG_MAX) {
			pr_err("image: %s pending signal %zu of task %d has signal number %d",
			       queue_name(shared), i, tid, sig);
			return -EINVAL;
		}
		if (sig == SIGTRAP) {
			pr_err("image: task %d has a pending SIGTRAP, which cryo can't restore "
			       "(its restore trampoline stops on int3, which unblocks and consumes SIGTRAP)",
			       tid);
			return -EOPNOTSUPP;
		}
	}

	b = xzalloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (i = 0; i < q->n_signals && !ret;) {
		remote_scratch_reset(r);
		b->n = 0;
		size_t idx[QUEUE_BATCH];
		for (; i < q->n_signals && b->n < QUEUE_BATCH; i++) {
			const SiginfoEntry *e = q->signals[i];
			int sig;
			memcpy(&sig, e->siginfo.data, sizeof(sig));
			if (sig == SIGKILL || sig == SIGSTOP) {
				pr_warn("task %d: pending %s in the image is not queued", tid,
					strsignal(sig));
				continue;
			}
			uint64_t a = remote_scratch_put(r, e->siginfo.data, SIGINFO_SIZE);
			if (!a) {
				ret = -ENOSPC;
				break;
			}
			idx[b->n] = i;
			if (shared)
				b->calls[b->n++] = (struct remote_call){
					__NR_rt_sigqueueinfo, { pid, sig, a, 0, 0, 0 }, 0 };
			else
				b->calls[b->n++] = (struct remote_call){
					__NR_rt_tgsigqueueinfo, { pid, tid, sig, a, 0, 0 }, 0 };
		}
		if (ret)
			break;
		int done = remote_batch_run(r, b);
		if (done < 0) {
			ret = done;
		} else if (done < b->n) {
			int err = (int)-b->calls[done].ret;
			pr_err("queueing %s pending signal %d (%zu of %zu) in restored task %d failed: %s%s",
			       queue_name(shared), (int)b->calls[done].a[shared ? 1 : 2],
			       idx[done] + 1, q->n_signals, tid, strerror(err),
			       err == EAGAIN ? " (the user's RLIMIT_SIGPENDING is reached)" : "");
			ret = -err;
		}
	}
	remote_scratch_reset(r);
	free(b);
	if (!ret)
		pr_debug("task %d: %zu %s pending signal(s) queued", tid, q->n_signals,
			 queue_name(shared));
	return ret;
}

int signals_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc)
{
	int ret = restore_queue(r, pid, pid, true, tc->signals_s);
	if (ret)
		return ret;
	return timers_restore_create(r, pid, tc);
}

int signals_restore_thread(struct remote *r, pid_t pid, pid_t tid, const ThreadCoreEntry *tce)
{
	return restore_queue(r, pid, tid, false, tce ? tce->signals_p : NULL);
}
