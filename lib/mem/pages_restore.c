/* Filling restored memory from a page source (page_source.h): for local
 * images, one pread per run of pages from pages-N.img, run inside the task
 * (one copy, straight into its memory), batched.
 *
 * Each run is populated first with madvise(MADV_POPULATE_WRITE): the kernel
 * then allocates the pages in one walk instead of taking a page fault for
 * every page during the copy, which on this machine kind (a VM where faults
 * are expensive) makes the fill 3-4 times faster.  Huge-page advice was
 * applied to the VMAs before (mem_restore.c), so populating a MADV_HUGEPAGE
 * area allocates huge pages. */
#include "mem/lazy.h"
#include "mem/mem.h"
#include "mem/page_source.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

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

bool mem_image_has_pages(const struct mem_image *mi, uint64_t start, uint64_t end)
{
	int lo = 0, hi = mi->n_pe - 1;
	while (lo <= hi) {	/* the first run that ends after @start */
		int mid = (lo + hi) / 2;
		const PagemapEntry *pe = mi->pe[mid];
		if (pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE <= start)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return lo < mi->n_pe && mi->pe[lo]->vaddr < end;
}

bool vma_map_writable(const struct mem_image *mi, const VmaEntry *v)
{
	if (!vma_has_private_pages(v) || (v->prot & PROT_WRITE))
		return v->prot & PROT_WRITE;
	bool pages = mem_image_has_pages(mi, v->start, v->end);
	if (!v->has_cryo_flags)	/* a criu image: as criu does, if there is a fill */
		return pages;
	/* MAP_NORESERVE mappings are never charged; the others are when
	 * mapped or made writable, and stay charged ("ac") until unmapped */
	if (v->flags & MAP_NORESERVE)
		return pages;
	return v->cryo_flags & VMA_CRYO_ACCOUNT;
}

/* The private VMA holding @addr, or NULL. */
static const VmaEntry *vma_at(const struct mem_image *mi, uint64_t addr)
{
	size_t lo = 0, hi = mi->mm->n_vmas;	/* VMAs are in address order */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const VmaEntry *v = mi->mm->vmas[mid];
		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return vma_has_private_pages(v) ? v : NULL;
	}
	return NULL;
}

/* Pages of a VMA that is not writable and must not become so (it was never
 * charged), or of a source the task can't read itself: cryo reads them
 * and writes them through /proc/TID/mem, which may write where the task
 * can't, as a debugger's breakpoint does. */
int pages_fill_forced(struct remote *r, int *mem_fd, char **buf, struct page_source *src,
		      uint64_t at, uint64_t n)
{
	const size_t bufsz = 1 << 20;
	if (*mem_fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", r->tid);
		*mem_fd = open(path, O_RDWR | O_CLOEXEC);
		if (*mem_fd < 0)
			return_perror("can't open %s", path);
	}
	if (!*buf && !(*buf = xmalloc(bufsz)))
		return -ENOMEM;
	for (uint64_t done = 0; done < n;) {
		size_t len = MIN(n - done, bufsz);
		int ret = src->ops->read(src, at + done, *buf, len);
		if (ret)
			return ret;
		if (pwrite(*mem_fd, *buf, len, at + done) != (ssize_t)len) {
			int e = errno ? errno : EIO;
			pr_err("can't write the restored process %d's memory at 0x%llx through "
			       "/proc/%d/mem: %s", r->tid, (unsigned long long)(at + done), r->tid,
			       strerror(e));
			return -e;
		}
		done += len;
	}
	return 0;
}

int pages_restore_fill(struct remote *r, const struct mem_image *mi, struct page_source *src)
{
	int mem_fd = -1;
	char *buf = NULL;
	struct remote_batch *b = xzalloc(sizeof(*b));
	uint64_t filled = 0, batch_bytes = 0;
	int ret = 0;
	char what[64];
	snprintf(what, sizeof(what), "filling memory from pages-%u.img", mi->pages_id);
	bool populate = have_populate_write();
	if (!b)
		return -ENOMEM;
	ret = page_source_check(src, r->tid);
	pr_debug("task %d: filling %d runs of pages%s", r->tid, mi->n_pe,
		 populate ? " (populated first)" : "");
	for (int i = 0; i < mi->n_pe && !ret; i++) {
		const PagemapEntry *pe = mi->pe[i];
		uint64_t len = (uint64_t)pe->nr_pages * PAGE_SIZE;
		for (uint64_t done = 0; done < len && !ret;) {
			uint64_t n = MIN(len - done, FILL_MAX), at = pe->vaddr + done;
			/* the dumped vDSO's pages: this kernel's vDSO is there
			 * instead, unless the dumped one comes back as a proxy */
			if (mi->vdso_end && !mi->vdso_proxy) {
				if (at >= mi->vdso_start && at < mi->vdso_end) {
					n = MIN(n, mi->vdso_end - at);
					done += n;
					continue;
				}
				if (at < mi->vdso_start && at + n > mi->vdso_start)
					n = mi->vdso_start - at;
			}
			/* restore --lazy-pages: left to the daemon */
			uint64_t lz = lazy_skip(mi, src, at, n);
			if (lz) {
				done += lz;
				continue;
			}
			/* where the pages are: a file the task reads itself, or
			 * (no locate) only cryo can read them */
			struct page_loc loc = { .fd = -1 };
			if (src->ops->locate) {
				ret = src->ops->locate(src, at, &loc);
				if (ret) {
					pr_err("pagemap-%d.img: no image holds the page at 0x%llx of "
					       "task %d", r->tid, (unsigned long long)at, r->tid);
					ret = -EINVAL;
					break;
				}
				n = MIN(n, loc.len);
			}
			const VmaEntry *v = vma_at(mi, at);
			if (loc.fd < 0 || (v && !vma_map_writable(mi, v))) {
				if (v)
					n = MIN(n, v->end - at);
				ret = pages_fill_forced(r, &mem_fd, &buf, src, at, n);
				filled += n;
				done += n;
				continue;
			}
			if (populate)
				b->calls[b->n++] = (struct remote_call){ __NR_madvise,
					{ at, n, MADV_POPULATE_WRITE, 0, 0, 0 }, 0 };
			b->calls[b->n++] = (struct remote_call){ __NR_pread64,
				{ loc.fd, at, n, loc.off, 0, 0 }, 0 };
			filled += n;
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

	if (!ret && b->n)	/* the last run went through /proc/PID/mem */
		ret = remote_batch_exec(r, b, what);
	if (!ret)
		pr_debug("task %d: %llu bytes filled", r->tid, (unsigned long long)filled);
	if (mem_fd >= 0)
		close(mem_fd);
	free(buf);
	free(b);
	return ret;
}
