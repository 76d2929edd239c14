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
 * sure that every live task is in the root's PID namespace or one nested
 * below it; a task in a nested one has its PIDs at every level from the
 * tree's recorded, and the namespaces their parents (dump_nested_pidns). */
#include "dump/dump.h"
#include "proc/proc.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The PIDs of process @p: every level from the tree's namespace (level
 * @base of NSpid, 0-based: the root's depth as cryo sees it) inward. */
static int proc_vpids(struct seized_proc *p, int base)
{
	struct proc_status st;
	int ret = proc_read_status(p->pid, 0, &st);
	if (ret)
		return ret;
	int got = st.nspid_levels;
	p->nslv = got - base - 1;
	if (p->nslv < 0 || p->nslv >= PIDNS_LEVELS) {
		/* only a zombie gets here: the check skips those */
		pr_err("process %d (%s) is %s the tree's PID namespace (NSpid has %d levels, the "
		       "root's %d): cryo restores the root's PID namespace and up to %d levels "
		       "nested below it", p->pid, p->comm, p->nslv < 0 ? "outside" :
		       "too deep below", got, base + 1, PIDNS_LEVELS - 1);
		proc_status_free(&st);
		return -EOPNOTSUPP;
	}
	for (int l = 0; l <= p->nslv; l++) {
		p->nspid[l] = st.nspid[base + l];
		p->nspgid[l] = st.nspgid_levels == got ? st.nspgid[base + l] : 0;
		p->nssid[l] = st.nssid_levels == got ? st.nssid[base + l] : 0;
	}
	proc_status_free(&st);
	p->vpid = p->nspid[0];
	p->vpgid = p->nspgid[0];
	p->vsid = p->nssid[0];
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
			memcpy(th->nstid, p->nspid, sizeof(th->nstid));
			continue;
		}
		ret = proc_read_status(p->pid, th->tid, &st);
		if (ret)
			return ret;
		bool ok = st.nspid_levels == got;
		for (int l = 0; ok && l <= p->nslv; l++)
			th->nstid[l] = st.nspid[base + l];
		th->vtid = ok ? th->nstid[0] : 0;
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

/* Inode of /proc/@pid/task/@tid/ns/@name (0 with -ENOENT: none). */
static int task_ns_ino(pid_t pid, pid_t tid, const char *name, uint64_t *ino)
{
	char path[80];
	struct stat sb;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/ns/%s", pid, tid, name);
	*ino = 0;
	if (stat(path, &sb))
		return -errno;
	*ino = sb.st_ino;
	return 0;
}

static struct seized_proc *live_member(struct seized_tree *tree, uint32_t pidns)
{
	for (int i = 0; i < tree->nr_procs; i++)
		if (tree->procs[i]->state != TASK_DEAD && tree->procs[i]->pidns_id == pidns)
			return tree->procs[i];
	return NULL;
}

/* The PID namespace of live process @p and its pid_for_children. */
static int live_pidns(struct dump_ctx *ctx, struct seized_proc *p)
{
	uint64_t ino, kids = 0;
	bool fresh;
	int ret = task_ns_ino(p->pid, p->pid, "pid", &ino);
	if (!ret)
		ret = ns_dump_id(&ctx->ns, NS_PID, ino, &p->pidns_id, &fresh);
	if (ret)
		return log_errno(ret, "can't identify the PID namespace of process %d", p->pid);
	for (int t = 0; t < p->nr_threads; t++) {
		pid_t tid = p->threads[t].tid;
		uint64_t k;
		ret = task_ns_ino(p->pid, tid, "pid_for_children", &k);
		if (ret && ret != -ENOENT)
			return log_errno(ret, "can't read /proc/%d/task/%d/ns/pid_for_children",
					 p->pid, tid);
		if (!t) {
			kids = k;
		} else if (k != kids) {
			pr_err("thread %d of process %d (%s) has another pid_for_children than its "
			       "leader: cryo records one per process", tid, p->pid, p->comm);
			return -EOPNOTSUPP;
		}
	}
	if (!kids) {
		/* no init in it yet: nothing else can have been born there
		 * (a namespace whose init died reads as that namespace) */
		p->children_unshared = true;
		pr_info("process %d (%s) unshared its PID namespace and has not forked since: "
			"the restore unshares it again", p->pid, p->comm);
	} else if (kids != ino) {
		ret = ns_dump_id(&ctx->ns, NS_PID, kids, &p->children_pidns, &fresh);
		if (ret)
			return ret;
	}
	return 0;
}

/* The PID namespace of zombie @p (/proc/PID/ns is gone): its parent's
 * (same depth), the one its parent's children are born in, or the one it
 * was the init of (it exited, and the namespace with it). */
static int zombie_pidns(struct dump_ctx *ctx, struct seized_proc *p, uint32_t *parent_ns)
{
	struct seized_proc *par = p->parent;
	*parent_ns = 0;
	if (!par || p->nslv == par->nslv) {
		p->pidns_id = par ? par->pidns_id : 0;
		return 0;
	}
	if (p->nslv == par->nslv + 1 && p->nspid[p->nslv] == 1) {
		/* no inode to tell it by: a key no real namespace has */
		bool fresh;
		*parent_ns = par->children_pidns ? par->children_pidns : par->pidns_id;
		return ns_dump_id(&ctx->ns, NS_PID, (1ULL << 63) | (uint64_t)p->pid, &p->pidns_id,
				  &fresh);
	}
	if (p->nslv == par->nslv + 1 && par->children_pidns) {
		p->pidns_id = par->children_pidns;
		return 0;
	}
	pr_err("zombie %d (%s) is %d PID namespace levels below its parent %d: cryo can't tell "
	       "which namespace it was in", p->pid, p->comm, p->nslv - par->nslv, par->pid);
	return -EOPNOTSUPP;
}

/* Groups of a task in a nested namespace: a group whose leader has no PID
 * there can only be joined from outside, by its parent (setpgid of a
 * child): the init of the namespace, with its parent outside it. */
static int check_nested_group(struct seized_proc *p)
{
	struct seized_proc *par = p->parent;
	if (!p->nslv || p->nspgid[p->nslv])
		return 0;
	if (p->nspid[p->nslv] == 1 && par && par->nslv < p->nslv && p->nspgid[par->nslv])
		return 0;
	pr_err("process %d (%s, %d in its nested PID namespace) is in process group %d, whose "
	       "leader has no PID in that namespace: only the namespace's init can be put back "
	       "into such a group (by its parent); have the namespace's init call setsid() or "
	       "setpgid(0, 0) before it forks", p->pid, p->comm, p->nspid[p->nslv], p->pgid);
	return -EOPNOTSUPP;
}

/* Nested PID namespaces and pid_for_children (lib/ns/pid.c): each
 * process's namespace id, the namespace its children are born in, and a
 * pidns-ID.img naming each nested namespace's parent. */
static int dump_nested_pidns(struct dump_ctx *ctx)
{
	struct seized_tree *tree = &ctx->tree;
	uint32_t *written = calloc(tree->nr_procs, sizeof(*written));
	int nr_written = 0, ret = 0;
	if (!written)
		return -ENOMEM;
	for (int i = 0; !ret && i < tree->nr_procs; i++) {
		struct seized_proc *p = tree->procs[i];
		uint32_t parent_ns = 0;
		ret = p->state == TASK_DEAD ? zombie_pidns(ctx, p, &parent_ns) : live_pidns(ctx, p);
		if (!ret)
			ret = check_nested_group(p);
		if (ret || !p->nslv)
			continue;
		bool seen = false;
		for (int k = 0; k < nr_written; k++)
			seen |= written[k] == p->pidns_id;
		if (seen)
			continue;
		written[nr_written++] = p->pidns_id;
		ret = pidns_dump_nested(&ctx->ns, p->state == TASK_DEAD ? 0 : p->pid, p->pidns_id,
					parent_ns);
	}
	free(written);
	for (int i = 0; !ret && i < tree->nr_procs; i++) {
		struct seized_proc *p = tree->procs[i];
		if (!p->children_pidns || live_member(tree, p->children_pidns))
			continue;
		pr_err("process %d (%s): its pid_for_children is a PID namespace in which no live "
		       "process of the tree is (its init exited, or it is the namespace of "
		       "processes outside the tree): cryo can't make its next children be born "
		       "there again", p->pid, p->comm);
		ret = -EOPNOTSUPP;
	}
	return ret;
}

int dump_tree_vpids(struct dump_ctx *ctx)
{
	struct seized_tree *tree = &ctx->tree;
	struct seized_proc *root = tree->root;
	bool own = !ctx->ns.root[NS_PID] || ctx->ns.root[NS_PID] == ctx->ns.self[NS_PID];

	for (int i = 0; own && !ctx->ns.pid_nested && i < tree->nr_procs; i++) {
		struct seized_proc *p = tree->procs[i];
		p->vpid = p->nspid[0] = p->pid;
		p->vpgid = p->nspgid[0] = p->pgid;
		p->vsid = p->nssid[0] = p->sid;
		for (int t = 0; t < p->nr_threads; t++)
			p->threads[t].vtid = p->threads[t].nstid[0] = p->threads[t].tid;
		/* a zombie may have been in a nested namespace (the check
		 * skips zombies): then the whole tree is read again below */
		struct proc_status zst;
		if (p->state == TASK_DEAD && !proc_read_status(p->pid, 0, &zst)) {
			ctx->ns.pid_nested |= zst.nspid_levels > 1;
			proc_status_free(&zst);
		}
	}
	if (own && !ctx->ns.pid_nested)
		return 0;

	struct proc_status st;
	int ret = proc_read_status(root->pid, 0, &st);
	if (ret)
		return ret;
	int levels = st.nspid_levels;
	pid_t inner = levels ? st.nspid[levels - 1] : 0;
	proc_status_free(&st);
	if (!own && (levels < 2 || inner != 1)) {
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
		ret = proc_vpids(tree->procs[i], levels - 1);
		if (ret)
			return ret;
	}
	if (ctx->ns.pid_nested) {
		ret = dump_nested_pidns(ctx);
		if (ret)
			return ret;
	}
	if (!own)
		pr_info("the tree runs in a PID namespace of its own: its images record its PIDs "
			"there (process %d is %d inside)", root->pid, root->vpid);
	return 0;
}
