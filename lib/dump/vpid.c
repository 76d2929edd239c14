/* The PIDs the images record: as the tree sees them.
 *
 * A tree whose root is the init of a PID namespace of its own (a
 * container: its runtime cloned it with CLONE_NEWPID) is worked by cryo
 * through the PIDs cryo sees (the host's), but its images record the PIDs
 * inside the namespace, as criu's do (pstree.img, and the PID in each
 * per-task image's name): those are the ones its programs know, and the
 * ones the restore gives back (clone3 set_tid inside a new namespace).
 * /proc/PID/status has them: the last value of NSpid, NSpgid, NSsid is the
 * innermost namespace's.  The namespace check (lib/ns) has already made
 * sure that every live task is in the root's PID namespace and creates its
 * children there. */
#include "dump/dump.h"
#include "proc/proc.h"
#include "util/log.h"

#include <errno.h>

/* Inner PIDs of process @p (levels: the root's NSpid depth). */
static int proc_vpids(struct seized_proc *p, int levels)
{
	struct proc_status st;
	int ret = proc_read_status(p->pid, 0, &st);
	if (ret)
		return ret;
	int got = st.nspid_levels;
	p->vpid = got ? st.nspid[got - 1] : 0;
	p->vpgid = st.nspgid_inner;
	p->vsid = st.nssid_inner;
	proc_status_free(&st);
	if (got != levels || p->vpid <= 0) {
		/* only a zombie gets here: the check skips those */
		pr_err("process %d (%s) is in another PID namespace than the root of the tree "
		       "(NSpid has %d levels, the root's %d): cryo restores one PID namespace, "
		       "the root's; dump the subtree in the other namespace on its own",
		       p->pid, p->comm, got, levels);
		return -EOPNOTSUPP;
	}
	if (p->vpgid <= 0 || p->vsid <= 0) {
		/* the kernel shows 0 for a group or session whose leader's PID
		 * is not in the namespace */
		pr_err("process %d (%s, %d in its PID namespace) is in a %s whose leader is "
		       "outside the tree's PID namespace (%s %d as cryo sees it): a restore can't "
		       "recreate it inside; have the container's init call setsid() (container "
		       "runtimes do)", p->pid, p->comm, p->vpid,
		       p->vsid <= 0 ? "session" : "process group", p->vsid <= 0 ? "session" :
		       "group", p->vsid <= 0 ? p->sid : p->pgid);
		return -EOPNOTSUPP;
	}
	for (int t = 0; t < p->nr_threads; t++) {
		struct seized_thread *th = &p->threads[t];
		if (th->tid == p->pid) {
			th->vtid = p->vpid;
			continue;
		}
		ret = proc_read_status(p->pid, th->tid, &st);
		if (ret)
			return ret;
		th->vtid = st.nspid_levels == levels ? st.nspid[levels - 1] : 0;
		proc_status_free(&st);
		if (th->vtid <= 0) {
			pr_err("thread %d of process %d: can't tell its TID in the tree's PID "
			       "namespace (/proc/%d/task/%d/status NSpid)", th->tid, p->pid, p->pid,
			       th->tid);
			return -EIO;
		}
	}
	return 0;
}

int dump_tree_vpids(struct dump_ctx *ctx)
{
	struct seized_tree *tree = &ctx->tree;
	struct seized_proc *root = tree->root;
	bool own = !ctx->ns.root[NS_PID] || ctx->ns.root[NS_PID] == ctx->ns.self[NS_PID];

	for (int i = 0; own && i < tree->nr_procs; i++) {
		struct seized_proc *p = tree->procs[i];
		p->vpid = p->pid;
		p->vpgid = p->pgid;
		p->vsid = p->sid;
		for (int t = 0; t < p->nr_threads; t++)
			p->threads[t].vtid = p->threads[t].tid;
	}
	if (own)
		return 0;

	struct proc_status st;
	int ret = proc_read_status(root->pid, 0, &st);
	if (ret)
		return ret;
	int levels = st.nspid_levels;
	pid_t inner = levels ? st.nspid[levels - 1] : 0;
	proc_status_free(&st);
	if (levels < 2 || inner != 1) {
		/* A restore makes the namespace with the root as its init
		 * (clone3 CLONE_NEWPID); another process can't be given PID
		 * 1's place, nor the namespace its other processes. */
		pr_err("process %d (%s) runs in a PID namespace of its own as PID %d, not as its "
		       "init (PID 1): cryo restores a PID namespace with the tree's root as its "
		       "init; dump the namespace's init (PID 1) instead", root->pid, root->comm,
		       inner);
		return -EOPNOTSUPP;
	}
	for (int i = 0; i < tree->nr_procs; i++) {
		ret = proc_vpids(tree->procs[i], levels);
		if (ret)
			return ret;
	}
	pr_info("the tree runs in a PID namespace of its own: its images record its PIDs "
		"there (process %d is %d inside)", root->pid, root->vpid);
	return 0;
}
