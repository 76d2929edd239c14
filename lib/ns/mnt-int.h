/* Mount namespaces (mnt_dump.c, mnt_restore.c): /proc/PID/mountinfo parsed
 * into a table (mountinfo.c), criu's mountpoints-ID.img and the contents of
 * tmpfs mounts, criu's tmpfs-dev-N.tar.gz.img (a gzip'd tar made and
 * unpacked by tar(1)). */
#ifndef CRYO_NS_MNT_INT_H
#define CRYO_NS_MNT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* one line of mountinfo (proc(5)) */
struct mnt_info {
	int id, parent;
	unsigned maj, min;		/* the super block's device */
	char *root;			/* the mount's root within its file system */
	char *mp;			/* mount point, in the namespace */
	char *fstype;			/* "ext4", "tmpfs", "fuse.sshfs", ... */
	char *source;
	char *sb_opts;			/* super-block options, "ro"/"rw" left out */
	unsigned mnt_flags;		/* MS_RDONLY, MS_NOSUID, ... of the mount */
	unsigned sb_flags;		/* MS_RDONLY of the super block */
	int shared, master;		/* peer group ids, 0: none */
	bool unbindable;
};

struct mnt_table {
	struct mnt_info *m;
	int n;
};

/* Parse @path (a mountinfo file); 0 or a negative code (logged). */
int mnt_table_read(const char *path, struct mnt_table *t);
void mnt_table_free(struct mnt_table *t);
/* the strings of @t's entries only */
void mnt_table_free_entries(struct mnt_table *t);
/* The entry with mount id @id, or NULL. */
struct mnt_info *mnt_find(const struct mnt_table *t, int id);
/* The namespace's root mount: the one whose parent is not in @t. */
struct mnt_info *mnt_root(const struct mnt_table *t);

/* criu's device encoding in images (root_dev, tmpfs-dev-N) */
static inline uint32_t mnt_kdev(unsigned maj, unsigned min)
{
	return (maj << 20) | (min & 0xfffff);
}

/* Is @path equal to @prefix or below it (as paths: "/a" holds "/a/b", not
 * "/ab")?  *@rest gets what follows ("" or "/b"). */
bool mnt_path_under(const char *path, const char *prefix, const char **rest);

/* criu's fstype enum value (mnt.proto) for the name @fs; AUTO (16) for
 * the ones it does not list. */
unsigned mnt_fstype_code(const char *fs);
/* File systems cryo mounts anew at restore (in the namespace, from their
 * options alone: proc, sysfs, devpts, mqueue, cgroup, cgroup2, and tmpfs,
 * whose files the images hold). */
bool mnt_fs_recreated(const char *fs);

/* the image's name of the contents of tmpfs @kdev */
#define MNT_TMPFS_IMG "tmpfs-dev-%u.tar.gz.img"

/* An external mount key for a mount that the dumping cryo sees too (its
 * super block is mounted in cryo's namespace): "host:" and the path
 * there; the restore binds that path, unless --external mnt[KEY]:PATH
 * names another. */
#define MNT_HOST_KEY "host:"

/* tar(1)'s options for the extended attributes a tmpfs's files keep */
#define MNT_TAR_XATTRS "--xattrs", "--xattrs-include=trusted.*", "--xattrs-include=user.*", \
	"--xattrs-include=security.capability"

/* Run tar(1) with @argv (argv[0] "tar"), stdin @in, stdout @out (-1:
 * /dev/null); 0, or a negative code logged naming @what. */
int mnt_run_tar(char *const argv[], int in, int out, const char *what);

/* mnt_clean.c: a descriptor of the root of tmpfs @m of @t (process @pid's
 * mount namespace) alone, a detached clone of it without the mounts on
 * and over it (the namespace is not touched), or a negative code
 * (logged). */
int mnt_clean_root(pid_t pid, const struct mnt_table *t, const struct mnt_info *m);

/* overlayfs (mnt_ovl.c): the layer directories named in the options
 * @opts (lowerdir's each, upperdir, workdir, lowerdir+, datadir+) into
 * *@paths (allocated, *@n of them); 0 or -ENOMEM. */
int mnt_ovl_layers(const char *opts, char ***paths, int *n);
void mnt_ovl_layers_free(char **paths, int n);
/* Can overlay @m of process @pid's namespace be mounted again from its
 * options?  0, or -EOPNOTSUPP logged naming the layer. */
int mnt_ovl_dump_check(const struct mnt_info *m, pid_t pid);
/* Mount overlay @mountpoint (a path of the tree) under @yard, the tree
 * being built, its layer paths resolved there; 0 or a negative code
 * (logged, naming a layer that is not there). */
int mnt_ovl_mount(const char *yard, const char *mountpoint, const char *source,
		  const char *opts);

#endif
