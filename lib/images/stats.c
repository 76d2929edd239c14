/* stats-dump / stats-restore: written to the images directory, where
 * cryo's own readers (migrate, crit in the tests, a later dump's parent
 * chain) look, and to the work directory when it is another one: criu
 * writes its statistics there (to its working directory, which it sets to
 * the work directory), and its clients read them there (podman's
 * --print-stats reads the container's bundle, the work path it gave
 * runc). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/stats.h"
#include "util/log.h"

static int write_one(int dirfd, enum img_type type, const StatsEntry *se)
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, type, IMG_WRITE, 0);
	if (ret)
		return ret;
	ret = img_write_msg(img, &se->base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

/* @work_dir names the same directory as @dirfd (or is unset) */
static bool same_dir(int dirfd, const char *work_dir, int *wfd)
{
	struct stat a, b;
	*wfd = -1;
	if (!work_dir)
		return true;
	/* a relative one was already entered: the front ends (the command
	 * line, the RPC) change into the work directory, as for the log */
	*wfd = open(work_dir[0] == '/' ? work_dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*wfd < 0 || fstat(dirfd, &a) || fstat(*wfd, &b))
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int stats_write(int dirfd, const char *work_dir, enum img_type type, const StatsEntry *se)
{
	int wfd;
	int ret = write_one(dirfd, type, se);
	if (ret || same_dir(dirfd, work_dir, &wfd)) {
		if (wfd >= 0)
			close(wfd);
		return ret;
	}
	if (wfd < 0)
		return log_errno(-errno, "can't open the work directory %s for %s", work_dir,
				 type == IMG_STATS_DUMP ? "stats-dump" : "stats-restore");
	ret = write_one(wfd, type, se);
	close(wfd);
	return ret;
}
