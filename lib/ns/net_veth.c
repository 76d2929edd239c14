/* veth devices of a restored network namespace.  A pair with both ends
 * inside is made there (veth_create_inside).  One whose peer was outside
 * it (a container's eth0 and its host end): as criu, the host end is named at
 * restore with --external veth[IN]:OUT, or OUT@BRIDGE: then it is made a
 * port of BRIDGE, a bridge of cryo's namespace.  One RTM_NEWLINK, sent in cryo's
 * own namespace, makes the pair: the host end OUT there, the peer IN moved
 * at once into the restored namespace (IFLA_NET_NS_FD) with the index, MAC
 * address and MTU it had, so the saved addresses and routes find it. */
#include "ns/net-int.h"
#include "options/options.h"
#include "util/log.h"

#include <errno.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* OUT of --external veth[@in]:OUT, or NULL (*@bridge: "@BRIDGE" given) */
static const char *peer_name(const struct str_list *ext, const char *in, char *out, size_t size,
			     bool *bridge)
{
	char want[IFNAMSIZ + 8];
	int n = snprintf(want, sizeof(want), "veth[%s]:", in);
	*bridge = false;
	for (int i = 0; ext && i < ext->n; i++) {
		if (strncmp(ext->v[i], want, n) || !ext->v[i][n])
			continue;
		snprintf(out, size, "%s", ext->v[i] + n);
		char *at = strchr(out, '@');
		if (at) {
			*at = '\0';
			*bridge = true;
		}
		return out;
	}
	return NULL;
}

int veth_create_inside(int sk, const NetDeviceEntry *e, uint32_t id)
{
	char name[IFNAMSIZ];
	if (if_indextoname(e->ifindex, name))
		return 0;	/* made with its peer, an earlier entry */
	if (!e->has_peer_ifindex || !e->peer_ifindex) {
		pr_err("netdev-%u.img: veth %s has no peer index: the image is damaged", id,
		       e->name);
		return -EINVAL;
	}
	char tmp[24];	/* "cryo-t" and an index: under IFNAMSIZ */
	snprintf(tmp, sizeof(tmp), "cryo-t%u", e->peer_ifindex);
	struct link_req r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.i));
	r.h.nlmsg_type = RTM_NEWLINK;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	r.i.ifi_family = AF_UNSPEC;
	r.i.ifi_index = e->ifindex;
	bool ok = link_req_put(&r, IFLA_IFNAME, e->name, strlen(e->name) + 1);
	if (ok && e->has_mtu)
		ok = link_req_put(&r, IFLA_MTU, &e->mtu, sizeof(e->mtu));
	if (ok && e->has_address && e->address.len)
		ok = link_req_put(&r, IFLA_ADDRESS, e->address.data, e->address.len);
	struct rtattr *info = ok ? link_req_put(&r, IFLA_LINKINFO, NULL, 0) : NULL;
	ok = info && link_req_put(&r, IFLA_INFO_KIND, "veth", 4);
	struct rtattr *data = ok ? link_req_put(&r, IFLA_INFO_DATA, NULL, 0) : NULL;
	struct ifinfomsg pi = { .ifi_family = AF_UNSPEC, .ifi_index = e->peer_ifindex };
	struct rtattr *peer = data ? link_req_put(&r, VETH_INFO_PEER, &pi, sizeof(pi)) : NULL;
	ok = peer && link_req_put(&r, IFLA_IFNAME, tmp, strlen(tmp) + 1);
	if (!ok) {
		pr_err("netdev-%u.img: veth %s: the request does not fit (a bug)", id, e->name);
		return -EINVAL;
	}
	link_req_end(&r, peer);
	link_req_end(&r, data);
	link_req_end(&r, info);
	int ret = rtnl_talk(sk, &r.h);
	if (ret)
		return log_errno(ret, "can't make veth pair %s (index %u) - index %u in the restored "
				 "network namespace", e->name, e->ifindex, e->peer_ifindex);
	pr_info("network namespace %u: veth pair %s (index %u) - index %u made inside it", id,
		e->name, e->ifindex, e->peer_ifindex);
	return 0;
}

static int no_peer_name(const char *name, uint32_t id)
{
	pr_err("netdev-%u.img: veth device %s had its peer outside the namespace: name the peer "
	       "to make in cryo's namespace with --external veth[%s]:NAME", id, name, name);
	return -EINVAL;
}

int veth_check_names(int dirfd, uint32_t id, const struct str_list *external)
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, IMG_NETDEV, IMG_READ | IMG_MISSING_OK, id);
	if (ret)
		return ret == -ENOENT ? 0 : ret;	/* netns_create says it's missing */
	for (;;) {
		NetDeviceEntry *e;
		char out[64];
		bool bridge;
		ret = img_read_msg(img, &net_device_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			break;
		if (e->type == ND_TYPE__VETH && e->name && !(e->has_peer_nsid && e->peer_nsid == id) &&
		    !peer_name(external, e->name, out, sizeof(out), &bridge))
			ret = no_peer_name(e->name, id);
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (ret < 0)
			break;
	}
	img_close(img);
	return ret < 0 ? ret : 0;
}

/* --external veth[IN]:OUT@BRIDGE: OUT, just made in cryo's namespace, a
 * port of BRIDGE there (index @br_index), as criu does */
static int enslave(int host_sk, const char *out, const char *br, int br_index)
{
	struct link_req r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.i));
	r.h.nlmsg_type = RTM_NEWLINK;
	r.i.ifi_family = AF_UNSPEC;
	uint32_t m = br_index;
	link_req_put(&r, IFLA_IFNAME, out, strlen(out) + 1);	/* by name: ifi_index 0 */
	link_req_put(&r, IFLA_MASTER, &m, sizeof(m));
	int ret = rtnl_talk(host_sk, &r.h);
	if (ret)
		return log_errno(ret, "can't put the veth's host end %s into %s in cryo's namespace "
				 "(--external ...:%s@%s)", out, br, out, br);
	pr_info("veth host end %s is a port of %s", out, br);
	return 0;
}

int veth_create(int host_sk, const NetDeviceEntry *e, const struct ns_set *set, uint32_t id)
{
	char out[64];
	bool bridge;
	if (!peer_name(set->external, e->name, out, sizeof(out), &bridge))
		return no_peer_name(e->name, id);
	int br_index = 0;
	const char *br = bridge ? out + strlen(out) + 1 : NULL;
	if (bridge) {	/* checked before anything is made */
		br_index = rtnl_index_by_name(host_sk, br);
		if (br_index < 0)
			return log_errno(br_index, "can't list the devices of cryo's namespace");
		if (!br_index) {
			pr_err("--external veth[%s]:%s@%s: cryo's namespace has no device %s to put "
			       "the host end into", e->name, out, br, br);
			return -ENODEV;
		}
	}
	if (strlen(out) >= IFNAMSIZ) {
		pr_err("--external veth[%s]:%s: a device name is at most %d characters", e->name, out,
		       IFNAMSIZ - 1);
		return -EINVAL;
	}
	int nsfd = set->fd[NS_NET];
	uint32_t fd32 = nsfd;
	struct link_req r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.i));
	r.h.nlmsg_type = RTM_NEWLINK;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	r.i.ifi_family = AF_UNSPEC;
	bool ok = link_req_put(&r, IFLA_IFNAME, out, strlen(out) + 1);
	struct rtattr *info = link_req_put(&r, IFLA_LINKINFO, NULL, 0);
	ok = ok && info && link_req_put(&r, IFLA_INFO_KIND, "veth", 4);
	struct rtattr *data = link_req_put(&r, IFLA_INFO_DATA, NULL, 0);
	/* the peer: an ifinfomsg (its index), then its own attributes */
	struct ifinfomsg pi = { .ifi_family = AF_UNSPEC, .ifi_index = e->ifindex };
	struct rtattr *peer = link_req_put(&r, VETH_INFO_PEER, &pi, sizeof(pi));
	ok = ok && data && peer && link_req_put(&r, IFLA_IFNAME, e->name, strlen(e->name) + 1) &&
	     link_req_put(&r, IFLA_NET_NS_FD, &fd32, sizeof(fd32));
	if (ok && e->has_mtu)
		ok = link_req_put(&r, IFLA_MTU, &e->mtu, sizeof(e->mtu));
	if (ok && e->has_address && e->address.len)
		ok = link_req_put(&r, IFLA_ADDRESS, e->address.data, e->address.len);
	if (!ok || nsfd < 0) {
		pr_err("netdev-%u.img: veth %s: the request does not fit (a bug)", id, e->name);
		return -EINVAL;
	}
	link_req_end(&r, peer);
	link_req_end(&r, data);
	link_req_end(&r, info);
	/* The tree just dumped (and killed) had this pair: its namespace's
	 * teardown, which takes the old host end with it, runs after the last
	 * task is gone, in the kernel's own time.  A name still taken is
	 * tried again for a while before it counts as someone else's. */
	int ret = rtnl_talk(host_sk, &r.h);
	for (int tries = 0; ret == -EEXIST && tries < 30; tries++) {
		usleep(100 * 1000);
		ret = rtnl_talk(host_sk, &r.h);
	}
	if (ret == -EEXIST)
		return log_errno(ret, "can't make veth %s with its peer %s: cryo's namespace has a "
				 "device named %s already (or the restored one an index %u)", e->name,
				 out, out, e->ifindex);
	if (ret)
		return log_errno(ret, "can't make veth %s (index %u) with its peer %s in cryo's "
				 "namespace", e->name, e->ifindex, out);
	pr_info("network namespace %u: veth %s (index %u), its peer %s in cryo's namespace", id,
		e->name, e->ifindex, out);
	return bridge ? enslave(host_sk, out, br, br_index) : 0;
}
