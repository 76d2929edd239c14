/* inject_target: the process tests/runner/kill_dump.py kills cryo next to.
 *
 * cryo runs system calls inside each thread during a dump; whenever cryo
 * dies (SIGKILL at any moment), every thread must go on exactly as before.
 * After SIGTERM the program checks that it did:
 *   - a busy thread keeps values in general registers, XMM and (with AVX2)
 *     the upper half of a YMM register, and checks their relations on every
 *     round of its loop: any register put back wrong stops it with "bad";
 *     it must still be making progress;
 *   - a sleeping thread (clock_nanosleep in a loop) is still counting;
 *   - each thread's signal mask is exactly what it set; the main thread's
 *     alternate signal stack and SIGUSR1 action are unchanged;
 *   - a memory area (--mem_mb MiB, default 64) holds its pattern; a file
 *     descriptor is open at its offset.
 * It is also a plain test (inject_target.desc) so its checks are known good.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define FILE_OFFSET 4321
#define SEED 0x6b696c6c
#define YMM_HI 0x0123456789abcdefULL

static unsigned mem_mb = 64;
TEST_OPTION(mem_mb, uint, "MiB of memory to fill and check", 0);

static volatile int stop_busy, stop_sleeper;
static volatile uint64_t busy_iters, sleeper_iters;
static uint64_t busy_bad;
static sigset_t busy_mask, sleeper_mask;
static int busy_mask_ok, sleeper_mask_ok;

static int mask_is(const sigset_t *want)
{
	sigset_t now;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && sigismember(&now, s) != sigismember(want, s))
			return 0;
	return 1;
}

/* r12 counts, r13 = K - r12, r15 = 0x5555 + 3 * r12, xmm0 = {r12, r12},
 * xmm0 + xmm2 = -1; with AVX2 the upper half of ymm5 holds YMM_HI. */
static void busy_loop(int avx)
{
	uint64_t bad;
	asm volatile(
		"movabs $0x1234567890abcdef, %%r14\n\t"
		"xor %%r12, %%r12\n\t"
		"mov %%r14, %%r13\n\t"
		"mov $0x5555, %%r15\n\t"
		"mov $1, %%eax\n\t"
		"movq %%rax, %%xmm1\n\t"
		"punpcklqdq %%xmm1, %%xmm1\n\t"
		"pxor %%xmm0, %%xmm0\n\t"
		"pcmpeqd %%xmm2, %%xmm2\n\t"
		"test %[avx], %[avx]\n\t"
		"jz 1f\n\t"
		"movabs %[hi], %%rax\n\t"
		"movq %%rax, %%xmm6\n\t"
		"vpbroadcastq %%xmm6, %%ymm5\n\t"
		"1:\n\t"
		"add $1, %%r12\n\t"
		"sub $1, %%r13\n\t"
		"add $3, %%r15\n\t"
		"paddq %%xmm1, %%xmm0\n\t"
		"psubq %%xmm1, %%xmm2\n\t"
		"lea (%%r12,%%r13), %%rax\n\t"
		"cmp %%r14, %%rax\n\t"
		"jne 2f\n\t"
		"lea 0x5555(%%r12,%%r12,2), %%rax\n\t"
		"cmp %%r15, %%rax\n\t"
		"jne 2f\n\t"
		"movq %%xmm0, %%rax\n\t"
		"cmp %%r12, %%rax\n\t"
		"jne 2f\n\t"
		"movdqa %%xmm0, %%xmm3\n\t"
		"paddq %%xmm2, %%xmm3\n\t"
		"pcmpeqd %%xmm4, %%xmm4\n\t"
		"pcmpeqd %%xmm4, %%xmm3\n\t"
		"pmovmskb %%xmm3, %%eax\n\t"
		"cmp $0xffff, %%eax\n\t"
		"jne 2f\n\t"
		"test %[avx], %[avx]\n\t"
		"jz 4f\n\t"
		"vextracti128 $1, %%ymm5, %%xmm6\n\t"
		"movq %%xmm6, %%rax\n\t"
		"movabs %[hi], %%rcx\n\t"
		"cmp %%rcx, %%rax\n\t"
		"jne 2f\n\t"
		"4:\n\t"
		"mov %%r12, %[iters]\n\t"
		"testl $1, %[stop]\n\t"
		"jz 1b\n\t"
		"xor %%eax, %%eax\n\t"
		"jmp 3f\n\t"
		"2:\n\t"
		"mov %%r12, %%rax\n\t"
		"or $1, %%rax\n\t"
		"3:\n\t"
		"mov %%rax, %[bad]\n\t"
		: [bad] "=m"(bad), [iters] "=m"(busy_iters)
		: [stop] "m"(stop_busy), [avx] "r"((uint64_t)avx), [hi] "i"(YMM_HI)
		: "rax", "rcx", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
		  "xmm5", "xmm6", "cc", "memory");
	busy_bad = bad;
}

static void *busy(void *arg)
{
	pthread_sigmask(SIG_SETMASK, &busy_mask, NULL);
	busy_loop(__builtin_cpu_supports("avx2"));
	busy_mask_ok = mask_is(&busy_mask);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct timespec ts = { 0, 2000000 };
	pthread_sigmask(SIG_SETMASK, &sleeper_mask, NULL);
	while (!stop_sleeper) {
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		sleeper_iters++;
	}
	sleeper_mask_ok = mask_is(&sleeper_mask);
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* The counter must move on within a second. */
static void check_progress(volatile uint64_t *ctr, const char *what)
{
	uint64_t a = *ctr;
	for (int i = 0; i < 100 && *ctr == a; i++)
		test_sleep_ms(10);
	if (*ctr == a)
		fail("the %s thread made no progress (stuck at %llu)", what, (unsigned long long)a);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART | SA_ONSTACK };
	struct sigaction cur;
	struct fd_snap fsnap;
	pthread_t tb, ts;
	sigset_t main_mask;
	stack_t ss, oss;
	size_t len;
	char *area;
	ssize_t off;
	int fd;

	test_doc = "threads whose registers, masks and memory a killed dump must not disturb";
	test_init(argc, argv);

	len = (size_t)mem_mb << 20;
	area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		setup_fail("mmap of %u MiB failed", mem_mb);
	pattern_fill(area, len, SEED);

	fd = open("inject_target.data", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 2 * FILE_OFFSET) || lseek(fd, FILE_OFFSET, SEEK_SET) < 0)
		setup_fail("data file setup failed");
	fd_snap_take(fd, &fsnap);

	ss.ss_sp = malloc(SIGSTKSZ * 4);
	ss.ss_size = SIGSTKSZ * 4;
	ss.ss_flags = 0;
	if (!ss.ss_sp || sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL))
		setup_fail("sigaltstack/sigaction failed");

	sigemptyset(&main_mask);
	sigaddset(&main_mask, SIGUSR2);
	sigaddset(&main_mask, SIGRTMIN + 2);
	if (sigprocmask(SIG_BLOCK, &main_mask, NULL))
		setup_fail("sigprocmask failed");
	sigprocmask(SIG_BLOCK, NULL, &main_mask);
	sigemptyset(&busy_mask);
	sigaddset(&busy_mask, SIGUSR1);
	sigaddset(&busy_mask, SIGRTMIN + 5);
	sigaddset(&busy_mask, SIGTERM);		/* SIGTERM is the main thread's */
	sigemptyset(&sleeper_mask);
	sigaddset(&sleeper_mask, SIGHUP);
	sigaddset(&sleeper_mask, SIGTERM);
	sigaddset(&sleeper_mask, SIGRTMAX);
	if (pthread_create(&tb, NULL, busy, NULL) || pthread_create(&ts, NULL, sleeper, NULL))
		setup_fail("pthread_create failed");
	while (!busy_iters || !sleeper_iters)
		test_sleep_ms(1);

	test_daemon();
	test_waitsig();

	check_progress(&busy_iters, "busy");
	check_progress(&sleeper_iters, "sleeping");
	stop_busy = stop_sleeper = 1;
	pthread_join(tb, NULL);
	pthread_join(ts, NULL);
	if (busy_bad)
		fail("the busy thread found its registers changed after %llu rounds",
		     (unsigned long long)busy_bad);
	if (!busy_mask_ok)
		fail("the busy thread's signal mask changed");
	if (!sleeper_mask_ok)
		fail("the sleeping thread's signal mask changed");
	if (!mask_is(&main_mask))
		fail("the main thread's signal mask changed");
	if (sigaltstack(NULL, &oss) || oss.ss_sp != ss.ss_sp || oss.ss_size != ss.ss_size ||
	    oss.ss_flags != 0)
		fail("sigaltstack is %p/%zu/%d, expected %p/%zu/0", oss.ss_sp, oss.ss_size,
		     oss.ss_flags, ss.ss_sp, ss.ss_size);
	if (sigaction(SIGUSR1, NULL, &cur) || cur.sa_handler != on_usr1 ||
	    (cur.sa_flags & (SA_RESTART | SA_ONSTACK)) != (SA_RESTART | SA_ONSTACK))
		fail("the SIGUSR1 action changed");
	off = pattern_check(area, len, SEED);
	if (off >= 0)
		fail("memory differs at offset %zd", off);
	fd_snap_check(fd, &fsnap, "data file");
	if (lseek(fd, 0, SEEK_CUR) != FILE_OFFSET)
		fail("data file offset is %lld, expected %d", (long long)lseek(fd, 0, SEEK_CUR),
		     FILE_OFFSET);
	test_check_stdio();
	return test_verdict();
}
