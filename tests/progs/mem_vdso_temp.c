/* mem_vdso_temp: memory at 4 GiB (0x100000000) in a child.
 *
 * The restore moves a new task's vDSO to where the image had it; a child
 * restored from its parent's memory must not pass it through an address
 * its own mappings hold (it once went through 0x100000000, replacing what
 * a child had there: ASan's shadow gap, a JVM heap).
 * Before the checkpoint: 64 KiB mapped at 0x100000000 (MAP_FIXED_NOREPLACE,
 * read-write, a pattern) and a 1 GiB PROT_NONE reservation after it; a
 * forked child keeps both.  After SIGTERM, in both processes: the region
 * holds its pattern (the child writes its own into page 1 first) and is one
 * mapping of that size, and the reservation is still there, whole.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#define BASE ((char *)0x100000000UL)
#define LEN (64UL << 10)
#define RES (1UL << 30)

static int check(const char *who, uint64_t seed1, bool quiet)
{
	size_t pg = sysconf(_SC_PAGESIZE);
	struct smaps_vma v, r;
	const char *bad = NULL;
	if (smaps_lookup(BASE, NULL, &v) || v.start != (uintptr_t)BASE ||
	    v.end != (uintptr_t)BASE + LEN || strncmp(v.perms, "rw", 2))
		bad = "the region at 0x100000000 is not one rw mapping of 64 KiB";
	else if (smaps_lookup(BASE + LEN, NULL, &r) || r.start != (uintptr_t)BASE + LEN ||
		 r.end != (uintptr_t)BASE + LEN + RES || strncmp(r.perms, "---", 3))
		bad = "the reservation after it is not whole";
	else if (pattern_check(BASE, pg, 0x4a) >= 0 || pattern_check(BASE + pg, pg, seed1) >= 0 ||
		 pattern_check(BASE + 2 * pg, LEN - 2 * pg, 0x4c) >= 0)
		bad = "the region's contents differ";
	if (bad) {
		if (quiet)
			test_msg("%s: %s", who, bad);
		else
			fail("%s: %s", who, bad);
	}
	return bad != NULL;
}

int main(int argc, char **argv)
{
	test_doc = "memory at 0x100000000 survives the vDSO's move in a child";
	test_init(argc, argv);
	size_t pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(BASE, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	char *q = mmap(BASE + LEN, RES, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != BASE || q != BASE + LEN)
		setup_fail("mmap at 0x100000000: %s", strerror(errno));
	pattern_fill(BASE, pg, 0x4a);
	pattern_fill(BASE + pg, pg, 0x4b);
	pattern_fill(BASE + 2 * pg, LEN - 2 * pg, 0x4c);
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
		pattern_fill(BASE + pg, pg, 0x5b);
		close(sync[0]);
		close(sync[1]);
		int sig;
		sigwait(&set, &sig);
		_exit(check("child", 0x5b, true));
	}
	close(sync[1]);
	char c;
	if (read(sync[0], &c, 1) != 0)
		setup_fail("sync with the child");
	close(sync[0]);

	test_daemon();
	test_waitsig();

	check("parent", 0x4b, false);
	int st;
	if (kill(child, SIGTERM) || waitpid(child, &st, 0) != child)
		fail_errno("stopping the child");
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's memory at 0x100000000 is wrong after the restore (%s %d)",
		     WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return test_verdict();
}
