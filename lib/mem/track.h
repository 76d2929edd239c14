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
 * full one, and says so.
 *
 * The soft-dirty backend (track_sd.c), where the kernel lacks the above
 * but has CONFIG_MEM_SOFT_DIRTY: `echo 4 > /proc/PID/clear_refs` clears the
 * bits (and write-protects the ptes), bit 55 of each /proc/PID/pagemap
 * entry then says "written since".  The bits live in the page tables: no
 * descriptor, no holder; a pre-dump leaves a small marker file in its
 * images directory (the processes it cleared, with their start times) and
 * the next dump takes it (reads and removes it). */
#ifndef CRYO_MEM_TRACK_H
#define CRYO_MEM_TRACK_H

#include <stdbool.h>
#include <sys/types.h>

#include "kerndat/kerndat.h"
#include "mem/mem.h"

struct mem_track_proc {
	pid_t pid;
	int uffd;		/* its userfaultfd (in cryo); -1: soft-dirty */
	int pidfd;		/* the process: a reused PID is not it */
	bool fresh;		/* soft-dirty: bits not cleared by us yet */
};

struct mem_track {
	struct mem_track_proc *v;
	int n;
	/* the backend of this chain: the one the previous dump used when
	 * its tracking was taken, else the one chosen for a new one */
	enum kdat_dirty_track kind;
};

/* The backend a new tracking uses: kdat's choice (uffd-wp when it works,
 * else soft-dirty), or the one CRYO_TEST_DIRTY_TRACK (a test setting:
 * "uffd" or "soft-dirty") forces.  KDAT_DT_NONE with *@why saying what is
 * missing (a static or thread-local string). */
#define MEM_TRACK_ENV "CRYO_TEST_DIRTY_TRACK"
enum kdat_dirty_track mem_track_backend(const char **why);

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
/* Soft-dirty: @pid joins @t, fresh (nothing clean until it is cleared). */
int mem_track_start_sd(struct mem_track *t, pid_t pid);
/* After a pre-dump copied @tp's pages (frozen): soft-dirty clears its
 * bits (clear_refs 4) so that the next dump sees the writes since; uffd-wp
 * re-protected in mem_track_scan() already (nothing to do). */
int mem_track_rearm(struct mem_track_proc *tp);

/* The pages of @mm's private anonymous VMAs not written since the last
 * protection, into @clean (address order).  With @protect (a pre-dump):
 * the written pages are protected again, and VMAs not tracked yet are
 * registered and their pages protected (they have no clean pages this
 * time).  @tp NULL: nothing is tracked, nothing is clean.  Soft-dirty:
 * the pages present or swapped without bit 55 (@protect changes nothing:
 * see mem_track_rearm()). */
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

/* ---- soft-dirty (track_sd.c) ---- */
#define PME_PRESENT (1ULL << 63)
#define PME_SWAP (1ULL << 62)
#define PME_SOFT_DIRTY (1ULL << 55)
/* The marker a soft-dirty pre-dump leaves in its images directory. */
#define MEM_SD_MARKER "cryo-soft-dirty"

/* The decision from @n pagemap words @pme of the pages from @start: a page
 * present or swapped with bit 55 was written since the bits were cleared
 * (into @written), one without it was not (into @clean); a page that is
 * neither is not dumped at all.  Either may be NULL.  Runs are appended
 * in address order. */
int mem_sd_runs(const uint64_t *pme, size_t n, uint64_t start, struct mem_page_runs *written,
		struct mem_page_runs *clean);
/* The same for [@start, @end), reading the words from the pagemap file
 * @pm (/proc/PID/pagemap, or a test's file of crafted words); @pid names
 * it in messages. */
int mem_sd_scan(int pm, pid_t pid, uint64_t start, uint64_t end, struct mem_page_runs *written,
		struct mem_page_runs *clean);
/* `echo 4 > PROC/PID/clear_refs` (@proc: "/proc", or a test's directory). */
int mem_sd_clear_refs(const char *proc, pid_t pid);
/* Field 22 of PROC/PID/stat: the start time that tells a reused PID. */
int mem_sd_start_time(const char *proc, pid_t pid, unsigned long long *st);
/* Write @t as the marker in @dirfd (replacing one). */
int mem_sd_hold(int dirfd, struct mem_track *t, const char *proc);
/* Take the marker of @prev_dirfd (read, then removed): 1 when there is
 * none; 0 with @t holding the processes still running (the same PID and
 * start time; an unreadable marker is warned about: @t empty).  Whether
 * the kernel has the bits is mem_track_take()'s to check. */
int mem_sd_take(int prev_dirfd, const char *prev_name, struct mem_track *t, const char *proc);

#endif
