/* Ptys made early for a mount: a container's /dev/console is a bind mount
 * of its pty slave (runc's "terminal": true binds /dev/pts/N there).  The
 * restore makes mounts before files, so the slave a bind names does not
 * exist yet in the new devpts: mnt_restore asks for it here, a pair is made
 * at that index and held, and the tty kind adopts it for the orphaned
 * slave (--orphan-pts-master) of the same devpts and index, so /dev/console
 * and the tree's terminal are one pty again, as they were. */
#include "files/files.h"
#include "files/tty-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct held_pty {
	dev_t dev;		/* the devpts instance */
	int index;
	int master;
};

static struct held_pty *held;
static int nheld;

int tty_devpts_hold(int devpts_fd, const char *rest, const char *mountpoint)
{
	char *end;
	long index = rest[0] == '/' ? strtol(rest + 1, &end, 10) : -1;
	if (index < 0 || index > TTY_MAX_PTY_INDEX || end == rest + 1 || *end)
		return -ENOENT;		/* not a pty slave: the caller reports it */
	char ptmx[64];
	snprintf(ptmx, sizeof(ptmx), "/proc/self/fd/%d/ptmx", devpts_fd);
	int m = tty_open_ptmx_at(ptmx, index);
	if (m < 0)
		return m;
	struct stat st;
	int zero = 0;
	if (fstat(m, &st) || ioctl(m, TIOCSPTLCK, &zero)) {
		int ret = -errno;
		close(m);
		return log_errno(ret, "can't unlock the pty /dev/pts/%ld made for mount %s", index,
				 mountpoint);
	}
	struct held_pty *n = xrealloc(held, (nheld + 1) * sizeof(*n));
	if (!n) {
		close(m);
		return -ENOMEM;
	}
	held = n;
	held[nheld++] = (struct held_pty){ st.st_dev, (int)index, m };
	pr_info("mount %s: the pty slave it binds (%s) made anew, held for the terminal restore",
		mountpoint, rest);
	return 0;
}

int tty_devpts_take(dev_t dev, int index)
{
	for (int i = 0; i < nheld; i++)
		if (held[i].master >= 0 && held[i].dev == dev && held[i].index == index) {
			int m = held[i].master;
			held[i].master = -1;
			return m;
		}
	return -1;
}

void tty_devpts_release(void)
{
	for (int i = 0; i < nheld; i++)
		if (held[i].master >= 0) {
			/* its slave node goes with it: the bind mount stays on a
			 * pty that no longer exists (opening it fails) */
			pr_warn("pty %d, made for a bind mount of its slave, was not taken by any "
				"terminal of the tree (restore with --orphan-pts-master?): the mount "
				"now shows a closed pty", held[i].index);
			close(held[i].master);
		}
	free(held);
	held = NULL;
	nheld = 0;
}
