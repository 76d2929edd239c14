/* The restore pipeline as a table of stages (util/pipeline.h), walked by
 * the stage engine: read and check the images, create the tree, restore
 * every task, release it.  A failure from the root's creation on kills
 * everything created: nothing is left behind. */
#include "cryo.h"
#include "cgroup/cgroup.h"
#include "images/image.h"
#include "kerndat/kerndat.h"
#include "ns/ns.h"
#include "restore/restore.h"
#include "creds/creds.h"
#include "arch/cpuinfo.h"
#include "seize/seize.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/pipeline.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

struct restore_run {
	struct rst_ctx ctx;
	uint64_t t0, t_forking, t_created;
	bool files_finished;	/* cryo's copies closed already */
	pid_t root;		/* the root's PID, for notifications, once created */
};

static int st_images(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	struct cryo_opts *o = ctx->opts;
	int ret = img_dir_read_inventory(ctx->dirfd, o->images_dir ? o->images_dir : ".",
					 (ProtobufCMessage **)&ctx->inv);
	if (!ret)
		ret = load_pstree(ctx);
	sockets_register_fd_kinds();
	if (!ret)
		ret = files_restore_load(&ctx->files, ctx->dirfd, o);
	if (!ret) {
		ctx->files.host_pid = restore_host_pid;
		ctx->files.host_pid_arg = ctx;
		ctx->files.as_creator = restore_as_creator;
		ctx->files.creator_hold = restore_creator_hold;
		ctx->files.creators_release = restore_creators_release;
	}
	if (!ret)
		ret = creds_restore_prepare(&ctx->creds, ctx->dirfd);
	if (!ret)
		ret = lsm_restore_prepare(&ctx->creds, o, ctx->inv->has_lsmtype, ctx->inv->lsmtype);
	if (!ret) {
		/* an incremental dump: its previous dumps hold its PE_PARENT pages */
		ret = img_dir_parents(ctx->dirfd, o->images_dir ? o->images_dir : ".",
				      ctx->prev_dirs, IMG_MAX_PARENTS);
		if (ret >= 0) {
			ctx->nr_prev_dirs = ret;
			ret = 0;
		}
	}
	for (int i = 0; i < ctx->nr_procs && !ret; i++)
		ret = load_proc(ctx, &ctx->procs[i]);
	return ret;
}

static int st_checks(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	int ret = check_namespaces_cgroups(ctx);
	if (!ret && ctx->opts->cpu_cap) {
		/* criu's CPU_CAP_IMAGE: check this CPU against cpuinfo.img */
		unsigned caps;
		ret = cpuinfo_parse_caps(ctx->opts->cpu_cap, &caps);
		if (!ret && caps)
			ret = cpuinfo_check(ctx->dirfd, ctx->opts->images_dir ?
					    ctx->opts->images_dir : ".", caps);
	}
	if (!ret)
		ret = restore_check_trust(ctx);
	for (int i = 0; i < ctx->nr_procs && !ret; i++) {
		const struct rst_proc *p = &ctx->procs[i];
		if (p->state == TASK_DEAD)
			continue;
		const ThreadCoreEntry *tces[p->nr_threads];
		for (int j = 0; j < p->nr_threads; j++)
			tces[j] = p->thr[j].core->thread_core;
		ret = lsm_restore_check(&ctx->creds, p->pid, tces, p->nr_threads);
	}
	if (!ret && ctx->procs[0].state == TASK_DEAD) {
		pr_err("the root process %d was a zombie: there is nothing to restore", ctx->procs[0].pid);
		ret = -EINVAL;
	}
	return ret;
}

static int st_shared_memory(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	/* SysV segments: in the tree's new IPC namespace, its ipcns-shm-ID.img */
	uint32_t ipc_id = 0;
	if (ctx->ns_flags & CLONE_NEWIPC)
		ns_ids_get(ns_desc(NS_IPC), ctx->procs[0].core->ids, &ipc_id);
	int ret = shmem_registry_init(&ctx->shmem, ctx->dirfd, ipc_id, &ctx->files.ns);
	ctx->shmem_ready = !ret;
	if (!ret)
		ctx->files.memfd = shmem_memfd_restore_ops(&ctx->shmem);
	for (int i = 0; i < ctx->nr_procs && !ret; i++)
		if (ctx->procs[i].state != TASK_DEAD)
			ret = shmem_registry_note(&ctx->shmem, &ctx->files, ctx->procs[i].mem.mm);
	return ret;
}

static int st_tree_checks(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	int ret = check_sessions(ctx);
	if (!ret)
		ret = check_shared(ctx);
	return ret;
}

static int st_trampoline(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	return pick_trampoline(ctx, &ctx->trampoline);
}

/* --manage-cgroups: the tree's cgroups made and their properties set
 * (lib/cgroup); undone, once the tasks are killed, by removing the ones
 * cryo made. */
static int st_cgroups(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	int ret = cg_restore_dirs(ctx->cg);
	if (ret)	/* a failed stage cleans up after itself */
		cg_restore_undo(ctx->cg);
	return ret;
}

static void st_cgroups_undo(void *arg)
{
	cg_restore_undo(((struct restore_run *)arg)->ctx.cg);
}

static int st_loaded(void *arg)
{
	struct restore_run *run = arg;
	pr_debug("images loaded (%d processes)", run->ctx.nr_procs);
	return 0;
}

/* Any failure from the creation of the root on: cryo's copies of the files
 * go, the TCP connections stay locked, and every task created so far is
 * killed and reaped. */
static void st_loaded_undo(void *arg)
{
	struct restore_run *run = arg;
	struct rst_ctx *ctx = &run->ctx;
	if (!run->files_finished) {
		files_restore_finish(&ctx->files, false);
		if (ctx->shmem_ready)
			shmem_registry_close_fds(&ctx->shmem);
	}
	sk_inet_restore_released(&ctx->files, false);	/* TCP connections: the network lock */
	kill_created(ctx);
	pr_err("restore failed; nothing of it was left running");
}

static int st_create_root(void *arg)
{
	struct restore_run *run = arg;
	run->t_forking = now_ns();
	return create_root(&run->ctx, &run->ctx.procs[0]);
}

static int st_seize_root(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	return seize_root(ctx, &ctx->procs[0]);
}

static int st_namespaces(void *arg)
{
	return fill_namespaces(&((struct restore_run *)arg)->ctx);
}

static int st_tree(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	return build_tree(ctx, &ctx->procs[0]);
}

static int st_groups(void *arg)
{
	return set_pgids(&((struct restore_run *)arg)->ctx);
}

static int st_zombies(void *arg)
{
	struct restore_run *run = arg;
	int ret = make_zombies(&run->ctx);
	run->t_created = now_ns();
	if (!ret)
		pr_debug("tree created");
	return ret;
}

static int st_tasks(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	/* sockets made by a task of the tree: while each one still can */
	int ret = files_restore_preopen(&ctx->files);
	for (int i = 0; !ret && i < ctx->nr_procs; i++)
		if (ctx->procs[i].state != TASK_DEAD)
			ret = restore_task_state(ctx, &ctx->procs[i]);
	return ret;
}

/* cryo's copies of the files go before the tasks run (a pipe's write end
 * held here would keep its reader from seeing EOF) */
static int st_close_files(void *arg)
{
	struct restore_run *run = arg;
	/* the owners that are threads: they exist now */
	int ret = files_restore_owners(&run->ctx.files);
	if (ret)
		return ret;
	run->files_finished = true;
	files_restore_finish(&run->ctx.files, true);
	if (run->ctx.shmem_ready)
		shmem_registry_close_fds(&run->ctx.shmem);
	return 0;
}

/* --lazy-pages (mem/lazy.h): the daemon must be there before any task
 * exists; it takes the tree once every task is restored. */
static bool want_lazy(void *arg)
{
	return ((struct restore_run *)arg)->ctx.opts->lazy_pages;
}

static int st_lazy_connect(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	const struct cryo_opts *o = ctx->opts;
	if (!kdat_has(KF_UFFD_NONCOOP)) {
		pr_err("restore --lazy-pages needs userfaultfd with the fork, remap, remove and "
		       "unmap events, which this kernel lacks (cryo check --feature uffd-noncoop "
		       "says why); restore without --lazy-pages");
		return -EOPNOTSUPP;
	}
	const char *dir = o->work_dir ? o->work_dir : o->images_dir ? o->images_dir : ".";
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return_perror("can't open the work directory %s", dir);
	int ret = lazy_restore_connect(&ctx->lazy, dirfd, dir);
	close(dirfd);
	for (int i = 0; !ret && i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		p->mem.lazy = true;
		/* the rseq registrations write there before the hand-off */
		for (int t = 0; !ret && t < p->nr_threads; t++) {
			const ThreadCoreEntry *tc = p->thr[t].core ? p->thr[t].core->thread_core : NULL;
			const RseqEntry *re = tc ? tc->rseq_entry : NULL;
			if (re && re->rseq_abi_pointer)
				ret = lazy_add_eager(&p->mem, re->rseq_abi_pointer, re->rseq_abi_size);
			if (!ret && re && re->has_rseq_cs_pointer && re->rseq_cs_pointer)
				ret = lazy_add_eager(&p->mem, re->rseq_cs_pointer, 32);
		}
	}
	return ret;
}

static int st_lazy_handoff(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	int ret = 0;
	for (int i = 0; !ret && i < ctx->nr_procs; i++)
		if (ctx->procs[i].state != TASK_DEAD)
			ret = lazy_restore_send(&ctx->lazy, ctx->procs[i].pid, &ctx->procs[i].mem,
						ctx->procs[i].pages_fd,
						page_prevs_head(&ctx->procs[i].prev));
	if (!ret)
		ret = lazy_restore_finish(&ctx->lazy);
	return ret;
}

static int st_pidfile(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	return ctx->opts->pidfile ? write_pidfile(ctx->opts->pidfile, ctx->procs[0].pid) : 0;
}

/* The last step that can fail: if a detach fails, the tasks let go before
 * it are taken back and killed with the others. */
static int st_release(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	int ret = release_all(ctx);
	if (!ret)
		release_done(ctx);
	return ret;
}

static int st_unlock(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	sk_inet_restore_released(&ctx->files, true);	/* TCP connections: the network lock */
	return 0;
}

static bool wants_dedup(void *arg)
{
	return ((struct restore_run *)arg)->ctx.opts->auto_dedup;
}

/* restore --auto-dedup (criu's): the tree runs, the pages it read are
 * spent: punched out of the images (mem/dedup.c).  The restore succeeded
 * whatever happens here: a failure is a warning. */
static int st_dedup(void *arg)
{
	struct rst_ctx *ctx = &((struct restore_run *)arg)->ctx;
	if (mem_dedup(ctx->dirfd, ctx->opts->images_dir, true))
		pr_warn("--auto-dedup failed: the tree is restored, its images keep their pages");
	return 0;
}

/* The stages, each named after the moment it starts at: "before-create",
 * "root-created" and "before-release" are the fault points tests use
 * ("memory" and "task-state" are per process, in restore_task.c).  Once the
 * tree is released nothing is undone.  The root is born in the tree's new
 * namespaces; "namespaces", between "setup-namespaces" and
 * "post-setup-namespaces", fills them. */
static const struct stage restore_stages[] = {
	{ .name = "images", .run = st_images },
	{ .name = "checks", .run = st_checks },
	{ .name = "lazy-connect", .run = st_lazy_connect, .wanted = want_lazy },
	{ .name = "shared-memory", .run = st_shared_memory },
	{ .name = "tree-checks", .run = st_tree_checks },
	{ .name = "trampoline", .run = st_trampoline },
	{ .name = "cgroups", .run = st_cgroups, .undo = st_cgroups_undo },
	{ .name = "loaded", .run = st_loaded, .undo = st_loaded_undo },
	{ .name = "before-create", .run = st_create_root, .before = "pre-restore",
	  .flags = STAGE_POINT },
	{ .name = "root-created", .run = st_seize_root, .after = "setup-namespaces",
	  .flags = STAGE_POINT },
	{ .name = "namespaces", .run = st_namespaces },
	{ .name = "tree", .run = st_tree, .before = "post-setup-namespaces" },
	{ .name = "groups", .run = st_groups },
	{ .name = "zombies", .run = st_zombies },
	{ .name = "tasks", .run = st_tasks },
	{ .name = "close-files", .run = st_close_files },
	{ .name = "lazy-handoff", .run = st_lazy_handoff, .wanted = want_lazy },
	{ .name = "before-release", .run = st_pidfile, .before = "post-restore",
	  .flags = STAGE_POINT },
	{ .name = "release", .run = st_release, .before = "pre-resume", .flags = STAGE_COMMIT },
	{ .name = "network-unlock", .run = st_unlock, .before = "network-unlock",
	  .after = "post-resume" },
	{ .name = "dedup", .run = st_dedup, .wanted = wants_dedup },
};

/* Notifications name the root once it exists. */
static int restore_pid_of(void *arg)
{
	struct restore_run *run = arg;
	const struct rst_ctx *ctx = &run->ctx;
	if (!run->root && ctx->nr_procs && ctx->procs[0].created)
		run->root = ctx->procs[0].pid;	/* kept once the tree is released */
	return run->root;
}

/* The restore proper, in cryo's own PID namespace.  @root_out: the root's
 * PID once restored. */
int cryo_restore_here(struct cryo_opts *o, int *exit_status, pid_t *root_out)
{
	struct restore_run run = { .ctx = { .opts = o }, .t0 = now_ns() };
	struct rst_ctx *ctx = &run.ctx;
	struct pipeline pl = PIPELINE("restore", restore_stages, o->notify);
	pl.pid_of = restore_pid_of;
	int ret;

	ctx->dirfd = img_dir_open(o->images_dir, false);
	if (ctx->dirfd < 0)
		return ctx->dirfd;
	ret = pipeline_run(&pl, &run);
	if (ctx->in_net) {	/* fill_namespaces: back from the tree's */
		int r2 = ns_leave(ns_desc(NS_NET), ctx->net_back);
		ctx->in_net = false;
		ret = ret ? ret : r2;
	}
	if (ret)
		goto out;
	struct rst_proc *root = &ctx->procs[0];
	pr_info("restored %d process(es) in %llu us", ctx->nr_procs,
		(unsigned long long)(now_ns() - run.t0) / 1000);
	write_restore_stats(ctx, run.t_created - run.t_forking, now_ns() - run.t0);
	if (ctx->cow.pages_compared)
		pr_info("pages compared with the parent's: %llu, kept shared: %llu",
			(unsigned long long)ctx->cow.pages_compared,
			(unsigned long long)ctx->cow.pages_skipped_cow);
	if (root_out)
		*root_out = root->pid;
	if (!o->restore_detached && !o->restore_sibling && !o->exec_cmd) {
		int st;
		while (waitpid(root->pid, &st, 0) < 0) {
			if (errno != EINTR) {
				ret = -errno;
				pr_perror("waiting for the restored process %d failed", root->pid);
				goto out;
			}
		}
		if (exit_status)
			*exit_status = st;
	}
out:
	if (ctx->shmem_ready)
		shmem_registry_free(&ctx->shmem, ret != 0);
	free_procs(ctx);
	cg_restore_free(ctx->cg);
	if (ctx->inv)
		protobuf_c_message_free_unpacked(&ctx->inv->base, NULL);
	if (ctx->ns_flags || ctx->ns_joined)	/* set only once the files' set exists */
		ns_set_close(&ctx->files.ns);
	files_restore_free(&ctx->files);
	lazy_restore_free(&ctx->lazy);
	creds_restore_finish(&ctx->creds);
	for (int i = 0; i < ctx->nr_prev_dirs; i++)
		close(ctx->prev_dirs[i]);
	close(ctx->dirfd);
	return ret;
}

int restore_tree(struct cryo_opts *o, int *exit_status)
{
	if (o->pid_ns)
		return restore_in_new_pidns(o, exit_status);
	return cryo_restore_here(o, exit_status, NULL);
}

