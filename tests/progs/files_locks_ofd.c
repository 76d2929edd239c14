/* files_locks_ofd: OFD locks belong to their open file description, also
 * when it is shared between processes or reached through a dup.
 *
 * Before the checkpoint (files next to the outfile), P is the test's main
 * process, C and W its children:
 *   O, description X1 at fd 60 (P and C): P takes a write lock [0, 100) and
 *      a read lock [200, 250); C takes a write lock [300, 310) through its
 *      inherited fd 60; P takes a read lock [400, 410) through fd 61, a dup
 *      of 60;
 *   O, description X2, C's own (fd 62): read [200, 250) (next to X1's) and
 *      write [500, 510);
 *   O, description X3, W's own: W waits in F_OFD_SETLKW for [0, 100);
 *   O2, fd 63, opened by P, shared with C, closed by P: C takes a write
 *      lock on the whole file through it.
 * After SIGTERM a new process K (forked by P) checks /proc/locks (every
 * lock: OFDLCK, type, range, pid -1; W's wait), F_OFD_GETLK from new
 * descriptions, and that conflicting locks are refused and compatible ones
 * granted.  Then P checks that X1's locks are its own fd's description's
 * (none of them conflicts through fd 60, X2's do), lets go of [0, 100)
 * and W gets it. */
#include "locks_util.h"

#include <libgen.h>
#include <sys/wait.h>

static char fo[4096], fo2[4096];
static pid_t c, w;

#define L(t, s, e) { "OFDLCK", t, -1, s, e, 0 }

static int check(void)
{
	struct lk o[] = { L("WRITE", 0, 99), L("READ", 200, 249), L("WRITE", 300, 309),
			  L("READ", 400, 409), L("READ", 200, 249), L("WRITE", 500, 509) };
	struct lk o2[] = { L("WRITE", 0, -1) };
	int any = -1;
	expect_proc_locks("O", fo, o, 6, &any, 1);
	expect_proc_locks("O2", fo2, o2, 1, NULL, 0);

	expect_getlk(F_OFD_GETLK, fo, 0, 100, F_WRLCK, -1, "X1's write lock [0, 100)");
	expect_getlk(F_OFD_GETLK, fo, 200, 50, F_RDLCK, -1, "the read locks [200, 250)");
	expect_getlk(F_OFD_GETLK, fo, 300, 10, F_WRLCK, -1, "C's write lock on X1");
	expect_getlk(F_OFD_GETLK, fo, 400, 10, F_RDLCK, -1, "the read lock taken through the dup");
	expect_getlk(F_OFD_GETLK, fo, 500, 10, F_WRLCK, -1, "X2's write lock");
	expect_getlk(F_OFD_GETLK, fo, 100, 100, F_UNLCK, 0, "the gap [100, 200)");
	expect_getlk(F_OFD_GETLK, fo2, 0, 0, F_WRLCK, -1, "O2's lock");
	expect_getlk(F_GETLK, fo, 500, 10, F_WRLCK, -1, "X2's write lock (F_GETLK)");

	expect_setlk(F_OFD_SETLK, fo, F_RDLCK, 0, 100, true, "O [0, 100)");
	expect_setlk(F_OFD_SETLK, fo, F_RDLCK, 200, 50, false, "O [200, 250)");
	expect_setlk(F_OFD_SETLK, fo, F_WRLCK, 200, 50, true, "O [200, 250)");
	expect_setlk(F_OFD_SETLK, fo, F_RDLCK, 300, 10, true, "O [300, 310)");
	expect_setlk(F_OFD_SETLK, fo, F_RDLCK, 400, 10, false, "O [400, 410)");
	expect_setlk(F_OFD_SETLK, fo, F_WRLCK, 400, 10, true, "O [400, 410)");
	expect_setlk(F_OFD_SETLK, fo, F_RDLCK, 500, 10, true, "O [500, 510)");
	expect_setlk(F_OFD_SETLK, fo, F_WRLCK, 100, 100, false, "O [100, 200)");
	expect_setlk(F_OFD_SETLK, fo2, F_RDLCK, 5000, 1, true, "O2");
	expect_setlk(F_SETLK, fo2, F_RDLCK, 0, 1, true, "O2 (POSIX)");
	return test_failures() ? 1 : 0;
}

/* F_OFD_GETLK for a write lock through P's X1 */
static void expect_x1(off_t start, off_t len, short type, const char *what)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start,
			    .l_len = len };
	if (fcntl(60, F_OFD_GETLK, &fl))
		fail_errno("F_OFD_GETLK through fd 60");
	else if (fl.l_type != type)
		fail("%s: through fd 60, [%lld, +%lld) is found locked with type %d, expected %d",
		     what, (long long)start, (long long)len, fl.l_type, type);
}

static bool w_has_it(void)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	struct lk v[16];
	int n = locks_of(fo, v, 16), waits = 0;
	for (int i = 0; i < n && i < 16; i++)
		waits += v[i].blocked;
	return !fcntl(60, F_OFD_GETLK, &fl) && fl.l_type == F_WRLCK && n == 6 && !waits;
}

static int c_fn(void)
{
	int x2 = open(fo, O_RDWR);
	if (x2 < 0 || dup2(x2, 62) != 62 || setlk(60, F_OFD_SETLK, F_WRLCK, 300, 10) ||
	    setlk(62, F_OFD_SETLK, F_RDLCK, 200, 50) || setlk(62, F_OFD_SETLK, F_WRLCK, 500, 10) ||
	    setlk(63, F_OFD_SETLK, F_WRLCK, 0, 0))
		return 2;
	close(x2);
	for (;;)
		pause();
}

static int w_fn(void)
{
	int x3 = open(fo, O_RDWR);
	if (x3 < 0)
		return 2;
	setlk(x3, F_OFD_SETLKW, F_WRLCK, 0, 100);	/* waits for X1's lock */
	for (;;)
		pause();
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

int main(int argc, char **argv)
{
	char tmp[2048], dir[2048];
	test_doc = "OFD locks of descriptions shared between processes";
	test_init(argc, argv);
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(fo, sizeof(fo), "%s/lockO", dir);
	snprintf(fo2, sizeof(fo2), "%s/lockO2", dir);
	const char *names[] = { fo, fo2 };
	const int at[] = { 60, 63 };
	for (int i = 0; i < 2; i++) {
		int fd = open(names[i], O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, 1000) || dup2(fd, at[i]) != at[i] || close(fd))
			setup_fail("open %s: %s", names[i], strerror(errno));
	}
	if (dup2(60, 61) != 61 || setlk(60, F_OFD_SETLK, F_WRLCK, 0, 100) ||
	    setlk(60, F_OFD_SETLK, F_RDLCK, 200, 50) || setlk(61, F_OFD_SETLK, F_RDLCK, 400, 10))
		setup_fail("P's locks: %s", strerror(errno));
	c = child(c_fn);
	close(63);
	w = child(w_fn);
	for (int i = 0;; i++) {
		struct lk v[16];
		int n = locks_of(fo, v, 16), n2 = locks_of(fo2, v, 16);
		if (n == 7 && n2 == 1)
			break;
		if (i == 500) {
			kill(c, SIGKILL);
			kill(w, SIGKILL);
			setup_fail("the locks were not all taken (%d and %d lines)", n, n2);
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
	/* X1's locks are fd 60's description's; X2's are another's */
	expect_x1(0, 100, F_UNLCK, "X1's own write lock");
	expect_x1(300, 10, F_UNLCK, "the lock C took on X1");
	expect_x1(400, 10, F_UNLCK, "the lock taken on X1 through the dup");
	expect_x1(500, 10, F_WRLCK, "X2's write lock");
	expect_x1(200, 50, F_RDLCK, "X2's read lock");
	if (setlk(61, F_OFD_SETLK, F_WRLCK, 300, 10))
		fail_errno("X1 can't take the range of its own lock [300, 310) through the dup");
	/* W waits for this very lock */
	if (setlk(60, F_OFD_SETLK, F_UNLCK, 0, 100))
		fail_errno("unlocking [0, 100)");
	bool got = false;
	for (int i = 0; i < 300 && !got; i++) {
		got = w_has_it();
		if (!got)
			usleep(10000);
	}
	if (!got)
		fail("W did not get [0, 100) once X1 let it go");
	kill(c, SIGKILL);
	kill(w, SIGKILL);
	waitpid(c, NULL, 0);
	waitpid(w, NULL, 0);
	return test_verdict();
}
