#include "mem/mem.h"
#include "files/files.h"
#include "images/image.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "regfile.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "compat/uapi-extra.h"

int mem_image_load(int dirfd, pid_t pid, struct mem_image *mi)
{
	struct cr_img *img;
	int ret;
	memset(mi, 0, sizeof(*mi));
	mi->dirfd = dirfd;

	ret = img_open(&img, dirfd, IMG_MM, IMG_READ, pid);
	if (ret)
		return ret;
	ret = img_read_one(img, &mm_entry__descriptor, (ProtobufCMessage **)&mi->mm);
	img_close(img);
	if (ret < 0)
		return ret;

	for (size_t i = 0; i < mi->mm->n_vmas; i++)
		if (mi->mm->vmas[i]->status & VMA_AREA_VDSO) {
			mi->vdso_start = mi->mm->vmas[i]->start;
			mi->vdso_end = mi->mm->vmas[i]->end;
		}
	return mem_pagemap_load(dirfd, pid, mi, false);
}

int mem_pagemap_load(int dirfd, pid_t pid, struct mem_image *mi, bool missing_ok)
{
	struct cr_img *img;
	int ret, cap = 0;
	mi->dirfd = dirfd;
	ret = img_open(&img, dirfd, IMG_PAGEMAP, IMG_READ | (missing_ok ? IMG_MISSING_OK : 0), pid);
	if (ret)
		return ret;
	PagemapHead *ph;
	ret = img_read_one(img, &pagemap_head__descriptor, (ProtobufCMessage **)&ph);
	if (ret < 0)
		goto out;
	mi->pages_id = ph->pages_id;
	protobuf_c_message_free_unpacked(&ph->base, NULL);
	for (;;) {
		PagemapEntry *pe;
		ret = img_read_msg(img, &pagemap_entry__descriptor, (ProtobufCMessage **)&pe);
		if (ret <= 0)
			break;
		if (mi->n_pe == cap) {
			cap = cap ? cap * 2 : 64;
			PagemapEntry **n = xrealloc(mi->pe, cap * sizeof(*n));
			if (!n) {
				protobuf_c_message_free_unpacked(&pe->base, NULL);
				ret = -ENOMEM;
				break;
			}
			mi->pe = n;
		}
		mi->pe[mi->n_pe++] = pe;
	}
out:
	img_close(img);
	return ret;
}

void mem_image_free(struct mem_image *mi)
{
	if (mi->mm)
		protobuf_c_message_free_unpacked(&mi->mm->base, NULL);
	for (int i = 0; i < mi->n_pe; i++)
		protobuf_c_message_free_unpacked(&mi->pe[i]->base, NULL);
	free(mi->pe);
	free(mi->eager);
	memset(mi, 0, sizeof(*mi));
}

/* Checks that keep a hostile image from making us map nonsense. */
static int check_vma(const VmaEntry *v)
{
	if (v->start >= v->end || (v->start | v->end) & (PAGE_SIZE - 1) ||
	    v->end > 0x800000000000ULL || (v->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))) {
		pr_err("mm image: invalid VMA 0x%llx-0x%llx prot 0x%x",
		       (unsigned long long)v->start, (unsigned long long)v->end, v->prot);
		return -EINVAL;
	}
	if ((v->flags & MAP_DROPPABLE) && ((v->flags & MAP_SHARED) || !(v->status & VMA_ANON_PRIVATE))) {
		pr_err("mm image: VMA 0x%llx-0x%llx is droppable but not private anonymous memory",
		       (unsigned long long)v->start, (unsigned long long)v->end);
		return -EINVAL;
	}
	if ((v->flags & MAP_HUGETLB) &&
	    !(v->status & VMA_ANON_PRIVATE && !(v->flags & MAP_SHARED)) &&
	    !(v->status & (VMA_ANON_SHARED | VMA_AREA_MEMFD))) {
		pr_err("mm image: VMA 0x%llx-0x%llx has MAP_HUGETLB but is not anonymous memory, "
		       "shared memory or a memfd mapping", (unsigned long long)v->start, (unsigned long long)v->end);
		return -EINVAL;
	}
	for (size_t i = 0; i < v->n_guards; i++) {
		const VmaGuardRun *g = v->guards[i];
		if (g->start >= g->end || g->start < v->start || g->end > v->end ||
		    (g->start | g->end) & (PAGE_SIZE - 1)) {
			pr_err("mm image: guard region 0x%llx-0x%llx is not inside VMA 0x%llx-0x%llx",
			       (unsigned long long)g->start, (unsigned long long)g->end,
			       (unsigned long long)v->start, (unsigned long long)v->end);
			return -EINVAL;
		}
	}
	return 0;
}

static int batch_add(struct remote *r, struct remote_batch *b, const char *what, long nr,
		     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	if (b->n == REMOTE_BATCH_MAX) {
		int ret = remote_batch_exec(r, b, what);
		if (ret)
			return ret;
	}
	b->calls[b->n++] = (struct remote_call){ nr, { a0, a1, a2, a3, a4, a5 }, 0 };
	return 0;
}

/* The files the VMAs map, opened in the task in batches (one ptrace stop
 * per batch instead of three per mapped file): one fd per (file, flags). */
struct mapped_file {
	uint32_t id;
	unsigned flags;
	long fd;
};

static bool vma_maps_file(const struct mem_image *mi, const VmaEntry *v)
{
	bool proxy = mi->vdso_proxy && (v->status & VMA_AREA_VDSO);
	return (v->status & VMA_AREA_REGULAR) && !vma_is_special(v) && !proxy &&
	       !vma_is_shmem(v) && (v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED));
}

static int open_mapped_files(struct remote *r, const struct mem_image *mi,
			     const struct files_restore *fr, struct remote_batch *b,
			     struct mapped_file **out, int *nout)
{
	const MmEntry *mm = mi->mm;
	struct mapped_file *mf = xzalloc((mm->n_vmas + 1) * sizeof(*mf));
	int n = 0, ret = 0;
	if (!mf)
		return -ENOMEM;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!vma_maps_file(mi, v))
			continue;
		unsigned flags = v->has_fdflags ? v->fdflags : O_RDONLY;
		bool seen = false;
		for (int k = 0; k < n && !seen; k++)
			seen = mf[k].id == v->shmid && mf[k].flags == flags;
		if (!seen)
			mf[n++] = (struct mapped_file){ v->shmid, flags, -1 };
	}
	/* a file reached only through a descriptor of cryo's (named
	 * /proc/<cryo>/fd/N) is handed over where the task's /proc is not
	 * cryo's (a mount namespace of its own); the same open file, so with
	 * the access the ghost was made with (read-write) */
	for (int k = 0; k < n && !ret && fr->ns.fd[NS_MNT] >= 0; k++) {
		int cfd = files_reg_cryo_fd(fr, mf[k].id);
		if (cfd < 0)
			continue;
		int fd = files_restore_give_fd(fr, r, r->tid, cfd);
		if (fd >= 0)
			mf[k].fd = fd;
		else if (fd != -EBADF)	/* -EBADF: no transport left, opened by path */
			ret = fd;
	}
	int idx[REMOTE_BATCH_MAX];
	for (int from = 0; from < n && !ret;) {
		remote_scratch_reset(r);
		b->n = 0;
		int to = from;
		for (; to < n && b->n < REMOTE_BATCH_MAX; to++) {
			if (mf[to].fd >= 0)
				continue;	/* handed over above */
			const FileEntry *fe = files_find(fr, mf[to].id);
			if (!fe || !fe->reg || !fe->reg->name) {
				pr_err("mm image refers to file id %u, which files.img does not have",
				       mf[to].id);
				ret = -EINVAL;
				break;
			}
			/* a deleted file is recreated for the restore (lib/files/ghost.c) */
			const char *name = files_reg_open_path(fr, mf[to].id);
			if (!name) {
				ret = -ENOENT;
				break;
			}
			if (r->scratch_used + strlen(name) + 1 > r->scratch_size)
				break;	/* the rest in the next batch */
			uint64_t a = remote_scratch_put(r, name, strlen(name) + 1);
			if (!a) {
				ret = -ENOSPC;
				break;
			}
			idx[b->n] = to;
			b->calls[b->n++] = (struct remote_call){ __NR_openat,
				{ AT_FDCWD, a, mf[to].flags | O_CLOEXEC, 0, 0, 0 }, 0 };
		}
		if (ret)
			break;
		int done = remote_batch_run(r, b);
		if (done < 0) {
			ret = done;
			break;
		}
		for (int k = 0; k < done; k++)
			mf[idx[k]].fd = b->calls[k].ret;
		if (done < b->n) {
			long e = b->calls[done].ret;
			pr_err("can't open %s (mapped by the restored process %d): %s",
			       files_reg_open_path(fr, mf[idx[done]].id), r->tid, strerror(-e));
			ret = e < 0 ? e : -EIO;
		}
		b->n = 0;
		from = to;
	}
	remote_scratch_reset(r);
	*out = mf;
	*nout = n;
	return ret;
}

static long mapped_fd(const struct mapped_file *mf, int n, const VmaEntry *v)
{
	unsigned flags = v->has_fdflags ? v->fdflags : O_RDONLY;
	for (int k = 0; k < n; k++)
		if (mf[k].id == v->shmid && mf[k].flags == flags)
			return mf[k].fd;
	return -1;
}

static int close_mapped_files(struct remote *r, struct remote_batch *b, struct mapped_file *mf,
			      int n)
{
	int ret = 0;
	for (int k = 0; k < n && !ret; k++)
		if (mf[k].fd >= 0)
			ret = batch_add(r, b, "closing mapped files", __NR_close, mf[k].fd, 0, 0, 0, 0,
					0);
	if (!ret)
		ret = remote_batch_exec(r, b, "closing mapped files");
	return ret;
}

static int apply_madvise(struct remote *r, struct remote_batch *b, const VmaEntry *v)
{
	int ret = 0;
	for (int adv = 0; v->has_madv && adv < 64 && !ret; adv++)
		if (v->madv & (1ULL << adv))
			ret = batch_add(r, b, "madvise", __NR_madvise, v->start, v->end - v->start, adv,
					0, 0, 0);
	return ret;
}

/* "gu" (VM_MAYBE_GUARD) stays on a VMA once a guard region was installed
 * in it, even after the guards were removed.  A VMA that had it but no
 * guard left gets it back by installing and removing a guard on its first
 * page before the fill (installing zaps that page's contents). */
static int mark_maybe_guard(struct remote *r, struct remote_batch *b, const VmaEntry *v)
{
	if (!v->has_cryo_flags || !(v->cryo_flags & VMA_CRYO_MAYBE_GUARD) || v->n_guards)
		return 0;
	int ret = batch_add(r, b, "marking a VMA that had guard regions", __NR_madvise, v->start,
			    PAGE_SIZE, MADV_GUARD_INSTALL, 0, 0, 0);
	if (!ret)
		ret = batch_add(r, b, "marking a VMA that had guard regions", __NR_madvise, v->start,
				PAGE_SIZE, MADV_GUARD_REMOVE, 0, 0, 0);
	return ret;
}

int mem_restore_guards(struct remote *r, struct remote_batch *b, const MmEntry *mm,
		       const bool *only)
{
	int ret = 0;
	for (size_t i = 0; i < mm->n_vmas && !ret; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (only && !only[i])
			continue;
		for (size_t k = 0; k < v->n_guards && !ret; k++)
			ret = batch_add(r, b, "installing guard regions", __NR_madvise,
					v->guards[k]->start, v->guards[k]->end - v->guards[k]->start,
					MADV_GUARD_INSTALL, 0, 0, 0);
	}
	if (!ret)
		ret = remote_batch_exec(r, b, "installing guard regions");
	return ret;
}

int vma_lock(struct remote *r, struct remote_batch *b, const VmaEntry *v)
{
	if (v->has_cryo_flags && (v->cryo_flags & VMA_CRYO_LOCKONFAULT))
		return batch_add(r, b, "mlock2(MLOCK_ONFAULT)", __NR_mlock2, v->start,
				 v->end - v->start, MLOCK_ONFAULT, 0, 0, 0);
	return batch_add(r, b, "mlock", __NR_mlock, v->start, v->end - v->start, 0, 0, 0, 0);
}

int mem_restore_vmas_shared(struct remote *r, const struct mem_image *mi,
			    const struct files_restore *fr, struct page_source *src,
			    struct shmem_registry *reg)
{
	const MmEntry *mm = mi->mm;
	struct remote_batch *b = xzalloc(sizeof(*b));
	int ret = 0;
	if (!b)
		return -ENOMEM;

	for (size_t i = 0; i < mm->n_vmas && !ret; i++) {
		const VmaEntry *v = mm->vmas[i];
		if ((v->status & VMA_AREA_REGULAR) && !vma_is_special(v))
			ret = check_vma(v);
	}

	/* 1. mmap every private and file VMA, writable while being filled. */
	struct mapped_file *mf = NULL;
	int nmf = 0;
	if (!ret)
		ret = open_mapped_files(r, mi, fr, b, &mf, &nmf);
	for (size_t i = 0; i < mm->n_vmas && !ret; i++) {
		const VmaEntry *v = mm->vmas[i];
		bool proxy = mi->vdso_proxy && (v->status & VMA_AREA_VDSO);
		if (!(v->status & VMA_AREA_REGULAR) || (vma_is_special(v) && !proxy) ||
		    vma_is_shmem(v))
			continue;
		unsigned prot = v->prot | (vma_map_writable(mi, v) || proxy ? PROT_WRITE : 0);
		unsigned flags = (v->flags & (MAP_SHARED | MAP_PRIVATE | MAP_DROPPABLE | MAP_ANONYMOUS |
					      MAP_GROWSDOWN | MAP_NORESERVE | MAP_HUGETLB |
					      ((unsigned)MAP_HUGE_MASK << MAP_HUGE_SHIFT))) |
				 MAP_FIXED_NOREPLACE;
		long fd = -1;
		if (v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) {
			fd = mapped_fd(mf, nmf, v);
			if (fd < 0) {
				ret = -EINVAL;	/* open_mapped_files opened them all */
				break;
			}
			flags &= ~MAP_ANONYMOUS;
		} else if ((v->status & VMA_ANON_PRIVATE) || proxy) {
			flags |= MAP_ANONYMOUS | (flags & MAP_DROPPABLE ? 0 : MAP_PRIVATE);
		} else {
			pr_err("mm image: VMA 0x%llx-0x%llx has an unsupported kind (status 0x%x)",
			       (unsigned long long)v->start, (unsigned long long)v->end, v->status);
			ret = -EOPNOTSUPP;
			break;
		}
		ret = batch_add(r, b, "mapping memory", __NR_mmap, v->start, v->end - v->start, prot,
				flags, fd, v->pgoff);
		/* Huge-page advice before the fill, so the fill faults in huge pages. */
		if (!ret)
			ret = apply_madvise(r, b, v);
		if (!ret)
			ret = mark_maybe_guard(r, b, v);
	}
	if (!ret)
		ret = remote_batch_exec(r, b, "mapping memory");
	if (mf) {
		b->n = 0;
		int r2 = close_mapped_files(r, b, mf, nmf);
		ret = ret ? ret : r2;
		free(mf);
	}

	/* 2. Shared memory objects (created and filled by the first task). */
	if (!ret)
		ret = shmem_restore_vmas(r, mi, fr, reg);

	/* 3. Fill private pages straight from the pages image. */
	if (!ret)
		ret = pages_restore_fill(r, mi, src);

	/* 4. Guard regions, once the pages around them are filled. */
	if (!ret)
		ret = mem_restore_guards(r, b, mm, NULL);

	/* 5. Final protections, then mlock (which populates what it locks). */
	for (size_t i = 0; i < mm->n_vmas && !ret; i++) {
		const VmaEntry *v = mm->vmas[i];
		bool proxy = mi->vdso_proxy && (v->status & VMA_AREA_VDSO);
		if (!(v->status & VMA_AREA_REGULAR) || (vma_is_special(v) && !proxy))
			continue;
		bool fix = (vma_has_private_pages(v) && !(v->prot & PROT_WRITE)) ||
			   vma_is_shmem(v) ||	/* home mappings and SysV attach are RW */
			   proxy;
		if (fix)
			ret = batch_add(r, b, "setting protections", __NR_mprotect, v->start,
					v->end - v->start, v->prot, 0, 0, 0);
		if (!ret && (v->flags & MAP_LOCKED))
			ret = vma_lock(r, b, v);
	}
	if (!ret)
		ret = remote_batch_exec(r, b, "setting protections");
	free(b);
	return ret;
}

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/* Names of anonymous memory (PR_SET_VMA_ANON_NAME, 5.17; shared anonymous
 * memory 6.2): given last, with the seals, so that nothing the restore maps
 * or merges later drops or spreads them. */
static int mem_restore_anon_names(struct remote *r, const MmEntry *mm)
{
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!v->cryo_anon_name)
			continue;
		remote_scratch_reset(r);
		uint64_t a = remote_scratch_put(r, v->cryo_anon_name, strlen(v->cryo_anon_name) + 1);
		if (!a)
			return -ENOSPC;
		long ret = remote_syscall(r, __NR_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, v->start,
					  v->end - v->start, a, 0);
		if (ret)
			return log_errno(ret < 0 ? (int)ret : -EIO, "task %d: can't name anonymous "
					 "memory 0x%llx-0x%llx \"%s\" again (prctl PR_SET_VMA_ANON_NAME: "
					 "Linux 5.17+ with CONFIG_ANON_VMA_NAME)", r->tid,
					 (unsigned long long)v->start, (unsigned long long)v->end,
					 v->cryo_anon_name);
	}
	remote_scratch_reset(r);
	return 0;
}

/* mseal() makes a range immutable: no munmap, mremap, mprotect or
 * discarding madvise, for the life of the mm.  So it comes last, once
 * nothing will change the range: after the fill, the protections, the
 * guards and the children's forks (a fork copies the seal, and a child
 * restored from its parent's memory reshapes what it inherited).  A seal
 * is not visible to the task otherwise; the same range sealed again is a
 * no-op. */
int mem_restore_seals(struct remote *r, const MmEntry *mm)
{
	int nret = mem_restore_anon_names(r, mm);
	if (nret)
		return nret;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!v->has_cryo_flags || !(v->cryo_flags & VMA_CRYO_SEALED) ||
		    (v->status & VMA_AREA_VSYSCALL))	/* no VMA in the mm: never sealed */
			continue;
		long ret = remote_syscall(r, __NR_mseal, v->start, v->end - v->start, 0, 0, 0, 0);
		if (ret == -ENOSYS) {
			pr_err("task %d: mapping 0x%llx-0x%llx was sealed with mseal(), which this "
			       "kernel lacks (Linux 6.10+; CONFIG_64BIT): restore on a newer kernel",
			       r->tid, (unsigned long long)v->start, (unsigned long long)v->end);
			return -EOPNOTSUPP;
		}
		if (ret)
			return log_errno(ret, "task %d: can't seal mapping 0x%llx-0x%llx again (mseal)",
					 r->tid, (unsigned long long)v->start,
					 (unsigned long long)v->end);
	}
	return 0;
}

/* One process on its own: a registry for this restore alone. */
int mem_restore_vmas(struct remote *r, const struct mem_image *mi,
		     const struct files_restore *fr, struct page_source *src)
{
	struct shmem_registry reg;
	int ret = shmem_registry_init(&reg, mi->dirfd, 0, NULL);
	if (!ret)
		ret = mem_restore_vmas_shared(r, mi, fr, src, &reg);
	shmem_registry_free(&reg, ret != 0);
	return ret;
}
