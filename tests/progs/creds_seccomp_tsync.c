/* creds_seccomp_tsync: a seccomp filter installed with
 * SECCOMP_FILTER_FLAG_TSYNC after the threads exist, so all threads share
 * one filter.
 *
 * State built before the checkpoint: two worker threads waiting on a
 * barrier; then the leader installs, with TSYNC, a filter that makes uname
 * fail with EPERM.  The SIGTERM handler of test_waitsig must still run.
 * After SIGTERM: every thread shows Seccomp 2 with one filter and uname
 * fails with EPERM in each; the leader then installs a second filter with
 * TSYNC (making getpgid fail with EACCES; not getppid, which an ASan build's
 * leak check at exit needs: its tracer takes a failing getppid for its
 * parent's death and leaves the process spinning): this succeeds only if every thread
 * still shares the leader's filter (otherwise seccomp returns the TID of a
 * thread that can't be synchronized), and it must reach both workers.
 * (--extra: worker 1 then adds a filter of its own on top of the shared one
 * (sched_yield fails with EDOM).  After SIGTERM it has two filters, the
 * others one; the leader's second TSYNC must fail naming worker 1, the one
 * thread whose filter is not an ancestor of the leader's, exactly as
 * before the dump: with the shared filter restored as copies, worker 0
 * would be named.)
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR_WORKERS 2

static bool extra;
TEST_OPTION(extra, bool, "worker 1 adds a filter of its own", 0);

static pthread_barrier_t bar;
static volatile int done[NR_WORKERS];
static volatile pid_t tid1;	/* worker 1 */

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

static long install_flags(int nr, int err, unsigned flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };
	return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static long install(int nr, int err)
{
	return install_flags(nr, err, SECCOMP_FILTER_FLAG_TSYNC);
}

/* Checks in the calling thread; @filters: how many it should have. */
static void check_thread(const char *who, int filters)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
	if (status_field(path, "Seccomp:\t") != 2 ||
	    status_field(path, "Seccomp_filters:\t") != filters)
		fail("%s: Seccomp/Seccomp_filters are %d/%d, expected 2/%d", who,
		     status_field(path, "Seccomp:\t"), status_field(path, "Seccomp_filters:\t"),
		     filters);
	struct utsname u;
	errno = 0;
	if (uname(&u) != -1 || errno != EPERM)
		fail("%s: uname did not fail with EPERM (errno %d)", who, errno);
	if (filters == 2 && !extra) {
		errno = 0;
		if (syscall(SYS_getpgid, 0) != -1 || errno != EACCES)
			fail("%s: the second TSYNC filter does not apply (errno %d)", who, errno);
	}
	if (filters == 2 && extra) {
		errno = 0;
		if (syscall(SYS_sched_yield) != -1 || errno != EDOM)
			fail("%s: its own filter does not apply (errno %d)", who, errno);
	}
}

static void *worker(void *a)
{
	int i = (int)(long)a;
	char who[32];
	snprintf(who, sizeof(who), "worker %d", i);
	pthread_barrier_wait(&bar);	/* created */
	pthread_barrier_wait(&bar);	/* the shared filter is in place */
	if (extra && i == 1) {
		tid1 = syscall(SYS_gettid);
		if (install_flags(__NR_sched_yield, EDOM, 0))
			setup_fail("worker 1's own filter: %s", strerror(errno));
	}
	pthread_barrier_wait(&bar);	/* ready */
	pthread_barrier_wait(&bar);	/* after SIGTERM: first check */
	int own = extra && i == 1;
	check_thread(who, 1 + own);
	pthread_barrier_wait(&bar);	/* all checked */
	pthread_barrier_wait(&bar);	/* the leader installed the second filter */
	check_thread(who, extra ? 1 + own : 2);
	done[i] = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	test_doc = "a seccomp filter shared by all threads (TSYNC)";
	test_init(argc, argv);
	pthread_barrier_init(&bar, NULL, NR_WORKERS + 1);
	pthread_t th[NR_WORKERS];
	for (int i = 0; i < NR_WORKERS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(long)i))
			setup_fail("pthread_create");
	pthread_barrier_wait(&bar);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		setup_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	long r = install(__NR_uname, EPERM);
	if (r)
		setup_fail("seccomp(TSYNC): %ld, %s", r, strerror(errno));
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	if (extra && install(__NR_getpgid, EACCES) != tid1)
		setup_fail("a TSYNC after worker 1's own filter does not name worker 1");

	test_daemon();
	test_waitsig();

	pthread_barrier_wait(&bar);
	check_thread("leader", 1);
	pthread_barrier_wait(&bar);
	r = install(__NR_getpgid, EACCES);
	if (extra) {
		if (r != tid1)
			fail("a second filter with TSYNC returned %ld, expected %d (worker 1, the "
			     "only thread with a filter of its own)", r, tid1);
		check_thread("leader", 1);
	} else if (r > 0) {
		fail("a second filter with TSYNC: thread %ld does not share the leader's "
		     "filter", r);
	} else if (r < 0) {
		fail("a second filter with TSYNC: %s", strerror(errno));
	} else {
		check_thread("leader", 2);
	}
	pthread_barrier_wait(&bar);
	for (int i = 0; i < NR_WORKERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NR_WORKERS; i++)
		if (!done[i])
			fail("worker %d did not finish its checks", i);
	pass();
	return 0;
}
