/* Filling restored memory from pages-N.img: one pread per run of pages,
 * run inside the task (one copy, straight into its memory), batched.
 *
 * Each run is populated first with madvise(MADV_POPULATE_WRITE): the kernel
 * then allocates the pages in one walk instead of taking a page fault for
 * every page during the copy, which on this machine kind (a VM where faults
 * are expensive) makes the fill 3-4 times faster.  Huge-page advice was
 * applied to the VMAs before (mem_restore.c), so populating a MADV_HUGEPAGE
 * area allocates huge pages. */
#include "mem/mem.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* Bytes filled per batch at most (a read stops short at 2 GiB anyway): a
 * batch is one ptrace stop, which cryo waits for with a timeout. */
#define FILL_MAX (256ULL << 20)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* linux/mman.h, kernel 5.14 */
#endif

/* Does this kernel know MADV_POPULATE_WRITE?  Asked of our own memory once:
 * an injected call that fails would stop the batch. */
static bool have_populate_write(void)
{
	static int known = -1;
	if (known < 0) {
		void *p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		known = p != MAP_FAILED && madvise(p, PAGE_SIZE, MADV_POPULATE_WRITE) == 0;
		if (p != MAP_FAILED)
			munmap(p, PAGE_SIZE);
	}
	return known;
}

int pages_restore_fill(struct remote *r, const struct mem_image *mi, int pages_fd)
{
	struct remote_batch *b = xzalloc(sizeof(*b));
	uint64_t off = 0, batch_bytes = 0;
	int ret = 0;
	char what[64];
	snprintf(what, sizeof(what), "filling memory from pages-%u.img", mi->pages_id);
	bool populate = have_populate_write();
	if (!b)
		return -ENOMEM;
	pr_debug("task %d: filling %d runs of pages%s", r->tid, mi->n_pe,
		 populate ? " (populated first)" : "");
	for (int i = 0; i < mi->n_pe && !ret; i++) {
		const PagemapEntry *pe = mi->pe[i];
		uint64_t len = (uint64_t)pe->nr_pages * PAGE_SIZE;
		if (pe->has_flags && (pe->flags & (PE_PARENT | PE_LAZY))) {
			pr_err("pagemap entry at 0x%llx needs a parent image or lazy pages: not "
			       "supported yet", (unsigned long long)pe->vaddr);
			ret = -EOPNOTSUPP;
			break;
		}
		if ((pe->vaddr & (PAGE_SIZE - 1)) || !pe->nr_pages || pe->vaddr + len < pe->vaddr) {
			pr_err("pagemap image: invalid entry 0x%llx (%u pages)",
			       (unsigned long long)pe->vaddr, pe->nr_pages);
			ret = -EINVAL;
			break;
		}
		for (uint64_t done = 0; done < len && !ret;) {
			uint64_t n = MIN(len - done, FILL_MAX), at = pe->vaddr + done;
			/* the dumped vDSO's pages: this kernel's vDSO is there
			 * instead, unless the dumped one comes back as a proxy */
			if (mi->vdso_end && !mi->vdso_proxy) {
				if (at >= mi->vdso_start && at < mi->vdso_end) {
					n = MIN(n, mi->vdso_end - at);
					off += n;
					done += n;
					continue;
				}
				if (at < mi->vdso_start && at + n > mi->vdso_start)
					n = mi->vdso_start - at;
			}
			if (populate)
				b->calls[b->n++] = (struct remote_call){ __NR_madvise,
					{ at, n, MADV_POPULATE_WRITE, 0, 0, 0 }, 0 };
			b->calls[b->n++] = (struct remote_call){ __NR_pread64,
				{ pages_fd, at, n, off, 0, 0 }, 0 };
			off += n;
			done += n;
			batch_bytes += n;
			if (b->n >= REMOTE_BATCH_MAX - 1 || batch_bytes >= FILL_MAX) {
				ret = remote_batch_exec(r, b, what);
				batch_bytes = 0;
			}
		}
		if (!ret && b->n && i == mi->n_pe - 1)
			ret = remote_batch_exec(r, b, what);
	}

	if (!ret)
		pr_debug("task %d: %llu bytes filled", r->tid, (unsigned long long)off);
	free(b);
	return ret;
}
