/* ev_eventfd: eventfd counters and flags, and a signalfd.
 *
 * State built before the checkpoint:
 *   A: eventfd, EFD_SEMAPHORE | EFD_NONBLOCK, counter 5;
 *   B: eventfd, blocking, counter 0xfffffffe00000001 (above 32 bits);
 *   C: eventfd, counter 0, shared with a child that adds 7 after restore;
 *   S: signalfd for SIGUSR1 and SIGRTMIN+3 (both blocked), SFD_NONBLOCK,
 *      with SIGRTMIN+3 pending (queued with a value).
 * After SIGTERM: A reads 1 five times then EAGAIN, and fdinfo still says
 *   semaphore; B reads its value; C sees the child's 7; S's mask is the
 *   same in fdinfo, it reads the pending SIGRTMIN+3 (with its value), then
 *   a SIGUSR1 sent now, then EAGAIN.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *fdinfo(int fd)
{
	static char buf[4096];
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

int main(int argc, char **argv)
{
	test_doc = "eventfd counters, semaphores, flags; signalfd masks";
	test_init(argc, argv);
	int a = eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK);
	int b = eventfd(0, 0);
	int c = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 0xfffffffe00000001ull;
	if (a < 0 || b < 0 || c < 0 || write(b, &v, 8) != 8)
		setup_fail("eventfd: %s", strerror(errno));
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGRTMIN + 3);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	sigdelset(&m, SIGUSR2);
	int s = signalfd(-1, &m, SFD_NONBLOCK);
	if (s < 0)
		setup_fail("signalfd: %s", strerror(errno));
	char mask_line[128];
	snprintf(mask_line, sizeof(mask_line), "%s", strstr(fdinfo(s), "sigmask:"));
	if (sigqueue(getpid(), SIGRTMIN + 3, (union sigval){ .sival_int = 4242 }))
		setup_fail("sigqueue: %s", strerror(errno));

	pid_t child = fork();
	if (child == 0) {
		test_forked_child();
		sigset_t u2;
		sigemptyset(&u2);
		sigaddset(&u2, SIGUSR2);
		int sig;
		if (sigwait(&u2, &sig))
			_exit(1);
		uint64_t seven = 7;
		_exit(write(c, &seven, 8) == 8 ? 0 : 2);
	}

	test_daemon();
	test_waitsig();

	uint64_t r;
	for (int i = 0; i < 5; i++)
		if (read(a, &r, 8) != 8 || r != 1)
			fail("A: read %d gave %llu (%s), expected 1 (semaphore)", i,
			     (unsigned long long)r, strerror(errno));
	if (read(a, &r, 8) != -1 || errno != EAGAIN)
		fail("A: not empty or not non-blocking after 5 reads");
	if (!strstr(fdinfo(a), "eventfd-semaphore: 1"))
		fail("A is no longer a semaphore: %s", fdinfo(a));
	if (fcntl(b, F_GETFL) & O_NONBLOCK)
		fail("B became non-blocking");
	if (read(b, &r, 8) != 8 || r != v)
		fail("B: read %#llx, expected %#llx", (unsigned long long)r,
		     (unsigned long long)v);
	if (fcntl(c, F_GETFD) != FD_CLOEXEC)
		fail("C lost FD_CLOEXEC");
	kill(child, SIGUSR2);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child failed (status %#x)", st);
	if (read(c, &r, 8) != 8 || r != 7)
		fail("C: read %llu, expected the child's 7: not one eventfd",
		     (unsigned long long)r);

	if (!strstr(fdinfo(s), mask_line))
		fail("S: fdinfo lost '%s': %s", mask_line, fdinfo(s));
	if (!(fcntl(s, F_GETFL) & O_NONBLOCK))
		fail("S lost O_NONBLOCK");
	struct signalfd_siginfo si;
	if (read(s, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != (unsigned)SIGRTMIN + 3 ||
	    si.ssi_int != 4242)
		fail("S: the pending SIGRTMIN+3 was not read back (signo %u, value %d)",
		     si.ssi_signo, si.ssi_int);
	kill(getpid(), SIGUSR1);
	if (read(s, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR1)
		fail("S: SIGUSR1 was not read (signo %u)", si.ssi_signo);
	if (read(s, &si, sizeof(si)) != -1 || errno != EAGAIN)
		fail("S: more signals than expected");
	pass();
	return 0;
}
