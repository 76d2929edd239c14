/* Internal to the restore pipeline. */
#ifndef CRYO_RESTORE_H
#define CRYO_RESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/types.h>

#include "creds/creds.h"
#include "files/files.h"
#include "images/image.h"
#include "mem/lazy.h"
#include "mem/mem.h"
#include "mem/page_source.h"
#include "options/options.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "pstree.pb-c.h"
#include "core.pb-c.h"
#include "fs.pb-c.h"
#include "inventory.pb-c.h"

struct rst_thread {
	/* tid: as cryo sees it, once created (the image's until then, and
	 * always when the tree is in cryo's PID namespace); vtid: the image's,
	 * as the tree sees it */
	pid_t tid, vtid;
	pid_t nstid[PIDNS_LEVELS];	/* at each PID namespace level from the tree's ([0]: vtid) */
	CoreEntry *core;
	bool created;
	bool released;			/* detached by release_all */
	struct remote r;		/* valid once created */
};

struct rst_proc {
	/* pid: as cryo sees it once created (what cryo's calls take), the
	 * image's until then; vpid, ppid, pgid, sid: the image's, as the tree
	 * sees them (in its own PID namespace, when the root was made one:
	 * lib/ns/pid.c) -- what the tree's own calls take */
	pid_t pid, vpid, ppid, pgid, sid;
	/* nested PID namespaces (pidns_nested.c): the levels below the
	 * tree's namespace it is in (0: the tree's), its PID, group and
	 * session at each level from the tree's inward ([0]: vpid, pgid,
	 * sid); its namespace's id, that one's parent (nested ones), the one
	 * its children are born in at the end (0: its own; kids_unshare: a
	 * new one, unshared again) and the one they are born in now */
	int nslv;
	pid_t nspid[PIDNS_LEVELS], nspgid[PIDNS_LEVELS], nssid[PIDNS_LEVELS];
	uint32_t pidns, pidns_parent, kids_pidns, kids_now;
	bool kids_unshare;
	int state;			/* TASK_ALIVE, TASK_STOPPED, TASK_DEAD */
	struct rst_proc *parent;
	struct rst_thread *thr;		/* thr[0] is the leader */
	int nr_threads;
	CoreEntry *core;		/* == thr[0].core */
	struct mem_image mem;
	FsEntry *fs;
	FdinfoEntry **fds;
	int nr_fds;
	int pages_fd;			/* opened by cryo, inherited by every new task */
	struct page_prevs prev;		/* its pages in the previous dumps (PE_PARENT) */
	bool created;			/* exists: kill it if the restore fails */
	bool exited;			/* zombie already made to exit */
	uint64_t share_flags;		/* CLONE_FILES, CLONE_FS: shared with its parent */
	bool sigtrap_ignored;		/* SIGTRAP's SIG_IGN is set last */
	const struct SaEntry *sigtrap_sa;
};

/* A stand-in for a session or group leader that left the tree. */
struct rst_helper {
	pid_t pid;			/* as the tree sees it */
	pid_t hpid;			/* as cryo sees it */
	struct rst_proc *parent;	/* forked it; reaps it */
	struct remote r;
	bool alive;
};

/* files_restore.host_pid: the PID cryo sees of the images' process, thread
 * or group (F_OWNER_*) @vpid (the tree's), once created; 0 if none. */
pid_t restore_host_pid(void *arg, int type, pid_t vpid);

struct rst_ctx {
	struct cryo_opts *opts;
	int dirfd;
	int prev_dirs[IMG_MAX_PARENTS];	/* the previous dumps (parent links), parent first */
	int nr_prev_dirs;
	InventoryEntry *inv;		/* inventory.img */
	struct rst_proc *procs;		/* pstree order: parents before children */
	int nr_procs;
	struct files_restore files;
	struct shmem_registry shmem;	/* shared memory objects of the whole tree */
	bool shmem_ready;
	struct mem_cow_stats cow;	/* pages kept shared with parents */
	uint64_t trampoline;		/* same address in every task */
	struct creds_restore creds;	/* seccomp.img */
	struct rst_helper helpers[16];
	int nr_helpers;
	int ns_flags;			/* CLONE_NEW*: the namespaces made for the root */
	bool ns_joined;			/* create_root: ns_restore_joins ran (files.ns may hold some) */
	bool in_net;			/* cryo's thread is in the tree's network namespace */
	int net_back;			/* ... and comes back to this one (ns_leave) */
	struct cg_restore *cg;		/* --manage-cgroups (lib/cgroup), NULL: none */
	struct lazy_restore lazy;	/* --lazy-pages: the daemon, the userfaultfds */
	struct rst_creators *creators;	/* peercred.c: helpers held for sockets' makers */
};

#define rst_leader(p) (&(p)->thr[0])

/* The operation behind cryo_restore (lib/cryo.h). */
int restore_tree(struct cryo_opts *o, int *exit_status);
/* restore.c: the restore proper, in cryo's own PID namespace (@root_out:
 * the root's PID once restored) */
int cryo_restore_here(struct cryo_opts *o, int *exit_status, pid_t *root_out);
/* pidns.c: --pid-ns, the same from inside a new PID namespace */
int restore_in_new_pidns(struct cryo_opts *o, int *exit_status);

/* restore.c: the steps of the restore's stages (stages.c) */
int load_pstree(struct rst_ctx *ctx);
int load_proc(struct rst_ctx *ctx, struct rst_proc *p);
void free_procs(struct rst_ctx *ctx);
int check_namespaces_cgroups(struct rst_ctx *ctx);
int check_sessions(struct rst_ctx *ctx);
int check_shared(struct rst_ctx *ctx);
/* the root, with its old PID, from cryo; then seized, with the trampoline */
int create_root(struct rst_ctx *ctx, struct rst_proc *p);
int seize_root(struct rst_ctx *ctx, struct rst_proc *p);
int build_tree(struct rst_ctx *ctx, struct rst_proc *p);
/* the namespaces the root was made in (ctx->ns_flags), filled from the
 * images and put into the files' namespace set */
int fill_namespaces(struct rst_ctx *ctx);
int set_pgids(struct rst_ctx *ctx);
void kill_created(struct rst_ctx *ctx);
void write_restore_stats(struct rst_ctx *ctx, uint64_t forking_ns, uint64_t total_ns);

/* restore.c: a fork of @r's task with PID @tid (the tree's), stopped and
 * traced; *@host its PID as cryo sees it.  An @tid in use is refused
 * (logged, naming its holder: -EEXIST). */
int restore_clone_in(struct remote *r, pid_t tid, int exit_signal, pid_t *host);

/* peercred.c: files_restore.as_creator, creator_hold, creators_release */
int restore_as_creator(void *arg, const struct files_creator *c, files_creator_fn *fn,
		       void *fn_arg);
int restore_creator_hold(void *arg, pid_t pid, const char *what);
int restore_creators_release(void *arg);

/* restore.c: refusal naming who holds @pid now */
void pid_in_use(pid_t pid);

/* finish.c */
int take_back_sigchld(struct rst_proc *parent, pid_t pid);
/* The status of zombie @z is one cryo can recreate (logs why not). */
int zombie_check_status(const struct rst_proc *z);
/* Every zombie, still a live task so far, exits with its old status. */
int make_zombies(struct rst_ctx *ctx);
/* Detach every task; stopped ones are stopped again by their signal. */
int release_all(struct rst_ctx *ctx);
void release_done(struct rst_ctx *ctx);

/* pidns_nested.c: nested PID namespaces and pid_for_children (lib/ns/pid.c)
 * -- @p's levels from its pstree entry @pe (every process: a process in the
 * tree's namespace gets its one level); */
int pidns_load_entry(struct rst_proc *p, const PstreeEntry *pe);
/* before any task exists: each process's namespace ids against the
 * dumping tool's (@root_ids, ns_restore_check; a nested PID namespace as
 * the tree's), then its PID namespace and each nested one's parent; */
int pidns_restore_plan(struct rst_ctx *ctx, const TaskKobjIdsEntry *root_ids);
/* child @c of @p: @p's pid_for_children made the one @c is born in (its
 * own, or its namespace's parent for the init of a nested one, which is
 * born with CLONE_NEWPID: *@flags), and @c's set_tid (innermost first,
 * @set_tid[PIDNS_LEVELS]), *@n its size, *@expect its PID as @p sees it; */
int pidns_clone_child(struct rst_ctx *ctx, struct rst_proc *p, struct rst_proc *c,
		      uint64_t *flags, pid_t *set_tid, int *n, pid_t *expect);
/* @p's pid_for_children back to its own namespace (for its threads), and,
 * with @final, to what it was at the dump (after its threads). */
int pidns_restore_children(struct rst_ctx *ctx, struct rst_proc *p, bool final);
/* set_pgids for @p, in a nested namespace: it joins its group itself, or,
 * a namespace's init whose group leader has no PID inside, its parent
 * puts it there (@root_pgid: set_pgids's, the root's group if cryo's). */
int pidns_set_pgid(struct rst_ctx *ctx, struct rst_proc *p, pid_t root_pgid);

/* trust.c: --images-trust owner (logs what it refuses) */
int restore_check_trust(struct rst_ctx *ctx);

/* restore_task.c */
int pick_trampoline(struct rst_ctx *ctx, uint64_t *out);
/* Memory of a created process: the root (a fork of cryo) is emptied and
 * filled; a child (a fork of its restored parent) keeps what it shares
 * with its parent and fixes up the rest. */
int restore_task_memory(struct rst_ctx *ctx, struct rst_proc *p);
/* The rest of its state, once the whole tree exists: create its other
 * threads and set every thread's registers; all its threads stay stopped
 * and traced. */
int restore_task_state(struct rst_ctx *ctx, struct rst_proc *p);

#endif
