/* Freezing a process tree with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT), and
 * letting it go again.  Nothing is written into the target. */
#ifndef CRYO_SEIZE_H
#define CRYO_SEIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* Task states, as in CRIU's pstree/core images. */
#define TASK_ALIVE   0x1
#define TASK_DEAD    0x2	/* zombie */
#define TASK_STOPPED 0x3
#define TASK_HELPER  0x4

/* PID namespace levels a task may have from the tree's (the root's)
 * inward: the tree's and up to 7 nested below it (dump/vpid.c). */
#define PIDNS_LEVELS 8

struct seized_thread {
	pid_t tid;
	pid_t vtid;			/* as seen in the root's PID namespace (the images') */
	pid_t nstid[PIDNS_LEVELS];	/* in a nested PID namespace: at each level ([0] == vtid) */
	bool seized;
	bool regs_saved;
	bool regs_dirty;		/* registers changed by injection: restore on release */
	bool mask_dirty;
	int pending_signal;		/* signal caught while interrupting: re-delivered on release */
	struct user_regs_struct regs;	/* as found */
	uint64_t sigmask;		/* as found (PTRACE_GETSIGMASK) */
	uint32_t cg_set;		/* its cgroup set (lib/cgroup), 0: not recorded */
	/* A call the kernel goes on with through restart_syscall, whose
	 * number the registers no longer show: @cont_in as the previous dump
	 * of this tree left it (dump/restart_calls.c), @cont_out as this one
	 * leaves it (nr 0: none).  ip, sp and the six argument registers
	 * (which restart_syscall leaves as the call had them) tell that it is
	 * the same call. */
	struct { uint64_t nr, ip, sp, args[6]; } cont_in, cont_out;
};

struct seized_proc {
	pid_t pid, ppid, pgid, sid;	/* as cryo sees them */
	/* as seen in the root's PID namespace: what the images record
	 * (criu's "virtual" pids); the same as the above when the root is
	 * in cryo's (filled once the tree is frozen: dump_tree_vpids) */
	pid_t vpid, vpgid, vsid;
	/* nested PID namespaces (dump_tree_vpids): how many levels below the
	 * tree's namespace it is (0: in it), its PID, group and session at
	 * each level from the tree's inward ([0] == vpid; 0 where the leader
	 * has no PID), the id of its PID namespace (ns_dump_id), and of its
	 * pid_for_children where that differs (0: the same; or
	 * children_unshared: unshare(CLONE_NEWPID) without fork since) */
	int nslv;
	pid_t nspid[PIDNS_LEVELS], nspgid[PIDNS_LEVELS], nssid[PIDNS_LEVELS];
	uint32_t pidns_id, children_pidns;
	bool children_unshared;
	int state;			/* TASK_* */
	int stop_signo;			/* TASK_STOPPED: the signal of its group stop */
	int exit_code;			/* zombies */
	char comm[64];
	struct seized_thread *threads;	/* threads[0] is the leader */
	int nr_threads;
	struct seized_proc *parent;
	struct seized_proc **children;
	int nr_children;
	bool seccomp;			/* had seccomp: PTRACE_O_SUSPEND_SECCOMP used */
};

struct seized_tree {
	struct seized_proc *root;
	struct seized_proc **procs;	/* every process, parents before children */
	int nr_procs;
	uint64_t frozen_at_ns;
};

/* Seize and stop every thread of every process in the tree rooted at @pid,
 * repeating until the tree is stable.  On failure nothing stays seized. */
int seize_tree(pid_t pid, unsigned timeout_s, struct seized_tree *tree);
/* --freeze-cgroup with a v1 freezer: catch the frozen tree before the thaw
 * (seize_tree then takes it); seize_uncatch lets go of what it did not. */
int seize_catch_frozen(pid_t root, pid_t **caught, int *nr);
void seize_uncatch(const struct seized_tree *tree, pid_t *caught, int nr);

enum release_mode {
	RELEASE_RESUME,		/* leave running (or stopped, if it was) */
	RELEASE_STOPPED,	/* leave every task stopped (--leave-stopped) */
	RELEASE_KILL,		/* dump done: kill the tree */
};
/* Restore any register/mask changes, then detach (or kill) every task. */
int release_tree(struct seized_tree *tree, enum release_mode mode);
void free_tree(struct seized_tree *tree);

/* Wait for a ptrace stop of @tid, with a timeout; returns 0 and the status,
 * or a negative code (logged).  Used by seize and the remote-syscall layer. */
int ptrace_wait_stop(pid_t tid, int *status, unsigned timeout_ms);

#endif
