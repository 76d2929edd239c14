/* /dev/net/tun descriptors (criu's tunfile_entry, FD_TYPES__TUNF): the tun
 * or tap device the file is attached to (TUNSETIFF), by name, in the
 * tree's network namespace (ns_id), and whether it is a detached queue of
 * a multi-queue device (TUNSETQUEUE IFF_DETACH_QUEUE).  The device itself
 * is saved and made again with the namespace (lib/ns/net_link.c), left
 * persistent for the files to attach to; a file of a device that was not
 * persistent takes that away again once attached, so the device goes with
 * its last file as it would have.  Packets queued on the file are not
 * saved: they are dropped, as criu does.  TUNGETIFF names the device of
 * a detached queue too, with IFF_DETACH_QUEUE in its flags; a file never
 * attached answers EBADFD and is restored as a bare /dev/net/tun file.
 * The file's sndbuf (TUNSETSNDBUF: per queue, a new one starts at
 * INT_MAX) is the device entry's, as criu keeps it. */
#include "files/files-int.h"
#include "images/image.h"
#include "ns/ns.h"
#include "options/options.h"
#include "util/log.h"

#include "netdev.pb-c.h"
#include "tun.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether the dump saves the devices of network namespace @ino (not with
 * --empty-ns net, nor for one marked --external net[INO]:KEY) */
static bool saved_netns(const struct cryo_opts *o, ino_t ino)
{
	if (!o)
		return true;
	if (o->empty_ns_net)
		return false;
	char want[48];
	int n = snprintf(want, sizeof(want), "net[%lu]:", (unsigned long)ino);
	for (int i = 0; i < o->external.n; i++)
		if (!strncmp(o->external.v[i], want, n))
			return false;
	return true;
}

static int tun_dump(struct fd_dump *d)
{
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	struct ifreq ifr;
	bool detached = false, attached = true;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(lfd, TUNGETIFF, &ifr)) {
		if (errno != EBADFD)
			return_perror("ioctl(TUNGETIFF) on " FD_FMT " (/dev/net/tun)", FD_ARGS(d));
		attached = false;	/* never attached: a bare /dev/net/tun file */
	} else {
		detached = ifr.ifr_flags & IFF_DETACH_QUEUE;
	}
	TunfileEntry t = TUNFILE_ENTRY__INIT;
	t.has_id = true;
	t.id = d->id;
	t.has_cryo_flags = true;
	t.cryo_flags = d->fi.flags;
	char name[IFNAMSIZ + 1];
	if (attached) {
		char path[48];
		struct stat st;
		uint32_t ns_id;
		snprintf(path, sizeof(path), "/proc/%d/ns/net", d->pid);
		if (stat(path, &st))
			return_perror("can't stat %s", path);
		TaskKobjIdsEntry self = TASK_KOBJ_IDS_ENTRY__INIT;
		int ret = d->fdm->ns ? ns_dump_file(d->fdm->ns, ns_desc(NS_NET), st.st_ino, &ns_id) :
				       -EOPNOTSUPP;
		if (!ret)
			ret = ns_dump_self_ids(d->fdm->ns, &self);
		if (!ret && self.has_net_ns_id && self.net_ns_id == ns_id)
			ret = -EOPNOTSUPP;
		if (ret == -EOPNOTSUPP) {
			pr_err(FD_FMT " is attached to tun device %.*s of a network namespace that "
			       "is not the tree's own: cryo saves the tun devices of a tree's own "
			       "network namespace only (run the tree in one, or close the file "
			       "before the dump)", FD_ARGS(d), IFNAMSIZ, ifr.ifr_name);
			return ret;
		}
		if (ret)
			return ret;
		if (!saved_netns(d->fdm->opts, st.st_ino)) {
			pr_err(FD_FMT " is attached to tun device %.*s, and its network namespace "
			       "is not saved (--empty-ns net or --external net[%lu]:KEY): nothing "
			       "would make the device again; close the file before the dump or "
			       "dump the namespace", FD_ARGS(d), IFNAMSIZ, ifr.ifr_name,
			       (unsigned long)st.st_ino);
			return -EOPNOTSUPP;
		}
		snprintf(name, sizeof(name), "%.*s", IFNAMSIZ, ifr.ifr_name);
		t.netdev = name;
		t.has_detached = true;
		t.detached = detached;
		t.has_ns_id = true;
		t.ns_id = ns_id;
	}
	FileEntry fe = FILE_ENTRY__INIT;
	fe.tunf = &t;
	pr_info(FD_FMT ": tun file of %s%s", FD_ARGS(d), attached ? name : "no device",
		detached ? " (a detached queue)" : "");
	return files_emit(d, &fe);
}

/* The tun flags and sndbuf of device @name in netdev-@ns_id.img; -ENOENT
 * if none */
static int tun_flags(int dirfd, uint32_t ns_id, const char *name, uint32_t *flags, int *sndbuf)
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, IMG_NETDEV, IMG_READ | IMG_MISSING_OK, ns_id);
	if (ret)
		return ret;
	ret = -ENOENT;
	for (;;) {
		NetDeviceEntry *e;
		int r = img_read_msg(img, &net_device_entry__descriptor, (ProtobufCMessage **)&e);
		if (r <= 0) {
			if (r < 0)
				ret = r;
			break;
		}
		if (e->type == ND_TYPE__TUN && e->name && !strcmp(e->name, name) && e->tun &&
		    e->tun->has_flags) {
			*flags = e->tun->flags;
			*sndbuf = e->tun->has_sndbuf ? (int)e->tun->sndbuf : INT_MAX;
			ret = 0;
		}
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (!ret)
			break;
	}
	img_close(img);
	return ret;
}

static int tun_open(struct files_restore *fr, struct rst_file *f)
{
	const TunfileEntry *t = f->fe->tunf;
	char what[64];
	if (!t) {
		pr_err("files.img: tun file %u has no tunfile entry", f->fe->id);
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "tun file %u (%s)", f->fe->id, t->netdev ? t->netdev : "-");
	uint32_t flags = 0;
	int sndbuf = INT_MAX;
	if (t->netdev) {
		int r = t->has_ns_id ? tun_flags(fr->dirfd, t->ns_id, t->netdev, &flags, &sndbuf) :
				       -ENOENT;
		if (r == -ENOENT) {
			pr_err("%s: the images have no tun device %s in the tree's network namespace "
			       "(netdev-%u.img)", what, t->netdev, t->ns_id);
			return -EINVAL;
		}
		if (r)
			return r;
	}
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open /dev/net/tun for %s", what);
	int ret = 0;
	if (t->netdev) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->netdev);
		/* the file's flags become the device's (tun_set_iff): its own */
		ifr.ifr_flags = flags & ~IFF_PERSIST;
		if (ioctl(fd, TUNSETIFF, &ifr))
			ret = log_errno(-errno, "%s: can't attach it to its device (TUNSETIFF, "
					"flags 0x%x)", what, flags);
		/* made persistent for the files to find it (lib/ns/net_link.c) */
		if (!ret && !(flags & IFF_PERSIST) && ioctl(fd, TUNSETPERSIST, 0L))
			ret = log_errno(-errno, "%s: can't make its device not persistent again",
					what);
		if (!ret && sndbuf != INT_MAX && ioctl(fd, TUNSETSNDBUF, &sndbuf))
			ret = log_errno(-errno, "%s: can't set its sndbuf to %d", what, sndbuf);
		struct ifreq q = { .ifr_flags = IFF_DETACH_QUEUE };
		if (!ret && t->detached && ioctl(fd, TUNSETQUEUE, &q))
			ret = log_errno(-errno, "%s: can't detach its queue (TUNSETQUEUE)", what);
	}
	unsigned fl = t->has_cryo_flags ? t->cryo_flags : O_RDWR;
	return files_rst_adopt(f, fd, ret, fl, NULL, what);
}

const struct fd_kind fdk_tun = {
	.name = "tun file",
	.fd_type = FD_TYPES__TUNF,
	.dump = tun_dump,
	.open = tun_open,
};
