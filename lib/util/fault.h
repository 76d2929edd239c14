/* Fault injection for "never harm the target" tests.
 *
 * CRYO_FAULT=<stage>[,<stage>...] makes fault_inject("<stage>") return true,
 * so the caller fails at that point as if a real error happened.  Stages are
 * named "dump:<step>" and "restore:<step>"; `CRYO_FAULT=list` prints every
 * stage reached (to stderr, once each) so tests can iterate over them.
 * "kill:<stage>" (or "kill:<stage>#N": its Nth time) instead makes cryo
 * SIGKILL itself there, as a crash or an impatient user would, to show
 * that the target survives cryo's death at that point.
 *
 * The pipelines' stage boundaries are fault points by the stages' own names,
 * checked by the stage engine (util/pipeline.h); FAULT_POINT and
 * FAULT_POINT_RET are for the few points inside a stage's per-process work
 * (dump:task-state, restore:memory, ...).
 */
#ifndef CRYO_UTIL_FAULT_H
#define CRYO_UTIL_FAULT_H
#include <stdbool.h>

bool fault_inject(const char *stage);
/* A stage past the point where cryo's death is harmless (e.g. halfway
 * through the release of a restored tree): it can be made to fail, but it
 * is not listed by CRYO_FAULT=list nor killed at by kill:STAGE. */
bool fault_inject_fail_only(const char *stage);
/* A point where cryo can only die (CRYO_FAULT=kill:STAGE), not fail: not
 * listed by CRYO_FAULT=list, so the "failed dump" tests don't pick it. */
void fault_kill_point(const char *stage);

/* Use at a stage boundary: logs and returns -EIO from the caller on fault. */
#define FAULT_POINT(stage)                                                     \
	do {                                                                   \
		if (fault_inject(stage)) {                                     \
			pr_err("fault injected at %s (CRYO_FAULT)", stage);    \
			return -EIO;                                           \
		}                                                              \
	} while (0)
#endif

#ifndef FAULT_POINT_RET
/* Variant for functions with cleanup: sets @ret to -EIO on fault. */
#define FAULT_POINT_RET(ret, stage)                                            \
	do {                                                                   \
		if (fault_inject(stage)) {                                     \
			pr_err("fault injected at %s (CRYO_FAULT)", stage);    \
			(ret) = -EIO;                                          \
		}                                                              \
	} while (0)
#endif
