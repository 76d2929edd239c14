/* files_link_remap: a file whose open name was removed while another hard
 * link remains (nlink 1), dumped with --link-remap.
 *
 * Before the checkpoint: X and its hard link Y; X opened O_RDWR at fd 30
 * (offset 9), then X unlinked.
 * After SIGTERM: fd 30 shows "X (deleted)", is the very inode Y names
 * (writes through it show in Y), offset 9; no link_remap.* name is left.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "an open file unlinked while linked elsewhere (--link-remap)";
	test_init(argc, argv);
	char tmp[2048], dir[2048], x[4096], y[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(x, sizeof(x), "%s/lr-x", dir);
	snprintf(y, sizeof(y), "%s/lr-y", dir);
	unlink(y);
	int fd = open(x, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16 || link(x, y) ||
	    dup2(fd, 30) != 30 || close(fd) || unlink(x))
		setup_fail("setup: %s", strerror(errno));
	lseek(30, 9, SEEK_SET);

	test_daemon();
	test_waitsig();

	char l[4096], want[4200];
	ssize_t n = readlink("/proc/self/fd/30", l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", x);
	if (strcmp(l, want))
		fail("fd 30 is \"%s\", expected \"%s\"", l, want);
	struct stat a, b;
	if (fstat(30, &a) || stat(y, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		fail("fd 30 is not the inode %s names", y);
	if (a.st_nlink != 1)
		fail("the file has %lu links, expected 1", (unsigned long)a.st_nlink);
	if (lseek(30, 0, SEEK_CUR) != 9)
		fail("fd 30 is at %lld, not 9", (long long)lseek(30, 0, SEEK_CUR));
	char c;
	if (pwrite(30, "Z", 1, 0) != 1 || (fd = open(y, O_RDONLY)) < 0 || read(fd, &c, 1) != 1 ||
	    c != 'Z')
		fail("a write through fd 30 does not show in %s", y);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "link_remap", 10) || !strcmp(e->d_name, "lr-x"))
			fail("%s/%s was left behind", dir, e->d_name);
	pass();
	return 0;
}
