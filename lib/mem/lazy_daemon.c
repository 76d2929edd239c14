/* `cryo lazy-pages`: fills in the memory of a tree restored with
 * --lazy-pages (lazy.h).
 *
 * One restore connects to lazy-pages.socket and hands over, per process,
 * its userfaultfd, its pages image, a pidfd and the lazy ranges.  The
 * daemon keeps, per mm (a restored process, or a child forked since), the
 * ranges with a bitmap of the pages still missing.  Single-threaded, it
 * polls every userfaultfd and:
 *   - a fault on a missing page: copies it and up to FAULT_PAGES missing
 *     pages after it (UFFDIO_COPY); a fault anywhere else in a registered
 *     VMA (a hole of the image, a page removed since) gets the zero page
 *     (UFFDIO_ZEROPAGE).  Threads faulting on one page at once: the
 *     second copy finds it there (EEXIST) and only wakes them;
 *   - between faults, copies BG_PAGES at a time in address order from
 *     the last fault on (a background pass near recent faults);
 *   - events: fork (a new mm with the parent's missing pages and the
 *     child's userfaultfd), remap (the missing pages move), remove
 *     (MADV_DONTNEED) and unmap (the pages are gone: a later fault there
 *     reads zeros);
 *   - a process that exited: UFFDIO_COPY fails with ESRCH, its mm is done.
 * A copy while the tree changes its mappings fails with EAGAIN until the
 * event is read: the fault is retried after the events.
 * It exits once no mm misses a page; closing the userfaultfds unregisters
 * the memory, so the tree runs on without it.
 *
 * If the daemon dies first, the kernel would unregister the memory and the
 * tree would read zeros where pages are missing.  A guard process, forked
 * once the tree is handed over, holds a copy of every userfaultfd (the
 * daemon sends it those of forks), so that the faulting threads stay
 * blocked, and when the daemon's end of their socket closes without its
 * "done", it kills the restored processes and their descendants
 * (lazy_guard.c). */
#include "mem/lazy.h"
#include "mem/page_sink.h"
#include "mem/page_xfer.h"
#include "mem/ps_tls.h"
#include "util/log.h"
#include "util/util.h"

#include <linux/userfaultfd.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAULT_PAGES 16		/* copied on a fault: the page and those after it */
#define BG_PAGES 256		/* copied per background step (1 MiB) */
#define MAX_RANGES (1u << 20)

struct lz_range {
	uint64_t addr, len, off;	/* off: in the pages image, or (remote) the
					 * dumped process's address */
	uint64_t *miss;		/* a bit per page: 1 = still missing */
	bool remote;
	int fd;			/* the pages image @off is in (not owned) */
};

struct lz_mm {
	int uffd;
	int pages_fd;		/* not owned: lz.fds */
	pid_t pid;		/* 0: forked since the restore */
	pid_t src_pid;		/* whose pages: the dumped process it comes from */
	struct lz_range *r;
	int nr;
	uint64_t missing;	/* pages */
	uint64_t cursor;	/* the background pass goes on from here */
	bool gone;
};

struct lz_retry {
	struct lz_mm *mm;
	uint64_t addr;
};

struct lz {
	struct lz_mm **mm;
	int nmm, rr;
	int *fds;		/* pages images and pidfds */
	int nfds;
	int *pidfds;
	int npidfds;
	struct lz_retry *retry;
	int nretry, nretry_alloc;
	int guard_sk;
	pid_t guard;
	char *buf;
	uint64_t faults, fault_pages, bg_pages, zero_pages;
	int ps;			/* --page-server: the dump serving PE_LAZY pages, -1 */
	struct lazy_tls tls;	/* --tls: lz->ps goes through tls.t */
	const char *ps_name;
	uint64_t remote_gets;
};

static bool bit(const uint64_t *m, uint64_t i)
{
	return m[i / 64] & (1ULL << (i % 64));
}

static void bit_clear(uint64_t *m, uint64_t i)
{
	m[i / 64] &= ~(1ULL << (i % 64));
}

static uint64_t *bitmap_new(uint64_t n, bool set)
{
	uint64_t words = (n + 63) / 64;
	uint64_t *m = xzalloc(words * 8 + 8);
	if (m && set) {
		memset(m, 0xff, words * 8);
		if (n % 64)
			m[words - 1] = (1ULL << (n % 64)) - 1;
	}
	return m;
}

/* The first set bit at or after @i, or @n. */
static uint64_t bit_next(const uint64_t *m, uint64_t i, uint64_t n)
{
	while (i < n) {
		uint64_t w = m[i / 64] >> (i % 64);
		if (w)
			return MIN(n, i + __builtin_ctzll(w));
		i = (i / 64 + 1) * 64;
	}
	return n;
}

static int range_of(const struct lz_mm *mm, uint64_t addr)
{
	int lo = 0, hi = mm->nr - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (addr < mm->r[mid].addr)
			hi = mid - 1;
		else if (addr >= mm->r[mid].addr + mm->r[mid].len)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

static void mm_free(struct lz_mm *mm)
{
	for (int i = 0; i < mm->nr; i++)
		free(mm->r[i].miss);
	free(mm->r);
	mm->r = NULL;
	mm->nr = 0;
	mm->missing = 0;
}

/* The process is gone (ESRCH: its mm exited): nothing more to fill. */
static void mm_gone(struct lz_mm *mm)
{
	if (!mm->gone && mm->missing)
		pr_debug("lazy-pages: %s%d exited with %llu pages not filled",
			 mm->pid ? "process " : "a child forked since, uffd ", mm->pid ? mm->pid : mm->uffd,
			 (unsigned long long)mm->missing);
	mm->gone = true;
	mm_free(mm);
}

static int add_mm(struct lz *lz, struct lz_mm *mm)
{
	struct lz_mm **v = xrealloc(lz->mm, sizeof(*v) * (lz->nmm + 1));
	if (!v)
		return -ENOMEM;
	lz->mm = v;
	lz->mm[lz->nmm++] = mm;
	return 0;
}

static int add_fd(int **v, int *n, int fd)
{
	int *nv = xrealloc(*v, sizeof(int) * (*n + 1));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	(*v)[(*n)++] = fd;
	return 0;
}

/* Pages [@pg, @pg+@n) of range @ri are there now (or will never be). */
static void mark_done(struct lz_mm *mm, int ri, uint64_t pg, uint64_t n)
{
	for (uint64_t i = pg; i < pg + n; i++)
		if (bit(mm->r[ri].miss, i)) {
			bit_clear(mm->r[ri].miss, i);
			mm->missing--;
		}
}

static void wake(struct lz_mm *mm, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { addr, len };
	ioctl(mm->uffd, UFFDIO_WAKE, &r);
}

/* The pages [@vaddr, +@n pages) of the dumped process @pid, from the dump
 * serving them (lazy_dump.c), into lz->buf.  A dump gone is fatal: the
 * guard then kills the tree. */
static int remote_get(struct lz *lz, pid_t pid, uint64_t vaddr, uint64_t n)
{
	struct ps_iov q = { PS_IOV_GET, (uint32_t)n, vaddr, ps_dst_id(PS_TYPE_PID, pid) }, a;
	int ret = ps_io_write_all(lz->ps, lz->tls.t, &q, sizeof(q));
	if (!ret && ps_io_read_all(lz->ps, lz->tls.t, &a, sizeof(a)) != sizeof(a))
		ret = -EPIPE;
	if (ret)
		return log_errno(ret, "lazy-pages: the dump's page server %s is gone (asking for "
				 "0x%llx of process %d)", lz->ps_name, (unsigned long long)vaddr, pid);
	if (a.nr_pages != n || a.vaddr != vaddr) {
		pr_err("lazy-pages: the dump's page server %s has no pages 0x%llx+%llu of process "
		       "%d (it answered %u pages at 0x%llx)", lz->ps_name, (unsigned long long)vaddr,
		       (unsigned long long)n, pid, a.nr_pages, (unsigned long long)a.vaddr);
		return -EIO;
	}
	if (ps_io_read_all(lz->ps, lz->tls.t, lz->buf, n * PAGE_SIZE) != (ssize_t)(n * PAGE_SIZE))
		return log_errno(-EPIPE, "lazy-pages: the dump's page server %s is gone in the "
				 "middle of the pages 0x%llx+%llu of process %d", lz->ps_name,
				 (unsigned long long)vaddr, (unsigned long long)n, pid);
	lz->remote_gets++;
	return 0;
}

/* Copy the missing pages [@pg, @pg+@n) of range @ri.  -EAGAIN: the tree
 * is changing its mappings (read the events, then retry). */
static int copy_pages(struct lz *lz, struct lz_mm *mm, int ri, uint64_t pg, uint64_t n)
{
	struct lz_range *r = &mm->r[ri];
	uint64_t addr = r->addr + pg * PAGE_SIZE, len = n * PAGE_SIZE;
	if (r->remote) {
		int ret = remote_get(lz, mm->src_pid, r->off + pg * PAGE_SIZE, n);
		if (ret)
			return ret;
		goto copy;
	}
	ssize_t got = pread(r->fd, lz->buf, len, r->off + pg * PAGE_SIZE);
	if (got != (ssize_t)len) {
		int e = got < 0 ? errno : EIO;
		pr_err("lazy-pages: can't read the pages of 0x%llx-0x%llx from the pages image at "
		       "offset %llu: %s", (unsigned long long)addr, (unsigned long long)(addr + len),
		       (unsigned long long)(r->off + pg * PAGE_SIZE), strerror(e));
		return -e;
	}
copy:;
	struct uffdio_copy c = { .dst = addr, .src = (uintptr_t)lz->buf, .len = len };
	if (!ioctl(mm->uffd, UFFDIO_COPY, &c)) {
		mark_done(mm, ri, pg, n);
		return 0;
	}
	int e = errno;
	if (c.copy > 0)		/* a part went in */
		mark_done(mm, ri, pg, (uint64_t)c.copy / PAGE_SIZE);
	switch (e) {
	case EEXIST:
		/* some page is there already (threads faulting at once):
		 * page by page, waking whoever waits on the ones that are */
		if (n > 1) {
			for (uint64_t i = 0; i < n; i++) {
				if (!bit(r->miss, pg + i))
					continue;
				int ret = copy_pages(lz, mm, ri, pg + i, 1);
				if (ret)
					return ret;
			}
			return 0;
		}
		mark_done(mm, ri, pg, 1);
		wake(mm, addr, PAGE_SIZE);
		return 0;
	case EAGAIN:
		return -EAGAIN;
	case ESRCH:
		mm_gone(mm);
		return -ESRCH;
	case ENOENT:
		/* no registered VMA there any more (an unmap whose event we
		 * have not read yet would have said EAGAIN) */
		mark_done(mm, ri, pg, n);
		return 0;
	default:
		return log_errno(-e, "lazy-pages: UFFDIO_COPY of 0x%llx-0x%llx into %s %d failed",
				 (unsigned long long)addr, (unsigned long long)(addr + len),
				 mm->pid ? "process" : "the child with uffd", mm->pid ? mm->pid : mm->uffd);
	}
}

static int zero_page(struct lz *lz, struct lz_mm *mm, uint64_t addr)
{
	struct uffdio_zeropage z = { .range = { addr, PAGE_SIZE } };
	if (!ioctl(mm->uffd, UFFDIO_ZEROPAGE, &z)) {
		lz->zero_pages++;
		return 0;
	}
	switch (errno) {
	case EEXIST:		/* filled meanwhile: wake the thread */
		wake(mm, addr, PAGE_SIZE);
		return 0;
	case EAGAIN:
		return -EAGAIN;
	case ESRCH:
		mm_gone(mm);
		return 0;
	case ENOENT:
		return 0;
	default:
		return log_errno(-errno, "lazy-pages: UFFDIO_ZEROPAGE at 0x%llx failed",
				 (unsigned long long)addr);
	}
}

static int retry_later(struct lz *lz, struct lz_mm *mm, uint64_t addr)
{
	if (lz->nretry == lz->nretry_alloc) {
		int n = lz->nretry_alloc ? lz->nretry_alloc * 2 : 64;
		struct lz_retry *v = xrealloc(lz->retry, sizeof(*v) * n);
		if (!v)
			return -ENOMEM;
		lz->retry = v;
		lz->nretry_alloc = n;
	}
	lz->retry[lz->nretry++] = (struct lz_retry){ mm, addr };
	return 0;
}

static int fault(struct lz *lz, struct lz_mm *mm, uint64_t addr)
{
	int ret;
	addr &= ~(uint64_t)(PAGE_SIZE - 1);
	if (mm->gone)
		return 0;
	int ri = range_of(mm, addr);
	uint64_t pg = ri >= 0 ? (addr - mm->r[ri].addr) / PAGE_SIZE : 0;
	if (ri < 0 || !bit(mm->r[ri].miss, pg)) {
		ret = zero_page(lz, mm, addr);
	} else {
		uint64_t n = 1, np = mm->r[ri].len / PAGE_SIZE;
		while (n < FAULT_PAGES && pg + n < np && bit(mm->r[ri].miss, pg + n))
			n++;
		ret = copy_pages(lz, mm, ri, pg, n);
		if (!ret) {
			lz->fault_pages += n;
			mm->cursor = addr + n * PAGE_SIZE;
		}
	}
	if (ret == -ESRCH)
		return 0;
	if (ret == -EAGAIN)
		return retry_later(lz, mm, addr);
	return ret;
}

/* A piece [@s, @e) of @r, moved to @to. */
static int piece(struct lz_range *out, const struct lz_range *r, uint64_t s, uint64_t e, uint64_t to)
{
	uint64_t n = (e - s) / PAGE_SIZE, first = (s - r->addr) / PAGE_SIZE;
	*out = (struct lz_range){ to, e - s, r->off + (s - r->addr), bitmap_new(n, false),
				  r->remote, r->fd };
	if (!out->miss)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		if (bit(r->miss, first + i))
			out->miss[i / 64] |= 1ULL << (i % 64);
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct lz_range *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* mremap moved [@from, @from+@len) to @to: so do the missing pages. */
static int remap(struct lz_mm *mm, uint64_t from, uint64_t to, uint64_t len)
{
	struct lz_range *v = xzalloc(sizeof(*v) * (mm->nr * 3 + 1));
	int n = 0, ret = 0;
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < mm->nr && !ret; i++) {
		struct lz_range *r = &mm->r[i];
		uint64_t end = r->addr + r->len;
		uint64_t a = MAX(r->addr, from), b = MIN(end, from + len);
		if (a >= b) {
			v[n++] = *r;
			r->miss = NULL;
			continue;
		}
		if (r->addr < a)
			ret = piece(&v[n++], r, r->addr, a, r->addr);
		if (!ret)
			ret = piece(&v[n++], r, a, b, a - from + to);
		if (!ret && b < end)
			ret = piece(&v[n++], r, b, end, b);
	}
	if (ret) {
		for (int i = 0; i < n; i++)
			free(v[i].miss);
		free(v);
		return ret;
	}
	/* ranges with nothing missing go: a range moved over one whose
	 * pages were unmapped must not overlap it */
	int kept = 0;
	for (int i = 0; i < n; i++) {
		uint64_t np = v[i].len / PAGE_SIZE;
		if (bit_next(v[i].miss, 0, np) < np)
			v[kept++] = v[i];
		else
			free(v[i].miss);
	}
	n = kept;
	uint64_t missing = mm->missing;
	mm_free(mm);
	qsort(v, n, sizeof(*v), cmp_range);
	mm->r = v;
	mm->nr = n;
	mm->missing = missing;
	pr_debug("lazy-pages: remap 0x%llx -> 0x%llx (%llu bytes)", (unsigned long long)from,
		 (unsigned long long)to, (unsigned long long)len);
	return 0;
}

/* [@s, @e) unmapped or dropped (MADV_DONTNEED): a fault there reads zeros. */
static void drop(struct lz_mm *mm, uint64_t s, uint64_t e)
{
	for (int i = 0; i < mm->nr; i++) {
		struct lz_range *r = &mm->r[i];
		uint64_t a = MAX(r->addr, s), b = MIN(r->addr + r->len, e);
		if (a < b)
			mark_done(mm, i, (a - r->addr) / PAGE_SIZE, (b - a) / PAGE_SIZE);
	}
}

/* A fork: the child misses what its parent missed. */
static int forked(struct lz *lz, struct lz_mm *parent, int ufd)
{
	struct lz_mm *mm = xzalloc(sizeof(*mm));
	int ret = 0;
	if (!mm) {
		close(ufd);
		return -ENOMEM;
	}
	fcntl(ufd, F_SETFL, O_NONBLOCK);
	*mm = (struct lz_mm){ .uffd = ufd, .pages_fd = parent->pages_fd, .src_pid = parent->src_pid,
			      .cursor = parent->cursor, .gone = parent->gone };
	mm->r = xzalloc(sizeof(*mm->r) * (parent->nr + 1));
	if (!mm->r)
		ret = -ENOMEM;
	for (int i = 0; i < parent->nr && !ret; i++) {
		const struct lz_range *r = &parent->r[i];
		ret = piece(&mm->r[mm->nr], r, r->addr, r->addr + r->len, r->addr);
		if (!ret)
			mm->nr++;
	}
	mm->missing = parent->missing;
	if (!ret)
		ret = lazy_guard_pass(lz->guard_sk, ufd);
	if (!ret)
		ret = add_mm(lz, mm);
	if (ret) {
		mm_free(mm);
		close(ufd);
		free(mm);
		return ret;
	}
	pr_debug("lazy-pages: %s %d forked (uffd %d, %llu pages missing)",
		 parent->pid ? "process" : "a child with uffd", parent->pid ? parent->pid : parent->uffd,
		 ufd, (unsigned long long)mm->missing);
	return 0;
}

/* Every message waiting on @mm's userfaultfd. */
static int drain(struct lz *lz, struct lz_mm *mm)
{
	struct uffd_msg msg[32];
	for (;;) {
		ssize_t n = read(mm->uffd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR)
				continue;
			return log_errno(-errno, "lazy-pages: reading a userfaultfd failed");
		}
		/* The events first, then the faults.  Reading a fork's message
		 * lets the fork go on (and copies into the parent work again):
		 * a fault read in the same batch but served before the fork's
		 * message would fill the parent's page after the child was
		 * copied, and the child, made from the parent's missing set,
		 * would then get a zero page there.  A fault served after the
		 * events sees the tree as it is now, which is what it needs. */
		int nmsg = (int)(n / (ssize_t)sizeof(msg[0]));
		for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nmsg; i++) {
			const struct uffd_msg *m = &msg[i];
			int ret = 0;
			if ((m->event == UFFD_EVENT_PAGEFAULT) != (pass == 1))
				continue;
			switch (m->event) {
			case UFFD_EVENT_PAGEFAULT:
				lz->faults++;
				ret = fault(lz, mm, m->arg.pagefault.address);
				break;
			case UFFD_EVENT_FORK:
				ret = forked(lz, mm, (int)m->arg.fork.ufd);
				break;
			case UFFD_EVENT_REMAP:
				ret = remap(mm, m->arg.remap.from, m->arg.remap.to, m->arg.remap.len);
				break;
			case UFFD_EVENT_REMOVE:
			case UFFD_EVENT_UNMAP:
				drop(mm, m->arg.remove.start, m->arg.remove.end);
				break;
			default:
				pr_warn("lazy-pages: unexpected userfaultfd event %u", m->event);
				break;
			}
			if (ret)
				return ret;
		}
	}
}

/* One step of the background pass: the next missing pages after the
 * cursor of the next mm that misses any.  1: nothing was missing. */
static int background(struct lz *lz)
{
	for (int k = 0; k < lz->nmm; k++) {
		struct lz_mm *mm = lz->mm[(lz->rr + k) % lz->nmm];
		if (mm->gone || !mm->missing)
			continue;
		lz->rr = (lz->rr + k + 1) % lz->nmm;
		if (!mm->nr) {
			mm->missing = 0;
			continue;
		}
		int ri = range_of(mm, mm->cursor);
		if (ri < 0) {	/* the first range after the cursor */
			for (ri = 0; ri < mm->nr && mm->r[ri].addr < mm->cursor; ri++)
				;
		}
		for (int t = 0; t <= mm->nr; t++, ri++) {
			if (ri >= mm->nr)
				ri = 0;
			struct lz_range *r = &mm->r[ri];
			uint64_t np = r->len / PAGE_SIZE, from = 0;
			if (t == 0 && mm->cursor > r->addr && mm->cursor < r->addr + r->len)
				from = (mm->cursor - r->addr) / PAGE_SIZE;
			uint64_t pg = bit_next(r->miss, from, np);
			if (pg == np)
				continue;
			uint64_t n = 1;
			while (n < BG_PAGES && pg + n < np && bit(r->miss, pg + n))
				n++;
			int ret = copy_pages(lz, mm, ri, pg, n);
			if (ret == -EAGAIN || ret == -ESRCH)
				return 0;
			if (ret)
				return ret;
			lz->bg_pages += n;
			mm->cursor = r->addr + (pg + n) * PAGE_SIZE;
			return 0;
		}
		/* the count said missing, the bitmaps say not: trust them */
		mm->missing = 0;
	}
	return 1;
}

static uint64_t missing(const struct lz *lz)
{
	uint64_t n = 0;
	for (int i = 0; i < lz->nmm; i++)
		n += lz->mm[i]->gone ? 0 : lz->mm[i]->missing;
	return n;
}

/* The background pass waits, for BG_HOLD_MS at most, until the restore
 * that handed the tree over is done (it closes its end, @rsk, once the tree
 * runs and its network is unlocked): its copying (from local images: a CPU
 * busy) would otherwise slow the restore's last steps, all of them in the
 * tree's pause.  Faults are served at once all the same.  (A restore that
 * waits for its tree to exit keeps the socket: then the hold runs out.) */
#define BG_HOLD_MS 50

static int serve(struct lz *lz, int rsk)
{
	struct pollfd *p = NULL;
	int ret = 0;
	uint64_t hold_end = now_ns() + BG_HOLD_MS * 1000000ull;
	while (!ret && (missing(lz) || lz->nretry)) {
		struct pollfd *np = xrealloc(p, sizeof(*p) * (lz->nmm + 1));
		if (!np) {
			ret = -ENOMEM;
			break;
		}
		p = np;
		for (int i = 0; i < lz->nmm; i++)
			p[i] = (struct pollfd){ lz->mm[i]->gone ? -1 : lz->mm[i]->uffd, POLLIN, 0 };
		int n = lz->nmm, wait_ms = 0;
		uint64_t now = now_ns();
		if (rsk >= 0 && now < hold_end) {
			p[n] = (struct pollfd){ rsk, POLLIN, 0 };
			wait_ms = (int)((hold_end - now) / 1000000) + 1;
		} else {
			rsk = -1;
			p[n] = (struct pollfd){ -1, 0, 0 };
		}
		if (poll(p, n + 1, wait_ms) < 0 && errno != EINTR) {
			ret = log_errno(-errno, "lazy-pages: poll failed");
			break;
		}
		if (rsk >= 0 && p[n].revents) {
			rsk = -1;	/* the restore is done (or gone) */
			pr_debug("lazy-pages: the restore is done: the background pass starts");
		}
		for (int i = 0; i < n && !ret; i++)
			if (p[i].revents & POLLIN)
				ret = drain(lz, lz->mm[i]);
		/* faults that met a change of mappings, now that the events
		 * are read */
		int nr = lz->nretry;
		lz->nretry = 0;
		for (int i = 0; i < nr && !ret; i++)
			ret = fault(lz, lz->retry[i].mm, lz->retry[i].addr);
		if (!ret && rsk < 0 && background(lz) < 0)
			ret = -EIO;
	}
	free(p);
	return ret;
}

/* @fds: the userfaultfd, the pages image, the pidfd, then m->nr_files
 * previous dumps' pages images (-1 where none came) */
static int recv_proc(int sk, struct lazy_msg *m, int fds[3 + LAZY_MAX_FILES])
{
	char cbuf[CMSG_SPACE(sizeof(int) * (3 + LAZY_MAX_FILES))];
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	for (int i = 0; i < 3 + LAZY_MAX_FILES; i++)
		fds[i] = -1;
	ssize_t n = recvmsg(sk, &h, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	if (n < 0)
		return_perror("lazy-pages: receiving from the restore failed");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fds, CMSG_DATA(c), MIN(c->cmsg_len - CMSG_LEN(0),
						      sizeof(int) * (3 + LAZY_MAX_FILES)));
	if (n != sizeof(*m) || m->magic != LAZY_MAGIC) {
		pr_err("lazy-pages: the restore sent %s", n ? "a malformed message" :
		       "nothing (it failed: see its log)");
		return -EBADMSG;
	}
	bool files = m->nr_files <= LAZY_MAX_FILES;
	for (uint32_t i = 0; files && i < m->nr_files; i++)
		files = fds[3 + i] >= 0;
	if (m->pid && (fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || !files ||
		       m->nr_ranges > MAX_RANGES)) {
		pr_err("lazy-pages: the restore's message for process %d lacks its descriptors "
		       "or has %u ranges", m->pid, m->nr_ranges);
		return -EBADMSG;
	}
	return 0;
}

static int take_proc(struct lz *lz, int sk, const struct lazy_msg *m, int fds[3 + LAZY_MAX_FILES])
{
	struct lz_mm *mm = xzalloc(sizeof(*mm));
	struct lazy_range *v = xmalloc(sizeof(*v) * (m->nr_ranges + 1));
	int ret = (!mm || !v) ? -ENOMEM : 0;
	if (!ret && read_all(sk, v, sizeof(*v) * m->nr_ranges) !=
			    (ssize_t)(sizeof(*v) * m->nr_ranges)) {
		pr_err("lazy-pages: the restore's list of ranges of process %d is short", m->pid);
		ret = -EBADMSG;
	}
	if (!ret)
		ret = add_fd(&lz->fds, &lz->nfds, fds[1]);
	else
		close(fds[1]);
	if (!ret)
		ret = add_fd(&lz->pidfds, &lz->npidfds, fds[2]);
	else
		close(fds[2]);
	/* the previous dumps' pages images: kept with the others */
	for (uint32_t i = 0; i < m->nr_files; i++) {
		if (!ret)
			ret = add_fd(&lz->fds, &lz->nfds, fds[3 + i]);
		else
			close(fds[3 + i]);
	}
	if (!ret) {
		*mm = (struct lz_mm){ .uffd = fds[0], .pages_fd = fds[1], .pid = m->pid,
				      .src_pid = m->pid };
		mm->r = xzalloc(sizeof(*mm->r) * (m->nr_ranges + 1));
		if (!mm->r)
			ret = -ENOMEM;
	}
	for (uint32_t i = 0; !ret && i < m->nr_ranges; i++) {
		struct lazy_range *x = &v[i];
		if ((x->addr | x->len | x->off) & (PAGE_SIZE - 1) || !x->len ||
		    x->addr + x->len < x->addr || (i && x->addr < v[i - 1].addr + v[i - 1].len)) {
			pr_err("lazy-pages: process %d: invalid range 0x%llx+%llu", m->pid,
			       (unsigned long long)x->addr, (unsigned long long)x->len);
			ret = -EBADMSG;
			break;
		}
		uint64_t np = x->len / PAGE_SIZE;
		if ((x->flags & LAZY_REMOTE) && lz->ps < 0) {
			pr_err("lazy-pages: process %d has pages that only the dump has (PE_LAZY, "
			       "dump --lazy-pages): run lazy-pages with --page-server --address "
			       "--port of that dump", m->pid);
			ret = -EINVAL;
			break;
		}
		uint64_t fi = x->flags >> LAZY_FILE_SHIFT;
		if (fi > m->nr_files || (fi && (x->flags & LAZY_REMOTE))) {
			pr_err("lazy-pages: process %d: range 0x%llx+%llu names pages image %llu of "
			       "%u", m->pid, (unsigned long long)x->addr,
			       (unsigned long long)x->len, (unsigned long long)fi, m->nr_files);
			ret = -EBADMSG;
			break;
		}
		mm->r[i] = (struct lz_range){ x->addr, x->len, x->off, bitmap_new(np, true),
					      (x->flags & LAZY_REMOTE) != 0,
					      fi ? fds[3 + fi - 1] : fds[1] };
		if (!mm->r[i].miss) {
			ret = -ENOMEM;
			break;
		}
		mm->nr++;
		mm->missing += np;
	}
	free(v);
	if (!ret) {
		if (mm->nr)
			mm->cursor = mm->r[0].addr;
		pr_info("lazy-pages: process %d: %u ranges, %llu pages to fill", m->pid, m->nr_ranges,
			(unsigned long long)mm->missing);
		ret = add_mm(lz, mm);
	}
	if (ret) {
		close(fds[0]);
		if (mm)
			mm_free(mm);
		free(mm);
	}
	return ret;
}

/* Until the end of the list: every process of the restore. */
static int take_tree(struct lz *lz, int sk)
{
	for (;;) {
		struct lazy_msg m;
		int fds[3 + LAZY_MAX_FILES];
		int ret = recv_proc(sk, &m, fds);
		if (!ret && !m.pid)
			return 0;
		if (ret) {
			for (int i = 0; i < 3 + LAZY_MAX_FILES; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			return ret;
		}
		ret = take_proc(lz, sk, &m, fds);
		if (ret)
			return ret;
	}
}

static int listen_at(int dirfd, const char *dir)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/%s", dirfd, LAZY_SOCKET);
	int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return_perror("lazy-pages: can't create a socket");
	unlinkat(dirfd, LAZY_SOCKET, 0);	/* a stale one of a daemon gone */
	if (bind(sk, (struct sockaddr *)&a, sizeof(a)) || listen(sk, 1)) {
		int ret = log_errno(-errno, "lazy-pages: can't listen on %s/%s", dir, LAZY_SOCKET);
		close(sk);
		return ret;
	}
	return sk;
}

int lazy_daemon_run(const struct lazy_daemon_args *a)
{
	struct lz lz = { .guard_sk = -1, .guard = -1, .ps = -1 };
	char ps_name[160];
	const char *dir = a->dir ? a->dir : ".";
	int lsk = -1, sk = -1, ret = 0;
	uint64_t t0;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return_perror("lazy-pages: can't open the work directory %s", dir);
	signal(SIGPIPE, SIG_IGN);
	if (a->port) {
		snprintf(ps_name, sizeof(ps_name), "%s:%d", a->address, a->port);
		lz.ps_name = ps_name;
		if (a->tls) {
			struct ps_tls_opts t = *a->tls;
			t.what = "lazy-pages: the dump's page server";
			if ((ret = ps_tls_check_files(&t, ps_name)))
				goto out;
		}
		lz.ps = page_server_connect(a->address, a->port);
		if (lz.ps < 0) {
			ret = lz.ps;
			goto out;
		}
		int one = 1;	/* each request goes out at once */
		setsockopt(lz.ps, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pr_info("lazy-pages: connected to the dump's page server %s", ps_name);
		if (a->tls && (ret = lazy_tls_begin(&lz.tls, lz.ps, ps_name, a)))
			goto out;
	}
	lsk = listen_at(dirfd, dir);
	if (lsk < 0) {
		ret = lsk;
		goto out;
	}
	pr_info("lazy-pages: waiting for restore --lazy-pages on %s/%s", dir, LAZY_SOCKET);
	if (a->daemon && daemon(1, 0)) {
		ret = log_errno(-errno, "lazy-pages: can't go into the background");
		goto out;
	}
	if (a->pidfile && (ret = write_pidfile(a->pidfile, getpid())))
		goto out;
	if (a->status_fd >= 0) {
		char zero = 0;	/* criu's readiness signal */
		if (write(a->status_fd, &zero, 1) != 1)
			pr_perror("lazy-pages: can't write to --status-fd %d", a->status_fd);
		close(a->status_fd);
	}
	sk = lazy_tls_accept(&lz.tls, lsk, dir);	/* (a plain accept without --tls) */
	if (sk < 0) {
		ret = sk;
		sk = -1;
		goto out;
	}
	close(lsk);
	lsk = -1;
	unlinkat(dirfd, LAZY_SOCKET, 0);
	{
		/* only a restore run by root or by our own user hands us a tree */
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &cr, &cl)) {
			ret = log_errno(-errno, "lazy-pages: can't get the restore's credentials");
			goto out;
		}
		if (cr.uid != 0 && cr.uid != getuid()) {
			pr_err("lazy-pages: refused a connection from uid %u (pid %d): only root or "
			       "uid %u may hand over a tree", cr.uid, cr.pid, getuid());
			ret = -EPERM;
			goto out;
		}
	}
	t0 = now_ns();
	lz.buf = xmalloc(BG_PAGES * PAGE_SIZE);
	ret = lz.buf ? take_tree(&lz, sk) : -ENOMEM;
	if (!ret)
		ret = lazy_guard_start(lz.pidfds, lz.npidfds, &lz.guard_sk, &lz.guard);
	{
		int32_t answer = ret;
		if (write_all(sk, &answer, sizeof(answer)) && !ret)
			ret = log_errno(-EPIPE, "lazy-pages: the restore is gone before the answer");
	}
	if (!ret)
		ret = lazy_tls_finish(&lz.tls);	/* before the first page asked for */
	if (!ret) {
		pr_info("lazy-pages: serving %d process(es), %llu pages", lz.nmm,
			(unsigned long long)missing(&lz));
		ret = serve(&lz, sk);
	}
	if (!ret) {
		pr_info("lazy-pages: memory complete in %llu ms: %llu faults, %llu pages copied on "
			"faults, %llu in the background, %llu zero pages",
			(unsigned long long)(now_ns() - t0) / 1000000, (unsigned long long)lz.faults,
			(unsigned long long)lz.fault_pages, (unsigned long long)lz.bg_pages,
			(unsigned long long)lz.zero_pages);
		/* the guard lets go of its copies first: ours are then the
		 * last, and closing them unregisters the memory */
		if (lz.ps >= 0) {
			/* the dump may let its tree go */
			struct ps_iov q = { PS_IOV_FLUSH_N_CLOSE, 0, 0, 0 };
			int32_t st;
			if (ps_io_write_all(lz.ps, lz.tls.t, &q, sizeof(q)) ||
			    ps_io_read_all(lz.ps, lz.tls.t, &st, sizeof(st)) != sizeof(st))
				pr_warn("lazy-pages: the dump's page server did not answer the close");
			pr_info("lazy-pages: %llu requests to the dump's page server",
				(unsigned long long)lz.remote_gets);
		}
		char c = 'D';
		if (send(lz.guard_sk, &c, 1, MSG_NOSIGNAL) != 1)
			pr_perror("lazy-pages: can't tell the guard we are done");
		else
			waitpid(lz.guard, NULL, 0);
	} else if (lz.guard > 0) {
		pr_err("lazy-pages: failed with pages still missing: the guard kills the tree");
	}
out:
	for (int i = 0; i < lz.nmm; i++) {
		close(lz.mm[i]->uffd);
		mm_free(lz.mm[i]);
		free(lz.mm[i]);
	}
	free(lz.mm);
	for (int i = 0; i < lz.nfds; i++)
		close(lz.fds[i]);
	for (int i = 0; i < lz.npidfds; i++)
		close(lz.pidfds[i]);
	free(lz.fds);
	free(lz.pidfds);
	free(lz.retry);
	free(lz.buf);
	if (lz.guard_sk >= 0)
		close(lz.guard_sk);
	ps_tls_end(lz.tls.t);
	if (lz.ps >= 0)
		close(lz.ps);
	if (sk >= 0)
		close(sk);
	if (lsk >= 0) {
		close(lsk);
		unlinkat(dirfd, LAZY_SOCKET, 0);
	}
	close(dirfd);
	return ret;
}
