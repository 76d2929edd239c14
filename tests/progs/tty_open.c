/* Holds a terminal opened by path (--dev), O_RDWR|O_NONBLOCK: a virtual
 * console or the system console (reopened by path at restore), a serial
 * port (refused, naming it), or /dev/ptmx (a pty pair, with its slave open
 * too: for the refusal of a pty whose index is taken at restore).  After a
 * restore, or a refused dump or restore, its descriptors are still the same
 * terminals with the same flags. */
#include "zdtmtst.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dev;
TEST_OPTION(dev, string, "terminal device to hold open", 1);

int main(int argc, char **argv)
{
	char name[64] = "";
	struct stat before, after;
	int slave = -1;

	test_doc = "holds a terminal opened by path";
	test_init(argc, argv);
	int fd = open(dev, O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		setup_fail("open %s: %s", dev, strerror(errno));
	if (!strcmp(dev, "/dev/ptmx")) {
		if (grantpt(fd) || unlockpt(fd) || ptsname_r(fd, name, sizeof(name)))
			setup_fail("pty setup: %s", strerror(errno));
		slave = open(name, O_RDWR | O_NOCTTY);
		if (slave < 0)
			setup_fail("open %s: %s", name, strerror(errno));
	}
	if (fstat(fd, &before))
		setup_fail("fstat: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	if (!isatty(fd) || fstat(fd, &after) || after.st_rdev != before.st_rdev)
		fail("fd %d is no longer %s", fd, dev);
	int fl = fcntl(fd, F_GETFL);
	if ((fl & O_ACCMODE) != O_RDWR || !(fl & O_NONBLOCK))
		fail("fd %d has flags %#x, expected O_RDWR|O_NONBLOCK", fd, fl);
	if (slave >= 0) {
		char now[64];
		if (!isatty(slave) || ptsname_r(fd, now, sizeof(now)) || strcmp(now, name))
			fail("the pty is no longer %s", name);
	}
	return test_verdict();
}
