/* files_deleted_dir: directories removed while held.
 *
 * Before the checkpoint (in the outfile's directory):
 *   ddir (mode 0751, owner 1234:5678): open at fd 40 and the working
 *     directory, then removed;
 *   pa/pb (0700): open at fd 41, then pb and its parent pa removed.
 * After SIGTERM: fd 40 and the cwd show "ddir (deleted)" and are one
 *   directory: nlink 0, mode 0751, owner 1234:5678, no file can be made in
 *   it; fd 41 shows "pa/pb (deleted)", nlink 0, mode 0700; pa does not
 *   exist; nothing the restore made is left in the directory.
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

static void expect_link(const char *link, const char *name)
{
	char l[4096], want[4200];
	ssize_t n = readlink(link, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", name);
	if (strcmp(l, want))
		fail("%s is \"%s\", expected \"%s\"", link, l, want);
}

int main(int argc, char **argv)
{
	test_doc = "directories removed while open or the working directory";
	test_init(argc, argv);
	char tmp[2048], dir[2048], d1[4096], pa[4096], pb[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(d1, sizeof(d1), "%s/ddir", dir);
	snprintf(pa, sizeof(pa), "%s/pa", dir);
	snprintf(pb, sizeof(pb), "%s/pa/pb", dir);

	if (mkdir(d1, 0700) || chown(d1, 1234, 5678) || chmod(d1, 0751))
		setup_fail("mkdir %s: %s", d1, strerror(errno));
	int fd = open(d1, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || dup2(fd, 40) != 40 || close(fd) || chdir(d1) || rmdir(d1))
		setup_fail("open/chdir/rmdir %s: %s", d1, strerror(errno));
	if (mkdir(pa, 0755) || mkdir(pb, 0700))
		setup_fail("mkdir %s: %s", pb, strerror(errno));
	fd = open(pb, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || dup2(fd, 41) != 41 || close(fd) || rmdir(pb) || rmdir(pa))
		setup_fail("open/rmdir %s: %s", pb, strerror(errno));

	test_daemon();
	test_waitsig();

	expect_link("/proc/self/fd/40", d1);
	expect_link("/proc/self/cwd", d1);
	expect_link("/proc/self/fd/41", pb);
	struct stat s0, sc, s1;
	if (fstat(40, &s0) || stat(".", &sc) || fstat(41, &s1))
		fail("stat: %s", strerror(errno));
	if (s0.st_ino != sc.st_ino || s0.st_dev != sc.st_dev)
		fail("fd 40 and the working directory are not one directory any more");
	if (!S_ISDIR(s0.st_mode) || s0.st_nlink || (s0.st_mode & 07777) != 0751 ||
	    s0.st_uid != 1234 || s0.st_gid != 5678)
		fail("ddir: mode 0%o nlink %lu owner %u:%u, expected a deleted dir 0751 1234:5678",
		     s0.st_mode, (unsigned long)s0.st_nlink, s0.st_uid, s0.st_gid);
	if (!S_ISDIR(s1.st_mode) || s1.st_nlink || (s1.st_mode & 07777) != 0700)
		fail("pb: mode 0%o nlink %lu, expected a deleted dir 0700", s1.st_mode,
		     (unsigned long)s1.st_nlink);
	if (openat(40, "x", O_CREAT | O_RDWR, 0600) >= 0 || errno != ENOENT)
		fail("a file could be made in the deleted ddir (%s)", strerror(errno));
	if (!access(pa, F_OK))
		fail("%s exists after the restore", pa);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, "cryo") || !strcmp(e->d_name, "ddir"))
			fail("%s/%s was left behind", dir, e->d_name);
	if (d)
		closedir(d);
	pass();
	return 0;
}
