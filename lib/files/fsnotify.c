/* inotify and fanotify instances.
 *
 * inotify: fdinfo lists each watch as "inotify wd:W ino:I sdev:D mask:M
 * ignored_mask:0 fhandle-bytes:B fhandle-type:T f_handle:HEX" (wd in hex).
 * The watched inode is found again from its file handle: open_by_handle_at
 * on a mount of its filesystem (sdev) gives a descriptor, whose /proc link
 * is a path; the path is checked to lead to the same inode and saved in the
 * fh_entry (criu's "path" field) along with the handle.  A watched inode
 * that was deleted (a watch lives as long as its inode, which something
 * else must hold open) is saved as a ghost, as criu does: the restore
 * recreates it, finds it by its device and inode number, and watches it
 * before it is removed again.
 *
 * Restore: inotify_init1, then inotify_add_watch by path, in wd order.  The
 * kernel hands out wds cyclically (the next is one more than the last
 * given), so to give a watch its number, dummy watches on a scratch
 * directory are added and removed until the counter reaches it; the
 * IN_IGNORED events this queues are drained before the instance is handed
 * over.  Events queued and not read at dump time are not saved (a warning
 * says how many bytes).
 *
 * fanotify: fdinfo gives the init flags ("fanotify flags:F event-flags:E")
 * and each mark: inode marks (with a file handle, resolved to a path as
 * for inotify), mount marks (mnt_id: the mount point is saved as the
 * path).  Filesystem marks have no place in criu's format and are refused.
 * Restore: fanotify_init with the same flags, fanotify_mark for each.
 * Inode marks on deleted inodes go through ghosts, as inotify watches.
 */
#include "files/events-int.h"
#include "files/reg-int.h"
#include "ns/ns.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include "fsnotify.pb-c.h"
#include "fh.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define FH_WORDS 16	/* criu's fh_entry: MAX_HANDLE_SZ bytes as u64 words */

/* A mount (by its mountinfo "maj:min") of the filesystem with kernel dev
 * @sdev in process @pid's view: a descriptor of its root directory, or a negative code;
 * *mnt_id gets its id. */
static int mount_of_dev(pid_t pid, unsigned sdev, int *mnt_id)
{
	char path[64], *mi = NULL;
	unsigned maj = sdev >> 20, min = sdev & 0xfffff;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	if (read_file(AT_FDCWD, path, &mi, false) < 0)
		return -EIO;
	int fd = -ENOENT;
	for (char *l = strtok(mi, "\n"); l && fd == -ENOENT; l = strtok(NULL, "\n")) {
		int id, parent;
		unsigned a, b;
		char root[PATH_MAX], mp[PATH_MAX];
		if (sscanf(l, "%d %d %u:%u %4095s %4095s", &id, &parent, &a, &b, root, mp) != 6 ||
		    a != maj || b != min)
			continue;
		char full[PATH_MAX + 64];
		snprintf(full, sizeof(full), "/proc/%d/root%s", pid, mp);
		/* not O_PATH: open_by_handle_at wants a real descriptor */
		int m = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (m >= 0) {
			fd = m;
			*mnt_id = id;
		}
	}
	free(mi);
	return fd;
}

static int hexbytes(const char *hex, unsigned char *out, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = v;
	}
	return 0;
}

/* Does a process of the tree hold the inode @st (an fd, its working
 * directory or a mapping)? */
static bool inode_in_tree(struct fd_dump *d, const struct stat *st)
{
	static const char *const dirs[] = { "fd", "map_files" };
	for (int p = 0; d->fdm->tree && p < d->fdm->tree->nr_procs; p++) {
		const struct seized_proc *sp = d->fdm->tree->procs[p];
		if (sp->state == TASK_DEAD)
			continue;
		char path[PATH_MAX];
		struct stat s;
		snprintf(path, sizeof(path), "/proc/%d/cwd", sp->pid);
		if (!stat(path, &s) && s.st_dev == st->st_dev && s.st_ino == st->st_ino)
			return true;
		for (size_t k = 0; k < ARRAY_SIZE(dirs); k++) {
			snprintf(path, sizeof(path), "/proc/%d/%s", sp->pid, dirs[k]);
			DIR *dd = opendir(path);
			struct dirent *e;
			bool hit = false;
			while (dd && !hit && (e = readdir(dd))) {
				if (e->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "/proc/%d/%s/%s", sp->pid, dirs[k],
					 e->d_name);
				hit = !stat(path, &s) && s.st_dev == st->st_dev &&
				      s.st_ino == st->st_ino;
			}
			if (dd)
				closedir(dd);
			if (hit)
				return true;
		}
	}
	return false;
}

/* The watched inode open as @fd was deleted (/proc shows @path with
 * " (deleted)"): saved as a ghost if the tree holds it, so that the restore
 * recreates the same state; fills fh->path with its old name. */
static int deleted_watch(struct fd_dump *d, int fd, const char *path, FhEntry *fh,
			 const char *what)
{
	struct stat st;
	size_t l = strlen(path);
	if (fstat(fd, &st))
		return_perror("can't stat the inode of %s of " FD_FMT, what, FD_ARGS(d));
	if (!inode_in_tree(d, &st)) {
		/* the watch would go with the recreated inode at the restore's end */
		pr_err("%s of " FD_FMT " is on %s, which no process of the tree holds open "
		       "(something outside the tree keeps it alive): cryo can't restore the "
		       "watch", what, FD_ARGS(d), path);
		return -EOPNOTSUPP;
	}
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%.*s", (int)(l - 10), path);
	int ret = ghost_dump_inode(d->fdm, d->pid, fd, name);
	if (ret)
		return ret;
	pr_info("%s of " FD_FMT " is on the deleted %s: saved as a ghost", what, FD_ARGS(d),
		path);
	fh->path = xstrdup(name);
	return fh->path ? 0 : -ENOMEM;
}

/* Dump: a watch's path is the process's, looked up by the restore in the
 * tree's mount namespace, where a mount of its own may hide the name (or
 * show another file there): it is checked, and the irmap scan made, in
 * @pid's mount namespace.  cryo is single-threaded and may enter it; its
 * working directory is put back by task_mnt_leave.  *@back -1: cryo's own
 * namespace, nothing entered. */
static int task_mnt_enter(pid_t pid, int *back, int *cwd)
{
	char path[64];
	struct stat a, b;
	*back = *cwd = -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open the mount namespace of process %d (%s)", pid,
				 path);
	if (!fstat(fd, &a) && !stat("/proc/self/ns/mnt", &b) && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev) {
		close(fd);
		return 0;
	}
	*cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	*back = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	int ret = *cwd < 0 || *back < 0 ?
		  log_errno(-errno, "can't open cryo's working directory or mount namespace") :
		  ns_join(ns_desc(NS_MNT), fd);
	close(fd);
	if (ret) {
		if (*cwd >= 0)
			close(*cwd);
		if (*back >= 0)
			close(*back);
		*back = *cwd = -1;
	}
	return ret;
}

static int task_mnt_leave(int back, int cwd)
{
	if (back < 0)
		return 0;
	int ret = ns_leave(ns_desc(NS_MNT), back);
	if (fchdir(cwd) && !ret)
		ret = log_errno(-errno, "can't go back to cryo's working directory");
	close(cwd);
	return ret;
}

/* Find a path to the inode (@ino on @sdev) that @fh names; fills fh->path
 * (allocated) and fh->mnt_id.  Refuses (logged) when there is none. */
static int handle_to_path(struct fd_dump *d, unsigned sdev, unsigned long long ino,
			  struct file_handle *h, FhEntry *fh, const char *what)
{
	int mnt_id = 0;
	int m = mount_of_dev(d->pid, sdev, &mnt_id);
	if (m < 0) {
		pr_err("%s of " FD_FMT ": no mount of its filesystem (device %u:%u) is visible "
		       "to the process", what, FD_ARGS(d), sdev >> 20, sdev & 0xfffff);
		return -EOPNOTSUPP;
	}
	int fd = open_by_handle_at(m, h, O_PATH | O_CLOEXEC), oe = errno;
	struct statfs msf;
	bool ovl = fd < 0 && !fstatfs(m, &msf) && msf.f_type == OVERLAYFS_SUPER_MAGIC;
	close(m);
	if (ovl) {
		/* overlayfs gives fsnotify handles it can't decode unless
		 * mounted with nfs_export=on */
		pr_err("%s of " FD_FMT ": inode %llu is on an overlayfs, whose file handles can't be "
		       "opened (open_by_handle_at: %s; an overlay mounted with nfs_export=on can): "
		       "cryo can't find the watched file's path", what, FD_ARGS(d), ino,
		       strerror(oe));
		return -EOPNOTSUPP;
	}
	if (fd < 0) {
		int e = errno;
		pr_err("%s of " FD_FMT ": can't open inode %llu by its file handle "
		       "(open_by_handle_at: %s)%s", what, FD_ARGS(d), ino, strerror(e),
		       e == ESTALE ? ": it was deleted and is gone" : "");
		return -EOPNOTSUPP;
	}
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	struct stat st;
	bool have_st = !fstat(fd, &st);
	bool ok = n > 0 && have_st;
	path[n > 0 ? n : 0] = 0;
	/* " (deleted)" with links left: the name it was watched by is gone,
	 * another (a hard link) is not: not a ghost, found by a scan below */
	if (ok && path[0] == '/' && n > 10 && !strcmp(path + n - 10, " (deleted)") &&
	    st.st_nlink > 0 && !S_ISDIR(st.st_mode))
		ok = false;
	else if (ok && path[0] == '/' && n > 10 && !strcmp(path + n - 10, " (deleted)")) {
		int ret = deleted_watch(d, fd, path, fh, what);
		close(fd);
		fh->has_mnt_id = 1;
		fh->mnt_id = mnt_id;
		return ret;
	}
	close(fd);
	int back, cwd, ret = task_mnt_enter(d->pid, &back, &cwd);
	if (ret)
		return ret;
	if (ok) {
		path[n] = 0;
		struct stat ps;
		ok = path[0] == '/' && !lstat(path, &ps) && ps.st_ino == st.st_ino &&
		     ps.st_dev == st.st_dev && st.st_ino == ino;
	}
	static const struct str_list none;
	const struct str_list *scan = d->fdm->opts ? &d->fdm->opts->irmap_scan : &none;
	if (!ok && have_st && scan->n) {
		char found[PATH_MAX];
		ret = irmap_find(scan, st.st_dev, st.st_ino, found, sizeof(found));
		if (ret && ret != -ENOENT) {
			log_errno(ret, "%s of " FD_FMT ": scanning --irmap-scan-path for inode %llu",
				  what, FD_ARGS(d), ino);
			task_mnt_leave(back, cwd);
			return ret;
		}
		if (!ret) {
			pr_info("%s of " FD_FMT ": inode %llu (its handle opens as \"%s\") found "
				"as %s by the irmap scan", what, FD_ARGS(d), ino,
				n > 0 ? path : "?", found);
			snprintf(path, sizeof(path), "%s", found);
			ok = true;
		}
	}
	ret = task_mnt_leave(back, cwd);
	if (ret)
		return ret;
	if (!ok) {
		pr_err("%s of " FD_FMT ": inode %llu has no path that leads to it (its handle "
		       "opens as \"%s\": not reachable from its mount)%s: cryo can't restore the "
		       "watch%s%s", what, FD_ARGS(d), ino, n > 0 ? path : "?",
		       scan->n ? " and --irmap-scan-path did not find it" : "",
		       d->fdm->opts && d->fdm->opts->force_irmap ? " (--force-irmap: cryo saves "
		       "every watch's path anyway, and this one has none)" : "",
		       scan->n ? "" : " (--irmap-scan-path DIR makes cryo look for another name "
		       "of it, a hard link, under DIR)");
		return -EOPNOTSUPP;
	}
	fh->path = xstrdup(path);
	fh->has_mnt_id = 1;
	fh->mnt_id = mnt_id;
	return fh->path ? 0 : -ENOMEM;
}

struct wd_parsed {
	InotifyWdEntry w;
	FhEntry fh;
	uint64_t words[FH_WORDS];
};

/* Events queued but not read yet are not saved (neither does criu): say so. */
static int warn_unread_events(struct fd_dump *d, const char *kind)
{
	int lfd = fd_dump_lfd(d), queued = 0;
	if (lfd < 0)
		return lfd;
	if (!ioctl(lfd, FIONREAD, &queued) && queued > 0)
		pr_warn("%s " FD_FMT " has %d bytes of events not read yet: they are not saved",
			kind, FD_ARGS(d), queued);
	return 0;
}

static int inotify_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	InotifyFileEntry e = INOTIFY_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	struct wd_parsed *wds = NULL;
	InotifyWdEntry **ptrs = NULL;
	int n = 0, cap = 0, ret = 0;

	for (const char *p = d->fdinfo; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "inotify ", 8))
			continue;
		unsigned wd, sdev, mask, ign, hbytes;
		int htype, off = 0;
		unsigned long long ino;
		if (sscanf(p, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x "
			   "fhandle-bytes:%x fhandle-type:%x f_handle:%n", &wd, &ino, &sdev, &mask,
			   &ign, &hbytes, &htype, &off) != 7 || !off || hbytes > FH_WORDS * 8) {
			pr_err(FD_FMT ": can't parse an inotify watch in its fdinfo: %.100s",
			       FD_ARGS(d), p);
			ret = -EINVAL;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct wd_parsed *nw = xrealloc(wds, cap * sizeof(*nw));
			if (!nw) {
				ret = -ENOMEM;
				goto out;
			}
			wds = nw;
		}
		struct wd_parsed *w = &wds[n++];
		memset(w, 0, sizeof(*w));
		union {
			struct file_handle h;
			char buf[sizeof(struct file_handle) + FH_WORDS * 8];
		} fh;
		fh.h.handle_bytes = hbytes;
		fh.h.handle_type = htype;
		if (hexbytes(p + off, fh.h.f_handle, hbytes)) {
			pr_err(FD_FMT ": bad file handle in its fdinfo: %.100s", FD_ARGS(d), p);
			ret = -EINVAL;
			goto out;
		}
		memcpy(w->words, fh.h.f_handle, hbytes);
		w->fh = (FhEntry)FH_ENTRY__INIT;
		w->fh.has_bytes = w->fh.has_type = 1;
		w->fh.bytes = hbytes;
		w->fh.type = htype;
		w->fh.n_handle = FH_WORDS;
		char what[64];
		snprintf(what, sizeof(what), "inotify watch %u", wd);
		ret = handle_to_path(d, sdev, ino, &fh.h, &w->fh, what);
		if (ret)
			goto out;
		w->w = (InotifyWdEntry)INOTIFY_WD_ENTRY__INIT;
		w->w.has_id = w->w.has_i_ino = w->w.has_mask = w->w.has_ignored_mask = 1;
		w->w.has_s_dev = w->w.has_wd = 1;
		w->w.id = d->id;
		w->w.i_ino = ino;
		w->w.mask = mask;
		w->w.ignored_mask = ign;
		w->w.s_dev = sdev;
		w->w.wd = wd;
	}
	ret = warn_unread_events(d, "inotify");
	if (ret)
		goto out;
	ptrs = xmalloc((n + 1) * sizeof(*ptrs));
	if (!ptrs) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		/* pointers into wds[] only now that it no longer moves */
		wds[i].fh.handle = wds[i].words;
		wds[i].w.f_handle = &wds[i].fh;
		ptrs[i] = &wds[i].w;
	}
	ret = fd_dump_fown(d, &fown);
	if (ret)
		goto out;
	e.has_id = e.has_flags = 1;
	e.id = d->id;
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.fown = &fown;
	e.n_wd = n;
	e.wd = ptrs;
	fe.ify = &e;
	ret = files_emit(d, &fe);
out:
	for (int i = 0; i < n; i++)
		free(wds[i].fh.path);
	free(wds);
	free(ptrs);
	return ret;
}

static int cmp_wd(const void *a, const void *b)
{
	const InotifyWdEntry *x = *(InotifyWdEntry *const *)a, *y = *(InotifyWdEntry *const *)b;
	return x->wd < y->wd ? -1 : x->wd > y->wd;
}

/* Largest wd cryo walks the counter up to with dummy watches. */
#define WD_WALK_MAX (1 << 20)

/* A watch's or mark's path is the tree's: it is looked up in the tree's
 * mount namespace (a fanotify mount mark names the mount the path leads to,
 * which is the restored one only there), except a link of cryo's own
 * /proc/CRYO/fd (an O_TMPFILE ghost), which only cryo's /proc has.  *@cwd
 * is for files_rst_leave_mnt (-1: nothing entered). */
static int mark_enter_mnt(struct files_restore *fr, const char *path, int *cwd)
{
	char own[32];
	snprintf(own, sizeof(own), "/proc/%d/fd/", getpid());
	*cwd = -1;
	if (!strncmp(path, own, strlen(own)))
		return 0;
	return files_rst_enter_mnt(fr, cwd);
}

static int inotify_open(struct files_restore *fr, struct rst_file *f)
{
	const InotifyFileEntry *e = f->fe->ify;
	if (!e) {
		pr_err("files.img: inotify %u has no inotify entry", f->fe->id);
		return -EINVAL;
	}
	char what[32];
	snprintf(what, sizeof(what), "inotify %u", f->fe->id);
	InotifyWdEntry **w = xmalloc((e->n_wd + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memcpy(w, e->wd, e->n_wd * sizeof(*w));
	xqsort(w, e->n_wd, sizeof(*w), cmp_wd);
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), ret = 0;
	char scratch[] = "/tmp/cryo-inotify-XXXXXX";
	bool have_scratch = false;
	int next = 1;	/* the wd the kernel gives next */
	if (fd < 0) {
		ret = -errno;
		pr_perror("inotify_init1 for %s", what);
		goto out;
	}
	for (size_t i = 0; i < e->n_wd && !ret; i++) {
		const InotifyWdEntry *x = w[i];
		const char *path = x->f_handle ? x->f_handle->path : NULL;
		/* a deleted inode: its ghost, recreated for the restore */
		const char *gpath = NULL;
		ret = ghost_rst_path_by_inode(fr, x->s_dev, x->i_ino, &gpath);
		if (ret)
			break;
		if (gpath)
			path = gpath;
		if (!path) {
			pr_err("files.img: watch %u of %s has no path", x->wd, what);
			ret = -EINVAL;
			break;
		}
		if ((int)x->wd < next || x->wd > WD_WALK_MAX) {
			pr_err("files.img: watch %u of %s is out of order or too large", x->wd,
			       what);
			ret = -EINVAL;
			break;
		}
		while (next < (int)x->wd) {
			if (!have_scratch) {
				if (!mkdtemp(scratch)) {
					ret = -errno;
					pr_perror("can't make a scratch directory for %s", what);
					break;
				}
				have_scratch = true;
			}
			int d = inotify_add_watch(fd, scratch, IN_ATTRIB);
			if (d < 0 || inotify_rm_watch(fd, d)) {
				ret = -errno;
				pr_perror("dummy watch for %s", what);
				break;
			}
			next = d + 1;
		}
		if (ret)
			break;
		int cwd;
		ret = mark_enter_mnt(fr, path, &cwd);
		if (ret)
			break;
		int got = inotify_add_watch(fd, path, x->mask | IN_DONT_FOLLOW);
		int err = errno;
		ret = files_rst_leave_mnt(fr, cwd);
		if (ret)
			break;
		if (got < 0) {
			ret = -err;
			errno = err;
			pr_perror("inotify_add_watch(%s, %#x) for watch %u of %s", path, x->mask,
				  x->wd, what);
			break;
		}
		if (got != (int)x->wd) {
			pr_err("%s: watch on %s got wd %d instead of %u (another watch on the same "
			       "inode?)", what, path, got, x->wd);
			ret = -EINVAL;
			break;
		}
		next = got + 1;
	}
	if (have_scratch)
		rmdir(scratch);
	/* drop the IN_IGNORED events of the dummy watches */
	char buf[4096];
	while (!ret && read(fd, buf, sizeof(buf)) > 0)
		;
out:
	free(w);
	return files_rst_adopt(f, fd, ret, e->flags, e->fown, what);
}

/* Events queued while restoring (the removal of a watched ghost's
 * temporary name, a ghost made in a watched directory) are the restore's,
 * not the process's: dropped before the tasks run, as events queued at
 * dump time are not saved either. */
static void inotify_restore_finish(struct files_restore *fr, bool ok)
{
	char buf[4096];
	for (int i = 0; ok && i < fr->nr_files; i++) {
		int q = 0;
		if (fr->files[i]->type != FD_TYPES__INOTIFY || fr->rf[i].lfd < 0)
			continue;
		while (!ioctl(fr->rf[i].lfd, FIONREAD, &q) && q > 0 &&
		       read(fr->rf[i].lfd, buf, sizeof(buf)) > 0)
			;
	}
}

const struct fd_kind fdk_inotify = {
	.name = "inotify instance",
	.fd_type = FD_TYPES__INOTIFY,
	.dump = inotify_dump,
	.open = inotify_open,
	.restore_finish = inotify_restore_finish,
};

/* --- fanotify --- */

/* The mount point (in @pid's view, as a path from its root) of mount
 * @mnt_id, or NULL (allocated). */
static char *mount_path(pid_t pid, int mnt_id)
{
	char path[64], *mi = NULL, *ret = NULL;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	if (read_file(AT_FDCWD, path, &mi, false) < 0)
		return NULL;
	for (char *l = strtok(mi, "\n"); l && !ret; l = strtok(NULL, "\n")) {
		int id;
		char mp[PATH_MAX];
		if (sscanf(l, "%d %*d %*u:%*u %*s %4095s", &id, mp) == 2 && id == mnt_id)
			ret = xstrdup(mp);
	}
	free(mi);
	return ret;
}

struct mark_parsed {
	FanotifyMarkEntry m;
	FanotifyInodeMarkEntry ie;
	FanotifyMountMarkEntry me;
	FhEntry fh;
	uint64_t words[FH_WORDS];
};

static int fanotify_parse_mark(struct fd_dump *d, const char *p, struct mark_parsed *m)
{
	unsigned sdev = 0, mflags, mask, ign, hbytes;
	int htype, off = 0, mnt_id;
	unsigned long long ino;
	memset(m, 0, sizeof(*m));
	m->m = (FanotifyMarkEntry)FANOTIFY_MARK_ENTRY__INIT;
	m->m.has_id = m->m.has_type = m->m.has_mflags = m->m.has_mask = 1;
	m->m.has_ignored_mask = m->m.has_s_dev = 1;
	m->m.id = d->id;
	if (sscanf(p, "fanotify ino:%llx sdev:%x mflags:%x mask:%x ignored_mask:%x "
		   "fhandle-bytes:%x fhandle-type:%x f_handle:%n", &ino, &sdev, &mflags, &mask,
		   &ign, &hbytes, &htype, &off) == 7 && off && hbytes <= FH_WORDS * 8) {
		union {
			struct file_handle h;
			char buf[sizeof(struct file_handle) + FH_WORDS * 8];
		} fh;
		fh.h.handle_bytes = hbytes;
		fh.h.handle_type = htype;
		if (hexbytes(p + off, fh.h.f_handle, hbytes))
			goto bad;
		memcpy(m->words, fh.h.f_handle, hbytes);
		m->fh = (FhEntry)FH_ENTRY__INIT;
		m->fh.has_bytes = m->fh.has_type = 1;
		m->fh.bytes = hbytes;
		m->fh.type = htype;
		m->fh.n_handle = FH_WORDS;
		int ret = handle_to_path(d, sdev, ino, &fh.h, &m->fh, "a fanotify inode mark");
		if (ret)
			return ret;
		m->ie = (FanotifyInodeMarkEntry)FANOTIFY_INODE_MARK_ENTRY__INIT;
		m->ie.has_i_ino = 1;
		m->ie.i_ino = ino;
		m->m.type = MARK_TYPE__INODE;
	} else if (sscanf(p, "fanotify mnt_id:%x mflags:%x mask:%x ignored_mask:%x", &mnt_id,
			  &mflags, &mask, &ign) == 4) {
		m->me = (FanotifyMountMarkEntry)FANOTIFY_MOUNT_MARK_ENTRY__INIT;
		m->me.has_mnt_id = 1;
		m->me.mnt_id = mnt_id;
		m->me.path = mount_path(d->pid, mnt_id);
		if (!m->me.path) {
			pr_err("fanotify " FD_FMT ": mount %d of its mount mark is not in the "
			       "process's mountinfo", FD_ARGS(d), mnt_id);
			return -EOPNOTSUPP;
		}
		m->m.type = MARK_TYPE__MOUNT;
	} else if (sscanf(p, "fanotify sdev:%x", &sdev) == 1) {
		pr_err("fanotify " FD_FMT " has a filesystem mark (FAN_MARK_FILESYSTEM, device "
		       "%u:%u): criu's image format has no place for it, cryo can't dump it",
		       FD_ARGS(d), sdev >> 20, sdev & 0xfffff);
		return -EOPNOTSUPP;
	} else {
		goto bad;
	}
	m->m.mflags = mflags;
	m->m.mask = mask;
	m->m.ignored_mask = ign;
	m->m.s_dev = sdev;
	return 0;
bad:
	pr_err(FD_FMT ": can't parse a fanotify mark in its fdinfo: %.100s", FD_ARGS(d), p);
	return -EINVAL;
}

static int fanotify_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	FanotifyFileEntry e = FANOTIFY_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	struct mark_parsed *ms = NULL;
	FanotifyMarkEntry **ptrs = NULL;
	int n = 0, cap = 0, ret = 0;
	unsigned faflags, evflags;
	const char *h = fdinfo_field(d->fdinfo, "fanotify flags:");
	if (!h || sscanf(h, "%x event-flags:%x", &faflags, &evflags) != 2) {
		pr_err(FD_FMT ": no fanotify flags in its fdinfo", FD_ARGS(d));
		return -EINVAL;
	}
	for (const char *p = d->fdinfo; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "fanotify ", 9) || !strncmp(p, "fanotify flags:", 15))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct mark_parsed *nm = xrealloc(ms, cap * sizeof(*nm));
			if (!nm) {
				ret = -ENOMEM;
				goto out;
			}
			ms = nm;
		}
		ret = fanotify_parse_mark(d, p, &ms[n]);
		n++;
		if (ret)
			goto out;
	}
	ret = warn_unread_events(d, "fanotify");
	if (ret)
		goto out;
	ptrs = xmalloc((n + 1) * sizeof(*ptrs));
	if (!ptrs) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct mark_parsed *m = &ms[i];
		if (m->m.type == MARK_TYPE__INODE) {
			m->fh.handle = m->words;
			m->ie.f_handle = &m->fh;
			m->m.ie = &m->ie;
		} else {
			m->m.me = &m->me;
		}
		ptrs[i] = &m->m;
	}
	ret = fd_dump_fown(d, &fown);
	if (ret)
		goto out;
	e.has_id = e.has_flags = e.has_faflags = e.has_evflags = 1;
	e.id = d->id;
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.fown = &fown;
	e.faflags = faflags;
	e.evflags = evflags;
	e.n_mark = n;
	e.mark = ptrs;
	fe.ffy = &e;
	ret = files_emit(d, &fe);
out:
	for (int i = 0; i < n; i++) {
		free(ms[i].fh.path);
		free(ms[i].me.path);
	}
	free(ms);
	free(ptrs);
	return ret;
}

static int fanotify_open(struct files_restore *fr, struct rst_file *f)
{
	const FanotifyFileEntry *e = f->fe->ffy;
	if (!e) {
		pr_err("files.img: fanotify %u has no fanotify entry", f->fe->id);
		return -EINVAL;
	}
	char what[32];
	snprintf(what, sizeof(what), "fanotify %u", f->fe->id);
	/* the same flags (FAN_CLOEXEC and FAN_NONBLOCK show in fdinfo too) */
	unsigned init = e->faflags;
	int fd = fanotify_init(init, e->evflags);
	if (fd < 0)
		return_perror("fanotify_init(%#x, %#x) for %s", init, e->evflags, what);
	int ret = 0;
	if (!(init & FAN_CLOEXEC) && fcntl(fd, F_SETFD, FD_CLOEXEC)) {
		ret = -errno;
		pr_perror("fcntl(F_SETFD) on %s", what);
	}
	for (size_t i = 0; i < e->n_mark && !ret; i++) {
		const FanotifyMarkEntry *m = e->mark[i];
		const char *path = NULL;
		unsigned flags = FAN_MARK_ADD | m->mflags;
		if (m->type == MARK_TYPE__INODE && m->ie && m->ie->f_handle) {
			path = m->ie->f_handle->path;
			/* a deleted inode: its ghost, recreated for the restore */
			const char *gpath = NULL;
			ret = ghost_rst_path_by_inode(fr, m->s_dev, m->ie->i_ino, &gpath);
			if (ret)
				break;
			if (gpath)
				path = gpath;
		}
		else if (m->type == MARK_TYPE__MOUNT && m->me) {
			path = m->me->path;
			flags |= FAN_MARK_MOUNT;
		}
		if (!path) {
			pr_err("files.img: mark %zu of %s has no path", i, what);
			ret = -EINVAL;
			break;
		}
		/* the events, then what is ignored (the new-style FAN_MARK_IGNORE
		 * or the old ignored mask) */
		unsigned ign_flag = (m->mflags & FAN_MARK_IGNORE) ? 0 : FAN_MARK_IGNORED_MASK;
		int cwd;
		ret = mark_enter_mnt(fr, path, &cwd);
		if (ret)
			break;
		if (m->mask && fanotify_mark(fd, flags & ~FAN_MARK_IGNORE, m->mask, AT_FDCWD,
					     path)) {
			ret = -errno;
			pr_perror("fanotify_mark(%s, flags %#x, mask %#x) for %s", path, flags,
				  m->mask, what);
		}
		if (!ret && m->ignored_mask &&
		    fanotify_mark(fd, flags | ign_flag, m->ignored_mask, AT_FDCWD, path)) {
			ret = -errno;
			pr_perror("fanotify_mark(%s, flags %#x, ignored mask %#x) for %s", path,
				  flags | ign_flag, m->ignored_mask, what);
		}
		int r2 = files_rst_leave_mnt(fr, cwd);
		if (!ret)
			ret = r2;
	}
	return files_rst_adopt(f, fd, ret, e->flags, e->fown, what);
}

/* As for inotify: events the restore caused (opening a marked ghost,
 * removing its temporary name) are dropped before the tasks run; each
 * carries a descriptor opened in cryo, and a permission event (none is
 * expected: cryo's opens would have waited for it) is allowed. */
static void fanotify_restore_finish(struct files_restore *fr, bool ok)
{
	char buf[4096] __attribute__((aligned(8)));
	for (int i = 0; ok && i < fr->nr_files; i++) {
		int q = 0, lfd = fr->rf[i].lfd;
		ssize_t len;
		if (fr->files[i]->type != FD_TYPES__FANOTIFY || lfd < 0)
			continue;
		while (!ioctl(lfd, FIONREAD, &q) && q > 0 && (len = read(lfd, buf, sizeof(buf))) > 0) {
			struct fanotify_event_metadata *m = (void *)buf;
			for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
				if (m->fd < 0)
					continue;
				if (m->mask & (FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM)) {
					struct fanotify_response r = { m->fd, FAN_ALLOW };
					if (write(lfd, &r, sizeof(r)) != sizeof(r))
						pr_warn("can't answer a permission event of fanotify %u",
							fr->files[i]->id);
				}
				close(m->fd);
			}
		}
	}
}

const struct fd_kind fdk_fanotify = {
	.name = "fanotify instance",
	.fd_type = FD_TYPES__FANOTIFY,
	.dump = fanotify_dump,
	.open = fanotify_open,
	.restore_finish = fanotify_restore_finish,
};
