/* Internal to lib/creds: the three parts behind the hooks of creds.h.
 *   creds.c     uid/gid sets, groups, capabilities, securebits, no_new_privs
 *   seccomp.c   seccomp mode and filters, seccomp.img
 *   settings.c  rlimits, oom_score_adj, loginuid, child subreaper,
 *               parent-death signal, timer slack, ioprio */
#ifndef CRYO_CREDS_INT_H
#define CRYO_CREDS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "creds/creds.h"

/* seccomp.c */
int seccomp_dump_thread(struct creds_dump *cd, pid_t pid, pid_t tid, ThreadCoreEntry *tce);
/* Installs the thread's filters (or strict mode).  Sets
 * PTRACE_O_SUSPEND_SECCOMP first, so the syscalls cryo still runs in the
 * task afterwards are not filtered. */
int seccomp_restore_thread(struct remote *r, const struct creds_restore *cr, pid_t pid, pid_t tid,
			   const ThreadCoreEntry *tce);
int seccomp_dump_finish(struct creds_dump *cd, int dirfd);
int seccomp_restore_prepare(struct creds_restore *cr, int dirfd);
void seccomp_restore_finish(struct creds_restore *cr);

/* lsm.c: the thread's labels into @ce (nothing without an LSM) */
int lsm_dump_thread(pid_t pid, pid_t tid, CredsEntry *ce);

/* settings.c */
int settings_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc);
int settings_dump_thread(struct remote *r, pid_t pid, pid_t tid, ThreadCoreEntry *tce);
int settings_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc);
/* Before the credentials change: timer slack, ioprio. */
int settings_restore_thread_early(struct remote *r, pid_t pid, pid_t tid,
				  const ThreadCoreEntry *tce);
/* After it (a uid change clears the parent-death signal). */
int settings_restore_thread_late(struct remote *r, pid_t pid, pid_t tid,
				 const ThreadCoreEntry *tce);

/* Names for messages: "CAP_SYS_ADMIN", "RLIMIT_NOFILE". */
const char *cap_name(int cap);
const char *rlimit_name(int res);

#endif
