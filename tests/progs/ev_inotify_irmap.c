/* ev_inotify_irmap: an inotify watch on a file whose name is hidden, found
 * again through another name (a hard link) by --irmap-scan-path.
 *
 * State built before the checkpoint, under /tmp/cryo-test-irmap (a fixed
 * path the .desc names): b/y is created with some bytes, a/x is a hard
 * link to it (so the dentry a file handle opens as is a/x), an inotify
 * instance watches a/x (wd 1, IN_MODIFY | IN_ATTRIB) and the directory b
 * (wd 2, IN_CREATE), then a tmpfs is mounted over a: the handle's path
 * a/x now leads into the tmpfs, not to the inode.
 * After SIGTERM: the inode is still the one b/y names (2 links, same
 * contents), writing b/y queues IN_MODIFY on wd 1 and creating b/z queues
 * IN_CREATE "z" on wd 2, and nothing else is queued.  The tmpfs is then
 * unmounted and the files removed.
 * Without the option the dump must refuse, naming the option (the .desc of
 * ev_inotify_irmap_refuse).
 * --fan: a fanotify instance also marks a/x (FAN_MODIFY, an inode mark);
 * after restore the write of b/y must queue a FAN_MODIFY event there too.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define BASE "/tmp/cryo-test-irmap"

static bool fan;
TEST_OPTION(fan, bool, "also a fanotify inode mark on a/x", 0);

static void cleanup(void)
{
	umount2(BASE "/a", MNT_DETACH);
	unlink(BASE "/a/x");
	unlink(BASE "/b/y");
	unlink(BASE "/b/z");
	rmdir(BASE "/a");
	rmdir(BASE "/b");
	rmdir(BASE);
}

int main(int argc, char **argv)
{
	test_doc = "inotify watch on a hidden name, found by --irmap-scan-path";
	test_init(argc, argv);
	cleanup();	/* a run that was killed may have left them */
	if (mkdir(BASE, 0755) || mkdir(BASE "/a", 0755) || mkdir(BASE "/b", 0755))
		setup_fail("mkdir " BASE ": %s", strerror(errno));
	int fd = open(BASE "/b/y", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "irmap", 5) != 5 || link(BASE "/b/y", BASE "/a/x"))
		setup_fail("create the files: %s", strerror(errno));
	close(fd);
	struct stat st0;
	if (stat(BASE "/a/x", &st0))
		setup_fail("stat: %s", strerror(errno));
	int in = inotify_init1(IN_NONBLOCK);
	if (in < 0 || inotify_add_watch(in, BASE "/a/x", IN_MODIFY | IN_ATTRIB) != 1 ||
	    inotify_add_watch(in, BASE "/b", IN_CREATE) != 2)
		setup_fail("inotify: %s", strerror(errno));
	int fa = -1;
	if (fan) {
		fa = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
		if (fa < 0 || fanotify_mark(fa, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, BASE "/a/x"))
			setup_fail("fanotify: %s", strerror(errno));
	}
	if (mount("cryo-irmap", BASE "/a", "tmpfs", 0, "size=64k"))
		setup_fail("mount tmpfs over " BASE "/a: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	struct stat st;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	if (read(in, buf, sizeof(buf)) >= 0 || errno != EAGAIN)
		fail("events queued after the restore before any change");
	if (stat(BASE "/b/y", &st) || st.st_nlink != 2 || st.st_size != 5)
		fail("b/y: not the file with 2 links and 5 bytes");
	fd = open(BASE "/b/y", O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "!", 1) != 1)
		fail_errno("writing b/y");
	close(fd);
	fd = open(BASE "/b/z", O_WRONLY | O_CREAT, 0644);
	close(fd);
	ssize_t n = read(in, buf, sizeof(buf));
	bool modified = false, created = false;
	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *ev = (struct inotify_event *)p;
		if (ev->wd == 1 && (ev->mask & IN_MODIFY))
			modified = true;
		else if (ev->wd == 2 && (ev->mask & IN_CREATE) && ev->len && !strcmp(ev->name, "z"))
			created = true;
		else
			fail("unexpected event: wd %d mask %#x", ev->wd, ev->mask);
		p += sizeof(*ev) + ev->len;
	}
	if (fan) {
		char fb[4096] __attribute__((aligned(8)));
		ssize_t fn = read(fa, fb, sizeof(fb));
		bool fmod = false;
		for (struct fanotify_event_metadata *m = (void *)fb; fn > 0 && FAN_EVENT_OK(m, fn);
		     m = FAN_EVENT_NEXT(m, fn)) {
			struct stat es;
			if ((m->mask & FAN_MODIFY) && m->fd >= 0 && !fstat(m->fd, &es) &&
			    es.st_ino == st0.st_ino && es.st_dev == st0.st_dev)
				fmod = true;
			if (m->fd >= 0)
				close(m->fd);
		}
		if (!fmod)
			fail("no FAN_MODIFY on the inode after writing b/y (the mark is lost)");
	}
	if (!modified)
		fail("no IN_MODIFY on wd 1 after writing b/y (the watch on its inode is lost)");
	if (!created)
		fail("no IN_CREATE \"z\" on wd 2");
	cleanup();
	return test_verdict();
}
