/* mem_no_vdso: a process that unmapped its vDSO ([vdso], [vvar],
 * [vvar_vclock]) and put its own memory where the vDSO was.  cryo needs a
 * syscall instruction elsewhere in the task for its injected calls, and the
 * restore must not bring back a vDSO: after restore there is no [vdso] or
 * [vvar*] mapping and the memory at the old vDSO address holds the
 * process's own bytes.  (No vDSO function may be called: the test uses raw
 * system calls for the time.)
 */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

struct area {
	uintptr_t start, end;
	char name[32];
};

static int vdso_areas(struct area *a, int max)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < max) {
		uintptr_t s, e;
		char name[64] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %63s", &s, &e, name) < 2)
			continue;
		if (!strcmp(name, "[vdso]") || !strncmp(name, "[vvar", 5)) {
			a[n].start = s;
			a[n].end = e;
			snprintf(a[n].name, sizeof(a[n].name), "%.*s", (int)sizeof(a[n].name) - 1, name);
			n++;
		}
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct area a[4];
	test_doc = "a process without a vDSO stays without one, its memory in the vDSO's place";
	test_init(argc, argv);
	int n = vdso_areas(a, 4);
	if (n <= 0)
		setup_fail("no vDSO found in /proc/self/maps");
	uintptr_t lo = a[0].start, hi = a[0].end;
	for (int i = 0; i < n; i++) {
		lo = a[i].start < lo ? a[i].start : lo;
		hi = a[i].end > hi ? a[i].end : hi;
		if (munmap((void *)a[i].start, a[i].end - a[i].start))
			setup_fail("munmap of %s: %s", a[i].name, strerror(errno));
	}
	if (vdso_areas(a, 4) != 0)
		setup_fail("the vDSO is still mapped");
	/* our own memory where the vDSO block was */
	size_t len = hi - lo;
	uint8_t *m = mmap((void *)lo, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != (void *)lo)
		setup_fail("mmap at the old vDSO address: %s", strerror(errno));
	pattern_fill(m, len, lo);

	test_daemon();
	test_waitsig();

	n = vdso_areas(a, 4);
	for (int i = 0; i < n; i++)
		fail("a %s came back at 0x%lx-0x%lx", a[i].name, (unsigned long)a[i].start,
		     (unsigned long)a[i].end);
	struct smaps_vma v;
	/* (it may merge with a neighbour now: contained is enough) */
	if (smaps_lookup(m, NULL, &v) || v.start > lo || v.end < hi || strcmp(v.perms, "rw-p"))
		fail("the mapping at the old vDSO address is not as it was (0x%lx-0x%lx %s)",
		     (unsigned long)v.start, (unsigned long)v.end, v.perms);
	else if (pattern_check(m, len, lo) >= 0)
		fail("the memory at the old vDSO address changed");
	struct timespec ts;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts))
		fail_errno("clock_gettime");
	return test_verdict();
}
