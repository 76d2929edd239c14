#include "mem/mem.h"
#include "files/files.h"
#include "images/image.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "compat/uapi-extra.h"


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

/* What cryo does with each VmFlag of a regular VMA (fs/proc/task_mmu.c
 * show_smap_vma_flags; the special mappings [vdso], [vvar], [vsyscall] are
 * taken as they are):
 *   restored:   rd wr ex (prot), sh ms (shared), mw (a shared file mapping's
 *               file reopened writable), gd, lo lf, dc wf dd hg nh mg sr rr
 *               (madvise), ac (accounting: a private VMA never writable is
 *               mapped without PROT_WRITE), nr (MAP_NORESERVE), dp
 *               (MAP_DROPPABLE), gu (guard regions), sl (mseal: sealed
 *               again as the last step of the task's memory);
 *   irrelevant: mr, me (a file mapping gets them from its mount again), sd
 *               (soft-dirty tracking state), dw (VM_DENYWRITE, old kernels);
 *   refused:    the rest, here or by kind in classify() (io pf ht de). */
struct vmf_refusal {
	int bit;
	const char *what;
};
static const struct vmf_refusal vmf_refused[] = {
	{ VMF_DE, "VM_DONTEXPAND, a mapping made by a driver" },
	{ VMF_SF, "MAP_SYNC on a DAX file, which cryo does not restore" },
	{ VMF_AR, "an architecture-specific flag (x86 VM_PAT: device memory)" },
	{ VMF_BT, "arm64 BTI-guarded code" },
	{ VMF_MM, "VM_MIXEDMAP, device or DAX memory" },
	{ VMF_UM, "a userfaultfd registration (missing pages)" },
	{ VMF_UW, "a userfaultfd registration (write-protect; if the tree was pre-dumped, a "
		  "cryo-track process holds its tracking: dump with --prev-images-dir naming "
		  "that pre-dump)" },
	{ VMF_UI, "a userfaultfd registration (minor faults)" },
	{ VMF_MT, "arm64 memory tagging" },
	{ VMF_SS, "a shadow stack (CET), which cryo does not restore" },
	{ VMF_NL, "remap_file_pages() nonlinear mapping" },
};

static int vmflags_check(pid_t pid, const struct proc_vma *pv)
{
	const char *name = pv->path ? pv->path : "anonymous";
	if (!pv->has_vmflags)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(vmf_refused); i++)
		if (pv->vmf & (1ULL << vmf_refused[i].bit)) {
			/* hugetlbfs sets VM_DONTEXPAND on its mappings */
			if (vmf_refused[i].bit == VMF_DE && pv->vm_hugetlb)
				continue;
			pr_err("process %d: mapping 0x%llx-0x%llx (%s) has VmFlag \"%s\", %s: "
			       "cryo can't restore it faithfully and refuses to dump it",
			       pid, (unsigned long long)pv->start, (unsigned long long)pv->end,
			       name, proc_vmf_name(vmf_refused[i].bit), vmf_refused[i].what);
			return -EOPNOTSUPP;
		}
	if (pv->vmf & VMF(UNKNOWN)) {
		pr_err("process %d: mapping 0x%llx-0x%llx (%s) has VmFlag \"%s\", which cryo does "
		       "not know: refusing rather than restoring it without (a newer cryo may know it)",
		       pid, (unsigned long long)pv->start, (unsigned long long)pv->end, name,
		       pv->vmf_unknown);
		return -EOPNOTSUPP;
	}
	/* Every mmap() sets VM_MAYREAD, and VM_MAYEXEC unless the file's mount
	 * is noexec: without them this is no mapping cryo knows how to make. */
	bool anon = !pv->path || pv->path[0] == '[';
	if (!(pv->vmf & VMF(MR)) || (anon && !(pv->vmf & VMF(ME)))) {
		pr_err("process %d: mapping 0x%llx-0x%llx (%s) lacks VmFlag \"%s\" that every "
		       "mmap() sets: cryo can't make such a mapping and refuses to dump it", pid,
		       (unsigned long long)pv->start, (unsigned long long)pv->end, name,
		       !(pv->vmf & VMF(MR)) ? "mr" : "me");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* log2 of the huge page size of hugetlb mapping @pv: its file's hugetlbfs
 * block size (an anonymous one too has a file, on the kernel's internal
 * mount of that size). */
static int hugetlb_shift(pid_t pid, const struct proc_vma *pv)
{
	char link[128];
	struct statfs sfs;
	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)pv->start, (unsigned long long)pv->end);
	if (statfs(link, &sfs))
		return_perror("can't find the huge page size of %s (statfs)", link);
	uint64_t bs = sfs.f_bsize > 0 ? (uint64_t)sfs.f_bsize : 0;
	if (bs < PAGE_SIZE || (bs & (bs - 1)) || (pv->start | pv->end) & (bs - 1)) {
		pr_err("process %d: hugetlb mapping 0x%llx-0x%llx has a page size of %ld bytes "
		       "that cryo can't use", pid, (unsigned long long)pv->start,
		       (unsigned long long)pv->end, (long)sfs.f_bsize);
		return -EOPNOTSUPP;
	}
	return __builtin_ctzll(bs);
}

/* Whether the file behind a mapping is on the secretmem pseudo file system
 * (its path alone, "/secretmem (deleted)", could be a real file's). */
static bool vma_is_secretmem(pid_t pid, const struct proc_vma *pv)
{
	char link[128];
	struct statfs sfs;
	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)pv->start, (unsigned long long)pv->end);
	return !statfs(link, &sfs) && sfs.f_type == SECRETMEM_MAGIC;
}

static int classify(pid_t pid, const struct proc_vma *pv, struct files_dump *files,
		    struct mem_dump_shared *sd, VmaEntry *v, MmEntry *mm)
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
	if (pv->vmf & VMF(NR))
		v->flags |= MAP_NORESERVE;
	v->has_cryo_flags = 1;
	if (pv->vmf & VMF(AC))
		v->cryo_flags |= VMA_CRYO_ACCOUNT;
	if (pv->vmf & VMF(LF))
		v->cryo_flags |= VMA_CRYO_LOCKONFAULT;
	if (pv->vmf & VMF(GU))
		v->cryo_flags |= VMA_CRYO_MAYBE_GUARD;
	if (pv->vmf & VMF(SL))
		v->cryo_flags |= VMA_CRYO_SEALED;
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
	/* private anonymous memory named with prctl(PR_SET_VMA_ANON_NAME):
	 * "[anon:NAME]" (the kernel allows no '[' or ']' in NAME), named again
	 * at the end of the restore.  Named shared anonymous memory
	 * ("[anon_shmem:NAME]", 6.2) is refused below as a kind cryo doesn't
	 * know: it is not tested yet (the test kernel has no
	 * CONFIG_ANON_VMA_NAME). */
	if (path && !strncmp(path, "[anon:", 6) && !pv->shared) {
		v->cryo_anon_name = strndup(path + 6, strlen(path + 6) - 1);
		if (!v->cryo_anon_name)
			return -ENOMEM;
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
		/* MAP_DROPPABLE is a mapping type of its own (VM_DROPPABLE, 6.11);
		 * its pages are private anonymous ones, saved as such */
		if (pv->vmf & VMF(DP))
			v->flags = (v->flags & ~MAP_PRIVATE) | MAP_DROPPABLE;
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
	if (!strcmp(path, "/[aio]"))
		return aio_dump_vma(pid, pv, v, mm);	/* aio.c */
	if (pv->vm_hugetlb || !strcmp(path, "/anon_hugepage")) {
		int shift = hugetlb_shift(pid, pv);
		if (shift < 0)
			return shift;
		if (!strcmp(path, "/anon_hugepage") && !pv->shared) {
			/* private anonymous huge pages: saved as private memory,
			 * mapped again with MAP_HUGETLB of the same page size
			 * (in the mmap flags, as criu) */
			v->flags |= MAP_ANONYMOUS | MAP_HUGETLB | ((uint64_t)shift << MAP_HUGE_SHIFT);
			v->status = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
			return 0;
		}
		/* Shared anonymous huge pages, memfds (shared or private) and
		 * SysV SHM_HUGETLB segments are shared memory objects (shmem.c)
		 * whose kind of pages the image keeps (MAP_HUGETLB here, the
		 * memfd's hugetlb_flag); a private mapping's written pages are
		 * its own anonymous copies (no PM_FILE in pagemap), saved with
		 * its private memory.  Files of a hugetlbfs mount, deleted
		 * (ghosts, filled through a mapping) or not, are mapped again
		 * from their path: a file mapping needs no MAP_HUGETLB. */
		bool hanon = !strcmp(path, "/anon_hugepage"), memfd = !strncmp(path, "/memfd:", 7);
		bool sysv = !strncmp(path, "/SYSV", 5);
		if (hanon || memfd || sysv)
			v->flags |= MAP_HUGETLB | ((uint64_t)shift << MAP_HUGE_SHIFT);
	}
	/* A packet socket's rings (mmap of the socket): not memory of the
	 * task's own but the socket's, mapped again from it once the task has
	 * its fds.  Not VMA_AREA_REGULAR, so nothing else here touches it;
	 * shmid is the socket's inode until the fds are dumped, then its file
	 * id (sockets/sk_packet.c). */
	unsigned long long sk_ino;
	char tail;
	if (sscanf(path, "socket:[%llu%c", &sk_ino, &tail) == 2 && tail == ']') {
		v->status = VMA_AREA_SOCKET;
		v->shmid = sk_ino;
		v->pgoff = pv->pgoff;
		return 0;
	}
	if (pv->deleted && !strcmp(path, "/secretmem") && vma_is_secretmem(pid, pv)) {
		/* memfd_secret() pages are out of the kernel's direct map: no
		 * other process reads them (not /proc/PID/mem, process_vm_readv
		 * nor ptrace), and cryo works from outside the task */
		pr_err("process %d maps secret memory (memfd_secret) at 0x%llx-0x%llx: cryo "
		       "can't save it yet (no process but its owner can read it); unmap it "
		       "before the dump", pid, (unsigned long long)pv->start,
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
	/* A shared mapping of a file opened for writing has VM_MAYWRITE ("mw")
	 * even when it is mapped read-only: the task may mprotect() it
	 * writable later, so the file is reopened read-write (the kernel
	 * clears "mw" when the file was opened read-only). */
	bool maywrite = pv->has_vmflags ? (pv->vmf & VMF(MW)) != 0 : (pv->prot & PROT_WRITE) != 0;
	v->has_fdflags = 1;
	v->fdflags = pv->shared && maywrite ? O_RDWR : O_RDONLY;
	return 0;
}

int mem_dump_vmas(pid_t pid, const struct proc_maps *maps, struct files_dump *files,
		  struct mem_dump_shared *sd, MmEntry *mm)
{
	char path[64];
	int ret = 0;
	mm->vmas = xzalloc(maps->n * sizeof(VmaEntry *));
	if (!mm->vmas)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	int pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return_perror("can't open %s", path);
	for (int i = 0; i < maps->n && !ret; i++) {
		const struct proc_vma *pv = &maps->v[i];
		if (pv->path && !strcmp(pv->path, "[uprobes]")) {
			/* the kernel's out-of-line area for instructions a uprobe
			 * replaced (made when a probe is first hit): the probes
			 * belong to the files, and the kernel makes the area again
			 * when one is hit after the restore */
			if (!files->opts || !files->opts->allow_uprobes) {
				pr_err("process %d has uprobes active (the kernel's [uprobes] "
				       "area at 0x%llx-0x%llx: a tracer such as perf, bpftrace or "
				       "a uprobe_events entry probes its code): --allow-uprobes "
				       "dumps it without that area", pid,
				       (unsigned long long)pv->start, (unsigned long long)pv->end);
				ret = -EOPNOTSUPP;
				break;
			}
			pr_info("process %d: the [uprobes] area at 0x%llx-0x%llx is not saved "
				"(--allow-uprobes)", pid, (unsigned long long)pv->start,
				(unsigned long long)pv->end);
			continue;
		}
		VmaEntry *v = xmalloc(sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			break;
		}
		mm->vmas[mm->n_vmas++] = v;
		ret = classify(pid, &maps->v[i], files, sd, v, mm);
		/* an AIO ring is the kernel's mapping ("de" among its VmFlags) */
		if (ret || !(v->status & VMA_AREA_REGULAR) || vma_is_special(v) ||
		    (v->status & VMA_AREA_AIORING))
			continue;
		ret = vmflags_check(pid, &maps->v[i]);
		if (!ret)
			ret = mem_dump_guards(pid, pm_fd, v);
	}
	close(pm_fd);
	return ret;
}
