/* Process-wide settings only the task can report or make: the signal
 * actions and the personality. */
#include "task/task-int.h"
#include "restore/restore.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "sa.pb-c.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>

#define SIGMAX 64

struct kernel_sigaction {
	uint64_t handler, flags, restorer, mask;
};

/* ---- signal actions ------------------------------------------------------ */

static int sigactions_dump(struct task_dump *d)
{
	TaskCoreEntry *tc = d->core->tc;
	struct remote *r = d->r;
	uint64_t buf = remote_scratch_alloc(r, sizeof(struct kernel_sigaction));
	if (!buf)
		return -ENOSPC;
	tc->sigactions = xzalloc((SIGMAX - 2) * sizeof(SaEntry *));
	if (!tc->sigactions)
		return -ENOMEM;
	for (int sig = 1; sig <= SIGMAX; sig++) {
		struct kernel_sigaction ka;
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		long ret = remote_call(r, "rt_sigaction", __NR_rt_sigaction, sig, 0, buf, 8);
		if (ret)
			return ret < 0 ? ret : -EIO;
		ret = remote_read(r, buf, &ka, sizeof(ka));
		if (ret)
			return ret;
		SaEntry *sa = xmalloc(sizeof(*sa));
		if (!sa)
			return -ENOMEM;
		sa_entry__init(sa);
		sa->has_sigaction = sa->has_flags = sa->has_restorer = sa->has_mask = 1;
		sa->sigaction = ka.handler;
		sa->flags = ka.flags;
		sa->restorer = ka.restorer;
		sa->mask = ka.mask;
		tc->sigactions[tc->n_sigactions++] = sa;
	}
	return 0;
}

/* One batch.  An ignored SIGTRAP is left for the registers item (cpu.c):
 * each int3 stop from here on would reset it to SIG_DFL. */
static int sigactions_restore(const struct task_rst *tr)
{
	struct rst_proc *p = tr->p;
	struct remote *r = tr->r;
	const TaskCoreEntry *tc = p->core->tc;
	struct remote_batch *b = xzalloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	remote_scratch_reset(r);
	size_t k = 0;
	int ret = 0;
	for (int sig = 1; sig <= SIGMAX && k < tc->n_sigactions; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		const SaEntry *sa = tc->sigactions[k++];
		if (sig == SIGTRAP && sa->sigaction == (uint64_t)(uintptr_t)SIG_IGN) {
			p->sigtrap_ignored = true;
			p->sigtrap_sa = sa;
			continue;
		}
		uint64_t ka[4] = { sa->sigaction, sa->flags, sa->restorer, sa->mask };
		uint64_t a = remote_scratch_put(r, ka, sizeof(ka));
		if (!a) {
			ret = -ENOSPC;
			break;
		}
		b->calls[b->n++] = (struct remote_call){ __NR_rt_sigaction, { sig, a, 0, 8, 0, 0 }, 0 };
	}
	if (!ret)
		ret = remote_batch_exec(r, b, "restoring signal actions");
	free(b);
	return ret;
}

const struct task_item task_item_sigactions = {
	"signal actions", TASK_PROC, TASK_PH_PROC, sigactions_dump, sigactions_restore,
};

/* ---- personality ---------------------------------------------------------- */

static int personality_dump(struct task_dump *d)
{
	long lr = remote_call(d->r, "personality", __NR_personality, 0xffffffff);
	if (lr < 0)
		return lr;
	d->core->tc->personality = lr;
	return 0;
}

static int personality_restore(const struct task_rst *tr)
{
	uint32_t pers = tr->p->core->tc->personality;
	if (!pers)
		return 0;
	return remote_call(tr->r, "personality", __NR_personality, pers) < 0 ? -EINVAL : 0;
}

const struct task_item task_item_personality = {
	"personality", TASK_PROC, TASK_PH_PROC, personality_dump, personality_restore,
};
