/* Queued socket data (sk-queues.img).
 *
 * Dump: the receive queue is read without consuming it, with MSG_PEEK on
 * cryo's duplicate of the socket and SO_PEEK_OFF so that each peek starts
 * where the previous one ended (the task's own SO_PEEK_OFF is put back).
 * Every datagram is one sk_packet_entry followed by its bytes, so message
 * boundaries survive; a stream queue is written in chunks.
 *
 * Restore: the bytes are sent again into the new socket by whoever may send
 * to it (its peer, or a temporary socket), in the same order.
 */
#include "sockets/sockets.h"
#include "files/files-int.h"
#include "util/log.h"
#include "util/util.h"

#include "sk-packet.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define STREAM_CHUNK (256 * 1024)

static int write_packet(struct cr_img *img, uint32_t id, const void *buf, size_t len)
{
	SkPacketEntry pe = SK_PACKET_ENTRY__INIT;
	pe.has_id_for = pe.has_length = 1;
	pe.id_for = id;
	pe.length = len;
	int ret = img_write_msg(img, &pe.base);
	if (!ret && len)
		ret = img_write_raw(img, buf, len);
	return ret;
}

/* Look at the control messages of a peeked message: descriptors in flight
 * are refused (the peek installed copies of them in cryo: closed here). */
static int check_cmsgs(struct msghdr *mh, const char *what)
{
	bool rights = false;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(mh); ch; ch = CMSG_NXTHDR(mh, ch)) {
		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		rights = true;
		int n = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(ch);
		for (int i = 0; i < n; i++)
			close(fds[i]);
	}
	if (rights || (mh->msg_flags & MSG_CTRUNC)) {
		pr_err("%s: a queued message carries file descriptors (SCM_RIGHTS): cryo can't "
		       "dump descriptors in flight; let the receiver read them first", what);
		return -EOPNOTSUPP;
	}
	return 0;
}

static ssize_t peek(int lfd, void *buf, size_t len, int flags, const char *what)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(64 * sizeof(int)) + 256];
	} c;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = sizeof(c.b) };
	ssize_t n = recvmsg(lfd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return -errno;
	int ret = check_cmsgs(&mh, what);
	return ret ? ret : n;
}

int sk_queue_dump(struct files_dump *fdm, int lfd, uint32_t id, int type, bool rcv_shut,
		  const char *what)
{
	int old_off = -1;
	socklen_t l = sizeof(old_off);
	if (getsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &old_off, &l))
		return_perror("%s: getsockopt(SO_PEEK_OFF)", what);
	int zero = 0;
	if (setsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)))
		return_perror("%s: setsockopt(SO_PEEK_OFF, 0) (needed to read the queue without "
			      "consuming it)", what);
	struct cr_img *img = NULL;
	char *buf = NULL;
	size_t cap = 0;
	int ret = 0, count = 0;
	size_t total = 0;
	for (;;) {
		ssize_t n;
		if (type == SOCK_STREAM) {
			if (!buf) {
				cap = STREAM_CHUNK;
				buf = xmalloc(cap);
				if (!buf) {
					ret = -ENOMEM;
					break;
				}
			}
			n = peek(lfd, buf, cap, 0, what);
			if (n == 0)
				break;	/* end of queue on a socket shut down for reading */
		} else {
			/* the whole length of the next message, then the message */
			n = peek(lfd, NULL, 0, MSG_TRUNC, what);
			if (n == 0 && rcv_shut)
				break;	/* EOF looks like an empty datagram: see the docs */
			if (n > 0) {
				if ((size_t)n > cap) {
					free(buf);
					cap = n;
					buf = xmalloc(cap);
					if (!buf) {
						ret = -ENOMEM;
						break;
					}
				}
				ssize_t m = peek(lfd, buf, n, 0, what);
				if (m >= 0 && m != n) {
					pr_err("%s: a queued datagram of %zd bytes peeked as %zd", what,
					       n, m);
					ret = -EIO;
					break;
				}
				n = m;
			}
		}
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			ret = n;
			if (n != -EOPNOTSUPP)
				pr_err("%s: can't peek at the receive queue: %s", what, strerror(-n));
			break;
		}
		if (!img) {
			ret = files_dump_img(fdm, IMG_SK_QUEUES, &img);
			if (ret)
				break;
		}
		ret = write_packet(img, id, buf, n);
		if (ret)
			break;
		count++;
		total += n;
	}
	free(buf);
	if (setsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off))) {
		pr_perror("%s: can't put SO_PEEK_OFF back to %d", what, old_off);
		ret = ret ? ret : -errno;
	}
	if (!ret && count)
		pr_debug("%s: %d queued %s, %zu bytes", what, count,
			 type == SOCK_STREAM ? "chunks" : "messages", total);
	return ret;
}

/* --- restore --- */

struct skq_packet {
	uint32_t id;
	uint32_t len;
	char *data;
	int seq;		/* order in the image */
	uint8_t addr[sizeof(struct sockaddr_in6)];	/* sender, if saved */
	uint8_t addr_len;
};

static int cmp_packet(const void *a, const void *b)
{
	const struct skq_packet *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq - y->seq;
}

static struct skq_packet *packets;
static int nr_packets;
static bool loaded;

static int load_queues(struct files_restore *fr)
{
	if (loaded)
		return 0;
	struct cr_img *img;
	int ret = img_open(&img, fr->dirfd, IMG_SK_QUEUES, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT) {
		loaded = true;
		return 0;
	}
	if (ret)
		return ret;
	int cap = 0;
	for (;;) {
		SkPacketEntry *pe;
		ret = img_read_msg(img, &sk_packet_entry__descriptor, (ProtobufCMessage **)&pe);
		if (ret <= 0)
			break;
		struct skq_packet p = { pe->id_for, pe->length, NULL, nr_packets, { 0 }, 0 };
		if (pe->has_addr && pe->addr.len && pe->addr.len <= sizeof(p.addr)) {
			memcpy(p.addr, pe->addr.data, pe->addr.len);
			p.addr_len = pe->addr.len;
		}
		bool scm = pe->n_scm;
		protobuf_c_message_free_unpacked(&pe->base, NULL);
		if (scm) {
			pr_err("sk-queues.img: a message for socket %u carries control messages "
			       "(SCM_RIGHTS), which cryo can't restore", p.id);
			ret = -EOPNOTSUPP;
			break;
		}
		p.data = xmalloc(p.len ? p.len : 1);
		if (!p.data) {
			ret = -ENOMEM;
			break;
		}
		ret = img_read_raw(img, p.data, p.len);
		if (ret) {
			free(p.data);
			break;
		}
		if (nr_packets == cap) {
			cap = cap ? cap * 2 : 64;
			struct skq_packet *n = xrealloc(packets, cap * sizeof(*n));
			if (!n) {
				free(p.data);
				ret = -ENOMEM;
				break;
			}
			packets = n;
		}
		packets[nr_packets++] = p;
	}
	img_close(img);
	if (ret < 0)
		return ret;
	/* by socket, each socket's in image order */
	if (nr_packets)
		qsort(packets, nr_packets, sizeof(packets[0]), cmp_packet);
	loaded = true;
	return 0;
}

/* Index of the first packet for @id, or -1. */
static int first_packet(uint32_t id)
{
	int lo = 0, hi = nr_packets;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (packets[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nr_packets && packets[lo].id == id ? lo : -1;
}

bool sk_queue_has(struct files_restore *fr, uint32_t id)
{
	return !load_queues(fr) && first_packet(id) >= 0;
}

int sk_queue_restore(struct files_restore *fr, uint32_t id, int sender, const struct sockaddr *to,
		     socklen_t tolen, const char *what)
{
	int ret = load_queues(fr);
	if (ret)
		return ret;
	int first = first_packet(id);
	if (first < 0)
		return 0;
	/* the queued bytes are charged to the sender's send buffer until read:
	 * make room for them, then put its size back */
	int old_snd = 0, big = INT_MAX / 2;
	socklen_t l = sizeof(old_snd);
	if (getsockopt(sender, SOL_SOCKET, SO_SNDBUF, &old_snd, &l))
		return_perror("%s: getsockopt(SO_SNDBUF) on the sending end", what);
	if (setsockopt(sender, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
		return_perror("%s: setsockopt(SO_SNDBUFFORCE) on the sending end (cryo needs "
			      "CAP_NET_ADMIN to refill socket queues)", what);
	size_t total = 0;
	int count = 0;
	for (int i = first; i < nr_packets && packets[i].id == id && !ret; i++) {
		struct skq_packet *p = &packets[i];
		size_t off = 0;
		do {
			ssize_t n = sendto(sender, p->data + off, p->len - off,
					   MSG_DONTWAIT | MSG_NOSIGNAL, to, tolen);
			if (n < 0) {
				int e = errno;
				pr_err("%s: can't put %u queued bytes back (after %d messages, %zu "
				       "bytes): %s%s", what, p->len, count, total, strerror(e),
				       e == EAGAIN ? " (a datagram socket that is not connected "
				       "takes at most net.unix.max_dgram_qlen messages from others)"
				       : "");
				ret = -e;
				break;
			}
			off += n;
		} while (off < p->len);
		count++;
		total += p->len;
	}
	int half = old_snd / 2;
	if (setsockopt(sender, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof(half)) && !ret)
		return_perror("%s: can't put SO_SNDBUF of the sending end back", what);
	if (!ret)
		pr_debug("%s: %d queued messages/chunks, %zu bytes put back", what, count, total);
	return ret;
}

int sk_queue_foreach(struct files_restore *fr, uint32_t id,
		     int (*fn)(const void *data, size_t len, const void *addr, size_t addr_len,
			       void *arg), void *arg)
{
	int ret = load_queues(fr);
	int first = ret ? -1 : first_packet(id);
	for (int i = first; i >= 0 && i < nr_packets && packets[i].id == id && !ret; i++)
		ret = fn(packets[i].data, packets[i].len, packets[i].addr_len ? packets[i].addr : NULL,
			 packets[i].addr_len, arg);
	return ret;
}

void sk_queue_release(void)
{
	for (int i = 0; i < nr_packets; i++)
		free(packets[i].data);
	free(packets);
	packets = NULL;
	nr_packets = 0;
	loaded = false;
}
