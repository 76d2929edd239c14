/* Credentials, limits and per-task settings: uid/gid sets, groups,
 * capabilities, securebits, no_new_privs, seccomp, rlimits, prctl values,
 * oom_score_adj, ioprio...
 *
 * Hooks as in signals.h.  creds_restore_proc runs before the per-thread
 * state; creds_restore_thread runs last for each thread, just before its
 * registers are set, since dropping privileges or installing a seccomp
 * filter restricts every later step. */
#ifndef CRYO_CREDS_H
#define CRYO_CREDS_H

#include <sys/types.h>
#include "core.pb-c.h"

struct remote;

int creds_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc);
int creds_dump_thread(struct remote *r, pid_t pid, pid_t tid, ThreadCoreEntry *tce);
int creds_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc);
int creds_restore_thread(struct remote *r, pid_t pid, pid_t tid, const ThreadCoreEntry *tce);

#endif
