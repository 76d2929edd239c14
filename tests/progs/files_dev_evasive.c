/* files_dev_evasive: a device descriptor whose name now leads elsewhere.
 *
 * Before the checkpoint (in the outfile's directory): evd/dev, a copy of
 * /dev/zero (1:5), open O_RDONLY at fd 40; then a tmpfs is mounted over
 * evd with a copy of /dev/null (1:3) named dev in it, so the descriptor's
 * name leads to another device.  Without --evasive-devices the dump must
 * refuse (files_dev_evasive_refuse); with it the descriptor is saved under
 * another node of 1:5 in /dev.
 * After SIGTERM: fd 40 is a character device 1:5 open O_RDONLY that reads
 * zeros (1:3 would read EOF).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "zdtmtst.h"

static char evd[2048];

static void cleanup(void)
{
	umount2(evd, MNT_DETACH);
	char p[2100];
	snprintf(p, sizeof(p), "%s/dev", evd);
	unlink(p);
	rmdir(evd);
}

int main(int argc, char **argv)
{
	test_doc = "a device descriptor whose name now leads to another device";
	test_init(argc, argv);
	char tmp[2048], dev[2100];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(evd, sizeof(evd), "%s/evd", dirname(tmp));
	snprintf(dev, sizeof(dev), "%s/dev", evd);
	if (mkdir(evd, 0755) || mknod(dev, S_IFCHR | 0444, makedev(1, 5)))
		setup_fail("mkdir/mknod %s: %s", dev, strerror(errno));
	int fd = open(dev, O_RDONLY);
	if (fd < 0 || dup2(fd, 40) != 40 || close(fd))
		setup_fail("open %s: %s", dev, strerror(errno));
	if (mount("cryo-evd", evd, "tmpfs", 0, "size=64k") ||
	    mknod(dev, S_IFCHR | 0666, makedev(1, 3))) {
		cleanup();
		setup_fail("mount a tmpfs over %s with another node: %s", evd, strerror(errno));
	}
	test_daemon();
	test_waitsig();
	struct stat st;
	if (fstat(40, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 5))
		fail("fd 40 is not the character device 1:5 (mode 0%o rdev %u:%u)", st.st_mode,
		     major(st.st_rdev), minor(st.st_rdev));
	else if ((fcntl(40, F_GETFL) & O_ACCMODE) != O_RDONLY)
		fail("fd 40 is not open read-only");
	char buf[64];
	memset(buf, 'x', sizeof(buf));
	if (read(40, buf, sizeof(buf)) != sizeof(buf) || zero_check(buf, sizeof(buf)) >= 0)
		fail("fd 40 does not read zeros");
	cleanup();
	pass();
	return 0;
}
