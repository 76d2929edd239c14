/* files_sparse_ghost: a deleted sparse file, 10 GiB long with 8 KiB of data.
 *
 * Before the checkpoint: the file is created in the outfile's directory,
 * 4 KiB of pattern written at 1 GiB and at 9 GiB, truncated to 10 GiB, open
 * O_RDWR at fd 30 (offset 4 GiB), then unlinked.  The dump must save only
 * the data, so it passes the default --ghost-limit (1 MiB).
 * After SIGTERM: fd 30 shows "NAME (deleted)", nlink 0, size 10 GiB, offset
 * 4 GiB, the data at both places, zeros between, SEEK_DATA finds the holes
 * where they were and the file uses no more than a few blocks.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define GIB (1LL << 30)

int main(int argc, char **argv)
{
	test_doc = "a deleted 10 GiB sparse file with 8 KiB of data";
	test_init(argc, argv);
	char tmp[2048], dir[2048], name[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(name, sizeof(name), "%s/sparse-ghost", dir);

	static char buf[4096], rb[4096];
	pattern_fill(buf, sizeof(buf), 31);
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || pwrite(fd, buf, sizeof(buf), GIB) != sizeof(buf) ||
	    pwrite(fd, buf, sizeof(buf), 9 * GIB) != sizeof(buf) || ftruncate(fd, 10 * GIB) ||
	    dup2(fd, 30) != 30 || close(fd) || unlink(name))
		setup_fail("create %s: %s", name, strerror(errno));
	lseek(30, 4 * GIB, SEEK_SET);

	test_daemon();
	test_waitsig();

	char p[64], l[4096], want[4200];
	ssize_t n = readlink("/proc/self/fd/30", l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", name);
	if (strcmp(l, want))
		fail("fd 30 is \"%s\", expected \"%s\"", l, want);
	(void)p;
	struct stat st;
	if (fstat(30, &st) || st.st_nlink || st.st_size != 10 * GIB)
		fail("fd 30: nlink %lu size %lld, expected 0 and 10 GiB", (unsigned long)st.st_nlink,
		     (long long)st.st_size);
	if (st.st_blocks * 512 > 1 << 20)
		fail("the file uses %lld bytes of disk: its holes were filled",
		     (long long)st.st_blocks * 512);
	if (lseek(30, 0, SEEK_CUR) != 4 * GIB)
		fail("fd 30 is at %lld, expected 4 GiB", (long long)lseek(30, 0, SEEK_CUR));
	if (pread(30, rb, sizeof(rb), GIB) != sizeof(rb) || pattern_check(rb, sizeof(rb), 31) >= 0 ||
	    pread(30, rb, sizeof(rb), 9 * GIB) != sizeof(rb) ||
	    pattern_check(rb, sizeof(rb), 31) >= 0)
		fail("the data at 1 GiB or 9 GiB differ");
	if (pread(30, rb, sizeof(rb), 5 * GIB) != sizeof(rb) || zero_check(rb, sizeof(rb)) >= 0)
		fail("the hole at 5 GiB is not zero");
	if (lseek(30, 0, SEEK_DATA) != GIB || lseek(30, GIB + 4096, SEEK_DATA) != 9 * GIB)
		fail("the data are not where they were (SEEK_DATA %lld, %lld)",
		     (long long)lseek(30, 0, SEEK_DATA), (long long)lseek(30, GIB + 4096, SEEK_DATA));
	pass();
	return 0;
}
