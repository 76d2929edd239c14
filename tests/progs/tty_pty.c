/* Pseudo-terminals made by the tree.
 *
 * Pty A: its slave is the controlling terminal of a child C that leads its
 * own session (TIOCSCTTY), with a grandchild G's group in the foreground;
 * non-canonical settings, locked settings, a window size; bytes typed into
 * the master and not read by the slave, and bytes written by the slave not
 * read from the master (through ONLCR: "\n" became "\r\n" once and must
 * not again).  C also holds /dev/tty.
 * Pty B: packet mode, locked against new opens, exclusive, canonical with
 * a line and a half typed in.
 * After restore: the same indices, settings, sizes, modes and queued bytes;
 * C checks its session, its controlling terminal and /dev/tty. */
#include "zdtmtst.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static const char in_a[] = "typed in\rnot read";	/* ICRNL: \r arrives as \n */
static const char in_a_seen[] = "typed in\nnot read";
static const char out_a[] = "written out\nby the slave";
static const char out_a_seen[] = "written out\r\nby the slave";
static const char in_b[] = "full line\npartial";
static const char out_b[] = "packet data";

static int open_pty(int *slave, char *name, size_t len)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, len))
		setup_fail("posix_openpt/grantpt/unlockpt: %s", strerror(errno));
	*slave = open(name, O_RDWR | O_NOCTTY);
	if (*slave < 0)
		setup_fail("open %s: %s", name, strerror(errno));
	return m;
}

static void set_a_termios(struct termios *t)
{
	memset(t, 0, sizeof(*t));
	t->c_iflag = ICRNL | IXON | IUTF8;
	t->c_oflag = OPOST | ONLCR;
	t->c_cflag = CS8 | CREAD | B38400;
	t->c_lflag = ISIG | IEXTEN;	/* no ICANON, no ECHO */
	t->c_cc[VINTR] = 3;
	t->c_cc[VQUIT] = 28;
	t->c_cc[VERASE] = 127;
	t->c_cc[VKILL] = 21;
	t->c_cc[VEOF] = 4;
	t->c_cc[VMIN] = 3;
	t->c_cc[VTIME] = 7;
	t->c_cc[VSUSP] = 26;
}

static bool same_termios(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && !memcmp(a->c_cc, b->c_cc, 19);
}

/* everything readable now from a non-blocking descriptor */
static size_t read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	for (int idle = 0; idle < 20 && got < size;) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n > 0) {
			got += n;
			idle = 0;
		} else {
			idle++;
			usleep(5000);
		}
	}
	return got;
}

static void check_bytes(const char *what, const char *got, size_t n, const char *want,
			size_t wlen)
{
	if (n != wlen || memcmp(got, want, n))
		fail("%s: read %zu bytes '%.*s', expected %zu bytes '%s'", what, n, (int)n, got,
		     wlen, want);
}

/* C, leader of its own session with pty A's slave as its terminal */
static int child_c(int slave)
{
	test_forked_child();
	if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0))
		setup_fail("setsid/TIOCSCTTY: %s", strerror(errno));
	int tty = open("/dev/tty", O_RDWR);
	if (tty < 0)
		setup_fail("open /dev/tty: %s", strerror(errno));
	pid_t g = fork();
	if (g == 0) {
		test_forked_child();
		setpgid(0, 0);
		for (;;)
			pause();
	}
	if (g < 0 || setpgid(g, g) || tcsetpgrp(tty, g))
		setup_fail("fork/setpgid/tcsetpgrp: %s", strerror(errno));

	test_waitsig();
	struct stat st;
	char link[64] = "";
	fstat(slave, &st);
	int c = open("/proc/self/stat", O_RDONLY);
	char buf[512] = "";
	if (c >= 0) {
		read(c, buf, sizeof(buf) - 1);
		close(c);
	}
	char *p = strrchr(buf, ')');
	int ppid, pgrp, sid, tty_nr = -1, tpgid = -1;
	char state;
	if (!p || sscanf(p + 1, " %c %d %d %d %d %d", &state, &ppid, &pgrp, &sid, &tty_nr,
			 &tpgid) != 6)
		fail("can't parse /proc/self/stat");
	if (sid != getpid() || getsid(0) != getpid())
		fail("C is no longer a session leader (session %d)", sid);
	if ((unsigned)tty_nr != (major(st.st_rdev) << 8 | (minor(st.st_rdev) & 0xff) |
				 ((minor(st.st_rdev) & ~0xffu) << 12)))
		fail("C's controlling terminal is %#x, not its pty slave %u:%u", tty_nr,
		     major(st.st_rdev), minor(st.st_rdev));
	if (tpgid != g || tcgetpgrp(tty) != g)
		fail("the foreground group is %d (stat) / %d, not G's %d", tpgid, tcgetpgrp(tty), g);
	if (tcgetsid(tty) != getpid())
		fail("/dev/tty's session is %d, not C's", tcgetsid(tty));
	char fdl[64];
	snprintf(fdl, sizeof(fdl), "/proc/self/fd/%d", tty);
	if (readlink(fdl, link, sizeof(link) - 1) < 0 || strcmp(link, "/dev/tty"))
		fail("fd %d of C is '%s', not /dev/tty", tty, link);
	unsigned dev = 0;
	if (ioctl(tty, TIOCGDEV, &dev) || major(dev) != major(st.st_rdev) ||
	    minor(dev) != minor(st.st_rdev))
		fail("C's /dev/tty stands for %u:%u, not its slave", major(dev), minor(dev));
	int again = open("/dev/tty", O_RDWR);
	if (again < 0)
		fail_errno("C can't open /dev/tty again");
	kill(g, SIGKILL);
	waitpid(g, NULL, 0);
	return test_failures() ? 1 : 0;
}

int main(int argc, char **argv)
{
	char name_a[64], name_b[64], now[64];
	int sa, sb;
	struct termios ta, lck, t;
	struct winsize wa = { .ws_row = 37, .ws_col = 101, .ws_xpixel = 5, .ws_ypixel = 6 }, w;
	int one = 1, v;

	test_doc = "pty pairs: index, termios, winsize, ctty, foreground group, queued data";
	test_init(argc, argv);
	int ma = open_pty(&sa, name_a, sizeof(name_a));
	int mb = open_pty(&sb, name_b, sizeof(name_b));

	set_a_termios(&ta);
	memset(&lck, 0, sizeof(lck));
	lck.c_lflag = ECHO;	/* ECHO stays as it is (off) */
	if (tcsetattr(sa, TCSANOW, &ta) || ioctl(sa, TIOCSLCKTRMIOS, &lck) ||
	    ioctl(sa, TIOCSWINSZ, &wa))
		setup_fail("termios/locked termios/winsize on %s: %s", name_a, strerror(errno));

	pid_t c = fork();
	if (c == 0)
		exit(child_c(sa));
	if (c < 0)
		setup_fail("fork: %s", strerror(errno));

	if (tcgetattr(sb, &t))
		setup_fail("tcgetattr %s", name_b);
	t.c_lflag &= ~ECHO;
	if (tcsetattr(sb, TCSANOW, &t) || ioctl(mb, TIOCPKT, &one))
		setup_fail("termios/packet mode on %s: %s", name_b, strerror(errno));
	if (write(ma, in_a, strlen(in_a)) != (ssize_t)strlen(in_a) ||
	    write(sa, out_a, strlen(out_a)) != (ssize_t)strlen(out_a) ||
	    write(mb, in_b, strlen(in_b)) != (ssize_t)strlen(in_b) ||
	    write(sb, out_b, strlen(out_b)) != (ssize_t)strlen(out_b))
		setup_fail("writing the queued bytes: %s", strerror(errno));
	if (ioctl(sb, TIOCEXCL) || ioctl(mb, TIOCSPTLCK, &one))
		setup_fail("TIOCEXCL/TIOCSPTLCK on %s: %s", name_b, strerror(errno));
	fcntl(sa, F_SETFL, O_NONBLOCK);
	fcntl(ma, F_SETFL, O_NONBLOCK);
	fcntl(sb, F_SETFL, O_NONBLOCK);
	fcntl(mb, F_SETFL, O_NONBLOCK);
	usleep(100000);		/* let C get into its session */

	test_daemon();
	test_waitsig();

	if (ptsname_r(ma, now, sizeof(now)) || strcmp(now, name_a))
		fail("pty A is %s, was %s", now, name_a);
	if (ptsname_r(mb, now, sizeof(now)) || strcmp(now, name_b))
		fail("pty B is %s, was %s", now, name_b);
	if (tcgetattr(sa, &t) || !same_termios(&t, &ta))
		fail("termios of %s: iflag %#x oflag %#x cflag %#x lflag %#x vmin %d vtime %d, "
		     "expected %#x %#x %#x %#x %d %d", name_a, t.c_iflag, t.c_oflag, t.c_cflag,
		     t.c_lflag, t.c_cc[VMIN], t.c_cc[VTIME], ta.c_iflag, ta.c_oflag, ta.c_cflag,
		     ta.c_lflag, ta.c_cc[VMIN], ta.c_cc[VTIME]);
	memset(&t, 0, sizeof(t));
	if (ioctl(sa, TIOCGLCKTRMIOS, &t) || t.c_lflag != ECHO || t.c_iflag || t.c_cflag)
		fail("locked termios of %s: lflag %#x iflag %#x", name_a, t.c_lflag, t.c_iflag);
	if (ioctl(ma, TIOCGWINSZ, &w) || memcmp(&w, &wa, sizeof(w)))
		fail("window size of %s: %dx%d (%d,%d)", name_a, w.ws_row, w.ws_col, w.ws_xpixel,
		     w.ws_ypixel);
	if ((fcntl(sa, F_GETFL) & O_NONBLOCK) == 0 || (fcntl(ma, F_GETFL) & O_NONBLOCK) == 0)
		fail("O_NONBLOCK lost on pty A");
	if (ioctl(mb, TIOCGPKT, &v) || v != 1)
		fail("packet mode of %s: %d", name_b, v);
	if (ioctl(mb, TIOCGPTLCK, &v) || v != 1)
		fail("%s is not locked", name_b);
	if (ioctl(sb, TIOCGEXCL, &v) || v != 1)
		fail("%s is not exclusive", name_b);
	if (tcgetattr(sb, &t) || !(t.c_lflag & ICANON) || (t.c_lflag & ECHO))
		fail("%s: canonical mode on and echo off expected (lflag %#x)", name_b, t.c_lflag);

	char buf[256];
	size_t n = read_all(sa, buf, sizeof(buf));
	check_bytes("input queued in pty A", buf, n, in_a_seen, strlen(in_a_seen));
	n = read_all(ma, buf, sizeof(buf));
	check_bytes("output queued in pty A", buf, n, out_a_seen, strlen(out_a_seen));
	/* canonical: the line comes out; the half line (which a restore may
	 * hand out with it) after canonical mode is turned off */
	n = read_all(sb, buf, sizeof(buf));
	t.c_lflag &= ~ICANON;
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(sb, TCSANOW, &t))
		fail_errno("turning canonical mode off on %s", name_b);
	n += read_all(sb, buf + n, sizeof(buf) - n);
	check_bytes("input queued in pty B", buf, n, in_b, strlen(in_b));
	n = read_all(mb, buf, sizeof(buf));
	if (n < 1 || buf[0] != TIOCPKT_DATA)
		fail("pty B (packet mode): first byte %d, expected TIOCPKT_DATA", n ? buf[0] : -1);
	else
		check_bytes("output queued in pty B", buf + 1, n - 1, out_b, strlen(out_b));

	int st;
	kill(c, SIGTERM);
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("child C (session leader on %s) failed its checks (status %#x)", name_a, st);
	return test_verdict();
}
