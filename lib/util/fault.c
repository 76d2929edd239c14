#include "util/fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STAGES 64

/* How often each stage was reached (for "list" and "kill:STAGE#N"). */
/* (Names are copied: the stage engine builds them on its stack.) */
static struct {
	char name[64];
	unsigned long hits;
} reached[MAX_STAGES];

static unsigned long count_hit(const char *stage)
{
	for (int i = 0; i < MAX_STAGES; i++) {
		if (!reached[i].name[0])
			snprintf(reached[i].name, sizeof(reached[i].name), "%s", stage);
		if (!strcmp(reached[i].name, stage))
			return ++reached[i].hits;
	}
	return 0;
}

/* Does "kill:STAGE" or "kill:STAGE#N" (@n chars at @p) name this hit? */
static bool kill_here(const char *p, size_t n, const char *stage, unsigned long hit)
{
	size_t len = strlen(stage);
	if (n < 5 + len || strncmp(p, "kill:", 5) || strncmp(p + 5, stage, len))
		return false;
	if (n == 5 + len)
		return hit == 1;
	return p[5 + len] == '#' && strtoul(p + 6 + len, NULL, 10) == hit;
}

static bool inject(const char *stage, bool kill_only)
{
	const char *spec = getenv("CRYO_FAULT");
	if (!spec || !*spec)
		return false;
	unsigned long hit = count_hit(stage);
	if (kill_only && strncmp(spec, "kill:", 5) && !strstr(spec, ",kill:"))
		return false;
	if (!strcmp(spec, "list")) {
		if (hit == 1)
			fprintf(stderr, "fault-stage: %s\n", stage);
		return false;
	}
	size_t len = strlen(stage);
	for (const char *p = spec; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (!kill_only && n == len && !strncmp(p, stage, n))
			return true;
		if (kill_here(p, n, stage, hit)) {
			/* cryo dying here, as if killed: nothing may be cleaned up */
			fprintf(stderr, "fault-kill: %s#%lu\n", stage, hit);
			kill(getpid(), SIGKILL);
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool fault_inject(const char *stage)
{
	return inject(stage, false);
}

void fault_kill_point(const char *stage)
{
	inject(stage, true);
}

bool fault_inject_fail_only(const char *stage)
{
	const char *spec = getenv("CRYO_FAULT");
	size_t len = strlen(stage);
	for (const char *p = spec; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && !strncmp(p, stage, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}
