/* Pipelines as tables of stages, walked by one small engine.
 *
 * The dump and the restore are each a table of stages { name, run, undo }.
 * The engine runs them in order; when one fails, the undo steps of the stages
 * done so far run in reverse order and the first error is returned.  A stage
 * whose run fails cleans up after itself: its own undo does not run.
 *
 * Stage boundaries are where other things attach:
 *  - fault injection (util/fault.h): a stage marked STAGE_POINT is the fault
 *    point "PIPELINE:NAME" (e.g. "dump:frozen"), checked by the engine just
 *    before the stage runs: CRYO_FAULT=dump:frozen fails the run there,
 *    kill:dump:frozen kills cryo there, CRYO_FAULT=list lists it.  A stage is
 *    therefore named after the moment it starts at.  STAGE_KILL_POINT: a
 *    point where cryo can only be killed (past the point of no return);
 *  - notifications: the front end's hook (criu's RPC `notify` messages, and
 *    later --action-script) is called with criu's event names ("pre-dump",
 *    "post-restore", ...) before or after a stage.  A hook that fails fails
 *    the run at that boundary, as a stage would;
 *  - the point of no return: once a STAGE_COMMIT stage (and its `after`
 *    notification) succeeded, nothing is undone any more; a later failure is
 *    still returned, but the remaining stages run all the same (they finish
 *    the work, they don't roll it back).
 */
#ifndef CRYO_UTIL_PIPELINE_H
#define CRYO_UTIL_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

/* Called with criu's notify names at stage boundaries and the PID the
 * event is about (the dumped tree's root; the restored root once it exists;
 * 0: none yet); non-zero (a negative errno) fails the run there.  Carried
 * in the run (struct cryo_opts). */
struct pipeline_hook {
	int (*notify)(const char *event, int pid, void *arg);
	void *arg;
	/* Optional: an event that hands the client a descriptor (criu's
	 * "orphan-pts-master", sent from inside a stage by the tty kind): @fd
	 * goes with the notification, the answer is waited for.  NULL: no
	 * client that could take one (the command line). */
	int (*notify_fd)(const char *event, int fd, void *arg);
};

enum {
	STAGE_POINT = 1 << 0,		/* a fault point at its start */
	STAGE_KILL_POINT = 1 << 1,	/* a kill-only point at its start */
	STAGE_COMMIT = 1 << 2,		/* no undo once it is done */
};

struct stage {
	const char *name;
	int (*run)(void *ctx);
	void (*undo)(void *ctx);	/* optional: reverses a successful run */
	bool (*wanted)(void *ctx);	/* optional: false skips the stage (no
					 * point, no notification either) */
	const char *before, *after;	/* criu notify events, or NULL */
	unsigned flags;			/* STAGE_* */
};

struct pipeline {
	const char *name;		/* "dump", "restore": fault point prefix */
	const struct stage *stages;
	size_t nr_stages;
	const struct pipeline_hook *hook;	/* may be NULL */
	int (*pid_of)(void *ctx);	/* optional: the PID notifications name */
};

#define PIPELINE(pname, table, h)                                              \
	((struct pipeline){ .name = (pname), .stages = (table),                \
			    .nr_stages = sizeof(table) / sizeof((table)[0]),   \
			    .hook = (h) })

/* Run every stage of @pl on @ctx.  Returns 0 or the first error. */
int pipeline_run(const struct pipeline *pl, void *ctx);

#endif
