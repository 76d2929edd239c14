/* ev_fanotify_deleted: fanotify inode marks on inodes with no path left.
 *
 * Before the checkpoint (a directory D next to the outfile):
 *   fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY) at fd 41; an
 *   inode mark (FAN_MODIFY) on D/f, open O_RDWR at fd 40 with "abc" and
 *   then unlinked; an inode mark (FAN_OPEN | FAN_EVENT_ON_CHILD |
 *   FAN_ONDIR) on D/sub, open at fd 42 and then removed; a live mark
 *   (FAN_CLOSE_WRITE) on D/live.  Queued events are read.
 * After SIGTERM: fdinfo lists three inode marks, with their masks, on fd
 *   40's and fd 42's (deleted) inodes and on D/live; nothing is queued;
 *   a write through fd 40 gives one FAN_MODIFY event whose fd is that
 *   inode; a write to D/live gives FAN_CLOSE_WRITE.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

/* The events of this process with @mask bits: how many, and the inode of
 * the last one's fd (closed). */
static int my_events(int fa, uint64_t mask, ino_t *ino)
{
	char buf[8192] __attribute__((aligned(8)));
	int n = 0;
	ssize_t len;
	while ((len = read(fa, buf, sizeof(buf))) > 0) {
		struct fanotify_event_metadata *m = (void *)buf;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			struct stat st;
			if (m->pid == getpid() && (m->mask & mask)) {
				n++;
				if (ino && m->fd >= 0 && !fstat(m->fd, &st))
					*ino = st.st_ino;
			}
			if (m->fd >= 0)
				close(m->fd);
		}
	}
	return n;
}

static void expect_mark(const char *info, ino_t ino, unsigned mask)
{
	char key[64];
	snprintf(key, sizeof(key), "fanotify ino:%llx ", (unsigned long long)ino);
	const char *l = strstr(info, key);
	unsigned m;
	if (!l || sscanf(l + strlen(key), "sdev:%*x mflags:%*x mask:%x", &m) != 1)
		fail("no mark on inode %llu in fdinfo:\n%s", (unsigned long long)ino, info);
	else if (m != mask)
		fail("the mark on inode %llu has mask %#x, expected %#x", (unsigned long long)ino,
		     m, mask);
}

int main(int argc, char **argv)
{
	test_doc = "fanotify inode marks on deleted files and directories";
	test_init(argc, argv);
	char tmp[2048], d[2048], f[4096], sub[4096], live[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(d, sizeof(d), "%s/fanotify-deleted", dirname(tmp));
	snprintf(f, sizeof(f), "%s/f", d);
	snprintf(sub, sizeof(sub), "%s/sub", d);
	snprintf(live, sizeof(live), "%s/live", d);
	if (mkdir(d, 0755) && errno != EEXIST)
		setup_fail("mkdir %s: %s", d, strerror(errno));
	int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "abc", 3) != 3 || dup2(fd, 40) != 40 || close(fd))
		setup_fail("create %s: %s", f, strerror(errno));
	if (mkdir(sub, 0700) || (fd = open(sub, O_RDONLY | O_DIRECTORY)) < 0 ||
	    dup2(fd, 42) != 42 || close(fd))
		setup_fail("mkdir %s: %s", sub, strerror(errno));
	close(open(live, O_CREAT | O_WRONLY, 0600));
	int fa = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	if (fa < 0 || dup2(fa, 41) != 41 || close(fa))
		setup_fail("fanotify_init: %s", strerror(errno));
	if (fanotify_mark(41, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, f) ||
	    fanotify_mark(41, FAN_MARK_ADD, FAN_OPEN | FAN_EVENT_ON_CHILD | FAN_ONDIR, AT_FDCWD,
			  sub) ||
	    fanotify_mark(41, FAN_MARK_ADD, FAN_CLOSE_WRITE, AT_FDCWD, live))
		setup_fail("fanotify_mark: %s", strerror(errno));
	if (unlink(f) || rmdir(sub))
		setup_fail("unlink/rmdir: %s", strerror(errno));
	my_events(41, ~0ull, NULL);

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
	struct stat sf, ss, sl;
	if (fstat(40, &sf) || fstat(42, &ss) || stat(live, &sl))
		fail("stat: %s", strerror(errno));
	if (sf.st_nlink || ss.st_nlink)
		fail("fd 40 or 42 is not deleted any more");
	expect_mark(info, sf.st_ino, FAN_MODIFY);
	expect_mark(info, ss.st_ino, FAN_OPEN | FAN_EVENT_ON_CHILD | FAN_ONDIR);
	expect_mark(info, sl.st_ino, FAN_CLOSE_WRITE);
	int nm = 0;
	for (const char *l = info; (l = strstr(l, "fanotify ino:")); l++)
		nm++;
	if (nm != 3)
		fail("%d inode marks, expected 3", nm);
	ino_t ev = 0;
	if (pwrite(40, "x", 1, 3) != 1)
		fail("write: %s", strerror(errno));
	if (my_events(41, FAN_MODIFY, &ev) != 1 || ev != sf.st_ino)
		fail("a write through fd 40 was not reported once on its inode");
	int l = open(live, O_WRONLY);
	if (l < 0 || write(l, "y", 1) != 1 || close(l))
		fail("write %s: %s", live, strerror(errno));
	if (my_events(41, FAN_CLOSE_WRITE, NULL) != 1)
		fail("the write to D/live was not reported once");
	unlink(live);
	rmdir(d);
	pass();
	return 0;
}
