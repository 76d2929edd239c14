/* A shell job: the program runs on the terminal of the shell that started
 * it (tty = yes: the runner's pty), in that shell's session, and holds
 * /dev/tty too.  It changes the terminal's settings.  After dump and
 * restore with --shell-job (the restore run on another terminal): fds 0, 1
 * and 2 are a terminal (the restoring one), still one open file
 * description, writable; the session's terminal is that terminal and it
 * is the controlling terminal (/dev/tty opens); the held /dev/tty stands
 * for it; the settings the program made are kept (cryo, as criu, gives
 * the terminal the dumped settings); its group is in the foreground. */
#include "zdtmtst.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

static void check_terminal(const char *when, const struct termios *want, int devtty)
{
	struct stat st0;
	for (int fd = 0; fd < 3; fd++)
		if (!isatty(fd))
			fail("%s: fd %d is not a terminal", when, fd);
	pid_t me = getpid();
	if (syscall(SYS_kcmp, me, me, KCMP_FILE, 0, 1) || syscall(SYS_kcmp, me, me, KCMP_FILE, 0, 2))
		fail("%s: fds 0, 1 and 2 are no longer one open file description", when);
	if (tcgetsid(0) != getsid(0))
		fail("%s: the terminal's session is %d, mine is %d", when, tcgetsid(0), getsid(0));
	if (getsid(0) == getpid())
		fail("%s: I lead my session; a shell job does not", when);
	if (tcgetpgrp(0) != getpgrp())
		fail("%s: my group %d is not in the foreground (%d)", when, getpgrp(), tcgetpgrp(0));
	int t = open("/dev/tty", O_RDWR);
	if (t < 0)
		fail_errno("%s: open /dev/tty", when);
	else
		close(t);
	fstat(0, &st0);
	unsigned dev = 0;
	if (ioctl(devtty, TIOCGDEV, &dev) || major(dev) != major(st0.st_rdev) ||
	    minor(dev) != minor(st0.st_rdev))
		fail("%s: the /dev/tty held stands for %u:%u, fd 0 is %u:%u", when, major(dev),
		     minor(dev), major(st0.st_rdev), minor(st0.st_rdev));
	char link[64] = "", p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", devtty);
	if (readlink(p, link, sizeof(link) - 1) < 0 || strcmp(link, "/dev/tty"))
		fail("%s: fd %d is '%s', not /dev/tty", when, devtty, link);
	struct termios now;
	if (tcgetattr(0, &now))
		fail_errno("%s: tcgetattr", when);
	else if (now.c_lflag != want->c_lflag || now.c_iflag != want->c_iflag ||
		 now.c_oflag != want->c_oflag || memcmp(now.c_cc, want->c_cc, 19))
		fail("%s: settings iflag %#x oflag %#x lflag %#x vmin %d vtime %d, expected %#x %#x "
		     "%#x %d %d", when, now.c_iflag, now.c_oflag, now.c_lflag, now.c_cc[VMIN],
		     now.c_cc[VTIME], want->c_iflag, want->c_oflag, want->c_lflag, want->c_cc[VMIN],
		     want->c_cc[VTIME]);
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "tty_shell %d: %s\n", getpid(), when);
	if (write(1, msg, n) != n)
		fail_errno("%s: write to the terminal", when);
}

static bool own_session;
TEST_OPTION(own_session, bool, "leave the shell's session first (as a terminal "
	    "multiplexer's server), keeping its terminal as plain descriptors", 0);

int main(int argc, char **argv)
{
	struct termios t;

	test_flags |= TEST_NO_SETSID;
	test_doc = "a shell job on its shell's terminal (--shell-job)";
	test_init(argc, argv);
	if (!isatty(0) || tcgetattr(0, &t))
		setup_fail("stdin is not a terminal: run with tty = yes");
	if (own_session) {
		if (setsid() < 0)
			setup_fail("setsid: %s", strerror(errno));
		if (tcgetsid(0) == getsid(0))
			setup_fail("the terminal is still my session's");
		test_daemon();
		test_waitsig();
		if (!isatty(0) || tcgetsid(0) == getsid(0))
			fail("the terminal changed: it is %s my session's",
			     isatty(0) ? "now" : "no longer a terminal, not");
		return test_verdict();
	}
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_iflag &= ~ICRNL;
	t.c_cc[VMIN] = 2;
	t.c_cc[VTIME] = 9;
	if (tcsetattr(0, TCSANOW, &t) || tcgetattr(0, &t))
		setup_fail("tcsetattr: %s", strerror(errno));
	int devtty = open("/dev/tty", O_RDWR);
	if (devtty < 0)
		setup_fail("open /dev/tty: %s", strerror(errno));
	check_terminal("before the dump", &t, devtty);

	test_daemon();
	test_waitsig();

	check_terminal("after restore", &t, devtty);
	return test_verdict();
}
