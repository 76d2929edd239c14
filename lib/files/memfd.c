/* memfd descriptors.  The memfd itself (name, size, owner, seals,
 * contents) is one memfd.img entry shared with its mappings (lib/mem/shmem.c
 * writes and recreates it); the descriptor is a memfd file entry naming
 * that inode, with its own flags, offset and owner. */
#include "files/reg-int.h"
#include "util/log.h"
#include "util/util.h"

#include "memfd.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int memfd_dump(struct fd_dump *d)
{
	char name[PATH_MAX];
	/* "/memfd:NAME (deleted)" */
	snprintf(name, sizeof(name), "%s", d->path + 7);
	size_t l = strlen(name);
	/* (an empty name shows as "/memfd: (deleted)") */
	if (l >= 10 && !strcmp(name + l - 10, " (deleted)"))
		name[l - 10] = '\0';
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	struct stat st;
	if (fstat(lfd, &st))
		return_perror("can't stat " FD_FMT " (%s)", FD_ARGS(d), d->path);
	/* the contents are found with lseek(SEEK_DATA/SEEK_HOLE), which moves
	 * the offset of the description it is given: read them through a
	 * description of cryo's own, so the task's offset stays put (it runs
	 * on after --leave-running) */
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", lfd);
	int rfd = open(self, O_RDONLY | O_CLOEXEC);
	uint32_t inode_id;
	const struct files_memfd_ops *ops = &d->fdm->memfd;
	int ret = -EINVAL;
	if (ops->arg && ops->dump_inode)
		ret = ops->dump_inode(ops->arg, rfd >= 0 ? rfd : lfd, &st, name, &inode_id);
	else
		pr_err("memfd:%s: no dump of shared memory in progress", name);
	if (rfd >= 0)
		close(rfd);
	if (ret)
		return ret;
	FownEntry fown = FOWN_ENTRY__INIT;
	ret = fd_dump_fown(d, &fown);
	if (!ret)
		ret = locks_dump(d);
	if (ret)
		return ret;
	MemfdFileEntry mfe = MEMFD_FILE_ENTRY__INIT;
	mfe.has_id = mfe.has_flags = mfe.has_pos = mfe.has_inode_id = 1;
	mfe.id = d->id;
	mfe.flags = d->fi.flags & ~O_CLOEXEC;
	mfe.pos = d->fi.pos;
	mfe.fown = &fown;
	mfe.inode_id = inode_id;
	FileEntry fe = FILE_ENTRY__INIT;
	fe.memfd = &mfe;
	return files_emit(d, &fe);
}

static int memfd_open(struct files_restore *fr, struct rst_file *f)
{
	const MemfdFileEntry *m = f->fe->memfd;
	if (!m) {
		pr_err("files.img: memfd file %u has no memfd entry", f->fe->id);
		return -EINVAL;
	}
	const struct files_memfd_ops *ops = &fr->memfd;
	if (!ops->arg || !ops->open) {
		pr_err("memfd inode %u: no restore of shared memory in progress", m->inode_id);
		return -EINVAL;
	}
	int fd = ops->open(ops->arg, m->inode_id, m->flags);
	if (fd < 0)
		return fd;
	int ret = 0;
	if (m->pos && lseek(fd, m->pos, SEEK_SET) != (off_t)m->pos)
		{ ret = -errno; pr_perror("can't seek memfd file %u to %llu", f->fe->id,
					(unsigned long long)m->pos); }
	/* the memfd ops opened it with its flags */
	return files_rst_adopt(f, fd, ret, FILES_FLAGS_AS_OPENED, m->fown, "a memfd");
}

const struct fd_kind fdk_memfd = {
	.name = "memfd",
	.fd_type = FD_TYPES__MEMFD,
	.dump = memfd_dump,
	.open = memfd_open,
	.post = locks_post,
};
