/* Shared memory objects: shared anonymous memory, memfd and SysV shared
 * memory, the restore side (shmem_dump.c saves each object once, read
 * through /proc/PID/map_files).  The restore creates an object in the
 * first task that maps it, fills it from cryo (which maps the new object
 * through /proc/TASK/map_files or /proc/TASK/fd) and maps every VMA of it.
 * See mem.h for the image form and docs/memory.md for the design. */
#include "mem/mem.h"
#include "mem/shmem-int.h"
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

bool vma_is_shmem(const VmaEntry *v)
{
	return (v->status & VMA_AREA_REGULAR) && shmem_vma_kind(v);
}


int shmem_registry_init(struct shmem_registry *reg, int dirfd, uint32_t ipc_img_id,
			const struct ns_set *ns)
{
	memset(reg, 0, sizeof(*reg));
	reg->dirfd = dirfd;
	reg->ipc_img_id = ipc_img_id;
	reg->ns = ns;
	reg->active = true;
	return 0;
}

static int registry_load(struct shmem_registry *reg)
{
	struct cr_img *img;
	int ret;
	if (reg->loaded)
		return 0;
	reg->loaded = true;
	ret = img_open(&img, reg->dirfd, IMG_MEMFD_INODE, IMG_READ | IMG_MISSING_OK, 0);
	if (!ret) {
		for (;;) {
			MemfdInodeEntry *m;
			ret = img_read_msg(img, &memfd_inode_entry__descriptor, (ProtobufCMessage **)&m);
			if (ret <= 0)
				break;
			MemfdInodeEntry **n = xrealloc(reg->memfd, (reg->nr_memfd + 1) * sizeof(*n));
			if (!n) {
				protobuf_c_message_free_unpacked(&m->base, NULL);
				ret = -ENOMEM;
				break;
			}
			reg->memfd = n;
			reg->memfd[reg->nr_memfd++] = m;
		}
		img_close(img);
	}
	if (ret && ret != -ENOENT)
		return ret;
	ret = img_open(&img, reg->dirfd, IMG_IPC_SHM, IMG_READ | IMG_MISSING_OK, reg->ipc_img_id);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		IpcShmEntry *e;
		ret = img_read_msg(img, &ipc_shm_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			break;
		if (!e->desc || (e->has_in_pagemaps && e->in_pagemaps)) {
			pr_err("%s: a segment without a description, or with its contents in "
			       "pagemaps: not supported", img_name(img));
			protobuf_c_message_free_unpacked(&e->base, NULL);
			ret = -EINVAL;
			break;
		}
		IpcShmEntry **n = xrealloc(reg->ipc, (reg->nr_ipc + 1) * sizeof(*n));
		if (!n) {
			protobuf_c_message_free_unpacked(&e->base, NULL);
			ret = -ENOMEM;
			break;
		}
		reg->ipc = n;
		reg->ipc[reg->nr_ipc++] = e;
		/* the data offset is recomputed when needed (see sysv_data_off) */
		ret = img_skip_raw(img, ROUND_UP(e->size, 4));
		if (ret)
			break;
	}
	img_close(img);
	return ret;
}

static struct shmem_obj *obj_find(struct shmem_registry *reg, int kind, uint64_t key)
{
	for (int i = 0; i < reg->nr_objs; i++)
		if (reg->objs[i].kind == kind && reg->objs[i].key == key)
			return &reg->objs[i];
	return NULL;
}

/* A new object of the registry, zeroed but for its kind and key; NULL when
 * out of memory. */
static struct shmem_obj *obj_add(struct shmem_registry *reg, int kind, uint64_t key)
{
	struct shmem_obj *o = xrealloc(reg->objs, (reg->nr_objs + 1) * sizeof(*o));
	if (!o)
		return NULL;
	reg->objs = o;
	o = &reg->objs[reg->nr_objs++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->key = key;
	return o;
}

static const MemfdInodeEntry *memfd_inode(struct shmem_registry *reg, const struct files_restore *fr,
					  const VmaEntry *v)
{
	const FileEntry *fe = files_find(fr, v->shmid);
	if (!fe || fe->type != FD_TYPES__MEMFD || !fe->memfd) {
		pr_err("mm image: memfd mapping at 0x%llx refers to file id %llu, which files.img "
		       "lacks or has as another kind", (unsigned long long)v->start,
		       (unsigned long long)v->shmid);
		return NULL;
	}
	for (int i = 0; i < reg->nr_memfd; i++)
		if (reg->memfd[i]->inode_id == fe->memfd->inode_id)
			return reg->memfd[i];
	pr_err("memfd.img lacks memfd inode %u (mapped at 0x%llx)", fe->memfd->inode_id,
	       (unsigned long long)v->start);
	return NULL;
}

static int note_vma(struct shmem_registry *reg, const struct files_restore *fr, const VmaEntry *v)
{
	int kind = shmem_vma_kind(v);
	uint64_t key = v->shmid;
	const MemfdInodeEntry *mie = NULL;
	const IpcShmEntry *ipc = NULL;
	if (kind == SHM_MEMFD) {
		mie = memfd_inode(reg, fr, v);
		if (!mie)
			return -EINVAL;
		key = mie->inode_id;
	} else if (kind == SHM_SYSV) {
		for (int i = 0; i < reg->nr_ipc && !ipc; i++)
			if (reg->ipc[i]->desc->id == v->shmid)
				ipc = reg->ipc[i];
		if (!ipc) {
			pr_err("SysV shared memory segment %llu (attached at 0x%llx) is missing from "
			       "ipcns-shm-%u.img", (unsigned long long)v->shmid,
			       (unsigned long long)v->start, reg->ipc_img_id);
			return -EINVAL;
		}
	}
	uint64_t need = v->pgoff + (v->end - v->start);
	struct shmem_obj *o = obj_find(reg, kind, key);
	if (!o) {
		o = obj_add(reg, kind, key);
		if (!o)
			return -ENOMEM;
		o->mie = mie;
		o->ipc = ipc;
		o->size = mie ? mie->size : ipc ? ipc->size : 0;
	}
	if (kind == SHM_ANON && need > o->size)
		o->size = need;
	return 0;
}

int shmem_registry_note(struct shmem_registry *reg, const struct files_restore *fr,
			const MmEntry *mm)
{
	int ret = registry_load(reg);
	for (size_t i = 0; !ret && i < mm->n_vmas; i++)
		if (vma_is_shmem(mm->vmas[i]))
			ret = note_vma(reg, fr, mm->vmas[i]);
	return ret;
}

void shmem_registry_close_fds(struct shmem_registry *reg)
{
	for (int i = 0; i < reg->nr_objs; i++) {
		struct shmem_obj *o = &reg->objs[i];
		if (o->cryo_fd > 0)
			close(o->cryo_fd);
		o->cryo_fd = 0;
	}
}

void shmem_registry_free(struct shmem_registry *reg, bool failed)
{
	shmem_registry_close_fds(reg);
	for (int i = 0; i < reg->nr_objs; i++) {
		struct shmem_obj *o = &reg->objs[i];
		/* in a namespace of its own, they go with it */
		if (failed && o->sysv_created && !reg->ipc_img_id &&
		    shmctl((int)o->key, IPC_RMID, NULL) < 0)
			pr_warn("can't remove SysV segment %llu created by the failed restore: %s",
				(unsigned long long)o->key, strerror(errno));
	}
	for (int i = 0; i < reg->nr_memfd; i++)
		protobuf_c_message_free_unpacked(&reg->memfd[i]->base, NULL);
	for (int i = 0; i < reg->nr_ipc; i++)
		protobuf_c_message_free_unpacked(&reg->ipc[i]->base, NULL);
	free(reg->memfd);
	free(reg->ipc);
	free(reg->objs);
	memset(reg, 0, sizeof(*reg));
}

/* Fill the object cryo sees as @path (in the task), or has open as @own
 * (>= 0), from pagemap-shmem-@shmid.img. */
static int fill_object(struct shmem_registry *reg, const char *path, int own, uint64_t shmid,
		       uint64_t size, const char *what)
{
	struct cr_img *pm = NULL, *pages = NULL;
	PagemapHead *ph = NULL;
	char *map = MAP_FAILED;
	int fd = -1, ret;

	ret = img_open(&pm, reg->dirfd, IMG_SHMEM_PAGEMAP, IMG_READ, shmid);
	if (ret)
		return ret;
	ret = img_read_one(pm, &pagemap_head__descriptor, (ProtobufCMessage **)&ph);
	if (ret < 0)
		goto out;
	ret = img_open(&pages, reg->dirfd, IMG_PAGES, IMG_READ, ph->pages_id);
	if (ret)
		goto out;
	/* (cryo's own: not through a path, which may be looked up in the
	 * tree's mount namespace, whose /proc has no cryo) */
	fd = own >= 0 ? fcntl(own, F_DUPFD_CLOEXEC, 0) : open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_perror("can't open %s to fill %s (shmid 0x%llx)", path, what,
			  (unsigned long long)shmid);
		goto out;
	}
	map = size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : NULL;
	if (map == MAP_FAILED) {
		ret = -errno;
		pr_perror("can't map %s (%llu bytes) to fill it", what, (unsigned long long)size);
		goto out;
	}
	uint64_t off = 0;
	for (;;) {
		PagemapEntry *pe;
		ret = img_read_msg(pm, &pagemap_entry__descriptor, (ProtobufCMessage **)&pe);
		if (ret <= 0)
			break;
		uint64_t len = (uint64_t)pe->nr_pages * PAGE_SIZE;
		uint64_t at = pe->vaddr;
		protobuf_c_message_free_unpacked(&pe->base, NULL);
		if ((at & (PAGE_SIZE - 1)) || at + len < at || at + len > ROUND_UP(size, PAGE_SIZE)) {
			pr_err("pagemap-shmem-%llu.img: entry at offset 0x%llx (%llu bytes) lies outside "
			       "the object (%llu bytes)", (unsigned long long)shmid,
			       (unsigned long long)at, (unsigned long long)len,
			       (unsigned long long)size);
			ret = -EINVAL;
			break;
		}
		ssize_t got = pread(img_raw_fd(pages), map + at, len, off);
		if (got != (ssize_t)len) {
			ret = got < 0 ? -errno : -EIO;
			pr_err("filling %s from pages-%u.img at offset %llu failed: %s", what,
			       ph->pages_id, (unsigned long long)off,
			       got < 0 ? strerror(errno) : "the image is truncated");
			break;
		}
		off += len;
	}
out:
	if (map != MAP_FAILED && map)
		munmap(map, size);
	if (fd >= 0)
		close(fd);
	if (ph)
		protobuf_c_message_free_unpacked(&ph->base, NULL);
	img_close(pages);
	img_close(pm);
	return ret;
}

static bool overlaps(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 < e2 && s2 < e1;
}

/* A free place for a temporary mapping of @size: not used in the task now
 * and not by any VMA of the image. */
static int pick_scratch(struct remote *r, const MmEntry *mm, uint64_t size, uint64_t *out)
{
	struct proc_maps cur;
	int ret = proc_read_maps(r->tid, &cur);
	if (ret)
		return ret;
	uint64_t a = 1ULL << 40;
	for (bool moved = true; moved && a + size < 0x7ff000000000ULL;) {
		moved = false;
		for (int i = 0; i < cur.n; i++)
			if (overlaps(a, a + size, cur.v[i].start, cur.v[i].end)) {
				a = cur.v[i].end;
				moved = true;
			}
		for (size_t i = 0; i < mm->n_vmas; i++)
			if (overlaps(a, a + size, mm->vmas[i]->start, mm->vmas[i]->end)) {
				a = ROUND_UP(mm->vmas[i]->end, PAGE_SIZE);
				moved = true;
			}
	}
	proc_maps_free(&cur);
	if (a + size >= 0x7ff000000000ULL) {
		pr_err("no room for a temporary %llu-byte mapping of shared memory",
		       (unsigned long long)size);
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

/* The task's PID as the /proc of its mount namespace names it: its PID in
 * cryo's namespace, or inside its own PID namespace where that one's proc
 * is mounted on /proc (a container's).  The task reads /proc/self itself;
 * its PID here where it can't. */
static pid_t task_proc_pid(struct remote *r)
{
	char buf[16];
	remote_scratch_reset(r);
	uint64_t a = remote_scratch_put(r, "/proc/self", sizeof("/proc/self"));
	uint64_t b = remote_scratch_alloc(r, sizeof(buf));
	if (!a || !b)
		return r->tid;
	long n = remote_syscall(r, __NR_readlinkat, AT_FDCWD, a, b, sizeof(buf) - 1, 0, 0);
	if (n <= 0 || n >= (long)sizeof(buf) || remote_read(r, b, buf, n))
		return r->tid;
	buf[n] = '\0';
	int pid = atoi(buf);
	return pid > 0 ? pid : r->tid;
}

/* Anonymous shared memory: a home mapping of the whole object in the task,
 * filled from cryo through map_files. */
static int create_anon(struct remote *r, const MmEntry *mm, struct shmem_registry *reg,
		       struct shmem_obj *o, uint64_t *home, bool *scratch)
{
	uint64_t at = 0;
	unsigned noreserve = 0;
	*scratch = true;
	/* MAP_NORESERVE decides, when the object is made, whether its whole
	 * size is charged to overcommit accounting up front */
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (shmem_vma_kind(mm->vmas[i]) == SHM_ANON && mm->vmas[i]->shmid == o->key)
			noreserve |= mm->vmas[i]->flags &
				     (MAP_NORESERVE | MAP_HUGETLB | ((unsigned)MAP_HUGE_MASK << MAP_HUGE_SHIFT));
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (shmem_vma_kind(v) == SHM_ANON && v->shmid == o->key && v->pgoff == 0 &&
		    v->end - v->start == o->size && !(v->status & VMA_FILE_PRIVATE)) {
			at = v->start;
			*scratch = false;
			break;
		}
	}
	if (*scratch) {
		int ret = pick_scratch(r, mm, o->size, &at);
		if (ret)
			return ret;
	}
	long ret = remote_call(r, "mmap of shared anonymous memory", __NR_mmap, at, o->size,
			 PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | noreserve, -1, 0);
	if (ret < 0)
		return ret;
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", r->tid, (unsigned long long)at,
		 (unsigned long long)(at + o->size));
	*home = at;
	o->creator = r->tid;
	o->creator_procpid = task_proc_pid(r);
	o->ref_start = at;
	o->ref_end = at + o->size;
	/* cryo keeps the object open: its other mappings are made from this
	 * descriptor, passed to the task, since a task may not open
	 * map_files itself where it lacks CAP_CHECKPOINT_RESTORE over the
	 * initial user namespace (a tree in a user namespace of its own) */
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open %s (shared anonymous memory of restored task %d)", path,
			      r->tid);
	o->cryo_fd = fd;
	return fill_object(reg, path, fd, o->key, o->size, "shared anonymous memory");
}

/* memfd_create() flags for the memfd of @m: sealable unless it was not,
 * and, with @exec (kernel 6.3+), executable or not as it was.  A mode
 * without exec bits sealed F_SEAL_EXEC is what MFD_NOEXEC_SEAL makes;
 * anything else is made with MFD_EXEC and then chmod'ed.  Without either
 * flag the vm.memfd_noexec sysctl decides, and a memfd it made
 * non-executable and sealed could not get its exec bits back. */
static unsigned memfd_flags(const MemfdInodeEntry *m, bool exec)
{
	unsigned f = MFD_CLOEXEC | (m->seals == F_SEAL_SEAL ? 0 : MFD_ALLOW_SEALING);
	/* MFD_HUGETLB and its page size (the kernel checks the size) */
	if (m->has_hugetlb_flag)
		f |= m->hugetlb_flag & (MFD_HUGETLB | (MFD_HUGE_MASK << MFD_HUGE_SHIFT));
	if (!exec)
		return f;
	if (m->has_mode && !(m->mode & 0111) && (m->seals & F_SEAL_EXEC))
		return f | MFD_NOEXEC_SEAL;
	return f | MFD_EXEC;
}

static int memfd_create_failed(const MemfdInodeEntry *m, int err, const char *where)
{
	const char *name = m->name ? m->name : "";
	if (err == EACCES)
		pr_err("memfd_create(%s) %s: executable memfds are forbidden here (sysctl "
		       "vm.memfd_noexec = 2), but the dumped one had mode 0%o", name, where,
		       m->mode & 07777);
	else
		pr_err("memfd_create(%s) %s failed: %s", name, where, strerror(err));
	return -err;
}

/* cryo's own fd of the description memfd_create made in task @tid as
 * @fd (see memfd_open_hook). */
static int grab_memfd(pid_t tid, long fd, const char *name)
{
	int pidfd = syscall(SYS_pidfd_open, tid, 0);
	int got = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	int err = errno;
	if (pidfd >= 0)
		close(pidfd);
	if (got < 0) {
		pr_err("can't take memfd:%s (fd %ld of restored task %d) with pidfd_getfd: %s", name,
		       fd, tid, strerror(err));
		return -err;
	}
	return got;
}

/* memfd: created in the task (its name, size, owner, mode), filled from
 * cryo through /proc/TASK/fd; returns the fd in the task. */
static long create_memfd(struct remote *r, struct shmem_registry *reg, struct shmem_obj *o)
{
	const MemfdInodeEntry *m = o->mie;
	const char *name = m->name ? m->name : "";
	remote_scratch_reset(r);
	uint64_t a = remote_scratch_put(r, name, strlen(name) + 1);
	if (!a)
		return -ENOSPC;
	long fd = remote_syscall(r, __NR_memfd_create, a, memfd_flags(m, true), 0, 0, 0, 0);
	if (fd == -EINVAL)	/* before 6.3: no MFD_EXEC, MFD_NOEXEC_SEAL */
		fd = remote_syscall(r, __NR_memfd_create, a, memfd_flags(m, false), 0, 0, 0, 0);
	if (fd < 0 && fd >= -4095)
		return memfd_create_failed(m, -fd, "in the restored task");
	long ret = remote_call(r, "ftruncate of a memfd", __NR_ftruncate, fd, m->size, 0, 0, 0, 0);
	if (ret)
		return ret;
	int cfd = grab_memfd(r->tid, fd, name);
	if (cfd < 0)
		return cfd;
	/* The image's owner is as cryo's namespace sees it (the dump's
	 * fstat): given from here, not by the task, whose user namespace
	 * may map it otherwise (fchown there: EINVAL) */
	if (fchown(cfd, m->uid, m->gid)) {
		ret = -errno;
		pr_err("can't give memfd:%s of restored task %d its owner back (fchown to uid %u "
		       "gid %u): %s", name, r->tid, m->uid, m->gid, strerror(errno));
		close(cfd);
		return ret;
	}
	if (m->has_mode)	/* after fchown, which may clear set-id bits */
		ret = remote_call(r, "fchmod of a memfd", __NR_fchmod, fd, m->mode & 07777, 0, 0, 0, 0);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%ld", r->tid, fd);
	if (!ret)
		ret = fill_object(reg, path, -1, m->shmid, m->size, "a memfd");
	if (ret) {
		close(cfd);
		return ret;
	}
	o->cryo_fd = cfd;
	o->creator = r->tid;
	o->creator_procpid = task_proc_pid(r);
	return fd;
}

static int seal_memfd(struct remote *r, long fd, uint32_t seals)
{
	if (!seals || seals == F_SEAL_SEAL)
		return 0;
	long ret = remote_call(r, "fcntl(F_ADD_SEALS) on a memfd", __NR_fcntl, fd, F_ADD_SEALS, seals, 0, 0,
			 0);
	return ret < 0 ? (int)ret : 0;
}

/* Map one VMA of an existing object through /proc/PID/map_files in the task. */
static int map_via_link(struct remote *r, const VmaEntry *v, const char *link, unsigned prot,
			unsigned flags)
{
	remote_scratch_reset(r);
	uint64_t a = remote_scratch_put(r, link, strlen(link) + 1);
	if (!a)
		return -ENOSPC;
	long fd = remote_syscall(r, __NR_openat, AT_FDCWD, a, O_RDWR | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return log_errno(fd, "can't open %s in restored task %d (to map 0x%llx-0x%llx)", link, r->tid,
				 (unsigned long long)v->start, (unsigned long long)v->end);
	long ret = remote_call(r, "mmap of shared memory", __NR_mmap, v->start, v->end - v->start, prot,
			 flags | MAP_FIXED_NOREPLACE, fd, v->pgoff);
	remote_syscall(r, __NR_close, fd, 0, 0, 0, 0, 0);
	return ret < 0 ? ret : 0;
}

/* Map one VMA of an object cryo has open (@o->cryo_fd) from a copy of
 * that descriptor given to the task; -EBADF: the task can't be given one
 * now (nothing was done). */
static int map_via_cryo_fd(struct remote *r, const struct files_restore *fr, const VmaEntry *v,
			   const struct shmem_obj *o, unsigned prot, unsigned flags)
{
	int fd = files_restore_give_fd(fr, r, r->tid, o->cryo_fd);
	if (fd < 0)
		return fd;
	long ret = remote_call(r, "mmap of shared memory", __NR_mmap, v->start, v->end - v->start, prot,
			 flags | MAP_FIXED_NOREPLACE, fd, v->pgoff);
	remote_syscall(r, __NR_close, fd, 0, 0, 0, 0, 0);
	if (ret >= 0)
		pr_debug("task %d: 0x%llx-0x%llx of shared object %llu mapped from cryo's descriptor",
			 r->tid, (unsigned long long)v->start, (unsigned long long)v->end,
			 (unsigned long long)o->key);
	return ret < 0 ? ret : 0;
}

static int apply_madv(struct remote *r, const VmaEntry *v)
{
	for (int adv = 0; v->has_madv && adv < 64; adv++)
		if (v->madv & (1ULL << adv)) {
			long ret = remote_call(r, "madvise", __NR_madvise, v->start, v->end - v->start, adv, 0,
					 0, 0);
			if (ret)
				return ret;
		}
	return 0;
}

int shmem_restore_vmas(struct remote *r, const struct mem_image *mi,
		       const struct files_restore *fr, struct shmem_registry *reg)
{
	const MmEntry *mm = mi->mm;
	int ret = shmem_registry_note(reg, fr, mm);
	if (ret)
		return ret;

	/* Objects this task creates: where their home mapping or fd is. */
	struct local {
		struct shmem_obj *o;
		uint64_t home;
		bool scratch;
		long fd;
		bool sealed;
	} *loc = xzalloc((mm->n_vmas + 1) * sizeof(*loc));
	int nloc = 0;
	if (!loc)
		return -ENOMEM;

	for (size_t i = 0; i < mm->n_vmas && !ret; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!vma_is_shmem(v))
			continue;
		int kind = shmem_vma_kind(v);
		uint64_t key = v->shmid;
		if (kind == SHM_MEMFD) {
			const MemfdInodeEntry *m = memfd_inode(reg, fr, v);
			if (!m) {
				ret = -EINVAL;
				break;
			}
			key = m->inode_id;
		}
		struct shmem_obj *o = obj_find(reg, kind, key);
		struct local *l = NULL;
		for (int k = 0; k < nloc; k++)
			if (loc[k].o == o)
				l = &loc[k];

		if (kind == SHM_SYSV) {
			if (v->pgoff)
				continue;	/* mapped with its attachment's first VMA */
			if (!o->creator && !o->sysv_created)
				ret = shmem_sysv_prepare(reg, o);
			if (!ret)
				ret = shmem_sysv_attach(r, reg, mm, i, o);
			continue;
		}
		if (!o->creator) {
			l = &loc[nloc++];
			l->o = o;
			l->fd = -1;
			if (kind == SHM_ANON) {
				ret = create_anon(r, mm, reg, o, &l->home, &l->scratch);
			} else {
				l->fd = create_memfd(r, reg, o);
				ret = l->fd < 0 ? (int)l->fd : 0;
				/* Write-sealed: no shared mapping of it was writable,
				 * and sealed first, a read-only shared mapping can't
				 * be made writable later (the kernel clears its
				 * VM_MAYWRITE), as in the dumped task.  Sealed after,
				 * our mappings (from a read-write fd) would make
				 * F_SEAL_WRITE fail with EBUSY. */
				if (!ret && (o->mie->seals & F_SEAL_WRITE)) {
					ret = seal_memfd(r, l->fd, o->mie->seals);
					l->sealed = true;
				}
			}
			if (ret)
				break;
		}
		bool priv = v->status & VMA_FILE_PRIVATE;
		unsigned prot = v->prot | (priv ? PROT_WRITE : 0);
		unsigned flags = (priv ? MAP_PRIVATE : MAP_SHARED) | (v->flags & MAP_NORESERVE);
		if (l && kind == SHM_ANON && !l->scratch && l->home == v->start) {
			/* the home mapping is this VMA */
		} else if (l && kind == SHM_MEMFD) {
			long m = remote_call(r, "mmap of a memfd", __NR_mmap, v->start, v->end - v->start, prot,
				       flags | MAP_FIXED_NOREPLACE, l->fd, v->pgoff);
			ret = m < 0 ? (int)m : 0;
		} else if (o->cryo_fd > 0 &&
			   (ret = map_via_cryo_fd(r, fr, v, o, prot, flags)) != -EBADF) {
			/* mapped from cryo's descriptor (or failed, logged) */
		} else {
			ret = 0;
			/* opened by the task: in its /proc, which is its PID
			 * namespace's in a container (not cryo's PIDs) */
			char link[96], who[16] = "self";
			uint64_t rs = l ? l->home : o->ref_start;
			uint64_t re = l ? l->home + o->size : o->ref_end;
			if (!l)
				snprintf(who, sizeof(who), "%d",
					 o->creator_procpid ? o->creator_procpid : o->creator);
			snprintf(link, sizeof(link), "/proc/%s/map_files/%llx-%llx", who,
				 (unsigned long long)rs, (unsigned long long)re);
			ret = map_via_link(r, v, link, prot, flags);
		}
		if (!ret)
			ret = apply_madv(r, v);
		if (!ret && o->creator == r->tid && kind == SHM_MEMFD && !o->ref_start) {
			o->ref_start = v->start;
			o->ref_end = v->end;
		}
	}

	/* Drop the temporary mappings and fds; seal memfds now that every
	 * mapping of this task exists. */
	for (int k = 0; k < nloc; k++) {
		struct local *l = &loc[k];
		if (l->o->kind == SHM_ANON && l->scratch && l->home) {
			remote_call(r, "munmap", __NR_munmap, l->home, l->o->size, 0, 0, 0, 0);
			/* later processes map it through this task's first VMA of it */
			l->o->ref_start = l->o->ref_end = 0;
			for (size_t i = 0; i < mm->n_vmas; i++) {
				const VmaEntry *v = mm->vmas[i];
				if (shmem_vma_kind(v) == SHM_ANON && v->shmid == l->o->key) {
					l->o->ref_start = v->start;
					l->o->ref_end = v->end;
					break;
				}
			}
		}
		if (l->fd >= 0) {
			/* F_SEAL_FUTURE_WRITE allows the writable mappings made
			 * before it: sealed last */
			if (!ret && !l->sealed)
				ret = seal_memfd(r, l->fd, l->o->mie->seals);
			remote_syscall(r, __NR_close, l->fd, 0, 0, 0, 0, 0);
		}
	}
	free(loc);
	return ret;
}

/* ======================================================================
 * memfd descriptors (lib/files/memfd.c)
 * ====================================================================== */

/* A memfd only open as descriptors: created by cryo, filled and sealed. */
static int create_memfd_here(struct shmem_registry *reg, const MemfdInodeEntry *m,
			     struct shmem_obj *o)
{
	const char *name = m->name ? m->name : "";
	int fd = memfd_create(name, memfd_flags(m, true));
	if (fd < 0 && errno == EINVAL)	/* before 6.3: no MFD_EXEC, MFD_NOEXEC_SEAL */
		fd = memfd_create(name, memfd_flags(m, false));
	if (fd < 0)
		return memfd_create_failed(m, errno, "in cryo");
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int ret = 0;
	if (ftruncate(fd, m->size) || fchown(fd, m->uid, m->gid) ||
	    (m->has_mode && fchmod(fd, m->mode & 07777)))
		{ ret = -errno; pr_perror("can't size, chown or chmod the recreated memfd:%s", name); }
	if (!ret)
		ret = fill_object(reg, path, fd, m->shmid, m->size, "a memfd");
	if (!ret && m->seals && m->seals != F_SEAL_SEAL && fcntl(fd, F_ADD_SEALS, m->seals))
		{ ret = -errno; pr_perror("can't seal the recreated memfd:%s (0x%x)", name, m->seals); }
	if (ret) {
		close(fd);
		return ret;
	}
	o->cryo_fd = fd;
	return 0;
}

/* files_memfd_ops.open: a descriptor of memfd inode @inode_id in cryo. */
static int memfd_open_hook(void *arg, uint32_t inode_id, unsigned flags)
{
	struct shmem_registry *reg = arg;
	if (!reg->active) {
		pr_err("memfd inode %u: no restore of shared memory in progress", inode_id);
		return -EINVAL;
	}
	int ret = registry_load(reg);
	if (ret)
		return ret;
	const MemfdInodeEntry *m = NULL;
	for (int i = 0; i < reg->nr_memfd && !m; i++)
		if (reg->memfd[i]->inode_id == inode_id)
			m = reg->memfd[i];
	if (!m) {
		pr_err("memfd.img lacks memfd inode %u (open as a descriptor)", inode_id);
		return -EINVAL;
	}
	struct shmem_obj *o = obj_find(reg, SHM_MEMFD, inode_id);
	if (!o) {
		o = obj_add(reg, SHM_MEMFD, inode_id);
		if (!o)
			return -ENOMEM;
		o->mie = m;
		o->size = m->size;
	}
	if (o->cryo_fd <= 0 && !o->creator && (ret = create_memfd_here(reg, m, o)))
		return ret;
	if (o->cryo_fd > 0 && !o->orig_given && (flags & O_ACCMODE) == O_RDWR) {
		/* The description memfd_create made is not counted as a writer
		 * of the inode (it was not open()ed), so the memfd can be
		 * executed while it is open; a reopen for writing would make
		 * every execve of it fail with ETXTBSY.  The first read-write
		 * descriptor gets it (the dump can't tell which one it was). */
		int fd = fcntl(o->cryo_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return_perror("can't duplicate memfd:%s", m->name ? m->name : "");
		int fl = flags & (O_APPEND | O_NONBLOCK | O_ASYNC | O_NOATIME);
		if (fl && fcntl(fd, F_SETFL, fl)) {
			ret = -errno;
			pr_perror("can't set flags 0%o on memfd:%s", fl, m->name ? m->name : "");
			close(fd);
			return ret;
		}
		o->orig_given = true;
		return fd;
	}
	char path[96];
	if (o->cryo_fd > 0)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", o->cryo_fd);
	else	/* mapped by a restored task: the same inode through its mapping */
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", o->creator,
			 (unsigned long long)o->ref_start, (unsigned long long)o->ref_end);
	/* a description of its own, with the dumped flags */
	int fd = open(path, (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't reopen memfd:%s through %s", m->name ? m->name : "", path);
	return fd;
}

struct files_memfd_ops shmem_memfd_restore_ops(struct shmem_registry *reg)
{
	return (struct files_memfd_ops){ .arg = reg, .open = memfd_open_hook };
}
