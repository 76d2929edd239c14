/* ns_timecg: a tree in a time and/or cgroup namespace of its own (the test
 * makes it, then forks a child that shares it) is restored into new ones
 * that read the same:
 *   --timens  a time namespace with offsets of +10 days (CLOCK_MONOTONIC)
 *             and +20 days (CLOCK_BOOTTIME).  The test reads both clocks
 *             and CLOCK_REALTIME (which no namespace changes) every
 *             millisecond, before and after the restore: neither may ever
 *             go back, nor move on by more than the real time that passed
 *             (the downtime included) plus a second; after the restore
 *             they must still be past the offsets, /proc/self/timens_offsets
 *             non-zero, and the namespace not init's (/proc/1).
 *   --cgns    a cgroup namespace made where the test is: /proc/self/cgroup
 *             (read inside) must be the very same text after the restore,
 *             and the namespace not init's.
 *   --cgown   with --cgns: the namespace is made in a new memory cgroup
 *             (below the test's own, v1) the test moved into first, as a
 *             container runtime does: restored with --manage-cgroups, the
 *             test and its child must be back in that cgroup (its
 *             cgroup.procs, read from outside the namespace, lists them)
 *             and the namespace rooted there ("/" inside).
 *   --jump N  no namespace of its own, but the restore's images say the
 *             dump's clocks read N seconds more than they did (forged, as
 *             after a reboot): the restore must put the tree in a new time
 *             namespace whose clocks go on from those values, so the test
 *             sees them jump on by N seconds (plus the downtime), never back.
 * Both processes must be in the same namespaces, time_for_children
 * included. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static bool timens;
TEST_OPTION(timens, bool, "a time namespace of its own", 0);
static int jump;
TEST_OPTION(jump, int, "seconds the restore's images moved the clocks on", 0);
static bool cgns;
TEST_OPTION(cgns, bool, "a cgroup namespace of its own", 0);
static bool cgown;
TEST_OPTION(cgown, bool, "with --cgns: made in a memory cgroup of its own", 0);
static char cgown_dir[512];

#define MONO_OFF (10LL * 86400)
#define BOOT_OFF (20LL * 86400)
#define SLACK_NS 1000000000LL

static ino_t ns_ino(const char *pid, const char *name)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, name);
	return stat(path, &st) ? 0 : st.st_ino;
}

static long long clock_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* --cgown: a new memory cgroup below ours (v1), joined */
static int cgown_join(void)
{
	char line[512], path[600];
	FILE *f = fopen("/proc/self/cgroup", "r");
	int ret = -1;
	while (f && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!cg || strncmp(ctl + 1, "memory:", 7))
			continue;
		cg[strcspn(cg, "\n")] = '\0';
		snprintf(cgown_dir, sizeof(cgown_dir), "/sys/fs/cgroup/memory%s/cryo-cgown-%d",
			 strcmp(cg + 1, "/") ? cg + 1 : "", getpid());
		ret = 0;
	}
	if (f)
		fclose(f);
	if (ret || mkdir(cgown_dir, 0755))
		return -1;
	snprintf(path, sizeof(path), "%s/cgroup.procs", cgown_dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", getpid());
	return fclose(f);
}

/* is @pid in the --cgown cgroup (its cgroup.procs, read from outside)? */
static bool cgown_has(pid_t pid)
{
	char path[600], line[32];
	snprintf(path, sizeof(path), "%s/cgroup.procs", cgown_dir);
	FILE *f = fopen(path, "r");
	bool found = false;
	while (f && fgets(line, sizeof(line), f))
		found |= atoi(line) == pid;
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	static char cg_before[4096];
	char buf[4096], kidpid[16];

	test_doc = "time and cgroup namespaces come back with the same clocks and cgroup view";
	test_init(argc, argv);
	if (!timens && !cgns && !jump)
		setup_fail("give --timens, --cgns or --jump");

	if (timens) {
		if (unshare(CLONE_NEWTIME))
			setup_fail("unshare(CLONE_NEWTIME): %s", strerror(errno));
		int fd = open("/proc/self/timens_offsets", O_WRONLY);
		int n = snprintf(buf, sizeof(buf), "monotonic %lld 0\nboottime %lld 0\n", MONO_OFF,
				 BOOT_OFF);
		if (fd < 0 || write(fd, buf, n) != n)
			setup_fail("writing /proc/self/timens_offsets: %s", strerror(errno));
		close(fd);
		/* a single-threaded process may move itself into it */
		fd = open("/proc/self/ns/time_for_children", O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWTIME))
			setup_fail("setns into the new time namespace: %s", strerror(errno));
		close(fd);
		if (clock_ns(CLOCK_MONOTONIC) < MONO_OFF * 1000000000LL)
			setup_fail("the monotonic offset did not take");
	}
	if (cgown && cgown_join())
		setup_fail("can't make and join a memory cgroup (v1) below ours: %s", strerror(errno));
	if (cgns) {
		if (unshare(CLONE_NEWCGROUP))
			setup_fail("unshare(CLONE_NEWCGROUP): %s", strerror(errno));
		if (read_text("/proc/self/cgroup", cg_before, sizeof(cg_before)))
			setup_fail("read /proc/self/cgroup: %s", strerror(errno));
	}

	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		for (;;)
			pause();
	}
	snprintf(kidpid, sizeof(kidpid), "%d", kid);

	test_daemon();

	long long m0 = clock_ns(CLOCK_MONOTONIC), b0 = clock_ns(CLOCK_BOOTTIME);
	long long r0 = clock_ns(CLOCK_REALTIME);
	long long worst_back = 0, worst_fwd = 0, max_step = 0;
	while (test_go()) {
		test_sleep_ms(1);
		long long m = clock_ns(CLOCK_MONOTONIC), b = clock_ns(CLOCK_BOOTTIME);
		long long r = clock_ns(CLOCK_REALTIME);
		long long dr = r - r0 > 0 ? r - r0 : 0;
		long long dm = m - m0, db = b - b0;
		if (dm > max_step)
			max_step = dm;
		if (dm < worst_back)
			worst_back = dm;
		if (db < worst_back)
			worst_back = db;
		if (dm - dr > worst_fwd)
			worst_fwd = dm - dr;
		if (db - dr > worst_fwd)
			worst_fwd = db - dr;
		m0 = m, b0 = b, r0 = r;
	}

	if (timens || jump) {
		long long want = jump * 1000000000LL;
		if (worst_back < 0)
			fail("a clock went back by %lld ns", -worst_back);
		/* the dumped values go on: the downtime is not in the jump */
		if (jump && max_step < want - SLACK_NS)
			fail("CLOCK_MONOTONIC jumped on by at most %lld ns, not by about %d s: the "
			     "restore did not go on from the dumped values", max_step, jump);
		if (worst_fwd > want + SLACK_NS)
			fail("a clock jumped on by %lld ns more than the real time that passed",
			     worst_fwd);
		if (timens && (clock_ns(CLOCK_MONOTONIC) < MONO_OFF * 1000000000LL ||
		    clock_ns(CLOCK_BOOTTIME) < BOOT_OFF * 1000000000LL))
			fail("the clocks are no longer past the namespace's offsets (monotonic %lld, "
			     "boottime %lld ns)", clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_BOOTTIME));
		if (read_text("/proc/self/timens_offsets", buf, sizeof(buf)))
			fail_errno("read /proc/self/timens_offsets");
		else
			for (char *l = buf; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
				char name[16];
				long long sec, nsec;
				if (sscanf(l, "%15s %lld %lld", name, &sec, &nsec) == 3 && !sec && !nsec)
					fail("a zero %s offset in /proc/self/timens_offsets", name);
			}
		if (ns_ino("self", "time") == ns_ino("1", "time"))
			fail("back in init's time namespace");
		if (ns_ino("self", "time") != ns_ino("self", "time_for_children"))
			fail("time_for_children differs from the time namespace");
		if (ns_ino(kidpid, "time") != ns_ino("self", "time") ||
		    ns_ino(kidpid, "time_for_children") != ns_ino("self", "time"))
			fail("the child is in another time namespace");
	}
	if (cgns) {
		if (read_text("/proc/self/cgroup", buf, sizeof(buf)))
			fail_errno("read /proc/self/cgroup");
		else if (strcmp(buf, cg_before))
			fail("/proc/self/cgroup reads\n%s\nnot\n%s", buf, cg_before);
		if (ns_ino("self", "cgroup") == ns_ino("1", "cgroup"))
			fail("back in init's cgroup namespace");
		if (ns_ino(kidpid, "cgroup") != ns_ino("self", "cgroup"))
			fail("the child is in another cgroup namespace");
	}
	if (cgown && (!cgown_has(getpid()) || !cgown_has(kid)))
		fail("not back in the memory cgroup %s (%d: %s, child %d: %s)", cgown_dir, getpid(),
		     cgown_has(getpid()) ? "in" : "not in", kid, cgown_has(kid) ? "in" : "not in");
	int st;
	if (waitpid(kid, &st, WNOHANG) != 0)
		fail("the child %d is gone", kid);
	kill(kid, SIGKILL);
	waitpid(kid, &st, 0);
	if (cgown) {	/* out of it (into its parent), then it goes */
		snprintf(buf, sizeof(buf), "%s/../cgroup.procs", cgown_dir);
		FILE *f = fopen(buf, "w");
		if (f) {
			fprintf(f, "%d\n", getpid());
			fclose(f);
		}
		if (rmdir(cgown_dir))
			fail_errno("rmdir %s", cgown_dir);
	}
	return test_verdict();
}
