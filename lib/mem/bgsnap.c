/* Background snapshot: see bgsnap.h.
 *
 * One thread does both jobs, in turn: it copies the pages in address order,
 * 1 MiB at a time, and between two chunks it serves the userfaultfds (a
 * write fault on a page not copied yet: the page is saved in cryo, then
 * un-protected, which wakes the writer).  A chunk is read from the process
 * and then checked against pagemap: a page still mapped with its uffd-wp
 * bit set was not written since the freeze, so what was read is the
 * freeze's content; a page saved by the fault path replaces what was read.
 * Then the chunk is un-protected.  UFFDIO_WRITEPROTECT fails with EAGAIN
 * while an mremap's event is unread (the kernel's mmap_changing): the
 * chunk is read again once the event is handled, since the read may have
 * raced with the move. */
#include "mem/bgsnap.h"
#include "mem/mem.h"
#include "mem/page_sink.h"
#include "mem/pages-int.h"
#include "seize/remote.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include "compat/uapi-extra.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BG_CHUNK (1UL << 20)
#define BG_CHUNK_PAGES (BG_CHUNK / PAGE_SIZE)
#define BLOCK_PAGES 512		/* saved pages are kept in 2 MiB blocks */
#define PM_UFFD_WP (1ULL << 57)	/* pagemap: the pte is uffd-wp protected */
#define SCAN_VEC 256
#define MAX_RETRY 256

struct bg_run {
	uint64_t start, end;
	bool prot;		/* write-protected (else saved while frozen) */
};

/* Pages saved in cryo, by address (open addressing). */
struct bg_store {
	uint64_t *keys;		/* page address, 0: free */
	uint32_t *slots;
	size_t cap, n;
	char **blocks;
	size_t nblocks;
};

/* A page of the freeze that a move took away and that could not be read
 * at its new place yet (another move may have taken it further). */
struct bg_chase {
	uint64_t freeze, cur;
};

struct bg_vma {
	uint64_t start, end;
	uint32_t status, prot;
};

struct bg_proc {
	pid_t pid, img_pid;
	uint32_t pages_id;
	struct bg_vma *vmas;
	size_t nvmas;
	int uffd, mem_fd, pm_fd;
	struct bg_run *runs;
	size_t nruns, caprun;
	struct mem_page_runs moved;	/* where mremap put protected pages */
	struct bg_chase *chase;	/* moved pages not saved yet */
	size_t nchase, capchase;
	struct bg_store st;
	uint64_t cursor;	/* while this process is copied: below it, done */
	bool done, current;
};

struct bg_retry {
	int proc;
	uint64_t addr;
};

struct bgsnap {
	struct bg_proc *p;
	int n;
	char *buf;
	struct bg_retry *retry;
	size_t nretry, capretry;
	uint64_t faults, saved, remaps, chased;
	bool unprotected;	/* test only: nothing is protected */
};

/* ---- the saved pages ---- */

static size_t store_hash(uint64_t a, size_t cap)
{
	uint64_t x = (a >> 12) * 0x9E3779B97F4A7C15ULL;
	return (x ^ (x >> 31)) & (cap - 1);
}

static char *store_page(struct bg_store *s, uint32_t slot)
{
	return s->blocks[slot / BLOCK_PAGES] + (size_t)(slot % BLOCK_PAGES) * PAGE_SIZE;
}

static char *store_get(struct bg_store *s, uint64_t a)
{
	if (!s->cap)
		return NULL;
	for (size_t i = store_hash(a, s->cap); s->keys[i]; i = (i + 1) & (s->cap - 1))
		if (s->keys[i] == a)
			return store_page(s, s->slots[i]);
	return NULL;
}

static int store_grow(struct bg_store *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	uint32_t *slots = calloc(cap, sizeof(*slots));
	if (!keys || !slots) {
		free(keys);
		free(slots);
		pr_err("out of memory for the pages saved by the background snapshot");
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->keys[i])
			continue;
		size_t j = store_hash(s->keys[i], cap);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = s->keys[i];
		slots[j] = s->slots[i];
	}
	free(s->keys);
	free(s->slots);
	s->keys = keys;
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/* A new slot for page @a (not in the store yet). */
static int store_put(struct bg_store *s, uint64_t a, char **page)
{
	int ret;
	if ((s->n + 1) * 2 > s->cap && (ret = store_grow(s)))
		return ret;
	if (s->n == s->nblocks * BLOCK_PAGES) {
		char **b = realloc(s->blocks, (s->nblocks + 1) * sizeof(*b));
		if (!b)
			return -ENOMEM;
		s->blocks = b;
		b[s->nblocks] = mmap(NULL, BLOCK_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b[s->nblocks] == MAP_FAILED)
			return_perror("can't allocate memory for the pages the background snapshot "
				      "saves");
		s->nblocks++;
	}
	size_t i = store_hash(a, s->cap);
	while (s->keys[i])
		i = (i + 1) & (s->cap - 1);
	s->keys[i] = a;
	s->slots[i] = s->n++;
	*page = store_page(s, s->slots[i]);
	return 0;
}

static void store_free(struct bg_store *s)
{
	for (size_t i = 0; i < s->nblocks; i++)
		munmap(s->blocks[i], BLOCK_PAGES * PAGE_SIZE);
	free(s->blocks);
	free(s->keys);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

/* ---- setup, while frozen ---- */

int bgsnap_new(struct bgsnap **out)
{
	struct bgsnap *b = xzalloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	const char *e = getenv("CRYO_TEST_BGSNAP_UNPROTECTED");
	b->unprotected = e && *e && strcmp(e, "0");
	if (b->unprotected)
		pr_warn("CRYO_TEST_BGSNAP_UNPROTECTED: the background snapshot protects nothing "
			"(a test of the tests: the image is not consistent)");
	*out = b;
	return 0;
}

void bgsnap_free(struct bgsnap *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->n; i++) {
		struct bg_proc *p = &b->p[i];
		/* the last descriptor: the kernel unregisters the memory and
		 * wakes every thread waiting on a fault */
		if (p->uffd >= 0)
			close(p->uffd);
		if (p->mem_fd >= 0)
			close(p->mem_fd);
		if (p->pm_fd >= 0)
			close(p->pm_fd);
		free(p->vmas);
		free(p->runs);
		mem_page_runs_free(&p->moved);
		free(p->chase);
		store_free(&p->st);
	}
	free(b->p);
	free(b->retry);
	if (b->buf)
		munmap(b->buf, BG_CHUNK);
	free(b);
}

static struct bg_proc *find_proc(struct bgsnap *b, pid_t pid)
{
	for (int i = 0; i < b->n; i++)
		if (b->p[i].pid == pid)
			return &b->p[i];
	return NULL;
}

int bgsnap_add(struct bgsnap *b, pid_t pid, pid_t img_pid, uint32_t pages_id, const MmEntry *mm)
{
	struct bg_proc *v = realloc(b->p, (b->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	b->p = v;
	struct bg_proc *p = &b->p[b->n];
	*p = (struct bg_proc){ .pid = pid, .img_pid = img_pid, .pages_id = pages_id, .uffd = -1,
			       .mem_fd = -1, .pm_fd = -1 };
	b->n++;
	p->vmas = calloc(mm->n_vmas + 1, sizeof(*p->vmas));
	if (!p->vmas)
		return -ENOMEM;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *e = mm->vmas[i];
		if (!vma_has_private_pages(e) && !(e->status & VMA_AREA_VDSO))
			continue;
		p->vmas[p->nvmas++] = (struct bg_vma){ e->start, e->end, e->status, e->prot };
	}
	return 0;
}

int bgsnap_uffd(struct bgsnap *b, struct remote *r, pid_t pid)
{
	struct bg_proc *p = find_proc(b, pid);
	if (!p)
		return -ENOENT;
	/* not UFFD_USER_MODE_ONLY: the kernel's own writes to a protected
	 * page (a read() into it) must wait for cryo as the task's do; a
	 * user-mode-only one would fail them with EFAULT */
	long tfd = remote_call(r, "userfaultfd", __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (tfd == -EPERM) {
		pr_err("process %d can't make a userfaultfd that also catches the kernel's writes "
		       "(EPERM: it lacks CAP_SYS_PTRACE and vm.unprivileged_userfaultfd is 0): "
		       "the background snapshot needs one; set vm.unprivileged_userfaultfd=1 or "
		       "dump without --background-snapshot", pid);
		return -EPERM;
	}
	if (tfd < 0)
		return (int)tfd;
	int pidfd = syscall(SYS_pidfd_open, pid, 0), ret = 0;
	if (pidfd < 0)
		ret = log_errno(-errno, "pidfd_open of process %d failed", pid);
	if (!ret) {
		p->uffd = syscall(SYS_pidfd_getfd, pidfd, (int)tfd, 0);
		if (p->uffd < 0)
			ret = log_errno(-errno, "can't take the userfaultfd of process %d "
					"(pidfd_getfd)", pid);
	}
	if (pidfd >= 0)
		close(pidfd);
	/* the task keeps no descriptor of ours */
	long c = remote_call(r, "close", __NR_close, tfd);
	if (!ret && c < 0)
		ret = (int)c;
	if (ret)
		return ret;
	/* synchronous write-protection (no WP_ASYNC): a write waits for cryo;
	 * mremap's event keeps the registration and the protection on the
	 * moved pages, and tells cryo where they went */
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_EVENT_REMAP };
	if (ioctl(p->uffd, UFFDIO_API, &api))
		return log_errno(-errno, "UFFDIO_API (write-protect faults, remap events) on the "
				 "userfaultfd of process %d failed", pid);
	return 0;
}

static int add_run(struct bg_proc *p, uint64_t start, uint64_t end, bool prot)
{
	if (p->nruns && p->runs[p->nruns - 1].end == start && p->runs[p->nruns - 1].prot == prot) {
		p->runs[p->nruns - 1].end = end;
		return 0;
	}
	if (p->nruns == p->caprun) {
		size_t cap = p->caprun ? p->caprun * 2 : 64;
		struct bg_run *r = realloc(p->runs, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		p->runs = r;
		p->caprun = cap;
	}
	p->runs[p->nruns++] = (struct bg_run){ start, end, prot };
	return 0;
}

/* Copy [@start, @end) of @p into the store now (the tree is frozen). */
static int save_now(struct bg_proc *p, uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += PAGE_SIZE) {
		char *pg;
		int ret = store_put(&p->st, a, &pg);
		if (ret)
			return ret;
		if (pread(p->mem_fd, pg, PAGE_SIZE, a) != PAGE_SIZE)
			return log_errno(-EIO, "can't read memory 0x%llx of process %d",
					 (unsigned long long)a, p->pid);
	}
	return 0;
}

/* The pages of @v the image holds (present or swapped; not the zero page;
 * in a private file mapping only the private copies; not guard markers):
 * protected (@prot) or saved now. */
static int list_vma(struct bg_proc *p, const struct bg_vma *v, bool prot, bool wp)
{
	struct page_region vec[SCAN_VEC];
	bool anon = v->status & (VMA_ANON_PRIVATE | VMA_AREA_VDSO);
	uint64_t guard = pagemap_scan_has_guard() ? PAGE_IS_GUARD : 0;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = v->start,
		.end = v->end,
		.vec = (uintptr_t)vec,
		.vec_len = SCAN_VEC,
		.category_inverted = PAGE_IS_PFNZERO | PAGE_IS_FILE | PAGE_IS_GUARD,
		.category_mask = PAGE_IS_PFNZERO | (anon ? 0 : PAGE_IS_FILE) | guard,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};
	if (v->status & VMA_AREA_VDSO)	/* all of it, as the plain dump */
		return add_run(p, v->start, v->end, false) ?: save_now(p, v->start, v->end);
	while (a.start < v->end) {
		long n = ioctl(p->pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return log_errno(-errno, "PAGEMAP_SCAN of process %d at 0x%llx failed", p->pid,
					 (unsigned long long)a.start);
		for (long i = 0; i < n; i++) {
			int ret = add_run(p, vec[i].start, vec[i].end, prot);
			if (!ret && wp) {
				struct uffdio_writeprotect w = {
					.range = { vec[i].start, vec[i].end - vec[i].start },
					.mode = UFFDIO_WRITEPROTECT_MODE_WP };
				if (ioctl(p->uffd, UFFDIO_WRITEPROTECT, &w))
					ret = log_errno(-errno, "can't write-protect memory "
							"0x%llx-0x%llx of process %d "
							"(UFFDIO_WRITEPROTECT)",
							(unsigned long long)vec[i].start,
							(unsigned long long)vec[i].end, p->pid);
			} else if (!ret && !prot) {
				ret = save_now(p, vec[i].start, vec[i].end);
			}
			if (ret)
				return ret;
		}
		if (a.walk_end <= a.start || a.walk_end > v->end) {
			pr_err("PAGEMAP_SCAN of process %d stopped at 0x%llx, outside 0x%llx-0x%llx",
			       p->pid, (unsigned long long)a.walk_end, (unsigned long long)a.start,
			       (unsigned long long)v->end);
			return -EIO;
		}
		a.start = a.walk_end;
	}
	return 0;
}

/* Private anonymous memory: what uffd-wp can protect. */
static bool vma_protectable(const struct bg_vma *v)
{
	const unsigned other = VMA_FILE_PRIVATE | VMA_FILE_SHARED | VMA_ANON_SHARED |
			       VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL | VMA_AREA_AIORING |
			       VMA_AREA_SOCKET | VMA_AREA_MEMFD | VMA_AREA_SYSVIPC;
	return (v->status & VMA_ANON_PRIVATE) && !(v->status & other);
}

int bgsnap_protect(struct bgsnap *b, pid_t pid, struct mem_dump_stats *st)
{
	struct bg_proc *p = find_proc(b, pid);
	char path[64];
	int ret = 0;
	if (!p || p->uffd < 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	p->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->mem_fd < 0)
		return_perror("can't open %s", path);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	p->pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->pm_fd < 0)
		return_perror("can't open %s", path);
	for (size_t i = 0; !ret && i < p->nvmas; i++) {
		const struct bg_vma *v = &p->vmas[i];
		bool prot = vma_protectable(v);
		st->pages_scanned += (v->end - v->start) / PAGE_SIZE;
		if (prot && !b->unprotected) {
			struct uffdio_register reg = { .range = { v->start, v->end - v->start },
						       .mode = UFFDIO_REGISTER_MODE_WP };
			if (ioctl(p->uffd, UFFDIO_REGISTER, &reg)) {
				pr_info("process %d: memory 0x%llx-0x%llx can't be write-protected "
					"(UFFDIO_REGISTER: %s): copied while frozen", pid,
					(unsigned long long)v->start, (unsigned long long)v->end,
					strerror(errno));
				prot = false;
			}
		}
		ret = list_vma(p, v, prot, prot && !b->unprotected);
	}
	return ret;
}

/* ---- the copy, while the tree runs ---- */

static bool in_moved(const struct bg_proc *p, uint64_t a)
{
	for (size_t i = 0; i < p->moved.n; i++)
		if (a >= p->moved.start[i] && a < p->moved.end[i])
			return true;
	return false;
}

static const struct bg_run *find_run(const struct bg_proc *p, uint64_t a)
{
	size_t lo = 0, hi = p->nruns;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p->runs[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->nruns && p->runs[lo].start <= a ? &p->runs[lo] : NULL;
}

/* A page of the freeze that is still protected and not copied: the one
 * copy of its content is in the process. */
static bool copied(const struct bg_proc *p, uint64_t a)
{
	return p->done || (p->current && a < p->cursor);
}

static bool needs_saving(const struct bg_proc *p, uint64_t a)
{
	if (copied(p, a) || in_moved(p, a))
		return false;
	const struct bg_run *r = find_run(p, a);
	return r && r->prot;
}

static int lost(const struct bg_proc *p, uint64_t a, const char *why)
{
	pr_err("memory 0x%llx of process %d %s during the background snapshot before cryo copied "
	       "it: the image can't hold the memory as of the freeze; the tree runs on, dump it "
	       "again (or without --background-snapshot)", (unsigned long long)a, p->pid, why);
	return -EIO;
}

static int unprotect(struct bg_proc *p, uint64_t a, uint64_t len)
{
	struct uffdio_writeprotect wp = { .range = { a, len }, .mode = 0 };	/* and wake */
	if (!ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp))
		return 0;
	if (errno == EAGAIN)
		return -EAGAIN;
	/* ENOENT: unmapped (or not ours) since: nothing left to un-protect */
	if (errno != ENOENT)
		pr_debug("process %d: UFFDIO_WRITEPROTECT off 0x%llx+0x%llx: %s", p->pid,
			 (unsigned long long)a, (unsigned long long)len, strerror(errno));
	return 0;
}

/* Save page @a of the freeze from @now, where a move put it: 1 if saved,
 * 0 if that can't be told yet (not there, or a layout change under way:
 * the probe, a write-protection of the page again, which it has, fails
 * with EAGAIN while an event is unread). */
static int save_moved(struct bg_proc *p, uint64_t a, uint64_t now)
{
	char buf[PAGE_SIZE];
	uint64_t e = 0;
	if (pread(p->mem_fd, buf, PAGE_SIZE, now) != PAGE_SIZE ||
	    pread(p->pm_fd, &e, 8, now / PAGE_SIZE * 8) != 8 ||
	    !(e & (PM_PRESENT | PM_SWAPPED)) || !(e & PM_UFFD_WP))
		return 0;
	struct uffdio_writeprotect wp = { .range = { now, PAGE_SIZE },
					  .mode = UFFDIO_WRITEPROTECT_MODE_WP };	/* wakes no one */
	if (ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp))
		return 0;
	char *pg;
	int ret = store_put(&p->st, a, &pg);
	if (ret)
		return ret;
	memcpy(pg, buf, PAGE_SIZE);
	return 1;
}

static int chase_find(const struct bg_proc *p, uint64_t cur)
{
	for (size_t i = 0; i < p->nchase; i++)
		if (p->chase[i].cur == cur)
			return i;
	return -1;
}

/* Try the pages still chased again. */
static int chase_resolve(struct bg_proc *p)
{
	size_t k = 0;
	int ret = 0;
	for (size_t i = 0; i < p->nchase; i++) {
		if (copied(p, p->chase[i].freeze))
			continue;	/* found at its place after all */
		int r = ret ? 0 : save_moved(p, p->chase[i].freeze, p->chase[i].cur);
		if (r < 0)
			ret = r;
		if (r <= 0)
			p->chase[k++] = p->chase[i];
	}
	p->nchase = k;
	return ret;
}

/* [@from, @from+@len) moved to @to.  The pages of the freeze not copied
 * yet are saved from their new place, where they are still protected;
 * those a further move took on before they could be read are followed
 * (chased) through the next events. */
static int handle_remap(struct bg_proc *p, uint64_t from, uint64_t to, uint64_t len)
{
	int ret = 0;
	pr_debug("process %d: 0x%llx-0x%llx moved to 0x%llx (%zu pages chased)", p->pid,
		 (unsigned long long)from, (unsigned long long)(from + len),
		 (unsigned long long)to, p->nchase);
	for (size_t i = 0; i < p->nchase; i++)
		if (p->chase[i].cur >= from && p->chase[i].cur < from + len)
			p->chase[i].cur += to - from;
	for (uint64_t a = from; !ret && a < from + len; a += PAGE_SIZE) {
		if (!needs_saving(p, a) || store_get(&p->st, a))
			continue;
		if (p->nchase == p->capchase) {
			size_t cap = p->capchase ? p->capchase * 2 : 64;
			struct bg_chase *c = realloc(p->chase, cap * sizeof(*c));
			if (!c)
				return -ENOMEM;
			p->chase = c;
			p->capchase = cap;
		}
		p->chase[p->nchase++] = (struct bg_chase){ a, to + (a - from) };
	}
	ret = mem_page_runs_add(&p->moved, to, to + len);
	if (!ret)
		ret = chase_resolve(p);
	/* the rest goes when written (a chased page's fault saves it first) */
	if (!ret && !p->nchase)
		unprotect(p, to, len);	/* EAGAIN: its faults will do it */
	return ret;
}

static int handle_fault(struct bgsnap *b, int pi, uint64_t addr)
{
	struct bg_proc *p = &b->p[pi];
	uint64_t a = addr & ~(uint64_t)(PAGE_SIZE - 1);
	int ci = chase_find(p, a);
	if (ci >= 0 && copied(p, p->chase[ci].freeze)) {
		p->chase[ci] = p->chase[--p->nchase];
	} else if (ci >= 0) {
		/* a moved page of the freeze: saved before it is written */
		int r = save_moved(p, p->chase[ci].freeze, a);
		if (r <= 0)
			return r ? r : -EAGAIN;
		p->chase[ci] = p->chase[--p->nchase];
		b->saved++;
	} else if (needs_saving(p, a) && !store_get(&p->st, a)) {
		char *pg;
		int ret = store_put(&p->st, a, &pg);
		if (ret)
			return ret;
		if (pread(p->mem_fd, pg, PAGE_SIZE, a) != PAGE_SIZE)
			return log_errno(-EIO, "can't read memory 0x%llx of process %d (a write "
					 "fault)", (unsigned long long)a, p->pid);
		b->saved++;
	}
	return unprotect(p, a, PAGE_SIZE);
}

static int retry_add(struct bgsnap *b, int pi, uint64_t addr)
{
	if (b->nretry == b->capretry) {
		size_t cap = b->capretry ? b->capretry * 2 : 64;
		struct bg_retry *r = realloc(b->retry, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		b->retry = r;
		b->capretry = cap;
	}
	b->retry[b->nretry++] = (struct bg_retry){ pi, addr };
	return 0;
}

/* Read what process @pi's userfaultfd has: events first (a fault read in
 * the same batch may be at an address the event moves), then faults. */
static int drain(struct bgsnap *b, int pi)
{
	struct bg_proc *p = &b->p[pi];
	struct uffd_msg msgs[64];
	int ret = 0;
	for (;;) {
		ssize_t n = read(p->uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return log_errno(-errno, "can't read the userfaultfd of process %d", p->pid);
		}
		n /= sizeof(msgs[0]);
		for (ssize_t i = 0; !ret && i < n; i++)
			if (msgs[i].event == UFFD_EVENT_REMAP) {
				size_t before = p->nchase;
				b->remaps++;
				ret = handle_remap(p, msgs[i].arg.remap.from, msgs[i].arg.remap.to,
						   msgs[i].arg.remap.len);
				if (p->nchase > before)
					b->chased += p->nchase - before;
			}
		for (ssize_t i = 0; !ret && i < n; i++) {
			if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			b->faults++;
			ret = handle_fault(b, pi, msgs[i].arg.pagefault.address);
			if (ret == -EAGAIN)
				ret = retry_add(b, pi, msgs[i].arg.pagefault.address);
		}
		if (ret)
			return ret;
		if (n < (ssize_t)ARRAY_SIZE(msgs))
			return 0;
	}
}

/* Serve the userfaultfds: whatever is there, waiting up to @timeout_ms
 * for something. */
static int serve(struct bgsnap *b, int timeout_ms)
{
	if (!b->n)
		return 0;
	struct pollfd pfd[b->n];
	int idx[b->n], np = 0, ret = 0;
	/* copied processes too: a chunk whose un-protection stopped at a
	 * VMA mapped since left the pages after it protected */
	for (int i = 0; i < b->n; i++) {
		if (b->p[i].uffd < 0)
			continue;
		pfd[np] = (struct pollfd){ .fd = b->p[i].uffd, .events = POLLIN };
		idx[np++] = i;
	}
	if (!np)
		return 0;
	int n = poll(pfd, np, timeout_ms);
	if (n < 0 && errno != EINTR)
		return log_errno(-errno, "poll of the userfaultfds failed");
	for (int i = 0; n > 0 && !ret && i < np; i++)
		if (pfd[i].revents & POLLIN)
			ret = drain(b, idx[i]);
	for (int i = 0; !ret && i < b->n; i++)
		if (b->p[i].nchase)
			ret = chase_resolve(&b->p[i]);
	/* faults whose un-protection met a layout change: again, now that
	 * its event was read */
	size_t k = 0;
	for (size_t i = 0; !ret && i < b->nretry; i++) {
		int r = handle_fault(b, b->retry[i].proc, b->retry[i].addr);
		if (r == -EAGAIN)
			b->retry[k++] = b->retry[i];
		else
			ret = r;
	}
	if (!ret)
		b->nretry = k;
	return ret;
}

/* Pages of a chunk just read that can't be taken as the freeze's (not
 * saved, and gone, no longer protected, or where a move put other pages):
 * the first one's index, or -1. */
static long suspect_page(struct bg_proc *p, uint64_t a, size_t np, const bool *bad,
			 const uint64_t *ents, bool ents_ok, const char **why)
{
	for (size_t k = 0; k < np; k++) {
		uint64_t pa = a + k * PAGE_SIZE;
		if (store_get(&p->st, pa))
			continue;
		if (bad[k] || !ents_ok || !(ents[k] & (PM_PRESENT | PM_SWAPPED))) {
			*why = "was unmapped or dropped (munmap, MADV_DONTNEED, exit or exec)";
			return k;
		}
		if (!(ents[k] & PM_UFFD_WP) || in_moved(p, pa)) {
			*why = "was replaced (a new mapping at its address)";
			return k;
		}
	}
	return -1;
}

/* One chunk [@a, @a+@len) of run @r into b->buf, as of the freeze.
 *
 * Read, then check each page with pagemap: still there with its uffd-wp
 * bit, so not written since the freeze.  Then un-protect the chunk, which
 * also tells whether a layout change (mremap) is under way: EAGAIN while
 * its event is unread (mmap_changing).  Then the events are read, which
 * saves the pages a move took away and marks where it put them, and the
 * chunk is checked again: a page that was moved in or out before the read
 * is in the store or marked, and the chunk is read again.  A chunk left
 * protected that way is un-protected by the writes' faults. */
static int copy_chunk(struct bgsnap *b, struct bg_proc *p, const struct bg_run *r, uint64_t a,
		      size_t len)
{
	size_t np = len / PAGE_SIZE;
	uint64_t ents[BG_CHUNK_PAGES];
	bool bad[BG_CHUNK_PAGES];
	const char *why = NULL;
	for (int tries = 0;; tries++) {
		int ret = serve(b, tries ? 1 : 0);
		if (ret)
			return ret;
		if (!r->prot) {
			/* saved while frozen */
			for (size_t k = 0; k < np; k++) {
				char *s = store_get(&p->st, a + k * PAGE_SIZE);
				if (!s)
					return lost(p, a + k * PAGE_SIZE, "was not saved");
				memcpy(b->buf + k * PAGE_SIZE, s, PAGE_SIZE);
			}
			return 0;
		}
		memset(bad, 0, sizeof(bad));
		size_t stored = 0;
		for (size_t k = 0; k < np; k++)
			stored += store_get(&p->st, a + k * PAGE_SIZE) != NULL;
		/* all saved already (moved away, say): nothing to read there,
		 * where a new mapping may be */
		if (stored < np && pread(p->mem_fd, b->buf, len, a) != (ssize_t)len)
			for (size_t k = 0; k < np; k++)
				bad[k] = pread(p->mem_fd, b->buf + k * PAGE_SIZE, PAGE_SIZE,
					       a + k * PAGE_SIZE) != PAGE_SIZE;
		bool ents_ok = stored == np ||
			       pread(p->pm_fd, ents, np * 8, a / PAGE_SIZE * 8) == (ssize_t)(np * 8);
		long k = b->unprotected ? -1 : suspect_page(p, a, np, bad, ents, ents_ok, &why);
		if (k >= 0 && p->nchase) {
			/* maybe a page a move took away and not read yet: no
			 * un-protection (it would lose the page at its new
			 * place) until the chase is over */
			if (tries == MAX_RETRY)
				return lost(p, a + k * PAGE_SIZE, why);
			continue;
		}
		int up = b->unprotected || stored == np ? 0 : unprotect(p, a, len);
		if (up == -EAGAIN) {
			/* read what moved meanwhile, then judge the read */
			ret = serve(b, 1);
			if (ret)
				return ret;
			k = suspect_page(p, a, np, bad, ents, ents_ok, &why);
		}
		if (k < 0) {
			for (size_t i = 0; i < np; i++) {
				char *s = store_get(&p->st, a + i * PAGE_SIZE);
				if (s)
					memcpy(b->buf + i * PAGE_SIZE, s, PAGE_SIZE);
			}
			return 0;
		}
		/* no change under way: it is gone */
		if (up != -EAGAIN)
			return lost(p, a + k * PAGE_SIZE, why);
		if (tries == MAX_RETRY)
			return log_errno(-EAGAIN, "process %d keeps changing its memory layout: "
					 "the background snapshot can't copy 0x%llx", p->pid,
					 (unsigned long long)a);
	}
}

static int copy_proc(struct bgsnap *b, struct bg_proc *p, struct page_sink *sink,
		     struct mem_dump_stats *st)
{
	int ret = sink->ops->open(sink, p->img_pid, p->pages_id);
	if (ret)
		return ret;
	p->current = true;
	p->cursor = 0;
	for (size_t i = 0; !ret && i < p->nruns; i++) {
		const struct bg_run *r = &p->runs[i];
		struct page_run pr = { .vaddr = r->start, .nr_pages = (r->end - r->start) / PAGE_SIZE,
				       .flags = PE_PRESENT };
		ret = sink->ops->add_run(sink, &pr);
		if (ret > 0) {
			pr_err("the page sink skips pages: not with --background-snapshot");
			ret = -EINVAL;
		}
		for (uint64_t a = r->start; !ret && a < r->end;) {
			size_t len = MIN(BG_CHUNK, r->end - a);
			fault_kill_point("dump:bg-chunk");
			ret = copy_chunk(b, p, r, a, len);
			if (ret)
				break;
			p->cursor = a + len;
			uint64_t t0 = now_ns();
			ret = sink->ops->write(sink, b->buf, len);
			st->memwrite_ns += now_ns() - t0;
			st->pages_written += len / PAGE_SIZE;
			a += len;
			/* the writers waiting meanwhile */
			if (!ret)
				ret = serve(b, 0);
		}
	}
	p->current = false;
	p->done = true;
	if (ret) {
		sink->ops->abort(sink);
		return ret;
	}
	/* what it saved is in the image now */
	store_free(&p->st);
	return sink->ops->finish(sink);
}

int bgsnap_copy(struct bgsnap *b, struct page_sink *sink, struct mem_dump_stats *st)
{
	uint64_t t0 = now_ns();
	int ret = 0;
	b->buf = mmap(NULL, BG_CHUNK, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (b->buf == MAP_FAILED) {
		b->buf = NULL;
		return_perror("can't allocate a %lu-byte copy buffer", BG_CHUNK);
	}
	for (int i = 0; !ret && i < b->n; i++)
		ret = copy_proc(b, &b->p[i], sink, st);
	st->memdump_ns += now_ns() - t0;
	pr_info("background snapshot: %llu us to copy, %llu write faults (%llu pages saved "
		"ahead), %llu mremaps (%llu moved pages saved from their new place)",
		(unsigned long long)(now_ns() - t0) / 1000, (unsigned long long)b->faults,
		(unsigned long long)b->saved, (unsigned long long)b->remaps,
		(unsigned long long)b->chased);
	return ret;
}
