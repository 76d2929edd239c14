/* Dump a mount namespace: every mount of /proc/PID/mountinfo into criu's
 * mountpoints-ID.img, classified the way the restore rebuilds it:
 *
 *   - external: --external mnt[MOUNTPOINT]:KEY names it; the restore binds
 *     what --external mnt[KEY]:PATH gives;
 *   - seen by cryo: its super block is mounted in the dumping cryo's own
 *     namespace too (the host's disk, /proc, a bind of a host directory,
 *     a tmpfs shared with the host): recorded as external with the key
 *     "host:PATH", PATH being where cryo reaches the mount's root, so the
 *     restore binds it again from there (on the same host);
 *   - the tree's own: a file system the restore mounts anew (proc, sysfs,
 *     devpts, mqueue, cgroup, cgroup2, tmpfs whose files go to
 *     tmpfs-dev-N.tar.gz.img as criu writes it), or a bind of such a mount
 *     from inside the namespace.
 *
 *   - an overlay of the tree's own (mnt_ovl.c): mounted again from its
 *     options, its layer paths resolved in the restored tree; binds of
 *     it are binds of that mount.
 *
 * Anything else (fuse, nfs, a disk only the namespace has, a bind of a
 * part of an overlay not mounted whole) is refused by name, as are peer
 * groups and masters of cryo's namespace without --enable-external-sharing
 * and --enable-external-masters (mnt_restore.c joins them again). */
#include "ns/ns-int.h"
#include "ns/mnt-int.h"
#include "images/image.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mnt.pb-c.h"

#define REFUSE_HINT "give it with --external mnt[%s]:KEY at dump (and mnt[KEY]:PATH at restore)"

/* --external mnt[MOUNTPOINT]:KEY (or criu's older --ext-mount-map
 * MOUNTPOINT:KEY) for @mp, or NULL */
static const char *ext_key(const struct cryo_opts *o, const char *mp)
{
	size_t n = strlen(mp);
	for (int i = 0; o && i < o->external.n; i++) {
		const char *v = o->external.v[i];
		if (!strncmp(v, "mnt[", 4) && !strncmp(v + 4, mp, n) && v[4 + n] == ']' &&
		    v[5 + n] == ':' && v[6 + n])
			return v + 6 + n;
	}
	for (int i = 0; o && i < o->ext_mount_map.n; i++) {
		const char *v = o->ext_mount_map.v[i];
		if (!strncmp(v, mp, n) && v[n] == ':' && v[n + 1])
			return v + n + 1;
	}
	return NULL;
}

static bool over_mounted(const struct mnt_table *t, const struct mnt_info *m)
{
	for (int i = 0; i < t->n; i++)
		if (t->m[i].parent == m->id && !strcmp(t->m[i].mp, m->mp))
			return true;
	return false;
}

/* The path where cryo reaches the root of @m (same super block, a root
 * that holds @m's), into @out; false if cryo does not see it.  A mount
 * hidden under another in cryo's namespace can't be reached by a path:
 * if @m is hidden in the tree's namespace (@t) too, the path is taken all
 * the same (what the restore finds there is as hidden). */
static bool host_path(const struct mnt_table *t, const struct mnt_table *host,
		      const struct mnt_info *m, char *out, size_t outsz)
{
	const struct mnt_info *best = NULL;
	const char *rest = NULL;
	for (int i = 0; i < host->n; i++) {
		const struct mnt_info *h = &host->m[i];
		const char *r;
		if (h->maj != m->maj || h->min != m->min || !mnt_path_under(m->root, h->root, &r))
			continue;
		if (!best || strlen(h->root) > strlen(best->root)) {
			best = h;
			rest = r;
		}
	}
	if (!best)
		return false;
	snprintf(out, outsz, "%s%s", strcmp(best->mp, "/") || !rest[0] ? best->mp : "", rest);
	/* over-mounted in cryo's namespace, or moved: the path must lead there */
	struct stat st;
	if (!stat(out, &st) && st.st_dev == makedev(m->maj, m->min))
		return true;
	if (!over_mounted(t, m))
		return false;
	pr_warn("mount %s (%s, %u:%u) is hidden under another both in the tree's mount namespace "
		"and in cryo's (at %s): the restore puts there what it finds at that path",
		m->mp, m->fstype, m->maj, m->min, out);
	return true;
}

/* The mount that a restore makes anew for @m's super block: the first
 * with root "/" (the restore binds the others from it). */
static const struct mnt_info *primary(const struct mnt_table *t, const struct mnt_info *m)
{
	for (int i = 0; i < t->n; i++)
		if (t->m[i].maj == m->maj && t->m[i].min == m->min && !strcmp(t->m[i].root, "/"))
			return &t->m[i];
	return NULL;
}

static bool group_in(const struct mnt_table *t, int group)
{
	for (int i = 0; i < t->n; i++)
		if (t->m[i].shared == group)
			return true;
	return false;
}

/* The propagation cryo can rebuild: peer groups and masters inside the
 * namespace, and with --enable-external-sharing/-masters those of cryo's
 * namespace. */
static int check_propagation(const struct mnt_table *t, const struct mnt_table *host,
			     const struct mnt_info *m, pid_t pid, const struct cryo_opts *o)
{
	/* a peer group or master of cryo's namespace: joined again at restore
	 * (mnt_restore.c join_groups, after the tree is built: what is mounted
	 * under a shared mount is made once, as the image has it) */
	bool ext_group = m->shared && group_in(host, m->shared);
	bool ext_master = m->master && !group_in(t, m->master);
	if (ext_group && !(o && o->ext_sharing)) {
		pr_err("mount %s (%s) in the mount namespace of process %d is shared with cryo's "
		       "namespace (peer group %d): dump with --enable-external-sharing to restore "
		       "it in that peer group (it must exist at restore), or make it private or "
		       "a slave in the namespace (mount --make-rprivate or --make-rslave)", m->mp,
		       m->fstype, pid, m->shared);
		return -EOPNOTSUPP;
	}
	if (ext_master && !(o && o->ext_masters)) {
		pr_err("mount %s (%s) in the mount namespace of process %d is a slave of peer group "
		       "%d, which is outside the namespace: dump with --enable-external-masters to "
		       "restore it as a slave of that group (it must exist at restore), or make it "
		       "private in the namespace (mount --make-private %s)", m->mp, m->fstype, pid,
		       m->master, m->mp);
		return -EOPNOTSUPP;
	}
	if (ext_master && !group_in(host, m->master)) {
		pr_err("mount %s (%s) in the mount namespace of process %d is a slave of peer group "
		       "%d, which is in neither that namespace nor cryo's: cryo can't find that "
		       "master at restore (make it private in the namespace: mount --make-private "
		       "%s)", m->mp, m->fstype, pid, m->master, m->mp);
		return -EOPNOTSUPP;
	}
	/* the restore joins a peer group from a member whose root holds the
	 * joiner's, a master's from one that holds the slave's
	 * (MOVE_MOUNT_SET_GROUP): a group of the tree needs a member holding
	 * all its others, a slave a member of its master's group holding it,
	 * a mount in a group of cryo's namespace a mount there holding it */
	const char *rest;
	bool held = !ext_group && !ext_master;
	for (int i = 0; i < host->n && !held; i++) {
		const struct mnt_info *h = &host->m[i];
		held = h->shared && h->shared == (ext_group ? m->shared : m->master) &&
		       h->maj == m->maj && h->min == m->min && mnt_path_under(m->root, h->root, &rest);
	}
	if (!held) {
		pr_err("mount %s (root %s) in the mount namespace of process %d is %s peer group %d "
		       "of cryo's namespace, none of whose mounts there has a root that holds its "
		       "own: cryo can't put it back in that group", m->mp, m->root, pid,
		       ext_group ? "in" : "a slave of", ext_group ? m->shared : m->master);
		return -EOPNOTSUPP;
	}
	held = !m->shared || ext_group;
	for (int i = 0; i < t->n && !held; i++) {
		const struct mnt_info *w = &t->m[i];
		held = w->shared == m->shared;
		for (int j = 0; j < t->n && held; j++)
			if (t->m[j].shared == m->shared)
				held = mnt_path_under(t->m[j].root, w->root, &rest);
	}
	if (!held) {
		pr_err("mount %s (root %s) in the mount namespace of process %d is in peer group %d, "
		       "none of whose mounts has a root that holds all the others': cryo can't "
		       "rebuild that group", m->mp, m->root, pid, m->shared);
		return -EOPNOTSUPP;
	}
	held = !m->master || ext_master;
	for (int i = 0; i < t->n && !held; i++)
		held = t->m[i].shared == m->master && mnt_path_under(m->root, t->m[i].root, &rest);
	if (!held) {
		pr_err("mount %s (root %s) in the mount namespace of process %d is a slave of peer "
		       "group %d, none of whose mounts has a root that holds its own: cryo can't "
		       "rebuild that propagation", m->mp, m->root, pid, m->master);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The files of tmpfs @m (reached through the task's root, as criu does)
 * into tmpfs-dev-N.tar.gz.img. */
static int dump_tmpfs(struct ns_dump *st, const struct mnt_table *t, const struct mnt_info *m,
		      pid_t pid)
{
	char path[4200], name[64], what[4300];
	struct stat sb;
	/* files under its submounts' mount points, or a tmpfs hidden under
	 * another: through a clone of the mount alone (mnt_clean.c) */
	bool clean = over_mounted(t, m);
	for (int i = 0; i < t->n && !clean; i++)
		clean = t->m[i].parent == m->id;
	int fd;
	if (clean) {
		fd = mnt_clean_root(pid, t, m);
		if (fd < 0)
			return fd;
		snprintf(path, sizeof(path), "a clone of %s alone", m->mp);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, m->mp);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return log_errno(-errno, "can't open tmpfs %s of process %d's mount namespace (%s)",
				 m->mp, pid, path);
	if (fstat(fd, &sb) || sb.st_dev != makedev(m->maj, m->min)) {
		close(fd);
		pr_err("%s is not the tmpfs mounted there in process %d's namespace (%u:%u): cryo "
		       "can't reach its files", path, pid, m->maj, m->min);
		return -EOPNOTSUPP;
	}
	uint32_t kdev = mnt_kdev(m->maj, m->min);
	snprintf(name, sizeof(name), MNT_TMPFS_IMG, kdev);
	int out = create_file_at(st->dirfd, name, 0, 0600);
	if (out < 0) {
		close(fd);
		return log_errno(out, "can't create %s in the images directory", name);
	}
	char dir[32];
	snprintf(dir, sizeof(dir), "/proc/self/fd/%d", fd);
	/* the fd must survive exec: it is tar's --directory */
	fcntl(fd, F_SETFD, 0);
	/* criu's command, plus the xattrs that matter (pax headers, which
	 * criu's tar extracts without, ignoring them): trusted.overlay.* of
	 * an overlay's upper layer here (opaque directories, redirects),
	 * user.*, file capabilities.  tar reads a mount point's xattrs from
	 * the mount on it and then says the file "changed as we read it"
	 * (status 1): the mount points are left out, the restore makes them
	 * (what tar saved of them was the mount's root, not the directory) */
	static const char *const base[] = { "tar", "--create", "--gzip", "--no-unquote",
		"--no-wildcards", "--one-file-system", "--check-links", "--preserve-permissions",
		"--sparse", "--numeric-owner", MNT_TAR_XATTRS, "--anchored" };
	const size_t nb = sizeof(base) / sizeof(base[0]);
	char **argv = xzalloc((nb + t->n + 4) * sizeof(*argv));
	int ret = argv ? 0 : -ENOMEM;
	size_t k = 0;
	for (; argv && k < nb; k++)
		argv[k] = (char *)base[k];
	/* (a clean clone has no mounts on it: its mount points are plain
	 * directories, saved with what they hold) */
	for (int i = 0; !ret && !clean && i < t->n; i++) {
		const char *rel;
		if (t->m[i].parent != m->id || !mnt_path_under(t->m[i].mp, m->mp, &rel) || !rel[0])
			continue;
		argv[k] = xmalloc(strlen(rel) + 16);
		if (!argv[k]) {
			ret = -ENOMEM;
			break;
		}
		sprintf(argv[k++], "--exclude=.%s", rel);
	}
	if (!ret) {
		argv[k++] = "--directory";
		argv[k++] = dir;
		argv[k++] = ".";
		snprintf(what, sizeof(what), "saving the files of tmpfs %s into %s", m->mp, name);
		ret = mnt_run_tar(argv, -1, out, what);
	}
	for (size_t i = nb; argv && i < k && strncmp(argv[i], "--exclude=", 10) == 0; i++)
		free(argv[i]);
	free(argv);
	close(fd);
	if (!ret && fsync(out))
		ret = log_errno(-errno, "can't write %s", name);
	close(out);
	if (!ret)
		pr_info("tmpfs %s (%u:%u) of process %d: files saved in %s", m->mp, m->maj, m->min,
			pid, name);
	return ret;
}

/* --enable-fs names @fs */
static bool enabled_fs(const struct cryo_opts *o, const char *fs)
{
	for (int i = 0; o && i < o->enable_fs.n; i++)
		if (!strcmp(o->enable_fs.v[i], fs) || !strcmp(o->enable_fs.v[i], "all"))
			return true;
	return false;
}

/* How @m is restored: *@key gets its external key (NULL: the tree's
 * own).  0 or -EOPNOTSUPP (logged). */
static int classify(struct ns_dump *st, const struct mnt_table *t, const struct mnt_table *host,
		    const struct mnt_info *m, pid_t pid, char **key)
{
	char hp[4096];
	*key = NULL;
	if (strstr(m->root, "//deleted")) {
		pr_err("mount %s in the mount namespace of process %d has a deleted root (%s): "
		       "cryo can't mount it again", m->mp, pid, m->root);
		return -EOPNOTSUPP;
	}
	const char *k = ext_key(st->opts, m->mp);
	if (k) {
		*key = xstrdup(k);
		return *key ? 0 : -ENOMEM;
	}
	bool fuse = !strncmp(m->fstype, "fuse", 4) && strcmp(m->fstype, "fusectl");
	if (!fuse && host_path(t, host, m, hp, sizeof(hp))) {
		*key = xmalloc(strlen(MNT_HOST_KEY) + strlen(hp) + 1);
		if (!*key)
			return -ENOMEM;
		sprintf(*key, "%s%s", MNT_HOST_KEY, hp);
		return 0;
	}
	if (!fuse && mnt_fs_recreated(m->fstype) && primary(t, m))
		return 0;
	/* an overlay of the tree's own: mounted again from its options (its
	 * binds are binds of that mount) */
	if (!strcmp(m->fstype, "overlay") && primary(t, m))
		return primary(t, m) == m ? mnt_ovl_dump_check(m, pid) : 0;
	char hint[4200];
	snprintf(hint, sizeof(hint), REFUSE_HINT, m->mp);
	if (fuse)
		pr_err("mount %s in the mount namespace of process %d is a FUSE file system (%s, "
		       "source %s): its server may be part of the tree and cryo can't restore it; "
		       "%s", m->mp, pid, m->fstype, m->source, hint);
	else if (mnt_fs_recreated(m->fstype))
		pr_err("mount %s in the mount namespace of process %d (%s, root %s) is a bind of a "
		       "part of a %s that is not mounted whole anywhere cryo can see: cryo can't "
		       "mount it again; %s", m->mp, pid, m->fstype, m->root, m->fstype, hint);
	else
		pr_err("mount %s in the mount namespace of process %d is %s file system (source %s) "
		       "that cryo's own namespace does not have, and cryo can't recreate %s mounts%s; "
		       "%s", m->mp, pid, m->fstype, m->source, m->fstype,
		       enabled_fs(st->opts, m->fstype) ? " (--enable-fs is not implemented for them "
		       "yet)" : "", hint);
	return -EOPNOTSUPP;
}

/* --skip-mnt PATH: the mount there and those under it are left out (the
 * restore will not have them); each must name a mount */
static int skip_mounts(const struct cryo_opts *o, struct mnt_table *t, pid_t pid)
{
	for (int k = 0; o && k < o->skip_mnts.n; k++) {
		const char *s = o->skip_mnts.v[k], *rest;
		int kept = 0, gone = 0;
		if (!strcmp(s, "/")) {
			pr_err("--skip-mnt /: the root mount of the namespace can't be left out");
			return -EINVAL;
		}
		for (int i = 0; i < t->n; i++) {
			struct mnt_info *m = &t->m[i];
			if (mnt_path_under(m->mp, s, &rest)) {
				pr_info("--skip-mnt %s: mount %d (%s at %s) left out", s, m->id,
					m->fstype, m->mp);
				struct mnt_table one = { m, 1 };
				mnt_table_free_entries(&one);
				gone++;
				continue;
			}
			t->m[kept++] = *m;
		}
		t->n = kept;
		/* (as criu: a tree restored without that mount is dumped
		 * again with the same options) */
		if (!gone)
			pr_warn("--skip-mnt %s: process %d's mount namespace has no mount there; "
				"nothing left out for it", s, pid);
	}
	return 0;
}

int mntns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id)
{
	struct mnt_table t, host;
	char path[64];
	(void)d;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	int ret = mnt_table_read(path, &t);
	if (ret)
		return ret;
	ret = skip_mounts(st->opts, &t, pid);
	if (!ret)
		ret = mnt_table_read("/proc/self/mountinfo", &host);
	if (ret) {
		mnt_table_free(&t);
		return ret;
	}
	MntEntry *e = xzalloc(t.n * sizeof(*e) + 1);
	char **keys = xzalloc(t.n * sizeof(*keys) + 1);
	if (!e || !keys)
		ret = -ENOMEM;
	if (!ret && !mnt_root(&t)) {
		pr_err("%s has no root mount", path);
		ret = -EINVAL;
	}
	/* every --external mnt[MOUNTPOINT] must name a mount */
	for (int i = 0; !ret && st->opts && i < st->opts->external.n; i++) {
		const char *v = st->opts->external.v[i];
		if (strncmp(v, "mnt[", 4) || !strcmp(v, "mnt[]"))
			continue;
		bool found = false;
		for (int j = 0; j < t.n && !found; j++)
			found = ext_key(st->opts, t.m[j].mp) == strchr(v, ']') + 2;
		if (!found) {
			pr_err("--external %s: process %d's mount namespace has no mount there (or "
			       "no KEY after ':')", v, pid);
			ret = -EINVAL;
		}
	}
	for (int i = 0; !ret && st->opts && i < st->opts->ext_mount_map.n; i++) {
		const char *v = st->opts->ext_mount_map.v[i];
		bool found = false;
		for (int j = 0; j < t.n && !found; j++)
			found = ext_key(st->opts, t.m[j].mp) == strchr(v, ':') + 1;
		/* criu only looks a mount up in this map: runc sends every device
		 * of its config here, most of them made with mknod, not mounts */
		if (!found)
			pr_info("--ext-mount-map %s: process %d's mount namespace has no mount "
				"there: not used", v, pid);
	}
	/* every refusal before anything is written */
	for (int i = 0; !ret && i < t.n; i++) {
		ret = classify(st, &t, &host, &t.m[i], pid, &keys[i]);
		if (!ret)
			ret = check_propagation(&t, &host, &t.m[i], pid, st->opts);
	}
	for (int i = 0; !ret && i < t.n; i++) {
		const struct mnt_info *m = &t.m[i];
		if (!keys[i] && !strcmp(m->fstype, "tmpfs") && primary(&t, m) == m)
			ret = dump_tmpfs(st, &t, m, pid);
		if (ret)
			break;
		MntEntry *x = &e[i];
		mnt_entry__init(x);
		x->has_fstype = x->has_mnt_id = x->has_root_dev = x->has_parent_mnt_id = 1;
		x->has_flags = x->has_sb_flags = 1;
		x->fstype = mnt_fstype_code(m->fstype);
		if (x->fstype == 16)
			x->fsname = m->fstype;
		x->mnt_id = m->id;
		x->root_dev = mnt_kdev(m->maj, m->min);
		x->parent_mnt_id = m->parent;
		x->flags = m->mnt_flags | (m->unbindable ? MS_UNBINDABLE : 0);
		x->sb_flags = m->sb_flags;
		x->root = m->root;
		x->mountpoint = m->mp;
		x->source = m->source;
		x->options = m->sb_opts;
		if (m->shared)
			x->has_shared_id = 1, x->shared_id = m->shared;
		if (m->master)
			x->has_master_id = 1, x->master_id = m->master;
		if (keys[i]) {
			x->has_ext_mount = x->ext_mount = 1;
			x->ext_key = keys[i];
		}
		/* check_propagation allowed it (--enable-external-sharing) */
		if (m->shared && group_in(&host, m->shared))
			x->has_cryo_ext_sharing = x->cryo_ext_sharing = 1;
	}
	if (!ret) {
		struct cr_img *img = NULL;
		ret = img_open(&img, st->dirfd, IMG_MNTS, IMG_WRITE, id);
		for (int i = 0; !ret && i < t.n; i++)
			ret = img_write_msg(img, &e[i].base);
		if (!ret || img) {
			int r2 = img_close(img);
			if (!ret)
				ret = r2;
		}
		if (!ret)
			pr_info("mount namespace %u (of process %d): %d mounts", id, pid, t.n);
	}
	for (int i = 0; keys && i < t.n; i++)
		free(keys[i]);
	free(keys);
	free(e);
	mnt_table_free(&t);
	mnt_table_free(&host);
	return ret;
}
