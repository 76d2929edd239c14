/* freeze_cgroup: cryo dump --freeze-cgroup freezes the tree's cgroup (v2,
 * or with --v1 the v1 freezer) around seizing and thaws it afterwards.
 *
 * The test makes a cgroup of its own under the cgroup v2 mount, moves itself
 * there (a forked child, busy counting, goes with it) and publishes it as
 * /tmp/cryo-test-freeze-cg, the path its .desc gives to --freeze-cgroup.  A
 * dump that can't freeze fails; one that forgets to thaw leaves the tree
 * frozen (leave-running variant: the child makes no progress, and SIGTERM
 * is never acted on).  At the end the test leaves and removes the cgroup. */
#include <fcntl.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *cglink = "/tmp/cryo-test-freeze-cg";
TEST_OPTION(cglink, string, "where to publish the cgroup's path", 0);
static bool v1;
TEST_OPTION(v1, bool, "use the cgroup v1 freezer instead of cgroup v2", 0);
#define LINK cglink

static char mnt[256], cg[300];

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	int ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

static int find_v2(void)
{
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *m;
	while (f && (m = getmntent(f)))
		if (v1 ? !strcmp(m->mnt_type, "cgroup") && hasmntopt(m, "freezer")
		       : !strcmp(m->mnt_type, "cgroup2")) {
			snprintf(mnt, sizeof(mnt), "%s", m->mnt_dir);
			endmntent(f);
			return 0;
		}
	if (f)
		endmntent(f);
	return -1;
}

static void leave_cgroup(void)
{
	char path[320], pid[32];
	snprintf(path, sizeof(path), "%s/cgroup.procs", mnt);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_str(path, pid);
	rmdir(cg);
	unlink(LINK);
}

int main(int argc, char **argv)
{
	test_doc = "dump --freeze-cgroup freezes a cgroup (v2 or v1 freezer) around seizing, then "
		   "thaws it";
	test_init(argc, argv);
	if (find_v2())
		setup_fail("no cgroup %s mount", v1 ? "v1 freezer" : "v2");
	snprintf(cg, sizeof(cg), "%s/cryo-test-freeze-%d", mnt, getpid());
	char path[320], pid[32];
	if (mkdir(cg, 0755))
		setup_fail("mkdir %s", cg);
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_str(path, pid))
		setup_fail("can't move into %s", cg);
	unlink(LINK);
	if (symlink(cg, LINK))
		setup_fail("symlink %s", LINK);

	volatile uint64_t n = 0;
	int p2c[2];
	if (pipe(p2c))
		setup_fail("pipe");
	pid_t kid = fork();
	if (kid == 0) {
		test_forked_child();
		close(p2c[0]);
		close(p2c[1]);
		while (test_go())
			n++;
		_exit(0);
	}
	close(p2c[0]);
	close(p2c[1]);
	test_sleep_ms(50);
	test_daemon();
	test_waitsig();

	/* the child must be running (thawed): it exits only on SIGTERM */
	kill(kid, SIGTERM);
	int st;
	if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child in the cgroup did not finish (status 0x%x)", st);
	snprintf(path, sizeof(path), "%s/%s", cg, v1 ? "freezer.state" : "cgroup.events");
	char buf[256] = { 0 };
	int fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		fail_errno("read %s", path);
	if (fd >= 0)
		close(fd);
	if (v1 ? strncmp(buf, "THAWED", 6) != 0 : strstr(buf, "frozen 1") != NULL)
		fail("the cgroup was left frozen (%s: %s)", path, buf);
	leave_cgroup();
	pass();
	return 0;
}
