/* Memory of a child forked from its already-restored parent.
 *
 * The child starts with its parent's restored address space, shared
 * copy-on-write as after the original fork.  VMAs that are the same in
 * both images are kept, and so is every page of them whose image content
 * equals the parent's: those stay shared with the parent, as they were
 * before the dump.  The rest is fixed up: the parent's other VMAs are
 * unmapped, the child's own are mapped and filled, pages that differ are
 * read from the child's pages image, and pages the parent has but the
 * child had not are dropped (MADV_DONTNEED).
 *
 * In a lazy restore (lazy.h) the child's own pages of lazy VMAs, and
 * those it leaves to a previous dump (PE_PARENT), are left to the daemon:
 * they must be missing in the child, as they are in the parent where the
 * VMA is kept (the parent's own and previous dumps' pages there are lazy
 * too, hence missing); a page the parent has there (its parent's) is
 * dropped.  cow_parent pages the parent misses (its own or a previous
 * dump's, lazy) are read from the ancestor's image now. */
#include "mem/lazy.h"
#include "mem/mem.h"
#include "mem/page_source.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat/uapi-extra.h"

static bool same_vma(const VmaEntry *a, const VmaEntry *b)
{
	return a->start == b->start && a->end == b->end && a->prot == b->prot &&
	       a->flags == b->flags && a->status == b->status && a->shmid == b->shmid &&
	       a->pgoff == b->pgoff;
}

/* A parent VMA whose contents a fork does not pass on as they are.  An
 * AIO ring is the parent's context by now: the child's copy is a shared
 * mapping of it (writing the child's pages there would change the
 * parent's ring), and a child's own ring is made anew (aio.c). */
static bool not_inherited(const VmaEntry *v)
{
	uint64_t m = v->has_madv ? v->madv : 0;
	return (m & (1ULL << MADV_DONTFORK)) || (m & (1ULL << MADV_WIPEONFORK)) ||
	       (v->status & VMA_AREA_AIORING);
}

struct fixer {
	struct remote *r;
	struct remote_batch *b;
	const char *what;
	/* pages of VMAs that must not be made writable go through
	 * /proc/TID/mem from cryo, read from @src */
	const struct mem_image *mi;
	struct page_source *src;
	int mem_fd;
	char *buf;
};

static int flush(struct fixer *f)
{
	return remote_batch_exec(f->r, f->b, f->what);
}

static int add1(struct fixer *f, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	if (f->b->n == REMOTE_BATCH_MAX) {
		int ret = flush(f);
		if (ret)
			return ret;
	}
	f->b->calls[f->b->n++] = (struct remote_call){ nr, { a0, a1, a2, a3, 0, 0 }, 0 };
	return 0;
}

/* One read returns at most 2 GiB - 4 KiB: long preads go in 1 GiB chunks. */
static int add(struct fixer *f, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	const uint64_t chunk = 1ULL << 30;
	if (nr != __NR_pread64)
		return add1(f, nr, a0, a1, a2, a3);
	for (uint64_t done = 0; done < a2; done += chunk) {
		int ret = add1(f, nr, a0, a1 + done, MIN(chunk, a2 - done), a3 + done);
		if (ret)
			return ret;
	}
	return 0;
}

/* A page run to read from a pages image, grown page by page. */
struct fill_run {
	uint64_t start, len, off;
	int fd;
	bool forced;
};

/* The child's private VMA holding @addr, or NULL. */
static const VmaEntry *private_at(const MmEntry *cm, uint64_t addr)
{
	size_t lo = 0, hi = cm->n_vmas;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const VmaEntry *v = cm->vmas[mid];
		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return vma_has_private_pages(v) ? v : NULL;
	}
	return NULL;
}

/* Must the page at @addr be written from cryo?  Making its VMA writable
 * would charge it to overcommit accounting ("ac") where the dumped task's
 * was not (a read-only page written through /proc/PID/mem, a PROT_NONE
 * reservation): as for a new task (pages_restore.c). */
static bool forced_at(const struct fixer *f, uint64_t addr)
{
	const VmaEntry *v = private_at(f->mi->mm, addr);
	return v && !(v->prot & PROT_WRITE) && !vma_map_writable(f->mi, v);
}

static int run_emit(struct fixer *f, const struct fill_run *fr)
{
	if (!fr->forced)
		return add(f, __NR_pread64, fr->fd, fr->start, fr->len, fr->off);
	/* after what is queued (the VMA mapped, its guards removed) */
	int ret = flush(f);
	if (!ret)
		ret = pages_fill_forced(f->r, &f->mem_fd, &f->buf, f->src, fr->start, fr->len);
	return ret;
}

static int run_add(struct fixer *f, struct fill_run *fr, uint64_t addr, int fd, int64_t off)
{
	bool forced = off >= 0 && forced_at(f, addr);
	if (fr->len && fr->fd == fd && fr->forced == forced && fr->start + fr->len == addr &&
	    fr->off + fr->len == (uint64_t)off) {
		fr->len += PAGE_SIZE;
		return 0;
	}
	int ret = 0;
	if (fr->len)
		ret = run_emit(f, fr);
	fr->len = 0;
	if (off >= 0)
		*fr = (struct fill_run){ addr, PAGE_SIZE, off, fd, forced };
	return ret;
}

/* The child's VMA holding @addr if it is one kept from the parent, else
 * NULL (VMAs are in address order). */
static const VmaEntry *kept_at(const MmEntry *cm, const bool *kept, uint64_t addr)
{
	size_t lo = 0, hi = cm->n_vmas;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const VmaEntry *v = cm->vmas[mid];
		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return kept[mid] ? v : NULL;
	}
	return NULL;
}

int mem_restore_inherited(struct remote *r, const struct mem_source *self,
			  const struct mem_source *anc, int nanc,
			  const struct files_restore *fr,
			  struct shmem_registry *reg, struct mem_cow_stats *st,
			  int (*before_map)(void *arg), void *arg)
{
	const struct mem_image *cmi = self->mi;
	int pages_fd = self->pages_fd;
	const struct mem_image *pmi = anc[0].mi;
	int parent_pages_fd = anc[0].pages_fd;
	const MmEntry *cm = cmi->mm, *pm = pmi->mm;
	/* where pages are: the child's images, its cow_parent runs in the
	 * parent's, theirs in the grandparent's... */
	struct page_source cs = { 0 }, *as = xzalloc(sizeof(*as) * (nanc + 1));
	bool *kept = xzalloc(sizeof(bool) * (cm->n_vmas + 1));
	bool *pkept = xzalloc(sizeof(bool) * (pm->n_vmas + 1));
	struct remote_batch *b = xzalloc(sizeof(*b));
	char *cbuf = xmalloc(PAGE_SIZE), *pbuf = xmalloc(PAGE_SIZE);
	struct fixer f = { r, b, "restoring inherited memory", cmi, NULL, -1, NULL };
	VmaEntry **newv = xzalloc(sizeof(VmaEntry *) * (cm->n_vmas + 1));
	int ret = -ENOMEM;

	int nas = 0;
	if (!kept || !pkept || !b || !cbuf || !pbuf || !newv || !as)
		goto out;
	ret = page_source_local(&cs, cmi, pages_fd);
	cs.parent = self->prev;
	for (; !ret && nas < nanc; nas++) {
		ret = page_source_local(&as[nas], anc[nas].mi, anc[nas].pages_fd);
		as[nas].parent = anc[nas].prev;
		if (nas)
			as[nas - 1].cow = &as[nas];
	}
	cs.cow = as;
	f.src = &cs;
	if (!ret)
		ret = page_source_check(&cs, r->tid);
	if (ret)
		goto out;
	struct page_source *psrc = as;	/* the parent's */

	/* 1. Which VMAs the child keeps from its parent. */
	size_t nnew = 0;
	for (size_t i = 0; i < cm->n_vmas; i++) {
		const VmaEntry *v = cm->vmas[i];
		if (!(v->status & VMA_AREA_REGULAR) || vma_is_special(v))
			continue;
		for (size_t j = 0; j < pm->n_vmas && !kept[i]; j++)
			if (!pkept[j] && same_vma(v, pm->vmas[j]) && !not_inherited(pm->vmas[j]))
				kept[i] = pkept[j] = true;
		if (!kept[i])
			newv[nnew++] = cm->vmas[i];
	}
	/* 2. Drop the parent's VMAs the child has not. */
	for (size_t j = 0; j < pm->n_vmas && !ret; j++) {
		const VmaEntry *v = pm->vmas[j];
		if (!(v->status & VMA_AREA_REGULAR) || vma_is_special(v) || pkept[j])
			continue;
		ret = add(&f, __NR_munmap, v->start, v->end - v->start, 0, 0);
	}
	if (!ret)
		ret = flush(&f);
	/* The vDSO inherited from the parent goes where the child had its own
	 * (or away) now, before the child's VMAs are mapped: they may lie
	 * where the parent's vDSO is (MAP_FIXED_NOREPLACE would fail with
	 * EEXIST), and the child's vDSO where the parent had VMAs. */
	if (!ret && before_map)
		ret = before_map(arg);
	if (ret)
		goto out;

	/* 3. The child's own VMAs, mapped (and shared objects attached) as for
	 * a new task; their pages are filled below with the rest. */
	MmEntry sub = *cm;
	sub.vmas = newv;
	sub.n_vmas = nnew;
	struct mem_image submi = *cmi;
	submi.mm = &sub;
	submi.pe = NULL;
	submi.n_pe = 0;
	struct page_source none;	/* no pages: they are filled below */
	ret = page_source_local(&none, &submi, pages_fd);
	if (!ret)
		ret = mem_restore_vmas_shared(r, &submi, fr, &none, reg);
	page_source_fini(&none);
	if (ret)
		goto out;

	/* 4. Writable while fixing pages (only where there are pages, and not
	 * where that would charge a VMA the kernel had not charged to
	 * overcommit accounting: those pages go through /proc/TID/mem, see
	 * forced_at).  Guard regions
	 * the kept VMAs inherited go (the child's come back below): a page the
	 * parent guards may hold data in the child. */
	for (size_t i = 0; i < cm->n_vmas && !ret; i++) {
		const VmaEntry *v = cm->vmas[i];
		if (vma_has_private_pages(v) && !(v->prot & PROT_WRITE) &&
		    mem_image_has_pages(cmi, v->start, v->end) && vma_map_writable(cmi, v))
			ret = add(&f, __NR_mprotect, v->start, v->end - v->start, v->prot | PROT_WRITE, 0);
	}
	for (size_t j = 0; j < pm->n_vmas && !ret; j++) {
		const VmaEntry *v = pm->vmas[j];
		if (pkept[j] && v->n_guards)
			ret = add(&f, __NR_madvise, v->start, v->end - v->start, MADV_GUARD_REMOVE, 0);
	}

	/* 5. Pages: the child's own VMAs take all theirs; kept VMAs take only
	 * the pages that differ from the parent's.  A cow_parent page (the
	 * parent's own page at the dump) is kept as inherited, or, where the
	 * VMA is new, read from the nearest ancestor's image that holds it. */
	for (int i = 0; i < cmi->n_pe && !ret; i++) {
		struct fill_run run = { 0 };
		const PagemapEntry *pe = cmi->pe[i];
		bool cow = pe->has_cow_parent && pe->cow_parent;
		int unused_at;
		uint64_t unused_off;
		bool prev = !cow && page_source_kind(&cs, pe->vaddr, &unused_at, &unused_off) == PAGE_PREV;
		for (uint64_t k = 0; k < pe->nr_pages && !ret; k++) {
			uint64_t addr = pe->vaddr + k * PAGE_SIZE, off = cs.off[i] + k * PAGE_SIZE;
			const VmaEntry *kv = kept_at(cm, kept, addr);
			bool in_kept = kv && vma_has_private_pages(kv);
			int pe_at;
			uint64_t poff;
			enum page_kind pk = page_source_kind(psrc, addr, &pe_at, &poff);
			bool lz = lazy_addr(cmi, addr);
			if (addr >= cmi->vdso_start && addr < cmi->vdso_end) {
				/* this kernel's vDSO, or the parent's proxy */
				ret = run_add(&f, &run, addr, -1, -1);
			} else if (lz && !cow) {
				/* left to the daemon (a previous dump's too): missing
				 * unless the parent has it */
				ret = run_add(&f, &run, addr, -1, -1);
				if (!ret && in_kept && pk != PAGE_ABSENT && pk != PAGE_OWN)
					ret = add(&f, __NR_madvise, addr, PAGE_SIZE, MADV_DONTNEED, 0);
			} else if (cow && in_kept && !(lz && (pk == PAGE_OWN || pk == PAGE_PREV))) {
				if (pk == PAGE_ABSENT) {
					pr_err("pagemap image: the page at 0x%llx is marked as its "
					       "parent's, but the parent's image has none there",
					       (unsigned long long)addr);
					ret = -EINVAL;
					break;
				}
				st->pages_skipped_cow++;
				ret = run_add(&f, &run, addr, -1, -1);
			} else if (cow) {
				/* the nearest ancestor whose image holds it itself */
				struct page_loc loc;
				if (page_source_locate(&cs, addr, &loc)) {
					pr_err("pagemap image: the page at 0x%llx is marked as its "
					       "parent's, but no ancestor's image holds it",
					       (unsigned long long)addr);
					ret = -EINVAL;
					break;
				}
				ret = run_add(&f, &run, addr, loc.fd, loc.off);
			} else if (prev) {
				/* in a previous dump: wherever the chain holds it */
				struct page_loc loc;
				if (page_source_locate(&cs, addr, &loc)) {
					pr_err("pagemap image: no previous dump holds the page at 0x%llx",
					       (unsigned long long)addr);
					ret = -EINVAL;
					break;
				}
				ret = run_add(&f, &run, addr, loc.fd, loc.off);
			} else if (in_kept && pk == PAGE_OWN) {
				st->pages_compared++;
				if (pread(pages_fd, cbuf, PAGE_SIZE, off) != (ssize_t)PAGE_SIZE ||
				    pread(parent_pages_fd, pbuf, PAGE_SIZE, poff) != (ssize_t)PAGE_SIZE) {
					pr_err("can't read pages images to compare the page at 0x%llx",
					       (unsigned long long)addr);
					ret = -EIO;
					break;
				}
				bool same = memcmp(cbuf, pbuf, PAGE_SIZE) == 0;
				if (same)
					st->pages_skipped_cow++;
				ret = run_add(&f, &run, addr, pages_fd, same ? -1 : (int64_t)off);
			} else {
				ret = run_add(&f, &run, addr, pages_fd, off);
			}
		}
		if (!ret)
			ret = run_add(&f, &run, 0, -1, -1);
	}
	/* pread's arguments are (fd, buf, count, offset): a0 is the fd */

	/* 6. Pages the parent has in kept VMAs but the child had not. */
	for (int i = 0; i < pmi->n_pe && !ret; i++) {
		uint64_t run_start = 0, run_len = 0;
		const PagemapEntry *pe = pmi->pe[i];
		for (uint64_t k = 0; k <= pe->nr_pages && !ret; k++) {
			uint64_t addr = pe->vaddr + k * PAGE_SIZE, unused;
			int ce_at;
			bool drop = false;
			if (k < pe->nr_pages &&
			    page_source_kind(&cs, addr, &ce_at, &unused) == PAGE_ABSENT) {
				const VmaEntry *kv = kept_at(cm, kept, addr);
				drop = kv && vma_has_private_pages(kv);
			}
			if (drop && run_len && run_start + run_len * PAGE_SIZE == addr) {
				run_len++;
				continue;
			}
			if (run_len)
				ret = add(&f, __NR_madvise, run_start, run_len * PAGE_SIZE, MADV_DONTNEED, 0);
			run_len = 0;
			if (drop) {
				run_start = addr;
				run_len = 1;
			}
		}
	}

	/* 7. The kept VMAs' guard regions, then final protections and locks
	 * of kept VMAs (mlock is not inherited). */
	if (!ret)
		ret = mem_restore_guards(r, b, cm, kept);
	for (size_t i = 0; i < cm->n_vmas && !ret; i++) {
		const VmaEntry *v = cm->vmas[i];
		if (vma_has_private_pages(v) && !(v->prot & PROT_WRITE))
			ret = add(&f, __NR_mprotect, v->start, v->end - v->start, v->prot, 0);
		if (!ret && kept[i] && (v->flags & MAP_LOCKED)) {
			if (f.b->n == REMOTE_BATCH_MAX)
				ret = flush(&f);
			if (!ret)
				ret = vma_lock(r, f.b, v);
		}
	}
	if (!ret)
		ret = flush(&f);
out:
	if (f.mem_fd >= 0)
		close(f.mem_fd);
	free(f.buf);
	page_source_fini(&cs);
	for (int j = 0; j < nas; j++)
		page_source_fini(&as[j]);
	free(as);
	free(kept);
	free(pkept);
	free(newv);
	free(b);
	free(cbuf);
	free(pbuf);
	return ret;
}
