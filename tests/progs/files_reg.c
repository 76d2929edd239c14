/* files_reg: regular files and path-reopened descriptors.
 *
 * Before the checkpoint (files next to the outfile, and one under /var/tmp):
 *   fd 10: O_WRONLY|O_APPEND on data file A;  fd 11: O_RDWR|O_DIRECT on a
 *   4 KiB-aligned file under /var/tmp at offset 8192;  fd 12: O_PATH of A;
 *   fd 13: O_PATH of the directory;  fd 14: an O_RDONLY directory;  fd 15 /dev/null (write), fd 16 /dev/zero, fd 17 /dev/urandom;
 *   fd 18: an O_TMPFILE file (no name) holding 20000 pattern bytes, at 777;
 *   a second O_TMPFILE file of 2 pages mapped MAP_SHARED, its descriptor
 *   closed (the mapping alone holds it).
 * After SIGTERM: each fd is the same file (dev, ino, rdev, mode, flags), with
 *   O_DIRECT and O_PATH kept; appends land at the end; the O_DIRECT file reads
 *   its data at the right offset; the tmpfile has no name (nlink 0, "#INO
 *   (deleted)"), its contents, offset and mode, and can be written.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NFD 9

static void place(int fd, int at, const char *what)
{
	if (fd < 0)
		setup_fail("open %s: %s", what, strerror(errno));
	if (fd != at && (dup2(fd, at) != at || close(fd)))
		setup_fail("dup2 %s: %s", what, strerror(errno));
}

int main(int argc, char **argv)
{
	test_doc = "O_APPEND, O_DIRECT, O_PATH, directories, char devices, O_TMPFILE";
	test_init(argc, argv);
	char tmp[2048], dir[2048], a[4096], direct[256];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(a, sizeof(a), "%s/files_reg.data", dir);
	snprintf(direct, sizeof(direct), "/var/tmp/cryo-files_reg.%d", getpid());

	static char buf[20000] __attribute__((aligned(4096)));
	pattern_fill(buf, sizeof(buf), 3);
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || write(fd, buf, 5000) != 5000)
		setup_fail("write %s: %s", a, strerror(errno));
	close(fd);
	place(open(a, O_WRONLY | O_APPEND), 10, "append");
	fd = open(direct, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, 16384) != 16384)
		setup_fail("write %s: %s", direct, strerror(errno));
	close(fd);
	place(open(direct, O_RDWR | O_DIRECT), 11, "O_DIRECT");
	lseek(11, 8192, SEEK_SET);
	place(open(a, O_PATH), 12, "O_PATH file");
	place(open(dir, O_PATH | O_DIRECTORY), 13, "O_PATH dir");
	place(open(dir, O_RDONLY | O_DIRECTORY), 14, "dir");
	place(open("/dev/null", O_WRONLY), 15, "/dev/null");
	place(open("/dev/zero", O_RDONLY), 16, "/dev/zero");
	place(open("/dev/urandom", O_RDONLY), 17, "/dev/urandom");
	fd = open(dir, O_TMPFILE | O_RDWR, 0604);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
		setup_fail("O_TMPFILE in %s: %s", dir, strerror(errno));
	place(fd, 18, "tmpfile");
	lseek(18, 777, SEEK_SET);
	/* (in a mount namespace of its own, the task maps it from cryo's
	 * descriptor: its /proc has no /proc/<cryo>/fd) */
	long pg = sysconf(_SC_PAGESIZE);
	int mfd = open(dir, O_TMPFILE | O_RDWR, 0600);
	if (mfd < 0 || write(mfd, buf, 2 * pg) != 2 * pg)
		setup_fail("second O_TMPFILE in %s: %s", dir, strerror(errno));
	char *tmap = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (tmap == MAP_FAILED)
		setup_fail("mmap of the second tmpfile: %s", strerror(errno));
	close(mfd);
	tmap[pg] = 'M';

	struct fd_snap snaps[NFD];
	for (int i = 0; i < NFD; i++)
		fd_snap_take(10 + i, &snaps[i]);
	struct stat tst;
	fstat(18, &tst);

	test_daemon();
	test_waitsig();

	for (int i = 0; i < NFD; i++) {
		char what[32];
		snprintf(what, sizeof(what), "fd %d", 10 + i);
		if (i != 8)	/* the tmpfile is a new inode */
			fd_snap_check(10 + i, &snaps[i], what);
	}
	int fl = fcntl(11, F_GETFL);
	if (!(fl & O_DIRECT))
		fail("fd 11 lost O_DIRECT (flags 0%o)", fl);
	if (!(fcntl(12, F_GETFL) & O_PATH) || !(fcntl(13, F_GETFL) & O_PATH))
		fail("fds 12/13 are no O_PATH descriptors any more");
	if (!(fcntl(10, F_GETFL) & O_APPEND))
		fail("fd 10 lost O_APPEND");
	if (lseek(11, 0, SEEK_CUR) != 8192)
		fail("the O_DIRECT fd is at %lld, not 8192", (long long)lseek(11, 0, SEEK_CUR));
	static char rd[4096] __attribute__((aligned(4096)));
	if (read(11, rd, 4096) != 4096 || memcmp(rd, buf + 8192, 4096))
		fail_errno("O_DIRECT read after restore");
	if (write(10, "tail", 4) != 4)
		fail_errno("append write");
	struct stat st;
	if (stat(a, &st) || st.st_size != 5004)
		fail("the append did not land at the end (size %lld)", (long long)st.st_size);
	if (write(15, "x", 1) != 1)
		fail_errno("/dev/null write");
	char z[64];
	if (read(16, z, 64) != 64 || zero_check(z, 64) >= 0)
		fail("fd 16 is not /dev/zero");
	if (read(17, z, 64) != 64)
		fail_errno("/dev/urandom read");
	int d14 = openat(14, ".", O_RDONLY);
	if (d14 < 0)
		fail_errno("the directory fd can't be used with openat");
	else
		close(d14);
	char link[256], want[64];
	ssize_t n = readlink("/proc/self/fd/18", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	struct stat t2;
	if (fstat(18, &t2))
		fail_errno("fstat of the tmpfile");
	snprintf(want, sizeof(want), "/#%llu (deleted)", (unsigned long long)t2.st_ino);
	if (n <= 0 || strncmp(link, dir, strlen(dir)) || strcmp(link + strlen(dir), want))
		fail("the tmpfile is \"%s\", expected %s%s", link, dir, want);
	if (t2.st_nlink || t2.st_size != (off_t)sizeof(buf) || (t2.st_mode & 07777) != 0604 ||
	    t2.st_dev != tst.st_dev)
		fail("the tmpfile has nlink %lu size %lld mode 0%o", (unsigned long)t2.st_nlink,
		     (long long)t2.st_size, t2.st_mode & 07777);
	if (lseek(18, 0, SEEK_CUR) != 777)
		fail("the tmpfile is at offset %lld, not 777", (long long)lseek(18, 0, SEEK_CUR));
	static char rb[20000];
	if (pread(18, rb, sizeof(rb), 0) != (ssize_t)sizeof(rb) || pattern_check(rb, sizeof(rb), 3) >= 0)
		fail("the tmpfile's contents differ");
	if (pwrite(18, "w", 1, 0) != 1)
		fail_errno("tmpfile write");
	if (memcmp(tmap, buf, pg) || tmap[pg] != 'M' || memcmp(tmap + pg + 1, buf + pg + 1, pg - 1))
		fail("the mapped tmpfile's contents differ");
	unlink(direct);
	pass();
	return 0;
}
