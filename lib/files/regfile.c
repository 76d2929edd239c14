/* Regular files, directories and devices reopened by path (/dev/null...). */
#include "files/files-int.h"
#include "util/log.h"
#include "util/util.h"

#include "regfile.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int regfile_check_path(struct fd_dump *d, const char *what)
{
	mode_t m = d->st.st_mode;
	if (S_ISREG(m) || S_ISDIR(m) || S_ISCHR(m)) {
		size_t l = strlen(d->path);
		if (d->path[0] != '/' || (l > 10 && !strcmp(d->path + l - 10, " (deleted)"))) {
			pr_err("%s of process %d is %s, a file that was deleted or is not reachable "
			       "by path: cryo can't save such files yet", what, d->pid, d->path);
			return -EOPNOTSUPP;
		}
		return 0;
	}
	const char *kind = S_ISFIFO(m) ? "a pipe or FIFO" : S_ISSOCK(m) ? "a socket" :
			   S_ISBLK(m) ? "a block device" : "an unsupported kind of file";
	pr_err("%s of process %d is %s (%s): cryo can't dump it yet", what, d->pid, kind, d->path);
	return -EOPNOTSUPP;
}

static int reg_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	RegFileEntry rfe = REG_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	char what[32];
	int ret;

	snprintf(what, sizeof(what), "fd %d", d->fd);
	if (d->fd >= 0) {
		ret = regfile_check_path(d, what);
		if (ret)
			return ret;
	}
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
	rfe.name = d->path;
	rfe.has_mnt_id = 1;
	rfe.mnt_id = d->fi.mnt_id;
	rfe.has_size = 1;
	rfe.size = d->st.st_size;
	rfe.has_mode = 1;
	rfe.mode = d->st.st_mode;
	fe.reg = &rfe;
	return files_emit(d, &fe);
}

static int reg_open(struct files_restore *fr, struct rst_file *f)
{
	(void)fr;
	const RegFileEntry *rf = f->fe->reg;
	if (!rf || !rf->name) {
		pr_err("files.img: regular file %u has no name", f->fe->id);
		return -EINVAL;
	}
	unsigned flags = (rf->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_NOCTTY |
			 O_CLOEXEC;
	int fd = open(rf->name, flags);
	if (fd < 0)
		return_perror("can't reopen %s (file %u)", rf->name, f->fe->id);
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
	if (rf->fown && !(rf->flags & O_PATH)) {
		int ret = files_apply_fown(fd, rf->fown, rf->name);
		if (ret) {
			close(fd);
			return ret;
		}
	}
	f->lfd = fd;
	return 0;
}

const struct fd_kind fdk_reg = {
	.name = "regular file",
	.fd_type = FD_TYPES__REG,
	.dump = reg_dump,
	.open = reg_open,
};
