/* Building the pagemap on dump (lib/mem/pages_dump.c): which pages are
 * saved, how runs merge, holes, the zero page, cow_parent runs, and the
 * bytes handed to the page sink.  The walk runs on this test's own memory
 * (and a child's), through a sink that records what it gets. */
#include "../unit.h"
#include "mem/mem.h"
#include "mem/page_sink.h"
#include "mem/pages-int.h"
#include "kerndat/kerndat.h"
#include "compat/uapi-extra.h"
#include "util/util.h"
#include "rec_sink.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096ULL

static void test_predicates(void)
{
	const uint64_t zero = 0x1234, g = PM_GUARD_REGION;
	/* anonymous: every present page but the zero page */
	CHECK(pm_page_saved(PM_PRESENT | 0x99, true, zero, g));
	CHECK(!pm_page_saved(PM_PRESENT | zero, true, zero, g));
	CHECK(pm_page_saved(PM_PRESENT | zero, true, 0, g));	/* zero page unknown: saved */
	CHECK(pm_page_saved(PM_SWAPPED, true, zero, g));
	CHECK(!pm_page_saved(0, true, zero, g));		/* never touched */
	CHECK(!pm_page_saved(PM_SWAPPED | g, true, zero, g));	/* a guard marker */
	/* private file mapping: the private copies only */
	CHECK(!pm_page_saved(PM_PRESENT | PM_FILE | 0x99, false, zero, g));
	CHECK(pm_page_saved(PM_PRESENT | 0x99, false, zero, g));
	CHECK(pm_page_saved(PM_SWAPPED, false, zero, g));

	/* the same page in parent and child, not exclusive */
	CHECK(pm_page_cow_shared(PM_PRESENT | 0x55, PM_PRESENT | 0x55));
	CHECK(!pm_page_cow_shared(PM_PRESENT | PM_EXCLUSIVE | 0x55, PM_PRESENT | 0x55));
	CHECK(!pm_page_cow_shared(PM_PRESENT | 0x55, PM_PRESENT | 0x56));
	CHECK(!pm_page_cow_shared(PM_PRESENT | 0x55, 0x55));	/* not present in the parent */
	CHECK(!pm_page_cow_shared(PM_SWAPPED | 0x55, PM_PRESENT | 0x55));
	CHECK(!pm_page_cow_shared(PM_PRESENT, PM_PRESENT));	/* PFNs hidden: never */
}

static VmaEntry *anon_vma(void *p, size_t len)
{
	VmaEntry *v = calloc(1, sizeof(*v));
	vma_entry__init(v);
	v->start = (uintptr_t)p;
	v->end = v->start + len;
	v->prot = PROT_READ | PROT_WRITE;
	v->flags = MAP_PRIVATE | MAP_ANONYMOUS;
	v->status = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
	return v;
}

static int dump_one(struct rec_sink *rs, pid_t pid, VmaEntry *v, pid_t ppid,
		    const struct mem_page_runs *pruns, struct mem_page_runs *runs,
		    struct mem_dump_stats *st)
{
	*rs = (struct rec_sink){ .s.ops = &rec_ops };
	struct page_dump *pd;
	int ret = page_dump_new(&rs->s, &pd);
	if (ret)
		return ret;
	MmEntry mm = MM_ENTRY__INIT;
	mm.vmas = &v;
	mm.n_vmas = 1;
	ret = mem_dump_pages(pd, pid, pid, &mm, 5, ppid, pruns, runs, st);
	page_dump_free(pd);
	return ret;
}

/* Written pages make runs, merged when adjacent; untouched pages are holes;
 * pages only read are the zero page (skipped where it can be told). */
static void test_runs(void)
{
	const int n = 32;
	char *p = mmap(NULL, n * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, n * P, MADV_NOHUGEPAGE);
	int written[] = { 0, 1, 2, 3, 5, 6, 20, 31 };
	for (size_t i = 0; i < ARRAY_SIZE(written); i++)
		memset(p + written[i] * P, 'A' + written[i], P);
	volatile char sink = p[10 * P];	/* read only: the zero page */
	(void)sink;
	/* The zero page is told by PAGEMAP_SCAN, or by its PFN (root only). */
	bool zero_known = kdat_has(KF_PAGEMAP_SCAN) || geteuid() == 0;

	VmaEntry *v = anon_vma(p, n * P);
	struct rec_sink rs;
	struct mem_dump_stats st = { 0 };
	struct mem_page_runs runs = { 0 };
	CHECK_INT(dump_one(&rs, getpid(), v, 0, NULL, &runs, &st), 0);
	CHECK_INT(rs.opened, 1);
	CHECK_INT(rs.finished, 1);
	CHECK_INT(rs.aborted, 0);
	CHECK_INT(rs.pid, getpid());
	CHECK_INT(rs.pages_id, 5);

	uint64_t b = (uintptr_t)p;
	struct { uint64_t at, n; } want[] = { { 0, 4 }, { 5, 2 }, { 10, 1 }, { 20, 1 }, { 31, 1 } };
	int nwant = ARRAY_SIZE(want);
	CHECK_INT(rs.n, zero_known ? nwant - 1 : nwant);
	for (int i = 0, j = 0; i < nwant && j < rs.n; i++) {
		if (want[i].at == 10 && zero_known)
			continue;
		CHECK_INT(rs.runs[j].vaddr, b + want[i].at * P);
		CHECK_INT(rs.runs[j].nr_pages, want[i].n);
		CHECK_INT(rs.runs[j].flags, PE_PRESENT);
		CHECK(!rs.runs[j].cow_parent);
		j++;
	}
	/* the contents, in run order */
	uint64_t npages = zero_known ? 8 : 9;
	CHECK_INT(rs.len, npages * P);
	CHECK_INT(st.pages_written, npages);
	CHECK_INT(st.pages_cow, 0);
	size_t at = 0;
	for (int pg = 0; pg < n && rs.data; pg++) {
		bool w = false;
		for (size_t i = 0; i < ARRAY_SIZE(written); i++)
			w |= written[i] == pg;
		if (!w && !(pg == 10 && !zero_known))
			continue;
		char c = w ? 'A' + pg : 0;
		CHECK(rs.data[at] == c && rs.data[at + P - 1] == c);
		at += P;
	}
	/* what children may point at: the runs, merged */
	CHECK_INT(runs.n, (size_t)rs.n);
	CHECK_INT(runs.start[0], b);
	CHECK_INT(runs.end[0], b + 4 * P);
	mem_page_runs_free(&runs);
	free(rs.data);
	free(v);
	munmap(p, n * P);
}

/* A child's pages still shared with its parent become cow_parent runs;
 * one it wrote after the fork is its own.  Needs the PFNs (root). */
static void test_cow(void)
{
	if (geteuid() != 0) {
		printf("cow_parent: skipped (pagemap shows PFNs to root only)\n");
		return;
	}
	const int n = 8;
	char *p = mmap(NULL, n * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, n * P, MADV_NOHUGEPAGE);
	for (int i = 0; i < n; i++)
		memset(p + i * P, 'a' + i, P);
	int ready[2], go[2];
	if (pipe(ready) || pipe(go))
		abort();
	pid_t child = fork();
	if (child == 0) {
		memset(p + 2 * P, 'Z', P);	/* its own copy now */
		close(go[1]);
		char c = 0;
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	char c;
	CHECK_INT(read(ready[0], &c, 1), 1);

	uint64_t b = (uintptr_t)p;
	uint64_t s = b, e = b + n * P;
	struct mem_page_runs pruns = { .start = &s, .end = &e, .n = 1, .cap = 1 };
	VmaEntry *v = anon_vma(p, n * P);
	struct rec_sink rs;
	struct mem_dump_stats st = { 0 };
	CHECK_INT(dump_one(&rs, child, v, getpid(), &pruns, NULL, &st), 0);
	CHECK_INT(rs.n, 3);
	CHECK_INT(rs.runs[0].vaddr, b);
	CHECK_INT(rs.runs[0].nr_pages, 2);
	CHECK(rs.runs[0].cow_parent && rs.runs[0].flags == 0);
	CHECK_INT(rs.runs[1].vaddr, b + 2 * P);
	CHECK_INT(rs.runs[1].nr_pages, 1);
	CHECK(!rs.runs[1].cow_parent && rs.runs[1].flags == PE_PRESENT);
	CHECK_INT(rs.runs[2].vaddr, b + 3 * P);
	CHECK_INT(rs.runs[2].nr_pages, 5);
	CHECK(rs.runs[2].cow_parent);
	CHECK_INT(rs.len, P);
	CHECK(rs.data && rs.data[0] == 'Z' && rs.data[P - 1] == 'Z');
	CHECK_INT(st.pages_cow, 7);
	CHECK_INT(st.pages_written, 1);

	/* the parent's image holds only the first half: the rest is the child's */
	e = b + 4 * P;
	free(rs.data);
	CHECK_INT(dump_one(&rs, child, v, getpid(), &pruns, NULL, &st), 0);
	CHECK_INT(rs.n, 4);
	CHECK(rs.runs[2].cow_parent && rs.runs[2].vaddr == b + 3 * P && rs.runs[2].nr_pages == 1);
	CHECK(!rs.runs[3].cow_parent && rs.runs[3].vaddr == b + 4 * P && rs.runs[3].nr_pages == 4);
	CHECK_INT(rs.len, 5 * P);
	CHECK(rs.data && rs.data[P] == 'e' && rs.data[5 * P - 1] == 'h');

	free(rs.data);
	free(v);
	close(go[1]);
	int status;
	waitpid(child, &status, 0);
	munmap(p, n * P);
}

int main(void)
{
	test_predicates();
	test_runs();
	test_cow();
	return unit_done("mem-pagemap");
}
