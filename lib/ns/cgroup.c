/* Cgroup namespaces: the namespace's root, so that /proc/self/cgroup reads
 * the same inside after a restore.  A cgroup namespace's root is, in each
 * hierarchy, the cgroup its creator was in when it made it (for clone3
 * the parent's: copy_cgroup_ns runs before CLONE_INTO_CGROUP moves the
 * child), and /proc/PID/cgroup shows paths relative to the reader's root.
 *
 * cryo restores every task into its own cgroups (lib/dump check_cgroups)
 * and makes the root's new cgroup namespace with clone3(CLONE_NEWCGROUP),
 * so the new root is cryo's cgroup, where the root task lives (with
 * --manage-cgroups cryo enters the root's cgroups for the clone and goes
 * back after: lib/restore create_root): inside it reads "/" in every
 * hierarchy.  That is the same program only when the
 * dumped namespace's root was the task's own cgroup (a container's usual
 * case: the runtime unshares in the container's cgroup), so the dump
 * checks just that and refuses any other; criu's cgroup.img would hold
 * the prefix (cg_member_entry.cgns_prefix), which cryo does not write yet. */
#include "ns/ns-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read /proc/@pid/cgroup from inside the cgroup namespace @set holds
 * (or @pid's own, @set NULL): *@bad gets the first line whose path is not
 * "/" (malloc'd, or NULL). */
static int cg_lines_not_root(const struct ns_desc *d, const struct ns_set *set, pid_t pid,
			     char **bad)
{
	char path[48], *buf = NULL;
	int back = -1;

	*bad = NULL;
	int ret = set ? ns_enter(set, d, &back) : ns_enter_pid(d, pid, &back);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	ret = read_file(AT_FDCWD, path, &buf, false);
	int r2 = ns_leave(d, back);
	if (ret < 0)
		return log_errno(ret, "can't read %s inside its cgroup namespace", path);
	if (r2) {
		free(buf);
		return r2;
	}
	ret = 0;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		/* "ID:CONTROLLERS:PATH"; the path may hold ':' */
		char *p = strchr(line, ':');
		p = p ? strchr(p + 1, ':') : NULL;
		if (!p) {
			pr_err("%s: a line cryo can't read (\"%s\")", path, line);
			ret = -EINVAL;
			break;
		}
		if (strcmp(p + 1, "/")) {
			*bad = strdup(line);
			ret = *bad ? 0 : -ENOMEM;
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	return ret;
}

int cgroupns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id)
{
	char *bad;
	(void)st;
	int ret = cg_lines_not_root(d, NULL, pid, &bad);
	if (ret)
		return ret;
	if (bad) {
		pr_err("process %d is in a cgroup namespace whose root is not its cgroup: inside it, "
		       "/proc/%d/cgroup reads \"%s\" (a path other than \"/\": the process moved "
		       "after the namespace was made, or was put in it from elsewhere); cryo makes the "
		       "restored tree's cgroup namespace at the cgroup it restores the root into, where "
		       "it would read \"/\", and can't restore another root yet; dump a tree that runs "
		       "in the cgroup its namespace was made in", pid, pid, bad);
		free(bad);
		return -EOPNOTSUPP;
	}
	pr_info("cgroup namespace %u (of process %d): rooted at the process's cgroups", id, pid);
	return 0;
}

int cgroupns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	/* clone3 made it at the cgroups cryo was in for it, where the root is
	 * born (and stays until it is placed): the root's cgroups, read from
	 * inside, must be its root ("/"). */
	char *bad;
	(void)dirfd;
	int ret = cg_lines_not_root(d, set, set->root, &bad);
	if (ret)
		return ret;
	if (bad) {
		pr_err("the tree's new cgroup namespace (cgroup_ns_id %u) is not rooted at the "
		       "root's cgroups: the root's read \"%s\" inside it, not \"/\"", id, bad);
		free(bad);
		return -EIO;
	}
	return 0;
}
