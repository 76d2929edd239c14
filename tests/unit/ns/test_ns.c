/* The namespace table (lib/ns): one consistent descriptor per kind, whose
 * image field is the one criu's core.proto gives it, the ids the dump
 * gives namespaces, the restore's refusal of a namespace it can't create
 * (or of a tree split over two of a kind it creates), the kinds it makes
 * new for the root, and entering the namespaces of a set (cryo's own: no setns). */
#include "../unit.h"
#include "ns/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void test_table(void)
{
	int n = 0;
	unsigned flags = 0;

	for_each_ns_desc(d) {
		CHECK_INT(d->kind, n);
		CHECK(ns_desc(d->kind) == d);
		CHECK(d->name && d->what && d->nsenter_opt && d->hint);
		/* one clone flag each, a single bit, and no two alike */
		CHECK(d->clone_flag && !(d->clone_flag & (d->clone_flag - 1)));
		CHECK(!(flags & d->clone_flag));
		flags |= d->clone_flag;
		CHECK(ns_desc_by_flag(d->clone_flag) == d);
		CHECK(ns_desc_by_name(d->name) == d);
		/* the field the table names is criu's field NAME_ns_id, by
		 * number, and where protobuf-c keeps it */
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(&task_kobj_ids_entry__descriptor,
								 d->ids_field);
		char want[32];
		snprintf(want, sizeof(want), "%s_ns_id", d->name);
		CHECK(f != NULL);
		if (f) {
			CHECK_STR(f->name, want);
			CHECK_INT(f->offset, d->id_off);
			CHECK_INT(f->quantifier_offset, d->has_off);
		}
		/* UTS, IPC, network, cgroup, time, PID, mount and user
		 * are restorable; every other kind is refused.  PID has
		 * nothing to save of its own (its tasks' PIDs are the
		 * pstree's) */
		CHECK(ns_creatable(d) == (d->kind == NS_UTS || d->kind == NS_IPC ||
					  d->kind == NS_NET || d->kind == NS_CGROUP ||
					  d->kind == NS_TIME || d->kind == NS_PID ||
					  d->kind == NS_MNT || d->kind == NS_USER));
		CHECK(ns_creatable(d) == (d->dump != NULL || d->kind == NS_PID));
		CHECK(d->kind != NS_PID || d->content_img < 0);
		/* only time must be ready before the root enters it */
		CHECK((d->pre_clone != NULL) == (d->kind == NS_TIME));
		n++;
	}
	CHECK_INT(n, NS__MAX);
	CHECK(ns_desc(NS__MAX) == NULL);
	CHECK(ns_desc_by_flag(CLONE_NEWNET | CLONE_NEWUTS) == NULL);
	CHECK(ns_desc_by_name("pid_for_children") == NULL);
	CHECK_STR(ns_desc(NS_MNT)->nsenter_opt, "mount");
	CHECK_INT(ns_desc(NS_NET)->clone_flag, CLONE_NEWNET);
	CHECK_INT(ns_desc(NS_MNT)->clone_flag, CLONE_NEWNS);
}

static void test_ids(void)
{
	struct ns_dump st = { .next_id = 1 };
	uint32_t a, b, c, d;
	bool fresh;

	CHECK_INT(ns_dump_id(&st, NS_NET, 4026531840ULL, &a, &fresh), 0);
	CHECK(fresh);
	CHECK_INT(ns_dump_id(&st, NS_UTS, 4026531838ULL, &b, &fresh), 0);
	CHECK(fresh && b != a);
	CHECK_INT(ns_dump_id(&st, NS_NET, 4026531840ULL, &c, &fresh), 0);
	CHECK(!fresh);
	CHECK_INT(c, a);
	/* the same inode number under another kind is another namespace */
	CHECK_INT(ns_dump_id(&st, NS_IPC, 4026531840ULL, &d, &fresh), 0);
	CHECK(fresh && d != a && d != b);
	ns_dump_fini(&st);
	CHECK_INT(st.nr_seen, 0);

	TaskKobjIdsEntry root = TASK_KOBJ_IDS_ENTRY__INIT, t = TASK_KOBJ_IDS_ENTRY__INIT;
	uint32_t id;
	for_each_ns_desc(k) {
		CHECK(!ns_ids_get(k, &root, &id));
		ns_ids_set(k, &root, 10 + k->kind);
		ns_ids_set(k, &t, 10 + k->kind);
		CHECK(ns_ids_get(k, &root, &id));
		CHECK_INT(id, 10 + k->kind);
	}
	CHECK_INT(root.net_ns_id, 10 + NS_NET);
	CHECK(root.has_time_ns_id);
	TaskKobjIdsEntry tree = t;	/* the root process's */
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), 0);
	CHECK_INT(ns_restore_check(NULL, &tree, &t, 42), 0);
	CHECK_INT(ns_restore_check(&root, &tree, NULL, 42), 0);
	CHECK_INT(ns_restore_flags(&root, &tree), 0);
	/* a process in a user namespace other than the root's: refused */
	t.user_ns_id = 99;
	fprintf(stderr, "(an error about process 42 is expected)\n");
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), -EOPNOTSUPP);
	/* images without that id (an older writer) pass */
	t.has_user_ns_id = 0;
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), 0);
	t.has_user_ns_id = 1;
	t.user_ns_id = root.user_ns_id;

	/* a tree in UTS and IPC namespaces of its own: made new for the
	 * root, and every process must share the root's */
	tree.uts_ns_id = t.uts_ns_id = 50;
	tree.ipc_ns_id = t.ipc_ns_id = 51;
	CHECK_INT(ns_restore_check(&root, &tree, &tree, 1), 0);
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), 0);
	CHECK_INT(ns_restore_flags(&root, &tree), CLONE_NEWUTS | CLONE_NEWIPC);
	t.ipc_ns_id = root.ipc_ns_id;	/* a process left in the dumping tool's */
	fprintf(stderr, "(an error about process 42 is expected)\n");
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), -EOPNOTSUPP);
	t.ipc_ns_id = 52;		/* or in a third one */
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), -EOPNOTSUPP);
	tree.uts_ns_id = root.uts_ns_id;
	CHECK_INT(ns_restore_flags(&root, &tree), CLONE_NEWIPC);
	/* a user namespace of its own: made by the root's clone3 too */
	tree.user_ns_id = 77;
	CHECK_INT(ns_restore_flags(&root, &tree), CLONE_NEWIPC | CLONE_NEWUSER);
	/* ... which, without a PID namespace of its own, holds one task */
	CHECK_INT(userns_restore_check_tree(CLONE_NEWUSER, 1), 0);
	CHECK_INT(userns_restore_check_tree(CLONE_NEWUSER | CLONE_NEWPID, 5), 0);
	CHECK_INT(userns_restore_check_tree(CLONE_NEWNET, 5), 0);
	fprintf(stderr, "(an error about a tree of 2 tasks is expected)\n");
	CHECK_INT(userns_restore_check_tree(CLONE_NEWUSER, 2), -EOPNOTSUPP);
	tree.user_ns_id = root.user_ns_id;
	/* a network namespace of its own: made new for the root */
	tree.net_ns_id = 78;
	CHECK_INT(ns_restore_flags(&root, &tree), CLONE_NEWIPC | CLONE_NEWNET);
	tree.net_ns_id = root.net_ns_id;
	/* time and cgroup: made new too; time's before the root's clone3,
	 * so not by it (no pre_clone step runs without CLONE_NEWTIME) */
	tree.cgroup_ns_id = 60;
	CHECK_INT(ns_restore_flags(&root, &tree), CLONE_NEWIPC | CLONE_NEWCGROUP);
	struct ns_set back;
	int cf = -1;
	/* the tree in the dumping tool's time namespace, and no timens-0.img
	 * (an older dump): nothing to make */
	char dir[] = "/tmp/cryo-test-ns-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);
	CHECK_INT(ns_restore_pre_clone(CLONE_NEWIPC | CLONE_NEWCGROUP, &tree, dirfd, &cf, &back), 0);
	close(dirfd);
	rmdir(dir);
	CHECK_INT(cf, CLONE_NEWIPC | CLONE_NEWCGROUP);
	for (int k = 0; k < NS__MAX; k++)
		CHECK_INT(back.fd[k], -1);
	CHECK_INT(ns_restore_post_clone(&back), 0);
	tree.time_ns_id = 61;
	CHECK_INT(ns_restore_flags(&root, &tree), CLONE_NEWIPC | CLONE_NEWCGROUP | 0x80);

	/* a PID namespace of its own: made by the root's clone3, whose PID
	 * there must be 1, and every process in it */
	tree.time_ns_id = root.time_ns_id;
	tree.ipc_ns_id = root.ipc_ns_id;
	tree.cgroup_ns_id = root.cgroup_ns_id;
	tree.net_ns_id = root.net_ns_id;
	t = tree;
	tree.pid_ns_id = t.pid_ns_id = 70;
	CHECK_INT(ns_restore_flags(&root, &tree), CLONE_NEWPID);
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), 0);
	t.pid_ns_id = 71;		/* nested below it, or anywhere else */
	fprintf(stderr, "(an error about process 42 is expected)\n");
	CHECK_INT(ns_restore_check(&root, &tree, &t, 42), -EOPNOTSUPP);
	CHECK_INT(pidns_restore_check_root(CLONE_NEWPID, 1, false), 0);
	CHECK_INT(pidns_restore_check_root(0, 42, false), 0);
	CHECK_INT(pidns_restore_check_root(0, 42, true), 0);
	fprintf(stderr, "(two errors about a PID namespace are expected)\n");
	CHECK_INT(pidns_restore_check_root(CLONE_NEWPID, 42, false), -EOPNOTSUPP);
	CHECK_INT(pidns_restore_check_root(CLONE_NEWPID, 1, true), -EINVAL);
	/* nothing to check for in the images */
	CHECK_INT(ns_restore_check_images(CLONE_NEWPID, &tree, -1), 0);
}

static void test_enter(void)
{
	struct ns_set set;
	int back = 123;

	ns_set_self(&set);
	for (int k = 0; k < NS__MAX; k++)
		CHECK_INT(set.fd[k], -1);
	/* cryo's own: no setns, nothing to come back to */
	CHECK_INT(ns_enter(&set, ns_desc(NS_NET), &back), 0);
	CHECK_INT(back, -1);
	CHECK_INT(ns_leave(ns_desc(NS_NET), back), 0);
	CHECK_INT(ns_enter(NULL, ns_desc(NS_MNT), &back), 0);
	CHECK_INT(back, -1);

	/* a set holding a namespace: joined and left (setns needs
	 * CAP_SYS_ADMIN, even into one's own namespace) */
	if (geteuid())
		return;
	set.fd[NS_UTS] = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	CHECK(set.fd[NS_UTS] >= 0);
	CHECK_INT(ns_enter(&set, ns_desc(NS_UTS), &back), 0);
	CHECK(back >= 0);
	CHECK_INT(ns_leave(ns_desc(NS_UTS), back), 0);
	CHECK(fcntl(back, F_GETFD) < 0);	/* closed */
	close(set.fd[NS_UTS]);
}

int main(void)
{
	test_table();
	test_ids();
	test_enter();
	return unit_done("ns");
}
