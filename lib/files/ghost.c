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
 * ("DIR/#INODE") is recreated with O_TMPFILE in DIR instead (restore side:
 * ghost_restore.c).  A ghost
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
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* criu writes small ghosts raw and larger ones as chunks (holes kept) */
#define GHOST_CHUNKS_MIN (3 * 4096)

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

/* A descriptor to read the deleted file of @d from (@link reaches it):
 * a new read-only open, unless the file has a lease, which that open would
 * break (the holder signalled; a write lease given up after the break time
 * while cryo waits in open).  Then cryo's copy of the task's own
 * description, if it can read: read with pread only, *@shared set (no
 * lseek: its offset is the task's).  Returns the fd or -errno (logged). */
static int ghost_reader(struct fd_dump *d, const char *link, const char *name, bool *shared)
{
	*shared = false;
	if (locks_file_leased(d->st.st_dev, d->st.st_ino)) {
		if (d->fd < 0 || (d->fi.flags & O_ACCMODE) == O_WRONLY) {
			pr_err("%s of process %d is the deleted file %s, which has a lease: cryo "
			       "would have to open it to save it, which breaks the lease (dump "
			       "once the lease is given up)", d->fd < 0 ? "a mapping" :
			       "a write-only fd", d->pid, name);
			return -EOPNOTSUPP;
		}
		int lfd = fd_dump_lfd(d);
		if (lfd < 0)
			return lfd;
		int fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return log_errno(-errno, "can't duplicate cryo's copy of fd %d of process %d",
					 d->fd, d->pid);
		*shared = true;
		return fd;
	}
	/* reopened read-only: the task's own descriptor may be write-only */
	int fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open the deleted file %s through %s", name, link);
	return fd;
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

static int write_ghost(struct fd_dump *d, uint32_t gid, const char *name, int fd, bool shared)
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
	/* hugetlbfs: recreated with ftruncate and filled through a mapping
	 * (no write(2) there), which can only make a size of whole huge pages
	 * (fallocate can leave another; a shared mapping would round it up) */
	struct statfs sfs;
	if (!fstatfs(fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC && sfs.f_bsize > 0 &&
	    st->st_size % sfs.f_bsize) {
		pr_err("%s of process %d is the deleted hugetlbfs file %s, %llu bytes long: not a "
		       "whole number of its %ld-byte pages, a size cryo can't give a recreated "
		       "hugetlbfs file (ftruncate it to whole pages before the dump)",
		       d->fd >= 0 ? "an fd" : "a mapping", d->pid, name,
		       (unsigned long long)st->st_size, (long)sfs.f_bsize);
		return -EOPNOTSUPP;
	}
	int ret = img_open(&img, d->fdm->dirfd, IMG_GHOST_FILE, IMG_WRITE, gid);
	if (ret)
		return ret;
	ret = img_write_msg(img, &gfe.base);
	if (!ret && !gfe.chunks)
		ret = copy_out(fd, img, 0, st->st_size, name);
	for (off_t pos = 0; !ret && gfe.chunks && pos < st->st_size;) {
		off_t data = shared ? -1 : lseek(fd, pos, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO && !shared)
			break;
		if (data < 0) {
			/* no SEEK_DATA here (or not on the task's own
			 * description): all of it is data */
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
	int r2 = img_close(img);
	return ret ? ret : r2;
}

/* How many bytes of the file @fd reads are data (not holes), as
 * write_ghost will save them; its whole @size where SEEK_DATA is missing
 * or not to be used (@shared: the task's own description). */
static uint64_t ghost_data_size(int fd, off_t size, bool shared)
{
	if (shared)
		return size;
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
	int rfd = -1;
	bool shared = false;
	if (type == REMAP_TYPE__GHOST && S_ISREG(d->st.st_mode)) {
		rfd = ghost_reader(d, link, name, &shared);
		if (rfd < 0)
			return rfd;
		/* the limit is on what the image holds: holes cost nothing */
		uint64_t data = ghost_data_size(rfd, d->st.st_size, shared);
		if (data > d->fdm->opts->ghost_limit) {
			close(rfd);
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
		ret = write_ghost(d, remap_id, name, rfd, shared);
		if (rfd >= 0)
			close(rfd);
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
