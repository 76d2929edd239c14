/* lazy_mem: memory for a lazy restore (restore --lazy-pages with the
 * `cryo lazy-pages` daemon, tests/runner/lazy_pages.py and run.py's "lazy"
 * variant): the pages are filled on the first touch and in the background,
 * while the process runs.
 *
 * State built before the checkpoint:
 *   - A, 320 MiB: 7 of every 8 pages with a pattern of their own, the 8th
 *     never touched (must read back as zero);
 *   - B, C, D, E, 16 MiB each, patterned, touched by no one until the
 *     events below.
 * Four threads read random pages of A all the time and check each one
 * (right after the restore they fault at once, often on the same pages).
 * A watcher thread sees the restore (its start time in /proc/self/stat
 * changes) and at once, while pages are still missing:
 *   - forks a child that checks all of E and 2000 random pages of A, and
 *     exits 0 if they are right;
 *   - moves C elsewhere with mremap and checks it there;
 *   - unmaps the second half of B, maps new memory there (must read zero);
 *   - drops the middle of D with MADV_DONTNEED (must read zero after).
 * After SIGTERM: every byte of A to E as it must be, the child's verdict,
 * and that the events ran (the process was restored).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define A_SIZE		(320UL << 20)
#define X_SIZE		(16UL << 20)
#define NR_WORKERS	4

static size_t ps;
static char *A, *B, *C, *D, *E, *C_new;
static volatile int stop, events_done;
static int child_status = -1;
static unsigned long long worker_checks[NR_WORKERS];

enum { SEED_A = 0x10000000, SEED_B = 0x20000, SEED_C = 0x30000, SEED_D = 0x40000,
       SEED_E = 0x50000 };

static bool a_touched(size_t i)
{
	return i % 8 != 7;
}

/* Page @i of A: 0 if right, else logs and returns -1. */
static int check_a_page(size_t i, const char *who)
{
	const char *p = A + i * ps;
	ssize_t off = a_touched(i) ? pattern_check(p, ps, SEED_A + i) : zero_check(p, ps);
	if (off < 0)
		return 0;
	fail("%s: A page %zu (%p) byte %zd is 0x%02x, expected 0x%02x", who, i, p, off,
	     (uint8_t)p[off], a_touched(i) ? pattern_byte(SEED_A + i, off) : 0);
	return -1;
}

static void fill(char *x, uint64_t seed)
{
	for (size_t i = 0; i < X_SIZE / ps; i++)
		pattern_fill(x + i * ps, ps, seed + i);
}

/* Pages [@from, @to) of a 16 MiB area at @x, patterned from @seed. */
static int check_x(const char *what, const char *x, uint64_t seed, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		ssize_t off = pattern_check(x + i * ps, ps, seed + i);
		if (off >= 0) {
			fail("%s page %zu byte %zd is 0x%02x, expected 0x%02x", what, i, off,
			     (uint8_t)x[i * ps + off], pattern_byte(seed + i, off));
			return -1;
		}
	}
	return 0;
}

static int check_zero(const char *what, const char *x, size_t len)
{
	ssize_t off = zero_check(x, len);
	if (off >= 0) {
		fail("%s: byte %zd is 0x%02x, expected 0", what, off, (uint8_t)x[off]);
		return -1;
	}
	return 0;
}

static void *worker(void *arg)
{
	long t = (long)arg;
	uint64_t x = 0x9e3779b97f4a7c15ULL * (t + 1);
	size_t n = A_SIZE / ps;
	while (!stop) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (check_a_page(x % n, "worker") < 0)
			break;
		worker_checks[t]++;
	}
	return NULL;
}

static unsigned long long start_time(void)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long long st = 0;
	/* after the comm: state is field 3, starttime field 22 */
	for (int field = 2; p && *p; p++) {
		if (*p == ' ' && ++field == 22) {
			st = strtoull(p + 1, NULL, 10);
			break;
		}
	}
	return st;
}

static void events(void)
{
	/* a fork: the child's memory is lazy too */
	pid_t c = fork();
	if (c == 0) {
		int bad = check_x("child: E", E, SEED_E, 0, X_SIZE / ps);
		uint64_t x = 12345;
		for (int k = 0; k < 2000 && !bad; k++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			bad = check_a_page((x >> 16) % (A_SIZE / ps), "child");
		}
		_exit(bad ? 1 : 0);
	}
	if (c < 0)
		fail("fork after restore: %m");
	/* mremap C to a spot reserved for it */
	void *r = mremap(C, X_SIZE, X_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, C_new);
	if (r != C_new)
		fail("mremap of C to %p: %m", C_new);
	else
		check_x("C (moved)", C_new, SEED_C, 0, X_SIZE / ps);
	/* unmap half of B, map fresh memory there */
	if (munmap(B + X_SIZE / 2, X_SIZE / 2))
		fail("munmap of B's second half: %m");
	else if (mmap(B + X_SIZE / 2, X_SIZE / 2, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != B + X_SIZE / 2)
		fail("mmap over B's second half: %m");
	else
		check_zero("B's second half, mapped again", B + X_SIZE / 2, X_SIZE / 2);
	/* drop D's middle quarter */
	if (madvise(D + X_SIZE / 4, X_SIZE / 4, MADV_DONTNEED))
		fail("madvise(MADV_DONTNEED) of D: %m");
	check_zero("D's middle after MADV_DONTNEED", D + X_SIZE / 4, X_SIZE / 4);
	if (c > 0) {
		int st;
		if (waitpid(c, &st, 0) != c)
			fail("waitpid of the child: %m");
		else
			child_status = st;
	}
	events_done = 1;
}

static void *watcher(void *arg)
{
	unsigned long long st0 = start_time();
	while (!stop) {
		if (start_time() != st0) {
			events();
			return NULL;
		}
		usleep(1000);
	}
	return NULL;
}

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		pr_perror("mmap of %zu bytes", len);
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	pthread_t w[NR_WORKERS], wt;

	test_doc = "lazy restore: 400 MiB read at random by threads, fork, mremap, munmap, MADV_DONTNEED";
	test_init(argc, argv);
	ps = sysconf(_SC_PAGESIZE);
	A = map(A_SIZE);
	for (size_t i = 0; i < A_SIZE / ps; i++)
		if (a_touched(i))
			pattern_fill(A + i * ps, ps, SEED_A + i);
	/* guard gaps (PROT_NONE) keep the areas apart as VMAs of their own */
	char *area = map(5 * X_SIZE + 6 * ps);
	for (int k = 0; k <= 5; k++)
		mprotect(area + k * (X_SIZE + ps), ps, PROT_NONE);
	B = area + ps;
	C = B + X_SIZE + ps;
	D = C + X_SIZE + ps;
	E = D + X_SIZE + ps;
	/* reserved (PROT_NONE, so no thread stack lands there): mremap goes
	 * there, replacing it */
	C_new = E + X_SIZE + ps;
	mprotect(C_new, X_SIZE, PROT_NONE);
	fill(B, SEED_B);
	fill(C, SEED_C);
	fill(D, SEED_D);
	fill(E, SEED_E);

	for (long t = 0; t < NR_WORKERS; t++)
		if (pthread_create(&w[t], NULL, worker, (void *)t)) {
			pr_perror("pthread_create");
			return 1;
		}
	if (pthread_create(&wt, NULL, watcher, NULL)) {
		pr_perror("pthread_create");
		return 1;
	}

	test_daemon();
	test_waitsig();

	stop = 1;
	for (int t = 0; t < NR_WORKERS; t++)
		pthread_join(w[t], NULL);
	pthread_join(wt, NULL);

	if (!events_done)
		fail("the events after the restore did not run (no restore seen: the start time "
		     "never changed)");
	if (child_status != 0)
		fail("the child forked after the restore: status 0x%x (1: wrong memory, see its "
		     "output)", child_status);
	for (size_t i = 0; i < A_SIZE / ps; i++)
		if (check_a_page(i, "final"))
			break;
	check_x("B's first half", B, SEED_B, 0, X_SIZE / ps / 2);
	check_zero("B's second half", B + X_SIZE / 2, X_SIZE / 2);
	if (events_done)
		check_x("C (moved)", C_new, SEED_C, 0, X_SIZE / ps);
	check_x("D's first quarter", D, SEED_D, 0, X_SIZE / ps / 4);
	check_zero("D's middle", D + X_SIZE / 4, X_SIZE / 4);
	check_x("D's second half", D, SEED_D, X_SIZE / ps / 2, X_SIZE / ps);
	check_x("E", E, SEED_E, 0, X_SIZE / ps);
	unsigned long long n = 0;
	for (int t = 0; t < NR_WORKERS; t++)
		n += worker_checks[t];
	test_msg("%llu random pages checked by the workers", n);
	return test_verdict();
}
