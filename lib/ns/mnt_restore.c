/* Restore a mount namespace from mountpoints-ID.img.  The root's clone3
 * made the namespace (CLONE_NEWNS: a copy of cryo's); cryo enters it,
 * makes that copy private, builds the dumped tree in a directory of its
 * own (the "yard") and makes it the namespace's root with pivot_root,
 * which also moves the root task, whose root was the old one, into it.
 * The old tree is detached.
 *
 * Each mount, parents first, is one of (in this order):
 *   - a peer of an earlier mount (same shared_id) or a slave of a peer
 *     group of the namespace (master_id): a bind of that mount (private:
 *     its group and master are set at the end, see below);
 *   - external (ext_key): a bind of the path --external mnt[KEY]:PATH (or
 *     --ext-mount-map KEY:PATH) gives, or for "host:PATH" (mnt_dump.c) of PATH in cryo's namespace;
 *     the namespace's root mount comes from --root DIR when given;
 *   - a bind of the tree's own mount of the same super block (its first
 *     with root "/", made earlier);
 *   - a new mount of its file system with its options (tmpfs filled from
 *     tmpfs-dev-N.tar.gz.img by tar(1); mqueue mounted from inside the
 *     tree's IPC namespace, whose queues it shows).
 * Then, children before parents: read-only super blocks, the per-mount
 * flags (read-only, nosuid, nodev, noexec, atime) and unbindable.  Each
 * mount is reached through an O_PATH descriptor of its root taken when it
 * was made, so an over-mounted one is still reachable.  Last, after
 * pivot_root, the propagation (join_groups): peer groups and masters,
 * inside the tree or, dumped with --enable-external-sharing/-masters, of
 * cryo's namespace, set with MOVE_MOUNT_SET_GROUP; as nothing was shared
 * while building, a shared mount's children (in the image) are made once. */
#include "ns/ns-int.h"
#include "ns/mnt-int.h"
#include "creds/creds.h"
#include "files/files.h"
#include "images/image.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mnt.pb-c.h"

#define MNT_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | \
		   MS_RELATIME | MS_STRICTATIME)

/* The flags of a mount, with strictatime made explicit: mountinfo names no
 * atime mode for it (only "relatime" and "noatime"), and a remount that
 * names none keeps the mount's own, which for a new one is relatime. */
static unsigned mnt_atime_flags(unsigned flags)
{
	flags &= MNT_FLAGS;
	if (!(flags & (MS_NOATIME | MS_RELATIME)))
		flags |= MS_STRICTATIME;
	return flags;
}

struct rmnt {
	MntEntry *e;
	int fd;			/* O_PATH of its root once made, else -1 */
	bool fresh;		/* mounted anew (not a bind) */
	/* shared or a slave: its propagation is set once the tree is built
	 * (join_groups) */
	bool deferred, joined;
	int ext_peer, ext_master;	/* cryo's mount in its group / its master's */
};

struct mnt_rst {
	const struct ns_set *set;
	const struct cryo_opts *opts;
	int dirfd;
	uint32_t id;
	struct rmnt *m;
	int n;
	char yard[64];
	int own;		/* cryo's own mount namespace, while in the new one */
};

static const char *fs_name(const MntEntry *e)
{
	static const struct { unsigned code; const char *name; } names[] = {
		{ 1, "proc" }, { 2, "sysfs" }, { 3, "devtmpfs" }, { 4, "binfmt_misc" },
		{ 5, "tmpfs" }, { 6, "devpts" }, { 8, "pstore" }, { 9, "securityfs" },
		{ 10, "fusectl" }, { 11, "debugfs" }, { 12, "cgroup" }, { 14, "mqueue" },
		{ 15, "fuse" }, { 17, "overlay" }, { 18, "autofs" }, { 19, "tracefs" },
		{ 23, "cgroup2" },
	};
	if (e->fsname)
		return e->fsname;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == e->fstype)
			return names[i].name;
	return "?";
}

static int load(struct mnt_rst *r)
{
	struct cr_img *img;
	int ret = img_open(&img, r->dirfd, IMG_MNTS, IMG_READ, r->id);
	if (ret)
		return ret;
	for (;;) {
		MntEntry *e;
		ret = img_read_msg(img, &mnt_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			break;
		struct rmnt *v = xrealloc(r->m, (r->n + 1) * sizeof(*v));
		if (!v) {
			protobuf_c_message_free_unpacked(&e->base, NULL);
			ret = -ENOMEM;
			break;
		}
		r->m = v;
		r->m[r->n++] = (struct rmnt){ e, -1, false, false, false, -1, -1 };
		if (!e->has_mnt_id || !e->has_parent_mnt_id || !e->has_root_dev || !e->root ||
		    !e->mountpoint || e->mountpoint[0] != '/' || !e->source || !e->options ||
		    !e->has_fstype || strstr(e->mountpoint, "/../") || (e->has_ext_mount &&
		    e->ext_mount && !e->ext_key)) {
			pr_err("mountpoints-%u.img: mount %d lacks a field criu requires or has a "
			       "bad mount point: the image is damaged", r->id, r->n);
			ret = -EINVAL;
			break;
		}
		if (r->opts && r->opts->lsm_mount_context &&
		    lsm_mount_options(r->opts->lsm_mount_context, &e->options) < 0) {
			ret = -ENOMEM;
			break;
		}
	}
	img_close(img);
	if (!ret && !r->n) {
		pr_err("mountpoints-%u.img has no mounts", r->id);
		ret = -EINVAL;
	}
	return ret;
}

static struct rmnt *by_id(struct mnt_rst *r, uint32_t id)
{
	for (int i = 0; i < r->n; i++)
		if (r->m[i].e->mnt_id == id)
			return &r->m[i];
	return NULL;
}

static struct rmnt *root_of(struct mnt_rst *r)
{
	for (int i = 0; i < r->n; i++)
		if (!by_id(r, r->m[i].e->parent_mnt_id))
			return &r->m[i];
	return NULL;
}

/* --external mnt[KEY]:PATH, --ext-mount-map KEY:PATH, or PATH of a
 * "host:PATH" key; NULL (logged) if none */
static const char *ext_path(struct mnt_rst *r, const MntEntry *e)
{
	size_t n = strlen(e->ext_key);
	for (int i = 0; r->opts && i < r->opts->external.n; i++) {
		const char *v = r->opts->external.v[i];
		if (!strncmp(v, "mnt[", 4) && !strncmp(v + 4, e->ext_key, n) && v[4 + n] == ']' &&
		    v[5 + n] == ':' && v[6 + n])
			return v + 6 + n;
	}
	for (int i = 0; r->opts && i < r->opts->ext_mount_map.n; i++) {
		const char *v = r->opts->ext_mount_map.v[i];
		if (!strncmp(v, e->ext_key, n) && v[n] == ':' && v[n + 1])
			return v + n + 1;
	}
	if (!strncmp(e->ext_key, MNT_HOST_KEY, strlen(MNT_HOST_KEY)))
		return e->ext_key + strlen(MNT_HOST_KEY);
	pr_err("mount %s was dumped as external (key \"%s\"): give its source with --external "
	       "mnt[%s]:PATH", e->mountpoint, e->ext_key, e->ext_key);
	return NULL;
}

/* The mount @m is made from (a bind), or NULL for a new one; *@wait: that
 * one is not made yet. */
static struct rmnt *bind_from(struct mnt_rst *r, struct rmnt *m, bool *wait)
{
	const MntEntry *e = m->e;
	*wait = false;
	for (int pass = 0; pass < 2; pass++) {
		unsigned group = pass ? (e->has_master_id ? e->master_id : 0)
				      : (e->has_shared_id ? e->shared_id : 0);
		for (int i = 0; group && i < r->n && &r->m[i] != m; i++)
			if (r->m[i].e->has_shared_id && r->m[i].e->shared_id == group) {
				*wait = r->m[i].fd < 0;
				return &r->m[i];
			}
		/* a master later in the image */
		for (int i = 0; pass && group && i < r->n; i++)
			if (&r->m[i] != m && r->m[i].e->has_shared_id && r->m[i].e->shared_id == group) {
				*wait = r->m[i].fd < 0;
				return &r->m[i];
			}
	}
	if (e->has_ext_mount && e->ext_mount)
		return NULL;
	for (int i = 0; i < r->n; i++) {
		const MntEntry *p = r->m[i].e;
		if (p->root_dev == e->root_dev && !(p->has_ext_mount && p->ext_mount) &&
		    !strcmp(p->root, "/")) {
			if (&r->m[i] == m)
				return NULL;
			*wait = r->m[i].fd < 0;
			return &r->m[i];
		}
	}
	return NULL;
}

/* Make @path exist as a directory (or, @file, an empty file) */
static int make_mountpoint(const char *path, bool file)
{
	char buf[PATH_MAX];
	struct stat st;
	if (!lstat(path, &st))
		return 0;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return log_errno(-errno, "can't make the directory %s for a mount point", buf);
		*p = '/';
	}
	if (!file) {
		if (mkdir(path, 0755) && errno != EEXIST)
			return log_errno(-errno, "can't make the mount point %s", path);
		return 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return log_errno(-errno, "can't make the mount point %s (a file)", path);
	close(fd);
	return 0;
}

static int fill_tmpfs(struct mnt_rst *r, const MntEntry *e, const char *target)
{
	char name[64], what[PATH_MAX + 64];
	snprintf(name, sizeof(name), MNT_TMPFS_IMG, e->root_dev);
	int in = open_image_file(r->dirfd, name);
	if (in < 0)
		return log_errno(in, "can't open %s, the files of tmpfs %s", name, e->mountpoint);
	char *argv[] = { "tar", "--extract", "--gzip", "--no-unquote", "--no-wildcards",
			 "--preserve-permissions", "--numeric-owner", MNT_TAR_XATTRS, "--file=-",
			 "--directory",
			 (char *)target, NULL };
	snprintf(what, sizeof(what), "filling tmpfs %s from %s", e->mountpoint, name);
	int ret = mnt_run_tar(argv, in, -1, what);
	close(in);
	return ret;
}

/* A new mount namespace owned by a new user namespace (lib/ns/user.c)
 * is a copy of cryo's whose mounts are locked to their parents, and the
 * kernel refuses a bind (not recursive) of a mount with locked mounts
 * under it, as it would reveal what they cover (EINVAL): such a bind of
 * cryo's own mount is cloned in cryo's namespace (open_tree, where
 * nothing is locked) and attached in the new one (move_mount).  cryo is
 * single-threaded: setns of the mount namespace is its own to do. */
static int bind_from_own_ns(struct mnt_rst *r, const char *from, const char *target,
			    const char *mountpoint)
{
	if (r->own < 0 || !r->set || r->set->fd[NS_USER] < 0)
		return log_errno(-EINVAL, "can't bind %s at %s (mount %s)", from, target,
				 mountpoint);
	if (setns(r->own, CLONE_NEWNS))
		return log_errno(-errno, "can't go back to cryo's mount namespace to bind %s "
				 "(mount %s)", from, mountpoint);
	int t = open_tree(AT_FDCWD, from, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	int err = t < 0 ? errno : 0;
	if (setns(r->set->fd[NS_MNT], CLONE_NEWNS)) {
		err = errno;
		if (t >= 0)
			close(t);
		return log_errno(-err, "can't enter the new mount namespace again after cloning "
				 "%s: cryo is left in its own and can't go on", from);
	}
	if (err)
		return log_errno(-err, "open_tree(OPEN_TREE_CLONE) of %s in cryo's mount namespace "
				 "failed (mount %s)", from, mountpoint);
	int ret = 0;
	if (move_mount(t, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH))
		ret = log_errno(-errno, "can't attach the clone of %s at %s (move_mount; mount %s)",
				from, target, mountpoint);
	/* the clone joined the peer group of cryo's mount, where that one is
	 * shared: private, as a bind in the new namespace (made all private)
	 * would be; the flags step makes it shared where it was */
	else if (mount(NULL, target, NULL, MS_PRIVATE, NULL))
		ret = log_errno(-errno, "can't make the clone of %s at %s private (mount %s)", from,
				target, mountpoint);
	close(t);
	return ret;
}

/*
 * proc shows the PID namespace of whoever mounts it, and sysfs the network
 * namespace: mounted by cryo, the tree's own /proc would list cryo's PIDs
 * (/proc/self a host PID) and its /sys the host's devices.  So a process
 * in the tree's namespaces mounts them.  A network namespace is joined at
 * once; a PID namespace only for children (setns), so a grandchild, born
 * in the tree's namespace, does the mount.  Both run in cryo's current
 * mount namespace, the tree's new one.  The grandchild takes the next free
 * PID there and is gone before any of the tree's other tasks is made with
 * its own.  Returns 1 when the mount is cryo's to make (the tree shares
 * cryo's namespace of that kind).
 */
static int mount_in_tree_ns(struct mnt_rst *r, const MntEntry *e, const char *fs,
			    const char *target)
{
	enum ns_kind kind;
	if (!strcmp(fs, "proc"))
		kind = NS_PID;
	else if (!strcmp(fs, "sysfs"))
		kind = NS_NET;
	else
		return 1;
	if (!r->set || r->set->fd[kind] < 0)
		return 1;
	const struct ns_desc *d = ns_desc(kind);
	const char *mopts = e->options[0] ? e->options : NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC))
		return log_errno(-errno, "can't make a pipe to mount %s at %s", fs, e->mountpoint);
	pid_t h = fork();
	if (h < 0) {
		int ret = log_errno(-errno, "can't fork to mount %s at %s", fs, e->mountpoint);
		close(pfd[0]);
		close(pfd[1]);
		return ret;
	}
	if (h == 0) {
		/* the errno of the failed step goes back; nothing is logged here */
		int err = 0, step = 0;
		close(pfd[0]);
		if (setns(r->set->fd[kind], d->clone_flag))
			err = errno, step = 1;
		/* a PID namespace is entered by the children of setns's
		 * caller only; a network namespace by the caller itself */
		pid_t g = err ? -1 : kind == NS_PID ? fork() : getpid();
		if (!err && g < 0)
			err = errno, step = 2;
		if (!err && kind != NS_PID) {
			if (mount(e->source, target, fs, 0, mopts))
				err = errno;
			step = 3;
		} else if (!err && g == 0) {
			if (mount(e->source, target, fs, 0, mopts))
				_exit(errno);
			_exit(0);
		} else if (!err) {
			int st;
			while (waitpid(g, &st, 0) < 0 && errno == EINTR)
				;
			err = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
			step = 3;
		}
		int msg[2] = { err, step };
		if (write(pfd[1], msg, sizeof(msg)) != sizeof(msg))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	int msg[2] = { EIO, 0 }, st;
	ssize_t n = read(pfd[0], msg, sizeof(msg));
	close(pfd[0]);
	while (waitpid(h, &st, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(msg))
		return log_errno(-EIO, "the process mounting %s at %s in the tree's %s namespace "
				 "died", fs, e->mountpoint, d->what);
	if (msg[0] == 0)
		return 0;
	static const char *const steps[] = { "", "setns into", "fork in", "mount in" };
	return log_errno(-msg[0], "can't mount %s (%s, source %s, options \"%s\") at %s: %s the "
			 "tree's %s namespace failed", fs, e->mountpoint, e->source, e->options,
			 target, steps[msg[1] & 3], d->what);
}

static int mount_new(struct mnt_rst *r, const MntEntry *e, const char *target)
{
	const char *fs = fs_name(e);
	if (!strcmp(fs, "overlay")) {
		int ret = make_mountpoint(target, false);
		return ret ? ret : mnt_ovl_mount(r->yard, e->mountpoint, e->source, e->options);
	}
	if (!mnt_fs_recreated(fs)) {
		pr_err("mount %s (%s) is neither external nor a file system cryo mounts anew: the "
		       "image is not one cryo wrote", e->mountpoint, fs);
		return -EOPNOTSUPP;
	}
	int ret = make_mountpoint(target, false), back = -1;
	/* mqueue shows the IPC namespace of whoever mounts it */
	bool ipc = !strcmp(fs, "mqueue");
	if (!ret && ipc)
		ret = ns_enter(r->set, ns_desc(NS_IPC), &back);
	if (ret)
		return ret;
	ret = mount_in_tree_ns(r, e, fs, target);
	if (ret <= 0) {
		if (!ret && !strcmp(fs, "tmpfs"))
			ret = fill_tmpfs(r, e, target);
		return ret;
	}
	ret = 0;
	if (mount(e->source, target, fs, 0, e->options[0] ? e->options : NULL))
		ret = log_errno(-errno, "can't mount %s (%s, source %s, options \"%s\") at %s", fs,
				e->mountpoint, e->source, e->options, target);
	if (ipc) {
		int r2 = ns_leave(ns_desc(NS_IPC), back);
		if (!ret)
			ret = r2;
	}
	if (!ret && !strcmp(fs, "tmpfs"))
		ret = fill_tmpfs(r, e, target);
	return ret;
}

static bool over_mounted(struct mnt_rst *r, const MntEntry *e)
{
	for (int i = 0; i < r->n; i++)
		if (r->m[i].e->parent_mnt_id == e->mnt_id && r->m[i].e != e &&
		    !strcmp(r->m[i].e->mountpoint, e->mountpoint))
			return true;
	return false;
}

/* A host file system whose instance depends only on the mounter's
 * namespaces, whole (root "/"): one made anew is as good */
static bool renewable(const MntEntry *e)
{
	static const char *const fs[] = { "proc", "sysfs", "mqueue", "cgroup", "cgroup2" };
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		if (!strcmp(fs_name(e), fs[i]))
			return !strcmp(e->root, "/");
	return false;
}

static int make_one(struct mnt_rst *r, struct rmnt *m, struct rmnt *src, bool is_root)
{
	const MntEntry *e = m->e;
	char target[PATH_MAX], from[PATH_MAX];
	const char *rest = "";
	snprintf(target, sizeof(target), "%s%s", r->yard, is_root ? "" : e->mountpoint);
	int ret = 0;
	if (src) {
		if (!mnt_path_under(e->root, src->e->root, &rest)) {
			pr_err("mount %s (root %s) can't be made from %s (root %s): the image is "
			       "inconsistent", e->mountpoint, e->root, src->e->mountpoint, src->e->root);
			return -EINVAL;
		}
		snprintf(from, sizeof(from), "/proc/self/fd/%d%s", src->fd, rest);
	} else if (is_root && r->opts && r->opts->root) {
		snprintf(from, sizeof(from), "%s", r->opts->root);
	} else if (e->has_ext_mount && e->ext_mount) {
		const char *p = ext_path(r, e);
		if (!p)
			return -ENOENT;
		snprintf(from, sizeof(from), "%s", p);
		struct stat st;
		/* hidden mounts of the host: what is there (mnt_dump.c) */
		bool host = !strncmp(e->ext_key, MNT_HOST_KEY, strlen(MNT_HOST_KEY));
		if (host && !over_mounted(r, e) &&
		    !(stat(from, &st) == 0 && st.st_dev == makedev(e->root_dev >> 20,
								   e->root_dev & 0xfffff)) &&
		    renewable(e)) {
			/* cryo's own is another now (restore --pid-ns: its init
			 * has mounted the new PID namespace's proc): the tree
			 * gets one of its namespaces, as the host's was */
			pr_info("mount %s: %s is another %s now; mounting a new one", e->mountpoint,
				from, fs_name(e));
			ret = mount_new(r, e, target);
			m->fresh = true;
			goto made;
		}
		if (host && !over_mounted(r, e) &&
		    !(stat(from, &st) == 0 && st.st_dev == makedev(e->root_dev >> 20,
								   e->root_dev & 0xfffff))) {
			pr_err("mount %s was a bind of %s of the dumping host (device %u:%u), which "
			       "is not there now: restore on that host, or give its source with "
			       "--external mnt[%s]:PATH", e->mountpoint, from, e->root_dev >> 20,
			       e->root_dev & 0xfffff, e->ext_key);
			return -ENOENT;
		}
	} else {
		ret = mount_new(r, e, target);
		m->fresh = true;
		goto made;
	}
	struct stat st;
	int sr = stat(from, &st) ? -errno : 0;
	/* a bind of a pty slave (a container's /dev/console): made now */
	if (sr == -ENOENT && src && !strcmp(fs_name(src->e), "devpts") &&
	    tty_devpts_hold(src->fd, rest, e->mountpoint) == 0)
		sr = stat(from, &st) ? -errno : 0;
	if (sr)
		return log_errno(sr, "can't find %s, the source of mount %s", from, e->mountpoint);
	if (!is_root)
		ret = make_mountpoint(target, !S_ISDIR(st.st_mode));
	if (!ret && mount(from, target, NULL, MS_BIND, NULL)) {
		if (errno == EINVAL && from[0] == '/' && strncmp(from, "/proc/self/fd/", 14))
			ret = bind_from_own_ns(r, from, target, e->mountpoint);
		else
			ret = log_errno(-errno, "can't bind %s at %s (mount %s)", from, target,
					e->mountpoint);
	}
made:
	if (ret)
		return ret;
	m->fd = open(target, O_PATH | O_CLOEXEC);
	if (m->fd < 0)
		return log_errno(-errno, "can't open the new mount %s", target);
	/* propagation: join_groups(), once the tree is built */
	pr_debug("mount %u at %s: %s%s", e->mnt_id, e->mountpoint,
		 m->fresh ? "new " : "bind of ", m->fresh ? fs_name(e) : from);
	return 0;
}

/* An overlay waits for the mounts that hold its layers (the deepest
 * mount of the image over each layer's path) */
static bool ovl_wait(struct mnt_rst *r, const struct rmnt *m)
{
	char **l;
	int n;
	bool wait = false;
	if (strcmp(fs_name(m->e), "overlay") || (m->e->has_ext_mount && m->e->ext_mount) ||
	    strcmp(m->e->root, "/") || mnt_ovl_layers(m->e->options, &l, &n))
		return false;
	for (int i = 0; i < n && !wait; i++) {
		const struct rmnt *best = NULL;
		const char *rest;
		for (int j = 0; j < r->n; j++)
			if (&r->m[j] != m && mnt_path_under(l[i], r->m[j].e->mountpoint, &rest) &&
			    (!best || strlen(r->m[j].e->mountpoint) > strlen(best->e->mountpoint)))
				best = &r->m[j];
		wait = best && best->fd < 0;
	}
	mnt_ovl_layers_free(l, n);
	return wait;
}

/* The image mount in peer group @g (other than @not), or NULL */
static struct rmnt *img_group_mount(struct mnt_rst *r, unsigned g, const struct rmnt *not)
{
	for (int i = 0; g && i < r->n; i++)
		if (&r->m[i] != not && r->m[i].e->has_shared_id && r->m[i].e->shared_id == g)
			return &r->m[i];
	return NULL;
}

/* An O_PATH descriptor of the root of a mount of cryo's namespace (@host)
 * in peer group @g, of @e's super block, whose root holds @e's (what
 * MOVE_MOUNT_SET_GROUP asks of its source); -1 if there is none. */
static int host_group_mount(const struct mnt_table *host, unsigned g, const MntEntry *e)
{
	const char *rest;
	for (int i = 0; g && i < host->n; i++) {
		const struct mnt_info *h = &host->m[i];
		if ((unsigned)h->shared != g || mnt_kdev(h->maj, h->min) != e->root_dev ||
		    !mnt_path_under(e->root, h->root, &rest))
			continue;
		int fd = open(h->mp, O_PATH | O_CLOEXEC);
		struct statx sx;
		/* over-mounted in cryo's namespace: the path leads elsewhere */
		if (fd >= 0 && !statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) &&
		    (sx.stx_mask & STATX_MNT_ID) && sx.stx_mnt_id == (uint64_t)h->id)
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

/* Before entering the new namespace: which mounts are in a peer group of
 * cryo's namespace (dumped with --enable-external-sharing) or slaves of
 * one (--enable-external-masters), with a descriptor of that mount.  Every
 * shared or slave mount gets its propagation once the tree is built
 * (join_groups), so that nothing mounted while building propagates. */
static int find_ext_groups(struct mnt_rst *r)
{
	struct mnt_table host;
	int ret = mnt_table_read("/proc/self/mountinfo", &host);
	if (ret)
		return ret;
	for (int i = 0; !ret && i < r->n; i++) {
		struct rmnt *m = &r->m[i];
		const MntEntry *e = m->e;
		if (e->has_shared_id && e->shared_id && e->has_cryo_ext_sharing &&
		    e->cryo_ext_sharing) {
			m->ext_peer = host_group_mount(&host, e->shared_id, e);
			if (m->ext_peer < 0) {
				pr_err("mount %s was in peer group %u of the dumping cryo's mount "
				       "namespace (dumped with --enable-external-sharing), and cryo's "
				       "namespace has no mount of %u:%u in that group now: restore "
				       "where that group is mounted", e->mountpoint, e->shared_id,
				       e->root_dev >> 20, e->root_dev & 0xfffff);
				ret = -ENOENT;
			}
		}
		if (e->has_master_id && e->master_id && !img_group_mount(r, e->master_id, NULL)) {
			m->ext_master = host_group_mount(&host, e->master_id, e);
			if (m->ext_master < 0) {
				pr_err("mount %s was a slave of peer group %u outside the tree (dumped "
				       "with --enable-external-masters), and cryo's namespace has no "
				       "mount of %u:%u in that group now: restore where that master "
				       "is mounted", e->mountpoint, e->master_id, e->root_dev >> 20,
				       e->root_dev & 0xfffff);
				ret = -ENOENT;
			}
		}
		m->deferred = (e->has_shared_id && e->shared_id) || (e->has_master_id && e->master_id);
	}
	mnt_table_free(&host);
	return ret;
}

/* Give @to the peer group (and master) of @from: both must be mount
 * roots of one super block, @from's root holding @to's, @to private */
static int set_group(int from, struct rmnt *to, const char *what)
{
	if (move_mount(from, "", to->fd, "", MOVE_MOUNT_SET_GROUP | MOVE_MOUNT_F_EMPTY_PATH |
		       MOVE_MOUNT_T_EMPTY_PATH))
		return log_errno(-errno, "can't put mount %s in the peer group of %s "
				 "(move_mount MOVE_MOUNT_SET_GROUP)", to->e->mountpoint, what);
	return 0;
}

/* MS_SHARED or MS_SLAVE for mount @m, through its descriptor: after
 * pivot_root cryo's /proc/self may not be there (the tree's own proc of
 * another PID namespace is) */
static int set_propagation(struct rmnt *m, unsigned flag, const char *what)
{
	struct mount_attr a = { .propagation = flag };
	if (mount_setattr(m->fd, "", AT_EMPTY_PATH, &a, sizeof(a)))
		return log_errno(-errno, "can't make mount %s %s (mount_setattr)",
				 m->e->mountpoint, what);
	return 0;
}

/* A member of peer group @g other than @m whose root holds @m's (what
 * MOVE_MOUNT_SET_GROUP asks of its source): one already joined when
 * @joined, else one not joined yet; NULL if none. */
static struct rmnt *group_source(struct mnt_rst *r, unsigned g, const struct rmnt *m, bool joined)
{
	const char *rest;
	for (int i = 0; g && i < r->n; i++) {
		struct rmnt *p = &r->m[i];
		if (p != m && p->e->has_shared_id && p->e->shared_id == g && p->joined == joined &&
		    mnt_path_under(m->e->root, p->e->root, &rest))
			return p;
	}
	return NULL;
}

/* Propagation, after pivot_root (which refuses a shared root) and once
 * every mount is made, so that nothing mounted while building propagated
 * (a shared mount's children are in the image, each made where it was):
 * a mount joins the group of a peer already joined (MOVE_MOUNT_SET_GROUP,
 * which gives its master too), or its mount in cryo's namespace (external
 * sharing); else, the first of its group, it joins its master's group and
 * becomes its slave, and is made shared (a new group) where it was. */
static int join_groups(struct mnt_rst *r)
{
	int left = 0, ret = 0;
	const char *rest;
	for (int i = 0; i < r->n; i++)
		left += r->m[i].deferred;
	while (!ret && left) {
		int before = left;
		for (int i = 0; !ret && i < r->n; i++) {
			struct rmnt *m = &r->m[i];
			const MntEntry *e = m->e;
			if (!m->deferred || m->joined)
				continue;
			unsigned g = e->has_shared_id ? e->shared_id : 0;
			unsigned y = e->has_master_id ? e->master_id : 0;
			struct rmnt *peer = group_source(r, g, m, true), *wider = NULL;
			for (int j = 0; g && !peer && j < r->n && !wider; j++) {
				struct rmnt *p = &r->m[j];
				/* a peer of cryo's group, or of a wider root, goes first */
				if (p != m && !p->joined && p->e->has_shared_id && p->e->shared_id == g &&
				    (p->ext_peer >= 0 || (mnt_path_under(e->root, p->e->root, &rest) &&
							  strcmp(e->root, p->e->root))))
					wider = p;
			}
			if (peer) {
				ret = set_group(peer->fd, m, peer->e->mountpoint);
			} else if (m->ext_peer >= 0) {
				ret = set_group(m->ext_peer, m, "its mount in cryo's namespace");
			} else if (wider) {
				continue;
			} else {
				struct rmnt *src = NULL;
				if (y && m->ext_master < 0) {
					src = group_source(r, y, m, true);
					if (!src && group_source(r, y, m, false))
						continue;	/* its master is not joined yet */
					if (!src) {
						pr_err("mount %s (root %s) is a slave of peer group %u, "
						       "none of whose mounts holds its root: the image is "
						       "inconsistent", e->mountpoint, e->root, y);
						return -EINVAL;
					}
				}
				if (y)
					ret = src ? set_group(src->fd, m, src->e->mountpoint) :
						    set_group(m->ext_master, m, "its master in cryo's "
							      "namespace");
				if (!ret && y)
					ret = set_propagation(m, MS_SLAVE, "a slave");
				if (!ret && g)
					ret = set_propagation(m, MS_SHARED, "shared");
			}
			if (!ret)
				pr_debug("mount %u at %s: propagation set (peer group %u, master %u)",
					 e->mnt_id, e->mountpoint, g, y);
			m->joined = true;
			left--;
		}
		if (!ret && left == before) {
			pr_err("mountpoints-%u.img: the peer groups of %d mounts can't be set (their "
			       "masters never are): the image is inconsistent", r->id, left);
			ret = -EINVAL;
		}
	}
	return ret;
}

static int build(struct mnt_rst *r)
{
	struct rmnt *root = root_of(r);
	if (!root) {
		pr_err("mountpoints-%u.img has no root mount", r->id);
		return -EINVAL;
	}
	bool wait;
	struct rmnt *src = bind_from(r, root, &wait);
	int ret = make_one(r, root, wait ? NULL : src, true);
	for (int done = 1; !ret && done < r->n;) {
		int before = done;
		for (int i = 0; !ret && i < r->n; i++) {
			struct rmnt *m = &r->m[i], *p = by_id(r, m->e->parent_mnt_id);
			if (m->fd >= 0 || m == root || !p || p->fd < 0)
				continue;
			src = bind_from(r, m, &wait);
			if (wait || ovl_wait(r, m))
				continue;
			ret = make_one(r, m, src, false);
			done++;
		}
		if (!ret && done == before) {
			pr_err("mountpoints-%u.img: %d mounts can't be placed (their parent or the "
			       "mount they are bound from never comes): the image is inconsistent",
			       r->id, r->n - done);
			ret = -EINVAL;
		}
	}
	/* flags last, children first: a read-only parent would stop the
	 * mount points under it from being made */
	for (int i = r->n - 1; !ret && i >= 0; i--) {
		const MntEntry *e = r->m[i].e;
		char self[32];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", r->m[i].fd);
		if (r->m[i].fresh && e->has_sb_flags && (e->sb_flags & MS_RDONLY) &&
		    mount(NULL, self, fs_name(e), MS_REMOUNT | MS_RDONLY,
			  e->options[0] ? e->options : NULL))
			ret = log_errno(-errno, "can't make the %s of mount %s read-only",
					fs_name(e), e->mountpoint);
		else if (mount(NULL, self, NULL, MS_REMOUNT | MS_BIND | mnt_atime_flags(e->flags),
			       NULL))
			ret = log_errno(-errno, "can't set the flags 0x%x of mount %s",
					mnt_atime_flags(e->flags), e->mountpoint);
		else if ((e->flags & MS_UNBINDABLE) && mount(NULL, self, NULL, MS_UNBINDABLE, NULL))
			ret = log_errno(-errno, "can't make mount %s unbindable", e->mountpoint);
	}
	if (ret)
		return ret;
	/* the yard becomes the root; the old one (cryo's copy) goes */
	if (fchdir(root->fd))
		return log_errno(-errno, "can't enter the new root %s", r->yard);
	if (syscall(SYS_pivot_root, ".", "."))
		return log_errno(-errno, "pivot_root into the new mount tree (%s) failed", r->yard);
	if (umount2(".", MNT_DETACH))
		return log_errno(-errno, "can't detach the old root of the new mount namespace");
	if (chdir("/"))
		return log_errno(-errno, "chdir to the new root");
	return join_groups(r);
}

int mntns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	struct mnt_rst r = { .set = set, .opts = set->opts, .dirfd = dirfd, .id = id, .own = -1 };
	int ret = load(&r);
	int cwd = -1, back = -1;
	bool entered = false;
	if (!ret && r.opts && r.opts->root) {
		struct stat st;
		if (stat(r.opts->root, &st) || !S_ISDIR(st.st_mode))
			ret = log_errno(-ENOTDIR, "--root %s is not a directory", r.opts->root);
	}
	if (!ret) {
		cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cwd < 0)
			ret = log_errno(-errno, "can't open cryo's working directory");
	}
	if (!ret)
		ret = find_ext_groups(&r);
	if (!ret)
		ret = ns_enter(set, d, &back);
	entered = !ret;
	r.own = back;
	/* nothing done in the copy may reach cryo's namespace */
	if (!ret && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		ret = log_errno(-errno, "can't make the new mount namespace private");
	if (!ret) {
		snprintf(r.yard, sizeof(r.yard), "/tmp/.cryo-mnt-XXXXXX");
		if (!mkdtemp(r.yard)) {
			ret = log_errno(-errno, "can't make a directory for the new mount tree (%s)",
					r.yard);
			r.yard[0] = '\0';
		}
	}
	if (!ret)
		ret = build(&r);
	if (entered) {
		int r2 = ns_leave(d, back);
		if (!ret)
			ret = r2;
	}
	if (cwd >= 0) {
		if (fchdir(cwd) && !ret)
			ret = log_errno(-errno, "can't go back to cryo's working directory");
		close(cwd);
	}
	/* in cryo's namespace it is an empty directory (the new namespace's
	 * mount on it moved with pivot_root, or goes with it) */
	if (r.yard[0] && rmdir(r.yard))
		pr_warn("can't remove %s: %s", r.yard, strerror(errno));
	for (int i = 0; i < r.n; i++) {
		if (r.m[i].fd >= 0)
			close(r.m[i].fd);
		if (r.m[i].ext_peer >= 0)
			close(r.m[i].ext_peer);
		if (r.m[i].ext_master >= 0)
			close(r.m[i].ext_master);
		protobuf_c_message_free_unpacked(&r.m[i].e->base, NULL);
	}
	free(r.m);
	if (!ret)
		pr_info("mount namespace %u: %d mounts restored", id, r.n);
	return ret;
}
