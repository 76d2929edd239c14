/* mem_predump: memory changed between the iterations of an incremental
 * dump (cryo pre-dump, pre-dump --prev-images-dir, dump --prev-images-dir
 * --track-mem; driven by tests/runner/predump.py, which sends SIGUSR1 after
 * each pre-dump and waits for the file predump.stepN in the working
 * directory).
 *
 * Before the first pre-dump: A (64 pages), B (16) and E (16) written with
 * generation-1 patterns, F (8) too.
 * Step 1: A pages 0-9 rewritten (generation 2); A page 40 written by the
 *   kernel (read() from a pipe); B unmapped; E pages 0-7 dropped
 *   (MADV_DONTNEED: zero again); C (8 pages) mapped and written.
 * Step 2: A pages 5-14 rewritten (generation 3); C page 0 rewritten; D (4
 *   pages) mapped and written; F moved elsewhere with mremap.
 * After the restore every byte of A, C, D, E and F is checked against what
 * it must be (so a page taken from the wrong dump of the chain, or a page
 * left to a previous dump that was written since, fails), and B must be
 * unmapped.
 *
 * --fork: a child forked before the first pre-dump shares G (16 pages)
 * copy-on-write; in step 1 it rewrites G pages 0-3 (its own copies); after
 * the restore it checks G and reports through its exit status (its pages
 * come through the chain of previous dumps into a fork of the restored
 * parent: mem_inherit.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NA 64
#define NB 16
#define NC 8
#define ND 4
#define NE 16
#define NF 8
#define NG 16

static bool do_fork;
TEST_OPTION(do_fork, bool, "fork a child sharing G", 0);

static size_t P;
static char *A, *B, *C, *D, *E, *F, *R, *G;
static pid_t child;
static int child_ack[2];
static volatile sig_atomic_t steps_asked;
static int steps_done;

static uint64_t seed(char region, size_t page, int gen)
{
	return ((uint64_t)region << 32) | ((uint64_t)gen << 16) | page;
}

static void fill(char *base, char region, size_t first, size_t n, int gen)
{
	for (size_t i = first; i < first + n; i++)
		pattern_fill(base + i * P, P, seed(region, i, gen));
}

static char *map(size_t pages)
{
	char *p = mmap(NULL, pages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap of %zu pages failed", pages);
	madvise(p, pages * P, MADV_NOHUGEPAGE);
	return p;
}

static void on_usr1(int sig)
{
	(void)sig;
	steps_asked++;
}

static void ack(int n)
{
	char name[32];
	snprintf(name, sizeof(name), "predump.step%d", n);
	FILE *f = fopen(name, "w");
	if (!f) {
		fail_errno("can't create %s", name);
		return;
	}
	fclose(f);
}

static void step1(void)
{
	int p[2];
	fill(A, 'A', 0, 10, 2);
	/* a write by the kernel, not by the task */
	char *buf = malloc(P);
	pattern_fill(buf, P, seed('A', 40, 2));
	if (pipe(p) || write(p[1], buf, P) != (ssize_t)P || read(p[0], A + 40 * P, P) != (ssize_t)P)
		fail_errno("pipe write into A");
	close(p[0]);
	close(p[1]);
	free(buf);
	if (munmap(B, NB * P))
		fail_errno("munmap B");
	if (madvise(E, 8 * P, MADV_DONTNEED))
		fail_errno("madvise E");
	C = map(NC);
	fill(C, 'C', 0, NC, 1);
}

static void step2(void)
{
	fill(A, 'A', 5, 10, 3);
	fill(C, 'C', 0, 1, 3);
	D = map(ND);
	fill(D, 'D', 0, ND, 1);
	/* moved: a new VMA for the tracking, same contents */
	char *nf = mremap(F, NF * P, NF * P, MREMAP_MAYMOVE | MREMAP_FIXED, R);
	if (nf == MAP_FAILED)
		fail_errno("mremap F");
	else
		F = nf;
}

static int check_child_g(int steps)
{
	int bad = 0;
	for (size_t i = 0; i < NG; i++) {
		int gen = i < 4 && steps >= 1 ? 2 : 1;
		ssize_t off = pattern_check(G + i * P, P, seed('G', i, gen));
		if (off >= 0) {
			test_msg("child: G page %zu differs at byte %zd (expected generation %d)\n",
				 i, off, gen);
			bad = 1;
		}
	}
	return bad;
}

/* The child: rewrites G pages 0-3 at step 1, acks each step on the pipe,
 * checks G at SIGTERM. */
static void child_main(void)
{
	int done = 0;
	test_forked_child();
	close(child_ack[0]);
	while (test_go()) {
		while (done < steps_asked) {
			if (++done == 1)
				fill(G, 'G', 0, 4, 2);
			if (write(child_ack[1], "s", 1) != 1)
				_exit(3);
		}
		usleep(10000);
	}
	_exit(done == 2 ? check_child_g(done) : 2);
}

static void check(const char *what, char *base, char region, size_t i, int gen)
{
	ssize_t off = gen ? pattern_check(base + i * P, P, seed(region, i, gen))
			  : zero_check(base + i * P, P);
	if (off >= 0)
		fail("%s page %zu differs at byte %zd (expected generation %d)", what, i, off, gen);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	P = sysconf(_SC_PAGESIZE);
	A = map(NA);
	B = map(NB);
	E = map(NE);
	F = map(NF);
	fill(A, 'A', 0, NA, 1);
	fill(B, 'B', 0, NB, 1);
	fill(E, 'E', 0, NE, 1);
	fill(F, 'F', 0, NF, 1);
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	if (do_fork) {
		G = map(NG);
		fill(G, 'G', 0, NG, 1);
		if (pipe(child_ack))
			setup_fail("pipe");
		child = fork();
		if (child < 0)
			setup_fail("fork");
		if (child == 0)
			child_main();
		close(child_ack[1]);
	}
	/* room for F's move: a reservation it replaces */
	R = mmap(NULL, NF * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (R == MAP_FAILED)
		setup_fail("mmap of the reservation failed");
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	test_daemon();

	while (!test_sig_received) {
		while (steps_done < steps_asked) {
			steps_done++;
			char c;
			if (child && (kill(child, SIGUSR1) || read(child_ack[0], &c, 1) != 1))
				fail_errno("the child did not do step %d", steps_done);
			if (steps_done == 1)
				step1();
			else if (steps_done == 2)
				step2();
			ack(steps_done);
		}
		if (!test_sig_received && steps_done == steps_asked)
			sigsuspend(&old);
	}

	if (steps_done != 2)
		fail("%d steps were asked for, not 2: the wrapper did not drive the iterations",
		     steps_done);
	for (size_t i = 0; i < NA; i++) {
		int gen = i >= 5 && i < 15 ? 3 : i < 5 || i == 40 ? 2 : 1;
		check("A", A, 'A', i, gen);
	}
	for (size_t i = 0; C && i < NC; i++)
		check("C", C, 'C', i, i == 0 ? 3 : 1);
	for (size_t i = 0; D && i < ND; i++)
		check("D", D, 'D', i, 1);
	for (size_t i = 0; i < NE; i++)
		check("E", E, 'E', i, i < 8 ? 0 : 1);
	for (size_t i = 0; i < NF; i++)
		check("F", F, 'F', i, 1);
	if (child) {
		int st;
		kill(child, SIGTERM);
		if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
			fail("the child failed (status 0x%x, see messages)", st);
	}
	char perms[5];
	if (maps_perms(B, perms) == 0)
		fail("B (unmapped before the dump) is mapped again (%s)", perms);
	/* still writable and tracked by nothing */
	fill(A, 'A', 0, NA, 4);
	return test_verdict();
}
