/* files_locks_combo: flock and POSIX locks of several processes and a
 * thread, each owned by the process (or open file description) that had it.
 *
 * Before the checkpoint (files next to the outfile), P is the test's main
 * process, T a thread of P, C1-C3 children of P:
 *   A: P opens it at fd 50, C1 inherits it and flock(LOCK_EX)s it (the
 *      lock is the shared description's, taken by C1); C3 opens A itself
 *      and waits in flock(LOCK_EX);
 *   B: fd 51, shared by P and C1: P has a POSIX read lock [0, 10), C1 a
 *      write lock [500, 510);
 *   C: P's own description (fd 52): write [0, 10), read [20, 30), write
 *      [1500, EOF); C2's own description: read [1000, 1010), and C2 waits in
 *      F_SETLKW for a write lock on [0, 10);
 *   D: fd 53 and its dup fd 54: a POSIX write lock [0, 5) taken through
 *      54, flock(LOCK_SH) through 53;
 *   E: fd 55, a POSIX write lock [7, 10) taken by T; E2: fd 56,
 *      flock(LOCK_EX) by T.
 * After SIGTERM a new process K (forked by P) checks /proc/locks (owner,
 * kind, type, range of every lock held, and the two waiters), F_GETLK
 * (l_pid is the owner), and that conflicting locks are refused and
 * compatible ones granted.  Then P checks that A's and D's flocks are its
 * descriptions' (it takes them again through its own fds), lets go of
 * C[0, 10) and of A's flock, and the waiters C2 and C3 get them. */
#include "locks_util.h"

#include <libgen.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/wait.h>

static char fa[4096], fb[4096], fc[4096], fd_[4096], fe[4096], fe2[4096];
static pid_t p, c1, c2, c3;

static void mkpath(char *buf, const char *dir, const char *name)
{
	snprintf(buf, 4096, "%s/%s", dir, name);
}

static int open_at(const char *path, int at)
{
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, 2000) || (at >= 0 && (dup2(fd, at) != at || close(fd))))
		setup_fail("open %s: %s", path, strerror(errno));
	return at >= 0 ? at : fd;
}

static void *thread_fn(void *arg)
{
	(void)arg;
	if (setlk(55, F_SETLK, F_WRLCK, 7, 3) || flock(56, LOCK_EX | LOCK_NB))
		setup_fail("the thread's locks: %s", strerror(errno));
	for (;;)
		pause();
	return NULL;
}

/* /proc/locks shows @n holders (and @w waiters) on @path */
static bool settled(const char *path, int n, int w)
{
	struct lk v[32];
	int got = locks_of(path, v, 32), held = 0, waits = 0;
	for (int i = 0; i < got && i < 32; i++)
		v[i].blocked ? waits++ : held++;
	return held == n && waits == w;
}

#define L(k, t, pid, s, e) { k, t, pid, s, e, 0 }

static int check(void)
{
	struct lk a[] = { L("FLOCK", "WRITE", c1, 0, -1) };
	struct lk b[] = { L("POSIX", "READ", p, 0, 9), L("POSIX", "WRITE", c1, 500, 509) };
	struct lk c[] = { L("POSIX", "WRITE", p, 0, 9), L("POSIX", "READ", p, 20, 29),
			  L("POSIX", "WRITE", p, 1500, -1), L("POSIX", "READ", c2, 1000, 1009) };
	struct lk d[] = { L("POSIX", "WRITE", p, 0, 4), L("FLOCK", "READ", p, 0, -1) };
	struct lk e[] = { L("POSIX", "WRITE", p, 7, 9) };
	struct lk e2[] = { L("FLOCK", "WRITE", p, 0, -1) };
	expect_proc_locks("A", fa, a, 1, &c3, 1);
	expect_proc_locks("B", fb, b, 2, NULL, 0);
	expect_proc_locks("C", fc, c, 4, &c2, 1);
	expect_proc_locks("D", fd_, d, 2, NULL, 0);
	expect_proc_locks("E", fe, e, 1, NULL, 0);
	expect_proc_locks("E2", fe2, e2, 1, NULL, 0);

	expect_getlk(F_GETLK, fb, 0, 10, F_RDLCK, p, "P's read lock on B");
	expect_getlk(F_GETLK, fb, 500, 10, F_WRLCK, c1, "C1's write lock on B");
	expect_getlk(F_GETLK, fc, 0, 10, F_WRLCK, p, "P's write lock on C");
	expect_getlk(F_GETLK, fc, 20, 10, F_RDLCK, p, "P's read lock on C");
	expect_getlk(F_GETLK, fc, 1000, 10, F_RDLCK, c2, "C2's read lock on C");
	expect_getlk(F_GETLK, fc, 10, 10, F_UNLCK, 0, "the gap [10, 20) of C");
	expect_getlk(F_GETLK, fd_, 0, 5, F_WRLCK, p, "the lock on D taken through the dup");
	expect_getlk(F_GETLK, fe, 7, 3, F_WRLCK, p, "the thread's lock on E");

	expect_setlk(F_SETLK, fb, F_WRLCK, 500, 10, true, "B [500, 510)");
	expect_setlk(F_SETLK, fb, F_RDLCK, 0, 10, false, "B [0, 10)");
	expect_setlk(F_SETLK, fc, F_RDLCK, 0, 10, true, "C [0, 10)");
	expect_setlk(F_SETLK, fc, F_RDLCK, 20, 10, false, "C [20, 30)");
	expect_setlk(F_SETLK, fc, F_WRLCK, 1000, 10, true, "C [1000, 1010)");
	expect_setlk(F_SETLK, fc, F_WRLCK, 10, 10, false, "C [10, 20)");
	expect_setlk(F_SETLK, fd_, F_WRLCK, 0, 5, true, "D [0, 5)");
	expect_setlk(F_SETLK, fe, F_WRLCK, 7, 3, true, "E [7, 10)");

	expect_flock(fa, LOCK_SH, true, "A");
	expect_flock(fd_, LOCK_SH, false, "D");
	expect_flock(fd_, LOCK_EX, true, "D");
	expect_flock(fe2, LOCK_SH, true, "E2");
	return test_failures() ? 1 : 0;
}

static pid_t child(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		test_forked_child();
		_exit(fn());
	}
	if (pid < 0)
		setup_fail("fork: %s", strerror(errno));
	return pid;
}

static int c1_fn(void)
{
	if (flock(50, LOCK_EX | LOCK_NB) || setlk(51, F_SETLK, F_WRLCK, 500, 10))
		return 2;
	for (;;)
		pause();
}

static int c2_fn(void)
{
	int fd = open(fc, O_RDWR);
	if (fd < 0 || setlk(fd, F_SETLK, F_RDLCK, 1000, 10))
		return 2;
	setlk(fd, F_SETLKW, F_WRLCK, 0, 10);	/* waits for P */
	for (;;)
		pause();
}

static int c3_fn(void)
{
	int fd = open(fa, O_RDONLY);
	if (fd < 0)
		return 2;
	flock(fd, LOCK_EX);	/* waits for C1's lock */
	for (;;)
		pause();
}

static void wait_for(const char *what, bool (*cond)(void))
{
	for (int i = 0; i < 300; i++) {
		if (cond())
			return;
		usleep(10000);
	}
	fail("%s", what);
}

static bool c2_has_it(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	return !fcntl(52, F_GETLK, &fl) && fl.l_type == F_WRLCK && fl.l_pid == c2;
}

static bool c3_has_it(void)
{
	struct lk v[8];
	int n = locks_of(fa, v, 8);
	return n == 1 && !v[0].blocked && !strcmp(v[0].kind, "FLOCK") && v[0].pid == c3;
}

int main(int argc, char **argv)
{
	char tmp[2048], dir[2048];
	test_doc = "flock and POSIX locks of several processes and a thread";
	test_init(argc, argv);
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	mkpath(fa, dir, "lockA");
	mkpath(fb, dir, "lockB");
	mkpath(fc, dir, "lockC");
	mkpath(fd_, dir, "lockD");
	mkpath(fe, dir, "lockE");
	mkpath(fe2, dir, "lockE2");
	p = getpid();
	open_at(fa, 50);
	open_at(fb, 51);
	open_at(fc, 52);
	open_at(fd_, 53);
	open_at(fe, 55);
	open_at(fe2, 56);
	if (dup2(53, 54) != 54)
		setup_fail("dup2: %s", strerror(errno));
	if (setlk(51, F_SETLK, F_RDLCK, 0, 10) || setlk(52, F_SETLK, F_WRLCK, 0, 10) ||
	    setlk(52, F_SETLK, F_RDLCK, 20, 10) || setlk(52, F_SETLK, F_WRLCK, 1500, 0) ||
	    setlk(54, F_SETLK, F_WRLCK, 0, 5) || flock(53, LOCK_SH | LOCK_NB))
		setup_fail("P's locks: %s", strerror(errno));
	pthread_t t;
	if (pthread_create(&t, NULL, thread_fn, NULL))
		setup_fail("pthread_create");
	c1 = child(c1_fn);
	for (int i = 0; i < 300 && !settled(fa, 1, 0); i++)
		usleep(10000);
	c2 = child(c2_fn);
	c3 = child(c3_fn);
	for (int i = 0; i < 500; i++) {
		if (settled(fa, 1, 1) && settled(fb, 2, 0) && settled(fc, 4, 1) &&
		    settled(fe, 1, 0) && settled(fe2, 1, 0))
			break;
		if (i == 499) {
			kill(c1, SIGKILL);
			kill(c2, SIGKILL);
			kill(c3, SIGKILL);
			setup_fail("the locks were not all taken");
		}
		usleep(10000);
	}

	test_daemon();
	test_waitsig();

	pid_t k = fork();
	if (k == 0)
		_exit(check());
	int status = 0;
	if (k < 0 || waitpid(k, &status, 0) != k || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("the checking process found errors (status %#x)", status);
	/* the flocks are the descriptions': P has them through its fds */
	if (flock(50, LOCK_EX | LOCK_NB))
		fail_errno("P can't flock A through the description it shares with C1");
	if (flock(54, LOCK_SH | LOCK_NB))
		fail_errno("P can't flock D through the dup of the locked fd");
	/* the waiters wait for these very locks */
	if (setlk(52, F_SETLK, F_UNLCK, 0, 10))
		fail_errno("unlocking C [0, 10)");
	wait_for("C2 did not get C [0, 10) once P let it go", c2_has_it);
	if (flock(50, LOCK_UN))
		fail_errno("unlocking A");
	wait_for("C3 did not get A's flock once it was let go", c3_has_it);
	pid_t kids[] = { c1, c2, c3 };
	for (int i = 0; i < 3; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	return test_verdict();
}
