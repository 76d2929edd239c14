/* mem_thp: transparent huge pages.  A 2 MiB-aligned 8 MiB region with
 * MADV_HUGEPAGE, fully written, and a 4 MiB region with MADV_NOHUGEPAGE.
 * After SIGTERM: the contents, the VmFlags (hg / nh), and -- if the kernel
 * gave huge pages before the checkpoint -- that the region is backed by huge
 * pages again (AnonHugePages in smaps: cryo applies the advice before it
 * fills the memory), and that the NOHUGEPAGE region has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#define HUGE (2UL << 20)
enum { S_H = 0x7100, S_N = 0x7200 };

int main(int argc, char **argv)
{
	test_doc = "MADV_HUGEPAGE areas come back as huge pages";
	test_init(argc, argv);
	size_t len = 4 * HUGE;
	char *raw = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *n = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED || n == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	char *h = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	if (madvise(h, len, MADV_HUGEPAGE) || madvise(n, 2 * HUGE, MADV_NOHUGEPAGE))
		setup_fail("madvise: %s", strerror(errno));
	pattern_fill(h, len, S_H);
	pattern_fill(n, 2 * HUGE, S_N);
	struct smaps_vma v;
	long before = smaps_lookup(h, "AnonHugePages", &v) ? -1 : v.field_kb;
	test_msg("AnonHugePages before the checkpoint: %ld kB", before);

	test_daemon();
	test_waitsig();

	if (smaps_lookup(h, "AnonHugePages", &v)) {
		fail("huge page region %p is gone", h);
		return test_verdict();
	}
	test_msg("AnonHugePages after the restore: %ld kB", v.field_kb);
	if (pattern_check(h, len, S_H) >= 0)
		fail("huge page region contents differ");
	if (pattern_check(n, 2 * HUGE, S_N) >= 0)
		fail("NOHUGEPAGE region contents differ");
	if (!vma_has_flag(h, "hg"))
		fail("huge page region lost MADV_HUGEPAGE (VmFlags:%s)", v.vmflags);
	if (!vma_has_flag(n, "nh"))
		fail("NOHUGEPAGE region lost MADV_NOHUGEPAGE");
	if (before > 0 && v.field_kb < 2048)
		fail("the region had %ld kB in huge pages before the checkpoint, %ld kB after", before,
		     v.field_kb);
	struct smaps_vma nv;
	if (!smaps_lookup(n, "AnonHugePages", &nv) && nv.field_kb > 0)
		fail("NOHUGEPAGE region has %ld kB in huge pages", nv.field_kb);
	return test_verdict();
}
