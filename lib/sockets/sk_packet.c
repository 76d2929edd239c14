/* Packet sockets (AF_PACKET): type, protocol, the interface bound to,
 * PACKET_* options, multicast memberships and fanout, read with
 * packet_diag; restored by socket + options + bind (SOCK_PACKET sockets by
 * device name).  Queued frames are not kept.  Interfaces are found by index
 * in cryo's network namespace.  See docs/unix-sockets.md.
 *
 * Rings (PACKET_RX_RING/TX_RING): their geometry is saved and set again
 * before the bind.  The task's mapping of them (one mmap of the socket
 * covering the RX ring, then the TX ring) is a VMA_AREA_SOCKET vma whose
 * shmid is the socket's file id (packet_vma_fixup, once the fds are
 * dumped); it is mapped again from the restored socket once the task has
 * its fds (packet_vma_restore).  The frames in the rings are not kept, and
 * the kernel's position in each ring starts again at the first frame, as
 * in criu (see docs/unix-sockets.md for what that means to a program that
 * was past the first frame). */
#include "files/files-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include "packet-sock.pb-c.h"
#include "vma.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <linux/packet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pk_diag {
	uint32_t ino;
	bool found, rx_ring, tx_ring, has_fanout;
	struct packet_diag_ring rx, tx;
	uint32_t fanout;
	uint16_t num;
	struct packet_diag_info info;
	struct packet_diag_mclist mc[16];
	int nr_mc;
};

static int pk_collect(struct nlmsghdr *h, void *arg)
{
	struct pk_diag *p = arg;
	struct packet_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->pdiag_ino != p->ino)
		return 0;
	p->found = true;
	p->num = m->pdiag_num;
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t plen = RTA_PAYLOAD(a);
		switch (a->rta_type) {
		case PACKET_DIAG_INFO:
			memcpy(&p->info, RTA_DATA(a), plen < sizeof(p->info) ? plen : sizeof(p->info));
			break;
		case PACKET_DIAG_MCLIST:
			p->nr_mc = plen / sizeof(p->mc[0]);
			if (p->nr_mc > (int)ARRAY_SIZE(p->mc))
				return -E2BIG;
			memcpy(p->mc, RTA_DATA(a), p->nr_mc * sizeof(p->mc[0]));
			break;
		case PACKET_DIAG_RX_RING:
			p->rx_ring = true;
			memcpy(&p->rx, RTA_DATA(a), plen < sizeof(p->rx) ? plen : sizeof(p->rx));
			break;
		case PACKET_DIAG_TX_RING:
			p->tx_ring = true;
			memcpy(&p->tx, RTA_DATA(a), plen < sizeof(p->tx) ? plen : sizeof(p->tx));
			break;
		case PACKET_DIAG_FANOUT:
			if (plen >= 4) {
				p->has_fanout = true;
				memcpy(&p->fanout, RTA_DATA(a), 4);
			}
			break;
		}
	}
	return 0;
}

/* The packet sockets with rings seen so far: (inode, file id, ring size),
 * for packet_vma_fixup. */
struct pk_ring_sock {
	uint64_t ino;
	uint32_t id;
	uint64_t size;
};
struct pk_dump_state {
	struct pk_ring_sock *v;
	int n;
};

static void ring_entry(PacketRing *r, const struct packet_diag_ring *d)
{
	r->has_block_size = r->has_block_nr = r->has_frame_size = r->has_frame_nr = 1;
	r->has_retire_tmo = r->has_sizeof_priv = r->has_features = 1;
	r->block_size = d->pdr_block_size;
	r->block_nr = d->pdr_block_nr;
	r->frame_size = d->pdr_frame_size;
	r->frame_nr = d->pdr_frame_nr;
	r->retire_tmo = d->pdr_retire_tmo;
	r->sizeof_priv = d->pdr_sizeof_priv;
	r->features = d->pdr_features;
}

static int remember_rings(struct fd_dump *d, const struct pk_diag *p)
{
	struct pk_dump_state *s = d->fdm->kind_state[FDK_PACKET];
	if (!s) {
		s = xzalloc(sizeof(*s));
		if (!s)
			return -ENOMEM;
		d->fdm->kind_state[FDK_PACKET] = s;
	}
	struct pk_ring_sock *n = xrealloc(s->v, (s->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->v = n;
	uint64_t size = 0;
	if (p->rx_ring)
		size += (uint64_t)p->rx.pdr_block_size * p->rx.pdr_block_nr;
	if (p->tx_ring)
		size += (uint64_t)p->tx.pdr_block_size * p->tx.pdr_block_nr;
	s->v[s->n++] = (struct pk_ring_sock){ d->st.st_ino, d->id, size };
	return 0;
}

int packet_vma_fixup(struct files_dump *fdm, pid_t pid, VmaEntry *v)
{
	struct pk_dump_state *s = fdm->kind_state[FDK_PACKET];
	uint64_t ino = v->shmid;
	for (int i = 0; s && i < s->n; i++) {
		if (s->v[i].ino != ino)
			continue;
		if (v->pgoff || v->end - v->start != s->v[i].size) {
			pr_err("process %d maps %#llx bytes at offset %#llx of the rings of packet "
			       "socket %llu (0x%llx-0x%llx), not the %#llx bytes of both rings: "
			       "cryo can only map them again whole", pid,
			       (unsigned long long)(v->end - v->start),
			       (unsigned long long)v->pgoff, (unsigned long long)ino,
			       (unsigned long long)v->start, (unsigned long long)v->end,
			       (unsigned long long)s->v[i].size);
			return -EOPNOTSUPP;
		}
		v->shmid = s->v[i].id;
		return 0;
	}
	pr_err("process %d maps socket:[%llu] at 0x%llx-0x%llx, but no process of the tree has "
	       "that socket open as a packet socket with rings: cryo can only map a packet "
	       "ring again from its socket", pid, (unsigned long long)ino,
	       (unsigned long long)v->start, (unsigned long long)v->end);
	return -EOPNOTSUPP;
}

static void pk_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	(void)ok;
	(void)killed;
	struct pk_dump_state *s = fdm->kind_state[FDK_PACKET];
	if (!s)
		return;
	free(s->v);
	free(s);
	fdm->kind_state[FDK_PACKET] = NULL;
}

static int pk_dump(struct fd_dump *d)
{
	char what[96];
	snprintf(what, sizeof(what), "packet socket (" FD_FMT ")", FD_ARGS(d));
	struct {
		struct nlmsghdr h;
		struct packet_diag_req r;
	} req = {
		.h = { .nlmsg_flags = NLM_F_DUMP },
		.r = { .sdiag_family = AF_PACKET,
		       .pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_RING_CFG |
				     PACKET_SHOW_FANOUT },
	};
	struct pk_diag p = { .ino = d->st.st_ino };
	int ret = sock_diag_query(&req, sizeof(req), pk_collect, &p);
	if (ret == -E2BIG) {
		pr_err("%s has more than %zu multicast memberships", what, ARRAY_SIZE(p.mc));
		return -EOPNOTSUPP;
	}
	if (ret) {
		pr_err("%s: packet_diag query failed: %s (cryo needs CONFIG_PACKET_DIAG)", what,
		       strerror(-ret));
		return ret;
	}
	if (!p.found) {
		pr_err("%s: packet_diag does not list it: is the process in another network "
		       "namespace?", what);
		return -EOPNOTSUPP;
	}
	if ((p.rx_ring || p.tx_ring) && d->sk_type == SOCK_PACKET) {
		pr_err("%s is a SOCK_PACKET socket with a ring: the kernel has no such thing", what);
		return -EINVAL;
	}
	if (p.rx_ring || p.tx_ring) {
		ret = remember_rings(d, &p);
		if (ret)
			return ret;
	}
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	PacketSockEntry e = PACKET_SOCK_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	SkOptsEntry sko = SK_OPTS_ENTRY__INIT;
	struct skopt_mem som = { 0 };
	ret = fd_dump_fown(d, &fown);
	if (!ret)
		ret = skopt_dump(lfd, &sko, &som, what);
	PacketMclist mcl[ARRAY_SIZE(p.mc)], *mclp[ARRAY_SIZE(p.mc)];
	for (int i = 0; i < p.nr_mc; i++) {
		packet_mclist__init(&mcl[i]);
		mcl[i].has_index = mcl[i].has_type = mcl[i].has_addr = 1;
		mcl[i].index = p.mc[i].pdmc_index;
		mcl[i].type = p.mc[i].pdmc_type;
		mcl[i].addr.data = p.mc[i].pdmc_addr;
		mcl[i].addr.len = p.mc[i].pdmc_alen;
		mclp[i] = &mcl[i];
		if (p.mc[i].pdmc_count != 1) {
			pr_err("%s joined multicast list entry %d %u times: cryo keeps one", what, i,
			       p.mc[i].pdmc_count);
			ret = -EOPNOTSUPP;
		}
	}
	e.has_id = e.has_type = e.has_protocol = e.has_flags = e.has_ifindex = 1;
	e.has_version = e.has_reserve = e.has_aux_data = e.has_orig_dev = e.has_vnet_hdr = 1;
	e.has_loss = e.has_timestamp = e.has_copy_thresh = 1;
	e.id = d->id;
	e.type = d->sk_type;
	e.protocol = p.num;
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.ifindex = p.info.pdi_index;
	e.fown = &fown;
	e.opts = &sko;
	e.version = p.info.pdi_version;
	e.reserve = p.info.pdi_reserve;
	e.aux_data = !!(p.info.pdi_flags & PDI_AUXDATA);
	e.orig_dev = !!(p.info.pdi_flags & PDI_ORIGDEV);
	e.vnet_hdr = !!(p.info.pdi_flags & PDI_VNETHDR);
	e.loss = !!(p.info.pdi_flags & PDI_LOSS);
	e.timestamp = p.info.pdi_tstamp;
	e.copy_thresh = p.info.pdi_copy_thresh;
	e.mclist = mclp;
	e.n_mclist = p.nr_mc;
	/* the value: group id | type << 16 | flags << 24; a BPF program
	 * steering the group (PACKET_FANOUT_DATA) can't be read back */
	unsigned ftype = (p.fanout >> 16) & 0xff;
	if (p.has_fanout && (ftype == PACKET_FANOUT_CBPF || ftype == PACKET_FANOUT_EBPF)) {
		pr_err("%s is in a fanout group steered by a%s BPF program (PACKET_FANOUT_DATA): "
		       "the kernel can't give the program back, so cryo can't dump it", what,
		       ftype == PACKET_FANOUT_EBPF ? "n eBPF" : " classic");
		ret = -EOPNOTSUPP;
	}
	if (p.has_fanout) {
		e.has_fanout = 1;
		e.fanout = p.fanout;
	}
	PacketRing rx = PACKET_RING__INIT, tx = PACKET_RING__INIT;
	if (p.rx_ring) {
		ring_entry(&rx, &p.rx);
		e.rx_ring = &rx;
	}
	if (p.tx_ring) {
		ring_entry(&tx, &p.tx);
		e.tx_ring = &tx;
	}
	FileEntry fe = FILE_ENTRY__INIT;
	fe.psk = &e;
	if (!ret)
		ret = files_emit(d, &fe);
	skopt_mem_free(&som);
	return ret;
}

static int set_opt(int sk, int opt, unsigned v, const char *name, const char *what)
{
	int i = v;
	if (setsockopt(sk, SOL_PACKET, opt, &i, sizeof(i)))
		return_perror("%s: setsockopt(%s, %u)", what, name, v);
	return 0;
}

static int set_ring(int sk, int opt, const PacketRing *r, unsigned version, const char *what)
{
	const char *name = opt == PACKET_RX_RING ? "PACKET_RX_RING" : "PACKET_TX_RING";
	/* TPACKET_V3 takes the longer tpacket_req3 (block timeout, private
	 * area, features); V1 and V2 the plain tpacket_req */
	struct tpacket_req3 req = {
		.tp_block_size = r->block_size, .tp_block_nr = r->block_nr,
		.tp_frame_size = r->frame_size, .tp_frame_nr = r->frame_nr,
		.tp_retire_blk_tov = r->retire_tmo, .tp_sizeof_priv = r->sizeof_priv,
		.tp_feature_req_word = r->features,
	};
	socklen_t len = version == TPACKET_V3 ? sizeof(req) : sizeof(struct tpacket_req);
	if (setsockopt(sk, SOL_PACKET, opt, &req, len))
		return_perror("%s: setsockopt(%s) of %u blocks of %u bytes, %u frames of %u bytes",
			      what, name, r->block_nr, r->block_size, r->frame_nr, r->frame_size);
	return 0;
}

/* The packet options, rings, binding, memberships, fanout and the common
 * options of the new socket @sk. */
static int pk_setup(int sk, const PacketSockEntry *e, const char *what)
{
	int ret = 0;
	if (e->version)
		ret = set_opt(sk, PACKET_VERSION, e->version, "PACKET_VERSION", what);
	if (!ret && e->reserve)
		ret = set_opt(sk, PACKET_RESERVE, e->reserve, "PACKET_RESERVE", what);
	if (!ret && e->aux_data)
		ret = set_opt(sk, PACKET_AUXDATA, 1, "PACKET_AUXDATA", what);
	if (!ret && e->orig_dev)
		ret = set_opt(sk, PACKET_ORIGDEV, 1, "PACKET_ORIGDEV", what);
	if (!ret && e->vnet_hdr)
		ret = set_opt(sk, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR", what);
	if (!ret && e->loss)
		ret = set_opt(sk, PACKET_LOSS, 1, "PACKET_LOSS", what);
	if (!ret && e->timestamp)
		ret = set_opt(sk, PACKET_TIMESTAMP, e->timestamp, "PACKET_TIMESTAMP", what);
	if (!ret && e->copy_thresh)
		ret = set_opt(sk, PACKET_COPY_THRESH, e->copy_thresh, "PACKET_COPY_THRESH", what);
	/* after the version and the reserve, which a ring's layout depends on */
	if (!ret && e->rx_ring)
		ret = set_ring(sk, PACKET_RX_RING, e->rx_ring, e->version, what);
	if (!ret && e->tx_ring)
		ret = set_ring(sk, PACKET_TX_RING, e->tx_ring, e->version, what);
	if (ret)
		return ret;
	if (e->ifindex && e->type == SOCK_PACKET) {
		/* the obsolete SOCK_PACKET binds by device name, in a plain
		 * struct sockaddr (packet_bind_spkt) */
		struct sockaddr a = { .sa_family = AF_PACKET };
		char name[IF_NAMESIZE];
		if (!if_indextoname(e->ifindex, name))
			return_perror("%s: no interface with index %u in cryo's network namespace",
				      what, e->ifindex);
		size_t len = strlen(name);
		memcpy(a.sa_data, name, len < sizeof(a.sa_data) ? len : sizeof(a.sa_data));
		if (bind(sk, &a, sizeof(a)))
			return_perror("%s: bind of a SOCK_PACKET socket to %s", what, name);
	} else if (e->ifindex) {
		struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(e->protocol),
					 .sll_ifindex = e->ifindex };
		if (bind(sk, (struct sockaddr *)&a, sizeof(a)))
			return_perror("%s: bind to interface index %u (the interface must exist "
				      "in cryo's network namespace)", what, e->ifindex);
	}
	for (size_t i = 0; i < e->n_mclist; i++) {
		const PacketMclist *m = e->mclist[i];
		struct packet_mreq mr = { .mr_ifindex = m->index, .mr_type = m->type,
					  .mr_alen = m->addr.len };
		if (m->addr.len > sizeof(mr.mr_address)) {
			pr_err("%s: multicast address of %zu bytes", what, m->addr.len);
			return -EINVAL;
		}
		if (m->addr.len)
			memcpy(mr.mr_address, m->addr.data, m->addr.len);
		if (setsockopt(sk, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
			return_perror("%s: PACKET_ADD_MEMBERSHIP (interface %u type %u)", what,
				      m->index, m->type);
	}
	if (e->has_fanout && e->fanout != 0xffffffff) {
		ret = set_opt(sk, PACKET_FANOUT, e->fanout, "PACKET_FANOUT", what);
		if (ret)
			return ret;
	}
	return skopt_restore(sk, e->opts, what);
}

static int pk_open(struct files_restore *fr, struct rst_file *f)
{
	(void)fr;
	const PacketSockEntry *e = f->fe->psk;
	if (!e) {
		pr_err("files.img: packet socket file %u has no packet_sock_entry", f->fe->id);
		return -EINVAL;
	}
	char what[96];
	snprintf(what, sizeof(what), "packet socket %u (protocol %#x, interface %u)", f->fe->id,
		 e->protocol, e->ifindex);
	int sk = files_rst_socket(fr, f, AF_PACKET, e->type | SOCK_CLOEXEC, htons(e->protocol));
	if (sk < 0)
		return log_errno(sk, "%s: socket(AF_PACKET, %u) (needs CAP_NET_RAW)", what, e->type);
	return files_rst_adopt(f, sk, pk_setup(sk, e, what), e->flags, e->fown, what);
}

const struct fd_kind fdk_packet = {
	.name = "packet socket",
	.fd_type = FD_TYPES__PACKETSK,
	.dump = pk_dump,
	.open = pk_open,
	.dump_finish = pk_dump_finish,
};
