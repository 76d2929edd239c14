/* Incremental dumps: `cryo pre-dump` (the tree's private memory, with
 * dirty tracking started or carried on, the tree left running) and the
 * previous-dump stage both pipelines share (`--prev-images-dir`: the
 * "parent" link, the tracking taken from the previous pre-dump's holder,
 * PE_PARENT entries through the incremental page sink).  See mem/track.h
 * for how the tracking works and where it is held. */
#include "cryo.h"
#include "dump/dump.h"
#include "images/image.h"
#include "kerndat/kerndat.h"
#include "mem/lazy.h"
#include "proc/proc.h"
#include "util/pipeline.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the previous dump (both pipelines) ---- */

bool dump_has_prev(void *arg)
{
	struct dump_run *run = arg;
	return run->ctx.opts->prev_images_dir != NULL;
}

int dump_st_prev(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	const char *prev = ctx->opts->prev_images_dir;
	int ret = 0;

	/* relative to the images directory, as criu's */
	int fd = openat(ctx->dirfd, prev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open the previous dump's directory %s "
				 "(--prev-images-dir, relative to the images directory)", prev);
	struct stat a, b;
	if (fstat(fd, &a) || fstat(ctx->dirfd, &b)) {
		ret = log_errno(-errno, "can't stat the images directories");
	} else if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		pr_err("--prev-images-dir %s is the images directory itself: the dump would "
		       "replace the images it leaves its unchanged pages to; dump into a new "
		       "directory", prev);
		ret = -EINVAL;
	}
	if (!ret)
		ret = img_dir_check_complete(fd, prev);
	/* (a record that can't be read costs only what it would tell) */
	if (!ret && restart_calls_load(ctx, fd) == -ENOMEM)
		ret = -ENOMEM;
	if (!ret)
		ret = mem_track_take(fd, prev, &ctx->track);
	if (!ret && !ctx->pre_dump && !ctx->opts->track_mem) {
		/* taken all the same: the dump ends it */
		pr_warn("--prev-images-dir %s without --track-mem: the tracking is not used, "
			"every page is written (a full dump)", prev);
		close(fd);
		return 0;
	}
	if (ret || !ctx->track.n) {
		/* no tracking: a full dump, which needs no parent */
		close(fd);
		return ret;
	}
	ctx->prev_dirfd = fd;
	if (unlinkat(ctx->dirfd, IMG_PARENT_LINK, 0) && errno != ENOENT)
		ret = log_errno(-errno, "can't remove the old " IMG_PARENT_LINK " link of the "
				"images directory");
	if (!ret && symlinkat(prev, ctx->dirfd, IMG_PARENT_LINK))
		ret = log_errno(-errno, "can't link the images directory to the previous dump %s "
				"(" IMG_PARENT_LINK ")", prev);
	return ret;
}

/* A failed dump gives the tracking back to a holder: the next try is
 * incremental still. */
void dump_st_prev_undo(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	if (ctx->prev_dirfd < 0 || !ctx->track.n)
		return;
	if (ctx->track_spent) {
		pr_warn("the dirty tracking since %s ends with this failed pre-dump: the next dump "
			"of this tree will write every page", ctx->opts->prev_images_dir);
		return;
	}
	mem_track_hold(ctx->prev_dirfd, &ctx->track);
}

int dump_pages_sink(struct dump_ctx *ctx, struct page_sink *sink, struct page_dump **out)
{
	/* The lazy sink behind the incremental one: pages unchanged since the
	 * previous dump become PE_PARENT (already at the destination), only
	 * the ones written since are left PE_LAZY (pre-copy + post-copy). */
	if (ctx->opts->lazy_pages && !ctx->pre_dump) {
		int ret = page_sink_lazy(sink, &sink);	/* mem/lazy.h */
		if (ret)
			return ret;
		ctx->lazy = sink;
	}
	if (ctx->prev_dirfd >= 0) {
		int ret = page_sink_incremental(sink, ctx->prev_dirfd, &sink);
		if (ret)
			return ret;
		ctx->incr = sink;
	}
	return page_dump_new(sink, out);
}

/* ---- cryo pre-dump ---- */

/* The VMAs a pre-dump saves: private anonymous memory, the only kind the
 * tracking covers (the dump after writes everything else whole). */
static int pre_vmas(pid_t pid, const struct proc_maps *maps, MmEntry *mm)
{
	mm->vmas = xzalloc(sizeof(*mm->vmas) * (maps->n + 1));
	if (!mm->vmas)
		return -ENOMEM;
	for (int i = 0; i < maps->n; i++) {
		const struct proc_vma *pv = &maps->v[i];
		const char *path = pv->path;
		bool anon = !path || !strcmp(path, "[heap]") || !strcmp(path, "[stack]") ||
			    !strncmp(path, "[anon:", 6);
		if (!anon || pv->shared || pv->vm_io || pv->vm_pfnmap || pv->vm_hugetlb ||
		    (pv->vmf & VMF(DP)))
			continue;
		VmaEntry *v = xzalloc(sizeof(*v));
		if (!v)
			return -ENOMEM;
		vma_entry__init(v);
		v->start = pv->start;
		v->end = pv->end;
		v->prot = pv->prot;
		v->flags = MAP_PRIVATE | MAP_ANONYMOUS;
		v->status = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
		v->has_fd = 1;
		v->fd = -1;
		mm->vmas[mm->n_vmas++] = v;
	}
	pr_debug("process %d: %zu private anonymous VMAs to pre-dump", pid, mm->n_vmas);
	return 0;
}

/* A process the tracking does not cover yet must not use userfaultfd
 * itself: its registrations would read as ours. */
static int pre_check_uffd(const struct seized_proc *p, const struct proc_maps *maps)
{
	for (int i = 0; i < maps->n; i++) {
		const struct proc_vma *pv = &maps->v[i];
		if (!pv->vm_uffd_wp && !pv->vm_uffd_missing)
			continue;
		pr_err("process %d (%s) uses userfaultfd itself (memory 0x%llx-0x%llx is "
		       "registered): cryo's dirty tracking would be mixed with its own; pre-dump "
		       "can't track it, use a plain dump", p->pid, p->comm,
		       (unsigned long long)pv->start, (unsigned long long)pv->end);
		return -EOPNOTSUPP;
	}
	return 0;
}

struct start_arg {
	struct dump_ctx *ctx;
	pid_t pid;
};

static int start_tracking(struct remote *r, void *arg)
{
	struct start_arg *a = arg;
	return mem_track_start(&a->ctx->track, r, a->pid);
}

/* One process of a pre-dump: its VMAs and the pages not written since the
 * previous dump, as the tracking says once it protected the written ones
 * again.  Frozen. */
struct pre_state {
	struct seized_proc *p;
	MmEntry mm;
	struct mem_page_runs clean;
};

static void pre_state_free(struct pre_state *s)
{
	for (size_t i = 0; i < s->mm.n_vmas; i++)
		free(s->mm.vmas[i]);
	free(s->mm.vmas);
	s->mm.vmas = NULL;
	s->mm.n_vmas = 0;
	mem_page_runs_free(&s->clean);
}

/* Soft-dirty: clear the bits of @p (its pages read, or the tree about to
 * be let go). */
static int pre_rearm(struct dump_ctx *ctx, struct seized_proc *p)
{
	/* the bits since the previous dump are gone with it */
	ctx->track_spent = true;
	return mem_track_rearm(mem_track_find(&ctx->track, p->pid));
}

static int pre_protect(struct dump_ctx *ctx, struct pre_state *s)
{
	struct seized_proc *p = s->p;
	struct proc_maps maps = { 0 };
	int ret = proc_read_maps(p->pid, &maps);
	if (!ret)
		ret = pre_vmas(p->pid, &maps, &s->mm);
	bool sd = ctx->track.kind == KDAT_DT_SOFT_DIRTY;
	if (!ret && !mem_track_find(&ctx->track, p->pid)) {
		/* new to the tracking (first pre-dump, or forked since) */
		struct start_arg a = { ctx, p->pid };
		if (sd) {
			ret = mem_track_start_sd(&ctx->track, p->pid);
		} else {
			ret = pre_check_uffd(p, &maps);
			if (!ret)
				ret = dump_leader_call(ctx, p, &maps, start_tracking, &a);
		}
	}
	/* uffd-wp: protect first (the written pages again, new VMAs
	 * registered), then copy: every page written after the protection,
	 * during the copy too, is seen by the next dump.  Soft-dirty: read the
	 * bits, copy, then clear them (pre_rearm), all frozen; with the tree let
	 * go before the copy, clear them here */
	if (!ret) {
		/* from here on, written pages are protected again: the
		 * previous dump's tracking no longer tells what changed since
		 * it, and can't be handed back if this pre-dump fails */
		if (!sd)
			ctx->track_spent = true;
		ret = mem_track_scan(mem_track_find(&ctx->track, p->pid), &s->mm, true, &s->clean);
	}
	if (!ret && sd && ctx->opts->background_snapshot)
		ret = pre_rearm(ctx, p);
	proc_maps_free(&maps);
	return ret;
}

static int pre_copy(struct dump_ctx *ctx, struct pre_state *s)
{
	if (ctx->incr)
		page_sink_set_clean(ctx->incr, &s->clean);
	return mem_dump_pages(ctx->pages, s->p->pid, s->p->vpid, &s->mm, ctx->next_pages_id++, 0,
			      NULL, NULL, &ctx->mem);
}

/* --background-snapshot: all the tree protected, then let go, then copied
 * (criu's read mode).  What the tree writes meanwhile may reach the images
 * torn, but the tracking saw the write: the next dump writes the page
 * again, so the chain ends consistent. */
static int pre_memory_bg(struct dump_run *run)
{
	struct dump_ctx *ctx = &run->ctx;
	int n = ctx->tree.nr_procs, ret = 0;
	struct pre_state *st = xzalloc(sizeof(*st) * (n + 1));
	if (!st)
		return -ENOMEM;
	for (int i = 0; !ret && i < n; i++) {
		st[i].p = ctx->tree.procs[i];
		st[i].mm = (MmEntry)MM_ENTRY__INIT;
		if (st[i].p->state != TASK_DEAD)
			ret = pre_protect(ctx, &st[i]);
	}
	if (!ret) {
		run->bg_released = true;
		ret = dump_release_undumped(run);
		ctx->bg_t_released = now_ns();
		pr_info("pre-dump: the tree was frozen for %llu us; its memory is copied while it "
			"runs", (unsigned long long)(ctx->bg_t_released - run->t_frozen) / 1000);
	}
	for (int i = 0; !ret && i < n; i++)
		if (st[i].p->state != TASK_DEAD)
			ret = pre_copy(ctx, &st[i]);
	for (int i = 0; i < n; i++)
		pre_state_free(&st[i]);
	free(st);
	return ret;
}

static int pre_proc(struct dump_ctx *ctx, struct seized_proc *p)
{
	struct pre_state s = { .p = p, .mm = MM_ENTRY__INIT };
	int ret = pre_protect(ctx, &s);
	if (!ret)
		ret = pre_copy(ctx, &s);
	if (!ret && ctx->track.kind == KDAT_DT_SOFT_DIRTY)
		ret = pre_rearm(ctx, p);
	pre_state_free(&s);
	return ret;
}

static int st_pre_memory(void *arg)
{
	struct dump_run *run = arg;
	struct dump_ctx *ctx = &run->ctx;
	struct page_sink *sink;
	int ret = page_sink_local(ctx->dirfd, &sink);
	if (!ret)
		ret = dump_pages_sink(ctx, sink, &ctx->pages);
	if (!ret && ctx->opts->background_snapshot)
		ret = pre_memory_bg(run);
	for (int i = 0; !ret && !ctx->opts->background_snapshot && i < ctx->tree.nr_procs; i++) {
		struct seized_proc *p = ctx->tree.procs[i];
		if (p->state != TASK_DEAD)
			ret = pre_proc(ctx, p);
	}
	page_dump_free(ctx->pages);
	ctx->pages = NULL;
	ctx->incr = NULL;
	return ret;
}

static int st_pre_release(void *arg)
{
	struct dump_run *run = arg;
	run->released = true;
	return dump_release_undumped(run);
}

/* The images are committed and the tree runs: the tracking goes to a
 * holder for the next dump.  Should that fail, the next dump is a full
 * one (and says so): not this one's failure. */
static int st_hold(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	if (mem_track_hold(ctx->dirfd, &ctx->track))
		pr_warn("the dirty tracking can't be kept: the next dump of this tree will write "
			"every page");
	return 0;
}

static const struct stage pre_dump_stages[] = {
	{ .name = "images-dir", .run = dump_st_images_dir },
	{ .name = "prev", .run = dump_st_prev, .undo = dump_st_prev_undo, .wanted = dump_has_prev },
	{ .name = "freeze", .run = dump_st_freeze, .undo = dump_st_freeze_undo, .before = "pre-dump" },
	{ .name = "frozen", .run = dump_st_frozen, .flags = STAGE_POINT },
	{ .name = "memory", .run = st_pre_memory, .flags = STAGE_POINT },
	{ .name = "pstree", .run = dump_st_pstree },
	{ .name = "before-commit", .run = dump_st_commit, .after = "post-dump",
	  .flags = STAGE_POINT | STAGE_COMMIT },
	{ .name = "release", .run = st_pre_release },
	{ .name = "stats", .run = dump_st_stats },	/* frozen_time: until the release */
	{ .name = "hold", .run = st_hold },
	{ .name = "dedup", .run = dump_st_dedup, .wanted = dump_wants_dedup },
};

static int pre_dump_pid_of(void *arg)
{
	return ((struct dump_run *)arg)->ctx.opts->pid;
}

int pre_dump_tree(struct cryo_opts *o)
{
	struct dump_run run = {
		.ctx = { .opts = o, .dirfd = -1, .next_pages_id = 1, .next_kobj_id = 1,
			 .prev_dirfd = -1, .pre_dump = true },
		.t_start = now_ns(),
	};
	struct pipeline pl = PIPELINE("pre-dump", pre_dump_stages, o->notify);
	pl.pid_of = pre_dump_pid_of;

	if (o->page_server) {
		pr_err("pre-dump --page-server: sending a pre-dump's pages to a page server is not "
		       "implemented yet (only dump sends them); pre-dump into a directory and copy it");
		return -EOPNOTSUPP;
	}
	if (o->background_snapshot) {
		int ret = dump_bg_check(o, true);
		if (ret)
			return ret;
	}
	const char *why = "";
	run.ctx.track.kind = mem_track_backend(&why);
	if (run.ctx.track.kind == KDAT_DT_NONE && getenv(MEM_TRACK_ENV) && *getenv(MEM_TRACK_ENV)) {
		pr_err("pre-dump: %s", why);
		return -EOPNOTSUPP;
	}
	if (run.ctx.track.kind == KDAT_DT_NONE) {
		pr_err("pre-dump needs dirty-memory tracking (userfaultfd write-protection in async "
		       "mode with PAGEMAP_SCAN, kernel >= 6.7, or soft-dirty bits, "
		       "CONFIG_MEM_SOFT_DIRTY): %s (`cryo check --feature mem_dirty_track`); use a "
		       "plain dump", why);
		return -EOPNOTSUPP;
	}
	pr_info("pre-dump: new dirty tracking uses %s (a chain goes on with its own)",
		kdat_dirty_track_name(run.ctx.track.kind));
	return dump_run_end(&run, "pre-dump", pipeline_run(&pl, &run));
}
