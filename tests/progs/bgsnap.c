/* bgsnap: memory written at full speed while a background snapshot copies
 * it (dump --leave-running --background-snapshot, variant "snapshot"):
 * the images must be one consistent cut, the memory as of the freeze.
 *
 * Each writer thread owns a region of N pages and a step counter; step s
 * fills page s % N (all 512 words) with s.  So at any instant page i holds
 * the last step <= the counter that maps to it, and before step s fills
 * its page that page must hold s - N (0 in the first lap): each step checks
 * that first.  A restore from a torn image (a page copied after the tree
 * wrote it again, or before an earlier one was) breaks that relation for
 * some page, and the step that comes to it reports it; at SIGTERM every
 * word of every page is checked against the counter as well.
 *
 * Also, with options:
 *   --kwrite  a thread whose pages are written by the kernel: pread() from
 *             a memfd into the region (a kernel-mode write into protected
 *             memory must wait for cryo, never fail with EFAULT);
 *   --remap   a thread that keeps moving a 16-page region between two
 *             places with mremap, sometimes twice in a row (its pages, as
 *             of the freeze, must be found where they went), with the
 *             same step check;
 *   --unmap   a thread that keeps filling a 64-page region, unmapping it
 *             and mapping a new one (only its progress is checked: pages
 *             of the freeze unmapped before cryo copied them fail the
 *             dump, which must leave the tree unharmed);
 *   --forks N the main thread forks N children, one every 2 ms, from the
 *             start on (during the dump): each writes to a writer's page
 *             (its own copy, copy-on-write) and waits; those forked after
 *             the freeze are not in the images, and the parent's memory
 *             (its list of children) says which are.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define MAX_THREADS 16
#define REMAP_PAGES 16

static unsigned threads = 3;
TEST_OPTION(threads, uint, "writer threads (default 3)", 0);
static unsigned mb = 16;
TEST_OPTION(mb, uint, "MiB each writer thread writes (default 16)", 0);
static bool kwrite;
TEST_OPTION(kwrite, bool, "a thread whose pages the kernel writes (pread)", 0);
static bool remap;
TEST_OPTION(remap, bool, "a thread that keeps moving its region (mremap)", 0);
static bool unmap;
TEST_OPTION(unmap, bool, "a thread that keeps unmapping and mapping its region", 0);
static unsigned forks;
TEST_OPTION(forks, uint, "children to fork, one every 2 ms, during the dump", 0);
#define MAX_KIDS 256
static pid_t kids[MAX_KIDS];
static volatile unsigned nkids;

struct region {
	const char *what;
	bool nocheck;		/* the unmapper's: progress only */
	uint64_t *base;		/* the remap thread's moves */
	size_t npages;
	volatile uint64_t step;
	volatile uint64_t bad_step, bad_val, bad_expect;	/* first mismatch */
	pthread_t th;
};

static struct region regs[MAX_THREADS + 3];
static int nregs;
static volatile int stop;

/* Before step @s fills its page: the page must hold s - N. */
static void step_check(struct region *r, uint64_t *pg, uint64_t s)
{
	uint64_t expect = s > r->npages ? s - r->npages : 0;
	if ((pg[0] != expect || pg[WORDS - 1] != expect) && !r->bad_step) {
		r->bad_expect = expect;
		r->bad_val = pg[0] != expect ? pg[0] : pg[WORDS - 1];
		r->bad_step = s;
	}
}

static void *writer(void *arg)
{
	struct region *r = arg;
	while (!stop) {
		uint64_t s = r->step + 1;
		uint64_t *pg = r->base + (s % r->npages) * WORDS;
		step_check(r, pg, s);
		for (size_t w = 0; w < WORDS; w++)
			pg[w] = s;
		r->step = s;
	}
	return NULL;
}

static int kfd = -1;

static void *kwriter(void *arg)
{
	struct region *r = arg;
	uint64_t buf[WORDS];
	while (!stop) {
		uint64_t s = r->step + 1;
		uint64_t *pg = r->base + (s % r->npages) * WORDS;
		step_check(r, pg, s);
		for (size_t w = 0; w < WORDS; w++)
			buf[w] = s;
		if (pwrite(kfd, buf, PAGE, 0) != (ssize_t)PAGE) {
			fail_errno("pwrite to the memfd (step %llu)", (unsigned long long)s);
			return NULL;
		}
		/* the kernel writes the protected page */
		ssize_t n = pread(kfd, pg, PAGE, 0);
		if (n != (ssize_t)PAGE) {
			fail_errno("pread into the region (step %llu) returned %zd",
				   (unsigned long long)s, n);
			return NULL;
		}
		r->step = s;
	}
	return NULL;
}

static uint64_t *remap_other;

/* Move the region to the other place and reserve its old one. */
static int move_region(struct region *r)
{
	size_t len = r->npages * PAGE;
	uint64_t *old = r->base;
	void *to = mremap(old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, remap_other);
	if (to == MAP_FAILED) {
		fail_errno("mremap %p -> %p", (void *)old, (void *)remap_other);
		return -1;
	}
	if (mmap(old, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != old) {
		fail_errno("mmap of the old place %p", (void *)old);
		return -1;
	}
	remap_other = old;
	r->base = to;
	return 0;
}

static void *remapper(void *arg)
{
	struct region *r = arg;
	while (!stop) {
		uint64_t s = r->step + 1;
		uint64_t *pg = r->base + (s % r->npages) * WORDS;
		step_check(r, pg, s);
		for (size_t w = 0; w < WORDS; w++)
			pg[w] = s;
		r->step = s;
		if (s % 4)
			continue;
		if (move_region(r))
			return NULL;
		/* every other time, moved on at once, before any write: the
		 * pages may be gone from where the first move put them by the
		 * time cryo reads its event */
		if (s % 8 == 0 && move_region(r))
			return NULL;
	}
	return NULL;
}

static void *unmapper(void *arg)
{
	struct region *r = arg;
	size_t len = r->npages * PAGE;
	while (!stop) {
		uint64_t s = r->step + 1;
		for (size_t w = 0; w < r->npages * WORDS; w++)
			r->base[w] = s;
		if (munmap(r->base, len)) {
			fail_errno("munmap %p", (void *)r->base);
			return NULL;
		}
		r->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->base == MAP_FAILED) {
			fail_errno("mmap");
			return NULL;
		}
		r->step = s;
	}
	return NULL;
}

static struct region *new_region(const char *what, size_t npages)
{
	struct region *r = &regs[nregs++];
	r->what = what;
	r->npages = npages;
	r->base = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (r->base == MAP_FAILED)
		setup_fail("mmap of %zu pages: %m", npages);
	return r;
}

/* Every word of every page against the final counter. */
static void final_check(struct region *r)
{
	uint64_t s = r->step, n = r->npages;
	if (r->nocheck)
		return;
	if (r->bad_step) {
		fail("%s: before step %llu its page held %llu, not %llu: the memory was not one "
		     "consistent cut", r->what, (unsigned long long)r->bad_step,
		     (unsigned long long)r->bad_val, (unsigned long long)r->bad_expect);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		/* the last step <= s that maps to page i */
		uint64_t back = (s % n + n - i) % n;
		uint64_t expect = s >= back ? s - back : 0;
		const uint64_t *pg = r->base + i * WORDS;
		for (size_t w = 0; w < WORDS; w++)
			if (pg[w] != expect) {
				fail("%s: page %llu word %zu is %llu, expected %llu (counter %llu)",
				     r->what, (unsigned long long)i, w, (unsigned long long)pg[w],
				     (unsigned long long)expect, (unsigned long long)s);
				return;
			}
	}
}

int main(int argc, char **argv)
{
	test_doc = "threads write generation counters while a background snapshot copies";
	test_init(argc, argv);
	if (threads < 1 || threads > MAX_THREADS)
		setup_fail("--threads must be 1..%d", MAX_THREADS);

	for (unsigned t = 0; t < threads; t++)
		new_region("writer", (size_t)mb * 256);
	if (kwrite) {
		kfd = memfd_create("bgsnap", 0);
		if (kfd < 0 || ftruncate(kfd, PAGE))
			setup_fail("memfd: %m");
		new_region("kernel writer", 1024);
	}
	if (remap) {
		new_region("remapper", REMAP_PAGES);
		remap_other = mmap(NULL, REMAP_PAGES * PAGE, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (remap_other == MAP_FAILED)
			setup_fail("mmap: %m");
	}
	int unmap_i = -1;
	if (unmap) {
		unmap_i = nregs;
		new_region("unmapper", 64)->nocheck = true;
	}
	for (int i = 0; i < nregs; i++) {
		void *(*fn)(void *) = writer;
		if (kwrite && i == (int)threads)
			fn = kwriter;
		else if (i == unmap_i)
			fn = unmapper;
		else if (remap && i == (int)threads + kwrite)
			fn = remapper;
		if (pthread_create(&regs[i].th, NULL, fn, &regs[i]))
			setup_fail("pthread_create");
	}
	/* a lap of each region before the dump */
	for (int i = 0; i < nregs; i++)
		while (regs[i].step < regs[i].npages + 1)
			usleep(1000);

	if (forks > MAX_KIDS)
		setup_fail("--forks: at most %d", MAX_KIDS);
	test_daemon();
	while (nkids < forks && test_go()) {
		pid_t c = fork();
		if (c < 0) {
			fail_errno("fork");
			break;
		}
		if (c == 0) {
			stop = 1;	/* its copy: no writer threads here */
			regs[0].base[0] = ~0ULL;	/* its own copy of the page */
			for (;;)
				pause();
		}
		kids[nkids] = c;
		nkids = nkids + 1;
		usleep(2000);
	}
	test_waitsig();
	uint64_t before[MAX_THREADS + 3];
	for (int i = 0; i < nregs; i++)
		before[i] = regs[i].step;
	/* each thread must move on; on a loaded machine one may wait a while
	 * for a CPU (an mremap of its region is not short): up to 2 s */
	for (int waited = 0; waited < 2000; waited += 10) {
		int idle = 0;
		for (int i = 0; i < nregs; i++)
			idle += regs[i].step == before[i];
		if (!idle && waited >= 20)
			break;
		usleep(10000);
	}
	stop = 1;
	for (int i = 0; i < nregs; i++)
		pthread_join(regs[i].th, NULL);
	for (unsigned k = 0; k < nkids; k++) {
		int st;
		kill(kids[k], SIGKILL);
		if (waitpid(kids[k], &st, 0) != kids[k])
			fail_errno("waitpid of child %d (%u of %u)", kids[k], k, nkids);
	}
	for (int i = 0; i < nregs; i++) {
		if (regs[i].step == before[i])
			fail("%s thread %d made no progress (stuck at step %llu)", regs[i].what, i,
			     (unsigned long long)before[i]);
		final_check(&regs[i]);
	}
	return test_verdict();
}
