/* tty_external: a pty slave whose master is held outside the dumped tree,
 * dumped with --external tty[RDEV:DEV] and handed back at restore with
 * --inherit-fd fd[N]:tty[RDEV:DEV] (tests/runner/ext_tty.py).
 *
 * Before the checkpoint: the test opens a pty pair; a holder process,
 * detached from the tree (double fork), keeps the master and answers
 * "pong" to each "ping" line it reads from it, and quits on "bye".  The
 * test keeps only the slave, at fd 20 (O_RDWR, O_NONBLOCK), and writes the
 * key and the slave's path into tty_external.key for the wrappers.
 * After SIGTERM: fd 20 is the same terminal (rdev), O_RDWR with O_NONBLOCK,
 * not the controlling terminal, echo still off and its window 33x77; a
 * "ping" written to it is answered by the holder through the same pty
 * ("pong" read back).  With TTY_EXTERNAL_NEW_PAIR set (rpc.py's
 * orphan-pts-master check): fd 20 is a pty slave of a new pair, with the
 * same settings, and the RPC client holding its master answers.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SLAVE 20

/* the holder: outside the tree, it keeps the master */
static void holder(int m)
{
	char buf[256];
	size_t len = 0;
	int idle = 0;
	signal(SIGTERM, SIG_DFL);	/* not the test's handler */
	alarm(300);	/* never outlive a broken run by much */
	for (;;) {
		ssize_t n = read(m, buf + len, sizeof(buf) - 1 - len);
		if (n < 0) {
			/* EIO: no slave is open (between a dump and a restore);
			 * for 30 s: the tree is gone (a refused restore) */
			if (++idle > 1500)
				_exit(0);
			usleep(20000);
			continue;
		}
		idle = 0;
		len += n;
		buf[len] = 0;
		if (strstr(buf, "bye"))
			_exit(0);
		if (strstr(buf, "ping")) {
			if (write(m, "pong\n", 5) != 5)
				_exit(1);
			len = 0;
		}
		if (len > 200)
			len = 0;
	}
}

int main(int argc, char **argv)
{
	test_doc = "a pty slave whose master is outside the tree (--external tty)";
	test_init(argc, argv);
	/* TTY_EXTERNAL_NEW_PAIR (tests/runner/rpc.py, --orphan-pts-master):
	 * the restore gives fd 20 a new pair, its master to the RPC client,
	 * which answers "pong" in the holder's place */
	bool new_pair = getenv("TTY_EXTERNAL_NEW_PAIR") != NULL;
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	char name[64];
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, sizeof(name)))
		setup_fail("pty: %s", strerror(errno));
	int s = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (s < 0 || dup2(s, SLAVE) != SLAVE)
		setup_fail("open %s: %s", name, strerror(errno));
	close(s);
	struct termios t;
	if (tcgetattr(SLAVE, &t))
		setup_fail("tcgetattr: %s", strerror(errno));
	t.c_lflag &= ~ECHO;	/* the holder sees only what the test writes */
	if (tcsetattr(SLAVE, TCSANOW, &t))
		setup_fail("tcsetattr: %s", strerror(errno));
	struct winsize ws = { .ws_row = 33, .ws_col = 77 };
	if (ioctl(SLAVE, TIOCSWINSZ, &ws))
		setup_fail("TIOCSWINSZ: %s", strerror(errno));
	pid_t c = fork();
	if (c == 0) {
		if (fork() == 0) {
			setsid();
			for (int fd = 0; fd < 1024; fd++)
				if (fd != m)
					close(fd);
			holder(m);
		}
		_exit(0);
	}
	int st;
	if (c < 0 || waitpid(c, &st, 0) != c)
		setup_fail("fork of the holder: %s", strerror(errno));
	close(m);
	struct stat before;
	if (fstat(SLAVE, &before))
		setup_fail("fstat: %s", strerror(errno));
	FILE *k = fopen("tty_external.key", "w");
	if (!k || fprintf(k, "tty[%llx:%llx]\n%s\n", (unsigned long long)before.st_rdev,
			  (unsigned long long)before.st_dev, name) < 0 || fclose(k))
		setup_fail("tty_external.key: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	struct stat after;
	if (fstat(SLAVE, &after))
		fail("fstat of fd %d: %s", SLAVE, strerror(errno));
	else if (new_pair && (major(after.st_rdev) < 136 || major(after.st_rdev) > 143))
		fail("fd %d is no pty slave (rdev %u:%u)", SLAVE, major(after.st_rdev),
		     minor(after.st_rdev));
	else if (!new_pair && after.st_rdev != before.st_rdev)
		fail("fd %d is no longer %s", SLAVE, name);
	struct termios ta;
	struct winsize wa;
	if (tcgetattr(SLAVE, &ta) || (ta.c_lflag & ECHO))
		fail("fd %d: echo is on again (or tcgetattr failed: %s)", SLAVE, strerror(errno));
	if (ioctl(SLAVE, TIOCGWINSZ, &wa) || wa.ws_row != 33 || wa.ws_col != 77)
		fail("fd %d: window size %ux%u, not 33x77", SLAVE, wa.ws_row, wa.ws_col);
	int fl = fcntl(SLAVE, F_GETFL);
	if ((fl & O_ACCMODE) != O_RDWR || !(fl & O_NONBLOCK))
		fail("fd %d has flags %#x, expected O_RDWR|O_NONBLOCK", SLAVE, fl);
	pid_t sid = -1;
	if (ioctl(SLAVE, TIOCGSID, &sid) == 0 && sid == getsid(0))
		fail("%s became the test's controlling terminal", name);
	tcflush(SLAVE, TCIFLUSH);
	if (write(SLAVE, "ping\n", 5) != 5)
		fail("write to %s: %s", name, strerror(errno));
	char buf[64] = "";
	size_t got = 0;
	for (int i = 0; i < 50 && !strstr(buf, "pong"); i++) {
		struct pollfd p = { SLAVE, POLLIN, 0 };
		if (poll(&p, 1, 100) == 1) {
			ssize_t n = read(SLAVE, buf + got, sizeof(buf) - 1 - got);
			if (n > 0)
				got += n;
			buf[got] = 0;
		}
	}
	if (!strstr(buf, "pong"))
		fail("the holder of the master did not answer through %s (read \"%s\")", name,
		     buf);
	if (write(SLAVE, "bye\n", 4) != 4)
		fail("write to %s: %s", name, strerror(errno));
	pass();
	return 0;
}
