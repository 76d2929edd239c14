/* files_shared: open file descriptions and their sharing.
 *
 * State built before the checkpoint (a data file next to the outfile):
 *   - fd A at offset 1000, dup'd to fd 77 (same description), and the file
 *     opened a second time at fd 200 (another description, offset 10);
 *   - a child forked afterwards inherits A (shared with the parent) and has
 *     its own fd 9 onto /dev/null;
 *   - fd 300 is O_APPEND|O_CLOEXEC, fd 301 a directory, fd 999 /dev/zero.
 * After SIGTERM: offsets, flags and close-on-exec are as they were; the child
 *   (told by SIGUSR1) reads 100 bytes through A and the parent then sees A (and fd 77) at 1100
 *   while fd 200 stays at 10; the dir and /dev/zero work.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static void expect_pos(int fd, off_t want, const char *what)
{
	off_t o = lseek(fd, 0, SEEK_CUR);
	if (o != want)
		fail("%s (fd %d) is at offset %lld, expected %lld", what, fd, (long long)o,
		     (long long)want);
}

int main(int argc, char **argv)
{
	test_doc = "shared and dup'd open files, offsets, flags, sparse fd numbers";
	test_init(argc, argv);
	char dir[2048], path[4096];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(path, sizeof(path), "%s/files_shared.data", dirname(dir));
	int a = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (a < 0)
		setup_fail("open %s: %s", path, strerror(errno));
	char buf[4096];
	pattern_fill(buf, sizeof(buf), 7);
	if (write(a, buf, sizeof(buf)) != sizeof(buf))
		setup_fail("write: %s", strerror(errno));
	lseek(a, 1000, SEEK_SET);
	if (dup2(a, 77) != 77)
		setup_fail("dup2: %s", strerror(errno));
	int b = open(path, O_RDONLY);
	if (b < 0 || dup2(b, 200) != 200)
		setup_fail("second open: %s", strerror(errno));
	close(b);
	lseek(200, 10, SEEK_SET);
	int ap = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (ap < 0 || dup3(ap, 300, O_CLOEXEC) != 300)
		setup_fail("append open: %s", strerror(errno));
	close(ap);
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	if (d < 0 || dup2(d, 301) != 301)
		setup_fail("dir open: %s", strerror(errno));
	close(d);
	int z = open("/dev/zero", O_RDONLY);
	if (z < 0 || dup2(z, 999) != 999)
		setup_fail("/dev/zero: %s", strerror(errno));
	close(z);

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	struct fd_snap snaps[4];
	int nums[4] = { 77, 200, 300, 301 };
	for (int i = 0; i < 4; i++)
		fd_snap_take(nums[i], &snaps[i]);
	pid_t child = fork();
	if (child == 0) {
		test_forked_child();
		int n = open("/dev/null", O_WRONLY);
		if (n < 0 || dup2(n, 9) != 9)
			_exit(2);
		close(n);
		/* wait for the parent's go (after restore) */
		int sig;
		if (sigwait(&usr1, &sig))
			_exit(3);
		char tmp[100];
		if (read(a, tmp, 100) != 100)
			_exit(4);
		if (write(9, "x", 1) != 1)
			_exit(5);
		_exit(0);
	}

	test_daemon();
	test_waitsig();

	for (int i = 0; i < 4; i++) {
		char what[32];
		snprintf(what, sizeof(what), "fd %d", nums[i]);
		fd_snap_check(nums[i], &snaps[i], what);
	}
	expect_pos(a, 1000, "the first open");
	expect_pos(200, 10, "the second open");
	kill(child, SIGUSR1);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child failed (status %#x)", st);
	expect_pos(a, 1100, "the first open after the child read 100 bytes");
	expect_pos(77, 1100, "its dup");
	expect_pos(200, 10, "the second open");
	char rb[16];
	if (pread(200, rb, 16, 100) != 16 || memcmp(rb, buf + 100, 16))
		fail("fd 200 reads wrong data");
	if (pread(999, rb, 16, 0) != 16 || zero_check(rb, 16) >= 0)
		fail("fd 999 is not /dev/zero");
	if (write(300, "tail", 4) != 4 || lseek(a, 0, SEEK_END) != 4100)
		fail("O_APPEND write did not land at the end");
	DIR *dd = fdopendir(dup(301));
	if (!dd || !readdir(dd))
		fail("directory fd 301 can't be read");
	pass();
	return 0;
}
