/* ns_mnt_ovl: overlayfs in a tree's own mount namespace (the test unshares
 * it and makes / private).  An overlay the tree mounted itself: two lower
 * layers (a host directory and a directory of the tree's tmpfs), the
 * upper and work directories on that tmpfs (so non-directories report
 * the layers' own st_dev, not the overlay's).  Held across the restore:
 *   - a lower-only file open read-only at offset 3,
 *   - a lower file opened read-only, then copied up by a write through
 *     another descriptor (the old one must read the new contents),
 *   - a file made in the upper layer, open read-write at offset 2,
 *   - a lower file mapped private, an upper file mapped shared (written
 *     through the mapping), the working directory a lower directory,
 *   - a lower file removed (a whiteout in the upper layer), a lower
 *     directory removed and made again (opaque: an xattr in the upper),
 *   - a child's POSIX lock on the upper file's description it shares.
 * On SIGTERM the overlay must be mounted at the same place with the same
 * options, each descriptor be the file its path names (same st_dev and
 * st_ino) at its offset with its contents, writes go to the upper layer.
 *   --root     the container case: the overlay is mounted in cryo's own
 *              namespace (as a runtime mounts a container's root), the
 *              test pivots into it; the dump gives --external mnt[/]:KEY,
 *              the restore --root the overlay's path
 *   --gone     a lower layer is renamed after the mount (the dump must
 *              refuse, naming it)
 *   --watch    an inotify watch on a file of the overlay: its file handle
 *              can't be opened (no nfs_export), the dump must refuse */
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
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static bool root;
TEST_OPTION(root, bool, "pivot into an overlay mounted in cryo's namespace", 0);
static bool gone;
TEST_OPTION(gone, bool, "rename a lower layer after mounting (refused)", 0);
static bool watch;
TEST_OPTION(watch, bool, "also an inotify watch on a file of the overlay (refused)", 0);

#define OVROOT "/tmp/cryo-ovl-root"
#define PG 4096

static char top[PATH_MAX];	/* host directory of ours */
static char m[PATH_MAX];	/* the overlay, as the test sees it */
static char upper[PATH_MAX];	/* its upper layer, as the test sees it */

static void xmount(const char *src, const char *dst, const char *fs, unsigned long fl,
		   const char *data)
{
	if (mount(src, dst, fs, fl, data))
		setup_fail("mount(%s, %s, %s, 0x%lx, %s): %s", src ? src : "NULL", dst,
			   fs ? fs : "NULL", fl, data ? data : "NULL", strerror(errno));
}

static void xmkdir(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	if (mkdir(buf, 0755) && errno != EEXIST)
		setup_fail("mkdir %s: %s", buf, strerror(errno));
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		setup_fail("write %s: %s", path, strerror(errno));
	close(fd);
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

/* the mountinfo line of the mount at @mp from the root field on (no ids,
 * devices or peer groups), or "" */
static void mnt_line(const char *mp, char *out, size_t outsz)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		char r[PATH_MAX], p[PATH_MAX];
		if (sscanf(line, "%*d %*d %*s %4095s %4095s", r, p) != 2 || strcmp(p, mp))
			continue;
		char *opts = strstr(line, " - ");
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, outsz, "%s %s%s", r, p, opts ? opts : "");
	}
	if (f)
		fclose(f);
}

/* A process in the mount namespace with inode @ino (cryo's, where the
 * test started): its /proc/PID into @out; false if none */
static bool host_proc(ino_t ino, char *out, size_t sz)
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
			snprintf(out, sz, "/proc/%s", e->d_name);
			found = true;
		}
	}
	if (d)
		closedir(d);
	return found;
}

static void same_file(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) || stat(path, &b))
		fail_errno("stat fd %d / %s", fd, path);
	else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		fail("fd %d is %lx:%lu, but %s is %lx:%lu: not the same file", fd,
		     (unsigned long)a.st_dev, (unsigned long)a.st_ino, path,
		     (unsigned long)b.st_dev, (unsigned long)b.st_ino);
}

static void check_fd(int fd, off_t pos, const char *want, const char *what)
{
	char buf[256] = "";
	off_t at = lseek(fd, 0, SEEK_CUR);
	if (at != pos)
		fail("%s: offset %lld, expected %lld", what, (long long)at, (long long)pos);
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0 || (size_t)n != strlen(want) || memcmp(buf, want, n))
		fail("%s: reads \"%.*s\", expected \"%s\"", what, n > 0 ? (int)n : 0, buf, want);
}

static const char lo_text[] = "lower only, never written";
static const char cu_text[] = "copied up after the open";
static const char up_text[] = "made in the upper layer";
static char pat[2 * PG], spat[PG];

int main(int argc, char **argv)
{
	char o[3 * PATH_MAX], before[8192], after[8192], cwd[PATH_MAX];
	struct stat nst;
	ino_t host_mnt = 0;

	test_doc = "overlayfs mounts of a tree's mount namespace come back";
	test_init(argc, argv);
	pattern_fill(pat, sizeof(pat), 31);
	pattern_fill(spat, sizeof(spat), 32);
	if (!stat("/proc/self/ns/mnt", &nst))
		host_mnt = nst.st_ino;
	snprintf(top, sizeof(top), root ? OVROOT : "/tmp/cryo-ns-ovl-%d", getpid());
	/* what runs whose process is gone left (killed after a failed dump) */
	DIR *tmp = opendir("/tmp");
	struct dirent *de;
	int opid;
	while (tmp && (de = readdir(tmp)))
		if (sscanf(de->d_name, "cryo-ns-ovl-%d", &opid) == 1 && kill(opid, 0) &&
		    errno == ESRCH)
			nftw(J("/tmp/", de->d_name), rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (tmp)
		closedir(tmp);
	if (root) {
		/* the runtime's part, in cryo's namespace: a leftover of an
		 * earlier run goes first */
		umount2(OVROOT "/merged", MNT_DETACH);
		umount2(OVROOT "/t", MNT_DETACH);
		nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	}
	xmkdir(J(top, "/l1/d"));
	xmkdir(J(top, "/t"));
	write_file(J(top, "/l1/lo"), lo_text, strlen(lo_text));
	write_file(J(top, "/l1/cu"), "before the copy-up", 18);
	write_file(J(top, "/l1/gone"), "removed", 7);
	write_file(J(top, "/l1/mp"), pat, sizeof(pat));
	xmkdir(J(top, "/l1/od"));
	write_file(J(top, "/l1/od/hidden"), "lower", 5);
	if (!root) {
		if (unshare(CLONE_NEWNS))
			setup_fail("unshare(CLONE_NEWNS): %s", strerror(errno));
		xmount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
		drop_mounts(top);
	}
	/* the second lower, the upper and the work directory on a tmpfs */
	xmount("cryo-ovl", J(top, "/t"), "tmpfs", 0, "size=1m");
	xmkdir(J(top, "/t/l2"));
	xmkdir(J(top, "/t/u"));
	xmkdir(J(top, "/t/w"));
	write_file(J(top, "/t/l2/l2f"), "second lower", 12);
	snprintf(m, sizeof(m), "%s/merged", top);
	xmkdir(m);
	snprintf(o, sizeof(o), "lowerdir=%s/l1:%s/t/l2,upperdir=%s/t/u,workdir=%s/t/w", top, top,
		 top, top);
	xmount("cryo-ovl", m, "overlay", 0, o);
	snprintf(upper, sizeof(upper), "%s/t/u", top);
	if (root) {
		/* the container: the overlay its root, as runc's pivot_root */
		static const char *const dirs[] = { "/usr", "/dev" };
		if (unshare(CLONE_NEWNS))
			setup_fail("unshare(CLONE_NEWNS): %s", strerror(errno));
		xmount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
		for (int i = 0; i < 2; i++) {
			xmkdir(J(m, dirs[i]));
			xmount(dirs[i], J(m, dirs[i]), NULL, MS_BIND | MS_REC, NULL);
		}
		static const char *const links[][2] = { { "lib", "usr/lib" }, { "lib64", "usr/lib64" },
							{ "bin", "usr/bin" } };
		for (int i = 0; i < 3; i++)
			if (symlink(links[i][1], J(m, J("/", links[i][0]))) && errno != EEXIST)
				setup_fail("symlink: %s", strerror(errno));
		/* our executable's and the runner's files' directories */
		const char *want[3] = { NULL, test_outfile(), test_pidfile() };
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			setup_fail("readlink /proc/self/exe: %s", strerror(errno));
		exe[n] = '\0';
		want[0] = exe;
		for (int i = 0; i < 3; i++) {
			char d[PATH_MAX];
			if (!want[i])
				continue;
			snprintf(d, sizeof(d), "%s", want[i]);
			*strrchr(d, '/') = '\0';
			struct stat s;
			if (!stat(J(m, d), &s) && s.st_ino != 0 && i)
				continue;
			xmkdir(J(m, d));
			xmount(d, J(m, d), NULL, MS_BIND, NULL);
		}
		xmkdir(J(m, "/proc"));
		xmkdir(J(m, "/.old"));
		if (syscall(SYS_pivot_root, m, J(m, "/.old")))
			setup_fail("pivot_root(%s): %s", m, strerror(errno));
		if (chdir("/") || umount2("/.old", MNT_DETACH) || rmdir("/.old"))
			setup_fail("leaving the old root: %s", strerror(errno));
		xmount("proc", "/proc", "proc", 0, NULL);
		snprintf(m, sizeof(m), "%s", "");
		upper[0] = '\0';	/* not reachable from inside */
	}
	const char *M = m[0] ? m : "";
	int flo = open(J(M, "/lo"), O_RDONLY);
	int fcu = open(J(M, "/cu"), O_RDONLY);
	int fw = open(J(M, "/cu"), O_WRONLY | O_TRUNC);
	if (flo < 0 || fcu < 0 || fw < 0 || lseek(flo, 3, SEEK_SET) != 3 ||
	    write(fw, cu_text, strlen(cu_text)) != (ssize_t)strlen(cu_text) || close(fw))
		setup_fail("open/copy-up: %s", strerror(errno));
	int fup = open(J(M, "/new"), O_RDWR | O_CREAT, 0640);
	if (fup < 0 || write(fup, up_text, strlen(up_text)) != (ssize_t)strlen(up_text) ||
	    lseek(fup, 2, SEEK_SET) != 2 || unlink(J(M, "/gone")))
		setup_fail("upper file / unlink: %s", strerror(errno));
	/* a child's POSIX lock on the upper file, through the description it
	 * shares with us (found in /proc/locks, whose device is the overlay's
	 * own, not the layer's that stat reports) */
	int lp[2];
	if (pipe(lp))
		setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		test_forked_child();
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		char c = fcntl(fup, F_SETLK, &fl) ? 'E' : 'L';
		if (write(lp[1], &c, 1) != 1)
			_exit(1);
		while (1)
			pause();
	}
	char lc = 0;
	if (read(lp[0], &lc, 1) != 1 || lc != 'L')
		setup_fail("the child could not lock %s", J(M, "/new"));
	close(lp[0]);
	close(lp[1]);
	/* a lower directory removed and made again: opaque in the upper
	 * layer (an xattr), its lower files not shown */
	if (unlink(J(M, "/od/hidden")) || rmdir(J(M, "/od")) || mkdir(J(M, "/od"), 0750))
		setup_fail("making %s opaque: %s", J(M, "/od"), strerror(errno));
	int wfd = watch ? inotify_init1(IN_CLOEXEC) : -1;
	if (watch && (wfd < 0 || inotify_add_watch(wfd, J(M, "/lo"), IN_OPEN) < 0))
		setup_fail("inotify: %s", strerror(errno));
	int fmp = open(J(M, "/mp"), O_RDONLY);
	int fsh = open(J(M, "/shm"), O_RDWR | O_CREAT, 0600);
	if (fmp < 0 || fsh < 0 || ftruncate(fsh, PG))
		setup_fail("map files: %s", strerror(errno));
	char *pm = mmap(NULL, sizeof(pat), PROT_READ, MAP_PRIVATE, fmp, 0);
	char *sm = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fsh, 0);
	if (pm == MAP_FAILED || sm == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	close(fmp);
	close(fsh);
	memcpy(sm, spat, PG);
	if (chdir(J(M, "/d")))
		setup_fail("chdir: %s", strerror(errno));
	mnt_line(root ? "/" : m, before, sizeof(before));
	if (!strstr(before, " - overlay "))
		setup_fail("no overlay at %s in mountinfo", root ? "/" : m);
	if (gone && rename(J(top, "/t/l2"), J(top, "/t/l2-renamed")))
		setup_fail("rename: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	mnt_line(root ? "/" : m, after, sizeof(after));
	if (strcmp(before, after))
		fail("the overlay's mountinfo line was\n  %s\nit is\n  %s", before, after);
	check_fd(flo, 3, lo_text, "the lower-only file");
	same_file(flo, J(M, "/lo"));
	check_fd(fcu, 0, cu_text, "the file copied up after its open");
	same_file(fcu, J(M, "/cu"));
	check_fd(fup, 2, up_text, "the upper file");
	same_file(fup, J(M, "/new"));
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (fcntl(fup, F_GETLK, &fl))
		fail_errno("F_GETLK on the upper file");
	else if (fl.l_type != F_WRLCK || fl.l_pid != child)
		fail("the child's write lock on the upper file is gone (F_GETLK: type %d, pid %d, "
		     "child %d)", fl.l_type, fl.l_pid, child);
	if (!access(J(M, "/gone"), F_OK) || errno != ENOENT)
		fail("%s is back after the restore (its whiteout was lost)", J(M, "/gone"));
	if (!access(J(M, "/od/hidden"), F_OK) || errno != ENOENT)
		fail("%s shows the lower file again (the upper directory is no longer opaque)",
		     J(M, "/od"));
	if (memcmp(pm, pat, sizeof(pat)))
		fail("the private mapping of the lower file differs");
	if (memcmp(sm, spat, PG))
		fail("the shared mapping of the upper file differs");
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, J(M, "/d")))
		fail("the working directory is %s, not %s", cwd, J(M, "/d"));
	/* writes land in the upper layer, through the mapping too */
	sm[0] ^= 1;
	if (pwrite(fup, "UP", 2, 0) != 2 || msync(sm, PG, MS_SYNC))
		fail_errno("writing after the restore");
	char buf[64] = "";
	if (upper[0]) {
		int u = open(J(upper, "/new"), O_RDONLY);
		if (u < 0 || pread(u, buf, 2, 0) != 2 || memcmp(buf, "UP", 2))
			fail("%s/new (the upper layer) does not hold the write: \"%.2s\"", upper, buf);
		if (u >= 0)
			close(u);
		u = open(J(upper, "/shm"), O_RDONLY);
		if (u < 0 || pread(u, buf, 1, 0) != 1 || buf[0] != (spat[0] ^ 1))
			fail("%s/shm does not hold the write through the shared mapping", upper);
		if (u >= 0)
			close(u);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (wfd >= 0)
		close(wfd);
	close(flo);
	close(fcu);
	close(fup);
	munmap(pm, sizeof(pat));
	munmap(sm, PG);
	if (chdir("/"))
		fail_errno("chdir /");
	if (!root) {
		/* leave nothing on the host: our mounts go with the namespace */
		umount2(m, MNT_DETACH);
		umount2(J(top, "/t"), MNT_DETACH);
		nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	} else {
		/* the runtime's mounts are in cryo's namespace */
		char host[64], nsp[80];
		int ns = -1;
		if (host_proc(host_mnt, host, sizeof(host))) {
			snprintf(nsp, sizeof(nsp), "%s/ns/mnt", host);
			ns = open(nsp, O_RDONLY | O_CLOEXEC);
		}
		if (ns >= 0 && !fstat(ns, &nst) && nst.st_ino == host_mnt && !setns(ns, CLONE_NEWNS)) {
			umount2(OVROOT "/merged", MNT_DETACH);
			umount2(OVROOT "/t", MNT_DETACH);
			nftw(OVROOT, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		}
		if (ns >= 0)
			close(ns);
	}
	return test_verdict();
}
