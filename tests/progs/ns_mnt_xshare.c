/* ns_mnt_xshare: mounts of a tree's own mount namespace tied by
 * propagation to mounts of cryo's namespace (the dump needs
 * --enable-external-sharing and --enable-external-masters):
 *   - s: a tmpfs of cryo's namespace, its copy in the tree's namespace a
 *     peer of it (same peer group), with a tmpfs of the tree's own under
 *     it (as LXC's container root, shared with mounts under it);
 *   - m: a tmpfs of cryo's namespace, its copy in the tree a slave of it;
 *   - i: a shared tmpfs of the tree's own with a peer ip and a slave is, and
 *     a tmpfs under i (so one under each): each made once at restore, and
 *     i's propagation to ip and is still there.
 * The test makes them (in cryo's namespace, where it starts) under a private
 * directory of ours, unshares its mount namespace, makes it all private
 * and joins the copies to the host's groups (MOVE_MOUNT_SET_GROUP).
 * On SIGTERM (the host's view read through a process of cryo's namespace,
 * found by its /proc/PID/ns/mnt): s is in the host's s group and m a slave of the host's m
 * group (by the group ids in both mountinfo files), a mount under our s
 * shows under the host's s, the tmpfs under s holds its file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static char top[PATH_MAX];

static void xmount(const char *src, const char *dst, const char *fs, unsigned long fl,
		   const char *data)
{
	if (mount(src, dst, fs, fl, data))
		setup_fail("mount(%s, %s, %s, 0x%lx, %s): %s", src ? src : "NULL", dst,
			   fs ? fs : "NULL", fl, data ? data : "NULL", strerror(errno));
}

static char *J(const char *a, const char *b)
{
	static char buf[8][PATH_MAX];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s%s", a, b);
	return buf[k];
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* the "shared:N" and "master:N" of the mount at @mp in @mountinfo (-1:
 * no such mount) */
static int groups(const char *mountinfo, const char *mp, int *shared, int *master)
{
	FILE *f = fopen(mountinfo, "r");
	char line[4096];
	int found = -1;
	while (f && fgets(line, sizeof(line), f)) {
		char p[PATH_MAX];
		if (sscanf(line, "%*d %*d %*s %*s %4095s", p) != 1 || strcmp(p, mp))
			continue;
		char *s = strstr(line, " shared:"), *m = strstr(line, " master:"), *e = strstr(line, " - ");
		*shared = s && s < e ? atoi(s + 8) : 0;
		*master = m && m < e ? atoi(m + 8) : 0;
		found = 0;
	}
	if (f)
		fclose(f);
	return found;
}

/* Detach the mounts under /tmp/ but not under @keep, and those of
 * /run/netns: others' tests' mounts came with our copy of the namespace
 * and may be gone by the restore. */
static void drop_mounts(const char *keep)
{
	static char mps[256][512];
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	while (f && fgets(line, sizeof(line), f) && n < 256) {
		char mp[512];
		if (sscanf(line, "%*d %*d %*s %*s %511s", mp) == 1 &&
		    ((!strncmp(mp, "/tmp/", 5) && strncmp(mp, keep, strlen(keep))) ||
		     !strncmp(mp, "/run/netns/", 11)))
			snprintf(mps[n++], sizeof(mps[0]), "%s", mp);
	}
	if (f)
		fclose(f);
	while (n-- > 0)
		umount2(mps[n], MNT_DETACH);
}

/* A process in the mount namespace with inode @ino (cryo's, where the
 * test started), into @pid as a string; false if none */
static bool host_proc(ino_t ino, char *pid, size_t sz)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;
	while (d && !found && (e = readdir(d))) {
		char p[300];
		struct stat st;
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/ns/mnt", e->d_name);
		if (!stat(p, &st) && st.st_ino == ino) {
			snprintf(pid, sz, "/proc/%s", e->d_name);
			found = true;
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* Mounts and directories of runs whose process is gone (a failed dump
 * leaves the test killed before it cleans up) */
static void drop_stale(void)
{
	static char mps[64][512];
	int n = 0, pid;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], p[600];
	while (f && fgets(line, sizeof(line), f) && n < 64) {
		char mp[512];
		if (sscanf(line, "%*d %*d %*s %*s %511s", mp) == 1 &&
		    sscanf(mp, "/tmp/cryo-ns-xshare-%d", &pid) == 1 && kill(pid, 0) && errno == ESRCH)
			snprintf(mps[n++], sizeof(mps[0]), "%s", mp);
	}
	if (f)
		fclose(f);
	while (n-- > 0)
		umount2(mps[n], MNT_DETACH);
	DIR *d = opendir("/tmp");
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (sscanf(e->d_name, "cryo-ns-xshare-%d", &pid) == 1 && kill(pid, 0) &&
		    errno == ESRCH) {
			snprintf(p, sizeof(p), "/tmp/%s", e->d_name);
			nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		}
	if (d)
		closedir(d);
}

/* how many mounts are at @mp in our namespace */
static int count_mounts(const char *mp)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof(line), f)) {
		char p[PATH_MAX];
		if (sscanf(line, "%*d %*d %*s %*s %4095s", p) == 1 && !strcmp(p, mp))
			n++;
	}
	if (f)
		fclose(f);
	return n;
}

static void set_group(int from, const char *to)
{
	if (syscall(SYS_move_mount, from, "", AT_FDCWD, to,
		    MOVE_MOUNT_SET_GROUP | MOVE_MOUNT_F_EMPTY_PATH))
		setup_fail("move_mount(MOVE_MOUNT_SET_GROUP) to %s: %s", to, strerror(errno));
}

int main(int argc, char **argv)
{
	struct stat nst, a, b;
	ino_t host_mnt = 0;
	int hs, hm, s1, m1, s2, m2;
	char buf[32] = "";

	test_doc = "mounts in peer groups of cryo's namespace, and slaves of one, come back in them";
	test_init(argc, argv);
	if (stat("/proc/self/ns/mnt", &nst))
		setup_fail("stat /proc/self/ns/mnt: %s", strerror(errno));
	host_mnt = nst.st_ino;
	drop_stale();
	snprintf(top, sizeof(top), "/tmp/cryo-ns-xshare-%d", getpid());
	/* in cryo's namespace: our directory private, two shared tmpfs in it */
	if (mkdir(top, 0755) || mkdir(J(top, "/s"), 0755) || mkdir(J(top, "/m"), 0755))
		setup_fail("mkdir %s: %s", top, strerror(errno));
	xmount(top, top, NULL, MS_BIND, NULL);
	xmount(NULL, top, NULL, MS_PRIVATE, NULL);
	xmount("cryo-xs", J(top, "/s"), "tmpfs", 0, "size=64k");
	xmount(NULL, J(top, "/s"), NULL, MS_SHARED, NULL);
	xmount("cryo-xm", J(top, "/m"), "tmpfs", 0, "size=64k");
	xmount(NULL, J(top, "/m"), NULL, MS_SHARED, NULL);
	int fd = open(J(top, "/s/f"), O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, "host", 4) != 4 || close(fd) || mkdir(J(top, "/s/sub"), 0755) ||
	    mkdir(J(top, "/s/p"), 0755))
		setup_fail("files of s: %s", strerror(errno));
	hs = open(J(top, "/s"), O_PATH | O_CLOEXEC);
	hm = open(J(top, "/m"), O_PATH | O_CLOEXEC);
	if (hs < 0 || hm < 0)
		setup_fail("open: %s", strerror(errno));

	/* the tree's namespace: all private, then our copies joined */
	if (unshare(CLONE_NEWNS))
		setup_fail("unshare(CLONE_NEWNS): %s", strerror(errno));
	xmount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	drop_mounts(top);
	/* a tmpfs of the tree's own under s, before s joins (so it stays ours) */
	xmount("cryo-xs-sub", J(top, "/s/sub"), "tmpfs", 0, "size=16k");
	fd = open(J(top, "/s/sub/g"), O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, "ours", 4) != 4 || close(fd))
		setup_fail("file of sub: %s", strerror(errno));
	/* inside the tree: a shared tmpfs i, its peer ip and its slave is,
	 * then a tmpfs under i (propagated: one under each) */
	static const char *const inner[] = { "/i", "/ip", "/is" };
	for (int k = 0; k < 3; k++)
		if (mkdir(J(top, inner[k]), 0755))
			setup_fail("mkdir: %s", strerror(errno));
	xmount("cryo-xi", J(top, "/i"), "tmpfs", 0, "size=64k");
	if (mkdir(J(top, "/i/c"), 0755) || mkdir(J(top, "/i/d"), 0755))
		setup_fail("mkdir: %s", strerror(errno));
	xmount(NULL, J(top, "/i"), NULL, MS_SHARED, NULL);
	xmount(J(top, "/i"), J(top, "/ip"), NULL, MS_BIND, NULL);
	xmount(J(top, "/i"), J(top, "/is"), NULL, MS_BIND, NULL);
	xmount(NULL, J(top, "/is"), NULL, MS_SLAVE, NULL);
	xmount("cryo-xi-c", J(top, "/i/c"), "tmpfs", 0, "size=16k");
	set_group(hs, J(top, "/s"));
	set_group(hm, J(top, "/m"));
	xmount(NULL, J(top, "/m"), NULL, MS_SLAVE, NULL);
	close(hs);
	close(hm);
	char host[64], hmi[80], hroot[80];
	if (!host_proc(host_mnt, host, sizeof(host)))
		setup_fail("no process in our first mount namespace (cryo's) is left");
	snprintf(hmi, sizeof(hmi), "%s/mountinfo", host);
	if (groups("/proc/self/mountinfo", J(top, "/s"), &s1, &m1) ||
	    groups(hmi, J(top, "/s"), &s2, &m2) || !s1 || s1 != s2)
		setup_fail("our s is not in the host's s group");

	test_daemon();
	test_waitsig();

	/* a process of cryo's namespace (the runner's, ...) shows its mounts */
	if (!host_proc(host_mnt, host, sizeof(host))) {
		fail("no process of cryo's mount namespace is left to compare with");
		return test_verdict();
	}
	snprintf(hmi, sizeof(hmi), "%s/mountinfo", host);
	snprintf(hroot, sizeof(hroot), "%s/root", host);

	if (groups("/proc/self/mountinfo", J(top, "/s"), &s1, &m1) ||
	    groups(hmi, J(top, "/s"), &s2, &m2))
		fail("s is not mounted, here or on the host");
	else if (!s1 || s1 != s2)
		fail("our s is in peer group %d, the host's s in %d: not peers", s1, s2);
	if (groups("/proc/self/mountinfo", J(top, "/m"), &s1, &m1) ||
	    groups(hmi, J(top, "/m"), &s2, &m2))
		fail("m is not mounted, here or on the host");
	else if (s1 || !m1 || m1 != s2)
		fail("our m is shared:%d master:%d, the host's m shared:%d: not its slave", s1, m1,
		     s2);
	/* propagation out: a mount under our s is under the host's s */
	if (mount("cryo-xs-p", J(top, "/s/p"), "tmpfs", 0, "size=4k"))
		fail_errno("mount under %s/s", top);
	else {
		if (stat(J(hroot, J(top, "/s/p")), &a) || stat(J(hroot, J(top, "/s")), &b) ||
		    a.st_dev == b.st_dev)
			fail("a mount under our s did not propagate to the host's s");
		umount2(J(top, "/s/p"), MNT_DETACH);
	}
	/* the tree's own group: each copy of i/c once, and propagation still
	 * i -> ip, is; not is -> i */
	for (int k = 0; k < 3; k++) {
		char mp[PATH_MAX];
		snprintf(mp, sizeof(mp), "%s%s/c", top, inner[k]);
		int n = count_mounts(mp);
		if (n != 1)
			fail("%d mounts at %s after the restore, not 1", n, mp);
	}
	if (groups("/proc/self/mountinfo", J(top, "/i"), &s1, &m1) ||
	    groups("/proc/self/mountinfo", J(top, "/ip"), &s2, &m2) || !s1 || s1 != s2 || m1 || m2)
		fail("i and ip are not peers of a group of the tree's");
	if (groups("/proc/self/mountinfo", J(top, "/is"), &s2, &m2) || s2 || m2 != s1)
		fail("is is not a slave of i's group (shared:%d master:%d)", s2, m2);
	if (mount("cryo-xi-d", J(top, "/i/d"), "tmpfs", 0, "size=4k"))
		fail_errno("mount under %s/i", top);
	else if (count_mounts(J(top, "/ip/d")) != 1 || count_mounts(J(top, "/is/d")) != 1)
		fail("a mount under i did not propagate to its peer and its slave once each");
	fd = open(J(top, "/s/sub/g"), O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 4 || memcmp(buf, "ours", 4))
		fail("the tmpfs under s lost its file");
	if (fd >= 0)
		close(fd);
	fd = open(J(top, "/s/f"), O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 4 || memcmp(buf, "host", 4))
		fail("s is not the host's tmpfs");
	if (fd >= 0)
		close(fd);
	/* clean up in cryo's namespace */
	char nsp[80];
	snprintf(nsp, sizeof(nsp), "%s/ns/mnt", host);
	int ns = open(nsp, O_RDONLY | O_CLOEXEC);
	if (ns >= 0 && !fstat(ns, &nst) && nst.st_ino == host_mnt && !setns(ns, CLONE_NEWNS)) {
		umount2(J(top, "/s"), MNT_DETACH);
		umount2(J(top, "/m"), MNT_DETACH);
		umount2(top, MNT_DETACH);
		nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	}
	if (ns >= 0)
		close(ns);
	return test_verdict();
}
