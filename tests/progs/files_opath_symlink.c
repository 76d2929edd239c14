/* files_opath_symlink: symbolic links held by O_PATH|O_NOFOLLOW descriptors.
 *
 * Before the checkpoint (in the outfile's directory): slink -> "target-1"
 * (a target that does not exist) open at fd 40; dlink -> "../some/where"
 * (owner 1234:5678) open at fd 41, then unlinked.
 * After SIGTERM: fd 40 shows slink, fd 41 "dlink (deleted)"; both are the
 * symlinks themselves (S_IFLNK through AT_EMPTY_PATH), with their targets
 * (readlinkat on the fd), O_PATH|O_NOFOLLOW; dlink has nlink 0 and its
 * owner, slink is still the one in the directory; no name is left.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static void check(int fd, const char *want_link, const char *target)
{
	char p[64], l[4096];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	if (strcmp(l, want_link))
		fail("fd %d is \"%s\", expected \"%s\"", fd, l, want_link);
	n = readlinkat(fd, "", l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	if (strcmp(l, target))
		fail("fd %d points to \"%s\", expected \"%s\"", fd, l, target);
	int fl = fcntl(fd, F_GETFL);
	if ((fl & (O_PATH | O_NOFOLLOW)) != (O_PATH | O_NOFOLLOW))
		fail("fd %d: flags 0%o, expected O_PATH|O_NOFOLLOW", fd, fl);
}

int main(int argc, char **argv)
{
	test_doc = "symlinks opened with O_PATH|O_NOFOLLOW, present and deleted";
	test_init(argc, argv);
	char tmp[2048], dir[2048], sl[4096], dl[4096], want[4200];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(sl, sizeof(sl), "%s/slink", dir);
	snprintf(dl, sizeof(dl), "%s/dlink", dir);
	if (symlink("target-1", sl) || symlink("../some/where", dl) ||
	    lchown(dl, 1234, 5678))
		setup_fail("symlink: %s", strerror(errno));
	int a = open(sl, O_PATH | O_NOFOLLOW), b = open(dl, O_PATH | O_NOFOLLOW);
	if (a < 0 || b < 0 || dup2(a, 40) != 40 || dup2(b, 41) != 41 || close(a) || close(b) ||
	    unlink(dl))
		setup_fail("open/unlink: %s", strerror(errno));
	struct stat s0;
	if (lstat(sl, &s0))
		setup_fail("lstat: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	check(40, sl, "target-1");
	snprintf(want, sizeof(want), "%s (deleted)", dl);
	check(41, want, "../some/where");
	struct stat s1, s2, sn;
	if (fstatat(40, "", &s1, AT_EMPTY_PATH) || fstatat(41, "", &s2, AT_EMPTY_PATH) ||
	    lstat(sl, &sn))
		fail("stat: %s", strerror(errno));
	if (!S_ISLNK(s1.st_mode) || s1.st_ino != sn.st_ino || s1.st_nlink != 1)
		fail("fd 40 is not the symlink slink (mode 0%o)", s1.st_mode);
	if (!S_ISLNK(s2.st_mode) || s2.st_nlink || s2.st_uid != 1234 || s2.st_gid != 5678)
		fail("fd 41: mode 0%o nlink %lu owner %u:%u, expected a deleted symlink of "
		     "1234:5678", s2.st_mode, (unsigned long)s2.st_nlink, s2.st_uid, s2.st_gid);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, "dlink"))
			fail("%s/%s was left behind", dir, e->d_name);
	if (d)
		closedir(d);
	unlink(sl);
	pass();
	return 0;
}
