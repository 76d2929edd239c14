/* `cryo page-server`: the receiving end of dump --page-server (criu's page
 * server protocol, page_xfer.h).  It writes what it receives through the
 * images directory's page sink (page_sink.c), so pagemap-*.img and
 * pages-*.img come out as a local dump writes them (pages images numbered
 * from 1 in the order the pagemaps arrive, which is a local dump's order).
 *
 * One session, as criu's page server: the first connection is served and
 * the server exits when it ends (PS_IOV_FLUSH_N_CLOSE, or the connection
 * closing after a PS_IOV_FLUSH).  Every header is checked before it is
 * acted on; anything malformed ends the session with an error naming it. */
#include "mem/page_server.h"
#include "mem/page_sink.h"
#include "mem/page_xfer.h"
#include "mem/ps_tls.h"
#include "mem/mem.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_BUF (1UL << 20)

struct ps_session {
	int sk;
	struct ps_tls *tls;	/* --tls, NULL: none */
	const char *peer;
	struct page_sink *sink;	/* the images directory's */
	bool open;
	uint64_t dst_id;
	uint64_t next_vaddr;	/* runs of one pagemap come in address order */
	uint32_t next_pages_id;
	char *buf;
	uint64_t pages;		/* received, for the log */
};

/* 1: a whole header, 0: the connection closed before one, <0: error. */
static int recv_full(struct ps_session *ss, void *buf, size_t len, bool eof_ok)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = ss->tls ? ps_tls_recv(ss->tls, (char *)buf + got, len - got)
				    : recv(ss->sk, (char *)buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return log_errno(-errno, "page server: can't receive from %s", ss->peer);
		if (!n) {
			if (!got && eof_ok)
				return 0;
			pr_err("page server: %s closed the connection in the middle of a %s (%zu of "
			       "%zu bytes)", ss->peer, eof_ok ? "command" : "run's pages", got, len);
			return -ECONNRESET;
		}
		got += n;
	}
	return 1;
}

static int send_reply(struct ps_session *ss, const void *buf, size_t len)
{
	ssize_t n = ss->tls ? ps_tls_send(ss->tls, buf, len) : send(ss->sk, buf, len, MSG_NOSIGNAL);
	if (n == (ssize_t)len)
		return 0;
	return log_errno(n < 0 ? -errno : -EIO, "page server: can't answer %s", ss->peer);
}

static int close_current(struct ps_session *ss)
{
	if (!ss->open)
		return 0;
	ss->open = false;
	return ss->sink->ops->finish(ss->sink);
}

static int open_dst(struct ps_session *ss, uint64_t dst_id)
{
	uint64_t id;
	int type = ps_dst_decode(dst_id, &id), ret;

	ret = close_current(ss);
	if (ret)
		return ret;
	if (type == PS_TYPE_PID) {
		if (!id || id > INT_MAX) {
			pr_err("page server: %s opened the pagemap of process %llu, no valid PID",
			       ss->peer, (unsigned long long)id);
			return -EBADMSG;
		}
		pr_debug("page server: pagemap-%llu.img, pages-%u.img", (unsigned long long)id,
			 ss->next_pages_id);
		ret = ss->sink->ops->open(ss->sink, (pid_t)id, ss->next_pages_id);
	} else {
		pr_debug("page server: pagemap-shmem-%llu.img, pages-%u.img",
			 (unsigned long long)id, ss->next_pages_id);
		ret = ss->sink->ops->open_shmem(ss->sink, id, ss->next_pages_id);
	}
	if (ret)
		return ret;
	ss->next_pages_id++;
	ss->open = true;
	ss->dst_id = dst_id;
	ss->next_vaddr = 0;
	return 0;
}

static int add_run(struct ps_session *ss, const struct ps_iov *pi)
{
	uint32_t flags = ps_entry_flags(pi);
	int ret;

	if (!ss->open || ss->dst_id != pi->dst_id) {
		/* criu's server takes it too (an old client's way) */
		pr_warn("page server: %s sent a run for 0x%llx without opening it first",
			ss->peer, (unsigned long long)pi->dst_id);
		ret = open_dst(ss, pi->dst_id);
		if (ret)
			return ret;
	}
	if (pi->vaddr < ss->next_vaddr) {
		pr_err("page server: %s sent a run at 0x%llx, below the end 0x%llx of the one "
		       "before: a pagemap's runs must come in address order, without overlaps",
		       ss->peer, (unsigned long long)pi->vaddr,
		       (unsigned long long)ss->next_vaddr);
		return -EBADMSG;
	}
	uint64_t len = (uint64_t)pi->nr_pages * PAGE_SIZE;
	ss->next_vaddr = pi->vaddr + len;
	struct page_run run = { .vaddr = pi->vaddr, .nr_pages = pi->nr_pages, .flags = flags };
	ret = ss->sink->ops->add_run(ss->sink, &run);
	if (ret || !(flags & PE_PRESENT))
		return ret < 0 ? ret : 0;
	for (uint64_t done = 0; done < len;) {
		size_t n = MIN(len - done, (uint64_t)RECV_BUF);
		ret = recv_full(ss, ss->buf, n, false);
		if (ret < 0)
			return ret;
		ret = ss->sink->ops->write(ss->sink, ss->buf, n);
		if (ret)
			return ret;
		done += n;
	}
	ss->pages += pi->nr_pages;
	return 0;
}

static int serve(int sk, struct ps_tls *tls, int dirfd, const char *peer);

int page_server_serve(int sk, int dirfd, const char *peer)
{
	return serve(sk, NULL, dirfd, peer);
}

static int serve(int sk, struct ps_tls *tls, int dirfd, const char *peer)
{
	struct ps_session ss = { .sk = sk, .tls = tls, .peer = peer, .next_pages_id = 1 };
	bool flushed = false;
	char name[16];
	int ret = page_sink_local(dirfd, &ss.sink);
	if (ret)
		return ret;
	ss.buf = xmalloc(RECV_BUF);
	if (!ss.buf) {
		page_sink_destroy(ss.sink);
		return -ENOMEM;
	}
	int one = 1;
	setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	for (;;) {
		struct ps_iov pi;
		char why[160];

		ret = recv_full(&ss, &pi, sizeof(pi), true);
		if (ret <= 0) {
			if (!ret && !flushed) {
				pr_err("page server: %s closed the connection without flushing: the "
				       "dump failed or was killed, and the pages received are "
				       "incomplete", peer);
				ret = -ECONNRESET;
			}
			break;
		}
		ret = ps_iov_check(&pi, why, sizeof(why));
		if (ret) {
			pr_err("page server: malformed command from %s: %s", peer, why);
			break;
		}
		uint32_t cmd = ps_cmd_of(pi.cmd);
		pr_debug("page server: %s %u pages at 0x%llx of 0x%llx",
			 ps_cmd_name(pi.cmd, name, sizeof(name)), pi.nr_pages,
			 (unsigned long long)pi.vaddr, (unsigned long long)pi.dst_id);
		flushed = false;
		if (cmd == PS_IOV_OPEN || cmd == PS_IOV_OPEN2) {
			ret = open_dst(&ss, pi.dst_id);
			/* no parent images: cryo's server keeps no earlier dumps */
			char has_parent = 0;
			if (!ret && cmd == PS_IOV_OPEN2)
				ret = send_reply(&ss, &has_parent, 1);
		} else if (cmd == PS_IOV_PARENT) {
			int32_t has_parent = 0;
			ret = send_reply(&ss, &has_parent, sizeof(has_parent));
		} else if (cmd == PS_IOV_FLUSH || cmd == PS_IOV_FLUSH_N_CLOSE) {
			ret = close_current(&ss);
			int32_t status = ret ? -1 : 0;
			int r = send_reply(&ss, &status, sizeof(status));
			ret = ret ? ret : r;
			flushed = true;
			if (!ret && cmd == PS_IOV_FLUSH_N_CLOSE)
				break;
		} else {
			ret = add_run(&ss, &pi);
		}
		if (ret)
			break;
	}
	if (ret) {
		if (ss.open)
			ss.sink->ops->abort(ss.sink);
	} else {
		ret = close_current(&ss);
		pr_info("page server: session with %s over, %llu pages received", peer,
			(unsigned long long)ss.pages);
	}
	page_sink_destroy(ss.sink);
	free(ss.buf);
	return ret;
}

static int listen_tcp(const char *address, int port, char *name, size_t namelen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE }, *res, *ai;
	char service[16];
	int sk = -1, err = 0;

	snprintf(service, sizeof(service), "%d", port);
	snprintf(name, namelen, "%s:%d", address ? address : "*", port);
	int r = getaddrinfo(address, service, &hints, &res);
	if (r) {
		pr_err("page server: can't resolve --address %s: %s", address, gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;
		sk = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (sk < 0) {
			err = -errno;
			continue;
		}
		setsockopt(sk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(sk, ai->ai_addr, ai->ai_addrlen) && !listen(sk, 1))
			break;
		err = -errno;
		close(sk);
		sk = -1;
	}
	freeaddrinfo(res);
	if (sk < 0)
		return log_errno(err ? err : -EADDRNOTAVAIL, "page server: can't listen on %s",
				 name);
	return sk;
}

int page_server_run(const struct page_server_args *a)
{
	char name[NI_MAXHOST + NI_MAXSERV + 2];
	int lsk = -1, sk = -1, ret;
	int dirfd = img_dir_open(a->dir, false);

	if (dirfd < 0)
		return dirfd;
	/* what this directory held before is no dump any more */
	ret = img_dir_begin_dump(dirfd);
	if (ret)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	if (a->ps_socket >= 0) {
		sk = a->ps_socket;
		snprintf(name, sizeof(name), "the socket --ps-socket %d", sk);
	} else if (a->listening) {
		lsk = a->listen_fd;
		snprintf(name, sizeof(name), "the listening socket %d", lsk);
	} else {
		lsk = listen_tcp(a->address, a->port, name, sizeof(name));
		if (lsk < 0) {
			ret = lsk;
			goto out;
		}
		pr_info("page server: listening on %s, writing into %s", name, a->dir);
	}
	if (a->daemon && daemon(1, 0)) {
		ret = log_errno(-errno, "page server: can't go into the background");
		goto out;
	}
	if (a->pidfile) {
		ret = write_pidfile(a->pidfile, getpid());
		if (ret)
			goto out;
	}
	if (a->status_fd >= 0) {
		/* criu's readiness signal: one zero byte */
		char zero = 0;
		if (write(a->status_fd, &zero, 1) != 1)
			pr_perror("page server: can't write to --status-fd %d", a->status_fd);
		close(a->status_fd);
	}
	if (lsk >= 0) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[NI_MAXHOST], port[NI_MAXSERV];
		do
			sk = accept4(lsk, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		while (sk < 0 && errno == EINTR);
		if (sk < 0) {
			ret = log_errno(-errno, "page server: accept on %s failed", name);
			goto out;
		}
		close(lsk);
		lsk = -1;
		if (!getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
				 NI_NUMERICHOST | NI_NUMERICSERV))
			snprintf(name, sizeof(name), "%s:%s", host, port);
		pr_info("page server: %s connected", name);
	}
	if (a->tls) {
		struct ps_tls *tls;
		ret = ps_tls_start(sk, true, a->tls, name, &tls);
		if (!ret) {
			ret = serve(sk, tls, dirfd, name);
			ps_tls_end(tls);
		}
	} else {
		ret = page_server_serve(sk, dirfd, name);
	}
out:
	if (sk >= 0)
		close(sk);
	if (lsk >= 0)
		close(lsk);
	close(dirfd);
	return ret;
}

int page_server_listen(const char *address, int port, char *name, size_t namelen)
{
	return listen_tcp(address, port, name, namelen);
}
