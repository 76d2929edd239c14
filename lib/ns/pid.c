/* PID namespaces: a tree whose root is the init (PID 1) of a PID
 * namespace of its own, as a container runtime makes one.
 *
 * Nothing of the namespace itself is saved: its contents are its
 * processes, and their PIDs inside it are what the images record (the
 * dump's lib/dump/vpid.c).  The restore makes it with the root's clone3
 * (CLONE_NEWPID, set_tid = { 1 }: the first task of a new namespace can
 * only be its PID 1, and set_tid[0] names the PID in the innermost
 * namespace, the new one); every other task is then cloned from inside it
 * with its old PID there (set_tid of size 1: its PIDs further out are
 * whatever is free).  The kernel does the rest: the root, as init, gets
 * the orphans of the namespace, and its exit kills the namespace. */
#include "ns/ns-int.h"
#include "images/image.h"
#include "util/log.h"

#include "pidns.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int pidns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	(void)dirfd;
	(void)set;
	pr_debug("%s namespace %u: made by the root's clone3, nothing to fill", d->what, id);
	return 0;
}

int pidns_restore_check_root(int ns_flags, pid_t root_pid, bool pid_ns_opt)
{
	if (!(ns_flags & CLONE_NEWPID))
		return 0;
	if (root_pid != 1) {
		pr_err("the root process (%d) was dumped in a PID namespace of its own but not "
		       "as its init (PID 1): cryo restores a PID namespace with the root as its "
		       "init and can't restore this tree", root_pid);
		return -EOPNOTSUPP;
	}
	if (pid_ns_opt) {
		pr_err("the tree was dumped in a PID namespace of its own (its root is PID 1 "
		       "there): it gets a new one anyway, with its PIDs inside; restore it without "
		       "--pid-ns (here cryo runs as the init of a PID namespace: --pid-ns, or a "
		       "cryo started as a namespace's init, which can't give it PID 1)");
		return -EINVAL;
	}
	return 0;
}

/* Nested PID namespaces.
 *
 * A task of the tree may be in a PID namespace below the root's (a
 * sandbox made with `unshare -pf` inside a container, a browser's zygote):
 * it has a PID at every level from the tree's namespace inward (NSpid in
 * /proc/PID/status), all of which the images record (pstree.img ns_pid,
 * dump/vpid.c) and the restore gives back at once: clone3's set_tid takes
 * one PID per level, innermost first.  Such a namespace is made again by
 * its init's clone3 (CLONE_NEWPID, set_tid = { 1, PID in the parent
 * namespace, ... }) from its parent; its other tasks are cloned by tasks
 * whose pid_for_children is it (setns with a pidfd of one of its members).
 * pidns-ID.img names each nested namespace's parent. */

/* Is PID namespace @fd (consumed) @want or below it?  NS_GET_PARENT walks
 * up until cryo's own namespace (EPERM above it). */
static bool pidns_below(int fd, uint64_t want)
{
	for (int i = 0; fd >= 0 && i < 40; i++) {
		struct stat st;
		if (fstat(fd, &st))
			break;
		if ((uint64_t)st.st_ino == want) {
			close(fd);
			return true;
		}
		int up = ioctl(fd, NS_GET_PARENT);
		close(fd);
		fd = up;
	}
	if (fd >= 0)
		close(fd);
	return false;
}

static int pidns_write(struct ns_dump *st, uint32_t id, uint32_t parent, pid_t pid);

int pidns_dump_check_task(struct ns_dump *st, const char *dir, uint64_t ino, const char *who)
{
	uint64_t kids;
	char path[96];
	if (ino != st->root[NS_PID]) {
		snprintf(path, sizeof(path), "%s/pid", dir);
		if (!pidns_below(open(path, O_RDONLY | O_CLOEXEC), st->root[NS_PID])) {
			pr_err("%s is in PID namespace pid:[%llu], which is not the root process's "
			       "(pid:[%llu]) nor nested below it: cryo restores the root's PID "
			       "namespace and those below it; dump the subtree in the other "
			       "namespace on its own", who, (unsigned long long)ino,
			       (unsigned long long)st->root[NS_PID]);
			return -EOPNOTSUPP;
		}
		st->pid_nested = true;
	}
	/* ENOENT: unshare(CLONE_NEWPID) and no fork since (no init yet) */
	snprintf(path, sizeof(path), "%s/pid_for_children", dir);
	struct stat sb;
	if (!stat(path, &sb))
		kids = sb.st_ino;
	else if (errno == ENOENT)
		kids = 0;
	else
		return log_errno(-errno, "can't read %s", path);
	if (kids != ino)
		st->pid_nested = true;
	return 0;
}

int pidns_dump_nested(struct ns_dump *st, pid_t pid, uint32_t id, uint32_t parent)
{
	if (pid <= 0)
		return pidns_write(st, id, parent, pid);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open %s", path);
	int up = ioctl(fd, NS_GET_PARENT);
	int err = errno;
	close(fd);
	if (up < 0)
		return log_errno(-err, "can't find the parent of the PID namespace of process %d "
				 "(NS_GET_PARENT)", pid);
	struct stat sb;
	int ret = fstat(up, &sb) ? -errno : 0;
	close(up);
	bool fresh;
	if (!ret)
		ret = ns_dump_id(st, NS_PID, sb.st_ino, &parent, &fresh);
	if (ret)
		return log_errno(ret, "can't identify the parent of the PID namespace of process %d",
				 pid);
	return pidns_write(st, id, parent, pid);
}

static int pidns_write(struct ns_dump *st, uint32_t id, uint32_t parent, pid_t pid)
{
	PidnsEntry e = PIDNS_ENTRY__INIT;
	e.has_cryo_parent = 1;
	e.cryo_parent = parent;
	struct cr_img *img;
	int ret = img_open(&img, st->dirfd, IMG_PIDNS, IMG_WRITE, id);
	if (ret)
		return ret;
	ret = img_write_msg(img, &e.base);
	int r2 = img_close(img);
	if (!ret)
		pr_info("PID namespace %u (of process %d) is nested in %u", id, pid, parent);
	return ret ? ret : r2;
}

int pidns_restore_parent(int dirfd, uint32_t id, uint32_t *parent)
{
	struct cr_img *img;
	PidnsEntry *e;
	int ret = img_open(&img, dirfd, IMG_PIDNS, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_one(img, &pidns_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = 0;
	if (!e->has_cryo_parent || !e->cryo_parent || e->cryo_parent == id) {
		pr_err("pidns-%u.img names no parent namespace: the image is damaged, or not "
		       "cryo's", id);
		ret = -EINVAL;
	} else {
		*parent = e->cryo_parent;
	}
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}
