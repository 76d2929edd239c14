/* The soft-dirty backend of the dirty tracking (lib/mem/track_sd.c), on
 * crafted pagemap words (this test's kernel need not have soft-dirty):
 * which pages are written and which clean (present, swapped, holes, a
 * THP-sized run), the same read from a pagemap file, the incremental
 * sink's PE_PARENT / written decision fed with them, clear_refs and the
 * start time against a fake /proc, the marker a pre-dump leaves, and the
 * refusals where the kernel has no soft-dirty bits. */
#include "../unit.h"
#include "mem/mem.h"
#include "mem/page_sink.h"
#include "mem/track.h"
#include "kerndat/kerndat.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define P 4096ULL
#define PR PME_PRESENT
#define SW PME_SWAP
#define SD PME_SOFT_DIRTY

#include "rec_sink.h"

/* @r holds exactly the page ranges (in pages from @base) of @want. */
static void check_runs(const struct mem_page_runs *r, uint64_t base, const int (*want)[2], int n)
{
	CHECK_INT(r->n, (size_t)n);
	for (int i = 0; i < n && i < (int)r->n; i++) {
		CHECK_INT((r->start[i] - base) / P, (uint64_t)want[i][0]);
		CHECK_INT((r->end[i] - base) / P, (uint64_t)want[i][1]);
	}
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void get_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, len - 1, f);
		buf[n] = 0;
		fclose(f);
	}
}

/* 1: the decision on crafted words */
static void test_words(void)
{
	const uint64_t base = 0x10000000;
	const uint64_t w[] = {
		PR | SD | 0x1234,	/* 0: present, written */
		PR | 0x1235,		/* 1: present, clean */
		SW | SD | (7 << 5),	/* 2: swapped out after a write: the swap pte keeps it */
		SW | (8 << 5),		/* 3: swapped, clean */
		0,			/* 4: never touched */
		SD,			/* 5: a hole of a VMA mapped since (VM_SOFTDIRTY) */
		PR | SD, PR | SD, PR | SD, PR | SD,	/* 6-9: a written THP (its bit in each) */
		PR, PR, PR, PR,		/* 10-13: a clean one */
		PR | SD | PME_SWAP,	/* 14: (both bits: written) */
	};
	struct mem_page_runs wr = { 0 }, cl = { 0 };
	CHECK_INT(mem_sd_runs(w, ARRAY_SIZE(w), base, &wr, &cl), 0);
	check_runs(&wr, base, (const int[][2]){ { 0, 1 }, { 2, 3 }, { 6, 10 }, { 14, 15 } }, 4);
	check_runs(&cl, base, (const int[][2]){ { 1, 2 }, { 3, 4 }, { 10, 14 } }, 3);
	mem_page_runs_free(&wr);
	mem_page_runs_free(&cl);
	/* either side may be left out */
	CHECK_INT(mem_sd_runs(w, ARRAY_SIZE(w), base, NULL, &cl), 0);
	CHECK_INT(cl.n, 3);
	mem_page_runs_free(&cl);
}

/* 2: the same read from a pagemap file, by address, in chunks */
static void test_file(const char *dir)
{
	const uint64_t base = 0x10000000, pages = 1100;
	char path[512];
	snprintf(path, sizeof(path), "%s/pagemap", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	uint64_t *w = calloc(pages, sizeof(*w));
	for (uint64_t i = 0; i < pages; i++)
		w[i] = PR | ((i >= 500 && i < 530) || i == 1099 ? SD : 0);
	w[700] = 0;
	CHECK(pwrite(fd, w, pages * 8, (base / P) * 8) == (ssize_t)(pages * 8));
	struct mem_page_runs wr = { 0 }, cl = { 0 };
	CHECK_INT(mem_sd_scan(fd, 1, base, base + pages * P, &wr, &cl), 0);
	check_runs(&wr, base, (const int[][2]){ { 500, 530 }, { 1099, 1100 } }, 2);
	check_runs(&cl, base, (const int[][2]){ { 0, 500 }, { 530, 700 }, { 701, 1099 } }, 3);
	mem_page_runs_free(&wr);
	mem_page_runs_free(&cl);
	/* a range past the file's end: an error, never "clean" */
	CHECK_INT(mem_sd_scan(fd, 1, base + pages * P, base + (pages + 4) * P, NULL, &cl), -EIO);
	CHECK_INT(cl.n, 0);
	close(fd);
	free(w);
}

/* 3: the clean runs decide, with the previous dump's pagemap, which pages
 * are left to it (PE_PARENT) and which are written */
static void test_decision(const char *dir)
{
	const int n = 24;
	char *p = mmap(NULL, n * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	madvise(p, n * P, MADV_NOHUGEPAGE);
	for (int i = 0; i < 16; i++)
		memset(p + i * P, 'a' + i, P);
	p[20 * P] = 'z';
	/* what the kernel would say: 3 and 4 (reported swapped) written, 5
	 * swapped clean, 8-11 a written THP, 20 written, 16-19 and 21-23
	 * holes (21-23 of a VMA that is new: bit set, still holes) */
	uint64_t w[24] = { 0 };
	for (int i = 0; i < 16; i++)
		w[i] = PR;
	w[3] |= SD;
	w[4] = SW | SD;
	w[5] = SW;
	for (int i = 8; i < 12; i++)
		w[i] |= SD;
	w[20] = PR | SD;
	w[21] = w[22] = w[23] = SD;
	struct mem_page_runs clean = { 0 };
	CHECK_INT(mem_sd_runs(w, n, (uintptr_t)p, NULL, &clean), 0);

	/* the previous dump held pages 0-15 */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct page_sink *local;
	CHECK_INT(page_sink_local(dfd, &local), 0);
	CHECK_INT(local->ops->open(local, getpid(), 1), 0);
	struct page_run prun = { .vaddr = (uintptr_t)p, .nr_pages = 16, .flags = PE_PRESENT };
	CHECK_INT(local->ops->add_run(local, &prun), 0);
	CHECK_INT(local->ops->write(local, p, 16 * P), 0);
	CHECK_INT(local->ops->finish(local), 0);
	page_sink_destroy(local);

	VmaEntry v = VMA_ENTRY__INIT;
	VmaEntry *vp = &v;
	v.start = (uintptr_t)p;
	v.end = v.start + n * P;
	v.prot = PROT_READ | PROT_WRITE;
	v.flags = MAP_PRIVATE | MAP_ANONYMOUS;
	v.status = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
	MmEntry mm = MM_ENTRY__INIT;
	mm.vmas = &vp;
	mm.n_vmas = 1;
	struct rec_sink rs = { .s.ops = &rec_ops };
	struct page_sink *incr;
	struct page_dump *pd;
	CHECK_INT(page_sink_incremental(&rs.s, dfd, &incr), 0);
	CHECK_INT(page_dump_new(incr, &pd), 0);
	page_sink_set_clean(incr, &clean);
	struct mem_dump_stats st = { 0 };
	CHECK_INT(mem_dump_pages(pd, getpid(), getpid(), &mm, 2, 0, NULL, NULL, &st), 0);
	page_dump_free(pd);
	const struct { int start, pages; unsigned flags; } want[] = {
		{ 0, 3, PE_PARENT }, { 3, 2, PE_PRESENT }, { 5, 3, PE_PARENT },
		{ 8, 4, PE_PRESENT }, { 12, 4, PE_PARENT }, { 20, 1, PE_PRESENT },
	};
	CHECK_INT(rs.n, 6);
	for (int i = 0; i < rs.n && i < 6; i++) {
		CHECK_INT(rs.runs[i].vaddr, (uintptr_t)p + want[i].start * P);
		CHECK_INT(rs.runs[i].nr_pages, (uint64_t)want[i].pages);
		CHECK_INT(rs.runs[i].flags, want[i].flags);
	}
	CHECK_INT(rs.len, 7 * P);
	CHECK(rs.data && rs.data[0] == 'd' && rs.data[P] == 'e' && rs.data[2 * P] == 'i' &&
	      rs.data[5 * P] == 'l' && rs.data[6 * P] == 'z');
	CHECK_INT(st.pages_prev, 10);
	CHECK_INT(st.pages_written, 7);
	free(rs.data);
	close(dfd);
	munmap(p, n * P);
}

/* 4: clear_refs, the start time, the marker */
static void test_proc(const char *dir)
{
	char proc[256], buf[512];
	snprintf(proc, sizeof(proc), "%s/proc", dir);
	CHECK_INT(mkdir(proc, 0700), 0);
	CHECK_INT(mem_sd_clear_refs(proc, 4321), -ENOENT);	/* no such process */
	snprintf(buf, sizeof(buf), "%s/4321", proc);
	CHECK_INT(mkdir(buf, 0700), 0);
	put_file(buf, "clear_refs", "");
	CHECK_INT(mem_sd_clear_refs(proc, 4321), 0);
	char got[1024];
	get_file(buf, "clear_refs", got, sizeof(got));
	CHECK_STR(got, "4");

	/* a name with spaces and ')': the fields count from its last ')' */
	put_file(buf, "stat", "4321 (a) b (c) S 1 4321 4321 0 -1 4194560 100 0 0 0 1 2 0 0 "
			      "20 0 1 0 987654 1000 200 18446744073709551615\n");
	unsigned long long stt = 0;
	CHECK_INT(mem_sd_start_time(proc, 4321, &stt), 0);
	CHECK_INT(stt, 987654);
	put_file(buf, "stat", "4321 (x) S 1\n");
	CHECK_INT(mem_sd_start_time(proc, 4321, &stt), -EINVAL);

	/* the marker: this process (its real start time), and one cleared by
	 * "a pre-dump" when its PID was another process's (a fake start time) */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct mem_track t = { .kind = KDAT_DT_SOFT_DIRTY };
	CHECK_INT(mem_track_add(&t, getpid(), -1, syscall(SYS_pidfd_open, getpid(), 0)), 0);
	CHECK_INT(mem_track_add(&t, 4321, -1, syscall(SYS_pidfd_open, getpid(), 0)), 0);
	CHECK_INT(mem_track_add(&t, getppid(), -1, syscall(SYS_pidfd_open, getpid(), 0)), 0);
	t.v[2].fresh = true;	/* never cleared: not in the marker */
	put_file(buf, "stat", "4321 (x) S 1 4321 4321 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
			      "5 1000\n");
	snprintf(buf, sizeof(buf), "%s/%d", proc, getpid());
	CHECK_INT(mkdir(buf, 0700), 0);
	char self[64];
	snprintf(self, sizeof(self), "/proc/%d", getpid());
	get_file(self, "stat", got, sizeof(got));
	put_file(buf, "stat", got);
	CHECK_INT(mem_track_hold(dfd, &t), 0);	/* kind soft-dirty: the marker */
	CHECK_INT(t.n, 0);
	CHECK_INT(mem_sd_hold(dfd, &t, proc), 0);	/* nothing: an empty one */
	t = (struct mem_track){ .kind = KDAT_DT_SOFT_DIRTY };
	CHECK_INT(mem_track_add(&t, getpid(), -1, syscall(SYS_pidfd_open, getpid(), 0)), 0);
	CHECK_INT(mem_track_add(&t, 4321, -1, syscall(SYS_pidfd_open, getpid(), 0)), 0);
	CHECK_INT(mem_sd_hold(dfd, &t, proc), 0);
	char marker[256], want[256];
	get_file(dir, MEM_SD_MARKER, marker, sizeof(marker));
	CHECK_INT(mem_sd_start_time("/proc", getpid(), &stt), 0);
	snprintf(want, sizeof(want), "cryo soft-dirty tracking v1: pid start-time\n%d %llu\n4321 5\n",
		 getpid(), stt);
	CHECK_STR(marker, want);

	/* taken: read and removed; 4321 is not the process it was (or gone) */
	struct mem_track tk = { 0 };
	CHECK_INT(mem_sd_take(dfd, "prev", &tk, "/proc"), 0);
	CHECK_INT(tk.n, 1);
	CHECK(tk.n == 1 && tk.v[0].pid == getpid() && tk.v[0].uffd == -1 && !tk.v[0].fresh);
	CHECK_INT(tk.kind, KDAT_DT_SOFT_DIRTY);
	CHECK_INT(faccessat(dfd, MEM_SD_MARKER, F_OK, 0), -1);
	mem_track_free(&tk);
	CHECK_INT(mem_sd_take(dfd, "prev", &tk, "/proc"), 1);	/* none left */
	put_file(dir, MEM_SD_MARKER, "garbage\n");
	CHECK_INT(mem_sd_take(dfd, "prev", &tk, "/proc"), 0);
	CHECK_INT(tk.n, 0);

	/* the directory is input: a marker that is a FIFO (the reader once
	 * waited for a writer forever) or a symlink to a good marker
	 * elsewhere is ignored, every page written */
	unlinkat(dfd, MEM_SD_MARKER, 0);
	CHECK_INT(mkfifoat(dfd, MEM_SD_MARKER, 0600), 0);
	alarm(10);
	CHECK_INT(mem_sd_take(dfd, "prev", &tk, "/proc"), 0);
	alarm(0);
	CHECK_INT(tk.n, 0);
	CHECK_INT(faccessat(dfd, MEM_SD_MARKER, F_OK, AT_SYMLINK_NOFOLLOW), -1);
	char outside[300];
	snprintf(outside, sizeof(outside), "%s/outside-marker", dir);
	put_file(dir, "outside-marker", want);
	CHECK_INT(symlinkat(outside, dfd, MEM_SD_MARKER), 0);
	CHECK_INT(mem_sd_take(dfd, "prev", &tk, "/proc"), 0);
	CHECK_INT(tk.n, 0);
	CHECK_INT(faccessat(dfd, MEM_SD_MARKER, F_OK, AT_SYMLINK_NOFOLLOW), -1);

	/* the writer: a symlink planted under its temporary name is replaced,
	 * its target left alone */
	put_file(dir, "outside-marker", "victim\n");
	CHECK_INT(symlinkat(outside, dfd, MEM_SD_MARKER ".tmp"), 0);
	t = (struct mem_track){ .kind = KDAT_DT_SOFT_DIRTY };
	CHECK_INT(mem_track_add(&t, getpid(), -1, syscall(SYS_pidfd_open, getpid(), 0)), 0);
	CHECK_INT(mem_sd_hold(dfd, &t, proc), 0);
	get_file(dir, "outside-marker", got, sizeof(got));
	CHECK_STR(got, "victim\n");
	struct stat mst;
	CHECK(!fstatat(dfd, MEM_SD_MARKER, &mst, AT_SYMLINK_NOFOLLOW) && S_ISREG(mst.st_mode));
	unlinkat(dfd, MEM_SD_MARKER, 0);
	unlinkat(dfd, "outside-marker", 0);

	/* through mem_track_take: a kernel without the bits gets no tracking
	 * from a marker (every page would read as clean) */
	snprintf(want, sizeof(want), "cryo soft-dirty tracking v1: pid start-time\n%d %llu\n",
		 getpid(), stt);
	put_file(dir, MEM_SD_MARKER, want);
	tk = (struct mem_track){ .kind = KDAT_DT_UFFD_WP_SCAN };	/* the pre-dump's choice */
	CHECK_INT(mem_track_take(dfd, "prev", &tk), 0);
	CHECK_INT(tk.n, kdat_has(KF_SOFT_DIRTY) ? 1 : 0);
	CHECK_INT(tk.kind, kdat_has(KF_SOFT_DIRTY) ? KDAT_DT_SOFT_DIRTY : KDAT_DT_UFFD_WP_SCAN);
	CHECK_INT(faccessat(dfd, MEM_SD_MARKER, F_OK, 0), -1);
	mem_track_free(&tk);
	close(dfd);
}

/* 5: the backend choice and the refusals without soft-dirty */
static void test_backend(void)
{
	const char *why = "";
	unsetenv(MEM_TRACK_ENV);
	CHECK_INT(mem_track_backend(&why), kdat_dirty_track());
	setenv(MEM_TRACK_ENV, "soft-dirty", 1);
	enum kdat_dirty_track dt = mem_track_backend(&why);
	if (kdat_has(KF_SOFT_DIRTY)) {
		CHECK_INT(dt, KDAT_DT_SOFT_DIRTY);
	} else {
		CHECK_INT(dt, KDAT_DT_NONE);
		CHECK(strstr(why, "the kernel has no soft-dirty bits: CONFIG_MEM_SOFT_DIRTY") != NULL);
		/* nor can a process be tracked with them */
		struct mem_track t = { 0 };
		CHECK_INT(mem_track_start_sd(&t, getpid()), -EOPNOTSUPP);
		CHECK_INT(t.n, 0);
	}
	setenv(MEM_TRACK_ENV, "uffd", 1);
	dt = mem_track_backend(&why);
	CHECK_INT(dt, kdat_dirty_track() == KDAT_DT_UFFD_WP_SCAN ? KDAT_DT_UFFD_WP_SCAN : KDAT_DT_NONE);
	setenv(MEM_TRACK_ENV, "both", 1);
	CHECK_INT(mem_track_backend(&why), KDAT_DT_NONE);
	CHECK(strstr(why, "unknown backend") != NULL);
	unsetenv(MEM_TRACK_ENV);

	/* a process not cleared yet has nothing clean; rearm clears its bits
	 * (only where the kernel has them: this is the real /proc) */
	if (kdat_has(KF_SOFT_DIRTY)) {
		struct mem_track t = { 0 };
		CHECK_INT(mem_track_start_sd(&t, getpid()), 0);
		char *p = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		memset(p, 1, 4 * P);
		VmaEntry v = VMA_ENTRY__INIT, *vp = &v;
		v.start = (uintptr_t)p;
		v.end = v.start + 4 * P;
		v.flags = MAP_PRIVATE | MAP_ANONYMOUS;
		v.status = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
		MmEntry mm = MM_ENTRY__INIT;
		mm.vmas = &vp;
		mm.n_vmas = 1;
		struct mem_page_runs clean = { 0 };
		CHECK_INT(mem_track_scan(&t.v[0], &mm, true, &clean), 0);
		CHECK_INT(clean.n, 0);
		CHECK_INT(mem_track_rearm(&t.v[0]), 0);
		p[2 * P] = 2;
		CHECK_INT(mem_track_scan(&t.v[0], &mm, false, &clean), 0);
		check_runs(&clean, (uintptr_t)p, (const int[][2]){ { 0, 2 }, { 3, 4 } }, 2);
		mem_page_runs_free(&clean);
		mem_track_free(&t);
		munmap(p, 4 * P);
	}
}

int main(void)
{
	char dir[] = "/tmp/cryo-test-track-sd-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	test_words();
	test_file(dir);
	test_decision(dir);
	test_proc(dir);
	test_backend();
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return unit_done("mem-track-sd");
}
