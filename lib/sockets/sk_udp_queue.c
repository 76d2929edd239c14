/* Datagrams queued on a UDP socket (criu drops them; cryo keeps them).
 *
 * Dump: each datagram is peeked with its sender's address (SO_PEEK_OFF
 * walks the queue without consuming it; a zero-length datagram is skipped
 * by the kernel once peeked) into sk-queues.img, the address in the entry's
 * field 3, as newer CRIU has it.
 *
 * Restore: the receiving program's recvfrom() must see the same sender.  An
 * ordinary socket bound to that address is no answer (the sender usually
 * still holds it), so each datagram is built by hand -- IP and UDP headers
 * with the original source -- and sent on a raw socket to the restored
 * socket's own address; it travels through the loopback and is queued as
 * if it had just arrived.  This is done before the socket is connected (a
 * connected socket takes datagrams from its peer only, but what was queued
 * before the connect may come from anyone). */
#include "files/files-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include "sk-packet.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_MAX (64 * 1024)

int sk_udp_queue_dump(struct files_dump *fdm, int lfd, uint32_t id, const char *what)
{
	int old_off = -1, zero = 0, q = 0;
	socklen_t l = sizeof(old_off);
	if (ioctl(lfd, SIOCINQ, &q) || !q) {
		/* SIOCINQ is the first datagram's size: 0 for an empty queue
		 * (or a zero-length first datagram, seen by the walk below) */
		struct pollfd p = { lfd, POLLIN, 0 };
		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
			return 0;
	}
	if (getsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &old_off, &l) ||
	    setsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero))) {
		pr_warn("%s: SO_PEEK_OFF is not available (%s): its queued datagrams are dropped",
			what, strerror(errno));
		return 0;
	}
	char *buf = xmalloc(UDP_MAX);
	struct cr_img *img = NULL;
	int ret = buf ? 0 : -ENOMEM, count = 0;
	while (!ret) {
		struct sockaddr_storage ss;
		struct iovec iov = { buf, UDP_MAX };
		struct msghdr mh = { .msg_name = &ss, .msg_namelen = sizeof(ss), .msg_iov = &iov,
				     .msg_iovlen = 1 };
		ssize_t n = recvmsg(lfd, &mh, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN) {
				ret = -errno;
				pr_perror("%s: can't peek at its queued datagrams", what);
			}
			break;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			pr_err("%s: a queued datagram is larger than %d bytes", what, UDP_MAX);
			ret = -EMSGSIZE;
			break;
		}
		if (!img && (ret = files_dump_img(fdm, IMG_SK_QUEUES, &img)))
			break;
		SkPacketEntry pe = SK_PACKET_ENTRY__INIT;
		pe.has_id_for = pe.has_length = 1;
		pe.id_for = id;
		pe.length = n;
		if (mh.msg_namelen && mh.msg_namelen <= sizeof(struct sockaddr_in6)) {
			pe.has_addr = 1;
			pe.addr.data = (uint8_t *)&ss;
			pe.addr.len = mh.msg_namelen;
		}
		ret = img_write_msg(img, &pe.base);
		if (!ret && n)
			ret = img_write_raw(img, buf, n);
		count++;
		if (count > 1 << 20) {
			pr_err("%s: the datagram queue does not end", what);
			ret = -EIO;
		}
	}
	free(buf);
	if (setsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off)) && !ret)
		return_perror("%s: can't put SO_PEEK_OFF back to %d", what, old_off);
	if (!ret && count)
		pr_info("%s: %d queued datagram(s) saved", what, count);
	return ret;
}

/* --- restore --- */

struct refill {
	int sk;			/* the restored socket */
	struct sockaddr_storage dst;	/* its own address, loopback for "any" */
	int raw4, raw6, plain4, plain6;
	int count;
	const char *what;
};

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

static int raw_socket(int family, int *fd, const char *what)
{
	if (*fd >= 0)
		return 0;
	*fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (*fd < 0)
		return_perror("%s: can't open a raw socket to put its queued datagrams back "
			      "(needs CAP_NET_RAW)", what);
	int one = 1;
	if (family == AF_INET6 && setsockopt(*fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)))
		return_perror("%s: setsockopt(IPV6_HDRINCL) (Linux 4.5+)", what);
	return 0;
}

static bool v4_mapped(const struct sockaddr_in6 *a)
{
	return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr);
}

/* One datagram from @src (IPv4) to the socket. */
static int send4(struct refill *rf, const void *data, size_t len, struct in_addr src,
		 uint16_t sport)
{
	struct in_addr dst;
	uint16_t dport;
	if (rf->dst.ss_family == AF_INET) {
		const struct sockaddr_in *d = (void *)&rf->dst;
		dst = d->sin_addr;
		dport = d->sin_port;
	} else {
		const struct sockaddr_in6 *d = (void *)&rf->dst;
		dport = d->sin6_port;
		if (v4_mapped(d))
			memcpy(&dst, &d->sin6_addr.s6_addr[12], 4);
		else
			dst.s_addr = htonl(INADDR_LOOPBACK);	/* a dual-stack socket on :: */
	}
	int ret = raw_socket(AF_INET, &rf->raw4, rf->what);
	if (ret)
		return ret;
	size_t tot = sizeof(struct iphdr) + sizeof(struct udphdr) + len;
	if (tot > 65535) {
		pr_err("%s: a queued datagram of %zu bytes can't be put back over IPv4", rf->what,
		       len);
		return -EMSGSIZE;
	}
	uint8_t *pkt = xmalloc(tot);
	if (!pkt)
		return -ENOMEM;
	struct iphdr *ip = (void *)pkt;
	struct udphdr *uh = (void *)(pkt + sizeof(*ip));
	memset(pkt, 0, sizeof(*ip) + sizeof(*uh));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(tot);
	ip->saddr = src.s_addr;
	ip->daddr = dst.s_addr;
	uh->source = sport;
	uh->dest = dport;
	uh->len = htons(sizeof(*uh) + len);
	uh->check = 0;		/* optional over IPv4 */
	memcpy(pkt + sizeof(*ip) + sizeof(*uh), data, len);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
	ssize_t n = sendto(rf->raw4, pkt, tot, 0, (struct sockaddr *)&to, sizeof(to));
	free(pkt);
	if (n != (ssize_t)tot)
		return_perror("%s: can't put a queued datagram back (raw IPv4 send)", rf->what);
	return 0;
}

static int send6(struct refill *rf, const void *data, size_t len, const struct in6_addr *src,
		 uint16_t sport)
{
	const struct sockaddr_in6 *d = (void *)&rf->dst;
	struct in6_addr dst = d->sin6_addr;
	if (IN6_IS_ADDR_UNSPECIFIED(&dst))
		dst = in6addr_loopback;
	int ret = raw_socket(AF_INET6, &rf->raw6, rf->what);
	if (ret)
		return ret;
	size_t plen = sizeof(struct udphdr) + len, tot = sizeof(struct ip6_hdr) + plen;
	if (plen > 65535) {
		pr_err("%s: a queued datagram of %zu bytes can't be put back", rf->what, len);
		return -EMSGSIZE;
	}
	uint8_t *pkt = xmalloc(tot);
	if (!pkt)
		return -ENOMEM;
	struct ip6_hdr *ip = (void *)pkt;
	struct udphdr *uh = (void *)(pkt + sizeof(*ip));
	memset(pkt, 0, sizeof(*ip) + sizeof(*uh));
	ip->ip6_flow = htonl(6u << 28);
	ip->ip6_plen = htons(plen);
	ip->ip6_nxt = IPPROTO_UDP;
	ip->ip6_hlim = 64;
	ip->ip6_src = *src;
	ip->ip6_dst = dst;
	uh->source = sport;
	uh->dest = d->sin6_port;
	uh->len = htons(plen);
	memcpy(pkt + sizeof(*ip) + sizeof(*uh), data, len);
	/* mandatory over IPv6: pseudo-header + UDP header + data */
	uint32_t sum = csum_add(0, src, 16);
	sum = csum_add(sum, &dst, 16);
	sum += plen + IPPROTO_UDP;
	sum = csum_add(sum, uh, plen);
	uint16_t c = csum_fold(sum);
	uh->check = htons(c ? c : 0xffff);
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_addr = dst };
	ssize_t n = sendto(rf->raw6, pkt, tot, 0, (struct sockaddr *)&to, sizeof(to));
	free(pkt);
	if (n != (ssize_t)tot)
		return_perror("%s: can't put a queued datagram back (raw IPv6 send)", rf->what);
	return 0;
}

/* No sender saved: from an unbound socket of ours. */
static int send_plain(struct refill *rf, const void *data, size_t len)
{
	int fam = rf->dst.ss_family;
	int *fd = fam == AF_INET6 ? &rf->plain6 : &rf->plain4;
	if (*fd < 0 && (*fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return_perror("%s: socket() to put queued datagrams back", rf->what);
	struct sockaddr_storage to = rf->dst;
	if (fam == AF_INET && !((struct sockaddr_in *)&to)->sin_addr.s_addr)
		((struct sockaddr_in *)&to)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fam == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&to)->sin6_addr))
		((struct sockaddr_in6 *)&to)->sin6_addr = in6addr_loopback;
	socklen_t l = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (sendto(*fd, data, len, 0, (struct sockaddr *)&to, l) != (ssize_t)len)
		return_perror("%s: can't put a queued datagram back", rf->what);
	return 0;
}

static int refill_one(const void *data, size_t len, const void *addr, size_t alen, void *arg)
{
	struct refill *rf = arg;
	const struct sockaddr *sa = addr;
	int ret;
	if (sa && sa->sa_family == AF_INET && alen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = addr;
		ret = send4(rf, data, len, s->sin_addr, s->sin_port);
	} else if (sa && sa->sa_family == AF_INET6 && alen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = addr;
		if (v4_mapped(s)) {
			struct in_addr a;
			memcpy(&a, &s->sin6_addr.s6_addr[12], 4);
			ret = send4(rf, data, len, a, s->sin6_port);
		} else {
			ret = send6(rf, data, len, &s->sin6_addr, s->sin6_port);
		}
	} else {
		ret = send_plain(rf, data, len);
	}
	if (!ret)
		rf->count++;
	return ret;
}

/* Bytes the socket's receive queue holds (SK_MEMINFO_RMEM_ALLOC).  Not a
 * peek: a zero-length datagram once peeked is skipped by later SO_PEEK_OFF
 * walks, so the restore must not peek at what it put back. */
static long rmem_alloc(int sk)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t l = sizeof(mi);
	if (getsockopt(sk, SOL_SOCKET, SO_MEMINFO, mi, &l))
		return -errno;
	return mi[SK_MEMINFO_RMEM_ALLOC];
}

int sk_udp_queue_restore(struct files_restore *fr, uint32_t id, int sk, const char *what)
{
	struct refill rf = { .sk = sk, .raw4 = -1, .raw6 = -1, .plain4 = -1, .plain6 = -1,
			     .what = what };
	socklen_t l = sizeof(rf.dst);
	if (getsockname(sk, (struct sockaddr *)&rf.dst, &l))
		return_perror("%s: getsockname", what);
	int ret = sk_queue_foreach(fr, id, refill_one, &rf);
	/* loopback delivery is normally over when sendto returns, but can be
	 * left to ksoftirqd under load: wait until the queue stops growing */
	for (long last = -1, tries = 0; rf.count && !ret && tries < 100; tries++) {
		long now = rmem_alloc(sk);
		if (now < 0 || (now > 0 && now == last))
			break;
		last = now;
		usleep(1000);
	}
	int fds[] = { rf.raw4, rf.raw6, rf.plain4, rf.plain6 };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (!ret && rf.count)
		pr_info("%s: %d queued datagram(s) put back", what, rf.count);
	return ret;
}
