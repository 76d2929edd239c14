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
#include <limits.h>
#include <netinet/in.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define STREAM_CHUNK (256 * 1024)
#define SCM_MAX_FD 253	/* descriptors per message: the kernel's limit (net/scm.h) */
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04	/* asm-generic/socket.h, Linux 6.5+ */
#endif

/* What came with one peeked message. */
struct peeked {
	int fds[SCM_MAX_FD];
	int nr_fds;
	bool has_cred;
	struct ucred cred;
	struct sockaddr_un from;	/* a datagram's sender */
	socklen_t from_len;
};

static void peeked_drop(struct peeked *pk)
{
	for (int i = 0; i < pk->nr_fds; i++)
		close(pk->fds[i]);
	pk->nr_fds = 0;
	pk->has_cred = false;
}

/* One sk_packet_entry and its bytes.  The descriptors that came with the
 * message are dumped as files (they may be held by nobody but the queue)
 * and named by id in an scm_entry; the sender's credentials go to ucred
 * (criu's field 128). */
static int write_packet(struct files_dump *fdm, struct cr_img *img, uint32_t id, const void *buf,
			size_t len, struct peeked *pk, const char *what)
{
	SkPacketEntry pe = SK_PACKET_ENTRY__INIT;
	ScmEntry scm = SCM_ENTRY__INIT, *scms[1] = { &scm };
	SkUcredEntry uc = SK_UCRED_ENTRY__INIT;
	uint32_t ids[SCM_MAX_FD];
	int ret = 0, n = 0;
	pe.has_id_for = pe.has_length = 1;
	pe.id_for = id;
	pe.length = len;
	/* files_dump_inflight takes each descriptor, even on failure */
	for (; n < pk->nr_fds && !ret; n++)
		ret = files_dump_inflight(fdm, pk->fds[n], what, &ids[n]);
	for (int i = n; i < pk->nr_fds; i++)
		close(pk->fds[i]);
	int nr = pk->nr_fds;
	pk->nr_fds = 0;
	if (ret)
		return ret;
	if (nr) {
		scm.has_type = 1;
		scm.type = SCM_RIGHTS;
		scm.n_rights = nr;
		scm.rights = ids;
		pe.n_scm = 1;
		pe.scm = scms;
	}
	if (pk->from_len > sizeof(sa_family_t)) {
		/* a named sender: recvfrom shows it, so it is kept (an unnamed
		 * one reads as no address at all) */
		pe.has_addr = 1;
		pe.addr.data = (uint8_t *)&pk->from;
		pe.addr.len = pk->from_len;
	}
	/* a message sent while neither end had SO_PASSCRED carries none: it
	 * reads as pid 0 and the overflow ids, and is sent again without */
	if (pk->has_cred && pk->cred.pid) {
		uc.has_pid = uc.has_uid = uc.has_gid = 1;
		uc.pid = pk->cred.pid;
		uc.uid = pk->cred.uid;
		uc.gid = pk->cred.gid;
		pe.ucred = &uc;
	}
	ret = img_write_msg(img, &pe.base);
	if (!ret && len)
		ret = img_write_raw(img, buf, len);
	return ret;
}

/* Peek at the next message (or stream bytes) without consuming it.  The
 * kernel installs the descriptors of a peeked SCM_RIGHTS message in the
 * peeking process too (new references to the same open files): they land
 * in @pk, or are closed when @pk is NULL. */
static ssize_t peek(int lfd, void *buf, size_t len, int flags, struct peeked *pk, const char *what)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(SCM_MAX_FD * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)) + 512];
	} c;
	struct iovec iov = { buf, len };
	struct peeked junk;
	if (!pk)
		pk = &junk;
	struct msghdr mh = { .msg_name = &pk->from, .msg_namelen = sizeof(pk->from),
			     .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = sizeof(c.b) };
	ssize_t n = recvmsg(lfd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return -errno;
	pk->from_len = mh.msg_namelen;
	pk->nr_fds = 0;
	pk->has_cred = false;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
		if (ch->cmsg_level != SOL_SOCKET)
			continue;
		if (ch->cmsg_type == SCM_RIGHTS) {
			int k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *fds = (int *)CMSG_DATA(ch);
			for (int i = 0; i < k; i++)
				if (pk->nr_fds < SCM_MAX_FD)
					pk->fds[pk->nr_fds++] = fds[i];
				else
					close(fds[i]);
		} else if (ch->cmsg_type == SCM_PIDFD && ch->cmsg_len >= CMSG_LEN(sizeof(int))) {
			/* SO_PASSPIDFD: the peek made a pidfd in cryo too */
			int pfd;
			memcpy(&pfd, CMSG_DATA(ch), sizeof(pfd));
			if (pfd >= 0)
				close(pfd);
		} else if (ch->cmsg_type == SCM_CREDENTIALS &&
			   ch->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			memcpy(&pk->cred, CMSG_DATA(ch), sizeof(pk->cred));
			pk->has_cred = true;
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		peeked_drop(pk);
		pr_err("%s: the control data of a queued message came truncated (MSG_CTRUNC): "
		       "more than %d descriptors in flight, or cryo ran out of descriptors "
		       "(raise its RLIMIT_NOFILE: each descriptor in flight is held by cryo "
		       "until the dump ends)", what, SCM_MAX_FD);
		return -EOPNOTSUPP;
	}
	if (pk == &junk)
		peeked_drop(pk);
	return n;
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
	struct peeked *pk = xzalloc(sizeof(*pk));
	if (!pk)
		ret = -ENOMEM;
	for (; !ret;) {
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
			n = peek(lfd, buf, cap, 0, pk, what);
			pk->from_len = 0;	/* a stream's bytes come from its peer */
			if (n == 0)
				break;	/* end of queue on a socket shut down for reading */
		} else {
			/* the whole length of the next message, then the message */
			n = peek(lfd, NULL, 0, MSG_TRUNC, NULL, what);
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
				ssize_t m = peek(lfd, buf, n, 0, pk, what);
				if (m >= 0 && m != n) {
					peeked_drop(pk);
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
		/* a stream peek stops after a message with descriptors, which
		 * thus end the chunk (exactly where a reader's read stops);
		 * the bytes of the messages without any before it in the
		 * chunk can't be told apart: a peek that has copied all it was
		 * asked for still steps into the following messages (copying
		 * nothing) up to the next one with descriptors and brings
		 * those (unix_stream_read_generic; a peek of one byte, or of
		 * none, at any offset of the chunk brings them, with or
		 * without SO_PASSCRED, which only splits at other
		 * credentials), and nothing else (sock_diag, SIOCINQ,
		 * SO_MEMINFO) counts a stream's queued messages.  So they are
		 * sent again as one message: a reader gets the descriptors
		 * with the first of these bytes, never later than it did
		 * (which buffered protocols, D-Bus, Wayland, take as they
		 * did) */
		ret = write_packet(fdm, img, id, buf, n, pk, what);
		if (ret)
			break;
		count++;
		total += n;
	}
	if (pk)
		peeked_drop(pk);
	free(pk);
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
	uint8_t addr[sizeof(struct sockaddr_un)];	/* sender, if saved */
	uint8_t addr_len;
	uint32_t *rights;	/* file ids of the descriptors in flight */
	int nr_rights;
	bool has_cred;
	struct ucred cred;	/* the sender's, as the receiver reads them */
};

struct control {
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(SCM_MAX_FD * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	};
	size_t len;
};

static int cmp_packet(const void *a, const void *b)
{
	const struct skq_packet *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq - y->seq;
}

/* sk-queues.img of one restore, read whole on first use by any socket kind
 * (fr->sockets) and freed by sk_queue_release. */
struct skq_state {
	struct skq_packet *packets;	/* by socket id, each socket's in image order */
	int nr_packets;
	bool loaded;
};

static void packets_free(struct skq_packet *p, int n)
{
	for (int i = 0; i < n; i++) {
		free(p[i].data);
		free(p[i].rights);
	}
	free(p);
}

static struct skq_state *skq_state(struct files_restore *fr)
{
	if (!fr->sockets)
		fr->sockets = xzalloc(sizeof(struct skq_state));
	return fr->sockets;
}

static int load_queues(struct files_restore *fr, struct skq_state **out)
{
	struct skq_state *q = *out = skq_state(fr);
	if (!q)
		return -ENOMEM;
	if (q->loaded)
		return 0;
	struct cr_img *img;
	int ret = img_open(&img, fr->dirfd, IMG_SK_QUEUES, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT) {
		q->loaded = true;
		return 0;
	}
	if (ret)
		return ret;
	int cap = 0, nr_packets = 0;
	struct skq_packet *packets = NULL;
	for (;;) {
		SkPacketEntry *pe;
		ret = img_read_msg(img, &sk_packet_entry__descriptor, (ProtobufCMessage **)&pe);
		if (ret <= 0)
			break;
		ret = 0;
		struct skq_packet p = { .id = pe->id_for, .len = pe->length, .seq = nr_packets };
		if (pe->has_addr && pe->addr.len && pe->addr.len <= sizeof(p.addr)) {
			memcpy(p.addr, pe->addr.data, pe->addr.len);
			p.addr_len = pe->addr.len;
		}
		if (pe->ucred && pe->ucred->pid) {
			p.has_cred = true;
			p.cred.pid = pe->ucred->pid;
			p.cred.uid = pe->ucred->uid;
			p.cred.gid = pe->ucred->gid;
		}
		for (size_t i = 0; i < pe->n_scm && !ret; i++) {
			ScmEntry *se = pe->scm[i];
			if (!se->has_type || se->type != SCM_RIGHTS) {
				pr_err("sk-queues.img: a message for socket %u carries control "
				       "message type %u, which cryo can't restore", p.id, se->type);
				ret = -EOPNOTSUPP;
			} else if (p.nr_rights + se->n_rights > SCM_MAX_FD) {
				pr_err("sk-queues.img: a message for socket %u carries more than "
				       "%d descriptors", p.id, SCM_MAX_FD);
				ret = -EINVAL;
			} else if (se->n_rights) {
				uint32_t *r = xrealloc(p.rights, (p.nr_rights + se->n_rights) *
							 sizeof(*r));
				if (!r) {
					ret = -ENOMEM;
					break;
				}
				memcpy(r + p.nr_rights, se->rights, se->n_rights * sizeof(*r));
				p.rights = r;
				p.nr_rights += se->n_rights;
			}
		}
		protobuf_c_message_free_unpacked(&pe->base, NULL);
		if (ret) {
			free(p.rights);
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
			free(p.rights);
			break;
		}
		if (nr_packets == cap) {
			cap = cap ? cap * 2 : 64;
			struct skq_packet *n = xrealloc(packets, cap * sizeof(*n));
			if (!n) {
				free(p.data);
				free(p.rights);
				ret = -ENOMEM;
				break;
			}
			packets = n;
		}
		packets[nr_packets++] = p;
	}
	img_close(img);
	if (ret < 0) {
		packets_free(packets, nr_packets);
		return ret;
	}
	/* by socket, each socket's in image order */
	if (nr_packets)
		xqsort(packets, nr_packets, sizeof(packets[0]), cmp_packet);
	q->packets = packets;
	q->nr_packets = nr_packets;
	q->loaded = true;
	return 0;
}

/* Index of the first packet for @id, or -1. */
static int first_packet(const struct skq_state *q, uint32_t id)
{
	int lo = 0, hi = q->nr_packets;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (q->packets[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < q->nr_packets && q->packets[lo].id == id ? lo : -1;
}

/* SCM_CREDENTIALS can only name a PID that exists (the kernel looks it
 * up): a sender that exited is stood in for by a child with its PID
 * (clone3 set_tid) that exits at once and stays a zombie until the message
 * is sent.  The receiver then reads the old PID, as it would have.
 * Returns the stand-in's PID, 0 if the PID exists, or an error. */
static pid_t standin_for(pid_t pid, const char *what)
{
	if (pid <= 0 || !kill(pid, 0) || errno != ESRCH)
		return 0;
	pid_t set_tid[1] = { pid };
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uintptr_t)set_tid;
	args.set_tid_size = 1;
	pid_t c = syscall(SYS_clone3, &args, sizeof(args));
	if (c == 0)
		_exit(0);
	if (c < 0)
		return_perror("%s: clone3 with PID %d (the sender of a queued message, which has "
			      "exited: SCM_CREDENTIALS can only name a live PID)", what, pid);
	return c;
}

static void standin_done(pid_t c)
{
	if (c > 0)
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
}

/* The control data of one message: its descriptors (opened by cryo's file
 * restore) and the credentials it was sent with. */
static int make_control(struct files_restore *fr, struct skq_packet *p, struct control *c,
			pid_t *standin, const char *what)
{
	c->len = 0;
	memset(c->b, 0, sizeof(c->b));
	struct cmsghdr *ch = (struct cmsghdr *)c->b;
	if (p->nr_rights) {
		int fds[SCM_MAX_FD];
		for (int i = 0; i < p->nr_rights; i++) {
			struct rst_file *f = files_rst_find(fr, p->rights[i]);
			if (!f) {
				pr_err("%s: a queued message carries file %u, which is not in "
				       "files.img", what, p->rights[i]);
				return -EINVAL;
			}
			fds[i] = files_rst_open(fr, f);
			if (fds[i] < 0)
				return fds[i];
		}
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(p->nr_rights * sizeof(int));
		memcpy(CMSG_DATA(ch), fds, p->nr_rights * sizeof(int));
		c->len += CMSG_SPACE(p->nr_rights * sizeof(int));
		ch = (struct cmsghdr *)(c->b + c->len);
	}
	if (p->has_cred) {
		pid_t s = standin_for(p->cred.pid, what);
		if (s < 0)
			return s;
		*standin = s;
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_CREDENTIALS;
		ch->cmsg_len = CMSG_LEN(sizeof(struct ucred));
		memcpy(CMSG_DATA(ch), &p->cred, sizeof(p->cred));
		c->len += CMSG_SPACE(sizeof(struct ucred));
	}
	return 0;
}

bool sk_queue_has(struct files_restore *fr, uint32_t id)
{
	struct skq_state *q;
	return !load_queues(fr, &q) && first_packet(q, id) >= 0;
}

int sk_queue_restore(struct files_restore *fr, uint32_t id, int sender, const struct sockaddr *to,
		     socklen_t tolen, const struct skq_sender *as, const char *what)
{
	struct skq_state *q;
	int ret = load_queues(fr, &q);
	if (ret)
		return ret;
	int first = first_packet(q, id);
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
	struct control ctl;
	for (int i = first; i < q->nr_packets && q->packets[i].id == id && !ret; i++) {
		struct skq_packet *p = &q->packets[i];
		size_t off = 0;
		pid_t standin = 0;
		ret = make_control(fr, p, &ctl, &standin, what);
		if (ret)
			break;
		int from = sender;
		if (as && p->addr_len > sizeof(sa_family_t)) {
			from = as->get(as->arg, p->addr, p->addr_len, sender);
			if (from < 0) {
				ret = from;
				standin_done(standin);
				break;
			}
		}
		do {
			struct iovec iov = { p->data + off, p->len - off };
			struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = tolen,
					     .msg_iov = &iov, .msg_iovlen = 1 };
			if (!off && ctl.len) {
				/* the descriptors and credentials go with the
				 * first bytes only */
				mh.msg_control = ctl.b;
				mh.msg_controllen = ctl.len;
			}
			ssize_t n = sendmsg(from, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
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
		standin_done(standin);
		if (from != sender)
			as->put(as->arg, from);
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
	struct skq_state *q;
	int ret = load_queues(fr, &q);
	int first = ret ? -1 : first_packet(q, id);
	for (int i = first; i >= 0 && i < q->nr_packets && q->packets[i].id == id && !ret; i++) {
		const struct skq_packet *p = &q->packets[i];
		ret = fn(p->data, p->len, p->addr_len ? p->addr : NULL, p->addr_len, arg);
	}
	return ret;
}

void sk_queue_release(struct files_restore *fr)
{
	struct skq_state *q = fr->sockets;
	if (!q)
		return;
	packets_free(q->packets, q->nr_packets);
	free(q);
	fr->sockets = NULL;
}
