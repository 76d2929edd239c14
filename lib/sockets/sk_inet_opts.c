/* Socket options of inet sockets: the common SOL_SOCKET ones (sk_opts.c)
 * with the IP, IPv6 and TCP levels on top.
 *
 * criu's fields where criu has them: ip_opts_entry (freebind, pktinfo, tos,
 * ttl; raw sockets' IP_HDRINCL, IP_NODEFRAG and ICMP filters), sk_opts_entry
 * (TCP keepalive) and tcp_opts_entry (cork, nodelay, keepalive).  Every
 * other option a program can set and read back is in the tables below and
 * is saved in int_opts (cryo extensions) when it differs from what a new
 * socket of the same family, type and protocol says: defaults that come
 * from sysctls (IP_TTL, TCP_SYNCNT...) are then never frozen into the image.
 * Multicast groups are found by asking the socket about every group the
 * kernel lists in /proc/net/igmp{,6} (MCAST_MSFILTER says whether this
 * socket joined it).
 *
 * Everything is set on the new socket before it is bound or connected (a
 * connection in repair mode too): IP_FREEBIND, IP_BIND_ADDRESS_NO_PORT and
 * SO_BINDTODEVICE matter to bind, TCP_FASTOPEN_CONNECT is accepted only
 * then, TCP_WINDOW_CLAMP and TCP_CONGESTION are taken by the connect.
 * IP_OPTIONS and the IPv6 extension headers (IPV6_HOPOPTS...) are byte
 * strings: bytes_opts.
 * Not saved (not readable through getsockopt): IPV6_MTU,
 * TCP_MD5SIG keys; TCP_QUICKACK is transient.  An upper layer protocol
 * (TCP_ULP, kTLS) is refused.
 */
#include "sockets/sk_inet-int.h"
#include "util/log.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat/uapi-extra.h"

#ifndef SOL_UDPLITE
#define SOL_UDPLITE 136		/* linux/socket.h */
#endif
#ifndef UDPLITE_SEND_CSCOV
#define UDPLITE_SEND_CSCOV 10	/* linux/udp.h (net/udplite.h before) */
#define UDPLITE_RECV_CSCOV 11
#endif

#ifndef IP_NODEFRAG
#define IP_NODEFRAG 22
#endif

#define V4_FIELD	0x100	/* in a criu field for IPv4 sockets */
#define IPV6_ONLY	0x200	/* SOL_IPV6: IPv6 sockets only */
#define NOT_CONN	0x400	/* read back only before a connection exists */
#define NOT_TCP		0x800	/* refused on stream sockets (an accepted one reads
				 * the peer's TTL as its IP_MULTICAST_TTL) */

#define OPT(level, name, flags) { level, name, #name, 0, SKOPT_FRESH | (flags) }

/* SOL_IP (IPv6 sockets have them too, for their IPv4 traffic) and SOL_IPV6.
 * IP_FREEBIND/IPV6_FREEBIND: ip_opts_entry.freebind; IPV6_V6ONLY:
 * inet_sk_entry.v6only; IP_HDRINCL, IP_NODEFRAG: the raw entry. */
static const struct skopt_int ip_tab[] = {
	OPT(SOL_IP, IP_TOS, V4_FIELD),
	OPT(SOL_IP, IP_TTL, V4_FIELD),
	OPT(SOL_IP, IP_PKTINFO, V4_FIELD),
	OPT(SOL_IP, IP_RECVTTL, 0),
	OPT(SOL_IP, IP_RECVTOS, 0),
	OPT(SOL_IP, IP_RECVOPTS, 0),
	OPT(SOL_IP, IP_RETOPTS, 0),
	OPT(SOL_IP, IP_RECVERR, 0),
	OPT(SOL_IP, IP_RECVERR_RFC4884, 0),
	OPT(SOL_IP, IP_MTU_DISCOVER, 0),
	OPT(SOL_IP, IP_TRANSPARENT, 0),
	OPT(SOL_IP, IP_BIND_ADDRESS_NO_PORT, 0),
	OPT(SOL_IP, IP_MULTICAST_TTL, NOT_TCP),
	OPT(SOL_IP, IP_MULTICAST_LOOP, NOT_TCP),
	OPT(SOL_IP, IP_MULTICAST_ALL, NOT_TCP),
	OPT(SOL_IP, IP_MULTICAST_IF, NOT_TCP),	/* an in_addr: 4 bytes, as an int */
	OPT(SOL_IP, IP_UNICAST_IF, 0),		/* an ifindex, network order */
	OPT(SOL_IP, IP_RECVORIGDSTADDR, 0),
	OPT(SOL_IP, IP_MINTTL, 0),
	OPT(SOL_IP, IP_RECVFRAGSIZE, 0),
	OPT(SOL_IP, IP_CHECKSUM, 0),
	OPT(SOL_IP, IP_PASSSEC, 0),
	OPT(SOL_IP, IP_ROUTER_ALERT, 0),
	OPT(SOL_IP, IP_LOCAL_PORT_RANGE, 0),
	OPT(SOL_IPV6, IPV6_UNICAST_HOPS, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_MULTICAST_HOPS, IPV6_ONLY | NOT_TCP),
	OPT(SOL_IPV6, IPV6_MULTICAST_LOOP, IPV6_ONLY | NOT_TCP),
	OPT(SOL_IPV6, IPV6_MULTICAST_IF, IPV6_ONLY | NOT_TCP),
	OPT(SOL_IPV6, IPV6_MULTICAST_ALL, IPV6_ONLY | NOT_TCP),
	OPT(SOL_IPV6, IPV6_UNICAST_IF, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_TCLASS, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVHOPLIMIT, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVRTHDR, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVHOPOPTS, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVDSTOPTS, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVTCLASS, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVPATHMTU, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVORIGDSTADDR, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVFRAGSIZE, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVERR, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_RECVERR_RFC4884, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_2292PKTINFO, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_2292HOPOPTS, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_2292DSTOPTS, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_2292RTHDR, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_2292HOPLIMIT, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_MTU_DISCOVER, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_DONTFRAG, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_MINHOPCOUNT, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_TRANSPARENT, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_AUTOFLOWLABEL, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_FLOWINFO_SEND, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_ADDR_PREFERENCES, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_ROUTER_ALERT_ISOLATE, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_CHECKSUM, IPV6_ONLY),
	OPT(SOL_IPV6, IPV6_HDRINCL, IPV6_ONLY),
	/* UDP and UDP-Lite (TCP and raw sockets answer ENOPROTOOPT): the cork
	 * without data queued (with data: refused in sk_inet.c), GSO and GRO,
	 * the zero-checksum flags, ESP-in-UDP and UDP-Lite's coverages */
	OPT(SOL_UDP, UDP_CORK, 0),
	OPT(SOL_UDP, UDP_SEGMENT, 0),
	OPT(SOL_UDP, UDP_GRO, 0),
	OPT(SOL_UDP, UDP_NO_CHECK6_TX, 0),
	OPT(SOL_UDP, UDP_NO_CHECK6_RX, 0),
	OPT(SOL_UDP, UDP_ENCAP, 0),
	OPT(SOL_UDPLITE, UDPLITE_SEND_CSCOV, 0),
	OPT(SOL_UDPLITE, UDPLITE_RECV_CSCOV, 0),
};

/* SOL_TCP; TCP_NODELAY, TCP_CORK and keepalive: criu's fields. */
static const struct skopt_int tcp_tab[] = {
	OPT(SOL_TCP, TCP_MAXSEG, NOT_CONN),	/* connected: the mss, from repair */
	OPT(SOL_TCP, TCP_USER_TIMEOUT, 0),
	OPT(SOL_TCP, TCP_NOTSENT_LOWAT, 0),
	OPT(SOL_TCP, TCP_SYNCNT, 0),
	OPT(SOL_TCP, TCP_LINGER2, 0),
	OPT(SOL_TCP, TCP_DEFER_ACCEPT, 0),
	OPT(SOL_TCP, TCP_WINDOW_CLAMP, 0),
	OPT(SOL_TCP, TCP_THIN_LINEAR_TIMEOUTS, 0),
	OPT(SOL_TCP, TCP_FASTOPEN, 0),
	OPT(SOL_TCP, TCP_FASTOPEN_CONNECT, 0),
	OPT(SOL_TCP, TCP_FASTOPEN_NO_COOKIE, 0),
	OPT(SOL_TCP, TCP_SAVE_SYN, 0),
	OPT(SOL_TCP, TCP_INQ, 0),
	OPT(SOL_TCP, TCP_TX_DELAY, 0),
};

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

void inet_opts_mem_free(struct inet_opts_mem *m)
{
	skopt_mem_free(&m->sm);
	free(m->ipi);
	free(m->tcpi);
	free(m->mc);
	free(m->mce);
	free(m->be);
	free(m->bep);
	free(m->bbuf);
}

/* --- options whose value is a byte string, kept as getsockopt gives them:
 * IPv4 header options and the IPv6 extension headers a program sets for
 * every packet it sends (sticky options) --- */

static const struct {
	int level, name;
	bool v6;
	const char *str;
} bytes_tab[] = {
	{ SOL_IP, IP_OPTIONS, false, "IP_OPTIONS" },
	{ SOL_IPV6, IPV6_HOPOPTS, true, "IPV6_HOPOPTS" },
	{ SOL_IPV6, IPV6_RTHDRDSTOPTS, true, "IPV6_RTHDRDSTOPTS" },
	{ SOL_IPV6, IPV6_RTHDR, true, "IPV6_RTHDR" },
	{ SOL_IPV6, IPV6_DSTOPTS, true, "IPV6_DSTOPTS" },
};
#define BYTES_OPT_MAX 2048	/* an extension header: at most 256 * 8 bytes */

static int dump_bytes(struct fd_dump *d, int lfd, bool v6, struct inet_opts_mem *m)
{
	size_t n = ARRAY_SIZE(bytes_tab), k = 0;
	m->be = xzalloc(n * sizeof(*m->be));
	m->bep = xzalloc(n * sizeof(*m->bep));
	m->bbuf = xmalloc(n * BYTES_OPT_MAX);
	if (!m->be || !m->bep || !m->bbuf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (bytes_tab[i].v6 != v6)
			continue;
		uint8_t *b = m->bbuf + k * BYTES_OPT_MAX;
		socklen_t l = BYTES_OPT_MAX;
		if (getsockopt(lfd, bytes_tab[i].level, bytes_tab[i].name, b, &l))
			return_perror("getsockopt(%s) on " FD_FMT, bytes_tab[i].str, FD_ARGS(d));
		if (!l)
			continue;
		SkBytesOptEntry *e = &m->be[k];
		sk_bytes_opt_entry__init(e);
		e->has_level = e->has_name = e->has_value = 1;
		e->level = bytes_tab[i].level;
		e->name = bytes_tab[i].name;
		e->value.data = b;
		e->value.len = l;
		m->bep[k++] = e;
	}
	m->io.bytes_opts = m->bep;
	m->io.n_bytes_opts = k;
	return 0;
}

static int restore_bytes(int sk, const IpOptsEntry *io, const char *what)
{
	for (size_t i = 0; i < io->n_bytes_opts; i++) {
		const SkBytesOptEntry *e = io->bytes_opts[i];
		const char *str = NULL;
		for (size_t j = 0; j < ARRAY_SIZE(bytes_tab) && !str; j++)
			if (bytes_tab[j].level == (int)e->level && bytes_tab[j].name == (int)e->name)
				str = bytes_tab[j].str;
		if (!str || e->value.len > BYTES_OPT_MAX) {
			pr_err("%s: the image has a %zu-byte socket option %u at level %u, which cryo "
			       "does not know here: it won't set it", what, e->value.len, e->name,
			       e->level);
			return -EINVAL;
		}
		if (setsockopt(sk, e->level, e->name, e->value.data, e->value.len))
			return_perror("%s: setsockopt(%s) with %zu bytes", what, str, e->value.len);
	}
	return 0;
}

/* --- multicast groups --- */

static int add_mc(struct inet_opts_mem *m, const void *group, size_t len, int ifindex,
		  const char *dev)
{
	struct inet_mc *n = xrealloc(m->mc, (m->nr_mc + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->mc = n;
	struct inet_mc *c = &n[m->nr_mc++];
	memset(c, 0, sizeof(*c));
	memcpy(c->addr, group, len);
	c->len = len;
	c->ifindex = ifindex;
	snprintf(c->dev, sizeof(c->dev), "%s", dev);
	return 0;
}

/* Did the socket join @group on @ifindex?  1 yes, 0 no, or -errno (a
 * membership with source filters: refused, logged). */
static int probe_mc(struct fd_dump *d, int lfd, int family, const void *group, int ifindex,
		    const char *dev)
{
	struct group_filter gf;
	memset(&gf, 0, sizeof(gf));
	gf.gf_interface = ifindex;
	char gs[INET6_ADDRSTRLEN] = "";
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&gf.gf_group;
		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, group, 4);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&gf.gf_group;
		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, group, 16);
	}
	inet_ntop(family, group, gs, sizeof(gs));
	socklen_t l = sizeof(gf);
	if (getsockopt(lfd, family == AF_INET ? SOL_IP : SOL_IPV6, MCAST_MSFILTER, &gf, &l))
		return errno == EADDRNOTAVAIL || errno == EINVAL || errno == ENOPROTOOPT ? 0 : -errno;
	if (gf.gf_fmode != MCAST_EXCLUDE || gf.gf_numsrc) {
		pr_err(FD_FMT " joined the multicast group %s on %s with a source filter (%s, %u "
		       "source(s)): cryo restores plain memberships only; leave the group or drop "
		       "the filter before the dump", FD_ARGS(d), gs, dev,
		       gf.gf_fmode == MCAST_INCLUDE ? "include" : "exclude", gf.gf_numsrc);
		return -EOPNOTSUPP;
	}
	pr_debug(FD_FMT ": member of %s on %s", FD_ARGS(d), gs, dev);
	return 1;
}

/* Every group of /proc/net/igmp (IPv4) or igmp6 this socket joined. */
static int dump_mc(struct fd_dump *d, int lfd, struct inet_opts_mem *m)
{
	int family = d->sk_family;
	FILE *f = fopen(family == AF_INET ? "/proc/net/igmp" : "/proc/net/igmp6", "re");
	if (!f)
		return 0;	/* no multicast support at all */
	char line[256], dev[IFNAMSIZ + 1] = "";
	int ifindex = 0, ret = 0;
	while (!ret && fgets(line, sizeof(line), f)) {
		uint8_t g[16];
		if (family == AF_INET) {
			/* "1\tlo        :     1      V3" then "\t\t\t\t010000E0     1 ..."
			 * lines, the group as the hex of its in-memory u32 */
			unsigned idx, h;
			char name[IFNAMSIZ + 1];
			if (sscanf(line, "%u %16s", &idx, name) == 2 && line[0] != '\t') {
				ifindex = idx;
				snprintf(dev, sizeof(dev), "%s", name);
				continue;
			}
			if (line[0] != '\t' || sscanf(line, " %x", &h) != 1 || !ifindex)
				continue;
			memcpy(g, &h, 4);
		} else {
			/* "1    lo   ff020000000000000000000000000001     1 ..." */
			char hex[33], name[IFNAMSIZ + 1];
			unsigned idx;
			if (sscanf(line, "%u %16s %32s", &idx, name, hex) != 3 || strlen(hex) != 32)
				continue;
			for (int i = 0; i < 16; i++) {
				unsigned b;
				sscanf(hex + 2 * i, "%2x", &b);
				g[i] = b;
			}
			ifindex = idx;
			snprintf(dev, sizeof(dev), "%s", name);
		}
		ret = probe_mc(d, lfd, family, g, ifindex, dev);
		if (ret > 0)
			ret = add_mc(m, g, family == AF_INET ? 4 : 16, ifindex, dev);
	}
	fclose(f);
	if (ret < 0)
		return ret;
	if (!m->nr_mc)
		return 0;
	m->mce = xmalloc(m->nr_mc * (sizeof(*m->mce) + sizeof(*m->mcp)));
	if (!m->mce)
		return -ENOMEM;
	m->mcp = (IpMcEntry **)(m->mce + m->nr_mc);
	for (int i = 0; i < m->nr_mc; i++) {
		IpMcEntry *e = &m->mce[i];
		ip_mc_entry__init(e);
		e->has_group = e->has_ifindex = 1;
		e->group.data = m->mc[i].addr;
		e->group.len = m->mc[i].len;
		e->ifindex = m->mc[i].ifindex;
		e->ifname = m->mc[i].dev;
		m->mcp[i] = e;
	}
	m->io.mc = m->mcp;
	m->io.n_mc = m->nr_mc;
	return 0;
}

static int restore_mc(int sk, const InetSkEntry *ie)
{
	const IpOptsEntry *io = ie->ip_opts;
	for (size_t i = 0; i < io->n_mc; i++) {
		const IpMcEntry *e = io->mc[i];
		size_t want = ie->family == AF_INET ? 4 : 16;
		char gs[INET6_ADDRSTRLEN] = "?";
		if (!e->has_group || e->group.len != want) {
			pr_err("inet socket %u: a multicast entry of %zu bytes, not %zu", ie->id,
			       e->group.len, want);
			return -EINVAL;
		}
		inet_ntop(ie->family, e->group.data, gs, sizeof(gs));
		int idx = e->ifname ? (int)if_nametoindex(e->ifname) : 0;
		if (!idx)
			idx = e->ifindex;
		struct group_req gr = { .gr_interface = idx };
		if (ie->family == AF_INET) {
			struct sockaddr_in *g = (struct sockaddr_in *)&gr.gr_group;
			g->sin_family = AF_INET;
			memcpy(&g->sin_addr, e->group.data, 4);
		} else {
			struct sockaddr_in6 *g = (struct sockaddr_in6 *)&gr.gr_group;
			g->sin6_family = AF_INET6;
			memcpy(&g->sin6_addr, e->group.data, 16);
		}
		int r = setsockopt(sk, ie->family == AF_INET ? SOL_IP : SOL_IPV6, MCAST_JOIN_GROUP,
				   &gr, sizeof(gr));
		if (r)
			return_perror("inet socket %u: can't join the multicast group %s on %s "
				      "(ifindex %d) again", ie->id, gs, e->ifname ? e->ifname : "?",
				      idx);
	}
	return 0;
}

/* --- dump --- */

static int dump_tcp(struct fd_dump *d, int lfd, int fresh, int state, bool ended,
		    struct inet_opts_mem *m)
{
	SkOptsEntry *so = &m->so;
	TcpOptsEntry *to = &m->to;
	int v;
	char ulp[32] = "";
	socklen_t l = sizeof(ulp) - 1;
	if (!getsockopt(lfd, SOL_TCP, TCP_ULP, ulp, &l) && ulp[0]) {
		pr_err(FD_FMT " is a TCP socket with the upper layer protocol \"%s\" (TCP_ULP, "
		       "e.g. kernel TLS): its state can't be read back, so cryo can't dump it",
		       FD_ARGS(d), ulp);
		return -EOPNOTSUPP;
	}
	GET(SOL_TCP, TCP_KEEPCNT, so->tcp_keepcnt);
	GET(SOL_TCP, TCP_KEEPIDLE, so->tcp_keepidle);
	GET(SOL_TCP, TCP_KEEPINTVL, so->tcp_keepintvl);
	so->has_tcp_keepcnt = so->has_tcp_keepidle = so->has_tcp_keepintvl = 1;
	to->has_keepcnt = to->has_keepidle = to->has_keepintvl = 1;
	to->keepcnt = so->tcp_keepcnt;
	to->keepidle = so->tcp_keepidle;
	to->keepintvl = so->tcp_keepintvl;
	GET(SOL_TCP, TCP_NODELAY, v);
	to->has_nodelay = 1;
	to->nodelay = v;
	GET(SOL_TCP, TCP_CORK, v);
	to->has_cork = 1;
	to->cork = v;
	char def[sizeof(m->cc)] = "";
	l = sizeof(m->cc) - 1;
	if (!getsockopt(lfd, SOL_TCP, TCP_CONGESTION, m->cc, &l)) {
		l = sizeof(def) - 1;
		if (fresh < 0 || getsockopt(fresh, SOL_TCP, TCP_CONGESTION, def, &l) ||
		    strcmp(def, m->cc))
			to->congestion = m->cc;
	}
	/* ended: closed, but TCP_MAXSEG still gives the old connection's mss */
	bool conn = (state != TCP_CLOSE && state != TCP_LISTEN) || ended;
	int ret = skopt_ints_dump(lfd, fresh, tcp_tab, ARRAY_SIZE(tcp_tab), conn ? NOT_CONN : 0,
				  &m->tcpi, &to->n_int_opts);
	to->int_opts = m->tcpi;
	return ret;
}

static int dump_ip(struct fd_dump *d, int lfd, int fresh, struct inet_opts_mem *m)
{
	IpOptsEntry *io = &m->io;
	bool v6 = d->sk_family == AF_INET6;
	int v, ret;
	if (v6)
		GET(SOL_IPV6, IPV6_FREEBIND, v);
	else
		GET(SOL_IP, IP_FREEBIND, v);
	io->has_freebind = 1;
	io->freebind = v;
	if (v6) {
		GET(SOL_IPV6, IPV6_RECVPKTINFO, v);
	} else {
		GET(SOL_IP, IP_PKTINFO, v);
		GET(SOL_IP, IP_TOS, io->tos);
		GET(SOL_IP, IP_TTL, io->ttl);
		io->has_tos = io->has_ttl = 1;
	}
	io->has_pktinfo = 1;
	io->pktinfo = v;
	/* an IPv6 socket has both levels (no criu field for its IP_TOS...) */
	unsigned skip = (v6 ? 0 : IPV6_ONLY | V4_FIELD) | (d->sk_type == SOCK_STREAM ? NOT_TCP : 0);
	ret = skopt_ints_dump(lfd, fresh, ip_tab, ARRAY_SIZE(ip_tab), skip, &m->ipi,
			      &io->n_int_opts);
	io->int_opts = m->ipi;
	if (ret || (ret = dump_bytes(d, lfd, v6, m)))
		return ret;
	if (d->sk_type != SOCK_STREAM && (ret = dump_mc(d, lfd, m)))
		return ret;
	if (d->sk_type != SOCK_RAW)
		return 0;
	IpOptsRawEntry *raw = &m->raw;
	io->raw = raw;
	if (!v6) {
		GET(SOL_IP, IP_HDRINCL, v);
		raw->has_hdrincl = 1;
		raw->hdrincl = v;
		GET(SOL_IP, IP_NODEFRAG, v);
		raw->has_nodefrag = 1;
		raw->nodefrag = v;
	}
	socklen_t l = 0;
	if (!v6 && d->sk_proto == IPPROTO_ICMP) {
		l = sizeof(struct icmp_filter);
		if (getsockopt(lfd, SOL_RAW, ICMP_FILTER, m->icmp_filter, &l))
			return_perror("getsockopt(ICMP_FILTER) on " FD_FMT, FD_ARGS(d));
	} else if (v6 && d->sk_proto == IPPROTO_ICMPV6) {
		l = sizeof(struct icmp6_filter);
		if (getsockopt(lfd, SOL_ICMPV6, ICMPV6_FILTER, m->icmp_filter, &l))
			return_perror("getsockopt(ICMPV6_FILTER) on " FD_FMT, FD_ARGS(d));
	}
	raw->n_icmpv_filter = l / sizeof(uint32_t);
	raw->icmpv_filter = raw->n_icmpv_filter ? m->icmp_filter : NULL;
	return 0;
}

int inet_dump_opts(struct fd_dump *d, int lfd, InetSkEntry *ie, struct inet_opts_mem *m)
{
	char what[96];
	snprintf(what, sizeof(what), FD_FMT " (inet socket)", FD_ARGS(d));
	sk_opts_entry__init(&m->so);
	ip_opts_entry__init(&m->io);
	ip_opts_raw_entry__init(&m->raw);
	tcp_opts_entry__init(&m->to);
	int ret = skopt_dump(lfd, &m->so, &m->sm, what);
	if (ret)
		return ret;
	ie->opts = &m->so;
	/* the defaults: a new socket of the same kind */
	int fresh = socket(d->sk_family, d->sk_type | SOCK_CLOEXEC, d->sk_proto);
	if (fresh < 0)
		pr_warn("%s: no socket of the same kind to compare its options with (%s): all "
			"are saved", what, strerror(errno));
	ret = dump_ip(d, lfd, fresh, m);
	if (!ret && d->sk_type == SOCK_STREAM) {
		ret = dump_tcp(d, lfd, fresh, ie->state, ie->has_shutdown, m);
		ie->tcp_opts = &m->to;
	}
	if (fresh >= 0)
		close(fresh);
	ie->ip_opts = &m->io;
	return ret;
}

/* --- restore --- */

static int restore_tcp(int sk, const InetSkEntry *ie, bool conn)
{
	const SkOptsEntry *so = ie->opts;
	const TcpOptsEntry *to = ie->tcp_opts;
	int ret = 0;
	uint32_t cnt = so->has_tcp_keepcnt ? so->tcp_keepcnt : to && to->has_keepcnt ? to->keepcnt : 0;
	uint32_t idle = so->has_tcp_keepidle ? so->tcp_keepidle :
			to && to->has_keepidle ? to->keepidle : 0;
	uint32_t intvl = so->has_tcp_keepintvl ? so->tcp_keepintvl :
			 to && to->has_keepintvl ? to->keepintvl : 0;
	if (cnt)
		ret = SET(SOL_TCP, TCP_KEEPCNT, cnt);
	if (!ret && idle)
		ret = SET(SOL_TCP, TCP_KEEPIDLE, idle);
	if (!ret && intvl)
		ret = SET(SOL_TCP, TCP_KEEPINTVL, intvl);
	if (ret || !to)
		return ret;
	/* a connection gets them once its queues are back (sk_tcp.c) */
	if (!conn && to->nodelay)
		ret = SET(SOL_TCP, TCP_NODELAY, 1);
	if (!ret && !conn && to->cork)
		ret = SET(SOL_TCP, TCP_CORK, 1);
	if (ret)
		return ret;
	if (to->congestion && setsockopt(sk, SOL_TCP, TCP_CONGESTION, to->congestion,
					 strlen(to->congestion)))
		return_perror("setsockopt(TCP_CONGESTION, %s) on inet socket %u (is that congestion "
			      "control available here?)", to->congestion, ie->id);
	char what[48];
	snprintf(what, sizeof(what), "inet socket %u", ie->id);
	return skopt_ints_restore(sk, to->int_opts, to->n_int_opts, tcp_tab, ARRAY_SIZE(tcp_tab),
				  what);
}

static int restore_ip(int sk, const InetSkEntry *ie)
{
	const IpOptsEntry *io = ie->ip_opts;
	bool v6 = ie->family == AF_INET6;
	int ret = 0;
	if (io->freebind)
		ret = v6 ? SET(SOL_IPV6, IPV6_FREEBIND, 1) : SET(SOL_IP, IP_FREEBIND, 1);
	if (!ret && io->pktinfo)
		ret = v6 ? SET(SOL_IPV6, IPV6_RECVPKTINFO, 1) : SET(SOL_IP, IP_PKTINFO, 1);
	if (!ret && !v6 && io->has_tos && io->tos)
		ret = SET(SOL_IP, IP_TOS, io->tos);
	if (!ret && !v6 && io->has_ttl) {
		int cur;
		/* (the default reads as the sysctl's value: set only if other) */
		if (skopt_get_int(sk, SOL_IP, IP_TTL, &cur) || (unsigned)cur != io->ttl)
			ret = SET(SOL_IP, IP_TTL, io->ttl);
	}
	char what[48];
	snprintf(what, sizeof(what), "inet socket %u", ie->id);
	ret = ret ?: skopt_ints_restore(sk, io->int_opts, io->n_int_opts, ip_tab,
					ARRAY_SIZE(ip_tab), what);
	ret = ret ?: restore_bytes(sk, io, what);
	ret = ret ?: restore_mc(sk, ie);
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

int inet_restore_opts(int sk, const InetSkEntry *ie, bool conn)
{
	char what[48];
	snprintf(what, sizeof(what), "inet socket %u", ie->id);
	int ret = skopt_restore(sk, ie->opts, what);
	if (!ret && ie->ip_opts)
		ret = restore_ip(sk, ie);
	/* IP_TOS sets the priority too (rt_tos2priority): the dumped one again */
	int cur;
	if (!ret && ie->opts->has_so_priority &&
	    (skopt_get_int(sk, SOL_SOCKET, SO_PRIORITY, &cur) || (unsigned)cur != ie->opts->so_priority))
		ret = SET(SOL_SOCKET, SO_PRIORITY, ie->opts->so_priority);
	if (!ret && ie->type == SOCK_STREAM && ie->proto == IPPROTO_TCP)
		ret = restore_tcp(sk, ie, conn);
	return ret;
}
