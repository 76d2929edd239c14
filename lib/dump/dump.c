/* The dump pipeline: freeze the tree, collect every process's state from
 * outside, write the images, commit the completion marker, and then leave
 * the tree running, stopped or killed.  Any failure before the commit lets
 * the tree go exactly as it was. */
#include "cryo.h"
#include "cgroup/cgroup.h"
#include "dump/dump.h"
#include "files/files.h"
#include "creds/creds.h"
#include "images/image.h"
#include "kerndat/kerndat.h"
#include "mem/bgsnap.h"
#include "mem/lazy.h"
#include "mem/page_server.h"
#include "mem/page_sink.h"
#include "proc/proc.h"
#include "sockets/sockets.h"
#include "task/task.h"
#include "util/fault.h"
#include "util/pipeline.h"
#include "util/log.h"
#include "util/util.h"

#include "inventory.pb-c.h"
#include "arch/cpuinfo.h"
#include "pstree.pb-c.h"
#include "stats.pb-c.h"
#include "images/stats.h"
#include "mem/ps_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CRIU_IMAGES_V1_1 2

static int read_auxv(pid_t pid, MmEntry *mm)
{
	char path[64], *buf;
	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	ssize_t n = read_file(AT_FDCWD, path, &buf, false);
	if (n < 0)
		return n;
	size_t words = n / 8;
	mm->mm_saved_auxv = xmalloc(words * 8 + 8);
	if (!mm->mm_saved_auxv) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(mm->mm_saved_auxv, buf, words * 8);
	mm->n_mm_saved_auxv = words;
	free(buf);
	return 0;
}

/* Tests: CRYO_DUMP_UNGUARDED=1 runs the injected calls the unguarded way,
 * as in a task without an rt_sigreturn sequence. */
static bool unguarded_forced(void)
{
	const char *e = getenv("CRYO_DUMP_UNGUARDED");
	return e && *e && strcmp(e, "0");
}

/* One process, as stages of its own: its task state and descriptors, then
 * (fault point dump:memory) its pages.  A zombie has only its cores. */
struct proc_run {
	struct dump_ctx *ctx;
	struct seized_proc *p;
	struct proc_maps maps;
	MmEntry mm;
	struct task_code code;
};

static bool proc_alive(void *arg)
{
	return ((struct proc_run *)arg)->p->state != TASK_DEAD;
}

static bool proc_dead(void *arg)
{
	return !proc_alive(arg);
}

static int proc_zombie(void *arg)
{
	struct proc_run *pr = arg;
	return dump_task_cores(pr->ctx, pr->p, NULL, &pr->code, NULL);
}

static int proc_task(void *arg)
{
	struct proc_run *pr = arg;
	struct dump_ctx *ctx = pr->ctx;
	struct seized_proc *p = pr->p;
	MmEntry *mm = &pr->mm;
	struct proc_stat st;
	struct proc_status sts;
	int ret;

	ret = proc_read_maps(p->pid, &pr->maps);
	if (ret)
		return ret;
	/* a task may have unmapped its vDSO: then any syscall in its code */
	remote_find_syscall(p->pid, &pr->maps, &pr->code.syscall_ip);
	if (unguarded_forced())
		pr_info("process %d: unguarded system calls forced (CRYO_DUMP_UNGUARDED)", p->pid);
	else if (remote_find_sigreturn(p->pid, &pr->maps, &ctx->sigreturn_memo, &pr->code.sigreturn))
		pr_warn("process %d (%s): no rt_sigreturn instruction sequence in its code; cryo "
			"runs its system calls in it unguarded: should cryo be killed during one "
			"of them, the thread may crash", p->pid, p->comm);
	ret = proc_read_stat(p->pid, 0, &st);
	if (ret)
		return ret;
	ret = proc_read_status(p->pid, 0, &sts);
	if (ret)
		return ret;
	unsigned umask_val = sts.has_umask ? sts.umask : 022;
	proc_status_free(&sts);

	mm->has_mm_start_code = mm->has_mm_end_code = mm->has_mm_start_data = 1;
	mm->has_mm_end_data = mm->has_mm_start_stack = mm->has_mm_start_brk = 1;
	mm->has_mm_brk = mm->has_mm_arg_start = mm->has_mm_arg_end = 1;
	mm->has_mm_env_start = mm->has_mm_env_end = mm->has_exe_file_id = 1;
	mm->mm_start_code = st.start_code;
	mm->mm_end_code = st.end_code;
	mm->mm_start_data = st.start_data;
	mm->mm_end_data = st.end_data;
	mm->mm_start_stack = st.start_stack;
	mm->mm_start_brk = st.start_brk;
	mm->mm_arg_start = st.arg_start;
	mm->mm_arg_end = st.arg_end;
	mm->mm_env_start = st.env_start;
	mm->mm_env_end = st.env_end;

	char link[64];
	snprintf(link, sizeof(link), "/proc/%d/exe", p->pid);
	ret = files_dump_link(&ctx->files, p->pid, link, "the executable", &mm->exe_file_id);
	if (ret)
		return ret;
	ret = read_auxv(p->pid, mm);
	if (ret)
		return ret;
	struct mem_track_proc *tp = mem_track_find(&ctx->track, p->pid);
	if (tp && tp->uffd >= 0)	/* soft-dirty registers nothing */
		mem_track_unflag(&pr->maps);
	ret = mem_dump_vmas(p->pid, &pr->maps, &ctx->files, &ctx->shmem, mm);
	if (ret)
		return ret;

	uint32_t files_id = 0;
	ret = dump_task_cores(ctx, p, mm, &pr->code, &files_id);
	if (ret)
		return ret;

	/* a table shared with the parent was saved with the parent's */
	const struct dump_kobj_ids *kids = dump_proc_kobj(ctx, p);
	if (!(kids->shared_with_parent & (1u << DUMP_KOBJ_FILES)))
		ret = files_dump_fds(&ctx->files, p->pid, files_id);
	for (size_t i = 0; !ret && i < mm->n_vmas; i++)
		if (mm->vmas[i]->status & VMA_AREA_SOCKET)
			ret = packet_vma_fixup(&ctx->files, p->pid, mm->vmas[i]);
	if (ret)
		return ret;
	return files_dump_fs(&ctx->files, p->pid, p->vpid, umask_val);
}

static int proc_memory(void *arg)
{
	struct proc_run *pr = arg;
	struct dump_ctx *ctx = pr->ctx;
	struct seized_proc *p = pr->p;
	int ret;

	/* parents come before their children in tree.procs */
	struct mem_page_runs *runs = NULL, *pruns = NULL;
	for (int i = 0; ctx->runs && i < ctx->tree.nr_procs; i++) {
		if (ctx->tree.procs[i] == p)
			runs = &ctx->runs[i];
		if (p->parent && ctx->tree.procs[i] == p->parent && ctx->opts->cow_parent)
			pruns = &ctx->runs[i];
	}
	if (ctx->incr) {
		/* what the previous dump's tracking says was not written since */
		struct mem_page_runs clean = { 0 };
		ret = mem_track_scan(mem_track_find(&ctx->track, p->pid), &pr->mm, false, &clean);
		page_sink_set_clean(ctx->incr, &clean);
		mem_page_runs_free(&clean);
		if (ret)
			return ret;
	}
	if (ctx->lazy) {
		/* --lazy-pages: which pages are left out, served after the commit */
		pid_t tids[p->nr_threads];
		for (int i = 0; i < p->nr_threads; i++)
			tids[i] = p->threads[i].tid;
		ret = page_sink_lazy_set_mm(ctx->lazy, &pr->mm, tids, p->nr_threads);
		if (ret)
			return ret;
	}
	if (ctx->bg)	/* copied once the tree runs again (stage bg-copy) */
		ret = bgsnap_add(ctx->bg, p->pid, p->vpid, ctx->next_pages_id++, &pr->mm);
	else
		ret = mem_dump_pages(ctx->pages, p->pid, p->vpid, &pr->mm, ctx->next_pages_id++,
				     p->parent ? p->parent->pid : 0, pruns, runs, &ctx->mem);
	if (ret)
		return ret;

	struct cr_img *img;
	ret = img_open(&img, ctx->dirfd, IMG_MM, IMG_WRITE, p->vpid);
	if (ret)
		return ret;
	ret = img_write_msg(img, &pr->mm.base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

static const struct stage proc_stages[] = {
	{ .name = "zombie", .run = proc_zombie, .wanted = proc_dead },
	{ .name = "task", .run = proc_task, .wanted = proc_alive },
	{ .name = "memory", .run = proc_memory, .wanted = proc_alive, .flags = STAGE_POINT },
};

static int dump_proc(struct dump_ctx *ctx, struct seized_proc *p)
{
	struct proc_run pr = { .ctx = ctx, .p = p, .mm = MM_ENTRY__INIT };
	struct pipeline pl = PIPELINE("dump", proc_stages, NULL);
	int ret = pipeline_run(&pl, &pr);

	for (size_t i = 0; i < pr.mm.n_vmas; i++) {
		if (pr.mm.vmas[i])
			vma_guards_free(pr.mm.vmas[i]);
		free(pr.mm.vmas[i]);
	}
	free(pr.mm.vmas);
	free(pr.mm.mm_saved_auxv);
	aio_dump_free(&pr.mm);
	proc_maps_free(&pr.maps);
	return ret;
}

static int write_pstree(struct dump_ctx *ctx)
{
	struct cr_img *img;
	int ret = img_open(&img, ctx->dirfd, IMG_PSTREE, IMG_WRITE, 0);
	if (ret)
		return ret;
	for (int i = 0; i < ctx->tree.nr_procs && !ret; i++) {
		struct seized_proc *p = ctx->tree.procs[i];
		PstreeEntry pe = PSTREE_ENTRY__INIT;
		uint32_t tids[p->nr_threads + 1];
		pe.has_pid = pe.has_ppid = pe.has_pgid = pe.has_sid = 1;
		/* the PIDs as the tree sees them (its PID namespace's) */
		pe.pid = p->vpid;
		pe.ppid = p->parent ? p->parent->vpid : 0;
		pe.pgid = p->vpgid;
		pe.sid = p->vsid;
		for (int j = 0; j < p->nr_threads; j++)
			tids[j] = p->threads[j].vtid;
		if (!p->nr_threads)
			tids[0] = p->vpid;
		pe.n_threads = p->nr_threads ? p->nr_threads : 1;
		pe.threads = tids;
		/* nested PID namespaces: every level (dump/vpid.c) */
		uint32_t lv[3][PIDNS_LEVELS], tlv[p->nr_threads + 1][PIDNS_LEVELS];
		NsTid nt[p->nr_threads + 1], *ntp[p->nr_threads + 1];
		if (p->nslv > 0) {
			for (int l = 0; l <= p->nslv; l++) {
				lv[0][l] = p->nspid[l];
				lv[1][l] = p->nspgid[l];
				lv[2][l] = p->nssid[l];
			}
			pe.n_ns_pid = pe.n_ns_pgid = pe.n_ns_sid = p->nslv + 1;
			pe.ns_pid = lv[0];
			pe.ns_pgid = lv[1];
			pe.ns_sid = lv[2];
			for (size_t j = 0; j < pe.n_threads; j++) {
				const pid_t *v = p->nr_threads ? p->threads[j].nstid : p->nspid;
				ns_tid__init(&nt[j]);
				for (int l = 0; l <= p->nslv; l++)
					tlv[j][l] = v[l];
				nt[j].n_ns_tid = p->nslv + 1;
				nt[j].ns_tid = tlv[j];
				ntp[j] = &nt[j];
			}
			pe.n_tids = pe.n_threads;
			pe.tids = ntp;
		}
		if (p->nslv > 0 || p->children_pidns || p->children_unshared) {
			pe.has_cryo_pidns = 1;
			pe.cryo_pidns = p->pidns_id;
		}
		pe.has_cryo_pidns_for_children = !!p->children_pidns;
		pe.cryo_pidns_for_children = p->children_pidns;
		pe.has_cryo_pidns_unshared = p->children_unshared;
		pe.cryo_pidns_unshared = p->children_unshared;
		ret = img_write_msg(img, &pe.base);
	}
	int r2 = img_close(img);
	return ret ? ret : r2;
}

static int write_stats(struct dump_ctx *ctx, uint64_t t_start, uint64_t t_frozen, uint64_t t_end)
{
	StatsEntry se = STATS_ENTRY__INIT;
	DumpStatsEntry ds = DUMP_STATS_ENTRY__INIT;
	ds.has_freezing_time = ds.has_frozen_time = ds.has_memdump_time = 1;
	ds.has_memwrite_time = ds.has_pages_scanned = ds.has_pages_skipped_parent = 1;
	ds.has_pages_written = ds.has_pages_lazy = 1;
	ds.has_irmap_resolve = ds.has_page_pipes = ds.has_page_pipe_bufs = 1;
	ds.has_shpages_scanned = ds.has_shpages_skipped_parent = ds.has_shpages_written = 1;
	/* from the start to the tree frozen, from then to its release (this
	 * stage runs right after it, as criu writes its stats) */
	ds.freezing_time = (t_frozen - t_start) / 1000;
	/* a background snapshot let the tree go before the copy */
	if (ctx->bg_t_released)
		t_end = ctx->bg_t_released;
	ds.frozen_time = (t_end - t_frozen) / 1000;
	/* private memory: the walk and copy (the writes overlap it, in a
	 * thread of their own), of which the page sink's writes */
	ds.memdump_time = ctx->mem.memdump_ns / 1000;
	ds.memwrite_time = (ctx->mem.memwrite_ns + ctx->shmem.write_ns) / 1000;
	ds.pages_scanned = ctx->mem.pages_scanned;
	ds.pages_written = ctx->mem.pages_written;
	/* pages in the previous dump (PE_PARENT) or the parent process's
	 * image (cow_parent): not written here */
	ds.pages_skipped_parent = ctx->mem.pages_prev + ctx->mem.pages_cow - ctx->pages_lazy;
	ds.pages_lazy = ctx->pages_lazy;
	/* no irmap; cryo copies through buffers of its own, never through
	 * pipes (criu's page pipes need a parasite's vmsplice) */
	ds.irmap_resolve = 0;
	ds.page_pipes = ds.page_pipe_bufs = 0;
	/* shared anonymous, memfd and SysV memory: saved whole, never left to
	 * a previous dump */
	ds.shpages_scanned = ctx->shmem.pages_scanned;
	ds.shpages_written = ctx->shmem.pages_written;
	ds.shpages_skipped_parent = 0;
	se.dump = &ds;
	if (ctx->opts->display_stats) {
		pr_msg("Displaying dump stats:");
		pr_msg("Freezing time: %u us", ds.freezing_time);
		pr_msg("Frozen time: %u us", ds.frozen_time);
		pr_msg("Memory dump time: %u us", ds.memdump_time);
		pr_msg("Memory write time: %u us", ds.memwrite_time);
		/* criu's words, for scripts that read them */
		pr_msg("Memory pages scanned: %llu (0x%llx)", (unsigned long long)ds.pages_scanned,
		       (unsigned long long)ds.pages_scanned);
		pr_msg("Memory pages skipped from parent: %llu (0x%llx)",
		       (unsigned long long)ds.pages_skipped_parent,
		       (unsigned long long)ds.pages_skipped_parent);
		pr_msg("Memory pages written: %llu (0x%llx)", (unsigned long long)ds.pages_written,
		       (unsigned long long)ds.pages_written);
		pr_msg("Lazy memory pages: %llu (0x%llx)", (unsigned long long)ds.pages_lazy,
		       (unsigned long long)ds.pages_lazy);
	}
	return stats_write(ctx->dirfd, ctx->opts->work_dir, IMG_STATS_DUMP, &se);
}

static int write_inventory(struct dump_ctx *ctx)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	struct timespec up;
	inv.has_img_version = 1;
	inv.img_version = CRIU_IMAGES_V1_1;
	inv.has_fdinfo_per_id = 1;
	inv.fdinfo_per_id = true;
	inv.has_ns_per_id = 1;
	inv.ns_per_id = true;
	if (ctx->pre_dump) {
		/* criu's PRE_DUMP_SPLICE 1, PRE_DUMP_READ 2 (rpc.proto's
		 * criu_pre_dump_mode): cryo copies while frozen in both */
		const char *m = ctx->opts->pre_dump_mode;
		inv.has_pre_dump_mode = 1;
		inv.pre_dump_mode = m && !strcmp(m, "read") ? 2 : 1;
	}
	inv.has_lsmtype = 1;
	inv.lsmtype = lsm_host();
	inv.root_ids = ctx->root_ids;
	inv.has_root_cg_set = 1;	/* the dumping cryo's cgroups: see check_cgroups() */
	inv.root_cg_set = CG_ROOT_SET;
	clock_gettime(CLOCK_BOOTTIME, &up);
	inv.has_dump_uptime = 1;
	inv.dump_uptime = up.tv_sec * 1000000ULL + up.tv_nsec / 1000;
	inv.has_tcp_close = ctx->opts->tcp_close;
	inv.tcp_close = ctx->opts->tcp_close;
	inv.has_network_lock_method = 1;	/* the restore unlocks the same way */
	inv.network_lock_method = sk_network_lock_method(ctx->opts);
	if (ctx->opts->cpu_cap) {
		/* criu's CPU_CAP_IMAGE: with --cpu-cap the CPU is recorded */
		unsigned caps;
		int ret = cpuinfo_parse_caps(ctx->opts->cpu_cap, &caps);
		if (!ret && caps)
			ret = cpuinfo_dump(ctx->dirfd);
		if (ret)
			return ret;
	}
	return img_dir_commit(ctx->dirfd, &inv);
}

/* Every live task must be in cryo's namespaces, or, of the kinds a restore
 * makes (UTS, IPC), in the root's (lib/ns; procs[0], checked first, is the
 * root).  Checked on the frozen tree, before anything is written, so a
 * refusal leaves the tree exactly as it was. */
static int check_namespaces(struct dump_ctx *ctx)
{
	int ret = ns_dump_init(&ctx->ns, ctx->dirfd);
	ctx->ns.opts = ctx->opts;
	ctx->ns.external = &ctx->opts->external;	/* net[INODE]:KEY */

	for (int i = 0; !ret && i < ctx->tree.nr_procs; i++) {
		struct seized_proc *p = ctx->tree.procs[i];
		if (p->state == TASK_DEAD)
			continue;	/* a zombie has no namespaces left */
		for (int t = 0; !ret && t < p->nr_threads; t++)
			ret = ns_dump_check_task(&ctx->ns, p->pid, p->threads[t].tid, p->comm);
	}
	/* a tree in a network namespace of its own is dumped from inside
	 * (a pre-dump touches no socket: its tracking holder must listen in
	 * cryo's namespace, where the next dump looks for it) */
	if (!ret && ctx->tree.nr_procs && !ctx->pre_dump)
		ret = ns_dump_enter_net(&ctx->ns, ctx->tree.procs[0]->pid);
	return ret;
}

/* Cgroups (lib/cgroup): each process gets criu's cg_set, CG_ROOT_SET (the
 * inventory's root_cg_set) where its /proc/PID/cgroup equals cryo's,
 * another number per other set; cgroup.img records the sets and, with
 * --manage-cgroups in a mode that restores properties, the cgroups the tree
 * lives in.  Without --manage-cgroups (or with ignore) a warning says that a
 * task outside cryo's cgroups will land in the restoring cryo's. */
static int check_cgroups(struct dump_ctx *ctx)
{
	struct cg_dump *cg = NULL;
	int ret;

	ctx->cg_sets = calloc(ctx->tree.nr_procs, sizeof(*ctx->cg_sets));
	if (!ctx->cg_sets)
		return -ENOMEM;
	ret = cg_dump_init(&cg, ctx->opts);
	for (int i = 0; !ret && i < ctx->tree.nr_procs; i++) {
		struct seized_proc *p = ctx->tree.procs[i];
		if (p->state != TASK_DEAD)
			ret = cg_dump_task(cg, p->pid, p->comm, &ctx->cg_sets[i]);
		/* each thread's own set too (another cgroup than its process's:
		 * v1 "tasks", a v2 threaded subtree) */
		for (int k = 0; !ret && p->state != TASK_DEAD && k < p->nr_threads; k++)
			ret = cg_dump_thread(cg, p->pid, p->threads[k].tid, p->comm,
					     &p->threads[k].cg_set);
	}
	if (!ret)
		ret = cg_dump_write(cg, ctx->dirfd);
	cg_dump_free(cg);
	return ret;
}

uint32_t dump_cg_set(const struct dump_ctx *ctx, const struct seized_proc *p)
{
	for (int i = 0; ctx->cg_sets && i < ctx->tree.nr_procs; i++)
		if (ctx->tree.procs[i] == p)
			return ctx->cg_sets[i];
	return 0;
}

/* ---- the dump pipeline ---- */

int dump_st_images_dir(void *arg)
{
	struct dump_run *run = arg;
	run->ctx.dirfd = img_dir_open(run->ctx.opts->images_dir, false);
	if (run->ctx.dirfd < 0)
		return run->ctx.dirfd;
	return img_dir_begin_dump(run->ctx.dirfd);
}

/* Where the pages go, before the tree is touched: a page server that
 * can't be reached fails the dump with the tree never frozen. */
static int st_page_sink(void *arg)
{
	struct dump_run *run = arg;
	const struct cryo_opts *o = run->ctx.opts;
	char peer[160];
	int sk;

	if (!o->page_server)
		return page_sink_local(run->ctx.dirfd, &run->sink);
	if (o->prev_images_dir) {
		pr_err("--page-server with --prev-images-dir: an incremental dump through a page "
		       "server is not implemented yet (its PE_PARENT entries would name images the "
		       "server does not have); dump into a directory, or send a full dump");
		return -EOPNOTSUPP;
	}
	if (o->ps_socket >= 0) {
		sk = fcntl(o->ps_socket, F_DUPFD_CLOEXEC, 0);
		if (sk < 0)
			return log_errno(-errno, "can't use --ps-socket %d", o->ps_socket);
		snprintf(peer, sizeof(peer), "on --ps-socket %d", o->ps_socket);
	} else {
		sk = page_server_connect(o->address, o->port);
		if (sk < 0)
			return sk;
		snprintf(peer, sizeof(peer), "%s:%d", o->address, o->port);
	}
	int ret = page_sink_server(sk, peer, o->ps_socket >= 0, &run->sink);
	if (!ret && o->tls) {
		struct ps_tls_opts t = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
					 .cert = o->tls_cert, .key = o->tls_key,
					 .no_cn_verify = o->tls_no_cn_verify,
					 .hostname = o->address };
		ret = page_sink_server_tls(run->sink, &t);
		if (ret) {
			page_sink_destroy(run->sink);
			run->sink = NULL;
		}
	}
	return ret;
}

/* --lazy-pages: listen before the freeze (a port in use leaves the tree
 * untouched); after the commit, serve the frozen tree's pages until the
 * destination has them, then release (kill) it as usual. */
static bool want_lazy(void *arg)
{
	return ((struct dump_run *)arg)->ctx.opts->lazy_pages;
}

static int st_lazy_listen(void *arg)
{
	struct dump_run *run = arg;
	const struct cryo_opts *o = run->ctx.opts;
	if (o->tls) {
		/* --tls: unusable certificate files are found before the freeze */
		struct ps_tls_opts t = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
					 .cert = o->tls_cert, .key = o->tls_key,
					 .what = "lazy pages:" };
		int ret = ps_tls_check_files(&t, "dump --lazy-pages --tls");
		if (ret)
			return ret;
	}
	int lsk = page_server_listen(o->address, o->port, run->lazy_name, sizeof(run->lazy_name));
	if (lsk < 0)
		return lsk;
	run->lazy_lsk = lsk + 1;
	return 0;
}

static void st_lazy_listen_undo(void *arg)
{
	struct dump_run *run = arg;
	if (run->lazy_lsk)
		close(run->lazy_lsk - 1);
	run->lazy_lsk = 0;
}

static int st_lazy_serve(void *arg)
{
	struct dump_run *run = arg;
	struct seized_tree *t = &run->ctx.tree;
	pid_t pids[t->nr_procs + 1];
	int n = 0;
	for (int i = 0; i < t->nr_procs; i++)
		if (t->procs[i]->state != TASK_DEAD)
			pids[n++] = t->procs[i]->pid;
	const struct cryo_opts *o = run->ctx.opts;
	struct ps_tls_opts tls = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
				   .cert = o->tls_cert, .key = o->tls_key };
	int ret = lazy_dump_serve(run->lazy_lsk - 1, run->lazy_name, pids, n,
				  o->tls ? &tls : NULL);
	st_lazy_listen_undo(run);
	return ret;
}

static void st_page_sink_undo(void *arg)
{
	struct dump_run *run = arg;
	page_sink_destroy(run->sink);
	run->sink = NULL;
}

int dump_st_freeze(void *arg)
{
	struct dump_run *run = arg;
	struct cryo_opts *o = run->ctx.opts;
	int ret;

	struct cg_freezer *fz = NULL;
	pid_t *caught = NULL;
	int nr_caught = 0;

	if (o->freeze_cgroup) {
		ret = cg_freeze(&fz, o->freeze_cgroup, o->timeout);
		if (ret)
			return ret;
		/* tests: cryo dead with the cgroup frozen (its guard thaws it) */
		fault_kill_point("dump:cgroup-frozen");
		/* v1: frozen tasks answer no interrupt until thawed (lib/seize) */
		if (cg_freezer_v1(fz)) {
			run->refreeze = cg_freezer_refreeze(fz);
			seize_catch_frozen(o->pid, &caught, &nr_caught);
			ret = cg_thaw(fz);
			fz = NULL;
			if (ret) {
				seize_uncatch(NULL, caught, nr_caught);
				return ret;
			}
		}
	}
	ret = seize_tree(o->pid, o->timeout, &run->ctx.tree);
	if (caught)
		seize_uncatch(ret ? NULL : &run->ctx.tree, caught, nr_caught);
	if (fz) {
		int r2 = cg_thaw(fz);
		if (r2 && !ret) {
			release_tree(&run->ctx.tree, RELEASE_RESUME);
			dump_refreeze(run);
			free_tree(&run->ctx.tree);
			ret = r2;
		}
	}
	if (ret) {
		dump_refreeze(run);	/* nothing seized: as it was */
		return ret;
	}
	run->frozen = true;
	run->t_frozen = now_ns();
	pr_info("tree of %d frozen in %llu us", o->pid,
		(unsigned long long)(run->t_frozen - run->t_start) / 1000);
	return 0;
}

/* Nothing was committed: let the tree go on exactly as before. */
void dump_st_freeze_undo(void *arg)
{
	struct dump_run *run = arg;
	pr_err("dump of process %d failed; the process tree was left running as before",
	       run->ctx.opts->pid);
	dump_release_undumped(run);
}

int dump_fix_undumped_regs(struct dump_ctx *ctx)
{
	struct seized_tree *tree = &ctx->tree;
	int ret = 0;
	for (int i = 0; i < tree->nr_procs; i++) {
		struct seized_proc *p = tree->procs[i];
		for (int j = 0; p->state != TASK_DEAD && j < p->nr_threads; j++) {
			/* a thread whose registers can't be fixed is let go as
			 * it is (the kernel restarts its call itself) */
			int r = task_cpu_fix_resume(p, &p->threads[j]);
			if (r && !ret)
				ret = r;
		}
	}
	return ret;
}

int dump_release_undumped(struct dump_run *run)
{
	int ret = dump_fix_undumped_regs(&run->ctx);
	int r = release_tree(&run->ctx.tree, RELEASE_RESUME);
	int r2 = dump_refreeze(run);
	return r ? r : r2 ? r2 : ret;
}

int dump_refreeze(struct dump_run *run)
{
	if (!run->refreeze)
		return 0;
	run->refreeze = false;
	return cg_refreeze(run->ctx.opts->freeze_cgroup);
}

/* What the images can't express or a restore can't recreate is refused on
 * the frozen tree, before anything is written. */
int dump_st_frozen(void *arg)
{
	struct dump_run *run = arg;
	restart_calls_assign(&run->ctx);
	int ret = check_namespaces(&run->ctx);
	if (!ret)
		ret = dump_tree_vpids(&run->ctx);
	if (!ret)
		ret = check_cgroups(&run->ctx);
	if (!ret)
		ret = dump_share_ids(&run->ctx);
	return ret;
}

/* The processes' page walks are over: their page indexes and the copy
 * buffers go. */
static void drop_page_state(struct dump_ctx *ctx)
{
	for (int i = 0; ctx->runs && i < ctx->tree.nr_procs; i++)
		mem_page_runs_free(&ctx->runs[i]);
	free(ctx->runs);
	ctx->runs = NULL;
	page_dump_free(ctx->pages);
	ctx->pages = NULL;
	ctx->shmem.sink = NULL;
}

/* A failed dump: what the collection began is ended without checks (kinds'
 * dump_end see a half tree), the collected seccomp filters dropped, and the
 * kinds undo their changes to the tree (the network lock, TCP repair). */
static void st_files_undo(void *arg)
{
	struct dump_run *run = arg;
	struct dump_ctx *ctx = &run->ctx;

	drop_page_state(ctx);
	if (!run->shmem_done) {
		run->shmem_done = true;
		mem_dump_shared_fini(&ctx->shmem);
	}
	if (ctx->files.files_img) {
		ctx->files.failed = true;
		files_dump_end(&ctx->files);
	}
	if (!run->creds_done) {
		run->creds_done = true;
		creds_dump_finish(&run->ctx.creds, -1);
	}
	if (!run->bg_released)	/* else finished at the release */
		files_dump_finish(&ctx->files, false, false);
}

static int st_files(void *arg)
{
	struct dump_run *run = arg;
	struct dump_ctx *ctx = &run->ctx;
	sockets_register_fd_kinds();
	int ret = files_dump_begin(&ctx->files, ctx->dirfd, ctx->opts);
	ctx->files.ns = &ctx->ns;	/* namespace files: the tree's namespaces */
	ctx->files.tree = &ctx->tree;
	mem_dump_shared_init(&ctx->shmem, ctx->dirfd, &ctx->next_pages_id);
	ctx->files.memfd = shmem_memfd_dump_ops(&ctx->shmem);
	if (!ret) {
		/* takes the sink (in front of it the incremental one, if any) */
		ret = dump_pages_sink(ctx, run->sink, &ctx->pages);
		run->sink = NULL;
	}
	if (!ret) {
		ctx->shmem.sink = page_dump_sink(ctx->pages);
		ctx->runs = xzalloc(sizeof(*ctx->runs) * (ctx->tree.nr_procs + 1));
		if (!ctx->runs)
			ret = -ENOMEM;
	}
	if (ret)
		st_files_undo(run);	/* a failed stage cleans up after itself */
	return ret;
}

static int st_processes(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	int ret = 0;
	for (int i = 0; !ret && i < ctx->tree.nr_procs; i++)
		ret = dump_proc(ctx, ctx->tree.procs[i]);
	return ret;
}

static int st_shared_memory(void *arg)
{
	struct dump_run *run = arg;
	struct dump_ctx *ctx = &run->ctx;
	if (ctx->bg) {
		/* the private pages come after the release (stage bg-copy) */
		run->shmem_done = true;
		return mem_dump_shared_fini(&ctx->shmem);
	}
	/* a page server answers once it has written every page */
	int ret = page_sink_end(page_dump_sink(ctx->pages));
	ctx->pages_lazy = page_sink_lazy_pages(ctx->lazy);
	ctx->lazy = NULL;
	drop_page_state(ctx);
	run->shmem_done = true;
	int r2 = mem_dump_shared_fini(&ctx->shmem);
	return ret ? ret : r2;
}

/* terminals: whole-tree checks */
static int st_terminals(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	return tty_dump_tree(&ctx->files, &ctx->tree);
}

static int st_files_end(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	ctx->files.failed = false;
	return files_dump_end(&ctx->files);
}

static int st_creds(void *arg)
{
	struct dump_run *run = arg;
	run->creds_done = true;
	return creds_dump_finish(&run->ctx.creds, run->ctx.dirfd);	/* seccomp.img */
}

int dump_st_pstree(void *arg)
{
	return write_pstree(&((struct dump_run *)arg)->ctx);
}

int dump_st_stats(void *arg)
{
	struct dump_run *run = arg;
	return write_stats(&run->ctx, run->t_start, run->t_frozen, now_ns());
}

int dump_st_commit(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	const struct cryo_opts *o = ctx->opts;
	int ret = 0;
	/* a tree that goes on: which calls it continues through
	 * restart_syscall, for the next dump (restart_calls.c) */
	if (ctx->pre_dump)
		ret = dump_fix_undumped_regs(ctx);
	if (!ret && (ctx->pre_dump || o->leave_running || o->leave_stopped))
		ret = restart_calls_save(ctx);
	else if (!ret)
		ret = restart_calls_drop(ctx);	/* a killed tree: none to speak for */
	return ret ? ret : write_inventory(ctx);
}

static enum release_mode release_mode(const struct cryo_opts *o)
{
	return o->leave_running ? RELEASE_RESUME : o->leave_stopped ? RELEASE_STOPPED : RELEASE_KILL;
}

static int st_release(void *arg)
{
	struct dump_run *run = arg;
	enum release_mode m = release_mode(run->ctx.opts);
	run->released = true;
	if (run->bg_released)
		return 0;	/* --background-snapshot: running since bg-release */
	files_dump_finish(&run->ctx.files, true, m == RELEASE_KILL);
	int ret = release_tree(&run->ctx.tree, m);
	int r2 = m == RELEASE_KILL ? 0 : dump_refreeze(run);
	return ret ? ret : r2;
}

/* --background-snapshot: the tree goes on before its memory is copied */
static int st_bg_release(void *arg)
{
	struct dump_run *run = arg;
	run->bg_released = true;
	files_dump_finish(&run->ctx.files, true, false);
	int ret = release_tree(&run->ctx.tree, RELEASE_RESUME);
	int r2 = dump_refreeze(run);
	if (!ret)
		ret = r2;
	run->ctx.bg_t_released = now_ns();
	pr_info("background snapshot: the tree was frozen for %llu us",
		(unsigned long long)(run->ctx.bg_t_released - run->t_frozen) / 1000);
	return ret;
}

static int st_bg_copy(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	int ret = bgsnap_copy(ctx->bg, page_dump_sink(ctx->pages), &ctx->mem);
	/* the protection ends (the last userfaultfd descriptors close) */
	bgsnap_free(ctx->bg);
	ctx->bg = NULL;
	int r2 = ret ? 0 : page_sink_end(page_dump_sink(ctx->pages));
	drop_page_state(ctx);
	return ret ? ret : r2;
}

static bool killing(void *arg)
{
	return release_mode(((struct dump_run *)arg)->ctx.opts) == RELEASE_KILL;
}

/* the tree is dead, the images committed: a cryo dying here (the kill
 * point at this stage's start) leaves the sockets to the network guard */
static int st_killed(void *arg)
{
	files_dump_killed(&((struct dump_run *)arg)->ctx.files);
	return 0;
}

bool dump_wants_dedup(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	return ctx->opts->auto_dedup && ctx->prev_dirfd >= 0;
}

/* --auto-dedup, once the images are committed and the tree let go: the
 * previous dumps' copies of the pages this one wrote are punched out.  The
 * dump is complete whatever happens here: a failure is a warning. */
int dump_st_dedup(void *arg)
{
	struct dump_ctx *ctx = &((struct dump_run *)arg)->ctx;
	if (mem_dedup(ctx->dirfd, ctx->opts->images_dir, false))
		pr_warn("--auto-dedup failed: the images are complete, the previous dumps keep "
			"pages they no longer need to; `cryo dedup -D %s` tries again",
			ctx->opts->images_dir);
	return 0;
}

/* criu's network-lock notification, sent (as criu does) only for a tree
 * in a network namespace of its own: once cryo is in it (stage frozen),
 * before a socket of the tree is read */
static bool in_own_netns(void *arg)
{
	const struct ns_dump *ns = &((struct dump_run *)arg)->ctx.ns;
	return ns->inited && ns->net_back >= 0;
}

static int st_network_lock(void *arg)
{
	(void)arg;
	return 0;
}

/* The stages, each named after the moment it starts at: "frozen",
 * "memory" (per process, dump_proc), "before-commit" and "killed" are the
 * fault points tests use.  From the commit on (inventory.img written)
 * nothing is undone. */
static const struct stage dump_stages[] = {
	{ .name = "images-dir", .run = dump_st_images_dir },
	{ .name = "page-sink", .run = st_page_sink, .undo = st_page_sink_undo },
	{ .name = "prev", .run = dump_st_prev, .undo = dump_st_prev_undo, .wanted = dump_has_prev },
	{ .name = "lazy-listen", .run = st_lazy_listen, .undo = st_lazy_listen_undo,
	  .wanted = want_lazy },
	{ .name = "freeze", .run = dump_st_freeze, .undo = dump_st_freeze_undo, .before = "pre-dump" },
	{ .name = "frozen", .run = dump_st_frozen, .flags = STAGE_POINT },
	{ .name = "network-lock", .run = st_network_lock, .before = "network-lock",
	  .wanted = in_own_netns },
	{ .name = "files", .run = st_files, .undo = st_files_undo },
	{ .name = "processes", .run = st_processes },
	{ .name = "shared-memory", .run = st_shared_memory },
	{ .name = "terminals", .run = st_terminals },
	{ .name = "files-end", .run = st_files_end },
	{ .name = "creds", .run = st_creds },
	{ .name = "pstree", .run = dump_st_pstree },
	{ .name = "bg-protect", .run = dump_st_bg_protect, .undo = dump_st_bg_undo,
	  .wanted = dump_wants_bg, .flags = STAGE_POINT },
	{ .name = "bg-release", .run = st_bg_release, .wanted = dump_wants_bg,
	  .flags = STAGE_POINT },
	{ .name = "bg-copy", .run = st_bg_copy, .wanted = dump_wants_bg, .flags = STAGE_POINT },
	{ .name = "before-commit", .run = dump_st_commit, .after = "post-dump",
	  .flags = STAGE_POINT | STAGE_COMMIT },
	{ .name = "lazy-serve", .run = st_lazy_serve, .wanted = want_lazy },
	{ .name = "release", .run = st_release },
	{ .name = "stats", .run = dump_st_stats },	/* not an .img: not in the inventory's sizes */
	{ .name = "killed", .run = st_killed, .wanted = killing, .flags = STAGE_KILL_POINT },
	{ .name = "dedup", .run = dump_st_dedup, .wanted = dump_wants_dedup },
};

static int dump_pid_of(void *arg)
{
	return ((struct dump_run *)arg)->ctx.opts->pid;
}

int dump_tree(struct cryo_opts *o)
{
	struct dump_run run = {
		.ctx = { .opts = o, .dirfd = -1, .next_pages_id = 1, .next_kobj_id = 1,
			 .prev_dirfd = -1 },
		.t_start = now_ns(),
	};
	struct pipeline pl = PIPELINE("dump", dump_stages, o->notify);
	pl.pid_of = dump_pid_of;

	if (o->leave_running && o->leave_stopped) {
		pr_err("--leave-running and --leave-stopped contradict each other: choose one");
		return -EINVAL;
	}
	if (o->track_mem && !o->prev_images_dir) {
		pr_err("--track-mem on a dump reads the tracking a pre-dump started: it needs "
		       "--prev-images-dir naming that pre-dump (a dump keeping the tracking on for "
		       "a later dump, as criu's dump -R --track-mem, is not supported: use "
		       "cryo pre-dump)");
		return -EINVAL;
	}
	if (o->background_snapshot) {
		int ret = dump_bg_check(o, false);
		if (!ret)
			ret = bgsnap_new(&run.ctx.bg);
		if (ret)
			return ret;
	}
	return dump_run_end(&run, "dump", pipeline_run(&pl, &run));
}

int dump_run_end(struct dump_run *run, const char *what, int ret)
{
	struct dump_ctx *ctx = &run->ctx;
	if (run->released)
		pr_info("%s of %d finished in %llu us (frozen %llu us)", what, ctx->opts->pid,
			(unsigned long long)(now_ns() - run->t_start) / 1000,
			(unsigned long long)(now_ns() - run->t_frozen) / 1000);
	if (run->frozen) {
		free_tree(&ctx->tree);
		ns_dump_fini(&ctx->ns);
		free(ctx->cg_sets);
		free(ctx->kobj);
		if (ctx->root_ids)
			protobuf_c_message_free_unpacked(&ctx->root_ids->base, NULL);
	}
	sigreturn_memo_free(&ctx->sigreturn_memo);
	free(ctx->restart_in);	/* a run that ended before the freeze */
	bgsnap_free(ctx->bg);	/* a failed one: the tree goes on unprotected */
	ctx->bg = NULL;
	/* the dump ends the tracking (the kernel unregisters the memory as the
	 * last userfaultfd descriptor closes); a pre-dump handed it to its
	 * holder before */
	mem_track_free(&ctx->track);
	if (ctx->prev_dirfd >= 0)
		close(ctx->prev_dirfd);
	if (ctx->dirfd >= 0)
		close(ctx->dirfd);
	return ret;
}
