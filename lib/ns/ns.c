/* The namespace table and the checks that keep cryo from writing (or
 * restoring) a tree into namespaces other than the ones it lived in. */
#include "ns/ns.h"
#include "ns/ns-int.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080	/* glibc < 2.35; the UAPI value */
#endif

/* a field of task_kobj_ids_entry: its number (criu's core.proto) and place */
#define IDS(field, nr) .ids_field = nr, .has_off = offsetof(TaskKobjIdsEntry, has_##field), \
	.id_off = offsetof(TaskKobjIdsEntry, field)

#define RUN_INSIDE "to checkpoint it without its namespace, run cryo inside it " \
	"(nsenter --%s=/proc/%d/ns/%s cryo dump ...) and restore it inside one you provide"

/* UTS, IPC, network, mount, cgroup and time have dump and create steps
 * (uts.c, ipc_dump.c, ipc_restore.c, net.c, mnt_dump.c, mnt_restore.c,
 * cgroup.c, time.c, user.c), PID a create step (pid.c: the images hold its tasks'
 * PIDs inside it); the other kinds are only
 * checked and their ids recorded. */
static const struct ns_desc descs[NS__MAX] = {
	[NS_PID] = { NS_PID, "pid", "PID", "pid", CLONE_NEWPID, "pid_for_children",
		     IDS(pid_ns_id, 5), -1 /* criu's pidns-ID.img: external ones only */,
		     "a tree whose root is not the init of its PID namespace can't be restored",
		     .create = pidns_create },
	[NS_NET] = { NS_NET, "net", "network", "net", CLONE_NEWNET, NULL, IDS(net_ns_id, 6),
		     IMG_NETNS, RUN_INSIDE, .dump = netns_dump, .create = netns_create },
	[NS_IPC] = { NS_IPC, "ipc", "IPC", "ipc", CLONE_NEWIPC, NULL, IDS(ipc_ns_id, 7),
		     IMG_IPC_VAR, RUN_INSIDE, .dump = ipcns_dump, .create = ipcns_create },
	[NS_UTS] = { NS_UTS, "uts", "UTS (host name)", "uts", CLONE_NEWUTS, NULL,
		     IDS(uts_ns_id, 8), IMG_UTSNS, RUN_INSIDE, .dump = utsns_dump,
		     .create = utsns_create },
	[NS_MNT] = { NS_MNT, "mnt", "mount", "mount", CLONE_NEWNS, NULL, IDS(mnt_ns_id, 9),
		     IMG_MNTS, RUN_INSIDE, .dump = mntns_dump, .create = mntns_create },
	[NS_USER] = { NS_USER, "user", "user", "user", CLONE_NEWUSER, NULL, IDS(user_ns_id, 10),
		      IMG_USERNS, RUN_INSIDE, .dump = userns_dump, .create = userns_create },
	[NS_CGROUP] = { NS_CGROUP, "cgroup", "cgroup", "cgroup", CLONE_NEWCGROUP, NULL,
			IDS(cgroup_ns_id, 11), -1 /* criu: in cgroup.img */, RUN_INSIDE,
			.dump = cgroupns_dump, .create = cgroupns_create },
	[NS_TIME] = { NS_TIME, "time", "time", "time", CLONE_NEWTIME, "time_for_children",
		      IDS(time_ns_id, 12), IMG_TIMENS, RUN_INSIDE, .dump = timens_dump,
		      .create = timens_create, .pre_clone = timens_pre_clone },
};

const struct ns_desc *ns_desc(enum ns_kind kind)
{
	return (unsigned)kind < NS__MAX ? &descs[kind] : NULL;
}

const struct ns_desc *ns_desc_by_flag(int clone_flag)
{
	for_each_ns_desc(d)
		if (d->clone_flag == clone_flag)
			return d;
	return NULL;
}

const struct ns_desc *ns_desc_by_name(const char *name)
{
	for_each_ns_desc(d)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

bool ns_ids_get(const struct ns_desc *d, const TaskKobjIdsEntry *ids, uint32_t *id)
{
	const char *p = (const char *)ids;
	if (!ids || !*(const protobuf_c_boolean *)(p + d->has_off))
		return false;
	*id = *(const uint32_t *)(p + d->id_off);
	return true;
}

void ns_ids_set(const struct ns_desc *d, TaskKobjIdsEntry *ids, uint32_t id)
{
	char *p = (char *)ids;
	*(protobuf_c_boolean *)(p + d->has_off) = 1;
	*(uint32_t *)(p + d->id_off) = id;
}

/* Inode of the namespace /proc/.../ns/NAME points to; 0 with -ENOENT when
 * there is none (a kind this kernel lacks, or see pid_for_children). */
static int ns_ino(const char *dir, const char *name, uint64_t *ino)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*ino = 0;
	if (stat(path, &st))
		return -errno;
	*ino = st.st_ino;
	return 0;
}

int ns_dump_init(struct ns_dump *st, int dirfd)
{
	memset(st, 0, sizeof(*st));
	st->dirfd = dirfd;
	st->next_id = 1;
	st->net_back = -1;
	st->inited = true;
	for_each_ns_desc(d) {
		int k = d->kind;
		int ret = ns_ino("/proc/self/ns", d->name, &st->self[k]);
		if (ret && ret != -ENOENT)
			return log_errno(ret, "can't read cryo's own %s namespace (/proc/self/ns/%s)",
					 d->what, d->name);
		if (d->for_children && st->self[k]) {
			ret = ns_ino("/proc/self/ns", d->for_children, &st->self_children[k]);
			if (ret && ret != -ENOENT)
				return log_errno(ret, "can't read /proc/self/ns/%s", d->for_children);
		}
	}
	return 0;
}

void ns_dump_fini(struct ns_dump *st)
{
	/* a dump that failed before ns_dump_init has a zeroed state, whose
	 * net_back 0 would be taken for a descriptor (and closed) */
	if (st->inited)
		ns_leave(ns_desc(NS_NET), st->net_back);
	st->net_back = -1;
	free(st->seen);
	st->seen = NULL;
	st->nr_seen = 0;
	st->inited = false;
}

/* A task's *_for_children (of kind @d, in /proc/.../ns @dir) must be
 * @want (@whose: "cryo's", "its own"): the namespace its next children are
 * born in is not recorded.  0, or -EOPNOTSUPP logged. */
static int check_for_children(const struct ns_desc *d, const char *dir, const char *who,
			      uint64_t want, const char *whose)
{
	uint64_t ino;

	if (!d->for_children)
		return 0;
	/* After unshare(CLONE_NEWPID) and before the first child, the new
	 * namespace has no init yet and pid_for_children reads as ENOENT:
	 * that too is another namespace. */
	int ret = ns_ino(dir, d->for_children, &ino);
	if (ret && ret != -ENOENT)
		return log_errno(ret, "can't read %s/%s", dir, d->for_children);
	if (ino == want)
		return 0;
	char now[48];
	if (ino)
		snprintf(now, sizeof(now), "%s:[%llu]", d->name, (unsigned long long)ino);
	else
		snprintf(now, sizeof(now), "a new one with no process yet");
	pr_err("%s has unshared its %s namespace: its next children would be born in another "
	       "(%s is %s; %s is %s:[%llu]); cryo records one %s namespace per task and can't "
	       "restore a different one for its children", who, d->what, d->for_children, now,
	       whose, d->name, (unsigned long long)want, d->what);
	return -EOPNOTSUPP;
}

int ns_dump_check_task(struct ns_dump *st, pid_t pid, pid_t tid, const char *comm)
{
	char dir[64], who[128];

	snprintf(dir, sizeof(dir), "/proc/%d/task/%d/ns", pid, tid);
	if (tid == pid)
		snprintf(who, sizeof(who), "process %d (%s)", pid, comm);
	else
		snprintf(who, sizeof(who), "thread %d of process %d (%s)", tid, pid, comm);
	for_each_ns_desc(d) {
		int k = d->kind;
		uint64_t ino;
		int ret;

		if (!st->self[k])
			continue;	/* the kernel has no such kind */
		ret = ns_ino(dir, d->name, &ino);
		if (ret)
			return log_errno(ret, "can't read the %s namespace of %s (%s/%s)", d->what,
					 who, dir, d->name);
		if (ns_creatable(d)) {
			/* The restore makes one for the root, and every task
			 * inherits it: the whole tree must be in the root's. */
			if (!st->root[k])
				st->root[k] = ino;
			if (k == NS_PID) {
				/* nested namespaces and pid_for_children: pid.c */
				ret = pidns_dump_check_task(st, dir, ino, who);
				if (ret)
					return ret;
				continue;
			}
			if (ino == st->root[k]) {
				ret = check_for_children(d, dir, who, ino, "its own");
				if (ret)
					return ret;
				continue;
			}
			pr_err("%s is in %s %s namespace other than the root process's (%s:[%llu]; "
			       "the root's is %s:[%llu], cryo's %s:[%llu]): cryo restores one %s "
			       "namespace per tree, made for the root and shared by every process; "
			       "dump the subtree that runs in the other namespace on its own", who,
			       strchr("AEIO", d->what[0]) ? "an" : "a", d->what, d->name,
			       (unsigned long long)ino, d->name, (unsigned long long)st->root[k],
			       d->name, (unsigned long long)st->self[k], d->what);
			return -EOPNOTSUPP;
		}
		if (ino != st->self[k]) {
			char hint[256];
			snprintf(hint, sizeof(hint), d->hint, d->nsenter_opt, pid, d->name);
			pr_err("%s is in %s %s namespace other than cryo's (%s:[%llu]; cryo's is "
			       "%s:[%llu]): cryo can't restore %s namespaces yet, and a restore "
			       "would put it in the restoring cryo's instead; %s", who,
			       strchr("AEIO", d->what[0]) ? "an" : "a", d->what,
			       d->name, (unsigned long long)ino, d->name,
			       (unsigned long long)st->self[k], d->what, hint);
			return -EOPNOTSUPP;
		}
		if (!st->self_children[k])
			continue;
		ret = check_for_children(d, dir, who, st->self_children[k], "cryo's");
		if (ret)
			return ret;
	}
	return userns_dump_check_task(st, pid, tid, who);
}

int ns_dump_enter_net(struct ns_dump *st, pid_t root)
{
	uint64_t ino;
	char dir[48];
	const struct ns_desc *d = ns_desc(NS_NET);
	if (!st->self[NS_NET] || st->net_back >= 0)
		return 0;
	snprintf(dir, sizeof(dir), "/proc/%d/ns", root);
	int ret = ns_ino(dir, d->name, &ino);
	if (ret)
		return log_errno(ret, "can't read the network namespace of process %d", root);
	if (ino == st->self[NS_NET])
		return 0;
	ret = ns_enter_pid(d, root, &st->net_back);
	if (ret)
		return ret;
	pr_info("the tree is in network namespace net:[%llu]: cryo dumps it from inside",
		(unsigned long long)ino);
	return netns_dump_entered(st, ino);
}

int ns_dump_id(struct ns_dump *st, enum ns_kind kind, uint64_t ino, uint32_t *id, bool *fresh)
{
	*fresh = false;
	for (int i = 0; i < st->nr_seen; i++)
		if (st->seen[i].kind == kind && st->seen[i].ino == ino) {
			*id = st->seen[i].id;
			return 0;
		}
	struct ns_seen *v = realloc(st->seen, (st->nr_seen + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	st->seen = v;
	v[st->nr_seen] = (struct ns_seen){ kind, ino, st->next_id++ };
	*id = v[st->nr_seen++].id;
	*fresh = true;
	return 0;
}

static struct ns_seen *seen_find(struct ns_dump *st, enum ns_kind kind, uint64_t ino)
{
	for (int i = 0; i < st->nr_seen; i++)
		if (st->seen[i].kind == kind && st->seen[i].ino == ino)
			return &st->seen[i];
	return NULL;
}

int ns_dump_file(struct ns_dump *st, const struct ns_desc *d, uint64_t ino, uint32_t *id)
{
	/* the tree's: the root's (ns_dump_check_task) for a kind the
	 * restore makes, cryo's for the others (the only one allowed) */
	uint64_t tree = ns_creatable(d) && st->root[d->kind] ? st->root[d->kind] : st->self[d->kind];
	bool fresh;
	if (!ino || ino != tree)
		return -EOPNOTSUPP;
	return ns_dump_id(st, d->kind, ino, id, &fresh);
}

int ns_dump_fill_ids(struct ns_dump *st, pid_t pid, TaskKobjIdsEntry *ids)
{
	char dir[48];

	snprintf(dir, sizeof(dir), "/proc/%d/ns", pid);
	for_each_ns_desc(d) {
		uint64_t ino;
		uint32_t id;
		bool fresh;
		int ret;

		if (!st->self[d->kind])
			continue;
		ret = ns_ino(dir, d->name, &ino);
		if (!ret)
			ret = ns_dump_id(st, d->kind, ino, &id, &fresh);
		if (ret)
			return log_errno(ret, "can't identify the %s namespace of process %d", d->what, pid);
		ns_ids_set(d, ids, id);
		/* cryo's own namespaces are the restoring cryo's business; a
		 * namespace file's (ns_dump_file) may have given it its id */
		struct ns_seen *s = seen_find(st, d->kind, ino);
		(void)fresh;
		if (s && !s->saved && d->dump && ino != st->self[d->kind]) {
			s->saved = true;
			if ((ret = d->dump(st, d, pid, id)))
				return ret;
		}
	}
	return 0;
}

int ns_dump_self_ids(struct ns_dump *st, TaskKobjIdsEntry *ids)
{
	/* @ids still holds the root's: one in cryo's time namespace has its
	 * clocks saved too (timens-0.img, see timens_pre_clone_own) */
	const struct ns_desc *t = ns_desc(NS_TIME);
	uint32_t root_time, self_time;
	bool fresh;
	if (st->self[NS_TIME] && ns_ids_get(t, ids, &root_time)) {
		if (ns_dump_id(st, NS_TIME, st->self[NS_TIME], &self_time, &fresh))
			return -ENOMEM;
		int ret = root_time == self_time ? timens_dump_own(st) : 0;
		if (ret)
			return ret;
	}
	for_each_ns_desc(d) {
		uint32_t id;
		if (!st->self[d->kind])
			continue;
		if (ns_dump_id(st, d->kind, st->self[d->kind], &id, &fresh))
			return -ENOMEM;
		ns_ids_set(d, ids, id);
	}
	return 0;
}

int ns_restore_check(const TaskKobjIdsEntry *root_ids, const TaskKobjIdsEntry *tree_ids,
		     const TaskKobjIdsEntry *ids, pid_t pid)
{
	if (!root_ids || !ids)
		return 0;
	for_each_ns_desc(d) {
		uint32_t rid, tid, treeid;

		if (!ns_ids_get(d, root_ids, &rid) || !ns_ids_get(d, ids, &tid))
			continue;
		if (ns_creatable(d)) {
			if (ids == tree_ids || !ns_ids_get(d, tree_ids, &treeid) || tid == treeid)
				continue;
			pr_err("process %d was dumped in a %s namespace other than the root "
			       "process's (%s_ns_id %u in its core image, %u in the root's): cryo "
			       "restores one %s namespace per tree, made for the root and shared "
			       "by every process", pid, d->what, d->name, tid, treeid, d->what);
			return -EOPNOTSUPP;
		}
		if (rid == tid)
			continue;
		pr_err("process %d was dumped in a %s namespace of its own (%s_ns_id %u in its "
		       "core image; the dump's root namespace is %u, inventory.img root_ids): cryo "
		       "can't create %s namespaces yet, and restoring it in cryo's would not be the "
		       "same program", pid, d->what, d->name, tid, rid, d->what);
		return -EOPNOTSUPP;
	}
	return 0;
}

int ns_restore_flags(const TaskKobjIdsEntry *root_ids, const TaskKobjIdsEntry *tree_ids)
{
	int flags = 0;
	if (!root_ids || !tree_ids)
		return 0;
	for_each_ns_desc(d) {
		uint32_t rid, tid;
		if (ns_creatable(d) && ns_ids_get(d, root_ids, &rid) && ns_ids_get(d, tree_ids, &tid) &&
		    rid != tid)
			flags |= d->clone_flag;
	}
	return flags;
}

int ns_restore_check_images(int flags, const TaskKobjIdsEntry *tree_ids, int dirfd)
{
	for_each_ns_desc(d) {
		struct cr_img *img;
		uint32_t id;

		if (!(flags & d->clone_flag) || !ns_ids_get(d, tree_ids, &id) || d->content_img < 0)
			continue;
		int ret = img_open(&img, dirfd, d->content_img, IMG_READ | IMG_MISSING_OK, id);
		if (ret == -ENOENT) {
			char name[64];
			snprintf(name, sizeof(name), img_type_info(d->content_img)->pattern,
				 (unsigned long)id);
			pr_err("the root process was dumped in a %s namespace of its own (%s_ns_id %u; "
			       "the dumping tool's is another, inventory.img root_ids), but %s, which "
			       "would hold it, is missing: the images are incomplete", d->what,
			       d->name, id, name);
			return ret;
		}
		if (ret)
			return ret;
		img_close(img);
	}
	return 0;
}

int ns_restore_create(int flags, const TaskKobjIdsEntry *tree_ids, pid_t root, int dirfd,
		      struct ns_set *set)
{
	set->root = root;
	/* the user namespace first: its maps must be in place before the
	 * other kinds (which it owns) are filled and any task runs a step */
	for (int pass = 0; pass < 2; pass++)
	for_each_ns_desc(d) {
		char path[64];
		uint32_t id;
		int ret;

		if ((d->kind == NS_USER) != !pass)
			continue;
		if (!(flags & d->clone_flag) || !ns_ids_get(d, tree_ids, &id))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", root, d->name);
		set->fd[d->kind] = open(path, O_RDONLY | O_CLOEXEC);
		if (set->fd[d->kind] < 0)
			return log_errno(-errno, "can't open the new %s namespace of the restored "
					 "root (%s)", d->what, path);
		ret = d->create(d, dirfd, set, id);
		if (ret)
			return ret;
		pr_info("made a new %s namespace for the tree (%s_ns_id %u)", d->what, d->name, id);
	}
	return 0;
}

int ns_restore_pre_clone(int flags, const TaskKobjIdsEntry *tree_ids, int dirfd, int *clone_flags,
			 struct ns_set *back)
{
	*clone_flags = flags;
	ns_set_self(back);
	/* a tree in the dumping tool's time namespace: a new one only if
	 * cryo's clocks would take it back (timens_pre_clone_own) */
	uint32_t id;
	if (!(flags & CLONE_NEWTIME) && ns_ids_get(ns_desc(NS_TIME), tree_ids, &id))
		return timens_pre_clone_own(dirfd, &back->fd[NS_TIME]);
	for_each_ns_desc(d) {
		if (!d->pre_clone || !(flags & d->clone_flag) || !ns_ids_get(d, tree_ids, &id))
			continue;
		*clone_flags &= ~d->clone_flag;
		int ret = d->pre_clone(d, dirfd, id, &back->fd[d->kind]);
		if (ret)
			return ret;
	}
	return 0;
}

int ns_restore_post_clone(struct ns_set *back)
{
	int ret = 0;
	for_each_ns_desc(d) {
		int r = ns_leave(d, back->fd[d->kind]);
		back->fd[d->kind] = -1;
		if (!ret)
			ret = r;
	}
	return ret;
}

int ns_restore_enter_net(const struct ns_set *set, int *back)
{
	return ns_enter(set, ns_desc(NS_NET), back);
}

int ns_restore_open_file(const struct ns_set *set, const TaskKobjIdsEntry *tree_ids,
			 const struct ns_desc *d, uint32_t id)
{
	uint32_t tree;
	char path[64];
	if (!ns_ids_get(d, tree_ids, &tree) || tree != id) {
		pr_err("a %s namespace file refers to namespace %u, the tree's was %u: cryo "
		       "restores namespace files of the tree's own namespaces only", d->what, id,
		       ns_ids_get(d, tree_ids, &tree) ? tree : 0);
		return -EOPNOTSUPP;
	}
	if (set && set->fd[d->kind] >= 0)	/* made new: a new open file of it */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", set->fd[d->kind]);
	else	/* cryo's own, which cryo's thread is in */
		snprintf(path, sizeof(path), "/proc/thread-self/ns/%s", d->name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open the restored %s namespace (%s) for a "
				 "namespace file", d->what, path);
	return fd;
}

void ns_set_close(struct ns_set *set)
{
	for (int k = 0; k < NS__MAX; k++) {
		if (set->fd[k] >= 0)
			close(set->fd[k]);
		set->fd[k] = -1;
	}
}

/* --- the namespaces cryo runs a restore step in --- */

void ns_set_self(struct ns_set *s)
{
	s->external = NULL;
	s->root = 0;
	for (int k = 0; k < NS__MAX; k++)
		s->fd[k] = -1;
}

int ns_join(const struct ns_desc *d, int nsfd)
{
	if (setns(nsfd, d->clone_flag))
		return log_errno(-errno, "setns into a %s namespace (fd %d)", d->what, nsfd);
	return 0;
}

int ns_enter(const struct ns_set *set, const struct ns_desc *d, int *back)
{
	char path[48];
	int ret;

	*back = -1;
	if (!set || set->fd[d->kind] < 0)
		return 0;	/* cryo's own */
	if (d->kind == NS_USER) {
		/* no way back: cryo acts on a user namespace from outside */
		pr_err("cryo was to enter a user namespace (a bug: it would lose its capabilities "
		       "over its own)");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/proc/self/ns/%s", d->name);
	int self = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return log_errno(-errno, "can't open cryo's own %s namespace (%s)", d->what, path);
	ret = ns_join(d, set->fd[d->kind]);
	if (ret) {
		close(self);
		return ret;
	}
	*back = self;
	return 0;
}

int ns_leave(const struct ns_desc *d, int back)
{
	if (back < 0)
		return 0;
	int ret = setns(back, d->clone_flag) ? -errno : 0;
	close(back);
	if (ret)
		return log_errno(ret, "can't go back to cryo's own %s namespace: cryo is left in "
				 "another one and can't go on", d->what);
	return 0;
}

int ns_enter_pid(const struct ns_desc *d, pid_t pid, int *back)
{
	char path[64];
	struct ns_set set;

	ns_set_self(&set);
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, d->name);
	set.fd[d->kind] = open(path, O_RDONLY | O_CLOEXEC);
	if (set.fd[d->kind] < 0)
		return log_errno(-errno, "can't open the %s namespace of process %d (%s)", d->what,
				 pid, path);
	int ret = ns_enter(&set, d, back);
	close(set.fd[d->kind]);
	return ret;
}
