/* TCP sockets whose connection ended while the descriptor stays open: the
 * state is CLOSE, the peer gone (getpeername: ENOTCONN), but the socket
 * still differs from a fresh one:
 *   - shut down both ways: read gives end of file, write EPIPE (a fresh
 *     socket: ENOTCONN);
 *   - a reset leaves an error to report once (SO_ERROR, or the next read or
 *     write): ECONNRESET, EPIPE (reset after the peer's FIN), ECONNREFUSED
 *     (a connect answered by a reset);
 *   - data received before the end stays readable.
 * poll() tells them apart without consuming anything: POLLIN (shut down for
 * reading) and POLLERR (an error pending).
 *
 * Only SO_ERROR gives the error's value, and reading it clears it.  When the
 * tree is killed after the dump that is what cryo does; with --leave-running
 * or --leave-stopped the process must still get its error, so the value is
 * inferred from TCP_INFO (never established: ECONNREFUSED, else ECONNRESET)
 * with a warning.
 *
 * Restore: the kernel sets a socket's error only when a reset arrives, so
 * cryo makes one arrive.  ECONNREFUSED: a real non-blocking connect to a
 * loopback port bound by no listener, which the stack answers with a reset.
 * ECONNRESET/EPIPE: a connection to a loopback address made in repair mode
 * (nothing is sent), the unread data put back into its receive queue, then a
 * FIN (for EPIPE) and a RST injected from "the peer" (sk_tcp_fin.c).  The
 * address is not the old one (the kernel gave the port back when the
 * connection ended; getsockname shows an unrelated port).
 */
#include "sockets/sk_inet-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include "tcp-stream.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>	/* tcp_info with tcpi_bytes_acked */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* sequence numbers of the restored dead connection: any will do */
#define DEAD_RCV_SEQ 0x10000000u
#define DEAD_SND_SEQ 0x20000000u

static bool restorable_error(unsigned e)
{
	return e == ECONNRESET || e == EPIPE || e == ECONNREFUSED;
}

static int dump_data(struct fd_dump *d, int lfd, const InetSkEntry *ie, int inq)
{
	TcpStreamEntry tse = TCP_STREAM_ENTRY__INIT;
	/* criu's required fields; only the receive queue means anything */
	tse.has_inq_len = tse.has_inq_seq = tse.has_outq_len = tse.has_outq_seq = 1;
	tse.has_opt_mask = tse.has_snd_wscale = tse.has_mss_clamp = 1;
	tse.inq_len = inq;
	char *buf = xmalloc(inq + 1);
	if (!buf)
		return -ENOMEM;
	/* a peek with data queued returns data, never the pending error */
	ssize_t n = recv(lfd, buf, inq + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n != inq) {
		int e = n < 0 ? errno : EIO;
		pr_err("reading the %d unread byte(s) of the closed TCP socket " FD_FMT ": got %zd",
		       inq, FD_ARGS(d), n);
		free(buf);
		return -e;
	}
	struct cr_img *img;
	int ret = img_open(&img, d->fdm->dirfd, IMG_TCP_STREAM, IMG_WRITE, ie->ino);
	if (!ret) {
		ret = img_write_msg(img, &tse.base);
		ret = ret ?: img_write_raw(img, buf, inq);
		int r2 = img_close(img);
		ret = ret ?: r2;
	}
	free(buf);
	return ret;
}

int tcp_dump_closed(struct fd_dump *d, int lfd, InetSkEntry *ie)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, 0) < 0)
		return_perror("poll on " FD_FMT, FD_ARGS(d));
	if (!(p.revents & (POLLIN | POLLERR)))
		return 0;	/* never connected, or only bound */
	ie->has_shutdown = 1;
	ie->shutdown = SK_SHUTDOWN__BOTH;
	int inq = 0;
	if (ioctl(lfd, SIOCINQ, &inq))
		return_perror("ioctl(SIOCINQ) on " FD_FMT, FD_ARGS(d));
	int ret = inq > 0 ? dump_data(d, lfd, ie, inq) : 0;
	if (ret || !(p.revents & POLLERR))
		return ret;

	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &tl))
		return_perror("getsockopt(TCP_INFO) on " FD_FMT, FD_ARGS(d));
	/* Never established and nothing ever received: not a reset but a
	 * connect that timed out (or an ICMP error).  Refused before the
	 * error is read, so that the process keeps it. */
	if (!ti.tcpi_rtt && !ti.tcpi_bytes_acked && !ti.tcpi_segs_in) {
		pr_err(FD_FMT " is a TCP socket whose connect failed without a reset (timed out "
		       "or unreachable): cryo can make a restored socket report only a reset "
		       "(ECONNRESET, EPIPE, ECONNREFUSED); read the error (SO_ERROR) or close the "
		       "socket first", FD_ARGS(d));
		return -EOPNOTSUPP;
	}
	int err = 0;
	const struct cryo_opts *o = d->fdm->opts;
	if (!o->leave_running && !o->leave_stopped) {
		socklen_t l = sizeof(err);
		/* reading it clears it: the process is killed after the dump */
		if (getsockopt(lfd, SOL_SOCKET, SO_ERROR, &err, &l))
			return_perror("getsockopt(SO_ERROR) on " FD_FMT, FD_ARGS(d));
	} else {
		err = !ti.tcpi_rtt && !ti.tcpi_bytes_acked ? ECONNREFUSED : ECONNRESET;
		pr_warn(FD_FMT ": a closed TCP socket with an error pending: reading it would take "
			"it from the running process, %s assumed", FD_ARGS(d), strerror(err));
	}
	if (!err)
		return ret;	/* consumed meanwhile */
	if (!restorable_error(err)) {
		pr_err(FD_FMT " is a closed TCP socket whose pending error is \"%s\": cryo can "
		       "make a restored socket report only a reset (ECONNRESET, EPIPE, "
		       "ECONNREFUSED); the process must read the error first (it has lost it now)",
		       FD_ARGS(d), strerror(err));
		return -EOPNOTSUPP;
	}
	ie->has_so_error = 1;
	ie->so_error = err;
	pr_info(FD_FMT ": closed TCP socket, %d unread byte(s), error %s", FD_ARGS(d), inq,
		strerror(err));
	return 0;
}

static socklen_t loopback(int family, struct sockaddr_storage *ss, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_addr = in6addr_loopback;
		s->sin6_port = htons(port);
		return sizeof(*s);
	}
	struct sockaddr_in *s = (struct sockaddr_in *)ss;
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->sin_port = htons(port);
	return sizeof(*s);
}

/* ECONNREFUSED: connect to a port that is bound (so nobody else takes it
 * meanwhile) but not listening: the stack answers the SYN with a reset. */
static int refused(int sk, const InetSkEntry *ie)
{
	struct sockaddr_storage ss;
	socklen_t l = loopback(ie->family, &ss, 0);
	int tmp = socket(ie->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int fl = fcntl(sk, F_GETFL), ret = 0;
	if (tmp < 0 || bind(tmp, (struct sockaddr *)&ss, l) ||
	    getsockname(tmp, (struct sockaddr *)&ss, &l) || fl < 0 ||
	    fcntl(sk, F_SETFL, fl | O_NONBLOCK))
		ret = -errno;
	if (!ret && connect(sk, (struct sockaddr *)&ss, l) && errno != EINPROGRESS &&
	    errno != ECONNREFUSED)
		ret = -errno;
	struct pollfd p = { .fd = sk, .events = POLLOUT };
	if (!ret && poll(&p, 1, 2000) != 1)
		ret = -ETIMEDOUT;
	if (fl >= 0)
		fcntl(sk, F_SETFL, fl);
	if (tmp >= 0)
		close(tmp);
	if (ret)
		pr_err("inet socket %u: can't give it its ECONNREFUSED back (a connect to a closed "
		       "loopback port): %s", ie->id, strerror(-ret));
	return ret;
}

/* ECONNRESET, EPIPE, or no error: a connection made in repair mode, its
 * receive queue filled, the peer's FIN and RST injected. */
static int reset(int sk, const InetSkEntry *ie, const char *in, uint32_t inq)
{
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, q, ret = 0;
	uint32_t seq;
	struct sockaddr_storage ss;
	socklen_t l = loopback(ie->family, &ss, 9);
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		return_perror("inet socket %u: can't turn TCP repair mode on (it needs "
			      "CAP_NET_ADMIN)", ie->id);
	q = TCP_RECV_QUEUE;
	seq = DEAD_RCV_SEQ - inq;
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    setsockopt(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)))
		ret = -errno;
	q = TCP_SEND_QUEUE;
	seq = DEAD_SND_SEQ;
	if (!ret && (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
		     setsockopt(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq))))
		ret = -errno;
	if (!ret && connect(sk, (struct sockaddr *)&ss, l))
		ret = -errno;
	if (ret)
		return log_errno(ret, "inet socket %u: can't make a connection in repair mode to give it its "
				 "closed state back", ie->id);
	q = TCP_RECV_QUEUE;
	if (inq && setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		return_perror("setsockopt(TCP_REPAIR_QUEUE) on inet socket %u", ie->id);
	if (inq && (ret = tcp_fill_queue(sk, in, inq, "receive queue", ie->id)))
		return ret;
	q = TCP_NO_QUEUE;
	setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	unsigned err = ie->has_so_error ? ie->so_error : 0;
	seq = DEAD_RCV_SEQ;
	/* no error: the FIN both ways, as a connection closed normally */
	if (err == EPIPE || !err)
		ret = tcp_inject(sk, ie->id, seq++, DEAD_SND_SEQ, 0xffff, TCP_INJ_FIN);
	if (!ret && err)
		ret = tcp_inject(sk, ie->id, seq, DEAD_SND_SEQ, 0xffff, TCP_INJ_RST);
	if (!ret && !err) {
		q = TCP_SEND_QUEUE;
		if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) || shutdown(sk, SHUT_WR))
			ret = -errno;
		q = TCP_NO_QUEUE;
		setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
		ret = ret ?: tcp_inject(sk, ie->id, seq, DEAD_SND_SEQ + 1, 0xffff, 0);
	}
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)) && !ret)
		ret = -errno;
	if (ret)
		pr_err("inet socket %u: can't give it its closed state back: %s", ie->id,
		       strerror(-ret));
	return ret;
}

int tcp_restore_closed_conn(struct files_restore *fr, int sk, const InetSkEntry *ie)
{
	struct cr_img *img = NULL;
	TcpStreamEntry *t = NULL;
	char *in = NULL;
	uint32_t inq = 0;
	bool err = ie->has_so_error && ie->so_error;
	int ret = img_open(&img, fr->dirfd, IMG_TCP_STREAM, IMG_READ | IMG_MISSING_OK, ie->ino);
	if (ret == -ENOENT) {
		img = NULL;
		if (!err)
			return 1;
		ret = 0;
	} else if (ret) {
		return ret;
	} else {
		ret = img_read_one(img, &tcp_stream_entry__descriptor, (ProtobufCMessage **)&t);
		ret = ret > 0 ? 0 : ret ? ret : -EINVAL;
		if (!ret && t->inq_len > 256u << 20) {
			pr_err("%s: queue length %u is absurd", img_name(img), t->inq_len);
			ret = -EINVAL;
		}
		if (!ret) {
			inq = t->inq_len;
			in = xmalloc(inq + 1);
			ret = in ? img_read_raw(img, in, inq) : -ENOMEM;
		}
	}
	if (!ret && err && !restorable_error(ie->so_error)) {
		pr_err("inet socket %u: error %u can't be restored", ie->id, ie->so_error);
		ret = -EINVAL;
	}
	if (!ret && err && ie->so_error == ECONNREFUSED) {
		if (inq)
			pr_warn("inet socket %u: %u unread byte(s) of a refused connection dropped",
				ie->id, inq);
		ret = refused(sk, ie);
	} else if (!ret) {
		ret = reset(sk, ie, in, inq);
	}
	if (!ret) {
		struct tcp_info ti;
		socklen_t l = sizeof(ti);
		struct pollfd p = { .fd = sk, .events = POLLIN };
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &l) || ti.tcpi_state != 7 /* TCP_CLOSE */ ||
		    poll(&p, 1, 0) != 1 || !(p.revents & POLLERR) != !err) {
			pr_err("inet socket %u: restored closed in state %u, poll %#x: not what the "
			       "dump saw", ie->id, ti.tcpi_state, p.revents);
			ret = -EIO;
		}
	}
	if (t)
		protobuf_c_message_free_unpacked(&t->base, NULL);
	free(in);
	if (img)
		img_close(img);
	return ret;
}
