/* files_memfd_mode: a memfd's mode and owner come back.
 *
 * Before the checkpoint:
 *   fd 60: memfd "mode-0600", chmod 0600 (open only);
 *   fd 61: memfd "mode-0640-owned", chown 1234:5678, chmod 0640, also
 *          mapped MAP_SHARED (the memfd is recreated by the task itself);
 *   memfd "mode-0604-mapped", chown 4321:8765, chmod 0604, mapped
 *          MAP_SHARED, its fd closed;
 *   fd 62: memfd "mode-2750", chown 1234:5678, chmod 02750 (set-gid).
 * After SIGTERM: each has its mode (permission bits and file type) and
 * owner, and its contents.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static size_t pg;

static void expect(int fd, const char *what, mode_t mode, uid_t uid, gid_t gid, uint64_t seed)
{
	struct stat st;
	if (fstat(fd, &st)) {
		fail_errno("fstat %s", what);
		return;
	}
	if (st.st_mode != (S_IFREG | mode))
		fail("%s has mode 0%o, expected 0%o", what, st.st_mode, S_IFREG | mode);
	if (st.st_uid != uid || st.st_gid != gid)
		fail("%s is owned by %u:%u, expected %u:%u", what, st.st_uid, st.st_gid, uid, gid);
	char *buf = malloc(pg);
	if (pread(fd, buf, pg, 0) != (ssize_t)pg || pattern_check(buf, pg, seed) >= 0)
		fail("%s lost its contents", what);
	free(buf);
}

static int make(const char *name, int at, mode_t mode, uid_t uid, gid_t gid, uint64_t seed)
{
	int fd = memfd_create(name, 0);
	char *buf = malloc(pg);
	pattern_fill(buf, pg, seed);
	if (fd < 0 || write(fd, buf, pg) != (ssize_t)pg || fchown(fd, uid, gid) ||
	    fchmod(fd, mode))
		setup_fail("memfd %s: %s", name, strerror(errno));
	free(buf);
	if (at >= 0 && (dup2(fd, at) != at || close(fd)))
		setup_fail("dup2: %s", strerror(errno));
	return at >= 0 ? at : fd;
}

int main(int argc, char **argv)
{
	test_doc = "memfd mode and owner (open, mapped, both)";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);

	make("mode-0600", 60, 0600, 0, 0, 31);
	make("mode-0640-owned", 61, 0640, 1234, 5678, 32);
	char *m1 = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, 61, 0);
	int fd = make("mode-0604-mapped", -1, 0604, 4321, 8765, 33);
	char *m2 = mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0);
	if (m1 == MAP_FAILED || m2 == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	close(fd);
	make("mode-2750", 62, 02750, 1234, 5678, 34);

	test_daemon();
	test_waitsig();

	expect(60, "memfd mode-0600", 0600, 0, 0, 31);
	expect(61, "memfd mode-0640-owned", 0640, 1234, 5678, 32);
	char link[96];
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)m2,
		 (unsigned long)(m2 + pg));
	fd = open(link, O_RDONLY);
	if (fd < 0)
		fail_errno("open %s", link);
	else
		expect(fd, "memfd mode-0604-mapped", 0604, 4321, 8765, 33);
	expect(62, "memfd mode-2750", 02750, 1234, 5678, 34);
	if (pattern_check(m1, pg, 32) >= 0 || pattern_check(m2, pg, 33) >= 0)
		fail("the mappings lost their contents");
	return test_verdict();
}
