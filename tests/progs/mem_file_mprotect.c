/* mem_file_mprotect: file mappings whose protections the task changes after
 * the restore.  The kernel decides what mprotect() may grant from how the
 * file was opened (VM_MAYWRITE, "mw" in VmFlags), not from the mapping's
 * current protections, so the restore must reopen each mapped file with
 * the access mode of the original open.
 *
 * State built before the checkpoint (files next to the outfile, descriptors
 * closed after mmap):
 *   - "rw": opened O_RDWR, mapped MAP_SHARED PROT_READ;
 *   - "ro": opened O_RDONLY, mapped MAP_SHARED PROT_READ;
 *   - "x":  opened O_RDONLY, mapped MAP_PRIVATE PROT_READ.
 * After SIGTERM:
 *   - "rw" still has "mw"; mprotect(PROT_READ|PROT_WRITE) succeeds and a
 *     write through the mapping reaches the file;
 *   - "ro" still lacks "mw"; mprotect(PROT_WRITE) still fails with EACCES;
 *   - "x" can be made PROT_READ|PROT_EXEC ("me": the file is not on a noexec
 *     mount) and still holds the file's data.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

enum { S_RW = 0xf100, S_RO = 0xf200, S_X = 0xf300, S_NEW = 0xf400 };
static size_t pg;
static char dir[2048];

static char *map_file(const char *name, int oflags, int prot, int type, uint64_t seed,
		      char *path)
{
	snprintf(path, 4096, "%s/mem_file_mprotect.%s", dir, name);
	char *buf = malloc(2 * pg);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || !buf)
		setup_fail("create %s: %s", path, strerror(errno));
	pattern_fill(buf, 2 * pg, seed);
	if (write(fd, buf, 2 * pg) != (ssize_t)(2 * pg))
		setup_fail("write %s: %s", path, strerror(errno));
	close(fd);
	free(buf);
	fd = open(path, oflags);
	if (fd < 0)
		setup_fail("open %s: %s", path, strerror(errno));
	char *p = mmap(NULL, 2 * pg, prot, type, fd, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap %s: %s", path, strerror(errno));
	close(fd);
	return p;
}

int main(int argc, char **argv)
{
	char prw[4096], pro[4096], px[4096];
	test_doc = "mapped files reopened with their original access mode";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	char tmp[2048];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));

	char *rw = map_file("rw", O_RDWR, PROT_READ, MAP_SHARED, S_RW, prw);
	char *ro = map_file("ro", O_RDONLY, PROT_READ, MAP_SHARED, S_RO, pro);
	char *x = map_file("x", O_RDONLY, PROT_READ, MAP_PRIVATE, S_X, px);
	if (!vma_has_flag(rw, "mw") || vma_has_flag(ro, "mw"))
		setup_fail("VM_MAYWRITE is not as expected before the checkpoint");

	test_daemon();
	test_waitsig();

	if (!vma_has_flag(rw, "mw"))
		fail("the mapping of the file opened O_RDWR lost VmFlag mw");
	if (vma_has_flag(ro, "mw"))
		fail("the mapping of the file opened O_RDONLY gained VmFlag mw");
	if (pattern_check(rw, 2 * pg, S_RW) >= 0 || pattern_check(ro, 2 * pg, S_RO) >= 0 ||
	    pattern_check(x, 2 * pg, S_X) >= 0)
		fail("a mapping does not hold its file's data");

	if (mprotect(rw, 2 * pg, PROT_READ | PROT_WRITE)) {
		fail_errno("mprotect(PROT_WRITE) of the shared mapping of the file opened O_RDWR");
	} else {
		pattern_fill(rw + pg, pg, S_NEW);
		if (msync(rw, 2 * pg, MS_SYNC))
			fail_errno("msync");
		char *buf = malloc(pg);
		int fd = open(prw, O_RDONLY);
		if (fd < 0 || pread(fd, buf, pg, pg) != (ssize_t)pg)
			fail_errno("read back %s", prw);
		else if (pattern_check(buf, pg, S_NEW) >= 0)
			fail("a write through the mapping made writable did not reach %s", prw);
		if (fd >= 0)
			close(fd);
		free(buf);
	}
	errno = 0;
	if (!mprotect(ro, 2 * pg, PROT_READ | PROT_WRITE))
		fail("the shared mapping of the file opened O_RDONLY could be made writable");
	else if (errno != EACCES)
		fail_errno("mprotect(PROT_WRITE) of the read-only file's mapping: expected EACCES");
	if (mprotect(x, 2 * pg, PROT_READ | PROT_EXEC))
		fail_errno("mprotect(PROT_EXEC) of the private file mapping");
	if (pattern_check(x, 2 * pg, S_X) >= 0)
		fail("the private file mapping does not hold its file's data after mprotect");
	return test_verdict();
}
