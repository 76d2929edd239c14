/* The stage engine (pipeline.h). */
#include "util/pipeline.h"
#include "util/fault.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int notify(const struct pipeline *pl, void *ctx, const char *event)
{
	if (!event || !pl->hook || !pl->hook->notify)
		return 0;
	int pid = pl->pid_of ? pl->pid_of(ctx) : 0;
	pr_debug("%s: notify %s (pid %d)", pl->name, event, pid);
	int ret = pl->hook->notify(event, pid, pl->hook->arg);
	if (ret) {
		ret = ret < 0 ? ret : -EIO;
		pr_err("%s: the %s notification failed (%s): stopping here", pl->name, event,
		       strerror(-ret));
	}
	return ret;
}

/* The fault point at the start of @st: fails (-EIO) or kills cryo. */
static int fault_point(const struct pipeline *pl, const struct stage *st)
{
	char name[64];
	if (!(st->flags & (STAGE_POINT | STAGE_KILL_POINT)))
		return 0;
	snprintf(name, sizeof(name), "%s:%s", pl->name, st->name);
	if (st->flags & STAGE_KILL_POINT) {
		fault_kill_point(name);
		return 0;
	}
	if (fault_inject(name)) {
		pr_err("fault injected at %s (CRYO_FAULT)", name);
		return -EIO;
	}
	return 0;
}

int pipeline_run(const struct pipeline *pl, void *ctx)
{
	bool done[pl->nr_stages ? pl->nr_stages : 1];
	bool committed = false;
	size_t i;
	int ret = 0;

	for (i = 0; i < pl->nr_stages; i++) {
		const struct stage *st = &pl->stages[i];
		done[i] = false;
		if (st->wanted && !st->wanted(ctx))
			continue;
		int r = fault_point(pl, st);
		if (!r)
			r = notify(pl, ctx, st->before);
		if (!r) {
			pr_debug("%s: stage %s", pl->name, st->name);
			r = st->run(ctx);
			done[i] = !r;
		}
		/* its `after` hook failing: the stage is done, it is undone too */
		if (!r)
			r = notify(pl, ctx, st->after);
		if (!r) {
			committed |= (st->flags & STAGE_COMMIT) != 0;
			continue;
		}
		if (!ret)
			ret = r;
		if (!committed)
			break;
		/* past the point of no return: finish the remaining stages */
	}
	if (!ret || committed)
		return ret;
	for (size_t j = i + 1; j-- > 0;)
		if (done[j] && pl->stages[j].undo) {
			pr_debug("%s: undo %s", pl->name, pl->stages[j].name);
			pl->stages[j].undo(ctx);
		}
	return ret;
}
