/* mem_hugetlbfs: mappings of a file on a hugetlbfs mount (2 MiB pages, the
 * mount made by the test in a temporary directory).  One shared mapping of
 * the whole file, one private mapping whose first huge page the process
 * wrote (its private copy) and whose second shows the file; the file also
 * open as a descriptor.  After restore: huge pages of the same size
 * everywhere, the private copy as it was, the file's contents through the
 * shared mapping, the descriptor and the private mapping's unwritten page,
 * and a write through the shared mapping seen by the descriptor (one file)
 * but not by the private copy; pagemap: the copy anonymous, the other page
 * the file's.  vm.nr_hugepages is raised for the test and
 * put back at the end, the mount removed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "zdtmtst.h"
#include "memkinds.h"
#include "hugepool.h"

#define NR_PAGES 8

static const char *pool = "/proc/sys/vm/nr_hugepages";
static long old_pool = -1;
static char dir[] = "/tmp/cryo-mem_hugetlbfs.XXXXXX";
static char file[64];
static bool mounted;

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

static void cleanup(void)
{
	if (file[0])
		unlink(file);
	if (mounted)
		umount2(dir, MNT_DETACH);
	rmdir(dir);
	if (old_pool >= 0)
		write_long(pool, old_pool);
}

static void check_huge(const char *name, void *p, size_t len, const char *perms)
{
	struct smaps_vma v;
	if (smaps_lookup(p, "KernelPageSize", &v) || v.start != (uintptr_t)p ||
	    v.end != (uintptr_t)p + len || strcmp(v.perms, perms) ||
	    v.field_kb != (long)(HPAGE >> 10) || !strstr(v.vmflags, " ht"))
		fail("%s: %lx-%lx %s page size %ld kB flags \"%s\", expected %p +%zu %s in huge pages",
		     name, (unsigned long)v.start, (unsigned long)v.end, v.perms, v.field_kb,
		     v.vmflags, p, len, perms);
}

int main(int argc, char **argv)
{
	test_doc = "mappings of a hugetlbfs file: page size, shared and private contents";
	test_init(argc, argv);

	old_pool = read_long(pool);
	if (old_pool < 0 || write_long(pool, old_pool + NR_PAGES) ||
	    read_long(pool) < old_pool + NR_PAGES) {
		cleanup();
		setup_fail("can't add %d huge pages to vm.nr_hugepages", NR_PAGES);
	}
	if (!mkdtemp(dir)) {
		cleanup();
		setup_fail("mkdtemp: %s", strerror(errno));
	}
	atexit(cleanup);
	if (mount("cryo-test", dir, "hugetlbfs", 0, "pagesize=2M"))
		setup_fail("mount hugetlbfs: %s", strerror(errno));
	mounted = true;
	snprintf(file, sizeof(file), "%s/data", dir);
	int fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 2 * HPAGE))
		setup_fail("creating %s: %s", file, strerror(errno));
	uint8_t *sh = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint8_t *pr = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (sh == MAP_FAILED || pr == MAP_FAILED)
		setup_fail("mmap of %s: %s", file, strerror(errno));
	pattern_fill(sh, 2 * HPAGE, 7);
	pattern_fill(pr, HPAGE, 8);	/* the private copy of the first huge page */

	test_daemon();
	test_waitsig();

	check_huge("shared", sh, 2 * HPAGE, "rw-s");
	check_huge("private", pr, 2 * HPAGE, "rw-p");
	struct statfs sfs;
	if (fstatfs(fd, &sfs) || sfs.f_type != HUGETLBFS_MAGIC)
		fail("the descriptor is not on hugetlbfs any more");
	ssize_t bad;
	if ((bad = pattern_check(sh, 2 * HPAGE, 7)) >= 0)
		fail("shared mapping: contents differ at offset %zd", bad);
	if ((bad = pattern_check(pr, HPAGE, 8)) >= 0)
		fail("private copy: contents differ at offset %zd", bad);
	for (size_t off = 0; off < HPAGE; off += 4096)
		if (pr[HPAGE + off] != pattern_byte(7, HPAGE + off)) {
			fail("private mapping's unwritten page does not show the file at %zu", off);
			break;
		}
	/* the copy saved and made again as the task's own (anonymous in
	 * pagemap), the unwritten huge page still the file's */
	if (!page_is_private_copy(pr) || page_is_private_copy(pr + HPAGE))
		fail("private mapping: pagemap says %#llx and %#llx, expected the first huge page "
		     "a private copy and the second the file's", (unsigned long long)pagemap_entry(pr),
		     (unsigned long long)pagemap_entry(pr + HPAGE));
	uint8_t b = 0;
	sh[5] ^= 0xff;
	if (pread(fd, &b, 1, 5) != 1 || b != sh[5])
		fail("the descriptor does not see a write through the shared mapping");
	if (pr[5] != pattern_byte(8, 5))
		fail("the private copy changed with the file");
	munmap(sh, 2 * HPAGE);
	munmap(pr, 2 * HPAGE);
	close(fd);
	return test_verdict();
}
