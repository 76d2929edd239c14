/* Saving page contents: which pages exist (pagemap) and copying them into
 * pages-N.img, indexed by pagemap-PID.img. */
#include "mem/mem.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PM_PFN_MASK ((1ULL << 55) - 1)

/* PFN of the shared zero page, to skip never-written pages that were only
 * read.  0 if unknown (then such pages are saved: correct, just larger). */
static uint64_t zero_pfn(void)
{
	static uint64_t pfn = ~0ULL;
	if (pfn != ~0ULL)
		return pfn;
	pfn = 0;
	volatile char *p = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	(void)p[0];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e;
	if (fd >= 0 && pread(fd, &e, 8, ((uint64_t)p / PAGE_SIZE) * 8) == 8 && (e & PM_PRESENT))
		pfn = e & PM_PFN_MASK;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, PAGE_SIZE);
	return pfn;
}

struct page_writer {
	pid_t pid;
	int mem_fd;		/* /proc/PID/mem, for unreadable mappings */
	int out_fd;
	struct cr_img *pagemap;
	char *buf;
	size_t buf_size;
	uint64_t written;
};

#define COPY_BUF (1 << 20)

/* Copy [addr, addr+len) of the target into the pages image. */
static int copy_run(struct page_writer *w, uint64_t addr, size_t len, bool readable)
{
	while (len) {
		size_t n = MIN(len, w->buf_size);
		ssize_t got;
		if (readable) {
			struct iovec l = { w->buf, n }, r = { (void *)addr, n };
			got = process_vm_readv(w->pid, &l, 1, &r, 1, 0);
		} else {
			got = pread(w->mem_fd, w->buf, n, addr);
		}
		if (got != (ssize_t)n) {
			int e = got < 0 ? errno : EFAULT;
			pr_err("can't read memory 0x%llx-0x%llx of process %d: %s",
			       (unsigned long long)addr, (unsigned long long)(addr + n), w->pid,
			       strerror(e));
			return -e;
		}
		int ret = write_all(w->out_fd, w->buf, n);
		if (ret) {
			pr_err("can't write pages of process %d to the image: %s", w->pid,
			       strerror(-ret));
			return ret;
		}
		w->written += n;
		addr += n;
		len -= n;
	}
	return 0;
}

static int emit_run(struct page_writer *w, uint64_t start, uint64_t npages, bool readable)
{
	PagemapEntry pe = PAGEMAP_ENTRY__INIT;
	pe.has_vaddr = pe.has_nr_pages = pe.has_flags = 1;
	pe.vaddr = start;
	pe.nr_pages = npages;
	pe.flags = PE_PRESENT;
	int ret = img_write_msg(w->pagemap, &pe.base);
	if (ret)
		return ret;
	return copy_run(w, start, npages * PAGE_SIZE, readable);
}

static int dump_vma_pages(struct page_writer *w, int pm_fd, const VmaEntry *v,
			  struct mem_dump_stats *st)
{
	const size_t batch = 4096;	/* pagemap entries per read */
	uint64_t ents[4096];
	uint64_t zpfn = zero_pfn();
	bool anon = v->status & VMA_ANON_PRIVATE;
	bool readable = v->prot & PROT_READ;
	uint64_t run_start = 0, run_len = 0;

	for (uint64_t addr = v->start; addr < v->end;) {
		size_t n = MIN(batch, (v->end - addr) / PAGE_SIZE);
		ssize_t got = pread(pm_fd, ents, n * 8, (addr / PAGE_SIZE) * 8);
		if (got != (ssize_t)(n * 8)) {
			int e = got < 0 ? errno : EIO;
			pr_err("can't read /proc/%d/pagemap at 0x%llx: %s", w->pid,
			       (unsigned long long)addr, strerror(e));
			return -e;
		}
		st->pages_scanned += n;
		for (size_t i = 0; i < n; i++, addr += PAGE_SIZE) {
			uint64_t e = ents[i];
			bool save;
			if (e & PM_SWAPPED)
				save = true;
			else if (!(e & PM_PRESENT))
				save = false;
			else if (anon)
				save = !zpfn || (e & PM_PFN_MASK) != zpfn;
			else
				save = !(e & PM_FILE);	/* a private copy of a file page */
			if (save) {
				if (!run_len)
					run_start = addr;
				run_len++;
				continue;
			}
			if (run_len) {
				int ret = emit_run(w, run_start, run_len, readable);
				if (ret)
					return ret;
				run_len = 0;
			}
		}
	}
	if (run_len)
		return emit_run(w, run_start, run_len, readable);
	return 0;
}

int mem_dump_pages(int dirfd, pid_t pid, const MmEntry *mm, uint32_t pages_id,
		   struct mem_dump_stats *stats)
{
	struct page_writer w = { .pid = pid, .mem_fd = -1, .out_fd = -1 };
	struct cr_img *pages = NULL;
	char path[64];
	int pm_fd = -1, ret;
	uint64_t t0 = now_ns();

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return_perror("can't open %s", path);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	w.mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (w.mem_fd < 0) {
		ret = -errno;
		pr_perror("can't open %s", path);
		goto out;
	}
	w.buf_size = COPY_BUF;
	w.buf = xmalloc(w.buf_size);
	ret = -ENOMEM;
	if (!w.buf)
		goto out;
	ret = img_open(&w.pagemap, dirfd, IMG_PAGEMAP, IMG_WRITE, pid);
	if (ret)
		goto out;
	ret = img_open(&pages, dirfd, IMG_PAGES, IMG_WRITE, pages_id);
	if (ret)
		goto out;
	w.out_fd = img_raw_fd(pages);

	PagemapHead ph = PAGEMAP_HEAD__INIT;
	ph.has_pages_id = 1;
	ph.pages_id = pages_id;
	ret = img_write_msg(w.pagemap, &ph.base);
	for (size_t i = 0; !ret && i < mm->n_vmas; i++)
		if (vma_has_private_pages(mm->vmas[i]))
			ret = dump_vma_pages(&w, pm_fd, mm->vmas[i], stats);
out:
	if (pages) {
		int r = img_close(pages);
		if (!ret)
			ret = r;
	}
	if (w.pagemap) {
		int r = img_close(w.pagemap);
		if (!ret)
			ret = r;
	}
	stats->pages_written += w.written / PAGE_SIZE;
	stats->memdump_ns += now_ns() - t0;
	free(w.buf);
	if (w.mem_fd >= 0)
		close(w.mem_fd);
	close(pm_fd);
	return ret;
}
