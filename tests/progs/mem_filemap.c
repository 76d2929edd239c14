/* mem_filemap: private and shared mappings of regular files.
 *
 * State built before the checkpoint (files next to the outfile):
 *   - "priv" (6 pages, pattern) mapped MAP_PRIVATE read-write; pages 1 and
 *     4 of the mapping are then modified (private copies), the others are
 *     not; a read-only private mapping of pages 2-3 besides;
 *   - "shared" (4 pages, pattern) mapped MAP_SHARED read-write; page 0 is
 *     rewritten through the mapping before the checkpoint.
 * After SIGTERM: modified pages hold the private data and unmodified ones the
 * file's, the file "priv" is unchanged; "shared" holds the write made before
 * the checkpoint, and a write through the mapping after the restore reaches
 * the file.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

enum { S_PF = 0x100, S_P1 = 0x200, S_P4 = 0x300, S_SF = 0x400, S_S0 = 0x500, S_S2 = 0x600 };
static size_t pg;
static char ppath[4096], spath[4096];

static void check_area(const char *what, const void *buf, size_t len, uint64_t seed)
{
	ssize_t off = pattern_check(buf, len, seed);
	if (off >= 0)
		fail("%s (%p): byte %zd is 0x%02x, expected 0x%02x", what, buf, off,
		     ((const uint8_t *)buf)[off], pattern_byte(seed, off));
}

static int make_file(const char *path, size_t size, uint64_t seed)
{
	char *buf = malloc(size);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || !buf)
		setup_fail("create %s: %s", path, strerror(errno));
	pattern_fill(buf, size, seed);
	if (write(fd, buf, size) != (ssize_t)size)
		setup_fail("write %s: %s", path, strerror(errno));
	free(buf);
	return fd;
}

int main(int argc, char **argv)
{
	test_doc = "private file mapping with modified pages, shared file mapping";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	char dir[2048];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(ppath, sizeof(ppath), "%s/mem_filemap.priv", dirname(dir));
	snprintf(spath, sizeof(spath), "%s/mem_filemap.shared", dir);

	int pfd = make_file(ppath, 6 * pg, S_PF);
	char *p = mmap(NULL, 6 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, pfd, 0);
	char *pro = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE, pfd, 2 * pg);
	int sfd = make_file(spath, 4 * pg, S_SF);
	char *s = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	if (p == MAP_FAILED || pro == MAP_FAILED || s == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	close(pfd);
	close(sfd);
	pattern_fill(p + pg, pg, S_P1);
	pattern_fill(p + 4 * pg, pg, S_P4);
	pattern_fill(s, pg, S_S0);

	test_daemon();
	test_waitsig();

	char *ref = malloc(6 * pg), *buf = malloc(6 * pg);
	pattern_fill(ref, 6 * pg, S_PF);
	check_area("private mapping page 1 (modified)", p + pg, pg, S_P1);
	check_area("private mapping page 4 (modified)", p + 4 * pg, pg, S_P4);
	for (int i = 0; i < 6; i++)
		if (i != 1 && i != 4 && memcmp(p + i * pg, ref + i * pg, pg))
			fail("private mapping page %d (unmodified) differs from the file", i);
	if (memcmp(pro, ref + 2 * pg, 2 * pg))
		fail("read-only private mapping of pages 2-3 differs from the file");
	char perms[5];
	if (!maps_perms(pro, perms) && strcmp(perms, "r--p"))
		fail("read-only private mapping is %s", perms);
	if (!maps_perms(s, perms) && strcmp(perms, "rw-s"))
		fail("shared mapping is %s", perms);

	pfd = open(ppath, O_RDONLY);
	if (pfd < 0 || pread(pfd, buf, 6 * pg, 0) != (ssize_t)(6 * pg) || memcmp(buf, ref, 6 * pg))
		fail("file %s changed (private writes must not reach it)", ppath);
	sfd = open(spath, O_RDONLY);
	if (sfd < 0 || pread(sfd, buf, 4 * pg, 0) != (ssize_t)(4 * pg))
		fail_errno("read %s", spath);
	else {
		check_area("shared file page 0 (written before the checkpoint)", buf, pg, S_S0);
		pattern_fill(ref, 4 * pg, S_SF);
		if (memcmp(buf + pg, ref + pg, 3 * pg))
			fail("shared file pages 1-3 differ");
		check_area("shared mapping page 0", s, pg, S_S0);
		pattern_fill(s + 2 * pg, pg, S_S2);
		if (pread(sfd, buf, pg, 2 * pg) != (ssize_t)pg || pattern_check(buf, pg, S_S2) >= 0)
			fail("a write through the restored shared mapping did not reach the file");
	}
	unlink(ppath);
	unlink(spath);
	return test_verdict();
}
