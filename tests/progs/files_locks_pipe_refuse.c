/* files_locks_pipe_refuse: a flock and a POSIX lock on a pipe (the kernel
 * lets them be taken on any file).  cryo saves the locks of regular files
 * and memfds only, so the dump must refuse; after the refused dump both
 * locks are still there. */
#include "zdtmtst.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int p[2];
	test_doc = "file locks on a pipe";
	test_init(argc, argv);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (pipe(p) || flock(p[0], LOCK_EX | LOCK_NB) || fcntl(p[1], F_SETLK, &fl))
		setup_fail("pipe/flock/F_SETLK: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	/* each end's fdinfo shows the lock taken through it */
	char path[64], buf[1024];
	int n[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", p[i]);
		FILE *f = fopen(path, "r");
		while (f && fgets(buf, sizeof(buf), f))
			n[i] += !strncmp(buf, "lock:", 5);
		if (f)
			fclose(f);
	}
	if (n[0] != 1 || n[1] != 1)
		fail("the pipe's ends show %d and %d locks in fdinfo, expected 1 and 1", n[0], n[1]);
	return test_verdict();
}
