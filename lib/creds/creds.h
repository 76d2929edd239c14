/* Credentials, limits and per-task settings: uid/gid sets, groups,
 * capabilities, securebits, no_new_privs, seccomp, rlimits, prctl values,
 * oom_score_adj, ioprio...  (docs/creds.md)
 *
 * Hooks as in signals.h.  creds_restore_proc runs before the per-thread
 * state; creds_restore_thread runs last for each thread, just before its
 * registers are set, since dropping privileges or installing a seccomp
 * filter restricts every later step.  With several threads, every thread
 * must exist before creds_restore_thread runs for any of them: a thread
 * cloned afterwards would inherit the already reduced credentials. */
#ifndef CRYO_CREDS_H
#define CRYO_CREDS_H

#include <stdbool.h>
#include <sys/types.h>
#include "core.pb-c.h"

struct remote;
struct cryo_opts;

/* What a dump keeps of lib/creds for its whole run (in struct dump_ctx,
 * zeroed): every seccomp filter seen so far, once each, for seccomp.img. */
struct creds_seccomp_filter;
struct creds_dump {
	struct creds_seccomp_filter *filters;
	int nr_filters;
};

/* What a restore keeps of lib/creds for its whole run (in struct rst_ctx):
 * seccomp.img, read by creds_restore_prepare. */
struct creds_restore {
	struct SeccompEntry *seccomp;	/* NULL: the dump has none */
	int lsm_type;			/* Lsmtype of the labels to set */
	bool lsm_override;		/* --lsm-profile: lsm_profile for every process */
	char *lsm_profile;
};

int creds_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc);
int creds_dump_thread(struct remote *r, struct creds_dump *cd, pid_t pid, pid_t tid,
		      ThreadCoreEntry *tce);
int creds_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc);
int creds_restore_thread(struct remote *r, const struct creds_restore *cr, pid_t pid, pid_t tid,
			 const ThreadCoreEntry *tce);
/* Before creds_restore_thread runs for any of the @n threads (@tids,
 * @tces; [0] is the leader, driven through @r) of process @pid: the oldest
 * seccomp filters that every thread has in common (one kernel object each,
 * as SECCOMP_FILTER_FLAG_TSYNC leaves them) are installed once, by the
 * leader with TSYNC; creds_restore_thread then adds each thread's own. */
int creds_restore_seccomp_shared(struct remote *r, const struct creds_restore *cr, pid_t pid,
				 const pid_t *tids, const ThreadCoreEntry *const *tces, int n);

/* Dump: once every process is dumped, write seccomp.img (the filters
 * creds_dump_thread collected in @cd, shared ones once) if there are any,
 * and forget them.  With @dirfd < 0 (the dump failed) only forget them. */
int creds_dump_finish(struct creds_dump *cd, int dirfd);
/* Restore: read seccomp.img into @cr, if the dump has one, before any task
 * is driven; creds_restore_finish() frees it (@cr zeroed: nothing read). */
int creds_restore_prepare(struct creds_restore *cr, int dirfd);
void creds_restore_finish(struct creds_restore *cr);

/* ---- LSM labels (lsm.c) ------------------------------------------------
 * The host's active LSM, as inventory.lsmtype counts them (LSMTYPE__*). */
int lsm_host(void);
const char *lsm_type_name(int type);
/* Restore: check --lsm-profile / --lsm-mount-context against this host and
 * note the image's LSM type (from the inventory) in @cr.  Before any task. */
int lsm_restore_prepare(struct creds_restore *cr, const struct cryo_opts *o, bool img_has_type,
			int img_type);
void lsm_restore_finish(struct creds_restore *cr);
/* Restore: can process @pid (its @n threads' cores, [0] the leader) get its
 * labels back here?  Before any task is created. */
int lsm_restore_check(const struct creds_restore *cr, pid_t pid,
		      const ThreadCoreEntry *const *tces, int n);
/* Restore: the leader of @pid sets the process's label, before its other
 * threads are created (they inherit it). */
int lsm_restore_proc(struct remote *r, const struct creds_restore *cr, pid_t pid,
		     const ThreadCoreEntry *leader);
/* --lsm-mount-context: replace the context= of mount options *@options
 * (a malloc'd string, replaced).  1 if replaced, 0 if it has none. */
int lsm_mount_options(const char *context, char **options);
/* For tests: "selinux:CTX" -> type, name (malloc'd; NULL for "none"). */
int lsm_parse_profile(const char *arg, int *type, char **name);
/* For tests: a label as /proc shows it -> as kept ("" for none). */
char *lsm_label_clean(int type, const char *raw);

#endif
