/* ns_refuse: a tree cryo can't restore faithfully -- a member in a
 * namespace other than cryo's, or in a cgroup that --manage-cgroups would
 * have to recreate -- is refused at dump, naming the task and the kind, and
 * goes on unharmed.
 *   --ns KIND   pid, net, ipc, uts, mnt, user, cgroup, time: the namespace
 *               the test process (or, with --child, a child) enters;
 *               pid_for_children / time_for_children: unshare without a
 *               child yet, so only the process's next children would be in
 *               the new namespace.  pid always uses a child (a process
 *               can't change its own PID namespace).
 *   --child     a forked child enters the namespace, the root stays
 *   --cgroup    instead: move into a new child cgroup of the current one
 *   --cgout     make a cgroup namespace in a new child cgroup, then move
 *               back out of it (the namespace's root is not the process's
 *               cgroup any more)
 * On SIGTERM: memory, the namespace (or cgroup) and the child are as
 * before.  Without --ns and --cgroup (the control): a tree in cryo's own
 * namespaces is dumped and restored, and is back in the very same ones. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static char *ns = "";
TEST_OPTION(ns, string, "namespace kind to enter", 0);
static bool child;
TEST_OPTION(child, bool, "a child enters the namespace", 0);
static bool cgroup;
TEST_OPTION(cgroup, bool, "move into a new child cgroup", 0);
static bool cgout;
TEST_OPTION(cgout, bool, "a cgroup namespace rooted at a child cgroup we left", 0);

static const struct { const char *name; int flag; } kinds[] = {
	{ "pid", CLONE_NEWPID }, { "net", CLONE_NEWNET }, { "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS }, { "mnt", CLONE_NEWNS }, { "user", CLONE_NEWUSER },
	{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
	{ "pid_for_children", CLONE_NEWPID }, { "time_for_children", CLONE_NEWTIME },
};

static ino_t ns_ino(pid_t pid, const char *name)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, name);
	return stat(path, &st) ? 0 : st.st_ino;
}

static char cg_dir[512];

/* The root of the mount at @mnt as /proc/self/mountinfo shows it: relative
 * to our cgroup namespace's root, as /proc/self/cgroup's paths are ("/.."
 * where the mount's root is above it); "" if there is no such mount. */
static void mnt_root(const char *mnt, char *root, size_t len)
{
	char line[1024], r[512], mp[512];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	root[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %*s %511s %511s", r, mp) == 2 && !strcmp(mp, mnt))
			snprintf(root, len, "%s", r);	/* the last one is on top */
	if (f)
		fclose(f);
}

/* A new cgroup under ours, in the first hierarchy that lets us in.  Its
 * path under the hierarchy's mount is ours made relative to the mount's
 * root (in a cgroup namespace of our own, as in the ns variant, ours reads
 * "/"); a hierarchy whose mount's root is above our namespace's root is
 * skipped.  The name has our PID namespace's inode: in the ns variant our
 * PID is 2 in every test. */
static int join_new_cgroup(void)
{
	static const struct { const char *ctrl, *mnt; } h[] = {
		{ "", "/sys/fs/cgroup/unified" }, { "", "/sys/fs/cgroup" },
		{ "pids", "/sys/fs/cgroup/pids" }, { "memory", "/sys/fs/cgroup/memory" },
	};
	char line[512], path[600];
	FILE *f;

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		const char *cur = NULL;
		f = fopen("/proc/self/cgroup", "r");
		if (!f)
			return -1;
		while (fgets(line, sizeof(line), f)) {
			char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
			if (!p)
				continue;
			*p = '\0';
			p[strcspn(p + 1, "\n") + 1] = '\0';
			if (!strcmp(c + 1, h[i].ctrl)) {
				cur = p + 1;
				break;
			}
		}
		fclose(f);
		char root[512];
		mnt_root(h[i].mnt, root, sizeof(root));
		size_t rl = strcmp(root, "/") ? strlen(root) : 0;
		if (!cur || !root[0] || strncmp(cur, root, rl) || (cur[rl] && cur[rl] != '/'))
			continue;
		cur += rl;
		snprintf(cg_dir, sizeof(cg_dir), "%s%s/cryo-ns-refuse-%d-%lu", h[i].mnt,
			 strcmp(cur, "/") ? cur : "", getpid(), (unsigned long)ns_ino(getpid(), "pid"));
		if (mkdir(cg_dir, 0755))
			continue;
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg_dir);
		int fd = open(path, O_WRONLY);
		char pid[16];
		int n = snprintf(pid, sizeof(pid), "%d", getpid());
		if (fd >= 0 && write(fd, pid, n) == n) {
			close(fd);
			return 0;
		}
		if (fd >= 0)
			close(fd);
		rmdir(cg_dir);
	}
	cg_dir[0] = '\0';
	return -1;
}

static int move_to_parent(void)
{
	char path[600], pid[16];
	snprintf(path, sizeof(path), "%s/../cgroup.procs", cg_dir);
	int fd = open(path, O_WRONLY), n = snprintf(pid, sizeof(pid), "%d", getpid());
	int ret = fd >= 0 && write(fd, pid, n) == n ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return ret;
}

static void leave_cgroup(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/../cgroup.procs", cg_dir);
	int fd = open(path, O_WRONLY);
	if (fd >= 0) {
		char pid[16];
		int n = snprintf(pid, sizeof(pid), "%d", getpid());
		if (write(fd, pid, n) != n)
			fail_errno("leaving cgroup %s", cg_dir);
		close(fd);
	}
	if (rmdir(cg_dir))
		fail_errno("rmdir %s", cg_dir);
}

int main(int argc, char **argv)
{
	static char mem[1 << 16];
	int flag = 0;
	pid_t kid = 0;
	char cg_before[4096] = "";

	test_doc = "a tree in namespaces or cgroups cryo can't restore is refused, unharmed";
	test_init(argc, argv);
	pattern_fill(mem, sizeof(mem), 77);

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, ns))
			flag = kinds[i].flag;
	if (cgout) {
		if (join_new_cgroup())
			setup_fail("can't create and join a child cgroup in any hierarchy");
		if (unshare(CLONE_NEWCGROUP))
			setup_fail("unshare(CLONE_NEWCGROUP): %s", strerror(errno));
		if (move_to_parent())
			setup_fail("moving back out of %s: %s", cg_dir, strerror(errno));
	}
	if (!cgroup && !flag && *ns)
		setup_fail("--ns: unknown kind \"%s\"", ns);
	ino_t own[sizeof(kinds) / sizeof(kinds[0])];
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		own[i] = ns_ino(getpid(), kinds[i].name);
	if (cgroup) {
		if (join_new_cgroup())
			setup_fail("can't create and join a child cgroup in any hierarchy");
		int fd = open("/proc/self/cgroup", O_RDONLY);
		if (fd < 0 || read(fd, cg_before, sizeof(cg_before) - 1) < 0)
			setup_fail("read /proc/self/cgroup: %s", strerror(errno));
		close(fd);
	}
	bool in_child = child || !strcmp(ns, "pid");
	int pipefd[2];
	if (flag && in_child) {
		/* pid: the child is born into the new namespace (as its init) */
		int back = -1;
		if (!strcmp(ns, "pid")) {
			back = open("/proc/self/ns/pid", O_RDONLY);
			if (back < 0 || unshare(CLONE_NEWPID))
				setup_fail("unshare(CLONE_NEWPID): %s", strerror(errno));
		}
		if (pipe(pipefd))
			setup_fail("pipe: %s", strerror(errno));
		kid = fork();
		if (kid < 0)
			setup_fail("fork: %s", strerror(errno));
		if (kid == 0) {
			test_forked_child();
			close(pipefd[0]);
			char ok = 1;
			if (strcmp(ns, "pid") && unshare(flag))
				ok = 0;
			/* time: into the new namespace itself, not only its
			 * children's */
			int fd = ok && !strcmp(ns, "time") ?
				open("/proc/self/ns/time_for_children", O_RDONLY) : -1;
			if (fd >= 0 && setns(fd, CLONE_NEWTIME))
				ok = 0;
			if (write(pipefd[1], &ok, 1) != 1)
				_exit(2);
			for (;;)
				pause();
		}
		close(pipefd[1]);
		char ok = 0;
		if (read(pipefd[0], &ok, 1) != 1 || !ok)
			setup_fail("the child could not unshare %s", ns);
		/* the root's next children: back in its own PID namespace */
		if (back >= 0 && setns(back, CLONE_NEWPID))
			setup_fail("setns back to our PID namespace: %s", strerror(errno));
	} else if (flag) {
		if (unshare(flag))
			setup_fail("unshare(%s): %s", ns, strerror(errno));
		/* time: setns into the new namespace moves this process too (a
		 * single-threaded process may) */
		if (!strcmp(ns, "time")) {
			int fd = open("/proc/self/ns/time_for_children", O_RDONLY);
			if (fd < 0 || setns(fd, CLONE_NEWTIME))
				setup_fail("setns into the new time namespace: %s", strerror(errno));
			close(fd);
		}
	}
	const char *name = ns;	/* the kinds are named as in /proc/PID/ns */
	pid_t who = kid ? kid : getpid();
	ino_t before = flag ? ns_ino(who, name) : 0;

	test_daemon();
	test_waitsig();

	if (!flag && !cgroup && !cgout)
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (ns_ino(getpid(), kinds[i].name) != own[i])
				fail("back in another %s namespace", kinds[i].name);
	ssize_t bad = pattern_check(mem, sizeof(mem), 77);
	if (bad >= 0)
		fail("memory differs at offset %zd", bad);
	if (flag && ns_ino(who, name) != before)
		fail("%s namespace of %d changed", name, who);
	if (cgroup) {
		char now[4096] = "";
		int fd = open("/proc/self/cgroup", O_RDONLY);
		if (fd < 0 || read(fd, now, sizeof(now) - 1) < 0)
			fail_errno("read /proc/self/cgroup");
		else if (strcmp(now, cg_before))
			fail("cgroups changed: %s (were %s)", now, cg_before);
		if (fd >= 0)
			close(fd);
		leave_cgroup();
	}
	if (cgout && rmdir(cg_dir))
		fail_errno("rmdir %s", cg_dir);
	if (kid) {
		int st;
		if (waitpid(kid, &st, WNOHANG) != 0)
			fail("the child %d is gone", kid);
		kill(kid, SIGKILL);
		waitpid(kid, &st, 0);
	}
	return test_verdict();
}
