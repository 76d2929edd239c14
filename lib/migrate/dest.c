/* `cryo migrate --listen PORT -D DIR`: the destination (migrate.h).
 *
 * Takes one connection, writes each directory the source sends under DIR
 * (DIR/1, ..., DIR/final, with their "parent" links), and on RESTORE
 * restores DIR/final detached (with --lazy-pages, after starting `cryo
 * lazy-pages --page-server` against the source's final dump, which serves
 * the pages written since the last pre-dump).  The restored tree is held
 * before its release: "ready" goes back, and only the source's GO (its own
 * tree doomed by then) lets it run; without GO it is killed, the images
 * kept.  The last answer goes back once the restored tree runs here.
 * Names from the wire are checked before use: plain names of one level,
 * the directories made fresh, the files created exclusively. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cryo.h"
#include "mem/lazy.h"
#include "mem/ps_tls.h"
#include "migrate/migrate-int.h"
#include "migrate/migrate.h"
#include "sockets/sockets.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/pipeline.h"

#define COPY_BUF (1 << 20)

struct dst_run {
	struct cryo_opts *o;
	struct mig_conn c;
	int basefd, dirfd;		/* -D, the directory being received */
	char dir[MIG_NAME_MAX + 1];	/* its name */
	char srcip[INET6_ADDRSTRLEN];
	char *buf;
	char last_dir[MIG_NAME_MAX + 1];	/* the last complete one */
	pid_t daemon;			/* the lazy-pages daemon, 0: none */
	int daemon_st;			/* its --status-fd pipe, read end */
	int lazy_port;			/* the port it takes the pages from */
	bool final_made;		/* DIR/final made for it (LAZY) */
};

static int listen_on(const char *address, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE }, *res;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	int r = getaddrinfo(address, service, &hints, &res);
	if (r) {
		pr_err("migrate --listen: can't resolve %s: %s", address, gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	/* every address: the IPv6 wildcard takes IPv4 too */
	struct addrinfo *ai = res;
	for (struct addrinfo *a = res; !address && a; a = a->ai_next)
		if (a->ai_family == AF_INET6)
			ai = a;
	int sk = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol), one = 1;
	int ret = sk < 0 ? -errno : 0;
	if (!ret) {
		setsockopt(sk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(sk, ai->ai_addr, ai->ai_addrlen) || listen(sk, 1))
			ret = -errno;
	}
	freeaddrinfo(res);
	if (ret) {
		if (sk >= 0)
			close(sk);
		return log_errno(ret, "migrate --listen: can't listen on %s port %d",
				 address ? address : "every address", port);
	}
	return sk;
}

static bool plain_name(const char *n)
{
	return n[0] && strcmp(n, ".") && strcmp(n, "..") && !strchr(n, '/');
}

static bool dir_name(const char *n)
{
	if (!strcmp(n, "final"))
		return true;
	char *end;
	long v = strtol(n, &end, 10);
	return n[0] >= '1' && n[0] <= '9' && !*end && v <= 64;
}

static int fail(struct dst_run *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct dst_run *r, int code, const char *fmt, ...)
{
	char msg[MIG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("migrate: %s", msg);
	mig_send_result(&r->c, code, msg);
	return code;
}

static int recv_file(struct dst_run *r, const char *name, uint64_t size)
{
	if (r->dirfd < 0 || !plain_name(name))
		return fail(r, -EPROTO, "the source sent a file \"%s\" %s", name,
			    r->dirfd < 0 ? "outside a directory" : "that is not a plain name");
	int fd = openat(r->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(r, -errno, "can't create %s/%s/%s: %s", r->o->images_dir, r->dir, name,
			    strerror(errno));
	int ret = 0;
	while (!ret && size) {
		size_t n = size < COPY_BUF ? size : COPY_BUF;
		ret = mig_read(&r->c, r->buf, n);
		for (size_t off = 0; !ret && off < n;) {
			ssize_t w = write(fd, r->buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				ret = fail(r, w ? -errno : -EIO, "can't write %s/%s/%s: %s",
					   r->o->images_dir, r->dir, name, strerror(w ? errno : EIO));
			else
				off += w;
		}
		size -= n;
	}
	close(fd);
	return ret;
}

static int recv_link(struct dst_run *r, const char *name, uint64_t size)
{
	char target[32];
	if (r->dirfd < 0 || strcmp(name, "parent") || size >= sizeof(target))
		return fail(r, -EPROTO, "the source sent a link \"%s\" that is not a directory's "
			    "parent link", name);
	int ret = mig_read(&r->c, target, size);
	if (ret)
		return ret;
	target[size] = '\0';
	/* only ever a previous directory of this migration */
	if (strncmp(target, "../", 3) || !dir_name(target + 3) || !strcmp(target + 3, "final") ||
	    strcmp(target + 3, r->last_dir))
		return fail(r, -EPROTO, "the source sent a parent link to \"%s\", not to the "
			    "previous directory it sent", target);
	if (symlinkat(target, r->dirfd, "parent"))
		return fail(r, -errno, "can't link %s/%s/parent: %s", r->o->images_dir, r->dir,
			    strerror(errno));
	return 0;
}

/* Start `cryo lazy-pages --page-server` against the source's dump on
 * @port, working in DIR/final; its readiness comes on a pipe
 * (wait_lazy_daemon), so the start does not wait. */
static int start_lazy_daemon(struct dst_run *r, int port)
{
	char sport[16], verb[8], sfd[16], dir[PATH_MAX];
	int st[2];
	snprintf(dir, sizeof(dir), "%s/final", r->o->images_dir);
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(verb, sizeof(verb), "-v%d", r->o->verbosity);
	if (pipe2(st, O_CLOEXEC))
		return fail(r, -errno, "can't create a pipe for the lazy-pages daemon: %s",
			    strerror(errno));
	snprintf(sfd, sizeof(sfd), "%d", st[1]);
	pid_t pid = fork();
	if (pid < 0) {
		close(st[0]);
		close(st[1]);
		return fail(r, -errno, "can't fork the lazy-pages daemon: %s", strerror(errno));
	}
	if (!pid) {
		fcntl(st[1], F_SETFD, 0);	/* its --status-fd */
		const struct cryo_opts *o = r->o;
		const char *argv[32] = { "cryo", "lazy-pages", "--page-server", "--address",
					 r->srcip, "--port", sport, "-D", dir, "-W", dir, "-o",
					 "lazy-pages.log", verb, "--status-fd", sfd };
		int n = 16;
		/* --tls: the daemon's connection to the source too, with the
		 * same files (the source's certificate names the address it
		 * connected from, or --tls-no-cn-verify) */
		const char *tls[][2] = { { "--tls-cacert", o->tls_cacert },
					 { "--tls-cacrl", o->tls_cacrl },
					 { "--tls-cert", o->tls_cert }, { "--tls-key", o->tls_key } };
		if (o->tls) {
			argv[n++] = "--tls";
			for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
				if (tls[i][1]) {
					/* its -W may move it elsewhere */
					char *abs = realpath(tls[i][1], NULL);
					argv[n++] = tls[i][0];
					argv[n++] = abs ? abs : tls[i][1];
				}
			if (o->tls_no_cn_verify)
				argv[n++] = "--tls-no-cn-verify";
		}
		argv[n] = NULL;
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(st[1]);
	r->daemon = pid;
	r->daemon_st = st[0];
	r->lazy_port = port;
	return 0;
}

/* The daemon writes a byte on its --status-fd once it is connected to the
 * source and listens for the restore; EOF: it exited before. */
static int wait_lazy_daemon(struct dst_run *r)
{
	struct pollfd p = { .fd = r->daemon_st, .events = POLLIN };
	int n;
	char c;
	while ((n = poll(&p, 1, 10000)) < 0 && errno == EINTR)
		;
	if (n == 0)
		return fail(r, -ETIMEDOUT, "the lazy-pages daemon does not listen after 10 s: see "
			    "%s/final/lazy-pages.log", r->o->images_dir);
	if (n > 0 && read(r->daemon_st, &c, 1) == 1) {
		close(r->daemon_st);
		r->daemon_st = -1;
		return 0;
	}
	int status = 0;
	if (waitpid(r->daemon, &status, 0) == r->daemon)
		r->daemon = 0;
	return fail(r, -ECONNREFUSED, "the lazy-pages daemon exited (status %#x) before it "
		    "listened: see %s/final/lazy-pages.log", status, r->o->images_dir);
}

static void stop_daemon(struct dst_run *r)
{
	if (r->daemon_st >= 0)
		close(r->daemon_st);
	r->daemon_st = -1;
	if (r->daemon <= 0)
		return;
	kill(r->daemon, SIGKILL);
	waitpid(r->daemon, NULL, 0);
	r->daemon = 0;
}

/* LAZY: the source's final dump is about to freeze the tree and serves
 * its pages on the port given: the daemon starts now. */
static int lazy_early(struct dst_run *r, uint64_t size)
{
	struct mig_restore rq;
	if (size != sizeof(rq))
		return fail(r, -EPROTO, "a lazy-pages announce of %llu bytes",
			    (unsigned long long)size);
	int ret = mig_read(&r->c, &rq, sizeof(rq));
	if (ret)
		return ret;
	int port = le32toh(rq.lazy_port);
	if (!(le32toh(rq.flags) & MIG_RESTORE_LAZY) || port < 1 || port > 65535 || r->daemon ||
	    r->dirfd >= 0 || !strcmp(r->last_dir, "final"))
		return fail(r, -EPROTO, "a lazy-pages announce out of place (port %d)", port);
	if (mkdirat(r->basefd, "final", 0700))
		return fail(r, -errno, "can't create %s/final: %s (-D must not hold an earlier "
			    "migration)", r->o->images_dir, strerror(errno));
	r->final_made = true;
	return start_lazy_daemon(r, port);
}

/* The hand-over (migrate-int.h): the restored tree is held at the
 * restore's last point before its release ("pre-resume") until the source,
 * told "ready", answers GO; without it (the connection lost, a timeout,
 * anything else) the restore fails there, which kills the tree. */
struct hand {
	struct dst_run *r;
	const struct pipeline_hook *next;	/* the front end's hook */
	const char *dir;
};

static int wait_go(struct dst_run *r)
{
	struct mig_hdr h;
	char name[MIG_NAME_MAX + 1];
	int ret = mig_recv_hdr(&r->c, &h, name);
	if (ret)
		return ret;
	if (h.type != MIG_GO || h.size) {
		pr_err("migrate: expected the source's go, got a message of type %u", h.type);
		return -EPROTO;
	}
	return 0;
}

static int hand_hook(const char *event, int pid, void *arg)
{
	struct hand *h = arg;
	struct dst_run *r = h->r;
	if (h->next && h->next->notify) {
		int ret = h->next->notify(event, pid, h->next->arg);
		if (ret)
			return ret;
	}
	if (!strcmp(event, "post-resume")) {
		/* The tree runs: the last answer goes from here, where "ready"
		 * and the go were exchanged.  With --pid-ns this is the
		 * restore's child, and with --tls the session's state (its
		 * record sequence numbers) moved on in this process only: a
		 * record from the parent's stale copy would not decrypt. */
		if (fault_inject_fail_only("migrate:lose-running")) {
			/* the tree runs here: the source must not let its own run */
			pr_err("fault injected at migrate:lose-running (CRYO_FAULT)");
			shutdown(r->c.sk, SHUT_RDWR);
		} else if (mig_send_result(&r->c, 0, "restored")) {
			pr_warn("migrate: the tree runs here, but the source was not told: it "
				"kills its own all the same");
		}
		return 0;
	}
	if (strcmp(event, "pre-resume"))
		return 0;
	int ret = 0;
	if (fault_inject_fail_only("migrate:lose-ready")) {
		pr_err("fault injected at migrate:lose-ready (CRYO_FAULT)");
		shutdown(r->c.sk, SHUT_RDWR);
		ret = -ECONNRESET;
	}
	if (!ret)
		ret = mig_send_result(&r->c, 0, "ready");
	if (!ret)
		pr_info("migrate: the tree is restored and held: waiting for the source's go");
	if (!ret)
		ret = wait_go(r);
	if (ret) {
		/* (with --pid-ns this runs in the restore's child: the code
		 * and the message tell the parent) */
		pr_err("migrate: no go from the source %s (%s): the restored tree is killed",
		       r->c.peer, strerror(-ret));
		return -ECANCELED;
	}
	pr_info("migrate: the source said go");
	return 0;
}

static int hand_hook_fd(const char *event, int fd, void *arg)
{
	const struct pipeline_hook *next = ((struct hand *)arg)->next;
	return next->notify_fd(event, fd, next->arg);
}

static int restore(struct dst_run *r, uint64_t size)
{
	struct mig_restore rq;
	if (size != sizeof(rq))
		return fail(r, -EPROTO, "a restore request of %llu bytes", (unsigned long long)size);
	int ret = mig_read(&r->c, &rq, sizeof(rq));
	if (ret)
		return ret;
	if (strcmp(r->last_dir, "final"))
		return fail(r, -EPROTO, "a restore request before the final dump's images");
	bool lazy = le32toh(rq.flags) & MIG_RESTORE_LAZY;
	int port = le32toh(rq.lazy_port);
	if (lazy && (port < 1 || port > 65535))
		return fail(r, -EPROTO, "a lazy restore without the port of the pages");

	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/final", r->o->images_dir);
	if (!lazy && r->daemon)
		return fail(r, -EPROTO, "a restore without lazy pages after their announce");
	if (lazy && r->daemon && port != r->lazy_port)
		return fail(r, -EPROTO, "lazy pages announced on port %d, restored from %d",
			    r->lazy_port, port);
	if (lazy && !r->daemon) {	/* not announced: now */
		ret = start_lazy_daemon(r, port);
		if (ret)
			return ret;
	}
	if (lazy) {
		ret = wait_lazy_daemon(r);
		if (ret)
			return ret;
	}
	struct hand h = { .r = r, .next = r->o->notify, .dir = dir };
	struct pipeline_hook hook = { .notify = hand_hook, .arg = &h,
				      .notify_fd = r->o->notify && r->o->notify->notify_fd ?
						   hand_hook_fd : NULL };
	struct cryo_opts ro = *r->o;	/* the strings stay o's */
	ro.notify = &hook;
	ro.command = CMD_RESTORE;
	ro.images_dir = dir;
	ro.work_dir = dir;
	ro.restore_detached = true;
	ro.lazy_pages = lazy;
	ro.port = 0;
	ro.address = NULL;
	/* the lock's tidying up comes after the answer, not before: it
	 * waits for RCU grace periods, and the source (its tree frozen)
	 * for the answer */
	ro.netlock_tidy_later = true;
	struct cryo_error err;
	int status;
	ret = cryo_restore(&ro, &status, &err);
	if (ret == -ECANCELED) {
		sk_network_lock_tidy(&ro);
		pr_err("migrate: the restored tree was killed: the source did not say go. The "
		       "images stay in %s: if the tree runs nowhere, `cryo restore -D %s` "
		       "(with this command's restore options) brings it back", dir, dir);
		return ret;
	}
	if (ret) {
		sk_network_lock_tidy(&ro);	/* (a failure after the unlock) */
		return fail(r, ret, "restore failed: %s", err.msg[0] ? err.msg : strerror(-ret));
	}
	pr_msg("migrate: the tree from %s runs here", r->c.peer);
	/* (the source was told by hand_hook at post-resume) */
	sk_network_lock_tidy(&ro);
	if (r->daemon) {
		pid_t daemon = r->daemon;
		r->daemon = 0;
		if (waitpid(daemon, &status, 0) == daemon &&
		    !(WIFEXITED(status) && !WEXITSTATUS(status))) {
			pr_err("migrate: the lazy-pages daemon failed (status %#x): see "
			       "%s/lazy-pages.log", status, dir);
			return -EIO;
		}
		pr_info("migrate: the lazy-pages daemon has every page");
	}
	return ret;
}

static int serve(struct dst_run *r)
{
	struct mig_hdr h;
	char name[MIG_NAME_MAX + 1];
	int ret = mig_recv_hdr(&r->c, &h, name);
	if (ret)
		return ret;
	if (h.type != MIG_HELLO || strcmp(name, MIG_HELLO_NAME) || h.size)
		return fail(r, -EPROTO, "expected %s, got a message of type %u (\"%s\")",
			    MIG_HELLO_NAME, h.type, name);
	/* --tls: a lazy-pages daemon checks that the source's certificate
	 * names the address it connects to; so does the destination, at
	 * once, for every migration: a certificate that does not is refused
	 * before the source touches its tree, not once the tree runs here
	 * without its pages */
	if (r->c.tls && !r->o->tls_no_cn_verify && ps_tls_peer_named(r->c.tls, r->srcip))
		return fail(r, -EACCES, "--tls: the source's certificate does not name %s, the "
			    "address it connects from (its lazy pages would come from there; "
			    "--tls-no-cn-verify on both ends skips the name checks)", r->srcip);
	ret = mig_send_result(&r->c, 0, "ready");
	while (!ret) {
		ret = mig_recv_hdr(&r->c, &h, name);
		if (ret)
			break;
		switch (h.type) {
		case MIG_DIR:
			if (r->dirfd >= 0 || !dir_name(name) || h.size)
				return fail(r, -EPROTO, "a directory \"%s\" the source can't send "
					    "(nested, or not 1-64 or final)", name);
			if (!strcmp(name, "final") && r->final_made)
				;	/* made for the lazy-pages daemon (LAZY) */
			else if (mkdirat(r->basefd, name, 0700))
				return fail(r, -errno, "can't create %s/%s: %s (-D must not hold "
					    "an earlier migration)", r->o->images_dir, name,
					    strerror(errno));
			r->dirfd = openat(r->basefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (r->dirfd < 0)
				return fail(r, -errno, "can't open %s/%s: %s", r->o->images_dir,
					    name, strerror(errno));
			snprintf(r->dir, sizeof(r->dir), "%s", name);
			break;
		case MIG_FILE:
			ret = recv_file(r, name, h.size);
			break;
		case MIG_LINK:
			ret = recv_link(r, name, h.size);
			break;
		case MIG_DIR_END:
			if (r->dirfd < 0 || h.size)
				return fail(r, -EPROTO, "the end of a directory never begun");
			if (syncfs(r->dirfd))
				return fail(r, -errno, "can't sync %s/%s: %s", r->o->images_dir,
					    r->dir, strerror(errno));
			close(r->dirfd);
			r->dirfd = -1;
			snprintf(r->last_dir, sizeof(r->last_dir), "%s", r->dir);
			pr_info("migrate: received %s", r->dir);
			ret = mig_send_result(&r->c, 0, "stored");
			break;
		case MIG_LAZY:
			ret = lazy_early(r, h.size);
			break;
		case MIG_RESTORE:
			return restore(r, h.size);
		default:
			return fail(r, -EPROTO, "an unexpected message of type %u", h.type);
		}
	}
	return ret;
}

int migrate_dest_session(struct cryo_opts *o, int sk, const char *peer, const char *srcip)
{
	struct dst_run r = { .o = o, .c = { .sk = sk, .peer = peer }, .dirfd = -1,
			     .daemon_st = -1 };
	int ret;

	snprintf(r.srcip, sizeof(r.srcip), "%s", srcip);
	r.basefd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.basefd < 0)
		return log_errno(-errno, "migrate: can't open the images directory %s", o->images_dir);
	r.buf = malloc(COPY_BUF);
	ret = r.buf ? 0 : -ENOMEM;
	if (!ret && o->tls)
		ret = mig_tls_start(&r.c, o, true, NULL);
	if (!ret)
		ret = serve(&r);
	stop_daemon(&r);	/* a failure before the restore ran: it is not needed */
	ps_tls_end(r.c.tls);
	if (r.dirfd >= 0)
		close(r.dirfd);
	free(r.buf);
	close(r.basefd);
	return ret;
}

int migrate_dest(struct cryo_opts *o)
{
	char peer[INET6_ADDRSTRLEN + 16], srcip[INET6_ADDRSTRLEN];
	int ret;

	/* --tls: unusable certificate files are found before any source comes */
	if (o->tls && (ret = mig_tls_check(o, false)))
		return ret;
	int lsk = listen_on(o->address, o->migrate_listen);
	if (lsk < 0)
		return lsk;
	pr_msg("migrate: waiting for the source on port %d", o->migrate_listen);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int sk;
	do
		sk = accept4(lsk, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	while (sk < 0 && errno == EINTR);
	close(lsk);
	if (sk < 0)
		return log_errno(-errno, "migrate --listen: accept failed");
	ret = mig_set_timeouts(sk);
	if (ret) {
		close(sk);
		return ret;
	}
	int port;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], srcip, sizeof(srcip));
		else
			inet_ntop(AF_INET6, &a->sin6_addr, srcip, sizeof(srcip));
		port = ntohs(a->sin6_port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, srcip, sizeof(srcip));
		port = ntohs(a->sin_port);
	}
	snprintf(peer, sizeof(peer), "%s port %d", srcip, port);
	pr_info("migrate: the source %s connected", peer);
	ret = migrate_dest_session(o, sk, peer, srcip);
	close(sk);
	return ret;
}
