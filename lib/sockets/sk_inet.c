/* Inet sockets (IPv4 and IPv6): TCP, UDP, UDP-Lite, ICMP ping sockets and
 * raw sockets.  One inet_sk_entry in files.img per open file description
 * (criu's layout); TCP connections also get tcp-stream-INO.img (sk_tcp.c).
 *
 * Dump reads everything from cryo's duplicate of the descriptor:
 * getsockname/getpeername for the addresses, TCP_INFO for the TCP state and
 * a listening socket's backlog and accept queue, getsockopt for options;
 * sock_diag only for a UDP socket's shutdown state.
 *
 * Restore creates the socket in cryo: options, bind, listen or connect
 * (TCP connections in repair mode, sk_tcp.c).  Sockets that shared a port
 * (a listener and its accepted connections) all get SO_REUSEADDR while they
 * are bound; the dumped value is put back once every socket exists
 * (->restore_finish).
 */
#include "sockets/sk_inet-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>


static const char *const tcp_states[] = {
	[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
	[TCP_SYN_RECV] = "SYN_RECV", [TCP_FIN_WAIT1] = "FIN_WAIT1", [TCP_FIN_WAIT2] = "FIN_WAIT2",
	[TCP_TIME_WAIT] = "TIME_WAIT", [TCP_CLOSE] = "CLOSE", [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_LAST_ACK] = "LAST_ACK", [TCP_LISTEN] = "LISTEN", [TCP_CLOSING] = "CLOSING",
};

static const char *state_name(unsigned s)
{
	return s < sizeof(tcp_states) / sizeof(tcp_states[0]) && tcp_states[s] ? tcp_states[s] : "?";
}

void inet_conn_of(const InetSkEntry *ie, struct inet_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->family = ie->family;
	for (size_t i = 0; i < 4 && i < ie->n_src_addr; i++)
		c->src[i] = ie->src_addr[i];
	for (size_t i = 0; i < 4 && i < ie->n_dst_addr; i++)
		c->dst[i] = ie->dst_addr[i];
	c->sport = ie->src_port;
	c->dport = ie->dst_port;
}

int inet_sockaddr(const InetSkEntry *ie, bool src, struct sockaddr_storage *ss, socklen_t *len)
{
	const uint32_t *a = src ? ie->src_addr : ie->dst_addr;
	size_t n = src ? ie->n_src_addr : ie->n_dst_addr;
	unsigned port = src ? ie->src_port : ie->dst_port;
	memset(ss, 0, sizeof(*ss));
	if (ie->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		if (n < 1)
			goto bad;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, a, 4);
		*len = sizeof(*s);
		return 0;
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	if (n != 4)
		goto bad;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	memcpy(&s->sin6_addr, a, 16);
	if (src && ie->ifname) {
		struct ifreq ifr = { 0 };
		int sk = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ie->ifname);
		if (sk >= 0 && !ioctl(sk, SIOCGIFINDEX, &ifr))
			s->sin6_scope_id = ifr.ifr_ifindex;
		else
			pr_warn("no interface %s here for the link-local address of inet socket %u",
				ie->ifname, ie->id);
		if (sk >= 0)
			close(sk);
	}
	*len = sizeof(*s);
	return 0;
bad:
	pr_err("inet socket %u (ino %u): its %s address has %zu words, not %d", ie->id, ie->ino,
	       src ? "source" : "destination", n, ie->family == AF_INET ? 1 : 4);
	return -EINVAL;
}

/* ------------------------------------------------------------------ dump */

/* getsockname/getpeername into the entry; false in *connected if no peer */
static int dump_addr(struct fd_dump *d, int lfd, bool peer, uint32_t *addr, uint32_t *port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	int r = peer ? getpeername(lfd, (struct sockaddr *)&ss, &l) :
		       getsockname(lfd, (struct sockaddr *)&ss, &l);
	if (r) {
		if (peer && errno == ENOTCONN)
			return 0;
		return_perror("%s on " FD_FMT, peer ? "getpeername" : "getsockname", FD_ARGS(d));
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		memcpy(addr, &s->sin_addr, 4);
		*port = ntohs(s->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		memcpy(addr, &s->sin6_addr, 16);
		*port = ntohs(s->sin6_port);
	}
	return 0;
}

struct shut_query {
	ino_t ino;
	int shutdown;
};

static int shut_cb(struct nlmsghdr *h, void *arg)
{
	struct shut_query *q = arg;
	struct inet_diag_msg *m = NLMSG_DATA(h);
	if (m->idiag_inode != q->ino)
		return 0;
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == INET_DIAG_SHUTDOWN)
			q->shutdown = *(uint8_t *)RTA_DATA(a);
	return 1;	/* found: stop */
}

struct peer_query {
	ino_t ino;
	uint32_t *addr;
	uint32_t *port;
};

static int peer_cb(struct nlmsghdr *h, void *arg)
{
	struct peer_query *q = arg;
	struct inet_diag_msg *m = NLMSG_DATA(h);
	if (m->idiag_inode != q->ino)
		return 0;
	memcpy(q->addr, m->id.idiag_dst, m->idiag_family == AF_INET ? 4 : 16);
	*q->port = ntohs(m->id.idiag_dport);
	return 1;
}

/* The address a socket in SYN_SENT connects to: getpeername says ENOTCONN
 * until the handshake is done, sock_diag knows it. */
static int syn_sent_peer(struct fd_dump *d, uint32_t *addr, uint32_t *port)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { .h = { .nlmsg_flags = NLM_F_DUMP },
		  .r = { .sdiag_family = d->sk_family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1u << TCP_SYN_SENT } };
	struct peer_query q = { .ino = d->st.st_ino, .addr = addr, .port = port };
	int ret = sock_diag_query(&req, sizeof(req), peer_cb, &q);
	if (ret < 0 || !*port) {
		pr_err(FD_FMT " is a TCP socket connecting (SYN_SENT), but sock_diag does not "
		       "give the address it connects to%s%s", FD_ARGS(d), ret < 0 ? ": " : "",
		       ret < 0 ? strerror(-ret) : "");
		return ret < 0 ? ret : -ENOENT;
	}
	return 0;
}

/* sizeof(struct tcp_diag_md5sig) of linux/tcp.h (which clashes with
 * netinet/tcp.h): family, prefix length, key length, address, key */
#define TCP_DIAG_MD5SIG_SIZE (1 + 1 + 2 + 16 + 80)

struct md5_query {
	ino_t ino;
	int keys;
	int shutdown;
};

static int md5_cb(struct nlmsghdr *h, void *arg)
{
	struct md5_query *q = arg;
	struct inet_diag_msg *m = NLMSG_DATA(h);
	if (m->idiag_inode != q->ino)
		return 0;
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == INET_DIAG_MD5SIG)
			q->keys = RTA_PAYLOAD(a) / TCP_DIAG_MD5SIG_SIZE;
		else if (a->rta_type == INET_DIAG_SHUTDOWN)
			q->shutdown = *(uint8_t *)RTA_DATA(a);
	return 1;
}

/* TCP MD5 signature keys (TCP_MD5SIG, RFC 2385: BGP sessions): setsockopt
 * only, but sock_diag lists them to CAP_NET_ADMIN with the TCP info (a
 * hashed socket: listening or connected).  cryo does not restore them yet;
 * without them the peer drops every segment of the restored connection.
 * The same answer gives the socket's shutdown bits (*@shut). */
static int tcp_md5_refuse(struct fd_dump *d, int state, const char *cs, int *shut)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { .h = { .nlmsg_flags = NLM_F_DUMP },
		  .r = { .sdiag_family = d->sk_family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_ext = 1 << (INET_DIAG_INFO - 1), .idiag_states = 1u << state } };
	struct md5_query q = { .ino = d->st.st_ino };
	int ret = sock_diag_query(&req, sizeof(req), md5_cb, &q);
	if (ret < 0)
		pr_warn("sock_diag does not say whether " FD_FMT " has TCP MD5 keys: %s",
			FD_ARGS(d), strerror(-ret));
	*shut = q.shutdown;
	if (q.keys) {
		pr_err(FD_FMT " is a TCP socket (%s) with %d MD5 signature key(s) (TCP_MD5SIG): "
		       "cryo can't restore them yet, so it can't dump it", FD_ARGS(d), cs, q.keys);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The peer of a connected ping or raw socket: its "port" (the ICMP
 * identifier, the raw protocol) is no part of the peer, so getpeername
 * says ENOTCONN although connect() set an address, and sock_diag does not
 * list ping sockets.  /proc/PID/net/{icmp,icmp6,raw,raw6} (the task's
 * network namespace) show the state and the remote address, each 32-bit
 * word printed as it is in memory. */
static int dgram_peer_proc(struct fd_dump *d, uint32_t *dst, bool *connected)
{
	bool v6 = d->sk_family == AF_INET6;
	const char *name = d->sk_type == SOCK_RAW ? (v6 ? "raw6" : "raw") : (v6 ? "icmp6" : "icmp");
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/net/%s", d->pid, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return_perror("can't open %s for " FD_FMT, path, FD_ARGS(d));
	*connected = false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char rem[33];
		unsigned st;
		unsigned long ino;
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%*x %32[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x "
			   "%*u %*u %lu", rem, &st, &ino) != 3 || ino != d->st.st_ino)
			continue;
		found = true;
		size_t words = v6 ? 4 : 1;
		if (strlen(rem) != words * 8)
			break;
		for (size_t i = 0; i < words; i++) {
			char w[9];
			memcpy(w, rem + i * 8, 8);
			w[8] = '\0';
			uint32_t v = strtoul(w, NULL, 16);
			memcpy(&dst[i], &v, 4);
		}
		*connected = st == TCP_ESTABLISHED;
	}
	fclose(f);
	if (!found)
		pr_warn(FD_FMT " is not in %s: taken as not connected", FD_ARGS(d), path);
	return 0;
}

/* SHUT_RD/SHUT_WR of a UDP socket (only sock_diag shows them). */
static int udp_shutdown(struct fd_dump *d, int *how)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { .h = { .nlmsg_flags = NLM_F_DUMP },
		  .r = { .sdiag_family = d->sk_family, .sdiag_protocol = d->sk_proto,
			 .idiag_states = ~0u } };
	struct shut_query q = { .ino = d->st.st_ino };
	int ret = sock_diag_query(&req, sizeof(req), shut_cb, &q);
	if (ret < 0) {
		pr_warn("sock_diag gives no shutdown state of " FD_FMT ": %s", FD_ARGS(d),
			strerror(-ret));
		q.shutdown = 0;
	}
	*how = q.shutdown;
	pr_debug(FD_FMT ": sock_diag shutdown %d (query %d)", FD_ARGS(d), q.shutdown, ret);
	return 0;
}

static bool proto_ok(int type, int proto, int family)
{
	switch (type) {
	case SOCK_STREAM:
		return proto == IPPROTO_TCP;
	case SOCK_DGRAM:
		return proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ||
		       (family == AF_INET && proto == IPPROTO_ICMP) ||
		       (family == AF_INET6 && proto == IPPROTO_ICMPV6);
	case SOCK_RAW:
		return true;
	}
	return false;
}

static int inet_dump(struct fd_dump *d)
{
	InetSkEntry ie = INET_SK_ENTRY__INIT;
	struct inet_opts_mem om = { 0 };
	FownEntry fown = FOWN_ENTRY__INIT;
	FileEntry fe = FILE_ENTRY__INIT;
	uint32_t src[4] = { 0 }, dst[4] = { 0 }, sport = 0, dport = 0;
	char cs[128];
	int ret;

	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	bool v6 = d->sk_family == AF_INET6;
	bool tcp = d->sk_type == SOCK_STREAM;
	if (!proto_ok(d->sk_type, d->sk_proto, d->sk_family)) {
		pr_err(FD_FMT " is an inet socket of type %d, protocol %d: cryo dumps TCP, UDP, "
		       "UDP-Lite, ICMP ping and raw sockets only", FD_ARGS(d), d->sk_type, d->sk_proto);
		return -EOPNOTSUPP;
	}
	ie.has_id = ie.has_ino = ie.has_family = ie.has_type = ie.has_proto = ie.has_state = 1;
	ie.has_src_port = ie.has_dst_port = ie.has_flags = ie.has_backlog = 1;
	ie.id = d->id;
	ie.ino = d->st.st_ino;
	ie.family = d->sk_family;
	ie.type = d->sk_type;
	ie.proto = d->sk_proto;
	ie.flags = d->fi.flags & ~O_CLOEXEC;
	if ((ret = dump_addr(d, lfd, false, src, &sport)) || (ret = dump_addr(d, lfd, true, dst, &dport)))
		return ret;
	ie.src_port = sport;
	ie.dst_port = dport;
	ie.n_src_addr = ie.n_dst_addr = v6 ? 4 : 1;
	ie.src_addr = src;
	ie.dst_addr = dst;
	struct inet_conn conn;
	inet_conn_of(&ie, &conn);
	inet_conn_str(&conn, cs, sizeof(cs));

	bool repair = false;
	if (tcp) {
		struct tcp_info ti;
		socklen_t l = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(lfd, SOL_TCP, TCP_INFO, &ti, &l))
			return_perror("getsockopt(TCP_INFO) on " FD_FMT, FD_ARGS(d));
		ie.state = ti.tcpi_state;
		if (ti.tcpi_state == TCP_SYN_SENT && !dport) {
			if ((ret = syn_sent_peer(d, dst, &dport)))
				return ret;
			ie.dst_port = dport;
			inet_conn_of(&ie, &conn);
			inet_conn_str(&conn, cs, sizeof(cs));
		}
		int shut = 0;
		if (ti.tcpi_state != TCP_CLOSE && (ret = tcp_md5_refuse(d, ti.tcpi_state, cs, &shut)))
			return ret;
		/* shutdown(SHUT_RD) of a connection: no packet tells the peer,
		 * the state does not show it; where the peer's FIN came
		 * (CLOSE_WAIT...) the kernel set it itself */
		if ((shut & 1) && (ti.tcpi_state == TCP_ESTABLISHED || ti.tcpi_state == TCP_FIN_WAIT1 ||
				   ti.tcpi_state == TCP_FIN_WAIT2)) {
			ie.has_shutdown = 1;
			ie.shutdown = SK_SHUTDOWN__READ;
		}
		switch (ti.tcpi_state) {
		case TCP_LISTEN:
			/* for a listener, tcpi_unacked is the accept queue and
			 * tcpi_sacked the backlog given to listen() */
			ie.backlog = ti.tcpi_sacked;
			if (ti.tcpi_unacked) {
				if (!d->fdm->opts->skip_in_flight) {
					pr_err(FD_FMT " is a listening TCP socket (%s) with %u connection(s) "
					       "not accepted yet (in-flight): cryo can't restore them; "
					       "--skip-in-flight drops them (their peers see a reset)",
					       FD_ARGS(d), cs, ti.tcpi_unacked);
					return -EOPNOTSUPP;
				}
				pr_warn(FD_FMT ": skipping %u in-flight connection(s) of the listening "
					"socket %s (--skip-in-flight)", FD_ARGS(d), ti.tcpi_unacked, cs);
			}
			break;
		case TCP_CLOSE:
			/* a connection that ended: shut down, maybe an error
			 * and data to read */
			if ((ret = tcp_dump_closed(d, lfd, &ie)))
				return ret;
			break;
		case TCP_ESTABLISHED:
		case TCP_SYN_SENT:
		case TCP_FIN_WAIT1:
		case TCP_FIN_WAIT2:
		case TCP_CLOSE_WAIT:
		case TCP_LAST_ACK:
		case TCP_CLOSING:
			if (!d->fdm->opts->tcp_established && !d->fdm->opts->tcp_close) {
				pr_err("Connected TCP socket, consider using --tcp-established option "
				       "(" FD_FMT ", %s, %s)", FD_ARGS(d), cs, state_name(ie.state));
				return -EOPNOTSUPP;
			}
			if (d->fdm->opts->tcp_close)
				break;	/* restored closed: no connection state */
			repair = tcp_state_repairable(ti.tcpi_state);
			break;
		default:
			pr_err(FD_FMT " is a TCP socket (%s) in state %s, which cryo can't dump",
			       FD_ARGS(d), cs, state_name(ti.tcpi_state));
			return -EOPNOTSUPP;
		}
	} else {
		ie.state = dport ? TCP_ESTABLISHED : TCP_CLOSE;
		bool ping = d->sk_type == SOCK_DGRAM && (d->sk_proto == IPPROTO_ICMP ||
							 d->sk_proto == IPPROTO_ICMPV6);
		bool peer = false;
		if (!dport && (ping || d->sk_type == SOCK_RAW)) {
			if ((ret = dgram_peer_proc(d, dst, &peer)))
				return ret;
			if (peer)
				ie.state = TCP_ESTABLISHED;
		}
		int q = 0;
		if (d->sk_type == SOCK_DGRAM && !ioctl(lfd, SIOCOUTQ, &q) && q) {
			pr_err(FD_FMT " is a %s socket (%s) with %d byte(s) of corked data not sent "
			       "yet: cryo can't dump a corked datagram", FD_ARGS(d),
			       d->sk_proto == IPPROTO_UDP ? "UDP" : "datagram", cs, q);
			return -EOPNOTSUPP;
		}
		if (d->sk_type == SOCK_DGRAM && d->sk_proto == IPPROTO_UDP) {
			char what[192];
			snprintf(what, sizeof(what), FD_FMT " (UDP %s)", FD_ARGS(d), cs);
			ret = sk_udp_queue_dump(d->fdm, lfd, d->id, what);
			if (ret)
				goto out;
		} else if (!ioctl(lfd, SIOCINQ, &q) && q) {
			pr_warn(FD_FMT ": the datagrams queued on %s are dropped (as criu does)",
				FD_ARGS(d), cs);
		}
		if (d->sk_proto == IPPROTO_UDP || d->sk_proto == IPPROTO_UDPLITE) {
			int how;
			udp_shutdown(d, &how);
			if (how) {
				ie.has_shutdown = 1;
				ie.shutdown = how & 3;
			}
		}
	}
	if (v6) {
		int v;
		GET(SOL_IPV6, IPV6_V6ONLY, v);
		ie.has_v6only = 1;
		ie.v6only = v;
		/* a link-local source needs its interface to bind again */
		if (sport && ((ntohl(src[0]) & 0xffc00000) == 0xfe800000)) {
			char dev[IFNAMSIZ + 1] = "";
			socklen_t l = IFNAMSIZ;
			if (!getsockopt(lfd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l) && l && dev[0])
				ie.ifname = xstrdup(dev);
		}
	}
	if ((ret = inet_dump_opts(d, lfd, &ie, &om)) || (ret = fd_dump_fown(d, &fown)))
		goto out;
	ie.fown = &fown;
	pr_info(FD_FMT ": inet socket %s, type %d, proto %d, state %s", FD_ARGS(d), cs, ie.type,
		ie.proto, state_name(ie.state));
	if (repair) {
		ret = tcp_dump_conn(d, lfd, &ie, om.so.reuseaddr);
		if (ret)
			goto out;
	}
	fe.isk = &ie;
	ret = files_emit(d, &fe);
out:
	inet_opts_mem_free(&om);
	free(ie.ifname);
	return ret;
}

/* --------------------------------------------------------------- restore */

struct inet_rst_state *inet_rst_state(struct files_restore *fr)
{
	if (!fr->kind_state[FDK_INET])
		fr->kind_state[FDK_INET] = xzalloc(sizeof(struct inet_rst_state));
	return fr->kind_state[FDK_INET];
}

static bool addr_any(const InetSkEntry *ie)
{
	for (size_t i = 0; i < ie->n_src_addr; i++)
		if (ie->src_addr[i])
			return false;
	return true;
}

struct tw_query {
	uint16_t port;		/* network order */
	const uint32_t *addr;	/* NULL: any */
	bool peer;		/* and the peer's port and address */
	uint16_t dport;
	const uint32_t *daddr;
	struct tw_sock {
		int family;
		struct inet_diag_sockid id;
	} *tw;
	int n;
};

static int tw_cb(struct nlmsghdr *h, void *arg)
{
	struct tw_query *q = arg;
	struct inet_diag_msg *m = NLMSG_DATA(h);
	if (m->id.idiag_sport != q->port)
		return 0;
	size_t al = m->idiag_family == AF_INET ? 4 : 16;
	if (q->addr && memcmp(m->id.idiag_src, q->addr, al))
		return 0;
	if (q->peer && (m->id.idiag_dport != q->dport || memcmp(m->id.idiag_dst, q->daddr, al)))
		return 0;
	struct tw_sock *n = xrealloc(q->tw, (q->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	q->tw = n;
	q->tw[q->n++] = (struct tw_sock){ m->idiag_family, m->id };
	return 0;
}

static int tw_destroy(const struct tw_sock *t)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { .h = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DESTROY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK },
		  .r = { .sdiag_family = t->family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1u << TCP_TIME_WAIT, .id = t->id } };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), ret = 0;
	if (sk < 0)
		return -errno;
	char buf[512];
	if (sendto(sk, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) != sizeof(req))
		ret = -errno;
	ssize_t n = ret ? 0 : recv(sk, buf, sizeof(buf), 0);
	if (!ret && n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)))
		ret = n < 0 ? -errno : -EIO;
	else if (!ret && ((struct nlmsghdr *)buf)->nlmsg_type == NLMSG_ERROR)
		ret = ((struct nlmsgerr *)NLMSG_DATA((struct nlmsghdr *)buf))->error;
	close(sk);
	return ret;
}

/* Remove the sockets (no descriptor: TIME_WAIT entries, orphans) that hold
 * what a restored TCP socket needs (SOCK_DESTROY, as `ss -K` does):
 *  - a listener's port (@peer false): TIME_WAIT entries of connections of
 *    the dumped tree that ended after it was bound, usually the killed
 *    tree's own (one whose socket had no SO_REUSEADDR blocks even a
 *    SO_REUSEADDR bind);
 *  - a connection's exact 4-tuple (@peer true): only this connection's own
 *    leftovers, e.g. the orphan of a restore that failed after repair mode
 *    was off, still retransmitting its FIN into the lock.
 * The number removed, or -errno. */
int inet_clear_holders(const InetSkEntry *ie, bool peer)
{
	struct tw_query q = { .port = htons(ie->src_port), .peer = peer,
			      .dport = htons(ie->dst_port) };
	bool dual = ie->family == AF_INET6 && !ie->v6only;
	int ret = 0, n = 0;
	for (int i = 0; i < 1 + dual && !ret; i++) {
		int fam = i ? AF_INET : ie->family;
		struct {
			struct nlmsghdr h;
			struct inet_diag_req_v2 r;
		} req = { .h = { .nlmsg_flags = NLM_F_DUMP },
			  .r = { .sdiag_family = fam, .sdiag_protocol = IPPROTO_TCP,
				 .idiag_states = peer ? ~(1u << TCP_LISTEN) : 1u << TCP_TIME_WAIT } };
		/* an IPv4-mapped address: the IPv4 entries */
		uint32_t v4 = ie->n_src_addr == 4 ? ie->src_addr[3] : 0;
		uint32_t d4 = ie->n_dst_addr == 4 ? ie->dst_addr[3] : 0;
		bool same = fam == (int)ie->family;
		q.addr = addr_any(ie) && !peer ? NULL : same ? ie->src_addr : &v4;
		q.daddr = same ? ie->dst_addr : &d4;
		ret = sock_diag_query(&req, sizeof(req), tw_cb, &q);
		ret = ret < 0 ? ret : 0;
	}
	for (int i = 0; !ret && i < q.n; i++)
		if (!tw_destroy(&q.tw[i]))
			n++;
	free(q.tw);
	if (n > 0)
		pr_info("inet socket %u: %d socket(s) without a descriptor held %s port %u: removed",
			ie->id, n, peer ? "the connection of" : "the", ie->src_port);
	return ret ? ret : n;
}

/* A TCP socket bound (not listening) to a port a listener restored before
 * it holds now: they shared it with SO_REUSEADDR when the socket was bound
 * first and the listener then started listening, which a bind after the
 * listen no longer allows.  In repair mode bind ignores the port's other
 * owners (SK_FORCE_REUSE); repair off again, and SO_REUSEADDR on as for
 * every socket until ->restore_finish.  0, or -1 with errno. */
static int bind_shared(int sk, const InetSkEntry *ie, const struct sockaddr_storage *ss,
		       socklen_t l)
{
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, one = 1;
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR, &on, sizeof(on))) {
		errno = EADDRINUSE;
		return -1;
	}
	int r = bind(sk, (const struct sockaddr *)ss, l), e = errno;
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR, &off, sizeof(off)) ||
	    setsockopt(sk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) {
		pr_perror("inet socket %u: can't turn TCP repair mode off after binding", ie->id);
		return -1;
	}
	if (!r)
		pr_info("inet socket %u: bound to a port a listener holds (shared with "
			"SO_REUSEADDR at dump)", ie->id);
	errno = e;
	return r;
}

static int inet_bind(int sk, const InetSkEntry *ie)
{
	struct sockaddr_storage ss;
	socklen_t l;
	int ret = inet_sockaddr(ie, true, &ss, &l);
	if (ret)
		return ret;
	if (ie->type == SOCK_RAW) {
		/* a raw socket's "port" is its protocol: bind the address only */
		if (addr_any(ie))
			return 0;
		((struct sockaddr_in *)&ss)->sin_port = 0;
	}
	int r = bind(sk, (struct sockaddr *)&ss, l);
	if (r && errno == EADDRINUSE && ie->type == SOCK_STREAM && ie->state != TCP_LISTEN)
		r = bind_shared(sk, ie, &ss, l);
	if (r && errno == EADDRINUSE && ie->type == SOCK_STREAM && ie->state == TCP_LISTEN) {
		if (inet_clear_holders(ie, false) > 0) {
			r = bind(sk, (struct sockaddr *)&ss, l);
		} else {
			errno = EADDRINUSE;
		}
	}
	if (r) {
		int e = errno;
		struct inet_conn c;
		char cs[128];
		inet_conn_of(ie, &c);
		pr_err("can't bind inet socket %u (ino %u) to %s: %s%s", ie->id, ie->ino,
		       inet_conn_str(&c, cs, sizeof(cs)), strerror(e),
		       e == EADDRINUSE ? " (another socket holds the address now)" : "");
		return -e;
	}
	return 0;
}

static int track(struct files_restore *fr, struct rst_file *f, bool repair)
{
	struct inet_rst_state *s = inet_rst_state(fr);
	if (!s)
		return -ENOMEM;
	struct inet_rst *n = xrealloc(s->socks, (s->nr_socks + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->socks = n;
	s->socks[s->nr_socks++] = (struct inet_rst){ f, repair };
	return 0;
}

static int inet_open(struct files_restore *fr, struct rst_file *f)
{
	const InetSkEntry *ie = f->fe->isk;
	if (!ie || !ie->opts) {
		pr_err("files.img: inet socket entry %u has no inet_sk_entry", f->fe->id);
		return -EINVAL;
	}
	if ((ie->family != AF_INET && ie->family != AF_INET6) ||
	    !proto_ok(ie->type, ie->proto, ie->family)) {
		pr_err("inet socket %u (ino %u): family %u, type %u, protocol %u can't be restored",
		       ie->id, ie->ino, ie->family, ie->type, ie->proto);
		return -EOPNOTSUPP;
	}
	bool tcp = ie->type == SOCK_STREAM;
	bool conn = tcp && ie->dst_port && ie->state != TCP_LISTEN && ie->state != TCP_CLOSE;
	int sk = files_rst_socket(fr, f, ie->family, ie->type | SOCK_CLOEXEC, ie->proto);
	if (sk < 0) {
		int e = -sk;
		pr_err("can't create inet socket %u (family %u, type %u, protocol %u): %s%s", ie->id,
		       ie->family, ie->type, ie->proto, strerror(e),
		       ie->type == SOCK_DGRAM && (ie->proto == IPPROTO_ICMP || ie->proto == IPPROTO_ICMPV6) ?
		       " (ping sockets need net.ipv4.ping_group_range)" : "");
		return -e;
	}
	int ret = 0;
	char desc[64];
	if (ie->family == AF_INET6 && ie->v6only)
		ret = SET(SOL_IPV6, IPV6_V6ONLY, 1);
	/* sockets that shared a port: the dumped values once all are bound */
	ret = ret ?: inet_restore_opts(sk, ie, conn && !fr->opts->tcp_close);
	ret = ret ?: SET(SOL_SOCKET, SO_REUSEADDR, 1);
	if (ret)
		goto opened;
	if (conn) {
		if (fr->opts->tcp_close) {
			/* criu's --tcp-close: a fresh socket, shut down (reads
			 * return 0, writes EPIPE) */
			shutdown(sk, SHUT_RDWR);
			ret = tcp_restore_closed(fr, ie);
		} else if (!fr->opts->tcp_established) {
			char name[64];
			snprintf(name, sizeof(name), "tcp-stream-%x.img", ie->ino);
			if (faccessat(fr->dirfd, name, F_OK, 0))
				pr_err("inet socket %u (ino %u) is a TCP connection dumped with "
				       "--tcp-close: restore it with --tcp-close", ie->id, ie->ino);
			else
				pr_err("inet socket %u (ino %u) is a connected TCP socket: restore it "
				       "with --tcp-established (or --tcp-close to restore it closed)",
				       ie->id, ie->ino);
			ret = -EINVAL;
		} else {
			ret = tcp_restore_conn(fr, f, sk, ie);
			/* SHUT_RD: no packet, harmless in repair mode */
			if (!ret && ie->has_shutdown && ie->shutdown == SK_SHUTDOWN__READ &&
			    shutdown(sk, SHUT_RD)) {
				ret = -errno;
				pr_perror("can't shut down inet socket %u for reading", ie->id);
			}
		}
	} else {
		/* an ended connection: its port went back to the kernel */
		bool ended = tcp && ie->state == TCP_CLOSE && ie->has_shutdown &&
			     ie->shutdown == SK_SHUTDOWN__BOTH;
		if (ended || (tcp && ie->state == TCP_CLOSE && ie->has_so_error && ie->so_error)) {
			ret = tcp_restore_closed_conn(fr, sk, ie);
			if (ret <= 0)
				goto opened;
			ret = 0;
		}
		if (!ended && (ie->src_port || !addr_any(ie)))
			ret = inet_bind(sk, ie);
		if (!ret && tcp && ie->state == TCP_LISTEN && listen(sk, ie->backlog)) {
			ret = -errno;
			pr_perror("can't listen on inet socket %u (port %u)", ie->id, ie->src_port);
		}
		if (!ret && ie->type == SOCK_DGRAM && ie->proto == IPPROTO_UDP) {
			char what[64];
			snprintf(what, sizeof(what), "UDP socket %u (ino %u)", ie->id, ie->ino);
			ret = sk_udp_queue_restore(fr, f->fe->id, sk, what);
		}
		/* (a ping or raw socket's peer has no port) */
		if (!ret && !tcp && (ie->dst_port || ie->state == TCP_ESTABLISHED)) {
			struct sockaddr_storage ss;
			socklen_t l;
			ret = inet_sockaddr(ie, false, &ss, &l);
			if (!ret && connect(sk, (struct sockaddr *)&ss, l)) {
				ret = -errno;
				pr_perror("can't connect inet socket %u to port %u", ie->id,
					  ie->dst_port);
			}
		}
		if (!ret && ie->has_shutdown && ie->shutdown) {
			int how = ie->shutdown == SK_SHUTDOWN__BOTH ? SHUT_RDWR :
				  ie->shutdown == SK_SHUTDOWN__READ ? SHUT_RD : SHUT_WR;
			if (shutdown(sk, how) && errno != ENOTCONN) {
				ret = -errno;
				pr_perror("can't shut down inet socket %u", ie->id);
			}
		}
	}
opened:
	snprintf(desc, sizeof(desc), "inet socket %u", ie->id);
	ret = files_rst_adopt(f, sk, ret, ie->flags, ie->fown, desc);
	return ret ?: track(fr, f, conn && !fr->opts->tcp_close);
}

static void inet_restore_finish(struct files_restore *fr, bool ok)
{
	struct inet_rst_state *s = fr->kind_state[FDK_INET];
	tcp_restore_finish(fr, ok);
	for (int i = 0; ok && s && i < s->nr_socks; i++) {
		struct rst_file *f = s->socks[i].f;
		const InetSkEntry *ie = f->fe->isk;
		if (f->lfd < 0)
			continue;
		int sk = f->lfd;
		/* (repair-off already set SO_REUSEADDR of connections) */
		if (!s->socks[i].repair && !ie->opts->reuseaddr)
			SET(SOL_SOCKET, SO_REUSEADDR, 0);
	}
	/* the rest (the lock) goes once the tasks run: sk_inet_restore_released */
}

static void inet_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	tcp_dump_finish(fdm, ok, killed);
}

const struct fd_kind fdk_inet = {
	.name = "inet socket",
	.fd_type = FD_TYPES__INETSK,
	.dump = inet_dump,
	.open = inet_open,
	.dump_finish = inet_dump_finish,
	.dump_killed = tcp_dump_killed,
	.restore_finish = inet_restore_finish,
};
