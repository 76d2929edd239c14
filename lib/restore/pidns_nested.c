/* Nested PID namespaces and pid_for_children at restore (lib/ns/pid.c has
 * the design).
 *
 * Every process has a PID at each level from the tree's namespace to its
 * own (pstree.img ns_pid); clone3's set_tid takes them all, innermost
 * first, so a process is born with every one of them.  The init of a
 * nested namespace is cloned with CLONE_NEWPID (set_tid[0] == 1) by its
 * parent, whose pid_for_children is first made the namespace's parent; any
 * other process of a nested namespace is cloned by a parent whose
 * pid_for_children is that namespace.  A process changes its own
 * pid_for_children with setns(pidfd of a member, CLONE_NEWPID) -- a pidfd
 * names the member's active namespace; its own PID gets it back -- and,
 * for a namespace that had no init at the dump (unshare(CLONE_NEWPID) and
 * no fork since), with unshare(CLONE_NEWPID) once more.  Threads must be
 * born in their process's namespace (clone3 refuses CLONE_THREAD while
 * pid_for_children is another), so the dumped pid_for_children comes
 * back after them. */
#include "restore/restore.h"
#include "ns/ns.h"
#include "util/log.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>

int pidns_load_entry(struct rst_proc *p, const PstreeEntry *pe)
{
	size_t n = pe->n_ns_pid;
	p->nslv = 0;
	p->nspid[0] = p->vpid;
	p->nspgid[0] = p->pgid;
	p->nssid[0] = p->sid;
	for (int t = 0; t < p->nr_threads; t++)
		p->thr[t].nstid[0] = p->thr[t].vtid;
	p->pidns = pe->has_cryo_pidns ? pe->cryo_pidns : 0;
	p->kids_pidns = pe->has_cryo_pidns_for_children ? pe->cryo_pidns_for_children : 0;
	p->kids_unshare = pe->has_cryo_pidns_unshared && pe->cryo_pidns_unshared;
	if (n <= 1 && !pe->n_tids)
		return 0;
	const char *bad = NULL;
	if (n > PIDNS_LEVELS)
		bad = "more PID namespace levels than cryo restores";
	else if (pe->n_ns_pgid != n || pe->n_ns_sid != n)
		bad = "ns_pid, ns_pgid and ns_sid differ in length";
	else if (pe->ns_pid[0] != (uint32_t)p->vpid || pe->ns_pgid[0] != (uint32_t)p->pgid ||
		 pe->ns_sid[0] != (uint32_t)p->sid)
		bad = "ns_pid, ns_pgid or ns_sid does not start with pid, pgid, sid";
	else if (pe->n_tids != pe->n_threads && !(pe->n_threads == 0 && pe->n_tids == 1))
		bad = "tids and threads differ in length";
	else if (!pe->has_cryo_pidns)
		bad = "no cryo_pidns (nested namespace images of another tool)";
	for (size_t j = 0; !bad && j < n; j++)
		if (!pe->ns_pid[j] || pe->ns_pid[j] > INT32_MAX)
			bad = "a PID of 0 in ns_pid";
	for (size_t j = 0; !bad && j < pe->n_tids; j++) {
		const NsTid *nt = pe->tids[j];
		pid_t tid = pe->n_threads ? (pid_t)pe->threads[j] : p->vpid;
		if (nt->n_ns_tid != n || nt->ns_tid[0] != (uint32_t)tid) {
			bad = "a thread's tids do not match ns_pid's levels or its TID";
			break;
		}
		for (int t = 0; t < p->nr_threads; t++)
			if (p->thr[t].vtid == tid)
				for (size_t l = 0; l < n; l++)
					p->thr[t].nstid[l] = nt->ns_tid[l];
	}
	if (bad) {
		pr_err("pstree.img: process %d: %s: the image is damaged", p->vpid, bad);
		return -EINVAL;
	}
	p->nslv = n - 1;
	for (size_t l = 0; l < n; l++) {
		p->nspid[l] = pe->ns_pid[l];
		p->nspgid[l] = pe->ns_pgid[l];
		p->nssid[l] = pe->ns_sid[l];
	}
	return 0;
}

static bool is_nested_init(const struct rst_proc *p)
{
	return p->nslv > 0 && p->nspid[p->nslv] == 1;
}

int pidns_restore_plan(struct rst_ctx *ctx, const TaskKobjIdsEntry *root_ids)
{
	const TaskKobjIdsEntry *tree_ids = ctx->procs[0].core->ids;
	uint32_t tree = tree_ids && tree_ids->has_pid_ns_id ? tree_ids->pid_ns_id : 0;
	for (int i = 0; i < ctx->nr_procs; i++) {
		/* lib/ns checks a nested PID namespace as the tree's */
		TaskKobjIdsEntry nested;
		const TaskKobjIdsEntry *ids = ctx->procs[i].core->ids;
		if (ctx->procs[i].nslv && ids && tree_ids) {
			nested = *ids;
			nested.has_pid_ns_id = tree_ids->has_pid_ns_id;
			nested.pid_ns_id = tree_ids->pid_ns_id;
			ids = &nested;
		}
		int ret = ns_restore_check(root_ids, tree_ids, ids, ctx->procs[i].pid);
		if (ret)
			return ret;
	}
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		if (!p->nslv) {
			if (p->pidns && p->pidns != tree && tree) {
				pr_err("pstree.img: process %d is recorded in PID namespace %u, not the "
				       "tree's (%u), with one level: the image is damaged", p->vpid,
				       p->pidns, tree);
				return -EINVAL;
			}
			p->pidns = tree;
		} else if (p->pidns == tree || !p->pidns) {
			pr_err("pstree.img: process %d has %d PID namespace levels but is recorded in "
			       "the tree's namespace: the image is damaged", p->vpid, p->nslv + 1);
			return -EINVAL;
		}
		p->kids_now = p->pidns;
		if (!p->nslv)
			continue;
		int ret = pidns_restore_parent(ctx->dirfd, p->pidns, &p->pidns_parent);
		if (ret)
			return ret;
		/* the parent of the namespace has tasks one level up */
		const struct rst_proc *par = p->parent;
		if (!par || par->nslv > p->nslv || (par->nslv == p->nslv && par->pidns != p->pidns) ||
		    (par->nslv < p->nslv - 1)) {
			pr_err("process %d (PID %d in its nested namespace %u, %d levels below the "
			       "tree's) has parent %d %d levels below: cryo recreates a nested PID "
			       "namespace from a parent one level up, or its tasks from a parent inside",
			       p->vpid, p->nspid[p->nslv], p->pidns, p->nslv, par ? par->vpid : 0,
			       par ? par->nslv : -1);
			return -EOPNOTSUPP;
		}
		if (p->state == TASK_DEAD && !is_nested_init(p) && par->pidns != p->pidns &&
		    par->kids_pidns != p->pidns) {
			pr_err("zombie %d: its PID namespace %u is neither its parent's nor where its "
			       "parent's children are born: the images are inconsistent", p->vpid,
			       p->pidns);
			return -EINVAL;
		}
	}
	return 0;
}

/* A created, live process of namespace @ns, seen from @p (its PID at
 * @p's level; 0: none). */
static pid_t member_seen_by(struct rst_ctx *ctx, struct rst_proc *p, uint32_t ns)
{
	if (ns == p->pidns)
		return p->nspid[p->nslv];
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *m = &ctx->procs[i];
		if (m->created && !m->exited && m->pidns == ns && m->nslv >= p->nslv)
			return m->nspid[p->nslv];
	}
	return 0;
}

/* @p's pid_for_children becomes namespace @ns. */
static int set_kids_ns(struct rst_ctx *ctx, struct rst_proc *p, uint32_t ns)
{
	if (p->kids_now == ns)
		return 0;
	struct remote *r = &rst_leader(p)->r;
	pid_t m = member_seen_by(ctx, p, ns);
	if (!m) {
		pr_err("process %d: no process of PID namespace %u exists yet to make its children "
		       "be born there (cryo creates the tree parents first, in the dump's order)",
		       p->vpid, ns);
		return -EOPNOTSUPP;
	}
	long fd = remote_call(r, "pidfd_open", __NR_pidfd_open, m, 0, 0, 0);
	if (fd < 0)
		return -EIO;
	long ret = remote_syscall(r, __NR_setns, fd, CLONE_NEWPID, 0, 0, 0, 0);
	remote_call(r, "close", __NR_close, fd, 0, 0, 0);
	if (ret < 0) {
		pr_err("process %d: can't make its children be born in PID namespace %u (setns to "
		       "the one of %d, as it sees it): %s", p->vpid, ns, m, strerror(-ret));
		return ret;
	}
	p->kids_now = ns;
	return 0;
}

int pidns_clone_child(struct rst_ctx *ctx, struct rst_proc *p, struct rst_proc *c,
		      uint64_t *flags, pid_t *set_tid, int *n, pid_t *expect)
{
	bool init = is_nested_init(c) && c->pidns != p->pidns;
	int ret = set_kids_ns(ctx, p, init ? c->pidns_parent : c->pidns);
	if (ret)
		return ret;
	if (init)
		*flags |= CLONE_NEWPID;
	*n = c->nslv + 1;
	for (int l = 0; l <= c->nslv; l++)
		set_tid[l] = c->nspid[c->nslv - l];
	*expect = c->nspid[p->nslv];
	return 0;
}

int pidns_restore_children(struct rst_ctx *ctx, struct rst_proc *p, bool final)
{
	int ret = set_kids_ns(ctx, p, p->pidns);
	if (ret || !final)
		return ret;
	if (p->kids_pidns)
		return set_kids_ns(ctx, p, p->kids_pidns);
	if (!p->kids_unshare)
		return 0;
	/* a new namespace with no init: its first child will be that */
	if (remote_call(&rst_leader(p)->r, "unshare(CLONE_NEWPID)", __NR_unshare, CLONE_NEWPID, 0,
			0, 0) < 0)
		return -EIO;
	p->kids_now = 0;
	pr_debug("process %d: unshared its PID namespace again (no fork since, at the dump)",
		 p->vpid);
	return 0;
}

int pidns_set_pgid(struct rst_ctx *ctx, struct rst_proc *p, pid_t root_pgid)
{
	if (p->sid == p->vpid)
		return 0;	/* a session leader leads its group (setsid) */
	bool leader_in_tree = false;
	for (int i = 0; i < ctx->nr_procs; i++)
		leader_in_tree |= ctx->procs[i].vpid == p->pgid;
	struct rst_proc *root = &ctx->procs[0];
	/* the root's group is made for the root (set_pgids: root_group) */
	if (!leader_in_tree && p->pgid != root->pgid) {
		pr_err("process %d (in a nested PID namespace) is in process group %d, whose leader "
		       "left the tree: cryo can't recreate that group from inside a nested "
		       "namespace", p->vpid, p->pgid);
		return -EOPNOTSUPP;
	}
	pid_t own = p->nspgid[p->nslv];
	if (own) {
		struct remote *r = &rst_leader(p)->r;
		long cur = remote_call(r, "getpgid", __NR_getpgid, 0, 0, 0, 0);
		if (cur == own)
			return 0;
		return remote_call(r, "setpgid", __NR_setpgid, 0, own, 0, 0) < 0 ? -EPERM : 0;
	}
	/* its group's leader has no PID inside (the dump checked it is the
	 * namespace's init, and its parent sees the group): the parent
	 * moves it, as a shell moves its jobs */
	struct rst_proc *par = p->parent;
	pid_t g = root_pgid && p->pgid == root->pgid && !par->nslv ? root_pgid
								 : p->nspgid[par->nslv];
	if (!g) {
		pr_err("process %d: its parent %d sees no PID for its process group %d either: "
		       "cryo can't put it back there", p->vpid, par->vpid, p->pgid);
		return -EOPNOTSUPP;
	}
	return remote_call(&rst_leader(par)->r, "setpgid of a child", __NR_setpgid,
			   p->nspid[par->nslv], g, 0, 0) < 0 ? -EPERM : 0;
}
