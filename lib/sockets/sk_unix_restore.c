/* Restoring unix sockets, in cryo's own process (the framework hands them
 * to the tasks).
 *
 *   - two sockets of the tree connected to each other: socketpair(), except
 *     an accepted stream whose listener is in the tree: connect to the
 *     restored listener and accept, so names and peer names are right;
 *   - a listener: bind, listen, then its pending connections are made again
 *     by connecting their clients (entries whose peer is the listener);
 *   - a datagram socket connected to itself: bind, connect, then it sends
 *     its own queue (the messages come from its name, as they did);
 *   - a datagram socket connected to another one (not back): bind, put its
 *     queue back from a temporary socket, then connect (in that order: a
 *     datagram socket that changes peers loses its queue);
 *   - a stream whose peer was closed: socketpair, queue, then the other end
 *     is closed (the reader sees the data then EOF);
 *   - a peer outside the tree (--ext-unix-sk): connect to its name.
 * Queued data is written by the socket's peer before the task gets it;
 * options, shutdown and file flags come last.
 */
#include "sockets/sk_unix_restore-int.h"
#include "sockets/sk_unix_cred.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int cmp_rf_ino(const void *a, const void *b)
{
	uint32_t x = (*(struct rst_file *const *)a)->fe->usk->ino;
	uint32_t y = (*(struct rst_file *const *)b)->fe->usk->ino;
	return x < y ? -1 : x > y;
}

static struct usk_rst *rst_state(struct files_restore *fr)
{
	struct usk_rst *s = fr->kind_state[FDK_UNIX];
	if (s)
		return s;
	s = xzalloc(sizeof(*s));
	if (!s)
		return NULL;
	s->real_root = -1;
	s->v = xzalloc((fr->nr_files + 1) * sizeof(*s->v));
	if (!s->v) {
		free(s);
		return NULL;
	}
	s->listeners = xzalloc((fr->nr_files + 1) * sizeof(*s->listeners));
	if (!s->listeners) {
		free(s->v);
		free(s);
		return NULL;
	}
	for (int i = 0; i < fr->nr_files; i++)
		if (fr->rf[i].fe->type == FD_TYPES__UNIXSK && fr->rf[i].fe->usk) {
			s->v[s->nr++] = &fr->rf[i];
			const UnixSkEntry *e = fr->rf[i].fe->usk;
			if (e->state == TCP_LISTEN && !(e->uflags & USK_EXTERN))
				s->listeners[s->nr_listeners++] = &fr->rf[i];
		}
	xqsort(s->v, s->nr, sizeof(s->v[0]), cmp_rf_ino);
	fr->kind_state[FDK_UNIX] = s;
	return s;
}

static struct rst_file *by_ino(struct usk_rst *s, uint32_t ino)
{
	int lo = 0, hi = s->nr;
	while (ino && lo < hi) {
		int mid = (lo + hi) / 2;
		uint32_t m = s->v[mid]->fe->usk->ino;
		if (m == ino)
			return s->v[mid];
		if (m < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}


static int new_socket(const UnixSkEntry *e)
{
	int sk = socket(AF_UNIX, e->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sk < 0)
		return_perror("%s: socket(AF_UNIX, %u)", WHAT(e), e->type);
	return sk;
}

/* Options, shutdown, file flags, owner: last, once the queues are in.
 * The socket was @f's from its creation on (set_lfd: its peers and its
 * listener look for it there); it is adopted again here, and closed if
 * any of this fails. */
static int finish(struct rst_file *f)
{
	const UnixSkEntry *e = f->fe->usk;
	const char *w = WHAT(e);
	int sk = f->lfd;
	int ret = skopt_restore(sk, e->opts, w);
	if (!ret && e->has_shutdown && e->shutdown) {
		int how = e->shutdown == 1 ? SHUT_RD : e->shutdown == 2 ? SHUT_WR : SHUT_RDWR;
		/* a stream's peer may have set it already (as it did originally);
		 * ENOTCONN: the peer is gone, nothing to shut */
		if (shutdown(sk, how) && errno != ENOTCONN) {
			ret = -errno;
			pr_perror("%s: shutdown(%d)", w, how);
		}
	}
	f->lfd = -1;
	return files_rst_adopt(f, sk, ret, e->flags, e->fown, w);
}

static int set_lfd(struct rst_file *f, int sk)
{
	f->lfd = sk;
	return 0;
}

/* Put @f's queue back, sent from @sender (connected to it). */
static int queue_from(struct files_restore *fr, struct rst_file *f, int sender)
{
	return sk_queue_restore(fr, f->fe->id, sender, NULL, 0, NULL, WHAT(f->fe->usk));
}

/* Sending a queued datagram as its sender did (recvfrom shows the sender's
 * name): from the tree's socket with that name when it is a datagram
 * socket free to send there, else from a temporary socket bound to it
 * (removed again; a path only where nothing is).  Where neither can be,
 * the message comes from an unnamed socket, with a warning. */
struct as_sender {
	struct files_restore *fr;
	struct usk_rst *s;
	const UnixSkEntry *to;
	char tmp_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	char aside[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
	int tmp;
};

static int as_get(void *arg, const void *addr, size_t len, int dflt)
{
	struct as_sender *as = arg;
	const struct sockaddr_un *a = addr;
	size_t nl = len - offsetof(struct sockaddr_un, sun_path);
	char nm[400];
	usk_name_str(a->sun_path, nl, nm, sizeof(nm));
	for (int i = 0; i < as->s->nr; i++) {
		struct rst_file *o = as->s->v[i];
		const UnixSkEntry *oe = o->fe->usk;
		if (oe->uflags & USK_EXTERN || oe->type != SOCK_DGRAM || oe->name.len != nl ||
		    memcmp(oe->name.data, a->sun_path, nl))
			continue;
		if (oe->peer && oe->peer != as->to->ino)
			continue;	/* connected elsewhere: can't send here */
		return files_rst_open(as->fr, o);
	}
	int t = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t < 0)
		return_perror("%s: socket for a sender", WHAT(as->to));
	struct stat st;
	bool path = a->sun_path[0];
	if (path) {
		memcpy(as->tmp_path, a->sun_path, nl);
		as->tmp_path[nl] = '\0';
	}
	const char *why = NULL;
	as->aside[0] = '\0';
	if (path && !lstat(as->tmp_path, &st)) {
		/* the sender's socket file left behind (nobody bound to it):
		 * moved aside for the moment, as a deleted socket's name is */
		bool busy = true;
		if (!S_ISSOCK(st.st_mode) || usk_path_in_use(as->s, &st, &busy) || busy)
			why = "a file is there";
		else {
			snprintf(as->aside, sizeof(as->aside), "%s.cryo-aside-%d", as->tmp_path,
				 getpid());
			if (rename(as->tmp_path, as->aside)) {
				as->aside[0] = '\0';
				why = "a file is there";
			}
		}
	}
	if (!why && bind(t, addr, len))
		why = strerror(errno);
	if (why) {
		pr_warn("%s: a queued message came from %s, which cryo can't bind for a moment "
			"(%s): it will read as from an unnamed socket", WHAT(as->to), nm, why);
		if (as->aside[0] && rename(as->aside, as->tmp_path))
			pr_perror("can't move %s back to %s", as->aside, as->tmp_path);
		as->aside[0] = '\0';
		close(t);
		return dflt;
	}
	int big = INT_MAX / 2;
	if (setsockopt(t, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
		pr_debug("%s: SO_SNDBUFFORCE on a sender: %s", WHAT(as->to), strerror(errno));
	as->tmp = t;
	if (!path)
		as->tmp_path[0] = '\0';
	return t;
}

static void as_put(void *arg, int fd)
{
	struct as_sender *as = arg;
	if (fd != as->tmp)
		return;	/* a socket of the tree */
	close(fd);
	as->tmp = -1;
	if (as->tmp_path[0] && unlink(as->tmp_path))
		pr_perror("can't remove %s, bound for a moment to send as it", as->tmp_path);
	if (as->aside[0] && rename(as->aside, as->tmp_path))
		pr_perror("can't move %s back to %s", as->aside, as->tmp_path);
	as->aside[0] = '\0';
	as->tmp_path[0] = '\0';
}

/* Put @f's queue back from temporary datagram sockets, to its name. */
static int queue_from_temp(struct files_restore *fr, struct usk_rst *s, struct rst_file *f)
{
	const UnixSkEntry *e = f->fe->usk;
	if (!sk_queue_has(fr, e->id))
		return 0;
	if (!has_name(e)) {
		pr_err("%s has queued messages but no name: cryo can't send them back to it",
		       WHAT(e));
		return -EOPNOTSUPP;
	}
	int t = socket(AF_UNIX, e->type | SOCK_CLOEXEC, 0);
	if (t < 0)
		return_perror("can't create a socket to refill %s", WHAT(e));
	struct sockaddr_un a;
	socklen_t len = make_addr(e, &a);
	struct as_sender as = { .fr = fr, .s = s, .to = e, .tmp = -1 };
	struct skq_sender hook = { as_get, as_put, &as };
	int ret = sk_queue_restore(fr, e->id, t, (struct sockaddr *)&a, len,
				   e->type == SOCK_DGRAM ? &hook : NULL, WHAT(e));
	if (as.tmp >= 0)
		as_put(&as, as.tmp);
	close(t);
	return ret;
}

/* Two sockets of the tree connected to each other. */
/* An accepted connection whose listener is no more: a short-lived
 * listener on the same name makes the pair, so that the accepted end has
 * its name and the client its peer name.  Only where the name is free (an
 * abstract name nobody holds, a path with nothing or a stale socket file
 * there, moved aside meanwhile).  Returns 1 if it could not be done. */
static int pair_by_name(struct files_restore *fr, struct usk_rst *s, int type,
			const UnixSkEntry *name, const UnixSkEntry *cli_e, int sv[2])
{
	struct sockaddr_un a;
	socklen_t len = make_addr(name, &a);
	char path[sizeof(a.sun_path) + 1] = { 0 }, aside[sizeof(path) + 32] = "";
	bool is_path = a.sun_path[0];
	int ret = 1, cli = -1, l = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (l < 0)
		return_perror("%s: socket", WHAT(name));
	if (is_path) {
		struct stat st;
		memcpy(path, a.sun_path, len - offsetof(struct sockaddr_un, sun_path));
		if (path[0] != '/')
			goto out;	/* relative to a directory not known here */
		if (!lstat(path, &st)) {
			bool busy = true;
			if (!S_ISSOCK(st.st_mode) || usk_path_in_use(s, &st, &busy) || busy)
				goto out;
			snprintf(aside, sizeof(aside), "%s.cryo-aside-%d", path, getpid());
			if (rename(path, aside)) {
				aside[0] = '\0';
				goto out;
			}
		}
	}
	if (bind(l, (struct sockaddr *)&a, len))
		goto out;	/* taken: a plain socket pair then */
	ret = -1;
	/* the client's peer credentials are the listener's, the accepted
	 * end's its connecting task's */
	int cr = usk_cred_listen(fr, cli_e, l, 1, WHAT(name));
	if (!cr)
		cli = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (cli >= 0)	/* 1: by cryo */
		cr = usk_cred_has(name) ? usk_cred_connect(fr, name, cli, &a, len, l, WHAT(name)) : 1;
	if (cli >= 0 && cr > 0)
		cr = connect(cli, (struct sockaddr *)&a, len) ? -errno : 0;
	if (cli >= 0 && !cr) {
		int acc = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (acc >= 0) {
			sv[0] = acc;
			sv[1] = cli;
			cli = -1;
			ret = 0;
		}
	}
	if (ret)
		pr_perror("%s: making its connection through a temporary listener", WHAT(name));
	if (is_path && unlink(path)) {
		pr_perror("can't remove the temporary listener's file %s", path);
		ret = ret ? ret : -EIO;
	}
out:
	if (aside[0] && rename(aside, path)) {
		pr_perror("can't move %s back to %s", aside, path);
		ret = ret > 0 || !ret ? -EIO : ret;
	}
	if (cli >= 0)
		close(cli);
	close(l);
	return ret;
}

/* Two datagram sockets connected to each other by connect(), not made
 * by socketpair(): no peer credentials (a socket pair would have some). */
static int open_dgram_mutual(struct files_restore *fr, struct usk_rst *s, struct rst_file *f,
			     struct rst_file *p)
{
	const UnixSkEntry *e = f->fe->usk, *pe = p->fe->usk;
	if (!has_name(e) || !has_name(pe)) {
		pr_err("%s and %s are connected to each other without peer credentials, but "
		       "one has no name to connect to", WHAT(e), WHAT(pe));
		return -EINVAL;
	}
	int a = new_socket(e);
	if (a < 0)
		return a;
	set_lfd(f, a);
	int b = new_socket(pe);
	if (b < 0)
		return b;
	set_lfd(p, b);
	int ret = usk_bind(s, a, e);
	if (!ret)
		ret = usk_bind(s, b, pe);
	if (!ret)
		ret = usk_connect_named(s, a, pe, WHAT(e));
	if (!ret)
		ret = usk_connect_named(s, b, e, WHAT(pe));
	if (!ret)
		ret = queue_from(fr, f, b);
	if (!ret)
		ret = queue_from(fr, p, a);
	if (!ret)
		ret = finish(f);
	if (!ret)
		ret = finish(p);
	return ret;
}

/* Two sockets of the tree connected to each other. */
static int open_pair(struct files_restore *fr, struct usk_rst *s, struct rst_file *f,
		     struct rst_file *p)
{
	const UnixSkEntry *e = f->fe->usk, *pe = p->fe->usk;
	int sv[2] = { -1, -1 }, ret = 1;
	if (e->type != SOCK_DGRAM && has_name(e) != has_name(pe)) {
		/* an accepted connection (the named end) whose listener is gone */
		bool acc_is_f = has_name(e);
		ret = pair_by_name(fr, s, e->type, acc_is_f ? e : pe, acc_is_f ? pe : e, sv);
		if (ret < 0)
			return ret;
		if (!ret && !acc_is_f) {
			int t = sv[0];
			sv[0] = sv[1];
			sv[1] = t;
		}
	}
	if (ret > 0 && e->type == SOCK_DGRAM && usk_cred_none(e) && usk_cred_none(pe))
		return open_dgram_mutual(fr, s, f, p);
	if (ret > 0) {
		ret = usk_cred_socketpair(fr, e, e->type, sv, WHAT(e));
		if (ret < 0)
			return ret;
		if (ret && socketpair(AF_UNIX, e->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
			return_perror("%s: socketpair", WHAT(e));
		if (usk_cred_recorded(pe) && (!usk_cred_recorded(e) ||
		    e->cryo_peer_pid != pe->cryo_peer_pid || e->cryo_peer_uid != pe->cryo_peer_uid ||
		    e->cryo_peer_gid != pe->cryo_peer_gid))
			pr_warn("%s: connected to %s, whose peer credentials were others (pid %u "
				"uid %u gid %u): restored as a socket pair, both with its own",
				WHAT(e), WHAT(pe), pe->cryo_peer_pid, pe->cryo_peer_uid,
				pe->cryo_peer_gid);
		if (e->type != SOCK_DGRAM && (has_name(e) || has_name(pe)))
			pr_warn("%s: connected to %s; restored as a socket pair, without the "
				"names", WHAT(e), WHAT(pe));
	}
	set_lfd(f, sv[0]);
	set_lfd(p, sv[1]);
	ret = 0;
	/* datagram sockets bind their names (a stream's name is its
	 * listener's: see open_listener and pair_by_name) */
	if (e->type == SOCK_DGRAM) {
		ret = usk_bind(s, sv[0], e);
		if (!ret)
			ret = usk_bind(s, sv[1], pe);
	}
	if (!ret)
		ret = queue_from(fr, f, sv[1]);
	if (!ret)
		ret = queue_from(fr, p, sv[0]);
	if (!ret)
		ret = finish(f);
	if (!ret)
		ret = finish(p);
	return ret;
}

/* Create @c (with its own name, if any) and connect it to @target's name
 * (nonblocking: never waits for a full backlog). */
static int connect_to(struct files_restore *fr, struct usk_rst *s, struct rst_file *c,
		      const UnixSkEntry *target, int target_sk, const UnixSkEntry *acc)
{
	const UnixSkEntry *ce = c->fe->usk;
	int sk = new_socket(ce);
	if (sk < 0)
		return sk;
	set_lfd(c, sk);
	int ret = usk_bind(s, sk, ce);
	if (ret)
		return ret;
	if (acc && usk_cred_has(acc)) {
		/* the accepted end's peer credentials: its connecting task's */
		struct sockaddr_un a;
		socklen_t len;
		ret = usk_cred_task_addr(target, &a, &len, WHAT(ce));
		if (!ret)
			ret = usk_cred_connect(fr, acc, sk, &a, len, target_sk, WHAT(ce));
		if (ret <= 0)
			return ret;
	}
	return usk_connect_named(s, sk, target, WHAT(ce));
}

/* listen, then the listener's connections, made again by its name */
static int listener_connections(struct files_restore *fr, struct usk_rst *s, struct rst_file *l)
{
	const UnixSkEntry *le = l->fe->usk;
	int sk = l->lfd, ret = 0;
	if (listen(sk, le->backlog))
		return_perror("%s: listen(%u)", WHAT(le), le->backlog);
	/* accepted connections of this listener, made again through it one at
	 * a time (connect, accept) */
	for (int i = 0; i < s->nr && !ret; i++) {
		struct rst_file *a = s->v[i];
		const UnixSkEntry *ae = a->fe->usk;
		if (a == l || a->lfd >= 0 || ae->uflags & USK_EXTERN || ae->type != le->type ||
		    ae->state != TCP_ESTABLISHED || !same_name(ae, le))
			continue;
		struct rst_file *c = by_ino(s, ae->peer);
		if (!c || c->lfd >= 0 || c->fe->usk->peer != ae->ino)
			continue;
		/* the client's peer credentials: the listener's when it connected */
		if (usk_cred_has(c->fe->usk))
			ret = usk_cred_listen(fr, c->fe->usk, sk, le->backlog, WHAT(le));
		if (!ret)
			ret = connect_to(fr, s, c, le, sk, ae);
		if (ret)
			break;
		int as = accept4(sk, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (as < 0)
			return_perror("%s: accept", WHAT(le));
		set_lfd(a, as);
		ret = queue_from(fr, a, c->lfd);
		if (!ret)
			ret = queue_from(fr, c, as);
		if (!ret)
			ret = finish(a);
		if (!ret)
			ret = finish(c);
	}
	/* pending connections: clients whose peer is this listener */
	for (int i = 0; i < s->nr && !ret; i++) {
		struct rst_file *c = s->v[i];
		if (c->fe->usk->peer != le->ino || c->lfd >= 0 || c == l)
			continue;
		if (usk_cred_has(c->fe->usk))
			ret = usk_cred_listen(fr, c->fe->usk, sk, le->backlog, WHAT(le));
		if (!ret)
			ret = connect_to(fr, s, c, le, sk, NULL);
		if (!ret)
			ret = finish(c);
	}
	/* its own peer credentials: its listen()er's */
	if (!ret && usk_cred_has(le))
		ret = usk_cred_listen(fr, le, sk, le->backlog, WHAT(le));
	return ret;
}

static int open_listener(struct files_restore *fr, struct usk_rst *s, struct rst_file *l)
{
	const UnixSkEntry *le = l->fe->usk;
	int sk = new_socket(le);
	if (sk < 0)
		return sk;
	set_lfd(l, sk);
	int ret = usk_bind_then(s, sk, le, fr, l, listener_connections);
	return ret ? ret : finish(l);
}

/* A socket whose peer is gone: what it still has to read, then EOF (a
 * stream) or ECONNREFUSED on send (a datagram socket). */
static int open_orphan(struct files_restore *fr, struct usk_rst *s, struct rst_file *f)
{
	const UnixSkEntry *e = f->fe->usk;
	int sv[2];
	int ret = usk_cred_socketpair(fr, e, e->type, sv, WHAT(e));
	if (ret < 0)
		return ret;
	if (ret && socketpair(AF_UNIX, e->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		return_perror("%s: socketpair", WHAT(e));
	set_lfd(f, sv[0]);
	ret = e->type == SOCK_DGRAM ? usk_bind(s, sv[0], e) : 0;
	if (!ret)
		ret = queue_from(fr, f, sv[1]);
	close(sv[1]);
	if (!ret)
		ret = finish(f);
	return ret;
}

/* A socket connected one way (datagram), to a socket of the tree or, with
 * --ext-unix-sk, outside it; or not connected at all (@p NULL). */
static int open_single(struct files_restore *fr, struct usk_rst *s, struct rst_file *f,
		       struct rst_file *p)
{
	const UnixSkEntry *e = f->fe->usk;
	int sk = new_socket(e);
	if (sk < 0)
		return sk;
	set_lfd(f, sk);
	int ret = usk_bind_then(s, sk, e, fr, f, e->type == SOCK_DGRAM ? queue_from_temp : NULL);
	if (!ret && e->type != SOCK_DGRAM && sk_queue_has(fr, e->id)) {
		pr_err("%s: has queued data but no peer to send it", WHAT(e));
		ret = -EOPNOTSUPP;
	}
	if (!ret && p) {
		const UnixSkEntry *pe = p->fe->usk;
		if (!(pe->uflags & USK_EXTERN)) {
			int pl = files_rst_open(fr, p);
			if (pl < 0)
				return pl;
		}
		if (!has_name(pe)) {
			pr_err("%s: its peer %s has no name to connect to", WHAT(e), WHAT(pe));
			return -EOPNOTSUPP;
		}
		ret = usk_connect_named(s, sk, pe, WHAT(e));
	}
	if (!ret)
		ret = finish(f);
	return ret;
}

/* A datagram socket connected to its own name: bound, connected to
 * itself, then its queue is sent by itself, so each message comes from its
 * own name as it did. */
static int open_self(struct files_restore *fr, struct usk_rst *s, struct rst_file *f)
{
	const UnixSkEntry *e = f->fe->usk;
	if (e->type != SOCK_DGRAM || !has_name(e)) {
		pr_err("%s is its own peer but is %s", WHAT(e),
		       e->type != SOCK_DGRAM ? "not a datagram socket" : "unnamed");
		return -EINVAL;
	}
	int sk = new_socket(e);
	if (sk < 0)
		return sk;
	set_lfd(f, sk);
	int ret = usk_bind(s, sk, e);
	if (ret)
		return ret;
	ret = usk_connect_named(s, sk, e, WHAT(e));
	if (ret)
		return ret;
	ret = queue_from(fr, f, sk);
	return ret ?: finish(f);
}

static int usk_open_here(struct files_restore *fr, struct rst_file *f)
{
	const UnixSkEntry *e = f->fe->usk;
	if (!e) {
		pr_err("files.img: unix socket file %u has no unix_sk_entry", f->fe->id);
		return -EINVAL;
	}
	struct usk_rst *s = rst_state(fr);
	if (!s)
		return -ENOMEM;
	if (e->uflags & USK_EXTERN) {
		pr_err("%s is the entry of a socket outside the dumped tree, not a descriptor",
		       WHAT(e));
		return -EINVAL;
	}
	if (e->type != SOCK_STREAM && e->type != SOCK_DGRAM && e->type != SOCK_SEQPACKET) {
		pr_err("%s is of socket type %u, which cryo can't restore", WHAT(e), e->type);
		return -EOPNOTSUPP;
	}
	if (e->uflags & ~USK_EXTERN) {
		pr_err("%s has uflags %#x (criu's service/callback/inherited sockets), which cryo "
		       "does not restore", WHAT(e), e->uflags);
		return -EOPNOTSUPP;
	}
	if (e->state == TCP_LISTEN)
		return open_listener(fr, s, f);
	struct rst_file *p = by_ino(s, e->peer);
	if (e->peer && !p) {
		pr_err("%s: its peer, socket %u, is not in the images", WHAT(e), e->peer);
		return -EINVAL;
	}
	if (p == f)
		return open_self(fr, s, f);
	if (p && p->fe->usk->uflags & USK_EXTERN && !fr->opts->ext_unix_sk &&
	    !opts_external_unix(fr->opts, 0)) {
		pr_err("%s was connected to %s outside the dumped tree: restore with "
		       "--ext-unix-sk to connect it to that name again", WHAT(e), WHAT(p->fe->usk));
		return -EOPNOTSUPP;
	}
	if (p && p->fe->usk->state == TCP_LISTEN && !(p->fe->usk->uflags & USK_EXTERN)) {
		/* a pending connection: made by the listener */
		int ret = files_rst_open(fr, p);
		if (ret < 0)
			return ret;
		if (f->lfd < 0) {
			pr_err("%s: the pending connection to %s was not made", WHAT(e),
			       WHAT(p->fe->usk));
			return -EINVAL;
		}
		return 0;
	}
	bool mutual = p && !(p->fe->usk->uflags & USK_EXTERN) && p->fe->usk->peer == e->ino;
	if (e->type != SOCK_DGRAM && e->state == TCP_ESTABLISHED) {
		if (mutual) {
			/* an accepted connection of a listener of the tree? */
			for (int i = 0; i < s->nr_listeners; i++) {
				struct rst_file *l = s->listeners[i];
				const UnixSkEntry *le = l->fe->usk;
				if (le->type != e->type ||
				    !(same_name(le, e) || same_name(le, p->fe->usk)))
					continue;
				int ret = files_rst_open(fr, l);
				if (ret < 0)
					return ret;
				if (f->lfd >= 0)
					return 0;
			}
			return open_pair(fr, s, f, p);
		}
		if (!p)
			return open_orphan(fr, s, f);
		if (!(p->fe->usk->uflags & USK_EXTERN)) {
			pr_err("%s: its peer %s is connected elsewhere", WHAT(e), WHAT(p->fe->usk));
			return -EINVAL;
		}
		return open_single(fr, s, f, p);
	}
	if (mutual)
		return open_pair(fr, s, f, p);
	/* An unnamed datagram socket with queued messages got them through a
	 * connection to a socket closed since (the image can't say so: a
	 * datagram socket others connected to is "established" too): its
	 * queue comes from a socket pair's other end, closed then, so that
	 * sending gets ECONNREFUSED as before. */
	if (!p && !has_name(e) && sk_queue_has(fr, e->id))
		return open_orphan(fr, s, f);
	/* only socketpair() gives a datagram socket peer credentials */
	if (!p && e->type == SOCK_DGRAM && usk_cred_has(e))
		return open_orphan(fr, s, f);
	return open_single(fr, s, f, p);
}

/* Names are the tree's: bound and connected to in its mount namespace */
int usk_open(struct files_restore *fr, struct rst_file *f)
{
	int cwd, ret = files_rst_enter_mnt(fr, &cwd);
	if (ret)
		return ret;
	ret = usk_open_here(fr, f);
	int r2 = files_rst_leave_mnt(fr, cwd);
	return ret ? ret : r2;
}

void usk_restore_finish(struct files_restore *fr, bool ok)
{
	struct usk_rst *s = fr->kind_state[FDK_UNIX];
	sk_queue_release(fr);
	if (!s)
		return;
	/* (a file that is not the one bound, cryo's namespace's, is left) */
	int cwd = -1;
	if (s->nr_bound || s->nr_made_dirs)
		files_rst_enter_mnt(fr, &cwd);
	for (int i = 0; i < s->nr_bound; i++) {
		struct bound *b = &s->bound[i];
		struct stat st;
		if ((b->deleted || !ok) && !lstat(b->path, &st) && st.st_dev == b->dev &&
		    st.st_ino == b->ino && unlink(b->path))
			pr_perror("can't unlink %s", b->path);
		free(b->path);
	}
	free(s->bound);
	for (int i = s->nr_made_dirs - 1; i >= 0; i--) {
		if (rmdir(s->made_dirs[i]))
			pr_perror("can't remove %s, made to bind a deleted socket in",
				  s->made_dirs[i]);
		free(s->made_dirs[i]);
	}
	free(s->made_dirs);
	files_rst_leave_mnt(fr, cwd);
	if (s->real_root >= 0)
		close(s->real_root);
	usk_list_free(&s->live);
	free(s->v);
	free(s->listeners);
	free(s);
	fr->kind_state[FDK_UNIX] = NULL;
}
