/* mem_progress: a process that keeps changing its memory must keep doing so
 * after restore -- running and making progress, not merely alive.
 *
 * A busy loop updates a 16 MiB mapping page by page: iteration i rewrites
 * page (i % npages) with a pattern derived from how many times that page has
 * been written.  After SIGTERM (which the runner sends only after the
 * restore) the test
 *   - keeps iterating for PROGRESS_MS and requires real progress then, and
 *   - checks every page against the global iteration count, so memory that
 *     was lost, stale (an old page image) or torn shows up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define AREA_SIZE	(16UL << 20)
#define WORDS_PER_PAGE	16	/* pattern words written per visit */
#define PROGRESS_MS	300
#define MIN_PROGRESS	1000	/* iterations expected in PROGRESS_MS */

struct page_hdr {
	uint64_t page;
	uint64_t visits;
	uint64_t words[WORDS_PER_PAGE];
};

static char *area;
static size_t page_size, npages;
static uint64_t iter;

static inline uint64_t value(uint64_t page, uint64_t visits, int w)
{
	uint64_t x = page * 0x9e3779b97f4a7c15ULL ^ (visits + 1) * 0xff51afd7ed558ccdULL;

	return x + (uint64_t)w * 0xc4ceb9fe1a85ec53ULL;
}

static inline void step(void)
{
	uint64_t p = iter % npages;
	struct page_hdr *h = (struct page_hdr *)(area + p * page_size);
	uint64_t v = h->visits + 1;
	int w;

	for (w = 0; w < WORDS_PER_PAGE; w++)
		h->words[w] = value(p, v, w);
	h->page = p;
	h->visits = v;
	iter++;
}

static void run_for(uint64_t ms)
{
	uint64_t end = test_now_ns() + ms * 1000000ULL;

	while (test_now_ns() < end) {
		int k;

		for (k = 0; k < 1000; k++)
			step();
	}
}

static void check_area(void)
{
	uint64_t p;

	for (p = 0; p < npages; p++) {
		struct page_hdr *h = (struct page_hdr *)(area + p * page_size);
		uint64_t want = iter / npages + (p < iter % npages ? 1 : 0);
		int w;

		if (want == 0 && zero_check(h, page_size) < 0)
			continue;
		if (h->page != p || h->visits != want) {
			fail("page %lu: header says page %lu written %lu times; after %lu "
			     "iterations it must be %lu times", (unsigned long)p,
			     (unsigned long)h->page, (unsigned long)h->visits,
			     (unsigned long)iter, (unsigned long)want);
			return;
		}
		for (w = 0; w < WORDS_PER_PAGE; w++)
			if (h->words[w] != value(p, want, w)) {
				fail("page %lu word %d: %#lx, expected %#lx", (unsigned long)p,
				     w, (unsigned long)h->words[w],
				     (unsigned long)value(p, want, w));
				return;
			}
	}
}

int main(int argc, char **argv)
{
	uint64_t before, ms = 0;

	test_doc = "busy loop rewriting memory; must keep progressing after restore";
	test_init(argc, argv);
	page_size = sysconf(_SC_PAGESIZE);
	npages = AREA_SIZE / page_size;
	area = mmap(NULL, AREA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	/* Visit every page once so all are dirty before the first dump. */
	while (iter < npages)
		step();
	test_daemon();

	while (test_go()) {
		int k;

		for (k = 0; k < 10000; k++)
			step();
		/* Leave the other CPU some time (the dump runs there). */
		if (++ms % 16 == 0)
			test_sleep_ms(1);
	}
	test_msg("SIGTERM after %lu iterations", (unsigned long)iter);
	check_area();

	before = iter;
	run_for(PROGRESS_MS);
	if (iter - before < MIN_PROGRESS)
		fail("no progress after restore: %lu iterations in %d ms",
		     (unsigned long)(iter - before), PROGRESS_MS);
	else
		test_msg("%lu iterations in %d ms after SIGTERM",
			 (unsigned long)(iter - before), PROGRESS_MS);
	check_area();
	test_check_stdio();
	return test_verdict();
}
