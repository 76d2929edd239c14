/* mem_hugetlb: hugetlb memory (2 MiB pages) comes back as huge pages of
 * the same size with its contents and its sharing:
 *   - private anonymous (MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB): one
 *     mapping filled across its two huge pages, one whose second huge page
 *     was never touched (it must read as zeros and still not be there
 *     after restore), one read-only;
 *   - shared anonymous (MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB), shared
 *     with a forked child;
 *   - a hugetlb memfd (MFD_HUGETLB), open and mapped shared by the parent
 *     and mapped by the child;
 *   - a SysV segment of huge pages (SHM_HUGETLB, one huge page) attached
 *     and removed (IPC_RMID): the restore recreates it, in huge pages.
 * After restore the parent writes into the shared ones and the child must
 * see it and answer through them.  The test raises vm.nr_hugepages for
 * itself and puts the old value back at the end.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#define HPAGE (2UL << 20)
#define NR_PAGES 16		/* what the test adds to the pool */

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

/* huge pages present in the mapping at @p (shared copy-on-write with the
 * child or not) */
static long private_hugetlb_kb(void *p)
{
	struct smaps_vma v, w;
	if (smaps_lookup(p, "Private_Hugetlb", &v) || smaps_lookup(p, "Shared_Hugetlb", &w))
		return -1;
	return v.field_kb + w.field_kb;
}

/* the child: after the parent's go (one byte on @in), check what the
 * parent wrote into both shared objects and answer in them */
static void child(int in, int out, uint8_t *shanon, uint8_t *mfd)
{
	char x;
	if (read(in, &x, 1) != 1)
		_exit(1);
	int bad = 0;
	if (shanon[0] != 0x5a)
		bad |= 2;
	if (mfd[0] != 0xa5)
		bad |= 4;
	for (size_t off = 8; off < 2 * HPAGE; off += 4093) {
		if (off < HPAGE && shanon[off] != pattern_byte(4, off))
			bad |= 2;
		if (mfd[off] != pattern_byte(5, off))
			bad |= 4;
	}
	shanon[1] = 0x11;
	mfd[1] = 0x22;
	x = bad;
	if (write(out, &x, 1) != 1)
		_exit(1);
	_exit(0);
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

	uint8_t *shanon = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
	if (shanon == MAP_FAILED)
		setup_fail("mmap(MAP_SHARED | MAP_HUGETLB): %s", strerror(errno));
	pattern_fill(shanon, HPAGE, 4);
	int mfd = memfd_create("mem_hugetlb", MFD_HUGETLB | (21 << 26));
	if (mfd < 0 || ftruncate(mfd, 2 * HPAGE))
		setup_fail("memfd_create(MFD_HUGETLB): %s", strerror(errno));
	uint8_t *mfdmap = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (mfdmap == MAP_FAILED)
		setup_fail("mmap of the hugetlb memfd: %s", strerror(errno));
	pattern_fill(mfdmap, 2 * HPAGE, 5);
	int shmid = shmget(IPC_PRIVATE, HPAGE, IPC_CREAT | SHM_HUGETLB | (21 << MAP_HUGE_SHIFT) | 0600);
	uint8_t *sysv = shmid < 0 ? (void *)-1 : shmat(shmid, NULL, 0);
	if (sysv == (void *)-1)
		setup_fail("shmget/shmat(SHM_HUGETLB): %s", strerror(errno));
	pattern_fill(sysv, HPAGE, 6);
	if (shmctl(shmid, IPC_RMID, NULL))
		setup_fail("IPC_RMID: %s", strerror(errno));
	int p2c[2], c2p[2];
	if (pipe(p2c) || pipe(c2p))
		setup_fail("pipe");
	pid_t c = fork();
	if (c < 0)
		setup_fail("fork");
	if (c == 0) {
		test_forked_child();
		close(mfd);
		child(p2c[0], c2p[1], shanon, mfdmap);
	}

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

	check_kind("shared anonymous", shanon, HPAGE, "rw-s");
	check_kind("memfd", mfdmap, 2 * HPAGE, "rw-s");
	struct statfs sfs;
	if (fstatfs(mfd, &sfs) || sfs.f_type != HUGETLBFS_MAGIC || sfs.f_bsize != (long)HPAGE)
		fail("the memfd is not on hugetlbfs with 2 MiB pages (type %lx, block %ld)",
		     (long)sfs.f_type, (long)sfs.f_bsize);
	struct stat st;
	if (fstat(mfd, &st) || st.st_size != (off_t)(2 * HPAGE))
		fail("the memfd has %lld bytes, expected %lu", (long long)st.st_size, 2 * HPAGE);
	if ((bad = pattern_check(shanon, HPAGE, 4)) >= 0)
		fail("shared anonymous: contents differ at offset %zd", bad);
	if ((bad = pattern_check(mfdmap, 2 * HPAGE, 5)) >= 0)
		fail("memfd: contents differ at offset %zd", bad);
	check_kind("SysV SHM_HUGETLB", sysv, HPAGE, "rw-s");
	if ((bad = pattern_check(sysv, HPAGE, 6)) >= 0)
		fail("SysV SHM_HUGETLB: contents differ at offset %zd", bad);
	/* the fd and the mapping are one memfd */
	uint8_t b = 0;
	mfdmap[HPAGE + 3] ^= 0xff;
	if (pread(mfd, &b, 1, HPAGE + 3) != 1 || b != mfdmap[HPAGE + 3])
		fail("the memfd's descriptor does not see its mapping's write");
	mfdmap[HPAGE + 3] ^= 0xff;
	/* shared with the child */
	shanon[0] = 0x5a;
	mfdmap[0] = 0xa5;
	char x = 0;
	if (write(p2c[1], "g", 1) != 1 || read(c2p[0], &x, 1) != 1)
		fail("the child does not answer");
	else if (x)
		fail("the child sees other contents (%s%s)", x & 2 ? "shared anonymous " : "",
		     x & 4 ? "memfd" : "");
	int status = 0;
	if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("the child ended with status 0x%x", status);
	if (shanon[1] != 0x11 || mfdmap[1] != 0x22)
		fail("the child's writes are not seen (%02x %02x): the memory is not shared any more",
		     shanon[1], mfdmap[1]);
	return test_verdict();
}
