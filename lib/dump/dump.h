/* Internal to the dump pipeline. */
#ifndef CRYO_DUMP_H
#define CRYO_DUMP_H

#include "creds/creds.h"
#include "files/files.h"
#include "mem/mem.h"
#include "mem/page_sink.h"
#include "mem/track.h"
#include "ns/ns.h"
#include "options/options.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "core.pb-c.h"

/* Objects processes may share (dump/share.c), in criu's TaskKobjIdsEntry. */
enum { DUMP_KOBJ_VM, DUMP_KOBJ_FILES, DUMP_KOBJ_FS, DUMP_KOBJ_SIGHAND, DUMP_KOBJ_KINDS };
struct dump_kobj_ids {
	uint32_t id[DUMP_KOBJ_KINDS];
	unsigned shared_with_parent;	/* 1 << DUMP_KOBJ_*: made by its parent's clone */
};

struct dump_ctx {
	struct cryo_opts *opts;
	int dirfd;
	struct seized_tree tree;
	struct files_dump files;
	uint32_t next_pages_id;
	uint32_t next_kobj_id;
	struct mem_dump_stats mem;
	struct mem_dump_shared shmem;	/* shared memory objects saved so far */
	TaskKobjIdsEntry *root_ids;
	struct ns_dump ns;		/* cryo's namespaces, ids for the images */
	uint32_t *cg_sets;		/* criu's cg_set of each tree.procs[i], 0 = none */
	struct dump_kobj_ids *kobj;	/* of each tree.procs[i] (zombies: none) */
	struct mem_page_runs *runs;	/* what each tree.procs[i]'s pagemap holds */
	struct sigreturn_memo sigreturn_memo;	/* libraries searched so far */
	struct creds_dump creds;	/* seccomp filters, for seccomp.img */
	struct page_dump *pages;	/* where pages go, copy buffers */
	bool pre_dump;			/* cryo pre-dump: memory only, tracking on */
	int prev_dirfd;			/* --prev-images-dir with tracking, -1: none */
	struct mem_track track;		/* each process's dirty tracking */
	struct page_sink *incr;		/* the incremental sink in @pages, NULL: none */
	bool track_spent;		/* pages protected again: no handing @track back */
	struct page_sink *lazy;		/* --lazy-pages: the lazy sink in @pages, NULL: none */
	uint64_t pages_lazy;		/* pages it left out */
	struct bgsnap *bg;		/* --background-snapshot, NULL: none */
	uint64_t bg_t_released;		/* when it let the tree go (frozen_time's end) */
	struct restart_call *restart_in;	/* the previous dump's (restart_calls.c) */
	int nr_restart_in;
};

/* One run of the dump or pre-dump pipeline. */
struct dump_run {
	struct dump_ctx ctx;
	uint64_t t_start, t_frozen;
	bool frozen;			/* the tree is seized (free it at the end) */
	bool shmem_done, creds_done;	/* finished on the way: not again in undo */
	bool released;			/* past the commit: the tree was let go */
	bool bg_released;		/* --background-snapshot: let go before the copy */
	bool refreeze;			/* v1 freezer cgroup frozen before: freeze it again */
	struct page_sink *sink;		/* until the files stage hands it to ctx.pages */
	int lazy_lsk;			/* --lazy-pages: listening (+1; 0: none) */
	char lazy_name[160];
};
/* The end of a dump or pre-dump (@what) that returned @ret: logs its
 * times, frees the run's state; returns @ret. */
int dump_run_end(struct dump_run *run, const char *what, int ret);
/* After the tree was let go alive: a v1 freezer cgroup that was frozen
 * before the dump is frozen again (once). */
int dump_refreeze(struct dump_run *run);
/* Lets the frozen tree go on (RELEASE_RESUME) without having dumped it
 * (a pre-dump, a failed dump): the registers of each thread are first set
 * as a dump sets them (task_cpu_fix_resume), so that the freeze does not
 * end a system call with EINTR. */
int dump_release_undumped(struct dump_run *run);
/* System calls that threads of a tree left running go on with through
 * restart_syscall (a relative timeout whose time left is not known): the
 * call's number is kept in the images directory (cryo-restart-calls), so
 * that the next dump of the tree with --prev-images-dir can still name the
 * call and a restore re-issues it rather than returning EINTR. */
struct restart_call {
	pid_t tid;
	uint64_t nr, ip, sp, args[6];
};
/* Reads the previous dump's record (none: nothing to do).  The directory
 * is input: a damaged, oversized or planted record (symlink, FIFO) is
 * ignored with a warning; only -ENOMEM fails. */
int restart_calls_load(struct dump_ctx *ctx, int prev_dirfd);
/* Gives each seized thread what the record says of it (cont_in). */
void restart_calls_assign(struct dump_ctx *ctx);
/* Writes this dump's record from the threads' cont_out (none: no file). */
int restart_calls_save(struct dump_ctx *ctx);
/* Removes a record an earlier dump left in this images directory. */
int restart_calls_drop(struct dump_ctx *ctx);
/* The registers of every live thread as a dump sets them, for those not
 * dumped (task_cpu_fix_resume). */
int dump_fix_undumped_regs(struct dump_ctx *ctx);

/* Stages both pipelines run (dump.c; predump.c). */
int dump_st_images_dir(void *arg);
int dump_st_freeze(void *arg);
void dump_st_freeze_undo(void *arg);
int dump_st_frozen(void *arg);
int dump_st_pstree(void *arg);
int dump_st_stats(void *arg);
int dump_st_commit(void *arg);
/* --prev-images-dir (predump.c): open the previous dump, take its
 * tracking, link it as "parent"; the undo hands the tracking back. */
int dump_st_prev(void *arg);
void dump_st_prev_undo(void *arg);
bool dump_has_prev(void *arg);
/* --background-snapshot (dump_bg.c): refuse what it can't do yet (@pre:
 * a pre-dump); bg-protect: each process's userfaultfd and write
 * protection, on the frozen tree once every other call was injected; its
 * undo ends the protection. */
int dump_bg_check(const struct cryo_opts *o, bool pre);
bool dump_wants_bg(void *arg);
int dump_st_bg_protect(void *arg);
void dump_st_bg_undo(void *arg);
/* --auto-dedup after the commit (dump.c) */
bool dump_wants_dedup(void *arg);
int dump_st_dedup(void *arg);
/* The incremental sink in front of @sink when the run has a previous
 * dump with tracking (takes @sink over). */
int dump_pages_sink(struct dump_ctx *ctx, struct page_sink *sink, struct page_dump **out);
/* Run @fn in @p's leader made ready for injected calls. */
int dump_leader_call(struct dump_ctx *ctx, struct seized_proc *p, const struct proc_maps *maps,
		     int (*fn)(struct remote *r, void *arg), void *arg);

/* vpid.c: the PIDs of the tree as its images record them (seized_proc's
 * vpid, vpgid, vsid, threads' vtid): as seen in the root's PID namespace
 * (checked: the root must be its init), or cryo's own PIDs when the root
 * is in cryo's.  After the namespace check. */
int dump_tree_vpids(struct dump_ctx *ctx);

/* The operations behind cryo_dump and cryo_pre_dump (lib/cryo.h). */
int dump_tree(struct cryo_opts *o);
int pre_dump_tree(struct cryo_opts *o);

/* Give every live process its ids of shared objects (kcmp); refuses (logs
 * and fails) sharing a restore could not recreate. */
int dump_share_ids(struct dump_ctx *ctx);
/* The ids of @p, NULL if none. */
const struct dump_kobj_ids *dump_proc_kobj(const struct dump_ctx *ctx, const struct seized_proc *p);

/* The cg_set (1: cryo's own cgroups) of @p, 0 if not known. */
uint32_t dump_cg_set(const struct dump_ctx *ctx, const struct seized_proc *p);

/* Where a process's injected system calls run from (seize/remote.h). */
struct task_code {
	uint64_t syscall_ip;	/* a `syscall` for the unguarded way, 0: none */
	struct sigreturn_gadget sigreturn;	/* .ip 0: none found */
};

/* Per-thread and per-process task state into core-TID.img; also fills
 * @mm's brk/dumpable/thp fields that need injected syscalls, and
 * *@files_id with the id of the process's fd table (fdinfo-N.img). */
int dump_task_cores(struct dump_ctx *ctx, struct seized_proc *p, MmEntry *mm,
		    const struct task_code *code, uint32_t *files_id);

#endif
