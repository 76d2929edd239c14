/* Kernel objects processes can share without being threads of one group:
 * the memory (CLONE_VM), the descriptor table (CLONE_FILES), cwd/root/umask
 * (CLONE_FS) and the signal actions (CLONE_SIGHAND).  kcmp(2) tells which
 * processes share one; each object gets one id (criu's TaskKobjIdsEntry:
 * vm_id, files_id, fs_id, sighand_id), so sharers get the same.
 *
 * The restore recreates a shared table or fs_struct the way it is made:
 * clone3 with CLONE_FILES / CLONE_FS by the parent that holds it.  So the
 * dump refuses sharing that can't be made that way: a process sharing with
 * others but not with its parent, a root sharing with its parent outside
 * the tree, and any memory (or signal actions, which need CLONE_VM) shared
 * between processes.  Threads share all four with their leader unless one
 * called unshare(CLONE_FS) or unshare(CLONE_FILES): a thread's own cwd,
 * root and umask or descriptor table can't be recreated (cryo restores one
 * per process), so that is refused too. */
#include "dump/dump.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <linux/kcmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
	int type;
	const char *what, *flag;
} kinds[DUMP_KOBJ_KINDS] = {
	[DUMP_KOBJ_VM] = { KCMP_VM, "memory (address space)", "CLONE_VM" },
	[DUMP_KOBJ_FILES] = { KCMP_FILES, "descriptor table", "CLONE_FILES" },
	[DUMP_KOBJ_FS] = { KCMP_FS, "working directory, root and umask", "CLONE_FS" },
	[DUMP_KOBJ_SIGHAND] = { KCMP_SIGHAND, "signal actions", "CLONE_SIGHAND" },
};

struct kobj_seen {
	pid_t pid;
	uint32_t id;
};

static long kcmp(pid_t a, pid_t b, int type)
{
	return syscall(SYS_kcmp, a, b, type, 0, 0);
}

/* The id of @pid's object of kind @k: that of an earlier process sharing
 * it (*@with gets its PID), else a new one.  @seen is kept in kcmp's order
 * and searched by halves. */
static int kobj_id(struct dump_ctx *ctx, int k, struct kobj_seen **seen, int *n, pid_t pid,
		   uint32_t *id, pid_t *with)
{
	int lo = 0, hi = *n;
	*with = 0;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		long r = kcmp(pid, (*seen)[mid].pid, kinds[k].type);
		if (r < 0)
			return log_errno(-errno, "kcmp of the %s of processes %d and %d",
					 kinds[k].what, pid, (*seen)[mid].pid);
		if (r == 0) {
			*id = (*seen)[mid].id;
			*with = (*seen)[mid].pid;
			return 0;
		}
		if (r == 3) {
			/* no order known (kcmp without pointer ordering): one by one */
			for (int j = 0; j < *n; j++)
				if (kcmp(pid, (*seen)[j].pid, kinds[k].type) == 0) {
					*id = (*seen)[j].id;
					*with = (*seen)[j].pid;
					return 0;
				}
			lo = *n;
			break;
		}
		if (r == 1)
			hi = mid;	/* @pid's object sorts first */
		else
			lo = mid + 1;
	}
	struct kobj_seen *v = xrealloc(*seen, (*n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memmove(&v[lo + 1], &v[lo], (*n - lo) * sizeof(*v));
	v[lo] = (struct kobj_seen){ pid, ctx->next_kobj_id++ };
	*id = v[lo].id;
	(*n)++;
	*seen = v;
	return 0;
}

static int check_root(struct seized_proc *root)
{
	pid_t pp = root->ppid;
	if (pp <= 0)
		return 0;
	for (int k = 0; k < DUMP_KOBJ_KINDS; k++) {
		/* an error (a parent we may not inspect) says nothing */
		if (kcmp(root->pid, pp, kinds[k].type) != 0)
			continue;
		pr_err("process %d (%s), the root of the dump, shares its %s with its parent %d, "
		       "which is outside the dumped tree (%s): a restored copy could not share it; "
		       "dump the parent's tree instead", root->pid, root->comm, kinds[k].what, pp,
		       kinds[k].flag);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int check_threads(struct seized_proc *p)
{
	static const int kinds_thread[] = { DUMP_KOBJ_FS, DUMP_KOBJ_FILES };
	for (int i = 1; i < p->nr_threads; i++) {
		pid_t tid = p->threads[i].tid;
		for (size_t j = 0; j < ARRAY_SIZE(kinds_thread); j++) {
			int k = kinds_thread[j];
			long r = kcmp(p->pid, tid, kinds[k].type);
			if (r < 0 && errno == ESRCH)
				break;	/* the thread is exiting */
			if (r == 0)
				continue;
			if (r < 0)
				return log_errno(-errno, "kcmp of the %s of thread %d and its leader %d",
						 kinds[k].what, tid, p->pid);
			pr_err("thread %d of process %d (%s) has its own %s (unshare(%s) in a "
			       "thread): cryo restores one per process, so the thread would lose "
			       "it; dump once the thread has exited", tid, p->pid, p->comm,
			       kinds[k].what, kinds[k].flag);
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

int dump_share_ids(struct dump_ctx *ctx)
{
	struct seized_tree *t = &ctx->tree;
	struct kobj_seen *seen[DUMP_KOBJ_KINDS] = { 0 };
	int nseen[DUMP_KOBJ_KINDS] = { 0 };
	int ret = check_root(t->root);

	ctx->kobj = calloc(t->nr_procs, sizeof(*ctx->kobj));
	if (!ctx->kobj)
		ret = -ENOMEM;
	for (int i = 0; !ret && i < t->nr_procs; i++) {
		struct seized_proc *p = t->procs[i];
		struct dump_kobj_ids *ids = &ctx->kobj[i];
		if (p->state == TASK_DEAD)
			continue;
		ret = check_threads(p);
		for (int k = 0; !ret && k < DUMP_KOBJ_KINDS; k++) {
			pid_t with;
			ret = kobj_id(ctx, k, &seen[k], &nseen[k], p->pid, &ids->id[k], &with);
			if (ret || !with)
				continue;
			if (k == DUMP_KOBJ_VM || k == DUMP_KOBJ_SIGHAND) {
				pr_err("processes %d and %d (%s) share their %s (%s without "
				       "CLONE_THREAD, as a vfork child before its exec does): cryo "
				       "can't restore processes sharing it; dump once the child has "
				       "exec'ed or exited", with, p->pid, p->comm, kinds[k].what,
				       kinds[k].flag);
				ret = -EOPNOTSUPP;
				break;
			}
			const struct dump_kobj_ids *pids = dump_proc_kobj(ctx, p->parent);
			if (!pids || pids->id[k] != ids->id[k]) {
				pr_err("process %d (%s) shares its %s with process %d but not with its "
				       "parent %d: cryo recreates a shared %s only as a parent's %s "
				       "child makes it", p->pid, p->comm, kinds[k].what, with,
				       p->parent ? p->parent->pid : 0, kinds[k].what, kinds[k].flag);
				ret = -EOPNOTSUPP;
				break;
			}
			ids->shared_with_parent |= 1u << k;
			pr_info("process %d shares its %s with its parent %d", p->pid,
				kinds[k].what, p->parent->pid);
		}
	}
	for (int k = 0; k < DUMP_KOBJ_KINDS; k++)
		free(seen[k]);
	return ret;
}

const struct dump_kobj_ids *dump_proc_kobj(const struct dump_ctx *ctx, const struct seized_proc *p)
{
	for (int i = 0; p && ctx->kobj && i < ctx->tree.nr_procs; i++)
		if (ctx->tree.procs[i] == p)
			return &ctx->kobj[i];
	return NULL;
}
