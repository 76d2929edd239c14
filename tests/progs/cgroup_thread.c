/* cgroup_thread: threads in other cgroups than their process come back
 * there (criu's thread_core cg_set; --manage-cgroups).
 *
 * The test makes NAME (cryo-test-cgthr) in the v1 pids hierarchy and NAME
 * and NAME/thr under the cgroup v2 mount, makes thr threaded, moves itself
 * into v2 NAME, thread A alone into v1 pids NAME (its TID to "tasks") and
 * thread B into thr (cgroup.threads).  The restore wrapper removes the
 * cgroups, so the restore must make them again, thr threaded.  On SIGTERM
 * each thread reads its own /proc/thread-self/cgroup: the same as before
 * the dump; then all leave and the cgroups are removed. */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NAME "cryo-test-cgthr"

static char v2mnt[256], v1mnt[256], top[400], thr[420], v1dir[400];
static volatile int stop, check;

struct thr {
	const char *dir, *file;	/* where it moves itself */
	volatile int tid;	/* > 0 once moved, -errno */
	char before[2048];
	volatile int done;	/* 1: same after restore, -1: not */
	char after[2048];
	pthread_t t;
};
static struct thr ta, tb;

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

static void read_self(char *buf, size_t len)
{
	int fd = open("/proc/thread-self/cgroup", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

static void *thread_fn(void *arg)
{
	struct thr *t = arg;
	char tid[16];
	snprintf(tid, sizeof(tid), "%ld", (long)syscall(SYS_gettid));
	if (write_str(t->dir, t->file, tid)) {
		t->tid = -errno;
		return NULL;
	}
	read_self(t->before, sizeof(t->before));
	t->tid = syscall(SYS_gettid);
	while (!check)
		usleep(10000);
	read_self(t->after, sizeof(t->after));
	t->done = strcmp(t->before, t->after) ? -1 : 1;
	while (!stop)
		usleep(10000);
	return NULL;
}

static void start(struct thr *t, const char *dir, const char *file)
{
	t->dir = dir;
	t->file = file;
	if (pthread_create(&t->t, NULL, thread_fn, t))
		setup_fail("pthread_create");
	while (!t->tid)
		usleep(1000);
	if (t->tid < 0)
		setup_fail("can't move a thread into %s (%s): %s", dir, file, strerror(-t->tid));
}

static void check_thr(struct thr *t, const char *what)
{
	while (!t->done)
		usleep(1000);
	if (t->done < 0)
		fail("thread %s (%d) is in cgroups\n%s\nexpected\n%s", what, t->tid, t->after,
		     t->before);
	if (!strstr(t->after, t->dir + strlen(t->dir == v1dir ? v1mnt : v2mnt)))
		fail("thread %s (%d) is not in %s:\n%s", what, t->tid, t->dir, t->after);
}

int main(int argc, char **argv)
{
	char pid[16], before[2048], after[2048];

	test_doc = "threads in other cgroups (v1 tasks, v2 threaded) than their process";
	test_init(argc, argv);
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *m;
	while (f && (m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2") && !v2mnt[0])
			snprintf(v2mnt, sizeof(v2mnt), "%s", m->mnt_dir);
		if (!strcmp(m->mnt_type, "cgroup") && hasmntopt(m, "pids") && !v1mnt[0])
			snprintf(v1mnt, sizeof(v1mnt), "%s", m->mnt_dir);
	}
	if (f)
		endmntent(f);
	if (!v2mnt[0] || !v1mnt[0])
		setup_fail("no cgroup v2 or v1 pids mount");
	snprintf(top, sizeof(top), "%s/" NAME, v2mnt);
	snprintf(thr, sizeof(thr), "%s/thr", top);
	snprintf(v1dir, sizeof(v1dir), "%s/" NAME, v1mnt);
	snprintf(pid, sizeof(pid), "%d", getpid());
	rmdir(thr);	/* left empty by an earlier run that was killed */
	rmdir(top);
	rmdir(v1dir);
	if (mkdir(top, 0755) || mkdir(thr, 0755) || mkdir(v1dir, 0755))
		setup_fail("mkdir %s: %s", thr, strerror(errno));
	if (write_str(thr, "cgroup.type", "threaded"))
		setup_fail("can't make %s threaded: %s", thr, strerror(errno));
	if (write_str(top, "cgroup.procs", pid))
		setup_fail("can't move into %s: %s", top, strerror(errno));
	start(&ta, v1dir, "tasks");
	start(&tb, thr, "cgroup.threads");
	read_self(before, sizeof(before));
	test_daemon();
	test_waitsig();

	check = 1;
	read_self(after, sizeof(after));
	if (strcmp(before, after))
		fail("the main thread is in cgroups\n%s\nexpected\n%s", after, before);
	check_thr(&ta, "A (v1 pids)");
	check_thr(&tb, "B (v2 threaded)");
	stop = 1;
	pthread_join(ta.t, NULL);
	pthread_join(tb.t, NULL);
	write_str(v2mnt, "cgroup.procs", pid);
	write_str(v1mnt, "cgroup.procs", pid);
	if (rmdir(thr) || rmdir(top) || rmdir(v1dir))
		fail_errno("rmdir %s", top);
	pass();
	return 0;
}
