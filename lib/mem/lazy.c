/* Lazy restore, the restore's side: which pages are left unfilled, the
 * userfaultfd of each process, the hand-off to `cryo lazy-pages`.  See
 * lazy.h. */
#include "mem/lazy.h"
#include "mem/page_source.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <linux/userfaultfd.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* The events the daemon needs to follow the tree while pages are missing. */
#define LAZY_FEATURES (UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | \
		       UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | \
		       UFFD_FEATURE_THREAD_ID)

bool lazy_vma(const VmaEntry *v)
{
	const unsigned other = VMA_FILE_PRIVATE | VMA_FILE_SHARED | VMA_ANON_SHARED |
			       VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL | VMA_AREA_AIORING |
			       VMA_AREA_SOCKET | VMA_AREA_MEMFD | VMA_AREA_SYSVIPC;
	return (v->status & VMA_AREA_REGULAR) && (v->status & VMA_ANON_PRIVATE) &&
	       !(v->status & other) && (v->prot & PROT_WRITE) &&
	       !(v->flags & (MAP_LOCKED | MAP_HUGETLB)) && !v->n_guards;
}

/* The VMA holding @addr, or NULL. */
static const VmaEntry *vma_of(const struct mem_image *mi, uint64_t addr)
{
	size_t lo = 0, hi = mi->mm->n_vmas;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const VmaEntry *v = mi->mm->vmas[mid];
		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

int lazy_add_eager(struct mem_image *mi, uint64_t addr, uint64_t len)
{
	if (!len)
		return 0;
	uint64_t first = addr & ~(uint64_t)(PAGE_SIZE - 1), last = (addr + len - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	for (uint64_t pg = first; pg <= last; pg += PAGE_SIZE) {
		int i = 0;
		while (i < mi->n_eager && mi->eager[i] < pg)
			i++;
		if (i < mi->n_eager && mi->eager[i] == pg)
			continue;
		uint64_t *v = xrealloc(mi->eager, sizeof(*v) * (mi->n_eager + 1));
		if (!v)
			return -ENOMEM;
		mi->eager = v;
		memmove(&v[i + 1], &v[i], sizeof(*v) * (mi->n_eager - i));
		v[i] = pg;
		mi->n_eager++;
	}
	return 0;
}

/* The first eager page at or after @addr, or ~0. */
static uint64_t next_eager(const struct mem_image *mi, uint64_t addr)
{
	for (int i = 0; i < mi->n_eager; i++)
		if (mi->eager[i] + PAGE_SIZE > addr)
			return mi->eager[i];
	return ~0ULL;
}

bool lazy_addr(const struct mem_image *mi, uint64_t addr)
{
	const VmaEntry *v = mi->lazy ? vma_of(mi, addr) : NULL;
	return v && lazy_vma(v) && next_eager(mi, addr) > addr;
}

uint64_t lazy_skip(const struct mem_image *mi, struct page_source *src, uint64_t at, uint64_t n)
{
	int e;
	uint64_t off;
	enum page_kind k = mi->lazy ? page_source_kind(src, at, &e, &off) : PAGE_ABSENT;
	/* a previous dump's (PE_PARENT) go to the daemon with that dump's
	 * pages image; the parent process's (cow_parent) are filled now */
	if (k != PAGE_OWN && k != PAGE_LAZY && k != PAGE_PREV)
		return 0;
	const VmaEntry *v = vma_of(mi, at);
	if (!v || !lazy_vma(v))
		return 0;
	uint64_t eager = next_eager(mi, at);
	if (eager <= at)
		return 0;	/* the restore writes there: filled now */
	const PagemapEntry *pe = mi->pe[e];
	uint64_t end = MIN(v->end, pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE);
	return MIN(MIN(n, end - at), eager - at);
}

/* "/proc/self/fd/N/NAME": a socket path of any length under @dirfd */
static int sock_addr(struct sockaddr_un *a, int dirfd)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "/proc/self/fd/%d/%s", dirfd, LAZY_SOCKET);
	return 0;
}

int lazy_restore_connect(struct lazy_restore *lr, int dirfd, const char *dir)
{
	struct sockaddr_un a;
	sock_addr(&a, dirfd);
	int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return_perror("can't create a socket for the lazy-pages daemon");
	if (connect(sk, (struct sockaddr *)&a, sizeof(a))) {
		int ret = -errno;
		close(sk);
		pr_err("restore --lazy-pages: can't connect to the lazy-pages daemon at %s/%s: %s; "
		       "start `cryo lazy-pages -D %s` (or with the same --work-dir) first", dir,
		       LAZY_SOCKET, strerror(-ret), dir);
		return ret;
	}
	lr->sk = sk;
	pr_debug("connected to the lazy-pages daemon at %s/%s", dir, LAZY_SOCKET);
	return 0;
}

int lazy_restore_uffd(struct lazy_restore *lr, struct remote *r, pid_t pid)
{
	/* Not user-mode-only: the kernel's own accesses (a read() into a
	 * lazy buffer) must wait for the page too, not fail with EFAULT.
	 * The task still has cryo's credentials here (they are restored
	 * last), so vm.unprivileged_userfaultfd does not matter. */
	long tfd = remote_call(r, "userfaultfd", __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (tfd < 0)
		return (int)tfd;
	int pidfd = syscall(SYS_pidfd_open, pid, 0), uffd = -1, ret = 0;
	if (pidfd < 0)
		ret = log_errno(-errno, "pidfd_open of process %d failed", pid);
	if (!ret) {
		uffd = syscall(SYS_pidfd_getfd, pidfd, (int)tfd, 0);
		if (uffd < 0)
			ret = log_errno(-errno, "can't take the userfaultfd of process %d "
					"(pidfd_getfd)", pid);
	}
	if (pidfd >= 0)
		close(pidfd);
	long c = remote_call(r, "close", __NR_close, tfd);
	if (!ret && c < 0)
		ret = (int)c;
	if (!ret) {
		struct lazy_proc *v = xrealloc(lr->v, sizeof(*v) * (lr->n + 1));
		if (!v) {
			ret = -ENOMEM;
		} else {
			lr->v = v;
			lr->v[lr->n++] = (struct lazy_proc){ pid, uffd };
			return 0;
		}
	}
	if (uffd >= 0)
		close(uffd);
	return ret;
}

/* The index (1..) of @fd in @files, added if new; 0 when full. */
static uint64_t file_index(int *files, uint32_t *nfiles, int fd)
{
	for (uint32_t i = 0; i < *nfiles; i++)
		if (files[i] == fd)
			return i + 1;
	if (*nfiles >= LAZY_MAX_FILES)
		return 0;
	files[(*nfiles)++] = fd;
	return *nfiles;
}

/* The lazy ranges of @mi, in address order; @files gets the previous
 * dumps' pages images they refer to. */
static int collect(const struct mem_image *mi, int pages_fd, struct page_source *prev,
		   struct lazy_range **out, uint32_t *nr, int *files, uint32_t *nfiles)
{
	struct page_source src;
	struct lazy_range *v = NULL;
	uint32_t n = 0;
	int ret = page_source_local(&src, mi, pages_fd);
	src.parent = prev;
	for (int i = 0; !ret && i < mi->n_pe; i++) {
		const PagemapEntry *pe = mi->pe[i];
		uint64_t end = pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE;
		for (uint64_t at = pe->vaddr; at < end && !ret;) {
			uint64_t k = lazy_skip(mi, &src, at, end - at);
			if (!k) {
				at += PAGE_SIZE;	/* filled at restore */
				continue;
			}
			int e;
			uint64_t off, fl = 0;
			enum page_kind pk = page_source_kind(&src, at, &e, &off);
			if (pk == PAGE_LAZY && !(mi->pe[e]->flags & PE_PRESENT)) {
				off = at;	/* on the source: asked by address */
				fl = LAZY_REMOTE;
			} else if (pk == PAGE_PREV) {
				struct page_loc loc;
				uint64_t fi = 0;
				if (!page_source_locate(&src, at, &loc))
					fi = file_index(files, nfiles, loc.fd);
				if (!fi) {
					pr_err("restore --lazy-pages: no previous dump holds the page "
					       "at 0x%llx, or more than %d do", (unsigned long long)at,
					       LAZY_MAX_FILES);
					ret = -EINVAL;
					break;
				}
				k = MIN(k, loc.len);
				off = loc.off;
				fl = fi << LAZY_FILE_SHIFT;
			}
			if (n && v[n - 1].addr + v[n - 1].len == at && v[n - 1].flags == fl &&
			    v[n - 1].off + v[n - 1].len == off) {
				v[n - 1].len += k;
			} else {
				struct lazy_range *nv = xrealloc(v, sizeof(*v) * (n + 1));
				if (!nv) {
					ret = -ENOMEM;
					break;
				}
				v = nv;
				v[n++] = (struct lazy_range){ at, k, off, fl };
			}
			at += k;
		}
	}
	page_source_fini(&src);
	if (ret) {
		free(v);
		return ret;
	}
	*out = v;
	*nr = n;
	return 0;
}

static struct lazy_proc *find(struct lazy_restore *lr, pid_t pid)
{
	for (int i = 0; i < lr->n; i++)
		if (lr->v[i].pid == pid)
			return &lr->v[i];
	return NULL;
}

static int send_msg(int sk, const struct lazy_msg *m, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * (3 + LAZY_MAX_FILES))] = { 0 };
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		h.msg_control = cbuf;
		h.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n = sendmsg(sk, &h, MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(*m))
		return 0;
	if (n >= 0)	/* a stream socket sends a small message whole or not */
		return write_all(sk, (const char *)m + n, sizeof(*m) - n);
	return -errno;
}

int lazy_restore_send(struct lazy_restore *lr, pid_t pid, const struct mem_image *mi, int pages_fd,
		      struct page_source *prev)
{
	struct lazy_proc *lp = find(lr, pid);
	if (!lp || !mi->lazy)
		return 0;
	struct uffdio_api api = { .api = UFFD_API, .features = LAZY_FEATURES };
	if (ioctl(lp->uffd, UFFDIO_API, &api))
		return log_errno(-errno, "UFFDIO_API (missing faults with fork, remap, remove and "
				 "unmap events) on the userfaultfd of process %d failed", pid);
	const MmEntry *mm = mi->mm;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!lazy_vma(v) || !mem_image_has_pages(mi, v->start, v->end))
			continue;
		struct uffdio_register reg = { .range = { v->start, v->end - v->start },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };
		if (ioctl(lp->uffd, UFFDIO_REGISTER, &reg))
			return log_errno(-errno, "UFFDIO_REGISTER of process %d's memory "
					 "0x%llx-0x%llx (lazy pages) failed", pid,
					 (unsigned long long)v->start, (unsigned long long)v->end);
	}
	struct lazy_range *r = NULL;
	uint32_t nr = 0, nfiles = 0;
	int fds[3 + LAZY_MAX_FILES];
	int ret = collect(mi, pages_fd, prev, &r, &nr, fds + 3, &nfiles);
	if (ret)
		return ret;
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		free(r);
		return log_errno(-errno, "pidfd_open of process %d failed", pid);
	}
	struct lazy_msg m = { LAZY_MAGIC, pid, nr, nfiles };
	fds[0] = lp->uffd;
	fds[1] = pages_fd;
	fds[2] = pidfd;
	ret = send_msg(lr->sk, &m, fds, 3 + nfiles);
	if (!ret && nr)
		ret = write_all(lr->sk, r, sizeof(*r) * nr);
	close(pidfd);
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < nr; i++)
		bytes += r[i].len;
	free(r);
	if (ret)
		return log_errno(ret, "can't send process %d to the lazy-pages daemon", pid);
	pr_info("process %d: %u runs, %llu KiB left to the lazy-pages daemon (%u previous "
		"dumps' images)", pid, nr, (unsigned long long)bytes >> 10, nfiles);
	return 0;
}

int lazy_restore_finish(struct lazy_restore *lr)
{
	struct lazy_msg m = { LAZY_MAGIC, 0, 0, 0 };
	int32_t answer = 0;
	int ret = send_msg(lr->sk, &m, NULL, 0);
	/* ours go first: the daemon's copies must be the last ones */
	for (int i = 0; i < lr->n; i++)
		close(lr->v[i].uffd);
	lr->n = 0;
	if (ret)
		return log_errno(ret, "can't send the end of the list to the lazy-pages daemon");
	ssize_t n = read_all(lr->sk, &answer, sizeof(answer));
	if (n != sizeof(answer)) {
		pr_err("the lazy-pages daemon closed the connection without an answer (see its log)");
		return -ECONNRESET;
	}
	if (answer) {
		pr_err("the lazy-pages daemon refused the tree: %s (see its log)", strerror(-answer));
		return answer < 0 ? answer : -EINVAL;
	}
	pr_debug("the lazy-pages daemon serves the tree");
	return 0;
}

void lazy_restore_free(struct lazy_restore *lr)
{
	for (int i = 0; i < lr->n; i++)
		close(lr->v[i].uffd);
	free(lr->v);
	lr->v = NULL;
	lr->n = 0;
	if (lr->sk > 0)
		close(lr->sk);
	lr->sk = 0;
}
