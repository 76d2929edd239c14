/* mem_mseal: mappings sealed with mseal() (kernel 6.10) come back sealed.
 *
 * State built before the checkpoint:
 *   A  4 anonymous pages, read-write, pattern, sealed;
 *   R  4 anonymous pages, pattern written then mprotect'ed read-only, sealed
 *      (a discarding madvise of a read-only anonymous sealed range fails);
 *   X  2 anonymous pages, pattern, PROT_READ|PROT_EXEC, sealed;
 *   F  a private read-only mapping of 3 pages of a file, sealed;
 *   S  a shared read-write mapping of a file, written after mmap, sealed;
 *   U  2 anonymous pages next to A, not sealed (must stay unsealed);
 *   a forked child that shares A (copy-on-write), writes its own page 1 of
 *   it and checks its copy after restore (it gets the seal by fork; cryo
 *   restores it from its parent's memory).
 * After SIGTERM, for each sealed range: VmFlag "sl", the protection it had,
 * the data, and mprotect, munmap and mremap fail with EPERM (and madvise
 * MADV_DONTNEED on R); U can still be unmapped.
 */
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#ifndef __NR_mseal
#define __NR_mseal 462
#endif

static size_t pg;

static void seal(void *p, size_t len, const char *what)
{
	if (syscall(__NR_mseal, p, len, 0))
		setup_fail("mseal %s: %s", what, strerror(errno));
}

/* The checks of one sealed range; the number of errors (reported with
 * fail(), or only with test_msg() when @quiet: a child's verdict is its
 * exit code). */
static int check_sealed(const char *what, char *p, size_t npg, uint64_t seed,
			const char *perms, bool ro_anon, bool quiet)
{
	int bad = 0;
	char msg[256] = "";
	struct smaps_vma v;
	if (!vma_has_flag(p, "sl"))
		snprintf(msg, sizeof(msg), "%s is not sealed (no VmFlag sl)", what), bad++;
	else if (smaps_lookup(p, NULL, &v) || strncmp(v.perms, perms, 3))
		snprintf(msg, sizeof(msg), "%s has protection %.3s, not %s", what, v.perms, perms), bad++;
	else if (pattern_check(p, npg * pg, seed) >= 0)
		snprintf(msg, sizeof(msg), "%s: data differ at offset %zd", what,
			 pattern_check(p, npg * pg, seed)), bad++;
	else if (!mprotect(p, pg, PROT_READ | PROT_WRITE | PROT_EXEC) || errno != EPERM)
		snprintf(msg, sizeof(msg), "%s: mprotect did not fail with EPERM", what), bad++;
	else if (!munmap(p, npg * pg) || errno != EPERM)
		snprintf(msg, sizeof(msg), "%s: munmap did not fail with EPERM", what), bad++;
	else if (mremap(p, npg * pg, 2 * npg * pg, MREMAP_MAYMOVE) != MAP_FAILED || errno != EPERM)
		snprintf(msg, sizeof(msg), "%s: mremap did not fail with EPERM", what), bad++;
	else if (ro_anon && (!madvise(p, pg, MADV_DONTNEED) || errno != EPERM))
		snprintf(msg, sizeof(msg), "%s: madvise(MADV_DONTNEED) did not fail with EPERM",
			 what), bad++;
	else if (pattern_check(p, npg * pg, seed) >= 0)
		snprintf(msg, sizeof(msg), "%s: data changed by the refused calls", what), bad++;
	if (bad) {
		if (quiet)
			test_msg("%s", msg);
		else
			fail("%s", msg);
	}
	return bad;
}

static char *map(size_t npg, int prot, int flags, int fd)
{
	char *p = mmap(NULL, npg * pg, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap %zu pages: %s", npg, strerror(errno));
	return p;
}

int main(int argc, char **argv)
{
	test_doc = "mseal()ed mappings come back sealed, with their data and protection";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);

	/* A and U adjacent: one reservation, A's part sealed */
	char *au = map(6, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	char *a = au, *u = au + 4 * pg;
	pattern_fill(a, 4 * pg, 0xa1);
	pattern_fill(u, 2 * pg, 0xa2);
	char *r = map(4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	pattern_fill(r, 4 * pg, 0xb1);
	if (mprotect(r, 4 * pg, PROT_READ))
		setup_fail("mprotect: %s", strerror(errno));
	char *x = map(2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	pattern_fill(x, 2 * pg, 0xc1);
	if (mprotect(x, 2 * pg, PROT_READ | PROT_EXEC))
		setup_fail("mprotect: %s", strerror(errno));

	char dir[2048], path[4096];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(path, sizeof(path), "%s/mem_mseal.file", dirname(dir));
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 5 * pg))
		setup_fail("create %s: %s", path, strerror(errno));
	char *w = map(5, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	pattern_fill(w, 3 * pg, 0xd1);		/* the file's pages 0-2: F's data */
	munmap(w, 5 * pg);
	char *f = map(3, PROT_READ, MAP_PRIVATE, fd);
	char *s = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 3 * pg);
	if (s == MAP_FAILED)
		setup_fail("mmap shared: %s", strerror(errno));
	pattern_fill(s, 2 * pg, 0xe1);
	close(fd);

	seal(a, 4 * pg, "A");
	seal(r, 4 * pg, "R");
	seal(x, 2 * pg, "X");
	seal(f, 3 * pg, "F");
	seal(s, 2 * pg, "S");
	if (vma_has_flag(u, "sl"))
		setup_fail("the unsealed neighbour U shows VmFlag sl");

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
		pattern_fill(a + pg, pg, 0xf1);	/* its own copy of A's page 1 */
		close(sync[0]);
		close(sync[1]);
		int sig;
		sigwait(&set, &sig);
		int bad = check_sealed("child's A page 0", a, 1, 0xa1, "rw-", false, true);
		if (pattern_check(a + pg, pg, 0xf1) >= 0)
			test_msg("child's A page 1: data differ"), bad++;
		bad += check_sealed("child's R", r, 4, 0xb1, "r--", true, true);
		_exit(bad ? 1 : 0);
	}
	close(sync[1]);
	char c;
	if (read(sync[0], &c, 1) != 0)
		setup_fail("sync with the child");
	close(sync[0]);

	test_daemon();
	test_waitsig();

	check_sealed("A (anonymous rw)", a, 4, 0xa1, "rw-", false, false);
	check_sealed("R (anonymous r)", r, 4, 0xb1, "r--", true, false);
	check_sealed("X (anonymous rx)", x, 2, 0xc1, "r-x", true, false);
	check_sealed("F (private file r)", f, 3, 0xd1, "r--", false, false);
	check_sealed("S (shared file rw)", s, 2, 0xe1, "rw-", false, false);
	if (vma_has_flag(u, "sl"))
		fail("U, never sealed, is sealed after the restore");
	else if (pattern_check(u, 2 * pg, 0xa2) >= 0)
		fail("U: data differ");
	else if (munmap(u, 2 * pg))
		fail_errno("munmap of the unsealed U");

	int st;
	if (kill(child, SIGTERM) || waitpid(child, &st, 0) != child)
		fail_errno("stopping the child");
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's sealed mappings are wrong after the restore (%s %d)",
		     WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return test_verdict();
}
