/* Pending signals and timers (interval timers, POSIX timers, alarm).
 *
 * Dump hooks run with the thread stopped, every signal blocked, and @r ready
 * to run syscalls in it (scratch memory below its red zone).  Restore hooks
 * run in the new task through the trampoline, after memory, files and
 * signal actions are in place and while every signal is still blocked, so
 * queued signals stay pending until the final sigmask is set. */
#ifndef CRYO_SIGNALS_H
#define CRYO_SIGNALS_H

#include <sys/types.h>
#include "core.pb-c.h"

struct remote;

int signals_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc);
int signals_dump_thread(struct remote *r, pid_t pid, pid_t tid, ThreadCoreEntry *tce);
/* Restore side: @pid, @tid as the task sees them (it queues its signals). */
int signals_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc);
int signals_restore_thread(struct remote *r, pid_t pid, pid_t tid, const ThreadCoreEntry *tce);
/* After signals_restore_proc (which creates the POSIX timers, disarmed) and
 * as late as possible, once every pending signal of the leader is queued:
 * arm the POSIX timers and the interval timers of @tc. */
int timers_restore_arm(struct remote *r, pid_t pid, const TaskCoreEntry *tc);

#endif
