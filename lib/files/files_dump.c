#include "files/files.h"
#include "images/image.h"
#include "proc/proc.h"
#include "util/log.h"
#include "util/util.h"

#include "fs.pb-c.h"
#include "regfile.pb-c.h"
#include "fown.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

int files_dump_begin(struct files_dump *fdm, int dirfd)
{
	memset(fdm, 0, sizeof(*fdm));
	fdm->dirfd = dirfd;
	fdm->next_id = 1;
	return img_open(&fdm->files_img, dirfd, IMG_FILES, IMG_WRITE, 0);
}

int files_dump_end(struct files_dump *fdm)
{
	int ret = img_close(fdm->files_img);
	fdm->files_img = NULL;
	free(fdm->seen);
	fdm->seen = NULL;
	return ret;
}

static int remember(struct files_dump *fdm, uint32_t id, pid_t pid, int fd, const struct stat *st)
{
	struct file_seen *n = xrealloc(fdm->seen, (fdm->nr_seen + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	fdm->seen = n;
	n[fdm->nr_seen++] = (struct file_seen){ id, pid, fd, st->st_dev, st->st_ino };
	return 0;
}

static int write_reg(struct files_dump *fdm, uint32_t id, const char *path, unsigned flags,
		     uint64_t pos, int mnt_id, const struct stat *st)
{
	FileEntry fe = FILE_ENTRY__INIT;
	RegFileEntry rfe = REG_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;

	fown.has_uid = fown.has_euid = fown.has_signum = fown.has_pid_type = fown.has_pid = 1;
	rfe.has_id = rfe.has_flags = rfe.has_pos = 1;
	rfe.id = id;
	rfe.flags = flags & ~O_CLOEXEC;
	rfe.pos = pos;
	rfe.fown = &fown;
	rfe.name = (char *)path;
	rfe.has_mnt_id = 1;
	rfe.mnt_id = mnt_id;
	rfe.has_size = 1;
	rfe.size = st->st_size;
	rfe.has_mode = 1;
	rfe.mode = st->st_mode;
	fe.has_type = fe.has_id = 1;
	fe.type = FD_TYPES__REG;
	fe.id = id;
	fe.reg = &rfe;
	return img_write_msg(fdm->files_img, &fe.base);
}

/* Read a /proc symlink; refuse what cannot be reopened by path. */
static int read_link(pid_t pid, const char *link, const char *what, char *buf, size_t size)
{
	ssize_t n = readlink(link, buf, size - 1);
	if (n < 0)
		return_perror("can't read link %s (%s of process %d)", link, what, pid);
	buf[n] = '\0';
	return 0;
}

static int check_path_kind(pid_t pid, const char *what, const char *path, const struct stat *st)
{
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISCHR(st->st_mode)) {
		size_t l = strlen(path);
		if (path[0] != '/' || (l > 10 && !strcmp(path + l - 10, " (deleted)"))) {
			pr_err("%s of process %d is %s, a file that was deleted or is not reachable "
			       "by path: cryo can't save such files yet", what, pid, path);
			return -EOPNOTSUPP;
		}
		return 0;
	}
	const char *kind = S_ISFIFO(st->st_mode) ? "a pipe or FIFO" :
			   S_ISSOCK(st->st_mode) ? "a socket" :
			   S_ISBLK(st->st_mode) ? "a block device" : "an unsupported kind of file";
	pr_err("%s of process %d is %s (%s): cryo can't dump it yet", what, pid, kind, path);
	return -EOPNOTSUPP;
}

int files_dump_link(struct files_dump *fdm, pid_t pid, const char *proc_link, const char *what,
		    uint32_t *id)
{
	char path[PATH_MAX];
	struct stat st;
	int ret = read_link(pid, proc_link, what, path, sizeof(path));
	if (ret)
		return ret;
	if (stat(proc_link, &st))
		return_perror("can't stat %s (%s of process %d)", proc_link, what, pid);
	ret = check_path_kind(pid, what, path, &st);
	if (ret)
		return ret;
	for (int i = 0; i < fdm->nr_seen; i++) {
		struct file_seen *s = &fdm->seen[i];
		if (s->fd < 0 && s->dev == st.st_dev && s->ino == st.st_ino) {
			*id = s->id;
			return 0;
		}
	}
	*id = fdm->next_id++;
	ret = write_reg(fdm, *id, path, S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY,
			0, -1, &st);
	if (!ret)
		ret = remember(fdm, *id, pid, -1, &st);
	return ret;
}

static int read_fdinfo(pid_t pid, int fd, struct proc_fdinfo *fi)
{
	char path[64], *text;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	ssize_t n = read_file(AT_FDCWD, path, &text, false);
	if (n < 0)
		return n;
	int ret = proc_parse_fdinfo_text(text, fi);
	free(text);
	if (ret)
		pr_err("can't parse %s", path);
	return ret;
}

/* The same open file description seen before (dup'd fds, inherited fds)? */
static uint32_t find_shared(struct files_dump *fdm, pid_t pid, int fd, const struct stat *st)
{
	for (int i = 0; i < fdm->nr_seen; i++) {
		struct file_seen *s = &fdm->seen[i];
		if (s->fd < 0 || s->dev != st->st_dev || s->ino != st->st_ino)
			continue;
		if (syscall(SYS_kcmp, s->pid, pid, KCMP_FILE, s->fd, fd) == 0)
			return s->id;
	}
	return 0;
}

int files_dump_fds(struct files_dump *fdm, pid_t pid, uint32_t files_id)
{
	char dir[64];
	pid_t *fds;
	int nfds;
	struct cr_img *img;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	int ret = proc_list_dir_pids(dir, &fds, &nfds);
	if (ret)
		return ret;
	ret = img_open(&img, fdm->dirfd, IMG_FDINFO, IMG_WRITE, files_id);
	if (ret) {
		free(fds);
		return ret;
	}
	for (int i = 0; i < nfds && !ret; i++) {
		int fd = fds[i];
		char link[96], path[PATH_MAX], what[64];
		struct stat st;
		struct proc_fdinfo fi;

		snprintf(link, sizeof(link), "/proc/%d/fd/%d", pid, fd);
		snprintf(what, sizeof(what), "fd %d", fd);
		ret = read_link(pid, link, what, path, sizeof(path));
		if (ret)
			break;
		if (stat(link, &st)) {
			ret = -errno;
			pr_perror("can't stat %s (fd %d of process %d)", link, fd, pid);
			break;
		}
		if (S_ISCHR(st.st_mode) && (major(st.st_rdev) == 136 || major(st.st_rdev) == 4 ||
					    major(st.st_rdev) == 5)) {
			pr_err("fd %d of process %d is the terminal %s: cryo can't dump terminals "
			       "yet (criu's --shell-job is not supported yet either); start the "
			       "program with its input and output redirected", fd, pid, path);
			ret = -EOPNOTSUPP;
			break;
		}
		if (!strncmp(path, "anon_inode:", 11)) {
			pr_err("fd %d of process %d is %s: cryo can't dump this kind of descriptor yet",
			       fd, pid, path);
			ret = -EOPNOTSUPP;
			break;
		}
		ret = check_path_kind(pid, what, path, &st);
		if (ret)
			break;
		ret = read_fdinfo(pid, fd, &fi);
		if (ret)
			break;
		uint32_t id = find_shared(fdm, pid, fd, &st);
		if (!id) {
			id = fdm->next_id++;
			ret = write_reg(fdm, id, path, fi.flags, fi.pos, fi.mnt_id, &st);
			if (!ret)
				ret = remember(fdm, id, pid, fd, &st);
			if (ret)
				break;
		}
		FdinfoEntry fe = FDINFO_ENTRY__INIT;
		fe.has_id = fe.has_flags = fe.has_type = fe.has_fd = 1;
		fe.id = id;
		fe.flags = (fi.flags & O_CLOEXEC) ? FD_CLOEXEC : 0;
		fe.type = FD_TYPES__REG;
		fe.fd = fd;
		ret = img_write_msg(img, &fe.base);
	}
	free(fds);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

int files_dump_fs(struct files_dump *fdm, pid_t pid, unsigned umask_val)
{
	char link[64];
	FsEntry fe = FS_ENTRY__INIT;
	struct cr_img *img;
	int ret;

	snprintf(link, sizeof(link), "/proc/%d/cwd", pid);
	ret = files_dump_link(fdm, pid, link, "the working directory", &fe.cwd_id);
	if (ret)
		return ret;
	snprintf(link, sizeof(link), "/proc/%d/root", pid);
	ret = files_dump_link(fdm, pid, link, "the root directory", &fe.root_id);
	if (ret)
		return ret;
	fe.has_cwd_id = fe.has_root_id = fe.has_umask = 1;
	fe.umask = umask_val;
	ret = img_open(&img, fdm->dirfd, IMG_FS, IMG_WRITE, pid);
	if (ret)
		return ret;
	ret = img_write_msg(img, &fe.base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}
