/* The page sink of dump --page-server: criu's page server protocol
 * (page_xfer.h) on a TCP connection, to `cryo page-server` or
 * `criu page-server`.
 *
 * The walk's add_run() may run ahead of the writer thread's write() of the
 * data of earlier runs (page_sink.h), while the protocol wants each run's
 * header directly followed by its contents.  So runs are queued, and a
 * header goes out only once everything before it has: a run without
 * contents at once, a run with contents when its turn comes, its bytes
 * then following as write() hands them over.  One lock covers the queue
 * and the socket. */
#include "mem/page_sink.h"
#include "mem/ps_tls.h"
#include "mem/page_xfer.h"
#include "mem/mem.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A reply or a send that makes no progress for this long fails the dump
 * (the tree is frozen meanwhile). */
#define PS_IO_TIMEOUT_S 60
/* Runs are cut to fit the header's 32-bit page count. */
#define PS_MAX_RUN_PAGES (1u << 30)

struct ps_sink {
	struct page_sink s;
	int sk;
	bool close_cmd;
	char peer[128];
	char what[64];		/* "process 123", "shared memory 0x..." */
	pthread_mutex_t lock;
	uint64_t dst_id;
	struct page_run *q;	/* runs whose header is not sent yet */
	size_t qhead, qn, qcap;
	uint64_t left;		/* bytes of the current run's contents still due */
	int err;		/* the first failure: the stream is out of step */
	struct ps_tls *tls;	/* --tls: the stream goes through it */
};

static struct ps_sink *ps(struct page_sink *s)
{
	return (struct ps_sink *)s;
}

static int fail(struct ps_sink *p, int err, const char *doing)
{
	if (!p->err) {
		p->err = err;
		if (err == -EAGAIN)
			p->err = -ETIMEDOUT;
		log_errno(p->err, "page server %s: can't %s for %s", p->peer, doing, p->what);
	}
	return p->err;
}

static int send_all(struct ps_sink *p, const void *buf, size_t len, int flags, const char *doing)
{
	while (len) {
		ssize_t n = p->tls ? ps_tls_send(p->tls, buf, len)
				   : send(p->sk, buf, len, flags | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(p, -errno, doing);
		}
		buf = (const char *)buf + n;
		len -= n;
	}
	return 0;
}

static int recv_all(struct ps_sink *p, void *buf, size_t len, const char *doing)
{
	while (len) {
		ssize_t n = p->tls ? ps_tls_recv(p->tls, buf, len) : recv(p->sk, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n) {
				p->err = -ECONNRESET;
				pr_err("page server %s closed the connection while cryo waited to %s "
				       "for %s (see the page server's log)", p->peer, doing, p->what);
				return p->err;
			}
			return fail(p, -errno, doing);
		}
		buf = (char *)buf + n;
		len -= n;
	}
	return 0;
}

static int send_iov(struct ps_sink *p, uint32_t cmd, uint32_t nr_pages, uint64_t vaddr,
		    bool more)
{
	struct ps_iov pi = { .cmd = cmd, .nr_pages = nr_pages, .vaddr = vaddr,
			     .dst_id = p->dst_id };
	return send_all(p, &pi, sizeof(pi), more ? MSG_MORE : 0, "send a command");
}

/* Send the headers that may go now: with the current run's contents all
 * sent, the next queued runs' (up to and including one with contents). */
static int pump(struct ps_sink *p)
{
	while (!p->err && !p->left && p->qhead < p->qn) {
		const struct page_run *r = &p->q[p->qhead++];
		bool data = r->flags & PE_PRESENT;
		int ret = send_iov(p, ps_cmd(PS_IOV_ADD_F, r->flags), r->nr_pages, r->vaddr, data);
		if (ret)
			return ret;
		if (data)
			p->left = r->nr_pages * PAGE_SIZE;
	}
	if (p->qhead == p->qn)
		p->qhead = p->qn = 0;
	return p->err;
}

static int do_open(struct ps_sink *p, uint64_t dst_id)
{
	char has_parent;
	if (p->err)
		return p->err;
	p->dst_id = dst_id;
	p->qhead = p->qn = 0;
	p->left = 0;
	int ret = send_iov(p, PS_IOV_OPEN2, 0, 0, false);
	if (!ret)
		ret = recv_all(p, &has_parent, 1, "open the pagemap");
	/* a parent image on the server's side matters only to incremental
	 * dumps (PE_PARENT runs), which cryo does not make yet */
	return ret;
}

static int ps_open(struct page_sink *s, pid_t pid, uint32_t pages_id)
{
	(void)pages_id;	/* the server numbers the pages images it writes */
	s->pid = pid;
	snprintf(ps(s)->what, sizeof(ps(s)->what), "process %d", pid);
	return do_open(ps(s), ps_dst_id(PS_TYPE_PID, pid));
}

static int ps_open_shmem(struct page_sink *s, uint64_t shmid, uint32_t pages_id)
{
	struct ps_sink *p = ps(s);
	(void)pages_id;
	s->pid = 0;
	snprintf(p->what, sizeof(p->what), "shared memory 0x%llx", (unsigned long long)shmid);
	if (shmid > PS_ID_MAX) {
		pr_err("shared memory object 0x%llx: its id does not fit in the page server "
		       "protocol's 56 bits; dump it without --page-server",
		       (unsigned long long)shmid);
		return -EOVERFLOW;
	}
	return do_open(p, ps_dst_id(PS_TYPE_SHMEM, shmid));
}

static int ps_add_run(struct page_sink *s, const struct page_run *run)
{
	struct ps_sink *p = ps(s);
	if (run->cow_parent) {
		pr_err("page server %s: a cow_parent run for %s (a cryo extension criu's protocol "
		       "can't carry)", p->peer, p->what);
		return -EINVAL;
	}
	pthread_mutex_lock(&p->lock);
	int ret = p->err;
	for (uint64_t done = 0; !ret && done < run->nr_pages;) {
		if (p->qn == p->qcap) {
			size_t cap = p->qcap ? p->qcap * 2 : 64;
			struct page_run *q = xrealloc(p->q, cap * sizeof(*q));
			if (!q) {
				ret = -ENOMEM;
				break;
			}
			p->q = q;
			p->qcap = cap;
		}
		uint64_t n = MIN(run->nr_pages - done, (uint64_t)PS_MAX_RUN_PAGES);
		p->q[p->qn++] = (struct page_run){ .vaddr = run->vaddr + done * PAGE_SIZE,
						   .nr_pages = n, .flags = run->flags };
		done += n;
	}
	if (!ret)
		ret = pump(p);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Called from the dump's writer thread. */
static int ps_write(struct page_sink *s, const void *buf, size_t len)
{
	struct ps_sink *p = ps(s);
	int ret = 0;
	pthread_mutex_lock(&p->lock);
	while (!ret && len) {
		ret = pump(p);
		if (ret)
			break;
		if (!p->left) {
			pr_err("page server %s: %zu bytes of %s's pages with no run to send them in "
			       "(a bug in cryo)", p->peer, len, p->what);
			ret = p->err = -EPROTO;
			break;
		}
		size_t n = MIN((uint64_t)len, p->left);
		ret = send_all(p, buf, n, p->left > n || len > n ? MSG_MORE : 0, "send pages");
		p->left -= n;
		buf = (const char *)buf + n;
		len -= n;
	}
	if (!ret)
		ret = pump(p);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static int ps_finish(struct page_sink *s)
{
	struct ps_sink *p = ps(s);
	pthread_mutex_lock(&p->lock);
	int ret = pump(p);
	if (!ret && (p->left || p->qn)) {
		pr_err("page server %s: %s ended with %llu bytes of pages unsent (a bug in cryo)",
		       p->peer, p->what, (unsigned long long)p->left);
		ret = p->err = -EPROTO;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* A run's header may be out without all its bytes: the stream can't go on.
 * The dump fails; the server sees the connection close without a flush
 * and keeps nothing it would call complete. */
static void ps_abort(struct page_sink *s)
{
	struct ps_sink *p = ps(s);
	pthread_mutex_lock(&p->lock);
	if (!p->err && (p->left || p->qn))
		p->err = -ECANCELED;
	p->qhead = p->qn = 0;
	pthread_mutex_unlock(&p->lock);
}

/* Every pagemap is sent: the server answers the flush once it has written
 * them all. */
static int ps_end(struct page_sink *s)
{
	struct ps_sink *p = ps(s);
	int32_t status = -1;
	snprintf(p->what, sizeof(p->what), "the end of the dump");
	if (p->err)
		return p->err;
	int ret = send_iov(p, p->close_cmd ? PS_IOV_FLUSH_N_CLOSE : PS_IOV_FLUSH, 0, 0, false);
	if (!ret)
		ret = recv_all(p, &status, sizeof(status), "get the answer to the flush");
	if (!ret && status) {
		pr_err("page server %s failed to write the pages it received (status %d; see its "
		       "log)", p->peer, status);
		ret = p->err = -EIO;
	}
	if (!ret)
		pr_info("page server %s has every page", p->peer);
	return ret;
}

static void ps_destroy(struct page_sink *s)
{
	struct ps_sink *p = ps(s);
	ps_tls_end(p->tls);
	close(p->sk);
	pthread_mutex_destroy(&p->lock);
	free(p->q);
	free(p);
}

static const struct page_sink_ops ps_ops = {
	.open = ps_open,
	.add_run = ps_add_run,
	.write = ps_write,
	.finish = ps_finish,
	.abort = ps_abort,
	.destroy = ps_destroy,
	.open_shmem = ps_open_shmem,
	.end = ps_end,
};

int page_sink_server(int sk, const char *peer, bool close_cmd, struct page_sink **out)
{
	struct ps_sink *p = xzalloc(sizeof(*p));
	if (!p) {
		close(sk);
		return -ENOMEM;
	}
	p->s.ops = &ps_ops;
	p->s.no_cow_parent = true;
	p->sk = sk;
	p->close_cmd = close_cmd;
	snprintf(p->peer, sizeof(p->peer), "%s", peer);
	snprintf(p->what, sizeof(p->what), "the dump");
	pthread_mutex_init(&p->lock, NULL);
	struct timeval tv = { .tv_sec = PS_IO_TIMEOUT_S };
	setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sk, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* headers are small and some wait for an answer: never hold them back
	 * (the data goes with MSG_MORE) */
	int one = 1;
	setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = &p->s;
	return 0;
}

int page_sink_server_tls(struct page_sink *s, const struct ps_tls_opts *o)
{
	struct ps_sink *p = ps(s);
	return ps_tls_start(p->sk, false, o, p->peer, &p->tls);
}

int page_server_connect(const char *address, int port)
{
	const char *gai_err;
	int sk = tcp_connect(address, port, &gai_err);
	if (gai_err) {
		pr_err("page server %s:%d: can't resolve the address: %s", address, port, gai_err);
		return sk;
	}
	if (sk < 0)
		return log_errno(sk, "can't connect to the page server at %s:%d (is `cryo "
				 "page-server --port %d` or `criu page-server` listening there?)",
				 address, port, port);
	pr_info("connected to the page server at %s:%d", address, port);
	return sk;
}
