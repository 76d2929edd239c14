/* mem_mlockall: a process that locked all its memory, now and future
 * (mlockall(MCL_CURRENT | MCL_FUTURE)), as audio, real-time and key-holding
 * programs do.  After SIGTERM: every mapping of the process that the kernel
 * can lock ("lo" in VmFlags: not [vvar*], not PROT_NONE areas) is still
 * locked (the kernel may merge or split them: ranges are compared), its
 * heap data intact, VmLck not lower than before, and a new mapping is
 * locked at once (MCL_FUTURE).  Two children (fork doesn't pass the
 * default flags on): one called mlockall(MCL_FUTURE | MCL_ONFAULT) only,
 * so its new mappings must be "lo lf"; the other never called it, so its
 * new mappings must not be locked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

static long vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* the mappings that are locked: [start, end) pairs, in order */
static int locked_vmas(unsigned long (*out)[2], int max, char names[][96])
{
	char line[512];
	int n = 0;
	unsigned long start = 0, end = 0;
	char name[96] = "";
	FILE *f = fopen("/proc/self/smaps", "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2) {
			start = s;
			end = e;
			char *p = strrchr(line, ' ');
			snprintf(name, sizeof(name), "%s", p ? p + 1 : "");
			name[strcspn(name, "\n")] = 0;
		} else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " lo") && n < max) {
			out[n][0] = start;
			out[n][1] = end;
			snprintf(names[n], 96, "%s", name);
			n++;
		}
	}
	if (f)
		fclose(f);
	return n;
}

#define MAXV 256
static unsigned long before[MAXV][2], after[MAXV][2];
static char nb[MAXV][96], na[MAXV][96];

/* a mapping made now: "lo" and "lf" as expected? */
static void check_fresh(const char *who, bool lo, bool lf)
{
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fail_errno("%s: mmap after the restore", who);
		return;
	}
	if (vma_has_flag(p, "lo") != lo || vma_has_flag(p, "lf") != lf)
		fail("%s: a mapping made after the restore has lo %d lf %d, expected %d %d", who,
		     vma_has_flag(p, "lo"), vma_has_flag(p, "lf"), lo, lf);
}

static pid_t child(int flags, int ready)
{
	pid_t pid = fork();
	if (pid)
		return pid;
	test_forked_child();
	if (flags && mlockall(flags))
		_exit(2);
	if (write(ready, "r", 1) != 1)
		_exit(3);
	while (test_go())
		test_sleep_ms(20);
	check_fresh(flags ? "child with MCL_FUTURE | MCL_ONFAULT" : "child without mlockall",
		    flags != 0, flags != 0);
	_exit(test_failures() ? 1 : 0);
}

int main(int argc, char **argv)
{
	test_doc = "mlockall(MCL_CURRENT | MCL_FUTURE) memory stays locked";
	test_init(argc, argv);
	size_t len = 64 * sysconf(_SC_PAGESIZE);
	char *heap = malloc(len);
	pattern_fill(heap, len, 0x4242);
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		setup_fail("mlockall: %s", strerror(errno));
	int n0 = locked_vmas(before, MAXV, nb);
	long lck0 = vmlck_kb();

	int p[2];
	char c;
	if (pipe(p))
		setup_fail("pipe: %s", strerror(errno));
	pid_t k1 = child(MCL_FUTURE | MCL_ONFAULT, p[1]);
	pid_t k2 = child(0, p[1]);
	if (k1 < 0 || k2 < 0 || read(p[0], &c, 1) != 1 || read(p[0], &c, 1) != 1)
		setup_fail("children failed to start");
	close(p[0]);
	close(p[1]);

	test_daemon();
	test_waitsig();

	int n1 = locked_vmas(after, MAXV, na);
	long lck1 = vmlck_kb();
	for (int i = 0; i < n0; i++) {
		/* [before) must be covered by locked mappings of after */
		unsigned long at = before[i][0];
		for (int j = 0; j < n1 && at < before[i][1]; j++)
			if (after[j][0] <= at && at < after[j][1])
				at = after[j][1];
		if (at < before[i][1])
			fail("0x%lx-0x%lx (%s) was locked; from 0x%lx it is not any more",
			     before[i][0], before[i][1], nb[i], at);
	}
	char *fresh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fresh == MAP_FAILED)
		fail_errno("mmap after the restore");
	else if (!vma_has_flag(fresh, "lo") || vma_has_flag(fresh, "lf"))
		fail("a mapping made after the restore is not locked as MCL_FUTURE does "
		     "(lo %d lf %d)", vma_has_flag(fresh, "lo"), vma_has_flag(fresh, "lf"));
	if (lck1 < lck0)
		fail("VmLck is %ld kB, was %ld kB", lck1, lck0);
	if (pattern_check(heap, len, 0x4242) >= 0)
		fail("heap data differs");
	pid_t kids[2] = { k1, k2 };
	for (int i = 0; i < 2; i++) {
		int st;
		kill(kids[i], SIGTERM);
		if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			fail("child %d failed (status 0x%x)", kids[i], st);
	}
	test_msg("locked mappings %d -> %d, VmLck %ld -> %ld kB", n0, n1, lck0, lck1);
	return test_verdict();
}
