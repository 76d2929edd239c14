/* kerndat probes for sockets and networking: sock_diag, TCP repair, socket
 * ioctls, tun, netns IDs, netfilter tools. */
#include "kerndat/kerndat-int.h"
#include "util/log.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/inet_diag.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/netlink_diag.h>
#include <linux/packet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)
#endif

/* ---- netlink helpers --------------------------------------------------------- */

static int nl_open(int proto)
{
	struct timeval tv = { KDAT_TIMEOUT_MS / 1000, 0 };
	int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);

	if (sk < 0)
		return -errno;
	setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return sk;
}

/* Send @req (a complete nlmsghdr) and read answers until DONE / an ACK or
 * error.  Returns the number of data messages (>= 0) or -errno from the
 * kernel's answer.  @cb (may be NULL) sees each data message. */
static int nl_talk(int sk, struct nlmsghdr *req, void (*cb)(struct nlmsghdr *, void *), void *arg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	static char buf[32768];
	int count = 0;

	if (sendto(sk, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(sk, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (n == 0)
			return -EIO;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != req->nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? e->error : count;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
					int err = *(int *)NLMSG_DATA(h);
					if (err < 0)
						return err;
				}
				return count;
			}
			count++;
			if (cb)
				cb(h, arg);
			if (!(h->nlmsg_flags & NLM_F_MULTI))
				return count;
		}
	}
}

/* ---- sock_diag --------------------------------------------------------------- */

static unsigned nl_seq = 1;	/* netlink sequence numbers: only ever increase */

static int diag_request(int sk, void *req, size_t len)
{
	struct {
		struct nlmsghdr h;
		char body[128];
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = NLMSG_LENGTH(len);
	m.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	m.h.nlmsg_seq = nl_seq++;
	memcpy(m.body, req, len);
	return nl_talk(sk, &m.h, NULL, NULL);
}

static void diag_result(enum kdat_feature f, int r, const char *what)
{
	if (r >= 0)
		kdat_set(f, true, "%d sockets", r);
	else if (r == -ENOENT)
		kdat_set(f, false, "%s: ENOENT: no diag handler (kernel option off or module not loaded)", what);
	else
		kdat_set(f, false, "%s: %s", what, kdat_errname(r));
}

static int inet_diag(int sk, int family, int proto)
{
	struct inet_diag_req_v2 r;

	memset(&r, 0, sizeof(r));
	r.sdiag_family = family;
	r.sdiag_protocol = proto;
	r.idiag_states = ~0U;
	if (proto == IPPROTO_RAW)
		r.pad = IPPROTO_RAW;	/* sdiag_raw_protocol of inet_diag_req_raw */
	return diag_request(sk, &r, sizeof(r));
}

void kdat_probe_sock_diag(void)
{
	static const enum kdat_feature all[] = {
		KF_SOCK_DIAG_UNIX, KF_SOCK_DIAG_TCP, KF_SOCK_DIAG_UDP, KF_SOCK_DIAG_INET6,
		KF_SOCK_DIAG_PACKET, KF_SOCK_DIAG_NETLINK, KF_SOCK_DIAG_RAW,
	};
	int sk = nl_open(NETLINK_SOCK_DIAG), r, r6;

	if (sk < 0) {
		for (size_t i = 0; i < ARRAY_SIZE(all); i++)
			kdat_set(all[i], false, "NETLINK_SOCK_DIAG socket: %s", kdat_errname(sk));
		return;
	}

	struct unix_diag_req u = { .sdiag_family = AF_UNIX, .udiag_states = ~0U, .udiag_show = UDIAG_SHOW_NAME };
	diag_result(KF_SOCK_DIAG_UNIX, diag_request(sk, &u, sizeof(u)), "unix");

	diag_result(KF_SOCK_DIAG_TCP, inet_diag(sk, AF_INET, IPPROTO_TCP), "inet tcp");
	diag_result(KF_SOCK_DIAG_UDP, inet_diag(sk, AF_INET, IPPROTO_UDP), "inet udp");

	r = inet_diag(sk, AF_INET6, IPPROTO_TCP);
	r6 = r < 0 ? r : inet_diag(sk, AF_INET6, IPPROTO_UDP);
	if (r >= 0 && r6 >= 0)
		kdat_set(KF_SOCK_DIAG_INET6, true, "%d sockets", r + r6);
	else
		diag_result(KF_SOCK_DIAG_INET6, r < 0 ? r : r6, r < 0 ? "inet6 tcp" : "inet6 udp");

	struct packet_diag_req p = { .sdiag_family = AF_PACKET, .pdiag_show = PACKET_SHOW_INFO };
	diag_result(KF_SOCK_DIAG_PACKET, diag_request(sk, &p, sizeof(p)), "packet");

	struct netlink_diag_req n = { .sdiag_family = AF_NETLINK, .sdiag_protocol = NDIAG_PROTO_ALL,
				      .ndiag_show = NDIAG_SHOW_MEMINFO };
	diag_result(KF_SOCK_DIAG_NETLINK, diag_request(sk, &n, sizeof(n)), "netlink");

	r = inet_diag(sk, AF_INET, IPPROTO_RAW);
	r6 = r < 0 ? r : inet_diag(sk, AF_INET6, IPPROTO_RAW);
	if (r >= 0 && r6 >= 0)
		kdat_set(KF_SOCK_DIAG_RAW, true, "%d sockets", r + r6);
	else
		diag_result(KF_SOCK_DIAG_RAW, r < 0 ? r : r6, r < 0 ? "raw ipv4" : "raw ipv6");
	close(sk);
}

/* ---- TCP repair ------------------------------------------------------------------ */

static const char *tcp_errname(int e)
{
	return e == EPERM ? "EPERM: needs CAP_NET_ADMIN" : kdat_errname(e);
}

/* A connected loopback pair with the client half-closed.  0 or -errno. */
static int half_closed_pair(int *cli, int *srv, int *lsn)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct pollfd pfd;
	int l, c, s;

	*cli = *srv = *lsn = -1;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	*lsn = l;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		return -errno;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c < 0)
		return -errno;
	*cli = c;
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
		return -errno;
	pfd = (struct pollfd){ l, POLLIN, 0 };
	if (poll(&pfd, 1, KDAT_TIMEOUT_MS) != 1)
		return -ETIMEDOUT;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		return -errno;
	*srv = s;
	if (shutdown(c, SHUT_WR))
		return -errno;
	/* wait for the FIN to be acked: FIN_WAIT2 */
	for (int i = 0; i < KDAT_TIMEOUT_MS; i++) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl))
			return -errno;
		if (ti.tcpi_state == TCP_FIN_WAIT2)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

void kdat_probe_tcp(void)
{
	uint32_t win[5];
	socklen_t wl = sizeof(win);
	int sk, on = 1, off = 0, cli, srv, lsn, r;

	sk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sk < 0) {
		kdat_set(KF_TCP_REPAIR, false, "TCP socket: %s", kdat_errname(errno));
		kdat_set(KF_TCP_REPAIR_WINDOW, false, "no TCP socket");
		kdat_set(KF_TCP_HALF_CLOSED, false, "no TCP socket");
		return;
	}
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on))) {
		int e = errno;
		kdat_set(KF_TCP_REPAIR, false, "TCP_REPAIR: %s", tcp_errname(e));
		kdat_set(KF_TCP_REPAIR_WINDOW, false, "no TCP_REPAIR");
		kdat_set(KF_TCP_HALF_CLOSED, false, "no TCP_REPAIR");
		close(sk);
		return;
	}
	kdat_set(KF_TCP_REPAIR, true, NULL);
	if (getsockopt(sk, IPPROTO_TCP, TCP_REPAIR_WINDOW, win, &wl))
		kdat_set(KF_TCP_REPAIR_WINDOW, false, "TCP_REPAIR_WINDOW: %s", kdat_errname(errno));
	else
		kdat_set(KF_TCP_REPAIR_WINDOW, true, NULL);
	close(sk);

	r = half_closed_pair(&cli, &srv, &lsn);
	if (r < 0)
		kdat_set(KF_TCP_HALF_CLOSED, false, "can't make a half-closed loopback connection: %s",
			 kdat_errname(r));
	else if (setsockopt(cli, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		kdat_set(KF_TCP_HALF_CLOSED, false, "TCP_REPAIR in FIN_WAIT2: %s", tcp_errname(errno));
	else {
		kdat_set(KF_TCP_HALF_CLOSED, true, NULL);
		setsockopt(cli, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	}
	if (cli >= 0)
		close(cli);
	if (srv >= 0)
		close(srv);
	if (lsn >= 0)
		close(lsn);
}

/* ---- socket ioctls and options ------------------------------------------------ */

void kdat_probe_sockopts(void)
{
	int sk, fd, v;
	socklen_t vl = sizeof(v);

	sk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0) {
		kdat_set(KF_SK_NS, false, "unix socket: %s", kdat_errname(errno));
		kdat_set(KF_SK_UNIX_FILE, false, "no unix socket");
		kdat_set(KF_SOCKOPT_BUF_LOCK, false, "no unix socket");
		return;
	}
	fd = ioctl(sk, SIOCGSKNS);
	if (fd >= 0) {
		kdat_set(KF_SK_NS, true, NULL);
		close(fd);
	} else {
		kdat_set(KF_SK_NS, false, "SIOCGSKNS: %s", errno == EPERM ? "EPERM: needs CAP_NET_ADMIN"
									   : kdat_errname(errno));
	}
	/* unbound socket: ENOENT (nothing bound) means the ioctl exists */
	fd = ioctl(sk, SIOCUNIXFILE);
	if (fd >= 0) {
		kdat_set(KF_SK_UNIX_FILE, true, NULL);
		close(fd);
	} else if (errno == ENOENT) {
		kdat_set(KF_SK_UNIX_FILE, true, NULL);
	} else {
		kdat_set(KF_SK_UNIX_FILE, false, "SIOCUNIXFILE: %s", errno == EPERM ? "EPERM: needs CAP_NET_ADMIN"
										       : kdat_errname(errno));
	}
	if (getsockopt(sk, SOL_SOCKET, SO_BUF_LOCK, &v, &vl))
		kdat_set(KF_SOCKOPT_BUF_LOCK, false, "SO_BUF_LOCK: %s", kdat_errname(errno));
	else
		kdat_set(KF_SOCKOPT_BUF_LOCK, true, NULL);
	close(sk);
}

/* ---- tun ------------------------------------------------------------------------ */

static int tun_ns_child(void *arg, int msg)
{
	struct ifreq ifr;
	int fd, ns;

	if (unshare(CLONE_NEWNET)) {
		kdat_child_msg(msg, "unshare(CLONE_NEWNET): %s", kdat_errname(errno));
		return 2;
	}
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0) {
		kdat_child_msg(msg, "open /dev/net/tun: %s", kdat_errname(errno));
		return 2;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "cryotun%d");
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		kdat_child_msg(msg, "TUNSETIFF: %s", kdat_errname(errno));
		return 2;
	}
	ns = ioctl(fd, TUNGETDEVNETNS);
	if (ns < 0) {
		kdat_child_msg(msg, "TUNGETDEVNETNS: %s", kdat_errname(errno));
		return 1;
	}
	return 0;
}

void kdat_probe_tun(void)
{
	unsigned int feat = 0;
	char msg[200];
	int fd, r;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		kdat_set(KF_TUN, false, "open /dev/net/tun: %s", kdat_errname(errno));
		kdat_set(KF_TUN_NS, false, "no /dev/net/tun");
		return;
	}
	if (ioctl(fd, TUNGETFEATURES, &feat))
		kdat_set(KF_TUN, false, "TUNGETFEATURES: %s", kdat_errname(errno));
	else
		kdat_set(KF_TUN, true, NULL);
	close(fd);
	/* a device in a throw-away network namespace (gone with the child) */
	r = kdat_run_child(tun_ns_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));
	kdat_set(KF_TUN_NS, r == 0, r ? "%s" : NULL, msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
}

/* ---- network namespace IDs, link netns IDs, IFLA_NEW_IFINDEX ----------------- */

struct nlreq {
	struct nlmsghdr h;
	char buf[1024];
};

static struct rtattr *nla_put(struct nlreq *m, int type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)&m->h + NLMSG_ALIGN(m->h.nlmsg_len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

static void nla_end(struct nlreq *m, struct rtattr *nest)
{
	nest->rta_len = (char *)&m->h + m->h.nlmsg_len - (char *)nest;
}

struct link_info {
	bool found, has_link_nsid;
	int link;
};

static void link_cb(struct nlmsghdr *h, void *arg)
{
	struct link_info *li = arg;
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));

	if (h->nlmsg_type != RTM_NEWLINK)
		return;
	li->found = true;
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_LINK_NETNSID)
			li->has_link_nsid = true;
		else if (a->rta_type == IFLA_LINK)
			li->link = *(int *)RTA_DATA(a);
	}
}

/* exit code bits: 1 = nsid ok, 2 = link_nsid ok, 4 = newifindex ok */
static int netns_child(void *arg, int msg)
{
	const int want_index = 4242;
	struct link_info li = { 0 };
	struct nlreq m;
	struct ifinfomsg *ifi;
	struct rtattr *li_nest, *data, *peer;
	int nsa, sk, r, code = 0;

	if (unshare(CLONE_NEWNET)) {
		kdat_child_msg(msg, "unshare(CLONE_NEWNET): %s", kdat_errname(errno));
		return 64;
	}
	nsa = open("/proc/self/ns/net", O_RDONLY);
	if (nsa < 0 || unshare(CLONE_NEWNET)) {
		kdat_child_msg(msg, "second netns: %s", kdat_errname(errno));
		return 64;
	}
	sk = nl_open(NETLINK_ROUTE);
	if (sk < 0) {
		kdat_child_msg(msg, "NETLINK_ROUTE: %s", kdat_errname(sk));
		return 64;
	}

	/* nsid: ask for the ID of namespace A as seen from B */
	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtgenmsg));
	m.h.nlmsg_type = RTM_GETNSID;
	m.h.nlmsg_flags = NLM_F_REQUEST;
	m.h.nlmsg_seq = 1;
	((struct rtgenmsg *)NLMSG_DATA(&m.h))->rtgen_family = AF_UNSPEC;
	nla_put(&m, NETNSA_FD, &nsa, sizeof(nsa));
	r = nl_talk(sk, &m.h, NULL, NULL);
	if (r >= 1)
		code |= 1;
	else
		kdat_child_msg(msg, "RTM_GETNSID: %s; ", r < 0 ? kdat_errname(r) : "no answer");

	/* veth pair cryo0/cryo1 here in B */
	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	m.h.nlmsg_type = RTM_NEWLINK;
	m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	m.h.nlmsg_seq = 2;
	nla_put(&m, IFLA_IFNAME, "cryo0", 6);
	li_nest = nla_put(&m, IFLA_LINKINFO, NULL, 0);
	nla_put(&m, IFLA_INFO_KIND, "veth", 5);
	data = nla_put(&m, IFLA_INFO_DATA, NULL, 0);
	peer = nla_put(&m, VETH_INFO_PEER, NULL, 0);
	ifi = (struct ifinfomsg *)((char *)&m.h + m.h.nlmsg_len);
	memset(ifi, 0, sizeof(*ifi));
	m.h.nlmsg_len += NLMSG_ALIGN(sizeof(*ifi));
	nla_put(&m, IFLA_IFNAME, "cryo1", 6);
	nla_end(&m, peer);
	nla_end(&m, data);
	nla_end(&m, li_nest);
	r = nl_talk(sk, &m.h, NULL, NULL);
	if (r < 0) {
		kdat_child_msg(msg, "can't create a veth pair: %s", kdat_errname(r));
		return code | 32;	/* link tests not possible */
	}

	/* move cryo1 to A asking for ifindex 4242 there, as restore does */
	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	m.h.nlmsg_type = RTM_SETLINK;
	m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	m.h.nlmsg_seq = 3;
	nla_put(&m, IFLA_IFNAME, "cryo1", 6);
	nla_put(&m, IFLA_NET_NS_FD, &nsa, sizeof(nsa));
	nla_put(&m, IFLA_NEW_IFINDEX, &want_index, sizeof(want_index));
	r = nl_talk(sk, &m.h, NULL, NULL);
	if (r < 0) {
		kdat_child_msg(msg, "moving a link with IFLA_NEW_IFINDEX: %s; ", kdat_errname(r));
		/* retry without it so link_nsid can still be tested */
		m.h.nlmsg_len -= RTA_ALIGN(RTA_LENGTH(sizeof(int)));
		m.h.nlmsg_seq = 4;
		r = nl_talk(sk, &m.h, NULL, NULL);
		if (r < 0) {
			kdat_child_msg(msg, "moving a link to another netns: %s", kdat_errname(r));
			return code | 32;
		}
	}

	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	m.h.nlmsg_type = RTM_GETLINK;
	m.h.nlmsg_flags = NLM_F_REQUEST;
	m.h.nlmsg_seq = 5;
	nla_put(&m, IFLA_IFNAME, "cryo0", 6);
	r = nl_talk(sk, &m.h, link_cb, &li);
	if (r < 0 || !li.found) {
		kdat_child_msg(msg, "RTM_GETLINK cryo0: %s", r < 0 ? kdat_errname(r) : "not found");
		return code | 32;
	}
	if (li.has_link_nsid)
		code |= 2;
	else
		kdat_child_msg(msg, "no IFLA_LINK_NETNSID on a veth whose peer is in another netns; ");
	if (li.link == want_index)
		code |= 4;
	else
		kdat_child_msg(msg, "peer got ifindex %d instead of %d", li.link, want_index);
	return code;	/* both namespaces and the veth pair die with us */
}

void kdat_probe_netns_links(void)
{
	char msg[200];
	int r = kdat_run_child(netns_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));

	if (r < 0 || r & 64) {
		const char *why = msg[0] ? msg : kdat_errname(r < 0 ? r : EIO);
		kdat_set(KF_NSID, false, "can't test: %s", why);
		kdat_set(KF_LINK_NSID, false, "can't test: %s", why);
		kdat_set(KF_NEWIFINDEX, false, "can't test: %s", why);
		return;
	}
	kdat_set(KF_NSID, r & 1, (r & 1) ? NULL : "%s", msg);
	if (r & 32) {
		kdat_set(KF_LINK_NSID, false, "can't test: %s", msg);
		kdat_set(KF_NEWIFINDEX, false, "can't test: %s", msg);
		return;
	}
	kdat_set(KF_LINK_NSID, r & 2, (r & 2) ? NULL : "%s", msg);
	kdat_set(KF_NEWIFINDEX, r & 4, (r & 4) ? NULL : "%s", msg);
}

/* ---- netfilter tools ------------------------------------------------------------- */

/* Find @name in $PATH and the sbin directories; NULL when absent. */
static const char *find_tool(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[1024];

	snprintf(dirs, sizeof(dirs), "%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin", path ? path : "");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (!*d)
			continue;
		snprintf(out, len, "%s/%s", d, name);
		if (access(out, X_OK) == 0)
			return out;
	}
	return NULL;
}

/* Run "@tool --version" (output discarded), bounded.  0 when it exits 0. */
static int run_version(const char *tool)
{
	int st, r;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execl(tool, tool, "--version", (char *)NULL);
		_exit(127);
	}
	r = kdat_wait(pid, &st, KDAT_TIMEOUT_MS);
	if (r < 0)
		return r;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static void probe_tool(enum kdat_feature f, const char *a, const char *b)
{
	char pa[512], pb[512];
	const char *ta = find_tool(a, pa, sizeof(pa));
	const char *tb = b ? find_tool(b, pb, sizeof(pb)) : NULL;

	if (!ta) {
		kdat_set(f, false, "%s not found in PATH", a);
	} else if (b && !tb) {
		kdat_set(f, false, "%s not found in PATH", b);
	} else if (run_version(ta) || (tb && run_version(tb))) {
		kdat_set(f, false, "%s --version failed", run_version(ta) ? ta : tb);
	} else {
		kdat_set(f, true, "%s%s%s", ta, tb ? ", " : "", tb ? tb : "");
	}
}

void kdat_probe_netfilter(void)
{
	probe_tool(KF_NFTABLES, "nft", NULL);
	probe_tool(KF_IPTABLES, "iptables", "ip6tables");
	probe_tool(KF_IPT_LEGACY, "iptables-legacy", NULL);
}
