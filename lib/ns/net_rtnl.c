/* rtnetlink for network namespaces: requests and dumps on a NETLINK_ROUTE
 * socket of the namespace cryo's thread is in, and iproute2's save format
 * (`ip addr save`, `ip route save`, `ip rule save`), which criu keeps in
 * ifaddr-ID.img, route-ID.img, route6-ID.img and rule-ID.img: a u32 magic,
 * then the kernel's RTM_NEW* messages as a dump returned them, each a
 * whole netlink message (header included).  cryo writes and replays the
 * same bytes itself, so criu's `ip ... restore` reads cryo's images and
 * cryo reads criu's. */
#include "ns/net-int.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* iproute2's magics (ipaddress.c, iproute.c, iprule.c) */
#define IFADDR_SAVE_MAGIC 0x47361222u
#define ROUTE_SAVE_MAGIC 0x45311224u
#define RULE_SAVE_MAGIC 0x71706986u
/* cryo's own for neigh-ID.img (iproute2 has no `ip neigh save`) */
#define NEIGH_SAVE_MAGIC 0x4e454947u

#define RTNL_BUF (64 * 1024)
#define RAW_MAX (16u << 20)	/* a saved table larger than this is damage */

static uint32_t rtnl_seq = 1;	/* only grows */

int rtnl_open(const char *where)
{
	int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sk < 0)
		return log_errno(-errno, "can't open a NETLINK_ROUTE socket in %s", where);
	return sk;
}

/* Receive until the answer to @seq ends: a dump's NLMSG_DONE (each
 * message to @cb) or a request's NLMSG_ERROR (its code, 0 for an ack). */
static int rtnl_recv(int sk, uint32_t seq, bool dump, int (*cb)(struct nlmsghdr *, void *),
		     void *arg)
{
	char *buf = xmalloc(RTNL_BUF);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	for (bool done = false; !done;) {
		ssize_t n = recv(sk, buf, RTNL_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = log_errno(-errno, "reading an rtnetlink answer failed");
			break;
		}
		if (n == 0) {
			pr_err("rtnetlink socket closed before its answer");
			ret = -EIO;
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;	/* a stale answer */
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					ret = -EIO;
				else
					ret = e->error;
				done = true;
				break;
			}
			if (!dump || !cb)
				continue;
			if (!ret)
				ret = cb(h, arg);	/* read on to the end all the same */
		}
	}
	free(buf);
	return ret;
}

/* A dump request whose header is @hdr (@hdrlen bytes), e.g. a ndmsg with
 * NTF_PROXY for the proxy neighbours */
static int rtnl_dump_hdr(int sk, int type, const void *hdr, size_t hdrlen,
			 int (*cb)(struct nlmsghdr *, void *), void *arg)
{
	struct {
		struct nlmsghdr h;
		char body[64];
	} req;
	memset(&req, 0, sizeof(req));
	if (hdrlen > sizeof(req.body))
		return -EINVAL;
	req.h.nlmsg_len = NLMSG_LENGTH(hdrlen);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = rtnl_seq++;
	memcpy(req.body, hdr, hdrlen);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(sk, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return log_errno(-errno, "sending an rtnetlink dump request (type %d) failed", type);
	return rtnl_recv(sk, req.h.nlmsg_seq, true, cb, arg);
}

int rtnl_dump(int sk, int type, int family, size_t hdrlen, int (*cb)(struct nlmsghdr *, void *),
	      void *arg)
{
	char hdr[64] = { 0 };
	if (hdrlen > sizeof(hdr))
		return -EINVAL;
	hdr[0] = family;	/* every rtnetlink header starts with its family */
	return rtnl_dump_hdr(sk, type, hdr, hdrlen, cb, arg);
}

int rtnl_talk(int sk, struct nlmsghdr *h)
{
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = rtnl_seq++;
	h->nlmsg_pid = 0;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(sk, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return log_errno(-errno, "sending an rtnetlink request (type %d) failed",
				 h->nlmsg_type);
	return rtnl_recv(sk, h->nlmsg_seq, false, NULL, NULL);
}

struct rtattr *rtnl_attr(struct rtattr *rta, int len, int type)
{
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if ((rta->rta_type & NLA_TYPE_MASK) == type)
			return rta;
	return NULL;
}

/* --- iproute2's save format --- */

struct save {
	struct cr_img *img;
	int type;			/* what a dump must hold: RTM_NEWADDR ... */
	bool routes;			/* iproute2's route filter */
	bool neigh;			/* static neighbours only */
	int n;
	int err;
};

/* `ip route save` keeps the main table's routes that were not cloned
 * (cache entries) and not the kernel's own (made for an address or a
 * link: they come back with it). */
static bool saved_route(struct nlmsghdr *h)
{
	struct rtmsg *r = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*r)))
		return false;
	unsigned table = r->rtm_table;
	struct rtattr *t = rtnl_attr(RTM_RTA(r), RTM_PAYLOAD(h), RTA_TABLE);
	if (t && RTA_PAYLOAD(t) >= 4)
		table = *(uint32_t *)RTA_DATA(t);
	return table == RT_TABLE_MAIN && !(r->rtm_flags & RTM_F_CLONED) &&
	       r->rtm_protocol != RTPROT_KERNEL;
}

/* The neighbours a user made (`ip neigh add ... nud permanent`, and
 * proxy entries: `ip neigh add proxy`), IPv4 and IPv6; the dynamic ones
 * (the kernel learns them again), NOARP ones (the kernel's own for
 * multicast and broadcast addresses) and a bridge's fdb (AF_BRIDGE) are
 * left out. */
static bool saved_neigh(struct nlmsghdr *h)
{
	struct ndmsg *n = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*n)))
		return false;
	if (n->ndm_family != AF_INET && n->ndm_family != AF_INET6)
		return false;
	return (n->ndm_flags & NTF_PROXY) || (n->ndm_state & NUD_PERMANENT);
}

static int save_one(struct nlmsghdr *h, void *arg)
{
	struct save *s = arg;
	if (h->nlmsg_type != s->type || (s->routes && !saved_route(h)) ||
	    (s->neigh && !saved_neigh(h)))
		return 0;
	s->n++;
	return img_write_raw(s->img, h, h->nlmsg_len);
}

int rtnl_save(int sk, int dirfd, enum img_type type, uint32_t id, int family)
{
	static const struct {
		enum img_type img;
		int get, new;
		size_t hdrlen;
		uint32_t magic;
	} kinds[] = {
		{ IMG_IFADDR, RTM_GETADDR, RTM_NEWADDR, sizeof(struct ifaddrmsg), IFADDR_SAVE_MAGIC },
		{ IMG_ROUTE, RTM_GETROUTE, RTM_NEWROUTE, sizeof(struct rtmsg), ROUTE_SAVE_MAGIC },
		{ IMG_ROUTE6, RTM_GETROUTE, RTM_NEWROUTE, sizeof(struct rtmsg), ROUTE_SAVE_MAGIC },
		{ IMG_RULE, RTM_GETRULE, RTM_NEWRULE, sizeof(struct fib_rule_hdr), RULE_SAVE_MAGIC },
		{ IMG_NEIGH, RTM_GETNEIGH, RTM_NEWNEIGH, sizeof(struct ndmsg), NEIGH_SAVE_MAGIC },
	};
	size_t k = 0;
	while (k < ARRAY_SIZE(kinds) && kinds[k].img != type)
		k++;
	if (k == ARRAY_SIZE(kinds))
		return -EINVAL;
	struct save s = { .type = kinds[k].new, .routes = kinds[k].get == RTM_GETROUTE,
			  .neigh = type == IMG_NEIGH };
	int ret = img_open(&s.img, dirfd, type, IMG_WRITE, id);
	if (ret)
		return ret;
	uint32_t magic = kinds[k].magic;	/* host order, as iproute2 writes it */
	ret = img_write_raw(s.img, &magic, sizeof(magic));
	if (!ret)
		ret = rtnl_dump(sk, kinds[k].get, family, kinds[k].hdrlen, save_one, &s);
	if (!ret && type == IMG_NEIGH) {	/* the proxy entries: a dump of their own */
		struct ndmsg pn = { .ndm_family = family, .ndm_flags = NTF_PROXY };
		ret = rtnl_dump_hdr(sk, RTM_GETNEIGH, &pn, sizeof(pn), save_one, &s);
	}
	if (ret && ret != -ENOMEM)
		ret = log_errno(ret, "can't save the %s of network namespace %u",
				type == IMG_IFADDR ? "addresses" : type == IMG_RULE ? "rules" :
				type == IMG_NEIGH ? "neighbours" : "routes",
				id);
	int r2 = img_close(s.img);
	if (!ret)
		pr_info("network namespace %u: %d entr%s saved into %s", id, s.n,
			s.n == 1 ? "y" : "ies", img_type_info(type)->magic_name);
	return ret ? ret : r2;
}

/* The whole raw image @type of namespace @id into *@buf (*@len bytes);
 * -ENOENT (not logged) where @missing_ok and it is absent. */
static int read_raw(int dirfd, enum img_type type, uint32_t id, bool missing_ok, char **buf,
		    size_t *len)
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, type, IMG_READ | (missing_ok ? IMG_MISSING_OK : 0), id);
	if (ret)
		return ret;
	struct stat st;
	if (fstat(img_raw_fd(img), &st)) {
		ret = log_errno(-errno, "can't stat %s", img_name(img));
		img_close(img);
		return ret;
	}
	if (st.st_size < 4 || (uint64_t)st.st_size > RAW_MAX) {
		pr_err("%s is %s: the image is damaged", img_name(img),
		       st.st_size < 4 ? "shorter than its magic" : "larger than 16 MiB");
		img_close(img);
		return -EINVAL;
	}
	*len = st.st_size;
	*buf = xmalloc(*len);
	ret = *buf ? img_read_raw(img, *buf, *len) : -ENOMEM;
	img_close(img);
	if (ret) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}

/* iproute2 restores routes in an order where each one's way exists:
 * those without a gateway (local and link routes) first. */
static bool route_pass(struct nlmsghdr *h, int pass)
{
	struct rtmsg *r = NLMSG_DATA(h);
	bool gw = rtnl_attr(RTM_RTA(r), RTM_PAYLOAD(h), RTA_GATEWAY) ||
		  rtnl_attr(RTM_RTA(r), RTM_PAYLOAD(h), RTA_MULTIPATH);
	return pass == (gw ? 1 : 0);
}

/* A dump leaves FRA_PRIORITY out of a rule of priority 0 (the "local"
 * rule), and a rule sent without one gets a priority of the kernel's
 * choosing: so it is sent with its 0, and matches the one that exists. */
static int talk_rule(int sk, struct nlmsghdr *h)
{
	struct fib_rule_hdr *r = NLMSG_DATA(h);
	if (rtnl_attr((struct rtattr *)((char *)r + NLMSG_ALIGN(sizeof(*r))),
		      h->nlmsg_len - NLMSG_LENGTH(sizeof(*r)), FRA_PRIORITY))
		return rtnl_talk(sk, h);
	size_t len = NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(sizeof(uint32_t));
	struct nlmsghdr *c = xmalloc(len);
	if (!c)
		return -ENOMEM;
	memcpy(c, h, h->nlmsg_len);
	struct rtattr *a = (struct rtattr *)((char *)c + NLMSG_ALIGN(h->nlmsg_len));
	a->rta_type = FRA_PRIORITY;
	a->rta_len = RTA_LENGTH(sizeof(uint32_t));
	memset(RTA_DATA(a), 0, sizeof(uint32_t));
	c->nlmsg_len = len;
	int ret = rtnl_talk(sk, c);
	free(c);
	return ret;
}

int rtnl_replay(int sk, int dirfd, enum img_type type, uint32_t id, bool missing_ok)
{
	char name[48];
	snprintf(name, sizeof(name), img_type_info(type)->pattern, (unsigned long)id);
	uint32_t magic;
	int new;
	size_t hdrlen;
	switch (type) {
	case IMG_IFADDR:
		magic = IFADDR_SAVE_MAGIC, new = RTM_NEWADDR, hdrlen = sizeof(struct ifaddrmsg);
		break;
	case IMG_ROUTE:
	case IMG_ROUTE6:
		magic = ROUTE_SAVE_MAGIC, new = RTM_NEWROUTE, hdrlen = sizeof(struct rtmsg);
		break;
	case IMG_RULE:
		magic = RULE_SAVE_MAGIC, new = RTM_NEWRULE, hdrlen = sizeof(struct fib_rule_hdr);
		break;
	case IMG_NEIGH:
		magic = NEIGH_SAVE_MAGIC, new = RTM_NEWNEIGH, hdrlen = sizeof(struct ndmsg);
		break;
	default:
		return -EINVAL;
	}
	char *buf = NULL;
	size_t len = 0;
	int ret = read_raw(dirfd, type, id, missing_ok, &buf, &len);
	if (ret)
		return ret == -ENOENT && missing_ok ? 0 : ret;
	if (*(uint32_t *)buf != magic) {
		pr_err("%s (of network namespace %u) does not start with iproute2's magic 0x%x: "
		       "the image is damaged", name, id, magic);
		free(buf);
		return -EINVAL;
	}
	/* check every message before sending any */
	for (size_t off = 4; off < len;) {
		struct nlmsghdr *h = (struct nlmsghdr *)(buf + off);
		if (len - off < sizeof(*h) || h->nlmsg_len < NLMSG_LENGTH(hdrlen) ||
		    h->nlmsg_len > len - off || h->nlmsg_type != new) {
			pr_err("%s (of network namespace %u): a malformed message at byte %zu: the "
			       "image is damaged", name, id, off);
			free(buf);
			return -EINVAL;
		}
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	int passes = new == RTM_NEWROUTE ? 2 : 1, n = 0;
	for (int pass = 0; !ret && pass < passes; pass++) {
		for (size_t off = 4; !ret && off < len;) {
			struct nlmsghdr *h = (struct nlmsghdr *)(buf + off);
			off += NLMSG_ALIGN(h->nlmsg_len);
			if (passes > 1 && !route_pass(h, pass))
				continue;
			/* EXCL: without it the kernel adds a second copy of a
			 * rule that exists (fib_nl_newrule) */
			h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
			ret = new == RTM_NEWRULE ? talk_rule(sk, h) : rtnl_talk(sk, h);
			/* what the kernel made by itself (lo's 127.0.0.1, the
			 * default rules) is there already: as iproute2 does */
			if (ret == -EEXIST)
				ret = 0;
			else if (ret)
				log_errno(ret, "%s (of network namespace %u): the kernel refused "
					  "the entry at byte %zu", name, id, (size_t)((char *)h - buf));
			n++;
		}
	}
	free(buf);
	if (!ret)
		pr_info("network namespace %u: %d entr%s of %s sent back", id, n, n == 1 ? "y" : "ies",
			name);
	return ret;
}
