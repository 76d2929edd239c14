/* Devices of a network namespace other than lo and veth: bridges (with
 * their ports), macvlan devices and tun/tap devices, in criu's
 * NetDeviceEntry (type BRIDGE, MACVLAN with macvlan_link_entry, TUN with
 * tun_link_entry).
 *   - bridge: made again with its index, name and settings (STP, forward
 *     delay, hello time, max age, ageing time, priority: cryo_bridge, a
 *     field of cryo's, criu keeps none); every device that was a port of
 *     it (criu's master) is put back into it once all devices exist
 *     (netdev_set_masters).  Not saved: its ports' own settings (cost,
 *     priority, learning...), its static fdb entries and multicast
 *     settings; VLAN filtering is refused (the ports' VLAN tables).
 *   - macvlan: its mode and flags (source mode, whose MAC list criu's
 *     image has no place for, is refused); with its lower device inside the
 *     namespace it is made there on it, with the lower device outside (the
 *     usual case: the host's NIC) it is made in cryo's namespace on the
 *     device --external macvlan[NAME]:HOSTIF names, as criu does, and moved
 *     in with its index (IFLA_NET_NS_FD).  macvtap is refused.
 *   - tun/tap: name, type and flags (IFF_NO_PI, IFF_VNET_HDR,
 *     IFF_MULTI_QUEUE, ...), owner, group, vnet header size (the
 *     device's), sndbuf (the queues': a process's file where one holds it)
 *     and whether it was persistent (not: IFF_NAPI, which rtnetlink does
 *     not show and an attach at dump sets from its own flags, offloads,
 *     filters, steering programs, the vnet header's endianness).  The
 *     device is made with TUNSETIFINDEX (its index) and TUNSETIFF, its
 *     settings set, and left persistent: the tasks' /dev/net/tun files
 *     (lib/files/tun.c) attach to it and take persistence away again where
 *     the device had none.  Packets queued on a tun file are not saved
 *     (the kernel has no way to read them back without consuming them):
 *     they are dropped, as criu does. */
#include "ns/net-int.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef TUNSETIFINDEX
#define TUNSETIFINDEX _IOW('T', 218, unsigned int)
#endif

#define TUN_DEV "/dev/net/tun"

bool netdev_other_supported(const struct link *k)
{
	return !strcmp(k->kind, "bridge") || !strcmp(k->kind, "macvlan") ||
	       !strcmp(k->kind, "tun");
}

static struct rtattr *info_attr(const struct link *k, int type)
{
	return rtnl_attr((struct rtattr *)k->info, k->info_len, type);
}

static uint32_t info_u32(const struct link *k, int type, uint32_t dflt)
{
	struct rtattr *a = info_attr(k, type);
	if (!a)
		return dflt;
	switch (RTA_PAYLOAD(a)) {
	case 1: return *(uint8_t *)RTA_DATA(a);
	case 2: return *(uint16_t *)RTA_DATA(a);
	default: return RTA_PAYLOAD(a) >= 4 ? *(uint32_t *)RTA_DATA(a) : dflt;
	}
}

/* --- tun: sndbuf and vnet header size need a file attached to it --- */

/* A descriptor of a process in @pid's network namespace attached to tun
 * device @name (fdinfo "iff:"), duplicated into cryo (pidfd_getfd), or
 * -ENOENT. */
static int borrow_tun_fd(pid_t pid, const char *name)
{
	char path[96];
	struct stat want, st;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (stat(path, &want))
		return -errno;
	DIR *proc = opendir("/proc");
	if (!proc)
		return -errno;
	int ret = -ENOENT;
	struct dirent *p;
	while (ret == -ENOENT && (p = readdir(proc))) {
		pid_t q = atoi(p->d_name);
		if (q <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/net", q);
		if (stat(path, &st) || st.st_ino != want.st_ino || st.st_dev != want.st_dev)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo", q);
		DIR *fds = opendir(path);
		struct dirent *f;
		while (fds && ret == -ENOENT && (f = readdir(fds))) {
			char buf[512], want_line[IFNAMSIZ + 8], fpath[300];
			if (f->d_name[0] == '.')
				continue;
			snprintf(fpath, sizeof(fpath), "/proc/%d/fdinfo/%s", q, f->d_name);
			int fd = open(fpath, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			snprintf(want_line, sizeof(want_line), "iff:\t%s\n", name);
			if (!strstr(buf, want_line))
				continue;
			int pfd = syscall(SYS_pidfd_open, q, 0);
			int lfd = pfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pfd, atoi(f->d_name), 0);
			if (pfd >= 0)
				close(pfd);
			if (lfd >= 0)
				ret = lfd;
		}
		if (fds)
			closedir(fds);
	}
	closedir(proc);
	return ret;
}

/* A file attached to tun device @k: one of cryo's (a device no file holds,
 * or a multi-queue one: one more queue, for a moment), or a process's. */
static int tun_attach(const struct link *k, pid_t pid)
{
	int fd = open(TUN_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open " TUN_DEV " to read tun device %s's settings",
				 k->name);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", k->name);
	ifr.ifr_flags = info_u32(k, IFLA_TUN_TYPE, IFF_TUN) |
			(info_u32(k, IFLA_TUN_PI, 0) ? 0 : IFF_NO_PI) |
			(info_u32(k, IFLA_TUN_VNET_HDR, 0) ? IFF_VNET_HDR : 0) |
			(info_u32(k, IFLA_TUN_MULTI_QUEUE, 0) ? IFF_MULTI_QUEUE : 0);
	if (!ioctl(fd, TUNSETIFF, &ifr))
		return fd;
	int err = -errno;
	close(fd);
	if (err != -EBUSY)
		return log_errno(err, "can't attach to tun device %s to read its settings", k->name);
	fd = borrow_tun_fd(pid, k->name);
	if (fd < 0)
		return log_errno(fd, "tun device %s is attached to a file, and no process of the "
				 "namespace holds it: cryo can't read its sndbuf and vnet header "
				 "size", k->name);
	return fd;
}

static int tun_fill(const struct link *k, TunLinkEntry *t, pid_t pid)
{
	int fd = tun_attach(k, pid);
	if (fd < 0)
		return fd;
	struct ifreq ifr;
	int sndbuf, hdrsz, ret = 0;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) || ioctl(fd, TUNGETSNDBUF, &sndbuf) ||
	    ioctl(fd, TUNGETVNETHDRSZ, &hdrsz))
		ret = log_errno(-errno, "can't read the settings of tun device %s (TUNGETIFF, "
				"TUNGETSNDBUF, TUNGETVNETHDRSZ)", k->name);
	close(fd);
	if (ret)
		return ret;
	/* TUNGETIFF: the device's flags, IFF_PERSIST among them (and the
	 * file's IFF_DETACH_QUEUE, which is no device's) */
	t->has_flags = t->has_owner = t->has_group = t->has_vnethdr = t->has_sndbuf = true;
	t->flags = (uint16_t)ifr.ifr_flags & ~IFF_DETACH_QUEUE;
	t->owner = (int32_t)info_u32(k, IFLA_TUN_OWNER, (uint32_t)-1);
	t->group = (int32_t)info_u32(k, IFLA_TUN_GROUP, (uint32_t)-1);
	t->vnethdr = hdrsz;
	t->sndbuf = sndbuf;
	return 0;
}

int netdev_other_fill(const struct link *k, NetDeviceEntry *e, struct netdev_other *x, pid_t pid)
{
	if (!strcmp(k->kind, "bridge")) {
		CryoBridgeEntry *b = &x->bridge;
		cryo_bridge_entry__init(b);
		e->type = ND_TYPE__BRIDGE;
		b->has_stp_state = b->has_forward_delay = b->has_hello_time = b->has_max_age = true;
		b->has_ageing_time = b->has_priority = b->has_vlan_filtering = true;
		b->stp_state = info_u32(k, IFLA_BR_STP_STATE, 0);
		b->forward_delay = info_u32(k, IFLA_BR_FORWARD_DELAY, 1500);
		b->hello_time = info_u32(k, IFLA_BR_HELLO_TIME, 200);
		b->max_age = info_u32(k, IFLA_BR_MAX_AGE, 2000);
		b->ageing_time = info_u32(k, IFLA_BR_AGEING_TIME, 30000);
		b->priority = info_u32(k, IFLA_BR_PRIORITY, 0x8000);
		b->vlan_filtering = info_u32(k, IFLA_BR_VLAN_FILTERING, 0);
		if (b->vlan_filtering) {
			pr_err("bridge %s of process %d's network namespace filters VLANs: cryo "
			       "does not save its ports' VLAN tables, it would come back with "
			       "none; turn VLAN filtering off before the dump (ip link set %s type "
			       "bridge vlan_filtering 0)", k->name, pid, k->name);
			return -EOPNOTSUPP;
		}
		e->cryo_bridge = b;
		return 0;
	}
	if (!strcmp(k->kind, "macvlan")) {
		MacvlanLinkEntry *m = &x->macvlan;
		macvlan_link_entry__init(m);
		e->type = ND_TYPE__MACVLAN;
		m->has_mode = m->has_flags = true;
		m->mode = info_u32(k, IFLA_MACVLAN_MODE, MACVLAN_MODE_VEPA);
		m->flags = info_u32(k, IFLA_MACVLAN_FLAGS, 0);
		if (m->mode == MACVLAN_MODE_SOURCE) {
			pr_err("macvlan %s of process %d's network namespace is in source mode: "
			       "cryo does not save its list of source MAC addresses (criu's image "
			       "has no place for it); use another mode, or keep the namespace out "
			       "of the dump (--external net[INODE]:KEY)", k->name, pid);
			return -EOPNOTSUPP;
		}
		e->macvlan = m;
		/* the lower device: its index here (peer_nsid: this namespace's
		 * id, as a veth's) or, outside, only the --external name */
		if (!k->peer_elsewhere && k->link > 0) {
			e->has_peer_ifindex = true;
			e->peer_ifindex = k->link;
		}
		return 0;
	}
	tun_link_entry__init(&x->tun);
	e->type = ND_TYPE__TUN;
	e->tun = &x->tun;
	return tun_fill(k, &x->tun, pid);
}

/* --- restore --- */

static void new_link(struct link_req *r, const NetDeviceEntry *e)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(sizeof(r->i));
	r->h.nlmsg_type = RTM_NEWLINK;
	r->h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	r->i.ifi_family = AF_UNSPEC;
	r->i.ifi_index = e->ifindex;
}

static int bridge_create(int sk, const NetDeviceEntry *e, uint32_t id)
{
	const CryoBridgeEntry *b = e->cryo_bridge;
	struct link_req r;
	new_link(&r, e);
	bool ok = link_req_put(&r, IFLA_IFNAME, e->name, strlen(e->name) + 1);
	struct rtattr *info = ok ? link_req_put(&r, IFLA_LINKINFO, NULL, 0) : NULL;
	ok = info && link_req_put(&r, IFLA_INFO_KIND, "bridge", 6);
	struct rtattr *data = ok ? link_req_put(&r, IFLA_INFO_DATA, NULL, 0) : NULL;
	ok = data != NULL;
	if (ok && b) {	/* criu's images have none: the kernel's defaults */
		uint16_t prio = b->priority;
		uint8_t vf = b->vlan_filtering;
		ok = link_req_put(&r, IFLA_BR_STP_STATE, &b->stp_state, 4) &&
		     link_req_put(&r, IFLA_BR_FORWARD_DELAY, &b->forward_delay, 4) &&
		     link_req_put(&r, IFLA_BR_HELLO_TIME, &b->hello_time, 4) &&
		     link_req_put(&r, IFLA_BR_MAX_AGE, &b->max_age, 4) &&
		     link_req_put(&r, IFLA_BR_AGEING_TIME, &b->ageing_time, 4) &&
		     link_req_put(&r, IFLA_BR_PRIORITY, &prio, 2);
		/* a kernel without CONFIG_BRIDGE_VLAN_FILTERING refuses the
		 * attribute whatever its value: sent only where it is on */
		if (ok && vf)
			ok = link_req_put(&r, IFLA_BR_VLAN_FILTERING, &vf, 1);
	}
	if (!ok) {
		pr_err("netdev-%u.img: bridge %s: the request does not fit (a bug)", id, e->name);
		return -EINVAL;
	}
	link_req_end(&r, data);
	link_req_end(&r, info);
	int ret = rtnl_talk(sk, &r.h);
	if (ret)
		return log_errno(ret, "can't make bridge %s (index %u) in the restored network "
				 "namespace", e->name, e->ifindex);
	pr_info("network namespace %u: bridge %s (index %u) made", id, e->name, e->ifindex);
	return 0;
}

/* HOSTIF of --external macvlan[@in]:HOSTIF, or NULL */
static const char *macvlan_host(const struct str_list *ext, const char *in)
{
	char want[IFNAMSIZ + 12];
	int n = snprintf(want, sizeof(want), "macvlan[%s]:", in);
	for (int i = 0; ext && i < ext->n; i++)
		if (!strncmp(ext->v[i], want, n) && ext->v[i][n])
			return ext->v[i] + n;
	return NULL;
}

static int no_macvlan_host(const char *name, uint32_t id)
{
	pr_err("netdev-%u.img: macvlan device %s had its lower device outside the namespace: "
	       "name the device of cryo's namespace to make it on with --external "
	       "macvlan[%s]:HOSTIF", id, name, name);
	return -EINVAL;
}

int macvlan_check_names(int dirfd, uint32_t id, const struct str_list *external)
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, IMG_NETDEV, IMG_READ | IMG_MISSING_OK, id);
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	for (;;) {
		NetDeviceEntry *e;
		ret = img_read_msg(img, &net_device_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			break;
		if (e->type == ND_TYPE__MACVLAN && e->name && !e->has_peer_ifindex &&
		    !macvlan_host(external, e->name))
			ret = no_macvlan_host(e->name, id);
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (ret < 0)
			break;
	}
	img_close(img);
	return ret < 0 ? ret : 0;
}

struct by_name {
	const char *name;
	int index;
};

static int match_name(struct nlmsghdr *h, void *arg)
{
	struct by_name *b = arg;
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	struct rtattr *a = rtnl_attr(IFLA_RTA(ifi), IFLA_PAYLOAD(h), IFLA_IFNAME);
	if (a && !strncmp(RTA_DATA(a), b->name, RTA_PAYLOAD(a)) &&
	    strlen(b->name) + 1 == RTA_PAYLOAD(a))
		b->index = ifi->ifi_index;
	return 0;
}

int rtnl_index_by_name(int sk, const char *name)
{
	struct by_name b = { .name = name };
	int ret = rtnl_dump(sk, RTM_GETLINK, AF_UNSPEC, sizeof(struct ifinfomsg), match_name, &b);
	return ret < 0 ? ret : b.index;
}

static int macvlan_create(int sk, int host_sk, const struct ns_set *set, const NetDeviceEntry *e,
			  uint32_t id)
{
	const MacvlanLinkEntry *m = e->macvlan;
	if (!m || !m->has_mode) {
		pr_err("netdev-%u.img: macvlan %s has no macvlan entry: the image is damaged", id,
		       e->name);
		return -EINVAL;
	}
	const char *host = NULL;
	uint32_t lower;
	if (e->has_peer_ifindex) {
		lower = e->peer_ifindex;	/* inside: made before it (a lower index) */
	} else {
		host = macvlan_host(set->external, e->name);
		if (!host)
			return no_macvlan_host(e->name, id);
		int idx = rtnl_index_by_name(host_sk, host);
		if (idx < 0)
			return log_errno(idx, "can't list the devices of cryo's namespace");
		if (!idx)
			return log_errno(-ENODEV, "--external macvlan[%s]:%s: cryo's namespace has "
					 "no device %s", e->name, host, host);
		lower = idx;
	}
	struct link_req r;
	new_link(&r, e);
	uint32_t nsfd = set->fd[NS_NET];
	bool ok = link_req_put(&r, IFLA_IFNAME, e->name, strlen(e->name) + 1) &&
		  link_req_put(&r, IFLA_LINK, &lower, 4);
	if (ok && host)
		ok = link_req_put(&r, IFLA_NET_NS_FD, &nsfd, 4);
	if (ok && e->has_address && e->address.len)
		ok = link_req_put(&r, IFLA_ADDRESS, e->address.data, e->address.len);
	struct rtattr *info = ok ? link_req_put(&r, IFLA_LINKINFO, NULL, 0) : NULL;
	ok = info && link_req_put(&r, IFLA_INFO_KIND, "macvlan", 7);
	struct rtattr *data = ok ? link_req_put(&r, IFLA_INFO_DATA, NULL, 0) : NULL;
	ok = data && link_req_put(&r, IFLA_MACVLAN_MODE, &m->mode, 4);
	if (ok && m->has_flags && m->flags) {
		uint16_t fl = m->flags;
		ok = link_req_put(&r, IFLA_MACVLAN_FLAGS, &fl, 2);
	}
	if (!ok || (host && set->fd[NS_NET] < 0)) {
		pr_err("netdev-%u.img: macvlan %s: the request does not fit (a bug)", id, e->name);
		return -EINVAL;
	}
	link_req_end(&r, data);
	link_req_end(&r, info);
	int ret = rtnl_talk(host ? host_sk : sk, &r.h);
	if (ret)
		return log_errno(ret, "can't make macvlan %s (index %u, mode %u) on %s%s", e->name,
				 e->ifindex, m->mode, host ? host : "its lower device",
				 host ? " of cryo's namespace" : " in the restored namespace");
	pr_info("network namespace %u: macvlan %s (index %u, mode %u) made on %s", id, e->name,
		e->ifindex, m->mode, host ? host : "a device of its namespace");
	return 0;
}

static int tun_create(const NetDeviceEntry *e, uint32_t id)
{
	const TunLinkEntry *t = e->tun;
	if (!t || !t->has_flags) {
		pr_err("netdev-%u.img: tun device %s has no tun entry: the image is damaged", id,
		       e->name);
		return -EINVAL;
	}
	int fd = open(TUN_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open " TUN_DEV " to make tun device %s", e->name);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->name);
	ifr.ifr_flags = t->flags & ~IFF_PERSIST;
	unsigned idx = e->ifindex;
	int ret = 0;
	const char *what = "TUNSETIFINDEX";
	if (ioctl(fd, TUNSETIFINDEX, &idx))
		ret = -errno;
	if (!ret && (what = "TUNSETIFF", ioctl(fd, TUNSETIFF, &ifr)))
		ret = -errno;
	if (!ret && t->has_owner && t->owner != -1 &&
	    (what = "TUNSETOWNER", ioctl(fd, TUNSETOWNER, (long)t->owner)))
		ret = -errno;
	if (!ret && t->has_group && t->group != -1 &&
	    (what = "TUNSETGROUP", ioctl(fd, TUNSETGROUP, (long)t->group)))
		ret = -errno;
	int v = t->vnethdr, s = t->sndbuf;
	if (!ret && t->has_vnethdr && (what = "TUNSETVNETHDRSZ", ioctl(fd, TUNSETVNETHDRSZ, &v)))
		ret = -errno;
	if (!ret && t->has_sndbuf && (what = "TUNSETSNDBUF", ioctl(fd, TUNSETSNDBUF, &s)))
		ret = -errno;
	/* persistent until the tasks' files are attached (lib/files/tun.c) */
	if (!ret && (what = "TUNSETPERSIST", ioctl(fd, TUNSETPERSIST, 1L)))
		ret = -errno;
	close(fd);
	if (ret)
		return log_errno(ret, "can't make tun device %s (index %u, flags 0x%x): %s failed",
				 e->name, e->ifindex, t->flags, what);
	pr_info("network namespace %u: tun device %s (index %u, flags 0x%x, owner %d, group %d) "
		"made", id, e->name, e->ifindex, t->flags, t->owner, t->group);
	return 0;
}

int netdev_other_create(int sk, int host_sk, const struct ns_set *set, const NetDeviceEntry *e,
			uint32_t id)
{
	switch (e->type) {
	case ND_TYPE__BRIDGE: return bridge_create(sk, e, id);
	case ND_TYPE__MACVLAN: return macvlan_create(sk, host_sk, set, e, id);
	case ND_TYPE__TUN: return tun_create(e, id);
	default:
		pr_err("netdev-%u.img: device %s is of type %d: cryo restores loopback (1), veth "
		       "(2), tun (3), bridge (6) and macvlan (7) devices", id, e->name, e->type);
		return -EOPNOTSUPP;
	}
}

int netdev_set_masters(int sk, int dirfd, uint32_t id)
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
		ret = 0;
		if (e->has_master && e->master && e->name) {
			struct link_req r;
			new_link(&r, e);
			r.h.nlmsg_flags = 0;
			link_req_put(&r, IFLA_MASTER, &e->master, 4);
			ret = rtnl_talk(sk, &r.h);
			if (ret)
				log_errno(ret, "can't make device %s (index %u) a port of index %u in "
					  "the restored network namespace", e->name, e->ifindex,
					  e->master);
			else
				pr_info("network namespace %u: %s is a port of index %u", id, e->name,
					e->master);
		}
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (ret)
			break;
	}
	img_close(img);
	return ret < 0 ? ret : 0;
}
