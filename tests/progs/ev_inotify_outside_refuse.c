/* ev_inotify_outside_refuse: an inotify watch on a deleted file that only
 * a process outside the tree holds open (a grandchild left to be
 * reparented).  The restored watch would go with the recreated file at
 * the restore's end, so the dump must refuse; after it the watch still
 * works.  The grandchild is ended by its PID. */
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "inotify watch on a deleted file held outside the tree: refused";
	test_init(argc, argv);
	char tmp[2048], f[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(f, sizeof(f), "%s/outside-f", dirname(tmp));
	int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644), p[2];
	int in = inotify_init1(IN_NONBLOCK);
	if (fd < 0 || in < 0 || pipe(p) || inotify_add_watch(in, f, IN_MODIFY) != 1)
		setup_fail("setup: %s", strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		pid_t g = fork();
		if (g == 0) {
			close(in);
			for (;;)
				pause();
		}
		_exit(write(p[1], &g, sizeof(g)) == sizeof(g) ? 0 : 1);
	}
	pid_t g = -1;
	if (waitpid(kid, NULL, 0) != kid || read(p[0], &g, sizeof(g)) != sizeof(g) || g <= 0)
		setup_fail("no grandchild");
	close(fd);
	if (unlink(f))
		setup_fail("unlink: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", g, fd);
	int w = open(path, O_WRONLY);
	char buf[4096];
	if (w < 0 || write(w, "x", 1) != 1 || read(in, buf, sizeof(buf)) <= 0)
		fail("the watch on the file the grandchild holds no longer works");
	kill(g, SIGKILL);
	pass();
	return 0;
}
