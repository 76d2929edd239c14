/* Dirty tracking (lib/mem/track.c) and the incremental page sink
 * (page_sink.c): on this test's own memory, with a userfaultfd made here
 * (a dump injects the userfaultfd() call into the target instead).  Which
 * pages read as clean after writes by the task and by the kernel, the
 * protection starting again, and which runs the incremental sink leaves to
 * the previous dump (PE_PARENT) and which it writes. */
#include "../unit.h"
#include "mem/mem.h"
#include "mem/page_sink.h"
#include "mem/track.h"
#include "kerndat/kerndat.h"
#include "util/util.h"

#include <linux/userfaultfd.h>
#include "compat/uapi-extra.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define P 4096ULL

#include "rec_sink.h"

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

/* @clean holds exactly the page ranges (in pages from @base) of @want. */
static void check_runs(const struct mem_page_runs *clean, char *base, const int (*want)[2], int n)
{
	CHECK_INT(clean->n, (size_t)n);
	for (int i = 0; i < n && i < (int)clean->n; i++) {
		CHECK_INT((clean->start[i] - (uintptr_t)base) / P, (uint64_t)want[i][0]);
		CHECK_INT((clean->end[i] - (uintptr_t)base) / P, (uint64_t)want[i][1]);
	}
}

int main(void)
{
	const int n = 32;
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) || !kdat_has(KF_PAGEMAP_SCAN)) {
		printf("SKIP: no userfaultfd with async write-protection here\n");
		return 77;
	}
	struct mem_track t = { 0 };
	CHECK_INT(mem_track_add(&t, getpid(), uffd, syscall(SYS_pidfd_open, getpid(), 0)), 0);
	struct mem_track_proc *tp = mem_track_find(&t, getpid());
	CHECK(tp != NULL);

	char *p = mmap(NULL, n * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *q = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, n * P, MADV_NOHUGEPAGE);
	memset(p, 'a', 16 * P);
	memset(q, 'q', 4 * P);
	VmaEntry *v = anon_vma(p, n * P);
	MmEntry mm = MM_ENTRY__INIT;
	mm.vmas = &v;
	mm.n_vmas = 1;

	/* first time: registered and protected, nothing clean yet */
	struct mem_page_runs clean = { 0 };
	CHECK_INT(mem_track_scan(tp, &mm, true, &clean), 0);
	CHECK_INT(clean.n, 0);
	CHECK_INT(mem_track_scan(tp, &mm, false, &clean), 0);
	/* holes read as clean: a page that appears there is written (or the
	 * zero page, which no dump saves) */
	check_runs(&clean, p, (const int[][2]){ { 0, n } }, 1);
	mem_page_runs_free(&clean);

	/* written by the task (one page never touched before), and by the
	 * kernel (read() into page 5) */
	p[3 * P] = 'b';
	p[4 * P + 100] = 'b';
	p[20 * P] = 'b';
	int pp[2];
	CHECK_INT(pipe(pp), 0);
	CHECK(write(pp[1], "kernel", 6) == 6);
	CHECK(read(pp[0], p + 5 * P, 6) == 6);
	CHECK_INT(mem_track_scan(tp, &mm, false, &clean), 0);
	check_runs(&clean, p, (const int[][2]){ { 0, 3 }, { 6, 20 }, { 21, n } }, 3);

	/* the previous dump held pages 0-15 (its pagemap, as the local sink
	 * writes it) */
	char dir[] = "/tmp/cryo-test-track-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct page_sink *local;
	CHECK_INT(page_sink_local(dfd, &local), 0);
	CHECK_INT(local->ops->open(local, getpid(), 1), 0);
	struct page_run prun = { .vaddr = (uintptr_t)p, .nr_pages = 16, .flags = PE_PRESENT };
	CHECK_INT(local->ops->add_run(local, &prun), 0);
	CHECK_INT(local->ops->write(local, p, 16 * P), 0);
	CHECK_INT(local->ops->finish(local), 0);
	page_sink_destroy(local);

	/* the dump: clean pages the previous dump holds are PE_PARENT and
	 * not copied; written ones and page 20 (not in it) are */
	struct rec_sink rs = { .s.ops = &rec_ops };
	struct page_sink *incr;
	struct page_dump *pd;
	CHECK_INT(page_sink_incremental(&rs.s, dfd, &incr), 0);
	CHECK_INT(page_dump_new(incr, &pd), 0);
	page_sink_set_clean(incr, &clean);
	CHECK_INT(clean.n, 0);	/* taken over */
	struct mem_dump_stats st = { 0 };
	CHECK_INT(mem_dump_pages(pd, getpid(), getpid(), &mm, 2, 0, NULL, NULL, &st), 0);
	page_dump_free(pd);
	const struct { int start, pages; unsigned flags; } want[] = {
		{ 0, 3, PE_PARENT }, { 3, 3, PE_PRESENT }, { 6, 10, PE_PARENT }, { 20, 1, PE_PRESENT },
	};
	CHECK_INT(rs.n, 4);
	for (int i = 0; i < rs.n && i < 4; i++) {
		CHECK_INT(rs.runs[i].vaddr, (uintptr_t)p + want[i].start * P);
		CHECK_INT(rs.runs[i].nr_pages, (uint64_t)want[i].pages);
		CHECK_INT(rs.runs[i].flags, want[i].flags);
	}
	CHECK_INT(rs.len, 4 * P);
	CHECK(rs.data && rs.data[0] == 'b' && rs.data[P + 100] == 'b' &&
	      !memcmp(rs.data + 2 * P, "kernel", 6) && rs.data[3 * P] == 'b');
	CHECK_INT(st.pages_prev, 13);
	CHECK_INT(st.pages_written, 4);
	free(rs.data);

	/* a pre-dump protects the written pages again: all clean after */
	CHECK_INT(mem_track_scan(tp, &mm, true, &clean), 0);
	mem_page_runs_free(&clean);
	CHECK_INT(mem_track_scan(tp, &mm, false, &clean), 0);
	check_runs(&clean, p, (const int[][2]){ { 0, n } }, 1);
	mem_page_runs_free(&clean);

	/* a VMA that is not tracked has no clean pages (without @protect) */
	VmaEntry *w = anon_vma(q, 4 * P);
	mm.vmas = &w;
	CHECK_INT(mem_track_scan(tp, &mm, false, &clean), 0);
	CHECK_INT(clean.n, 0);

	/* the process is ours, alive: pruning keeps it */
	mem_track_prune(&t);
	CHECK_INT(t.n, 1);
	mem_track_free(&t);
	char path[256];
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK_INT(system(path), 0);
	close(dfd);
	free(v);
	free(w);
	return unit_done("mem-track");
}
