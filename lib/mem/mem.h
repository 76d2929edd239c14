/* Process memory: the VMA list (mm-PID.img) and page contents
 * (pagemap-PID.img indexing raw pages-N.img).  Only pages that exist are
 * saved: never-touched pages and the shared zero page are skipped. */
#ifndef CRYO_MEM_H
#define CRYO_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mm.pb-c.h"
#include "vma.pb-c.h"
#include "pagemap.pb-c.h"
#include "proc/proc.h"

/* CRIU's vma_entry.status bits (image ABI). */
#define VMA_AREA_REGULAR (1 << 0)
#define VMA_AREA_STACK (1 << 1)
#define VMA_AREA_VSYSCALL (1 << 2)
#define VMA_AREA_VDSO (1 << 3)
#define VMA_AREA_HEAP (1 << 5)
#define VMA_FILE_PRIVATE (1 << 6)
#define VMA_FILE_SHARED (1 << 7)
#define VMA_ANON_SHARED (1 << 8)
#define VMA_ANON_PRIVATE (1 << 9)
#define VMA_AREA_SYSVIPC (1 << 10)
#define VMA_AREA_SOCKET (1 << 11)
#define VMA_AREA_VVAR (1 << 12)
#define VMA_AREA_AIORING (1 << 13)
#define VMA_AREA_MEMFD (1 << 14)

/* pagemap_entry.flags */
#define PE_PARENT (1 << 0)
#define PE_LAZY (1 << 1)
#define PE_PRESENT (1 << 2)

struct files_dump;

struct mem_dump_stats {
	uint64_t pages_scanned;
	uint64_t pages_written;
	uint64_t memdump_ns;
};

/* Classify @maps into mm->vmas (allocated), registering mapped files with
 * @files.  Refuses (clearly) what can't be saved. */
int mem_dump_vmas(pid_t pid, const struct proc_maps *maps, struct files_dump *files, MmEntry *mm);
/* Save the pages of every private VMA into pagemap-@pid.img / pages-@pages_id.img. */
int mem_dump_pages(int dirfd, pid_t pid, const MmEntry *mm, uint32_t pages_id,
		   struct mem_dump_stats *stats);

/* True if the VMA's pages come from the image (private memory). */
bool vma_has_private_pages(const VmaEntry *v);
bool vma_is_special(const VmaEntry *v);	/* vdso, vvar, vsyscall */


/* ---- restore side ---- */
struct remote;
struct files_restore;

struct mem_image {
	MmEntry *mm;
	PagemapEntry **pe;
	int n_pe;
	uint32_t pages_id;
};
int mem_image_load(int dirfd, pid_t pid, struct mem_image *mi);
void mem_image_free(struct mem_image *mi);

/* In the task driven by @r (everything but the trampoline and the vDSO
 * already unmapped): map every VMA of the image, fill private pages from
 * the pages image open in the task as @pages_fd, set protections and
 * madvise flags. */
int mem_restore_vmas(struct remote *r, const struct mem_image *mi,
		     const struct files_restore *fr, int pages_fd);

/* pages_restore.c: fill private memory of the task from the pages image
 * (open in the task as @pages_fd), after mem_restore_vmas mapped it. */
int pages_restore_fill(struct remote *r, const struct mem_image *mi, int pages_fd);

#endif
