/* Where a dump's pages go: the page sink.
 *
 * The dump side (pages_dump.c) walks each process's VMAs, decides which
 * runs of pages exist and copies their contents; a sink records them.  It
 * gets, per process:
 *
 *   open(pid, pages_id)   the images of one process begin (pagemap head);
 *   add_run(run)          one pagemap entry, in address order: pages whose
 *                         contents follow (PE_PRESENT), or pages kept
 *                         elsewhere (cow_parent: in the parent process's
 *                         image; PE_PARENT: in the previous dump's images);
 *   write(buf, len)       the contents of the PE_PRESENT runs, in order,
 *                         in chunks that need not match run boundaries;
 *   finish()              the process is complete (returns the first
 *                         error), or abort() if the walk failed.
 *
 * Shared memory objects (shmem_dump.c) go the same way, opened with
 * open_shmem(shmid, pages_id) instead: their runs are offsets in the
 * object.  One pagemap is open at a time.  end() once every pagemap is
 * written: a sink that sends them elsewhere returns when the other side
 * has them all (the dump commits only then).
 *
 * add_run() is called from the walking thread and may run ahead of the
 * write() of earlier runs' data, which comes from a writer thread (the copy
 * overlaps the output).  A sink that must interleave entries and data on
 * one stream (a page server socket, as criu's PS_IOV_ADD) keeps the entries
 * queued and sends each when its bytes arrive: write() counts are exact.
 *
 * add_run() may answer PAGE_SINK_SKIP for a PE_PRESENT run: the sink keeps
 * those pages without their contents (the incremental sink writes a
 * PE_PARENT entry for pages unchanged since the parent dump), and the walk
 * does not read them.  Such a sink says where its answer changes
 * (run_end()), and the walk splits its runs there.
 *
 * criu's struct page_xfer (write_pagemap / write_pages / write_hole) is the
 * same seam. */
#ifndef CRYO_MEM_PAGE_SINK_H
#define CRYO_MEM_PAGE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One pagemap entry as the walk found it. */
struct page_run {
	uint64_t vaddr;
	uint64_t nr_pages;
	unsigned flags;		/* PE_PRESENT, PE_PARENT, PE_LAZY (mem.h) */
	bool cow_parent;	/* cryo extension: the parent process's pages */
};

#define PAGE_SINK_SKIP 1	/* add_run(): don't send this run's contents */

struct page_sink;
struct page_sink_ops {
	int (*open)(struct page_sink *s, pid_t pid, uint32_t pages_id);
	int (*add_run)(struct page_sink *s, const struct page_run *run);
	/* Optional: the end of the longest run from @addr (below @end) that
	 * add_run() answers alike for. */
	uint64_t (*run_end)(struct page_sink *s, uint64_t addr, uint64_t end);
	int (*write)(struct page_sink *s, const void *buf, size_t len);
	int (*finish)(struct page_sink *s);
	void (*abort)(struct page_sink *s);
	/* the end of the dump: free the sink */
	void (*destroy)(struct page_sink *s);
	int (*open_shmem)(struct page_sink *s, uint64_t shmid, uint32_t pages_id);
	int (*end)(struct page_sink *s);	/* may be NULL */
};

struct page_sink {
	const struct page_sink_ops *ops;
	pid_t pid;		/* the process being written, for messages */
	/* the sink can't record cow_parent runs (criu's protocol has no such
	 * entry): the walk sends a child's shared pages whole */
	bool no_cow_parent;
};

/* The images directory @dirfd: pagemap-PID.img + pages-N.img. */
int page_sink_local(int dirfd, struct page_sink **out);

/* A page server (page_sink_server.c): criu's protocol on the connected
 * stream socket @sk (owned by the sink from now on, even on failure);
 * @peer names it in messages; @close_cmd ends the session with
 * PS_IOV_FLUSH_N_CLOSE (a socket the caller passed, which may outlive
 * cryo) instead of PS_IOV_FLUSH. */
int page_sink_server(int sk, const char *peer, bool close_cmd, struct page_sink **out);
/* --tls: the handshake and the peer's check on the page server sink @s
 * (mem/ps_tls.h); from then on the stream goes through TLS. */
struct ps_tls_opts;
int page_sink_server_tls(struct page_sink *s, const struct ps_tls_opts *o);
/* Connect to the page server at @address:@port (TCP). Returns the socket. */
int page_server_connect(const char *address, int port);

static inline int page_sink_end(struct page_sink *s)
{
	return s->ops->end ? s->ops->end(s) : 0;
}
/* An incremental dump (page_sink.c): pages that the previous dump in
 * @prev_dirfd holds (its pagemap-PID.img has them, PE_PRESENT or
 * PE_PARENT) and that were not written since (page_sink_set_clean(),
 * before each process's open: mem/track.h finds them) become PE_PARENT
 * entries with no contents; the rest goes to @inner, which the new sink
 * takes over (destroyed at once if this fails).  @prev_dirfd stays the
 * caller's. */
struct mem_page_runs;
int page_sink_incremental(struct page_sink *inner, int prev_dirfd, struct page_sink **out);
/* The clean pages of the next process opened (taken over: @clean is left
 * empty). */
void page_sink_set_clean(struct page_sink *s, struct mem_page_runs *clean);

static inline void page_sink_destroy(struct page_sink *s)
{
	if (s)
		s->ops->destroy(s);
}

#endif
