/* files_lease: read and write leases (F_SETLEASE), saved with --file-locks.
 *
 * Before the checkpoint (in the outfile's directory): lease-r open O_RDONLY
 * at fd 40 with a read lease; lease-w open O_RDWR at fd 41 (its only open)
 * with a write lease; lease-n open at fd 42 with no lease.
 * After SIGTERM: F_GETLEASE gives F_RDLCK, F_WRLCK and F_UNLCK; the leases
 * are real ones of this process: a child opening lease-w O_RDONLY|O_NONBLOCK
 * gets EWOULDBLOCK and the break sends us SIGIO (F_SETLEASE made us the
 * owner), and one opening lease-r for writing likewise.
 * --deleted: lease-r and lease-w are unlinked before the checkpoint (ghost
 * files, which the dump must save without opening them anew: that open
 * would break the write lease); the checks open them through
 * /proc/self/fd; no SIGIO may come before them.
 */
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t sigio;
static bool deleted;
TEST_OPTION(deleted, bool, "unlink the leased files before the checkpoint", 0);

static void on_sigio(int sig)
{
	(void)sig;
	sigio++;
}

/* the errno a child gets opening @name with @flags (0: it opened) */
static int child_open(const char *name, int flags)
{
	pid_t p = fork();
	if (p == 0) {
		int fd = open(name, flags | O_NONBLOCK);
		_exit(fd >= 0 ? 0 : errno);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
	test_doc = "read and write leases";
	test_init(argc, argv);
	char tmp[2048], dir[2048], r[4096], w[4096], n[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(r, sizeof(r), "%s/lease-r", dir);
	snprintf(w, sizeof(w), "%s/lease-w", dir);
	snprintf(n, sizeof(n), "%s/lease-n", dir);
	signal(SIGIO, on_sigio);

	int fd = open(r, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "r", 1) != 1 || close(fd))
		setup_fail("create %s: %s", r, strerror(errno));
	fd = open(r, O_RDONLY);
	if (fd < 0 || dup2(fd, 40) != 40 || close(fd) || fcntl(40, F_SETLEASE, F_RDLCK))
		setup_fail("read lease on %s: %s", r, strerror(errno));
	fd = open(w, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 41) != 41 || close(fd) || fcntl(41, F_SETLEASE, F_WRLCK))
		setup_fail("write lease on %s: %s", w, strerror(errno));
	fd = open(n, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 42) != 42 || close(fd))
		setup_fail("create %s: %s", n, strerror(errno));

	if (deleted) {
		if (unlink(r) || unlink(w))
			setup_fail("unlink: %s", strerror(errno));
		snprintf(r, sizeof(r), "/proc/self/fd/40");
		snprintf(w, sizeof(w), "/proc/self/fd/41");
	}

	test_daemon();
	test_waitsig();

	if (sigio)
		fail("%d SIGIO before any break of ours: a lease was broken meanwhile", sigio);

	int lr = fcntl(40, F_GETLEASE), lw = fcntl(41, F_GETLEASE), ln = fcntl(42, F_GETLEASE);
	if (lr != F_RDLCK || lw != F_WRLCK || ln != F_UNLCK)
		fail("F_GETLEASE: %d %d %d, expected %d %d %d", lr, lw, ln, F_RDLCK, F_WRLCK, F_UNLCK);
	int e = child_open(w, O_RDONLY);
	if (e != EWOULDBLOCK)
		fail("opening lease-w elsewhere: %s, expected EWOULDBLOCK (no write lease)",
		     e > 0 ? strerror(e) : e ? "child failed" : "it opened");
	e = child_open(r, O_WRONLY);
	if (e != EWOULDBLOCK)
		fail("opening lease-r for writing elsewhere: %s, expected EWOULDBLOCK (no read "
		     "lease)", e > 0 ? strerror(e) : e ? "child failed" : "it opened");
	for (int i = 0; i < 100 && sigio < 2; i++)
		usleep(10000);
	if (sigio < 2)
		fail("%d SIGIO for 2 lease breaks: this process is not the leases' owner", sigio);
	if (!deleted) {
		unlink(r);
		unlink(w);
	}
	unlink(n);
	pass();
	return 0;
}
