/* Real program: 4 threads doing AVX-512 arithmetic with their state living
 * in zmm0-zmm31 and the opmask register k1 for a whole round (an inline-asm
 * loop of --iters iterations that touches memory only at its start and
 * end), so a checkpoint taken mid-round finds live values in the registers.
 * The main thread prints one line per round (after a barrier) and a summary;
 * the output depends only on --rounds and --iters, never on timing.
 *
 *   avx512_threads [ROUNDS [ITERS]]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 4

struct state {
	uint64_t z[32][8] __attribute__((aligned(64)));
	uint16_t k1;
} __attribute__((aligned(64)));

static struct state st[NTHREADS];
static pthread_barrier_t start_b, end_b;
static unsigned rounds = 30;
static unsigned long iters = 1000000;

#define LOAD(n) "vmovdqa64 " #n "*64(%0), %%zmm" #n "\n\t"
#define STORE(n) "vmovdqa64 %%zmm" #n ", " #n "*64(%0)\n\t"
/* one mixing step over a pair (lo in zmm0-15, hi in zmm16-31) */
#define MIX(a, b)                                                              \
	"vpaddq %%zmm" #a ", %%zmm" #b ", %%zmm" #b "\n\t"                     \
	"vprolq $13, %%zmm" #b ", %%zmm" #b "\n\t"                             \
	"vpxorq %%zmm" #b ", %%zmm" #a ", %%zmm" #a "\n\t"

__attribute__((target("avx512f"), noinline))
static void kernel(struct state *s, unsigned long n)
{
	__asm__ volatile(
		LOAD(0) LOAD(1) LOAD(2) LOAD(3) LOAD(4) LOAD(5) LOAD(6) LOAD(7)
		LOAD(8) LOAD(9) LOAD(10) LOAD(11) LOAD(12) LOAD(13) LOAD(14) LOAD(15)
		LOAD(16) LOAD(17) LOAD(18) LOAD(19) LOAD(20) LOAD(21) LOAD(22) LOAD(23)
		LOAD(24) LOAD(25) LOAD(26) LOAD(27) LOAD(28) LOAD(29) LOAD(30) LOAD(31)
		"kmovw 2048(%0), %%k1\n\t"
		"1:\n\t"
		MIX(0, 16) MIX(1, 17) MIX(2, 18) MIX(3, 19)
		MIX(4, 20) MIX(5, 21) MIX(6, 22) MIX(7, 23)
		MIX(8, 24) MIX(9, 25) MIX(10, 26) MIX(11, 27)
		MIX(12, 28) MIX(13, 29) MIX(14, 30) MIX(15, 31)
		/* lanes selected by k1 only; then rotate the pairs */
		"vpaddq %%zmm31, %%zmm0, %%zmm0%{%%k1%}\n\t"
		"vpxorq %%zmm0, %%zmm15, %%zmm15\n\t"
		"kshiftlw $1, %%k1, %%k2\n\t"
		"kshiftrw $15, %%k1, %%k3\n\t"
		"korw %%k2, %%k3, %%k1\n\t"
		"dec %1\n\t"
		"jnz 1b\n\t"
		STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7)
		STORE(8) STORE(9) STORE(10) STORE(11) STORE(12) STORE(13) STORE(14) STORE(15)
		STORE(16) STORE(17) STORE(18) STORE(19) STORE(20) STORE(21) STORE(22) STORE(23)
		STORE(24) STORE(25) STORE(26) STORE(27) STORE(28) STORE(29) STORE(30) STORE(31)
		"kmovw %%k1, 2048(%0)\n\t"
		: "+r"(s), "+r"(n)
		:
		: "memory", "cc", "k1", "k2", "k3",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
		  "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
		  "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

static uint64_t digest(const struct state *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ s->k1;
	for (int r = 0; r < 32; r++)
		for (int l = 0; l < 8; l++)
			h = (h ^ s->z[r][l]) * 0x100000001b3ULL;
	return h;
}

static void *worker(void *arg)
{
	struct state *s = arg;

	for (unsigned r = 0; r < rounds; r++) {
		pthread_barrier_wait(&start_b);
		kernel(s, iters);
		pthread_barrier_wait(&end_b);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];
	uint64_t all = 0;

	if (argc > 1)
		rounds = strtoul(argv[1], NULL, 0);
	if (argc > 2)
		iters = strtoul(argv[2], NULL, 0);
	if (!__builtin_cpu_supports("avx512f")) {
		fprintf(stderr, "no AVX-512F on this CPU\n");
		return 77;
	}
	for (int t = 0; t < NTHREADS; t++) {
		for (int r = 0; r < 32; r++)
			for (int l = 0; l < 8; l++)
				st[t].z[r][l] = (t + 1) * 0x9e3779b97f4a7c15ULL * (r * 8 + l + 1);
		st[t].k1 = 0x5a5a ^ t;
	}
	pthread_barrier_init(&start_b, NULL, NTHREADS + 1);
	pthread_barrier_init(&end_b, NULL, NTHREADS + 1);
	for (int t = 0; t < NTHREADS; t++)
		if (pthread_create(&th[t], NULL, worker, &st[t])) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (unsigned r = 1; r <= rounds; r++) {
		pthread_barrier_wait(&start_b);
		pthread_barrier_wait(&end_b);
		printf("round %u:", r);
		for (int t = 0; t < NTHREADS; t++)
			printf(" %016" PRIx64, digest(&st[t]));
		printf("\n");
		fflush(stdout);
	}
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		all ^= digest(&st[t]);
	}
	printf("done: %u rounds of %lu iterations, %016" PRIx64 "\n", rounds, iters, all);
	return 0;
}
