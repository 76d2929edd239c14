/* files_lease_breaking: leases being broken when the checkpoint comes.
 *
 * Three files in the outfile's directory, each leased by this process and
 * broken by a child's non-blocking open (EWOULDBLOCK; the child is gone):
 *   brk-r: read lease on an O_RDONLY description (fd 40), broken by a
 *          writer: F_GETLEASE answers F_UNLCK;
 *   brk-w: write lease on an O_RDWR description (fd 41, dup'd to 51),
 *          broken by a writer: F_UNLCK;
 *   brk-d: write lease on an O_RDONLY description (fd 42, dup'd to 52),
 *          broken by a reader (a downgrade): F_RDLCK.
 * Each fd has F_SETSIG SIGRTMIN+1; the handler counts signals per si_fd:
 * exactly one per file, before the checkpoint.  A child forked after the
 * breaks holds all three descriptions too (as criu's file_lease03).
 * After SIGTERM: F_GETLEASE answers as before, on every fd; the leases are
 * still being broken (a conflicting non-blocking open still fails) and no
 * signal came since; then the holder gives each up (F_UNLCK) and a child's
 * blocking open of each file completes at once.
 *
 * --deleted: the three files are unlinked once their leases are being
 * broken (ghosts at restore, where cryo breaks them again through
 * /proc/PID/fd); the checks open them through /proc/self/fd.
 *
 * --spin: that child spins in user code with open_by_handle_at's number in
 * rax (orig_rax -1, as for any thread stopped outside a call): not an opener
 * blocked on a lease (the dump once took it for one and refused).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NF 3
static const char *names[NF] = { "brk-r", "brk-w", "brk-d" };
static const int fds[NF] = { 40, 41, 42 };
static const int dups[NF] = { -1, 51, 52 };
static volatile sig_atomic_t hits[NF], strays;

static bool deleted;
TEST_OPTION(deleted, bool, "unlink the files once their leases are being broken", 0);
static bool spin;
TEST_OPTION(spin, bool, "the child spins with rax = __NR_open_by_handle_at", 0);

static void on_break(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	for (int i = 0; i < NF; i++)
		if (si->si_fd == fds[i]) {
			hits[i]++;
			return;
		}
	strays++;
}

/* the errno of a child's open of @name with @flags (0: it opened); with
 * @blocking, how long it took in ms in *ms */
static int child_open(const char *name, int flags, long *ms)
{
	uint64_t t0 = test_now_ns();
	pid_t p = fork();
	if (p == 0) {
		alarm(10);
		int fd = open(name, flags);
		_exit(fd >= 0 ? 0 : errno);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return -1;
	if (ms)
		*ms = (long)((test_now_ns() - t0) / 1000000);
	return WEXITSTATUS(st);
}

static int place(const char *path, int flags, int at)
{
	int fd = open(path, flags | O_CREAT, 0644);
	if (fd < 0 || dup2(fd, at) != at || close(fd))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	test_doc = "leases being broken";
	test_init(argc, argv);
	char tmp[2048], dir[2048], path[NF][4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	for (int i = 0; i < NF; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);
		unlink(path[i]);
	}

	struct sigaction sa = { .sa_sigaction = on_break, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN + 1, &sa, NULL))
		setup_fail("sigaction: %s", strerror(errno));

	int lease[NF] = { F_RDLCK, F_WRLCK, F_WRLCK };
	int acc[NF] = { O_RDONLY, O_RDWR, O_RDONLY };
	int breaker[NF] = { O_WRONLY, O_WRONLY, O_RDONLY };
	int want[NF] = { F_UNLCK, F_UNLCK, F_RDLCK };
	for (int i = 0; i < NF; i++) {
		if (place(path[i], acc[i], fds[i]) || fcntl(fds[i], F_SETSIG, SIGRTMIN + 1) ||
		    fcntl(fds[i], F_SETLEASE, lease[i]))
			setup_fail("lease on %s: %s", path[i], strerror(errno));
		if (dups[i] >= 0 && dup2(fds[i], dups[i]) != dups[i])
			setup_fail("dup2: %s", strerror(errno));
		int e = child_open(path[i], breaker[i] | O_NONBLOCK, NULL);
		if (e != EWOULDBLOCK)
			setup_fail("breaking %s: %s", names[i], e > 0 ? strerror(e) : "no EWOULDBLOCK");
	}
	for (int i = 0; i < 200; i++) {
		int all = 1;
		for (int k = 0; k < NF; k++)
			all &= hits[k] == 1;
		if (all)
			break;
		usleep(10000);
	}
	for (int i = 0; i < NF; i++) {
		if (hits[i] != 1)
			setup_fail("%d signals for the break of %s", (int)hits[i], names[i]);
		if (fcntl(fds[i], F_GETLEASE) != want[i])
			setup_fail("%s: F_GETLEASE %d before the checkpoint", names[i],
				   fcntl(fds[i], F_GETLEASE));
	}
	if (deleted)
		for (int i = 0; i < NF; i++) {
			if (unlink(path[i]))
				setup_fail("unlink %s: %s", path[i], strerror(errno));
			/* the checks reach each file through its descriptor */
			snprintf(path[i], sizeof(path[i]), "/proc/self/fd/%d", fds[i]);
		}
	/* a child holding the same descriptions */
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		if (spin) {
			/* killed by the parent; pause keeps the spin cheap */
			__asm__ volatile("mov $304, %%eax\n1: pause\n jmp 1b" ::: "rax", "memory");
		}
		for (;;)
			pause();
	}

	test_daemon();
	test_waitsig();

	usleep(100000);		/* a signal the restore sent would be here */
	for (int i = 0; i < NF; i++) {
		int got = fcntl(fds[i], F_GETLEASE);
		if (got != want[i])
			fail("%s: F_GETLEASE %d, was %d before the checkpoint", names[i], got, want[i]);
		if (dups[i] >= 0 && fcntl(dups[i], F_GETLEASE) != got)
			fail("%s: F_GETLEASE on its dup %d differs", names[i], dups[i]);
		/* still breaking: a conflicting open still fails, without a
		 * new signal (a break already under way sends none) */
		int e = child_open(path[i], breaker[i] | O_NONBLOCK, NULL);
		if (e != EWOULDBLOCK)
			fail("%s: a conflicting open got %s, expected EWOULDBLOCK", names[i],
			     e > 0 ? strerror(e) : e ? "child failed" : "it opened");
	}
	usleep(50000);
	for (int i = 0; i < NF; i++)
		if (hits[i] != 1)
			fail("%s: %d break signals in all, expected the one before the checkpoint",
			     names[i], (int)hits[i]);
	if (strays)
		fail("%d break signals with an unknown si_fd", (int)strays);
	/* the holder gives each up; a blocking open completes at once */
	for (int i = 0; i < NF; i++) {
		if (fcntl(fds[i], F_SETLEASE, F_UNLCK))
			fail("%s: F_SETLEASE F_UNLCK: %s", names[i], strerror(errno));
		long ms = 0;
		int e = child_open(path[i], breaker[i], &ms);
		if (e || ms > 2000)
			fail("%s: a blocking open after the release: %s in %ld ms", names[i],
			     e > 0 ? strerror(e) : e ? "child failed" : "opened", ms);
	}
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	for (int i = 0; i < NF; i++)
		if (!deleted)
			unlink(path[i]);
	pass();
	return 0;
}
