/* Deleted files that are still open or mapped (criu's "remaps").
 *
 * Dump (as criu):
 *   - no link left (nlink 0): a "ghost": mode, owner, times and contents go
 *     to ghost-file-ID.img (up to --ghost-limit bytes of data: holes are
 *     not saved), and remap-fpath.img maps the file's id to the ghost
 *     (remap_type GHOST).  Directories (an fd or a working directory),
 *     FIFOs, device nodes (rdev) and symbolic links (an O_PATH fd; their
 *     target) are ghosts too, without contents;
 *   - links left elsewhere (nlink > 0, the name gone): with --link-remap, a
 *     hard link "link_remap.ID" is made next to the old name from
 *     /proc/PID/fd/N, described by a file entry of its own, and the remap
 *     entry (LINKED) points at it.  Without --link-remap it is refused.
 * Restore: the ghost is recreated as NAME.cryo.ID.ghost in its old
 * directory and linked under its old name (a link remap is linked there
 * too) for as long as the restore opens it, so the restored process sees
 * "NAME (deleted)" as before; the names go once the restore is over (a link
 * remap's own link only after a successful restore).  An O_TMPFILE file
 * ("DIR/#INODE") is recreated with O_TMPFILE in DIR instead.  A ghost
 * directory is made and renamed to its old name.  Directories missing on
 * the way to a ghost (removed after it, as a deleted directory's parent
 * can be) are made for the restore and removed with it, as criu does.
 */
#include "files/reg-int.h"
#include "util/log.h"
#include "util/util.h"

#include "ghost-file.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* criu writes small ghosts raw and larger ones as chunks (holes kept) */
#define GHOST_CHUNKS_MIN (3 * 4096)
/* criu's REMAP_GHOST bit in remap_id, for images without remap_type */
#define OLD_REMAP_GHOST (1u << 31)

struct ghost_seen {
	dev_t dev;
	ino_t ino;
	uint32_t remap_id;
	int type;
};

struct ghost_dump_state {
	struct ghost_seen *seen;
	int nr_seen;
	uint32_t next_ghost_id;
	char **links;		/* link remaps made by this dump */
	int nr_links;
};

static struct ghost_dump_state *dump_state(struct files_dump *fdm)
{
	if (!fdm->kind_state[FDK_REG]) {
		struct ghost_dump_state *s = xzalloc(sizeof(*s));
		if (s)
			s->next_ghost_id = 1;
		fdm->kind_state[FDK_REG] = s;
	}
	return fdm->kind_state[FDK_REG];
}

/* A /proc link that opens the path-only file of @d (exe or a mapping). */
static int find_proc_link(struct fd_dump *d, char *out, size_t size)
{
	struct stat st;
	snprintf(out, size, "/proc/%d/exe", d->pid);
	if (!stat(out, &st) && st.st_dev == d->st.st_dev && st.st_ino == d->st.st_ino)
		return 0;
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/map_files", d->pid);
	DIR *dd = opendir(dir);
	if (!dd)
		return_perror("can't list %s", dir);
	struct dirent *e;
	int ret = -ENOENT;
	while ((e = readdir(dd)) && ret) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(out, size, "%s/%s", dir, e->d_name);
		if (!stat(out, &st) && st.st_dev == d->st.st_dev && st.st_ino == d->st.st_ino)
			ret = 0;
	}
	closedir(dd);
	if (ret)
		pr_err("can't find how process %d reaches the deleted file %s", d->pid, d->path);
	return ret;
}

static int copy_out(int fd, struct cr_img *img, off_t off, size_t len, const char *name)
{
	char buf[65536];
	while (len) {
		ssize_t n = pread(fd, buf, MIN(len, sizeof(buf)), off);
		if (n <= 0) {
			if (n < 0)
				return_perror("can't read the deleted file %s", name);
			/* shrunk meanwhile: the task is stopped, so this is a bug */
			pr_err("the deleted file %s ended early while being saved", name);
			return -EIO;
		}
		int ret = img_write_raw(img, buf, n);
		if (ret)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

/* A ghost without contents: a directory, FIFO, device node or symlink. */
static int write_ghost_node(struct fd_dump *d, uint32_t gid, const char *name,
			    GhostFileEntry *gfe)
{
	char target[PATH_MAX];
	struct cr_img *img;
	if (S_ISCHR(d->st.st_mode) || S_ISBLK(d->st.st_mode)) {
		gfe->has_rdev = 1;
		gfe->rdev = d->st.st_rdev;
	} else if (S_ISLNK(d->st.st_mode)) {
		/* only an O_PATH|O_NOFOLLOW fd holds a symlink itself */
		int lfd = d->fd >= 0 ? fd_dump_lfd(d) : -EBADF;
		if (lfd < 0)
			return lfd;
		ssize_t n = readlinkat(lfd, "", target, sizeof(target) - 1);
		if (n < 0)
			return_perror("can't read the target of the deleted symlink %s", name);
		target[n] = '\0';
		gfe->symlnk_target = target;
	}
	int ret = img_open(&img, d->fdm->dirfd, IMG_GHOST_FILE, IMG_WRITE, gid);
	if (ret)
		return ret;
	ret = img_write_msg(img, &gfe->base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

static int write_ghost(struct fd_dump *d, uint32_t gid, const char *name, const char *link)
{
	GhostFileEntry gfe = GHOST_FILE_ENTRY__INIT;
	Timeval at = TIMEVAL__INIT, mt = TIMEVAL__INIT;
	const struct stat *st = &d->st;
	struct cr_img *img;

	gfe.has_uid = gfe.has_gid = gfe.has_mode = gfe.has_dev = gfe.has_ino = 1;
	gfe.uid = st->st_uid;
	gfe.gid = st->st_gid;
	gfe.mode = st->st_mode;
	gfe.dev = st->st_dev;
	gfe.ino = st->st_ino;
	at.has_tv_sec = at.has_tv_usec = mt.has_tv_sec = mt.has_tv_usec = 1;
	at.tv_sec = st->st_atim.tv_sec;
	at.tv_usec = st->st_atim.tv_nsec / 1000;
	mt.tv_sec = st->st_mtim.tv_sec;
	mt.tv_usec = st->st_mtim.tv_nsec / 1000;
	gfe.atim = &at;
	gfe.mtim = &mt;
	if (!S_ISREG(st->st_mode))
		return write_ghost_node(d, gid, name, &gfe);
	if (st->st_size >= GHOST_CHUNKS_MIN) {
		gfe.has_chunks = gfe.chunks = 1;
		gfe.has_size = 1;
		gfe.size = st->st_size;
	}
	/* reopened read-only: the task's own descriptor may be write-only */
	int fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open the deleted file %s through %s", name, link);
	int ret = img_open(&img, d->fdm->dirfd, IMG_GHOST_FILE, IMG_WRITE, gid);
	if (ret) {
		close(fd);
		return ret;
	}
	ret = img_write_msg(img, &gfe.base);
	if (!ret && !gfe.chunks)
		ret = copy_out(fd, img, 0, st->st_size, name);
	for (off_t pos = 0; !ret && gfe.chunks && pos < st->st_size;) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0) {
			/* no SEEK_DATA here: all of it is data */
			data = pos;
			hole = st->st_size;
		} else {
			hole = lseek(fd, data, SEEK_HOLE);
			if (hole < 0 || hole > st->st_size)
				hole = st->st_size;
		}
		GhostChunkEntry ce = GHOST_CHUNK_ENTRY__INIT;
		ce.has_len = ce.has_off = 1;
		ce.off = data;
		ce.len = hole - data;
		ret = img_write_msg(img, &ce.base);
		if (!ret)
			ret = copy_out(fd, img, data, ce.len, name);
		pos = hole;
	}
	close(fd);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

/* How many bytes of the file @link reaches are data (not holes), as
 * write_ghost will save them; its whole @size where SEEK_DATA is missing. */
static uint64_t ghost_data_size(const char *link, off_t size)
{
	int fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return size;	/* write_ghost reports it */
	uint64_t data = 0;
	for (off_t pos = 0; pos < size;) {
		off_t start = lseek(fd, pos, SEEK_DATA), end;
		if (start < 0 && errno == ENXIO)
			break;
		if (start < 0) {
			data = size;
			break;
		}
		end = lseek(fd, start, SEEK_HOLE);
		if (end < 0 || end > size)
			end = size;
		data += end - start;
		pos = end;
	}
	close(fd);
	return data;
}

static int write_remap(struct fd_dump *d, uint32_t remap_id, int type)
{
	struct cr_img *img;
	int ret = files_dump_img(d->fdm, IMG_REMAP_FPATH, &img);
	if (ret)
		return ret;
	RemapFilePathEntry rpe = REMAP_FILE_PATH_ENTRY__INIT;
	rpe.has_orig_id = rpe.has_remap_id = rpe.has_remap_type = 1;
	rpe.orig_id = d->id;
	rpe.remap_id = remap_id;
	rpe.remap_type = type;
	return img_write_msg(img, &rpe.base);
}

/* nlink > 0: a hard link next to the old name, with a file entry of its own */
static int link_remap(struct fd_dump *d, struct ghost_dump_state *s, const char *name,
		      const char *link, uint32_t *remap_id)
{
	if (!d->fdm->opts->link_remap) {
		pr_err("%s of process %d is %s, removed from its directory but still linked "
		       "elsewhere (%lu links): dump with --link-remap to save it through a temporary "
		       "hard link", d->fd >= 0 ? "an fd" : "a mapping", d->pid, name,
		       (unsigned long)d->st.st_nlink);
		return -EOPNOTSUPP;
	}
	uint32_t id = d->fdm->next_id++;
	char lname[PATH_MAX], tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", name);
	snprintf(lname, sizeof(lname), "%s/link_remap.%u", dirname(tmp), id);
	if (linkat(AT_FDCWD, link, AT_FDCWD, lname, AT_SYMLINK_FOLLOW))
		return_perror("can't link %s (the deleted %s) as %s for --link-remap", link, name,
			      lname);
	char **n = xrealloc(s->links, (s->nr_links + 1) * sizeof(*n));
	if (!n || !(lname[0] && (n[s->nr_links] = xstrdup(lname)))) {
		unlink(lname);
		if (n)
			s->links = n;
		return -ENOMEM;
	}
	s->links = n;
	s->nr_links++;

	FileEntry fe = FILE_ENTRY__INIT;
	RegFileEntry rfe = REG_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	fown.has_uid = fown.has_euid = fown.has_signum = fown.has_pid_type = fown.has_pid = 1;
	rfe.has_id = rfe.has_flags = rfe.has_pos = 1;
	rfe.id = id;
	rfe.fown = &fown;
	rfe.name = lname;
	fe.has_id = fe.has_type = 1;
	fe.id = id;
	fe.type = FD_TYPES__REG;
	fe.reg = &rfe;
	*remap_id = id;
	pr_info("deleted file %s linked as %s for the restore (--link-remap)", name, lname);
	return img_write_msg(d->fdm->files_img, &fe.base);
}

int ghost_dump(struct fd_dump *d, const char *name, const char *proc_link)
{
	struct ghost_dump_state *s = dump_state(d->fdm);
	char link[PATH_MAX];
	int ret;

	if (!s)
		return -ENOMEM;
	if (d->st.st_nlink) {
		struct stat ps;
		if (!stat(name, &ps)) {
			pr_err("%s of process %d is open on a file once named %s, but that name leads "
			       "to another file now: cryo can't save it", d->fd >= 0 ? "an fd" :
			       "a mapping", d->pid, name);
			return -EOPNOTSUPP;
		}
	}
	int type = d->st.st_nlink ? REMAP_TYPE__LINKED : REMAP_TYPE__GHOST;
	for (int i = 0; i < s->nr_seen; i++)
		if (s->seen[i].dev == d->st.st_dev && s->seen[i].ino == d->st.st_ino &&
		    s->seen[i].type == type)
			return write_remap(d, s->seen[i].remap_id, type);

	if (proc_link && proc_link[0])
		snprintf(link, sizeof(link), "%s", proc_link);
	else if (!S_ISREG(d->st.st_mode) && type == REMAP_TYPE__GHOST)
		link[0] = '\0';	/* a working directory: nothing to read */
	else if ((ret = find_proc_link(d, link, sizeof(link))))
		return ret;
	if (type == REMAP_TYPE__GHOST && S_ISREG(d->st.st_mode)) {
		/* the limit is on what the image holds: holes cost nothing */
		uint64_t data = ghost_data_size(link, d->st.st_size);
		if (data > d->fdm->opts->ghost_limit) {
			pr_err("%s of process %d is the deleted file %s with %llu bytes of data "
			       "(%llu bytes long), larger than --ghost-limit (%llu bytes): raise "
			       "--ghost-limit to save it", d->fd >= 0 ? "an fd" : "a mapping",
			       d->pid, name, (unsigned long long)data,
			       (unsigned long long)d->st.st_size,
			       (unsigned long long)d->fdm->opts->ghost_limit);
			return -EFBIG;
		}
	}
	uint32_t remap_id;
	if (type == REMAP_TYPE__GHOST) {
		remap_id = s->next_ghost_id++;
		ret = write_ghost(d, remap_id, name, link);
		if (!ret)
			pr_info("deleted file %s (mode 0%o, %llu bytes) saved as ghost-file-%x.img",
				name, d->st.st_mode, (unsigned long long)d->st.st_size, remap_id);
	} else {
		ret = link_remap(d, s, name, link, &remap_id);
	}
	if (ret)
		return ret;
	struct ghost_seen *n = xrealloc(s->seen, (s->nr_seen + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->seen = n;
	n[s->nr_seen++] = (struct ghost_seen){ d->st.st_dev, d->st.st_ino, remap_id, type };
	return write_remap(d, remap_id, type);
}

int ghost_dump_procfs(struct fd_dump *d, const char *name)
{
	unsigned pid;
	int n = 0;
	struct stat self, ps;
	if (sscanf(name, "/proc/%u%n", &pid, &n) != 1 || !n || (name[n] && name[n] != '/') ||
	    !pid || pid > INT_MAX || stat("/proc/self", &self) || self.st_dev != d->st.st_dev)
		return 0;
	/* the held file pins its dentry: while its process lives, the name
	 * leads to the very same inode */
	if (!stat(name, &ps) && ps.st_ino == d->st.st_ino && ps.st_dev == d->st.st_dev)
		return 0;
	char dir[32];
	snprintf(dir, sizeof(dir), "/proc/%u", pid);
	const char *what = d->fd >= 0 ? "an fd" : "the working directory or a mapping";
	if (!access(dir, F_OK)) {
		pr_err("%s of process %d is %s, of process %u that has exited, and PID %u is "
		       "another process's now: cryo restores such files through a short-lived "
		       "process with the dead one's PID, which is taken; dump again once the "
		       "file is closed", what, d->pid, name, pid, pid);
		return -EOPNOTSUPP;
	}
	pr_info("%s of process %d is %s, of process %u that has exited: restored through a "
		"helper process with that PID", what, d->pid, name, pid);
	int ret = write_remap(d, pid, REMAP_TYPE__PROCFS);
	return ret ? ret : 1;
}

int ghost_dump_inode(struct files_dump *fdm, pid_t pid, int fd, const char *name)
{
	struct fd_dump d = { .fdm = fdm, .pid = pid, .fd = -1, .lfd = -1, .kind = FDK_REG };
	if (fstat(fd, &d.st))
		return_perror("can't stat the deleted file %s", name);
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	snprintf(d.path, sizeof(d.path), "%s (deleted)", name);
	d.id = fdm->next_id++;
	/* a file entry of its own, that the remap names */
	FileEntry fe = FILE_ENTRY__INIT;
	RegFileEntry rfe = REG_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	fown.has_uid = fown.has_euid = fown.has_signum = fown.has_pid_type = fown.has_pid = 1;
	rfe.has_id = rfe.has_flags = rfe.has_pos = rfe.has_mode = 1;
	rfe.id = d.id;
	rfe.flags = O_RDONLY;
	rfe.fown = &fown;
	rfe.name = (char *)name;
	rfe.mode = d.st.st_mode;
	fe.has_id = fe.has_type = 1;
	fe.id = d.id;
	fe.type = FD_TYPES__REG;
	fe.reg = &rfe;
	int ret = img_write_msg(fdm->files_img, &fe.base);
	return ret ? ret : ghost_dump(&d, name, link);
}

void ghost_dump_finish(struct files_dump *fdm, bool ok)
{
	struct ghost_dump_state *s = fdm->kind_state[FDK_REG];
	if (!s)
		return;
	for (int i = 0; i < s->nr_links; i++) {
		/* a failed dump leaves the file system as it found it */
		if (!ok && unlink(s->links[i]))
			pr_warn("can't remove the link remap %s: %s", s->links[i], strerror(errno));
		free(s->links[i]);
	}
	free(s->links);
	free(s->seen);
	free(s);
	fdm->kind_state[FDK_REG] = NULL;
}

/* ---------------- restore ---------------- */

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

static int fill_ghost(struct cr_img *img, const GhostFileEntry *g, int fd, const char *name)
{
	char buf[65536];
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
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int ret = 0;
	if (fchownat(fd, "", e->uid, e->gid, AT_EMPTY_PATH))
		{ ret = -errno; pr_perror("can't give the recreated %s its owner", name); }
	/* (a symlink has no mode of its own; the magic link leads to the node) */
	else if (type != S_IFLNK && chmod(self, e->mode & 07777))
		{ ret = -errno; pr_perror("can't give the recreated %s its mode", name); }
	if (!ret && e->atim && e->mtim) {
		struct timespec ts[2] = { { e->atim->tv_sec, e->atim->tv_usec * 1000 },
					  { e->mtim->tv_sec, e->mtim->tv_usec * 1000 } };
		if (type == S_IFLNK ? utimensat(dfd, tmpname, ts, AT_SYMLINK_NOFOLLOW) :
		    utimensat(AT_FDCWD, self, ts, 0))
			pr_warn("can't set the times of the recreated %s: %s", name, strerror(errno));
	}
	close(fd);
	if (ret)
		return ret;
	/* under its old name, so that it shows as "NAME (deleted)" */
	if (adopted) {
		g->path = xstrdup(name);
	} else if (!(type == S_IFDIR ? renameat2(dfd, tmpname, dfd, base, RENAME_NOREPLACE) :
		     linkat(dfd, tmpname, dfd, base, 0))) {
		if (type != S_IFDIR)
			unlinkat(dfd, tmpname, 0);
		free(g->rm);
		g->rm = xstrdup(base);
		g->path = xstrdup(name);
	} else {
		snprintf(path, sizeof(path), "%.*s%s", (int)(base - name), name, tmpname);
		g->path = xstrdup(path);
	}
	return g->path && g->rm ? 0 : -ENOMEM;
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

int ghost_rst_path(struct files_restore *fr, uint32_t id, const char **path)
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
	for (int i = 0; i < st->nr_ghosts; i++) {
		struct ghost_rst *g = &st->ghosts[i];
		if (g->type == (int)e->remap_type && g->remap_id == e->remap_id &&
		    (g->type == REMAP_TYPE__GHOST || g->orig_id == id)) {
			*path = g->path;
			return 0;
		}
	}
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
};

int ghost_rst_path_by_inode(struct files_restore *fr, uint32_t dev, uint64_t ino,
			    const char **path)
{
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
		bool hit = g->has_dev && g->has_ino && g->dev == dev && g->ino == ino;
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
						      g->rm_dir ? AT_REMOVEDIR : 0, false };
		if (ok && g->rm_ok)
			rm[nr++] = (struct ghost_rm){ g->dirfd, g->rm_ok, g->path, 0, false };
	}
	for (int i = 0; rm && i < st->nr_made; i++)
		if (st->made[i].name)
			rm[nr++] = (struct ghost_rm){ st->made[i].dirfd, st->made[i].name,
						      st->made[i].path, AT_REMOVEDIR, false };
	for (bool progress = true; progress;) {
		progress = false;
		for (int i = 0; i < nr; i++)
			if (!rm[i].done && (!unlinkat(rm[i].dirfd, rm[i].name, rm[i].flags) ||
					    errno == ENOENT))
				rm[i].done = progress = true;
	}
	for (int i = 0; i < nr; i++)
		if (!rm[i].done)
			pr_warn("can't remove %s (next to %s), made for the restore: %s", rm[i].name,
				rm[i].next_to, strerror(errno));
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
