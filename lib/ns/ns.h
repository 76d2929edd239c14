/* Namespaces: one descriptor per kind (its clone flag, /proc/PID/ns name,
 * image field), as lib/files has one per descriptor kind.  Today cryo
 * restores a tree into its own namespaces only, so a tree that lives in any
 * other is refused at dump, and images that record one are refused at
 * restore.  The dump, create and join steps of each kind hang off this
 * table as they are implemented (containers). */
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

struct ns_desc {
	enum ns_kind kind;
	const char *name;		/* /proc/PID/ns/NAME, criu's and readlink's name */
	const char *what;		/* "network": for messages */
	int clone_flag;			/* CLONE_NEW* */
	const char *for_children;	/* "pid_for_children", "time_for_children", or NULL */
	size_t has_off, id_off;		/* its field in task_kobj_ids_entry */
	bool restorable;		/* cryo can create one at restore */
	const char *hint;		/* what helps when a tree in one is refused */
};

const struct ns_desc *ns_desc(enum ns_kind kind);

/* Dump side: cryo's own namespaces, and ids for the images. */
struct ns_dump {
	uint64_t self[NS__MAX];		/* inode of each of cryo's namespaces */
	uint64_t self_children[NS__MAX];/* of its *_for_children (0 where none) */
	struct ns_seen {
		enum ns_kind kind;
		uint64_t ino;
		uint32_t id;
	} *seen;
	int nr_seen;
	uint32_t next_id;
};

int ns_dump_init(struct ns_dump *st);
void ns_dump_fini(struct ns_dump *st);

/* Refuse a task (thread @tid of process @pid, named @comm) that is in a
 * namespace cryo cannot restore: any that is not cryo's own, or whose
 * children would be born in another (unshare without fork).  The message
 * names the task, the kind, both inodes and what helps.  0 or -EOPNOTSUPP
 * (logged); other negative codes if /proc could not be read (logged). */
int ns_dump_check_task(struct ns_dump *st, pid_t pid, pid_t tid, const char *comm);

/* Fill the namespace ids of process @pid into @ids (criu's
 * pid_ns_id, net_ns_id, ...: equal ids, equal namespaces). */
int ns_dump_fill_ids(struct ns_dump *st, pid_t pid, TaskKobjIdsEntry *ids);

/* Restore side: @ids of process @pid against the dump's root namespaces
 * (inventory root_ids).  Refuses (-EOPNOTSUPP, logged) a process recorded
 * in a namespace other than the root's, of a kind cryo cannot create:
 * before any task exists.  Images without namespace ids pass. */
int ns_restore_check(const TaskKobjIdsEntry *root_ids, const TaskKobjIdsEntry *ids, pid_t pid);

#endif
