/* Guard regions: pages of a VMA made inaccessible with
 * madvise(MADV_GUARD_INSTALL) (kernel 6.13).  They are not VMAs: the kernel
 * puts a marker in the page table entry, so smaps does not show them (6.18
 * shows a sticky "gu" VmFlag on a VMA that ever had one).  A read of a guard
 * page fails (EIO from /proc/PID/mem), a touch raises SIGSEGV.
 *
 * Dump: PAGEMAP_SCAN reports guard markers as PAGE_IS_GUARD (kernel 6.14;
 * they also count as PAGE_IS_SWAPPED, and /proc/PID/pagemap sets bit 58,
 * PM_GUARD_REGION, next to the swap bit).  The runs of each VMA go into the
 * VMA's `guards` (cryo's field 1001 of vma_entry); pages_dump.c leaves them
 * out of the copy.
 * Restore: mem_restore.c installs them again with MADV_GUARD_INSTALL once
 * the VMA is mapped and filled (installing zaps whatever the page held). */
#include "mem/mem.h"
#include "util/log.h"
#include "util/util.h"

#include <linux/fs.h>
#include "compat/uapi-extra.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Does PAGEMAP_SCAN know PAGE_IS_GUARD?  A kernel that does not refuses
 * the unknown category with EINVAL.  Asked of our own pagemap once. */
bool pagemap_scan_has_guard(void)
{
	static int known = -1;
	if (known >= 0)
		return known;
	known = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct page_region r;
	uint64_t at = (uint64_t)(uintptr_t)&r & ~(uint64_t)(PAGE_SIZE - 1);
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = at,
		.end = at + PAGE_SIZE,
		.vec = (uintptr_t)&r,
		.vec_len = 1,
		.category_mask = PAGE_IS_GUARD,
		.return_mask = PAGE_IS_GUARD,
	};
	known = ioctl(fd, PAGEMAP_SCAN, &a) >= 0;
	close(fd);
	return known;
}

static int add_run(VmaEntry *v, uint64_t start, uint64_t end)
{
	if (v->n_guards && v->guards[v->n_guards - 1]->end == start) {
		v->guards[v->n_guards - 1]->end = end;
		return 0;
	}
	VmaGuardRun **n = xrealloc(v->guards, (v->n_guards + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	v->guards = n;
	VmaGuardRun *g = xmalloc(sizeof(*g));
	if (!g)
		return -ENOMEM;
	vma_guard_run__init(g);
	g->has_start = g->has_end = 1;
	g->start = start;
	g->end = end;
	v->guards[v->n_guards++] = g;
	return 0;
}

/* Without PAGE_IS_GUARD (6.13) the pagemap bit is not there either: guard
 * regions can't be seen, and a dump that meets one fails reading it. */
int mem_dump_guards(pid_t pid, int pm_fd, VmaEntry *v)
{
	struct page_region vec[256];	/* 6 KiB: on the stack, not shared between runs */
	if (!pagemap_scan_has_guard())
		return 0;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = v->start,
		.end = v->end,
		.vec = (uintptr_t)vec,
		.vec_len = ARRAY_SIZE(vec),
		.category_mask = PAGE_IS_GUARD,
		.return_mask = PAGE_IS_GUARD,
	};
	while (a.start < v->end) {
		long n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			int e = errno;
			pr_err("PAGEMAP_SCAN for guard regions of process %d at 0x%llx failed: %s",
			       pid, (unsigned long long)a.start, strerror(e));
			return -e;
		}
		for (long i = 0; i < n; i++) {
			int ret = add_run(v, vec[i].start, vec[i].end);
			if (ret)
				return ret;
		}
		if (a.walk_end <= a.start || a.walk_end > v->end) {
			pr_err("PAGEMAP_SCAN of process %d stopped at 0x%llx, outside 0x%llx-0x%llx",
			       pid, (unsigned long long)a.walk_end, (unsigned long long)a.start,
			       (unsigned long long)v->end);
			return -EIO;
		}
		a.start = a.walk_end;
	}
	return 0;
}

void vma_guards_free(VmaEntry *v)
{
	for (size_t i = 0; i < v->n_guards; i++)
		free(v->guards[i]);
	free(v->guards);
	v->guards = NULL;
	v->n_guards = 0;
	free(v->cryo_anon_name);	/* the dump's other allocation in a VMA */
	v->cryo_anon_name = NULL;
}
