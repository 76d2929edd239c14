/* seccomp_thread_only: a seccomp filter on a worker thread only.
 *
 * The worker (not the leader) installs, without TSYNC, a filter that makes
 * sigaltstack and prctl fail with EPERM: cryo's dump runs both inside every
 * thread, so it must suspend seccomp for that thread although the leader has
 * none.  The worker also has an alternate signal stack.
 * After SIGTERM: the leader's Seccomp is 0; the worker's is 2 with one
 * filter, sigaltstack still fails with EPERM in the worker (its stack,
 * read before the filter, is unchanged), and prctl works in the leader.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static pthread_barrier_t bar;
static char altstack[65536];
static volatile int worker_done;

static int status_field(const char *path, const char *key)
{
	char line[256];
	FILE *f = fopen(path, "r");
	int v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atoi(line + strlen(key));
	fclose(f);
	return v;
}

static void *worker(void *a)
{
	(void)a;
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	if (sigaltstack(&ss, NULL))
		setup_fail("sigaltstack: %s", strerror(errno));
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sigaltstack, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { .len = 5, .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		setup_fail("seccomp: %s", strerror(errno));
	pthread_barrier_wait(&bar);	/* filter in place */
	pthread_barrier_wait(&bar);	/* after SIGTERM: check */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
	if (status_field(path, "Seccomp:\t") != 2 || status_field(path, "Seccomp_filters:\t") != 1)
		fail("the worker's Seccomp/Seccomp_filters are %d/%d, expected 2/1",
		     status_field(path, "Seccomp:\t"), status_field(path, "Seccomp_filters:\t"));
	stack_t cur;
	errno = 0;
	if (syscall(__NR_sigaltstack, NULL, &cur) != -1 || errno != EPERM)
		fail("sigaltstack in the worker did not fail with EPERM (errno %d)", errno);
	worker_done = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	test_doc = "seccomp filter on a non-leader thread only";
	test_init(argc, argv);
	pthread_barrier_init(&bar, NULL, 2);
	pthread_t th;
	if (pthread_create(&th, NULL, worker, NULL))
		setup_fail("pthread_create");
	pthread_barrier_wait(&bar);

	test_daemon();
	test_waitsig();

	if (status_field("/proc/self/status", "Seccomp:\t") != 0)
		fail("the leader is under seccomp after restore");
	if (prctl(PR_GET_DUMPABLE) < 0)
		fail("prctl fails in the leader: %s", strerror(errno));
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	if (!worker_done)
		fail("the worker did not finish its checks");
	pass();
	return 0;
}
