/* files_misc: assorted file states criu's static tests hold.
 *
 * Before the checkpoint (files next to the outfile):
 *   fd 10: "misc-flags" O_RDWR|O_NOATIME|O_SYNC|O_ASYNC, 100 bytes, offset
 *          5000 (past the end of the file), owned by the test (F_SETOWN)
 *          with signal SIGUSR2 (F_SETSIG);
 *   fd 11: "misc-same" opened, unlinked, and a new file made under the
 *          same name (fd 12 on the new one): the ghost must not take the
 *          new file's place;
 *   a shared mapping (no fd) of "misc-mapsame", deleted and its name
 *          taken by a new file the same way;
 *   fd 13/14: "misc-h1" and its hard link "misc-h2" opened by each name,
 *          then both unlinked: one inode after restore;
 *   fd 15: a file in directory "misc-gd" that is then removed with it;
 *   fd 16: "misc-nl name\n" (a space and a newline in its name), also
 *          mapped MAP_SHARED (/proc/PID/maps escapes the newline);
 *   fd 17: a character device node (1,3) made with mknod, not deleted;
 *   fd 18: /proc/sys/kernel/ostype at offset 2; fd 19: a sysfs file;
 *   a 3-page MAP_SHARED mapping of "misc-trunc", truncated to 1 page
 *   afterwards: page 0 holds its data, page 2 raises SIGBUS;
 *   a directory of 200 entries read part-way with getdents (its position
 *   and the next entry); a pty master whose slave was never opened
 *   (locked), and one whose slave wrote "hi\n" and was closed (the master
 *   reads "hi\r\n", then EIO); a FIFO open O_RDONLY|O_NONBLOCK, no writer;
 *   a live file named "misc live (deleted)" (open and mapped), memfds named "odd name
 *   (deleted)" and "" (which shows as "/memfd: (deleted)").
 * After SIGTERM: each of these, exactly.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "zdtmtst.h"

static char dir[2048];

struct d64 {
	unsigned long long ino;
	long long off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void expect_link(int fd, const char *want)
{
	char p[64], l[4096];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	if (strcmp(l, want))
		fail("fd %d is \"%s\", expected \"%s\"", fd, l, want);
}

static void fd_link(int fd, char *out, size_t n)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t r = readlink(p, out, n - 1);
	out[r > 0 ? r : 0] = '\0';
}

static sigjmp_buf jb;
static void on_bus(int s)
{
	(void)s;
	siglongjmp(jb, 1);
}

int main(int argc, char **argv)
{
	test_doc = "assorted file states";
	test_init(argc, argv);
	char tmp[2048], a[3000], b[3000], c[3000], d[3000], want[4200];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	static char buf[8192], rd[8192];
	pattern_fill(buf, sizeof(buf), 21);

	/* fd 10 */
	path(a, sizeof(a), "misc-flags");
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC | O_NOATIME | O_SYNC, 0600);
	if (fd < 0 || write(fd, buf, 100) != 100 || dup2(fd, 10) != 10 || close(fd))
		setup_fail("create %s: %s", a, strerror(errno));
	lseek(10, 5000, SEEK_SET);
	if (fcntl(10, F_SETOWN, getpid()) || fcntl(10, F_SETSIG, SIGUSR2) ||
	    fcntl(10, F_SETFL, fcntl(10, F_GETFL) | O_ASYNC))
		setup_fail("F_SETOWN/F_SETSIG/O_ASYNC on %s: %s", a, strerror(errno));
	int fl10 = fcntl(10, F_GETFL);

	/* fd 11, 12 */
	path(b, sizeof(b), "misc-same");
	fd = open(b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, 3000) != 3000 || dup2(fd, 11) != 11 || close(fd) || unlink(b))
		setup_fail("create %s: %s", b, strerror(errno));
	fd = open(b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "new", 3) != 3 || dup2(fd, 12) != 12 || close(fd))
		setup_fail("recreate %s: %s", b, strerror(errno));
	lseek(11, 77, SEEK_SET);
	/* a mapping only, of a file whose name was then taken the same way */
	char ms[3000];
	path(ms, sizeof(ms), "misc-mapsame");
	fd = open(ms, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *msmap = fd < 0 || ftruncate(fd, 8192) ? MAP_FAILED :
		      mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (msmap == MAP_FAILED || close(fd) || unlink(ms))
		setup_fail("map %s: %s", ms, strerror(errno));
	memcpy(msmap, buf, 8192);
	fd = open(ms, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "other", 5) != 5 || close(fd))
		setup_fail("recreate %s: %s", ms, strerror(errno));

	/* fd 13, 14 */
	path(c, sizeof(c), "misc-h1");
	path(d, sizeof(d), "misc-h2");
	fd = open(c, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf + 10, 2000) != 2000 || dup2(fd, 13) != 13 || close(fd) ||
	    link(c, d))
		setup_fail("create %s: %s", c, strerror(errno));
	fd = open(d, O_RDONLY);
	if (fd < 0 || dup2(fd, 14) != 14 || close(fd) || unlink(c) || unlink(d))
		setup_fail("open %s: %s", d, strerror(errno));

	/* fd 15 */
	char gd[3000], gf[3100];
	path(gd, sizeof(gd), "misc-gd");
	snprintf(gf, sizeof(gf), "%s/f", gd);
	if (mkdir(gd, 0700) && errno != EEXIST)
		setup_fail("mkdir: %s", strerror(errno));
	fd = open(gf, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf + 20, 1500) != 1500 || dup2(fd, 15) != 15 || close(fd) ||
	    unlink(gf) || rmdir(gd))
		setup_fail("create %s: %s", gf, strerror(errno));

	/* fd 16 */
	char nl[3000];
	path(nl, sizeof(nl), "misc-nl name\n");
	fd = open(nl, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "xyz", 3) != 3 || dup2(fd, 16) != 16 || close(fd))
		setup_fail("create name with newline: %s", strerror(errno));
	lseek(16, 1, SEEK_SET);
	char *nlmap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 16, 0);
	if (nlmap == MAP_FAILED || ftruncate(16, 4096))
		setup_fail("map %s: %s", nl, strerror(errno));
	nlmap[100] = 'M';

	/* fd 17 */
	char dev[3000];
	path(dev, sizeof(dev), "misc-null");
	unlink(dev);
	if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)))
		setup_fail("mknod: %s", strerror(errno));
	fd = open(dev, O_WRONLY);
	if (fd < 0 || dup2(fd, 17) != 17 || close(fd))
		setup_fail("open %s: %s", dev, strerror(errno));

	/* fd 18, 19 */
	fd = open("/proc/sys/kernel/ostype", O_RDONLY);
	if (fd < 0 || dup2(fd, 18) != 18 || close(fd))
		setup_fail("open ostype: %s", strerror(errno));
	if (read(18, rd, 2) != 2)
		setup_fail("read ostype: %s", strerror(errno));
	fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);
	if (fd < 0 || dup2(fd, 19) != 19 || close(fd))
		setup_fail("open sysfs: %s", strerror(errno));

	/* the truncated mapping */
	char tr[3000];
	path(tr, sizeof(tr), "misc-trunc");
	fd = open(tr, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 3 * 4096))
		setup_fail("create %s: %s", tr, strerror(errno));
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	memcpy(m, buf, 4096);
	memcpy(m + 8192, buf, 4096);
	if (ftruncate(fd, 4096) || close(fd))
		setup_fail("truncate: %s", strerror(errno));

	/* a directory read part-way, ptys, a FIFO without writers */
	char dd[3000], f[3100];
	snprintf(dd, sizeof(dd), "%s/misc-dir", dir);
	mkdir(dd, 0755);
	for (int i = 0; i < 200; i++) {
		snprintf(f, sizeof(f), "%s/entry-%03d", dd, i);
		close(open(f, O_CREAT | O_WRONLY, 0600));
	}
	int dfd = open(dd, O_RDONLY | O_DIRECTORY);
	char db[1024];
	long n = syscall(SYS_getdents64, dfd, db, sizeof(db));
	if (n <= 0)
		setup_fail("getdents");
	off_t pos = lseek(dfd, 0, SEEK_CUR);
	char next[300] = "";
	{
		int d2 = open(dd, O_RDONLY | O_DIRECTORY);
		lseek(d2, pos, SEEK_SET);
		char b2[1024];
		if (syscall(SYS_getdents64, d2, b2, sizeof(b2)) > 0)
			snprintf(next, sizeof(next), "%.200s", ((struct d64 *)b2)->name);
		close(d2);
	}
	/* pty: a master whose slave was never opened (locked), and one whose slave was closed */
	int m1 = open("/dev/ptmx", O_RDWR | O_NOCTTY);
	int m2 = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK);
	int unlock = 0;
	if (m1 < 0 || m2 < 0 || ioctl(m2, TIOCSPTLCK, &unlock))
		setup_fail("ptmx");
	int s2 = ioctl(m2, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (s2 < 0 || write(s2, "hi\n", 3) != 3)
		setup_fail("peer");
	close(s2);
	int lk1 = -1, lk2 = -1;
	ioctl(m1, TIOCGPTLCK, &lk1);
	ioctl(m2, TIOCGPTLCK, &lk2);
	int fifo_ro;
	char ff[3100];
	snprintf(ff, sizeof(ff), "%s/misc-fifo", dir);
	unlink(ff);
	mkfifo(ff, 0600);
	fifo_ro = open(ff, O_RDONLY | O_NONBLOCK);
	int flro = fcntl(fifo_ro, F_GETFL);

	/* names ending in " (deleted)" that are not */
	char dn[3000], l1[4096], l2[4096], l3[4096];
	path(dn, sizeof(dn), "misc live (deleted)");
	int fdn = open(dn, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int mfa = memfd_create("odd name (deleted)", 0), mfb = memfd_create("", 0);
	if (fdn < 0 || write(fdn, "live", 4) != 4 || mfa < 0 || write(mfa, "memfd", 5) != 5 ||
	    mfb < 0 || write(mfb, "e", 1) != 1)
		setup_fail("names with \" (deleted)\": %s", strerror(errno));
	char *dnmap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fdn, 0);
	if (ftruncate(fdn, 4096) || dnmap == MAP_FAILED)
		setup_fail("map %s: %s", dn, strerror(errno));
	dnmap[10] = 'D';
	fd_link(mfa, l1, sizeof(l1));
	fd_link(mfb, l2, sizeof(l2));
	fd_link(fdn, l3, sizeof(l3));

	test_daemon();
	test_waitsig();

	struct stat st, st2;
	expect_link(fdn, l3);
	expect_link(mfa, l1);
	expect_link(mfb, l2);
	if (stat(dn, &st) || fstat(fdn, &st2) || st.st_ino != st2.st_ino || st2.st_nlink != 1 ||
	    st.st_size != 4096)
		fail("\"%s\" is no longer fd %d's file", dn, fdn);
	if (memcmp(dnmap, "live", 4) || dnmap[10] != 'D' ||
	    (dnmap[20] = 'E', pread(fdn, rd, 1, 20) != 1 || rd[0] != 'E'))
		fail("the shared mapping of \"%s\" is not that file", dn);
	if (pread(mfa, rd, 5, 0) != 5 || memcmp(rd, "memfd", 5))
		fail("memfd \"odd name (deleted)\" lost its data");
	unlink(dn);

	/* fd 10 */
	expect_link(10, a);
	if (fcntl(10, F_GETFL) != fl10)
		fail("fd 10 flags %#x, expected %#x", fcntl(10, F_GETFL), fl10);
	if (fcntl(10, F_GETOWN) != getpid() || fcntl(10, F_GETSIG) != SIGUSR2)
		fail("fd 10 owner %d, signal %d", fcntl(10, F_GETOWN), fcntl(10, F_GETSIG));
	if (lseek(10, 0, SEEK_CUR) != 5000)
		fail("fd 10 offset %lld", (long long)lseek(10, 0, SEEK_CUR));
	if (fstat(10, &st) || st.st_size != 100)
		fail("fd 10 size %lld", (long long)st.st_size);
	/* fd 11, 12 */
	/* (in a mount namespace of its own, cryo keeps it under a temporary
	 * name: the test's mapping of such a ghost is opened by the task) */
	snprintf(want, sizeof(want), "%s (deleted)", b);
	if (!test_ns())
		expect_link(11, want);
	expect_link(12, b);
	if (pread(11, rd, 3000, 0) != 3000 || memcmp(rd, buf, 3000))
		fail("fd 11 lost its data");
	if (lseek(11, 0, SEEK_CUR) != 77)
		fail("fd 11 offset");
	if (fstat(11, &st) || st.st_nlink)
		fail("fd 11 nlink %lu", (unsigned long)st.st_nlink);
	if (stat(b, &st) || fstat(12, &st2) || st.st_ino != st2.st_ino || st.st_size != 3)
		fail("%s is not fd 12's file of 3 bytes", b);
	if (memcmp(msmap, buf, 8192))
		fail("the mapping of the deleted %s lost its data", ms);
	if (stat(ms, &st) || st.st_size != 5)
		fail("%s is not the 5-byte file made under the name", ms);
	/* fd 13, 14 */
	if (fstat(13, &st) || fstat(14, &st2) || st.st_ino != st2.st_ino || st.st_dev != st2.st_dev)
		fail("fds 13 and 14 are no longer one inode");
	if (st.st_nlink)
		fail("fd 13 nlink %lu", (unsigned long)st.st_nlink);
	if (pread(14, rd, 2000, 0) != 2000 || memcmp(rd, buf + 10, 2000))
		fail("fd 14 lost its data");
	if (pwrite(13, "Q", 1, 0) != 1 || pread(14, rd, 1, 0) != 1 || rd[0] != 'Q')
		fail("a write through fd 13 does not show in fd 14");
	snprintf(want, sizeof(want), "%s (deleted)", c);
	expect_link(13, want);
	snprintf(want, sizeof(want), "%s (deleted)", d);
	expect_link(14, want);
	/* fd 15 */
	snprintf(want, sizeof(want), "%s (deleted)", gf);
	expect_link(15, want);
	if (pread(15, rd, 1500, 0) != 1500 || memcmp(rd, buf + 20, 1500))
		fail("fd 15 lost its data");
	if (access(gd, F_OK) == 0)
		fail("%s exists again", gd);
	/* fd 16 */
	expect_link(16, nl);
	if (lseek(16, 0, SEEK_CUR) != 1 || pread(16, rd, 3, 0) != 3 || memcmp(rd, "xyz", 3))
		fail("fd 16 offset or data");
	if (pread(16, rd, 1, 100) != 1 || rd[0] != 'M' || memcmp(nlmap, "xyz", 3) ||
	    (nlmap[200] = 'N', pread(16, rd, 1, 200) != 1 || rd[0] != 'N'))
		fail("the shared mapping of fd 16's file is not that file");
	/* fd 17 */
	expect_link(17, dev);
	if (fstat(17, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3) ||
	    (fcntl(17, F_GETFL) & O_ACCMODE) != O_WRONLY)
		fail("fd 17 is not the null device node");
	/* fd 18, 19 */
	expect_link(18, "/proc/sys/kernel/ostype");
	if (lseek(18, 0, SEEK_CUR) != 2 || read(18, rd, 3) != 3 || memcmp(rd, "nux", 3))
		fail("fd 18 offset or data");
	expect_link(19, "/sys/kernel/mm/transparent_hugepage/enabled");
	/* the mapping */
	if (memcmp(m, buf, 4096))
		fail("the truncated mapping lost page 0");
	signal(SIGBUS, on_bus);
	if (!sigsetjmp(jb, 1)) {
		volatile char x = m[8192];
		(void)x;
		fail("page 2 of the truncated mapping did not raise SIGBUS");
	}
	if (stat(tr, &st) || st.st_size != 4096)
		fail("%s size %lld", tr, (long long)st.st_size);
	if (lseek(dfd, 0, SEEK_CUR) != pos)
		fail("dir pos %lld want %lld", (long long)lseek(dfd, 0, SEEK_CUR), (long long)pos);
	n = syscall(SYS_getdents64, dfd, db, sizeof(db));
	if (n <= 0 || strcmp(((struct d64 *)db)->name, next))
		fail("dir next entry %s want %s", n > 0 ? ((struct d64 *)db)->name : "-", next);
	int l = -1;
	ioctl(m1, TIOCGPTLCK, &l);
	if (l != lk1)
		fail("m1 lock %d want %d", l, lk1);
	ioctl(m2, TIOCGPTLCK, &l);
	if (l != lk2)
		fail("m2 lock %d want %d", l, lk2);
	char rb[16];
	ssize_t r = read(m2, rb, sizeof(rb));
	if (r != 4 || memcmp(rb, "hi\r\n", 4))
		fail("m2 read %zd (%s)", r, strerror(errno));
	r = read(m2, rb, sizeof(rb));
	if (r != -1 || errno != EIO)
		fail("m2 second read %zd errno %d, want EIO", r, errno);
	if (fcntl(fifo_ro, F_GETFL) != flro || read(fifo_ro, rb, 1) != 0)
		fail("fifo ro");
	unlink(a);
	unlink(b);
	unlink(ms);
	unlink(nl);
	unlink(dev);
	unlink(tr);
	pass();
	return 0;
}
