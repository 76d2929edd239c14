/* cow_tree: private memory shared copy-on-write between a parent and its
 * forked children stays shared after restore.
 *
 * The parent fills 32 MiB, forks 3 children that only read it; child 1
 * writes one page (its private copy).  After restore every process checks
 * the contents (child 1 sees its own page) and that the region is still
 * shared: its proportional set size (Pss, /proc/self/smaps) must be well
 * below its resident size, as it was before the dump.  A restore that gives
 * each process a private copy doubles... quadruples the tree's memory and
 * fails here. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SIZE (32UL << 20)
#define NKIDS 3

static char *area;

/* Rss and Pss (kB) of the mapping that contains @addr. */
static int region_rss_pss(void *addr, long *rss, long *pss)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	*rss = *pss = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (unsigned long)addr >= s && (unsigned long)addr < e;
			continue;
		}
		if (in && !strncmp(line, "Rss:", 4))
			*rss = atol(line + 4);
		if (in && !strncmp(line, "Pss:", 4))
			*pss = atol(line + 4);
	}
	fclose(f);
	return *rss >= 0 && *pss >= 0 ? 0 : -1;
}

static int check(const char *who, int kid)
{
	int bad = 0;
	for (size_t off = 0; off < SIZE; off += 4096) {
		uint8_t want = (kid == 1 && off == 0) ? 0xee : pattern_byte(7, off);
		if ((uint8_t)area[off] != want) {
			test_msg("%s: byte at offset %zu is 0x%x, expected 0x%x", who, off,
				 (uint8_t)area[off], want);
			bad = 1;
			break;
		}
	}
	long rss, pss;
	if (region_rss_pss(area, &rss, &pss)) {
		test_msg("%s: region not found in smaps", who);
		return 1;
	}
	test_msg("%s: region Rss %ld kB, Pss %ld kB", who, rss, pss);
	/* shared by 4 processes: Pss about Rss/4; a private copy has Pss == Rss */
	if (pss * 2 > rss) {
		test_msg("%s: the region is no longer shared (Pss %ld kB of Rss %ld kB)", who, pss, rss);
		bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	pid_t kids[NKIDS];
	test_doc = "memory shared copy-on-write with children stays shared after restore";
	test_init(argc, argv);
	area = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		setup_fail("mmap");
	for (size_t off = 0; off < SIZE; off += 4096)
		memset(area + off, pattern_byte(7, off), 4096);
	for (int k = 0; k < NKIDS; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			char who[16];
			test_forked_child();
			if (k == 1)
				memset(area, 0xee, 4096);
			snprintf(who, sizeof(who), "child %d", k);
			while (test_go())
				test_sleep_ms(20);
			_exit(check(who, k));
		}
	}
	test_sleep_ms(100);
	test_daemon();
	test_waitsig();
	if (check("parent", -1))
		fail("the parent's region is wrong (see messages)");
	for (int k = 0; k < NKIDS; k++) {
		int st;
		kill(kids[k], SIGTERM);
		if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st) || WEXITSTATUS(st))
			fail("child %d failed (status 0x%x, see messages)", k, st);
	}
	pass();
	return 0;
}
