/* files_proc_dead: /proc/PID of a child that has exited and was reaped,
 * held as the working directory, as an open directory (fd 40) and as an
 * open file /proc/PID/status (fd 41).
 * After SIGTERM, all three still are files of a dead process: fd 40 and
 * the cwd show "/proc/PID (deleted)", fd 40 is a procfs directory,
 * looking anything up in them (even ".") fails with ENOENT or ESRCH, fd 41 shows /proc/PID/status and
 * reading it fails with ESRCH; no process PID exists (the restore's
 * helper is gone).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static void expect_link(const char *link, const char *want)
{
	char l[256];
	ssize_t n = readlink(link, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	if (strcmp(l, want))
		fail("%s is \"%s\", expected \"%s\"", link, l, want);
}

int main(int argc, char **argv)
{
	test_doc = "/proc/PID of an exited process: cwd, open dir, open file";
	test_init(argc, argv);
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		for (;;)
			pause();
	}
	char dir[64], status[80], want[96];
	snprintf(dir, sizeof(dir), "/proc/%d", kid);
	snprintf(status, sizeof(status), "/proc/%d/status", kid);
	int d = open(dir, O_RDONLY | O_DIRECTORY), s = open(status, O_RDONLY);
	if (d < 0 || s < 0 || dup2(d, 40) != 40 || dup2(s, 41) != 41 || close(d) || close(s) ||
	    chdir(dir))
		setup_fail("open/chdir %s: %s", dir, strerror(errno));
	kill(kid, SIGKILL);
	if (waitpid(kid, NULL, 0) != kid)
		setup_fail("waitpid: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	snprintf(want, sizeof(want), "%s (deleted)", dir);
	expect_link("/proc/self/fd/40", want);
	expect_link("/proc/self/cwd", want);
	expect_link("/proc/self/fd/41", status);
	/* (a path lookup in a dead process's /proc directory, even ".", fails) */
	struct stat sd, sp;
	if (fstat(40, &sd) || stat("/proc/self", &sp) || !S_ISDIR(sd.st_mode) ||
	    sd.st_dev != sp.st_dev)
		fail("fd 40 is not a directory of procfs");
	if (!stat(".", &sd) || errno != ESRCH)
		fail("stat of the cwd did not fail with ESRCH: %s", strerror(errno));
	if (openat(40, "status", O_RDONLY) >= 0 || (errno != ENOENT && errno != ESRCH))
		fail("fd 40 is the /proc directory of a live process (openat: %s)", strerror(errno));
	if (open("status", O_RDONLY) >= 0 || (errno != ENOENT && errno != ESRCH))
		fail("the cwd is the /proc directory of a live process (open: %s)", strerror(errno));
	char buf[64];
	if (read(41, buf, sizeof(buf)) >= 0 || errno != ESRCH)
		fail("fd 41 reads as the status of a live process (%s)", strerror(errno));
	if (!kill(kid, 0) || errno != ESRCH)
		fail("a process %d exists after the restore", kid);
	pass();
	return 0;
}
