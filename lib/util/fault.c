#include "util/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool fault_inject(const char *stage)
{
	const char *spec = getenv("CRYO_FAULT");
	if (!spec || !*spec)
		return false;
	if (!strcmp(spec, "list")) {
		fprintf(stderr, "fault-stage: %s\n", stage);
		return false;
	}
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
