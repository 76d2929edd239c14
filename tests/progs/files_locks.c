/* files_locks: flock, OFD and POSIX locks (read and write, with ranges)
 * survive the checkpoint (-l).
 *
 * Before the checkpoint (files L1-L3 next to the outfile):
 *   fd 40: L1, flock LOCK_EX;   fd 41: L2, flock LOCK_SH;
 *   fd 42: L1 again, OFD write lock on [100, 150);
 *   fd 43: L3, POSIX read lock [0, 10) and write lock [20, 400) of the
 *   parent; a child forked afterwards shares fd 43 and holds a POSIX write
 *   lock [500, 510) through it.
 * After SIGTERM, seen from new descriptions (which conflict with all of
 * those): L1 can't be flock'ed; L2 can be flock'ed shared, not exclusive;
 * F_OFD_GETLK finds the OFD lock and each POSIX lock with its type, range
 * and owner (the parent, or the child).
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static char l1[4096], l2[4096], l3[4096];

static void expect_lock(const char *path, off_t start, off_t len, short type, pid_t pid,
			const char *what)
{
	int fd = open(path, O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start,
			    .l_len = len };
	if (fd < 0 || fcntl(fd, F_OFD_GETLK, &fl)) {
		fail_errno("F_OFD_GETLK on %s", path);
		return;
	}
	/* not closed: a close drops this process's POSIX locks on the file */
	if (fl.l_type != type || fl.l_start != start || fl.l_len != len || fl.l_pid != pid)
		fail("%s: found type %d [%lld, +%lld) pid %d, expected type %d [%lld, +%lld) pid %d",
		     what, fl.l_type, (long long)fl.l_start, (long long)fl.l_len, fl.l_pid, type,
		     (long long)start, (long long)len, pid);
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	return fcntl(fd, cmd, &fl);
}

int main(int argc, char **argv)
{
	test_doc = "flock, OFD and POSIX file locks";
	test_init(argc, argv);
	char tmp[2048], dir[2048];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(l1, sizeof(l1), "%s/lock1", dir);
	snprintf(l2, sizeof(l2), "%s/lock2", dir);
	snprintf(l3, sizeof(l3), "%s/lock3", dir);
	const char *names[] = { l1, l2, l1, l3 };
	for (int i = 0; i < 4; i++) {
		int fd = open(names[i], O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, 1000) || dup2(fd, 40 + i) != 40 + i || close(fd))
			setup_fail("open %s: %s", names[i], strerror(errno));
	}
	if (flock(40, LOCK_EX | LOCK_NB) || flock(41, LOCK_SH | LOCK_NB) ||
	    setlk(42, F_OFD_SETLK, F_WRLCK, 100, 50) || setlk(43, F_SETLK, F_RDLCK, 0, 10) ||
	    setlk(43, F_SETLK, F_WRLCK, 20, 380))
		setup_fail("taking the locks: %s", strerror(errno));
	pid_t child = fork();
	if (child == 0) {
		test_forked_child();
		if (setlk(43, F_SETLK, F_WRLCK, 500, 10))
			_exit(2);
		for (;;)
			pause();
	}
	/* the child has its lock before the checkpoint */
	for (int i = 0; i < 1000; i++) {
		int fd = open(l3, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 500, .l_len = 10 };
		fcntl(fd, F_OFD_GETLK, &fl);	/* (no close: see expect_lock) */
		if (fl.l_type != F_UNLCK)
			break;
		usleep(2000);
	}

	test_daemon();
	test_waitsig();

	int fd = open(l1, O_RDONLY);
	if (flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		fail("L1 is not flock'ed exclusively any more");
	close(fd);
	fd = open(l2, O_RDONLY);
	if (flock(fd, LOCK_SH | LOCK_NB))
		fail_errno("L2 can't be flock'ed shared");
	flock(fd, LOCK_UN);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		fail("L2 is not flock'ed shared any more");
	close(fd);
	expect_lock(l1, 100, 50, F_WRLCK, -1, "the OFD lock on L1");
	expect_lock(l3, 0, 10, F_RDLCK, getpid(), "the POSIX read lock on L3");
	expect_lock(l3, 20, 380, F_WRLCK, getpid(), "the POSIX write lock on L3");
	expect_lock(l3, 500, 10, F_WRLCK, child, "the child's POSIX lock on L3");
	expect_lock(l3, 10, 10, F_UNLCK, 0, "the gap [10, 20) of L3");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	pass();
	return 0;
}
