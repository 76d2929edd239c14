/* files_deleted_dev: device nodes made with mknod and removed while open.
 *
 * Before the checkpoint (in the outfile's directory): dnull, a copy of
 * /dev/null (1:3, mode 0620, owner 1234:5678), open O_RDWR at fd 40, and
 * dzero, a copy of /dev/zero (1:5, mode 0444), open O_RDONLY at fd 41;
 * both unlinked; dtaken, another copy of /dev/null open O_WRONLY at fd 42,
 * unlinked, its name then taken by a regular file holding "other".
 * After SIGTERM: fds 40, 41 and 42 show "NAME (deleted)", are character
 * devices 1:3 and 1:5 with nlink 0 and their modes and owners, with their
 * access modes; they behave as those devices (a write to 40 is swallowed
 * and it reads EOF; 41 reads zeros); no name is left behind but dtaken,
 * still the regular file with its contents.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "zdtmtst.h"

static void check(int fd, const char *name, unsigned maj, unsigned min, mode_t mode, uid_t uid,
		  gid_t gid, int acc)
{
	char p[64], l[4096], want[4200];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", name);
	if (strcmp(l, want))
		fail("fd %d is \"%s\", expected \"%s\"", fd, l, want);
	struct stat st;
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode) || major(st.st_rdev) != maj ||
	    minor(st.st_rdev) != min || st.st_nlink || (st.st_mode & 07777) != mode ||
	    st.st_uid != uid || st.st_gid != gid)
		fail("fd %d: mode 0%o rdev %u:%u nlink %lu owner %u:%u, expected a deleted "
		     "device %u:%u 0%o %u:%u", fd, st.st_mode, major(st.st_rdev),
		     minor(st.st_rdev), (unsigned long)st.st_nlink, st.st_uid, st.st_gid, maj, min,
		     mode, uid, gid);
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != acc)
		fail("fd %d: access mode %d, expected %d", fd, fcntl(fd, F_GETFL) & O_ACCMODE, acc);
}

int main(int argc, char **argv)
{
	test_doc = "deleted device nodes";
	test_init(argc, argv);
	char tmp[2048], dir[2048], dn[4096], dz[4096], dt[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(dn, sizeof(dn), "%s/dnull", dir);
	snprintf(dz, sizeof(dz), "%s/dzero", dir);
	snprintf(dt, sizeof(dt), "%s/dtaken", dir);
	if (mknod(dn, S_IFCHR | 0600, makedev(1, 3)) || chown(dn, 1234, 5678) || chmod(dn, 0620) ||
	    mknod(dz, S_IFCHR | 0444, makedev(1, 5)))
		setup_fail("mknod: %s", strerror(errno));
	int a = open(dn, O_RDWR), b = open(dz, O_RDONLY);
	if (a < 0 || b < 0 || dup2(a, 40) != 40 || dup2(b, 41) != 41 || close(a) || close(b) ||
	    unlink(dn) || unlink(dz))
		setup_fail("open/unlink: %s", strerror(errno));
	int t, o;
	if (mknod(dt, S_IFCHR | 0600, makedev(1, 3)) || (t = open(dt, O_WRONLY)) < 0 ||
	    dup2(t, 42) != 42 || close(t) || unlink(dt) ||
	    (o = open(dt, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 || write(o, "other", 5) != 5 ||
	    close(o))
		setup_fail("dtaken: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	check(40, dn, 1, 3, 0620, 1234, 5678, O_RDWR);
	check(41, dz, 1, 5, 0444, 0, 0, O_RDONLY);
	check(42, dt, 1, 3, 0600, 0, 0, O_WRONLY);
	char other[16] = "";
	struct stat ost;
	o = open(dt, O_RDONLY);
	if (o < 0 || fstat(o, &ost) || !S_ISREG(ost.st_mode) || read(o, other, sizeof(other)) != 5 ||
	    memcmp(other, "other", 5))
		fail("%s is no longer the regular file holding \"other\"", dt);
	if (o >= 0)
		close(o);
	char buf[64];
	memset(buf, 'x', sizeof(buf));
	if (write(40, buf, 10) != 10 || read(40, buf, 10) != 0)
		fail("fd 40 does not behave as /dev/null");
	if (read(41, buf, sizeof(buf)) != sizeof(buf) || zero_check(buf, sizeof(buf)) >= 0)
		fail("fd 41 does not read zeros");
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, "dnull") || strstr(e->d_name, "dzero") ||
		    (strstr(e->d_name, "dtaken") && strcmp(e->d_name, "dtaken")))
			fail("%s/%s was left behind", dir, e->d_name);
	if (d)
		closedir(d);
	unlink(dt);
	return test_verdict();
}
