/* Dirty-memory tracking between the dumps of an incremental chain
 * (`cryo pre-dump`, `cryo dump --prev-images-dir --track-mem`).
 *
 * Each process gets a userfaultfd made in its own mm (an injected
 * userfaultfd() call; cryo takes it with pidfd_getfd and closes it in the
 * task, which is left with no new descriptor).  Its private anonymous VMAs
 * are registered for write-protection in async mode
 * (UFFD_FEATURE_WP_ASYNC: the kernel resolves a write itself and only
 * clears the page's uffd-wp bit; the task never blocks), and their present
 * pages write-protected.  A later dump reads, per VMA, which pages were
 * written since with PAGEMAP_SCAN (PAGE_IS_WRITTEN), re-protecting them
 * for the next iteration (PM_SCAN_WP_MATCHING) in a pre-dump.  A VMA that
 * is not registered (mapped since, moved by mremap, a child forked since)
 * has no clean pages: it is written whole.
 *
 * Between two cryo invocations the descriptors are held by a small holder
 * process (track_hold.c) keyed by the images directory; the next dump
 * takes them from it.  If it is gone, so is the tracking (the kernel
 * unregisters the VMAs when the last descriptor closes): that dump is a
 * full one, and says so. */
#ifndef CRYO_MEM_TRACK_H
#define CRYO_MEM_TRACK_H

#include <stdbool.h>
#include <sys/types.h>

#include "mem/mem.h"

struct mem_track_proc {
	pid_t pid;
	int uffd;		/* its userfaultfd (in cryo) */
	int pidfd;		/* the process: a reused PID is not it */
};

struct mem_track {
	struct mem_track_proc *v;
	int n;
};

struct mem_track_proc *mem_track_find(struct mem_track *t, pid_t pid);
/* Takes @uffd and @pidfd over (closed on failure too). */
int mem_track_add(struct mem_track *t, pid_t pid, int uffd, int pidfd);
void mem_track_free(struct mem_track *t);
/* Drop the processes that exited or whose PID is another process now. */
void mem_track_prune(struct mem_track *t);

struct remote;
/* A new userfaultfd in the frozen process @pid, run through @r (its leader,
 * ready for injected calls), added to @t. */
int mem_track_start(struct mem_track *t, struct remote *r, pid_t pid);

/* The pages of @mm's private anonymous VMAs not written since the last
 * protection, into @clean (address order).  With @protect (a pre-dump):
 * the written pages are protected again, and VMAs not tracked yet are
 * registered and their pages protected (they have no clean pages this
 * time).  @tp NULL: nothing is tracked, nothing is clean. */
int mem_track_scan(struct mem_track_proc *tp, const MmEntry *mm, bool protect,
		   struct mem_page_runs *clean);

/* A process the dump tracks: the write-protect registrations in @maps
 * (VmFlag "uw") are cryo's own, not the process's (pre-dump refused a
 * process with its own); they end with the dump and are not restored. */
void mem_track_unflag(struct proc_maps *maps);

/* The holder (track_hold.c).  mem_track_hold(): fork a daemon holding
 * @t's descriptors for the images directory @dirfd (closes them here);
 * it exits when the dump after takes them, or when all the processes are
 * gone.  mem_track_take(): take them from the holder of the previous
 * dump's directory @prev_dirfd; 0 with @t empty (and a warning) if no
 * holder answers. */
int mem_track_hold(int dirfd, struct mem_track *t);
int mem_track_take(int prev_dirfd, const char *prev_name, struct mem_track *t);

#endif
