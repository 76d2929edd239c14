/* ns_mnt: a tree in a mount namespace of its own (the test unshares it and
 * makes / private) comes back in a new one with the same mounts:
 *   - a tmpfs (size and mode options) with files, a directory, a symlink
 *     and a device node: contents, modes, owners, device numbers;
 *   - a bind of a host directory, and another remounted read-only,
 *     nosuid, nodev; a host file bound on a file;
 *   - a shared tmpfs, a bind of it (its peer) and another made a slave:
 *     the peer group and the master, checked by mounting under each after
 *     the restore; an unbindable tmpfs;
 *   - a bind of a host directory over-mounted by a tmpfs;
 *   - a new proc instance, a new devpts instance with its ptmx bound on a
 *     file, an mqueue, a sysfs and a cgroup2 (the last two the host's);
 *   - descriptors on files of the tmpfs, the bind, the read-only bind
 *     and the over-mount, and the working directory in the tmpfs;
 *   - a unix socket listening on a path in the tmpfs, with a connection;
 *   - a deleted file of the tmpfs held open.
 * On SIGTERM /proc/self/mountinfo must list the same mounts (mount point,
 * fs type, root, mount and super-block options, propagation between
 * them) in the same order, and each file and descriptor must be as left.
 *   --pivot    the same in a container root: /tmp/cryo-mntns-rootfs (a
 *              host directory bound on itself) with /usr bound read-only,
 *              the test's own directories bound in, a proc and a tmpfs,
 *              made the root by pivot_root
 *   --overlay  also mount a private overlayfs (layers on the host disk)
 *   --skip /unb  the dump is given --skip-mnt for our unbindable mount: it
 *              must be gone after the restore
 *   --linked   also hold open a file of the tmpfs whose name was removed
 *              but that has another (refused)
 *   --more     also: a mount point whose path has a space and a tab; a
 *              tmpfs with files remounted read-only; a tmpfs over-mounted
 *              by another (its files come back under it); a
 *              bind of a subdirectory of our tmpfs; a read-only bind of a
 *              writable tmpfs; a mount both slave and shared; tmpfs
 *              options (uid, gid, nr_inodes, noexec, noatime); a tmpfs
 *              nested in a tmpfs (a file under its mount point); a file
 *              of our tmpfs bound on another
 *   --hidfd    with --more, a descriptor on a file of the hidden tmpfs
 *              (refused: the restore reopens files by path) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

/* paths here are short; a truncated one fails the test where it is used */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static bool pivot;
TEST_OPTION(pivot, bool, "run in a pivot_root'ed container root", 0);
static bool overlay;
TEST_OPTION(overlay, bool, "also mount a private overlayfs", 0);
static char *skip = "";
TEST_OPTION(skip, string, "a mount of ours the dump leaves out (--skip-mnt): /unb", 0);
static bool more;
TEST_OPTION(more, bool, "also the mounts of --more (see the top comment)", 0);
static bool hidfd;
TEST_OPTION(hidfd, bool, "with --more, hold a file of the hidden tmpfs open (refused)", 0);
static bool linked;
TEST_OPTION(linked, bool, "also hold open a file renamed by a link and an unlink", 0);

#define ROOTFS "/tmp/cryo-mntns-rootfs"
#define MAXM 64
#define A_SIZE 10000

static char base[PATH_MAX];	/* where our mounts are, as the test sees it */
static char before[MAXM][1024];
static int nr_before;

static void xmount(const char *src, const char *dst, const char *fs, unsigned long fl,
		   const char *data)
{
	if (mount(src, dst, fs, fl, data))
		setup_fail("mount(%s, %s, %s, 0x%lx, %s): %s", src ? src : "NULL", dst,
			   fs ? fs : "NULL", fl, data ? data : "NULL", strerror(errno));
}

static void xmkdir(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	if (mkdir(buf, mode) && errno != EEXIST)
		setup_fail("mkdir %s: %s", buf, strerror(errno));
	chmod(buf, mode);
}

static void write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		setup_fail("write %s: %s", path, strerror(errno));
	close(fd);
	chmod(path, mode);
}

static char *P(const char *rel)
{
	static char buf[8][PATH_MAX];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s%s", base, rel);
	return buf[k];
}

/* mountinfo lines of our mounts, without ids and devices; peer groups
 * renamed by first appearance so two namespaces compare */
static int snapshot(char out[][1024])
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int groups[MAXM * 2], nr_groups = 0, n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < MAXM) {
		char root[1024], mp[1024], opts[256], rest[2048];
		if (sscanf(line, "%*d %*d %*s %1023s %1023s %255s %2047[^\n]", root, mp, opts,
			   rest) != 4)
			continue;
		if (!pivot && strncmp(mp, base, strlen(base)))
			continue;
		if (skip[0] && !strcmp(mp, P(skip)))
			continue;
		char prop[256] = "", *p = rest, *tok;
		while ((tok = strsep(&p, " ")) && strcmp(tok, "-")) {
			int g;
			const char *kind = !strncmp(tok, "shared:", 7) ? "shared" :
					   !strncmp(tok, "master:", 7) ? "master" : NULL;
			if (!kind) {
				strncat(prop, tok, sizeof(prop) - strlen(prop) - 2);
				strcat(prop, " ");
				continue;
			}
			g = atoi(tok + 7);
			int k = 0;
			while (k < nr_groups && groups[k] != g)
				k++;
			if (k == nr_groups && nr_groups < MAXM * 2)
				groups[nr_groups++] = g;
			char t[48];
			snprintf(t, sizeof(t), "%s:G%d ", kind, k);
			strncat(prop, t, sizeof(prop) - strlen(prop) - 1);
		}
		/* p: "FSTYPE SOURCE SBOPTS" */
		char fs[64] = "", src[512] = "", sbo[1024] = "";
		if (p)
			sscanf(p, "%63s %511s %1023s", fs, src, sbo);
		snprintf(out[n++], 1024, "%s %s %s %s[%s] %s", mp, fs, root, prop, opts, sbo);
	}
	fclose(f);
	return n;
}

static void check_file(const char *path, mode_t mode, uid_t uid, gid_t gid, const void *data,
		       size_t len)
{
	struct stat st;
	char buf[A_SIZE + 16];
	if (lstat(path, &st)) {
		fail_errno("stat %s", path);
		return;
	}
	if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid)
		fail("%s: mode 0%o owner %d:%d, not 0%o %d:%d", path, st.st_mode & 07777,
		     st.st_uid, st.st_gid, mode, uid, gid);
	if (!data)
		return;
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)len || memcmp(buf, data, len))
		fail("%s: contents differ (%zd bytes, want %zu)", path, n, len);
}

static void same_file(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) || stat(path, &b)) {
		fail_errno("stat fd %d / %s", fd, path);
		return;
	}
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		fail("fd %d is %lu:%lu, but %s is %lu:%lu: not the same file", fd,
		     (unsigned long)a.st_dev, (unsigned long)a.st_ino, path,
		     (unsigned long)b.st_dev, (unsigned long)b.st_ino);
}

static bool is_mountpoint(const char *path)
{
	char up[PATH_MAX];
	struct stat a, b;
	snprintf(up, sizeof(up), "%s/..", path);
	return !stat(path, &a) && !stat(up, &b) && a.st_dev != b.st_dev;
}

/* Detach the mounts under @prefix but not under @keep (NULL: none kept).
 * Others' tests' mounts under /tmp came with our copy of the namespace:
 * they are not ours, and may be gone by the restore. */
static void drop_mounts(const char *prefix, const char *keep)
{
	char mps[256][512];
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	while (f && fgets(line, sizeof(line), f) && n < 256) {
		char mp[512];
		if (sscanf(line, "%*d %*d %*s %*s %511s", mp) == 1 &&
		    !strncmp(mp, prefix, strlen(prefix)) && (!keep || strncmp(mp, keep, strlen(keep))))
			snprintf(mps[n++], sizeof(mps[0]), "%s", mp);
	}
	if (f)
		fclose(f);
	while (n-- > 0)
		umount2(mps[n], MNT_DETACH);
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

static const char hello[] = "hello from the tmpfs";
static const char hosttext[] = "a file of the host directory";
static char pat[A_SIZE];
static int fa, fh, fro, fu, lsk, csk, ask, fdel, fhid = -1;
static struct sockaddr_un sa = { .sun_family = AF_UNIX };

static const char lowertext[] = "a file of the hidden tmpfs";

/* --more: the mount states of criu's zdtm mount tests ns_mnt lacks */
static void build_more(void)
{
	xmkdir(P("/sp ace\tx"), 0755);
	xmount("cryo-space", P("/sp ace\tx"), "tmpfs", 0, "size=16k");
	write_file(P("/sp ace\tx/f"), hello, sizeof(hello), 0644);
	/* files first, then read-only: the restore must fill it before */
	xmkdir(P("/rot"), 0755);
	xmount("cryo-rot", P("/rot"), "tmpfs", 0, "size=16k");
	xmkdir(P("/rot/d"), 0700);
	write_file(P("/rot/d/f"), hello, sizeof(hello), 0600);
	xmount(NULL, P("/rot"), NULL, MS_REMOUNT | MS_RDONLY, "size=16k");
	/* a tmpfs hidden by another (--hidfd: a file of it still open) */
	xmkdir(P("/hid"), 0755);
	xmount("cryo-hid", P("/hid"), "tmpfs", 0, "size=16k");
	write_file(P("/hid/lower"), lowertext, sizeof(lowertext), 0640);
	fhid = hidfd ? open(P("/hid/lower"), O_RDWR) : -1;
	if (hidfd && (fhid < 0 || lseek(fhid, 3, SEEK_SET) != 3))
		setup_fail("open %s: %s", P("/hid/lower"), strerror(errno));
	xmount("cryo-hid2", P("/hid"), "tmpfs", 0, "size=16k");
	write_file(P("/hid/upper"), "up", 2, 0644);
	/* a subdirectory of our tmpfs bound; a read-only bind of it all */
	xmkdir(P("/subb"), 0755);
	xmount(P("/tmp/sub"), P("/subb"), NULL, MS_BIND, NULL);
	xmkdir(P("/rob"), 0755);
	xmount(P("/tmp"), P("/rob"), NULL, MS_BIND, NULL);
	xmount(NULL, P("/rob"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
	/* slave of the shared tmpfs and shared itself (its own peer group) */
	xmkdir(P("/ms"), 0755);
	xmount(P("/shared"), P("/ms"), NULL, MS_BIND, NULL);
	xmount(NULL, P("/ms"), NULL, MS_SLAVE, NULL);
	xmount(NULL, P("/ms"), NULL, MS_SHARED, NULL);
	xmkdir(P("/ms2"), 0755);
	xmount(P("/ms"), P("/ms2"), NULL, MS_BIND, NULL);
	/* tmpfs options and mount flags */
	xmkdir(P("/opt"), 0755);
	xmount("cryo-opt", P("/opt"), "tmpfs", MS_NOEXEC | MS_NOATIME | MS_NODEV,
	       "size=64k,nr_inodes=100,uid=1234,gid=5678,mode=1777");
	/* nested: a tmpfs in a directory of a tmpfs, files in both */
	xmkdir(P("/nest"), 0755);
	xmount("cryo-nest", P("/nest"), "tmpfs", 0, "size=16k");
	xmkdir(P("/nest/in"), 0755);
	write_file(P("/nest/in/under"), "u", 1, 0644);
	write_file(P("/nest/top"), "t", 1, 0644);
	xmount("cryo-nest2", P("/nest/in"), "tmpfs", MS_STRICTATIME, "size=16k,mode=755");
	write_file(P("/nest/in/f"), "inner", 5, 0644);
	/* a file of our tmpfs bound on another file of it */
	write_file(P("/nest/fb"), "", 0, 0600);
	xmount(P("/tmp/sub/b"), P("/nest/fb"), NULL, MS_BIND, NULL);
}

static void check_more(void)
{
	check_file(P("/sp ace\tx/f"), 0644, 0, 0, hello, sizeof(hello));
	check_file(P("/rot/d"), 0700, 0, 0, NULL, 0);
	check_file(P("/rot/d/f"), 0600, 0, 0, hello, sizeof(hello));
	int t = open(P("/rot/new"), O_WRONLY | O_CREAT, 0644);
	if (t >= 0 || errno != EROFS)
		fail("creating a file in the read-only tmpfs %s: %s", P("/rot"),
		     t >= 0 ? "it worked" : strerror(errno));
	if (t >= 0)
		close(t);
	char buf[64] = "";
	if (fhid >= 0 && (pread(fhid, buf, sizeof(lowertext), 0) != sizeof(lowertext) ||
	    memcmp(buf, lowertext, sizeof(lowertext)) || lseek(fhid, 0, SEEK_CUR) != 3))
		fail("the descriptor on the hidden tmpfs's file is not as left");
	/* the hidden tmpfs's files: under the one over it */
	check_file(P("/hid/upper"), 0644, 0, 0, "up", 2);
	if (access(P("/hid/lower"), F_OK) == 0)
		fail("the hidden tmpfs shows through %s", P("/hid"));
	char hp[PATH_MAX];
	snprintf(hp, sizeof(hp), "%s/.hidx", base);
	if (mkdir(hp, 0755) || umount2(P("/hid"), MNT_DETACH) ||
	    mount(P("/hid"), hp, NULL, MS_BIND, NULL))
		fail_errno("uncovering the hidden tmpfs at %s", P("/hid"));
	else {
		check_file(P("/.hidx/lower"), 0640, 0, 0, lowertext, sizeof(lowertext));
		umount2(hp, MNT_DETACH);
	}
	check_file(P("/subb/b"), 0600, 1234, 5678, hello, sizeof(hello));
	check_file(P("/rob/sub/b"), 0600, 1234, 5678, hello, sizeof(hello));
	t = open(P("/rob/new"), O_WRONLY | O_CREAT, 0644);
	if (t >= 0 || errno != EROFS)
		fail("creating a file in the read-only bind %s: %s", P("/rob"),
		     t >= 0 ? "it worked" : strerror(errno));
	if (t >= 0)
		close(t);
	check_file(P("/opt"), 01777, 1234, 5678, NULL, 0);
	check_file(P("/nest/top"), 0644, 0, 0, "t", 1);
	check_file(P("/nest/in/f"), 0644, 0, 0, "inner", 5);
	check_file(P("/nest/fb"), 0600, 1234, 5678, hello, sizeof(hello));
	/* the file under the nested tmpfs, seen through a bind of the outer */
	if (mkdir(P("/nestx"), 0755) || mount(P("/nest"), P("/nestx"), NULL, MS_BIND, NULL))
		fail_errno("binding %s", P("/nest"));
	else {
		check_file(P("/nestx/in/under"), 0644, 0, 0, "u", 1);
		umount2(P("/nestx"), MNT_DETACH);
	}
	/* /ms is a slave of /shared and a peer of /ms2 */
	if (mkdir(P("/shared/z"), 0755) || mount("z", P("/shared/z"), "tmpfs", 0, "size=4k") ||
	    mkdir(P("/ms/w"), 0755) || mount("w", P("/ms/w"), "tmpfs", 0, "size=4k"))
		fail_errno("mounting under %s and %s", P("/shared"), P("/ms"));
	else {
		if (!is_mountpoint(P("/ms/z")) || !is_mountpoint(P("/ms2/z")))
			fail("a mount under %s did not reach its slave %s and its peer", P("/shared"),
			     P("/ms"));
		if (!is_mountpoint(P("/ms2/w")))
			fail("a mount under %s did not reach its peer %s", P("/ms"), P("/ms2"));
		if (is_mountpoint(P("/shared/w")))
			fail("a mount under the slave %s reached its master", P("/ms"));
	}
}

static void build_mounts(void)
{
	/* a tmpfs with files */
	xmkdir(P("/tmp"), 0755);
	xmount("cryo-test", P("/tmp"), "tmpfs", MS_NOSUID, "size=1m,mode=751");
	write_file(P("/tmp/a"), pat, sizeof(pat), 0640);
	xmkdir(P("/tmp/sub"), 0710);
	write_file(P("/tmp/sub/b"), hello, sizeof(hello), 0600);
	if (chown(P("/tmp/sub/b"), 1234, 5678) || symlink("a", P("/tmp/link")) ||
	    mknod(P("/tmp/null"), S_IFCHR | 0666, makedev(1, 3)) || chmod(P("/tmp/null"), 0666))
		setup_fail("chown/symlink/mknod: %s", strerror(errno));
	/* the host directory, bound twice, one read-only */
	xmkdir(P("/bind"), 0755);
	xmount(P("/../hostdir"), P("/bind"), NULL, MS_BIND, NULL);
	/* a host file bound on a file */
	write_file(P("/hfile"), "", 0, 0600);
	xmount(P("/../hostdir/h"), P("/hfile"), NULL, MS_BIND, NULL);
	xmkdir(P("/ro"), 0755);
	xmount(P("/../hostdir"), P("/ro"), NULL, MS_BIND, NULL);
	xmount(NULL, P("/ro"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
	/* a shared tmpfs and its slave */
	xmkdir(P("/shared"), 0755);
	xmkdir(P("/slave"), 0755);
	xmount("cryo-shared", P("/shared"), "tmpfs", 0, "size=64k");
	xmount(NULL, P("/shared"), NULL, MS_SHARED, NULL);
	write_file(P("/shared/s"), "s", 1, 0644);
	xmount(P("/shared"), P("/slave"), NULL, MS_BIND, NULL);
	xmount(NULL, P("/slave"), NULL, MS_SLAVE, NULL);
	xmkdir(P("/peer"), 0755);
	xmount(P("/shared"), P("/peer"), NULL, MS_BIND, NULL);
	xmkdir(P("/unb"), 0755);
	xmount("cryo-unb", P("/unb"), "tmpfs", 0, "size=16k");
	xmount(NULL, P("/unb"), NULL, MS_UNBINDABLE, NULL);
	/* a bind of the host directory, over-mounted by a tmpfs */
	xmkdir(P("/over"), 0755);
	xmount(P("/../hostdir"), P("/over"), NULL, MS_BIND, NULL);
	xmount("cryo-over", P("/over"), "tmpfs", 0, "size=64k,mode=700");
	write_file(P("/over/upper"), "upper", 5, 0604);
	/* a proc of our own */
	xmkdir(P("/proc"), 0555);
	xmount("proc", P("/proc"), "proc", MS_NOSUID | MS_NOEXEC, NULL);
	/* a devpts of our own, its ptmx bound on a file; mqueue, sysfs, cgroup2 */
	xmkdir(P("/pts"), 0755);
	xmount("devpts", P("/pts"), "devpts", MS_NOSUID | MS_NOEXEC,
	       "newinstance,ptmxmode=0666,mode=620");
	write_file(P("/ptmx"), "", 0, 0666);
	xmount(P("/pts/ptmx"), P("/ptmx"), NULL, MS_BIND, NULL);
	xmkdir(P("/mq"), 0755);
	xmount("mqueue", P("/mq"), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	xmkdir(P("/sys"), 0755);
	xmount("sysfs", P("/sys"), "sysfs", MS_RDONLY, NULL);
	xmkdir(P("/cg"), 0755);
	xmount("cgroup2", P("/cg"), "cgroup2", 0, NULL);
	if (more)
		build_more();
	if (overlay) {
		xmkdir(P("/../l"), 0755);
		xmkdir(P("/../u"), 0755);
		xmkdir(P("/../w"), 0755);
		xmkdir(P("/ov"), 0755);
		char o[3 * PATH_MAX];
		snprintf(o, sizeof(o), "lowerdir=%s,upperdir=%s,workdir=%s", P("/../l"),
			 P("/../u"), P("/../w"));
		xmount("cryo-overlay", P("/ov"), "overlay", 0, o);
	}
}

static void bind_in(const char *root, const char *dir)
{
	static char done[4][PATH_MAX];
	static int nr_done;
	char dst[PATH_MAX];
	for (int i = 0; i < nr_done; i++)
		if (!strcmp(done[i], dir))
			return;
	if (nr_done < 4)
		snprintf(done[nr_done++], PATH_MAX, "%s", dir);
	snprintf(dst, sizeof(dst), "%s%s", root, dir);
	xmkdir(dst, 0755);
	xmount(dir, dst, NULL, MS_BIND, NULL);
}

static void dir_of(const char *path, char *out)
{
	snprintf(out, PATH_MAX, "%s", path);
	char *s = strrchr(out, '/');
	if (s && s != out)
		*s = '\0';
}

int main(int argc, char **argv)
{
	char top[PATH_MAX], exe[PATH_MAX], d[PATH_MAX];
	struct stat rootst;

	test_doc = "mounts of a tree's own mount namespace come back";
	test_init(argc, argv);
	pattern_fill(pat, sizeof(pat), 77);
	ino_t host_mnt = 0, host_pid = 0;
	struct stat nst;
	if (!stat("/proc/self/ns/mnt", &nst))
		host_mnt = nst.st_ino;
	if (!stat("/proc/self/ns/pid", &nst))
		host_pid = nst.st_ino;

	/* top: a host directory of ours; hostdir beside base */
	snprintf(top, sizeof(top), pivot ? ROOTFS : "/tmp/cryo-ns-mnt-%d", getpid());
	if (unshare(CLONE_NEWNS))
		setup_fail("unshare(CLONE_NEWNS): %s", strerror(errno));
	xmount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	drop_mounts("/tmp/", top);
	if (pivot)
		nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	snprintf(d, sizeof(d), "%s/hostdir", top);
	xmkdir(d, 0755);
	snprintf(d, sizeof(d), "%s/hostdir/h", top);
	write_file(d, hosttext, sizeof(hosttext), 0644);

	if (pivot) {
		/* the container root: its own directories, /usr, ours */
		char r[PATH_MAX];
		snprintf(r, sizeof(r), "%s/root", top);
		xmkdir(r, 0755);
		xmount(r, r, NULL, MS_BIND, NULL);
		stat(r, &rootst);
		snprintf(d, sizeof(d), "%s/usr", r);
		xmkdir(d, 0755);
		xmount("/usr", d, NULL, MS_BIND, NULL);
		xmount(NULL, d, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
		static const char *const links[][2] = { { "lib", "usr/lib" }, { "lib64", "usr/lib64" },
							{ "bin", "usr/bin" } };
		for (int i = 0; i < 3; i++) {
			snprintf(d, sizeof(d), "%s/%s", r, links[i][0]);
			if (symlink(links[i][1], d) && errno != EEXIST)
				setup_fail("symlink %s: %s", d, strerror(errno));
		}
		/* the container's /dev: the host's (stdio may be /dev/null) */
		bind_in(r, "/dev");
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			setup_fail("readlink /proc/self/exe: %s", strerror(errno));
		exe[n] = '\0';
		dir_of(exe, d);
		bind_in(r, d);
		if (test_outfile()) {
			dir_of(test_outfile(), d);
			bind_in(r, d);
		}
		if (test_pidfile()) {
			dir_of(test_pidfile(), d);
			bind_in(r, d);
		}
		/* our mounts under /m, bound from the host directory's level */
		snprintf(base, sizeof(base), "%s/m", r);
		xmkdir(base, 0755);
		snprintf(d, sizeof(d), "%s/m/../hostdir", r);
		xmkdir(d, 0755);
		snprintf(d, sizeof(d), "%s/hostdir/h", r);
		write_file(d, hosttext, sizeof(hosttext), 0644);
		build_mounts();
		snprintf(d, sizeof(d), "%s/proc", r);
		xmkdir(d, 0555);
		snprintf(d, sizeof(d), "%s/.old", r);
		xmkdir(d, 0700);
		if (syscall(SYS_pivot_root, r, d))
			setup_fail("pivot_root(%s): %s", r, strerror(errno));
		if (chdir("/") || umount2("/.old", MNT_DETACH) || rmdir("/.old"))
			setup_fail("leaving the old root: %s", strerror(errno));
		snprintf(base, sizeof(base), "/m");
		xmount("proc", "/proc", "proc", 0, NULL);
	} else {
		snprintf(base, sizeof(base), "%s/m", top);
		xmkdir(base, 0755);
		build_mounts();
	}

	fa = open(P("/tmp/a"), O_RDWR);
	fh = open(P("/bind/h"), O_RDONLY);
	fro = open(P("/ro/h"), O_RDONLY);
	fu = open(P("/over/upper"), O_RDONLY);
	if (fa < 0 || fh < 0 || fro < 0 || fu < 0 || lseek(fa, 100, SEEK_SET) != 100)
		setup_fail("open: %s", strerror(errno));
	/* a listener on a path of the tmpfs, and a connection to it */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", P("/tmp/sock"));
	lsk = socket(AF_UNIX, SOCK_STREAM, 0);
	csk = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lsk < 0 || csk < 0 || bind(lsk, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lsk, 4) || connect(csk, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (ask = accept(lsk, NULL, NULL)) < 0 || chmod(sa.sun_path, 0750))
		setup_fail("unix socket at %s: %s", sa.sun_path, strerror(errno));
	fdel = open(P("/tmp/del"), O_RDWR | O_CREAT, 0600);
	if (fdel < 0 || write(fdel, hello, sizeof(hello)) != sizeof(hello) || unlink(P("/tmp/del")))
		setup_fail("deleted file: %s", strerror(errno));
	if (linked) {
		int fd = open(P("/tmp/r"), O_RDWR | O_CREAT, 0600);
		if (fd < 0 || link(P("/tmp/r"), P("/tmp/r2")) || unlink(P("/tmp/r")))
			setup_fail("linked file: %s", strerror(errno));
	}
	if (chdir(P("/tmp/sub")))
		setup_fail("chdir: %s", strerror(errno));
	nr_before = snapshot(before);
	if (nr_before < 8)
		setup_fail("only %d of our mounts in /proc/self/mountinfo", nr_before);

	test_daemon();
	test_waitsig();

	/* a namespace that is not the host's, with the same mounts */
	if (!stat("/proc/self/ns/mnt", &nst) && nst.st_ino == host_mnt)
		fail("the process is in the mount namespace it started in");
	char after[MAXM][1024];
	int nr_after = snapshot(after);
	if (nr_after != nr_before)
		fail("%d mounts now, %d before", nr_after, nr_before);
	for (int i = 0; i < nr_before && i < nr_after; i++)
		if (strcmp(before[i], after[i]))
			fail("mount %d is \"%s\", was \"%s\"", i, after[i], before[i]);
	if (pivot) {
		struct stat st;
		if (stat("/", &st) || st.st_dev != rootst.st_dev || st.st_ino != rootst.st_ino)
			fail("/ is not %s/root", top);
	}
	/* files */
	check_file(P("/tmp/a"), 0640, 0, 0, pat, sizeof(pat));
	check_file(P("/tmp/sub"), 0710, 0, 0, NULL, 0);
	check_file(P("/tmp/sub/b"), 0600, 1234, 5678, hello, sizeof(hello));
	check_file(P("/tmp"), 0751, 0, 0, NULL, 0);
	char l[16] = "";
	if (readlink(P("/tmp/link"), l, sizeof(l) - 1) != 1 || strcmp(l, "a"))
		fail("%s is not a symlink to a", P("/tmp/link"));
	check_file(P("/bind/h"), 0644, 0, 0, hosttext, sizeof(hosttext));
	check_file(P("/hfile"), 0644, 0, 0, hosttext, sizeof(hosttext));
	check_file(P("/over/upper"), 0604, 0, 0, "upper", 5);
	if (access(P("/over/h"), F_OK) == 0)
		fail("the host directory under %s shows through its over-mount", P("/over"));
	/* descriptors: the same files, where they were */
	same_file(fa, P("/tmp/a"));
	same_file(fh, P("/bind/h"));
	same_file(fro, P("/ro/h"));
	same_file(fu, P("/over/upper"));
	if (lseek(fa, 0, SEEK_CUR) != 100)
		fail("fd of /tmp/a is at %ld, not 100", (long)lseek(fa, 0, SEEK_CUR));
	if (write(fa, "XYZ", 3) != 3)
		fail_errno("write through the fd of %s", P("/tmp/a"));
	char buf[4] = "";
	int t = open(P("/tmp/a"), O_RDONLY);
	if (t < 0 || pread(t, buf, 3, 100) != 3 || memcmp(buf, "XYZ", 3))
		fail("a write through the fd is not seen through the path %s", P("/tmp/a"));
	if (t >= 0)
		close(t);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, P("/tmp/sub")))
		fail("cwd is %s, not %s", cwd, P("/tmp/sub"));
	/* the deleted file: its contents, no name, nothing left of its ghost */
	struct stat ds;
	char dbuf[sizeof(hello)];
	if (fstat(fdel, &ds) || ds.st_nlink != 0 || pread(fdel, dbuf, sizeof(dbuf), 0) !=
	    sizeof(hello) || memcmp(dbuf, hello, sizeof(hello)))
		fail("the deleted file's descriptor is not as left (links %lu)",
		     (unsigned long)ds.st_nlink);
	DIR *dir = opendir(P("/tmp"));
	struct dirent *de;
	int nent = 0;
	while (dir && (de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && ++nent &&
		    strcmp(de->d_name, "a") && strcmp(de->d_name, "sub") &&
		    strcmp(de->d_name, "link") && strcmp(de->d_name, "sock") &&
		    strcmp(de->d_name, "null") &&
		    (!linked || strcmp(de->d_name, "r2")))
			fail("%s has %s, which it did not have", P("/tmp"), de->d_name);
	if (dir)
		closedir(dir);
	if (nent != (linked ? 6 : 5))
		fail("%s has %d entries, not %d", P("/tmp"), nent, linked ? 6 : 5);
	struct stat ns;
	if (lstat(P("/tmp/null"), &ns) || !S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3) ||
	    (ns.st_mode & 07777) != 0666)
		fail("%s is not the device node 1:3 (mode 0666) it was", P("/tmp/null"));
	/* the listener: its name in the restored tmpfs, taking connections */
	struct stat ss;
	if (lstat(P("/tmp/sock"), &ss) || !S_ISSOCK(ss.st_mode) || (ss.st_mode & 07777) != 0750)
		fail("%s is not the socket's file (mode 0750)", P("/tmp/sock"));
	int c2 = socket(AF_UNIX, SOCK_STREAM, 0), a2 = -1;
	if (c2 < 0 || connect(c2, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (a2 = accept(lsk, NULL, NULL)) < 0 || write(c2, "new", 3) != 3 ||
	    read(a2, buf, 3) != 3 || memcmp(buf, "new", 3))
		fail_errno("a new connection to %s", sa.sun_path);
	if (write(csk, "old", 3) != 3 || read(ask, buf, 3) != 3 || memcmp(buf, "old", 3))
		fail_errno("the connection made before the dump");
	if (c2 >= 0)
		close(c2);
	if (a2 >= 0)
		close(a2);
	/* read-only */
	t = open(P("/ro/new"), O_WRONLY | O_CREAT, 0644);
	if (t >= 0 || errno != EROFS)
		fail("creating a file in the read-only bind %s: %s", P("/ro"),
		     t >= 0 ? "it worked" : strerror(errno));
	if (t >= 0)
		close(t);
	if (more)
		check_more();
	/* propagation: shared -> slave, not back */
	struct statfs sf;
	if (statfs(P("/proc/self"), &sf) || sf.f_type != 0x9fa0)
		fail("%s is not a proc", P("/proc"));
	if (skip[0] && is_mountpoint(P(skip)))
		fail("%s, left out of the dump, is mounted after the restore", P(skip));
	else if (skip[0])
		;
	else if (mkdir(P("/unbx"), 0755) && errno != EEXIST)
		fail_errno("mkdir %s", P("/unbx"));
	else if (mount(P("/unb"), P("/unbx"), NULL, MS_BIND, NULL) == 0 || errno != EINVAL)
		fail("binding the unbindable %s: %s", P("/unb"), errno ? strerror(errno) : "worked");
	/* the devpts instance: a pty made through the bound ptmx is in it */
	int pt = open(P("/ptmx"), O_RDWR | O_NOCTTY);
	int nr = -1;
	char pts[PATH_MAX];
	if (pt < 0 || ioctl(pt, TIOCGPTN, &nr))
		fail_errno("open %s", P("/ptmx"));
	snprintf(pts, sizeof(pts), "%s/pts/%d", base, nr);
	if (pt >= 0 && access(pts, F_OK))
		fail("pty %d made through %s is not in %s", nr, P("/ptmx"), P("/pts"));
	if (pt >= 0)
		close(pt);
	if (mkdir(P("/shared/x"), 0755) || mkdir(P("/shared/y"), 0755) ||
	    mount("x", P("/shared/x"), "tmpfs", 0, "size=4k") ||
	    mount("y", P("/slave/y"), "tmpfs", 0, "size=4k")) {
		fail_errno("mounting under %s and %s", P("/shared"), P("/slave"));
	} else {
		if (!is_mountpoint(P("/slave/x")))
			fail("a mount under %s did not propagate to its slave", P("/shared"));
		if (!is_mountpoint(P("/peer/x")))
			fail("a mount under %s did not propagate to its peer", P("/shared"));
		if (is_mountpoint(P("/shared/y")))
			fail("a mount under the slave %s propagated to its master", P("/slave"));
	}
	/* a copy restored with --pid-ns shares the host directory with the
	 * original, which checks after it and cleans up */
	bool copy = !stat("/proc/self/ns/pid", &nst) && nst.st_ino != host_pid;
	if (!pivot && !copy) {
		/* leave nothing on the host: our mounts go with the namespace */
		if (chdir("/"))
			fail_errno("chdir /");
		drop_mounts(base, NULL);
		nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	}
	pass();
	return 0;
}
