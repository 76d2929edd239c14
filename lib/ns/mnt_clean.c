/* A clean view of one mount of a tree's mount namespace, for saving the
 * files of its tmpfs: what is under the mount points of its submounts and
 * a mount hidden under others (criu's zdtm tempfs_overmounted, mntns
 * over-mounts) are out of reach through /proc/PID/root.
 *
 * A child enters the namespace (and first the user namespace that owns
 * it: a copy made from another user namespace would have its mounts
 * locked, and neither unmountable nor clonable one by one), makes a
 * private copy of it (unshare), detaches the mounts stacked over the one
 * wanted in that copy, and clones that mount alone (open_tree without
 * AT_RECURSIVE): a detached mount with nothing mounted on it, whose
 * descriptor it sends back.  The tree's namespace is not touched. */
#include "ns/mnt-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

/* how many mounts are stacked over @m at its mount point */
static int over_depth(const struct mnt_table *t, const struct mnt_info *m)
{
	int depth = 0;
	for (const struct mnt_info *cur = m; cur;) {
		const struct mnt_info *next = NULL;
		for (int i = 0; i < t->n && !next; i++)
			if (t->m[i].parent == cur->id && !strcmp(t->m[i].mp, cur->mp))
				next = &t->m[i];
		if (next)
			depth++;
		cur = next;
	}
	return depth;
}

static int send_fd(int sk, int fd, int err)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sk, &mh, 0) == sizeof(err) ? 0 : -errno;
}

/* In the child: 0 and the clone's descriptor in *@out, or a negative code
 * with *@step naming what failed (the parent logs it). */
static int clean_child(pid_t pid, const char *mp, int depth, int *out, const char **step)
{
	char path[64];
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	int mfd = open(path, O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return *step = "open /proc/PID/ns/mnt", -errno;
	int ufd = ioctl(mfd, NS_GET_USERNS);
	if (ufd < 0)
		return *step = "ioctl(NS_GET_USERNS)", -errno;
	if (fstat(ufd, &a) || stat("/proc/self/ns/user", &b))
		return *step = "stat the user namespaces", -errno;
	if ((a.st_dev != b.st_dev || a.st_ino != b.st_ino) && setns(ufd, CLONE_NEWUSER))
		return *step = "setns into the namespace's owning user namespace", -errno;
	if (setns(mfd, CLONE_NEWNS))
		return *step = "setns into the mount namespace", -errno;
	if (unshare(CLONE_NEWNS))
		return *step = "unshare(CLONE_NEWNS) for a private copy", -errno;
	/* private: nothing done in the copy reaches the tree's mounts (and
	 * an unbindable mount can be cloned) */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return *step = "making the copy private", -errno;
	for (int i = 0; i < depth; i++)
		if (umount2(mp, MNT_DETACH))
			return *step = "detaching a mount over it in the copy", -errno;
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, mp, OPEN_TREE_CLONE | O_CLOEXEC);
	if (fd < 0)
		return *step = "open_tree(OPEN_TREE_CLONE) of it in the copy", -errno;
	*out = fd;
	return 0;
}

int mnt_clean_root(pid_t pid, const struct mnt_table *t, const struct mnt_info *m)
{
	int sk[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sk))
		return log_errno(-errno, "socketpair for a clean view of mount %s", m->mp);
	int depth = over_depth(t, m);
	pid_t c = fork();
	if (c < 0) {
		int ret = -errno;
		close(sk[0]);
		close(sk[1]);
		return log_errno(ret, "fork for a clean view of mount %s", m->mp);
	}
	if (c == 0) {
		const char *step = "";
		int fd = -1;
		close(sk[0]);
		int ret = clean_child(pid, m->mp, depth, &fd, &step);
		if (ret < 0) {
			char msg[160];
			snprintf(msg, sizeof(msg), "%s", step);
			send_fd(sk[1], -1, ret);
			(void)!write(sk[1], msg, strlen(msg) + 1);
		} else {
			send_fd(sk[1], fd, 0);
		}
		_exit(0);
	}
	close(sk[1]);
	int err = -EIO, fd = -1;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(sk[0], &mh, MSG_CMSG_CLOEXEC);
	struct cmsghdr *cm = n == sizeof(err) ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	char step[160] = "no answer";
	if (fd < 0 && n == sizeof(err) && read(sk[0], step, sizeof(step) - 1) < 0)
		snprintf(step, sizeof(step), "no answer");
	step[sizeof(step) - 1] = '\0';
	close(sk[0]);
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		if (err >= 0)
			err = -EIO;
		return log_errno(err, "can't reach tmpfs %s of process %d's mount namespace alone "
				 "(%s) to save its files", m->mp, pid, step);
	}
	struct stat sb;
	if (fstat(fd, &sb) || sb.st_dev != makedev(m->maj, m->min)) {
		close(fd);
		pr_err("the mount cryo reached at %s in process %d's mount namespace is not the "
		       "tmpfs mounted there (%u:%u): cryo can't save its files", m->mp, pid, m->maj,
		       m->min);
		return -EOPNOTSUPP;
	}
	return fd;
}
