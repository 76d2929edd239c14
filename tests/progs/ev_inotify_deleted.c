/* ev_inotify_deleted: inotify watches on inodes that have no path left.
 *
 * Before the checkpoint (in a directory W next to the outfile): the
 * instance at fd 41 (non-blocking); wd 1 on W (IN_CREATE); wd 2 on W/f
 * (IN_MODIFY | IN_CLOSE_WRITE), f open at fd 40 with "abc" and unlinked;
 * wd 3 on W/d (IN_ATTRIB), d open at fd 42 and removed.  The events of the
 * removals are read.
 * After SIGTERM: nothing is queued; fdinfo lists wds 1, 2 and 3 with their
 * masks on W, on fd 40's inode and on fd 42's inode (both deleted, fd 40
 * still reading "abc"); a write through fd 40 gives wd 2 IN_MODIFY, a chmod
 * of fd 42 wd 3 IN_ATTRIB, a file made in W wd 1 IN_CREATE, and nothing
 * else comes.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static void expect_watch(const char *fdinfo, int wd, unsigned mask, ino_t ino)
{
	char key[32];
	snprintf(key, sizeof(key), "inotify wd:%x ", wd);
	const char *l = strstr(fdinfo, key);
	unsigned long long i;
	unsigned m;
	if (!l || sscanf(l + strlen(key), "ino:%llx sdev:%*x mask:%x", &i, &m) != 2) {
		fail("no watch %d in fdinfo", wd);
		return;
	}
	if (i != (unsigned long long)ino || m != mask)
		fail("watch %d: ino %llu mask %#x, expected %llu %#x", wd, i, m,
		     (unsigned long long)ino, mask);
}

static void expect_event(int fd, int wd, unsigned mask)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(fd, buf, sizeof(buf));
	struct inotify_event *ev = (struct inotify_event *)buf;
	if (n < (ssize_t)sizeof(*ev) || ev->wd != wd || !(ev->mask & mask) ||
	    n != (ssize_t)(sizeof(*ev) + ev->len))
		fail("expected one event %#x on wd %d, read %zd bytes (wd %d mask %#x)", mask, wd,
		     n, n >= (ssize_t)sizeof(*ev) ? ev->wd : -1,
		     n >= (ssize_t)sizeof(*ev) ? ev->mask : 0);
}

int main(int argc, char **argv)
{
	test_doc = "inotify watches on deleted files and directories";
	test_init(argc, argv);
	char tmp[2048], w[2048], f[4096], d[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(w, sizeof(w), "%s/inotify-deleted", dirname(tmp));
	snprintf(f, sizeof(f), "%s/f", w);
	snprintf(d, sizeof(d), "%s/d", w);
	if (mkdir(w, 0755) && errno != EEXIST)
		setup_fail("mkdir %s: %s", w, strerror(errno));
	int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "abc", 3) != 3 || dup2(fd, 40) != 40 || close(fd))
		setup_fail("create %s: %s", f, strerror(errno));
	if (mkdir(d, 0700) || (fd = open(d, O_RDONLY | O_DIRECTORY)) < 0 || dup2(fd, 42) != 42 ||
	    close(fd))
		setup_fail("mkdir %s: %s", d, strerror(errno));
	int in = inotify_init1(IN_NONBLOCK);
	if (in < 0 || dup2(in, 41) != 41 || close(in))
		setup_fail("inotify_init1: %s", strerror(errno));
	if (inotify_add_watch(41, w, IN_CREATE) != 1 ||
	    inotify_add_watch(41, f, IN_MODIFY | IN_CLOSE_WRITE) != 2 ||
	    inotify_add_watch(41, d, IN_ATTRIB) != 3)
		setup_fail("inotify_add_watch: %s", strerror(errno));
	if (unlink(f) || rmdir(d))
		setup_fail("unlink/rmdir: %s", strerror(errno));
	char buf[4096];
	while (read(41, buf, sizeof(buf)) > 0)
		;

	test_daemon();
	test_waitsig();

	int q = -1;
	if (ioctl(41, FIONREAD, &q) || q)
		fail("%d bytes of events queued after the restore", q);
	char p[64], info[8192];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", 41);
	int fi = open(p, O_RDONLY);
	ssize_t n = fi < 0 ? -1 : read(fi, info, sizeof(info) - 1);
	info[n > 0 ? n : 0] = 0;
	if (fi >= 0)
		close(fi);
	struct stat sw, sf, sd;
	if (stat(w, &sw) || fstat(40, &sf) || fstat(42, &sd))
		fail("stat: %s", strerror(errno));
	if (sf.st_nlink || sd.st_nlink)
		fail("fd 40 or 42 is not deleted any more");
	expect_watch(info, 1, IN_CREATE, sw.st_ino);
	expect_watch(info, 2, IN_MODIFY | IN_CLOSE_WRITE, sf.st_ino);
	expect_watch(info, 3, IN_ATTRIB, sd.st_ino);
	char rb[4];
	if (pread(40, rb, 3, 0) != 3 || memcmp(rb, "abc", 3))
		fail("fd 40 lost its contents");
	if (pwrite(40, "x", 1, 3) != 1)
		fail("write: %s", strerror(errno));
	expect_event(41, 2, IN_MODIFY);
	if (fchmod(42, 0750))
		fail("fchmod: %s", strerror(errno));
	expect_event(41, 3, IN_ATTRIB);
	char nf[4200];
	snprintf(nf, sizeof(nf), "%s/new", w);
	int c = open(nf, O_CREAT | O_RDONLY, 0644);
	if (c < 0)
		fail("create %s: %s", nf, strerror(errno));
	expect_event(41, 1, IN_CREATE);
	close(c);
	unlink(nf);
	rmdir(w);
	pass();
	return 0;
}
