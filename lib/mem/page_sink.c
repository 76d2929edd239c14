/* The page sink of an images directory: pagemap-PID.img (a PagemapHead,
 * then one PagemapEntry per run) and pages-N.img (the raw contents of the
 * PE_PRESENT runs, in entry order).  See page_sink.h. */
#include "mem/page_sink.h"
#include "mem/mem.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct local_sink {
	struct page_sink s;
	int dirfd;		/* not owned */
	struct cr_img *pagemap, *pages;
	int out_fd;		/* pages-N.img */
};

static struct local_sink *local(struct page_sink *s)
{
	return (struct local_sink *)s;
}

static int close_imgs(struct local_sink *l)
{
	int ret = 0;
	if (l->pages) {
		ret = img_close(l->pages);
		l->pages = NULL;
	}
	if (l->pagemap) {
		int r = img_close(l->pagemap);
		ret = ret ? ret : r;
		l->pagemap = NULL;
	}
	l->out_fd = -1;
	return ret;
}

static int open_imgs(struct local_sink *l, enum img_type type, uint64_t id, uint32_t pages_id)
{
	int ret = img_open(&l->pagemap, l->dirfd, type, IMG_WRITE, id);
	if (!ret)
		ret = img_open(&l->pages, l->dirfd, IMG_PAGES, IMG_WRITE, pages_id);
	if (ret) {
		close_imgs(l);
		return ret;
	}
	l->out_fd = img_raw_fd(l->pages);

	PagemapHead ph = PAGEMAP_HEAD__INIT;
	ph.has_pages_id = 1;
	ph.pages_id = pages_id;
	ret = img_write_msg(l->pagemap, &ph.base);
	if (ret)
		close_imgs(l);
	return ret;
}

static int local_open(struct page_sink *s, pid_t pid, uint32_t pages_id)
{
	s->pid = pid;
	return open_imgs(local(s), IMG_PAGEMAP, pid, pages_id);
}

static int local_open_shmem(struct page_sink *s, uint64_t shmid, uint32_t pages_id)
{
	s->pid = 0;
	return open_imgs(local(s), IMG_SHMEM_PAGEMAP, shmid, pages_id);
}

static int local_add_run(struct page_sink *s, const struct page_run *run)
{
	PagemapEntry pe = PAGEMAP_ENTRY__INIT;
	pe.has_vaddr = pe.has_nr_pages = pe.has_flags = 1;
	pe.vaddr = run->vaddr;
	pe.nr_pages = run->nr_pages;
	pe.flags = run->flags;
	pe.has_cow_parent = pe.cow_parent = run->cow_parent;
	return img_write_msg(local(s)->pagemap, &pe.base);
}

/* Called from the dump's writer thread. */
static int local_write(struct page_sink *s, const void *buf, size_t len)
{
	int ret = write_all(local(s)->out_fd, buf, len);
	if (ret && s->pid)
		log_errno(ret, "can't write pages of process %d to the image", s->pid);
	else if (ret)
		log_errno(ret, "can't write the pages of a shared memory object to the image");
	return ret;
}

static int local_finish(struct page_sink *s)
{
	return close_imgs(local(s));
}

/* The half-written images stay: without inventory.img the directory is no
 * dump, and the next dump replaces them. */
static void local_abort(struct page_sink *s)
{
	close_imgs(local(s));
}

static void local_destroy(struct page_sink *s)
{
	close_imgs(local(s));
	free(s);
}

static const struct page_sink_ops local_ops = {
	.open = local_open,
	.add_run = local_add_run,
	.write = local_write,
	.finish = local_finish,
	.abort = local_abort,
	.destroy = local_destroy,
	.open_shmem = local_open_shmem,
};

int page_sink_local(int dirfd, struct page_sink **out)
{
	struct local_sink *l = xzalloc(sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->s.ops = &local_ops;
	l->dirfd = dirfd;
	l->out_fd = -1;
	*out = &l->s;
	return 0;
}

/* ---- the incremental sink: PE_PARENT for pages the previous dump has ---- */

struct incr_sink {
	struct page_sink s;
	struct page_sink *inner;
	int prev_dirfd;			/* not owned */
	struct mem_page_runs clean;	/* for the next open */
	struct mem_page_runs skip;	/* the open process's: clean and in the previous dump */
	size_t at;			/* cursor in @skip (runs come in address order) */
};

static struct incr_sink *incr(struct page_sink *s)
{
	return (struct incr_sink *)s;
}

/* The runs of [a] that are also in [b] (both sorted, disjoint). */
static int intersect(const struct mem_page_runs *a, const struct mem_page_runs *b,
		     struct mem_page_runs *out)
{
	size_t i = 0, j = 0;
	while (i < a->n && j < b->n) {
		uint64_t s = MAX(a->start[i], b->start[j]), e = MIN(a->end[i], b->end[j]);
		if (s < e) {
			int ret = mem_page_runs_add(out, s, e);
			if (ret)
				return ret;
		}
		if (a->end[i] < b->end[j])
			i++;
		else
			j++;
	}
	return 0;
}

static int incr_open(struct page_sink *s, pid_t pid, uint32_t pages_id)
{
	struct incr_sink *x = incr(s);
	struct mem_image prev;
	struct mem_page_runs held = { 0 };
	s->pid = pid;
	mem_page_runs_free(&x->skip);
	x->at = 0;
	memset(&prev, 0, sizeof(prev));
	/* a process the previous dump did not have: nothing to skip */
	int ret = mem_pagemap_load(x->prev_dirfd, pid, &prev, true);
	if (ret == -ENOENT)
		ret = 0;
	for (int i = 0; !ret && i < prev.n_pe; i++) {
		const PagemapEntry *pe = prev.pe[i];
		bool cow = pe->has_cow_parent && pe->cow_parent;
		unsigned f = pe->has_flags ? pe->flags : 0;
		if (!cow && (f & (PE_PRESENT | PE_PARENT)))
			ret = mem_page_runs_add(&held, pe->vaddr,
						pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE);
	}
	if (!ret)
		ret = intersect(&x->clean, &held, &x->skip);
	mem_image_free(&prev);
	mem_page_runs_free(&held);
	mem_page_runs_free(&x->clean);
	if (!ret)
		ret = x->inner->ops->open(x->inner, pid, pages_id);
	return ret;
}

/* Is @addr in a skipped run (*@end: where the answer changes)? */
static bool incr_in_skip(struct incr_sink *x, uint64_t addr, uint64_t *end)
{
	const struct mem_page_runs *r = &x->skip;
	while (x->at < r->n && r->end[x->at] <= addr)
		x->at++;
	if (x->at < r->n && r->start[x->at] <= addr) {
		*end = r->end[x->at];
		return true;
	}
	*end = x->at < r->n ? r->start[x->at] : UINT64_MAX;
	return false;
}

static uint64_t incr_run_end(struct page_sink *s, uint64_t addr, uint64_t end)
{
	uint64_t e;
	incr_in_skip(incr(s), addr, &e);
	return MIN(e, end);
}

static int incr_add_run(struct page_sink *s, const struct page_run *run)
{
	struct incr_sink *x = incr(s);
	uint64_t e;
	if (!(run->flags & PE_PRESENT) || run->cow_parent || !incr_in_skip(x, run->vaddr, &e))
		return x->inner->ops->add_run(x->inner, run);
	/* the walk split its runs at run_end(): all of it is the parent's */
	struct page_run pr = { .vaddr = run->vaddr, .nr_pages = run->nr_pages, .flags = PE_PARENT };
	int ret = x->inner->ops->add_run(x->inner, &pr);
	return ret ? ret : PAGE_SINK_SKIP;
}

static int incr_write(struct page_sink *s, const void *buf, size_t len)
{
	return incr(s)->inner->ops->write(incr(s)->inner, buf, len);
}

static int incr_finish(struct page_sink *s)
{
	mem_page_runs_free(&incr(s)->skip);
	return incr(s)->inner->ops->finish(incr(s)->inner);
}

static void incr_abort(struct page_sink *s)
{
	mem_page_runs_free(&incr(s)->skip);
	incr(s)->inner->ops->abort(incr(s)->inner);
}

/* Shared memory has no previous-dump tracking: all of it goes through. */
static int incr_open_shmem(struct page_sink *s, uint64_t shmid, uint32_t pages_id)
{
	struct incr_sink *x = incr(s);
	mem_page_runs_free(&x->skip);
	x->at = 0;
	if (!x->inner->ops->open_shmem)
		return -EOPNOTSUPP;
	return x->inner->ops->open_shmem(x->inner, shmid, pages_id);
}

static int incr_end(struct page_sink *s)
{
	struct page_sink *in = incr(s)->inner;
	return in->ops->end ? in->ops->end(in) : 0;
}

static void incr_destroy(struct page_sink *s)
{
	struct incr_sink *x = incr(s);
	page_sink_destroy(x->inner);
	mem_page_runs_free(&x->skip);
	mem_page_runs_free(&x->clean);
	free(x);
}

static const struct page_sink_ops incr_ops = {
	.open = incr_open,
	.add_run = incr_add_run,
	.run_end = incr_run_end,
	.write = incr_write,
	.finish = incr_finish,
	.abort = incr_abort,
	.destroy = incr_destroy,
	.open_shmem = incr_open_shmem,
	.end = incr_end,
};

int page_sink_incremental(struct page_sink *inner, int prev_dirfd, struct page_sink **out)
{
	struct incr_sink *x = xzalloc(sizeof(*x));
	if (!x) {
		page_sink_destroy(inner);
		return -ENOMEM;
	}
	x->s.ops = &incr_ops;
	x->s.no_cow_parent = inner->no_cow_parent;
	x->inner = inner;
	x->prev_dirfd = prev_dirfd;
	*out = &x->s;
	return 0;
}

void page_sink_set_clean(struct page_sink *s, struct mem_page_runs *clean)
{
	struct incr_sink *x = incr(s);
	if (s->ops != &incr_ops)
		return;
	mem_page_runs_free(&x->clean);
	x->clean = *clean;
	memset(clean, 0, sizeof(*clean));
}
