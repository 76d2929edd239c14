/* --background-snapshot in the dump pipeline (mem/bgsnap.h): the stage
 * that gives each process its userfaultfd and write-protects its memory,
 * the last thing done to the frozen tree. */
#include "dump/dump.h"
#include "kerndat/kerndat.h"
#include "mem/bgsnap.h"
#include "proc/proc.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>

int dump_bg_check(const struct cryo_opts *o, bool pre)
{
	const char *what = pre ? "pre-dump" : "dump";
	if (!pre && !o->leave_running) {
		pr_err("--background-snapshot lets the tree run while its memory is copied: it needs "
		       "--leave-running (a tree killed or stopped after the dump gains nothing)");
		return -EINVAL;
	}
	if (o->lazy_pages || o->page_server) {
		pr_err("%s --background-snapshot with %s is not implemented yet: dump into a "
		       "directory", what, o->lazy_pages ? "--lazy-pages" : "--page-server");
		return -EOPNOTSUPP;
	}
	if (!pre && o->prev_images_dir) {
		pr_err("dump --background-snapshot with --prev-images-dir is not implemented yet: the "
		       "dirty tracking's userfaultfd and the snapshot's can't both register the "
		       "memory; use pre-dump --background-snapshot, then a plain final dump");
		return -EOPNOTSUPP;
	}
	if (!pre && (!kdat_has(KF_UFFD_WP) || !kdat_has(KF_PAGEMAP_SCAN))) {
		pr_err("--background-snapshot needs userfaultfd write-protection and PAGEMAP_SCAN "
		       "(kernel >= 6.7), which this kernel lacks (`cryo check --feature uffd_wp`, "
		       "`--feature pagemap_scan` say why); dump without it");
		return -EOPNOTSUPP;
	}
	return 0;
}

bool dump_wants_bg(void *arg)
{
	return ((struct dump_run *)arg)->ctx.bg != NULL;
}

struct bg_arg {
	struct bgsnap *bg;
	pid_t pid;
};

static int make_uffd(struct remote *r, void *arg)
{
	struct bg_arg *a = arg;
	return bgsnap_uffd(a->bg, r, a->pid);
}

/* A process that registered memory with a userfaultfd of its own: cryo's
 * registration of the same memory would fail (and the process's own
 * faults would be cryo's to answer). */
static int check_own_uffd(const struct seized_proc *p, const struct proc_maps *maps)
{
	for (int i = 0; i < maps->n; i++) {
		const struct proc_vma *pv = &maps->v[i];
		if (!pv->vm_uffd_wp && !pv->vm_uffd_missing)
			continue;
		pr_err("process %d (%s) uses userfaultfd itself (memory 0x%llx-0x%llx is "
		       "registered): the background snapshot can't write-protect it; dump without "
		       "--background-snapshot", p->pid, p->comm, (unsigned long long)pv->start,
		       (unsigned long long)pv->end);
		return -EOPNOTSUPP;
	}
	return 0;
}

int dump_st_bg_protect(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	uint64_t t0 = now_ns();
	int ret = 0;
	for (int i = 0; !ret && i < ctx->tree.nr_procs; i++) {
		struct seized_proc *p = ctx->tree.procs[i];
		struct proc_maps maps = { 0 };
		if (p->state == TASK_DEAD)
			continue;
		ret = proc_read_maps(p->pid, &maps);
		if (!ret)
			ret = check_own_uffd(p, &maps);
		struct bg_arg a = { ctx->bg, p->pid };
		if (!ret)
			ret = dump_leader_call(ctx, p, &maps, make_uffd, &a);
		proc_maps_free(&maps);
		if (!ret)
			ret = bgsnap_protect(ctx->bg, p->pid, &ctx->mem);
	}
	if (ret) {
		dump_st_bg_undo(arg);	/* a failed stage cleans up after itself */
		return ret;
	}
	pr_info("background snapshot: memory write-protected in %llu us",
		(unsigned long long)(now_ns() - t0) / 1000);
	return 0;
}

void dump_st_bg_undo(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	bgsnap_free(ctx->bg);
	ctx->bg = NULL;
}
