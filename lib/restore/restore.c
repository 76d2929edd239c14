/* The restore's steps (the stage table that runs them: stages.c): read the
 * images, create every task with its old PID (clone3 with set_tid: the root
 * from cryo, each child from inside its parent, each thread from inside its
 * process), drive each into its dumped state from outside (restore_task.c),
 * then let the whole tree go at once (finish.c).  Any failure kills what was
 * created: nothing is left behind. */
#include "cryo.h"
#include "cgroup/cgroup.h"
#include "images/image.h"
#include "images/stats.h"
#include "restore/restore.h"
#include "mem/page_source.h"
#include "ns/ns.h"
#include "creds/creds.h"
#include "seize/seize.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include "inventory.pb-c.h"
#include "pstree.pb-c.h"
#include "stats.pb-c.h"
#include "pagemap.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRACE_OPTS RESTORE_PTRACE_OPTIONS	/* seize/remote.h */

static int read_core(struct rst_ctx *ctx, pid_t tid, CoreEntry **core)
{
	struct cr_img *img;
	int ret = img_open(&img, ctx->dirfd, IMG_CORE, IMG_READ, tid);
	if (ret)
		return ret;
	ret = img_read_one(img, &core_entry__descriptor, (ProtobufCMessage **)core);
	img_close(img);
	return ret < 0 ? ret : 0;
}

int load_pstree(struct rst_ctx *ctx)
{
	struct cr_img *img;
	int ret = img_open(&img, ctx->dirfd, IMG_PSTREE, IMG_READ, 0);
	if (ret)
		return ret;
	for (;;) {
		PstreeEntry *pe;
		ret = img_read_msg(img, &pstree_entry__descriptor, (ProtobufCMessage **)&pe);
		if (ret <= 0)
			break;
		ret = 0;
		struct rst_proc *n = xrealloc(ctx->procs, (ctx->nr_procs + 1) * sizeof(*n));
		if (!n) {
			protobuf_c_message_free_unpacked(&pe->base, NULL);
			ret = -ENOMEM;
			break;
		}
		ctx->procs = n;
		struct rst_proc *p = &ctx->procs[ctx->nr_procs++];
		memset(p, 0, sizeof(*p));
		p->pages_fd = -1;
		p->pid = p->vpid = pe->pid;
		p->ppid = pe->ppid;
		p->pgid = pe->pgid;
		p->sid = pe->sid;
		p->nr_threads = pe->n_threads ? pe->n_threads : 1;
		p->thr = xzalloc(sizeof(*p->thr) * p->nr_threads);
		if (!p->thr) {
			protobuf_c_message_free_unpacked(&pe->base, NULL);
			ret = -ENOMEM;
			break;
		}
		p->thr[0].tid = p->pid;
		for (size_t i = 0, k = 1; i < pe->n_threads; i++) {
			if ((pid_t)pe->threads[i] == p->pid)
				continue;
			if (k >= (size_t)p->nr_threads) {
				pr_err("pstree.img: thread list of %d does not contain the process itself",
				       p->pid);
				ret = -EINVAL;
				break;
			}
			p->thr[k++].tid = pe->threads[i];
		}
		for (int i = 0; i < p->nr_threads; i++) {
			p->thr[i].vtid = p->thr[i].tid;
			p->thr[i].r.mem_fd = -1;
		}
		if (!ret)	/* nested PID namespaces: every level */
			ret = pidns_load_entry(p, pe);
		protobuf_c_message_free_unpacked(&pe->base, NULL);
		if (ret)
			break;
		if (p->pid <= 0) {
			pr_err("pstree.img: invalid pid %d", p->pid);
			ret = -EINVAL;
			break;
		}
	}
	img_close(img);
	if (ret)
		return ret;
	if (!ctx->nr_procs) {
		pr_err("pstree.img holds no process");
		return -EINVAL;
	}
	/* Parents: the image lists parents before their children. */
	for (int i = 1; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		for (int j = 0; j < i; j++)
			if (ctx->procs[j].pid == p->ppid)
				p->parent = &ctx->procs[j];
		if (!p->parent) {
			pr_err("pstree.img: the parent %d of process %d is not listed before it",
			       p->ppid, p->pid);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++)
			if (ctx->procs[j].pid == p->pid) {
				pr_err("pstree.img: process %d is listed twice", p->pid);
				return -EINVAL;
			}
	}
	return 0;
}

static int load_fdinfo(struct rst_ctx *ctx, struct rst_proc *p)
{
	struct cr_img *img;
	uint32_t files_id = p->core->ids ? p->core->ids->files_id : 0;
	int ret = img_open(&img, ctx->dirfd, IMG_FDINFO, IMG_READ | IMG_MISSING_OK, files_id);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		FdinfoEntry *fe;
		ret = img_read_msg(img, &fdinfo_entry__descriptor, (ProtobufCMessage **)&fe);
		if (ret <= 0)
			break;
		FdinfoEntry **n = xrealloc(p->fds, (p->nr_fds + 1) * sizeof(*n));
		if (!n) {
			protobuf_c_message_free_unpacked(&fe->base, NULL);
			ret = -ENOMEM;
			break;
		}
		p->fds = n;
		p->fds[p->nr_fds++] = fe;
	}
	img_close(img);
	return ret < 0 ? ret : 0;
}

int load_proc(struct rst_ctx *ctx, struct rst_proc *p)
{
	struct cr_img *img;
	int ret = read_core(ctx, p->pid, &p->thr[0].core);
	if (ret)
		return ret;
	p->core = p->thr[0].core;
	if (!p->core->tc) {
		pr_err("core-%d.img has no task state", p->pid);
		return -EINVAL;
	}
	p->state = p->core->tc->task_state;
	if (p->state == TASK_DEAD)
		return zombie_check_status(p);
	if (p->state == TASK_STOPPED && p->core->tc->has_stop_signo) {
		unsigned sig = p->core->tc->stop_signo;
		if (sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU) {
			pr_err("core-%d.img: stop signal %u is not one that stops a task", p->pid, sig);
			return -EINVAL;
		}
	}
	if (p->state != TASK_ALIVE && p->state != TASK_STOPPED) {
		pr_err("process %d was dumped in state %u: cryo can't restore that state",
		       p->pid, p->state);
		return -EOPNOTSUPP;
	}
	for (int i = 0; i < p->nr_threads; i++) {
		if (i && (ret = read_core(ctx, p->thr[i].tid, &p->thr[i].core)))
			return ret;
		if (!p->thr[i].core->thread_info || !p->thr[i].core->thread_core) {
			pr_err("core-%d.img lacks the thread's CPU state", p->thr[i].tid);
			return -EINVAL;
		}
	}
	ret = mem_image_load(ctx->dirfd, p->pid, &p->mem);
	if (ret)
		return ret;
	ret = img_open(&img, ctx->dirfd, IMG_FS, IMG_READ, p->pid);
	if (ret)
		return ret;
	ret = img_read_one(img, &fs_entry__descriptor, (ProtobufCMessage **)&p->fs);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = load_fdinfo(ctx, p);
	if (ret)
		return ret;
	ret = img_open(&img, ctx->dirfd, IMG_PAGES, IMG_READ, p->mem.pages_id);
	if (ret)
		return ret;
	/* Above any fd the tasks will need while cryo's fds are still open. */
	p->pages_fd = fcntl(img_raw_fd(img), F_DUPFD_CLOEXEC, 100);
	img_close(img);
	if (p->pages_fd < 0)
		return_perror("can't duplicate the descriptor of pages-%u.img", p->mem.pages_id);
	/* The new tasks must inherit it: drop close-on-exec (no exec happens). */
	fcntl(p->pages_fd, F_SETFD, 0);
	return page_prevs_open(ctx->prev_dirs, ctx->nr_prev_dirs, p->pid, &p->prev);
}

void free_procs(struct rst_ctx *ctx)
{
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		for (int t = 0; t < p->nr_threads; t++) {
			if (p->thr[t].core)
				protobuf_c_message_free_unpacked(&p->thr[t].core->base, NULL);
			if (p->thr[t].r.mem_fd >= 0)
				remote_fini(&p->thr[t].r);
		}
		free(p->thr);
		if (p->fs)
			protobuf_c_message_free_unpacked(&p->fs->base, NULL);
		for (int j = 0; j < p->nr_fds; j++)
			protobuf_c_message_free_unpacked(&p->fds[j]->base, NULL);
		free(p->fds);
		mem_image_free(&p->mem);
		if (p->pages_fd >= 0)
			close(p->pages_fd);
		page_prevs_close(&p->prev);
	}
	free(ctx->procs);
	ctx->procs = NULL;
	ctx->nr_procs = 0;
}

static struct rst_proc *find_proc(struct rst_ctx *ctx, pid_t pid)
{
	for (int i = 0; i < ctx->nr_procs; i++)
		if (ctx->procs[i].vpid == pid)
			return &ctx->procs[i];
	return NULL;
}

pid_t restore_host_pid(void *arg, int type, pid_t vpid)
{
	struct rst_ctx *ctx = arg;
	/* a thread of the tree is created after the descriptors are put in
	 * place: its owner is set later (files_restore_owners) */
	for (int i = 0; type == F_OWNER_TID && vpid > 0 && i < ctx->nr_procs; i++)
		for (int t = 1; t < ctx->procs[i].nr_threads; t++)
			if (ctx->procs[i].thr[t].vtid == vpid)
				return ctx->procs[i].thr[t].created ? ctx->procs[i].thr[t].tid
								    : -EAGAIN;
	if (!(ctx->ns_flags & CLONE_NEWPID))
		return vpid;	/* cryo's namespace: the same PIDs */
	for (int i = 0; vpid > 0 && i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		if (!p->created)
			continue;
		if (type == F_OWNER_PGRP) {
			/* the group of a member, as cryo sees it */
			pid_t g = p->pgid == vpid ? getpgid(p->pid) : -1;
			if (g > 0)
				return g;
			continue;
		}
		if (p->vpid == vpid)
			return p->pid;
		for (int t = 0; type == F_OWNER_TID && t < p->nr_threads; t++)
			if (p->thr[t].created && p->thr[t].vtid == vpid)
				return p->thr[t].tid;
	}
	for (int i = 0; vpid > 0 && i < ctx->nr_helpers; i++)
		if (ctx->helpers[i].alive && ctx->helpers[i].pid == vpid)
			return ctx->helpers[i].hpid;
	return 0;
}

/* Sessions can't be joined, only inherited at fork or created by setsid:
 * each process must lead its session, share its parent's, or be in a
 * session whose leader left the tree.  Such a session is recreated by a
 * helper task with the leader's PID, forked by the parent, that calls
 * setsid and forks the members; when it exits they are reparented to the
 * parent, which therefore must be a child subreaper (as it was: that is how
 * it got them) or the init of the tree's PID namespace. */
int check_sessions(struct rst_ctx *ctx)
{
	for (int i = 1; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		if (p->sid == p->vpid || p->sid == p->parent->sid)
			continue;
		struct rst_proc *leader = find_proc(ctx, p->sid);
		if (leader) {
			pr_err("process %d is in session %d, whose leader is in the tree (%s) but is "
			       "not its ancestor: cryo can't recreate that", p->pid, p->sid,
			       leader->state == TASK_DEAD ? "a zombie" : "alive");
			return -EOPNOTSUPP;
		}
		const TaskCoreEntry *ptc = p->parent->core->tc;
		/* the init of the tree's own PID namespace (PID 1 there) reaps
		 * its orphans as a subreaper does */
		bool reaper = (ptc->has_child_subreaper && ptc->child_subreaper) ||
			      (p->parent == &ctx->procs[0] && p->parent->vpid == 1);
		if (!reaper) {
			pr_err("process %d is in session %d, whose leader left the tree, but its "
			       "parent %d is not a child subreaper: cryo can't recreate that",
			       p->pid, p->sid, p->parent->pid);
			return -EOPNOTSUPP;
		}
		if (p->nslv) {
			pr_err("process %d (in a nested PID namespace) is in session %d, whose "
			       "leader left the tree: cryo can't recreate that", p->pid, p->sid);
			return -EOPNOTSUPP;
		}
		if (p->state == TASK_DEAD) {
			pr_err("zombie %d is in session %d, whose leader left the tree: cryo can't "
			       "restore such zombies yet", p->pid, p->sid);
			return -EOPNOTSUPP;
		}
		for (int j = 1; j < ctx->nr_procs; j++) {
			struct rst_proc *o = &ctx->procs[j];
			if (o->sid == p->sid && o->parent != p->parent && o->parent->sid != p->sid) {
				pr_err("session %d (leader gone) has members with different parents "
				       "(%d under %d, %d under %d): cryo can't recreate that", p->sid,
				       p->pid, p->parent->pid, o->pid, o->parent->pid);
				return -EOPNOTSUPP;
			}
		}
	}
	struct rst_proc *root = &ctx->procs[0];
	if (root->sid != root->vpid)
		pr_info("root %d is not a session leader (session %d): it joins cryo's session",
			root->pid, root->sid);
	return 0;
}

/* Objects shared between processes (criu's ids: the same files_id, fs_id,
 * vm_id or sighand_id).  A descriptor table or fs_struct shared with the
 * parent is recreated by creating the child with CLONE_FILES / CLONE_FS;
 * other sharing can't be made (the dump refuses it, see dump/share.c). */
int check_shared(struct rst_ctx *ctx)
{
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		const TaskKobjIdsEntry *a = p->core->ids;
		if (p->state == TASK_DEAD || !a)
			continue;
		for (int j = 0; j < i; j++) {
			struct rst_proc *o = &ctx->procs[j];
			const TaskKobjIdsEntry *b = o->core->ids;
			if (o->state == TASK_DEAD || !b)
				continue;
			const char *what = a->vm_id == b->vm_id ? "memory (vm_id)" :
					   a->sighand_id == b->sighand_id ? "signal actions (sighand_id)" :
					   NULL;
			if (!what && ((a->files_id == b->files_id && o != p->parent &&
				       (!p->parent->core->ids ||
					p->parent->core->ids->files_id != a->files_id)) ||
				      (a->fs_id == b->fs_id && o != p->parent &&
				       (!p->parent->core->ids ||
					p->parent->core->ids->fs_id != a->fs_id))))
				what = a->files_id == b->files_id ? "descriptor table (files_id), "
								    "not with its parent"
								  : "cwd and umask (fs_id), not with "
								    "its parent";
			if (what) {
				pr_err("processes %d and %d share their %s: cryo can't restore that",
				       o->pid, p->pid, what);
				return -EOPNOTSUPP;
			}
			if (o != p->parent)
				continue;
			if (a->files_id == b->files_id)
				p->share_flags |= CLONE_FILES;
			if (a->fs_id == b->fs_id)
				p->share_flags |= CLONE_FS;
		}
		if (p->share_flags && p->sid != p->vpid && p->sid != p->parent->sid) {
			pr_err("process %d shares its descriptor table or cwd with its parent %d but "
			       "is in a session whose leader left the tree: cryo can't restore that",
			       p->pid, p->parent->pid);
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

static void describe_pid_owner(pid_t pid, char *buf, size_t size)
{
	char path[64], *comm = NULL;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (read_file(AT_FDCWD, path, &comm, true) >= 0) {
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(buf, size, "process '%s'", comm);
		free(comm);
	} else {
		snprintf(buf, size, "another process");
	}
}

void pid_in_use(pid_t pid)
{
	char who[128];
	describe_pid_owner(pid, who, sizeof(who));
	pr_err("PID %d is in use by %s (pid %d): the dumped process needs that PID back. Stop "
	       "that process, or restore into a new PID namespace", pid, who, pid);
}

/* The child side of clone3: wait, with every signal blocked, to be driven.
 * Should cryo die before it seizes the task (PTRACE_O_EXITKILL covers the
 * time after), the task must not stay behind holding the dumped PID: as
 * cryo's child it takes a parent-death SIGKILL -- first thing, then checks
 * that cryo was not gone already (the signal only fires on a death after
 * the prctl).  The restore puts the image's value in its place
 * (settings_restore_thread_late).  With --restore-sibling its parent is
 * cryo's parent, so it watches a pidfd of cryo instead.  The init of a new
 * PID namespace has cryo as its parent but sees no PID for it (getppid()
 * says 0): it asks the pidfd whether cryo is gone. */
static __attribute__((noreturn)) void new_task_wait(pid_t cryo, int cryo_pidfd, bool sibling)
{
	sigset_t all;
	if (!sibling) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct pollfd gone = { .fd = cryo_pidfd, .events = POLLIN };
		if (cryo_pidfd >= 0 ? poll(&gone, 1, 0) != 0 : getppid() != cryo)
			_exit(1);
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (sibling) {
		struct pollfd pfd = { .fd = cryo_pidfd, .events = POLLIN };
		for (;;)
			if (poll(&pfd, 1, -1) > 0)
				_exit(1);	/* cryo has exited */
	}
	for (;;)
		pause();
}

static int wait_new_task(pid_t pid)
{
	int status;
	int ret = ptrace_wait_stop(pid, &status, 10000);
	if (ret)
		return ret;
	if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
		pr_err("new task %d did not stop as expected (status 0x%x)", pid, status);
		return -EIO;
	}
	return 0;
}

int create_root(struct rst_ctx *ctx, struct rst_proc *p)
{
	/* with CLONE_NEWPID, set_tid[0] is the PID in the new namespace,
	 * which must be 1 (pidns_restore_check_root): its PID in cryo's is
	 * whatever is free */
	pid_t set_tid = p->vpid;
	int flags = ctx->ns_flags;
	struct clone_args args = {
		.flags = ctx->ns_flags,		/* new namespaces: see fill_namespaces */
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)(uintptr_t)&set_tid,
		.set_tid_size = 1,
	};
	if (ctx->opts->restore_sibling) {
		/* clone3 refuses an exit signal with CLONE_PARENT (EINVAL): the
		 * child inherits cryo's own, as its new parent expects */
		args.flags |= CLONE_PARENT;
		args.exit_signal = 0;
	}
	pid_t child = -1, cryo = getpid();
	int cryo_pidfd = -1;
	sigset_t all, old;
	if (ctx->opts->restore_sibling || (ctx->ns_flags & CLONE_NEWPID)) {
		cryo_pidfd = syscall(SYS_pidfd_open, cryo, 0);
		if (cryo_pidfd < 0)
			return_perror("pidfd_open of cryo itself failed");
	}
	/* A time namespace is made and filled before the root is born in
	 * it (lib/ns/time.c: its offsets freeze when a task enters). */
	struct ns_set ns_back;
	/* namespaces that exist (--join-ns, an external network namespace):
	 * the root is born in them instead of new ones */
	ctx->ns_joined = true;
	int ret = ns_restore_joins(ctx->opts, ctx->dirfd, p->core->ids, &ctx->ns_flags,
				   &ctx->files.ns);
	if (ret) {
		if (cryo_pidfd >= 0)
			close(cryo_pidfd);
		return ret;
	}
	flags = ctx->ns_flags;
	ret = ns_restore_pre_clone(ctx->ns_flags, p->core->ids, ctx->dirfd, &flags, &ns_back);
	if (!ret)
		ret = ns_restore_enter_joined(&ctx->files.ns, &ns_back);
	struct userns_groups ug = { 0 };	/* groups the root can't set itself */
	if (!ret)
		ret = userns_restore_groups(ctx->ns_flags, p->core, ctx->dirfd, &ug);
	args.flags = flags | (args.flags & CLONE_PARENT);
	/* A new cgroup namespace is rooted at its creator's cgroups (cryo's):
	 * cryo goes into the root's own for the clone, and back after it. */
	bool cg_moved = false;
	if (!ret && ctx->cg && (args.flags & CLONE_NEWCGROUP)) {
		ret = cg_restore_place(ctx->cg, getpid(), p->core->tc->cg_set);
		cg_moved = true;
	}
	if (ret) {
		if (cg_moved)
			cg_restore_self_back(ctx->cg);
		userns_restore_groups_back(&ug);
		int r2 = ns_restore_post_clone(&ns_back);
		if (cryo_pidfd >= 0)
			close(cryo_pidfd);
		return r2 ? r2 : ret;
	}
	/* Born with every signal blocked: nothing may interrupt the driving. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	/* A dumped-and-killed task may still wait to be reaped by its old
	 * parent (init reaps orphans slowly): retry for a while. */
	for (int waited = 0;; waited += 10) {
		child = syscall(SYS_clone3, &args, sizeof(args));
		if (child == 0)
			new_task_wait(cryo, cryo_pidfd, ctx->opts->restore_sibling);
		if (child > 0)
			break;
		if (errno == EEXIST && waited < 5000) {
			if (waited == 200)
				pr_info("PID %d is still taken (the dumped task not reaped yet by "
					"its old parent?): waiting up to 5 s for it", p->pid);
			usleep(10000);
			continue;
		}
		int e = errno;
		if (cg_moved)
			cg_restore_self_back(ctx->cg);
		userns_restore_groups_back(&ug);
		ns_restore_post_clone(&ns_back);
		if (e == EEXIST)
			pid_in_use(p->pid);
		else if (e == EPERM)
			pr_err("clone3 with set_tid=%d was refused: cryo needs CAP_CHECKPOINT_RESTORE "
			       "or CAP_SYS_ADMIN to choose PIDs", p->pid);
		else
			pr_err("clone3 with set_tid=%d failed: %s", p->pid, strerror(e));
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (cryo_pidfd >= 0)
			close(cryo_pidfd);
		return -e;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (cryo_pidfd >= 0)
		close(cryo_pidfd);
	ret = userns_restore_groups_back(&ug);
	if (cg_moved) {
		int r3 = cg_restore_self_back(ctx->cg);
		ret = ret ? ret : r3;
	}
	p->pid = rst_leader(p)->tid = child;
	p->created = rst_leader(p)->created = true;
	if (child != p->vpid)
		pr_info("the root is PID %d in its new PID namespace, %d in cryo's", p->vpid, child);
	/* a failure leaves cryo in the tree's namespace: the restore stops */
	int r2 = ns_restore_post_clone(&ns_back);
	return ret ? ret : r2;
}

/* The window between create_root and seize_root is the fault point
 * restore:root-created: until the seize, only its parent-death signal ties
 * the new task to cryo. */
int seize_root(struct rst_ctx *ctx, struct rst_proc *p)
{
	pid_t child = p->pid;
	if (ptrace(PTRACE_SEIZE, child, 0, TRACE_OPTS) || ptrace(PTRACE_INTERRUPT, child, 0, 0))
		return_perror("can't seize the new task %d", child);
	int ret = wait_new_task(child);
	/* Everything blocked but SIGTRAP: the trampoline stops on int3, and a
	 * SIGTRAP forced while blocked would reset the task's SIGTRAP handler. */
	uint64_t mask = ~(1ULL << (SIGTRAP - 1));
	if (!ret && ptrace(PTRACE_SETSIGMASK, child, sizeof(mask), &mask))
		return_perror("PTRACE_SETSIGMASK of new task %d failed", child);
	if (!ret)
		ret = remote_init_gadget(&rst_leader(p)->r, child);
	if (!ret)
		ret = remote_setup_trampoline(&rst_leader(p)->r, ctx->trampoline);
	return ret;
}

/* Run clone3 in @r's task, creating @tid (its PID as the tree sees it);
 * returns 0 once the new task is stopped and traced, *@host its PID as
 * cryo sees it. */
static int clone_in_levels(struct remote *r, const pid_t *set_tid, int n, pid_t expect,
			   uint64_t flags, int exit_signal, pid_t *host);
static int clone_in(struct remote *r, pid_t tid, uint64_t flags, int exit_signal, pid_t *host)
{
	return clone_in_levels(r, &tid, 1, tid, flags, exit_signal, host);
}

/* The same with a PID at each of @n PID namespace levels (@set_tid,
 * innermost first); @expect: what clone3 returns, its PID as @r's task
 * sees it. */
static int clone_in_levels(struct remote *r, const pid_t *set_tid, int n, pid_t expect,
			   uint64_t flags, int exit_signal, pid_t *host)
{
	pid_t tid = set_tid[n - 1];	/* as the tree sees it, for messages */
	remote_scratch_reset(r);
	uint64_t tid_addr = remote_scratch_put(r, set_tid, n * sizeof(pid_t));
	struct clone_args args = {
		.flags = flags,
		.exit_signal = exit_signal,
		.set_tid = tid_addr,
		.set_tid_size = n,
	};
	uint64_t a = remote_scratch_put(r, &args, sizeof(args));
	if (!tid_addr || !a)
		return -ENOSPC;
	long ret = -EEXIST;
	for (int waited = 0; ret == -EEXIST && waited <= 5000; waited += 10) {
		ret = remote_syscall(r, __NR_clone3, a, sizeof(args), 0, 0, 0, 0);
		if (ret == -EEXIST)
			usleep(10000);
	}
	if (ret == -EEXIST) {
		pid_in_use(tid);
		return ret;
	}
	if (ret < 0)
		return log_errno(ret, "clone3 creating %d inside task %d failed", tid, r->tid);
	/* clone3 returns the PID in the caller's namespace; the fork event
	 * reports it in cryo's (the tracer's) */
	if (ret != expect || r->new_child <= 0) {
		pr_err("clone3 inside task %d created %ld instead of %d", r->tid, ret, expect);
		return -EIO;
	}
	*host = r->new_child;
	return wait_new_task(*host);
}

int restore_clone_in(struct remote *r, pid_t tid, int exit_signal, pid_t *host)
{
	return clone_in(r, tid, 0, exit_signal, host);
}

/* Helper tasks stand in for a session or group leader that left the tree:
 * forked by @parent with the leader's PID, they exist only while members
 * are created or join, then exit and are reaped by @parent. */
static int helper_create(struct rst_ctx *ctx, struct rst_proc *parent, pid_t pid,
			 struct rst_helper **out)
{
	if (ctx->nr_helpers == (int)ARRAY_SIZE(ctx->helpers)) {
		pr_err("too many sessions and groups whose leader left the tree (more than %zu)",
		       ARRAY_SIZE(ctx->helpers));
		return -EOPNOTSUPP;
	}
	struct rst_helper *h = &ctx->helpers[ctx->nr_helpers];
	pid_t host;
	int ret = clone_in(&rst_leader(parent)->r, pid, 0, SIGCHLD, &host);
	if (ret)
		return ret;
	ctx->nr_helpers++;
	*h = (struct rst_helper){ .pid = pid, .hpid = host, .parent = parent, .alive = true };
	ret = remote_init_sibling(&h->r, &rst_leader(parent)->r, host);
	if (ret)
		return ret;
	pr_debug("helper task %d created in %d", pid, parent->pid);
	*out = h;
	return 0;
}

static int helper_end(struct rst_helper *h)
{
	if (!h->alive)
		return 0;
	int ret = remote_syscall_noreturn(&h->r, __NR_exit_group, 0, 0, 0);
	h->alive = false;
	remote_fini(&h->r);
	if (ret)
		return ret;
	long got = remote_call(&rst_leader(h->parent)->r, "wait4 of a helper task", __NR_wait4, h->pid,
			 0, __WALL, 0);
	if (got != h->pid)
		return got < 0 ? got : -EIO;
	return take_back_sigchld(h->parent, h->pid);
}

/* The helper that recreates session @sid for @parent's children. */
static int session_helper(struct rst_ctx *ctx, struct rst_proc *parent, pid_t sid,
			  struct rst_helper **out)
{
	for (int i = 0; i < ctx->nr_helpers; i++)
		if (ctx->helpers[i].alive && ctx->helpers[i].pid == sid) {
			*out = &ctx->helpers[i];
			return 0;
		}
	/* the members are reparented to @parent when the helper exits */
	if (remote_call(&rst_leader(parent)->r, "prctl(PR_SET_CHILD_SUBREAPER)", __NR_prctl,
		  PR_SET_CHILD_SUBREAPER, 1, 0, 0) < 0)
		return -EPERM;
	int ret = helper_create(ctx, parent, sid, out);
	if (!ret && remote_call(&(*out)->r, "setsid", __NR_setsid, 0, 0, 0, 0) < 0)
		ret = -EPERM;
	return ret;
}

/* The root was born in new namespaces (create_root's clone flags, lib/ns's
 * kinds with a create step): cryo fills them now, before any other task
 * exists (every one inherits them), and what it opens or creates for the
 * tasks from here on (the SysV segments of lib/mem, sockets) it makes in
 * them, through the files' namespace set. */
int fill_namespaces(struct rst_ctx *ctx)
{
	ctx->files.tree_ids = ctx->procs[0].core->ids;	/* namespace files name them */
	ctx->files.ns.external = &ctx->opts->external;	/* veth[IN]:OUT */
	ctx->files.ns.opts = ctx->opts;
	int ret = 0;
	if (ctx->ns_flags)
		ret = ns_restore_create(ctx->ns_flags, ctx->procs[0].core->ids, ctx->procs[0].pid,
					ctx->dirfd, &ctx->files.ns);
	/* a network namespace other than cryo's (made or joined): cryo stays
	 * in it to the end (every socket it makes from here on is the tree's;
	 * cryo_restore_here leaves) */
	if (!ret && ctx->files.ns.fd[NS_NET] >= 0) {
		ret = ns_restore_enter_net(&ctx->files.ns, &ctx->net_back);
		ctx->in_net = !ret;
	}
	return ret;
}

/* Restore @p's memory, then create its children from inside it, depth
 * first: each child starts as a fork of its restored parent, so private
 * memory they shared copy-on-write stays shared. */
int build_tree(struct rst_ctx *ctx, struct rst_proc *p)
{
	struct remote *r = &rst_leader(p)->r;
	/* into its cgroups before its memory is charged and before it forks */
	int err = ctx->cg ? cg_restore_place(ctx->cg, p->pid, p->core->tc->cg_set) : 0;
	if (err)
		return err;
	if (p->sid == p->vpid && remote_call(r, "setsid", __NR_setsid, 0, 0, 0, 0) < 0)
		return -EPERM;
	err = restore_task_memory(ctx, p);
	if (err)
		return err;
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *c = &ctx->procs[i];
		if (c->parent != p)
			continue;
		struct remote *cr = r;	/* who forks it */
		if (c->sid != c->vpid && c->sid != p->sid) {
			struct rst_helper *h;
			/* born in @p's own PID namespace, as the helper's children */
			int ret = pidns_restore_children(ctx, p, false);
			if (!ret)
				ret = session_helper(ctx, p, c->sid, &h);
			if (ret)
				return ret;
			cr = &h->r;
		}
		pid_t host, set_tid[PIDNS_LEVELS], expect;
		uint64_t flags = c->share_flags;
		int n;
		int ret = pidns_clone_child(ctx, p, c, &flags, set_tid, &n, &expect);
		if (!ret)
			ret = clone_in_levels(cr, set_tid, n, expect, flags, SIGCHLD, &host);
		if (ret)
			return ret;
		c->pid = rst_leader(c)->tid = host;
		c->created = rst_leader(c)->created = true;
		ret = remote_init_sibling(&rst_leader(c)->r, cr, c->pid);
		if (ret)
			return ret;
		if (c->state != TASK_DEAD)
			ret = build_tree(ctx, c);
		else if (c->sid == c->vpid)	/* it led a session: make it now */
			ret = remote_call(&rst_leader(c)->r, "setsid", __NR_setsid, 0, 0, 0, 0) < 0
				      ? -EPERM : 0;
		/* a zombie stays a live fork of @p until its group is in
		 * place (set_pgids), then exits (make_zombies) */
		if (ret)
			return ret;
	}
	/* its threads are born in its own PID namespace (pidns_nested.c) */
	int r2 = pidns_restore_children(ctx, p, false);
	if (r2)
		return r2;
	/* session helpers of @p's children: their members become @p's */
	for (int i = 0; i < ctx->nr_helpers; i++)
		if (ctx->helpers[i].parent == p) {
			int ret = helper_end(&ctx->helpers[i]);
			if (ret)
				return ret;
		}
	return 0;
}

/* The process group of created process @p as the tree sees it: asked of
 * the task itself when the tree has a PID namespace of its own (cryo's
 * getpgid would answer in cryo's). */
static pid_t tree_pgid(struct rst_ctx *ctx, struct rst_proc *p)
{
	if (!(ctx->ns_flags & CLONE_NEWPID))
		return getpgid(p->pid);
	long g = remote_call(&rst_leader(p)->r, "getpgid", __NR_getpgid, 0, 0, 0, 0);
	return g < 0 ? -1 : (pid_t)g;
}

/* Does process group @pgid exist already, made by an earlier member of the
 * tree (its leader being outside the tree)? */
static bool group_made(struct rst_ctx *ctx, pid_t pgid)
{
	for (int i = 0; i < ctx->nr_procs; i++)
		if (ctx->procs[i].created && ctx->procs[i].vpid != pgid &&
		    ctx->procs[i].pgid == pgid && tree_pgid(ctx, &ctx->procs[i]) == pgid)
			return true;
	return false;
}

/* The root joined cryo's session (it led none): its group is cryo's with
 * --shell-job (criu's behaviour: a shell job restored as the restorer's
 * job), or when the group's PID is taken by a process outside the tree
 * now; otherwise it is recreated like any other.  Returns the group the
 * root and its fellow members go to (0: their old one). */
static pid_t root_group(struct rst_ctx *ctx)
{
	struct rst_proc *root = &ctx->procs[0];
	if (root->sid == root->vpid || root->pgid == root->vpid || find_proc(ctx, root->pgid))
		return 0;
	pid_t cur = getpgid(root->pid);
	if (cur == root->pgid)
		return 0;
	if (ctx->opts->shell_job)
		return cur;
	bool pid_taken = kill(root->pgid, 0) == 0 || errno != ESRCH;
	bool group_exists = kill(-root->pgid, 0) == 0 || errno != ESRCH;
	if (!pid_taken && !group_exists)
		return 0;	/* a helper task makes it again */
	/* The group is there (in cryo's session if this works: the root is
	 * cryo's child and has not exec'd, so cryo may move it) */
	if (group_exists && setpgid(root->pid, root->pgid) == 0)
		return 0;
	pr_warn("the root %d was in process group %d, whose leader was outside the tree; "
		"%s outside the tree now, so the root stays in cryo's group %d", root->pid,
		root->pgid, group_exists ? "that group exists in another session" :
		"its PID is taken", cur);
	return cur;
}

/* Process groups: leaders create theirs first, then members join.  A group
 * whose leader is outside the tree is made by a helper task with the
 * leader's PID for its first member; the others join the group then. */
int set_pgids(struct rst_ctx *ctx)
{
	struct rst_proc *root = &ctx->procs[0];
	pid_t root_pgid = root_group(ctx);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < ctx->nr_procs; i++) {
			struct rst_proc *p = &ctx->procs[i];
			if ((pass == 0) != (p->pgid == p->vpid))
				continue;	/* zombies too: they are still alive */
			if (p->nslv) {	/* in a nested PID namespace */
				int ret = pidns_set_pgid(ctx, p, root_pgid);
				if (ret)
					return ret;
				continue;
			}
			pid_t pgid = p->pgid;
			if (root_pgid && pgid == root->pgid)
				pgid = root_pgid;	/* the root's group is cryo's */
			pid_t cur = tree_pgid(ctx, p);
			if (cur == pgid)
				continue;
			struct rst_helper *h = NULL;
			if (pgid == p->pgid && !find_proc(ctx, pgid) && !group_made(ctx, pgid)) {
				/* the leader left the tree: a helper of that PID
				 * makes the group, in @p's session */
				int ret = helper_create(ctx, p, pgid, &h);
				if (!ret && remote_call(&h->r, "setpgid", __NR_setpgid, 0, 0, 0, 0) < 0)
					ret = -EPERM;
				if (ret)
					return ret;
			}
			long ret = remote_call(&rst_leader(p)->r, "setpgid", __NR_setpgid, 0, pgid, 0, 0);
			if (!ret && h)
				ret = helper_end(h);
			if (ret)
				return ret;
		}
	return 0;
}

void kill_created(struct rst_ctx *ctx)
{
	for (int i = 0; i < ctx->nr_helpers; i++) {
		struct rst_helper *h = &ctx->helpers[i];
		if (!h->alive)
			continue;
		kill(h->hpid, SIGKILL);
		int st;
		while (waitpid(h->hpid, &st, __WALL) < 0 && errno == EINTR)
			;
		h->alive = false;
	}
	/* all first: a nested PID namespace's init ends only once every
	 * process in it is reaped, some by a parent outside it */
	for (int i = 0; i < ctx->nr_procs; i++)
		if (ctx->procs[i].created)
			kill(ctx->procs[i].pid, SIGKILL);
	for (int i = ctx->nr_procs - 1; i >= 0; i--) {
		struct rst_proc *p = &ctx->procs[i];
		if (!p->created)
			continue;
		kill(p->pid, SIGKILL);
		/* threads before the leader: its exit is reported after theirs */
		for (int t = p->nr_threads - 1; t >= 0; t--) {
			int st;
			if (p->thr[t].created)
				while (waitpid(p->thr[t].tid, &st, __WALL) < 0 && errno == EINTR)
					;
			p->thr[t].created = false;
		}
		p->created = false;
	}
}


/* Before any task exists: the images must not record a namespace cryo
 * can't create (lib/ns), and with --manage-cgroups (but "ignore") every
 * process must have been in the dumping tool's own cgroups (criu's root
 * cgroup set), the only ones cryo can put it back in. */
int check_namespaces_cgroups(struct rst_ctx *ctx)
{
	const char *mode = ctx->opts->manage_cgroups;
	const TaskKobjIdsEntry *root_ids = ctx->inv->root_ids;
	int ret = 0;

	/* ns_restore_check for each, nested PID namespaces included */
	ret = pidns_restore_plan(ctx, root_ids);
	/* the namespaces the root gets new (its clone3's flags) */
	if (!ret)
		ctx->ns_flags = ns_restore_flags(root_ids, ctx->procs[0].core->ids);
	if (!ret)
		ret = ns_restore_check_images(ctx->ns_flags, ctx->procs[0].core->ids, ctx->dirfd);
	if (!ret)
		ret = pidns_restore_check_root(ctx->ns_flags, ctx->procs[0].vpid,
					       ctx->opts->pid_ns || getpid() == 1);
	for (int i = 0, tasks = 0; !ret && i < ctx->nr_procs; i++)
		if ((tasks += ctx->procs[i].nr_threads > 1 ? ctx->procs[i].nr_threads : 1) > 1)
			ret = userns_restore_check_tree(ctx->ns_flags, tasks);
	if (!ret && ctx->opts->root && !(ctx->ns_flags & CLONE_NEWNS)) {
		pr_err("--root %s: the tree was dumped in cryo's own mount namespace, so there is "
		       "no root mount of its own to replace; restore without --root",
		       ctx->opts->root);
		ret = -EINVAL;
	}
	if (ret || !mode || !strcmp(mode, "ignore"))
		return ret;
	/* lib/cgroup: the sets of the live processes, the root's first, then
	 * those of threads in other cgroups (thread_core cg_set) */
	size_t all = ctx->nr_procs;
	for (int i = 0; i < ctx->nr_procs; i++)
		all += (size_t)ctx->procs[i].nr_threads;
	uint32_t *sets = calloc(all ?: 1, sizeof(*sets));
	int nr = 0;
	if (!sets)
		return -ENOMEM;
	for (int i = 0; i < ctx->nr_procs; i++) {
		const TaskCoreEntry *tc = ctx->procs[i].core->tc;
		if (ctx->procs[i].state == TASK_DEAD)
			continue;
		if (!ctx->inv->has_root_cg_set || !tc->has_cg_set) {
			pr_err("--manage-cgroups=%s: the images do not record the cgroups of process %d "
			       "(written by an older cryo): restore with --manage-cgroups=ignore or "
			       "without the option to put it into cryo's cgroup", mode,
			       ctx->procs[i].pid);
			free(sets);
			return -EOPNOTSUPP;
		}
		sets[nr++] = tc->cg_set;
	}
	for (int i = 0; i < ctx->nr_procs; i++)
		for (int k = 1; ctx->procs[i].state != TASK_DEAD && k < ctx->procs[i].nr_threads; k++) {
			const ThreadCoreEntry *th = ctx->procs[i].thr[k].core->thread_core;
			if (th && th->has_cg_set && th->cg_set != ctx->procs[i].core->tc->cg_set)
				sets[nr++] = th->cg_set;
		}
	/* A new cgroup namespace is rooted where its creator (cryo) is when
	 * the root is cloned, not where the root is moved to afterwards:
	 * create_root clones it from inside the root's cgroups
	 * (cg_restore_place of cryo itself, then back). */
	bool moved = false;
	for (int i = 0; i < nr; i++)
		moved |= sets[i] != ctx->inv->root_cg_set;
	/* --images-trust owner: making cgroups, writing their limits and moving
	 * tasks between them is root's, not an unprivileged author's */
	struct stat dst;
	if (moved && ctx->opts->images_trust_owner && !fstat(ctx->dirfd, &dst) && dst.st_uid) {
		pr_err("--images-trust owner: the images (owner uid %u) ask for processes to be put "
		       "into cgroups of their own (--manage-cgroups=%s), which only root's images "
		       "may; restore with --manage-cgroups=ignore", (unsigned)dst.st_uid, mode);
		free(sets);
		return -EPERM;
	}
	ret = cg_restore_prepare(&ctx->cg, ctx->opts, ctx->dirfd, ctx->inv->root_cg_set, sets, nr);
	free(sets);
	return ret;
}

/* stats-restore (criu's restore_stats_entry), and with --display-stats the
 * same figures on the console, in criu's words.  Pages restored: the
 * present pages of the images; compared / kept: children's pages checked
 * against (and left shared with) their parent's. */
void write_restore_stats(struct rst_ctx *ctx, uint64_t forking_ns, uint64_t total_ns)
{
	RestoreStatsEntry rs = RESTORE_STATS_ENTRY__INIT;
	StatsEntry se = STATS_ENTRY__INIT;

	for (int i = 0; i < ctx->nr_procs; i++) {
		const struct mem_image *mi = &ctx->procs[i].mem;
		if (ctx->procs[i].state == TASK_DEAD)
			continue;
		for (int k = 0; k < mi->n_pe; k++)
			if (mi->pe[k]->flags & PE_PRESENT)
				rs.pages_restored += mi->pe[k]->nr_pages;
	}
	rs.has_pages_restored = 1;
	rs.has_pages_compared = rs.has_pages_skipped_cow = 1;
	rs.pages_compared = ctx->cow.pages_compared;
	rs.pages_skipped_cow = ctx->cow.pages_skipped_cow;
	rs.has_forking_time = rs.has_restore_time = 1;
	rs.forking_time = forking_ns / 1000;
	rs.restore_time = total_ns / 1000;
	se.restore = &rs;
	if (ctx->opts->display_stats) {
		pr_msg("Displaying restore stats:");
		pr_msg("Pages compared: %llu (0x%llx)", (unsigned long long)rs.pages_compared,
		       (unsigned long long)rs.pages_compared);
		pr_msg("Pages skipped COW: %llu (0x%llx)", (unsigned long long)rs.pages_skipped_cow,
		       (unsigned long long)rs.pages_skipped_cow);
		pr_msg("Pages restored: %llu (0x%llx)", (unsigned long long)rs.pages_restored,
		       (unsigned long long)rs.pages_restored);
		pr_msg("Restore time: %u us", rs.restore_time);
		pr_msg("Forking time: %u us", rs.forking_time);
	}
	/* statistics only: a failure to write them does not fail the restore */
	if (faccessat(ctx->dirfd, ".", W_OK, AT_EACCESS))
		return;
	if (stats_write(ctx->dirfd, ctx->opts->work_dir, IMG_STATS_RESTORE, &se))
		pr_warn("can't write stats-restore; the restore itself succeeded");
}
