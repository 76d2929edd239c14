/* Restoring into namespaces that exist (and, for a network namespace made
 * new, the check that every veth's peer is named, before the root exists): `--join-ns KIND:PATH` (any tree),
 * and a network namespace the dump marked external (`cryo dump --external
 * net[INODE]:KEY`: netns-ID.img holds only ext_key, as criu's) given back
 * with `--inherit-fd fd[N]:KEY`.  The root is born in the namespace:
 * cryo's thread enters it just before the root's clone3 (which then goes
 * without the kind's CLONE_NEW* flag) and leaves right after; the files'
 * namespace set keeps it, so sockets are made in it.  Nothing of the
 * images is put into a joined namespace (criu does the same). */
#include "ns/net-int.h"
#include "images/image.h"
#include "options/options.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "netdev.pb-c.h"

/* Make @fd (taken) the joined namespace of kind @d in @set, after checking
 * it is one of that kind; @what names where it came from. */
static int take(struct ns_set *set, const struct ns_desc *d, int fd, const char *what)
{
	int type = ioctl(fd, NS_GET_NSTYPE);
	if (type != d->clone_flag) {
		if (type < 0)
			pr_err("%s is not a namespace file (ioctl NS_GET_NSTYPE: %s)", what,
			       strerror(errno));
		else
			pr_err("%s is not a %s namespace (its kind is 0x%x)", what, d->what, type);
		close(fd);
		return -EINVAL;
	}
	if (set->fd[d->kind] >= 0) {
		pr_err("%s: a %s namespace to join was given twice", what, d->what);
		close(fd);
		return -EINVAL;
	}
	set->fd[d->kind] = fd;
	pr_info("the tree joins the %s namespace of %s", d->what, what);
	return 0;
}

static int join_opt(const char *val, struct ns_set *set, int *ns_flags)
{
	char kind[16], path[80];
	const char *colon = strchr(val, ':');
	snprintf(kind, sizeof(kind), "%.*s", (int)(colon - val), val);
	const struct ns_desc *d = ns_desc_by_name(kind);
	/* setns of a mount, user, PID or time namespace changes more of cryo
	 * than the root's birth (its root and cwd, its credentials, its
	 * children's PIDs): not done */
	if (!d || !(d->kind == NS_NET || d->kind == NS_UTS || d->kind == NS_IPC ||
		    d->kind == NS_CGROUP)) {
		pr_err("--join-ns %s: cryo joins network, UTS, IPC and cgroup namespaces (net, uts, "
		       "ipc, cgroup), not \"%s\"", val, kind);
		return -EINVAL;
	}
	const char *where = colon + 1;
	bool pid = true;
	for (const char *p = where; *p; p++)
		pid = pid && isdigit((unsigned char)*p);
	if (pid)
		snprintf(path, sizeof(path), "/proc/%s/ns/%s", where, d->name);
	int fd = open(pid ? path : where, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "--join-ns %s: can't open %s", val, pid ? path : where);
	int ret = take(set, d, fd, pid ? path : where);
	if (!ret)
		*ns_flags &= ~d->clone_flag;	/* joined, not made */
	return ret;
}

/* The descriptor --inherit-fd fd[N]:@key gives, duplicated; -ENOENT if
 * none names @key. */
static int inherited(const struct str_list *l, const char *key)
{
	for (int i = 0; i < l->n; i++) {
		char *end;
		long n = strtol(l->v[i] + 3, &end, 10);	/* fd[N]:KEY, checked by the parser */
		if (strncmp(end, "]:", 2) || strcmp(end + 2, key))
			continue;
		int fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return log_errno(-errno, "--inherit-fd %s: cryo has no fd %ld open", l->v[i],
					 n);
		return fd;
	}
	return -ENOENT;
}

/* netns-@id.img: its ext_key (a copy) if the dump marked it external;
 * *@empty: the image has no entry (a dump with --empty-ns net). */
static int ext_key(int dirfd, uint32_t id, char **key, bool *empty)
{
	struct cr_img *img;
	NetnsEntry *e;
	*key = NULL;
	*empty = false;
	int ret = img_open(&img, dirfd, IMG_NETNS, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_msg(img, &netns_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		*empty = true;
		return 0;
	}
	if (e->ext_key && !(*key = strdup(e->ext_key)))
		ret = -ENOMEM;
	else
		ret = 0;
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}

int ns_restore_joins(const struct cryo_opts *o, int dirfd, const TaskKobjIdsEntry *tree_ids,
		     int *ns_flags, struct ns_set *set)
{
	for (int i = 0; i < o->join_ns.n; i++) {
		int ret = join_opt(o->join_ns.v[i], set, ns_flags);
		if (ret)
			return ret;
	}
	uint32_t id;
	const struct ns_desc *net = ns_desc(NS_NET);
	if (!(*ns_flags & CLONE_NEWNET) || !ns_ids_get(net, tree_ids, &id))
		return 0;
	char *key;
	bool empty;
	int ret = ext_key(dirfd, id, &key, &empty);
	if (!ret && empty && !o->empty_ns_net) {
		pr_err("netns-%u.img is empty: the dump was made with --empty-ns net and saved "
		       "nothing of the tree's network namespace; restore with --empty-ns net (a "
		       "new namespace with only its loopback device up, for the runtime to "
		       "configure)", id);
		return -EINVAL;
	}
	if (!ret && !key && o->empty_ns_net)	/* made new, bare: nothing of it is read */
		return 0;
	if (!ret && !key) {	/* made new: a veth's peer, a macvlan's host device need names */
		ret = veth_check_names(dirfd, id, &o->external);
		return ret ? ret : macvlan_check_names(dirfd, id, &o->external);
	}
	if (ret)
		return ret;
	int fd = inherited(&o->inherit_fd, key);
	if (fd == -ENOENT) {
		pr_err("the tree's network namespace was external at the dump (--external "
		       "net[INODE]:%s, netns-%u.img): nothing of it was saved; give the one to "
		       "restore into with --inherit-fd fd[N]:%s (N: cryo's descriptor on it) or "
		       "--join-ns net:PATH", key, id, key);
		ret = -EINVAL;
	} else if (fd >= 0) {
		char what[96];
		snprintf(what, sizeof(what), "--inherit-fd ...:%s", key);
		ret = take(set, net, fd, what);
		if (!ret)
			*ns_flags &= ~CLONE_NEWNET;
	} else {
		ret = fd;
	}
	free(key);
	return ret;
}

int ns_restore_enter_joined(const struct ns_set *set, struct ns_set *back)
{
	for_each_ns_desc(d) {
		if (set->fd[d->kind] < 0)
			continue;
		if (back->fd[d->kind] >= 0) {
			pr_err("the %s namespace is both joined and made before the root (a bug)",
			       d->what);
			return -EINVAL;
		}
		int ret = ns_enter(set, d, &back->fd[d->kind]);
		if (ret)
			return ret;
	}
	return 0;
}
