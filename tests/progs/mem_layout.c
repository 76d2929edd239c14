/* mem_layout: address-space shapes real programs make, checked exactly.
 *
 * State built before the checkpoint:
 *   - M: 6 pages with a pattern, MADV_MERGEABLE ("mg" in VmFlags);
 *   - F: 8 pages with a pattern, pages 0-3 MADV_FREE'd, then page 1
 *     written again (a freed page the task took back);
 *   - R: 8 pages with a pattern, mremap'ed to twice the size at another
 *     address (the old range is gone), the second half written with another
 *     pattern, then page 5 unmapped (a hole inside the moved region);
 *   - V: NVMA single-page VMAs (alternating read-write and read-only,
 *     every page holding its index), far more VMAs than a program usually has;
 *   - L: 4 pages mlock()ed as root, then RLIMIT_MEMLOCK set to 0 and the
 *     real and effective uid dropped to 65534 (saved uid kept 0): the lock
 *     must come back although the task could not take it itself (fsuid
 *     stays 0, for the outfile);
 *   - X: 2 anonymous pages with data, then made execute-only (--x);
 *   - P: a 4-page file (next to the outfile) mapped MAP_PRIVATE read-write,
 *     page 1 written (its private copy), then the whole mapping made
 *     read-only;
 *   - G: 2 pages at offset 8 GiB of a sparse file, mapped MAP_SHARED, and
 *     the same range MAP_PRIVATE with page 1 written (pgoff above 32 bits);
 *   - E: a file of 1 page + 100 bytes mapped MAP_PRIVATE over 3 pages, page
 *     0 written (a private copy), page 1 read (the file's tail, then
 *     zeros); page 2 is beyond EOF (SIGBUS) and must stay so;
 *   - N: 4 anonymous pages whose middle two are named "cryo-named" with
 *     prctl(PR_SET_VMA_ANON_NAME) where the kernel has CONFIG_ANON_VMA_NAME
 *     (not checked where it hasn't);
 *   - Z: 4 pages of /dev/zero mapped MAP_PRIVATE (anonymous memory the old
 *     way), pages 0 and 2 written, and 2 pages of it mapped MAP_SHARED
 *     (shared anonymous memory), shared with a child forked after the
 *     restore;
 *   - D: a 4-page MAP_GROWSDOWN area with 2044 free pages below it (more
 *     than the kernel's stack guard gap), which must still grow down (a
 *     child touches the page below it).
 * After SIGTERM: every pattern, the hole, protections and VmFlags; the main
 * stack must still grow on demand (a recursion uses 2 MiB more than it had)
 * and the heap with sbrk(); the uids are still (65534, 65534, 0); then root is taken back to report.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#define NVMA 6000
enum { S_MERGE = 0x1100, S_FREE = 0x1200, S_FREE2 = 0x12f0, S_REMAP = 0x1300,
       S_REMAP2 = 0x13f0, S_LOCK = 0x1400, S_EXEC = 0x1500, S_PF = 0x1600,
       S_PCOW = 0x1680, S_GF = 0x1700, S_GCOW = 0x1780, S_GDOWN = 0x1800, S_EF = 0x1900,
       S_ECOW = 0x1980, S_NAMED = 0x1a00, S_ZERO = 0x1b00 };
#define GOFF (8ULL << 30)

static size_t pg;
static char *eof_map, *named, *zpriv, *zshared;
static bool have_names;
static char *merge, *freed, *moved, *many, *locked, *xonly, *fpriv, *gshared, *gpriv, *gdown;

/* Each page gets its own seed (seed + page index), so any page can be
 * checked on its own. */
static void fill_pages(char *p, unsigned n, uint64_t seed)
{
	for (unsigned i = 0; i < n; i++)
		pattern_fill(p + i * pg, pg, seed + i);
}

static char *filled(size_t len, uint64_t seed, const char *what)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap %s: %s", what, strerror(errno));
	fill_pages(p, len / pg, seed);
	return p;
}

/* pages [from, to) of @base, filled by fill_pages(base, .., seed) */
static void check_area(const char *what, const char *base, unsigned from, unsigned to, uint64_t seed)
{
	for (unsigned i = from; i < to; i++) {
		ssize_t off = pattern_check(base + i * pg, pg, seed + i);
		if (off >= 0)
			fail("%s page %u (%p): byte %zd is 0x%02x, expected 0x%02x", what, i,
			     base + i * pg, off, ((const uint8_t *)base)[i * pg + off],
			     pattern_byte(seed + i, off));
	}
}

static void check_flag(const char *what, const void *addr, const char *fl)
{
	struct smaps_vma v;
	if (smaps_lookup(addr, NULL, &v))
		fail("%s (%p): no longer mapped", what, addr);
	else if (!vma_has_flag(addr, fl))
		fail("%s (%p): VmFlag %s missing (VmFlags:%s)", what, addr, fl, v.vmflags);
}

static char *map_file(const char *suffix, off_t size, off_t off, size_t len, int flags,
		      uint64_t seed)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s.%s", test_outfile(), suffix);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, size))
		setup_fail("file %s: %s", path, strerror(errno));
	char *buf = malloc(len);
	for (size_t i = 0; i < len / pg; i++)
		pattern_fill(buf + i * pg, pg, seed + i);
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		setup_fail("pwrite %s: %s", path, strerror(errno));
	free(buf);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
	if (p == MAP_FAILED)
		setup_fail("mmap %s: %s", path, strerror(errno));
	close(fd);
	return p;
}

static void build_files(void)
{
	xonly = filled(2 * pg, S_EXEC, "exec-only");
	if (mprotect(xonly, 2 * pg, PROT_EXEC))
		setup_fail("mprotect(PROT_EXEC): %s", strerror(errno));

	fpriv = map_file("P", 4 * pg, 0, 4 * pg, MAP_PRIVATE, S_PF);
	pattern_fill(fpriv + pg, pg, S_PCOW);
	if (mprotect(fpriv, 4 * pg, PROT_READ))
		setup_fail("mprotect(P): %s", strerror(errno));

	gshared = map_file("G", GOFF + 2 * pg, GOFF, 2 * pg, MAP_SHARED, S_GF);
	char path[4096];
	snprintf(path, sizeof(path), "%s.G", test_outfile());
	int fd = open(path, O_RDONLY);
	gpriv = fd < 0 ? MAP_FAILED : mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, GOFF);
	if (gpriv == MAP_FAILED)
		setup_fail("mmap G private: %s", strerror(errno));
	close(fd);
	pattern_fill(gpriv + pg, pg, S_GCOW);

	eof_map = map_file("E", pg + 100, 0, pg, MAP_PRIVATE, S_EF);
	{
		char ep[4096];
		snprintf(ep, sizeof(ep), "%s.E", test_outfile());
		int efd = open(ep, O_RDWR);
		char tail[100];
		memset(tail, 0x77, sizeof(tail));
		if (efd < 0 || pwrite(efd, tail, sizeof(tail), pg) != sizeof(tail))
			setup_fail("file E: %s", strerror(errno));
		munmap(eof_map, pg);
		eof_map = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, efd, 0);
		if (eof_map == MAP_FAILED)
			setup_fail("mmap E: %s", strerror(errno));
		close(efd);
	}
	pattern_fill(eof_map, pg, S_ECOW);
	volatile char rd = eof_map[pg];
	(void)rd;

	int zfd = open("/dev/zero", O_RDWR);
	zpriv = zfd < 0 ? MAP_FAILED : mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, zfd, 0);
	zshared = zfd < 0 ? MAP_FAILED : mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, zfd, 0);
	if (zpriv == MAP_FAILED || zshared == MAP_FAILED)
		setup_fail("mmap of /dev/zero: %s", strerror(errno));
	close(zfd);
	pattern_fill(zpriv, pg, S_ZERO);
	pattern_fill(zpriv + 2 * pg, pg, S_ZERO + 2);
	fill_pages(zshared, 2, S_ZERO + 0x10);

	named = filled(4 * pg, S_NAMED, "named");
	have_names = !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, named + pg, 2 * pg, "cryo-named");
	if (!have_names && errno != EINVAL)
		setup_fail("prctl(PR_SET_VMA_ANON_NAME): %s", strerror(errno));
	if (!have_names)
		test_msg("no CONFIG_ANON_VMA_NAME: names of anonymous memory not checked");

	char *hole = mmap(NULL, 2048 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED || munmap(hole, 2048 * pg))
		setup_fail("reserving a hole: %s", strerror(errno));
	gdown = mmap(hole + 2044 * pg, 4 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED_NOREPLACE, -1, 0);
	if (gdown == MAP_FAILED)
		setup_fail("mmap MAP_GROWSDOWN: %s", strerror(errno));
	fill_pages(gdown, 4, S_GDOWN);
}

static void check_files(void)
{
	char perms[5];
	if (maps_perms(xonly, perms) || strcmp(perms, "--xp"))
		fail("exec-only area is mapped %s", perms);
	else if (mprotect(xonly, 2 * pg, PROT_READ))
		fail_errno("mprotect(exec-only, PROT_READ)");
	else
		check_area("exec-only", xonly, 0, 2, S_EXEC);

	if (maps_perms(fpriv, perms) || strcmp(perms, "r--p"))
		fail("P is mapped %s, expected r--p", perms);
	check_area("P (file)", fpriv, 0, 1, S_PF);
	check_area("P (private copy)", fpriv, 1, 2, S_PCOW - 1);
	check_area("P (file)", fpriv, 2, 4, S_PF);

	check_area("G shared", gshared, 0, 2, S_GF);
	check_area("G private (file)", gpriv, 0, 1, S_GF);
	check_area("G private (private copy)", gpriv, 1, 2, S_GCOW - 1);
	pattern_fill(gshared, pg, S_GF + 0x10);	/* the file, seen by the private map */
	check_area("G private page 0 after a write to the file", gpriv, 0, 1, S_GF + 0x10);

	check_area("E (private copy)", eof_map, 0, 1, S_ECOW);
	for (size_t i = 0; i < pg; i++)
		if (eof_map[pg + i] != (i < 100 ? 0x77 : 0)) {
			fail("E page 1 byte %zu is 0x%02x", i, (uint8_t)eof_map[pg + i]);
			break;
		}
	pid_t ek = fork();
	if (ek == 0) {
		volatile char c = eof_map[2 * pg];	/* beyond EOF: SIGBUS */
		(void)c;
		_exit(0);
	}
	int est;
	if (ek < 0 || waitpid(ek, &est, 0) != ek)
		fail_errno("fork/waitpid");
	else if (!WIFSIGNALED(est) || WTERMSIG(est) != SIGBUS)
		fail("E page 2 (beyond EOF) can be read (status 0x%x): expected SIGBUS", est);

	check_area("/dev/zero private", zpriv, 0, 1, S_ZERO);
	check_area("/dev/zero private", zpriv, 2, 3, S_ZERO);
	if (zero_check(zpriv + pg, pg) >= 0 || zero_check(zpriv + 3 * pg, pg) >= 0)
		fail("/dev/zero private: untouched pages are not zero");
	check_area("/dev/zero shared", zshared, 0, 2, S_ZERO + 0x10);
	pid_t zk = fork();
	if (zk == 0) {
		zpriv[0] ^= 1;		/* private: the parent must not see it */
		zshared[0] ^= 1;	/* shared: the parent must see it */
		_exit(0);
	}
	int zst;
	if (zk < 0 || waitpid(zk, &zst, 0) != zk)
		fail_errno("fork/waitpid");
	else if ((uint8_t)zpriv[0] != pattern_byte(S_ZERO, 0) ||
		 (uint8_t)zshared[0] != (pattern_byte(S_ZERO + 0x10, 0) ^ 1))
		fail("/dev/zero mappings: a child's writes are seen as private %d, shared %d",
		     (uint8_t)zpriv[0] != pattern_byte(S_ZERO, 0),
		     (uint8_t)zshared[0] == (pattern_byte(S_ZERO + 0x10, 0) ^ 1));

	check_area("named", named, 0, 4, S_NAMED);
	struct smaps_vma nv;
	const char *want_path[] = { "", "[anon:cryo-named]", "[anon:cryo-named]", "" };
	for (int i = 0; have_names && i < 4; i++)
		if (smaps_lookup(named + i * pg, NULL, &nv) || strcmp(nv.path, want_path[i]))
			fail("named page %d is \"%s\", expected \"%s\"", i, nv.path, want_path[i]);

	check_area("growsdown", gdown, 0, 4, S_GDOWN);
	pid_t kid = fork();
	if (kid == 0) {
		gdown[-1] = 1;	/* grows by a page, or SIGSEGV */
		_exit(vma_has_flag(gdown - 1, "gd") ? 0 : 2);
	}
	int st;
	if (kid < 0 || waitpid(kid, &st, 0) != kid)
		fail_errno("fork/waitpid");
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the growsdown area at %p did not grow down in a child (status 0x%x)", gdown, st);

	char path[4096];
	snprintf(path, sizeof(path), "%s.P", test_outfile());
	unlink(path);
	snprintf(path, sizeof(path), "%s.G", test_outfile());
	unlink(path);
	snprintf(path, sizeof(path), "%s.E", test_outfile());
	unlink(path);

	char *b0 = sbrk(0), *b1 = sbrk(16 * pg);
	if (b1 == (void *)-1 || b1 != b0 || sbrk(0) != b0 + 16 * pg)
		fail("sbrk(16 pages) after the restore: %p, break was %p", b1, b0);
	else
		memset(b1, 0x5a, 16 * pg);
}

static void build(void)
{
	merge = filled(6 * pg, S_MERGE, "mergeable");
	if (madvise(merge, 6 * pg, MADV_MERGEABLE))
		setup_fail("madvise(MADV_MERGEABLE): %s", strerror(errno));

	freed = filled(8 * pg, S_FREE, "freed");
	if (madvise(freed, 4 * pg, MADV_FREE))
		setup_fail("madvise(MADV_FREE): %s", strerror(errno));
	pattern_fill(freed + pg, pg, S_FREE2);	/* seed of page 1: S_FREE2 */

	char *old = filled(8 * pg, S_REMAP, "remap source");
	moved = mremap(old, 8 * pg, 16 * pg, MREMAP_MAYMOVE);
	if (moved == MAP_FAILED)
		setup_fail("mremap: %s", strerror(errno));
	if (moved == old) {	/* grew in place: move it explicitly */
		char *dst = mmap(NULL, 16 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		moved = mremap(old, 16 * pg, 16 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		if (moved == MAP_FAILED)
			setup_fail("mremap fixed: %s", strerror(errno));
	}
	fill_pages(moved + 8 * pg, 8, S_REMAP2);
	if (munmap(moved + 5 * pg, pg))
		setup_fail("munmap: %s", strerror(errno));

	many = mmap(NULL, NVMA * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (many == MAP_FAILED)
		setup_fail("mmap many: %s", strerror(errno));
	for (unsigned i = 0; i < NVMA; i++)
		*(unsigned *)(many + i * pg) = i ^ 0x5a5a0000;
	for (unsigned i = 1; i < NVMA; i += 2)
		if (mprotect(many + i * pg, pg, PROT_READ))
			setup_fail("mprotect many[%u]: %s", i, strerror(errno));

	locked = filled(4 * pg, S_LOCK, "locked");
	if (mlock(locked, 4 * pg))
		setup_fail("mlock: %s", strerror(errno));
	struct rlimit rl = { 0, 0 };
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		setup_fail("setrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
	build_files();
	if (setresuid(65534, 65534, 0))
		setup_fail("setresuid: %s", strerror(errno));
	/* fsuid 0 (allowed: the saved uid is 0) keeps the outfile writable;
	 * it gives no CAP_IPC_LOCK. */
	setfsuid(0);
	if (setfsuid(-1) != 0)
		setup_fail("setfsuid(0) did not take");
	if (mlock(locked, pg) == 0 || errno != EPERM)
		setup_fail("mlock as 65534 with RLIMIT_MEMLOCK 0 did not fail with EPERM");
}

static char *stack_low;

static __attribute__((noinline)) unsigned grow(unsigned depth)
{
	volatile char buf[16384];
	buf[0] = (char)depth;
	buf[sizeof(buf) - 1] = (char)depth;
	if ((char *)buf < stack_low)
		stack_low = (char *)buf;
	if (!depth)
		return buf[0];
	return grow(depth - 1) + buf[sizeof(buf) - 1];
}

static void check(void)
{
	uid_t r, e, s;
	if (getresuid(&r, &e, &s) || r != 65534 || e != 65534 || s != 0)
		fail("uids are (%d, %d, %d), expected (65534, 65534, 0)", (int)r, (int)e, (int)s);
	check_area("locked", locked, 0, 4, S_LOCK);
	check_flag("locked", locked, "lo");
	/* The stack: 128 frames of 16 KiB, touched top to bottom. */
	struct smaps_vma before;
	int have = !smaps_lookup(&r, NULL, &before);
	stack_low = (char *)&r;
	grow(128);
	if (!have)
		fail("the stack (%p) is not mapped", (void *)&r);
	check_flag("stack", stack_low, "gd");
	if (setresuid(0, 0, 0))
		fail_errno("setresuid(0) after the restore");

	check_area("mergeable", merge, 0, 6, S_MERGE);
	check_flag("mergeable", merge, "mg");

	check_area("freed (rewritten)", freed, 1, 2, S_FREE2 - 1);
	check_area("freed (never freed)", freed, 4, 8, S_FREE);
	for (unsigned i = 0; i < 4; i++) {
		/* a lazily freed page reads as its old data or as zeros */
		if (i != 1 && pattern_check(freed + i * pg, pg, S_FREE + i) >= 0 &&
		    zero_check(freed + i * pg, pg) >= 0)
			fail("freed page %u is neither its data nor zeros", i);
	}

	check_area("moved", moved, 0, 5, S_REMAP);
	check_area("moved", moved, 6, 8, S_REMAP);
	check_area("moved", moved, 8, 16, S_REMAP2 - 8);
	struct smaps_vma v;
	if (!smaps_lookup(moved + 5 * pg, NULL, &v))
		fail("the hole at moved page 5 (%p) is mapped again", moved + 5 * pg);

	unsigned bad = 0;
	for (unsigned i = 0; i < NVMA; i++)
		if (*(unsigned *)(many + i * pg) != (i ^ 0x5a5a0000) && !bad++)
			fail("many[%u] holds 0x%x", i, *(unsigned *)(many + i * pg));
	char perms[5];
	for (unsigned i = 0; i < NVMA; i += 997) {
		const char *want = i & 1 ? "r--p" : "rw-p";
		if (maps_perms(many + i * pg, perms) || strcmp(perms, want))
			fail("many[%u] is mapped %s, expected %s", i, perms, want);
	}
	*(unsigned *)(many + 2 * pg) = 1;	/* still writable */
	check_files();
}

int main(int argc, char **argv)
{
	test_doc = "mergeable, MADV_FREE'd, mremap'ed, many-VMA, setuid-mlocked memory; stack growth";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	build();
	test_daemon();
	test_waitsig();
	check();
	return test_verdict();
}
