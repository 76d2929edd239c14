/* --action-script: criu's action scripts, run at the pipelines' stage
 * boundaries through the same hook as the RPC's notifications
 * (util/pipeline.h). */
#ifndef CRYO_ACTION_SCRIPTS_H
#define CRYO_ACTION_SCRIPTS_H

#include <limits.h>

#include "options/options.h"
#include "util/pipeline.h"

struct action_scripts {
	struct pipeline_hook hook;
	const struct pipeline_hook *next;	/* the front end's own (the RPC's) */
	const struct cryo_opts *opts;
	char image_dir[PATH_MAX];
};

/* For one operation on @o: with action scripts, point o->notify at @as,
 * which runs them at each event and then calls the hook o->notify had.
 * Returns the hook to put back once the operation is over. */
const struct pipeline_hook *action_scripts_install(struct action_scripts *as,
						   struct cryo_opts *o);

#endif
