/* files_lease_breaking_refuse: a write lease being broken: a child is
 * blocked opening the file, the holder was told (SIGIO) and has not given
 * the lease up yet.  No call puts a lease back half broken, so the dump
 * must refuse; after it the holder gives the lease up and the child's open
 * completes. */
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
	test_doc = "a lease being broken: refused";
	test_init(argc, argv);
	char tmp[2048], name[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(name, sizeof(name), "%s/lease-breaking", dirname(tmp));
	signal(SIGIO, on_sigio);
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || fcntl(fd, F_SETLEASE, F_WRLCK))
		setup_fail("write lease on %s: %s", name, strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		int r = open(name, O_RDONLY);
		_exit(r >= 0 ? 0 : 1);
	}
	for (int i = 0; i < 200 && !sigio; i++)
		usleep(10000);
	if (!sigio)
		setup_fail("the lease break was not signalled");

	test_daemon();
	test_waitsig();

	if (fcntl(fd, F_GETLEASE) != F_RDLCK && fcntl(fd, F_GETLEASE) != F_WRLCK)
		fail("the lease is gone before it was given up (%d)", fcntl(fd, F_GETLEASE));
	if (fcntl(fd, F_SETLEASE, F_UNLCK))
		fail("F_SETLEASE F_UNLCK: %s", strerror(errno));
	int st;
	if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child's open did not complete once the lease was given up");
	unlink(name);
	pass();
	return 0;
}
