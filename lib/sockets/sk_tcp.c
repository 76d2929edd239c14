/* TCP connections, through TCP_REPAIR (--tcp-established): ESTABLISHED,
 * SYN_SENT (connected again for real, with the old initial sequence number)
 * and the half-closed states (the FINs put back after the queues: ours by
 * shutdown in repair mode, the peer's FIN or ACK of ours injected from "the
 * peer", sk_tcp_fin.c).
 *
 * Dump: the connection is locked (netlock.c), then its socket goes into
 * repair mode through a duplicate cryo keeps: in repair mode the socket
 * sends nothing, its queues can be peeked and its sequence numbers read.
 * tcp-stream-INO.img gets the sequence numbers, the options negotiated at
 * the handshake, the windows, then the receive queue bytes and the send
 * queue bytes (criu's layout).  Repair mode goes off again right after
 * (which resets SO_REUSEADDR: put back): the network guard (guard.c) can't
 * turn it off before a tree whose cryo died goes on.  If the tree is
 * killed afterwards, repair mode comes back once it is dead
 * (tcp_dump_killed), and our duplicate is closed in repair mode, which
 * sends nothing: the peer sees only silence (its packets are dropped by the
 * lock) until the restore.  If the dump fails or the tree goes on,
 * ->dump_finish unlocks.
 *
 *   sequence numbers                      send queue
 *     outq_seq = write_seq   (snd_una .. write_seq: outq_len bytes, the
 *                            last unsq_len of them never sent)
 *     inq_seq  = rcv_nxt     receive queue: copied_seq .. rcv_nxt, inq_len
 *
 * Restore, in cryo: a new socket in repair mode gets its sequence numbers
 * (each queue's start, as the kernel advances them while we refill the
 * queues), binds, connects (no SYN in repair mode), gets the options, the
 * receive queue and the sent part of the send queue; the never-sent part is
 * sent with repair briefly off (the window is still zero: nothing leaves);
 * then the windows.  Repair stays on until every task has its descriptors
 * (->restore_finish), and the lock stays until the tasks run
 * (sk_inet_restore_released).
 */
#include "sockets/sk_inet-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include "inventory.pb-c.h"
#include "tcp-stream.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <unistd.h>

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72		/* asm-generic/socket.h, Linux 5.14 */
#endif

/* States whose sequence numbers count a FIN: ours (write_seq, outq_seq)
 * or the peer's (rcv_nxt, inq_seq). */
#define TCPF(st) (1u << (st))
#define SNDQ_FIN (TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | TCPF(TCP_CLOSING) | TCPF(TCP_LAST_ACK))
#define RCVQ_FIN (TCPF(TCP_CLOSE_WAIT) | TCPF(TCP_LAST_ACK) | TCPF(TCP_CLOSING))
/* the TCP connection states restored through repair mode */
#define TCPF_REPAIR (TCPF(TCP_ESTABLISHED) | TCPF(TCP_SYN_SENT) | SNDQ_FIN | RCVQ_FIN)

bool tcp_state_repairable(unsigned state)
{
	return state < 32 && (TCPF(state) & TCPF_REPAIR);
}

static int repair(int fd, int val)
{
	return setsockopt(fd, SOL_TCP, TCP_REPAIR, &val, sizeof(val)) ? -errno : 0;
}

/* Repair mode off on a dumped socket (h->repair: it is on), SO_REUSEADDR
 * back (repair-off clears it). */
static int repair_off(struct tcp_held *h)
{
	if (!h->repair)
		return 0;
	int r = repair(h->fd, TCP_REPAIR_OFF);
	if (r)
		return r;
	h->repair = false;
	int v = h->reuseaddr;
	if (v && setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)))
		return_perror("can't set SO_REUSEADDR again after TCP repair");
	return 0;
}

/* --- dump --- */

static int peek_queue(struct fd_dump *d, int fd, int q, uint32_t *seq, uint32_t len, char **buf)
{
	socklen_t l = sizeof(*seq);
	*buf = NULL;
	if (setsockopt(fd, SOL_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		return_perror("setsockopt(TCP_REPAIR_QUEUE, %d) on " FD_FMT, q, FD_ARGS(d));
	if (getsockopt(fd, SOL_TCP, TCP_QUEUE_SEQ, seq, &l))
		return_perror("getsockopt(TCP_QUEUE_SEQ) on " FD_FMT, FD_ARGS(d));
	if (!len)
		return 0;
	/* one byte more than expected, to be sure there is no more */
	*buf = xmalloc(len + 1);
	if (!*buf)
		return -ENOMEM;
	ssize_t n = recv(fd, *buf, len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EIO;
		pr_err("reading the %s queue of " FD_FMT " in repair mode: got %zd of %u bytes%s%s",
		       q == TCP_RECV_QUEUE ? "receive" : "send", FD_ARGS(d), n, len,
		       n < 0 ? ": " : "", n < 0 ? strerror(e) :
		       q == TCP_RECV_QUEUE && n < (ssize_t)len ?
		       " (an urgent mark, MSG_OOB data read inline with SO_OOBINLINE, stops the "
		       "read: TCP repair can't put urgent data back)" : "");
		free(*buf);
		*buf = NULL;
		return -e;
	}
	return 0;
}

/* Urgent data (MSG_OOB) not read past yet: TCP repair puts the receive
 * queue back as plain data and has no urgent mark, so the byte and the
 * mark would be lost (worse: while the urgent byte waits out of line,
 * SIOCINQ counts only the bytes before the mark, and the rest of the queue
 * would be dropped).  Without SO_OOBINLINE the kernel's tcp_inq() stops at
 * a mark ahead: SIOCINQ with SO_OOBINLINE switched on for a moment counts
 * everything, so a difference shows the mark.  With SO_OOBINLINE the
 * repair-mode peek stops at the mark (peek_queue reads short). */
static int refuse_urgent(struct fd_dump *d, int fd, int inq)
{
	int inl = 0, full = inq, one = 1, zero = 0;
	socklen_t l = sizeof(inl);
	if (getsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &inl, &l))
		return_perror("getsockopt(SO_OOBINLINE) on " FD_FMT, FD_ARGS(d));
	if (inl)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)))
		return_perror("setsockopt(SO_OOBINLINE) on " FD_FMT, FD_ARGS(d));
	int r = ioctl(fd, SIOCINQ, &full) ? -errno : 0;
	if (setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &zero, sizeof(zero)))
		return_perror("setsockopt(SO_OOBINLINE) on " FD_FMT, FD_ARGS(d));
	if (r)
		return_perror("ioctl(SIOCINQ) on " FD_FMT, FD_ARGS(d));
	if (full != inq) {
		pr_err(FD_FMT " is a TCP socket with urgent data (MSG_OOB) not read yet (%d of %d "
		       "unread bytes before the urgent mark): TCP repair can't put an urgent mark "
		       "back, so cryo can't dump it (let the program read past the mark first)",
		       FD_ARGS(d), inq, full);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int dump_state(struct fd_dump *d, int fd, const InetSkEntry *ie)
{
	TcpStreamEntry tse = TCP_STREAM_ENTRY__INIT;
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	char *in = NULL, *out = NULL;
	int inq, outq, unsq, v, ret;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l))
		return_perror("getsockopt(TCP_INFO) on " FD_FMT, FD_ARGS(d));
	if (ti.tcpi_state != ie->state) {
		pr_err(FD_FMT ": the TCP connection changed state (%u to %u) while being dumped",
		       FD_ARGS(d), ie->state, ti.tcpi_state);
		return -EAGAIN;
	}
	if (ioctl(fd, SIOCINQ, &inq) || ioctl(fd, SIOCOUTQ, &outq) || ioctl(fd, SIOCOUTQNSD, &unsq))
		return_perror("ioctl(SIOCINQ/SIOCOUTQ/SIOCOUTQNSD) on " FD_FMT, FD_ARGS(d));
	/* Our FIN takes a sequence number: SIOCOUTQ (write_seq - snd_una)
	 * counts it until it is acked, SIOCOUTQNSD (write_seq - snd_nxt)
	 * until it is sent.  The image keeps data lengths only, as criu's.
	 * (SIOCINQ never counts the peer's FIN.) */
	if (TCPF(ie->state) & SNDQ_FIN) {
		outq -= outq > 0;
		unsq -= unsq > 0;
	}
	if ((ret = refuse_urgent(d, fd, inq)))
		return ret;
	tse.has_inq_len = tse.has_inq_seq = tse.has_outq_len = tse.has_outq_seq = 1;
	tse.has_opt_mask = tse.has_snd_wscale = tse.has_mss_clamp = tse.has_unsq_len = 1;
	tse.inq_len = inq;
	tse.outq_len = outq;
	tse.unsq_len = unsq;
	ret = peek_queue(d, fd, TCP_RECV_QUEUE, &tse.inq_seq, inq, &in);
	ret = ret ?: peek_queue(d, fd, TCP_SEND_QUEUE, &tse.outq_seq, outq, &out);
	if (ret)
		goto out;

	/* in repair mode TCP_MAXSEG gives the mss clamp */
	l = sizeof(v);
	if (getsockopt(fd, SOL_TCP, TCP_MAXSEG, &v, &l)) {
		ret = -errno;
		pr_perror("getsockopt(TCP_MAXSEG) on " FD_FMT, FD_ARGS(d));
		goto out;
	}
	tse.mss_clamp = v;
	tse.has_cryo_snd_mss = 1;
	tse.cryo_snd_mss = ti.tcpi_snd_mss;
	tse.opt_mask = ti.tcpi_options;
	if (ti.tcpi_options & TCPI_OPT_WSCALE) {
		tse.snd_wscale = ti.tcpi_snd_wscale;
		tse.has_rcv_wscale = 1;
		tse.rcv_wscale = ti.tcpi_rcv_wscale;
	}
	if (ti.tcpi_options & TCPI_OPT_TIMESTAMPS) {
		l = sizeof(v);
		if (getsockopt(fd, SOL_TCP, TCP_TIMESTAMP, &v, &l)) {
			ret = -errno;
			pr_perror("getsockopt(TCP_TIMESTAMP) on " FD_FMT, FD_ARGS(d));
			goto out;
		}
		tse.has_timestamp = 1;
		tse.timestamp = v;
	}
	struct tcp_repair_window w;
	l = sizeof(w);
	if (getsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, &l)) {
		ret = -errno;
		pr_perror("getsockopt(TCP_REPAIR_WINDOW) on " FD_FMT, FD_ARGS(d));
		goto out;
	}
	tse.has_snd_wl1 = tse.has_snd_wnd = tse.has_max_window = tse.has_rcv_wnd = 1;
	tse.has_rcv_wup = 1;
	tse.snd_wl1 = w.snd_wl1;
	tse.snd_wnd = w.snd_wnd;
	tse.max_window = w.max_window;
	tse.rcv_wnd = w.rcv_wnd;
	tse.rcv_wup = w.rcv_wup;
	l = sizeof(v);
	if (!getsockopt(fd, SOL_TCP, TCP_NODELAY, &v, &l) && v)
		tse.has_nodelay = tse.nodelay = 1;
	l = sizeof(v);
	if (!getsockopt(fd, SOL_TCP, TCP_CORK, &v, &l) && v)
		tse.has_cork = tse.cork = 1;
	pr_info(FD_FMT ": TCP connection: inq %u bytes (seq %u), outq %u bytes (seq %u, %u unsent), "
		"mss %u, options %#x", FD_ARGS(d), tse.inq_len, tse.inq_seq, tse.outq_len,
		tse.outq_seq, tse.unsq_len, tse.mss_clamp, tse.opt_mask);

	struct cr_img *img;
	ret = img_open(&img, d->fdm->dirfd, IMG_TCP_STREAM, IMG_WRITE, ie->ino);
	if (ret)
		goto out;
	ret = img_write_msg(img, &tse.base);
	if (!ret && inq)
		ret = img_write_raw(img, in, inq);
	if (!ret && outq)
		ret = img_write_raw(img, out, outq);
	int r2 = img_close(img);
	ret = ret ?: r2;
out:
	free(in);
	free(out);
	return ret;
}

static bool conn_eq(const struct inet_conn *a, const struct inet_conn *b)
{
	return a->family == b->family && !memcmp(a->src, b->src, 16) &&
	       !memcmp(a->dst, b->dst, 16) && a->sport == b->sport && a->dport == b->dport;
}

static int add_conns(struct inet_conn **arr, int *nr, const struct inet_conn *c, int n)
{
	struct inet_conn *x = xrealloc(*arr, (*nr + n + 1) * sizeof(*x));
	if (!x)
		return -ENOMEM;
	*arr = x;
	memcpy(x + *nr, c, n * sizeof(*c));
	*nr += n;
	return 0;
}

struct prelock {
	ino_t *inos;
	int nr;
	struct inet_conn *conns;
	int nc;
};

static int cmp_ino(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;
	return x < y ? -1 : x > y;
}

static int prelock_cb(struct nlmsghdr *h, void *arg)
{
	struct prelock *p = arg;
	struct inet_diag_msg *m = NLMSG_DATA(h);
	ino_t ino = m->idiag_inode;
	if (!bsearch(&ino, p->inos, p->nr, sizeof(ino_t), cmp_ino))
		return 0;
	struct inet_conn c = { .family = m->idiag_family, .sport = ntohs(m->id.idiag_sport),
			       .dport = ntohs(m->id.idiag_dport) };
	memcpy(c.src, m->id.idiag_src, 16);
	memcpy(c.dst, m->id.idiag_dst, 16);
	if (c.family == AF_INET) {
		c.src[1] = c.src[2] = c.src[3] = 0;
		c.dst[1] = c.dst[2] = c.dst[3] = 0;
	}
	return add_conns(&p->conns, &p->nc, &c, 1);
}

/* Lock every established TCP connection of process @pid at once (one
 * sock_diag walk, one run of the lock tool) rather than one at a time:
 * with many connections that is most of the frozen time. */
static int prelock_process(struct fd_dump *d, struct inet_dump_state *s)
{
	if (s->prelocked_pid == d->pid)
		return 0;
	s->prelocked_pid = d->pid;
	struct prelock p = { 0 };
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", d->pid);
	int *fds, nfds;
	if (proc_list_dir_pids(dir, &fds, &nfds))
		return 0;	/* the per-connection lock does it */
	p.inos = xmalloc((nfds + 1) * sizeof(ino_t));
	for (int i = 0; p.inos && i < nfds; i++) {
		char link[96], target[64];
		snprintf(link, sizeof(link), "%s/%d", dir, fds[i]);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		unsigned long ino;
		if (n > 0 && (target[n] = '\0', sscanf(target, "socket:[%lu]", &ino) == 1))
			p.inos[p.nr++] = ino;
	}
	free(fds);
	if (!p.inos)
		return -ENOMEM;
	xqsort(p.inos, p.nr, sizeof(ino_t), cmp_ino);
	int ret = 0;
	for (int fam = 0; fam < 2 && !ret; fam++) {
		struct {
			struct nlmsghdr h;
			struct inet_diag_req_v2 r;
		} req = { .h = { .nlmsg_flags = NLM_F_DUMP },
			  .r = { .sdiag_family = fam ? AF_INET6 : AF_INET, .sdiag_protocol = IPPROTO_TCP,
				 .idiag_states = TCPF_REPAIR } };
		ret = sock_diag_query(&req, sizeof(req), prelock_cb, &p);
	}
	if (ret < 0)
		pr_warn("sock_diag can't list the TCP connections of process %d (%s): locking them "
			"one at a time", d->pid, strerror(-ret));
	else if (p.nc) {
		/* the guard first: a lock must not outlive cryo */
		ret = guard_locked(&s->guard, netlock_method(d->fdm->opts), p.conns, p.nc);
		if (!ret)
			ret = netlock_lock(netlock_method(d->fdm->opts), p.conns, p.nc);
		if (!ret)
			ret = add_conns(&s->locked, &s->nr_locked, p.conns, p.nc);
	}
	free(p.inos);
	free(p.conns);
	return ret < 0 ? ret : 0;
}

static struct inet_dump_state *dump_state_get(struct files_dump *fdm)
{
	struct inet_dump_state *s = fdm->kind_state[FDK_INET];
	if (s)
		return s;
	s = xzalloc(sizeof(*s));
	if (s) {
		s->guard = (struct net_guard)NET_GUARD_INIT;
		fdm->kind_state[FDK_INET] = s;
	}
	return s;
}

int tcp_dump_conn(struct fd_dump *d, int lfd, const InetSkEntry *ie, bool reuseaddr)
{
	struct inet_dump_state *s = dump_state_get(d->fdm);
	if (!s)
		return -ENOMEM;
	struct tcp_held *n = xrealloc(s->held, (s->nr_held + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->held = n;
	struct tcp_held *h = &s->held[s->nr_held];
	*h = (struct tcp_held){ .reuseaddr = reuseaddr };
	inet_conn_of(ie, &h->conn);
	/* kept until ->dump_finish: repair mode must be undone if the dump
	 * fails after this descriptor was dumped */
	h->fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
	if (h->fd < 0)
		return_perror("can't keep a duplicate of " FD_FMT, FD_ARGS(d));
	s->nr_held++;
	int ret = prelock_process(d, s);
	if (ret)
		return ret;
	int i = 0;
	while (i < s->nr_locked && !conn_eq(&s->locked[i], &h->conn))
		i++;
	if (i == s->nr_locked) {
		ret = guard_locked(&s->guard, netlock_method(d->fdm->opts), &h->conn, 1);
		ret = ret ?: netlock_lock(netlock_method(d->fdm->opts), &h->conn, 1);
		ret = ret ?: add_conns(&s->locked, &s->nr_locked, &h->conn, 1);
		if (ret)
			return ret;
	}
	/* the guard first: a socket in repair mode must not outlive cryo */
	ret = guard_repair(&s->guard, h->fd, d->pid, h->reuseaddr);
	if (ret)
		return ret;
	ret = repair(h->fd, TCP_REPAIR_ON);
	if (ret) {
		pr_err("can't turn TCP repair mode on for " FD_FMT ": %s (it needs CAP_NET_ADMIN)",
		       FD_ARGS(d), strerror(-ret));
		return ret;
	}
	h->repair = h->dumped = true;
	ret = dump_state(d, h->fd, ie);
	/* Repair mode only while the state is read: should cryo die later, the
	 * kernel lets the tree go on at once, before the guard could turn it
	 * off.  The frozen tree and the lock keep the state as it was read (a
	 * packet the kernel sends meanwhile is dropped by the lock, and the
	 * restore sends it again).  With --network-lock skip nothing would drop
	 * it: repair mode stays on until ->dump_finish, as criu does. */
	if (netlock_method(d->fdm->opts) != NETLOCK_SKIP) {
		int r = repair_off(h);
		if (r) {
			pr_err("can't turn TCP repair mode off on " FD_FMT ": %s", FD_ARGS(d),
			       strerror(-r));
			ret = ret ?: r;
		}
	}
	return ret;
}

/* The end of the dump's TCP side: the guard ends, the state goes. */
static void dump_forget(struct files_dump *fdm, struct inet_dump_state *s)
{
	guard_done(&s->guard);
	free(s->held);
	free(s->locked);
	free(s);
	fdm->kind_state[FDK_INET] = NULL;
}

void tcp_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	struct inet_dump_state *s = fdm->kind_state[FDK_INET];
	if (!s)
		return;
	if (ok && killed) {
		/* repair mode comes back once the tree is dead
		 * (tcp_dump_killed); should cryo die before, the guard does it */
		if (s->nr_held && guard_killing(&s->guard))
			pr_warn("the network guard could not be told the tree is being killed");
		return;
	}
	for (int i = 0; i < s->nr_held; i++) {
		struct tcp_held *h = &s->held[i];
		int r = h->repair ? repair_off(h) : 0;
		if (r)
			pr_err("can't turn TCP repair mode off on the connection %s: %s: the process "
			       "can't use it", inet_conn_str(&h->conn, (char[128]){ 0 }, 128),
			       strerror(-r));
		close(h->fd);
	}
	if (s->nr_locked && netlock_unlock(netlock_method(fdm->opts), s->locked, s->nr_locked))
		pr_err("the network lock of %d TCP connection(s) could not be removed: see "
		       "docs/tcp.md to remove it by hand", s->nr_locked);
	dump_forget(fdm, s);
}

void tcp_dump_killed(struct files_dump *fdm)
{
	struct inet_dump_state *s = fdm->kind_state[FDK_INET];
	if (!s)
		return;
	/* the tree is dead, our duplicates keep the sockets open: closed in
	 * repair mode they send nothing (no FIN, no RST) and free their port
	 * at once for the restore */
	for (int i = 0; i < s->nr_held; i++) {
		struct tcp_held *h = &s->held[i];
		int r = h->dumped ? repair(h->fd, TCP_REPAIR_ON) : 0;
		if (r)
			pr_warn("can't turn TCP repair mode on again for the connection %s: %s (it "
				"closes with a FIN or RST, dropped by the lock)",
				inet_conn_str(&h->conn, (char[128]){ 0 }, 128), strerror(-r));
		close(h->fd);
	}
	if (s->nr_locked)
		pr_info("%d TCP connection(s) stay locked until they are restored", s->nr_locked);
	dump_forget(fdm, s);
}

/* --- restore --- */

/* The dump's lock method, from inventory.img (criu does the same); images
 * without it: --network-lock. */
static enum netlock_method restore_method(struct files_restore *fr, struct inet_rst_state *s)
{
	if (s->method_known)
		return s->method;
	s->method = netlock_method(fr->opts);
	s->method_known = true;
	struct cr_img *img;
	InventoryEntry *inv = NULL;
	if (img_open(&img, fr->dirfd, IMG_INVENTORY, IMG_READ, 0))
		return s->method;
	if (img_read_one(img, &inventory_entry__descriptor, (ProtobufCMessage **)&inv) > 0 && inv) {
		if (inv->has_network_lock_method && inv->network_lock_method <= NETLOCK_SKIP) {
			if (fr->opts->network_lock && inv->network_lock_method != (unsigned)s->method)
				pr_warn("--network-lock %s ignored: the dump locked connections with "
					"method %u, which the restore uses", fr->opts->network_lock,
					inv->network_lock_method);
			s->method = inv->network_lock_method;
		}
		protobuf_c_message_free_unpacked(&inv->base, NULL);
	}
	img_close(img);
	return s->method;
}

static int note_conn(struct files_restore *fr, const InetSkEntry *ie)
{
	struct inet_rst_state *s = inet_rst_state(fr);
	if (!s)
		return -ENOMEM;
	struct inet_conn *n = xrealloc(s->conns, (s->nr_conns + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->conns = n;
	inet_conn_of(ie, &s->conns[s->nr_conns++]);
	restore_method(fr, s);
	return 0;
}

/* Every connection of the images locked again, at once, before the first
 * is recreated (a no-op where the dump's lock is still there): nothing must
 * reach a new socket before its tasks run. */
static int prelock_restore(struct files_restore *fr)
{
	struct inet_rst_state *s = inet_rst_state(fr);
	if (!s)
		return -ENOMEM;
	if (s->prelocked)
		return 0;
	s->prelocked = true;
	int first = s->nr_conns;
	for (int i = 0; i < fr->nr_files; i++) {
		const InetSkEntry *ie = fr->files[i]->isk;
		if (fr->files[i]->type != FD_TYPES__INETSK || !ie || ie->type != SOCK_STREAM ||
		    !ie->dst_port || ie->state == TCP_LISTEN || ie->state == TCP_CLOSE)
			continue;
		int ret = note_conn(fr, ie);
		if (ret)
			return ret;
	}
	return netlock_lock(restore_method(fr, s), s->conns + first, s->nr_conns - first);
}

int tcp_restore_closed(struct files_restore *fr, const InetSkEntry *ie)
{
	return note_conn(fr, ie);
}

static int set_queue_seq(int sk, int q, uint32_t seq, const InetSkEntry *ie)
{
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    setsockopt(sk, SOL_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)))
		return_perror("can't set the %s sequence of TCP connection %u",
			      q == TCP_RECV_QUEUE ? "receive" : "send", ie->id);
	return 0;
}

/* Send @len bytes of @buf into the socket's current repair queue. */
int tcp_fill_queue(int sk, const char *buf, uint32_t len, const char *what, uint32_t id)
{
	/* the kernel makes one linear buffer of a repair-mode receive queue
	 * write: halve the chunks when it can't */
	size_t chunk = len;
	while (len) {
		size_t n = chunk < len ? chunk : len;
		ssize_t r = send(sk, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r <= 0) {
			if (chunk > 1024 && (r == 0 || errno == ENOMEM || errno == EAGAIN)) {
				chunk /= 2;
				continue;
			}
			return_perror("can't put %u bytes back in the %s of TCP connection %u", len,
				      what, id);
		}
		buf += r;
		len -= r;
	}
	return 0;
}

static int set_queue(int sk, int q, const InetSkEntry *ie)
{
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		return_perror("setsockopt(TCP_REPAIR_QUEUE, %d) on TCP connection %u", q, ie->id);
	return 0;
}

/* Both buffers of the new socket, raised while the queues are refilled:
 * a queue the dumped socket grew (or an autotuned buffer) may hold more
 * than the restored buffer sizes admit, and a refill past them fails with
 * EAGAIN.  Put back by bufs_put. */
struct bufs {
	int snd, rcv, lock;
	bool raised;
};

static int bufs_raise(int sk, const TcpStreamEntry *t, struct bufs *b, const InetSkEntry *ie)
{
	socklen_t l = sizeof(int);
	b->raised = false;
	b->lock = -1;
	if (getsockopt(sk, SOL_SOCKET, SO_SNDBUF, &b->snd, &l) ||
	    (l = sizeof(int), getsockopt(sk, SOL_SOCKET, SO_RCVBUF, &b->rcv, &l)))
		return_perror("getsockopt(SO_SNDBUF/SO_RCVBUF) on TCP connection %u", ie->id);
	l = sizeof(int);
	if (getsockopt(sk, SOL_SOCKET, SO_BUF_LOCK, &b->lock, &l))
		b->lock = -1;	/* before Linux 5.14 */
	/* the kernel doubles what it is given, and charges skb overhead */
	int snd = t->outq_len > INT32_MAX / 4 ? INT32_MAX / 2 : (int)t->outq_len * 2 + (1 << 20);
	int rcv = t->inq_len > INT32_MAX / 4 ? INT32_MAX / 2 : (int)t->inq_len * 2 + (1 << 20);
	if (2LL * snd <= b->snd && 2LL * rcv <= b->rcv)
		return 0;
	b->raised = true;
	if (setsockopt(sk, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) ||
	    setsockopt(sk, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)))
		return_perror("TCP connection %u: can't raise its buffers to %d/%d bytes to put "
			      "its queues back (SO_SNDBUFFORCE/SO_RCVBUFFORCE need CAP_NET_ADMIN)",
			      ie->id, snd, rcv);
	return 0;
}

static int bufs_put(int sk, const struct bufs *b, const InetSkEntry *ie)
{
	if (!b->raised)
		return 0;
	/* getsockopt gave the doubled values */
	int snd = b->snd / 2, rcv = b->rcv / 2;
	if (setsockopt(sk, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) ||
	    setsockopt(sk, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) ||
	    (b->lock >= 0 && setsockopt(sk, SOL_SOCKET, SO_BUF_LOCK, &b->lock, sizeof(b->lock))))
		return_perror("TCP connection %u: can't put its buffer sizes back", ie->id);
	return 0;
}

/* Put our FIN in the send queue (shutdown(SHUT_WR) in repair mode).  With
 * TCP_SEND_QUEUE selected the kernel takes it as sent without sending it;
 * otherwise it is queued (behind unsent data) and sent as usual, into the
 * lock, and retransmitted once the lock goes. */
static int restore_our_fin(int sk, bool sent, const InetSkEntry *ie)
{
	int ret = set_queue(sk, sent ? TCP_SEND_QUEUE : TCP_NO_QUEUE, ie);
	if (ret)
		return ret;
	if (shutdown(sk, SHUT_WR))
		return_perror("TCP connection %u: shutdown(SHUT_WR) in repair mode", ie->id);
	return set_queue(sk, TCP_NO_QUEUE, ie);
}

static int restore_state(int sk, const InetSkEntry *ie, TcpStreamEntry *t, const char *in,
			 const char *out)
{
	unsigned m = ie->state < 32 ? TCPF(ie->state) : 0;
	bool syn_sent = ie->state == TCP_SYN_SENT;
	/* the sequence numbers before the FINs, which are put back last */
	uint32_t inq_seq = t->inq_seq - !!(m & RCVQ_FIN);
	uint32_t outq_seq = t->outq_seq - !!(m & SNDQ_FIN);
	int ret;
	if ((ret = repair(sk, TCP_REPAIR_ON))) {
		pr_err("can't turn TCP repair mode on for connection %u: %s (it needs "
		       "CAP_NET_ADMIN)", ie->id, strerror(-ret));
		return ret;
	}
	ret = set_queue_seq(sk, TCP_RECV_QUEUE, inq_seq - t->inq_len, ie);
	/* SYN_SENT: write_seq counts the SYN; the connect sends it again */
	ret = ret ?: set_queue_seq(sk, TCP_SEND_QUEUE, outq_seq - t->outq_len - syn_sent, ie);
	if (ret)
		return ret;
	struct sockaddr_storage ss;
	socklen_t l;
	char cs[128];
	struct inet_conn c;
	inet_conn_of(ie, &c);
	inet_conn_str(&c, cs, sizeof(cs));
	if ((ret = inet_sockaddr(ie, true, &ss, &l)))
		return ret;
	if (bind(sk, (struct sockaddr *)&ss, l))
		return_perror("can't bind TCP connection %u (%s)", ie->id, cs);
	if ((ret = inet_sockaddr(ie, false, &ss, &l)))
		return ret;
	if (syn_sent) {
		/* A connection still connecting: a real connect() with the old
		 * initial sequence number (its SYN goes into the lock and is
		 * retransmitted after it), non-blocking so it returns now. */
		int fl = fcntl(sk, F_GETFL);
		ret = repair(sk, TCP_REPAIR_OFF);
		if (!ret && fl >= 0 && fcntl(sk, F_SETFL, fl | O_NONBLOCK))
			ret = -errno;
		if (!ret && connect(sk, (struct sockaddr *)&ss, l) && errno != EINPROGRESS)
			ret = -errno;
		if (fl >= 0)
			fcntl(sk, F_SETFL, fl);
		ret = ret ?: repair(sk, TCP_REPAIR_ON);
		if (ret)
			return log_errno(ret, "can't connect TCP connection %u (%s, SYN_SENT) again", ie->id,
					 cs);
		pr_info("TCP connection %u (%s) restored connecting (SYN_SENT)", ie->id, cs);
		return 0;
	}
	int r = connect(sk, (struct sockaddr *)&ss, l);
	/* the 4-tuple still taken: by this connection's own leftover */
	if (r && (errno == EADDRNOTAVAIL || errno == EADDRINUSE) && inet_clear_holders(ie, true) > 0)
		r = connect(sk, (struct sockaddr *)&ss, l);
	if (r)
		return_perror("can't connect TCP connection %u (%s) in repair mode", ie->id, cs);

	struct tcp_repair_opt ro[4];
	int n = 0;
	if (t->opt_mask & TCPI_OPT_SACK)
		ro[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (t->opt_mask & TCPI_OPT_WSCALE)
		ro[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW,
						     t->snd_wscale | (t->rcv_wscale << 16) };
	if (t->opt_mask & TCPI_OPT_TIMESTAMPS)
		ro[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	ro[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, t->mss_clamp };
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR_OPTIONS, ro, n * sizeof(ro[0])))
		return_perror("setsockopt(TCP_REPAIR_OPTIONS) on TCP connection %u (%s)", ie->id, cs);
	if (t->has_timestamp &&
	    setsockopt(sk, SOL_TCP, TCP_TIMESTAMP, &t->timestamp, sizeof(t->timestamp)))
		return_perror("setsockopt(TCP_TIMESTAMP) on TCP connection %u (%s)", ie->id, cs);
	/* before any data is queued: the queues' segments are cut to it */
	if ((ret = tcp_restore_mss(sk, ie->id, t, inq_seq - t->inq_len)))
		return ret;

	struct bufs b;
	if ((ret = bufs_raise(sk, t, &b, ie)))
		return ret;
	if (t->inq_len) {
		ret = set_queue(sk, TCP_RECV_QUEUE, ie);
		ret = ret ?: tcp_fill_queue(sk, in, t->inq_len, "receive queue", ie->id);
		if (ret)
			return ret;
	}
	uint32_t unsent = t->has_unsq_len && t->unsq_len <= t->outq_len ? t->unsq_len : 0;
	uint32_t sent = t->outq_len - unsent;
	if (sent) {
		ret = set_queue(sk, TCP_SEND_QUEUE, ie);
		ret = ret ?: tcp_fill_queue(sk, out, sent, "send queue", ie->id);
		if (ret)
			return ret;
	}
	if (unsent) {
		/* never sent: an ordinary write, queued behind the rest */
		ret = repair(sk, TCP_REPAIR_OFF_NO_WP);
		ret = ret ?: tcp_fill_queue(sk, out + sent, unsent, "send queue (unsent part)", ie->id);
		int r2 = repair(sk, TCP_REPAIR_ON);
		if (ret || r2)
			return ret ?: r2;
	}
	if ((ret = bufs_put(sk, &b, ie)))
		return ret;
	if (t->has_snd_wnd) {
		struct tcp_repair_window w = {
			.snd_wl1 = t->snd_wl1, .snd_wnd = t->snd_wnd, .max_window = t->max_window,
			.rcv_wnd = t->rcv_wnd, .rcv_wup = t->rcv_wup,
		};
		/* rcv_wup counted the peer's FIN, not put back yet */
		if (m & RCVQ_FIN) {
			w.rcv_wup--;
			w.rcv_wnd++;
		}
		if (setsockopt(sk, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)))
			return_perror("setsockopt(TCP_REPAIR_WINDOW) on TCP connection %u (%s)",
				      ie->id, cs);
	}
	/* The FINs, in the order they happened.  FIN_WAIT1/2 and CLOSING: we
	 * shut down first; CLOSE_WAIT, LAST_ACK and CLOSING: the peer's FIN
	 * arrives (a segment injected from "the peer"); LAST_ACK: then we
	 * shut down; FIN_WAIT2: the peer acks our FIN. */
	uint16_t win = t->has_snd_wnd ? (t->opt_mask & TCPI_OPT_WSCALE ?
					 t->snd_wnd >> t->snd_wscale : t->snd_wnd) : 0xffff;
	if (t->has_snd_wnd && !(t->opt_mask & TCPI_OPT_WSCALE) && t->snd_wnd > 0xffff)
		win = 0xffff;
	uint32_t snd_una = outq_seq - t->outq_len;
	if (m & (TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | TCPF(TCP_CLOSING)))
		ret = restore_our_fin(sk, ie->state == TCP_FIN_WAIT2, ie);
	if (!ret && (m & RCVQ_FIN))
		ret = tcp_inject(sk, ie->id, inq_seq, snd_una, win, TCP_INJ_FIN);
	if (!ret && ie->state == TCP_LAST_ACK)
		ret = restore_our_fin(sk, false, ie);
	if (!ret && ie->state == TCP_FIN_WAIT2)
		ret = tcp_inject(sk, ie->id, inq_seq, t->outq_seq, win, 0);
	if (ret)
		return ret;
	if (m & (SNDQ_FIN | RCVQ_FIN)) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(sk, SOL_TCP, TCP_INFO, &ti, &tl) || ti.tcpi_state != ie->state) {
			pr_err("TCP connection %u (%s): restored in state %u, not %u: the kernel did "
			       "not take the FIN put back", ie->id, cs, ti.tcpi_state, ie->state);
			return -EIO;
		}
	}
	/* criu writes them in tcp_opts now; older images have them here */
	bool nodelay = ie->tcp_opts && ie->tcp_opts->has_nodelay ? ie->tcp_opts->nodelay : t->nodelay;
	bool cork = ie->tcp_opts && ie->tcp_opts->has_cork ? ie->tcp_opts->cork : t->cork;
	int one = 1;
	if (nodelay && setsockopt(sk, SOL_TCP, TCP_NODELAY, &one, sizeof(one)))
		return_perror("setsockopt(TCP_NODELAY) on TCP connection %u", ie->id);
	if (cork && setsockopt(sk, SOL_TCP, TCP_CORK, &one, sizeof(one)))
		return_perror("setsockopt(TCP_CORK) on TCP connection %u", ie->id);
	pr_info("TCP connection %u (%s) restored in repair mode: inq %u, outq %u (%u unsent), "
		"state %u", ie->id, cs, t->inq_len, t->outq_len, unsent, ie->state);
	return 0;
}

int tcp_restore_conn(struct files_restore *fr, struct rst_file *f, int sk, const InetSkEntry *ie)
{
	(void)f;
	struct cr_img *img;
	TcpStreamEntry *t = NULL;
	char *in = NULL, *out = NULL;
	int ret = img_open(&img, fr->dirfd, IMG_TCP_STREAM, IMG_READ | IMG_MISSING_OK, ie->ino);
	if (ret == -ENOENT) {
		pr_err("inet socket %u (ino %u) is a TCP connection without tcp-stream-%x.img: it "
		       "was dumped with --tcp-close; restore it with --tcp-close", ie->id, ie->ino,
		       ie->ino);
		return -EINVAL;
	}
	if (ret)
		return ret;
	ret = prelock_restore(fr);
	if (!ret) {
		ret = img_read_one(img, &tcp_stream_entry__descriptor, (ProtobufCMessage **)&t);
		ret = ret > 0 ? 0 : ret ? ret : -EINVAL;	/* 1: read */
	}
	if (ret)
		goto out;
	if (t->outq_len > 256u << 20 || t->inq_len > 256u << 20) {
		pr_err("%s: queue lengths %u/%u are absurd", img_name(img), t->inq_len, t->outq_len);
		ret = -EINVAL;
		goto out;
	}
	in = xmalloc(t->inq_len + 1);
	out = xmalloc(t->outq_len + 1);
	if (!in || !out) {
		ret = -ENOMEM;
		goto out;
	}
	ret = img_read_raw(img, in, t->inq_len);
	ret = ret ?: img_read_raw(img, out, t->outq_len);
	/* before the connect in repair mode, which takes its first RTO from
	 * the namespace's TCP metrics (sk_tcp_rtt.c) */
	if (!ret && ie->state != TCP_SYN_SENT)
		ret = tcp_seed_rtt(fr, ie);
	ret = ret ?: restore_state(sk, ie, t, in, out);
out:
	if (t)
		protobuf_c_message_free_unpacked(&t->base, NULL);
	free(in);
	free(out);
	img_close(img);
	return ret;
}

static void keep_for_kick(struct files_restore *fr, int lfd);

void tcp_restore_finish(struct files_restore *fr, bool ok)
{
	(void)fr;
	/* ok: the tasks are about to run; repair off now (the window probe it
	 * sends is dropped by the lock, the retransmissions after the unlock
	 * get through).  Otherwise the sockets close in repair mode: silently. */
	for (int i = 0; ok && i < fr->nr_files; i++) {
		struct rst_file *f = &fr->rf[i];
		const InetSkEntry *ie = f->fe->isk;
		if (f->fe->type != FD_TYPES__INETSK || f->lfd < 0 || !ie || ie->type != SOCK_STREAM ||
		    !ie->dst_port || ie->state == TCP_LISTEN || ie->state == TCP_CLOSE ||
		    fr->opts->tcp_close)
			continue;
		int r = repair(f->lfd, TCP_REPAIR_OFF);
		if (r)
			pr_err("can't turn TCP repair mode off on connection %u: %s", ie->id,
			       strerror(-r));
		int v = ie->opts->reuseaddr;
		if (v && setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)))
			pr_perror("can't set SO_REUSEADDR on TCP connection %u", ie->id);
		keep_for_kick(fr, f->lfd);
	}
}

/* What the restored tasks send between their release and the unlock is
 * dropped by the lock, and a drop in the output path leaves the segment
 * unsent (tcp_write_xmit stops at a failed transmit): it would wait for
 * the next ACK from the peer (its retransmission, backed off while the
 * connection was locked) or the probe timer (the RTO, 3 s without an RTT
 * sample).  Once unlocked, an uncork pushes it at once. */
static void keep_for_kick(struct files_restore *fr, int lfd)
{
	struct inet_rst_state *s = fr->kind_state[FDK_INET];
	int *n = s ? xrealloc(s->kick, (s->nr_kick + 1) * sizeof(*n)) : NULL;
	if (!n)
		return;		/* best effort: the peer's next packet pushes it */
	s->kick = n;
	int fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0)
		s->kick[s->nr_kick++] = fd;
}

static void kick(struct inet_rst_state *s, bool push)
{
	for (int i = 0; i < s->nr_kick; i++) {
		int cork = 1;
		socklen_t l = sizeof(cork);
		/* TCP_CORK 0 pushes the pending segments (tcp_push_pending_frames);
		 * a connection the task corked keeps its data held back */
		if (push && !getsockopt(s->kick[i], SOL_TCP, TCP_CORK, &cork, &l) && !cork)
			setsockopt(s->kick[i], SOL_TCP, TCP_CORK, &cork, sizeof(cork));
		close(s->kick[i]);
	}
	if (push && s->nr_kick)
		pr_debug("pushed what the %d restored connection(s) sent while locked", s->nr_kick);
	free(s->kick);
	s->kick = NULL;
	s->nr_kick = 0;
}

void sk_inet_restore_released(struct files_restore *fr, bool ok)
{
	struct inet_rst_state *s = fr->kind_state[FDK_INET];
	if (!s)
		return;
	if (s->nr_conns && ok) {
		if ((fr->opts && fr->opts->netlock_tidy_later ? netlock_unlock_keep :
		     netlock_unlock)(s->method, s->conns, s->nr_conns))
			pr_err("the network lock of %d restored TCP connection(s) could not be "
			       "removed: see docs/tcp.md to remove it by hand", s->nr_conns);
		else
			kick(s, true);
	} else if (s->nr_conns) {
		pr_warn("restore failed: %d TCP connection(s) stay locked for another restore "
			"(docs/tcp.md says how to remove the lock)", s->nr_conns);
	}
	kick(s, false);
	free(s->socks);
	free(s->conns);
	free(s->seeded);
	free(s);
	fr->kind_state[FDK_INET] = NULL;
}
