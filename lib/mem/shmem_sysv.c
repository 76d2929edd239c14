/* SysV shared memory segments: saved into ipcns-shm-0.img (key, owner,
 * mode, size, then the contents), recreated with their old ids in cryo's
 * IPC namespace and attached with shmat in the restored tasks.  A tree in
 * an IPC namespace of its own has every segment of it saved and recreated
 * with the namespace (lib/ns, ipcns-shm-ID.img); here they are only
 * attached, and one removed while attached (SHM_DEST), which lib/ns leaves
 * out, is recreated by its first attacher, in that namespace.  See
 * shmem.c for the other shared memory objects. */
#include "mem/shmem-int.h"
#include "ns/ns.h"
#include "images/image.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

static int same_ipc_ns(pid_t pid)
{
	char path[64];
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
	if (stat(path, &a) || stat("/proc/self/ns/ipc", &b))
		return_perror("can't compare the IPC namespace of process %d with cryo's", pid);
	return a.st_ino == b.st_ino ? 1 : 0;
}

int shmem_sysv_dump(struct mem_dump_shared *sd, int fd, pid_t pid, uint64_t id)
{
	struct shmid_ds ds;
	int ret = same_ipc_ns(pid);
	if (ret < 0)
		return ret;
	if (!ret)
		return 0;	/* the tree's own namespace: saved whole by lib/ns */
	if (shmctl((int)id, IPC_STAT, &ds) < 0)
		return_perror("shmctl(%llu, IPC_STAT) for the segment process %d attached failed",
			      (unsigned long long)id, pid);
	if (!sd->ipc_shm_img) {
		ret = img_open(&sd->ipc_shm_img, sd->dirfd, IMG_IPC_SHM, IMG_WRITE, 0);
		if (ret)
			return ret;
	}
	IpcDescEntry de = IPC_DESC_ENTRY__INIT;
	IpcShmEntry se = IPC_SHM_ENTRY__INIT;
	de.has_key = de.has_uid = de.has_gid = de.has_cuid = de.has_cgid = 1;
	de.has_mode = de.has_id = 1;
	de.key = ds.shm_perm.__key;
	de.uid = ds.shm_perm.uid;
	de.gid = ds.shm_perm.gid;
	de.cuid = ds.shm_perm.cuid;
	de.cgid = ds.shm_perm.cgid;
	de.mode = ds.shm_perm.mode;
	de.id = id;
	se.desc = &de;
	se.has_size = 1;
	se.size = ds.shm_segsz;
	/* A segment of huge pages (SHM_HUGETLB) lives on hugetlbfs: its page
	 * size is the file system's block size. */
#ifndef SHM_HUGE_SHIFT
#define SHM_HUGE_SHIFT 26	/* linux/shm.h */
#endif
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return_perror("fstatfs of SysV segment %llu failed", (unsigned long long)id);
	if (sfs.f_type == HUGETLBFS_MAGIC) {
		se.has_hugetlb_flag = 1;
		se.hugetlb_flag = SHM_HUGETLB | ((uint32_t)__builtin_ctzl(sfs.f_bsize) << SHM_HUGE_SHIFT);
	}
	/* Contents follow the entry (in_pagemaps = false): the form crit reads. */
	se.has_in_pagemaps = 1;
	se.in_pagemaps = false;
	ret = img_write_msg(sd->ipc_shm_img, &se.base);
	if (ret)
		return ret;
	size_t bufsz = 1 << 20;
	char *buf = xmalloc(bufsz);
	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; !ret && off < ds.shm_segsz;) {
		size_t n = MIN(bufsz, ds.shm_segsz - off);
		ssize_t got = pread(fd, buf, n, off);
		if (got != (ssize_t)n) {
			ret = got < 0 ? -errno : -EIO;
			pr_err("can't read SysV shared memory segment %llu at offset %llu: %s",
			       (unsigned long long)id, (unsigned long long)off, strerror(-ret));
			break;
		}
		ret = img_write_raw(sd->ipc_shm_img, buf, n);
		off += n;
	}
	static const char zero[4];
	size_t pad = ROUND_UP(ds.shm_segsz, 4) - ds.shm_segsz;
	if (!ret && pad)
		ret = img_write_raw(sd->ipc_shm_img, zero, pad);
	free(buf);
	return ret;
}

/* SysV: the segment must exist in the tree's IPC namespace (cryo's own,
 * or the one the restore made: entered around this) with its old id. */
static int sysv_prepare(struct shmem_registry *reg, struct shmem_obj *o);

int shmem_sysv_prepare(struct shmem_registry *reg, struct shmem_obj *o)
{
	const struct ns_desc *d = ns_desc(NS_IPC);
	int back, ret = ns_enter(reg->ns, d, &back);
	if (ret)
		return ret;
	ret = sysv_prepare(reg, o);
	int r2 = ns_leave(d, back);
	return ret ? ret : r2;
}

static int sysv_prepare(struct shmem_registry *reg, struct shmem_obj *o)
{
	const IpcShmEntry *e = o->ipc;
	const IpcDescEntry *d = e->desc;
	int id = d->id;
	struct shmid_ds ds;

	if (shmctl(id, IPC_STAT, &ds) == 0) {
		if (ds.shm_segsz == e->size && (ds.shm_perm.__key == (key_t)d->key ||
						 (ds.shm_perm.mode & SHM_DEST))) {
			pr_info("SysV segment %d still exists: attaching it as it is", id);
			return 0;
		}
		pr_err("SysV shared memory id %d now names another segment (key 0x%x, %zu bytes; the "
		       "dumped one had key 0x%x, %llu bytes): remove it, or restore into a new IPC "
		       "namespace", id, ds.shm_perm.__key, (size_t)ds.shm_segsz, d->key,
		       (unsigned long long)e->size);
		return -EEXIST;
	}
	key_t key = (d->mode & SHM_DEST) ? IPC_PRIVATE : (key_t)d->key;
	if (key != IPC_PRIVATE) {
		int other = shmget(key, 0, 0);
		if (other >= 0) {
			pr_err("SysV shared memory key 0x%x is used by segment %d now, but the dumped "
			       "segment with that key had id %d: remove segment %d first", key, other,
			       id, other);
			return -EEXIST;
		}
	}
	/* Ask for the old id: kernel.shm_next_id is used (and reset) by the
	 * next shmget. */
	int nfd = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", id);
	if (nfd < 0 || write(nfd, buf, n) != n) {
		int err = errno;
		if (nfd >= 0)
			close(nfd);
		pr_err("can't set kernel.shm_next_id to recreate SysV segment %d: %s", id,
		       strerror(err));
		return -err;
	}
	close(nfd);
	int got = shmget(key, e->size, IPC_CREAT | IPC_EXCL | (d->mode & 0777) |
			 (e->has_hugetlb_flag ? (int)e->hugetlb_flag : 0));
	if (got < 0)
		return_perror("shmget to recreate SysV segment %d (key 0x%x, %llu bytes) failed", id,
			      key, (unsigned long long)e->size);
	if (got != id) {
		shmctl(got, IPC_RMID, NULL);
		pr_err("recreating SysV segment %d gave id %d: the id can't be chosen here", id, got);
		return -EEXIST;
	}
	o->sysv_created = true;
	o->sysv_rmid = d->mode & SHM_DEST;
	pr_info("SysV segment %d (key 0x%x, %llu bytes) was gone: recreated it", id, key,
		(unsigned long long)e->size);

	/* Contents, from the raw data after the entry in ipcns-shm-0.img. */
	struct cr_img *img;
	int ret = img_open(&img, reg->dirfd, IMG_IPC_SHM, IMG_READ, reg->ipc_img_id);
	if (ret)
		return ret;
	char *addr = shmat(id, NULL, 0);
	if (addr == (void *)-1) {
		ret = -errno;
		pr_perror("can't attach the recreated SysV segment %d to fill it", id);
		img_close(img);
		return ret;
	}
	for (;;) {
		IpcShmEntry *x;
		ret = img_read_msg(img, &ipc_shm_entry__descriptor, (ProtobufCMessage **)&x);
		if (ret <= 0) {
			if (!ret) {
				pr_err("%s: segment %d vanished from the image", img_name(img), id);
				ret = -EINVAL;
			}
			break;
		}
		bool mine = x->desc && x->desc->id == (uint32_t)id;
		uint64_t sz = x->size;
		protobuf_c_message_free_unpacked(&x->base, NULL);
		if (mine) {
			ret = img_read_raw(img, addr, sz);
			break;
		}
		ret = img_skip_raw(img, ROUND_UP(sz, 4));
		if (ret)
			break;
	}
	img_close(img);
	if (ret) {
		shmdt(addr);
		return ret;
	}
	o->sysv_fill = addr;
	struct shmid_ds set = { 0 };
	set.shm_perm.uid = d->uid;
	set.shm_perm.gid = d->gid;
	set.shm_perm.mode = d->mode & 0777;
	if (shmctl(id, IPC_SET, &set) < 0)
		return_perror("can't set owner and mode of the recreated SysV segment %d", id);
	/* SHM_LOCK'ed segments show SHM_LOCKED in their mode */
	if ((d->mode & SHM_LOCKED) && shmctl(id, SHM_LOCK, NULL) < 0)
		return_perror("can't lock the recreated SysV segment %d in memory (SHM_LOCK) as "
			      "it was", id);
	return 0;
}

/* SysV: one shmat per attachment (the VMA with pgoff 0 and those that
 * continue it, split by mprotect), which must cover the whole segment. */
int shmem_sysv_attach(struct remote *r, const struct shmem_registry *reg, const MmEntry *mm,
		      size_t i, struct shmem_obj *o)
{
	const VmaEntry *first = mm->vmas[i];
	uint64_t want_end = first->start + ROUND_UP(o->size, PAGE_SIZE), end = first->end;
	bool rw = first->fdflags == O_RDWR;
	for (size_t j = i + 1; j < mm->n_vmas && end < want_end; j++) {
		const VmaEntry *v = mm->vmas[j];
		if (shmem_vma_kind(v) != SHM_SYSV || v->shmid != first->shmid || v->start != end ||
		    v->pgoff != end - first->start)
			break;
		rw |= v->fdflags == O_RDWR;
		end = v->end;
	}
	if (end != want_end) {
		pr_err("SysV segment %llu is attached at 0x%llx but only partly mapped there "
		       "(0x%llx-0x%llx of %llu bytes): restoring a partly unmapped attachment is not "
		       "supported", (unsigned long long)first->shmid, (unsigned long long)first->start,
		       (unsigned long long)first->start, (unsigned long long)end,
		       (unsigned long long)o->size);
		return -EOPNOTSUPP;
	}
	long ret = remote_syscall(r, __NR_shmat, first->shmid, first->start, rw ? 0 : SHM_RDONLY, 0,
				  0, 0);
	if (ret < 0 && ret >= -4095)
		return log_errno(ret, "shmat of SysV segment %llu at 0x%llx in restored task %d failed",
				 (unsigned long long)first->shmid, (unsigned long long)first->start, r->tid);
	if ((uint64_t)ret != first->start) {
		pr_err("shmat of SysV segment %llu put it at 0x%lx, not 0x%llx",
		       (unsigned long long)first->shmid, ret, (unsigned long long)first->start);
		return -EINVAL;
	}
	if (o->sysv_rmid) {
		const struct ns_desc *d = ns_desc(NS_IPC);
		int back, r2 = ns_enter(reg->ns, d, &back);
		if (r2)
			return r2;
		if (shmctl((int)o->key, IPC_RMID, NULL) < 0)
			r2 = log_errno(-errno, "can't mark recreated SysV segment %llu destroyed",
				       (unsigned long long)o->key);
		int r3 = ns_leave(d, back);
		if (r2 || r3)
			return r2 ? r2 : r3;
	}
	o->sysv_rmid = false;
	if (o->sysv_fill) {
		shmdt(o->sysv_fill);
		o->sysv_fill = NULL;
	}
	if (!o->creator) {
		o->creator = r->tid;
		o->ref_start = first->start;
		o->ref_end = end;
	}
	return 0;
}
