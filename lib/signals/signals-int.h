/* Internals of lib/signals: pending signals (signals.c) and timers
 * (timers.c). */
#ifndef CRYO_SIGNALS_INT_H
#define CRYO_SIGNALS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "core.pb-c.h"

struct remote;

/* One timer of /proc/PID/timers. */
struct proc_timer {
	int id, clock, signo, notify, tid;
	uint64_t sival;
};
/* Parse the text of /proc/PID/timers (modified in place) into a malloc'ed
 * array sorted by ID; @what names the file in messages. */
int timers_parse_proc(char *text, const char *what, struct proc_timer **out, size_t *nr);

/* Dump: interval timers and POSIX timers of process @pid, read through @r
 * (a stopped thread of it), into tc->timers. */
int timers_dump(struct remote *r, pid_t pid, TaskCoreEntry *tc);

/* Restore, step 1 (with the process-wide state): check the timer entries and
 * create the POSIX timers with their IDs, still disarmed. */
int timers_restore_create(struct remote *r, pid_t pid, const TaskCoreEntry *tc);

#endif
