/* Lazy restore (post-copy from local images): `cryo restore --lazy-pages`
 * with the `cryo lazy-pages` daemon.
 *
 * The restore maps every VMA as usual but leaves the pages of the private
 * anonymous ones (lazy_vma()) unfilled: their runs in the process's own
 * pages image, or in a previous dump's (PE_PARENT, whose pages image goes
 * along), are the lazy ranges.  Each process gets a userfaultfd made in
 * its own mm (an injected userfaultfd() while the task still has cryo's
 * credentials, taken with pidfd_getfd and closed in the task), on which
 * cryo registers those VMAs for missing faults once the whole tree is
 * restored (no fork event can then stop the restore's own forks), asking
 * for the fork, remap, remove and unmap events.  Before the release it
 * hands each process to the daemon listening on lazy-pages.socket in the
 * work directory (lazy_restore_*), and lets the tree run once the daemon
 * has answered.
 *
 * The wire (cryo's own, not criu's: criu's daemon reads the pagemaps
 * itself and sends nothing back): per process a struct lazy_msg with the
 * uffd, the pages image and a pidfd of the process (then nr_files previous
 * dumps' pages images) as SCM_RIGHTS, then nr_ranges struct lazy_range; a
 * lazy_msg with pid 0 ends the list, and
 * the daemon answers with an int32 (0 or a negative errno) once it serves.
 */
#ifndef CRYO_MEM_LAZY_H
#define CRYO_MEM_LAZY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mem/mem.h"

#define LAZY_SOCKET "lazy-pages.socket"
#define LAZY_MAGIC 0x4c5a5950u	/* "LZYP" */

struct lazy_msg {
	uint32_t magic;
	int32_t pid;		/* 0: the end of the list */
	uint32_t nr_ranges;
	uint32_t nr_files;	/* previous dumps' pages images after the 3 fds */
};

/* Pages [addr, addr + len) are at @off in the process's pages image, or
 * (LAZY_REMOTE: PE_LAZY entries of dump --lazy-pages) at the address @off
 * of the dumped process, asked of the dump's page server. */
struct lazy_range {
	uint64_t addr, len, off;
	uint64_t flags;
};
#define LAZY_REMOTE 1
/* (flags >> LAZY_FILE_SHIFT) n > 0: @off is in the n-th previous dump's
 * pages image sent with the process (PE_PARENT runs of a restore from an
 * incremental dump, as after cryo migrate's pre-copy). */
#define LAZY_FILE_SHIFT 8
#define LAZY_MAX_FILES 64

/* Can the pages of @v be left to the daemon?  Private anonymous, writable,
 * not locked (mlock populates) and without guard regions. */
bool lazy_vma(const VmaEntry *v);

/* Pages [@addr, @addr+@len) of @mi are filled at restore even where lazy:
 * the restore itself makes the kernel write there (a thread's rseq area,
 * which rseq registration updates), before the userfaultfd is registered;
 * a page the kernel made there would stop the daemon's copy (EEXIST). */
int lazy_add_eager(struct mem_image *mi, uint64_t addr, uint64_t len);

/* Is @addr in a lazy VMA of @mi (with @mi->lazy), and not an eager page? */
bool lazy_addr(const struct mem_image *mi, uint64_t addr);

struct page_source;
/* For the fill: how many bytes from @at (at most @n) are lazy, hence left
 * unfilled (0: fill them).  Only with @mi->lazy. */
uint64_t lazy_skip(const struct mem_image *mi, struct page_source *src, uint64_t at, uint64_t n);

struct lazy_proc {
	pid_t pid;
	int uffd;		/* in cryo */
};

struct lazy_restore {
	int sk;			/* to the daemon; 0: not connected */
	struct lazy_proc *v;
	int n;
};

/* Connect to the daemon's socket in @dirfd (the work directory, @dir
 * names it in messages): before any task exists, so that a restore
 * without a daemon leaves nothing behind. */
int lazy_restore_connect(struct lazy_restore *lr, int dirfd, const char *dir);
struct remote;
/* A userfaultfd made in process @pid (driven by @r), kept in @lr. */
int lazy_restore_uffd(struct lazy_restore *lr, struct remote *r, pid_t pid);
/* Register @pid's lazy VMAs on its userfaultfd and send it to the daemon
 * with @pages_fd (its pages image) and the lazy ranges of @mi; @prev (may
 * be NULL): its previous dumps' source, whose pages images go along for
 * the PE_PARENT runs of lazy VMAs. */
struct page_source;
int lazy_restore_send(struct lazy_restore *lr, pid_t pid, const struct mem_image *mi, int pages_fd,
		      struct page_source *prev);
/* The end of the list; waits for the daemon's answer.  Closes cryo's
 * copies of the userfaultfds (the daemon's must be the last ones: when it
 * ends they unregister). */
int lazy_restore_finish(struct lazy_restore *lr);
void lazy_restore_free(struct lazy_restore *lr);

/* dump --lazy-pages (lazy_dump.c): a sink in front of @inner that
 * writes the pages of lazy VMAs as PE_LAZY entries without their contents;
 * page_sink_lazy_set_mm() before each process (@tids: its threads, whose
 * rseq areas are written whole); then lazy_dump_serve() answers
 * PS_IOV_GET on the listening @lsk (@name in messages) with the pages of
 * the frozen processes @pids until the destination is done. */
struct page_sink;
int page_sink_lazy(struct page_sink *inner, struct page_sink **out);
int page_sink_lazy_set_mm(struct page_sink *s, const MmEntry *mm, const pid_t *tids, int ntids);
uint64_t page_sink_lazy_pages(struct page_sink *s);
struct ps_tls_opts;
/* @tls (NULL: none): --tls, the destination's certificate required. */
int lazy_dump_serve(int lsk, const char *name, const pid_t *pids, int npids,
		    const struct ps_tls_opts *tls);

struct lazy_daemon_args {
	const char *dir;	/* the work directory: its lazy-pages.socket */
	bool daemon;
	int status_fd;		/* -1: none */
	const char *pidfile;
	const char *address;	/* --page-server: the dump serving the pages */
	int port;		/* 0: the pages images of the work directory */
	const struct ps_tls_opts *tls;	/* --tls with --page-server, NULL: none */
};
/* The daemon's guard (lazy_guard.c): forked holding the caller's
 * descriptors (the userfaultfds among them); kills the processes of
 * @pidfds and their descendants if *@sk closes before a 'D' is sent on
 * it.  lazy_guard_pass(): one more userfaultfd for it to hold. */
int lazy_guard_start(const int *pidfds, int npidfds, int *sk, pid_t *guard);
int lazy_guard_pass(int sk, int fd);

/* --tls of lazy-pages --page-server (lazy_tls.c).  The handshake with the
 * dump runs on the O_NONBLOCK socket while the daemon waits for the
 * restore (lazy_tls_accept() goes on with it), and is finished, blocking,
 * once the restore has its answer (lazy_tls_finish()).  It cannot always
 * end before that answer: `cryo migrate`'s source accepts the connection
 * only once the destination's restore has answered, and that restore
 * waits for this daemon.  When the dump already serves (a lazy-pages
 * started by hand), a refused handshake ends the daemon before any
 * restore can begin. */
struct lazy_tls {
	int sk;			/* the connection to the dump */
	const char *name;	/* "HOST:PORT" */
	struct ps_tls *t;	/* NULL: no --tls */
	bool done;		/* the handshake is over */
};
int lazy_tls_begin(struct lazy_tls *lt, int sk, const char *name, const struct lazy_daemon_args *a);
/* The restore's connection on @lsk (of the work directory @dir); errors
 * logged. */
int lazy_tls_accept(struct lazy_tls *lt, int lsk, const char *dir);
int lazy_tls_finish(struct lazy_tls *lt);

/* `cryo lazy-pages`: serve one restore until every process's memory is
 * complete (lazy_daemon.c). */
int lazy_daemon_run(const struct lazy_daemon_args *a);

#endif
