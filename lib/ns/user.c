/* User namespaces: the uid and gid maps of a tree's own user namespace
 * (criu's userns-ID.img) and its setgroups setting (a cryo extension).
 *
 * cryo never enters a user namespace: joining one is a one-way trip for
 * the caller (no capability over the parent is left to come back), and
 * cryo, root in its own, already holds every capability over the
 * namespaces a child user namespace owns (setns into them, mount there,
 * write the maps).  So the maps are read and written from outside through
 * /proc/PID/{uid_map,gid_map,setgroups}; read by a process of the parent
 * namespace, their lower ids are the parent's own, which is what the
 * restore writes back.
 *
 * Restore: the root's clone3 gets CLONE_NEWUSER together with the other
 * CLONE_NEW* flags, and the kernel makes the user namespace first, so the
 * others are owned by it (as `unshare -U -n ...` makes them).  The root
 * waits to be seized without using any id; the create step writes the
 * maps before any other namespace is filled and before any task runs a
 * step (ns_restore_create does this kind first).  The tasks' credentials
 * are kept as ids inside the namespace (lib/creds) and set by the tasks
 * themselves, so the kernel maps them through the new maps.
 *
 * What stays out (refused at dump, naming the task): a user namespace
 * nested below another one than cryo's, a task in a user namespace other
 * than the root's (ns.c: one per tree), a namespace of the tree owned by
 * another user namespace than the one the restore makes it in, and a
 * tree with more than one task in its own user namespace but in cryo's
 * PID namespace (see userns_dump_check_task). */
#include "ns/ns-int.h"
#include "images/image.h"
#include "options/options.h"
#include "proc/proc.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "userns.pb-c.h"

/* Inode of the user namespace that owns (@req NS_GET_USERNS) the
 * namespace @path, or is the parent (NS_GET_PARENT) of the user
 * namespace @path.  -EPERM from NS_GET_PARENT: the parent is outside
 * cryo's own (cryo is in a user namespace below it). */
static int ns_relative(const char *path, unsigned long req, uint64_t *ino)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open %s", path);
	int rel = ioctl(fd, req);
	int ret = rel < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	struct stat s;
	if (fstat(rel, &s))
		ret = -errno;
	else
		*ino = s.st_ino;
	close(rel);
	return ret;
}

static bool external_net(const struct ns_dump *st, uint64_t ino)
{
	char want[48];
	int n = snprintf(want, sizeof(want), "net[%llu]:", (unsigned long long)ino);
	for (int i = 0; st->external && i < st->external->n; i++)
		if (!strncmp(st->external->v[i], want, n))
			return true;
	return false;
}

/* The tree's user namespace @user (of process @pid) must be a child of
 * cryo's: the restore makes it one. */
static int check_parent(struct ns_dump *st, pid_t pid, uint64_t user)
{
	char path[64];
	uint64_t parent;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	int ret = ns_relative(path, NS_GET_PARENT, &parent);
	if (ret && ret != -EPERM)
		return log_errno(ret, "ioctl(NS_GET_PARENT) on %s failed", path);
	if (!ret && parent == st->self[NS_USER])
		return 0;
	char p[32] = "one outside cryo's";
	if (!ret)
		snprintf(p, sizeof(p), "user:[%llu]", (unsigned long long)parent);
	pr_err("process %d is in user namespace user:[%llu], nested below %s, not directly below "
	       "cryo's (user:[%llu]): cryo restores a user namespace one level below its own; run "
	       "cryo in the parent user namespace of the tree's", pid, (unsigned long long)user, p,
	       (unsigned long long)st->self[NS_USER]);
	return -EOPNOTSUPP;
}

/* Each namespace of the tree's root @pid that the restore makes is owned
 * by the user namespace the restore makes it in (the tree's; cryo's for
 * a kind made before the root's clone3); 0 or -EOPNOTSUPP (logged). */
static int check_owners(struct ns_dump *st, pid_t pid)
{
	char path[64];
	uint64_t user, owner, ino;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	struct stat s;
	if (!st->self[NS_USER])
		return 0;	/* no user namespaces in this kernel */
	if (stat(path, &s))
		return log_errno(-errno, "can't read the user namespace of process %d (%s)", pid,
				 path);
	user = s.st_ino;
	for_each_ns_desc(d) {
		if (d->kind == NS_USER || !st->self[d->kind])
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, d->name);
		if (stat(path, &s))
			return log_errno(-errno, "can't read the %s namespace of process %d (%s)",
					 d->what, pid, path);
		ino = s.st_ino;
		if (ino == st->self[d->kind] || (d->kind == NS_NET && external_net(st, ino)))
			continue;	/* cryo's own, or one the restore joins */
		int ret = ns_relative(path, NS_GET_USERNS, &owner);
		if (ret)
			return log_errno(ret, "ioctl(NS_GET_USERNS) on %s failed", path);
		/* a namespace made before the root's clone3 (time: pre_clone)
		 * is cryo's own user namespace's; the clone3 makes the others,
		 * owned by the root's user namespace */
		uint64_t want = d->pre_clone ? st->self[NS_USER] : user;
		if (owner == want)
			continue;
		pr_err("the %s namespace of process %d (%s:[%llu]) is owned by user namespace "
		       "user:[%llu], but a restore would make it owned by user:[%llu] (%s): the "
		       "tree must make its namespaces while in its own user namespace (unshare -U "
		       "together with or before the other kinds), as a container runtime does",
		       d->what, pid, d->name, (unsigned long long)ino, (unsigned long long)owner,
		       (unsigned long long)want,
		       want == st->self[NS_USER] ? "cryo's" : "the tree's");
		return -EOPNOTSUPP;
	}
	return 0;
}

int userns_dump_check_task(struct ns_dump *st, pid_t pid, pid_t tid, const char *who)
{
	if (!st->root_pid) {
		/* the root: where its namespaces stand */
		st->root_pid = pid;
		int ret = 0;
		if (st->self[NS_USER] && st->root[NS_USER] != st->self[NS_USER])
			ret = check_parent(st, pid, st->root[NS_USER]);
		if (!ret)
			ret = check_owners(st, pid);
		if (ret)
			return ret;
	}
	if (!st->self[NS_USER] || st->root[NS_USER] == st->self[NS_USER] ||
	    st->root[NS_PID] != st->self[NS_PID] || (pid == st->root_pid && tid == pid))
		return 0;
	/* clone3's set_tid needs CAP_CHECKPOINT_RESTORE over the user
	 * namespace that owns the PID namespace the PID is chosen in: the
	 * tasks cryo creates from inside the tree (every one but the root)
	 * hold it only over their own user namespace */
	pr_err("%s is in the tree's user namespace user:[%llu], and the tree has no PID "
	       "namespace of its own: cryo creates every task but the root from inside the tree "
	       "with its old PID (clone3 set_tid), which the kernel allows only to a holder of "
	       "CAP_CHECKPOINT_RESTORE over the owner of the PID namespace, cryo's; give the tree "
	       "a PID namespace of its own (unshare -U -p -f ...), or dump a single-threaded "
	       "process", who, (unsigned long long)st->root[NS_USER]);
	return -EOPNOTSUPP;
}

static int extents_dump(const struct proc_idmap *m, UidGidExtent ***out, size_t *n)
{
	*n = 0;
	*out = xzalloc((m->n ? m->n : 1) * sizeof(UidGidExtent *));
	if (!*out)
		return -ENOMEM;
	for (int i = 0; i < m->n; i++) {
		UidGidExtent *e = xmalloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		uid_gid_extent__init(e);
		e->has_first = e->has_lower_first = e->has_count = 1;
		e->first = m->e[i].first;
		e->lower_first = m->e[i].lower;
		e->count = m->e[i].count;
		(*out)[(*n)++] = e;
	}
	return 0;
}

static void extents_free(UidGidExtent **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int userns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id)
{
	char path[64], *sg = NULL;
	uint64_t user;
	(void)d;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	struct stat s;
	if (stat(path, &s))
		return log_errno(-errno, "can't read the user namespace of process %d (%s)", pid,
				 path);
	user = s.st_ino;
	int ret = check_parent(st, pid, user);
	if (ret)
		return ret;

	struct proc_idmap *uid = xmalloc(sizeof(*uid)), *gid = xmalloc(sizeof(*gid));
	UsernsEntry e = USERNS_ENTRY__INIT;
	if (!uid || !gid) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = proc_read_idmap(pid, "uid_map", uid)) ||
	    (ret = proc_read_idmap(pid, "gid_map", gid)))
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
	ssize_t n = read_file(AT_FDCWD, path, &sg, false);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	/* "deny" is permanent once gid_map is written; a restore must write
	 * it before gid_map (userns_create) */
	e.has_cryo_setgroups_deny = 1;
	e.cryo_setgroups_deny = !strncmp(sg, "deny", 4);
	if ((ret = extents_dump(uid, &e.uid_map, &e.n_uid_map)) ||
	    (ret = extents_dump(gid, &e.gid_map, &e.n_gid_map)))
		goto out;
	struct cr_img *img;
	ret = img_open(&img, st->dirfd, IMG_USERNS, IMG_WRITE, id);
	if (!ret) {
		ret = img_write_msg(img, &e.base);
		int r2 = img_close(img);
		if (!ret)
			ret = r2;
	}
	if (!ret)
		pr_info("user namespace %u (user:[%llu], of process %d): %d uid and %d gid map "
			"lines, setgroups %s", id, (unsigned long long)user, pid, uid->n, gid->n,
			e.cryo_setgroups_deny ? "deny" : "allow");
out:
	extents_free(e.uid_map, e.n_uid_map);
	extents_free(e.gid_map, e.n_gid_map);
	free(sg);
	free(uid);
	free(gid);
	return ret;
}

/* "first lower count\n" lines of @v into @buf; -EINVAL (logged) for an
 * extent the kernel would refuse, named. */
static int extents_text(uint32_t id, const char *which, UidGidExtent **v, size_t n, char *buf,
			size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	if (n > PROC_IDMAP_MAX) {
		pr_err("userns-%u.img: %zu %s lines; the kernel allows %d", id, n, which,
		       PROC_IDMAP_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const UidGidExtent *e = v[i];
		if (!e->has_first || !e->has_lower_first || !e->has_count || !e->count ||
		    (uint64_t)e->first + e->count > 1ULL << 32 ||
		    (uint64_t)e->lower_first + e->count > 1ULL << 32) {
			pr_err("userns-%u.img: %s line %zu is incomplete or out of range: the image "
			       "is damaged", id, which, i + 1);
			return -EINVAL;
		}
		len += snprintf(buf + len, size - len, "%u %u %u\n", e->first, e->lower_first,
				e->count);
		if (len >= size)
			return -E2BIG;
	}
	return 0;
}

static int write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open %s of the restored root", path);
	/* the map must go in one write (the kernel takes only the first) */
	ssize_t len = strlen(text), w = write(fd, text, len);
	int ret = w == len ? 0 : w < 0 ? -errno : -EIO;
	close(fd);
	if (ret)
		return log_errno(ret, "writing \"%.*s\" to %s failed", (int)strcspn(text, "\n"),
				 text, path);
	return 0;
}

int userns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	struct cr_img *img;
	UsernsEntry *e;
	(void)d;
	if (set->root <= 0) {
		pr_err("the user namespace's create step has no root process to write the maps "
		       "of (a bug)");
		return -EINVAL;
	}
	int ret = img_open(&img, dirfd, IMG_USERNS, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_one(img, &userns_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret < 0)
		return ret;
	/* 340 lines of three 10-digit numbers */
	size_t size = PROC_IDMAP_MAX * 34 + 1;
	char *uid = xmalloc(size), *gid = xmalloc(size);
	ret = uid && gid ? 0 : -ENOMEM;
	if (!ret)
		ret = extents_text(id, "uid_map", e->uid_map, e->n_uid_map, uid, size);
	if (!ret)
		ret = extents_text(id, "gid_map", e->gid_map, e->n_gid_map, gid, size);
	/* Order matters: setgroups can only be changed while gid_map is
	 * unwritten; then the gid map (a map written makes the other's
	 * absence no less final, but the kernel checks setgroups against
	 * gid_map only).  An empty map is left unwritten, as dumped. */
	if (!ret && e->has_cryo_setgroups_deny && e->cryo_setgroups_deny)
		ret = write_proc(set->root, "setgroups", "deny");
	if (!ret && uid[0])
		ret = write_proc(set->root, "uid_map", uid);
	if (!ret && gid[0])
		ret = write_proc(set->root, "gid_map", gid);
	if (!ret)
		pr_info("user namespace %u: %zu uid and %zu gid map lines written, setgroups %s", id,
			e->n_uid_map, e->n_gid_map,
			e->has_cryo_setgroups_deny && e->cryo_setgroups_deny ? "deny" : "allow");
	free(uid);
	free(gid);
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}

int userns_restore_check_tree(int ns_flags, int nr_tasks)
{
	if (!(ns_flags & CLONE_NEWUSER) || (ns_flags & CLONE_NEWPID) || nr_tasks <= 1)
		return 0;
	pr_err("the images hold a tree of %d or more tasks in a user namespace of its own but in the "
	       "dumping tool's PID namespace: cryo creates every task but the root from inside the "
	       "tree with its old PID (clone3 set_tid), which the kernel allows only to a holder "
	       "of CAP_CHECKPOINT_RESTORE over the owner of the PID namespace, cryo's; such a tree "
	       "needs a PID namespace of its own", nr_tasks);
	return -EOPNOTSUPP;
}

int userns_as_root(const struct ns_set *set, struct userns_euid *as)
{
	struct proc_idmap *m = xmalloc(sizeof(*m));
	uint32_t uid = 0, gid = 0;
	as->changed = false;
	if (!set || set->fd[NS_USER] < 0 || set->root <= 0) {
		free(m);
		return 0;
	}
	if (!m)
		return -ENOMEM;
	int ret = proc_read_idmap(set->root, "uid_map", m);
	if (!ret && !proc_idmap_outside(m, 0, &uid))
		ret = -EOVERFLOW;
	if (!ret)
		ret = proc_read_idmap(set->root, "gid_map", m);
	if (!ret && !proc_idmap_outside(m, 0, &gid))
		ret = -EOVERFLOW;
	free(m);
	if (ret == -EOVERFLOW)
		pr_err("the tree's user namespace maps no uid or gid 0: nobody is its root to set "
		       "what only its root may (the ipc sysctls)");
	if (ret)
		return ret;
	as->euid = geteuid();
	as->egid = getegid();
	as->dumpable = prctl(PR_GET_DUMPABLE);
	if (prctl(PR_GET_PDEATHSIG, &as->pdeathsig))
		as->pdeathsig = 0;
	/* raw calls: this thread's credentials only (glibc's would change
	 * every thread's) */
	if (syscall(SYS_setresgid, -1, gid, -1))
		return log_errno(-errno, "setresgid(-1, %u, -1) for the new user namespace's root "
				 "failed", gid);
	if (syscall(SYS_setresuid, -1, uid, -1)) {
		ret = log_errno(-errno, "setresuid(-1, %u, -1) for the new user namespace's root "
				"failed", uid);
		syscall(SYS_setresgid, -1, as->egid, -1);
		return ret;
	}
	as->changed = true;
	return 0;
}

int userns_as_self(struct userns_euid *as)
{
	if (!as->changed)
		return 0;
	as->changed = false;
	/* back to euid 0: the kernel gives the effective capabilities back */
	if (syscall(SYS_setresuid, -1, as->euid, -1) || syscall(SYS_setresgid, -1, as->egid, -1))
		return log_errno(-errno, "can't take cryo's own effective uid %u and gid %u back: "
				 "cryo can't go on", as->euid, as->egid);
	if (as->dumpable >= 0)
		prctl(PR_SET_DUMPABLE, as->dumpable);
	if (as->pdeathsig)
		prctl(PR_SET_PDEATHSIG, as->pdeathsig);
	return 0;
}

int userns_restore_groups(int ns_flags, const CoreEntry *core, int dirfd,
			  struct userns_groups *saved)
{
	const struct ns_desc *d = ns_desc(NS_USER);
	const CredsEntry *ce = core->thread_core ? core->thread_core->creds : NULL;
	struct cr_img *img;
	UsernsEntry *e;
	uint32_t id;
	memset(saved, 0, sizeof(*saved));
	if (!(ns_flags & CLONE_NEWUSER) || !ce || !ns_ids_get(d, core->ids, &id))
		return 0;
	const uint32_t *groups = ce->groups;
	size_t n = ce->n_groups;
	int ret = img_open(&img, dirfd, IMG_USERNS, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_one(img, &userns_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = 0;
	if (!e->has_cryo_setgroups_deny || !e->cryo_setgroups_deny)
		goto out;
	gid_t *host = xmalloc((n + 1) * sizeof(gid_t));
	if (!host) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; !ret && i < n; i++) {
		size_t k;
		for (k = 0; k < e->n_gid_map; k++) {
			const UidGidExtent *x = e->gid_map[k];
			if (groups[i] >= x->first && groups[i] - x->first < x->count) {
				host[i] = x->lower_first + (groups[i] - x->first);
				break;
			}
		}
		if (k == e->n_gid_map) {
			pr_err("the root process had supplementary group %u (inside its user namespace), "
			       "which userns-%u.img's gid_map does not map: with setgroups \"deny\" the "
			       "kernel lets no task set its groups there, and cryo can't hand it that one",
			       groups[i], id);
			ret = -EOPNOTSUPP;
		}
	}
	int now = ret ? -1 : getgroups(0, NULL);
	if (!ret && now < 0)
		ret = log_errno(-errno, "getgroups of cryo itself failed");
	if (!ret && !(saved->v = xmalloc((now + 1) * sizeof(gid_t))))
		ret = -ENOMEM;
	if (!ret && (saved->n = getgroups(now, saved->v)) < 0)
		ret = log_errno(-errno, "getgroups of cryo itself failed");
	/* raw: this thread's groups only, which the clone3 passes on */
	if (!ret && syscall(SYS_setgroups, n, host))
		ret = log_errno(-errno, "setgroups of %zu groups in cryo's thread, for the root of a "
				"user namespace with setgroups \"deny\", failed", n);
	if (!ret)
		saved->changed = true;
	free(host);
	if (ret) {
		free(saved->v);
		saved->v = NULL;
	}
out:
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}

int userns_restore_groups_back(struct userns_groups *saved)
{
	int ret = 0;
	if (saved->changed && syscall(SYS_setgroups, saved->n, saved->v))
		ret = log_errno(-errno, "can't give cryo its own supplementary groups back");
	saved->changed = false;
	free(saved->v);
	saved->v = NULL;
	return ret;
}
