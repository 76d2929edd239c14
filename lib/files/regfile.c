/* Regular files, directories, O_PATH descriptors (of symlinks and FIFOs
 * too) and character devices reopened by path (/dev/null...).  Deleted
 * ones and files of /proc/PID of dead processes go through ghost.c, locks
 * through locks.c, --external/--inherit-fd through external.c. */
#include "files/reg-int.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* O_TMPFILE without the O_DIRECTORY glibc folds into it */
#define TMPFILE_BIT (O_TMPFILE & ~O_DIRECTORY)

static bool has_deleted_suffix(const char *p)
{
	size_t l = strlen(p);
	return l > 10 && !strcmp(p + l - 10, " (deleted)");
}

int regfile_check_path(struct fd_dump *d, const char *what)
{
	mode_t m = d->st.st_mode;
	/* (only an O_PATH|O_NOFOLLOW descriptor can hold a symlink itself;
	 * other descriptors of a FIFO are the FIFO kind's) */
	if (S_ISREG(m) || S_ISDIR(m) || S_ISCHR(m) ||
	    ((S_ISLNK(m) || S_ISFIFO(m)) && (d->fi.flags & O_PATH))) {
		/* deleted ones become ghosts (ghost.c) */
		if (d->path[0] != '/') {
			pr_err("%s of process %d is %s, which is not reachable by path: cryo can't "
			       "save it", what, d->pid, d->path);
			return -EOPNOTSUPP;
		}
		return 0;
	}
	if (!strcmp(d->path, "anon_inode:bpf-map")) {
		pr_err("%s of process %d is a mapping of a BPF map (an mmapable array): cryo "
		       "restores BPF maps' descriptors, not their mappings (unmap it to "
		       "checkpoint)", what, d->pid);
		return -EOPNOTSUPP;
	}
	const char *kind = S_ISFIFO(m) ? "a pipe or FIFO" : S_ISSOCK(m) ? "a socket" :
			   S_ISBLK(m) ? "a block device" : "an unsupported kind of file";
	pr_err("%s of process %d is %s (%s): cryo can't dump it yet", what, d->pid, kind, d->path);
	return -EOPNOTSUPP;
}

/* Character devices whose numbers the kernel fixes (devices.txt): at
 * restore the path must name the same device. */
static const struct {
	const char *path;
	unsigned maj, min;
} fixed_devs[] = {
	{ "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
	{ "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static int fixed_dev(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(fixed_devs); i++)
		if (!strcmp(path, fixed_devs[i].path))
			return i;
	return -1;
}

/* The ELF build-id of the file open as @fd (the first 1 MiB is searched):
 * its length, 0 if none, or a negative code. */
static int elf_build_id(int fd, uint8_t *out, size_t outsz)
{
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr))
		return 0;
	size_t len = MIN((size_t)st.st_size, (size_t)1 << 20);
	uint8_t *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return 0;
	int ret = 0;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phoff > len || eh->e_phnum > (len - eh->e_phoff) / sizeof(Elf64_Phdr))
		goto out;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum && !ret; i++) {
		if (ph[i].p_type != PT_NOTE || ph[i].p_offset > len || ph[i].p_filesz > len - ph[i].p_offset)
			continue;
		size_t off = ph[i].p_offset, end = off + ph[i].p_filesz;
		while (off + sizeof(Elf64_Nhdr) <= end) {
			const Elf64_Nhdr *n = (const Elf64_Nhdr *)(m + off);
			size_t nsz = ROUND_UP(n->n_namesz, 4), dsz = ROUND_UP(n->n_descsz, 4);
			size_t desc = off + sizeof(*n) + nsz;
			if (desc > end || dsz > end - desc)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    !memcmp(m + off + sizeof(*n), "GNU", 4) && n->n_descsz <= outsz) {
				memcpy(out, m + desc, n->n_descsz);
				ret = n->n_descsz;
				break;
			}
			off = desc + dsz;
		}
	}
out:
	munmap(m, len);
	return ret;
}

static bool other_mntns(pid_t pid)
{
	char path[64];
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	return !stat(path, &a) && !stat("/proc/self/ns/mnt", &b) && a.st_ino != b.st_ino;
}

/* stat @name as process @d->pid sees it: through its root when it is in a
 * mount namespace other than cryo's (the names /proc gives are then its
 * namespace's) */
static int task_stat(const struct fd_dump *d, const char *name, struct stat *st)
{
	char path[PATH_MAX + 32];
	if (name[0] == '/' && other_mntns(d->pid)) {
		snprintf(path, sizeof(path), "/proc/%d/root%s", d->pid, name);
		return stat(path, st);
	}
	return stat(name, st);
}

/* --evasive-devices: another name of character device @rdev under the
 * task's /dev (its own root), into @out as the task sees it; 1 if found. */
static int find_dev_name(const struct fd_dump *d, const char *dir, dev_t rdev, int depth,
			 char *out, size_t size)
{
	char path[PATH_MAX + 32];
	if (dir[0] == '/' && other_mntns(d->pid))
		snprintf(path, sizeof(path), "/proc/%d/root%s", d->pid, dir);
	else
		snprintf(path, sizeof(path), "%s", dir);
	DIR *dp = opendir(path);
	if (!dp)
		return 0;	/* an unreadable directory has nothing to offer */
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		char sub[PATH_MAX];
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		if (S_ISCHR(st.st_mode) && st.st_rdev == rdev) {
			snprintf(out, size, "%s", sub);
			found = 1;
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			found = find_dev_name(d, sub, rdev, depth - 1, out, size);
		}
	}
	closedir(dp);
	return found;
}

static bool want_buildid(const struct cryo_opts *o)
{
	return o->file_validation && !strcmp(o->file_validation, "buildid");
}

static int reg_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	RegFileEntry rfe = REG_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	char what[32], name[PATH_MAX], proc_link[96];
	uint32_t bid32[64];
	uint8_t bid[64];
	int ret;

	snprintf(what, sizeof(what), "fd %d", d->fd);
	if (d->fd >= 0) {
		ret = regfile_check_path(d, what);
		if (ret)
			return ret;
		snprintf(proc_link, sizeof(proc_link), "/proc/%d/fd/%d", d->pid, d->fd);
	} else {
		proc_link[0] = '\0';	/* found by ghost_dump if needed */
	}
	snprintf(name, sizeof(name), "%s", d->path);
	mode_t m = d->st.st_mode;
	bool deleted = has_deleted_suffix(name) &&
		       (S_ISREG(m) || S_ISDIR(m) || S_ISCHR(m) || S_ISLNK(m) || S_ISFIFO(m));
	struct stat ls;
	/* a file whose own name ends in " (deleted)": its path leads to it */
	if (deleted && d->st.st_nlink && name[0] == '/' && !task_stat(d, name, &ls) &&
	    ls.st_dev == d->st.st_dev && ls.st_ino == d->st.st_ino)
		deleted = false;
	if (deleted)
		name[strlen(name) - 10] = '\0';

	fown.has_uid = fown.has_euid = fown.has_signum = fown.has_pid_type = fown.has_pid = 1;
	if (d->fd >= 0 && !(d->fi.flags & O_PATH)) {
		ret = fd_dump_fown(d, &fown);
		if (ret)
			return ret;
	}
	rfe.has_id = rfe.has_flags = rfe.has_pos = 1;
	rfe.id = d->id;
	rfe.flags = d->fi.flags & ~O_CLOEXEC;
	rfe.pos = d->fi.pos;
	rfe.fown = &fown;
	rfe.name = name;
	rfe.has_mnt_id = 1;
	rfe.mnt_id = d->fi.mnt_id;
	rfe.has_mode = 1;
	rfe.mode = d->st.st_mode;

	const char *ext = d->fd >= 0 ? external_file_key(d) : NULL;
	if (ext) {
		/* the restore gets it from --inherit-fd */
		rfe.name = (char *)ext;
		rfe.has_ext = rfe.ext = 1;
		rfe.has_mode = 0;
		goto emit;
	}
	/* /proc/PID of a process that has exited: criu's PROCFS remap */
	ret = ghost_dump_procfs(d, name);
	if (ret < 0)
		return ret;
	if (ret > 0)
		goto emit;
	if (S_ISCHR(d->st.st_mode) && !deleted) {
		int k = fixed_dev(name);
		struct stat ps;
		bool moved = (k >= 0 && d->st.st_rdev != makedev(fixed_devs[k].maj, fixed_devs[k].min)) ||
			     (k < 0 && (task_stat(d, name, &ps) || !S_ISCHR(ps.st_mode) ||
					ps.st_rdev != d->st.st_rdev));
		char other[PATH_MAX];
		if (moved && d->fdm->opts->evasive_devices &&
		    find_dev_name(d, "/dev", d->st.st_rdev, 3, other, sizeof(other))) {
			pr_info("%s of process %d: the character device %u:%u is no longer at %s; "
				"it is saved as %s (--evasive-devices)", d->fd >= 0 ? what : "a mapping",
				d->pid, major(d->st.st_rdev), minor(d->st.st_rdev), name, other);
			snprintf(name, sizeof(name), "%s", other);
			/* the restore checks the node it opens against this */
			if (!task_stat(d, name, &ps))
				rfe.mode = ps.st_mode;
			moved = false;
		}
		if (moved) {
			pr_err("%s of process %d is the character device %u:%u, but %s names "
			       "another device now (or nothing): cryo reopens devices by path and "
			       "can't save it%s", d->fd >= 0 ? what : "a mapped device", d->pid,
			       major(d->st.st_rdev), minor(d->st.st_rdev), name,
			       d->fdm->opts->evasive_devices ? " (no other node of it under /dev)"
							     : "; --evasive-devices lets cryo save another "
							       "name of the device found under /dev");
			return -EOPNOTSUPP;
		}
	}
	if (deleted && d->st.st_nlink && other_mntns(d->pid)) {
		/* (a deleted one is saved whole, a ghost; this one is linked
		 * elsewhere, which ghost.c looks up in cryo's namespace) */
		pr_err("%s of process %d is the file once named %s in the process's own mount "
		       "namespace, which has other names: cryo can't restore such files inside "
		       "a mount namespace yet", d->fd >= 0 ? what : "a mapping", d->pid, name);
		return -EOPNOTSUPP;
	} else if (deleted) {
		ret = ghost_dump(d, name, proc_link);
		if (ret)
			return ret;
	} else if (d->path[0] == '/' && S_ISREG(d->st.st_mode)) {
		/* the name must still lead to this very file */
		struct stat ps;
		if (task_stat(d, name, &ps) || ps.st_dev != d->st.st_dev || ps.st_ino != d->st.st_ino) {
			if (other_mntns(d->pid)) {
				pr_err("%s of process %d: the name %s no longer leads to its file in "
				       "the process's mount namespace: cryo can't recreate such files "
				       "inside a mount namespace yet", d->fd >= 0 ? what : "a mapping",
				       d->pid, name);
				return -EOPNOTSUPP;
			}
			ret = ghost_dump(d, name, proc_link);
			if (ret)
				return ret;
		}
	}
	/* criu's rule: an O_WRONLY|O_APPEND file (a log) may grow in between */
	if (S_ISREG(d->st.st_mode) &&
	    !((rfe.flags & O_ACCMODE) == O_WRONLY && (rfe.flags & O_APPEND))) {
		rfe.has_size = 1;
		rfe.size = d->st.st_size;
	}
	if (S_ISREG(d->st.st_mode) && !deleted && want_buildid(d->fdm->opts)) {
		int fd;
		if (!locks_file_leased(d->st.st_dev, d->st.st_ino))
			fd = open(proc_link[0] ? proc_link : name, O_RDONLY | O_CLOEXEC);
		else if (d->fd >= 0 && (d->fi.flags & O_ACCMODE) != O_WRONLY &&
			 fd_dump_lfd(d) >= 0)
			/* a new open would break the lease: the task's own
			 * description (mapped only: its offset stays) */
			fd = fcntl(d->lfd, F_DUPFD_CLOEXEC, 0);
		else
			fd = -1;	/* no build-id rather than a broken lease */
		int n = fd >= 0 ? elf_build_id(fd, bid, sizeof(bid)) : 0;
		if (fd >= 0)
			close(fd);
		for (int i = 0; i < n; i++)
			bid32[i] = bid[i];
		rfe.n_build_id = n > 0 ? n : 0;
		rfe.build_id = bid32;
	}
	if (d->fd >= 0) {
		ret = locks_dump(d);
		if (ret)
			return ret;
	}
emit:
	fe.reg = &rfe;
	return files_emit(d, &fe);
}

/* --file-validation: is the file open as @fd the one that was dumped? */
static int validate(struct files_restore *fr, const RegFileEntry *rf, int fd, const char *path)
{
	struct stat st;
	if (fstat(fd, &st))
		return_perror("can't stat %s after reopening it", path);
	if (rf->has_mode && (st.st_mode & S_IFMT) != (rf->mode & S_IFMT)) {
		pr_err("%s is not the file that was dumped: it was of type 0%o, it is 0%o now", path,
		       rf->mode & S_IFMT, st.st_mode & S_IFMT);
		return -ESTALE;
	}
	/* criu's rule: a file whose permission bits changed since the dump
	 * may no longer be meant for the process */
	if (rf->has_mode && (st.st_mode & 0777) != (rf->mode & 0777) &&
	    !fr->opts->skip_file_rwx_check) {
		pr_err("%s changed since the dump: its permissions are 0%03o, they were 0%03o "
		       "(restore with --skip-file-rwx-check to accept that)", path,
		       st.st_mode & 0777, rf->mode & 0777);
		return -ESTALE;
	}
	if (S_ISCHR(st.st_mode)) {
		int k = fixed_dev(rf->name);
		if (k >= 0 && st.st_rdev != makedev(fixed_devs[k].maj, fixed_devs[k].min)) {
			pr_err("%s is the device %u:%u, not %u:%u as when dumped", path,
			       major(st.st_rdev), minor(st.st_rdev), fixed_devs[k].maj,
			       fixed_devs[k].min);
			return -ESTALE;
		}
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	if (want_buildid(fr->opts) && rf->n_build_id) {
		uint8_t bid[64];
		int n = elf_build_id(fd, bid, sizeof(bid));
		bool same = n == (int)rf->n_build_id;
		for (int i = 0; same && i < n; i++)
			same = bid[i] == rf->build_id[i];
		if (!same) {
			pr_err("%s changed since the dump: its ELF build-id differs "
			       "(--file-validation=buildid)", path);
			return -ESTALE;
		}
		return 0;
	}
	if (rf->has_size && (uint64_t)st.st_size != rf->size) {
		pr_err("%s changed since the dump: its size is %llu bytes, it was %llu "
		       "(--file-validation=filesize)", path, (unsigned long long)st.st_size,
		       (unsigned long long)rf->size);
		return -ESTALE;
	}
	return 0;
}

static int reg_open(struct files_restore *fr, struct rst_file *f)
{
	const RegFileEntry *rf = f->fe->reg;
	if (!rf || !rf->name) {
		pr_err("files.img: regular file %u has no name", f->fe->id);
		return -EINVAL;
	}
	/* --inherit-fd: the description given to cryo is the file */
	int inh = files_inherited_fd(fr, rf->name);
	if (inh == -1 && rf->name[0] == '/')
		inh = files_inherited_fd(fr, rf->name + 1);
	if (inh < -1)
		return inh;
	if (inh >= 0) {
		int fd = fcntl(inh, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return_perror("can't duplicate inherited fd %d (for %s)", inh, rf->name);
		/* the description given is taken as it is */
		return files_rst_adopt(f, fd, 0, FILES_FLAGS_AS_OPENED, NULL, rf->name);
	}
	if (rf->has_ext && rf->ext) {
		pr_err("file %u was dumped as external (%s): give it with --inherit-fd fd[N]:%s",
		       f->fe->id, rf->name, rf->name);
		return -ENOENT;
	}

	const char *path = NULL;
	int ret = ghost_rst_path(fr, f->fe->id, &path);
	if (ret)
		return ret;
	if (!path)
		path = rf->name;
	unsigned flags = rf->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | TMPFILE_BIT);
	if (rf->has_mode && !S_ISDIR(rf->mode))
		flags &= ~O_DIRECTORY;
	/* the name is the tree's: in its mount namespace (cryo's cwd is
	 * reset by the setns and put back); but an O_TMPFILE ghost is reopened
	 * through cryo's own descriptor, whose /proc/CRYO/fd link only cryo's
	 * /proc has (the tree's may be of its own PID namespace) */
	char own[32];
	snprintf(own, sizeof(own), "/proc/%d/fd/", getpid());
	bool own_fd = !strncmp(path, own, strlen(own));
	int cwd = -1;
	ret = own_fd ? 0 : files_rst_enter_mnt(fr, &cwd);
	if (ret)
		return ret;
	int fd = open(path, flags | O_NOCTTY | O_CLOEXEC);
	int oerr = errno;
	ret = files_rst_leave_mnt(fr, cwd);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (fd < 0) {
		int e = oerr;
		pr_err("can't reopen %s (file %u): %s%s", rf->name, f->fe->id, strerror(e),
		       e == ENOENT ? ": it was removed since the dump" :
		       e == EACCES || e == EPERM ? ": its permissions changed since the dump" :
		       e == EINVAL && (flags & O_DIRECT) ? ": its file system does not support "
		       "O_DIRECT" : "");
		return -e;
	}
	if (!(rf->flags & O_PATH) || S_ISREG(rf->mode)) {
		ret = validate(fr, rf, fd, rf->name);
		if (ret) {
			close(fd);
			return ret;
		}
	}
	if (rf->pos && !(rf->flags & O_PATH)) {
		off_t o = lseek(fd, rf->pos, SEEK_SET);
		if (o != (off_t)rf->pos) {
			int e = o < 0 ? errno : EINVAL;
			pr_err("can't seek %s to %llu: %s", rf->name, (unsigned long long)rf->pos,
			       o < 0 ? strerror(e) : "the file is shorter now");
			close(fd);
			return -e;
		}
	}
	/* open() set the flags it can (it ignores O_ASYNC, as the dump's
	 * reopen always did); an O_PATH descriptor has no owner */
	return files_rst_adopt(f, fd, 0, FILES_FLAGS_AS_OPENED,
			       rf->flags & O_PATH ? NULL : rf->fown, rf->name);
}

struct reg_rst *reg_rst_state(struct files_restore *fr)
{
	if (!fr->kind_state[FDK_REG]) {
		struct reg_rst *st = xzalloc(sizeof(*st));
		if (st)
			st->own_fds = -1;
		fr->kind_state[FDK_REG] = st;
	}
	return fr->kind_state[FDK_REG];
}

const char *files_reg_open_path(const struct files_restore *cfr, uint32_t id)
{
	struct files_restore *fr = (struct files_restore *)cfr;
	struct rst_file *f = files_rst_find(fr, id);
	if (!f || !f->fe->reg || !f->fe->reg->name)
		return NULL;
	const char *path = NULL;
	if (ghost_rst_path(fr, id, &path))
		return NULL;
	return path ? path : f->fe->reg->name;
}

int files_reg_cryo_fd(const struct files_restore *fr, uint32_t id)
{
	/* ghosts reopened through a descriptor cryo keeps are named
	 * /proc/<cryo>/fd/N (ghost_restore.c): a task in a mount namespace of
	 * its own, with its own /proc, can't open that name */
	const char *path = files_reg_open_path(fr, id);
	char pre[32];
	int n = snprintf(pre, sizeof(pre), "/proc/%d/fd/", getpid());
	if (!path || strncmp(path, pre, n))
		return -1;
	char *end;
	long fd = strtol(path + n, &end, 10);
	return *end || end == path + n || fd < 0 || fd > INT_MAX ? -1 : (int)fd;
}

static void reg_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	(void)killed;
	ghost_dump_finish(fdm, ok);
}

static void reg_restore_finish(struct files_restore *fr, bool ok)
{
	ghost_restore_finish(fr, ok);
	locks_restore_finish(fr);
	free(fr->kind_state[FDK_REG]);
	fr->kind_state[FDK_REG] = NULL;
}

const struct fd_kind fdk_reg = {
	.name = "regular file",
	.fd_type = FD_TYPES__REG,
	.dump = reg_dump,
	.open = reg_open,
	.post = locks_post,
	.dump_finish = reg_dump_finish,
	.restore_finish = reg_restore_finish,
};
