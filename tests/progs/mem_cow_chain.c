/* mem_cow_chain: pages shared copy-on-write down a parent -> child ->
 * grandchild chain are saved once, and restored right where they can't be
 * kept shared.
 *
 * The parent fills two 8 MiB areas A and B, forks a child, which writes
 * the first page of A (its own copy) and forks a grandchild.  The
 * grandchild makes the second quarter of A read-only (so A's VMAs differ
 * from its parent's and its pages must be read from the images: most from
 * the parent's, the first page from the child's) and writes a page of A of
 * its own.  B is left shared by all three.  The dump must write each
 * shared page once (images_max in the .desc); after restore every process
 * checks its contents, A's protections, and that B is still shared. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SIZE (8UL << 20)
#define RO_START (2UL << 20)
#define RO_END (4UL << 20)
#define GC_PAGE (6UL << 20)

static char *a, *b;

/* Rss and Pss (kB) of the mapping that contains @addr, and its protections. */
static int region_info(void *addr, long *rss, long *pss, char perms[5])
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	*rss = *pss = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char p[5];
		if (sscanf(line, "%lx-%lx %4s ", &s, &e, p) == 3 && strchr(line, '-') < strchr(line, ' ')) {
			in = (unsigned long)addr >= s && (unsigned long)addr < e;
			if (in)
				memcpy(perms, p, 5);
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

/* @level: 0 parent, 1 child, 2 grandchild */
static int check(int level)
{
	static const char *const names[] = { "parent", "child", "grandchild" };
	const char *who = names[level];
	int bad = 0;
	for (size_t off = 0; off < SIZE; off += 4096) {
		uint8_t want = pattern_byte(9, off);
		if (off == 0 && level >= 1)
			want = 0xc1;
		if (off == GC_PAGE && level == 2)
			want = 0x61;
		if ((uint8_t)a[off] != want || (uint8_t)a[off + 4095] != want) {
			test_msg("%s: A at offset %zu holds 0x%x, expected 0x%x", who, off,
				 (uint8_t)a[off], want);
			bad = 1;
			break;
		}
		if ((uint8_t)b[off] != pattern_byte(11, off) ||
		    (uint8_t)b[off + 4095] != pattern_byte(11, off)) {
			test_msg("%s: B at offset %zu holds 0x%x, expected 0x%x", who, off,
				 (uint8_t)b[off], pattern_byte(11, off));
			bad = 1;
			break;
		}
	}
	long rss, pss;
	char perms[5] = "";
	if (region_info(a + RO_START, &rss, &pss, perms) ||
	    strcmp(perms, level == 2 ? "r--p" : "rw-p")) {
		test_msg("%s: A's second quarter is %s", who, perms);
		bad = 1;
	}
	if (region_info(b, &rss, &pss, perms)) {
		test_msg("%s: B not found in smaps", who);
		return 1;
	}
	test_msg("%s: B Rss %ld kB, Pss %ld kB", who, rss, pss);
	/* shared by 3 processes: Pss about Rss/3; a private copy has Pss == Rss */
	if (pss * 2 > rss) {
		test_msg("%s: B is no longer shared (Pss %ld kB of Rss %ld kB)", who, pss, rss);
		bad = 1;
	}
	return bad;
}

static int wait_ok(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
	test_doc = "pages shared copy-on-write down a chain are saved once and restored right";
	test_init(argc, argv);
	/* A and B apart (a hole between), or they would be one VMA */
	a = mmap(NULL, 2 * SIZE + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || munmap(a + SIZE, 4096))
		setup_fail("mmap");
	b = a + SIZE + 4096;
	for (size_t off = 0; off < SIZE; off += 4096) {
		memset(a + off, pattern_byte(9, off), 4096);
		memset(b + off, pattern_byte(11, off), 4096);
	}
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork");
	if (kid == 0) {
		test_forked_child();
		memset(a, 0xc1, 4096);
		pid_t gkid = fork();
		if (gkid < 0)
			_exit(2);
		if (gkid == 0) {
			test_forked_child();
			if (mprotect(a + RO_START, RO_END - RO_START, PROT_READ))
				_exit(2);
			memset(a + GC_PAGE, 0x61, 4096);
			while (test_go())
				test_sleep_ms(20);
			_exit(check(2));
		}
		while (test_go())
			test_sleep_ms(20);
		int bad = check(1);
		if (!wait_ok(gkid)) {
			test_msg("the grandchild failed (see messages)");
			bad = 1;
		}
		_exit(bad);
	}
	test_sleep_ms(200);
	test_daemon();
	test_waitsig();
	if (check(0))
		fail("the parent's memory is wrong (see messages)");
	if (!wait_ok(kid))
		fail("the child or grandchild failed (see messages)");
	pass();
	return 0;
}
