/* mem_hugetlb_memfd_priv: a private mapping (MAP_PRIVATE) of a hugetlb
 * memfd (MFD_HUGETLB, 2 MiB pages, sealed against growing and shrinking).
 * Of its four huge pages the process wrote pages 0 and 2 (its private
 * copies), read page 1 (the memfd's page itself) and left page 3 untouched;
 * then the memfd was written through a shared mapping of its fd (unmapped
 * again), so pages 1 and 3 must show the new contents, 0 and 2 the copies.
 * With --closed_fd the fd is closed too: only the mapping holds
 * the memfd.  After restore: the copies and the memfd's pages as they were
 * (pagemap: copies anonymous, the others the memfd's), huge pages, the
 * memfd's contents, size, name and seals (through the fd, or through
 * /proc/self/map_files), and a write to either side not seen by the other.
 * vm.nr_hugepages is raised for the test and put back at the end.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/memfd.h>

#include "zdtmtst.h"
#include "memkinds.h"
#include "hugepool.h"

#define NR 4
#define NAME "mem_hugetlb_memfd_priv"
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/* contents of huge page @i: the memfd's first, its later ones, the copies */
#define OLD(i) (100 + (i))
#define NEW(i) (200 + (i))
#define COPY(i) (300 + (i))

static bool closed_fd;
TEST_OPTION(closed_fd, bool, "close the memfd's descriptor: only the mapping holds it", 0);

static void check_page(const char *what, const uint8_t *p, int i, uint64_t seed, bool copy)
{
	ssize_t bad = pattern_check(p, HPAGE, seed);
	if (bad >= 0)
		fail("%s: huge page %d differs at offset %zd (%#x, expected %#x)", what, i, bad,
		     p[bad], pattern_byte(seed, bad));
	if (page_is_private_copy(p) != copy)
		fail("%s: huge page %d is %s, expected %s (pagemap %#llx)", what, i,
		     copy ? "the memfd's page" : "a private copy",
		     copy ? "a private copy" : "the memfd's page",
		     (unsigned long long)pagemap_entry(p));
}

/* The memfd as a descriptor: its own (kept open) or through the mapping. */
static int memfd_of(const uint8_t *pr, int fd)
{
	if (!closed_fd)
		return fd;
	char link[96];
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)pr,
		 (unsigned long)pr + NR * HPAGE);
	int m = open(link, O_RDWR | O_CLOEXEC);
	if (m < 0)
		fail("can't open %s: %s", link, strerror(errno));
	return m;
}

int main(int argc, char **argv)
{
	test_doc = "a private mapping of a hugetlb memfd: private copies and the memfd's pages";
	test_init(argc, argv);
	if (hugepool_grow(2 * NR + 2))
		setup_fail("can't add %d huge pages to vm.nr_hugepages", 2 * NR + 2);

	int fd = memfd_create(NAME, MFD_HUGETLB | MFD_HUGE_2MB | MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, NR * HPAGE) || fcntl(fd, F_ADD_SEALS, SEALS))
		setup_fail("memfd_create(MFD_HUGETLB): %s", strerror(errno));
	uint8_t *sh = mmap(NULL, NR * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sh == MAP_FAILED)
		setup_fail("mmap shared: %s", strerror(errno));
	for (int i = 0; i < NR; i++)
		pattern_fill(sh + i * HPAGE, HPAGE, OLD(i));
	uint8_t *pr = mmap(NULL, NR * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (pr == MAP_FAILED)
		setup_fail("mmap private: %s", strerror(errno));
	pattern_fill(pr, HPAGE, COPY(0));
	pattern_fill(pr + 2 * HPAGE, HPAGE, COPY(2));
	if (pattern_check(pr + HPAGE, HPAGE, OLD(1)) >= 0)	/* read: the memfd's page */
		setup_fail("page 1 of the private mapping does not show the memfd");
	/* the memfd written after the copies were made (hugetlbfs has no
	 * write(2): through a shared mapping) */
	for (int i = 0; i < NR; i++)
		pattern_fill(sh + i * HPAGE, HPAGE, NEW(i));
	munmap(sh, NR * HPAGE);
	if (closed_fd) {
		close(fd);
		fd = -1;
	}

	test_daemon();
	test_waitsig();

	struct smaps_vma v;
	if (smaps_lookup(pr, "KernelPageSize", &v) || v.start != (uintptr_t)pr ||
	    v.end != (uintptr_t)pr + NR * HPAGE || strcmp(v.perms, "rw-p") ||
	    v.field_kb != (long)(HPAGE >> 10) || !strstr(v.vmflags, " ht") ||
	    !strstr(v.path, "/memfd:" NAME " (deleted)"))
		fail("private mapping: %lx-%lx %s %s page size %ld kB flags \"%s\", expected %p "
		     "+%lu rw-p in huge pages of memfd:" NAME, (unsigned long)v.start,
		     (unsigned long)v.end, v.perms, v.path, v.field_kb, v.vmflags, pr, NR * HPAGE);
	check_page("private mapping", pr, 0, COPY(0), true);
	check_page("private mapping", pr + HPAGE, 1, NEW(1), false);
	check_page("private mapping", pr + 2 * HPAGE, 2, COPY(2), true);
	check_page("private mapping", pr + 3 * HPAGE, 3, NEW(3), false);

	int m = memfd_of(pr, fd);
	struct stat st;
	struct statfs sfs;
	char link[64], target[PATH_MAX] = "";
	snprintf(link, sizeof(link), "/proc/self/fd/%d", m);
	if (m < 0 || readlink(link, target, sizeof(target) - 1) < 0 ||
	    strcmp(target, "/memfd:" NAME " (deleted)"))
		fail("the memfd is \"%s\", expected /memfd:" NAME " (deleted)", target);
	if (m >= 0 && (fstat(m, &st) || st.st_size != (off_t)(NR * HPAGE)))
		fail("the memfd is %lld bytes long, expected %lu", (long long)st.st_size, NR * HPAGE);
	if (m >= 0 && (fstatfs(m, &sfs) || sfs.f_type != HUGETLBFS_MAGIC ||
		       sfs.f_bsize != (long)HPAGE))
		fail("the memfd is not on hugetlbfs with 2 MiB pages any more");
	int seals = m < 0 ? -1 : fcntl(m, F_GET_SEALS);
	if (seals != SEALS)
		fail("the memfd's seals are %#x, expected %#x", seals, SEALS);
	sh = m < 0 ? MAP_FAILED : mmap(NULL, NR * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (sh == MAP_FAILED) {
		fail("can't map the memfd again: %s", strerror(errno));
		return test_verdict();
	}
	for (int i = 0; i < NR; i++)
		if (pattern_check(sh + i * HPAGE, HPAGE, NEW(i)) >= 0)
			fail("the memfd's huge page %d lost its contents", i);

	/* still one memfd shared with the mapping's unwritten pages, and the
	 * copies still private */
	sh[0] ^= 0xff;
	sh[3 * HPAGE] ^= 0xff;
	if (pr[0] != pattern_byte(COPY(0), 0))
		fail("a write to the memfd changed the private copy");
	if (pr[3 * HPAGE] != sh[3 * HPAGE])
		fail("a write to the memfd is not seen by the mapping's untouched page");
	pr[HPAGE] ^= 0xff;
	if (sh[HPAGE] != pattern_byte(NEW(1), 0))
		fail("a write to the private mapping reached the memfd");
	munmap(sh, NR * HPAGE);
	return test_verdict();
}
