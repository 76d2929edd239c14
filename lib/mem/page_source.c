/* The page source of local images: pagemap-PID.img's entries, the contents
 * of the process's own runs in pages-N.img (in entry order), and the
 * sources its other runs point at.  See page_source.h. */
#include "mem/page_source.h"
#include "mem/lazy.h"
#include "mem/mem.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum page_kind entry_kind(const PagemapEntry *pe)
{
	unsigned f = pe->has_flags ? pe->flags : 0;
	if (pe->has_cow_parent && pe->cow_parent)
		return PAGE_COW;
	if ((f & PE_PARENT) || (pe->has_in_parent && pe->in_parent))	/* in_parent: old criu */
		return PAGE_PREV;
	if (f & PE_LAZY)
		return PAGE_LAZY;
	return PAGE_OWN;
}

/* Does the entry's data take room in the pages file?  As criu counts:
 * PE_PRESENT entries (and, in entries with no flags, every one that is
 * not the parent's). */
static bool entry_in_file(const PagemapEntry *pe)
{
	enum page_kind k = entry_kind(pe);
	return k == PAGE_OWN || (k == PAGE_LAZY && (pe->flags & PE_PRESENT));
}

static uint64_t entry_end(const PagemapEntry *pe)
{
	return pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE;
}

/* The entry holding @addr, -1 if none.  Tried first: the entry of the last
 * call and the next one (fills and comparisons go in address order). */
static int find_entry(struct page_source *ps, uint64_t addr)
{
	const struct mem_image *mi = ps->mi;
	for (int i = ps->cursor; i < mi->n_pe && i <= ps->cursor + 1; i++) {
		if (addr < mi->pe[i]->vaddr)
			break;
		if (addr < entry_end(mi->pe[i]))
			return ps->cursor = i;
	}
	int lo = 0, hi = mi->n_pe - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const PagemapEntry *pe = mi->pe[mid];
		if (addr < pe->vaddr)
			hi = mid - 1;
		else if (addr >= entry_end(pe))
			lo = mid + 1;
		else
			return ps->cursor = mid;
	}
	return -1;
}

enum page_kind page_source_kind(struct page_source *ps, uint64_t addr, int *entry,
				 uint64_t *off)
{
	int i = find_entry(ps, addr);
	*entry = i;
	if (i < 0)
		return PAGE_ABSENT;
	const PagemapEntry *pe = ps->mi->pe[i];
	*off = ps->off[i] + (addr - pe->vaddr);
	return entry_kind(pe);
}

static int local_locate(struct page_source *ps, uint64_t addr, struct page_loc *loc)
{
	int i;
	uint64_t off;
	struct page_source *next;
	switch (page_source_kind(ps, addr, &i, &off)) {
	case PAGE_OWN:
		if (ps->fd < 0)
			return -ENOENT;
		*loc = (struct page_loc){ ps->fd, off, entry_end(ps->mi->pe[i]) - addr };
		return 0;
	case PAGE_PREV:
		next = ps->parent;
		break;
	case PAGE_COW:
		next = ps->cow;
		break;
	default:
		return -ENOENT;
	}
	if (!next)
		return -ENOENT;
	uint64_t end = entry_end(ps->mi->pe[i]);
	int ret = page_source_locate(next, addr, loc);
	if (!ret)
		loc->len = MIN(loc->len, end - addr);
	return ret;
}

static int local_read(struct page_source *ps, uint64_t addr, void *buf, size_t len)
{
	while (len) {
		struct page_loc loc;
		if (local_locate(ps, addr, &loc)) {
			pr_err("pagemap image: no source holds the page at 0x%llx",
			       (unsigned long long)addr);
			return -EINVAL;
		}
		size_t n = MIN(len, loc.len);
		ssize_t got = pread(loc.fd, buf, n, loc.off);
		if (got != (ssize_t)n) {
			int e = got < 0 ? errno : EIO;
			pr_err("can't read pages-*.img at offset %llu for 0x%llx: %s",
			       (unsigned long long)loc.off, (unsigned long long)addr, strerror(e));
			return -e;
		}
		buf = (char *)buf + n;
		addr += n;
		len -= n;
	}
	return 0;
}

static void local_fini(struct page_source *ps)
{
	free(ps->off);
	ps->off = NULL;
}

static const struct page_source_ops local_ops = {
	.locate = local_locate,
	.read = local_read,
	.fini = local_fini,
};

int page_source_local(struct page_source *ps, const struct mem_image *mi, int fd)
{
	*ps = (struct page_source){ .ops = &local_ops, .mi = mi, .fd = fd };
	ps->off = xmalloc(sizeof(*ps->off) * (mi->n_pe + 1));
	if (!ps->off)
		return -ENOMEM;
	uint64_t off = 0;
	for (int i = 0; i < mi->n_pe; i++) {
		const PagemapEntry *pe = mi->pe[i];
		uint64_t len = (uint64_t)pe->nr_pages * PAGE_SIZE;
		if ((pe->vaddr & (PAGE_SIZE - 1)) || !pe->nr_pages || pe->vaddr + len < pe->vaddr) {
			pr_err("pagemap image: invalid entry 0x%llx (%u pages)",
			       (unsigned long long)pe->vaddr, pe->nr_pages);
			goto inval;
		}
		if (entry_kind(pe) == PAGE_COW && pe->has_flags && (pe->flags & PE_PRESENT)) {
			pr_err("pagemap image: the entry at 0x%llx is both in the pages image and "
			       "its parent's", (unsigned long long)pe->vaddr);
			goto inval;
		}
		if (i && pe->vaddr < entry_end(mi->pe[i - 1])) {
			pr_err("pagemap image: entries are not sorted at 0x%llx",
			       (unsigned long long)pe->vaddr);
			goto inval;
		}
		ps->off[i] = off;
		if (entry_in_file(pe))
			off += len;
	}
	return 0;
inval:
	local_fini(ps);
	return -EINVAL;
}

void page_source_fini(struct page_source *ps)
{
	if (ps->ops && ps->ops->fini)
		ps->ops->fini(ps);
}

/* Every page of [@a, @e) must be held down the chain of previous dumps
 * from @ps: by a dump's own pages file, not a cow_parent or lazy run. */
static int check_prev(struct page_source *ps, int pid, unsigned long long a, unsigned long long e)
{
	for (unsigned long long addr = a; addr < e; addr += PAGE_SIZE) {
		struct page_source *s = ps;
		int depth = 1, i;
		uint64_t off;
		enum page_kind k;
		while ((k = page_source_kind(s, addr, &i, &off)) == PAGE_PREV && s->parent) {
			s = s->parent;
			depth++;
		}
		if (k == PAGE_OWN)
			continue;
		pr_err("pagemap-%d.img: the page at 0x%llx is in a previous dump's images "
		       "(PE_PARENT), but the previous dump %d levels down %s: the chain of "
		       "--prev-images-dir dumps is incomplete or not the one this dump was made on",
		       pid, addr, depth,
		       k == PAGE_ABSENT ? "has no such page" :
		       k == PAGE_PREV ? "points further back and has no parent link" :
		       "holds it as a cow_parent or lazy page");
		return -EINVAL;
	}
	return 0;
}

int page_source_check(struct page_source *ps, int pid)
{
	const struct mem_image *mi = ps->mi;
	for (int i = 0; i < mi->n_pe; i++) {
		const PagemapEntry *pe = mi->pe[i];
		unsigned long long a = pe->vaddr, e = entry_end(pe);
		switch (entry_kind(pe)) {
		case PAGE_COW:
			if (ps->cow)
				break;
			pr_err("pagemap entry at 0x%llx refers to the parent process's pages, but "
			       "task %d is restored without a parent", a, pid);
			return -EINVAL;
		case PAGE_PREV:
			if (ps->parent) {
				int ret = check_prev(ps->parent, pid, a, e);
				if (ret)
					return ret;
				break;
			}
			pr_err("pagemap-%d.img: the pages 0x%llx-0x%llx are in the parent dump's "
			       "images (PE_PARENT: an incremental dump, criu --prev-images-dir), but "
			       "the images directory has no \"parent\" link to the previous dump (or "
			       "that dump has no pages of process %d): restore from the directory the "
			       "dump wrote, with its previous dumps where it left them", pid, a, e, pid);
			return -EINVAL;
		case PAGE_LAZY:
			/* restore --lazy-pages: the daemon asks the dump for them */
			if (mi->lazy && lazy_addr(mi, a) && lazy_addr(mi, e - PAGE_SIZE))
				break;
			pr_err("pagemap-%d.img: the pages 0x%llx-0x%llx are lazy (PE_LAZY: served "
			       "by a page server on faults), which cryo can't restore yet without "
			       "--lazy-pages: restore with --lazy-pages and a `cryo lazy-pages "
			       "--page-server` asking the dump for them", pid, a, e);
			return -EOPNOTSUPP;
		default:
			break;
		}
	}
	return 0;
}
