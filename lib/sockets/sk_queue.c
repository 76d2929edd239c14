/* Queued socket data (sk-queues.img) and the socket options every socket
 * kind shares (sk_opts_entry).
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
#include "sk-opts.pb-c.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
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

/* --- socket options --- */

static int get_int(int lfd, int level, int opt, int *v)
{
	socklen_t l = sizeof(*v);
	*v = 0;
	return getsockopt(lfd, level, opt, v, &l);
}

int skopt_dump(int lfd, SkOptsEntry *o, uint64_t **filter, const char *what)
{
	int v;
	struct timeval tv;
	socklen_t l;
	if (get_int(lfd, SOL_SOCKET, SO_SNDBUF, &v))
		return_perror("%s: getsockopt(SO_SNDBUF)", what);
	o->so_sndbuf = v;
	if (get_int(lfd, SOL_SOCKET, SO_RCVBUF, &v))
		return_perror("%s: getsockopt(SO_RCVBUF)", what);
	o->so_rcvbuf = v;
	o->has_so_sndbuf = o->has_so_rcvbuf = 1;
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
		F(SO_PRIORITY, so_priority, false),
		F(SO_RCVLOWAT, so_rcvlowat, false),
		F(SO_MARK, so_mark, false),
		F(SO_PASSCRED, so_passcred, true),
		F(SO_PASSSEC, so_passsec, true),
		F(SO_DONTROUTE, so_dontroute, true),
		F(SO_NO_CHECK, so_no_check, true),
		F(SO_BROADCAST, so_broadcast, true),
		F(SO_KEEPALIVE, so_keepalive, true),
#undef F
	};
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		if (get_int(lfd, SOL_SOCKET, flags[i].opt, &v))
			continue;	/* not this kind's option */
		if (!v && flags[i].opt != SO_RCVLOWAT)
			continue;	/* defaults stay out of the image */
		if (flags[i].opt == SO_RCVLOWAT && v == 1)
			continue;
		*(protobuf_c_boolean *)((char *)o + flags[i].has_off) = 1;
		if (flags[i].is_bool)
			*(protobuf_c_boolean *)((char *)o + flags[i].val_off) = !!v;
		else
			*(uint32_t *)((char *)o + flags[i].val_off) = v;
	}
	/* peeking at an offset (unix, UDP...): -1 when disabled */
	if (!get_int(lfd, SOL_SOCKET, SO_PEEK_OFF, &v) && v >= 0) {
		o->has_so_peek_off = 1;
		o->so_peek_off = v;
	}
	/* a classic BPF filter attached with SO_ATTACH_FILTER */
	l = 0;
	if (!getsockopt(lfd, SOL_SOCKET, SO_GET_FILTER, NULL, &l) && l) {
		struct sock_filter *f = xmalloc(l * sizeof(*f));
		uint64_t *out = xmalloc(l * sizeof(*out));
		if (!f || !out) {
			free(f);
			free(out);
			return -ENOMEM;
		}
		if (getsockopt(lfd, SOL_SOCKET, SO_GET_FILTER, f, &l)) {
			free(f);
			free(out);
			return_perror("%s: getsockopt(SO_GET_FILTER)", what);
		}
		for (socklen_t i = 0; i < l; i++)
			memcpy(&out[i], &f[i], sizeof(out[i]));
		free(f);
		o->so_filter = out;
		o->n_so_filter = l;
		*filter = out;
	}
	return 0;
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
	 * said.  Left alone when equal to the default (keeps it auto-tuned). */
	if (!get_int(lfd, SOL_SOCKET, SO_SNDBUF, &cur) && (unsigned)cur != o->so_sndbuf)
		ret = set_int(lfd, SO_SNDBUFFORCE, o->so_sndbuf / 2, "SO_SNDBUFFORCE", what);
	if (!ret && !get_int(lfd, SOL_SOCKET, SO_RCVBUF, &cur) && (unsigned)cur != o->so_rcvbuf)
		ret = set_int(lfd, SO_RCVBUFFORCE, o->so_rcvbuf / 2, "SO_RCVBUFFORCE", what);
	if (ret)
		return ret;
	struct timeval tv = { o->so_snd_tmo_sec, o->so_snd_tmo_usec };
	if ((tv.tv_sec || tv.tv_usec) && setsockopt(lfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return_perror("%s: setsockopt(SO_SNDTIMEO)", what);
	tv = (struct timeval){ o->so_rcv_tmo_sec, o->so_rcv_tmo_usec };
	if ((tv.tv_sec || tv.tv_usec) && setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		return_perror("%s: setsockopt(SO_RCVTIMEO)", what);
#define S(has, val, opt) \
	if (!ret && o->has) \
		ret = set_int(lfd, opt, o->val, #opt, what)
	S(has_reuseaddr, reuseaddr, SO_REUSEADDR);
	S(has_so_priority, so_priority, SO_PRIORITY);
	S(has_so_rcvlowat, so_rcvlowat, SO_RCVLOWAT);
	S(has_so_mark, so_mark, SO_MARK);
	S(has_so_passcred, so_passcred, SO_PASSCRED);
	S(has_so_passsec, so_passsec, SO_PASSSEC);
	S(has_so_dontroute, so_dontroute, SO_DONTROUTE);
	S(has_so_no_check, so_no_check, SO_NO_CHECK);
	S(has_so_broadcast, so_broadcast, SO_BROADCAST);
	S(has_so_keepalive, so_keepalive, SO_KEEPALIVE);
#undef S
	if (!ret && o->has_so_peek_off)
		ret = set_int(lfd, SO_PEEK_OFF, o->so_peek_off, "SO_PEEK_OFF", what);
	if (!ret && o->n_so_filter) {
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
	}
	return ret;
}
