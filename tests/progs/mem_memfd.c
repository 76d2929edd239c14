/* mem_memfd: memfd mappings whose descriptors were closed.
 *
 * State built before the checkpoint:
 *   - memfd "cryo-shared": 5 pages + 100 bytes written with a pattern, its
 *     pages 1-3 mapped MAP_SHARED read-write (s), then the fd closed;
 *   - memfd "cryo-private": 3 pages with a pattern, mapped MAP_PRIVATE (p);
 *     page 0 of the mapping is then modified (a private copy), pages 1-2
 *     are not; fd closed;
 *   - memfd "cryo-sealed" (MFD_ALLOW_SEALING): 2 pages, sealed with
 *     F_SEAL_SHRINK | F_SEAL_GROW, mapped shared read-only; fd closed.
 * After SIGTERM: the mapped contents; the files themselves (reopened via
 * /proc/self/map_files): names, sizes, contents (the private change must not
 * be in the file), seals; and that a write through the shared mapping
 * reaches the file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

enum { S_SH = 0x1000, S_PR = 0x2000, S_PRIV = 0x3000, S_SEAL = 0x4000, S_NEW = 0x5000 };
static size_t pg;
static char *s, *p, *q;
static size_t sh_size;

static void check_area(const char *what, const void *buf, size_t len, uint64_t seed)
{
	ssize_t off = pattern_check(buf, len, seed);
	if (off >= 0)
		fail("%s (%p): byte %zd is 0x%02x, expected 0x%02x", what, buf, off,
		     ((const uint8_t *)buf)[off], pattern_byte(seed, off));
}

static int new_memfd(const char *name, unsigned flags, size_t size, uint64_t seed)
{
	int fd = memfd_create(name, flags);
	char *buf = malloc(size);
	if (fd < 0 || !buf)
		setup_fail("memfd_create(%s): %s", name, strerror(errno));
	pattern_fill(buf, size, seed);
	if (write(fd, buf, size) != (ssize_t)size)
		setup_fail("write to memfd %s: %s", name, strerror(errno));
	free(buf);
	return fd;
}

/* The file behind the mapping at @addr, through map_files. */
static int open_mapped(const void *addr, const char *want_name, size_t want_size)
{
	struct smaps_vma v;
	char link[128], target[256];
	if (smaps_lookup(addr, NULL, &v)) {
		fail("mapping at %p is gone", addr);
		return -1;
	}
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)v.start,
		 (unsigned long)v.end);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	int fd = open(link, O_RDONLY);
	struct stat st;
	if (n < 0 || fd < 0 || fstat(fd, &st)) {
		fail_errno("open %s", link);
		return -1;
	}
	target[n] = '\0';
	char want[128];
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", want_name);
	if (strcmp(target, want))
		fail("mapping at %p is of \"%s\", expected \"%s\"", addr, target, want);
	if ((size_t)st.st_size != want_size)
		fail("memfd %s has size %lld, expected %zu", want_name, (long long)st.st_size, want_size);
	return fd;
}

int main(int argc, char **argv)
{
	test_doc = "memfd mappings (shared, private, sealed) with their fds closed";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	sh_size = 5 * pg + 100;

	int fd = new_memfd("cryo-shared", MFD_CLOEXEC, sh_size, S_SH);
	s = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, pg);
	if (s == MAP_FAILED)
		setup_fail("mmap shared memfd: %s", strerror(errno));
	close(fd);

	fd = new_memfd("cryo-private", 0, 3 * pg, S_PR);
	p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap private memfd: %s", strerror(errno));
	close(fd);
	pattern_fill(p, pg, S_PRIV);

	fd = new_memfd("cryo-sealed", MFD_ALLOW_SEALING, 2 * pg, S_SEAL);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		setup_fail("F_ADD_SEALS: %s", strerror(errno));
	q = mmap(NULL, 2 * pg, PROT_READ, MAP_SHARED, fd, 0);
	if (q == MAP_FAILED)
		setup_fail("mmap sealed memfd: %s", strerror(errno));
	close(fd);

	test_daemon();
	test_waitsig();

	char *whole = malloc(sh_size), *ref = malloc(sh_size);
	pattern_fill(ref, sh_size, S_SH);
	if (memcmp(s, ref + pg, 3 * pg))
		fail("shared memfd mapping differs from the file pattern (pages 1-3)");
	check_area("private memfd mapping, page 0 (modified)", p, pg, S_PRIV);
	char *pref = malloc(3 * pg);
	pattern_fill(pref, 3 * pg, S_PR);
	if (memcmp(p + pg, pref + pg, 2 * pg))
		fail("private memfd mapping, pages 1-2 (unmodified) differ from the file");
	check_area("sealed memfd mapping", q, 2 * pg, S_SEAL);

	int f = open_mapped(s, "cryo-shared", sh_size);
	if (f >= 0) {
		if (pread(f, whole, sh_size, 0) != (ssize_t)sh_size || memcmp(whole, ref, sh_size))
			fail("shared memfd file contents differ (all %zu bytes)", sh_size);
		pattern_fill(s + pg, pg, S_NEW);
		if (pread(f, whole, pg, 2 * pg) != (ssize_t)pg || pattern_check(whole, pg, S_NEW) >= 0)
			fail("a write through the shared mapping did not reach the memfd");
		close(f);
	}
	f = open_mapped(p, "cryo-private", 3 * pg);
	if (f >= 0) {
		if (pread(f, whole, 3 * pg, 0) != (ssize_t)(3 * pg) || memcmp(whole, pref, 3 * pg))
			fail("private memfd: the file changed (the private copy leaked into it?)");
		close(f);
	}
	f = open_mapped(q, "cryo-sealed", 2 * pg);
	if (f >= 0) {
		int seals = fcntl(f, F_GET_SEALS);
		if (seals != (F_SEAL_SHRINK | F_SEAL_GROW))
			fail("sealed memfd has seals 0x%x, expected 0x%x", seals,
			     F_SEAL_SHRINK | F_SEAL_GROW);
		close(f);
	}
	char perms[5];
	if (!maps_perms(q, perms) && strcmp(perms, "r--s"))
		fail("sealed memfd mapping is %s, expected r--s", perms);
	if (!maps_perms(p, perms) && strcmp(perms, "rw-p"))
		fail("private memfd mapping is %s, expected rw-p", perms);
	return test_verdict();
}
