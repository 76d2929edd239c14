/* File owners (F_SETOWN, F_SETOWN_EX, F_SETSIG) on pipes, a FIFO and a
 * socket, in cryo's own PID namespace.
 *
 * The test owns its pipe's read end (F_SETOWN of its PID, signal SIGUSR1
 * by F_SETSIG, O_ASYNC); a child C, leading its own group, owns the pipe's
 * write end through its group (F_SETOWN_EX PGRP) and a socket (F_OWNER_PID);
 * a FIFO's read end goes to the test's thread-group leader as a thread
 * (F_OWNER_TID), and a second descriptor of the FIFO to its other thread
 * (which the restore creates after the descriptors are in place).  After the restore every owner and signal is the same,
 * and data in the pipe signals the test with SIGUSR1 again. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static volatile pid_t thread_tid;

static void *thread_fn(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	for (;;)
		pause();
	return NULL;
}

static int check(const char *what, int fd, int type, pid_t pid, int sig)
{
	struct f_owner_ex o = { 0 };
	int s = fcntl(fd, F_GETSIG);
	if (fcntl(fd, F_GETOWN_EX, &o) || (int)o.type != type || o.pid != pid || s != sig) {
		fail("%s: owner type %d pid %d signal %d, want %d %d %d", what, o.type, o.pid, s,
		     type, pid, sig);
		return 1;
	}
	return 0;
}

static int set(int fd, int type, pid_t pid)
{
	struct f_owner_ex o = { .type = type, .pid = pid };
	return fcntl(fd, F_SETOWN_EX, &o);
}

int main(int argc, char **argv)
{
	int p[2], sv[2], ready[2];
	char c;

	test_doc = "file owners on pipes, a FIFO and a socket";
	test_init(argc, argv);
	if (pipe(p) || pipe(ready) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		setup_fail("pipe/socketpair: %s", strerror(errno));
	unlink("files_fown.fifo");
	if (mkfifo("files_fown.fifo", 0600))
		setup_fail("mkfifo: %s", strerror(errno));
	int ff = open("files_fown.fifo", O_RDWR), ff2 = open("files_fown.fifo", O_RDWR);
	if (ff < 0 || ff2 < 0)
		setup_fail("open the FIFO: %s", strerror(errno));
	pid_t ch = fork();
	if (ch < 0)
		setup_fail("fork: %s", strerror(errno));
	if (ch == 0) {
		test_forked_child();
		if (setpgid(0, 0))
			_exit(1);
		(void)!write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	if (read(ready[0], &c, 1) != 1)
		setup_fail("the child did not start");
	pthread_t th;
	if (pthread_create(&th, NULL, thread_fn, NULL))
		setup_fail("pthread_create");
	while (!thread_tid)
		usleep(1000);
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigemptyset(&sa.sa_mask);
	pid_t me = getpid();
	if (sigaction(SIGUSR1, &sa, NULL) || fcntl(p[0], F_SETOWN, me) ||
	    fcntl(p[0], F_SETSIG, SIGUSR1) || fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK) ||
	    set(p[1], F_OWNER_PGRP, ch) || set(sv[0], F_OWNER_PID, ch) ||
	    set(ff, F_OWNER_TID, me) || set(ff2, F_OWNER_TID, thread_tid))
		setup_fail("F_SETOWN: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	check("the pipe's read end", p[0], F_OWNER_PID, me, SIGUSR1);
	check("the pipe's write end", p[1], F_OWNER_PGRP, ch, 0);
	check("the socket", sv[0], F_OWNER_PID, ch, 0);
	check("the FIFO", ff, F_OWNER_TID, me, 0);
	check("the FIFO's second descriptor", ff2, F_OWNER_TID, thread_tid, 0);
	if (write(p[1], "x", 1) != 1)
		fail("write to the pipe: %s", strerror(errno));
	for (int i = 0; i < 500 && !got_usr1; i++)
		usleep(10000);
	if (!got_usr1)
		fail("data in the pipe did not signal its owner (SIGUSR1 by F_SETSIG)");
	kill(ch, SIGKILL);
	waitpid(ch, NULL, 0);
	unlink("files_fown.fifo");
	return test_verdict();
}
