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
#include "mem/ps_tls.h"
#include "util/log.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
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

static bool known_pid(const pid_t *pids, int n, uint64_t pid)
{
	for (int i = 0; i < n; i++)
		if ((uint64_t)pids[i] == pid)
			return true;
	return false;
}

#define LAZY_TLS_REFUSALS 5

/* "ADDR:PORT" of @sk's peer, for messages. */
static void peer_name(int sk, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (!getpeername(sk, (struct sockaddr *)&ss, &sl)) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		}
	}
	snprintf(out, len, "%s port %d", host, port);
}

int lazy_dump_serve(int lsk, const char *name, const pid_t *pids, int npids,
		    const struct ps_tls_opts *tls_opts)
{
	int sk, ret = 0;
	char *buf = NULL;	/* an answer: its header, then its pages */
	size_t bufsz = 0;
	uint64_t served = 0, gets = 0;
	struct ps_tls *tls = NULL;
	char peer[INET6_ADDRSTRLEN + 16], what[300];

	pr_msg("serving the lazy pages on %s until the destination has them all", name);
	for (int refused = 0;; refused++) {
		do
			sk = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
		while (sk < 0 && errno == EINTR);
		if (sk < 0)
			return log_errno(-errno, "lazy pages: accept on %s failed", name);
		int one = 1;	/* a request and its answer each go out at once */
		setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		peer_name(sk, peer, sizeof(peer));
		if (!tls_opts)
			break;
		/* the destination (a client certificate required, as the page
		 * server does); every byte from here on goes through TLS */
		struct ps_tls_opts o = *tls_opts;
		o.what = "lazy pages: the destination";
		snprintf(what, sizeof(what), "%s (on %s)", peer, name);
		ret = ps_tls_start(sk, true, &o, what, &tls);
		if (!ret)
			break;
		close(sk);
		/* nothing was served: a connection refused (a plain client, a
		 * certificate not of the CA) leaves the listener to the right
		 * destination, a few times */
		if (refused == LAZY_TLS_REFUSALS - 1) {
			pr_err("lazy pages: %d connections on %s refused: giving up", refused + 1,
			       name);
			return ret;
		}
		pr_warn("lazy pages: refused the connection from %s; waiting for the destination "
			"on %s again", peer, name);
	}
	for (;;) {
		struct ps_iov pi;
		ssize_t n = ps_io_read_all(sk, tls, &pi, sizeof(pi));
		if (n == 0)
			break;	/* the destination is done */
		if (n != sizeof(pi)) {
			ret = log_errno(n < 0 ? (int)n : -EPIPE, "lazy pages: the connection from %s "
					"on %s broke", peer, name);
			break;
		}
		uint32_t cmd = ps_cmd_of(pi.cmd);
		if (cmd == PS_IOV_FLUSH_N_CLOSE || cmd == PS_IOV_FLUSH) {
			int32_t zero = 0;
			ps_io_write_all(sk, tls, &zero, sizeof(zero));
			if (cmd == PS_IOV_FLUSH_N_CLOSE)
				break;
			continue;
		}
		uint64_t pid;
		if (cmd != PS_IOV_GET || ps_dst_decode(pi.dst_id, &pid) != PS_TYPE_PID ||
		    !known_pid(pids, npids, pid) || !pi.nr_pages || pi.nr_pages > (1u << 18) ||
		    (pi.vaddr & (PAGE_SIZE - 1))) {
			pr_err("lazy pages: a request from %s on %s is not a GET of pages of the "
			       "tree (command %u, %u pages at 0x%llx, destination %#llx)%s", peer,
			       name, cmd, pi.nr_pages, (unsigned long long)pi.vaddr,
			       (unsigned long long)pi.dst_id, tls_opts ? "" :
			       " (a destination with --tls? this dump has no --tls)");
			ret = -EBADMSG;
			break;
		}
		size_t len = (size_t)pi.nr_pages * PAGE_SIZE;
		if (sizeof(pi) + len > bufsz) {
			char *nb = xrealloc(buf, sizeof(pi) + len);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
			bufsz = sizeof(pi) + len;
		}
		struct iovec l = { buf + sizeof(pi), len }, r = { (void *)(uintptr_t)pi.vaddr, len };
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
		/* the header and its pages in one write (with TLS: in as few
		 * records as it takes, never a header alone) */
		memcpy(buf, &ans, sizeof(ans));
		ret = ps_io_write_all(sk, tls, buf, sizeof(ans) + len);
		if (ret) {
			log_errno(ret, "lazy pages: can't answer %s on %s", peer, name);
			break;
		}
		gets++;
		served += pi.nr_pages;
	}
	pr_info("lazy pages: %llu requests, %llu pages served%s", (unsigned long long)gets,
		(unsigned long long)served, tls ? " over TLS" : "");
	free(buf);
	ps_tls_end(tls);
	close(sk);
	return ret;
}
