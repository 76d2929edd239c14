/* cgroup_tree: a tree in cgroups of its own, restored with --manage-cgroups.
 *
 * The test makes the cgroup NAME (--name, default cryo-test-cgtree) and
 * NAME/sub in the v1 hierarchies cpu, memory, pids, cpuset and freezer and in the v2
 * tree (whichever are mounted), gives them properties (cpu.shares,
 * memory.limit_in_bytes, pids.max, cpuset.cpus/mems; v2
 * cgroup.max.descendants and cgroup.max.depth), moves itself into NAME and a
 * forked child into NAME/sub.  After the restore each must be in the same
 * cgroups (or, with --moved PATH, --cgroup-root's: PATH and PATH/sub), read
 * from /proc/PID/cgroup, and every property must read back (with --bare
 * LIST, those of the controllers listed must not: the dump left them out).  The .desc's
 * restore wrapper removes the original cgroups first, so the restore has to
 * make them and their properties itself.  At the end both processes leave
 * and every cgroup the test (or the restore) made is removed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *name = "cryo-test-cgtree";
TEST_OPTION(name, string, "the test's cgroup (under each hierarchy's root)", 0);
static char *moved;
TEST_OPTION(moved, string, "the path the restore moves it to (--cgroup-root)", 0);
static char *bare;
TEST_OPTION(bare, string, "controllers (cpu,memory,...) whose cgroups the restore makes bare: "
	    "their properties must not read back (--cgroup-dump-controller)", 0);

struct prop {
	const char *file, *top, *sub;	/* NULL sub: as top */
};

static struct hier {
	const char *ctl;	/* as /proc/self/cgroup names it ("" for v2) */
	const char *mnt;
	struct prop props[3];
	bool on;
} hs[] = {
	{ "cpu", "/sys/fs/cgroup/cpu", { { "cpu.shares", "512", "256" } } },
	{ "memory", "/sys/fs/cgroup/memory",
	  { { "memory.limit_in_bytes", "268435456", "134217728" } } },
	{ "pids", "/sys/fs/cgroup/pids", { { "pids.max", "100", "50" } } },
	{ "cpuset", "/sys/fs/cgroup/cpuset",
	  { { "cpuset.cpus", NULL, NULL }, { "cpuset.mems", NULL, NULL } } },
	{ "freezer", "/sys/fs/cgroup/freezer", { { NULL } } },	/* runc's --freeze-cgroup */
	{ "", "/sys/fs/cgroup/unified",
	  { { "cgroup.max.descendants", "7", "2" }, { "cgroup.max.depth", "5", "3" } } },
};
#define NH (sizeof(hs) / sizeof(hs[0]))

static char cpus[64], mems[64];

static bool is_bare(const char *ctl)
{
	char list[256];
	snprintf(list, sizeof(list), "%s", bare ? bare : "");
	for (char *sv, *t = strtok_r(list, ",", &sv); t; t = strtok_r(NULL, ",", &sv))
		if (!strcmp(t, ctl[0] ? ctl : "v2"))
			return true;
	return false;
}

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

static int read_str(const char *dir, const char *file, char *buf, size_t len)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	return 0;
}

static const char *value(const struct prop *p, bool sub)
{
	if (!strcmp(p->file, "cpuset.cpus"))
		return cpus;
	if (!strcmp(p->file, "cpuset.mems"))
		return mems;
	return sub && p->sub ? p->sub : p->top;
}

/* The root of the hierarchy mounted at @mnt, as /proc/self/mountinfo shows
 * it: relative to our cgroup namespace's root, like /proc/PID/cgroup's
 * paths ("/../.." for the host's root seen from a cgroup namespace two
 * levels below it, as in the ns variant); "" if not found. */
static void mnt_root(const char *mnt, char *root, size_t len)
{
	char line[1024], r[512], mp[512];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	root[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %*s %511s %511s", r, mp) == 2 && !strcmp(mp, mnt))
			snprintf(root, len, "%s", r);	/* the last one is on top */
	if (f)
		fclose(f);
}

/* /proc/PID/cgroup's path for controller @ctl, made relative to the root
 * of its hierarchy's mount at @mnt (where the test makes its cgroups) */
static int cg_path(pid_t pid, const char *ctl, const char *mnt, char *out, size_t len)
{
	char root[512];
	mnt_root(mnt, root, sizeof(root));
	size_t rl = !strcmp(root, "/") ? 0 : strlen(root);

	char path[64], line[600];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	FILE *f = fopen(path, "r");
	int ret = -1;
	while (f && ret && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
		if (!p)
			continue;
		*p = 0;
		p[strcspn(p + 1, "\n") + 1] = 0;
		if (!strcmp(c + 1, ctl)) {
			const char *cg = p + 1;
			if (rl && !strncmp(cg, root, rl) && (cg[rl] == '/' || !cg[rl]))
				cg += rl;
			snprintf(out, len, "%s", *cg ? cg : "/");
			ret = 0;
		}
	}
	if (f)
		fclose(f);
	return ret;
}

static int join(const char *top, bool sub)
{
	char dir[600], pid[16];
	snprintf(pid, sizeof(pid), "%d", getpid());
	for (size_t i = 0; i < NH; i++) {
		if (!hs[i].on)
			continue;
		snprintf(dir, sizeof(dir), "%s%s%s", hs[i].mnt, top, sub ? "/sub" : "");
		if (write_str(dir, "cgroup.procs", pid))
			return -1;
	}
	return 0;
}

static void cleanup_tree(const char *top)
{
	char dir[600];
	for (size_t i = 0; i < NH; i++) {
		if (!hs[i].on)
			continue;
		snprintf(dir, sizeof(dir), "%s%s/sub", hs[i].mnt, top);
		rmdir(dir);
		snprintf(dir, sizeof(dir), "%s%s", hs[i].mnt, top);
		rmdir(dir);
	}
}

int main(int argc, char **argv)
{
	char top[300], dir[600], buf[600];
	int p[2];

	test_doc = "a tree in cgroups of its own (several controllers, v1 and v2, a child in a "
		   "sub-cgroup) comes back in them, with their properties";
	test_init(argc, argv);
	snprintf(top, sizeof(top), "/%s", name);
	if (read_str("/sys/fs/cgroup/cpuset", "cpuset.cpus", cpus, sizeof(cpus)) ||
	    read_str("/sys/fs/cgroup/cpuset", "cpuset.mems", mems, sizeof(mems)))
		cpus[0] = mems[0] = 0;
	int nr_on = 0;
	for (size_t i = 0; i < NH; i++) {
		struct stat st;
		/* our cgroups must be right under the root: the runner's own */
		if (stat(hs[i].mnt, &st) || cg_path(getpid(), hs[i].ctl, hs[i].mnt, buf, sizeof(buf)))
			continue;
		if (!strcmp(hs[i].ctl, "cpuset") && !cpus[0])
			continue;
		hs[i].on = true;
		nr_on++;
		for (int s = 0; s < 2; s++) {
			snprintf(dir, sizeof(dir), "%s%s%s", hs[i].mnt, top, s ? "/sub" : "");
			if (mkdir(dir, 0755) && errno != EEXIST)
				setup_fail("mkdir %s: %s", dir, strerror(errno));
			for (int k = 0; k < 3 && hs[i].props[k].file; k++)
				if (write_str(dir, hs[i].props[k].file, value(&hs[i].props[k], s)))
					setup_fail("can't set %s/%s: %s", dir, hs[i].props[k].file,
						   strerror(errno));
		}
	}
	if (nr_on < 3)
		setup_fail("fewer than three cgroup hierarchies mounted");
	if (join(top, false))
		setup_fail("can't move into %s: %s", top, strerror(errno));
	if (pipe(p))
		setup_fail("pipe");
	pid_t kid = fork();
	if (kid == 0) {
		test_forked_child();
		close(p[0]);
		if (join(top, true))
			_exit(2);
		close(p[1]);
		while (test_go())
			usleep(10000);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], buf, 1) != 0)
		setup_fail("the child did not start");
	close(p[0]);
	test_daemon();
	test_waitsig();

	const char *want = moved ? moved : top;
	for (size_t i = 0; i < NH; i++) {
		if (!hs[i].on)
			continue;
		for (int s = 0; s < 2; s++) {
			char exp[400];
			snprintf(exp, sizeof(exp), "%s%s", want, s ? "/sub" : "");
			if (cg_path(s ? kid : getpid(), hs[i].ctl, hs[i].mnt, buf, sizeof(buf)))
				fail("no %s line in /proc/%d/cgroup", hs[i].ctl, s ? kid : getpid());
			else if (strcmp(buf, exp))
				fail("%s process in cgroup %s:%s, expected %s", s ? "the child" : "the parent",
				     hs[i].ctl[0] ? hs[i].ctl : "(v2)", buf, exp);
			snprintf(dir, sizeof(dir), "%s%s", hs[i].mnt, exp);
			for (int k = 0; k < 3 && hs[i].props[k].file; k++) {
				const struct prop *pr = &hs[i].props[k];
				bool unset = is_bare(hs[i].ctl);
				if (read_str(dir, pr->file, buf, sizeof(buf)))
					fail_errno("read %s/%s", dir, pr->file);
				else if (unset && !strcmp(buf, value(pr, s)))
					fail("%s/%s reads \"%s\": its controller was not dumped", dir,
					     pr->file, buf);
				else if (!unset && strcmp(buf, value(pr, s)))
					fail("%s/%s reads \"%s\", expected \"%s\"", dir, pr->file, buf,
					     value(pr, s));
			}
		}
	}
	kill(kid, SIGTERM);
	int st;
	if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child did not finish (status 0x%x)", st);
	join("", false);
	cleanup_tree(top);
	if (moved)
		cleanup_tree(moved);
	pass();
	return 0;
}
