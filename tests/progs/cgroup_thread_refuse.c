/* cgroup_thread_refuse: a thread in another cgroup than its process (a
 * threaded cgroup v2) can't be put back by cryo, which records one cgroup
 * set per process: --manage-cgroups refuses it at dump, unharmed.
 *
 * The test makes NAME and NAME/thr under the cgroup v2 mount, makes thr
 * threaded, moves itself into NAME and a thread of its own into thr.  On
 * SIGTERM the thread must still be in thr and the process in NAME; then
 * both leave and the cgroups are removed. */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static char mnt[256], top[400], thr[420];
static volatile int thr_tid, stop;

static int write_str(const char *dir, const char *file, const char *s)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	int ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* the v2 line of /proc/self/task/@tid/cgroup */
static int v2_path(int tid, char *out, size_t len)
{
	char path[64], line[600];
	snprintf(path, sizeof(path), "/proc/self/task/%d/cgroup", tid);
	FILE *f = fopen(path, "r");
	int ret = -1;
	while (f && ret && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, len, "%s", line + 3);
			ret = 0;
		}
	if (f)
		fclose(f);
	return ret;
}

static void *thread_fn(void *arg)
{
	char tid[16];
	snprintf(tid, sizeof(tid), "%ld", (long)syscall(SYS_gettid));
	if (write_str(thr, "cgroup.threads", tid))
		thr_tid = -errno;
	else
		thr_tid = syscall(SYS_gettid);
	while (!stop)
		usleep(10000);
	return NULL;
}

int main(int argc, char **argv)
{
	char pid[16], buf[600], want[600];
	pthread_t t;

	test_doc = "a thread in another cgroup than its process is refused by --manage-cgroups";
	test_init(argc, argv);
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *m;
	while (f && (m = getmntent(f)))
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(mnt, sizeof(mnt), "%s", m->mnt_dir);
			break;
		}
	if (f)
		endmntent(f);
	if (!mnt[0])
		setup_fail("no cgroup v2 mount");
	snprintf(top, sizeof(top), "%s/cryo-test-cgthr-%d", mnt, getpid());
	snprintf(thr, sizeof(thr), "%s/thr", top);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (mkdir(top, 0755) || mkdir(thr, 0755))
		setup_fail("mkdir %s: %s", thr, strerror(errno));
	if (write_str(thr, "cgroup.type", "threaded"))
		setup_fail("can't make %s threaded: %s", thr, strerror(errno));
	if (write_str(top, "cgroup.procs", pid))
		setup_fail("can't move into %s: %s", top, strerror(errno));
	if (pthread_create(&t, NULL, thread_fn, NULL))
		setup_fail("pthread_create");
	while (!thr_tid)
		usleep(1000);
	if (thr_tid < 0)
		setup_fail("can't move the thread into %s: %s", thr, strerror(-thr_tid));
	test_daemon();
	test_waitsig();

	snprintf(want, sizeof(want), "%s", thr + strlen(mnt));
	if (v2_path(thr_tid, buf, sizeof(buf)) || strcmp(buf, want))
		fail("the thread is in cgroup \"%s\", expected \"%s\"", buf, want);
	snprintf(want, sizeof(want), "%s", top + strlen(mnt));
	if (v2_path(getpid(), buf, sizeof(buf)) || strcmp(buf, want))
		fail("the process is in cgroup \"%s\", expected \"%s\"", buf, want);
	stop = 1;
	pthread_join(t, NULL);
	write_str(mnt, "cgroup.procs", pid);
	if (rmdir(thr) || rmdir(top))
		fail_errno("rmdir %s", top);
	pass();
	return 0;
}
