/* `cryo dump --lazy-pages --port N [--address A]`: the dump of a post-copy
 * migration.  The pages of lazy VMAs (lazy_vma()) are not written: their
 * pagemap entries are PE_LAZY without PE_PRESENT (criu's form), made by a
 * sink in front of the usual one.  Once the images are committed the tree
 * stays frozen and the dump serves those pages over criu's page server
 * protocol, read from the frozen processes with process_vm_readv: a
 * `cryo lazy-pages --page-server` on the destination asks with
 * PS_IOV_GET (nr_pages, vaddr, the process) and gets a PS_IOV_ADD_F
 * header with the same run, then the bytes (nr_pages 0: no such pages).
 * The session ends with PS_IOV_FLUSH_N_CLOSE (answered with a 32-bit 0) or
 * when the destination closes the connection; then the tree is killed as
 * after any dump.  See lazy.h. */
#include "mem/lazy.h"
#include "mem/page_sink.h"
#include "mem/page_xfer.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "compat/uapi-extra.h"

struct lazy_sink {
	struct page_sink s;
	struct page_sink *inner;
	struct mem_page_runs lazy;	/* of the process being written */
	int at;
	uint64_t pages;			/* left out, in all */
};

static struct lazy_sink *lsink(struct page_sink *s)
{
	return (struct lazy_sink *)s;
}

static bool in_lazy(struct lazy_sink *x, uint64_t addr, uint64_t *end)
{
	const struct mem_page_runs *r = &x->lazy;
	while ((size_t)x->at < r->n && r->end[x->at] <= addr)
		x->at++;
	if ((size_t)x->at < r->n && r->start[x->at] <= addr) {
		*end = r->end[x->at];
		return true;
	}
	*end = (size_t)x->at < r->n ? r->start[x->at] : UINT64_MAX;
	return false;
}

static int ls_open(struct page_sink *s, pid_t pid, uint32_t pages_id)
{
	lsink(s)->at = 0;
	s->pid = pid;
	return lsink(s)->inner->ops->open(lsink(s)->inner, pid, pages_id);
}

static uint64_t ls_run_end(struct page_sink *s, uint64_t addr, uint64_t end)
{
	uint64_t e;
	in_lazy(lsink(s), addr, &e);
	struct page_sink *in = lsink(s)->inner;
	if (in->ops->run_end)
		end = in->ops->run_end(in, addr, end);
	return MIN(e, end);
}

static int ls_add_run(struct page_sink *s, const struct page_run *run)
{
	struct lazy_sink *x = lsink(s);
	uint64_t e;
	if (!(run->flags & PE_PRESENT) || run->cow_parent || !in_lazy(x, run->vaddr, &e))
		return x->inner->ops->add_run(x->inner, run);
	/* the walk split its runs at run_end(): all of it is lazy */
	struct page_run lr = { .vaddr = run->vaddr, .nr_pages = run->nr_pages, .flags = PE_LAZY };
	int ret = x->inner->ops->add_run(x->inner, &lr);
	x->pages += run->nr_pages;
	return ret ? ret : PAGE_SINK_SKIP;
}

static int ls_write(struct page_sink *s, const void *buf, size_t len)
{
	return lsink(s)->inner->ops->write(lsink(s)->inner, buf, len);
}

static int ls_finish(struct page_sink *s)
{
	mem_page_runs_free(&lsink(s)->lazy);
	return lsink(s)->inner->ops->finish(lsink(s)->inner);
}

static void ls_abort(struct page_sink *s)
{
	mem_page_runs_free(&lsink(s)->lazy);
	lsink(s)->inner->ops->abort(lsink(s)->inner);
}

static int ls_open_shmem(struct page_sink *s, uint64_t shmid, uint32_t pages_id)
{
	struct lazy_sink *x = lsink(s);
	mem_page_runs_free(&x->lazy);	/* shared memory is written whole */
	x->at = 0;
	if (!x->inner->ops->open_shmem)
		return -EOPNOTSUPP;
	return x->inner->ops->open_shmem(x->inner, shmid, pages_id);
}

static int ls_end(struct page_sink *s)
{
	return page_sink_end(lsink(s)->inner);
}

static void ls_destroy(struct page_sink *s)
{
	struct lazy_sink *x = lsink(s);
	page_sink_destroy(x->inner);
	mem_page_runs_free(&x->lazy);
	free(x);
}

static const struct page_sink_ops lazy_sink_ops = {
	.open = ls_open,
	.add_run = ls_add_run,
	.run_end = ls_run_end,
	.write = ls_write,
	.finish = ls_finish,
	.abort = ls_abort,
	.destroy = ls_destroy,
	.open_shmem = ls_open_shmem,
	.end = ls_end,
};

int page_sink_lazy(struct page_sink *inner, struct page_sink **out)
{
	struct lazy_sink *x = xzalloc(sizeof(*x));
	if (!x) {
		page_sink_destroy(inner);
		return -ENOMEM;
	}
	x->s.ops = &lazy_sink_ops;
	x->s.no_cow_parent = true;	/* a child's pages are served as its own */
	x->inner = inner;
	*out = &x->s;
	return 0;
}

/* The pages the restore writes before the userfaultfd exists (each
 * thread's rseq area, and the critical section descriptor it points at):
 * written into the images, not served (lazy_add_eager() on the other
 * side). */
static int rseq_pages(const pid_t *tids, int ntids, uint64_t **out, int *n)
{
	struct mem_image mi = { 0 };
	for (int i = 0; i < ntids; i++) {
		struct __ptrace_rseq_configuration rc;
		if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tids[i], sizeof(rc), &rc) != sizeof(rc) ||
		    !rc.rseq_abi_pointer)
			continue;
		int ret = lazy_add_eager(&mi, rc.rseq_abi_pointer, rc.rseq_abi_size);
		uint64_t cs = 0;
		struct iovec l = { &cs, sizeof(cs) }, r = { (void *)(uintptr_t)(rc.rseq_abi_pointer + 8),
							    sizeof(cs) };
		if (!ret && process_vm_readv(tids[i], &l, 1, &r, 1, 0) == sizeof(cs) && cs)
			ret = lazy_add_eager(&mi, cs, 32);
		if (ret) {
			free(mi.eager);
			return ret;
		}
	}
	*out = mi.eager;
	*n = mi.n_eager;
	return 0;
}

int page_sink_lazy_set_mm(struct page_sink *s, const MmEntry *mm, const pid_t *tids, int ntids)
{
	struct lazy_sink *x = lsink(s);
	if (s->ops != &lazy_sink_ops)
		return 0;
	mem_page_runs_free(&x->lazy);
	x->at = 0;
	uint64_t *eager = NULL;
	int ne = 0, ret = rseq_pages(tids, ntids, &eager, &ne);
	for (size_t i = 0; !ret && i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!lazy_vma(v))
			continue;
		uint64_t from = v->start;
		for (int k = 0; k < ne && !ret; k++) {
			if (eager[k] < from || eager[k] >= v->end)
				continue;
			if (eager[k] > from)
				ret = mem_page_runs_add(&x->lazy, from, eager[k]);
			from = eager[k] + PAGE_SIZE;
		}
		if (!ret && from < v->end)
			ret = mem_page_runs_add(&x->lazy, from, v->end);
	}
	free(eager);
	return ret;
}

uint64_t page_sink_lazy_pages(struct page_sink *s)
{
	return s && s->ops == &lazy_sink_ops ? lsink(s)->pages : 0;
}

/* ---- serving the pages ---- */

/* The whole of @iov on @fd (a header and its pages in one segment). */
static int writev_all(int fd, struct iovec *iov, int n)
{
	while (n) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return 0;
}

static bool known_pid(const pid_t *pids, int n, uint64_t pid)
{
	for (int i = 0; i < n; i++)
		if ((uint64_t)pids[i] == pid)
			return true;
	return false;
}

int lazy_dump_serve(int lsk, const char *name, const pid_t *pids, int npids)
{
	int sk, ret = 0;
	char *buf = NULL;
	size_t bufsz = 0;
	uint64_t served = 0, gets = 0;

	pr_msg("serving the lazy pages on %s until the destination has them all", name);
	do
		sk = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
	while (sk < 0 && errno == EINTR);
	if (sk < 0)
		return log_errno(-errno, "lazy pages: accept on %s failed", name);
	int one = 1;	/* a request and its answer each go out at once */
	setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		struct ps_iov pi;
		ssize_t n = read_all(sk, &pi, sizeof(pi));
		if (n == 0)
			break;	/* the destination is done */
		if (n != sizeof(pi)) {
			ret = log_errno(n < 0 ? (int)n : -EPIPE, "lazy pages: the connection on %s "
					"broke", name);
			break;
		}
		uint32_t cmd = ps_cmd_of(pi.cmd);
		if (cmd == PS_IOV_FLUSH_N_CLOSE || cmd == PS_IOV_FLUSH) {
			int32_t zero = 0;
			write_all(sk, &zero, sizeof(zero));
			if (cmd == PS_IOV_FLUSH_N_CLOSE)
				break;
			continue;
		}
		uint64_t pid;
		if (cmd != PS_IOV_GET || ps_dst_decode(pi.dst_id, &pid) != PS_TYPE_PID ||
		    !known_pid(pids, npids, pid) || !pi.nr_pages || pi.nr_pages > (1u << 18) ||
		    (pi.vaddr & (PAGE_SIZE - 1))) {
			pr_err("lazy pages: a request on %s is not a GET of pages of the tree "
			       "(command %u, %u pages at 0x%llx, destination %#llx)", name, cmd,
			       pi.nr_pages, (unsigned long long)pi.vaddr,
			       (unsigned long long)pi.dst_id);
			ret = -EBADMSG;
			break;
		}
		size_t len = (size_t)pi.nr_pages * PAGE_SIZE;
		if (len > bufsz) {
			char *nb = xrealloc(buf, len);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
			bufsz = len;
		}
		struct iovec l = { buf, len }, r = { (void *)(uintptr_t)pi.vaddr, len };
		ssize_t got = process_vm_readv((pid_t)pid, &l, 1, &r, 1, 0);
		struct ps_iov ans = { ps_cmd(PS_IOV_ADD_F, PE_PRESENT), pi.nr_pages, pi.vaddr,
				      pi.dst_id };
		if (got != (ssize_t)len) {
			pr_warn("lazy pages: can't read %zu bytes at 0x%llx of process %llu: %s",
				len, (unsigned long long)pi.vaddr, (unsigned long long)pid,
				got < 0 ? strerror(errno) : "short read");
			ans = (struct ps_iov){ ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 0, 0, 0 };
			len = 0;
		}
		struct iovec out[2] = { { &ans, sizeof(ans) }, { buf, len } };
		ret = writev_all(sk, out, len ? 2 : 1);
		if (ret) {
			log_errno(ret, "lazy pages: can't answer on %s", name);
			break;
		}
		gets++;
		served += pi.nr_pages;
	}
	pr_info("lazy pages: %llu requests, %llu pages served", (unsigned long long)gets,
		(unsigned long long)served);
	free(buf);
	close(sk);
	return ret;
}
