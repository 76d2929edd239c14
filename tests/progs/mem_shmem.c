/* mem_shmem: shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, shown as
 * "/dev/zero (deleted)") within one process.
 *
 * State built before the checkpoint:
 *   - object A: 8 pages mapped at a; pages 0-5 hold a pattern, 6-7 are
 *     never touched;
 *   - a second mapping b of pages 2-4 of the same object (mremap with
 *     old_size 0 duplicates a shared mapping), so b[0] aliases a[2];
 *   - object C: 4 pages with a pattern, then made read-only;
 *   - object E: 4 pages with a pattern whose first page is then unmapped, so
 *     no mapping covers the whole object (offset 1 page).
 *   - a child forked before the checkpoint that shares A (its mapping is
 *     restored from the parent's object: in a user namespace, from a
 *     descriptor cryo passes, since the task may not open map_files).
 * After SIGTERM: contents, zeros, perms, and that A is still one object:
 * a write through b shows in a, the parent's write shows in the child and
 * the child's in the parent, and a forked child's write shows in the
 * parent (shared, not private copies).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

enum { S_A = 0xa000, S_C = 0xc000, S_E = 0xd000, S_NEW = 0xe000 };
static size_t pg;
static char *a, *b, *c, *e;

static void check_area(const char *what, const void *buf, size_t len, uint64_t seed)
{
	ssize_t off = pattern_check(buf, len, seed);
	if (off >= 0)
		fail("%s (%p): byte %zd is 0x%02x, expected 0x%02x", what, buf, off,
		     ((const uint8_t *)buf)[off], pattern_byte(seed, off));
}

static void check_map(const char *what, const void *addr, const char *perms)
{
	struct smaps_vma v;
	if (smaps_lookup(addr, NULL, &v)) {
		fail("%s (%p): no longer mapped", what, addr);
		return;
	}
	if (strcmp(v.perms, perms))
		fail("%s (%p): mapped %s, expected %s", what, addr, v.perms, perms);
	if (strcmp(v.path, "/dev/zero (deleted)"))
		fail("%s (%p): maps says \"%s\", expected \"/dev/zero (deleted)\"", what, addr, v.path);
}

int main(int argc, char **argv)
{
	test_doc = "shared anonymous memory: contents, aliases, sharing after restore";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);

	a = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	c = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || c == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	pattern_fill(a, 6 * pg, S_A);
	b = mremap(a + 2 * pg, 0, 3 * pg, MREMAP_MAYMOVE);
	if (b == MAP_FAILED)
		setup_fail("mremap (duplicate): %s", strerror(errno));
	pattern_fill(c, 4 * pg, S_C);
	if (mprotect(c, 4 * pg, PROT_READ))
		setup_fail("mprotect: %s", strerror(errno));
	e = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (e == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	pattern_fill(e, 4 * pg, S_E);
	munmap(e, pg);

	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		while (test_go())
			test_sleep_ms(20);
		/* the parent wrote page 5 before signalling */
		check_area("object A page 5 (the parent's write), in the child", a + 5 * pg, pg,
			   S_NEW + 5);
		pattern_fill(a + 4 * pg, pg, S_NEW + 4);
		_exit(test_failures() ? 1 : 0);
	}

	test_daemon();
	test_waitsig();

	check_map("object A", a, "rw-s");
	check_map("alias of A", b, "rw-s");
	check_map("read-only object C", c, "r--s");
	check_area("object A pages 0-5", a, 6 * pg, S_A);
	if (zero_check(a + 6 * pg, 2 * pg) >= 0)
		fail("object A pages 6-7 (never touched) are not zero");
	if (memcmp(b, a + 2 * pg, 3 * pg))
		fail("alias b differs from pages 2-4 of object A");
	check_area("read-only object C", c, 4 * pg, S_C);
	check_map("object E at offset 1 page", e + pg, "rw-s");
	char *ref = malloc(4 * pg);
	pattern_fill(ref, 4 * pg, S_E);
	if (memcmp(e + pg, ref + pg, 3 * pg))
		fail("object E (mapped from offset 1 page) differs");

	/* Still one object: a write through the alias shows in a. */
	pattern_fill(b, pg, S_NEW);
	check_area("object A page 2 after a write through the alias", a + 2 * pg, pg, S_NEW);
	/* Still shared with the child of before the checkpoint, both ways. */
	pattern_fill(a + 5 * pg, pg, S_NEW + 5);
	int kst;
	kill(kid, SIGTERM);
	if (waitpid(kid, &kst, 0) != kid || !WIFEXITED(kst) || WEXITSTATUS(kst))
		fail("the child found object A wrong (status 0x%x, see its messages)", kst);
	else
		check_area("object A page 4 written by the restored child", a + 4 * pg, pg,
			   S_NEW + 4);
	/* Still shared with new children. */
	pid_t ch = fork();
	if (ch == 0) {
		pattern_fill(a + 7 * pg, pg, S_NEW + 7);
		_exit(0);
	}
	int st;
	if (ch < 0 || waitpid(ch, &st, 0) != ch)
		fail_errno("fork/waitpid");
	else
		check_area("object A page 7 written by a child", a + 7 * pg, pg, S_NEW + 7);
	return test_verdict();
}
