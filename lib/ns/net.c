/* Network namespaces: what cryo saves of one and makes again (criu's
 * images and layouts):
 *   netdev-ID.img  its devices (NetDeviceEntry: the loopback device's
 *                  flags and MTU, and its ipv4/ipv6 conf sysctls);
 *   netns-ID.img   its sysctls (NetnsEntry: net.ipv4.conf.{all,default},
 *                  net.ipv6.conf.{all,default}, net.unix.max_dgram_qlen;
 *                  net.core.somaxconn and a few net.ipv4 sysctls (ping
 *                  sockets, non-local binds) in fields of cryo's own);
 *   ifaddr-ID.img, route-ID.img, route6-ID.img, rule-ID.img
 *                  addresses, routes and rules in iproute2's save format
 *                  (net_rtnl.c).
 * With --empty-ns net none of these is saved (an empty netns-ID.img, as
 * criu's) and the restore makes a bare namespace with lo up.
 * cryo's thread enters the namespace (setns: per thread) and reads it from
 * inside, through rtnetlink and /proc/sys/net, which show the namespace of
 * the thread that opens them.  lo, veth (net_veth.c), bridge, macvlan and
 * tun/tap devices (net_link.c) are saved; devices of other kinds are
 * refused by name at dump, except the fallback tunnels the kernel puts in
 * every new namespace.  Static neighbours: neigh-ID.img (net_rtnl.c). */
#include "ns/net-int.h"
#include "images/image.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netdev.pb-c.h"

/* criu's lists (net.c devconfs4, devconfs6): an image keeps the values in
 * this order, by position, so neither list may be reordered */
static const char *const conf4_names[] = {
	"accept_local", "accept_redirects", "accept_source_route", "arp_accept",
	"arp_announce", "arp_filter", "arp_ignore", "arp_notify", "bootp_relay",
	"disable_policy", "disable_xfrm", "force_igmp_version", "forwarding",
	"igmpv2_unsolicited_report_interval", "igmpv3_unsolicited_report_interval",
	"log_martians", "medium_id", "promote_secondaries", "proxy_arp", "proxy_arp_pvlan",
	"route_localnet", "rp_filter", "secure_redirects", "send_redirects", "shared_media",
	"src_valid_mark", "tag", "ignore_routes_with_linkdown", "drop_gratuitous_arp",
	"drop_unicast_in_l2_multicast",
};
static const char *const conf6_names[] = {
	"accept_dad", "accept_ra", "accept_ra_defrtr", "accept_ra_from_local",
	"accept_ra_min_hop_limit", "accept_ra_mtu", "accept_ra_pinfo",
	"accept_ra_rt_info_max_plen", "accept_ra_rtr_pref", "accept_redirects",
	"accept_source_route", "autoconf", "dad_transmits", "disable_ipv6",
	"drop_unicast_in_l2_multicast", "drop_unsolicited_na", "force_mld_version",
	"force_tllao", "forwarding", "hop_limit", "ignore_routes_with_linkdown",
	"keep_addr_on_down", "max_addresses", "max_desync_factor",
	"mldv1_unsolicited_report_interval", "mldv2_unsolicited_report_interval", "mtu",
	"ndisc_notify", "optimistic_dad", "proxy_ndp", "regen_max_retry",
	"router_probe_interval", "router_solicitation_delay", "router_solicitation_interval",
	"router_solicitations", "stable_secret", "suppress_frag_ndisc", "temp_prefered_lft",
	"temp_valid_lft", "use_oif_addrs_only", "use_optimistic", "use_tempaddr",
};
static const char *const unix_names[] = { "max_dgram_qlen" };
static const char *const core_names[] = { "somaxconn" };
/* net.ipv4 sysctls a socket's restore depends on: ping sockets need the
 * group range, binds a non-local address (ip_nonlocal_bind) */
static const char *const ipv4_names[] = { "ping_group_range", "ip_local_port_range",
					  "ip_unprivileged_port_start", "ip_nonlocal_bind" };

#define STR_MAX 200	/* criu's MAX_STR_CONF_LEN */

static bool has_ipv6(void)
{
	return access("/proc/sys/net/ipv6", F_OK) == 0;
}

/* --- sysctls under /proc/sys/net (the calling thread's namespace) --- */

/* Read /proc/sys/net/@dir/@name into @buf; -ENOENT where the kernel has
 * no such sysctl, -EIO where it has no value (ipv6 stable_secret unset). */
static int sysctl_get(const char *dir, const char *name, char *buf, size_t size)
{
	char path[160];
	snprintf(path, sizeof(path), "/proc/sys/net/%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int sysctl_set(const char *dir, const char *name, const char *val)
{
	char path[160];
	snprintf(path, sizeof(path), "/proc/sys/net/%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open %s in the restored network namespace", path);
	ssize_t n = write(fd, val, strlen(val));
	int e = n < 0 ? errno : EIO;
	close(fd);
	if (n != (ssize_t)strlen(val))
		return log_errno(-e, "can't set %s to \"%s\" in the restored network namespace",
				 path, val);
	pr_debug("network namespace: %s = %s", path, val);
	return 0;
}

/* A list of sysctl entries as criu lays it out: one per name, by position;
 * a sysctl the kernel lacks keeps no value. */
struct sysctls {
	size_t n;
	SysctlEntry **p;
	SysctlEntry *e;
	char (*str)[STR_MAX + 1];
};

static void sysctls_free(struct sysctls *s)
{
	free(s->p);
	free(s->e);
	free(s->str);
	memset(s, 0, sizeof(*s));
}

static bool is_str(const char *name)
{
	/* (the ranges: two numbers, kept as the kernel writes them) */
	return !strcmp(name, "stable_secret") || !strcmp(name, "ping_group_range") ||
	       !strcmp(name, "ip_local_port_range");
}

static int sysctls_read(struct sysctls *s, const char *dir, const char *const *names, size_t n)
{
	s->n = n;
	s->p = xmalloc(n * sizeof(*s->p));
	s->e = xmalloc(n * sizeof(*s->e));
	s->str = xmalloc(n * sizeof(*s->str));
	if (!s->p || !s->e || !s->str) {
		sysctls_free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		SysctlEntry *e = &s->e[i];
		sysctl_entry__init(e);
		s->p[i] = e;
		e->has_type = true;
		e->type = is_str(names[i]) ? SYSCTL_TYPE__CTL_STR : SYSCTL_TYPE__CTL_32;
		int ret = sysctl_get(dir, names[i], s->str[i], sizeof(s->str[i]));
		if (ret == -ENOENT || (ret == -EIO && is_str(names[i])))
			continue;	/* none: no value, as criu marks it */
		if (ret) {
			sysctls_free(s);
			return log_errno(ret, "can't read net.%s.%s", dir, names[i]);
		}
		if (is_str(names[i])) {
			e->sarg = s->str[i];
			continue;
		}
		char *end;
		long v = strtol(s->str[i], &end, 10);
		if (end == s->str[i] || *end) {
			pr_err("net.%s.%s reads \"%s\", not a number", dir, names[i], s->str[i]);
			sysctls_free(s);
			return -EINVAL;
		}
		e->has_iarg = true;
		e->iarg = v;
	}
	return 0;
}

static int sysctl_restore(const SysctlEntry *e, const char *dir, const char *name)
{
	char want[STR_MAX + 16], now[STR_MAX + 1];
	if (!e || !e->has_type)
		return 0;
	if (e->type == SYSCTL_TYPE__CTL_32 && e->has_iarg)
		snprintf(want, sizeof(want), "%d", e->iarg);
	else if (e->type == SYSCTL_TYPE__CTL_STR && e->sarg)
		snprintf(want, sizeof(want), "%s", e->sarg);
	else
		return 0;	/* no value saved: the kernel had none */
	int ret = sysctl_get(dir, name, now, sizeof(now));
	if (ret == -ENOENT) {
		pr_err("net.%s.%s was %s at the dump, and this kernel has no such sysctl", dir,
		       name, want);
		return ret;
	}
	if (!ret && !strcmp(now, want))
		return 0;
	return sysctl_set(dir, name, want);
}

/* Set each value of @e (criu's order, @names) that differs from the
 * namespace's; accept_redirects last, after forwarding, which resets it. */
static int sysctls_write(SysctlEntry **e, size_t n, const char *dir, const char *const *names,
			 size_t nnames)
{
	if (n > nnames)
		pr_warn("net.%s: the image has %zu values, cryo knows %zu sysctls: the others are "
			"left as they are", dir, n, nnames);
	size_t m = n < nnames ? n : nnames;
	int last = -1;
	for (size_t i = 0; i < m; i++) {
		if (!strcmp(names[i], "accept_redirects")) {
			last = i;
			continue;
		}
		int ret = sysctl_restore(e[i], dir, names[i]);
		if (ret)
			return ret;
	}
	return last < 0 ? 0 : sysctl_restore(e[last], dir, names[last]);
}

/* --- dump --- */

struct links {
	struct link *v;
	int n;
};

static int collect_link(struct nlmsghdr *h, void *arg)
{
	struct links *l = arg;
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	struct link k = { .index = ifi->ifi_index, .flags = ifi->ifi_flags, .type = ifi->ifi_type };
	int len = IFLA_PAYLOAD(h);
	struct rtattr *a = rtnl_attr(IFLA_RTA(ifi), len, IFLA_IFNAME);
	if (a)
		snprintf(k.name, sizeof(k.name), "%.*s", (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
	if ((a = rtnl_attr(IFLA_RTA(ifi), len, IFLA_MTU)) && RTA_PAYLOAD(a) >= 4)
		k.mtu = *(uint32_t *)RTA_DATA(a);
	if ((a = rtnl_attr(IFLA_RTA(ifi), len, IFLA_ADDRESS)) && RTA_PAYLOAD(a) <= sizeof(k.addr)) {
		k.addr_len = RTA_PAYLOAD(a);
		memcpy(k.addr, RTA_DATA(a), k.addr_len);
	}
	if ((a = rtnl_attr(IFLA_RTA(ifi), len, IFLA_LINK)) && RTA_PAYLOAD(a) >= 4)
		k.link = *(int32_t *)RTA_DATA(a);
	k.peer_elsewhere = rtnl_attr(IFLA_RTA(ifi), len, IFLA_LINK_NETNSID) != NULL;
	if ((a = rtnl_attr(IFLA_RTA(ifi), len, IFLA_MASTER)) && RTA_PAYLOAD(a) >= 4)
		k.master = *(uint32_t *)RTA_DATA(a);
	if ((a = rtnl_attr(IFLA_RTA(ifi), len, IFLA_LINKINFO))) {
		struct rtattr *kind = rtnl_attr(RTA_DATA(a), RTA_PAYLOAD(a), IFLA_INFO_KIND);
		if (kind)
			snprintf(k.kind, sizeof(k.kind), "%.*s", (int)RTA_PAYLOAD(kind),
				 (char *)RTA_DATA(kind));
		struct rtattr *data = rtnl_attr(RTA_DATA(a), RTA_PAYLOAD(a), IFLA_INFO_DATA);
		if (data && RTA_PAYLOAD(data) <= sizeof(k.info)) {
			k.info_len = RTA_PAYLOAD(data);
			memcpy(k.info, RTA_DATA(data), k.info_len);
		}
	}
	struct link *v = xrealloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n++] = k;
	return 0;
}

/* The fallback devices a tunnel module puts in every new network
 * namespace (sit0, tunl0, ...): made again by the kernel, not by cryo. */
static bool fallback_tunnel(const struct link *k)
{
	static const char *const names[][2] = {
		{ "sit", "sit0" }, { "ipip", "tunl0" }, { "ip6tnl", "ip6tnl0" }, { "gre", "gre0" },
		{ "gretap", "gretap0" }, { "erspan", "erspan0" }, { "ip6gre", "ip6gre0" },
		{ "ip6gretap", "ip6gretap0" }, { "ip6erspan", "ip6erspan0" },
		{ "vti", "ip_vti0" }, { "vti6", "ip6_vti0" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(k->kind, names[i][0]) && !strcmp(k->name, names[i][1]))
			return true;
	return false;
}

/* A veth whose peer is in another namespace (the host end): saved, and
 * made again at restore with the peer named by --external veth[IN]:OUT. */
static bool outside_veth(const struct link *k)
{
	return !strcmp(k->kind, "veth") && k->peer_elsewhere;
}

/* A veth pair with both ends in the namespace: each end saved with its
 * peer's index and this namespace's id (criu's peer_nsid), the pair made
 * again inside it. */
static bool inside_veth(const struct link *k)
{
	return !strcmp(k->kind, "veth") && !k->peer_elsewhere && k->link > 0;
}

static int dump_device(struct cr_img *img, const struct link *k, uint32_t id, pid_t pid)
{
	NetDeviceEntry e = NET_DEVICE_ENTRY__INIT;
	struct sysctls c4 = { 0 }, c6 = { 0 };
	char dir4[IFNAMSIZ + 16], dir6[IFNAMSIZ + 16];
	snprintf(dir4, sizeof(dir4), "ipv4/conf/%s", k->name);
	snprintf(dir6, sizeof(dir6), "ipv6/conf/%s", k->name);
	int ret = sysctls_read(&c4, dir4, conf4_names, ARRAY_SIZE(conf4_names));
	if (!ret)
		ret = sysctls_read(&c6, dir6, conf6_names, ARRAY_SIZE(conf6_names));
	struct netdev_other x;
	bool other = k->type != ARPHRD_LOOPBACK && netdev_other_supported(k);
	if (!ret && other)	/* its type and the kind's sub-message */
		ret = netdev_other_fill(k, &e, &x, pid);
	if (!ret) {
		e.has_type = e.has_ifindex = e.has_mtu = e.has_flags = true;
		if (!other)
			e.type = k->type == ARPHRD_LOOPBACK ? ND_TYPE__LOOPBACK : ND_TYPE__VETH;
		e.ifindex = k->index;
		e.mtu = k->mtu;
		e.flags = k->flags;
		e.name = (char *)k->name;
		if (e.type != ND_TYPE__LOOPBACK && k->addr_len) {	/* as criu: not lo's */
			e.has_address = true;
			e.address.data = (uint8_t *)k->addr;
			e.address.len = k->addr_len;
		}
		if (k->master) {	/* a bridge's port: criu's master */
			e.has_master = true;
			e.master = k->master;
		}
		if (k->link && !other) {	/* the peer: outside the dump, or in this namespace */
			e.has_peer_ifindex = true;
			e.peer_ifindex = k->link;
		}
		if (inside_veth(k)) {
			e.has_peer_nsid = true;
			e.peer_nsid = id;
		}
		e.n_conf4 = c4.n;
		e.conf4 = c4.p;
		e.n_conf6 = c6.n;
		e.conf6 = c6.p;
		ret = img_write_msg(img, &e.base);
	}
	if (!ret)
		pr_info("network namespace %u: device %s (index %d, flags 0x%x, mtu %u)", id, k->name,
			k->index, k->flags, k->mtu);
	sysctls_free(&c4);
	sysctls_free(&c6);
	return ret;
}

static int dump_devices(int sk, int dirfd, uint32_t id, pid_t pid)
{
	struct links l = { 0 };
	struct cr_img *img = NULL;
	int ret = rtnl_dump(sk, RTM_GETLINK, AF_UNSPEC, sizeof(struct ifinfomsg), collect_link, &l);
	if (ret) {
		free(l.v);
		return ret == -ENOMEM ? ret : log_errno(ret, "can't list the network devices of "
							"process %d's namespace", pid);
	}
	/* every device is checked before anything is written */
	for (int i = 0; i < l.n; i++) {
		const struct link *k = &l.v[i];
		if (k->type == ARPHRD_LOOPBACK || fallback_tunnel(k) || outside_veth(k) ||
		    inside_veth(k) || netdev_other_supported(k))
			continue;
		pr_err("the network namespace of process %d has device %s (%s): cryo restores a "
		       "network namespace with its loopback, veth, bridge, macvlan and tun/tap "
		       "devices only, not devices of this kind yet; remove the device before the "
		       "dump, or keep the namespace out of the dump (--external net[INODE]:KEY, or "
		       "run cryo inside it: nsenter --net=/proc/%d/ns/net cryo dump ...)", pid, k->name,
		       k->kind[0] ? k->kind : "no kind", pid);
		free(l.v);
		return -EOPNOTSUPP;
	}
	ret = img_open(&img, dirfd, IMG_NETDEV, IMG_WRITE, id);
	for (int i = 0; !ret && i < l.n; i++)
		if (l.v[i].type == ARPHRD_LOOPBACK || outside_veth(&l.v[i]) ||
		    inside_veth(&l.v[i]) || netdev_other_supported(&l.v[i]))
			ret = dump_device(img, &l.v[i], id, pid);
	int r2 = img ? img_close(img) : 0;
	free(l.v);
	return ret ? ret : r2;
}

static int dump_conf(int dirfd, uint32_t id)
{
	NetnsEntry e = NETNS_ENTRY__INIT;
	struct sysctls s[7] = { 0 };
	int ret = sysctls_read(&s[0], "ipv4/conf/default", conf4_names, ARRAY_SIZE(conf4_names));
	if (!ret)
		ret = sysctls_read(&s[1], "ipv4/conf/all", conf4_names, ARRAY_SIZE(conf4_names));
	if (!ret)
		ret = sysctls_read(&s[2], "ipv6/conf/default", conf6_names, ARRAY_SIZE(conf6_names));
	if (!ret)
		ret = sysctls_read(&s[3], "ipv6/conf/all", conf6_names, ARRAY_SIZE(conf6_names));
	if (!ret)
		ret = sysctls_read(&s[4], "unix", unix_names, ARRAY_SIZE(unix_names));
	if (!ret)
		ret = sysctls_read(&s[5], "core", core_names, ARRAY_SIZE(core_names));
	if (!ret)
		ret = sysctls_read(&s[6], "ipv4", ipv4_names, ARRAY_SIZE(ipv4_names));
	if (!ret) {
		e.n_def_conf4 = s[0].n, e.def_conf4 = s[0].p;
		e.n_all_conf4 = s[1].n, e.all_conf4 = s[1].p;
		e.n_def_conf6 = s[2].n, e.def_conf6 = s[2].p;
		e.n_all_conf6 = s[3].n, e.all_conf6 = s[3].p;
		e.n_unix_conf = s[4].n, e.unix_conf = s[4].p;
		e.n_cryo_core_conf = s[5].n, e.cryo_core_conf = s[5].p;
		e.n_cryo_ipv4_conf = s[6].n, e.cryo_ipv4_conf = s[6].p;
		struct cr_img *img;
		ret = img_open(&img, dirfd, IMG_NETNS, IMG_WRITE, id);
		if (!ret) {
			ret = img_write_msg(img, &e.base);
			int r2 = img_close(img);
			ret = ret ? ret : r2;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(s); i++)
		sysctls_free(&s[i]);
	return ret;
}

/* --external net[INODE]:KEY names the namespace of inode @ino: KEY (in
 * the option's string), or NULL. */
static const char *external_key(const struct ns_dump *st, uint64_t ino)
{
	char want[48];
	int n = snprintf(want, sizeof(want), "net[%llu]:", (unsigned long long)ino);
	for (int i = 0; st->external && i < st->external->n; i++)
		if (!strncmp(st->external->v[i], want, n) && st->external->v[i][n])
			return st->external->v[i] + n;
	return NULL;
}

/* An external namespace: netns-ID.img with its key only (criu's form);
 * the restore is given one to join (lib/ns/join.c). */
static int dump_external(const struct ns_dump *st, uint32_t id, const char *key, pid_t pid)
{
	NetnsEntry e = NETNS_ENTRY__INIT;
	struct cr_img *img;
	e.ext_key = (char *)key;
	int ret = img_open(&img, st->dirfd, IMG_NETNS, IMG_WRITE, id);
	if (ret)
		return ret;
	ret = img_write_msg(img, &e.base);
	int r2 = img_close(img);
	if (!ret)
		pr_info("network namespace %u (of process %d) is external (%s): nothing of it saved",
			id, pid, key);
	return ret ? ret : r2;
}

/* --empty-ns net: nothing of the tree's network namespace is saved (the
 * runtime that made it makes it again), only an empty netns-ID.img, as
 * criu writes one (a restore without --empty-ns refuses it by that). */
static bool empty_net(const struct ns_dump *st)
{
	return st->opts && st->opts->empty_ns_net;
}

static int dump_empty(const struct ns_dump *st, uint32_t id, pid_t pid)
{
	struct cr_img *img;
	int ret = img_open(&img, st->dirfd, IMG_NETNS, IMG_WRITE, id);
	if (ret)
		return ret;
	ret = img_close(img);
	if (!ret)
		pr_info("network namespace %u (of process %d): --empty-ns net, its contents are "
			"not saved", id, pid);
	return ret;
}

int netns_dump_entered(struct ns_dump *st, uint64_t ino)
{
	uint32_t id;
	bool fresh;
	if (external_key(st, ino) || empty_net(st))
		return 0;
	int ret = ns_dump_id(st, NS_NET, ino, &id, &fresh);
	return ret ? ret : netns_dump_tables(st->dirfd, id, has_ipv6());
}

int netns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id)
{
	char path[48];
	struct stat sb;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (stat(path, &sb))
		return log_errno(-errno, "can't read the network namespace of process %d (%s)", pid,
				 path);
	const char *key = external_key(st, sb.st_ino);
	if (key)
		return dump_external(st, id, key, pid);
	if (empty_net(st))
		return dump_empty(st, id, pid);
	int back, ret = ns_enter_pid(d, pid, &back);
	if (ret)
		return ret;
	int sk = rtnl_open("the network namespace being dumped");
	ret = sk < 0 ? sk : dump_devices(sk, st->dirfd, id, pid);
	if (!ret)
		ret = dump_conf(st->dirfd, id);
	if (!ret)
		ret = rtnl_save(sk, st->dirfd, IMG_IFADDR, id, AF_UNSPEC);
	if (!ret)
		ret = rtnl_save(sk, st->dirfd, IMG_ROUTE, id, AF_INET);
	if (!ret && has_ipv6())	/* as criu: no route6 image without IPv6 */
		ret = rtnl_save(sk, st->dirfd, IMG_ROUTE6, id, AF_INET6);
	/* IPv6 rules too (criu's `ip rule save` has IPv4 only): `ip rule
	 * restore` replays each message with its own family, so criu restores
	 * this image as well */
	if (!ret)
		ret = rtnl_save(sk, st->dirfd, IMG_RULE, id, has_ipv6() ? AF_UNSPEC : AF_INET);
	if (!ret)	/* static neighbours (cryo's image: criu saves none) */
		ret = rtnl_save(sk, st->dirfd, IMG_NEIGH, id, AF_UNSPEC);
	if (sk >= 0)
		close(sk);
	int r2 = ns_leave(d, back);
	if (!ret)
		pr_info("network namespace %u (of process %d) saved", id, pid);
	return ret ? ret : r2;
}

/* --- restore --- */

static void add_attr(struct nlmsghdr *h, size_t cap, int type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
	if (NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len) > cap)
		return;	/* cannot happen: the callers' buffers fit their attributes */
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* A device as it was: made (veth, bridge, macvlan, tun; lo exists), then
 * its MTU, flags (up), name and address set by its index, which the
 * addresses and routes of the images name it by (lo's: 1 in every
 * namespace). */
static int restore_device(int sk, int host_sk, const struct ns_set *set, const NetDeviceEntry *e,
			  uint32_t id)
{
	if (!e->name || !e->has_ifindex || !e->has_flags || !e->has_type) {
		pr_err("netdev-%u.img: a device without its name, index, type or flags: the image "
		       "is damaged", id);
		return -EINVAL;
	}
	if (e->type == ND_TYPE__VETH) {
		int ret = e->has_peer_nsid && e->peer_nsid == id ? veth_create_inside(sk, e, id) :
								     veth_create(host_sk, e, set, id);
		if (ret)
			return ret;
	} else if (e->type != ND_TYPE__LOOPBACK) {	/* bridge, macvlan, tun (net_link.c) */
		int ret = netdev_other_create(sk, host_sk, set, e, id);
		if (ret)
			return ret;
	}
	if (e->type == ND_TYPE__LOOPBACK && if_nametoindex(e->name) != e->ifindex) {
		pr_err("netdev-%u.img: the loopback device %s had index %u, in the new namespace "
		       "it is %u: its addresses and routes would not find it", id, e->name,
		       e->ifindex, if_nametoindex(e->name));
		return -EOPNOTSUPP;
	}
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
		char attrs[128];
	} req;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
	req.h.nlmsg_type = RTM_NEWLINK;
	req.i.ifi_family = AF_UNSPEC;
	req.i.ifi_index = e->ifindex;
	req.i.ifi_flags = e->flags;
	/* the flags a user sets; the kernel keeps the rest (RUNNING, ...) */
	/* (a veth's address came with its creation) */
	req.i.ifi_change = IFF_UP | IFF_NOARP | IFF_PROMISC | IFF_ALLMULTI | IFF_MULTICAST |
			   IFF_DEBUG | IFF_DYNAMIC;
	if (e->has_mtu)
		add_attr(&req.h, sizeof(req), IFLA_MTU, &e->mtu, sizeof(e->mtu));
	/* the second end of a veth pair made inside was made with a name of
	 * cryo's (veth_create_inside): its own now, while it is down (a new
	 * name is set before the flags), with its address */
	if (e->type != ND_TYPE__LOOPBACK) {
		add_attr(&req.h, sizeof(req), IFLA_IFNAME, e->name, strlen(e->name) + 1);
		if (e->has_address && e->address.len <= 32)
			add_attr(&req.h, sizeof(req), IFLA_ADDRESS, e->address.data, e->address.len);
	}
	int ret = rtnl_talk(sk, &req.h);
	if (ret)
		return log_errno(ret, "can't set device %s (index %u, flags 0x%x, mtu %u) in the "
				 "restored network namespace", e->name, e->ifindex, e->flags, e->mtu);
	if (if_nametoindex(e->name) != e->ifindex) {
		pr_err("netdev-%u.img: device %s had index %u, in the new namespace it is %u: its "
		       "addresses and routes would not find it", id, e->name, e->ifindex,
		       if_nametoindex(e->name));
		return -EOPNOTSUPP;
	}
	char dir[IFNAMSIZ + 16];
	snprintf(dir, sizeof(dir), "ipv4/conf/%s", e->name);
	ret = sysctls_write(e->conf4, e->n_conf4, dir, conf4_names, ARRAY_SIZE(conf4_names));
	snprintf(dir, sizeof(dir), "ipv6/conf/%s", e->name);
	if (!ret && has_ipv6())
		ret = sysctls_write(e->conf6, e->n_conf6, dir, conf6_names, ARRAY_SIZE(conf6_names));
	return ret;
}

static int restore_devices(int sk, int host_sk, const struct ns_set *set, int dirfd, uint32_t id)
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, IMG_NETDEV, IMG_READ, id);
	if (ret)
		return ret;
	for (;;) {
		NetDeviceEntry *e;
		ret = img_read_msg(img, &net_device_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			break;
		ret = restore_device(sk, host_sk, set, e, id);
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (ret)
			break;
	}
	img_close(img);
	return ret;
}

static int restore_conf(int dirfd, uint32_t id)
{
	struct cr_img *img;
	NetnsEntry *e;
	int ret = img_open(&img, dirfd, IMG_NETNS, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_msg(img, &netns_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		pr_err("netns-%u.img is empty: the dump was made with --empty-ns net and saved "
		       "nothing of the tree's network namespace; restore with --empty-ns net (a "
		       "new namespace with only its loopback device up, for the runtime to "
		       "configure)", id);
		return -EINVAL;
	}
	if (e->ext_key) {
		pr_err("netns-%u.img: the namespace was external at the dump (%s), it can only be "
		       "joined (a bug: ns_restore_joins should have)", id, e->ext_key);
		ret = -EINVAL;
	} else if (e->n_def_conf || e->n_all_conf) {
		pr_err("netns-%u.img has the old int32 form of the ipv4 sysctls (criu before 3.x): "
		       "cryo reads only the sysctl_entry form", id);
		ret = -EOPNOTSUPP;
	} else {
		/* "all" first: setting all.forwarding resets every device's
		 * and the default's */
		ret = sysctls_write(e->all_conf4, e->n_all_conf4, "ipv4/conf/all", conf4_names,
				    ARRAY_SIZE(conf4_names));
		if (!ret)
			ret = sysctls_write(e->def_conf4, e->n_def_conf4, "ipv4/conf/default",
					    conf4_names, ARRAY_SIZE(conf4_names));
		if (!ret && has_ipv6())
			ret = sysctls_write(e->all_conf6, e->n_all_conf6, "ipv6/conf/all",
					    conf6_names, ARRAY_SIZE(conf6_names));
		if (!ret && has_ipv6())
			ret = sysctls_write(e->def_conf6, e->n_def_conf6, "ipv6/conf/default",
					    conf6_names, ARRAY_SIZE(conf6_names));
		if (!ret)
			ret = sysctls_write(e->unix_conf, e->n_unix_conf, "unix", unix_names,
					    ARRAY_SIZE(unix_names));
		if (!ret)
			ret = sysctls_write(e->cryo_core_conf, e->n_cryo_core_conf, "core",
					    core_names, ARRAY_SIZE(core_names));
		if (!ret)
			ret = sysctls_write(e->cryo_ipv4_conf, e->n_cryo_ipv4_conf, "ipv4",
					    ipv4_names, ARRAY_SIZE(ipv4_names));
	}
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}

/* --empty-ns net at restore: the new namespace gets nothing from the
 * images.  Its loopback device is brought up (the kernel then gives it
 * 127.0.0.1 and ::1): every runtime does so in a container's namespace,
 * and a socket bound to 127.0.0.1 could not be restored without it.  criu
 * leaves it down (criu issue 590); anything else is the runtime's. */
static int empty_create(const struct ns_desc *d, const struct ns_set *set, uint32_t id)
{
	int back, ret = ns_enter(set, d, &back);
	if (ret)
		return ret;
	int sk = rtnl_open("the restored network namespace");
	if (sk >= 0) {
		struct {
			struct nlmsghdr h;
			struct ifinfomsg i;
		} req;
		memset(&req, 0, sizeof(req));
		req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
		req.h.nlmsg_type = RTM_NEWLINK;
		req.i.ifi_family = AF_UNSPEC;
		req.i.ifi_index = 1;	/* lo: the first device of every namespace */
		req.i.ifi_flags = IFF_UP;
		req.i.ifi_change = IFF_UP;
		ret = rtnl_talk(sk, &req.h);
		if (ret)
			log_errno(ret, "can't bring the loopback device up in the new network "
				  "namespace (--empty-ns net)");
		close(sk);
	} else {
		ret = sk;
	}
	if (!ret)
		pr_info("network namespace %u: --empty-ns net, a new one with lo up", id);
	int r2 = ns_leave(d, back);
	return ret ? ret : r2;
}

int netns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	if (set->opts && set->opts->empty_ns_net)
		return empty_create(d, set, id);

	/* a veth's peer is made in cryo's own namespace, through this one */
	int host_sk = rtnl_open("cryo's own network namespace");
	if (host_sk < 0)
		return host_sk;
	int back, ret = ns_enter(set, d, &back);
	if (ret) {
		close(host_sk);
		return ret;
	}
	int sk = rtnl_open("the restored network namespace");
	ret = sk < 0 ? sk : restore_conf(dirfd, id);
	if (!ret)
		ret = restore_devices(sk, host_sk, set, dirfd, id);
	close(host_sk);
	if (!ret)	/* the bridges' ports, once every device exists */
		ret = netdev_set_masters(sk, dirfd, id);
	if (!ret)
		ret = rtnl_replay(sk, dirfd, IMG_IFADDR, id, false);
	if (!ret)
		ret = rtnl_replay(sk, dirfd, IMG_ROUTE, id, false);
	if (!ret && has_ipv6())
		ret = rtnl_replay(sk, dirfd, IMG_ROUTE6, id, true);
	if (!ret)
		ret = rtnl_replay(sk, dirfd, IMG_RULE, id, true);
	if (!ret)	/* absent in criu's images and cryo's older ones */
		ret = rtnl_replay(sk, dirfd, IMG_NEIGH, id, true);
	if (!ret)
		ret = netns_restore_tables(dirfd, id, has_ipv6());
	if (sk >= 0)
		close(sk);
	int r2 = ns_leave(d, back);
	return ret ? ret : r2;
}
