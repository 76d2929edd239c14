/* proc_thread_fs_refuse: a thread called unshare(CLONE_FS) and has its own
 * working directory (/tmp) and umask (0077).  cryo restores one cwd, root
 * and umask per process, so the dump must refuse, naming the thread, and
 * leave the process running: after SIGTERM the thread still has its own
 * values and the main thread its cwd. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "zdtmtst.h"

static volatile int go, ready;
static char err[256];
static void *fn(void *a)
{
	char cwd[64];
	(void)a;
	/* SIGTERM is the main thread's (it waits in sigsuspend) */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (unshare(CLONE_FS) || chdir("/tmp"))
		snprintf(err, sizeof(err), "unshare/chdir: %m");
	umask(0077);
	ready = 1;
	while (!go)
		usleep(1000);
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/tmp"))
		snprintf(err, sizeof(err), "thread cwd %s", cwd);
	mode_t m = umask(0);
	if (m != 0077)
		snprintf(err, sizeof(err), "thread umask %o", m);
	return NULL;
}
int main(int argc, char **argv)
{
	pthread_t t;
	char cwd0[256], cwd[256];
	test_doc = "a thread with its own cwd and umask (unshare(CLONE_FS)): refused";
	test_init(argc, argv);
	getcwd(cwd0, sizeof(cwd0));
	pthread_create(&t, NULL, fn, NULL);
	while (!ready)
		usleep(1000);
	if (err[0])
		setup_fail("%s", err);
	test_daemon();
	test_waitsig();
	go = 1;
	pthread_join(t, NULL);
	if (err[0])
		fail("%s", err);
	getcwd(cwd, sizeof(cwd));
	if (strcmp(cwd, cwd0))
		fail("main cwd %s", cwd);
	return test_verdict();
}
