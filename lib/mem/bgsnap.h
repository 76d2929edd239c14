/* Background snapshot (cryo's extension: `dump --leave-running
 * --background-snapshot`): the tree is frozen only to collect its state
 * and write-protect its private anonymous memory with a userfaultfd in
 * synchronous write-protect mode; then it runs again while cryo copies the
 * pages.  A write to a page not copied yet faults to cryo, which saves the
 * page first and then un-protects it (as QEMU's background snapshot): the
 * image is the memory as of the freeze.
 *
 * Each process gets a userfaultfd made in its own mm (an injected
 * userfaultfd() without UFFD_USER_MODE_ONLY: a write by the kernel, a
 * read() into a protected buffer, must wait for cryo too rather than fail
 * with EFAULT); cryo takes it with pidfd_getfd and closes the task's copy.
 * cryo holds the only descriptor: if it dies, the kernel releases the
 * userfaultfd, which unregisters the memory and wakes every thread waiting
 * on a fault (they go on; nothing stays protected).
 *
 * Memory that can't be write-protected (private file mappings' own pages,
 * the vDSO, special mappings) is copied while the tree is frozen.  Layout
 * changes during the copy: mremap (UFFD_FEATURE_EVENT_REMAP) moves the
 * protected pages with it: cryo saves the ones not copied yet from their
 * new place.  Pages unmapped or dropped (munmap, MADV_DONTNEED) before cryo
 * copied them are gone: the dump fails, naming them (the tree runs on). */
#ifndef CRYO_MEM_BGSNAP_H
#define CRYO_MEM_BGSNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mm.pb-c.h"

struct bgsnap;
struct page_sink;
struct remote;
struct mem_dump_stats;

int bgsnap_new(struct bgsnap **out);
/* Ends the snapshot: closes the userfaultfds (the kernel unregisters the
 * memory and wakes any waiting thread) and frees the saved pages. */
void bgsnap_free(struct bgsnap *b);

/* Frozen: remember process @pid's VMAs (@mm) and its pages image id. */
int bgsnap_add(struct bgsnap *b, pid_t pid, pid_t img_pid, uint32_t pages_id, const MmEntry *mm);
/* Frozen, @r driving @pid's leader: make its userfaultfd. */
int bgsnap_uffd(struct bgsnap *b, struct remote *r, pid_t pid);
/* Frozen, after every injected call into @pid: list the pages to save,
 * write-protect them (or copy now those that can't be). */
int bgsnap_protect(struct bgsnap *b, pid_t pid, struct mem_dump_stats *st);
/* The tree runs: copy every process's pages into @sink (its pagemap and
 * pages images), serving write faults as they come. */
int bgsnap_copy(struct bgsnap *b, struct page_sink *sink, struct mem_dump_stats *st);

#endif
