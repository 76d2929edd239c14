/* mem_hugetlb_refuse: a private mapping of a hugetlb memfd (MFD_HUGETLB,
 * MAP_PRIVATE) with a page written (its private copy).  cryo does not
 * restore private mappings of hugetlb memfds: the dump must refuse, naming
 * the mapping, and leave the process running unharmed (after SIGTERM the
 * private copy and the memfd's own contents are as they were).
 * vm.nr_hugepages is raised for the test and put back at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define HPAGE (2UL << 20)
#define NR_PAGES 4

static const char *pool = "/proc/sys/vm/nr_hugepages";
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

static void put_pool_back(void)
{
	FILE *f = old_pool >= 0 ? fopen(pool, "we") : NULL;
	if (f) {
		fprintf(f, "%ld\n", old_pool);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	test_doc = "a private mapping of a hugetlb memfd: the dump refuses clearly";
	test_init(argc, argv);
	old_pool = read_long(pool);
	FILE *f = old_pool >= 0 ? fopen(pool, "we") : NULL;
	if (!f || fprintf(f, "%ld\n", old_pool + NR_PAGES) < 0 || fclose(f) ||
	    read_long(pool) < old_pool + NR_PAGES) {
		put_pool_back();
		setup_fail("can't add %d huge pages to vm.nr_hugepages", NR_PAGES);
	}
	atexit(put_pool_back);
	int fd = memfd_create("mem_hugetlb_refuse", MFD_HUGETLB | (21 << 26));
	if (fd < 0 || ftruncate(fd, HPAGE))
		setup_fail("memfd_create(MFD_HUGETLB): %s", strerror(errno));
	uint8_t *sh = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint8_t *pr = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (sh == MAP_FAILED || pr == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	pattern_fill(sh, HPAGE, 1);
	pattern_fill(pr, HPAGE, 2);

	test_daemon();
	test_waitsig();

	if (pattern_check(sh, HPAGE, 1) >= 0)
		fail("the memfd's contents changed");
	if (pattern_check(pr, HPAGE, 2) >= 0)
		fail("the private copy changed");
	return test_verdict();
}
