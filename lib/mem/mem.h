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
#include "memfd.pb-c.h"
#include "ipc-shm.pb-c.h"
#include "files/files.h"
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

/* vma_entry.cryo_flags (cryo extension, field 1000, see vma.proto): VmFlags that
 * criu's image has no field for. */
#define VMA_CRYO_ACCOUNT (1 << 0)	/* "ac": charged to overcommit accounting */
#define VMA_CRYO_LOCKONFAULT (1 << 1)	/* "lf": mlock2(MLOCK_ONFAULT) */
#define VMA_CRYO_MAYBE_GUARD (1 << 2)	/* "gu": guard regions were installed */
#define VMA_CRYO_SEALED (1 << 3)	/* "sl": mseal()ed, sealed again last */

/* pagemap_entry.flags */
#define PE_PARENT (1 << 0)
#define PE_LAZY (1 << 1)
#define PE_PRESENT (1 << 2)

struct files_dump;
struct cr_img;

struct mem_dump_stats {
	uint64_t pages_scanned;
	uint64_t pages_written;
	uint64_t pages_cow;	/* left to the parent's image (cow_parent entries) */
	uint64_t pages_prev;	/* left to the previous dump's images (PE_PARENT) */
	uint64_t memdump_ns;
	uint64_t memwrite_ns;	/* of it, in the page sink's writes */
};

/* The runs of pages a process's pagemap image holds (written or left to
 * its parent), in address order: what its children may point at. */
struct mem_page_runs {
	uint64_t *start, *end;
	size_t n, cap;
};
void mem_page_runs_free(struct mem_page_runs *r);
/* Append [@start, @end) (after every run already there; joins a run it
 * continues). */
int mem_page_runs_add(struct mem_page_runs *r, uint64_t start, uint64_t end);

struct mem_dump_shared;
/* Classify @maps into mm->vmas (allocated), registering mapped files with
 * @files.  Shared memory objects (shared anonymous memory, memfd, SysV
 * segments) are saved through @sd the first time a VMA of them is seen.
 * Refuses (clearly) what can't be saved. */
int mem_dump_vmas(pid_t pid, const struct proc_maps *maps, struct files_dump *files,
		  struct mem_dump_shared *sd, MmEntry *mm);
/* The pages side of one dump (pages_dump.c): where the pages go (a page
 * sink, page_sink.h) and the copy buffers kept from one process to the
 * next.  page_dump_new() takes @sink over (destroyed with the dump, or at
 * once if it fails); page_dump_local(): the images directory @dirfd. */
struct page_dump;
struct page_sink;
int page_dump_new(struct page_sink *sink, struct page_dump **out);
int page_dump_local(int dirfd, struct page_dump **out);
struct page_sink *page_dump_sink(struct page_dump *pd);
void page_dump_free(struct page_dump *pd);
/* Save the pages of every private VMA to @pd's sink (pagemap-@pid.img /
 * pages-@pages_id.img for the images directory).  With @ppid (the parent,
 * still frozen; 0: none) and @parent_runs (what the parent's image holds),
 * pages that are the parent's own page at the same
 * address (same PFN: shared copy-on-write since the fork) are not written
 * but recorded as cow_parent entries.  @runs (may be NULL) gets this
 * process's runs.  @img_pid: the PID its pagemap is named by (as the
 * tree sees it). */
int mem_dump_pages(struct page_dump *pd, pid_t pid, pid_t img_pid, const MmEntry *mm,
		   uint32_t pages_id, pid_t ppid, const struct mem_page_runs *parent_runs,
		   struct mem_page_runs *runs, struct mem_dump_stats *stats);

/* guard.c: guard regions (MADV_GUARD_INSTALL).  Dump: record in @v->guards
 * the guard pages of the VMA of process @pid (@pm_fd: its /proc/PID/pagemap).
 * True if PAGEMAP_SCAN reports guard pages (PAGE_IS_GUARD, kernel 6.14). */
int mem_dump_guards(pid_t pid, int pm_fd, VmaEntry *v);
bool pagemap_scan_has_guard(void);
void vma_guards_free(VmaEntry *v);

/* aio.c: AIO contexts (io_setup rings).  Dump: classify the ring mapping
 * @pv as @v and add its aio_ring_entry to @mm; check in the task (driven by
 * @r) that each ring is a context of its own.  Restore: in the task, once
 * its memory is in place, make each context again at its old address
 * (@pages_fd: a regular file open in the task, read for positioning). */
int aio_dump_vma(pid_t pid, const struct proc_vma *pv, VmaEntry *v, MmEntry *mm);
void aio_dump_free(MmEntry *mm);
struct remote;
int aio_dump_check(struct remote *r, pid_t pid, const MmEntry *mm);
int aio_restore_rings(struct remote *r, const MmEntry *mm, int pages_fd);

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
	int dirfd;		/* the images directory (not owned) */
	uint64_t vdso_start, vdso_end;	/* the dumped [vdso], 0 if none */
	bool vdso_proxy;	/* map the dumped vDSO back as a proxy (vdso.c) */
	uint64_t vdso_new;	/* then: where this kernel's [vdso] is */
	bool lazy;		/* restore --lazy-pages: lazy runs left unfilled (lazy.h) */
	uint64_t *eager;	/* ... but these pages, sorted (lazy_add_eager) */
	int n_eager;
};
int mem_image_load(int dirfd, pid_t pid, struct mem_image *mi);
/* Only pagemap-@pid.img (a previous dump's pages, which has no mm);
 * @missing_ok: -ENOENT, not logged, if there is none. */
int mem_pagemap_load(int dirfd, pid_t pid, struct mem_image *mi, bool missing_ok);
void mem_image_free(struct mem_image *mi);

/* dedup.c: punch out (PUNCH_HOLE | KEEP_SIZE) of the previous dumps down
 * @dirfd's "parent" links the pages that @dirfd's own pages replace
 * (`cryo dedup`, dump --auto-dedup); with @restored, also every page a
 * restore from @dirfd read (restore --auto-dedup).  @dir names it. */
int mem_dedup(int dirfd, const char *dir, bool restored);

/* In the task driven by @r (everything but the trampoline and the vDSO
 * already unmapped): map every VMA of the image, fill private pages from
 * @src (page_source.h: for local images, the pages image open in the
 * task), set protections and madvise flags. */
struct page_source;
int mem_restore_vmas(struct remote *r, const struct mem_image *mi,
		     const struct files_restore *fr, struct page_source *src);

struct remote_batch;
/* Batch the guard-region installs of the VMAs of @mm (those with @only[i]
 * set if @only) and run them. */
int mem_restore_guards(struct remote *r, struct remote_batch *b, const MmEntry *mm,
		       const bool *only);
/* Seal the VMAs of @mm that were mseal()ed, in the task driven by @r: the
 * last change to its mappings. */
int mem_restore_seals(struct remote *r, const MmEntry *mm);
/* Batch the mlock of a VMA with MAP_LOCKED (mlock2(MLOCK_ONFAULT) for "lf"). */
int vma_lock(struct remote *r, struct remote_batch *b, const VmaEntry *v);

/* vdso.c: in the task driven by @r, where the dumped vDSO was mapped back
 * at [@old_start, @old_end) and this kernel's vDSO sits at @new_start,
 * make each function of the old one jump to the new one. */
int vdso_proxy_patch(struct remote *r, uint64_t old_start, uint64_t old_end, uint64_t new_start);

/* pages_restore.c: fill private memory of the task from @src (the pages
 * of @mi's runs), after mem_restore_vmas mapped it. */
int pages_restore_fill(struct remote *r, const struct mem_image *mi, struct page_source *src);
/* True if the image holds pages in [@start, @end). */
bool mem_image_has_pages(const struct mem_image *mi, uint64_t start, uint64_t end);
/* Is the private VMA @v mapped writable for its fill?  Not when that would
 * charge it to overcommit accounting where the kernel had not ("ac" not
 * recorded): a PROT_NONE reservation of 64 GiB must not need 64 GiB of
 * commit.  Pages of such a VMA are written through /proc/PID/mem. */
bool vma_map_writable(const struct mem_image *mi, const VmaEntry *v);
/* Write @n bytes of @src's pages at @at into the task through
 * /proc/TID/mem (opened once into *@mem_fd, with a buffer *@buf: the
 * caller closes and frees them). */
int pages_fill_forced(struct remote *r, int *mem_fd, char **buf, struct page_source *src,
		      uint64_t at, uint64_t n);


/* ---- shared memory objects (lib/mem/shmem.c, memory kinds) ----
 *
 * Image form (as CRIU):
 *   - shared anonymous memory: vma status VMA_ANON_SHARED, shmid = the
 *     object's inode number; contents in pagemap-shmem-SHMID.img (vaddr =
 *     offset in the object) + pages-N.img; mapped MAP_PRIVATE (through
 *     map_files) also VMA_FILE_PRIVATE, its written pages in pagemap-PID;
 *   - memfd: vma status VMA_AREA_MEMFD | VMA_FILE_SHARED/PRIVATE, shmid = id
 *     of a FD_TYPES__MEMFD entry in files.img, whose inode_id names a
 *     memfd_inode_entry in memfd.img (name, size, owner, mode, seals,
 *     shmid = inode number); contents in pagemap-shmem-SHMID.img;
 *   - SysV shared memory: vma status VMA_ANON_SHARED | VMA_AREA_SYSVIPC,
 *     shmid = the segment id; the segment (key, owner, mode, size) in
 *     ipcns-shm-0.img (0: the IPC namespace cryo shares, not itself
 *     dumped) and its contents in pagemap-shmem-SHMID.img.
 */

struct shmem_seen;

/* Dump side, one per dump (all processes of the tree). */
struct mem_dump_shared {
	int dirfd;
	uint32_t *next_pages_id;	/* pages-N.img numbering shared with mem_dump_pages */
	struct page_sink *sink;		/* where the contents go: the dump's page sink */
	struct shmem_seen *seen;
	int nr_seen;
	uint32_t next_memfd_inode_id;
	struct cr_img *memfd_img;	/* memfd.img, opened at the first memfd */
	struct cr_img *ipc_shm_img;	/* ipcns-shm-0.img, at the first SysV segment */
	uint64_t pages_written;
	uint64_t pages_scanned;		/* the objects' sizes, in pages */
	uint64_t write_ns;		/* in the page sink's writes */
	bool active;			/* between init and fini */
};
void mem_dump_shared_init(struct mem_dump_shared *sd, int dirfd, uint32_t *next_pages_id);
/* Close the images written; returns the first write error. */
int mem_dump_shared_fini(struct mem_dump_shared *sd);

/* Classification helpers used by mem_dump.c (shmem.c). */
int shmem_dump_vma(struct mem_dump_shared *sd, struct files_dump *files, pid_t pid,
		   const struct proc_vma *pv, VmaEntry *v);

/* Restore side: which shared objects exist already, and where. One per
 * restore (all processes).  Tree restore: call shmem_registry_note() for
 * every process before the first one's memory is restored (objects are
 * sized from all their mappings), then mem_restore_vmas_shared() for each
 * process in tree order: the first process that maps an object creates
 * and fills it, later ones map it through /proc/CREATOR/map_files. */
struct shmem_obj;
struct shmem_registry {
	int dirfd;
	/* SysV segments: ipcns-shm-ID.img of the tree's IPC namespace (0:
	 * cryo's own, whose segments are saved as the tree attached them),
	 * and the namespace cryo makes them in (NULL or -1: its own) */
	uint32_t ipc_img_id;
	const struct ns_set *ns;
	struct shmem_obj *objs;
	int nr_objs;
	MemfdInodeEntry **memfd;
	int nr_memfd;
	IpcShmEntry **ipc;
	int nr_ipc;
	bool loaded;
	bool active;			/* between init and free */
};
int shmem_registry_init(struct shmem_registry *reg, int dirfd, uint32_t ipc_img_id,
			const struct ns_set *ns);
int shmem_registry_note(struct shmem_registry *reg, const struct files_restore *fr,
			const MmEntry *mm);
/* @failed: remove the SysV segments this restore created. */
void shmem_registry_free(struct shmem_registry *reg, bool failed);
/* Close cryo's own memfd descriptors: once the tasks have theirs, before
 * they run (a memfd held open for writing here can't be executed). */
void shmem_registry_close_fds(struct shmem_registry *reg);

/* mem_restore_vmas() with a registry shared by the processes of a tree. */
int mem_restore_vmas_shared(struct remote *r, const struct mem_image *mi,
			    const struct files_restore *fr, struct page_source *src,
			    struct shmem_registry *reg);

/* In the task: map the shared VMAs of @mi (creating objects as needed). */
int shmem_restore_vmas(struct remote *r, const struct mem_image *mi,
		       const struct files_restore *fr, struct shmem_registry *reg);
bool vma_is_shmem(const VmaEntry *v);

/* memfd descriptors (lib/files/memfd.c) share memfd.img with mappings:
 * the hooks files_dump.memfd / files_restore.memfd of a dump sharing @sd
 * and of a restore sharing @reg (at restore, a memfd no restored task
 * maps is created in cryo). */
struct files_memfd_ops shmem_memfd_dump_ops(struct mem_dump_shared *sd);
struct files_memfd_ops shmem_memfd_restore_ops(struct shmem_registry *reg);

/* mem_inherit.c: memory of a child forked from its restored parent; keeps
 * what is shared copy-on-write with the parent (see the file's comment).
 * @pages_fd and @parent_pages_fd are open both in cryo and in the task at
 * the same numbers. */
struct mem_cow_stats {
	uint64_t pages_compared;
	uint64_t pages_skipped_cow;
};
/* A process's images, open in cryo and in the task at @pages_fd. */
struct mem_source {
	const struct mem_image *mi;
	int pages_fd;
	struct page_source *prev;	/* its previous dumps' (PE_PARENT runs), or NULL */
};
/* @self: the child's images; @anc: the parent's images, then the
 * grandparent's, ... (@nanc of them): where the child's cow_parent pages
 * are read from when they can't be kept.  @before_map(@arg), if not NULL,
 * runs once the parent's VMAs the child has not are unmapped and before the
 * child's own are mapped (where the vDSO is moved). */
int mem_restore_inherited(struct remote *r, const struct mem_source *self,
			  const struct mem_source *anc, int nanc,
			  const struct files_restore *fr,
			  struct shmem_registry *reg, struct mem_cow_stats *st,
			  int (*before_map)(void *arg), void *arg);

#endif
