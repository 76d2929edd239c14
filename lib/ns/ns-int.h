/* The dump and create steps of the kinds that have them (ns.c's table). */
#ifndef CRYO_NS_INT_H
#define CRYO_NS_INT_H

#include "ns/ns.h"
#include "ipc-var.pb-c.h"

/* Enter the namespace of kind @d that process @pid is in (cryo's calling
 * thread only: UTS and IPC are per thread); ns_leave(@d, *@back) goes back. */
int ns_enter_pid(const struct ns_desc *d, pid_t pid, int *back);

/* uts.c: host and domain names (utsns-ID.img) */
int utsns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
int utsns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);

/* ipc_dump.c, ipc_restore.c: SysV objects and the ipc sysctls
 * (ipcns-var-ID.img, ipcns-shm-ID.img, ipcns-msg-ID.img, ipcns-sem-ID.img) */
int ipcns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
int ipcns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);
/* Read (@write_them false) or set the ipc sysctls of the IPC namespace
 * cryo's thread is in: the *_next_id ones (@next) or all the others. */
int ipcns_sysctls(IpcVarEntry *e, bool write_them, bool next);

/* time.c: clock values of a time namespace (timens-ID.img); its offsets
 * are written before the root's clone (timens_pre_clone) */
int timens_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
int timens_pre_clone(const struct ns_desc *d, int dirfd, uint32_t id, int *back);
int timens_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);
/* A tree in the dumping tool's time namespace: its clocks (cryo's) go to
 * timens-0.img, as criu's do; at restore, should cryo's clocks read less
 * (a reboot), the root is born in a new namespace that goes on from them
 * (*@back as for pre_clone; left -1 when none is needed). */
int timens_dump_own(struct ns_dump *st);
int timens_pre_clone_own(int dirfd, int *back);

/* pid.c: a PID namespace whose init is the tree's root (made by the
 * root's clone3; nothing to fill) */
int pidns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);
/* pid.c: a task (its /proc/.../ns @dir, PID namespace @ino) of the tree:
 * in the root's PID namespace or one nested below it; its
 * pid_for_children anything (dump/vpid.c checks it once the tree is
 * known).  Sets st->pid_nested where either differs.  0 or -EOPNOTSUPP
 * (logged). */
int pidns_dump_check_task(struct ns_dump *st, const char *dir, uint64_t ino, const char *who);

/* cgroup.c: a cgroup namespace rooted at its tasks' cgroups */
int cgroupns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
int cgroupns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);

/* mnt_dump.c, mnt_restore.c: the mount tree (mountpoints-ID.img) and the
 * files of its own tmpfs mounts (tmpfs-dev-N.tar.gz.img) */
int mntns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
int mntns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);
/* user.c: the uid and gid maps and setgroups of a user namespace
 * (userns-ID.img), written from outside (cryo never enters one) */
int userns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
int userns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);
/* After ns_dump_check_task's checks of each task (the first one checked
 * is the root): the root's user namespace is a child of cryo's, each of
 * its namespaces that the restore makes is owned by the user namespace
 * the restore makes it in (the tree's; cryo's for time, made before the
 * root's clone3), and a tree in its own user namespace but in cryo's PID
 * namespace is one task (the root, single-threaded).  0 or -EOPNOTSUPP
 * (logged, naming @who). */
int userns_dump_check_task(struct ns_dump *st, pid_t pid, pid_t tid, const char *who);

/* cryo's thread takes (userns_as_root) the effective uid and gid of root
 * of the new user namespace in @set (its maps written), and gives them
 * back (userns_as_self): for what the kernel lets only that uid do, with
 * no capability to stand in (the ipc sysctls).  Nothing changes without a
 * new user namespace.  0 or a negative code (logged). */
struct userns_euid {
	bool changed;
	uid_t euid;
	gid_t egid;
	int pdeathsig, dumpable;	/* an id change clears both: put back */
};
int userns_as_root(const struct ns_set *set, struct userns_euid *as);
int userns_as_self(struct userns_euid *as);

/* net.c: a network namespace's loopback device, addresses, routes,
 * rules and sysctls (netdev-ID.img, netns-ID.img, ifaddr-ID.img,
 * route-ID.img, route6-ID.img, rule-ID.img) */
int netns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
int netns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);
/* Once cryo's thread entered the tree's network namespace (inode @ino),
 * before anything of the dump changed it: its firewall rules (unless
 * --external marks it). */
int netns_dump_entered(struct ns_dump *st, uint64_t ino);

#endif
