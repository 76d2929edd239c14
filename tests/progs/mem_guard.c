/* mem_guard: guard regions (madvise MADV_GUARD_INSTALL, kernel 6.13).
 *
 * State built before the checkpoint:
 *   - a 16-page private anonymous region with a pattern, guard pages 3-4
 *     and 10 (one VMA: guards don't split it);
 *   - a 4-page shared file mapping (file next to the outfile) with a guard
 *     on page 1;
 *   - a region where a guard was installed and removed again (the kernel
 *     keeps "gu" in VmFlags, where it shows it);
 *   - a forked child sharing the anonymous region, which adds a guard on
 *     page 12 and removes the one on page 10 (it is restored from its
 *     parent's memory: inherited guards must be made its own).
 * After SIGTERM (the child gets one from the parent): each guard page raises
 * SIGSEGV when touched (caught, siglongjmp), every other page holds its
 * pattern, the regions are still one VMA each, "gu" is still there.
 */
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

#define NPG 16
enum { S_ANON = 0x9100, S_FILE = 0x9200, S_GU = 0x9300 };

static size_t pg;
static sigjmp_buf jb;
static volatile sig_atomic_t faulted;

static void on_segv(int sig)
{
	(void)sig;
	faulted = 1;
	siglongjmp(jb, 1);
}

/* 1 if touching @p raises SIGSEGV, 0 if it reads. */
static int touch_faults(volatile char *p)
{
	faulted = 0;
	if (!sigsetjmp(jb, 1))
		(void)*p;
	return faulted;
}

/* Checks one region against its guard set; returns the number of errors
 * and fail()s in the parent (@quiet in the child, which only reports with
 * test_msg and counts: its exit code is the verdict).  Regions need not be
 * VMAs of their own (the kernel may merge neighbours), but no guard may
 * split one. */
static int check_region(const char *what, char *base, int npg, uint64_t seed,
			const int *guards, int ng, bool quiet)
{
	int bad = 0;
	for (int i = 0; i < npg; i++) {
		bool g = false;
		for (int k = 0; k < ng; k++)
			g |= guards[k] == i;
		int f = touch_faults(base + i * pg);
		if (g != (bool)f) {
			bad++;
			if (!quiet)
				fail("%s page %d: %s", what, i, g ? "guard page can be read" :
				     "page faults but is no guard page");
			else
				test_msg("%s page %d: %s", what, i, g ? "guard page can be read" :
					 "page faults but is no guard page");
			continue;
		}
		if (!g && pattern_check(base + i * pg, pg, seed + i) >= 0) {
			bad++;
			if (!quiet)
				fail("%s page %d: contents differ", what, i);
			else
				test_msg("%s page %d: contents differ", what, i);
		}
	}
	struct smaps_vma v;
	if (smaps_lookup(base, NULL, &v) || v.start > (uintptr_t)base ||
	    v.end < (uintptr_t)base + npg * pg) {
		bad++;
		if (!quiet)
			fail("%s is split (VMA 0x%lx-0x%lx)", what, (unsigned long)v.start,
			     (unsigned long)v.end);
	}
	return bad;
}

static void fill_pages(char *base, int npg, uint64_t seed)
{
	for (int i = 0; i < npg; i++)
		pattern_fill(base + i * pg, pg, seed + i);
}

static void guard(char *p, size_t len, int adv)
{
	if (madvise(p, len, adv))
		setup_fail("madvise(%s): %s", adv == MADV_GUARD_INSTALL ? "MADV_GUARD_INSTALL" :
			   "MADV_GUARD_REMOVE", strerror(errno));
}

int main(int argc, char **argv)
{
	test_doc = "guard regions come back and still fault";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_NODEFER };
	sigaction(SIGSEGV, &sa, NULL);

	char *a = mmap(NULL, NPG * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *gu = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || gu == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	fill_pages(a, NPG, S_ANON);
	guard(a + 3 * pg, 2 * pg, MADV_GUARD_INSTALL);
	guard(a + 10 * pg, pg, MADV_GUARD_INSTALL);
	guard(gu + 2 * pg, pg, MADV_GUARD_INSTALL);
	guard(gu + 2 * pg, pg, MADV_GUARD_REMOVE);
	fill_pages(gu, 4, S_GU);
	bool shows_gu = vma_has_flag(gu, "gu");

	char dir[2048], path[4096];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(path, sizeof(path), "%s/mem_guard.file", dirname(dir));
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4 * pg))
		setup_fail("create %s: %s", path, strerror(errno));
	char *f = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		setup_fail("mmap %s: %s", path, strerror(errno));
	close(fd);
	fill_pages(f, 4, S_FILE);
	guard(f + pg, pg, MADV_GUARD_INSTALL);

	int pguards[] = { 3, 4, 10 }, cguards[] = { 3, 4, 12 }, fguards[] = { 1 };
	int sync[2];
	if (pipe(sync))
		setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		test_forked_child();
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		guard(a + 10 * pg, pg, MADV_GUARD_REMOVE);
		pattern_fill(a + 10 * pg, pg, S_ANON + 10);
		guard(a + 12 * pg, pg, MADV_GUARD_INSTALL);
		close(sync[0]);
		close(sync[1]);
		int sig;
		sigwait(&set, &sig);
		int bad = check_region("child's anonymous region", a, NPG, S_ANON, cguards, 3, true);
		bad += check_region("child's file mapping", f, 4, S_FILE, fguards, 1, true);
		_exit(bad ? 1 : 0);
	}
	close(sync[1]);
	char c;
	if (read(sync[0], &c, 1) != 0)
		setup_fail("sync with the child");
	close(sync[0]);

	test_daemon();
	test_waitsig();

	check_region("anonymous region", a, NPG, S_ANON, pguards, 3, false);
	check_region("shared file mapping", f, 4, S_FILE, fguards, 1, false);
	check_region("region whose guard was removed", gu, 4, S_GU, NULL, 0, false);
	if (shows_gu && !vma_has_flag(gu, "gu"))
		fail("the region whose guard was removed lost VmFlag gu");
	if (!vma_has_flag(a + 5 * pg, "gu") && shows_gu)
		fail("the guarded region lacks VmFlag gu");

	int st;
	if (kill(child, SIGTERM) || waitpid(child, &st, 0) != child)
		fail_errno("stopping the child");
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's guard pages or contents are wrong after the restore (%s %d)",
		     WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return test_verdict();
}
