/* mem_hugetlb: private anonymous huge pages (MAP_PRIVATE | MAP_ANONYMOUS |
 * MAP_HUGETLB, 2 MiB pages) come back as huge pages of the same size with
 * their contents: one mapping filled across its two huge pages, one whose
 * second huge page was never touched (it must read as zeros and still not
 * be there after restore), one read-only.  The test raises
 * vm.nr_hugepages for itself and puts the old value back at the end.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#define HPAGE (2UL << 20)
#define NR_PAGES 8		/* what the test adds to the pool */

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static const char *pool = "/proc/sys/vm/nr_hugepages";
static long old_pool = -1;

static void put_pool_back(void)
{
	if (old_pool >= 0)
		write_long(pool, old_pool);
}

static void *map_huge(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT),
		       -1, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap(MAP_HUGETLB, %zu bytes): %s", len, strerror(errno));
	return p;
}

static void check_kind(const char *name, void *p, size_t len, const char *perms)
{
	struct smaps_vma v;
	if (smaps_lookup(p, "KernelPageSize", &v)) {
		fail("%s: no mapping at %p", name, p);
		return;
	}
	if (v.start != (uintptr_t)p || v.end != (uintptr_t)p + len || strcmp(v.perms, perms) ||
	    v.field_kb != (long)(HPAGE >> 10) || !strstr(v.vmflags, " ht"))
		fail("%s: %lx-%lx %s page size %ld kB flags \"%s\", expected %p +%zu %s, huge pages "
		     "of %lu kB", name, (unsigned long)v.start, (unsigned long)v.end, v.perms,
		     v.field_kb, v.vmflags, p, len, perms, HPAGE >> 10);
}

static long private_hugetlb_kb(void *p)
{
	struct smaps_vma v;
	return smaps_lookup(p, "Private_Hugetlb", &v) ? -1 : v.field_kb;
}

int main(int argc, char **argv)
{
	test_doc = "private anonymous hugetlb memory survives with its page size and contents";
	test_init(argc, argv);

	old_pool = read_long(pool);
	if (old_pool < 0 || write_long(pool, old_pool + NR_PAGES) ||
	    read_long(pool) < old_pool + NR_PAGES) {
		put_pool_back();
		setup_fail("can't add %d huge pages to vm.nr_hugepages", NR_PAGES);
	}
	atexit(put_pool_back);

	uint8_t *full = map_huge(2 * HPAGE, PROT_READ | PROT_WRITE);
	uint8_t *half = map_huge(2 * HPAGE, PROT_READ | PROT_WRITE);
	uint8_t *ro = map_huge(HPAGE, PROT_READ | PROT_WRITE);
	pattern_fill(full, 2 * HPAGE, 1);
	pattern_fill(half, HPAGE, 2);
	pattern_fill(ro, HPAGE, 3);
	if (mprotect(ro, HPAGE, PROT_READ))
		setup_fail("mprotect: %s", strerror(errno));
	if (private_hugetlb_kb(half) != (long)(HPAGE >> 10))
		setup_fail("the half-used mapping has %ld kB of huge pages, expected %lu",
			   private_hugetlb_kb(half), HPAGE >> 10);

	test_daemon();
	test_waitsig();

	check_kind("full", full, 2 * HPAGE, "rw-p");
	check_kind("half", half, 2 * HPAGE, "rw-p");
	check_kind("read-only", ro, HPAGE, "r--p");
	if (private_hugetlb_kb(full) != (long)(2 * HPAGE >> 10))
		fail("the full mapping has %ld kB of huge pages, expected %lu",
		     private_hugetlb_kb(full), 2 * HPAGE >> 10);
	if (private_hugetlb_kb(half) != (long)(HPAGE >> 10))
		fail("the half-used mapping has %ld kB of huge pages, expected %lu (the untouched "
		     "one came into being)", private_hugetlb_kb(half), HPAGE >> 10);
	ssize_t bad;
	if ((bad = pattern_check(full, 2 * HPAGE, 1)) >= 0)
		fail("full: contents differ at offset %zd", bad);
	if ((bad = pattern_check(half, HPAGE, 2)) >= 0)
		fail("half: contents differ at offset %zd", bad);
	if ((bad = zero_check(half + HPAGE, HPAGE)) >= 0)
		fail("half: untouched huge page is not zero at offset %zd", bad);
	if ((bad = pattern_check(ro, HPAGE, 3)) >= 0)
		fail("read-only: contents differ at offset %zd", bad);
	/* still private: a write here is this process's alone, and works */
	full[5] ^= 0xff;
	return test_verdict();
}
