/* files_ghost: files unlinked while open or mapped ("ghost files").
 *
 * Before the checkpoint (in the outfile's directory), all then unlinked:
 *   A: 5000 pattern bytes, mode 0640, open O_RDWR at fd 20 (offset 123), a
 *      second open O_RDONLY at fd 21 (offset 7), dup'd to fd 22;
 *   B: sparse, 300 KiB with data only at 0 and 200 KiB (chunks), fd 23;
 *   C: 3 pages mapped MAP_SHARED and modified through the mapping.
 * After SIGTERM: fds 20/21 show "A (deleted)", are one inode with nlink 0,
 *   same size, mode and contents, their own offsets (22 shares 21's); B's
 *   contents and holes; C's mapping holds the changes, is still shared with
 *   the (deleted) file and shows as "C (deleted)" in /proc/self/maps; no
 *   name is left behind in the directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static char dir[2048];

static void expect_deleted(int fd, const char *name)
{
	char p[64], l[4096], want[4200];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", name);
	if (strcmp(l, want))
		fail("fd %d is \"%s\", expected \"%s\"", fd, l, want);
	struct stat st;
	if (fstat(fd, &st) || st.st_nlink)
		fail("fd %d: nlink %lu, expected a deleted file", fd, (unsigned long)st.st_nlink);
}

static void expect_pos(int fd, off_t want)
{
	off_t o = lseek(fd, 0, SEEK_CUR);
	if (o != want)
		fail("fd %d is at %lld, expected %lld", fd, (long long)o, (long long)want);
}

int main(int argc, char **argv)
{
	test_doc = "open and mapped files unlinked before the checkpoint";
	test_init(argc, argv);
	char tmp[2048], a[4096], b[4096], c[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(a, sizeof(a), "%s/ghost-a", dir);
	snprintf(b, sizeof(b), "%s/ghost-b", dir);
	snprintf(c, sizeof(c), "%s/ghost-c", dir);

	static char buf[5000], big[4096];
	pattern_fill(buf, sizeof(buf), 11);
	pattern_fill(big, sizeof(big), 12);
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || fchmod(fd, 0640))
		setup_fail("create %s: %s", a, strerror(errno));
	if (dup2(fd, 20) != 20 || close(fd))
		setup_fail("dup2: %s", strerror(errno));
	fd = open(a, O_RDONLY);
	if (fd < 0 || dup2(fd, 21) != 21 || dup2(fd, 22) != 22 || close(fd))
		setup_fail("reopen %s: %s", a, strerror(errno));
	lseek(20, 123, SEEK_SET);
	lseek(21, 7, SEEK_SET);
	fd = open(b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || pwrite(fd, big, sizeof(big), 0) != sizeof(big) ||
	    pwrite(fd, big, sizeof(big), 200 << 10) != sizeof(big) || ftruncate(fd, 300 << 10) ||
	    dup2(fd, 23) != 23 || close(fd))
		setup_fail("create %s: %s", b, strerror(errno));
	fd = open(c, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 3 * 4096))
		setup_fail("create %s: %s", c, strerror(errno));
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		setup_fail("mmap %s: %s", c, strerror(errno));
	close(fd);
	pattern_fill(m, 3 * 4096, 13);
	if (unlink(a) || unlink(b) || unlink(c))
		setup_fail("unlink: %s", strerror(errno));
	struct stat sa;
	fstat(20, &sa);

	test_daemon();
	test_waitsig();

	expect_deleted(20, a);
	expect_deleted(21, a);
	expect_deleted(23, b);
	struct stat s0, s1;
	if (fstat(20, &s0) || fstat(21, &s1) || s0.st_ino != s1.st_ino || s0.st_dev != s1.st_dev)
		fail("fds 20 and 21 are not the same inode any more");
	if (s0.st_size != sizeof(buf) || (s0.st_mode & 07777) != 0640 ||
	    s0.st_mtim.tv_sec != sa.st_mtim.tv_sec)
		fail("A: size %lld mode 0%o mtime %lld, expected %zu 0640 %lld", (long long)s0.st_size,
		     s0.st_mode & 07777, (long long)s0.st_mtim.tv_sec, sizeof(buf),
		     (long long)sa.st_mtim.tv_sec);
	expect_pos(20, 123);
	expect_pos(21, 7);
	expect_pos(22, 7);
	static char rb[5000];
	if (pread(21, rb, sizeof(rb), 0) != sizeof(rb) || pattern_check(rb, sizeof(rb), 11) >= 0)
		fail("A's contents differ");
	if (pwrite(20, "X", 1, 0) != 1 || pread(22, rb, 1, 0) != 1 || rb[0] != 'X')
		fail("a write through fd 20 is not seen through fd 22");
	struct stat sb;
	if (fstat(23, &sb) || sb.st_size != 300 << 10)
		fail("B has size %lld", (long long)sb.st_size);
	static char bb[4096];
	if (pread(23, bb, sizeof(bb), 0) != sizeof(bb) || pattern_check(bb, sizeof(bb), 12) >= 0 ||
	    pread(23, bb, sizeof(bb), 200 << 10) != sizeof(bb) ||
	    pattern_check(bb, sizeof(bb), 12) >= 0)
		fail("B's data differ");
	if (pread(23, bb, sizeof(bb), 100 << 10) != sizeof(bb) || zero_check(bb, sizeof(bb)) >= 0)
		fail("B's hole is not zero");
	if (lseek(23, 4096, SEEK_DATA) != 200 << 10)
		fail("B's hole at 4 KiB-200 KiB was filled");
	if (pattern_check(m, 3 * 4096, 13) >= 0)
		fail("the mapping of C lost its contents");
	/* still shared with the file: a write shows through a reopen */
	char mp[128];
	snprintf(mp, sizeof(mp), "/proc/self/map_files/%lx-%lx", (unsigned long)m,
		 (unsigned long)m + 3 * 4096);
	int cf = open(mp, O_RDWR);
	m[5] = 'Q';
	if (cf < 0 || pread(cf, bb, 8, 0) != 8 || bb[5] != 'Q')
		fail("the mapping of C is no longer shared with its file");
	char ml[4096], want[4200];
	ssize_t n = readlink(mp, ml, sizeof(ml) - 1);
	ml[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", c);
	if (strcmp(ml, want))
		fail("C's mapping is of \"%s\", expected \"%s\"", ml, want);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, "ghost"))
			fail("%s/%s was left behind", dir, e->d_name);
	pass();
	return 0;
}
