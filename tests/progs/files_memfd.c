/* files_memfd: memfd descriptors (not only mappings).
 *
 * Before the checkpoint:
 *   fd 50: memfd "cryo-fdonly", 10000 pattern bytes, sealed against growing
 *   and shrinking, offset 1234; fd 51: a second description of it
 *   (/proc/self/fd/50, O_RDONLY, offset 5);
 *   fd 52: memfd "cryo-mapped", also mapped MAP_SHARED (2 pages) and
 *   written through the mapping.
 * After SIGTERM: names, seals, sizes, contents and offsets are back; 50 and
 * 51 are one inode (a write through 50 is read through 51); fd 52 and the
 * mapping are one inode.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static void expect_name(int fd, const char *name)
{
	char p[64], l[256], want[256];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	if (strcmp(l, want))
		fail("fd %d is \"%s\", expected \"%s\"", fd, l, want);
}

int main(int argc, char **argv)
{
	test_doc = "memfd descriptors: contents, seals, names, shared with mappings";
	test_init(argc, argv);
	static char buf[10000];
	pattern_fill(buf, sizeof(buf), 21);
	int fd = memfd_create("cryo-fdonly", MFD_ALLOW_SEALING);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) || dup2(fd, 50) != 50 || close(fd))
		setup_fail("memfd: %s", strerror(errno));
	lseek(50, 1234, SEEK_SET);
	fd = open("/proc/self/fd/50", O_RDONLY);
	if (fd < 0 || dup2(fd, 51) != 51 || close(fd))
		setup_fail("reopen memfd: %s", strerror(errno));
	lseek(51, 5, SEEK_SET);
	fd = memfd_create("cryo-mapped", 0);
	if (fd < 0 || ftruncate(fd, 8192) || dup2(fd, 52) != 52 || close(fd))
		setup_fail("memfd 2: %s", strerror(errno));
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 52, 0);
	if (m == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	pattern_fill(m, 8192, 22);

	test_daemon();
	test_waitsig();

	expect_name(50, "cryo-fdonly");
	expect_name(51, "cryo-fdonly");
	expect_name(52, "cryo-mapped");
	int seals = fcntl(50, F_GET_SEALS);
	if (seals != (F_SEAL_GROW | F_SEAL_SHRINK))
		fail("seals are 0x%x, expected 0x%x", seals, F_SEAL_GROW | F_SEAL_SHRINK);
	if (ftruncate(50, 20000) == 0)
		fail("the memfd could grow despite F_SEAL_GROW");
	if (lseek(50, 0, SEEK_CUR) != 1234 || lseek(51, 0, SEEK_CUR) != 5)
		fail("offsets %lld/%lld, expected 1234/5", (long long)lseek(50, 0, SEEK_CUR),
		     (long long)lseek(51, 0, SEEK_CUR));
	if ((fcntl(51, F_GETFL) & O_ACCMODE) != O_RDONLY)
		fail("fd 51 is no longer read-only");
	static char rb[10000];
	if (pread(51, rb, sizeof(rb), 0) != sizeof(rb) || pattern_check(rb, sizeof(rb), 21) >= 0)
		fail("the memfd's contents differ");
	if (pwrite(50, "W", 1, 3) != 1 || pread(51, rb, 1, 3) != 1 || rb[0] != 'W')
		fail("fds 50 and 51 are not the same memfd any more");
	if (pattern_check(m, 8192, 22) >= 0)
		fail("the mapping of cryo-mapped lost its contents");
	if (pwrite(52, "V", 1, 100) != 1 || m[100] != 'V')
		fail("fd 52 and the mapping are not the same memfd any more");
	pass();
	return 0;
}
