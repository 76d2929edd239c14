/* rseq_cs: a thread spinning inside an rseq critical section.
 *
 * The worker arms glibc's rseq area with a critical-section descriptor that
 * covers a tight loop; each signal delivered to it makes the kernel abort
 * the section to the abort handler, which counts the abort and re-arms.  The
 * worker is therefore almost always inside the section when it is dumped.
 * After SIGTERM: signals sent to the worker still abort the section (the
 * count rises): the restored thread resumed at the abort handler, as the
 * kernel would have done, instead of spinning in a disarmed loop forever.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/rseq.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile uint64_t aborts;

static void on_usr1(int s) { (void)s; }

static void *worker(void *a)
{
	(void)a;
	/* SIGTERM is the main thread's (test_waitsig): a signal sent to the
	 * process may go to any thread that does not block it, and this one
	 * is always running, so the kernel would often pick it */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	asm volatile(
		".pushsection .data.rseq_cs_test, \"aw\"\n"
		".balign 32\n"
		"3: .long 0, 0\n"
		"   .quad 1f, (2f - 1f), 4f\n"
		".popsection\n"
		"5: leaq 3b(%%rip), %%rax\n"
		"   movq %%rax, %[cs]\n"
		"1: jmp 1b\n"
		"2:\n"
		"   .long 0x53053053\n"
		"4: lock incq %[cnt]\n"
		"   jmp 5b\n"
		: [cs] "=m"(rs->rseq_cs), [cnt] "+m"(aborts)
		:
		: "rax", "memory");
	return NULL;
}

static uint64_t poke(pthread_t th, int n)
{
	uint64_t before = aborts;
	/* one signal at a time, each given up to a second to land: a second
	 * SIGUSR1 sent before the thread ran again would merge with the first
	 * (standard signals do not queue) and a loaded machine would read as
	 * a disarmed section */
	for (int i = 0; i < n; i++) {
		uint64_t was = aborts;
		pthread_kill(th, SIGUSR1);
		for (int ms = 0; ms < 1000 && aborts == was; ms++)
			test_sleep_ms(1);
	}
	return aborts - before;
}

int main(int argc, char **argv)
{
	test_doc = "a thread inside an rseq critical section resumes at its abort handler";
	test_init(argc, argv);
	if (!__rseq_size)
		setup_fail("glibc registered no rseq area (GLIBC_TUNABLES glibc.pthread.rseq=0?)");
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	pthread_t th;
	if (pthread_create(&th, NULL, worker, NULL))
		setup_fail("pthread_create");
	if (poke(th, 10) < 5)
		setup_fail("signals do not abort the rseq critical section (%llu aborts)",
			   (unsigned long long)aborts);

	test_daemon();
	test_waitsig();

	uint64_t n = poke(th, 10);
	if (n < 5)
		fail("after restore, 10 signals aborted the critical section %llu time(s): the "
		     "thread is stuck in a disarmed section", (unsigned long long)n);
	pass();
	return 0;
}
