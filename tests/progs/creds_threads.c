/* creds_threads: credentials and settings that differ between threads, and
 * a parent-death signal in a child process.
 *
 * State built before the checkpoint:
 *   - the process: no_new_privs and seccomp filter A (getsid -> EPERM),
 *     inherited by both worker threads (one shared entry in seccomp.img);
 *   - worker 1: its own uids 3001/3002/3003 (raw setresuid: glibc's would
 *     change every thread), its own filter B on top (uname -> EACCES),
 *     timer slack 77777 ns;
 *   - worker 2: ioprio idle class, timer slack 88888 ns;
 *   - a child process with parent-death signal SIGUSR2: its parent is
 *     restored with it, so cryo restores the signal.
 * After SIGTERM each worker checks its own /proc/thread-self/status (Uid,
 * Seccomp_filters), errors, timer slack and ioprio; the main thread checks
 * its own; the child is sent SIGUSR1 and exits 0 only if its parent-death
 * signal is still SIGUSR2 and it never received it.
 */
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/ioprio.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile int ready, check, done;
static char result[3][256];	/* "" = ok, else the failure */

static int deny(long nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = { sizeof(f) / sizeof(f[0]), f };

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p);
}

static void status_of_thread(char *uid, size_t usize, int *filters)
{
	char line[256];
	FILE *f = fopen("/proc/thread-self/status", "r");

	*filters = -1;
	uid[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Uid:", 4))
			snprintf(uid, usize, "%.*s", (int)strcspn(line + 4, "\n"), line + 4);
		else if (!strncmp(line, "Seccomp_filters:", 16))
			*filters = atoi(line + 16);
	}
	if (f)
		fclose(f);
}

/* Check the calling thread; the first mismatch goes to result[i]. */
static void check_self(int i, const char *want_uid, int want_filters, int uname_errno,
		       unsigned long slack, long prio)
{
	char uid[128];
	int filters;
	struct utsname u;
	long v;

	status_of_thread(uid, sizeof(uid), &filters);
	if (strcmp(uid, want_uid))
		snprintf(result[i], sizeof(result[i]), "Uid is %s, expected %s", uid, want_uid);
	else if (filters != want_filters)
		snprintf(result[i], sizeof(result[i]), "%d seccomp filters, expected %d", filters,
			 want_filters);
	else if (syscall(SYS_getsid, 0) != -1 || errno != EPERM)
		snprintf(result[i], sizeof(result[i]), "getsid is not failing with EPERM");
	else if ((v = uname(&u)) != (uname_errno ? -1 : 0) || (uname_errno && errno != uname_errno))
		snprintf(result[i], sizeof(result[i]), "uname returned %ld (errno %d), expected "
			 "errno %d", v, errno, uname_errno);
	else if ((unsigned long)(v = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) != slack)
		snprintf(result[i], sizeof(result[i]), "timer slack %ld, expected %lu", v, slack);
	else if ((v = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0)) != prio)
		snprintf(result[i], sizeof(result[i]), "ioprio %#lx, expected %#lx", v, prio);
}

static const char uid_main[] = "\t0\t0\t0\t0", uid_w1[] = "\t3001\t3002\t3003\t3002";
static long prio_main, slack_main;

static void *worker(void *arg)
{
	int i = (int)(long)arg;

	if (i == 1) {
		if (syscall(SYS_setresuid, 3001, 3002, 3003) || deny(__NR_uname, EACCES) ||
		    prctl(PR_SET_TIMERSLACK, 77777, 0, 0, 0))
			snprintf(result[i], sizeof(result[i]), "setup: %s", strerror(errno));
	} else {
		if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
			    IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)) ||
		    prctl(PR_SET_TIMERSLACK, 88888, 0, 0, 0))
			snprintf(result[i], sizeof(result[i]), "setup: %s", strerror(errno));
	}
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
	while (!check)
		usleep(10000);
	if (!result[i][0]) {
		if (i == 1)
			check_self(1, uid_w1, 2, EACCES, 77777, prio_main);
		else
			check_self(2, uid_main, 1, 0, 88888,
				   IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0));
	}
	__atomic_add_fetch(&done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static volatile sig_atomic_t child_go, child_pdeath;
static void on_usr1(int s) { child_go = 1; }
static void on_usr2(int s) { child_pdeath = 1; }

static void __attribute__((noreturn)) child(void)
{
	sigset_t none;
	int sig = -1;

	syscall(SYS_close_range, 3, ~0U, 0);	/* the launcher's pipe, the outfile */
	signal(SIGTERM, SIG_DFL);
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, on_usr2);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0))
		_exit(3);
	sigemptyset(&none);
	while (!child_go)
		sigsuspend(&none);
	if (child_pdeath)
		_exit(4);
	if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) || sig != SIGUSR2)
		_exit(5);
	_exit(0);
}

int main(int argc, char **argv)
{
	pthread_t th[3];
	sigset_t term;
	pid_t kid;
	int st;

	test_doc = "per-thread uids, seccomp filters, timer slack, ioprio; pdeath in a child";
	test_init(argc, argv);
	prio_main = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
	slack_main = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || deny(__NR_getsid, EPERM))
		setup_fail("seccomp: %s", strerror(errno));
	kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0)
		child();
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);	/* workers inherit it */
	for (long i = 1; i <= 2; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			setup_fail("pthread_create");
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	while (ready < 2)
		usleep(1000);
	for (int i = 1; i <= 2; i++)
		if (result[i][0])
			setup_fail("worker %d: %s", i, result[i]);
	test_daemon();
	test_waitsig();

	check = 1;
	check_self(0, uid_main, 1, 0, slack_main, prio_main);
	for (int i = 1; i <= 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i <= 2; i++)
		if (result[i][0])
			fail("%s: %s", i ? (i == 1 ? "worker 1" : "worker 2") : "main thread",
			     result[i]);
	kill(kid, SIGUSR1);
	if (waitpid(kid, &st, 0) != kid)
		fail_errno("waitpid child");
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("child: %s (status %#x)", WIFEXITED(st) && WEXITSTATUS(st) == 4 ?
		     "received its parent-death signal" : WIFEXITED(st) && WEXITSTATUS(st) == 5 ?
		     "parent-death signal is not SIGUSR2" : "failed", st);
	return test_verdict();
}
