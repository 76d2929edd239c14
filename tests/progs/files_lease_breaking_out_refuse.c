/* files_lease_breaking_out_refuse: a write lease being broken by a
 * process outside the tree that is blocked opening the file (a grandchild
 * orphaned to the launcher).  Its open waits on this very lease and no
 * restored lease could release it: the dump must refuse; after it the
 * holder gives the lease up and the opener's open completes (it says so
 * through a pipe). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t sigio;

static void on_sigio(int sig)
{
	(void)sig;
	sigio++;
}

int main(int argc, char **argv)
{
	test_doc = "a lease being broken by a blocked opener outside the tree: refused";
	test_init(argc, argv);
	char tmp[2048], name[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(name, sizeof(name), "%s/lease-breaking-out", dirname(tmp));
	signal(SIGIO, on_sigio);
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || fcntl(fd, F_SETLEASE, F_WRLCK))
		setup_fail("write lease on %s: %s", name, strerror(errno));
	int p[2];
	if (pipe(p))
		setup_fail("pipe: %s", strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		/* the opener leaves the tree: its parent exits at once */
		if (fork() != 0)
			_exit(0);
		close(p[0]);
		close(fd);
		alarm(40);
		int r = open(name, O_RDONLY);
		char c = r >= 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (waitpid(kid, NULL, 0) != kid)
		setup_fail("waitpid: %s", strerror(errno));
	for (int i = 0; i < 200 && !sigio; i++)
		usleep(10000);
	if (!sigio)
		setup_fail("the lease break was not signalled");

	test_daemon();
	test_waitsig();

	if (fcntl(fd, F_GETLEASE) != F_RDLCK)
		fail("the lease is not being downgraded any more (%d)", fcntl(fd, F_GETLEASE));
	if (fcntl(fd, F_SETLEASE, F_UNLCK))
		fail("F_SETLEASE F_UNLCK: %s", strerror(errno));
	char c = 0;
	if (read(p[0], &c, 1) != 1 || c != 'y')
		fail("the outside opener's open did not complete once the lease was given up");
	unlink(name);
	pass();
	return 0;
}
