/* mem_hugetlb_1g: private anonymous memory in one 1 GiB huge page
 * (MAP_HUGETLB | MAP_HUGE_1GB) comes back in a 1 GiB page with its
 * contents (bytes written at both ends, zeros between).  The test adds one
 * page to the 1 GiB pool and puts the old value back at the end; the
 * probe skips it where the kernel can't allocate one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#define GPAGE (1UL << 30)
#define EDGE (64UL << 10)

static const char *pool = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
static long old_pool = -1;

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

static void set_pool(long v)
{
	FILE *f = fopen(pool, "we");
	if (f) {
		fprintf(f, "%ld\n", v);
		fclose(f);
	}
}

static void put_pool_back(void)
{
	if (old_pool >= 0)
		set_pool(old_pool);
}

int main(int argc, char **argv)
{
	test_doc = "a 1 GiB hugetlb page survives with its page size and contents";
	test_init(argc, argv);
	old_pool = read_long(pool);
	if (old_pool >= 0)
		set_pool(old_pool + 1);
	if (old_pool < 0 || read_long(pool) < old_pool + 1) {
		put_pool_back();
		setup_fail("can't add a 1 GiB page to the pool");
	}
	atexit(put_pool_back);
	uint8_t *m = mmap(NULL, GPAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);
	if (m == MAP_FAILED)
		setup_fail("mmap(MAP_HUGE_1GB): %s", strerror(errno));
	pattern_fill(m, EDGE, 1);
	pattern_fill(m + GPAGE - EDGE, EDGE, 2);

	test_daemon();
	test_waitsig();

	struct smaps_vma v;
	if (smaps_lookup(m, "KernelPageSize", &v) || v.start != (uintptr_t)m ||
	    v.end != (uintptr_t)m + GPAGE || v.field_kb != (long)(GPAGE >> 10) ||
	    !strstr(v.vmflags, " ht"))
		fail("the mapping is %lx-%lx with %ld kB pages, expected %p +1 GiB in 1 GiB pages",
		     (unsigned long)v.start, (unsigned long)v.end, v.field_kb, m);
	if (pattern_check(m, EDGE, 1) >= 0 || pattern_check(m + GPAGE - EDGE, EDGE, 2) >= 0)
		fail("the bytes written at the ends differ");
	for (size_t off = EDGE; off < GPAGE - EDGE; off += 1 << 20)
		if (m[off]) {
			fail("byte at %zu is not zero", off);
			break;
		}
	munmap(m, GPAGE);
	return test_verdict();
}
