/* irmap: finding a path to an inode by scanning directories
 * (--irmap-scan-path), for inotify/fanotify watches whose file handle
 * leads to no path that reaches the inode (its name is hidden under a
 * mount made later, or was removed while another hard link stays).  As
 * criu's irmap: the trees under the given paths are walked, and the first
 * name with the watched device and inode number is taken.  Symbolic links
 * are not followed, and /proc and /sys are not entered. */
#include "files/events-int.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#define IRMAP_DEPTH 64

/* Search the directory @dfd (whose path is @path, of length @len in a
 * buffer of PATH_MAX) for @dev/@ino; @path is extended in place.  1 if
 * found (@path holds it), 0 if not, a negative errno on failure. */
static int scan_dir(int dfd, char *path, size_t len, dev_t dev, ino_t ino, int depth)
{
	struct statfs sfs;
	if (!fstatfs(dfd, &sfs) && (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC)) {
		close(dfd);
		return 0;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;	/* unreadable: nothing found there */
	}
	int ret = 0;
	struct dirent *e;
	while (!ret && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t nl = strlen(e->d_name);
		if (len + 1 + nl + 1 > PATH_MAX)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		path[len] = '/';
		memcpy(path + len + 1, e->d_name, nl + 1);
		if (st.st_dev == dev && st.st_ino == ino) {
			ret = 1;
			break;
		}
		if (S_ISDIR(st.st_mode) && depth < IRMAP_DEPTH) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				ret = scan_dir(sub, path, len + 1 + nl, dev, ino, depth + 1);
		}
		path[len] = '\0';
	}
	closedir(d);
	return ret;
}

int irmap_find(const struct str_list *paths, dev_t dev, ino_t ino, char *out, size_t size)
{
	char path[PATH_MAX];
	for (int i = 0; paths && i < paths->n; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s", paths->v[i]);
		size_t len = strlen(path);
		while (len > 1 && path[len - 1] == '/')
			path[--len] = '\0';
		if (lstat(path, &st)) {
			pr_warn("--irmap-scan-path %s: %s", paths->v[i], strerror(errno));
			continue;
		}
		if (st.st_dev == dev && st.st_ino == ino) {
			snprintf(out, size, "%s", path);
			return 0;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		if (len == 1)	/* "/": entries are appended after the slash */
			len = 0;
		int ret = scan_dir(dfd, path, len, dev, ino, 0);
		if (ret < 0)
			return ret;
		if (ret) {
			if (strlen(path) >= size)
				return -ENAMETOOLONG;
			snprintf(out, size, "%s", path);
			return 0;
		}
	}
	return -ENOENT;
}
