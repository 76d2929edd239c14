/* mem_hugetlbfs_deleted: deleted files of a hugetlbfs mount (2 MiB pages,
 * mounted by the test in a temporary directory), restored as ghosts.
 *   A: two huge pages mapped shared and written, still open as a
 *      descriptor, then unlinked;
 *   B: two huge pages written through a shared mapping (unmapped again),
 *      mapped privately with the first huge page written (the private
 *      copy) and the second only read, then closed and unlinked.
 * After restore: both still deleted files on hugetlbfs, A's contents
 * through the mapping and the descriptor (one file: a write through one is
 * seen by the other), B's private copy and B's page as they were (pagemap:
 * the copy anonymous, the other the file's), huge pages everywhere.
 * vm.nr_hugepages is raised for the test and put back at the end, the
 * mount removed.
 * With --odd_size it also holds a deleted file that fallocate left 2 MiB +
 * 4 KiB long, which cryo can't recreate: the dump must refuse it.
 * With --sparse it also holds (as a descriptor only) a deleted file of
 * 64 MiB, more huge pages than the pool has, with only its 17th huge page
 * written: it must come back with that size and page, the rest holes (the
 * restore once reserved the whole size and failed).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "zdtmtst.h"
#include "memkinds.h"
#include "hugepool.h"

static char dir[] = "/tmp/cryo-mem_hugetlbfs_deleted.XXXXXX";
static char file_a[80], file_b[80], file_c[80], file_d[80];
static bool mounted;
static bool odd_size;
TEST_OPTION(odd_size, bool, "also hold a deleted file whose size is not whole huge pages", 0);
static bool sparse;
TEST_OPTION(sparse, bool, "also hold a deleted 64 MiB file with one huge page written", 0);
#define SPARSE_SIZE (32 * HPAGE)
#define SPARSE_PAGE (16 * HPAGE)

static void cleanup(void)
{
	if (file_a[0])
		unlink(file_a);
	if (file_b[0])
		unlink(file_b);
	if (file_c[0])
		unlink(file_c);
	if (file_d[0])
		unlink(file_d);
	if (mounted)
		umount2(dir, MNT_DETACH);
	rmdir(dir);
}

static void check_vma(const char *name, void *p, const char *perms, const char *file)
{
	struct smaps_vma v;
	char want[128];
	snprintf(want, sizeof(want), "%s (deleted)", file);
	if (smaps_lookup(p, "KernelPageSize", &v) || v.start != (uintptr_t)p ||
	    v.end != (uintptr_t)p + 2 * HPAGE || strcmp(v.perms, perms) ||
	    v.field_kb != (long)(HPAGE >> 10) || !strstr(v.vmflags, " ht") || strcmp(v.path, want))
		fail("%s: %lx-%lx %s %s page size %ld kB flags \"%s\", expected %p +%lu %s %s in "
		     "huge pages", name, (unsigned long)v.start, (unsigned long)v.end, v.perms,
		     v.path, v.field_kb, v.vmflags, p, 2 * HPAGE, perms, want);
}

static int make_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 || ftruncate(fd, 2 * HPAGE))
		setup_fail("creating %s: %s", path, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	struct stat st0;
	test_doc = "deleted hugetlbfs files mapped shared (and open) and private";
	test_init(argc, argv);
	if (hugepool_grow(12))
		setup_fail("can't add 12 huge pages to vm.nr_hugepages");
	if (!mkdtemp(dir))
		setup_fail("mkdtemp: %s", strerror(errno));
	atexit(cleanup);
	if (mount("cryo-test", dir, "hugetlbfs", 0, "pagesize=2M"))
		setup_fail("mount hugetlbfs: %s", strerror(errno));
	mounted = true;
	snprintf(file_a, sizeof(file_a), "%s/shared", dir);
	snprintf(file_b, sizeof(file_b), "%s/private", dir);

	int fd = make_file(file_a);
	uint8_t *sh = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sh == MAP_FAILED)
		setup_fail("mmap of %s: %s", file_a, strerror(errno));
	pattern_fill(sh, 2 * HPAGE, 11);
	if (unlink(file_a))
		setup_fail("unlink %s: %s", file_a, strerror(errno));

	int fb = make_file(file_b);
	uint8_t *tmp = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fb, 0);
	uint8_t *pr = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fb, 0);
	if (tmp == MAP_FAILED || pr == MAP_FAILED)
		setup_fail("mmap of %s: %s", file_b, strerror(errno));
	pattern_fill(tmp, 2 * HPAGE, 12);
	munmap(tmp, 2 * HPAGE);
	pattern_fill(pr, HPAGE, 13);	/* the private copy of the first huge page */
	if (pr[HPAGE + 5] != pattern_byte(12, HPAGE + 5))	/* read: the file's page */
		setup_fail("the private mapping does not show %s", file_b);
	close(fb);
	if (unlink(file_b))
		setup_fail("unlink %s: %s", file_b, strerror(errno));

	int fc = -1;
	if (odd_size) {
		/* fallocate can leave a size no recreated file can get: refused */
		snprintf(file_c, sizeof(file_c), "%s/odd", dir);
		fc = open(file_c, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fc < 0 || fallocate(fc, 0, 0, HPAGE + 4096) || unlink(file_c))
			setup_fail("making %s: %s", file_c, strerror(errno));
	}

	int fdd = -1;
	if (sparse) {
		snprintf(file_d, sizeof(file_d), "%s/sparse", dir);
		fdd = open(file_d, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fdd < 0 || ftruncate(fdd, SPARSE_SIZE))
			setup_fail("making %s: %s", file_d, strerror(errno));
		uint8_t *p = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fdd,
				  SPARSE_PAGE);
		if (p == MAP_FAILED)
			setup_fail("mmap of %s: %s", file_d, strerror(errno));
		pattern_fill(p, HPAGE, 14);
		munmap(p, HPAGE);
		if (unlink(file_d))
			setup_fail("unlink %s: %s", file_d, strerror(errno));
	}

	test_daemon();
	test_waitsig();

	if (sparse) {
		uint8_t page[4096], zero[4096] = { 0 };
		struct stat sd;
		if (fstat(fdd, &sd) || sd.st_nlink || sd.st_size != (off_t)SPARSE_SIZE)
			fail("the sparse file: nlink %lu size %lld, expected a deleted file of %lu "
			     "bytes", (unsigned long)sd.st_nlink, (long long)sd.st_size,
			     (unsigned long)SPARSE_SIZE);
		for (size_t off = 0; off < HPAGE; off += 256 * 1024) {
			bool same = pread(fdd, page, sizeof(page), SPARSE_PAGE + off) ==
				    sizeof(page);
			for (size_t i = 0; same && i < sizeof(page); i++)
				same = page[i] == pattern_byte(14, off + i);
			if (!same) {
				fail("the sparse file's written page differs near %zu", off);
				break;
			}
			if (pread(fdd, page, sizeof(page), off) != sizeof(page) ||
			    memcmp(page, zero, sizeof(page))) {
				fail("the sparse file's hole at %zu is not zeros", off);
				break;
			}
		}
		close(fdd);
	}

	if (odd_size && (fstat(fc, &st0) || st0.st_size != (off_t)(HPAGE + 4096)))
		fail("the odd-sized file is %lld bytes long", (long long)st0.st_size);

	check_vma("A, shared", sh, "rw-s", file_a);
	check_vma("B, private", pr, "rw-p", file_b);
	struct stat st;
	struct statfs sfs;
	char link[64], target[PATH_MAX] = "", want[128];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	snprintf(want, sizeof(want), "%s (deleted)", file_a);
	if (readlink(link, target, sizeof(target) - 1) < 0 || strcmp(target, want))
		fail("A's descriptor is \"%s\", expected \"%s\"", target, want);
	if (fstat(fd, &st) || st.st_nlink || st.st_size != (off_t)(2 * HPAGE) ||
	    (st.st_mode & 07777) != 0640)
		fail("A: nlink %lu size %lld mode %o, expected a deleted file of %lu bytes, mode 640",
		     (unsigned long)st.st_nlink, (long long)st.st_size, st.st_mode & 07777,
		     2 * HPAGE);
	if (fstatfs(fd, &sfs) || sfs.f_type != HUGETLBFS_MAGIC)
		fail("A's descriptor is not on hugetlbfs any more");
	ssize_t bad;
	if ((bad = pattern_check(sh, 2 * HPAGE, 11)) >= 0)
		fail("A: contents differ at offset %zd", bad);
	uint8_t b = 0;
	sh[HPAGE + 7] ^= 0xff;
	if (pread(fd, &b, 1, HPAGE + 7) != 1 || b != sh[HPAGE + 7])
		fail("A: the descriptor does not see a write through the mapping");

	if ((bad = pattern_check(pr, HPAGE, 13)) >= 0)
		fail("B: the private copy differs at offset %zd", bad);
	for (size_t off = 0; off < HPAGE; off += 4096)
		if (pr[HPAGE + off] != pattern_byte(12, HPAGE + off)) {
			fail("B: the unwritten huge page does not show the file at %zu", off);
			break;
		}
	if (!page_is_private_copy(pr) || page_is_private_copy(pr + HPAGE))
		fail("B: pagemap says %#llx and %#llx, expected the first huge page a private "
		     "copy and the second the file's", (unsigned long long)pagemap_entry(pr),
		     (unsigned long long)pagemap_entry(pr + HPAGE));
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)pr,
		 (unsigned long)pr + 2 * HPAGE);
	int mf = open(link, O_RDONLY | O_CLOEXEC);
	if (mf < 0 || fstat(mf, &st) || st.st_nlink || st.st_size != (off_t)(2 * HPAGE))
		fail("B: the mapped file is not a deleted file of %lu bytes", 2 * HPAGE);
	else if (pread(mf, &b, 1, 3) != 1 || b != pattern_byte(12, 3))
		fail("B: the file lost the contents under the private copy");
	if (mf >= 0)
		close(mf);
	munmap(sh, 2 * HPAGE);
	munmap(pr, 2 * HPAGE);
	close(fd);
	return test_verdict();
}
