/* files_inherit: --inherit-fd fd[N]:KEY gives the restored process the
 * descriptor cryo was started with instead of reopening the file.
 *
 * Before the checkpoint: fd 60 open O_RDWR on "inherit-orig" (next to the
 * outfile); "inherit-new" exists too.  The restore (see the .desc) runs
 * cryo with fd 7 open on inherit-new and --inherit-fd fd[7]:PATH, PATH being
 * inherit-orig's path without its leading '/' (criu's key for files).
 * After SIGTERM: fd 60 is inherit-new (same inode), readable and writable.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "--inherit-fd replaces a regular file";
	test_init(argc, argv);
	char tmp[2048], dir[2048], o[4096], n[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(o, sizeof(o), "%s/inherit-orig", dir);
	snprintf(n, sizeof(n), "%s/inherit-new", dir);
	int fd = open(n, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "NEW data", 8) != 8 || close(fd))
		setup_fail("create %s: %s", n, strerror(errno));
	fd = open(o, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "orig data", 9) != 9 || dup2(fd, 60) != 60 || close(fd))
		setup_fail("create %s: %s", o, strerror(errno));

	test_daemon();
	test_waitsig();

	struct stat a, b;
	if (fstat(60, &a) || stat(n, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		fail("fd 60 is not the inherited file %s", n);
	char buf[16] = "";
	if (pread(60, buf, 8, 0) != 8 || memcmp(buf, "NEW data", 8))
		fail("fd 60 reads \"%.8s\"", buf);
	if (pwrite(60, "n", 1, 0) != 1)
		fail_errno("write through the inherited fd");
	pass();
	return 0;
}
