/* Helpers shared by the "memory kinds" tests (mem_*.c): what
 * /proc/self/smaps says about the mapping that contains an address. */
#ifndef CRYO_TESTS_MEMKINDS_H
#define CRYO_TESTS_MEMKINDS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The smaps block of the VMA holding @addr: its range, perms, the value of
 * field @field ("AnonHugePages", in kB; -1 if absent) and its VmFlags.
 * Returns 0, or -1 if no mapping holds @addr. */
struct smaps_vma {
	uintptr_t start, end;
	char perms[5];
	char path[256];
	long field_kb;
	char vmflags[256];
};

static inline int smaps_lookup(const void *addr, const char *field, struct smaps_vma *out)
{
	char line[1024];
	FILE *f = fopen("/proc/self/smaps", "re");
	int found = 0;
	size_t flen = field ? strlen(field) : 0;

	if (!f)
		return -1;
	memset(out, 0, sizeof(*out));
	out->field_kb = -1;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		char p[5];
		int pos = 0;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s %*s %*s %*s%n", &s, &e, p, &pos) >= 3 &&
		    strchr(line, '-') && line[0] != 'V') {
			if (found)
				break;
			if ((uintptr_t)addr >= s && (uintptr_t)addr < e) {
				const char *q = line + pos;
				found = 1;
				out->start = s;
				out->end = e;
				memcpy(out->perms, p, 5);
				while (*q == ' ')
					q++;
				snprintf(out->path, sizeof(out->path), "%.255s", q);
				out->path[strcspn(out->path, "\n")] = '\0';
			}
			continue;
		}
		if (!found)
			continue;
		if (field && !strncmp(line, field, flen) && line[flen] == ':')
			out->field_kb = strtol(line + flen + 1, NULL, 10);
		else if (!strncmp(line, "VmFlags:", 8))
			snprintf(out->vmflags, sizeof(out->vmflags), "%.255s", line + 8);
	}
	fclose(f);
	return found ? 0 : -1;
}

/* True if the VMA holding @addr has the two-letter VmFlag @fl. */
static inline int vma_has_flag(const void *addr, const char *fl)
{
	struct smaps_vma v;

	if (smaps_lookup(addr, NULL, &v))
		return 0;
	for (const char *p = v.vmflags; *p; p++)
		if (p[0] == fl[0] && p[1] == fl[1] && (p == v.vmflags || p[-1] == ' ') &&
		    (p[2] == ' ' || p[2] == '\n' || !p[2]))
			return 1;
	return 0;
}

#endif
