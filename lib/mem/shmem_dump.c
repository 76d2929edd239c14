/* Shared memory objects, the dump side: each object is saved once (the
 * first time one of its VMAs, or a memfd descriptor, is seen), read
 * through /proc/PID/map_files.  shmem.c has the restore side; mem.h the
 * image form, docs/memory.md the design. */
#include "mem/mem.h"
#include "mem/shmem-int.h"
#include "mem/page_sink.h"
#include "files/files.h"
#include "images/image.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "fdinfo.pb-c.h"
#include "fown.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/memfd.h>
#include "compat/uapi-extra.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033	/* linux/fcntl.h, 3.17 */
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#endif

/* ======================================================================
 * Dump
 * ====================================================================== */

struct shmem_seen {
	int kind;
	uint64_t ino;
	uint32_t file_id;	/* memfd: the FD_TYPES__MEMFD entry for mappings */
	uint32_t inode_id;	/* memfd: its memfd.img entry, once written */
};

void mem_dump_shared_init(struct mem_dump_shared *sd, int dirfd, uint32_t *next_pages_id)
{
	memset(sd, 0, sizeof(*sd));
	sd->active = true;
	sd->dirfd = dirfd;
	sd->next_pages_id = next_pages_id;
	sd->next_memfd_inode_id = 1;
}

int mem_dump_shared_fini(struct mem_dump_shared *sd)
{
	sd->active = false;
	int ret = img_close(sd->memfd_img);
	int r2 = img_close(sd->ipc_shm_img);
	free(sd->seen);
	sd->seen = NULL;
	sd->nr_seen = 0;
	sd->memfd_img = sd->ipc_shm_img = NULL;
	return ret ? ret : r2;
}

/* Copy [0, size) of the object open as @fd (only the parts that hold data:
 * SEEK_DATA/SEEK_HOLE, which count swapped-out pages as data) to the page
 * sink (pagemap-shmem-@shmid.img and a new pages image, or a page server). */
static int dump_contents(struct mem_dump_shared *sd, int fd, uint64_t shmid, uint64_t size,
			 const char *what)
{
	struct page_sink *sink = sd->sink;
	uint32_t pages_id = (*sd->next_pages_id)++;
	size_t bufsz = 1 << 20;
	char *buf;
	int ret;

	if (!sink || !sink->ops->open_shmem) {
		pr_err("can't save the contents of %s (shmid 0x%llx): the dump's page sink "
		       "takes no shared memory", what, (unsigned long long)shmid);
		return -EINVAL;
	}
	buf = xmalloc(bufsz);
	if (!buf)
		return -ENOMEM;
	size = ROUND_UP(size, PAGE_SIZE);
	sd->pages_scanned += size / PAGE_SIZE;
	ret = sink->ops->open_shmem(sink, shmid, pages_id);
	if (ret) {
		free(buf);
		return ret;
	}
	for (uint64_t off = 0; !ret && off < size;) {
		off_t d = lseek(fd, off, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;
		off_t h = d < 0 ? -1 : lseek(fd, d, SEEK_HOLE);
		if (d < 0 || h < 0) {
			ret = -errno;
			pr_perror("can't find the data of %s (shmid 0x%llx) with lseek", what,
				  (unsigned long long)shmid);
			break;
		}
		uint64_t s = (uint64_t)d & PAGE_MASK, e = MIN(ROUND_UP((uint64_t)h, PAGE_SIZE), size);
		if (s >= size)
			break;
		struct page_run run = { .vaddr = s, .nr_pages = (e - s) / PAGE_SIZE,
					.flags = PE_PRESENT };
		ret = sink->ops->add_run(sink, &run);
		if (ret > 0) {
			pr_err("the page sink skipped the contents of %s (shmid 0x%llx): shared "
			       "memory is always saved whole", what, (unsigned long long)shmid);
			ret = -EINVAL;
		}
		for (uint64_t p = s; !ret && p < e;) {
			size_t n = MIN(bufsz, e - p);
			ssize_t got = pread(fd, buf, n, p);
			if (got < (ssize_t)n) {
				/* past EOF of a shrunk file: zeros, as the mapping would
				 * raise SIGBUS there anyway */
				if (got < 0) {
					ret = -errno;
					pr_perror("can't read %s (shmid 0x%llx) at offset %llu", what,
						  (unsigned long long)shmid, (unsigned long long)p);
					break;
				}
				memset(buf + got, 0, n - got);
			}
			uint64_t t0 = now_ns();
			ret = sink->ops->write(sink, buf, n);	/* logs */
			sd->write_ns += now_ns() - t0;
			sd->pages_written += n / PAGE_SIZE;
			p += n;
		}
		off = e;
	}
	if (ret)
		sink->ops->abort(sink);
	else
		ret = sink->ops->finish(sink);
	free(buf);
	return ret;
}

static struct shmem_seen *seen_find(struct mem_dump_shared *sd, uint64_t ino, int kind)
{
	for (int i = 0; i < sd->nr_seen; i++)
		if (sd->seen[i].ino == ino && (sd->seen[i].kind == kind ||
		    (kind != SHM_MEMFD && sd->seen[i].kind != SHM_MEMFD)))
			return &sd->seen[i];
	return NULL;
}

static struct shmem_seen *seen_add(struct mem_dump_shared *sd, int kind, uint64_t ino)
{
	struct shmem_seen *n = xrealloc(sd->seen, (sd->nr_seen + 1) * sizeof(*n));
	if (!n)
		return NULL;
	sd->seen = n;
	n = &sd->seen[sd->nr_seen++];
	*n = (struct shmem_seen){ kind, ino, 0, 0 };
	return n;
}

static int dump_memfd_inode(struct mem_dump_shared *sd, int fd, const struct stat *st,
			    const char *name, struct shmem_seen *s)
{
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return_perror("fcntl(F_GET_SEALS) on memfd:%s failed", name);
	if (!sd->memfd_img) {
		int ret = img_open(&sd->memfd_img, sd->dirfd, IMG_MEMFD_INODE, IMG_WRITE, 0);
		if (ret)
			return ret;
	}
	MemfdInodeEntry mie = MEMFD_INODE_ENTRY__INIT;
	mie.name = (char *)name;
	mie.has_uid = mie.has_gid = mie.has_size = mie.has_shmid = 1;
	mie.has_seals = mie.has_inode_id = mie.has_mode = 1;
	mie.mode = st->st_mode;
	mie.uid = st->st_uid;
	mie.gid = st->st_gid;
	mie.size = st->st_size;
	mie.shmid = st->st_ino;
	mie.seals = seals;
	mie.inode_id = sd->next_memfd_inode_id++;
	/* MFD_HUGETLB: the memfd lives on hugetlbfs, its block size the page's */
	struct statfs sfs;
	if (fstatfs(fd, &sfs))
		return_perror("fstatfs on memfd:%s failed", name);
	if (sfs.f_type == HUGETLBFS_MAGIC && sfs.f_bsize > 0) {
		mie.has_hugetlb_flag = 1;
		mie.hugetlb_flag = MFD_HUGETLB |
				   ((uint32_t)__builtin_ctzll((uint64_t)sfs.f_bsize) << MFD_HUGE_SHIFT);
	}
	int ret = dump_contents(sd, fd, st->st_ino, st->st_size, "a memfd");
	if (!ret)
		ret = img_write_msg(sd->memfd_img, &mie.base);
	if (!ret)
		s->inode_id = mie.inode_id;
	return ret;
}

/* The memfd.img entry of a mapped memfd and the file entry its mappings
 * name (shmid). */
static int dump_memfd(struct mem_dump_shared *sd, struct files_dump *files, int fd,
		      const struct stat *st, const char *name, struct shmem_seen *s)
{
	int ret = s->inode_id ? 0 : dump_memfd_inode(sd, fd, st, name, s);
	if (ret || s->file_id)
		return ret;
	FownEntry fown = FOWN_ENTRY__INIT;
	fown.has_uid = fown.has_euid = fown.has_signum = fown.has_pid_type = fown.has_pid = 1;
	MemfdFileEntry mfe = MEMFD_FILE_ENTRY__INIT;
	mfe.has_id = mfe.has_flags = mfe.has_pos = mfe.has_inode_id = 1;
	mfe.id = files->next_id++;
	mfe.flags = O_RDWR;
	mfe.pos = 0;
	mfe.fown = &fown;
	mfe.inode_id = s->inode_id;
	FileEntry fe = FILE_ENTRY__INIT;
	fe.has_type = fe.has_id = 1;
	fe.type = FD_TYPES__MEMFD;
	fe.id = mfe.id;
	fe.memfd = &mfe;
	s->file_id = mfe.id;
	return img_write_msg(files->files_img, &fe.base);
}

int shmem_dump_vma(struct mem_dump_shared *sd, struct files_dump *files, pid_t pid,
		   const struct proc_vma *pv, VmaEntry *v)
{
	const char *path = pv->path;
	int kind;
	if (!strncmp(path, "/memfd:", 7))
		kind = SHM_MEMFD;
	else if (!strncmp(path, "/SYSV", 5))
		kind = SHM_SYSV;
	else if (!strcmp(path, "/dev/zero") && pv->deleted)
		kind = SHM_ANON;	/* shared anonymous memory, maybe mapped privately */
	else if (!strcmp(path, "/anon_hugepage") && pv->deleted && pv->shared && pv->vm_hugetlb)
		kind = SHM_ANON;	/* the same with MAP_HUGETLB (in v->flags) */
	else
		return -ENOENT;
	if (kind == SHM_SYSV && !pv->shared) {
		/* only through mmap of /proc/PID/map_files: shmat always shares */
		pr_err("process %d maps SysV shared memory (%s) privately at 0x%llx-0x%llx: a "
		       "private mapping of a SysV segment can't be restored; map it with shmat "
		       "instead", pid, path, (unsigned long long)pv->start,
		       (unsigned long long)pv->end);
		return -EOPNOTSUPP;
	}

	char link[128];
	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)pv->start, (unsigned long long)pv->end);
	int fd = open(link, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		pr_err("can't open %s (%s of process %d at 0x%llx): %s", link, shm_kind_name(kind), pid,
		       (unsigned long long)pv->start, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	int ret = 0;
	struct shmem_seen *s = seen_find(sd, st.st_ino, kind);
	if (s && s->kind != kind) {
		pr_err("process %d maps %s and %s with the same id 0x%llx: the images can't tell "
		       "them apart", pid, shm_kind_name(kind), shm_kind_name(s->kind),
		       (unsigned long long)st.st_ino);
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (s && kind == SHM_MEMFD && !s->file_id) {
		/* seen as a descriptor so far */
		ret = dump_memfd(sd, files, fd, &st, path + 7, s);
		if (ret)
			goto out;
	}
	if (!s) {
		s = seen_add(sd, kind, st.st_ino);
		if (!s) {
			ret = -ENOMEM;
			goto out;
		}
		if (kind == SHM_ANON)
			ret = dump_contents(sd, fd, st.st_ino, st.st_size, "shared anonymous memory");
		else if (kind == SHM_SYSV)
			ret = shmem_sysv_dump(sd, fd, pid, st.st_ino);
		else
			ret = dump_memfd(sd, files, fd, &st, path + 7, s);
		if (ret)
			goto out;
	}

	v->pgoff = pv->pgoff;
	v->fd = -1;
	v->has_fdflags = 1;
	v->fdflags = pv->shared && (pv->prot & PROT_WRITE) ? O_RDWR : O_RDONLY;
	if (kind == SHM_MEMFD) {
		v->status = VMA_AREA_REGULAR | VMA_AREA_MEMFD |
			    (pv->shared ? VMA_FILE_SHARED : VMA_FILE_PRIVATE);
		v->shmid = s->file_id;
	} else {
		/* A MAP_PRIVATE mapping of shared anonymous memory (mmap of its
		 * /proc/PID/map_files link) is VMA_ANON_SHARED | VMA_FILE_PRIVATE
		 * (criu refuses those): its written pages are the task's own and
		 * saved with its private memory, the others show the object. */
		v->flags |= MAP_ANONYMOUS;
		v->status = VMA_AREA_REGULAR | VMA_ANON_SHARED |
			    (kind == SHM_SYSV ? VMA_AREA_SYSVIPC : 0) |
			    (pv->shared ? 0 : VMA_FILE_PRIVATE);
		v->shmid = st.st_ino;
		if (kind == SHM_SYSV && pv->vm_maywrite)
			v->fdflags = O_RDWR;
	}
out:
	close(fd);
	return ret;
}

/* ======================================================================
 * Restore
 * ====================================================================== */
/* ======================================================================
 * memfd descriptors (lib/files/memfd.c)
 * ====================================================================== */

/* One memfd inode is one entry of memfd.img whether it is mapped, open, or
 * both: the memfd descriptor kind comes here through files_memfd_ops. */
static int memfd_dump_inode(void *arg, int fd, const struct stat *st, const char *name,
			    uint32_t *inode_id)
{
	struct mem_dump_shared *sd = arg;
	if (!sd->active) {
		pr_err("memfd:%s: no dump of shared memory in progress", name);
		return -EINVAL;
	}
	struct shmem_seen *s = seen_find(sd, st->st_ino, SHM_MEMFD);
	if (s && s->kind != SHM_MEMFD) {
		pr_err("memfd:%s has the inode number 0x%llx of another shared memory object: the "
		       "images can't tell them apart", name, (unsigned long long)st->st_ino);
		return -EOPNOTSUPP;
	}
	if (!s && !(s = seen_add(sd, SHM_MEMFD, st->st_ino)))
		return -ENOMEM;
	int ret = s->inode_id ? 0 : dump_memfd_inode(sd, fd, st, name, s);
	*inode_id = s->inode_id;
	return ret;
}

struct files_memfd_ops shmem_memfd_dump_ops(struct mem_dump_shared *sd)
{
	return (struct files_memfd_ops){ .arg = sd, .dump_inode = memfd_dump_inode };
}
