/* The socket options every socket kind shares (sk_opts_entry), in one
 * place for unix, netlink, packet and inet sockets; sk_inet_opts.c adds the
 * IP, IPv6 and TCP levels on top.
 *
 * Dump: getsockopt on cryo's duplicate.  criu's fields first (buffer sizes
 * and their locks, timeouts, SO_REUSEADDR...); every other SOL_SOCKET option
 * a program can set and read back is in the table below and goes to
 * int_opts (a cryo extension) when it is not at its default.
 *
 * Restore: setsockopt on the new socket, before it is bound or connected.
 * Only options of the tables are set from int_opts: an image can't make
 * cryo call setsockopt with anything else.
 */
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include "sk-opts.pb-c.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "compat/uapi-extra.h"

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72		/* asm-generic/socket.h, Linux 5.14 */
#endif

#ifndef SOL_NETLINK
#define SOL_NETLINK 270		/* linux/socket.h */
#endif

#define OPT(level, name, def, flags) { level, name, #name, def, flags }

/* SOL_SOCKET options with no criu field.  Timestamps: x86-64 programs get
 * the _OLD numbers from <sys/socket.h>; a socket in the _NEW mode reports
 * through the _NEW ones (and ENOENT for SO_TIMESTAMPING of the other mode).
 * SO_LOCK_FILTER last: it forbids changing the filter (attached before).
 * SO_TXTIME: struct sock_txtime (clock id, flags) as one 64-bit value.
 * Not here: SO_BUSY_POLL_BUDGET and SO_SNDLOWAT can't be read back (or set)
 * through getsockopt. */
static const struct skopt_int sol_socket[] = {
	OPT(SOL_SOCKET, SO_TIMESTAMP_OLD, 0, 0),
	OPT(SOL_SOCKET, SO_TIMESTAMPNS_OLD, 0, 0),
	OPT(SOL_SOCKET, SO_TIMESTAMP_NEW, 0, 0),
	OPT(SOL_SOCKET, SO_TIMESTAMPNS_NEW, 0, 0),
	OPT(SOL_SOCKET, SO_TIMESTAMPING_OLD, 0, 0),
	OPT(SOL_SOCKET, SO_TIMESTAMPING_NEW, 0, 0),
	OPT(SOL_SOCKET, SO_BUSY_POLL, 0, 0),
	OPT(SOL_SOCKET, SO_PREFER_BUSY_POLL, 0, 0),
	OPT(SOL_SOCKET, SO_INCOMING_CPU, -1, 0),
	OPT(SOL_SOCKET, SO_TXREHASH, 255, 0),	/* SOCK_TXREHASH_DEFAULT */
	OPT(SOL_SOCKET, SO_ZEROCOPY, 0, 0),
	OPT(SOL_SOCKET, SO_RXQ_OVFL, 0, 0),
	OPT(SOL_SOCKET, SO_WIFI_STATUS, 0, 0),
	OPT(SOL_SOCKET, SO_SELECT_ERR_QUEUE, 0, 0),
	OPT(SOL_SOCKET, SO_MAX_PACING_RATE, -1, SKOPT_U64),	/* ~0UL */
	OPT(SOL_SOCKET, SO_RCVMARK, 0, 0),
	OPT(SOL_SOCKET, SO_TXTIME, 0, SKOPT_U64 | SKOPT_WIDE),
	OPT(SOL_SOCKET, SO_PASSPIDFD, 0, 0),
	OPT(SOL_SOCKET, SO_PASSRIGHTS, 1, 0),
	OPT(SOL_SOCKET, SO_NOFCS, 0, 0),
	OPT(SOL_SOCKET, SO_RESERVE_MEM, 0, 0),
	OPT(SOL_SOCKET, SO_LOCK_FILTER, 0, 0),
	/* netlink sockets' flags (other kinds answer EOPNOTSUPP or ENOPROTOOPT
	 * and are skipped): ext-acks and strict checking (iproute2, libnl,
	 * systemd), no ENOBUFS... */
	OPT(SOL_NETLINK, NETLINK_PKTINFO, 0, 0),
	OPT(SOL_NETLINK, NETLINK_BROADCAST_ERROR, 0, 0),
	OPT(SOL_NETLINK, NETLINK_NO_ENOBUFS, 0, 0),
	OPT(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, 0, 0),
	OPT(SOL_NETLINK, NETLINK_CAP_ACK, 0, 0),
	OPT(SOL_NETLINK, NETLINK_EXT_ACK, 0, 0),
	OPT(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 0, 0),
	/* packet sockets' options that sock_diag does not show (the others are
	 * in packet_sock_entry) */
	OPT(SOL_PACKET, PACKET_QDISC_BYPASS, 0, 0),
	OPT(SOL_PACKET, PACKET_IGNORE_OUTGOING, 0, 0),
};

/* --- integer option tables (shared with sk_inet_opts.c) --- */

static int get_val(int fd, const struct skopt_int *t, int64_t *v)
{
	uint64_t u = 0;
	int i = 0;
	socklen_t l = t->flags & SKOPT_U64 ? sizeof(u) : sizeof(i);
	if (getsockopt(fd, t->level, t->name, t->flags & SKOPT_U64 ? (void *)&u : (void *)&i, &l))
		return -errno;
	*v = t->flags & SKOPT_U64 ? (int64_t)u : i;
	return 0;
}

int skopt_ints_dump(int lfd, int fresh, const struct skopt_int *tab, size_t n, unsigned skip,
		    SkIntOptEntry ***out, size_t *nout)
{
	SkIntOptEntry **v = xmalloc(n * (sizeof(*v) + sizeof(**v)) + 1);
	if (!v)
		return -ENOMEM;
	SkIntOptEntry *e = (SkIntOptEntry *)(v + n);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct skopt_int *t = &tab[i];
		int64_t val, def = t->def;
		if (t->flags & skip)
			continue;
		/* an option this kind of socket does not have: not its state */
		if (get_val(lfd, t, &val))
			continue;
		if (fresh >= 0 && (t->flags & SKOPT_FRESH) && get_val(fresh, t, &def))
			def = val + 1;	/* unknown default: keep the value */
		if (val == def)
			continue;
		sk_int_opt_entry__init(&e[k]);
		e[k].has_level = e[k].has_name = e[k].has_value = 1;
		e[k].level = t->level;
		e[k].name = t->name;
		e[k].value = val;
		v[k] = &e[k];
		k++;
	}
	*out = v;
	*nout = k;
	return 0;
}

int skopt_ints_restore(int sk, SkIntOptEntry *const *v, size_t n, const struct skopt_int *tab,
		       size_t ntab, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		const SkIntOptEntry *e = v[i];
		const struct skopt_int *t = NULL;
		for (size_t j = 0; j < ntab && !t; j++)
			if (tab[j].level == (int)e->level && tab[j].name == (int)e->name)
				t = &tab[j];
		if (!t) {
			pr_err("%s: the image has socket option %u at level %u, which cryo does not "
			       "know here: it won't set it", what, e->name, e->level);
			return -EINVAL;
		}
		int iv = (int)e->value;
		uint64_t uv = e->value;
		bool wide = (t->flags & SKOPT_U64) &&
			    ((t->flags & SKOPT_WIDE) || (int64_t)iv != e->value);
		if (setsockopt(sk, t->level, t->name, wide ? (void *)&uv : (void *)&iv,
			       wide ? sizeof(uv) : sizeof(iv)))
			return_perror("%s: setsockopt(%s, %lld)", what, t->str, (long long)e->value);
	}
	return 0;
}

/* --- criu's fields --- */

int skopt_get_int(int fd, int level, int opt, int *val)
{
	socklen_t l = sizeof(*val);
	*val = 0;
	return getsockopt(fd, level, opt, val, &l) ? -errno : 0;
}

static int get_int(int lfd, int opt, int *v)
{
	return skopt_get_int(lfd, SOL_SOCKET, opt, v);
}

void skopt_mem_free(struct skopt_mem *m)
{
	free(m->filter);
	free(m->dev);
	free(m->ints);
	memset(m, 0, sizeof(*m));
}

int skopt_dump(int lfd, SkOptsEntry *o, struct skopt_mem *m, const char *what)
{
	struct timeval tv;
	socklen_t l;
	int v;
	if (get_int(lfd, SO_SNDBUF, &v))
		return_perror("%s: getsockopt(SO_SNDBUF)", what);
	o->so_sndbuf = v;
	if (get_int(lfd, SO_RCVBUF, &v))
		return_perror("%s: getsockopt(SO_RCVBUF)", what);
	o->so_rcvbuf = v;
	o->has_so_sndbuf = o->has_so_rcvbuf = 1;
	/* which of the sizes the program set (an unlocked one is auto-tuned) */
	if (!get_int(lfd, SO_BUF_LOCK, &v)) {
		o->has_so_buf_lock = 1;
		o->so_buf_lock = v;
	}
	l = sizeof(tv);
	if (getsockopt(lfd, SOL_SOCKET, SO_SNDTIMEO, &tv, &l))
		return_perror("%s: getsockopt(SO_SNDTIMEO)", what);
	o->so_snd_tmo_sec = tv.tv_sec;
	o->so_snd_tmo_usec = tv.tv_usec;
	l = sizeof(tv);
	if (getsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l))
		return_perror("%s: getsockopt(SO_RCVTIMEO)", what);
	o->so_rcv_tmo_sec = tv.tv_sec;
	o->so_rcv_tmo_usec = tv.tv_usec;
	o->has_so_snd_tmo_sec = o->has_so_snd_tmo_usec = 1;
	o->has_so_rcv_tmo_sec = o->has_so_rcv_tmo_usec = 1;

	static const struct {
		int opt;
		size_t has_off, val_off;
		bool is_bool;
	} flags[] = {
#define F(opt, field, b) { opt, offsetof(SkOptsEntry, has_##field), offsetof(SkOptsEntry, field), b }
		F(SO_REUSEADDR, reuseaddr, true),
		F(SO_REUSEPORT, so_reuseport, true),
		F(SO_PRIORITY, so_priority, false),
		F(SO_RCVLOWAT, so_rcvlowat, false),
		F(SO_MARK, so_mark, false),
		F(SO_PASSCRED, so_passcred, true),
		F(SO_PASSSEC, so_passsec, true),
		F(SO_DONTROUTE, so_dontroute, true),
		F(SO_NO_CHECK, so_no_check, true),
		F(SO_BROADCAST, so_broadcast, true),
		F(SO_KEEPALIVE, so_keepalive, true),
		F(SO_OOBINLINE, so_oobinline, false),
#undef F
	};
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		/* an option this kind lacks (newer kernels refuse SO_PASSCRED
		 * on inet sockets): left out */
		if (get_int(lfd, flags[i].opt, &v))
			continue;
		*(protobuf_c_boolean *)((char *)o + flags[i].has_off) = 1;
		if (flags[i].is_bool)
			*(protobuf_c_boolean *)((char *)o + flags[i].val_off) = !!v;
		else
			*(uint32_t *)((char *)o + flags[i].val_off) = v;
	}
	struct linger lg;
	l = sizeof(lg);
	if (!getsockopt(lfd, SOL_SOCKET, SO_LINGER, &lg, &l) && lg.l_onoff) {
		o->has_so_linger = 1;
		o->so_linger = lg.l_linger;
	}
	/* peeking at an offset (unix, UDP...): -1 when disabled */
	if (!get_int(lfd, SO_PEEK_OFF, &v) && v >= 0) {
		o->has_so_peek_off = 1;
		o->so_peek_off = v;
	}
	char dev[IFNAMSIZ + 1] = "";
	l = IFNAMSIZ;
	if (!getsockopt(lfd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l) && l > 0 && dev[0]) {
		dev[l < IFNAMSIZ ? l : IFNAMSIZ] = '\0';
		m->dev = o->so_bound_dev = xstrdup(dev);
		if (!m->dev)
			return -ENOMEM;
	}
	/* a classic BPF filter attached with SO_ATTACH_FILTER; an eBPF one
	 * (SO_ATTACH_BPF) has no original program to give: EACCES */
	l = 0;
	if (getsockopt(lfd, SOL_SOCKET, SO_GET_FILTER, NULL, &l) && errno == EACCES) {
		pr_err("%s has an eBPF socket filter (SO_ATTACH_BPF): the kernel can't give an "
		       "eBPF program back from a socket, so cryo can't dump it (classic filters, "
		       "SO_ATTACH_FILTER, are restored)", what);
		return -EOPNOTSUPP;
	}
	l = 0;
	if (!getsockopt(lfd, SOL_SOCKET, SO_GET_FILTER, NULL, &l) && l) {
		struct sock_filter *f = xmalloc(l * sizeof(*f));
		m->filter = xmalloc(l * sizeof(*m->filter));
		if (!f || !m->filter) {
			free(f);
			return -ENOMEM;
		}
		if (getsockopt(lfd, SOL_SOCKET, SO_GET_FILTER, f, &l)) {
			free(f);
			return_perror("%s: getsockopt(SO_GET_FILTER)", what);
		}
		for (socklen_t i = 0; i < l; i++)
			memcpy(&m->filter[i], &f[i], sizeof(m->filter[i]));
		free(f);
		o->so_filter = m->filter;
		o->n_so_filter = l;
	}
	int ret = skopt_ints_dump(lfd, -1, sol_socket, ARRAY_SIZE(sol_socket), 0, &m->ints,
				  &o->n_int_opts);
	o->int_opts = m->ints;
	return ret;
}

static int set_int(int lfd, int opt, int v, const char *name, const char *what)
{
	if (setsockopt(lfd, SOL_SOCKET, opt, &v, sizeof(v)))
		return_perror("%s: setsockopt(%s, %d)", what, name, v);
	return 0;
}

int skopt_restore(int lfd, const SkOptsEntry *o, const char *what)
{
	if (!o)
		return 0;
	int cur, ret = 0;
	/* setsockopt doubles the size given: the image holds what getsockopt
	 * said.  Forcing a size locks it: the dumped locks are put back after
	 * (a size the kernel tunes by itself stays unlocked). */
	if (o->has_so_sndbuf && !get_int(lfd, SO_SNDBUF, &cur) && (unsigned)cur != o->so_sndbuf)
		ret = set_int(lfd, SO_SNDBUFFORCE, o->so_sndbuf / 2, "SO_SNDBUFFORCE", what);
	if (!ret && o->has_so_rcvbuf && !get_int(lfd, SO_RCVBUF, &cur) &&
	    (unsigned)cur != o->so_rcvbuf)
		ret = set_int(lfd, SO_RCVBUFFORCE, o->so_rcvbuf / 2, "SO_RCVBUFFORCE", what);
	if (!ret && o->has_so_buf_lock)
		ret = set_int(lfd, SO_BUF_LOCK, o->so_buf_lock, "SO_BUF_LOCK", what);
	if (ret)
		return ret;
	struct timeval tv = { o->so_snd_tmo_sec, o->so_snd_tmo_usec };
	if ((tv.tv_sec || tv.tv_usec) && setsockopt(lfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return_perror("%s: setsockopt(SO_SNDTIMEO)", what);
	tv = (struct timeval){ o->so_rcv_tmo_sec, o->so_rcv_tmo_usec };
	if ((tv.tv_sec || tv.tv_usec) && setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		return_perror("%s: setsockopt(SO_RCVTIMEO)", what);
	/* only what differs from a new socket's value */
#define S(has, val, opt, def) \
	if (!ret && o->has && (int)o->val != (def)) \
		ret = set_int(lfd, opt, o->val, #opt, what)
	S(has_reuseaddr, reuseaddr, SO_REUSEADDR, 0);
	S(has_so_reuseport, so_reuseport, SO_REUSEPORT, 0);
	S(has_so_priority, so_priority, SO_PRIORITY, 0);
	S(has_so_rcvlowat, so_rcvlowat, SO_RCVLOWAT, 1);
	S(has_so_mark, so_mark, SO_MARK, 0);
	S(has_so_passcred, so_passcred, SO_PASSCRED, 0);
	S(has_so_passsec, so_passsec, SO_PASSSEC, 0);
	S(has_so_dontroute, so_dontroute, SO_DONTROUTE, 0);
	S(has_so_no_check, so_no_check, SO_NO_CHECK, 0);
	S(has_so_broadcast, so_broadcast, SO_BROADCAST, 0);
	S(has_so_keepalive, so_keepalive, SO_KEEPALIVE, 0);
	S(has_so_oobinline, so_oobinline, SO_OOBINLINE, 0);
#undef S
	if (!ret && o->has_so_peek_off)
		ret = set_int(lfd, SO_PEEK_OFF, o->so_peek_off, "SO_PEEK_OFF", what);
	if (ret)
		return ret;
	if (o->has_so_linger) {
		struct linger lg = { .l_onoff = 1, .l_linger = o->so_linger };
		if (setsockopt(lfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			return_perror("%s: setsockopt(SO_LINGER, %u)", what, o->so_linger);
	}
	if (o->so_bound_dev && o->so_bound_dev[0] &&
	    setsockopt(lfd, SOL_SOCKET, SO_BINDTODEVICE, o->so_bound_dev, strlen(o->so_bound_dev)))
		return_perror("%s: setsockopt(SO_BINDTODEVICE, %s) (does the interface exist "
			      "here?)", what, o->so_bound_dev);
	if (o->n_so_filter) {
		struct sock_filter *f = xmalloc(o->n_so_filter * sizeof(*f));
		if (!f)
			return -ENOMEM;
		for (size_t i = 0; i < o->n_so_filter; i++)
			memcpy(&f[i], &o->so_filter[i], sizeof(f[i]));
		struct sock_fprog prog = { .len = o->n_so_filter, .filter = f };
		if (setsockopt(lfd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog))) {
			ret = -errno;
			pr_perror("%s: setsockopt(SO_ATTACH_FILTER) with %zu instructions", what,
				  o->n_so_filter);
		}
		free(f);
		if (ret)
			return ret;
	}
	return skopt_ints_restore(lfd, o->int_opts, o->n_int_opts, sol_socket,
				  ARRAY_SIZE(sol_socket), what);
}
