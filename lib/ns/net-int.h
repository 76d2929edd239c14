/* Network namespaces (net.c, net_rtnl.c): private to lib/ns. */
#ifndef CRYO_NS_NET_INT_H
#define CRYO_NS_NET_INT_H

#include "ns/ns-int.h"
#include "images/image.h"
#include "netdev.pb-c.h"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A device as RTM_GETLINK shows it (net.c collect_link) */
struct link {
	int index;
	unsigned flags, mtu, type;	/* ifi_flags, IFLA_MTU, ifi_type (ARPHRD_*) */
	char name[IFNAMSIZ];
	char kind[32];			/* IFLA_INFO_KIND, "" if none */
	uint8_t addr[32];		/* IFLA_ADDRESS */
	int addr_len;
	int link;			/* IFLA_LINK: a veth's peer's index, 0: none */
	bool peer_elsewhere;		/* IFLA_LINK_NETNSID: its peer is in another namespace */
	unsigned master;		/* IFLA_MASTER: the bridge it is a port of, 0: none */
	uint8_t info[512];		/* IFLA_INFO_DATA: the kind's attributes */
	int info_len;
};

/* A link request (RTM_NEWLINK/SETLINK) being built: net_veth.c, net_link.c */
struct link_req {
	struct nlmsghdr h;
	struct ifinfomsg i;
	char attrs[512];
};

/* Append attribute @type (@len bytes of @data) to @r; NULL when full. */
static inline struct rtattr *link_req_put(struct link_req *r, int type, const void *data,
					  size_t len)
{
	size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
	if (at + RTA_SPACE(len) > sizeof(*r))
		return NULL;
	struct rtattr *a = (struct rtattr *)((char *)r + at);
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = at + RTA_ALIGN(a->rta_len);
	return a;
}

/* Close nested attribute @nest: its length up to the end of the message so far. */
static inline void link_req_end(struct link_req *r, struct rtattr *nest)
{
	nest->rta_len = (char *)r + r->h.nlmsg_len - (char *)nest;
}

/* A NETLINK_ROUTE socket in the network namespace cryo's thread is in
 * (@where names it in the message); the fd or a negative code (logged). */
int rtnl_open(const char *where);
/* Dump request @type for @family (@hdrlen: its header's size); each
 * message to @cb (the first error from @cb is returned, after the dump is
 * read to its end).  A negative code from the kernel is returned as is. */
int rtnl_dump(int sk, int type, int family, size_t hdrlen, int (*cb)(struct nlmsghdr *, void *),
	      void *arg);
/* Send @h with NLM_F_REQUEST | NLM_F_ACK added; the kernel's answer: 0 or
 * a negative code (not logged: the caller knows what it asked). */
int rtnl_talk(int sk, struct nlmsghdr *h);
/* The attribute @type among @len bytes of attributes at @rta, or NULL. */
struct rtattr *rtnl_attr(struct rtattr *rta, int len, int type);

/* iproute2's save format: the addresses (IMG_IFADDR, all families), the
 * main table's routes (IMG_ROUTE: AF_INET, IMG_ROUTE6: AF_INET6) or the
 * rules (IMG_RULE, AF_INET as `ip rule save`) of the namespace @sk is in,
 * into that image of namespace @id. */
int rtnl_save(int sk, int dirfd, enum img_type type, uint32_t id, int family);
/* ... and back, each entry sent as iproute2's `ip ... restore` does
 * (EEXIST: the kernel made it already).  @missing_ok: an absent image is
 * fine (criu leaves out route6 without IPv6, rule where `ip rule save`
 * failed). */
int rtnl_replay(int sk, int dirfd, enum img_type type, uint32_t id, bool missing_ok);

/* net_veth.c: the veth device @e of namespace @id: created from cryo's
 * namespace (@host_sk, an rtnetlink socket there), its peer named by
 * --external veth[NAME]:PEER (@set->external) and left there, the device
 * itself put into @set's network namespace with its index, address and
 * MTU.  0 or a negative code (logged). */
int veth_create(int host_sk, const NetDeviceEntry *e, const struct ns_set *set, uint32_t id);
/* A veth pair with both ends in namespace @id (the one cryo's thread is
 * in, @sk an rtnetlink socket there): made at its first end's entry @e,
 * with its name, index, address and MTU, the peer with its index and a
 * name of cryo's, which restore_device gives it at its own entry.  Once
 * the peer exists, nothing.  0 or a negative code (logged). */
int veth_create_inside(int sk, const NetDeviceEntry *e, uint32_t id);
/* Before anything is made: each veth of netdev-@id.img has its peer's
 * name in @external (0, or -EINVAL logged). */
int veth_check_names(int dirfd, uint32_t id, const struct str_list *external);

/* net_tables.c: the namespace's iptables (and with @ipv6 ip6tables)
 * rules, into / from iptables-ID.img and ip6tables-ID.img, in the
 * namespace cryo's thread is in; nftables tables of its own are refused
 * at dump.  0 or a negative code (logged). */
int netns_dump_tables(int dirfd, uint32_t id, bool ipv6);
int netns_restore_tables(int dirfd, uint32_t id, bool ipv6);

/* net_link.c: devices other than lo and veth.
 * Whether cryo saves device @k: a bridge, macvlan or tun/tap (macvtap and
 * the others are refused by the caller, naming the device). */
bool netdev_other_supported(const struct link *k);
/* Fill @e's type and the kind's sub-message for @k (@x: storage that
 * lives as long as @e; netdev_other_free after the write).  For a tun
 * device: sndbuf and vnet header size from the device itself (cryo
 * attaches a queue of its own, or borrows a descriptor of a process in
 * @pid's namespace that holds it).  0 or a negative code (logged). */
struct netdev_other {
	TunLinkEntry tun;
	MacvlanLinkEntry macvlan;
	CryoBridgeEntry bridge;
};
int netdev_other_fill(const struct link *k, NetDeviceEntry *e, struct netdev_other *x, pid_t pid);
/* Make device @e (bridge, macvlan, tun) in the restored namespace (@sk
 * there, @host_sk in cryo's: a macvlan whose lower device was outside is
 * made there, on the device --external macvlan[NAME]:HOSTIF names, and
 * moved in).  Its name, index, type and settings; restore_device sets the
 * flags, MTU and address.  0 or a negative code (logged). */
int netdev_other_create(int sk, int host_sk, const struct ns_set *set, const NetDeviceEntry *e,
			uint32_t id);
/* Before anything is made: each macvlan of netdev-@id.img with its lower
 * device outside has its host device in @external (0 or -EINVAL logged) */
int macvlan_check_names(int dirfd, uint32_t id, const struct str_list *external);
/* The index of device @name in the namespace of rtnetlink socket @sk
 * (cryo's thread may be in another one, where if_nametoindex would look):
 * the index, 0 if there is none, or a negative code. */
int rtnl_index_by_name(int sk, const char *name);
/* Once every device exists: each port set into its bridge (master). */
int netdev_set_masters(int sk, int dirfd, uint32_t id);

#endif
