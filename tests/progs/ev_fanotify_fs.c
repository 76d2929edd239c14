/* ev_fanotify_fs: a fanotify filesystem mark (FAN_MARK_FILESYSTEM) has no
 * place in criu's image format: cryo must refuse the dump and leave the
 * process unharmed (its mark still there). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "fanotify filesystem mark: refused";
	test_init(argc, argv);
	int fa = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
	if (fa < 0 || fanotify_mark(fa, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE,
				    AT_FDCWD, "/dev/shm"))
		setup_fail("fanotify: %s", strerror(errno));
	test_daemon();
	test_waitsig();
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fa);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (!strstr(buf, "fanotify sdev:"))
		fail("the filesystem mark is gone: %s", buf);
	pass();
	return 0;
}
