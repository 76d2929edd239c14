/* PID namespaces: a tree whose root is the init (PID 1) of a PID
 * namespace of its own, as a container runtime makes one.
 *
 * Nothing of the namespace itself is saved: its contents are its
 * processes, and their PIDs inside it are what the images record (the
 * dump's lib/dump/vpid.c).  The restore makes it with the root's clone3
 * (CLONE_NEWPID, set_tid = { 1 }: the first task of a new namespace can
 * only be its PID 1, and set_tid[0] names the PID in the innermost
 * namespace, the new one); every other task is then cloned from inside it
 * with its old PID there (set_tid of size 1: its PIDs further out are
 * whatever is free).  The kernel does the rest: the root, as init, gets
 * the orphans of the namespace, and its exit kills the namespace. */
#include "ns/ns-int.h"
#include "util/log.h"

#include <errno.h>
#include <sched.h>

int pidns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	(void)dirfd;
	(void)set;
	pr_debug("%s namespace %u: made by the root's clone3, nothing to fill", d->what, id);
	return 0;
}

int pidns_restore_check_root(int ns_flags, pid_t root_pid, bool pid_ns_opt)
{
	if (!(ns_flags & CLONE_NEWPID))
		return 0;
	if (root_pid != 1) {
		pr_err("the root process (%d) was dumped in a PID namespace of its own but not "
		       "as its init (PID 1): cryo restores a PID namespace with the root as its "
		       "init and can't restore this tree", root_pid);
		return -EOPNOTSUPP;
	}
	if (pid_ns_opt) {
		pr_err("the tree was dumped in a PID namespace of its own (its root is PID 1 "
		       "there): it gets a new one anyway, with its PIDs inside; restore it without "
		       "--pid-ns (here cryo runs as the init of a PID namespace: --pid-ns, or a "
		       "cryo started as a namespace's init, which can't give it PID 1)");
		return -EINVAL;
	}
	return 0;
}
