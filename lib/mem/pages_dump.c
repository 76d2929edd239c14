/* Saving page contents: which pages exist, and copying them into
 * pages-N.img, indexed by pagemap-PID.img.
 *
 * Which pages: the PAGEMAP_SCAN ioctl on /proc/PID/pagemap returns the runs
 * of present or swapped pages that are neither the zero page nor (in private
 * file mappings) unmodified file pages, a few regions per VMA instead of one
 * 8-byte entry per page.  Without it, /proc/PID/pagemap is read.
 *
 * Copying (see docs/performance.md for the measurements behind this): runs
 * are gathered into 1 MiB chunks, each read with one process_vm_readv of up
 * to IOV_MAX runs (/proc/PID/mem for unreadable mappings), and a writer
 * thread hands full chunks to the page sink (page_sink.h: the images
 * directory today) while the next one is read, so the read from the target
 * overlaps the tmpfs write.  Mapping the image and
 * reading straight into it (one copy) was measured several times slower here:
 * every page of a shared file mapping costs a fault or a populate.  Peak
 * memory is NR_CHUNKS chunks whatever the image size; they are kept from
 * one process to the next in the dump's struct page_dump.
 */
#include "mem/mem.h"
#include "mem/page_sink.h"
#include "mem/pages-int.h"
#include "kerndat/kerndat.h"
#include "util/log.h"
#include "util/util.h"

#include <linux/fs.h>
#include "compat/uapi-extra.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK_SIZE (1UL << 20)
#define NR_CHUNKS 4
#define MAX_IOVS 1024		/* UIO_MAXIOV */
#define SCAN_REGIONS 512
#define PM_BATCH 4096		/* pagemap entries per read */

/* The pages side of one dump: where pages go, and buffers kept from one
 * process to the next (populating the copy buffers again for each of a
 * hundred small processes would cost more than their copy). */
struct page_dump {
	struct page_sink *sink;
	char *bufs[NR_CHUNKS];
	struct page_region vec[SCAN_REGIONS];	/* PAGEMAP_SCAN results */
	uint64_t ents[PM_BATCH];		/* pagemap entries read */
};

int page_dump_new(struct page_sink *sink, struct page_dump **out)
{
	struct page_dump *pd = xzalloc(sizeof(*pd));
	if (!pd) {
		page_sink_destroy(sink);
		return -ENOMEM;
	}
	pd->sink = sink;
	*out = pd;
	return 0;
}

int page_dump_local(int dirfd, struct page_dump **out)
{
	struct page_sink *sink;
	int ret = page_sink_local(dirfd, &sink);
	return ret ? ret : page_dump_new(sink, out);
}

struct page_sink *page_dump_sink(struct page_dump *pd)
{
	return pd->sink;
}

void page_dump_free(struct page_dump *pd)
{
	if (!pd)
		return;
	for (int i = 0; i < NR_CHUNKS; i++)
		if (pd->bufs[i])
			munmap(pd->bufs[i], CHUNK_SIZE);
	page_sink_destroy(pd->sink);
	free(pd);
}

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

/* ---- the writer: chunks handed to a thread in order ---- */

struct chunk {
	char *data;
	size_t len;
};

struct page_writer {
	struct page_dump *pd;
	struct page_sink *sink;
	pid_t pid;
	int mem_fd;		/* /proc/PID/mem, for unreadable mappings */
	int pm_fd;		/* /proc/PID/pagemap */
	int ppm_fd;		/* the parent's /proc/PID/pagemap, -1: no parent */
	const struct mem_page_runs *pruns;	/* what the parent's image holds */
	size_t prun_at;		/* cursor in pruns (runs are emitted in address order) */
	struct mem_page_runs *runs;	/* this process's, or NULL */
	uint64_t cow_pages;
	uint64_t prev_pages;	/* left to the previous dump's images (PE_PARENT) */
	uint64_t written;	/* bytes handed to the sink */

	struct chunk chunks[NR_CHUNKS];
	unsigned filling;	/* chunks handed over so far; filling % NR_CHUNKS is being filled */
	struct iovec local[MAX_IOVS], remote[MAX_IOVS];
	int nr_iov;		/* process_vm_readv runs pending in the current chunk */
	size_t iov_at;		/* offset in the chunk of the first pending run */

	/* writer thread */
	bool thread_on;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done;		/* chunks written */
	bool closing;		/* no more chunks: the writer exits when done */
	int werr;		/* first write error (-errno) */
	uint64_t write_ns;	/* spent in the sink's writes (read once joined) */
};

static int write_chunk(struct page_writer *w, struct chunk *c)
{
	/* one writer at a time (the thread, or the walk before it started) */
	uint64_t t0 = now_ns();
	int ret = w->sink->ops->write(w->sink, c->data, c->len);	/* logs */
	w->write_ns += now_ns() - t0;
	return ret;
}

static void *writer_main(void *arg)
{
	struct page_writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->done == w->filling && !w->closing)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->done == w->filling)
			break;
		struct chunk *c = &w->chunks[w->done % NR_CHUNKS];
		pthread_mutex_unlock(&w->lock);
		int ret = w->werr ? 0 : write_chunk(w, c);
		pthread_mutex_lock(&w->lock);
		if (ret && !w->werr)
			w->werr = ret;
		w->done++;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Buffers are populated up front: on this kind of machine a page fault
 * costs several times what populating does. */
static int chunk_alloc(struct page_writer *w, struct chunk *c)
{
	if (c->data)
		return 0;
	char **cached = &w->pd->bufs[c - w->chunks];
	if (*cached) {
		c->data = *cached;
		return 0;
	}
	c->data = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (c->data == MAP_FAILED) {
		c->data = NULL;
		return_perror("can't allocate a %lu-byte copy buffer", CHUNK_SIZE);
	}
	*cached = c->data;
	return 0;
}

static struct chunk *cur_chunk(struct page_writer *w)
{
	return &w->chunks[w->filling % NR_CHUNKS];
}

/* Hand the current chunk to the writer and wait for a free one.  The first
 * chunk of a dump that fits in one is written inline: small dumps start no
 * thread. */
static int chunk_submit(struct page_writer *w, bool last)
{
	struct chunk *c = cur_chunk(w);
	int ret;
	if (!c->len)
		return 0;
	w->written += c->len;
	if (!w->thread_on) {
		if (!last && pthread_create(&w->thread, NULL, writer_main, w) == 0) {
			w->thread_on = true;
		} else {
			ret = write_chunk(w, c);
			c->len = 0;
			return ret;
		}
	}
	pthread_mutex_lock(&w->lock);
	w->filling++;
	pthread_cond_broadcast(&w->cond);
	while (w->filling - w->done >= NR_CHUNKS && !w->werr)
		pthread_cond_wait(&w->cond, &w->lock);
	ret = w->werr;
	pthread_mutex_unlock(&w->lock);
	if (ret || last)
		return ret;
	c = cur_chunk(w);
	c->len = 0;
	return chunk_alloc(w, c);
}

static int read_error(struct page_writer *w, uint64_t addr, size_t len, int e)
{
	pr_err("can't read memory 0x%llx-0x%llx of process %d: %s", (unsigned long long)addr,
	       (unsigned long long)(addr + len), w->pid, strerror(e));
	return -e;
}

/* Read the pending runs of the current chunk with one process_vm_readv.
 * Whatever it can't read (it stops at the first failing page) is retried
 * run by run through /proc/PID/mem before giving up. */
static int flush_reads(struct page_writer *w)
{
	int n = w->nr_iov;
	if (!n)
		return 0;
	w->nr_iov = 0;
	ssize_t got = process_vm_readv(w->pid, w->local, n, w->remote, n, 0);
	if (got < 0)
		got = 0;
	for (int i = 0; i < n; i++) {
		size_t len = w->remote[i].iov_len;
		if ((size_t)got >= len) {
			got -= len;
			continue;
		}
		/* From here on, the slow way. */
		uint64_t addr = (uint64_t)w->remote[i].iov_base + got;
		char *dst = (char *)w->local[i].iov_base + got;
		len -= got;
		got = 0;
		ssize_t r = pread(w->mem_fd, dst, len, addr);
		if (r != (ssize_t)len)
			return read_error(w, addr, len, r < 0 ? errno : EFAULT);
	}
	return 0;
}

/* Queue [addr, addr+len) of the target for the image. */
static int copy_span(struct page_writer *w, uint64_t addr, size_t len, bool readable)
{
	int ret;
	while (len) {
		struct chunk *c = cur_chunk(w);
		size_t n = MIN(len, CHUNK_SIZE - c->len);
		if (readable) {
			w->local[w->nr_iov] = (struct iovec){ c->data + c->len, n };
			w->remote[w->nr_iov] = (struct iovec){ (void *)addr, n };
			w->nr_iov++;
		} else {
			ret = flush_reads(w);
			if (ret)
				return ret;
			ssize_t got = pread(w->mem_fd, c->data + c->len, n, addr);
			if (got != (ssize_t)n)
				return read_error(w, addr, n, got < 0 ? errno : EFAULT);
		}
		c->len += n;
		addr += n;
		len -= n;
		if (c->len == CHUNK_SIZE || w->nr_iov == MAX_IOVS) {
			ret = flush_reads(w);
			if (ret)
				return ret;
		}
		if (c->len == CHUNK_SIZE) {
			ret = chunk_submit(w, false);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* process_vm_readv pins the pages it reads, and a read-only pin of an
 * anonymous page that may be shared copy-on-write (with a parent or child)
 * makes the kernel give this process its own copy: the dump would silently
 * double the memory of a forked tree.  Pages not mapped exclusively are
 * read through /proc/PID/mem instead, which does not pin. */
static int copy_run(struct page_writer *w, uint64_t addr, size_t len, bool readable)
{
	uint64_t ents[512];
	if (!readable)
		return copy_span(w, addr, len, false);
	for (uint64_t pos = addr, end = addr + len; pos < end;) {
		size_t n = MIN(ARRAY_SIZE(ents), (end - pos) / PAGE_SIZE);
		ssize_t got = pread(w->pm_fd, ents, n * 8, (pos / PAGE_SIZE) * 8);
		if (got != (ssize_t)(n * 8))
			return read_error(w, pos, n * PAGE_SIZE, got < 0 ? errno : EIO);
		for (size_t i = 0; i < n;) {
			bool excl = ents[i] & PM_EXCLUSIVE;
			size_t j = i + 1;
			while (j < n && !!(ents[j] & PM_EXCLUSIVE) == excl)
				j++;
			int ret = copy_span(w, pos + i * PAGE_SIZE, (j - i) * PAGE_SIZE, excl);
			if (ret)
				return ret;
			i = j;
		}
		pos += n * PAGE_SIZE;
	}
	return 0;
}

void mem_page_runs_free(struct mem_page_runs *r)
{
	free(r->start);
	free(r->end);
	memset(r, 0, sizeof(*r));
}

int mem_page_runs_add(struct mem_page_runs *r, uint64_t start, uint64_t end)
{
	if (r->n && r->end[r->n - 1] == start) {
		r->end[r->n - 1] = end;
		return 0;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		uint64_t *s = xrealloc(r->start, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		r->start = s;
		uint64_t *e = xrealloc(r->end, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		r->end = e;
		r->cap = cap;
	}
	r->start[r->n] = start;
	r->end[r->n] = end;
	r->n++;
	return 0;
}

/* One pagemap entry: written pages (PE_PRESENT, copied to the sink) or
 * pages left to the parent's image (cow_parent). */
static int emit_one(struct page_writer *w, uint64_t start, uint64_t npages, bool readable,
		    bool cow)
{
	struct page_run run = { .vaddr = start, .nr_pages = npages,
				.flags = cow ? 0 : PE_PRESENT, .cow_parent = cow };
	int ret = w->sink->ops->add_run(w->sink, &run);
	if (ret < 0)
		return ret;
	bool skip = ret == PAGE_SINK_SKIP;
	ret = 0;
	/* pages the sink left to the previous dump (PE_PARENT) are a source
	 * for the children's cow_parent entries too: the restore resolves
	 * a cow_parent run in the parent's source, and that one down its
	 * chain of previous dumps */
	if (w->runs)
		ret = mem_page_runs_add(w->runs, start, start + npages * PAGE_SIZE);
	if (ret || cow || skip) {
		w->cow_pages += cow ? npages : 0;
		w->prev_pages += skip && !cow ? npages : 0;
		return ret;
	}
	return copy_run(w, start, npages * PAGE_SIZE, readable);
}

/* The same, split where the sink's answer changes (an incremental sink:
 * pages the previous dump holds). */
static int emit_entry(struct page_writer *w, uint64_t start, uint64_t npages, bool readable,
		      bool cow)
{
	if (cow || !w->sink->ops->run_end)
		return emit_one(w, start, npages, readable, cow);
	for (uint64_t end = start + npages * PAGE_SIZE; start < end;) {
		uint64_t e = w->sink->ops->run_end(w->sink, start, end);
		if (e <= start || e > end)
			e = end;
		int ret = emit_one(w, start, (e - start) / PAGE_SIZE, readable, false);
		if (ret)
			return ret;
		start = e;
	}
	return 0;
}

/* True if the parent's image holds the page at @addr (asked in increasing
 * address order). */
static bool parent_has(struct page_writer *w, uint64_t addr)
{
	const struct mem_page_runs *r = w->pruns;
	while (w->prun_at < r->n && r->end[w->prun_at] <= addr)
		w->prun_at++;
	return w->prun_at < r->n && r->start[w->prun_at] <= addr;
}

/* The pages of a child that are still its parent's: the same physical page
 * (PFN, which pagemap shows to CAP_SYS_ADMIN only: 0 otherwise) mapped at
 * the same address in both, not exclusively.  Both are frozen, so a page
 * can't be written (which would break the sharing) while we look. */
static int emit_run_cow(struct page_writer *w, uint64_t start, uint64_t npages, bool readable)
{
	uint64_t ce[512], pe[512];
	uint64_t seg = start, segn = 0;
	bool segcow = false;
	for (uint64_t pos = start, end = start + npages * PAGE_SIZE; pos < end;) {
		size_t n = MIN(ARRAY_SIZE(ce), (end - pos) / PAGE_SIZE);
		ssize_t got = pread(w->pm_fd, ce, n * 8, (pos / PAGE_SIZE) * 8);
		if (got != (ssize_t)(n * 8))
			return read_error(w, pos, n * PAGE_SIZE, got < 0 ? errno : EIO);
		got = pread(w->ppm_fd, pe, n * 8, (pos / PAGE_SIZE) * 8);
		if (got < 0 || got % 8)
			return read_error(w, pos, n * PAGE_SIZE, got < 0 ? errno : EIO);
		for (size_t i = 0; i < n; i++, pos += PAGE_SIZE) {
			bool cow = i < (size_t)got / 8 && pm_page_cow_shared(ce[i], pe[i]) &&
				   parent_has(w, pos);
			if (segn && cow != segcow) {
				int ret = emit_entry(w, seg, segn, readable, segcow);
				if (ret)
					return ret;
				segn = 0;
			}
			if (!segn) {
				seg = pos;
				segcow = cow;
			}
			segn++;
		}
	}
	return segn ? emit_entry(w, seg, segn, readable, segcow) : 0;
}

/* Pagemap entries are written as the runs are found. */
static int emit_run(struct page_writer *w, const VmaEntry *v, uint64_t start, uint64_t npages,
		    bool readable)
{
	if (w->ppm_fd >= 0 && !(v->status & VMA_AREA_VDSO))
		return emit_run_cow(w, start, npages, readable);
	return emit_entry(w, start, npages, readable, false);
}

/* ---- which pages: PAGEMAP_SCAN ---- */

/* Returns 0, -ENOTTY/-EINVAL if the ioctl can't be used (not logged: the
 * caller falls back to reading pagemap), or another error (logged). */
static int scan_vma_pages(struct page_writer *w, int pm_fd, const VmaEntry *v,
			  struct mem_dump_stats *st)
{
	struct page_region *vec = w->pd->vec;
	bool readable = v->prot & PROT_READ;
	uint64_t run_start = 0, run_end = 0;
	/* guard markers count as swapped: leave them out (guard.c records them) */
	uint64_t guard = pagemap_scan_has_guard() ? PAGE_IS_GUARD : 0;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = v->start,
		.end = v->end,
		.vec = (uintptr_t)vec,
		.vec_len = SCAN_REGIONS,
		/* not the zero page, and in private file mappings not a page
		 * of the file itself (only the private copies) */
		.category_inverted = PAGE_IS_PFNZERO | PAGE_IS_FILE | PAGE_IS_GUARD,
		.category_mask = PAGE_IS_PFNZERO |
				 (v->status & (VMA_ANON_PRIVATE | VMA_AREA_VDSO) ? 0 : PAGE_IS_FILE),
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};
	a.category_mask |= guard;

	while (a.start < v->end) {
		long n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			int e = errno;
			if ((e == ENOTTY || e == EINVAL) && a.start == v->start)
				return -e;
			pr_err("PAGEMAP_SCAN of process %d at 0x%llx failed: %s", w->pid,
			       (unsigned long long)a.start, strerror(e));
			return -e;
		}
		for (long i = 0; i < n; i++) {
			/* present and swapped runs come apart: join them */
			if (run_end && vec[i].start == run_end) {
				run_end = vec[i].end;
				continue;
			}
			if (run_end) {
				int ret = emit_run(w, v, run_start, (run_end - run_start) / PAGE_SIZE,
						   readable);
				if (ret)
					return ret;
			}
			run_start = vec[i].start;
			run_end = vec[i].end;
		}
		if (a.walk_end <= a.start || a.walk_end > v->end) {
			pr_err("PAGEMAP_SCAN of process %d stopped at 0x%llx, outside 0x%llx-0x%llx",
			       w->pid, (unsigned long long)a.walk_end, (unsigned long long)a.start,
			       (unsigned long long)v->end);
			return -EIO;
		}
		a.start = a.walk_end;
	}
	st->pages_scanned += (v->end - v->start) / PAGE_SIZE;
	if (run_end)
		return emit_run(w, v, run_start, (run_end - run_start) / PAGE_SIZE, readable);
	return 0;
}

/* ---- which pages: reading pagemap ---- */

static int read_vma_pages(struct page_writer *w, int pm_fd, const VmaEntry *v,
			  struct mem_dump_stats *st)
{
	const size_t batch = PM_BATCH;
	uint64_t *ents = w->pd->ents;
	uint64_t guard = PM_GUARD_REGION;	/* a guard marker, not a swapped page */
	uint64_t zpfn = zero_pfn();
	bool anon = v->status & (VMA_ANON_PRIVATE | VMA_AREA_VDSO);	/* vDSO: all its pages */
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
			if (pm_page_saved(ents[i], anon, zpfn, guard)) {
				if (!run_len)
					run_start = addr;
				run_len++;
				continue;
			}
			if (run_len) {
				int ret = emit_run(w, v, run_start, run_len, readable);
				if (ret)
					return ret;
				run_len = 0;
			}
		}
	}
	if (run_len)
		return emit_run(w, v, run_start, run_len, readable);
	return 0;
}

/* Finish the image: the last chunk, then wait for the writer. */
static int writer_finish(struct page_writer *w, int ret)
{
	if (!ret)
		ret = flush_reads(w);
	if (!ret)
		ret = chunk_submit(w, true);
	if (w->thread_on) {
		pthread_mutex_lock(&w->lock);
		w->closing = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->thread_on = false;
		if (!ret)
			ret = w->werr;
	}
	return ret;
}

int mem_dump_pages(struct page_dump *pd, pid_t pid, pid_t img_pid, const MmEntry *mm, uint32_t pages_id,
		   pid_t ppid, const struct mem_page_runs *parent_runs,
		   struct mem_page_runs *runs, struct mem_dump_stats *stats)
{
	struct page_writer w = { .pd = pd, .sink = pd->sink, .pid = pid, .mem_fd = -1,
				 .ppm_fd = -1, .pruns = parent_runs, .runs = runs };
	char path[64];
	int pm_fd = -1, ret;
	bool sink_open = false;
	uint64_t t0 = now_ns();
	pr_debug("process %d: saving pages", pid);
	bool scan = kdat_has(KF_PAGEMAP_SCAN);

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return_perror("can't open %s", path);
	w.pm_fd = pm_fd;
	if (ppid && parent_runs && parent_runs->n && !w.sink->no_cow_parent) {
		/* no parent pagemap: every page is written, as without a parent */
		snprintf(path, sizeof(path), "/proc/%d/pagemap", ppid);
		w.ppm_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (w.ppm_fd < 0)
			pr_warn("can't open %s (%s): the pages process %d shares with it are "
				"saved again", path, strerror(errno), pid);
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	w.mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (w.mem_fd < 0) {
		ret = -errno;
		pr_perror("can't open %s", path);
		goto out;
	}
	ret = chunk_alloc(&w, &w.chunks[0]);
	if (ret)
		goto out;
	ret = w.sink->ops->open(w.sink, img_pid, pages_id);
	if (ret)
		goto out;
	sink_open = true;

	for (size_t i = 0; !ret && i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		/* the vDSO is saved too (as CRIU does): restoring on another
		 * kernel maps it back as a proxy (vdso.c) */
		if (!vma_has_private_pages(v) && !(v->status & VMA_AREA_VDSO))
			continue;
		/* every page of it, mapped in yet or not: a proxy needs the
		 * whole ELF image (its section headers sit at the end) */
		if (v->status & VMA_AREA_VDSO) {
			stats->pages_scanned += (v->end - v->start) / PAGE_SIZE;
			ret = emit_run(&w, v, v->start, (v->end - v->start) / PAGE_SIZE,
				       v->prot & PROT_READ);
			continue;
		}
		if (scan) {
			ret = scan_vma_pages(&w, pm_fd, v, stats);
			if (ret != -ENOTTY && ret != -EINVAL)
				continue;
			pr_warn("PAGEMAP_SCAN doesn't work on process %d (%s): reading its pagemap",
				pid, strerror(-ret));
			scan = false;
		}
		ret = read_vma_pages(&w, pm_fd, v, stats);
	}
	ret = writer_finish(&w, ret);
out:
	if (sink_open) {
		if (ret) {
			w.sink->ops->abort(w.sink);
		} else {
			ret = w.sink->ops->finish(w.sink);
		}
	}
	stats->pages_written += w.written / PAGE_SIZE;
	stats->pages_cow += w.cow_pages;
	stats->pages_prev += w.prev_pages;
	stats->memwrite_ns += w.write_ns;
	if (w.prev_pages)
		pr_debug("process %d: %llu pages left to the previous dump's images", pid,
			 (unsigned long long)w.prev_pages);
	if (w.cow_pages)
		pr_debug("process %d: %llu pages left to the image of its parent %d", pid,
			 (unsigned long long)w.cow_pages, ppid);
	if (w.ppm_fd >= 0)
		close(w.ppm_fd);
	stats->memdump_ns += now_ns() - t0;
	if (w.mem_fd >= 0)
		close(w.mem_fd);
	close(pm_fd);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	return ret;
}
