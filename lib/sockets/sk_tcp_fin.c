/* Segments "from the peer" for restoring half-closed TCP connections.
 *
 * Repair mode can put data back in both queues and shutdown(SHUT_WR) in
 * repair mode queues our own FIN, but nothing puts the peer's FIN into the
 * receive side (CLOSE_WAIT, LAST_ACK, CLOSING), or the peer's ACK of our FIN
 * (FIN_WAIT2).  So, as criu does, cryo builds that segment by hand and sends
 * it to the restored socket on a raw socket: the socket processes it as if it
 * had come from the peer.  Its reply (an ACK) is dropped by the network lock;
 * the segment itself carries NETLOCK_MARK, which the lock lets through.
 * A reset (RST) gives a socket the error a reset connection reports.
 */
#include "sockets/sk_inet-int.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

static uint32_t sum16(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static bool mapped(const uint32_t *a)
{
	return !a[0] && !a[1] && a[2] == htonl(0xffff);
}

/* The connection of socket @sk, from its own addresses. */
static int sk_conn(int sk, struct inet_conn *c)
{
	struct sockaddr_storage a, b;
	socklen_t la = sizeof(a), lb = sizeof(b);
	if (getsockname(sk, (struct sockaddr *)&a, &la) || getpeername(sk, (struct sockaddr *)&b, &lb))
		return -errno;
	memset(c, 0, sizeof(*c));
	c->family = a.ss_family;
	if (a.ss_family == AF_INET) {
		memcpy(c->src, &((struct sockaddr_in *)&a)->sin_addr, 4);
		memcpy(c->dst, &((struct sockaddr_in *)&b)->sin_addr, 4);
		c->sport = ntohs(((struct sockaddr_in *)&a)->sin_port);
		c->dport = ntohs(((struct sockaddr_in *)&b)->sin_port);
	} else {
		memcpy(c->src, &((struct sockaddr_in6 *)&a)->sin6_addr, 16);
		memcpy(c->dst, &((struct sockaddr_in6 *)&b)->sin6_addr, 16);
		c->sport = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
		c->dport = ntohs(((struct sockaddr_in6 *)&b)->sin6_port);
	}
	return 0;
}

static const char *flag_name(unsigned flags)
{
	return flags & TCP_INJ_RST ? "RST" : flags & TCP_INJ_FIN ? "FIN" : "ACK";
}

int tcp_inject(int sk, uint32_t id, uint32_t seq, uint32_t ack, uint16_t win, unsigned flags)
{
	struct inet_conn c;
	char cs[128];
	int ret = sk_conn(sk, &c);
	if (ret)
		return log_errno(ret, "TCP connection %u: can't read its addresses to send it a %s", id,
				 flag_name(flags));
	inet_conn_str(&c, cs, sizeof(cs));
	/* an IPv6 socket talking IPv4 gets IPv4 packets */
	bool v4 = c.family == AF_INET || (mapped(c.src) && mapped(c.dst));
	uint8_t pkt[sizeof(struct ip6_hdr) + sizeof(struct tcphdr)];
	memset(pkt, 0, sizeof(pkt));
	size_t iplen = v4 ? sizeof(struct iphdr) : sizeof(struct ip6_hdr);
	struct tcphdr *th = (struct tcphdr *)(pkt + iplen);
	/* from the peer (dst) to the socket (src) */
	th->source = htons(c.dport);
	th->dest = htons(c.sport);
	th->seq = htonl(seq);
	th->ack_seq = htonl(ack);
	th->doff = sizeof(*th) / 4;
	th->ack = 1;
	th->fin = !!(flags & TCP_INJ_FIN);
	th->rst = !!(flags & TCP_INJ_RST);
	th->window = htons(win);
	uint32_t sum;
	struct sockaddr_storage to;
	socklen_t tolen;
	memset(&to, 0, sizeof(to));
	if (v4) {
		struct iphdr *ip = (struct iphdr *)pkt;
		const uint32_t *from = c.family == AF_INET ? c.dst : c.dst + 3;
		const uint32_t *self = c.family == AF_INET ? c.src : c.src + 3;
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->tot_len = htons(iplen + sizeof(*th));
		ip->saddr = *from;
		ip->daddr = *self;
		sum = sum16(0, &ip->saddr, 8) + IPPROTO_TCP + sizeof(*th);
		struct sockaddr_in *s = (struct sockaddr_in *)&to;
		s->sin_family = AF_INET;
		s->sin_addr.s_addr = *self;
		tolen = sizeof(*s);
	} else {
		struct ip6_hdr *ip = (struct ip6_hdr *)pkt;
		ip->ip6_flow = htonl(6u << 28);
		ip->ip6_plen = htons(sizeof(*th));
		ip->ip6_nxt = IPPROTO_TCP;
		ip->ip6_hlim = 64;
		memcpy(&ip->ip6_src, c.dst, 16);
		memcpy(&ip->ip6_dst, c.src, 16);
		sum = sum16(0, &ip->ip6_src, 32) + IPPROTO_TCP + sizeof(*th);
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&to;
		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, c.src, 16);
		tolen = sizeof(*s);
	}
	th->check = fold(sum16(sum, th, sizeof(*th)));

	int fam = v4 ? AF_INET : AF_INET6;
	int fd = socket(fam, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return_perror("TCP connection %u (%s): can't open a raw socket to restore its "
			      "state (needs CAP_NET_RAW)", id, cs);
	int one = 1, mark = NETLOCK_MARK;
	if (!v4 && setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)))
		ret = -errno;
	if (!ret && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		ret = -errno;
	if (!ret && sendto(fd, pkt, iplen + sizeof(*th), 0, (struct sockaddr *)&to, tolen) !=
			    (ssize_t)(iplen + sizeof(*th)))
		ret = -errno;
	close(fd);
	if (ret)
		pr_err("TCP connection %u (%s): can't send the peer's %s to the restored socket "
		       "on a raw socket: %s", id, cs, flag_name(flags), strerror(-ret));
	return ret;
}
