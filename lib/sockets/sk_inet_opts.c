/* Socket options of inet sockets: criu's sk_opts_entry (the SOL_SOCKET
 * options every socket has, plus TCP keepalive) and ip_opts_entry (freebind;
 * raw sockets' IP_HDRINCL, IP_NODEFRAG and ICMP filters).  Read with
 * getsockopt on cryo's duplicate at dump, set on the new socket at restore. */
#include "sockets/sk_inet.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72		/* asm-generic/socket.h, Linux 5.14 */
#endif
#ifndef IP_NODEFRAG
#define IP_NODEFRAG 22
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

int inet_get_int(int lfd, int level, int opt, int *val)
{
	socklen_t l = sizeof(*val);
	*val = 0;
	return getsockopt(lfd, level, opt, val, &l) ? -errno : 0;
}

/* An option some socket kinds lack (newer kernels refuse SO_PASSCRED on
 * inet sockets): 0 then. */
#define GET_OPT(level, opt, dst)                                               \
	do {                                                                   \
		int __v, __r = inet_get_int(lfd, level, opt, &__v);                 \
		if (__r == -EOPNOTSUPP || __r == -ENOPROTOOPT)                 \
			__v = 0;                                               \
		else if (__r)                                                  \
			return_perror("getsockopt(" #opt ") on " FD_FMT, FD_ARGS(d)); \
		dst = __v;                                                     \
	} while (0)

/* The options every socket has (sk-opts.proto). */
int inet_dump_sk_opts(struct fd_dump *d, int lfd, SkOptsEntry *so, bool tcp)
{
	struct timeval tv;
	socklen_t l;
	int v;

	GET(SOL_SOCKET, SO_SNDBUF, so->so_sndbuf);
	GET(SOL_SOCKET, SO_RCVBUF, so->so_rcvbuf);
	so->has_so_sndbuf = so->has_so_rcvbuf = 1;
	l = sizeof(tv);
	if (getsockopt(lfd, SOL_SOCKET, SO_SNDTIMEO, &tv, &l))
		return_perror("getsockopt(SO_SNDTIMEO) on " FD_FMT, FD_ARGS(d));
	so->so_snd_tmo_sec = tv.tv_sec;
	so->so_snd_tmo_usec = tv.tv_usec;
	l = sizeof(tv);
	if (getsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l))
		return_perror("getsockopt(SO_RCVTIMEO) on " FD_FMT, FD_ARGS(d));
	so->so_rcv_tmo_sec = tv.tv_sec;
	so->so_rcv_tmo_usec = tv.tv_usec;
	so->has_so_snd_tmo_sec = so->has_so_snd_tmo_usec = 1;
	so->has_so_rcv_tmo_sec = so->has_so_rcv_tmo_usec = 1;

	GET(SOL_SOCKET, SO_REUSEADDR, so->reuseaddr);
	GET(SOL_SOCKET, SO_REUSEPORT, so->so_reuseport);
	GET(SOL_SOCKET, SO_PRIORITY, so->so_priority);
	GET(SOL_SOCKET, SO_RCVLOWAT, so->so_rcvlowat);
	GET(SOL_SOCKET, SO_MARK, so->so_mark);
	GET_OPT(SOL_SOCKET, SO_PASSCRED, so->so_passcred);
	GET_OPT(SOL_SOCKET, SO_PASSSEC, so->so_passsec);
	GET_OPT(SOL_SOCKET, SO_DONTROUTE, so->so_dontroute);
	GET_OPT(SOL_SOCKET, SO_NO_CHECK, so->so_no_check);
	GET_OPT(SOL_SOCKET, SO_BROADCAST, so->so_broadcast);
	GET(SOL_SOCKET, SO_KEEPALIVE, so->so_keepalive);
	GET_OPT(SOL_SOCKET, SO_OOBINLINE, so->so_oobinline);
	so->has_reuseaddr = so->has_so_reuseport = so->has_so_priority = so->has_so_rcvlowat = 1;
	so->has_so_mark = so->has_so_passcred = so->has_so_passsec = so->has_so_dontroute = 1;
	so->has_so_no_check = so->has_so_broadcast = so->has_so_keepalive = 1;
	so->has_so_oobinline = 1;
	if (!inet_get_int(lfd, SOL_SOCKET, SO_BUF_LOCK, &v)) {
		so->has_so_buf_lock = 1;
		so->so_buf_lock = v;
	}
	struct linger lg;
	l = sizeof(lg);
	if (getsockopt(lfd, SOL_SOCKET, SO_LINGER, &lg, &l))
		return_perror("getsockopt(SO_LINGER) on " FD_FMT, FD_ARGS(d));
	if (lg.l_onoff) {
		so->has_so_linger = 1;
		so->so_linger = lg.l_linger;
	}
	if (tcp) {
		GET(SOL_TCP, TCP_KEEPCNT, so->tcp_keepcnt);
		GET(SOL_TCP, TCP_KEEPIDLE, so->tcp_keepidle);
		GET(SOL_TCP, TCP_KEEPINTVL, so->tcp_keepintvl);
		so->has_tcp_keepcnt = so->has_tcp_keepidle = so->has_tcp_keepintvl = 1;
	}
	char dev[IFNAMSIZ + 1] = "";
	l = IFNAMSIZ;
	if (getsockopt(lfd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l))
		return_perror("getsockopt(SO_BINDTODEVICE) on " FD_FMT, FD_ARGS(d));
	if (l > 0 && dev[0]) {
		dev[l < IFNAMSIZ ? l : IFNAMSIZ] = '\0';
		so->so_bound_dev = xstrdup(dev);
		if (!so->so_bound_dev)
			return -ENOMEM;
	}
	/* a classic BPF filter: its length (in instructions) first */
	l = 0;
	if (getsockopt(lfd, SOL_SOCKET, SO_GET_FILTER, NULL, &l))
		return_perror("getsockopt(SO_GET_FILTER) on " FD_FMT, FD_ARGS(d));
	if (l) {
		struct sock_filter *f = xmalloc(l * sizeof(*f));
		if (!f)
			return -ENOMEM;
		socklen_t n = l;
		if (getsockopt(lfd, SOL_SOCKET, SO_GET_FILTER, f, &n)) {
			free(f);
			return_perror("getsockopt(SO_GET_FILTER) on " FD_FMT, FD_ARGS(d));
		}
		so->so_filter = xmalloc(n * sizeof(uint64_t));
		if (!so->so_filter) {
			free(f);
			return -ENOMEM;
		}
		for (socklen_t i = 0; i < n; i++)
			memcpy(&so->so_filter[i], &f[i], sizeof(uint64_t));
		so->n_so_filter = n;
		free(f);
	}
	return 0;
}

int inet_dump_ip_opts(struct fd_dump *d, int lfd, IpOptsEntry *io, IpOptsRawEntry *raw)
{
	bool v6 = d->sk_family == AF_INET6;
	int v;
	if (v6)
		GET(SOL_IPV6, IPV6_FREEBIND, v);
	else
		GET(SOL_IP, IP_FREEBIND, v);
	if (v)
		io->has_freebind = io->freebind = 1;
	if (d->sk_type != SOCK_RAW)
		return 0;
	io->raw = raw;
	if (!v6) {
		GET(SOL_IP, IP_HDRINCL, v);
		raw->has_hdrincl = 1;
		raw->hdrincl = v;
		GET(SOL_IP, IP_NODEFRAG, v);
		raw->has_nodefrag = 1;
		raw->nodefrag = v;
	}
	static uint32_t filter[8];
	socklen_t l = 0;
	if (!v6 && d->sk_proto == IPPROTO_ICMP) {
		l = sizeof(struct icmp_filter);
		if (getsockopt(lfd, SOL_RAW, ICMP_FILTER, filter, &l))
			return_perror("getsockopt(ICMP_FILTER) on " FD_FMT, FD_ARGS(d));
	} else if (v6 && d->sk_proto == IPPROTO_ICMPV6) {
		l = sizeof(struct icmp6_filter);
		if (getsockopt(lfd, SOL_ICMPV6, ICMPV6_FILTER, filter, &l))
			return_perror("getsockopt(ICMPV6_FILTER) on " FD_FMT, FD_ARGS(d));
	}
	raw->n_icmpv_filter = l / sizeof(uint32_t);
	raw->icmpv_filter = raw->n_icmpv_filter ? filter : NULL;
	return 0;
}

int inet_set_int(int sk, int level, int opt, int val, const char *name, const InetSkEntry *ie)
{
	if (setsockopt(sk, level, opt, &val, sizeof(val))) {
		int e = errno;
		pr_err("setsockopt(%s, %d) on inet socket %u (ino %u): %s", name, val, ie->id, ie->ino,
		       strerror(e));
		return -e;
	}
	return 0;
}

int inet_restore_sk_opts(int sk, const InetSkEntry *ie)
{
	const SkOptsEntry *so = ie->opts;
	int ret = 0;
	if (!so)
		return 0;
	/* the kernel doubles what it is given: give half of what it showed */
	if (so->has_so_sndbuf)
		ret = ret ?: SET(SOL_SOCKET, SO_SNDBUFFORCE, so->so_sndbuf / 2);
	if (so->has_so_rcvbuf)
		ret = ret ?: SET(SOL_SOCKET, SO_RCVBUFFORCE, so->so_rcvbuf / 2);
	/* setting the sizes locked them; an auto-tuned buffer was not locked */
	if (so->has_so_buf_lock)
		ret = ret ?: SET(SOL_SOCKET, SO_BUF_LOCK, so->so_buf_lock);
	struct timeval tv = { .tv_sec = so->so_snd_tmo_sec, .tv_usec = so->so_snd_tmo_usec };
	if ((tv.tv_sec || tv.tv_usec) && setsockopt(sk, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return_perror("setsockopt(SO_SNDTIMEO) on inet socket %u", ie->id);
	tv = (struct timeval){ .tv_sec = so->so_rcv_tmo_sec, .tv_usec = so->so_rcv_tmo_usec };
	if ((tv.tv_sec || tv.tv_usec) && setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		return_perror("setsockopt(SO_RCVTIMEO) on inet socket %u", ie->id);
	if (so->so_priority)
		ret = ret ?: SET(SOL_SOCKET, SO_PRIORITY, so->so_priority);
	if (so->has_so_rcvlowat && so->so_rcvlowat != 1)
		ret = ret ?: SET(SOL_SOCKET, SO_RCVLOWAT, so->so_rcvlowat);
	if (so->so_mark)
		ret = ret ?: SET(SOL_SOCKET, SO_MARK, so->so_mark);
	if (so->so_passcred)
		ret = ret ?: SET(SOL_SOCKET, SO_PASSCRED, 1);
	if (so->so_passsec)
		ret = ret ?: SET(SOL_SOCKET, SO_PASSSEC, 1);
	if (so->so_dontroute)
		ret = ret ?: SET(SOL_SOCKET, SO_DONTROUTE, 1);
	if (so->so_no_check)
		ret = ret ?: SET(SOL_SOCKET, SO_NO_CHECK, 1);
	if (so->so_broadcast)
		ret = ret ?: SET(SOL_SOCKET, SO_BROADCAST, 1);
	if (so->so_keepalive)
		ret = ret ?: SET(SOL_SOCKET, SO_KEEPALIVE, 1);
	if (so->so_oobinline)
		ret = ret ?: SET(SOL_SOCKET, SO_OOBINLINE, 1);
	if (ie->proto == IPPROTO_TCP && ie->type == SOCK_STREAM) {
		if (so->has_tcp_keepcnt)
			ret = ret ?: SET(SOL_TCP, TCP_KEEPCNT, so->tcp_keepcnt);
		if (so->has_tcp_keepidle)
			ret = ret ?: SET(SOL_TCP, TCP_KEEPIDLE, so->tcp_keepidle);
		if (so->has_tcp_keepintvl)
			ret = ret ?: SET(SOL_TCP, TCP_KEEPINTVL, so->tcp_keepintvl);
	}
	if (ret)
		return ret;
	if (so->has_so_linger) {
		struct linger lg = { .l_onoff = 1, .l_linger = so->so_linger };
		if (setsockopt(sk, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			return_perror("setsockopt(SO_LINGER) on inet socket %u", ie->id);
	}
	if (so->so_bound_dev && setsockopt(sk, SOL_SOCKET, SO_BINDTODEVICE, so->so_bound_dev,
					   strlen(so->so_bound_dev)))
		return_perror("setsockopt(SO_BINDTODEVICE, %s) on inet socket %u (does the "
			      "interface exist here?)", so->so_bound_dev, ie->id);
	if (so->n_so_filter) {
		struct sock_filter *f = xmalloc(so->n_so_filter * sizeof(*f));
		if (!f)
			return -ENOMEM;
		for (size_t i = 0; i < so->n_so_filter; i++)
			memcpy(&f[i], &so->so_filter[i], sizeof(f[i]));
		struct sock_fprog p = { .len = so->n_so_filter, .filter = f };
		int r = setsockopt(sk, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof(p));
		free(f);
		if (r)
			return_perror("setsockopt(SO_ATTACH_FILTER) on inet socket %u", ie->id);
	}
	return 0;
}

int inet_restore_ip_opts(int sk, const InetSkEntry *ie)
{
	const IpOptsEntry *io = ie->ip_opts;
	bool v6 = ie->family == AF_INET6;
	int ret = 0;
	if (!io)
		return 0;
	if (io->freebind)
		ret = v6 ? SET(SOL_IPV6, IPV6_FREEBIND, 1) : SET(SOL_IP, IP_FREEBIND, 1);
	const IpOptsRawEntry *raw = io->raw;
	if (ret || !raw || ie->type != SOCK_RAW)
		return ret;
	if (!v6 && raw->has_hdrincl)
		ret = ret ?: SET(SOL_IP, IP_HDRINCL, raw->hdrincl);
	if (!v6 && raw->nodefrag)
		ret = ret ?: SET(SOL_IP, IP_NODEFRAG, 1);
	if (ret || !raw->n_icmpv_filter)
		return ret;
	if (!v6 && ie->proto == IPPROTO_ICMP &&
	    setsockopt(sk, SOL_RAW, ICMP_FILTER, raw->icmpv_filter, raw->n_icmpv_filter * 4))
		return_perror("setsockopt(ICMP_FILTER) on inet socket %u", ie->id);
	if (v6 && ie->proto == IPPROTO_ICMPV6 &&
	    setsockopt(sk, SOL_ICMPV6, ICMPV6_FILTER, raw->icmpv_filter, raw->n_icmpv_filter * 4))
		return_perror("setsockopt(ICMPV6_FILTER) on inet socket %u", ie->id);
	return 0;
}
