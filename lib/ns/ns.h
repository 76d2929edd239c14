/* Namespaces: one descriptor per kind (its clone flag, /proc/PID/ns name,
 * image field, and the steps that dump, create and join one), as lib/files
 * has one per descriptor kind.  A kind with dump and create steps (UTS,
 * IPC, network, mount, cgroup, time; PID has only create: its tasks' PIDs
 * are the pstree's) is restorable: a tree whose root runs in a namespace
 * of that kind other than cryo's gets a new one (made by the root's clone3
 * and filled by cryo from the images; time: made and filled by cryo just
 * before the clone3, see pre_clone), which all its processes share.  A tree in any
 * other namespace of a kind without steps, or split over two namespaces of
 * one kind, is refused at dump, and images that record one are refused at
 * restore (both checks walk this table). */
#ifndef CRYO_NS_H
#define CRYO_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.pb-c.h"

enum ns_kind {
	NS_PID, NS_NET, NS_IPC, NS_UTS, NS_MNT, NS_USER, NS_CGROUP, NS_TIME,
	NS__MAX,
};

struct ns_dump;
struct ns_set;
struct cryo_opts;
struct str_list;

struct ns_desc {
	enum ns_kind kind;
	const char *name;		/* /proc/PID/ns/NAME, criu's and readlink's name */
	const char *what;		/* "network": for messages */
	const char *nsenter_opt;	/* nsenter(1)'s option: "mount" for mnt */
	int clone_flag;			/* CLONE_NEW*: also setns's nstype */
	const char *for_children;	/* "pid_for_children", "time_for_children", or NULL */
	/* its id in criu's task_kobj_ids_entry (core-TID.img, inventory
	 * root_ids): the field's number and where protobuf-c keeps it */
	unsigned ids_field;		/* pid_ns_id = 5, net_ns_id = 6, ... */
	size_t has_off, id_off;
	int content_img;		/* IMG_* its contents go to (utsns-ID.img...), -1: none */
	const char *hint;		/* what helps when a tree in one is refused */
	/* Dump: the contents of the namespace (host names, IPC objects) that
	 * process @pid is in into content_img for id @id, once per namespace
	 * other than cryo's own.  NULL: only its id is recorded. */
	int (*dump)(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id);
	/* Restore: fill the new namespace @set holds for this kind (the
	 * root's clone3 made it, with clone_flag) from the images of
	 * namespace @id in @dirfd.  cryo enters it (ns_enter) for the time it
	 * needs.  NULL: cryo can't, and a tree in one is refused.  Joining
	 * one that exists is the same for every kind: ns_join. */
	int (*create)(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id);
	/* Restore, for a kind whose namespace must be complete before any
	 * task enters it (time: its offsets freeze then): make it cryo's
	 * *_for_children from the images of namespace @id, so the root's
	 * clone3 (without clone_flag) is born in it; *@back gets cryo's own,
	 * to go back to (ns_leave) once the root exists.  NULL: clone3 makes
	 * the namespace with clone_flag. */
	int (*pre_clone)(const struct ns_desc *d, int dirfd, uint32_t id, int *back);
};

const struct ns_desc *ns_desc(enum ns_kind kind);
/* The kind whose clone flag is @clone_flag (one bit), or NULL. */
const struct ns_desc *ns_desc_by_flag(int clone_flag);
/* The kind /proc/PID/ns/@name is, or NULL. */
const struct ns_desc *ns_desc_by_name(const char *name);
static inline bool ns_creatable(const struct ns_desc *d)
{
	return d->create != NULL;
}
#define for_each_ns_desc(d) \
	for (const struct ns_desc *d = ns_desc(0); d; d = ns_desc(d->kind + 1))

/* The id of kind @d recorded in @ids; false if it records none. */
bool ns_ids_get(const struct ns_desc *d, const TaskKobjIdsEntry *ids, uint32_t *id);
void ns_ids_set(const struct ns_desc *d, TaskKobjIdsEntry *ids, uint32_t id);

/* --- the namespaces a restore step runs in (cryo itself) ---
 *
 * What cryo opens or creates for the tasks (sockets above all, also paths
 * looked up through a mount namespace) must be made in the task's
 * namespaces.  A set holds one namespace fd per kind; -1 is cryo's own, so
 * entering it is no setns at all (every kind but the ones the restore
 * made new: ns_restore_create). */
struct ns_set {
	int fd[NS__MAX];
	/* the run's options, for the create steps (mnt: --root, --external);
	 * ns_set_self leaves it */
	const struct cryo_opts *opts;
	/* restore: --external (a veth's peer: veth[IN]:OUT), for the
	 * create steps; NULL: none */
	const struct str_list *external;
	/* restore: the root process, once created (user: its maps are
	 * written through /proc/ROOT); 0: none yet */
	pid_t root;
};
void ns_set_self(struct ns_set *s);
/* Join the namespace @nsfd of kind @d (setns). */
int ns_join(const struct ns_desc *d, int nsfd);
/* Run in @set's namespace of kind @d: *@back gets what to come back to
 * (-1 when nothing changed, i.e. @set has cryo's own).  A mount or user
 * namespace can only be entered by a single-threaded process (cryo is
 * one).  0 or a negative code (logged). */
int ns_enter(const struct ns_set *set, const struct ns_desc *d, int *back);
/* Back from ns_enter (@back -1: nothing to do); closes @back.  A failure
 * leaves cryo in the other namespace: logged, and the restore must fail. */
int ns_leave(const struct ns_desc *d, int back);

/* Dump side: cryo's own namespaces, and ids for the images. */
struct ns_dump {
	int dirfd;			/* the images directory, for the dump steps */
	const struct cryo_opts *opts;	/* the dump's (mnt: --external mnt[...]) */
	uint64_t self[NS__MAX];		/* inode of each of cryo's namespaces */
	uint64_t root[NS__MAX];		/* of the root's (the first task checked) */
	uint64_t self_children[NS__MAX];/* of its *_for_children (0 where none) */
	struct ns_seen {
		enum ns_kind kind;
		uint64_t ino;
		uint32_t id;
		bool saved;		/* its dump step ran */
	} *seen;
	int nr_seen;
	uint32_t next_id;
	int net_back;			/* ns_dump_enter_net: cryo's own, -1: none */
	bool inited;			/* ns_dump_init ran (a dump may fail before) */
	const struct str_list *external;	/* --external: net[INODE]:KEY marks one */
	pid_t root_pid;			/* the first task checked (user.c) */
	bool pid_nested;		/* a task in a nested PID namespace, or whose
					 * pid_for_children differs (pid.c) */
};

int ns_dump_init(struct ns_dump *st, int dirfd);
/* Also takes cryo's thread back to its own network namespace
 * (ns_dump_enter_net; a failure is logged). */
void ns_dump_fini(struct ns_dump *st);
/* A tree in a network namespace of its own (the root process @root's):
 * cryo's thread enters it for the rest of the dump, so that what the dump
 * asks the network stack (sock_diag, the network lock's rules, its
 * guard's) is asked of the tree's namespace.  Once ns_dump_check_task
 * passed every task; 0 or a negative code (logged). */
int ns_dump_enter_net(struct ns_dump *st, pid_t root);

/* Refuse a task (thread @tid of process @pid, named @comm) that is in a
 * namespace cryo cannot restore: of a kind without steps, any that is not
 * cryo's own, or whose children would be born in another (unshare without
 * fork); of a kind with steps, any but the root's (the first task checked
 * is the root).  The message names the task, the kind, both inodes and
 * what helps.  0 or -EOPNOTSUPP (logged); other negative codes if /proc
 * could not be read (logged). */
int ns_dump_check_task(struct ns_dump *st, pid_t pid, pid_t tid, const char *comm);

/* The id of the namespace of @kind with inode @ino: the same for the same
 * namespace, new ones numbered from 1 (*@fresh: first seen now). */
int ns_dump_id(struct ns_dump *st, enum ns_kind kind, uint64_t ino, uint32_t *id, bool *fresh);

/* A descriptor on a namespace file (/proc/PID/ns/KIND) of kind @d, inode
 * @ino: its id, if it is the tree's namespace of that kind (the one the
 * restore makes or joins again); -EOPNOTSUPP (not logged: the caller
 * names the descriptor) for any other. */
int ns_dump_file(struct ns_dump *st, const struct ns_desc *d, uint64_t ino, uint32_t *id);

/* Fill the namespace ids of process @pid into @ids (criu's
 * pid_ns_id, net_ns_id, ...: equal ids, equal namespaces); the first time
 * a namespace other than cryo's is seen, its kind's dump step saves it. */
int ns_dump_fill_ids(struct ns_dump *st, pid_t pid, TaskKobjIdsEntry *ids);
/* The ids of cryo's own namespaces: criu's inventory root_ids (what the
 * processes' ids are compared with to know which namespaces to make). */
int ns_dump_self_ids(struct ns_dump *st, TaskKobjIdsEntry *ids);

/* Restore side: @ids of process @pid against the dumping tool's
 * namespaces (inventory root_ids) and the root process's (@tree_ids).
 * Refuses (-EOPNOTSUPP, logged) a process recorded in a namespace other
 * than the dumping tool's of a kind cryo cannot create, or, of a kind it
 * creates, in one other than the root process's: before any task exists.
 * Images without namespace ids pass. */
int ns_restore_check(const TaskKobjIdsEntry *root_ids, const TaskKobjIdsEntry *tree_ids,
		     const TaskKobjIdsEntry *ids, pid_t pid);
/* The CLONE_NEW* flags of the namespaces the root gets new: the kinds it
 * was in a namespace of other than the dumping tool's (criu's
 * root_ns_mask).  Only kinds with a create step (ns_restore_check refused
 * the others). */
int ns_restore_flags(const TaskKobjIdsEntry *root_ids, const TaskKobjIdsEntry *tree_ids);
/* Before any task exists: each of those namespaces has its image in
 * @dirfd (0, or -ENOENT logged, naming it). */
int ns_restore_check_images(int flags, const TaskKobjIdsEntry *tree_ids, int dirfd);
/* Once the root @root exists (created with @flags): open each of its new
 * namespaces into @set (cryo's steps then run in them) and fill it with
 * its kind's create step from the images in @dirfd.  0 or a negative
 * code (logged). */
int ns_restore_create(int flags, const TaskKobjIdsEntry *tree_ids, pid_t root, int dirfd,
		      struct ns_set *set);
/* Right before the root's clone3: the namespaces (of @flags) that must be
 * made and filled before a task enters them (pre_clone steps) become
 * cryo's *_for_children; *@clone_flags (@flags on entry) loses their
 * flags.  @back gets what ns_restore_post_clone goes back to: call it
 * after the clone3, whether it worked or not (also after a failure here).
 * 0 or a negative code (logged). */
int ns_restore_pre_clone(int flags, const TaskKobjIdsEntry *tree_ids, int dirfd, int *clone_flags,
			 struct ns_set *back);
/* cryo back in its own namespaces after ns_restore_pre_clone; 0 or a
 * negative code (logged: cryo is left in another and must stop). */
int ns_restore_post_clone(struct ns_set *back);
/* pid.c: before any task exists, a root that gets a new PID namespace
 * (@ns_flags has CLONE_NEWPID) must have been its init (image PID 1), and
 * --pid-ns (@pid_ns_opt) does not apply.  0 or a negative code (logged). */
int pidns_restore_check_root(int ns_flags, pid_t root_pid, bool pid_ns_opt);
/* pid.c: pidns-@id.img for a PID namespace nested below the tree's, of
 * which process @pid is a member: its parent's id (ns_dump_id; @parent
 * where @pid is 0: a namespace that died with its init).  0 or a negative
 * code (logged). */
int pidns_dump_nested(struct ns_dump *st, pid_t pid, uint32_t id, uint32_t parent);
/* pid.c, restore: the parent of nested PID namespace @id (pidns-ID.img).
 * 0 or a negative code (logged). */
int pidns_restore_parent(int dirfd, uint32_t id, uint32_t *parent);
/* user.c: before any task exists, a tree that gets a new user namespace
 * (@ns_flags has CLONE_NEWUSER) but no PID namespace of its own must be
 * one task (@nr_tasks: processes and threads), as the dump checks (the
 * tasks cryo creates from inside the tree choose their PIDs with clone3
 * set_tid, which needs CAP_CHECKPOINT_RESTORE over the owner of cryo's PID
 * namespace).  0 or -EOPNOTSUPP (logged). */
int userns_restore_check_tree(int ns_flags, int nr_tasks);
/* user.c: right before the root's clone3, for a new user namespace
 * (@ns_flags has CLONE_NEWUSER) whose setgroups was "deny": the kernel
 * refuses setgroups(2) inside it, so the root inherits its supplementary
 * groups (ids inside, in its core image @core) from cryo's calling
 * thread, which takes them (mapped to cryo's ids) meanwhile;
 * userns_restore_groups_back gives cryo's back (call it after the clone3
 * either way).  0 or a negative code (logged). */
struct userns_groups {
	bool changed;
	int n;
	gid_t *v;
};
int userns_restore_groups(int ns_flags, const CoreEntry *core, int dirfd,
			  struct userns_groups *saved);
int userns_restore_groups_back(struct userns_groups *saved);
/* join.c: before the root is created: the namespaces it is to be born in
 * that exist (--join-ns KIND:PATH; a network namespace the dump marked
 * external, given with --inherit-fd fd[N]:KEY) are opened into @set and
 * their kinds leave *@ns_flags (nothing is made or filled for them).  0 or
 * a negative code (logged). */
int ns_restore_joins(const struct cryo_opts *o, int dirfd, const TaskKobjIdsEntry *tree_ids,
		     int *ns_flags, struct ns_set *set);
/* Right before the root's clone3, after ns_restore_pre_clone: cryo enters
 * each joined namespace of @set, *@back (ns_restore_post_clone's) getting
 * what to come back to. */
int ns_restore_enter_joined(const struct ns_set *set, struct ns_set *back);

/* A tree restored into a network namespace of its own (@set has it):
 * cryo's thread enters it for the rest of the restore (*@back: what to
 * come back to, -1 if nothing changed), so that every socket the restore
 * makes (the tasks', and its own raw and sock_diag ones) and the network
 * lock's rules are of the tree's namespace; ns_leave(NS_NET, *@back) at
 * the end.  0 or a negative code (logged). */
int ns_restore_enter_net(const struct ns_set *set, int *back);
/* A new descriptor on the restored namespace of kind @d that was id @id
 * at the dump (a namespace file a task held): the tree's (the root's,
 * @tree_ids), made new (@set has it) or cryo's own.  The fd, or a negative
 * code (logged). */
int ns_restore_open_file(const struct ns_set *set, const TaskKobjIdsEntry *tree_ids,
			 const struct ns_desc *d, uint32_t id);
/* Close the descriptors of @set (back to cryo's own). */
void ns_set_close(struct ns_set *set);

#endif
