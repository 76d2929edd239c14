/* ns_user: the tree runs in a user namespace of its own, as a rootless or
 * user-namespaced container does.  Before test_init (so the launcher and
 * the test process are both inside), the program forks a helper that
 * stays in the runner's namespace, unshares CLONE_NEWUSER (with --all
 * also CLONE_NEWNET|NEWIPC|NEWUTS|NEWNS in the same call, so they are
 * owned by the new user namespace, and the launcher then unshares the PID
 * namespace from inside it: TEST_NEW_PIDNS), and the helper writes the
 * maps (setgroups first with --deny).  The test process then takes
 * credentials inside: uid 0/0/7, gid 0/0/8, groups {0,3,9} (not with
 * --deny: the kernel refuses setgroups there), CAP_SYS_BOOT dropped from
 * its permitted set, CAP_NET_RAW from its effective set, CAP_SYS_MODULE
 * from its bounding set, CAP_CHOWN added to its inheritable set.
 * It creates, in its working directory, a file owned by 1000:1001 (as
 * seen inside) that it keeps open, and an open file owned by 5:6 that it
 * unlinks (the restore recreates it).
 * On SIGTERM, after the restore, it checks: its uid_map, gid_map and
 * setgroups read as before and as configured (so the host ids are the
 * same); its ids, groups and capability sets; the owners of both files
 * (fstat and, for the linked one, stat of its name) and their contents;
 * its user namespace's owner uid is the same as before (NS_GET_OWNER_UID).  With --all also:
 * it is PID 1, each of its pid, net, ipc, uts and mnt namespaces is owned
 * by its user namespace (NS_GET_USERNS), the host name it set, a tmpfs it
 * mounted with a file owned by 1000 in it (and one under the mount point
 * of a tmpfs mounted in it), and a child C (uid 1000, no
 * capabilities left) reports its ids and capabilities over a pipe.
 *   --maps2    maps of several lines (uid 0 200000 1000 / 1000 300000 10
 *              / 1010 201010 64526; gid 0 200000 5 / 5 400000 5 / 10
 *              200010 65526) instead of 0 100000 65536
 *   --deny     setgroups "deny" before the gid map
 *   --all      pid, mnt, net, ipc and uts namespaces owned by it, and C
 * Must be refused at dump:
 *   --nested   the user namespace is nested below another new one
 *   --childns  (with --all) a child in a user namespace of its own
 *   --forkc    (without --all) a child, in the runner's PID namespace
 *   --netfirst a network namespace made before the user namespace (owned
 *              by the runner's) */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool maps2, deny, all, nested, childns, forkc, netfirst;
TEST_OPTION(maps2, bool, "maps of several lines", 0);
TEST_OPTION(deny, bool, "setgroups deny", 0);
TEST_OPTION(all, bool, "pid, mnt, net, ipc, uts namespaces owned by the user namespace", 0);
TEST_OPTION(nested, bool, "a nested user namespace (refused)", 0);
TEST_OPTION(childns, bool, "a child in another user namespace (refused)", 0);
TEST_OPTION(forkc, bool, "a child without a PID namespace (refused)", 0);
TEST_OPTION(netfirst, bool, "a network namespace owned by the runner's (refused)", 0);

static const char *uid_map1 = "0 100000 65536\n", *gid_map1 = "0 100000 65536\n";
static const char *uid_map2 = "0 200000 1000\n1000 300000 10\n1010 201010 64526\n";
static const char *gid_map2 = "0 200000 5\n5 400000 5\n10 200010 65526\n";

static bool has_arg(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static const char *arg_value(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* "a b c\n" lines, whitespace-normalized, for comparing map texts */
static void normalize(const char *in, char *out, size_t size)
{
	unsigned long a, b, c;
	int used;
	size_t len = 0;
	out[0] = '\0';
	while (sscanf(in, " %lu %lu %lu%n", &a, &b, &c, &used) == 3 && len < size) {
		len += snprintf(out + len, size - len, "%lu %lu %lu\n", a, b, c);
		in += used;
	}
}

/* Unshare a user namespace (and @flags) and have a helper that stays
 * outside write its maps. */
static void enter_userns(int flags, const char *uid_map, const char *gid_map, bool sg_deny)
{
	int p[2];
	pid_t self = getpid();
	if (pipe(p))
		setup_fail("pipe: %s", strerror(errno));
	pid_t h = fork();
	if (h < 0)
		setup_fail("fork: %s", strerror(errno));
	if (!h) {
		char c, path[64];
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		snprintf(path, sizeof(path), "/proc/%d/setgroups", self);
		if (sg_deny && write_file(path, "deny"))
			_exit(3);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", self);
		if (write_file(path, uid_map))
			_exit(4);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", self);
		if (write_file(path, gid_map))
			_exit(5);
		_exit(0);
	}
	close(p[0]);
	if (unshare(CLONE_NEWUSER | flags))
		setup_fail("unshare(CLONE_NEWUSER | %#x): %s", flags, strerror(errno));
	int st;
	if (write(p[1], "x", 1) != 1 || waitpid(h, &st, 0) != h || !WIFEXITED(st) ||
	    WEXITSTATUS(st))
		setup_fail("the helper could not write the maps (status %#x)", st);
	close(p[1]);
	/* root inside (a process whose ids are unmapped can't make a user
	 * namespace below: --nested) */
	if (setresgid(0, 0, 0) || setresuid(0, 0, 0))
		setup_fail("taking root's ids in the new user namespace: %s", strerror(errno));
	/* the id change made us non-dumpable: /proc/self would be the host
	 * root's, out of reach of the next level's helper */
	prctl(PR_SET_DUMPABLE, 1);
}

/* In a mount namespace of our own, still the runner's user namespace's
 * (where nothing is locked): drop the mounts under /tmp, /run and /work,
 * where other tests mount and unmount theirs -- the tree's copy must not
 * name a host mount that is gone at the restore. */
static void quiet_mounts(void)
{
	static char mp[512][256];
	char line[4096];
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return;
	while (n < 512 && fgets(line, sizeof(line), f)) {
		char point[256];
		if (sscanf(line, "%*s %*s %*s %*s %255s", point) == 1 &&
		    (!strncmp(point, "/tmp/", 5) || !strncmp(point, "/run/", 5) ||
		     !strncmp(point, "/work/", 6)))
			snprintf(mp[n++], sizeof(mp[0]), "%s", point);
	}
	fclose(f);
	for (int i = n - 1; i >= 0; i--)	/* children (listed later) first */
		umount2(mp[i], MNT_DETACH);
}

static ino_t ino_of(const char *path)
{
	struct stat s;
	return stat(path, &s) ? 0 : s.st_ino;
}

/* inode of the namespace @req (NS_GET_USERNS, NS_GET_PARENT) gives for @path */
static ino_t ns_rel(const char *path, unsigned long req)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int r = ioctl(fd, req);
	close(fd);
	if (r < 0)
		return 0;
	struct stat s;
	ino_t ino = fstat(r, &s) ? 0 : s.st_ino;
	close(r);
	return ino;
}

static long owner_uid(void)
{
	int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	uid_t u;
	if (fd < 0)
		return -1;
	int r = ioctl(fd, NS_GET_OWNER_UID, &u);
	close(fd);
	return r ? -1 : (long)u;
}

struct caps {
	uint64_t eff, prm, inh;
};

static int get_caps(struct caps *c)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return -1;
	c->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	c->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int set_caps(const struct caps *c)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh },
		{ (uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32) },
	};
	return syscall(SYS_capset, &h, d);
}

#define BIT(c) (1ULL << (c))

struct report {
	uid_t r, e, s;
	gid_t gr, ge, gs;
	uint64_t eff, prm;
};

static void child_c(int req, int resp)
{
	gid_t g = 1000;
	if ((!deny && setgroups(1, &g)) || setresgid(1000, 1000, 1000) ||
	    setresuid(1000, 1000, 1000))
		_exit(1);
	for (;;) {
		char c;
		struct report r;
		struct caps k;
		if (read(req, &c, 1) != 1)
			_exit(0);
		getresuid(&r.r, &r.e, &r.s);
		getresgid(&r.gr, &r.ge, &r.gs);
		get_caps(&k);
		r.eff = k.eff;
		r.prm = k.prm;
		if (write(resp, &r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
}

static void check_ids(const char *when, const gid_t *groups0, int ngroups0)
{
	uid_t r, e, s;
	gid_t gr, ge, gs, groups[64];
	struct caps c;
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	if (r != 0 || e != 0 || s != 7)
		fail("%s: uids are %u/%u/%u, expected 0/0/7", when, r, e, s);
	if (gr != 0 || ge != 0 || gs != 8)
		fail("%s: gids are %u/%u/%u, expected 0/0/8", when, gr, ge, gs);
	int n = getgroups(64, groups);
	bool same = n == ngroups0;
	for (int i = 0; same && i < n; i++)
		same = groups[i] == groups0[i];
	if (!same)
		fail("%s: %d supplementary groups (first %u), expected %d (first %u)", when, n,
		     n > 0 ? groups[0] : 0, ngroups0, ngroups0 > 0 ? groups0[0] : 0);
	if (get_caps(&c))
		fail_errno("%s: capget", when);
	else if ((c.prm & BIT(CAP_SYS_BOOT)) || (c.eff & BIT(CAP_NET_RAW)) ||
		 !(c.prm & BIT(CAP_NET_RAW)) || !(c.eff & BIT(CAP_SYS_ADMIN)) ||
		 !(c.inh & BIT(CAP_CHOWN)) || (c.inh & BIT(CAP_SYS_ADMIN)))
		fail("%s: capabilities eff %#llx prm %#llx inh %#llx are not the ones set", when,
		     (unsigned long long)c.eff, (unsigned long long)c.prm,
		     (unsigned long long)c.inh);
	if (prctl(PR_CAPBSET_READ, CAP_SYS_MODULE) != 0 || prctl(PR_CAPBSET_READ, CAP_KILL) != 1)
		fail("%s: bounding set: CAP_SYS_MODULE %d (expected 0), CAP_KILL %d (expected 1)",
		     when, prctl(PR_CAPBSET_READ, CAP_SYS_MODULE), prctl(PR_CAPBSET_READ, CAP_KILL));
}

static void check_owner(const char *what, const struct stat *s, uid_t u, gid_t g)
{
	if (s->st_uid != u || s->st_gid != g)
		fail("%s is owned by %u:%u inside, expected %u:%u", what, s->st_uid, s->st_gid, u, g);
}

int main(int argc, char **argv)
{
	static char mem[1 << 16];
	char path[4400], dir[4096], f1[4200], f2[4200], mnt[4200];
	char uid0[4096], gid0[4096], sg0[32], buf[4096], want[4096];
	gid_t groups0[64];
	int ngroups0;
	const char *um, *gm;

	test_doc = "a tree in a user namespace of its own (and namespaces it owns) comes back";
	/* what must happen before test_init (the launcher must be inside) */
	all = has_arg(argc, argv, "--all");
	maps2 = has_arg(argc, argv, "--maps2");
	deny = has_arg(argc, argv, "--deny");
	nested = has_arg(argc, argv, "--nested");
	netfirst = has_arg(argc, argv, "--netfirst");
	um = maps2 ? uid_map2 : uid_map1;
	gm = maps2 ? gid_map2 : gid_map1;
	uid_t host_uid0 = maps2 ? 200000 : 100000;
	gid_t host_gid0 = maps2 ? 200000 : 100000;
	/* inside, root is a host uid that the runner's files don't belong to:
	 * the output file and the pidfile's directory become its own */
	const char *out = arg_value(argc, argv, "--outfile");
	const char *pidf = arg_value(argc, argv, "--pidfile");
	if (!out || !pidf) {
		fprintf(stderr, "ns_user: --pidfile and --outfile are needed\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", pidf);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	int ofd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (ofd < 0 || fchown(ofd, host_uid0, host_gid0) || chown(dir, host_uid0, host_gid0)) {
		fprintf(stderr, "ns_user: can't hand %s and %s to uid %u: %s\n", out, dir, host_uid0,
			strerror(errno));
		return 1;
	}
	close(ofd);
	if (all && (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))) {
		fprintf(stderr, "ns_user: a mount namespace to clean: %s\n", strerror(errno));
		return 1;
	}
	if (all)
		quiet_mounts();
	if (netfirst && unshare(CLONE_NEWNET)) {
		fprintf(stderr, "ns_user: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 1;
	}
	enter_userns(all ? CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS : 0, um, gm,
		     deny);
	if (nested)	/* a second level, mapped 1:1 onto the first */
		enter_userns(0, "0 0 65536\n", "0 0 65536\n", false);
	if (all) {
		test_flags |= TEST_NEW_PIDNS;
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
			fprintf(stderr, "ns_user: making mounts private: %s\n", strerror(errno));
			return 1;
		}
	}
	test_init(argc, argv);
	pattern_fill(mem, sizeof(mem), 31);

	/* credentials inside */
	gid_t g[3] = { 0, 3, 9 };
	if ((!deny && setgroups(3, g)) || setresgid(0, 0, 8) || setresuid(0, 0, 7))
		setup_fail("setting ids inside: %s", strerror(errno));
	struct caps c;
	if (get_caps(&c))
		setup_fail("capget: %s", strerror(errno));
	c.prm &= ~BIT(CAP_SYS_BOOT);
	c.eff &= ~(BIT(CAP_SYS_BOOT) | BIT(CAP_NET_RAW));
	c.inh = BIT(CAP_CHOWN);
	if (set_caps(&c) || prctl(PR_CAPBSET_DROP, CAP_SYS_MODULE))
		setup_fail("capset/PR_CAPBSET_DROP: %s", strerror(errno));
	ngroups0 = getgroups(64, groups0);
	if (ngroups0 < 0)
		setup_fail("getgroups: %s", strerror(errno));
	if (!deny && ngroups0 != 3)
		setup_fail("%d groups after setgroups of 3", ngroups0);

	if (read_text("/proc/self/uid_map", uid0, sizeof(uid0)) ||
	    read_text("/proc/self/gid_map", gid0, sizeof(gid0)) ||
	    read_text("/proc/self/setgroups", sg0, sizeof(sg0)))
		setup_fail("reading the maps: %s", strerror(errno));
	long owner0 = owner_uid();

	/* files it owns */
	snprintf(f1, sizeof(f1), "%s/ns_user.own", dir);
	snprintf(f2, sizeof(f2), "%s/ns_user.ghost", dir);
	unlink(f1);
	int fd1 = open(f1, O_RDWR | O_CREAT | O_TRUNC, 0640);
	int fd2 = open(f2, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd1 < 0 || fd2 < 0 || write(fd1, "own", 3) != 3 || write(fd2, "ghost", 5) != 5 ||
	    fchown(fd1, 1000, 1001) || fchown(fd2, 5, 6) || unlink(f2))
		setup_fail("making the files in %s: %s", dir, strerror(errno));

	int req[2], resp[2];
	pid_t kid = 0;
	ino_t user0 = ino_of("/proc/self/ns/user");
	static const char *const owned[] = { "pid", "net", "ipc", "uts", "mnt" };
	if (all) {
		if (sethostname("cryo-uns", 8))
			setup_fail("sethostname: %s", strerror(errno));
		snprintf(mnt, sizeof(mnt), "%s/ns_user.tmpfs", dir);
		mkdir(mnt, 0755);
		if (mount("uns", mnt, "tmpfs", 0, "size=1m,mode=0755"))
			setup_fail("mounting a tmpfs on %s: %s", mnt, strerror(errno));
		snprintf(path, sizeof(path), "%s/x", mnt);
		int fd = open(path, O_WRONLY | O_CREAT, 0644);
		if (fd < 0 || write(fd, "tmpfs", 5) != 5 || fchown(fd, 1000, 1000) || close(fd))
			setup_fail("a file in the tmpfs: %s", strerror(errno));
		/* a file under a mount point of the tmpfs: saved through a clone of
		 * the tmpfs alone, made in the user namespace (lib/ns/mnt_clean.c) */
		snprintf(path, sizeof(path), "%s/d", mnt);
		mkdir(path, 0750);
		snprintf(path, sizeof(path), "%s/d/under", mnt);
		fd = open(path, O_WRONLY | O_CREAT, 0644);
		if (fd < 0 || write(fd, "under", 5) != 5 || close(fd))
			setup_fail("a file in the tmpfs: %s", strerror(errno));
		snprintf(path, sizeof(path), "%s/d", mnt);
		if (mount("uns2", path, "tmpfs", 0, "size=64k,mode=0700"))
			setup_fail("mounting a tmpfs on %s: %s", path, strerror(errno));
		for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
			snprintf(path, sizeof(path), "/proc/self/ns/%s", owned[i]);
			if (ns_rel(path, NS_GET_USERNS) != user0)
				setup_fail("the %s namespace is not owned by the new user namespace",
					   owned[i]);
		}
		if (pipe(req) || pipe(resp))
			setup_fail("pipe: %s", strerror(errno));
		kid = fork();
		if (kid < 0)
			setup_fail("fork: %s", strerror(errno));
		if (!kid) {
			test_forked_child();
			child_c(req[0], resp[1]);
		}
	}
	pid_t other = 0;
	if (childns || forkc) {
		other = fork();
		if (other < 0)
			setup_fail("fork: %s", strerror(errno));
		if (!other) {
			test_forked_child();
			if (childns && unshare(CLONE_NEWUSER))
				_exit(1);
			for (;;)
				pause();
		}
	}

	test_daemon();
	test_waitsig();

	if (pattern_check(mem, sizeof(mem), 31) >= 0)
		fail("memory changed");
	check_ids("after the restore", groups0, ngroups0);
	if (read_text("/proc/self/uid_map", buf, sizeof(buf)) || strcmp(buf, uid0))
		fail("uid_map reads \"%s\", it was \"%s\"", buf, uid0);
	normalize(buf, want, sizeof(want));
	if (!nested && strcmp(want, um))
		fail("uid_map is \"%s\", configured \"%s\"", want, um);
	if (read_text("/proc/self/gid_map", buf, sizeof(buf)) || strcmp(buf, gid0))
		fail("gid_map reads \"%s\", it was \"%s\"", buf, gid0);
	normalize(buf, want, sizeof(want));
	if (!nested && strcmp(want, gm))
		fail("gid_map is \"%s\", configured \"%s\"", want, gm);
	if (read_text("/proc/self/setgroups", buf, sizeof(buf)) || strcmp(buf, sg0))
		fail("setgroups reads \"%s\", it was \"%s\"", buf, sg0);
	if (strncmp(sg0, deny ? "deny" : "allow", deny ? 4 : 5))
		fail("setgroups is \"%s\", expected %s", sg0, deny ? "deny" : "allow");
	/* (NS_GET_PARENT of its own user namespace is refused inside: the
	 * maps' lower ids, the runner's, say who the parent is) */
	if (owner_uid() != owner0)
		fail("the user namespace's owner uid is %ld, it was %ld", owner_uid(), owner0);

	struct stat s;
	if (fstat(fd1, &s))
		fail_errno("fstat of the kept file");
	else
		check_owner("the kept file (fstat)", &s, 1000, 1001);
	if (stat(f1, &s))
		fail_errno("stat %s", f1);
	else
		check_owner(f1, &s, 1000, 1001);
	if (fstat(fd2, &s))
		fail_errno("fstat of the unlinked file");
	else
		check_owner("the unlinked file", &s, 5, 6);
	if (pread(fd1, buf, 3, 0) != 3 || memcmp(buf, "own", 3) ||
	    pread(fd2, buf, 5, 0) != 5 || memcmp(buf, "ghost", 5))
		fail("the files' contents changed");

	if (all) {
		ino_t user = ino_of("/proc/self/ns/user");
		if (getpid() != 1)
			fail("getpid() is %d, not 1", getpid());
		for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
			snprintf(path, sizeof(path), "/proc/self/ns/%s", owned[i]);
			if (ns_rel(path, NS_GET_USERNS) != user)
				fail("the %s namespace is not owned by the user namespace after the "
				     "restore", owned[i]);
		}
		if (gethostname(buf, sizeof(buf)) || strcmp(buf, "cryo-uns"))
			fail("host name \"%s\", expected cryo-uns", buf);
		snprintf(path, sizeof(path), "%s/x", mnt);
		int fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &s) || read(fd, buf, 5) != 5 || memcmp(buf, "tmpfs", 5))
			fail_errno("the tmpfs file %s", path);
		else
			check_owner(path, &s, 1000, 1000);
		if (fd >= 0)
			close(fd);
		snprintf(path, sizeof(path), "%s/d", mnt);
		if (umount2(path, MNT_DETACH))
			fail_errno("umount %s", path);
		snprintf(path, sizeof(path), "%s/d/under", mnt);
		fd = open(path, O_RDONLY);
		if (fd < 0 || read(fd, buf, 5) != 5 || memcmp(buf, "under", 5))
			fail_errno("the file %s under a mount point of the tmpfs", path);
		if (fd >= 0)
			close(fd);
		struct report r;
		if (write(req[1], "?", 1) != 1 || read(resp[0], &r, sizeof(r)) != sizeof(r))
			fail_errno("child C does not answer");
		else if (r.r != 1000 || r.e != 1000 || r.s != 1000 || r.gr != 1000 ||
			 r.ge != 1000 || r.gs != 1000 || r.eff || r.prm)
			fail("child C: uids %u/%u/%u gids %u/%u/%u caps eff %#llx prm %#llx, expected "
			     "1000 and none", r.r, r.e, r.s, r.gr, r.ge, r.gs,
			     (unsigned long long)r.eff, (unsigned long long)r.prm);
		if (kid > 0) {
			kill(kid, SIGKILL);
			waitpid(kid, NULL, 0);
		}
		umount2(mnt, MNT_DETACH);
	}
	if (other > 0) {
		kill(other, SIGKILL);
		waitpid(other, NULL, 0);
	}
	unlink(f1);
	pass();
	return 0;
}
