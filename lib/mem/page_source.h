/* Where a restore's pages come from: the page source.
 *
 * A process's pagemap (struct mem_image) lists runs of pages; a source says
 * where each run's contents are.  The fill (pages_restore.c) asks, in
 * address order:
 *
 *   locate(addr)    a file that the restored task has open (at the same
 *                   number as cryo), the offset of the page at @addr in it
 *                   and how many bytes from there are contiguous: the task
 *                   then preads them itself, one copy straight into its
 *                   memory (the fast path of local images);
 *   read(addr, buf) the contents copied into cryo's buffer, for sources the
 *                   task can't read itself (a page server's socket: criu's
 *                   PS_IOV_GET); the fill then writes them through
 *                   /proc/PID/mem.  A source without locate() is read this
 *                   way throughout.
 *
 * Today's source is the local file (pagemap-PID.img + pages-N.img).  Its
 * runs may point elsewhere:
 *   - PE_PARENT (an incremental dump: pages unchanged since the previous
 *     dump, criu's --prev-images-dir and "parent" link): resolved in
 *     @parent, the same process's source in the previous dump, whose own
 *     PE_PARENT runs go on down the chain (page_prevs_open());
 *   - cow_parent (cryo extension): the parent process's own pages, resolved
 *     in @cow, the parent process's source (mem_inherit.c keeps them as the
 *     child inherits them where it can);
 *   - PE_LAZY: pages a lazy-pages daemon serves on userfaultfd faults.  A
 *     lazy source would leave such runs unfilled and register them with the
 *     task's userfaultfd instead; refused today.
 *
 * criu's struct page_read (pagemap.h: seek_pagemap, read_pages, a parent
 * page_read) is the same seam. */
#ifndef CRYO_MEM_PAGE_SOURCE_H
#define CRYO_MEM_PAGE_SOURCE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mem_image;

/* Where the pages from an address are. */
struct page_loc {
	int fd;			/* open in cryo and in the task at this number */
	uint64_t off;		/* of the page in @fd */
	uint64_t len;		/* bytes contiguous in memory and in @fd */
};

struct page_source;
struct page_source_ops {
	/* 0 and *@loc, or -ENOENT: the source has no page at @addr (not
	 * logged: the caller knows what was asked). */
	int (*locate)(struct page_source *ps, uint64_t addr, struct page_loc *loc);
	/* Copy [@addr, @addr+@len) into @buf (logs). */
	int (*read)(struct page_source *ps, uint64_t addr, void *buf, size_t len);
	void (*fini)(struct page_source *ps);
};

/* How an image holds a run (page_source_kind). */
enum page_kind {
	PAGE_ABSENT,		/* no page there */
	PAGE_OWN,		/* in the image's own pages file */
	PAGE_COW,		/* cow_parent: the parent process's */
	PAGE_PREV,		/* PE_PARENT: the previous dump's */
	PAGE_LAZY,		/* PE_LAZY: served on faults */
};

struct page_source {
	const struct page_source_ops *ops;
	const struct mem_image *mi;	/* the pagemap (not owned) */
	int fd;				/* pages-N.img (not owned), -1: none */
	struct page_source *parent;	/* PE_PARENT runs: the previous dump */
	struct page_source *cow;	/* cow_parent runs: the parent process */
	uint64_t *off;			/* each entry's offset in @fd (own runs) */
	int cursor;			/* the entry last located */
};

/* The local images of one process: @mi's entries, their contents in @fd
 * (open in the task at the same number).  Sets no parent or cow source. */
int page_source_local(struct page_source *ps, const struct mem_image *mi, int fd);
void page_source_fini(struct page_source *ps);

/* How @ps holds the page at @addr: *@entry gets its pagemap entry index,
 * *@off its offset in @ps->fd for PAGE_OWN.  Any order of addresses; the
 * fills, in address order, take O(1) per call. */
enum page_kind page_source_kind(struct page_source *ps, uint64_t addr, int *entry,
				 uint64_t *off);

/* Can every run of @ps be filled?  Logs (naming @pid and the run) and
 * fails for runs whose source is missing or not supported. */
int page_source_check(struct page_source *ps, int pid);

/* The previous dumps' images of process @pid (page_prev.c): @dirs, the
 * chain of previous dumps' directories (the parent first, as
 * img_dir_parents() opens them).  The chain ends early where a dump has
 * no pagemap of @pid.  page_prevs_head(): the source to set as the
 * process's source's @parent (NULL: none). */
struct page_prev;
struct page_prevs {
	struct page_prev *v;
	int n;
};
int page_prevs_open(const int *dirs, int ndirs, int pid, struct page_prevs *pp);
struct page_source *page_prevs_head(struct page_prevs *pp);
/* The pages files' descriptors (open in cryo and inherited by the tasks). */
int page_prevs_fd(const struct page_prevs *pp, int i);
void page_prevs_close(struct page_prevs *pp);

static inline int page_source_locate(struct page_source *ps, uint64_t addr,
				     struct page_loc *loc)
{
	return ps->ops->locate ? ps->ops->locate(ps, addr, loc) : -ENOENT;
}

#endif
