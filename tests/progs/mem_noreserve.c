/* mem_noreserve: address space reserved without commit, as databases and
 * language runtimes do, and overcommit accounting ("ac"/"nr" in VmFlags).
 *
 * State built before the checkpoint:
 *   - 4 TiB MAP_NORESERVE read-write ("nr"), a few pages written far apart;
 *   - 64 GiB PROT_NONE private (not charged: no "ac"), of which the first
 *     16 pages were made read-write and written ("ac"), and 4 pages at
 *     32 GiB made read-write, written and made PROT_READ again (still "ac");
 *   - a PROT_READ private mapping never written (no "ac"), and one written
 *     only through /proc/self/mem, as a debugger writes (pages, no "ac").
 * None of this fits in this machine's commit limit if charged (the restore
 * fails with ENOMEM where it maps them with accounting).
 * After SIGTERM: every VMA is there with its protections, contents and its
 * own "nr"/"ac", and the 4 TiB reservation still takes new pages.
 * --child: all this in a forked child (restored from its parent's memory),
 * and a PROT_READ page the parent wrote through /proc/self/mem before the
 * fork that the child rewrote the same way: each has its own bytes there,
 * neither has "ac".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"
#include "inchild.h"

#define GiB (1ULL << 30)
#define TiB (1ULL << 40)
enum { S_NR = 0xe100, S_HEAD = 0xe200, S_MID = 0xe300, S_FORCED = 0xe400, S_KEPT = 0xe500 };
static size_t pg;
static char *kept;	/* --child: the parent's read-only page, rewritten in the child */

/* Write a page of pattern @seed at @at through /proc/self/mem (as a
 * debugger does: no write permission needed, no charge). */
static int poke_page(char *at, uint64_t seed)
{
	char *buf = malloc(pg);
	int mfd = open("/proc/self/mem", O_RDWR), ret = -1;
	if (buf && mfd >= 0) {
		pattern_fill(buf, pg, seed);
		ret = pwrite(mfd, buf, pg, (off_t)(uintptr_t)at) == (ssize_t)pg ? 0 : -1;
	}
	if (mfd >= 0)
		close(mfd);
	free(buf);
	return ret;
}
static const uint64_t nr_off[] = { 0, GiB, 1234 * GiB + 4096 * 7, 4 * TiB - 4096 };

static void want_vma(const char *what, const void *at, const void *start, uint64_t len,
		     const char *perms, bool ac, bool nr)
{
	struct smaps_vma v;
	if (smaps_lookup(at, NULL, &v)) {
		fail("%s (%p): not mapped", what, at);
		return;
	}
	if (v.start != (uintptr_t)start || v.end != (uintptr_t)start + len)
		fail("%s: VMA 0x%lx-0x%lx, expected %p-0x%lx", what, (unsigned long)v.start,
		     (unsigned long)v.end, start, (unsigned long)((uintptr_t)start + len));
	if (strcmp(v.perms, perms))
		fail("%s: %s, expected %s", what, v.perms, perms);
	if (vma_has_flag(at, "ac") != ac)
		fail("%s: VmFlag ac %s (VmFlags:%s)", what, ac ? "missing" : "set", v.vmflags);
	if (vma_has_flag(at, "nr") != nr)
		fail("%s: VmFlag nr %s (VmFlags:%s)", what, nr ? "missing" : "set", v.vmflags);
}

static bool child;
TEST_OPTION(child, bool, "build the state in a forked child", 0);
static char *nr, *none, *ro, *forced, *mid;

static void build(void)
{
	nr = mmap(NULL, 4 * TiB, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	none = mmap(NULL, 64 * GiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 8 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *hole = mmap(NULL, 3 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nr == MAP_FAILED || none == MAP_FAILED || ro == MAP_FAILED || hole == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	/* one page away from anything: it must not merge with a neighbour */
	munmap(hole, 3 * pg);
	forced = mmap(hole + pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			    -1, 0);
	char *buf = malloc(pg);
	int mfd = open("/proc/self/mem", O_RDWR);
	if (forced == MAP_FAILED || !buf || mfd < 0)
		setup_fail("mmap/open /proc/self/mem: %s", strerror(errno));
	pattern_fill(buf, pg, S_FORCED);
	if (pwrite(mfd, buf, pg, (off_t)(uintptr_t)forced) != (ssize_t)pg)
		setup_fail("write through /proc/self/mem: %s", strerror(errno));
	close(mfd);
	for (size_t i = 0; i < sizeof(nr_off) / sizeof(nr_off[0]); i++)
		pattern_fill(nr + nr_off[i], pg, S_NR + i);
	mid = none + 32 * GiB;
	if (mprotect(none, 16 * pg, PROT_READ | PROT_WRITE) ||
	    mprotect(mid, 4 * pg, PROT_READ | PROT_WRITE))
		setup_fail("mprotect: %s", strerror(errno));
	pattern_fill(none, 16 * pg, S_HEAD);
	pattern_fill(mid, 4 * pg, S_MID);
	if (mprotect(mid, 4 * pg, PROT_READ))
		setup_fail("mprotect: %s", strerror(errno));
	(void)*(volatile char *)ro;	/* read: the zero page, no charge */
	if (!vma_has_flag(none, "ac") || vma_has_flag(none + 16 * pg, "ac") || !vma_has_flag(nr, "nr"))
		setup_fail("this kernel's accounting flags are not as expected");
	if (vma_has_flag(forced, "ac") || vma_has_flag(ro, "ac"))
		setup_fail("a read-only mapping is charged (\"ac\") before the checkpoint");
	if (kept && poke_page(kept, S_KEPT + 1))
		setup_fail("write through /proc/self/mem: %s", strerror(errno));
}

static void check_kept(const char *who, uint64_t seed)
{
	if (pattern_check(kept, pg, seed) >= 0)
		fail("%s: the read-only page written through /proc/self/mem differs", who);
	if (vma_has_flag(kept, "ac"))
		fail("%s: the read-only page written through /proc/self/mem is charged (\"ac\")", who);
}

static void parent_check(void)
{
	check_kept("the parent", S_KEPT);
}

static void check(void)
{
	if (kept)
		check_kept("the child", S_KEPT + 1);

	want_vma("4 TiB MAP_NORESERVE", nr, nr, 4 * TiB, "rw-p", false, true);
	want_vma("64 GiB PROT_NONE: head made writable", none, none, 16 * pg, "rw-p", true, false);
	want_vma("64 GiB PROT_NONE: untouched part", none + 16 * pg, none + 16 * pg,
		 32 * GiB - 16 * pg, "---p", false, false);
	want_vma("64 GiB PROT_NONE: part written then read-only", mid, mid, 4 * pg, "r--p", true,
		 false);
	want_vma("64 GiB PROT_NONE: tail", mid + 4 * pg, mid + 4 * pg, 32 * GiB - 4 * pg, "---p",
		 false, false);
	want_vma("PROT_READ never written", ro, ro, 8 * pg, "r--p", false, false);
	want_vma("PROT_READ written through /proc/self/mem", forced, forced, pg, "r--p", false, false);
	if (pattern_check(forced, pg, S_FORCED) >= 0)
		fail("the page written through /proc/self/mem differs");

	for (size_t i = 0; i < sizeof(nr_off) / sizeof(nr_off[0]); i++)
		if (pattern_check(nr + nr_off[i], pg, S_NR + i) >= 0)
			fail("4 TiB reservation: page at +0x%llx differs", (unsigned long long)nr_off[i]);
	if (pattern_check(none, 16 * pg, S_HEAD) >= 0)
		fail("64 GiB region: the writable head differs");
	if (pattern_check(mid, 4 * pg, S_MID) >= 0)
		fail("64 GiB region: the read-only middle part differs");
	if (zero_check(nr + 2 * GiB, pg) >= 0 || zero_check(ro, 8 * pg) >= 0)
		fail("untouched pages are not zero");
	pattern_fill(nr + 3 * TiB, pg, S_NR + 100);	/* still usable */
	if (pattern_check(nr + 3 * TiB, pg, S_NR + 100) >= 0)
		fail("a new page of the 4 TiB reservation does not keep data");
}

int main(int argc, char **argv)
{
	test_doc = "MAP_NORESERVE and uncharged PROT_NONE reservations restore as they were";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	if (child) {
		kept = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (kept == MAP_FAILED || poke_page(kept, S_KEPT))
			setup_fail("a read-only page written through /proc/self/mem: %s",
				   strerror(errno));
		return in_child(build, check, parent_check);
	}
	build();
	test_daemon();
	test_waitsig();
	check();
	return test_verdict();
}
