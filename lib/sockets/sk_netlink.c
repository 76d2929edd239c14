/* Netlink sockets: protocol, bound port id, multicast groups and the
 * connected destination, read with getsockname/getpeername and
 * NETLINK_LIST_MEMBERSHIPS; restored by socket + bind + memberships +
 * connect.  Queued messages are not kept (criu neither): a restored
 * socket starts with an empty queue.  See docs/unix-sockets.md. */
#include "files/files-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include "sk-netlink.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static int nl_dump(struct fd_dump *d)
{
	char what[96];
	snprintf(what, sizeof(what), "netlink socket (" FD_FMT ")", FD_ARGS(d));
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	struct sockaddr_nl self = { 0 }, peer = { 0 };
	socklen_t l = sizeof(self);
	if (getsockname(lfd, (struct sockaddr *)&self, &l))
		return_perror("%s: getsockname", what);
	l = sizeof(peer);
	if (getpeername(lfd, (struct sockaddr *)&peer, &l) && errno != ENOTCONN)
		return_perror("%s: getpeername", what);
	/* every group, beyond the 32 getsockname shows */
	uint32_t *groups = NULL;
	socklen_t glen = 0;
	if (getsockopt(lfd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, NULL, &glen))
		return_perror("%s: getsockopt(NETLINK_LIST_MEMBERSHIPS)", what);
	if (glen) {
		groups = xzalloc(glen);
		if (!groups)
			return -ENOMEM;
		if (getsockopt(lfd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &glen)) {
			free(groups);
			return_perror("%s: getsockopt(NETLINK_LIST_MEMBERSHIPS)", what);
		}
	}
	size_t ng = glen / sizeof(uint32_t);
	while (ng && !groups[ng - 1])
		ng--;
	if (d->sk_type != SOCK_RAW && d->sk_type != SOCK_DGRAM) {
		pr_err("%s is of type %d: cryo restores raw/datagram netlink sockets", what,
		       d->sk_type);
		free(groups);
		return -EOPNOTSUPP;
	}

	NetlinkSkEntry e = NETLINK_SK_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	SkOptsEntry sko = SK_OPTS_ENTRY__INIT;
	struct skopt_mem som = { 0 };
	int ret = fd_dump_fown(d, &fown);
	if (!ret)
		ret = skopt_dump(lfd, &sko, &som, what);
	if (ret) {
		free(groups);
		skopt_mem_free(&som);
		return ret;
	}
	e.has_id = e.has_ino = e.has_protocol = e.has_state = e.has_flags = 1;
	e.has_portid = e.has_dst_portid = e.has_dst_group = 1;
	e.id = d->id;
	e.ino = d->st.st_ino;
	e.protocol = d->sk_proto;
	e.dst_portid = peer.nl_pid;
	e.dst_group = peer.nl_groups;
	e.state = (peer.nl_pid || peer.nl_groups) ? 1 : 0;	/* NETLINK_CONNECTED */
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.portid = self.nl_pid;
	e.groups = groups;
	e.n_groups = ng;
	e.fown = &fown;
	e.opts = &sko;
	FileEntry fe = FILE_ENTRY__INIT;
	fe.nlsk = &e;
	ret = files_emit(d, &fe);
	if (!ret)
		pr_debug("%s: protocol %d port id %u, %zu group words", what, d->sk_proto,
			 self.nl_pid, ng);
	free(groups);
	skopt_mem_free(&som);
	return ret;
}

/* Bind (port id, groups) and connect the new socket @sk, then its options. */
static int nl_setup(int sk, const NetlinkSkEntry *e, const char *what)
{
	if (e->portid || e->n_groups) {
		/* the first 32 groups go with bind, the others one by one */
		struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = e->portid,
					 .nl_groups = e->n_groups ? e->groups[0] : 0 };
		if (bind(sk, (struct sockaddr *)&a, sizeof(a))) {
			int err = errno;
			pr_err("%s: bind: %s%s", what, strerror(err), err == EADDRINUSE ?
			       " (another socket has that port id: is the dumped process still "
			       "running?)" : "");
			return -err;
		}
		for (size_t w = 1; w < e->n_groups; w++)
			for (int b = 0; b < 32; b++) {
				if (!(e->groups[w] & (1u << b)))
					continue;
				int g = w * 32 + b + 1;
				if (setsockopt(sk, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)))
					return_perror("%s: joining group %d", what, g);
			}
	}
	if (e->state == 1) {
		struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = e->dst_portid,
					 .nl_groups = e->dst_group };
		if (connect(sk, (struct sockaddr *)&a, sizeof(a)))
			return_perror("%s: connect to port id %u group %u", what, e->dst_portid,
				      e->dst_group);
	}
	return skopt_restore(sk, e->opts, what);
}

static int nl_open(struct files_restore *fr, struct rst_file *f)
{
	(void)fr;
	const NetlinkSkEntry *e = f->fe->nlsk;
	if (!e) {
		pr_err("files.img: netlink socket file %u has no netlink_sk_entry", f->fe->id);
		return -EINVAL;
	}
	char what[96];
	snprintf(what, sizeof(what), "netlink socket %u (protocol %u, port id %u)", e->ino,
		 e->protocol, e->portid);
	/* the image has no type: raw and datagram behave the same for netlink */
	int sk = files_rst_socket(fr, f, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, e->protocol);
	if (sk < 0)
		return log_errno(sk, "%s: socket(AF_NETLINK, SOCK_RAW, %u)", what, e->protocol);
	return files_rst_adopt(f, sk, nl_setup(sk, e, what), e->flags, e->fown, what);
}

const struct fd_kind fdk_netlink = {
	.name = "netlink socket",
	.fd_type = FD_TYPES__NETLINKSK,
	.dump = nl_dump,
	.open = nl_open,
};
