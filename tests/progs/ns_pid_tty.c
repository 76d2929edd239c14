/* ns_pid_tty: a terminal session inside a PID namespace of its own (what
 * `runc run -t` or `podman run -it` leave), and file owners there.
 *
 * The root is the init (PID 1) of its namespace (TEST_NEW_PIDNS).  It holds
 * the master of a pty; its child S leads a session of its own whose
 * controlling terminal is the slave, with two jobs: F (a group of its own,
 * in the foreground) and B (a group of its own, in the background).  S also
 * holds /dev/tty, whose signals go to F's group (F_SETOWN_EX PGRP).  The
 * init owns more descriptors whose signals go to tasks of the namespace:
 * a socket with O_ASYNC owned by F (F_SETOWN), a pipe owned by B's group
 * and the master owned by S (F_SETOWN_EX PID).  Every one of these PIDs is
 * the namespace's (small numbers), not the host's.
 *
 * After the restore the init checks, from inside the namespace:
 *   - the terminal's session and foreground group (TIOCGSID, TIOCGPGRP on
 *     the master; tcgetsid, tcgetpgrp in S) are S and F again;
 *   - each owner (F_GETOWN_EX) is the same type and PID;
 *   - job control works: ^C typed into the master interrupts F (SIGINT)
 *     and not B; data on the socket sends F its SIGIO, data in the pipe
 *     B's group its SIGIO;
 *   - a message S queued to the init on a socket with SO_PASSCRED is read
 *     with S's PID inside as its sender (SCM_CREDENTIALS);
 *   - the init's pidfds of S and B name them (the NSpid of their fdinfo
 *     ends in their PIDs inside), pidfd_send_signal reaches B and
 *     waitid(P_PIDFD) reaps S. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "zdtmtst.h"

struct s_report {
	pid_t pid, sid, tty_sid, tty_pgrp;
	struct f_owner_ex devtty_owner;
};

static int sigp[2];	/* F and B report their signals here */

static int xread(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

static int xwrite(int fd, const void *buf, size_t len)
{
	ssize_t n;
	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

static void on_sig_f(int sig)
{
	char c = sig == SIGINT ? 'I' : sig == SIGIO ? 'O' : '?';
	(void)!write(sigp[1], &c, 1);
}

static void on_sig_b(int sig)
{
	/* ^C (SIGINT) must not reach a background job; SIGIO comes from the pipe */
	char c = sig == SIGINT ? 'X' : sig == SIGIO ? 'Y' : '?';
	(void)!write(sigp[1], &c, 1);
}

static void __attribute__((noreturn)) job(void (*handler)(int), int ready)
{
	struct sigaction sa = { .sa_handler = handler };
	sigemptyset(&sa.sa_mask);
	if (setpgid(0, 0) || sigaction(SIGINT, &sa, NULL) || sigaction(SIGIO, &sa, NULL))
		_exit(2);
	(void)!xwrite(ready, "j", 1);
	for (;;)
		pause();
}

/* S: the session leader of the terminal */
static void __attribute__((noreturn)) proc_s(const char *slave_name, int req, int rep,
					     const int ready[2], int cred_sk)
{
	if (setsid() < 0)
		_exit(2);
	/* the receiver has SO_PASSCRED: the kernel adds S's credentials */
	if (send(cred_sk, "c", 1, 0) != 1)
		_exit(2);
	/* a session leader without a terminal takes the first it opens */
	int slave = open(slave_name, O_RDWR);
	if (slave < 0)
		_exit(3);
	pid_t fj = fork();
	if (fj == 0)
		job(on_sig_f, ready[1]);
	pid_t bj = fork();
	if (bj == 0)
		job(on_sig_b, ready[1]);
	if (fj < 0 || bj < 0)
		_exit(4);
	setpgid(fj, fj);
	setpgid(bj, bj);
	char c;
	if (xread(ready[0], &c, 1) || xread(ready[0], &c, 1))
		_exit(5);
	signal(SIGTTOU, SIG_IGN);
	if (tcsetpgrp(slave, fj))
		_exit(6);
	int devtty = open("/dev/tty", O_RDWR);
	struct f_owner_ex o = { .type = F_OWNER_PGRP, .pid = fj };
	if (devtty < 0 || fcntl(devtty, F_SETOWN_EX, &o))
		_exit(7);
	pid_t jobs[2] = { fj, bj };
	if (xwrite(rep, jobs, sizeof(jobs)))
		_exit(8);
	while (xread(req, &c, 1) == 0) {
		struct s_report r = { .pid = getpid(), .sid = getsid(0),
				      .tty_sid = tcgetsid(slave), .tty_pgrp = tcgetpgrp(slave) };
		if (fcntl(devtty, F_GETOWN_EX, &r.devtty_owner))
			r.devtty_owner.type = -1;
		if (xwrite(rep, &r, sizeof(r)))
			_exit(9);
	}
	_exit(0);
}

static int check_owner(const char *what, int fd, int type, pid_t pid)
{
	struct f_owner_ex o = { 0 };
	if (fcntl(fd, F_GETOWN_EX, &o)) {
		fail("%s: F_GETOWN_EX: %s", what, strerror(errno));
		return 1;
	}
	if ((int)o.type != type || o.pid != pid) {
		fail("%s: owner is type %d pid %d, want type %d pid %d", what, o.type, o.pid, type,
		     pid);
		return 1;
	}
	return 0;
}

/* The last value of the NSpid line of pidfd @fd's fdinfo: its PID in the
 * innermost namespace (ours), whatever namespace /proc belongs to. */
static pid_t pidfd_nspid(int fd)
{
	char path[64], line[256];
	pid_t last = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		char *p = line + 6, *end;
		for (;;) {
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			last = v;
			p = end;
		}
	}
	fclose(f);
	return last;
}

static int set_owner(int fd, int type, pid_t pid)
{
	struct f_owner_ex o = { .type = type, .pid = pid };
	return fcntl(fd, F_SETOWN_EX, &o);
}

/* The signal bytes F and B sent within @ms; 0 if none. */
static char next_sig(int ms)
{
	struct pollfd p = { .fd = sigp[0], .events = POLLIN };
	char c;
	if (poll(&p, 1, ms) != 1 || xread(sigp[0], &c, 1))
		return 0;
	return c;
}

static int check_terminal(const char *when, int m, int req, int rep, pid_t s, pid_t fj, pid_t bj)
{
	int bad = 0, v = -1;
	struct s_report r;
	if (ioctl(m, TIOCGSID, &v) || v != s) {
		fail("%s: the terminal's session (TIOCGSID on the master) is %d, want %d", when, v, s);
		bad = 1;
	}
	v = -1;
	if (ioctl(m, TIOCGPGRP, &v) || v != fj) {
		fail("%s: the terminal's foreground group is %d, want %d", when, v, fj);
		bad = 1;
	}
	if (xwrite(req, "r", 1) || xread(rep, &r, sizeof(r))) {
		fail("%s: S did not report", when);
		return 1;
	}
	if (r.pid != s || r.sid != s || r.tty_sid != s || r.tty_pgrp != fj) {
		fail("%s: S reports pid %d sid %d, its terminal's session %d and foreground %d; "
		     "want %d %d %d %d", when, r.pid, r.sid, r.tty_sid, r.tty_pgrp, s, s, s, fj);
		bad = 1;
	}
	if (r.devtty_owner.type != F_OWNER_PGRP || r.devtty_owner.pid != fj) {
		fail("%s: S's /dev/tty is owned by type %d pid %d, want group %d", when,
		     r.devtty_owner.type, r.devtty_owner.pid, fj);
		bad = 1;
	}
	(void)bj;
	return bad;
}

int main(int argc, char **argv)
{
	int sreq[2], srep[2], ready[2], sv[2], pp[2], cp[2], one = 1;
	char slave_name[64];
	pid_t jobs[2];

	test_doc = "a terminal session and file owners inside a PID namespace of its own";
	test_flags |= TEST_NEW_PIDNS;
	test_init(argc, argv);
	if (getpid() != 1)
		setup_fail("not the init of a new PID namespace (pid %d)", getpid());
	if (pipe(sreq) || pipe(srep) || pipe(ready) || pipe(sigp) || pipe(pp) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_DGRAM, 0, cp) ||
	    setsockopt(cp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)))
		setup_fail("pipe/socketpair: %s", strerror(errno));
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, slave_name, sizeof(slave_name)))
		setup_fail("posix_openpt: %s", strerror(errno));

	pid_t s = fork();
	if (s < 0)
		setup_fail("fork: %s", strerror(errno));
	if (s == 0) {
		test_forked_child();
		close(m);
		proc_s(slave_name, sreq[0], srep[1], ready, cp[1]);
	}
	close(ready[0]);	/* the jobs tell S they are ready through it */
	close(ready[1]);
	if (xread(srep[0], jobs, sizeof(jobs)))
		setup_fail("S did not start its jobs");
	pid_t fj = jobs[0], bj = jobs[1];
	if (fcntl(sv[0], F_SETOWN, fj) || fcntl(sv[0], F_SETFL, O_ASYNC | O_NONBLOCK) ||
	    set_owner(pp[0], F_OWNER_PGRP, bj) || fcntl(pp[0], F_SETFL, O_ASYNC | O_NONBLOCK) ||
	    set_owner(m, F_OWNER_PID, s))
		setup_fail("F_SETOWN: %s", strerror(errno));
	int pfd_s = syscall(SYS_pidfd_open, s, 0), pfd_b = syscall(SYS_pidfd_open, bj, 0);
	if (pfd_s < 0 || pfd_b < 0)
		setup_fail("pidfd_open: %s", strerror(errno));
	if (pidfd_nspid(pfd_s) != s || pidfd_nspid(pfd_b) != bj)
		setup_fail("the NSpid of a pidfd's fdinfo is not the PID inside");
	if (check_terminal("before the dump", m, sreq[1], srep[0], s, fj, bj))
		setup_fail("the terminal is not set up as expected");
	test_msg("S %d leads the session of %s; F %d in the foreground, B %d in the background",
		 s, slave_name, fj, bj);

	test_daemon();
	test_waitsig();

	check_terminal("after the restore", m, sreq[1], srep[0], s, fj, bj);
	check_owner("the socket", sv[0], F_OWNER_PID, fj);
	check_owner("the pipe", pp[0], F_OWNER_PGRP, bj);
	check_owner("the pty master", m, F_OWNER_PID, s);

	/* job control: ^C goes to the foreground group only; the socket's
	 * SIGIO to its owner */
	if (xwrite(m, "\003", 1) || xwrite(sv[1], "x", 1) || xwrite(pp[1], "p", 1))
		fail("typing ^C / writing the socket or the pipe: %s", strerror(errno));
	bool got_int = false, got_io = false, got_pipe_io = false;
	for (int i = 0; i < 3; i++) {
		char c = next_sig(5000);
		if (c == 'I')
			got_int = true;
		else if (c == 'O')
			got_io = true;
		else if (c == 'Y')
			got_pipe_io = true;
		else if (c)
			fail("the background job B got a signal ('%c') meant for the foreground", c);
	}
	char c = next_sig(300);
	if (c)
		fail("an unexpected signal report '%c' (X: B got ^C)", c);
	if (!got_int)
		fail("^C typed into the terminal did not interrupt the foreground job F");
	if (!got_io)
		fail("data on the socket did not send its owner F a SIGIO");
	if (!got_pipe_io)
		fail("data in the pipe did not send its owner, B's group, a SIGIO");

	char cbuf[CMSG_SPACE(sizeof(struct ucred))], data;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *ch;
	if (recvmsg(cp[0], &mh, MSG_DONTWAIT) != 1 || !(ch = CMSG_FIRSTHDR(&mh)) ||
	    ch->cmsg_type != SCM_CREDENTIALS)
		fail("S's queued message with its credentials is gone: %s", strerror(errno));
	else {
		struct ucred uc;
		memcpy(&uc, CMSG_DATA(ch), sizeof(uc));
		if (uc.pid != s || uc.uid != getuid())
			fail("S's queued message: sent by pid %d uid %d, want %d %d", uc.pid,
			     uc.uid, s, getuid());
	}
	pid_t ps = pidfd_nspid(pfd_s), pb = pidfd_nspid(pfd_b);
	if (ps != s || pb != bj)
		fail("the pidfds of S %d and B %d name %d and %d after the restore", s, bj, ps, pb);
	/* B is S's child: its end is seen through the pidfd becoming readable */
	struct pollfd pb_poll = { .fd = pfd_b, .events = POLLIN };
	if (syscall(SYS_pidfd_send_signal, pfd_b, SIGKILL, NULL, 0))
		fail("pidfd_send_signal to B: %s", strerror(errno));
	else if (poll(&pb_poll, 1, 5000) != 1)
		fail("B's pidfd did not report its end");
	kill(fj, SIGKILL);
	if (syscall(SYS_pidfd_send_signal, pfd_s, SIGKILL, NULL, 0))
		fail("pidfd_send_signal to S: %s", strerror(errno));
	siginfo_t si = { 0 };
	if (waitid(P_PIDFD, pfd_s, &si, WEXITED))
		fail("waitid(P_PIDFD) of S: %s", strerror(errno));
	else if (si.si_pid != s || si.si_code != CLD_KILLED || si.si_status != SIGKILL)
		fail("waitid(P_PIDFD) of S: pid %d code %d status %d", si.si_pid, si.si_code,
		     si.si_status);
	return test_verdict();
}
