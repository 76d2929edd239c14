/* anon_mem: the vertical slice -- a single-threaded process whose state is
 * anonymous memory.  Built dynamically (anon_mem) and statically
 * (anon_mem-static).
 *
 * State built before the checkpoint:
 *   - heap: malloc() blocks of several sizes (tiny, small, page-sized, above
 *     the mmap threshold, a few MiB), each with its own pattern;
 *   - brk: an sbrk() extension with a pattern, and the program break itself;
 *   - stack: a pattern in every frame of a 64-deep recursion, and a 64 KiB
 *     array in the deepest frame, where the test waits for SIGTERM;
 *   - a 64 MiB private anonymous mapping: 3 of every 4 pages written with a
 *     pattern, the 4th never touched (must read back as zero), and a run of
 *     pages written then MADV_DONTNEED'ed (must be zero too);
 *   - a read-only region (filled, then mprotect(PROT_READ)) and a PROT_NONE
 *     guard mapping, whose protections must survive;
 *   - globals in .data and .bss;
 *   - stdin/stdout/stderr as the runner set them (/dev/null or files).
 * After SIGTERM everything is checked, then the memory is written again to
 * prove it is still writable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define BIG_SIZE	(64UL << 20)
#define RO_SIZE		(1UL << 20)
#define GUARD_SIZE	(256UL << 10)
#define DEPTH		64
#define DEEP_ARRAY	(64 << 10)

static const size_t heap_sizes[] = {
	1, 7, 24, 100, 1000, 4096, 10000, 65536, 200000, 1 << 20, 3 << 20,
};
#define NR_HEAP (sizeof(heap_sizes) / sizeof(heap_sizes[0]))

static void *heap[NR_HEAP];
static size_t page_size;
static char *brk_area, *brk_end;
static size_t brk_size;
static char *big, *ro, *guard;
static size_t dontneed_first, dontneed_count;

/* .data and .bss */
static char data_buf[12345] = { 1 };
static char bss_buf[54321];

enum { SEED_HEAP = 0x1000, SEED_BRK = 0x2000, SEED_STACK = 0x3000,
       SEED_BIG = 0x4000, SEED_RO = 0x5000, SEED_DATA = 0x6000,
       SEED_BSS = 0x7000, SEED_AGAIN = 0x8000 };

static bool page_touched(size_t i)
{
	if (i >= dontneed_first && i < dontneed_first + dontneed_count)
		return false;
	return i % 4 != 3;
}

static void check_area(const char *what, const void *buf, size_t len, uint64_t seed)
{
	ssize_t off = pattern_check(buf, len, seed);

	if (off >= 0)
		fail("%s (%p, %zu bytes): byte %zd is 0x%02x, expected 0x%02x", what,
		     buf, len, off, ((const uint8_t *)buf)[off], pattern_byte(seed, off));
}

static void check_perms(const char *what, const void *addr, const char *want)
{
	char perms[5];

	if (maps_perms(addr, perms))
		fail("%s (%p): no longer mapped", what, addr);
	else if (strcmp(perms, want))
		fail("%s (%p): mapped %s, expected %s", what, addr, perms, want);
}

static void build_state(void)
{
	size_t i, npages;

	page_size = sysconf(_SC_PAGESIZE);

	for (i = 0; i < NR_HEAP; i++) {
		heap[i] = malloc(heap_sizes[i]);
		if (!heap[i])
			setup_fail("malloc(%zu)", heap_sizes[i]);
		pattern_fill(heap[i], heap_sizes[i], SEED_HEAP + i);
	}

	brk_size = 5 * page_size + 123;
	brk_area = sbrk(brk_size);
	if (brk_area == (void *)-1)
		setup_fail("sbrk: %s", strerror(errno));
	pattern_fill(brk_area, brk_size, SEED_BRK);

	big = mmap(NULL, BIG_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big == MAP_FAILED)
		setup_fail("mmap 64M: %s", strerror(errno));
	npages = BIG_SIZE / page_size;
	dontneed_first = npages / 2 + 1;
	dontneed_count = 37;
	for (i = 0; i < npages; i++)
		if (i % 4 != 3)
			pattern_fill(big + i * page_size, page_size, SEED_BIG + i);
	if (madvise(big + dontneed_first * page_size, dontneed_count * page_size, MADV_DONTNEED))
		setup_fail("madvise(MADV_DONTNEED): %s", strerror(errno));

	ro = mmap(NULL, RO_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED)
		setup_fail("mmap ro: %s", strerror(errno));
	pattern_fill(ro, RO_SIZE, SEED_RO);
	if (mprotect(ro, RO_SIZE, PROT_READ))
		setup_fail("mprotect: %s", strerror(errno));

	guard = mmap(NULL, GUARD_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED)
		setup_fail("mmap guard: %s", strerror(errno));

	pattern_fill(data_buf, sizeof(data_buf), SEED_DATA);
	pattern_fill(bss_buf, sizeof(bss_buf), SEED_BSS);
	/* Nothing may allocate from here on: brk_end must stay the break. */
	brk_end = sbrk(0);
}

static void check_state(void)
{
	size_t i, npages = BIG_SIZE / page_size;
	char *cur_brk = sbrk(0);
	char what[64];

	if (cur_brk != brk_end)
		fail("program break is %p, expected %p", cur_brk, brk_end);

	for (i = 0; i < NR_HEAP; i++) {
		snprintf(what, sizeof(what), "heap block %zu", i);
		check_area(what, heap[i], heap_sizes[i], SEED_HEAP + i);
	}
	check_area("sbrk area", brk_area, brk_size, SEED_BRK);
	check_area(".data", data_buf, sizeof(data_buf), SEED_DATA);
	check_area(".bss", bss_buf, sizeof(bss_buf), SEED_BSS);

	for (i = 0; i < npages; i++) {
		char *pg = big + i * page_size;

		if (page_touched(i)) {
			ssize_t off = pattern_check(pg, page_size, SEED_BIG + i);

			if (off >= 0) {
				fail("64M mapping: page %zu byte %zd is 0x%02x, expected 0x%02x",
				     i, off, (uint8_t)pg[off], pattern_byte(SEED_BIG + i, off));
				break;
			}
		} else {
			ssize_t off = zero_check(pg, page_size);

			if (off >= 0) {
				fail("64M mapping: page %zu (%s) byte %zd is 0x%02x, expected 0",
				     i, i % 4 == 3 ? "never touched" : "MADV_DONTNEED'ed",
				     off, (uint8_t)pg[off]);
				break;
			}
		}
	}
	check_area("read-only region", ro, RO_SIZE, SEED_RO);
	check_perms("64M mapping", big, "rw-p");
	check_perms("read-only region", ro, "r--p");
	check_perms("PROT_NONE guard", guard, "---p");
	test_check_stdio();
}

/* Everything is still writable: write new patterns and read them back. */
static void rewrite_state(void)
{
	size_t i;

	for (i = 0; i < NR_HEAP; i++) {
		pattern_fill(heap[i], heap_sizes[i], SEED_AGAIN + i);
		check_area("heap block (rewritten)", heap[i], heap_sizes[i], SEED_AGAIN + i);
	}
	pattern_fill(brk_area, brk_size, SEED_AGAIN);
	check_area("sbrk area (rewritten)", brk_area, brk_size, SEED_AGAIN);
	pattern_fill(big, BIG_SIZE, SEED_AGAIN);
	check_area("64M mapping (rewritten)", big, BIG_SIZE, SEED_AGAIN);
}

/* Each frame keeps a pattern; the deepest one holds a 64 KiB array and waits
 * for the checkpoint there.  Frames check their pattern on the way back. */
static int __attribute__((noinline)) deep(int depth)
{
	char frame[256];
	int ret;

	pattern_fill(frame, sizeof(frame), SEED_STACK + depth);
	if (depth < DEPTH) {
		ret = deep(depth + 1);
	} else {
		char arr[DEEP_ARRAY];

		pattern_fill(arr, sizeof(arr), SEED_STACK + 0x800);
		test_daemon();
		test_waitsig();
		check_area("stack array in the deepest frame", arr, sizeof(arr),
			   SEED_STACK + 0x800);
		ret = 0;
	}
	if (pattern_check(frame, sizeof(frame), SEED_STACK + depth) >= 0) {
		char what[64];

		snprintf(what, sizeof(what), "stack frame at depth %d", depth);
		check_area(what, frame, sizeof(frame), SEED_STACK + depth);
		ret = -1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	test_doc = "anonymous memory: heap, brk, stack, 64M mmap, protections";
	test_init(argc, argv);
	build_state();
	deep(0);		/* test_daemon() + test_waitsig() at the bottom */
	check_state();
	if (!test_failures())
		rewrite_state();
	return test_verdict();
}
