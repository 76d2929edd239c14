/* Real program: holds 2 GiB of data (--size MiB) and works on it.
 *
 * Fills the whole area with a position-dependent pattern, then for STEPS
 * steps rewrites one 64 MiB slice with a step-dependent pattern, prints the
 * slice's checksum and sleeps 50 ms; at the end prints a checksum of all of
 * it.  The output depends only on the arguments, so a run checkpointed
 * mid-way (the whole 2 GiB in the images) must print exactly the same.
 *
 *   bigmem [SIZE_MIB [STEPS]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define SLICE (64UL << 20)

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static uint64_t sum(const uint64_t *p, size_t words)
{
	uint64_t a = 0, b = 0;
	for (size_t i = 0; i < words; i += 2) {
		a = (a + p[i]) * 0x9e3779b97f4a7c15ULL;
		b ^= p[i + 1] + i;
	}
	return a ^ mix(b);
}

int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? strtoul(argv[1], NULL, 0) : 2048) << 20;
	unsigned steps = argc > 2 ? strtoul(argv[2], NULL, 0) : 16;
	size_t nslices = size / SLICE, words = size / 8;
	struct timespec ts = { 0, 50 * 1000000L };
	uint64_t *a;

	if (nslices < 1) {
		fprintf(stderr, "size must be at least 64 MiB\n");
		return 2;
	}
	a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t i = 0; i < words; i++)
		a[i] = mix(i + 1);
	printf("filled %zu MiB\n", size >> 20);
	fflush(stdout);
	for (unsigned s = 1; s <= steps; s++) {
		size_t k = (s * 7) % nslices;
		uint64_t *p = a + k * (SLICE / 8);
		for (size_t i = 0; i < SLICE / 8; i++)
			p[i] = mix(p[i] ^ s);
		printf("step %u slice %zu: %016" PRIx64 "\n", s, k, sum(p, SLICE / 8));
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
	printf("done: %016" PRIx64 "\n", sum(a, words));
	return 0;
}
