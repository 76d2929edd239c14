/* mem_no_vdso: a process that unmapped its vDSO ([vdso], [vvar],
 * [vvar_vclock]) and put its own memory where the vDSO was.  cryo needs a
 * syscall instruction elsewhere in the task for its injected calls, and the
 * restore must not bring back a vDSO: after restore there is no [vdso] or
 * [vvar*] mapping and the memory at the old vDSO address holds the
 * process's own bytes.  (No vDSO function may be called: the test uses raw
 * system calls for the time.)
 * --child: the same in a forked child, its parent keeping its vDSO (the
 * child is restored from its parent's memory, vDSO included).
 * --moved (a child): the child moved its vDSO elsewhere (mremap) instead
 * of unmapping it; after restore it is there, whole, and the child's memory
 * is where the parent's vDSO still is.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"
#include "inchild.h"

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

static bool child, moved;
TEST_OPTION(child, bool, "unmap the vDSO in a forked child, the parent keeps its own", 0);
TEST_OPTION(moved, bool, "with --child: move the vDSO (mremap) instead of unmapping it", 0);

static struct area orig[4], where[4];
static int norig;
static uintptr_t lo, hi;
static uint8_t *m;

static void build(void)
{
	int n = norig = vdso_areas(orig, 4);
	if (n <= 0)
		setup_fail("no vDSO found in /proc/self/maps");
	lo = orig[0].start;
	hi = orig[0].end;
	for (int i = 0; i < n; i++) {
		lo = orig[i].start < lo ? orig[i].start : lo;
		hi = orig[i].end > hi ? orig[i].end : hi;
	}
	/* moved: to a free spot of the block's size, the areas as they were */
	uint8_t *to = NULL;
	if (moved) {
		to = mmap(NULL, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (to == MAP_FAILED)
			setup_fail("mmap of a spot for the vDSO: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		size_t len = orig[i].end - orig[i].start;
		where[i] = orig[i];
		if (moved) {
			where[i].start = (uintptr_t)to + (orig[i].start - lo);
			where[i].end = where[i].start + len;
			if (mremap((void *)orig[i].start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
				   (void *)where[i].start) != (void *)where[i].start)
				setup_fail("mremap of %s: %s", orig[i].name, strerror(errno));
		} else if (munmap((void *)orig[i].start, len)) {
			setup_fail("munmap of %s: %s", orig[i].name, strerror(errno));
		}
	}
	struct area now[4];
	int nn = vdso_areas(now, 4);
	if (moved ? nn != n : nn != 0)
		setup_fail("the vDSO is not as made (%d areas)", nn);
	/* our own memory where the vDSO block was */
	size_t len = hi - lo;
	m = mmap((void *)lo, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != (void *)lo)
		setup_fail("mmap at the old vDSO address: %s", strerror(errno));
	pattern_fill(m, len, lo);
}

static void check(void)
{
	struct area a[4];
	int n = vdso_areas(a, 4);
	if (moved) {
		if (n != norig)
			fail("%d vDSO areas after restore, %d before", n, norig);
		for (int i = 0; i < n && n == norig; i++)
			if (a[i].start != where[i].start || a[i].end != where[i].end ||
			    strcmp(a[i].name, where[i].name))
				fail("%s at 0x%lx-0x%lx after restore, %s at 0x%lx-0x%lx before",
				     a[i].name, (unsigned long)a[i].start, (unsigned long)a[i].end,
				     where[i].name, (unsigned long)where[i].start,
				     (unsigned long)where[i].end);
	} else {
		for (int i = 0; i < n; i++)
			fail("a %s came back at 0x%lx-0x%lx", a[i].name, (unsigned long)a[i].start,
			     (unsigned long)a[i].end);
	}
	struct smaps_vma v;
	/* (it may merge with a neighbour now: contained is enough) */
	if (smaps_lookup(m, NULL, &v) || v.start > lo || v.end < hi || strcmp(v.perms, "rw-p"))
		fail("the mapping at the old vDSO address is not as it was (0x%lx-0x%lx %s)",
		     (unsigned long)v.start, (unsigned long)v.end, v.perms);
	else if (pattern_check(m, hi - lo, lo) >= 0)
		fail("the memory at the old vDSO address changed");
	struct timespec ts;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts))
		fail_errno("clock_gettime");
}

/* the parent's vDSO is where it was, whole */
static void parent_check(void)
{
	struct area a[4];
	int n = vdso_areas(a, 4);
	if (n != norig)
		fail("the parent has %d vDSO areas after restore, %d before", n, norig);
	for (int i = 0; i < n && n == norig; i++)
		if (a[i].start != orig[i].start || a[i].end != orig[i].end)
			fail("the parent's %s moved to 0x%lx-0x%lx", a[i].name,
			     (unsigned long)a[i].start, (unsigned long)a[i].end);
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts))	/* through its vDSO */
		fail_errno("clock_gettime in the parent");
}

int main(int argc, char **argv)
{
	test_doc = "a process without a vDSO stays without one, its memory in the vDSO's place";
	test_init(argc, argv);
	if (moved && !child)
		setup_fail("--moved needs --child");
	if (child) {
		norig = vdso_areas(orig, 4);
		return in_child(build, check, parent_check);
	}
	build();
	test_daemon();
	test_waitsig();
	check();
	return test_verdict();
}
