/* Deleted files at restore (the dump side and the whole scheme: ghost.c):
 * ghosts recreated under their old names (with the directories missing on
 * the way), link remaps linked back, files of /proc/PID of dead processes
 * reopened through a helper process with that PID; all of it undone once
 * the restore is over. */
#include "files/reg-int.h"
#include "util/log.h"
#include "util/util.h"

#include "ghost-file.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* criu's REMAP_GHOST bit in remap_id, for images without remap_type */
#define OLD_REMAP_GHOST (1u << 31)

struct ghost_rst {
	uint32_t orig_id;	/* linked remaps: per file; ghosts: per ghost id */
	uint32_t remap_id;
	int type;
	char *path;		/* what to open */
	char *rm;		/* a name this restore made (removed at the end) */
	char *rm_ok;		/* removed only after a successful restore (link remaps) */
	int keep_fd;		/* O_TMPFILE ghosts: held open by cryo */
	int dirfd;		/* the file's directory: rm and rm_ok are names in it */
	bool rm_dir;		/* rm is a directory */
	bool named;		/* linked under the file's own name (path) */
	bool alias;		/* another name of a ghost with hard links: per file */
	pid_t helper;		/* PROCFS: the process with the dead one's PID */
};

/* A directory missing on the way to a ghost, made for the restore. */
struct ghost_made {
	int dirfd;		/* its parent */
	char *name;		/* NULL once a ghost directory took it over */
	char *path;
};

/* Make the directories missing on the way to @dir (absolute, canonical):
 * each component is opened from the one before without following
 * symlinks, and those made are recorded to be removed after the restore.
 * Returns an O_PATH descriptor of @dir or a negative code. */
static int make_parents(struct reg_rst *st, const char *dir)
{
	int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), ret = 0;
	if (cur < 0)
		return -errno;
	for (const char *c = dir; !ret;) {
		while (*c == '/')
			c++;
		if (!*c)
			break;
		size_t len = strcspn(c, "/");
		char comp[NAME_MAX + 1];
		if (len > NAME_MAX) {
			ret = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, c, len);
		comp[len] = '\0';
		c += len;
		int next = openat_resolve(cur, comp, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
					  RESOLVE_NO_SYMLINKS);
		if (next == -ENOENT) {
			if (mkdirat(cur, comp, 0755)) {
				ret = -errno;
				if (ret != -EEXIST)
					break;
				ret = 0;	/* made meanwhile: not ours */
			} else {
				struct ghost_made *n = xrealloc(st->made, (st->nr_made + 1) * sizeof(*n));
				int dfd = fcntl(cur, F_DUPFD_CLOEXEC, 0);
				if (n)
					st->made = n;
				if (!n || dfd < 0) {
					unlinkat(cur, comp, AT_REMOVEDIR);
					if (dfd >= 0)
						close(dfd);
					ret = -ENOMEM;
					break;
				}
				n[st->nr_made++] = (struct ghost_made){ dfd, xstrdup(comp),
									strndup(dir, c - dir) };
				pr_info("directory %.*s, gone since the dump, made for the restore",
					(int)(c - dir), dir);
			}
			next = openat_resolve(cur, comp, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
					      RESOLVE_NO_SYMLINKS);
		}
		if (next < 0)
			ret = next;
		else {
			close(cur);
			cur = next;
		}
	}
	if (ret) {
		close(cur);
		return ret;
	}
	return cur;
}

/* The directory of @name (a path from files.img), opened for making and
 * removing entries in it; *@base: the last component.  The dump records
 * canonical absolute paths, as /proc/PID/fd shows them, so a relative path,
 * a "." or ".." component or a symlink on the way can only come from a
 * damaged or forged image, and could make a root restore create or remove
 * files anywhere: refused. */
static int open_parent_dir(struct reg_rst *st, const char *name, const char **base)
{
	const char *bad = NULL;
	if (name[0] != '/')
		bad = "is not an absolute path";
	for (const char *c = name; !bad && *c; ) {
		while (*c == '/')
			c++;
		size_t len = strcspn(c, "/");
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			bad = "has a \".\" or \"..\" component";
		c += len;
	}
	const char *slash = strrchr(name, '/');
	if (!bad && (!slash || !slash[1]))
		bad = "names no file";
	if (bad) {
		pr_err("files.img: the path %s of a deleted file %s, which a dump never records: "
		       "refused (damaged or forged images)", name, bad);
		return -EINVAL;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
	int fd = openat_resolve(AT_FDCWD, dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
				RESOLVE_NO_SYMLINKS);
	/* a deleted directory's parents can be gone too (removed once empty) */
	if (fd == -ENOENT && st)
		fd = make_parents(st, dir);
	if (fd < 0) {
		if (fd == -ELOOP)
			pr_err("the directory of the deleted file %s is reached through a symbolic "
			       "link, which a dump never records: refused (damaged or forged images, "
			       "or the directory was replaced by a link since the dump)", name);
		else
			pr_err("can't open the directory of the deleted file %s: %s", name,
			       strerror(-fd));
		return fd;
	}
	*base = slash + 1;
	return fd;
}

static int load_remaps(struct files_restore *fr, struct reg_rst *st)
{
	struct cr_img *img;
	if (st->remaps_loaded)
		return 0;
	st->remaps_loaded = true;
	int ret = img_open(&img, fr->dirfd, IMG_REMAP_FPATH, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		RemapFilePathEntry *e;
		ret = img_read_msg(img, &remap_file_path_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			break;
		if (!e->has_remap_type) {
			e->remap_type = e->remap_id & OLD_REMAP_GHOST ? REMAP_TYPE__GHOST :
				        REMAP_TYPE__LINKED;
			e->remap_id &= ~OLD_REMAP_GHOST;
		}
		RemapFilePathEntry **n = xrealloc(st->remaps, (st->nr_remaps + 1) * sizeof(*n));
		if (!n) {
			protobuf_c_message_free_unpacked(&e->base, NULL);
			ret = -ENOMEM;
			break;
		}
		st->remaps = n;
		n[st->nr_remaps++] = e;
	}
	img_close(img);
	return ret;
}

static bool all_zero(const char *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

/* A ghost on hugetlbfs, which has no write(2): sized with ftruncate (its
 * size is a whole number of huge pages, ghost.c checks it at dump) and
 * filled through a shared mapping.  Zeros are not copied: the kernel
 * clears a huge page when it first maps it, and a hole (read as zeros at
 * dump) stays a hole, taking no page of the pool.  The mapping reserves
 * nothing (MAP_NORESERVE: a sparse file may be far larger than the pool,
 * and the size is the image's word); each huge page is allocated with
 * fallocate before it is written, so a page the pool (or a hugetlb cgroup
 * limit) can't give is an error, not a SIGBUS in cryo. */
static int fill_ghost_huge(struct cr_img *img, const GhostFileEntry *g, int fd, const char *name,
			   uint64_t hps)
{
	char buf[65536];
	uint64_t size = g->chunks ? g->size : (uint64_t)img_bytes_left(img);
	if (!g->chunks && img_bytes_left(img) < 0)
		return -EIO;
	if (size % hps) {
		pr_err("%s: the deleted hugetlbfs file %s is %llu bytes long, not a whole number of "
		       "its %llu-byte pages", img_name(img), name, (unsigned long long)size,
		       (unsigned long long)hps);
		return -EINVAL;
	}
	if (ftruncate(fd, size))
		return_perror("can't size the recreated deleted hugetlbfs file %s", name);
	if (!size)
		return 0;
	char *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (map == MAP_FAILED)
		return_perror("can't map the recreated deleted hugetlbfs file %s (%llu bytes) to "
			      "fill it", name, (unsigned long long)size);
	int ret = 0;
	uint64_t off = 0, len = size;
	for (bool more = true; more && !ret;) {
		if (g->chunks) {
			GhostChunkEntry *ce;
			ret = img_read_msg(img, &ghost_chunk_entry__descriptor,
					   (ProtobufCMessage **)&ce);
			if (ret <= 0)
				break;
			ret = 0;
			off = ce->off;
			len = ce->len;
			protobuf_c_message_free_unpacked(&ce->base, NULL);
			if (off + len < off || off + len > size) {
				pr_err("%s: a chunk lies outside the file", img_name(img));
				ret = -EINVAL;
				break;
			}
		} else {
			more = false;
		}
		while (len && !ret) {
			size_t n = MIN(len, sizeof(buf));
			ret = img_read_raw(img, buf, n);
			if (!ret && !all_zero(buf, n)) {
				uint64_t from = off - off % hps;
				uint64_t to = (off + n + hps - 1) / hps * hps;
				if (fallocate(fd, 0, (off_t)from, (off_t)(to - from))) {
					ret = log_errno(-errno, "can't get huge pages for the "
							"recreated deleted hugetlbfs file %s at "
							"offset %llu (are there enough free huge "
							"pages?)", name, (unsigned long long)from);
					break;
				}
				memcpy(map + off, buf, n);
			}
			off += n;
			len -= n;
		}
	}
	munmap(map, size);
	return ret;
}

static int fill_ghost(struct cr_img *img, const GhostFileEntry *g, int fd, const char *name)
{
	char buf[65536];
	struct statfs sfs;
	if (!fstatfs(fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC && sfs.f_bsize > 0)
		return fill_ghost_huge(img, g, fd, name, (uint64_t)sfs.f_bsize);
	if (!g->chunks) {
		long long left = img_bytes_left(img);
		off_t off = 0;
		while (left > 0) {
			size_t n = MIN((size_t)left, sizeof(buf));
			int ret = img_read_raw(img, buf, n);
			if (ret)
				return ret;
			if (pwrite(fd, buf, n, off) != (ssize_t)n)
				return_perror("can't write the contents of the deleted file %s", name);
			off += n;
			left -= n;
		}
		return 0;
	}
	if (!g->has_size)
		return pr_err("%s: a chunked ghost without a size", img_name(img)), -EINVAL;
	if (ftruncate(fd, g->size))
		return_perror("can't size the recreated deleted file %s", name);
	for (;;) {
		GhostChunkEntry *ce;
		int ret = img_read_msg(img, &ghost_chunk_entry__descriptor, (ProtobufCMessage **)&ce);
		if (ret <= 0)
			return ret;
		uint64_t off = ce->off, len = ce->len;
		protobuf_c_message_free_unpacked(&ce->base, NULL);
		if (off + len < off || off + len > g->size) {
			pr_err("%s: a chunk lies outside the file", img_name(img));
			return -EINVAL;
		}
		while (len) {
			size_t n = MIN(len, sizeof(buf));
			ret = img_read_raw(img, buf, n);
			if (ret)
				return ret;
			if (pwrite(fd, buf, n, off) != (ssize_t)n)
				return_perror("can't write the contents of the deleted file %s", name);
			off += n;
			len -= n;
		}
	}
}

/* "DIR/#INODE": a file made with O_TMPFILE (never had a name) */
static bool is_tmpfile_name(const char *name, uint64_t ino)
{
	const char *b = strrchr(name, '/');
	char want[32];
	snprintf(want, sizeof(want), "#%llu", (unsigned long long)ino);
	return b && !strcmp(b + 1, want);
}

static bool ghost_take_name(int dfd, const char *tmpname, const char *base);

/* Another file has taken the old name of a deleted FIFO or device node:
 * cryo holds the node made as @tmpname by an O_PATH descriptor and leaves
 * it deleted under its old name (ghost_take_name), so that it shows as
 * "NAME (deleted)" again.  cryo opens FIFOs and device nodes itself, in
 * its own mount namespace where the path is one of its own /proc (and a
 * mapping of it gets cryo's descriptor: files_reg_cryo_fd); a directory
 * or a symlink can't be reopened through a /proc link: they keep their
 * temporary names.  False: not done (the temporary name stays). */
static bool take_name_kept(struct ghost_rst *g, int dfd, const char *tmpname, const char *base,
			   mode_t type)
{
	int fd = openat(dfd, tmpname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) || (sb.st_mode & S_IFMT) != type ||
	    !ghost_take_name(dfd, tmpname, base)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), fd);
	free(g->rm);
	g->rm = NULL;
	g->keep_fd = fd;
	g->path = xstrdup(path);
	return true;
}

/* A ghost directory, FIFO, device node or symlink @e, made as a temporary
 * name in its directory, given its owner, mode and times through a
 * descriptor of what was made, then put under its old name. */
static int make_ghost_node(struct reg_rst *st, struct ghost_rst *g, const char *name,
			   const GhostFileEntry *e)
{
	mode_t type = e->mode & S_IFMT;
	const char *base;
	char tmpname[NAME_MAX + 1], path[PATH_MAX];
	if (type != S_IFDIR && type != S_IFIFO && type != S_IFCHR && type != S_IFBLK &&
	    type != S_IFLNK) {
		pr_err("ghost-file-%x.img is a file of type 0%o: not supported", g->remap_id, type);
		return -EOPNOTSUPP;
	}
	if (type == S_IFLNK && (!e->symlnk_target || !e->symlnk_target[0])) {
		pr_err("ghost-file-%x.img: a symlink without a target", g->remap_id);
		return -EINVAL;
	}
	int dfd = open_parent_dir(st, name, &base);
	if (dfd < 0)
		return dfd;
	g->dirfd = dfd;
	g->rm_dir = type == S_IFDIR;
	bool adopted = false;
	for (int i = 0; type == S_IFDIR && i < st->nr_made && !adopted; i++)
		if (st->made[i].name && st->made[i].path && !strcmp(st->made[i].path, name)) {
			/* made as a parent of another ghost: it is this one */
			free(st->made[i].name);
			st->made[i].name = NULL;
			adopted = true;
		}
	if (adopted) {
		snprintf(tmpname, sizeof(tmpname), "%s", base);
	} else {
		snprintf(tmpname, sizeof(tmpname), ".%.200s.cryo.%x.ghost", base, g->remap_id);
		for (int tries = 0;; tries++) {
			int r = type == S_IFDIR ? mkdirat(dfd, tmpname, 0700) :
				type == S_IFLNK ? symlinkat(e->symlnk_target, dfd, tmpname) :
				mknodat(dfd, tmpname, type | 0600, type == S_IFIFO ? 0 : e->rdev);
			if (!r)
				break;
			/* one left by a killed restore goes */
			if (errno != EEXIST || tries ||
			    unlinkat(dfd, tmpname, type == S_IFDIR ? AT_REMOVEDIR : 0))
				return_perror("can't recreate the deleted %s %s (as %s)",
					      type == S_IFDIR ? "directory" : "file", name, tmpname);
		}
	}
	g->rm = xstrdup(tmpname);
	if (!g->rm)
		return -ENOMEM;
	int fd = openat(dfd, tmpname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) || (sb.st_mode & S_IFMT) != type) {
		if (fd >= 0)
			close(fd);
		pr_err("the recreated deleted file %s (%s) was replaced while being made", name,
		       tmpname);
		return -EEXIST;
	}
	/* the magic link of the O_PATH descriptor, in cryo's own /proc (the
	 * tree's mount namespace may have one of another PID namespace) */
	char self[64];
	int procfd = st->own_fds >= 0 ? st->own_fds : AT_FDCWD;
	snprintf(self, sizeof(self), "%s%d", procfd == AT_FDCWD ? "/proc/self/fd/" : "", fd);
	int ret = 0;
	if (fchownat(fd, "", e->uid, e->gid, AT_EMPTY_PATH))
		{ ret = -errno; pr_perror("can't give the recreated %s its owner", name); }
	/* (a symlink has no mode of its own; the magic link leads to the node) */
	else if (type != S_IFLNK && fchmodat(procfd, self, e->mode & 07777, 0))
		{ ret = -errno; pr_perror("can't give the recreated %s its mode", name); }
	if (!ret && e->atim && e->mtim) {
		struct timespec ts[2] = { { e->atim->tv_sec, e->atim->tv_usec * 1000 },
					  { e->mtim->tv_sec, e->mtim->tv_usec * 1000 } };
		if (type == S_IFLNK ? utimensat(dfd, tmpname, ts, AT_SYMLINK_NOFOLLOW) :
		    utimensat(procfd, self, ts, 0))
			pr_warn("can't set the times of the recreated %s: %s", name, strerror(errno));
	}
	close(fd);
	if (ret)
		return ret;
	/* under its old name, so that it shows as "NAME (deleted)" */
	if (adopted) {
		g->path = xstrdup(name);
		g->named = true;
	} else if (!(type == S_IFDIR ? renameat2(dfd, tmpname, dfd, base, RENAME_NOREPLACE) :
		     linkat(dfd, tmpname, dfd, base, 0))) {
		if (type != S_IFDIR)
			unlinkat(dfd, tmpname, 0);
		free(g->rm);
		g->rm = xstrdup(base);
		g->path = xstrdup(name);
		g->named = true;
	} else if (errno == EEXIST && (type == S_IFIFO || type == S_IFCHR || type == S_IFBLK) &&
		   take_name_kept(g, dfd, tmpname, base, type)) {
		/* another file has its name: held by cryo, deleted under it */
	} else {
		snprintf(path, sizeof(path), "%.*s%s", (int)(base - name), name, tmpname);
		g->path = xstrdup(path);
	}
	return g->path && (g->rm || g->keep_fd >= 0) ? 0 : -ENOMEM;
}

/* Another file has taken the old name of a deleted file since the dump:
 * the ghost @tmpname swaps names with it (RENAME_EXCHANGE), and the other
 * file is moved back over it, so that the name always leads to a file and
 * the ghost is left deleted under its old name ("NAME (deleted)"). */
static bool ghost_take_name(int dfd, const char *tmpname, const char *base)
{
	if (renameat2(dfd, tmpname, dfd, base, RENAME_EXCHANGE))
		return false;
	if (!renameat(dfd, tmpname, dfd, base))
		return true;
	pr_warn("can't move %s back after swapping it with a ghost: %s", base, strerror(errno));
	if (renameat2(dfd, tmpname, dfd, base, RENAME_EXCHANGE))
		pr_err("%s is left as %s: can't swap it back: %s", base, tmpname, strerror(errno));
	return false;
}

static int make_ghost(struct files_restore *fr, struct ghost_rst *g, const char *name)
{
	struct cr_img *img;
	GhostFileEntry *e = NULL;
	char path[PATH_MAX];
	int fd = -1;
	int ret = img_open(&img, fr->dirfd, IMG_GHOST_FILE, IMG_READ, g->remap_id);
	if (ret)
		return ret;
	ret = img_read_one(img, &ghost_file_entry__descriptor, (ProtobufCMessage **)&e);
	if (ret < 0)
		goto out;
	ret = 0;
	if (!S_ISREG(e->mode)) {
		ret = make_ghost_node(reg_rst_state(fr), g, name, e);
		goto out;
	}
	const char *base;
	int dfd = open_parent_dir(reg_rst_state(fr), name, &base);
	if (dfd < 0) {
		ret = dfd;
		goto out;
	}
	g->dirfd = dfd;
	char tmpname[NAME_MAX + 1];
	bool tmpfile = e->has_ino && is_tmpfile_name(name, e->ino);
	if (tmpfile) {
		fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, e->mode & 07777);
		snprintf(path, sizeof(path), "%.*s", (int)(base - 1 - name), name);
	} else {
		snprintf(tmpname, sizeof(tmpname), ".%.200s.cryo.%x.ghost", base, g->remap_id);
		snprintf(path, sizeof(path), "%.*s%s", (int)(base - name), name, tmpname);
		fd = openat(dfd, tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		/* left by a killed restore */
		if (fd < 0 && errno == EEXIST && !unlinkat(dfd, tmpname, 0))
			fd = openat(dfd, tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    0600);
	}
	if (fd < 0) {
		ret = -errno;
		pr_perror("can't recreate the deleted file %s (as %s%s)", name, path,
			  tmpfile ? " with O_TMPFILE" : "");
		goto out;
	}
	if (!tmpfile)
		g->rm = xstrdup(tmpname);
	ret = fill_ghost(img, e, fd, name);
	if (!ret && fchown(fd, e->uid, e->gid))
		{ ret = -errno; pr_perror("can't give the recreated %s its owner", name); }
	if (!ret && fchmod(fd, e->mode & 07777))
		{ ret = -errno; pr_perror("can't give the recreated %s its mode", name); }
	if (!ret && e->atim && e->mtim) {
		struct timespec ts[2] = { { e->atim->tv_sec, e->atim->tv_usec * 1000 },
					  { e->mtim->tv_sec, e->mtim->tv_usec * 1000 } };
		if (futimens(fd, ts))
			pr_warn("can't set the times of the recreated %s: %s", name, strerror(errno));
	}
	if (ret)
		goto out;
	if (tmpfile) {
		/* reopened through cryo's descriptor (also from the tasks) */
		g->keep_fd = fd;
		fd = -1;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), g->keep_fd);
		g->path = xstrdup(path);
	} else if (!linkat(dfd, tmpname, dfd, base, 0)) {
		/* opened under its old name, so it shows as "NAME (deleted)" */
		unlinkat(dfd, tmpname, 0);
		free(g->rm);
		g->rm = xstrdup(base);
		g->path = xstrdup(name);
		g->named = true;
	} else if (errno == EEXIST && fr->ns.fd[NS_MNT] < 0 &&
		   ghost_take_name(dfd, tmpname, base)) {
		/* its dentry is gone under the old name: reopened through
		 * cryo's descriptor, as an O_TMPFILE ghost (only in cryo's own
		 * mount namespace: a task maps its files itself, through its
		 * /proc, which has cryo's descriptors only there; elsewhere
		 * it keeps its temporary name) */
		free(g->rm);
		g->rm = NULL;
		g->keep_fd = fd;
		fd = -1;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), g->keep_fd);
		g->path = xstrdup(path);
	} else {
		g->path = xstrdup(path);
	}
	if (!g->path)
		ret = -ENOMEM;
out:
	if (fd >= 0)
		close(fd);
	if (e)
		protobuf_c_message_free_unpacked(&e->base, NULL);
	img_close(img);
	return ret;
}

static int make_linked(struct files_restore *fr, struct ghost_rst *g, const char *name)
{
	struct rst_file *t = files_rst_find(fr, g->remap_id);
	if (!t || !t->fe->reg || !t->fe->reg->name) {
		pr_err("remap-fpath.img: link remap %u of %s is missing from files.img", g->remap_id,
		       name);
		return -EINVAL;
	}
	const char *lname = t->fe->reg->name, *base;
	int dfd = open_parent_dir(NULL, name, &base);
	if (dfd < 0)
		return dfd;
	g->dirfd = dfd;
	/* the dump makes it next to the file, under this name; it is removed
	 * after the restore, so no other name may be taken from the images */
	char lbase[32];
	snprintf(lbase, sizeof(lbase), "link_remap.%u", g->remap_id);
	const char *ls = strrchr(lname, '/');
	if (!ls || strcmp(ls + 1, lbase) || (size_t)(ls - lname) != (size_t)(base - 1 - name) ||
	    strncmp(lname, name, ls - lname)) {
		pr_err("remap-fpath.img: the link remap of %s is %s, not %.*s/%s where a dump "
		       "makes it: refused (damaged or forged images)", name, lname,
		       (int)(base - 1 - name), name, lbase);
		return -EINVAL;
	}
	g->rm_ok = xstrdup(lbase);
	if (!linkat(dfd, lbase, dfd, base, 0)) {
		g->rm = xstrdup(base);
		g->path = xstrdup(name);
	} else if (errno == ENOENT && faccessat(dfd, lbase, F_OK, AT_SYMLINK_NOFOLLOW)) {
		return_perror("the link remap %s of the deleted file %s is gone", lname, name);
	} else {
		g->path = xstrdup(lname);
	}
	return g->path ? 0 : -ENOMEM;
}

/* A file in /proc/@pid of a process that had exited (criu's PROCFS
 * remap): opened by its name while a helper process has that PID (a fork
 * of cryo that only waits), which is killed and reaped before the tasks
 * run, so that the file is again one of a dead process. */
static int dead_pid_path(struct reg_rst *st, uint32_t pid, const char *name, const char **path)
{
	char want[32];
	int n = snprintf(want, sizeof(want), "/proc/%u", pid);
	if (!pid || pid > INT_MAX || strncmp(name, want, n) || (name[n] && name[n] != '/') ||
	    strstr(name, "/..")) {
		pr_err("remap-fpath.img: %s is said to be in /proc of dead process %u, which a dump "
		       "never records: refused (damaged or forged images)", name, pid);
		return -EINVAL;
	}
	*path = name;
	for (int i = 0; i < st->nr_ghosts; i++)
		if (st->ghosts[i].type == REMAP_TYPE__PROCFS && st->ghosts[i].remap_id == pid)
			return 0;
	struct ghost_rst *g = xrealloc(st->ghosts, (st->nr_ghosts + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	st->ghosts = g;
	pid_t tid = pid;
	struct clone_args args = { .exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&tid,
				   .set_tid_size = 1 };
	pid_t c = -1;
	/* (the dead process may still wait to be reaped by init) */
	for (int waited = 0; waited <= 1000; waited += 10) {
		c = syscall(SYS_clone3, &args, sizeof(args));
		if (c == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close_range(0, ~0U, 0);
			for (;;)
				pause();
		}
		if (c > 0 || errno != EEXIST)
			break;
		usleep(10000);
	}
	if (c < 0) {
		int e = errno;
		pr_err("can't make a helper process with PID %u to reopen %s (of a process that "
		       "had exited): clone3 with set_tid: %s%s", pid, name, strerror(e),
		       e == EEXIST ? " (another process has that PID now)" : "");
		return -e;
	}
	g = &st->ghosts[st->nr_ghosts++];
	*g = (struct ghost_rst){ .remap_id = pid, .type = REMAP_TYPE__PROCFS, .keep_fd = -1,
				 .dirfd = -1, .helper = c };
	pr_debug("helper %d stands in for the dead process of %s", c, name);
	return 0;
}

/* A file of ghost @gi opened under another of the inode's names (hard
 * links, all removed): that name is linked to the ghost for the restore, so
 * that the file shows as "NAME (deleted)" too.  Where it can't be (the name
 * is taken now, or the ghost has no name), the file opens the ghost's. */
static int ghost_alias(struct reg_rst *st, int gi, uint32_t id, const char *name,
		       const char **path)
{
	struct ghost_rst *g = &st->ghosts[gi];
	*path = g->path;
	if (!g->named || g->rm_dir || !g->rm || g->dirfd < 0 || !strcmp(g->path, name))
		return 0;
	const char *base;
	int dfd = open_parent_dir(st, name, &base);
	if (dfd < 0)
		return 0;
	/* (g->rm: the name it has in its directory) */
	if (linkat(g->dirfd, g->rm, dfd, base, 0)) {
		pr_debug("file %u (%s) opens the ghost as %s: can't link it: %s", id, name,
			 g->path, strerror(errno));
		close(dfd);
		return 0;
	}
	struct ghost_rst *n = xrealloc(st->ghosts, (st->nr_ghosts + 1) * sizeof(*n));
	char *p = xstrdup(name), *rm = xstrdup(base);
	if (!n || !p || !rm) {
		unlinkat(dfd, base, 0);
		close(dfd);
		free(p);
		free(rm);
		if (n)
			st->ghosts = n;
		return -ENOMEM;
	}
	st->ghosts = n;
	n[st->nr_ghosts++] = (struct ghost_rst){ .orig_id = id, .remap_id = n[gi].remap_id,
						 .type = n[gi].type, .path = p, .rm = rm,
						 .keep_fd = -1, .dirfd = dfd, .named = true,
						 .alias = true };
	pr_debug("file %u (%s) is opened as another name of the ghost %s", id, name, n[gi].path);
	*path = p;
	return 0;
}

static int ghost_rst_path_here(struct files_restore *fr, uint32_t id, const char **path)
{
	struct reg_rst *st = reg_rst_state(fr);
	*path = NULL;
	if (!st)
		return -ENOMEM;
	int ret = load_remaps(fr, st);
	if (ret)
		return ret;
	const RemapFilePathEntry *e = NULL;
	for (int i = 0; i < st->nr_remaps && !e; i++)
		if (st->remaps[i]->orig_id == id)
			e = st->remaps[i];
	if (!e)
		return 0;
	struct rst_file *f = files_rst_find(fr, id);
	if (!f || !f->fe->reg || !f->fe->reg->name) {
		pr_err("remap-fpath.img: file %u is no regular file of files.img", id);
		return -EINVAL;
	}
	const char *name = f->fe->reg->name;
	if (e->remap_type == REMAP_TYPE__PROCFS)
		return dead_pid_path(st, e->remap_id, name, path);
	if (e->remap_type != REMAP_TYPE__GHOST && e->remap_type != REMAP_TYPE__LINKED) {
		pr_err("remap-fpath.img: file %u (%s) has a remap of unknown type %u", id, name,
		       e->remap_type);
		return -EINVAL;
	}
	/* ghosts are shared by every file of the inode; link remaps per file */
	int first = -1;
	for (int i = 0; i < st->nr_ghosts; i++) {
		struct ghost_rst *g = &st->ghosts[i];
		if (g->type != (int)e->remap_type || g->remap_id != e->remap_id)
			continue;
		if (g->type == REMAP_TYPE__LINKED || g->alias) {
			if (g->orig_id != id)
				continue;
			*path = g->path;
			return 0;
		}
		if (first < 0)
			first = i;
	}
	if (first >= 0)
		return ghost_alias(st, first, id, name, path);
	struct ghost_rst *n = xrealloc(st->ghosts, (st->nr_ghosts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->ghosts = n;
	struct ghost_rst *g = &n[st->nr_ghosts++];
	*g = (struct ghost_rst){ .orig_id = id, .remap_id = e->remap_id, .type = e->remap_type,
				 .keep_fd = -1, .dirfd = -1 };
	ret = e->remap_type == REMAP_TYPE__GHOST ? make_ghost(fr, g, name) : make_linked(fr, g, name);
	if (ret)
		return ret;
	pr_debug("file %u (%s) is opened as %s", id, name, g->path);
	*path = g->path;
	return 0;
}

/* One name a restore made, to be removed. */
struct ghost_rm {
	int dirfd;
	const char *name, *next_to;
	int flags;
	bool done;
	int err;	/* why it could not be removed */
};

/* A ghost is made where its file was: in the tree's mount namespace (the
 * removal at the end goes through the directory descriptors kept) */
int ghost_rst_path(struct files_restore *fr, uint32_t id, const char **path)
{
	struct reg_rst *st = reg_rst_state(fr);
	if (!st)
		return -ENOMEM;
	/* (-1 where already inside: then the paths are as they were) */
	int own = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int cwd, ret = files_rst_enter_mnt(fr, &cwd);
	if (ret) {
		if (own >= 0)
			close(own);
		return ret;
	}
	st->own_fds = own;
	ret = ghost_rst_path_here(fr, id, path);
	st->own_fds = -1;
	if (own >= 0)
		close(own);
	int r2 = files_rst_leave_mnt(fr, cwd);
	return ret ? ret : r2;
}

int ghost_rst_path_by_inode(struct files_restore *fr, uint32_t kdev, uint64_t ino,
			    const char **path)
{
	/* cryo records st_dev, criu the kernel's encoding: either matches */
	uint32_t udev = makedev(kdev >> 20, kdev & 0xfffff);
	struct reg_rst *st = reg_rst_state(fr);
	*path = NULL;
	if (!st)
		return -ENOMEM;
	int ret = load_remaps(fr, st);
	for (int i = 0; !ret && !*path && i < st->nr_remaps; i++) {
		const RemapFilePathEntry *e = st->remaps[i];
		bool seen = false;
		for (int j = 0; j < i && !seen; j++)
			seen = st->remaps[j]->remap_type == REMAP_TYPE__GHOST &&
			       st->remaps[j]->remap_id == e->remap_id;
		if (e->remap_type != REMAP_TYPE__GHOST || seen)
			continue;
		struct cr_img *img;
		GhostFileEntry *g = NULL;
		ret = img_open(&img, fr->dirfd, IMG_GHOST_FILE, IMG_READ, e->remap_id);
		if (ret)
			break;
		ret = img_read_one(img, &ghost_file_entry__descriptor, (ProtobufCMessage **)&g);
		img_close(img);
		if (ret < 0)
			break;
		ret = 0;
		bool hit = g->has_dev && g->has_ino && (g->dev == udev || g->dev == kdev) &&
			   g->ino == ino;
		protobuf_c_message_free_unpacked(&g->base, NULL);
		if (hit)
			ret = ghost_rst_path(fr, e->orig_id, path);
	}
	return ret;
}

void ghost_restore_finish(struct files_restore *fr, bool ok)
{
	struct reg_rst *st = fr->kind_state[FDK_REG];
	if (!st)
		return;
	/* names in their own directories, held open since they were made;
	 * directories go once emptied, whatever order they were made in */
	struct ghost_rm *rm = xzalloc((2 * st->nr_ghosts + st->nr_made + 1) * sizeof(*rm));
	int nr = 0;
	for (int i = 0; rm && i < st->nr_ghosts; i++) {
		struct ghost_rst *g = &st->ghosts[i];
		if (g->rm)
			rm[nr++] = (struct ghost_rm){ g->dirfd, g->rm, g->path,
						      g->rm_dir ? AT_REMOVEDIR : 0, false, 0 };
		if (ok && g->rm_ok)
			rm[nr++] = (struct ghost_rm){ g->dirfd, g->rm_ok, g->path, 0, false, 0 };
	}
	for (int i = 0; rm && i < st->nr_made; i++)
		if (st->made[i].name)
			rm[nr++] = (struct ghost_rm){ st->made[i].dirfd, st->made[i].name,
						      st->made[i].path, AT_REMOVEDIR, false, 0 };
	for (bool progress = true; progress;) {
		progress = false;
		for (int i = 0; i < nr; i++) {
			if (rm[i].done)
				continue;
			if (!unlinkat(rm[i].dirfd, rm[i].name, rm[i].flags) || errno == ENOENT)
				rm[i].done = progress = true;
			else
				rm[i].err = errno;
		}
	}
	for (int i = 0; i < nr; i++)
		if (!rm[i].done)
			pr_warn("can't remove %s (next to %s), made for the restore: %s", rm[i].name,
				rm[i].next_to, strerror(rm[i].err));
	free(rm);
	for (int i = 0; i < st->nr_ghosts; i++) {
		struct ghost_rst *g = &st->ghosts[i];
		if (g->helper > 0) {
			kill(g->helper, SIGKILL);
			waitpid(g->helper, NULL, 0);
		}
		if (g->keep_fd >= 0)
			close(g->keep_fd);
		if (g->dirfd >= 0)
			close(g->dirfd);
		free(g->rm);
		free(g->rm_ok);
		free(g->path);
	}
	free(st->ghosts);
	st->ghosts = NULL;
	st->nr_ghosts = 0;
	for (int i = 0; i < st->nr_made; i++) {
		close(st->made[i].dirfd);
		free(st->made[i].name);
		free(st->made[i].path);
	}
	free(st->made);
	st->made = NULL;
	st->nr_made = 0;
	for (int i = 0; i < st->nr_remaps; i++)
		protobuf_c_message_free_unpacked(&st->remaps[i]->base, NULL);
	free(st->remaps);
	st->remaps = NULL;
	st->nr_remaps = 0;
}
