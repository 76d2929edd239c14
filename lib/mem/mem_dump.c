#include "mem/mem.h"
#include "files/files.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


bool vma_is_special(const VmaEntry *v)
{
	return v->status & (VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL);
}

bool vma_has_private_pages(const VmaEntry *v)
{
	if (!(v->status & VMA_AREA_REGULAR) || vma_is_special(v))
		return false;
	return v->status & (VMA_ANON_PRIVATE | VMA_FILE_PRIVATE);
}

static uint64_t madv_bits(const struct proc_vma *pv)
{
	uint64_t m = 0;
	if (pv->vm_hugepage)
		m |= 1ULL << MADV_HUGEPAGE;
	if (pv->vm_nohugepage)
		m |= 1ULL << MADV_NOHUGEPAGE;
	if (pv->vm_dontfork)
		m |= 1ULL << MADV_DONTFORK;
	if (pv->vm_dontdump)
		m |= 1ULL << MADV_DONTDUMP;
	if (pv->vm_wipeonfork)
		m |= 1ULL << MADV_WIPEONFORK;
	if (pv->vm_mergeable)
		m |= 1ULL << MADV_MERGEABLE;
	if (pv->vm_seq_read)
		m |= 1ULL << MADV_SEQUENTIAL;
	if (pv->vm_rand_read)
		m |= 1ULL << MADV_RANDOM;
	return m;
}

static int classify(pid_t pid, const struct proc_vma *pv, struct files_dump *files,
		    struct mem_dump_shared *sd, VmaEntry *v)
{
	const char *path = pv->path;
	vma_entry__init(v);
	v->has_start = v->has_end = v->has_pgoff = v->has_shmid = 1;
	v->has_prot = v->has_flags = v->has_status = v->has_fd = 1;
	v->start = pv->start;
	v->end = pv->end;
	v->prot = pv->prot;
	v->fd = -1;
	v->flags = pv->shared ? MAP_SHARED : MAP_PRIVATE;
	if (pv->vm_locked)
		v->flags |= MAP_LOCKED;	/* as CRIU: "lo" is kept in the mmap flags */
	uint64_t madv = madv_bits(pv);
	if (madv) {
		v->has_madv = 1;
		v->madv = madv;
	}

	if (path && !strcmp(path, "[vsyscall]")) {
		v->status = VMA_AREA_VSYSCALL;
		v->flags = MAP_PRIVATE | MAP_ANONYMOUS;
		return 0;
	}
	if (path && !strcmp(path, "[vdso]")) {
		v->status = VMA_AREA_REGULAR | VMA_AREA_VDSO;
		v->flags = MAP_PRIVATE | MAP_ANONYMOUS;
		return 0;
	}
	if (path && (!strcmp(path, "[vvar]") || !strcmp(path, "[vvar_vclock]"))) {
		v->status = VMA_AREA_REGULAR | VMA_AREA_VVAR;
		v->flags = MAP_PRIVATE | MAP_ANONYMOUS;
		return 0;
	}
	if (pv->vm_io || pv->vm_pfnmap) {
		pr_err("process %d maps a device at 0x%llx-0x%llx (%s): I/O mappings can't be "
		       "saved", pid, (unsigned long long)pv->start, (unsigned long long)pv->end,
		       path ? path : "anonymous");
		return -EOPNOTSUPP;
	}
	bool anon = !path || path[0] == '[';
	if (anon && path && strcmp(path, "[heap]") && strcmp(path, "[stack]") &&
	    strncmp(path, "[anon:", 6)) {
		pr_err("process %d has a mapping of an unknown kind %s at 0x%llx-0x%llx: cryo "
		       "can't save it", pid, path, (unsigned long long)pv->start,
		       (unsigned long long)pv->end);
		return -EOPNOTSUPP;
	}
	if (anon) {
		if (pv->shared) {
			pr_err("process %d has shared anonymous memory at 0x%llx-0x%llx: not "
			       "supported yet", pid, (unsigned long long)pv->start,
			       (unsigned long long)pv->end);
			return -EOPNOTSUPP;
		}
		v->flags |= MAP_ANONYMOUS;
		v->status = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
		if (path && !strcmp(path, "[heap]"))
			v->status |= VMA_AREA_HEAP;
		if (pv->vm_growsdown || (path && !strcmp(path, "[stack]"))) {
			v->flags |= MAP_GROWSDOWN;
			if (path && !strcmp(path, "[stack]"))
				v->status |= VMA_AREA_STACK;
		}
		return 0;
	}
	if (!strcmp(path, "/[aio]")) {
		pr_err("process %d has an AIO ring (io_setup) at 0x%llx-0x%llx: AIO contexts are "
		       "not supported yet", pid, (unsigned long long)pv->start,
		       (unsigned long long)pv->end);
		return -EOPNOTSUPP;
	}
	if (pv->vm_hugetlb || !strcmp(path, "/anon_hugepage")) {
		pr_err("process %d maps hugetlb memory (%s) at 0x%llx-0x%llx: hugetlb mappings are not "
		       "supported yet", pid, path, (unsigned long long)pv->start,
		       (unsigned long long)pv->end);
		return -EOPNOTSUPP;
	}
	/* Shared memory objects: shared anonymous ("/dev/zero (deleted)"),
	 * memfd, SysV (shmem.c saves their contents). */
	int ret = shmem_dump_vma(sd, files, pid, pv, v);
	if (ret != -ENOENT)
		return ret;
	/* deleted files are saved as ghosts (lib/files/ghost.c) */
	char link[128];
	uint32_t id;
	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)pv->start, (unsigned long long)pv->end);
	ret = files_dump_link(files, pid, link, "a mapped file", &id);
	if (ret)
		return ret;
	v->shmid = id;
	v->pgoff = pv->pgoff;
	v->status = VMA_AREA_REGULAR | (pv->shared ? VMA_FILE_SHARED : VMA_FILE_PRIVATE);
	if (pv->shared && (pv->prot & PROT_WRITE)) {
		v->has_fdflags = 1;
		v->fdflags = O_RDWR;
	} else {
		v->has_fdflags = 1;
		v->fdflags = O_RDONLY;
	}
	return 0;
}

int mem_dump_vmas(pid_t pid, const struct proc_maps *maps, struct files_dump *files,
		  struct mem_dump_shared *sd, MmEntry *mm)
{
	mm->vmas = xzalloc(maps->n * sizeof(VmaEntry *));
	if (!mm->vmas)
		return -ENOMEM;
	for (int i = 0; i < maps->n; i++) {
		VmaEntry *v = xmalloc(sizeof(*v));
		if (!v)
			return -ENOMEM;
		mm->vmas[mm->n_vmas++] = v;
		int ret = classify(pid, &maps->v[i], files, sd, v);
		if (ret)
			return ret;
	}
	return 0;
}
