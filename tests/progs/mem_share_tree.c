/* mem_share_tree: shared memory of several kinds held by a parent and a
 * child at different addresses, offsets and extents.
 *
 * State built before the checkpoint, in the parent, then inherited by a
 * forked child:
 *   - A: 8 pages of MAP_SHARED|MAP_ANONYMOUS memory with a pattern; the
 *     child unmaps pages 0-1 and moves pages 2-7 elsewhere (mremap), so its
 *     only mapping of A starts at offset 2 pages at another address;
 *   - S: a SysV segment (IPC_PRIVATE, 2 pages) attached by both, locked in
 *     memory (SHM_LOCK), then IPC_RMID'ed (it lives on while attached:
 *     SHM_DEST);
 *   - F: a 4-page file next to the outfile, MAP_SHARED, then unlinked;
 *   - M: a 2-page memfd, MAP_SHARED, its descriptor closed;
 *   - H: 1 GiB of MAP_SHARED|MAP_ANONYMOUS memory of which 3 pages were
 *     written (first, middle, last): only those may be saved (images_max)
 *     and only those be resident after the restore (Rss of the mapping).
 * The child waits in FUTEX_WAIT on the first word of A's page 7 (through its
 * moved mapping) during the checkpoint.
 * After SIGTERM the parent checks contents, that S has 2 attachments and is
 * still SHM_LOCKED, writes one page of each object, then changes the futex
 * word and wakes it (at its own address of it): the child must wake, see
 * those writes through its own mappings and write other pages back, which
 * the parent then must see.
 */
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

enum { S_A = 0x2100, S_S = 0x2200, S_F = 0x2300, S_M = 0x2400, S_P = 0x2500, S_C = 0x2600,
       S_H = 0x2700 };

static size_t pg;
static char *a, *s, *f, *m, *h;
#define HSIZE (1UL << 30)
static int shmid;

static void fill_pages(char *p, unsigned n, uint64_t seed)
{
	for (unsigned i = 0; i < n; i++)
		pattern_fill(p + i * pg, pg, seed + i);
}

static void check_page(const char *who, const char *what, const char *p, uint64_t seed)
{
	ssize_t off = pattern_check(p, pg, seed);
	if (off >= 0)
		fail("%s: %s (%p): byte %zd is 0x%02x, expected 0x%02x", who, what, p, off,
		     ((const uint8_t *)p)[off], pattern_byte(seed, off));
}

static char *map_shared(int fd, size_t len, const char *what)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap %s: %s", what, strerror(errno));
	return p;
}

static void build(void)
{
	char path[4096];

	a = map_shared(-1, 8 * pg, "A");
	fill_pages(a, 8, S_A);

	shmid = shmget(IPC_PRIVATE, 2 * pg, IPC_CREAT | 0600);
	if (shmid < 0)
		setup_fail("shmget: %s", strerror(errno));
	s = shmat(shmid, NULL, 0);
	if (s == (void *)-1)
		setup_fail("shmat: %s", strerror(errno));
	fill_pages(s, 2, S_S);
	if (shmctl(shmid, SHM_LOCK, NULL))
		setup_fail("shmctl(SHM_LOCK): %s", strerror(errno));
	if (shmctl(shmid, IPC_RMID, NULL))
		setup_fail("shmctl(IPC_RMID): %s", strerror(errno));

	snprintf(path, sizeof(path), "%s.F", test_outfile());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4 * pg))
		setup_fail("file %s: %s", path, strerror(errno));
	f = map_shared(fd, 4 * pg, "F");
	fill_pages(f, 4, S_F);
	close(fd);
	unlink(path);

	fd = memfd_create("cryo-share-tree", 0);
	if (fd < 0 || ftruncate(fd, 2 * pg))
		setup_fail("memfd: %s", strerror(errno));
	m = map_shared(fd, 2 * pg, "M");
	fill_pages(m, 2, S_M);
	close(fd);

	h = map_shared(-1, HSIZE, "H");
	pattern_fill(h, pg, S_H);
	pattern_fill(h + HSIZE / 2, pg, S_H + 1);
	pattern_fill(h + HSIZE - pg, pg, S_H + 2);
}

/* The child: its A is pages 2-7 at another address. */
static void child(int ready)
{
	test_forked_child();
	if (munmap(a, 2 * pg))
		_exit(2);
	char *dst = mmap(NULL, 6 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *ca = mremap(a + 2 * pg, 6 * pg, 6 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (ca == MAP_FAILED)
		_exit(3);
	if (write(ready, "r", 1) != 1)
		_exit(4);
	close(ready);
	volatile uint32_t *w = (uint32_t *)(ca + 5 * pg);
	uint32_t v0 = *w;
	while (*w == v0)	/* a signal or the checkpoint may end a wait early */
		syscall(SYS_futex, w, FUTEX_WAIT, v0, NULL, NULL, 0);
	const char *who = "child";
	check_page(who, "A page 2", ca, S_A + 2);
	check_page(who, "A page 6 (the parent's write)", ca + 4 * pg, S_P);
	check_page(who, "S page 1 (the parent's write)", s + pg, S_P + 1);
	check_page(who, "F page 2 (the parent's write)", f + 2 * pg, S_P + 2);
	check_page(who, "M page 0 (the parent's write)", m, S_P + 3);
	pattern_fill(ca + 5 * pg, pg, S_C);
	pattern_fill(s, pg, S_C + 1);
	pattern_fill(f + 3 * pg, pg, S_C + 2);
	pattern_fill(m + pg, pg, S_C + 3);
	_exit(test_failures() ? 1 : 0);
}

int main(int argc, char **argv)
{
	int p[2];

	test_doc = "shared anon, SysV, deleted-file and memfd memory shared by parent and child";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	build();
	if (pipe(p))
		setup_fail("pipe: %s", strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		close(p[0]);
		child(p[1]);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1)
		setup_fail("the child failed to set up");
	close(p[0]);

	test_daemon();
	test_waitsig();

	const char *who = "parent";
	for (unsigned i = 0; i < 8; i++)
		check_page(who, "A", a + i * pg, S_A + i);
	for (unsigned i = 0; i < 2; i++)
		check_page(who, "S", s + i * pg, S_S + i);
	for (unsigned i = 0; i < 4; i++)
		check_page(who, "F", f + i * pg, S_F + i);
	for (unsigned i = 0; i < 2; i++)
		check_page(who, "M", m + i * pg, S_M + i);
	check_page(who, "H first page", h, S_H);
	check_page(who, "H middle page", h + HSIZE / 2, S_H + 1);
	check_page(who, "H last page", h + HSIZE - pg, S_H + 2);
	if (zero_check(h + pg, pg) >= 0 || zero_check(h + HSIZE / 4, pg) >= 0)
		fail("parent: untouched pages of H are not zero");
	long rss = -1;
	struct smaps_vma hv;
	if (smaps_lookup(h, "Rss", &hv) == 0)
		rss = hv.field_kb;
	if (rss < 0 || rss > 64)
		fail("parent: H's Rss is %ld kB after the restore: untouched pages were filled", rss);
	struct shmid_ds ds;
	if (shmctl(shmid, IPC_STAT, &ds))
		fail_errno("shmctl(IPC_STAT) of S (id %d)", shmid);
	else if (ds.shm_nattch != 2 || !(ds.shm_perm.mode & SHM_DEST) ||
		 !(ds.shm_perm.mode & SHM_LOCKED))
		fail("S: %lu attachments, mode 0%o; expected 2 and SHM_DEST|SHM_LOCKED",
		     (unsigned long)ds.shm_nattch, ds.shm_perm.mode);

	pattern_fill(a + 6 * pg, pg, S_P);
	pattern_fill(s + pg, pg, S_P + 1);
	pattern_fill(f + 2 * pg, pg, S_P + 2);
	pattern_fill(m, pg, S_P + 3);
	volatile uint32_t *w = (uint32_t *)(a + 7 * pg);
	*w = ~*w;
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
	int st;
	if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fail("the child found its shared memory wrong (status 0x%x)", st);
	} else {
		check_page(who, "A page 7 (the child's write)", a + 7 * pg, S_C);
		check_page(who, "S page 0 (the child's write)", s, S_C + 1);
		check_page(who, "F page 3 (the child's write)", f + 3 * pg, S_C + 2);
		check_page(who, "M page 1 (the child's write)", m + pg, S_C + 3);
	}
	return test_verdict();
}
