/* The page source of local images (lib/mem/page_source.c): where each page
 * of a pagemap comes from (own pages file, cow_parent, PE_PARENT chains),
 * the offsets the fill's preads use, and the refusals. */
#include "../unit.h"
#include "mem/mem.h"
#include "mem/page_source.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define P 4096ULL

static PagemapEntry *ent(uint64_t vaddr, uint32_t n, int flags, bool cow)
{
	PagemapEntry *pe = calloc(1, sizeof(*pe));
	pagemap_entry__init(pe);
	pe->has_vaddr = pe->has_nr_pages = 1;
	pe->vaddr = vaddr;
	pe->nr_pages = n;
	if (flags >= 0) {
		pe->has_flags = 1;
		pe->flags = flags;
	}
	pe->has_cow_parent = pe->cow_parent = cow;
	return pe;
}

static void image(struct mem_image *mi, PagemapEntry **pe, int n)
{
	memset(mi, 0, sizeof(*mi));
	mi->pe = pe;
	mi->n_pe = n;
}

static void image_free(struct mem_image *mi)
{
	for (int i = 0; i < mi->n_pe; i++)
		free(mi->pe[i]);
}

/* A pages file whose page k holds the byte @tag + k throughout. */
static int pages_file(int npages, int tag)
{
	char path[] = "/tmp/cryo-unit-pagesXXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	char buf[P];
	for (int k = 0; k < npages; k++) {
		memset(buf, tag + k, sizeof(buf));
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			abort();
	}
	return fd;
}

static void test_kinds_and_offsets(void)
{
	PagemapEntry *pe[] = {
		ent(0x10000, 2, PE_PRESENT, false),	/* file 0-1 */
		ent(0x12000, 1, 0, true),		/* the parent process's */
		ent(0x20000, 3, PE_PRESENT, false),	/* file 2-4 */
		ent(0x30000, 2, PE_PARENT, false),	/* the previous dump's */
		ent(0x40000, 1, -1, false),		/* no flags (old criu): in the file, 5 */
		ent(0x50000, 1, PE_LAZY, false),
	};
	struct mem_image mi;
	image(&mi, pe, 6);
	struct page_source ps;
	CHECK_INT(page_source_local(&ps, &mi, 7), 0);
	int e;
	uint64_t off = ~0ULL;
	CHECK_INT(page_source_kind(&ps, 0x10000, &e, &off), PAGE_OWN);
	CHECK_INT(e, 0);
	CHECK_INT(off, 0);
	CHECK_INT(page_source_kind(&ps, 0x11000, &e, &off), PAGE_OWN);
	CHECK_INT(off, P);
	CHECK_INT(page_source_kind(&ps, 0x12000, &e, &off), PAGE_COW);
	CHECK_INT(e, 1);
	CHECK_INT(page_source_kind(&ps, 0x13000, &e, &off), PAGE_ABSENT);
	CHECK_INT(e, -1);
	CHECK_INT(page_source_kind(&ps, 0x22000, &e, &off), PAGE_OWN);
	CHECK_INT(off, 4 * P);	/* the cow run takes no room */
	CHECK_INT(page_source_kind(&ps, 0x31000, &e, &off), PAGE_PREV);
	CHECK_INT(page_source_kind(&ps, 0x40000, &e, &off), PAGE_OWN);
	CHECK_INT(off, 5 * P);	/* nor does the PE_PARENT one */
	CHECK_INT(page_source_kind(&ps, 0x50000, &e, &off), PAGE_LAZY);
	CHECK_INT(page_source_kind(&ps, 0xf000, &e, &off), PAGE_ABSENT);
	CHECK_INT(page_source_kind(&ps, 0x51000, &e, &off), PAGE_ABSENT);
	/* backwards after forwards: the cursor does not stand in the way */
	CHECK_INT(page_source_kind(&ps, 0x11000, &e, &off), PAGE_OWN);
	CHECK_INT(e, 0);
	CHECK_INT(off, P);

	struct page_loc loc;
	CHECK_INT(page_source_locate(&ps, 0x21000, &loc), 0);
	CHECK_INT(loc.fd, 7);
	CHECK_INT(loc.off, 3 * P);
	CHECK_INT(loc.len, 2 * P);	/* to the end of the run */
	/* no previous dump, no parent process: nowhere to read those */
	CHECK_INT(page_source_locate(&ps, 0x30000, &loc), -ENOENT);
	CHECK_INT(page_source_locate(&ps, 0x12000, &loc), -ENOENT);
	CHECK_INT(page_source_check(&ps, 1), -EINVAL);	/* the cow run first */
	page_source_fini(&ps);
	image_free(&mi);
}

static void test_refusals(void)
{
	struct page_source ps;
	struct mem_image mi;
	PagemapEntry *prev[] = { ent(0x10000, 1, PE_PRESENT, false), ent(0x30000, 2, PE_PARENT, false) };
	image(&mi, prev, 2);
	CHECK_INT(page_source_local(&ps, &mi, 3), 0);
	CHECK_INT(page_source_check(&ps, 1), -EINVAL);	/* no previous dump given */

	/* a chain: 0x30000 in the grandparent through the parent's PE_PARENT,
	 * 0x31000 in the parent itself */
	struct page_source pps, gps;
	struct mem_image pmi, gmi;
	PagemapEntry *par[] = { ent(0x30000, 1, PE_PARENT, false), ent(0x31000, 1, PE_PRESENT, false) };
	PagemapEntry *gpar[] = { ent(0x30000, 1, PE_PRESENT, false) };
	image(&pmi, par, 2);
	image(&gmi, gpar, 1);
	CHECK_INT(page_source_local(&pps, &pmi, 4), 0);
	CHECK_INT(page_source_local(&gps, &gmi, 5), 0);
	ps.parent = &pps;
	CHECK_INT(page_source_check(&ps, 1), -EINVAL);	/* the parent points further back */
	pps.parent = &gps;
	CHECK_INT(page_source_check(&ps, 1), 0);
	struct page_loc loc;
	CHECK_INT(page_source_locate(&ps, 0x30000, &loc), 0);
	CHECK_INT(loc.fd, 5);
	CHECK_INT(loc.off, 0);
	CHECK_INT(page_source_locate(&ps, 0x31000, &loc), 0);
	CHECK_INT(loc.fd, 4);
	CHECK_INT(loc.off, 0);	/* the parent's only own page */
	/* a grandparent without the page: refused, naming the level */
	gmi.pe[0]->vaddr = 0x50000;
	page_source_fini(&gps);
	CHECK_INT(page_source_local(&gps, &gmi, 5), 0);
	CHECK_INT(page_source_check(&ps, 1), -EINVAL);
	page_source_fini(&gps);
	page_source_fini(&pps);
	image_free(&gmi);
	image_free(&pmi);
	page_source_fini(&ps);
	image_free(&mi);

	PagemapEntry *lazy[] = { ent(0x10000, 1, PE_LAZY | PE_PRESENT, false) };
	image(&mi, lazy, 1);
	CHECK_INT(page_source_local(&ps, &mi, 3), 0);
	CHECK_INT(page_source_check(&ps, 1), -EOPNOTSUPP);
	page_source_fini(&ps);
	image_free(&mi);

	PagemapEntry *unsorted[] = { ent(0x20000, 2, PE_PRESENT, false),
				     ent(0x21000, 1, PE_PRESENT, false) };
	image(&mi, unsorted, 2);
	CHECK_INT(page_source_local(&ps, &mi, 3), -EINVAL);
	image_free(&mi);

	PagemapEntry *both[] = { ent(0x20000, 2, PE_PRESENT, true) };
	image(&mi, both, 1);
	CHECK_INT(page_source_local(&ps, &mi, 3), -EINVAL);
	image_free(&mi);

	PagemapEntry *unaligned[] = { ent(0x20010, 2, PE_PRESENT, false) };
	image(&mi, unaligned, 1);
	CHECK_INT(page_source_local(&ps, &mi, 3), -EINVAL);
	image_free(&mi);

	PagemapEntry *empty[] = { ent(0x20000, 0, PE_PRESENT, false) };
	image(&mi, empty, 1);
	CHECK_INT(page_source_local(&ps, &mi, 3), -EINVAL);
	image_free(&mi);
}

/* Three dumps of one process, each on top of the previous one, and a
 * parent process: every page is found in the image that holds it, and its
 * bytes read back. */
static void test_chain(void)
{
	/* oldest: 0x30000-0x34000 in its file (pages 'a'..'d') */
	PagemapEntry *e0[] = { ent(0x30000, 4, PE_PRESENT, false) };
	/* middle: 0x31000 rewritten ('m'), the rest the oldest's */
	PagemapEntry *e1[] = { ent(0x30000, 1, PE_PARENT, false), ent(0x31000, 1, PE_PRESENT, false),
			       ent(0x32000, 2, PE_PARENT, false) };
	/* newest: 0x10000 its own ('x','y'), 0x30000-0x34000 all the middle's,
	 * 0x50000 the parent process's */
	PagemapEntry *e2[] = { ent(0x10000, 2, PE_PRESENT, false), ent(0x30000, 4, PE_PARENT, false),
			       ent(0x50000, 1, 0, true) };
	/* the parent process: 0x50000 ('p') */
	PagemapEntry *ep[] = { ent(0x50000, 1, PE_PRESENT, false) };
	struct mem_image m0, m1, m2, mp;
	image(&m0, e0, 1);
	image(&m1, e1, 3);
	image(&m2, e2, 3);
	image(&mp, ep, 1);
	int f0 = pages_file(4, 'a'), f1 = pages_file(1, 'm'), f2 = pages_file(2, 'x'),
	    fp = pages_file(1, 'p');
	struct page_source s0, s1, s2, sp;
	CHECK_INT(page_source_local(&s0, &m0, f0), 0);
	CHECK_INT(page_source_local(&s1, &m1, f1), 0);
	CHECK_INT(page_source_local(&s2, &m2, f2), 0);
	CHECK_INT(page_source_local(&sp, &mp, fp), 0);
	s2.parent = &s1;
	s1.parent = &s0;
	s2.cow = &sp;
	CHECK_INT(page_source_check(&s2, 1), 0);
	CHECK_INT(page_source_check(&s1, 1), 0);

	struct page_loc loc;
	CHECK_INT(page_source_locate(&s2, 0x30000, &loc), 0);
	CHECK_INT(loc.fd, f0);
	CHECK_INT(loc.off, 0);
	CHECK_INT(loc.len, P);	/* the middle's run ends there */
	CHECK_INT(page_source_locate(&s2, 0x31000, &loc), 0);
	CHECK_INT(loc.fd, f1);
	CHECK_INT(loc.off, 0);
	CHECK_INT(loc.len, P);
	CHECK_INT(page_source_locate(&s2, 0x33000, &loc), 0);
	CHECK_INT(loc.fd, f0);
	CHECK_INT(loc.off, 3 * P);
	CHECK_INT(loc.len, P);
	CHECK_INT(page_source_locate(&s2, 0x11000, &loc), 0);
	CHECK_INT(loc.fd, f2);
	CHECK_INT(loc.off, P);
	CHECK_INT(page_source_locate(&s2, 0x50000, &loc), 0);
	CHECK_INT(loc.fd, fp);
	CHECK_INT(loc.off, 0);
	CHECK_INT(page_source_locate(&s2, 0x34000, &loc), -ENOENT);

	/* the bytes, across images in one read */
	char *buf = malloc(4 * P);
	CHECK_INT(s2.ops->read(&s2, 0x30000, buf, 4 * P), 0);
	CHECK(buf[0] == 'a' && buf[P - 1] == 'a');
	CHECK(buf[P] == 'm' && buf[2 * P - 1] == 'm');
	CHECK(buf[2 * P] == 'c' && buf[3 * P] == 'd' && buf[4 * P - 1] == 'd');
	CHECK_INT(s2.ops->read(&s2, 0x10000, buf, 2 * P), 0);
	CHECK(buf[0] == 'x' && buf[P] == 'y');
	CHECK_INT(s2.ops->read(&s2, 0x50000, buf, P), 0);
	CHECK(buf[0] == 'p');
	/* a run of the previous dump that the oldest image does not hold */
	CHECK(s2.ops->read(&s2, 0x33000, buf, 2 * P) < 0);
	free(buf);

	/* the middle dump missing: the newest one can't be filled */
	s2.parent = NULL;
	CHECK_INT(page_source_check(&s2, 1), -EINVAL);

	page_source_fini(&s0);
	page_source_fini(&s1);
	page_source_fini(&s2);
	page_source_fini(&sp);
	close(f0);
	close(f1);
	close(f2);
	close(fp);
	image_free(&m0);
	image_free(&m1);
	image_free(&m2);
	image_free(&mp);
}

int main(void)
{
	test_kinds_and_offsets();
	test_refusals();
	test_chain();
	return unit_done("mem-page-source");
}
