/* mem_vmflags: private anonymous memory whose properties must survive, not
 * just its bytes.
 *
 * State built before the checkpoint:
 *   - a 16-page region with a pattern whose pages 4-7 are PROT_NONE and
 *     pages 10-11 PROT_WRITE only (data in them: cryo reads them without
 *     changing the protections), and a separate PROT_NONE mapping holding
 *     data;
 *   - a MAP_GROWSDOWN area (not [stack]) with data;
 *   - an mlock()ed area ("lo" in VmFlags), an mlock2(MLOCK_ONFAULT) one
 *     ("lo lf");
 *   - areas with MADV_DONTFORK ("dc"), MADV_DONTDUMP ("dd"),
 *     MADV_WIPEONFORK ("wf"), MADV_NOHUGEPAGE ("nh"), MADV_HUGEPAGE ("hg").
 * After SIGTERM: every pattern, protections (maps perms) and VmFlags are
 * checked, and the fork behaviours are exercised: a child must not see the
 * DONTFORK area and must see the WIPEONFORK area as zeros.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#define NPG 16
enum { S_REGION = 0x100, S_NONE = 0x200, S_GROWS = 0x300, S_LOCK = 0x400, S_DFORK = 0x500,
       S_DDUMP = 0x600, S_WIPE = 0x700, S_NOHUGE = 0x800, S_HUGE = 0x900, S_LOF = 0xa00 };

static size_t pg;
static char *region, *none_area, *grows, *locked, *lof, *dfork, *ddump, *wipe, *nohuge, *huge;

static char *map_anon(size_t len, int prot, int extra, const char *what)
{
	char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap %s: %s", what, strerror(errno));
	return p;
}

static char *filled(size_t len, uint64_t seed, int extra, const char *what)
{
	char *p = map_anon(len, PROT_READ | PROT_WRITE, extra, what);
	pattern_fill(p, len, seed);
	return p;
}

static void advise(char *p, size_t len, int adv, const char *what)
{
	if (madvise(p, len, adv))
		setup_fail("madvise(%s): %s", what, strerror(errno));
}

static void check_area(const char *what, const void *buf, size_t len, uint64_t seed)
{
	ssize_t off = pattern_check(buf, len, seed);
	if (off >= 0)
		fail("%s (%p): byte %zd is 0x%02x, expected 0x%02x", what, buf, off,
		     ((const uint8_t *)buf)[off], pattern_byte(seed, off));
}

static void check_perms(const char *what, const void *addr, const char *want)
{
	char perms[5];
	if (maps_perms(addr, perms))
		fail("%s (%p): no longer mapped", what, addr);
	else if (strcmp(perms, want))
		fail("%s (%p): mapped %s, expected %s", what, addr, perms, want);
}

static void check_flag(const char *what, const void *addr, const char *fl, bool want)
{
	struct smaps_vma v;
	if (smaps_lookup(addr, NULL, &v)) {
		fail("%s (%p): no longer mapped", what, addr);
		return;
	}
	if (vma_has_flag(addr, fl) != want)
		fail("%s (%p): VmFlag %s is %s (VmFlags:%s)", what, addr, fl,
		     want ? "missing" : "set but should not be", v.vmflags);
}

static void build(void)
{
	pg = sysconf(_SC_PAGESIZE);

	region = filled(NPG * pg, S_REGION, 0, "region");
	if (mprotect(region + 4 * pg, 4 * pg, PROT_NONE) ||
	    mprotect(region + 10 * pg, 2 * pg, PROT_WRITE))
		setup_fail("mprotect: %s", strerror(errno));
	none_area = filled(3 * pg, S_NONE, 0, "none");
	if (mprotect(none_area, 3 * pg, PROT_NONE))
		setup_fail("mprotect: %s", strerror(errno));

	/* A growsdown area well away from anything else. */
	char *hole = map_anon(64 * pg, PROT_NONE, 0, "hole");
	munmap(hole, 64 * pg);
	grows = mmap(hole + 48 * pg, 8 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED_NOREPLACE, -1, 0);
	if (grows == MAP_FAILED)
		setup_fail("mmap MAP_GROWSDOWN: %s", strerror(errno));
	pattern_fill(grows, 8 * pg, S_GROWS);

	locked = filled(4 * pg, S_LOCK, 0, "locked");
	if (mlock(locked, 4 * pg))
		setup_fail("mlock: %s", strerror(errno));
	lof = filled(4 * pg, S_LOF, 0, "lock on fault");
	if (mlock2(lof, 4 * pg, MLOCK_ONFAULT))
		setup_fail("mlock2(MLOCK_ONFAULT): %s", strerror(errno));
	dfork = filled(2 * pg, S_DFORK, 0, "dontfork");
	advise(dfork, 2 * pg, MADV_DONTFORK, "MADV_DONTFORK");
	ddump = filled(2 * pg, S_DDUMP, 0, "dontdump");
	advise(ddump, 2 * pg, MADV_DONTDUMP, "MADV_DONTDUMP");
	wipe = filled(2 * pg, S_WIPE, 0, "wipeonfork");
	advise(wipe, 2 * pg, MADV_WIPEONFORK, "MADV_WIPEONFORK");
	nohuge = filled(2 * pg, S_NOHUGE, 0, "nohugepage");
	advise(nohuge, 2 * pg, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE");
	huge = filled(2 * pg, S_HUGE, 0, "hugepage");
	advise(huge, 2 * pg, MADV_HUGEPAGE, "MADV_HUGEPAGE");
}

static void check(void)
{
	check_perms("region page 0", region, "rw-p");
	check_perms("region page 4 (PROT_NONE)", region + 4 * pg, "---p");
	check_perms("region page 8", region + 8 * pg, "rw-p");
	check_perms("region page 10 (PROT_WRITE)", region + 10 * pg, "-w-p");
	check_perms("region page 12", region + 12 * pg, "rw-p");
	check_perms("PROT_NONE area", none_area, "---p");
	check_perms("growsdown area", grows, "rw-p");
	check_flag("growsdown area", grows, "gd", true);
	check_flag("plain region", region, "gd", false);
	check_flag("mlocked area", locked, "lo", true);
	check_flag("plain region", region, "lo", false);
	check_flag("mlocked area", locked, "lf", false);
	check_flag("lock-on-fault area", lof, "lo", true);
	check_flag("lock-on-fault area", lof, "lf", true);
	check_flag("DONTFORK area", dfork, "dc", true);
	check_flag("DONTDUMP area", ddump, "dd", true);
	check_flag("WIPEONFORK area", wipe, "wf", true);
	check_flag("NOHUGEPAGE area", nohuge, "nh", true);
	check_flag("HUGEPAGE area", huge, "hg", true);
	check_flag("plain region", region, "dc", false);
	check_flag("plain region", region, "wf", false);

	/* Contents: make the protected parts readable to look at them. */
	if (mprotect(region, NPG * pg, PROT_READ | PROT_WRITE) ||
	    mprotect(none_area, 3 * pg, PROT_READ))
		fail_errno("mprotect for checking");
	check_area("region (with PROT_NONE and PROT_WRITE pages)", region, NPG * pg, S_REGION);
	check_area("PROT_NONE area", none_area, 3 * pg, S_NONE);
	check_area("growsdown area", grows, 8 * pg, S_GROWS);
	check_area("mlocked area", locked, 4 * pg, S_LOCK);
	check_area("lock-on-fault area", lof, 4 * pg, S_LOF);
	check_area("DONTFORK area", dfork, 2 * pg, S_DFORK);
	check_area("DONTDUMP area", ddump, 2 * pg, S_DDUMP);
	check_area("WIPEONFORK area", wipe, 2 * pg, S_WIPE);
	check_area("NOHUGEPAGE area", nohuge, 2 * pg, S_NOHUGE);
	check_area("HUGEPAGE area", huge, 2 * pg, S_HUGE);

	/* Fork behaviour: the child reports through its exit code. */
	pid_t c = fork();
	if (c < 0) {
		fail_errno("fork");
		return;
	}
	if (c == 0) {
		char perms[5];
		if (!maps_perms(dfork, perms))
			_exit(1);	/* DONTFORK area inherited */
		if (zero_check(wipe, 2 * pg) >= 0)
			_exit(2);	/* WIPEONFORK area not wiped */
		if (pattern_check(region, NPG * pg, S_REGION) >= 0)
			_exit(3);
		_exit(0);
	}
	int st;
	if (waitpid(c, &st, 0) != c)
		fail_errno("waitpid");
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("forked child: %s", !WIFEXITED(st) ? "killed" :
		     WEXITSTATUS(st) == 1 ? "the MADV_DONTFORK area was inherited" :
		     WEXITSTATUS(st) == 2 ? "the MADV_WIPEONFORK area was not wiped" :
		     "the region differs in the child");
}

int main(int argc, char **argv)
{
	test_doc = "protections inside a region, growsdown, mlock, madvise flags";
	test_init(argc, argv);
	build();
	test_daemon();
	test_waitsig();
	check();
	return test_verdict();
}
