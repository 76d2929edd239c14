#include "seize/seize.h"
#include "proc/proc.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

int ptrace_wait_stop(pid_t tid, int *status, unsigned timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	unsigned spins = 0;
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL | WNOHANG);
		if (r == tid)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return_perror("waitpid(%d) failed", tid);
		}
		if (now_ns() > deadline) {
			pr_err("task %d did not stop within %u ms (is it in uninterruptible "
			       "sleep, state D? try a larger --timeout)", tid, timeout_ms);
			return -ETIMEDOUT;
		}
		/* Most stops arrive within microseconds: spin briefly, then back off. */
		if (spins++ < 200)
			sched_yield();
		else
			usleep(spins < 1000 ? 50 : 1000);
	}
}

static struct seized_proc *tree_find(struct seized_tree *t, pid_t pid)
{
	for (int i = 0; i < t->nr_procs; i++)
		if (t->procs[i]->pid == pid)
			return t->procs[i];
	return NULL;
}

static bool proc_has_thread(struct seized_proc *p, pid_t tid)
{
	for (int i = 0; i < p->nr_threads; i++)
		if (p->threads[i].tid == tid)
			return true;
	return false;
}

/* Is @tid traced by cryo already (seize_catch_frozen)? */
static bool seize_caught_by_us(pid_t pid, pid_t tid)
{
	struct proc_status st;
	if (proc_read_status_live(pid, tid, &st))
		return false;
	bool mine = st.tracer_pid == getpid();
	proc_status_free(&st);
	return mine;
}

/* A thread that called vfork() sleeps in the kernel (state D, killable
 * only) until its child execs or exits: no ptrace stop can come, and the
 * child shares its memory anyway, which cryo can't restore.  Say so at
 * once rather than after the stop timeout.  Returns -EOPNOTSUPP for a
 * vfork parent, 0 otherwise. */
static int check_vfork_parent(struct seized_proc *p, pid_t tid)
{
	struct proc_stat st;
	char path[80], *text;
	if (proc_read_stat_live(p->pid, tid, &st) || st.state != 'D')
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", p->pid, tid);
	if (read_file(AT_FDCWD, path, &text, true) < 0)
		return 0;
	int ret = 0;
	for (char *s = text, *end; *s; s = end) {
		long c = strtol(s, &end, 10);
		if (end == s)
			break;
		if (syscall(SYS_kcmp, tid, (pid_t)c, KCMP_VM, 0, 0) == 0) {
			pr_err("process %d (%s) is inside vfork(): processes %d and %ld share their "
			       "memory (address space) (CLONE_VM without CLONE_THREAD, as a vfork "
			       "child before its exec does): cryo can't restore processes sharing "
			       "it; dump once the child has exec'ed or exited", p->pid, p->comm,
			       p->pid, c);
			ret = -EOPNOTSUPP;
			break;
		}
	}
	free(text);
	return ret;
}

/* Is @pid in the tree under @root (its ancestors reach @root)? */
static bool under_root(pid_t pid, pid_t root)
{
	for (int depth = 0; pid > 1 && depth < 4096; depth++) {
		if (pid == root)
			return true;
		struct proc_stat st;
		if (proc_read_stat_live(pid, 0, &st))
			break;
		pid = st.ppid;
	}
	return false;
}

/* @tid of @p is traced by @tracer (a task has one tracer, so PTRACE_SEIZE
 * failed).  Nothing was done to it or its tracer: say who traces whom, why
 * that blocks and what helps.  A debugger in the tree or outside, strace,
 * or a child that called PTRACE_TRACEME (traced by its parent). */
static void report_traced(struct seized_proc *p, pid_t tid, pid_t tracer)
{
	const struct seized_proc *root = p;
	while (root->parent)
		root = root->parent;
	struct proc_stat ts;
	char tcomm[64] = "?";
	pid_t tgid = tracer;
	char path[64], *s;
	/* the tracer may be a thread: name its process */
	snprintf(path, sizeof(path), "/proc/%d/status", tracer);
	if (read_file(AT_FDCWD, path, &s, true) >= 0) {
		char *t = strstr(s, "\nTgid:");
		if (t)
			tgid = atoi(t + 6);
		free(s);
	}
	if (!proc_read_stat_live(tgid, 0, &ts))
		snprintf(tcomm, sizeof(tcomm), "%s", ts.comm);
	char who[96];
	if (tid == p->pid)
		snprintf(who, sizeof(who), "process %d (%s)", p->pid, p->comm);
	else
		snprintf(who, sizeof(who), "thread %d of process %d (%s)", tid, p->pid, p->comm);
	bool inside = under_root(tgid, root->pid);
	pr_err("%s is traced (ptrace) by process %d (%s), %s%s: a task has one tracer at a "
	       "time, so cryo can't seize it, and no restore can recreate a ptrace attachment "
	       "(criu refuses it too); detach the tracer (quit or detach the debugger or "
	       "strace%s) and dump again. cryo left both as they were",
	       who, tgid, tcomm, tgid == p->ppid ? "its parent (PTRACE_TRACEME or an attach), " : "",
	       inside ? "in the tree being dumped" : "outside the tree being dumped",
	       inside ? ", or let the tracing process end its PTRACE_ATTACH/PTRACE_SEIZE" : "");
}

/* Seize one thread and bring it to an interrupt (or group) stop; *@stop_sig
 * gets the signal of the group stop it was in (0: running).
 * Returns 1 if seized, 0 if the thread vanished, <0 on error. */
static int seize_thread(struct seized_proc *p, pid_t tid, unsigned timeout_ms, int *stop_sig)
{
	long opts = PTRACE_O_TRACESYSGOOD;
	/* seccomp is per thread: one that is not the leader may have a filter
	 * that would block the syscalls injected in it */
	bool seccomp = p->seccomp;
	struct proc_status ts;
	if (!seccomp && tid != p->pid && !proc_read_status_live(p->pid, tid, &ts)) {
		seccomp = ts.seccomp > 0;
		proc_status_free(&ts);
	}
	if (seccomp)
		opts |= PTRACE_O_SUSPEND_SECCOMP;
	if (ptrace(PTRACE_SEIZE, tid, 0, opts)) {
		if (errno == ESRCH)
			return 0;
		int e = errno;
		if (e == EPERM && seize_caught_by_us(p->pid, tid))
			goto stop;	/* seize_catch_frozen's: interrupted already */
		/* the kernel refuses to attach to a task that is exiting */
		struct proc_stat tst;
		int r = proc_read_stat_live(p->pid, tid, &tst);
		if (e == EPERM && (r == -ESRCH || (!r && (tst.state == 'Z' || tst.state == 'X'))))
			return 0;
		struct proc_status st;
		int tracer = 0;
		if (!proc_read_status_live(p->pid, tid, &st)) {
			tracer = st.tracer_pid;
			proc_status_free(&st);
		}
		if (e == EPERM && tracer)
			report_traced(p, tid, tracer);
		else if (e == EPERM)
			pr_err("can't seize task %d (%s): permission denied; cryo needs "
			       "CAP_SYS_PTRACE (run as root) and a ptrace scope that allows it "
			       "(kernel.yama.ptrace_scope)", tid, p->comm);
		else
			pr_err("PTRACE_SEIZE of task %d (%s) failed: %s", tid, p->comm, strerror(e));
		return -e;
	}
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0)) {
		int e = errno;
		pr_perror("PTRACE_INTERRUPT of task %d failed", tid);
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return e == ESRCH ? 0 : -e;
	}
stop:;
	int vf = check_vfork_parent(p, tid);
	if (vf) {
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return vf;
	}
	for (int tries = 0; tries < 64; tries++) {
		int status;
		int ret = ptrace_wait_stop(tid, &status, timeout_ms);
		if (ret) {
			ptrace(PTRACE_DETACH, tid, 0, 0);
			return ret;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return 0;
		if (!WIFSTOPPED(status))
			continue;
		int event = status >> 16;
		int sig = WSTOPSIG(status);
		if (event == PTRACE_EVENT_STOP) {
			/* a seized task in a group stop reports the signal that
			 * stopped it; an interrupted running one SIGTRAP */
			if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
				*stop_sig = sig;
			return 1;
		}
		/* A signal was about to be delivered: let it be delivered as it
		 * would have been; the pending interrupt stops the task right after. */
		if (ptrace(PTRACE_CONT, tid, 0, event ? 0 : sig)) {
			if (errno == ESRCH)
				return 0;
			return_perror("PTRACE_CONT of task %d failed", tid);
		}
	}
	pr_err("task %d keeps receiving signals; can't bring it to a stop", tid);
	ptrace(PTRACE_DETACH, tid, 0, 0);
	return -EAGAIN;
}

static int add_thread(struct seized_proc *p, pid_t tid)
{
	struct seized_thread *nt = xrealloc(p->threads, (p->nr_threads + 1) * sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	p->threads = nt;
	memset(&p->threads[p->nr_threads], 0, sizeof(*nt));
	p->threads[p->nr_threads].tid = tid;
	p->nr_threads++;
	return 0;
}

/* Is @tid in @gone (@n of them)?  Else add it (if there is room). */
static bool seen_gone(pid_t *gone, int *n, int max, pid_t tid)
{
	for (int i = 0; i < *n; i++)
		if (gone[i] == tid)
			return true;
	if (*n < max)
		gone[(*n)++] = tid;
	return false;
}

static int seize_proc_threads(struct seized_proc *p, unsigned timeout_ms)
{
	bool any_stopped = false;
	/* A thread that exits while cryo seizes the others may have started
	 * another first (a thread handing its work to a successor): after a
	 * round in which one went, list the threads again. */
	pid_t gone[1024];
	int nr_gone = 0;
	bool settled = false;
	long counted = 0;	/* threads the kernel counted when last unsettled */
	/* at least 100 rounds, and on a loaded machine as long as a thread may
	 * take to stop (timeout_ms) */
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int round;
	for (round = 0; (round < 100 || now_ns() < deadline) && !settled; round++) {
		char path[64];
		pid_t *tids;
		int n, added = 0;
		snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
		/* the process may exit meanwhile: -ESRCH drops it */
		int ret = proc_list_dir_pids_live(path, &tids, &n);
		if (ret)
			return ret;
		/* newest first: in a chain of threads each starting the next and
		 * exiting, the newest is the one about to start another */
		for (int i = n - 1; i >= 0; i--) {
			if (proc_has_thread(p, tids[i]))
				continue;
			int stop_sig = 0;
			ret = seize_thread(p, tids[i], timeout_ms, &stop_sig);
			if (ret < 0) {
				free(tids);
				return ret;
			}
			if (ret == 0) {
				if (!seen_gone(gone, &nr_gone, 1024, tids[i]))
					added++;
				continue;
			}
			ret = add_thread(p, tids[i]);
			if (ret) {
				ptrace(PTRACE_DETACH, tids[i], 0, 0);
				free(tids);
				return ret;
			}
			p->threads[p->nr_threads - 1].seized = true;
			any_stopped |= stop_sig != 0;
			if (stop_sig && (!p->stop_signo || tids[i] == p->pid))
				p->stop_signo = stop_sig;	/* the leader's */
			added++;
		}
		free(tids);
		if (added) {
			counted = 0;
			continue;
		}
		/* A listing that found nothing new proves nothing alone: the
		 * kernel cuts a read of /proc/PID/task short when a thread leaves
		 * the group meanwhile (it stops at the departed one), so a live
		 * thread after it is not listed.  The threads held are stopped:
		 * they can neither start a thread nor end.  Once the kernel counts
		 * no thread besides them, none is missing and none can appear. */
		struct proc_stat st;
		ret = proc_read_stat_live(p->pid, 0, &st);
		if (ret == -ESRCH || (!ret && (st.state == 'Z' || st.state == 'X'))) {
			settled = true;	/* the leader is gone: the callers decide */
		} else if (ret) {
			return ret;
		} else if (st.num_threads == p->nr_threads) {
			settled = true;
		} else {
			if (st.num_threads != counted)
				pr_debug("process %d: %ld thread(s) counted, %d stopped: listing again",
					 p->pid, st.num_threads, p->nr_threads);
			counted = st.num_threads;
			sched_yield();	/* an exiting thread leaves in microseconds */
		}
	}
	if (!settled && counted) {
		pr_err("process %d (%s): the kernel counts %ld thread(s) in it but cryo found and "
		       "stopped only %d in %u ms (%d listings of /proc/%d/task): a thread that "
		       "neither stops nor exits (stuck in its exit?) can't be dumped and must not "
		       "be left out; dump it again later", p->pid, p->comm, counted, p->nr_threads,
		       timeout_ms, round, p->pid);
		return -EAGAIN;
	}
	if (!settled) {
		pr_err("process %d (%s) keeps starting threads faster than cryo can seize them "
		       "(%d rounds in %u ms): dump it when it is quieter", p->pid, p->comm, round,
		       timeout_ms);
		return -EAGAIN;
	}
	/* The leader first, as CRIU orders threads. */
	for (int i = 1; i < p->nr_threads; i++)
		if (p->threads[i].tid == p->pid) {
			struct seized_thread t = p->threads[0];
			p->threads[0] = p->threads[i];
			p->threads[i] = t;
		}
	if (!p->nr_threads) {
		pr_debug("process %d exited while being seized", p->pid);
		return -ESRCH;
	}
	if (any_stopped && p->state == TASK_ALIVE)
		p->state = TASK_STOPPED;
	if (p->state == TASK_STOPPED && !p->stop_signo)
		p->stop_signo = SIGSTOP;	/* 'T' in stat, but no thread reported it */
	return 0;
}

static int add_proc(struct seized_tree *t, pid_t pid, struct seized_proc *parent,
		    struct seized_proc **out)
{
	struct seized_proc *p = xzalloc(sizeof(*p));
	struct seized_proc **np = xrealloc(t->procs, (t->nr_procs + 1) * sizeof(*np));
	if (!p || !np) {
		free(p);
		if (np)
			t->procs = np;
		return -ENOMEM;
	}
	t->procs = np;
	t->procs[t->nr_procs++] = p;
	p->pid = pid;
	p->parent = parent;
	if (parent) {
		struct seized_proc **nc = xrealloc(parent->children,
						   (parent->nr_children + 1) * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		parent->children = nc;
		parent->children[parent->nr_children++] = p;
	}
	*out = p;
	return 0;
}

/* Its last thread exited while cryo was seizing it.  Its parent is already
 * stopped, so nobody can have reaped it: it is (or, once the exit is done,
 * will be) a zombie the parent has yet to collect, and is dumped as one.
 * -ESRCH only if it is gone all the same. */
static int exited_while_seized(struct seized_proc *p)
{
	for (int i = 0; i < 200; i++) {
		struct proc_stat st;
		int ret = proc_read_stat_live(p->pid, 0, &st);
		if (ret)
			return ret;
		if (st.state == 'Z' || st.state == 'X') {
			p->state = TASK_DEAD;
			p->exit_code = st.exit_code;
			p->nr_threads = 0;
			pr_debug("process %d exited while being seized: dumped as a zombie", p->pid);
			return 0;
		}
		usleep(5000);	/* still in do_exit() */
	}
	pr_err("process %d lost its threads while being seized but did not become a zombie",
	       p->pid);
	return -EAGAIN;
}

static int seize_one_proc(struct seized_proc *p, unsigned timeout_ms)
{
	struct proc_stat st;
	struct proc_status sts;
	int ret = proc_read_stat_live(p->pid, 0, &st);
	if (ret)
		return ret;
	snprintf(p->comm, sizeof(p->comm), "%s", st.comm);
	p->ppid = st.ppid;
	p->pgid = st.pgid;
	p->sid = st.sid;
	if ((st.state == 'Z' || st.state == 'X') && st.num_threads > 1) {
		/* the leader exited alone (pthread_exit in main): the others run */
		pr_err("process %d (%s): its main thread has exited but %ld other thread(s) still "
		       "run; cryo can't restore a thread group without its leader (the kernel "
		       "can't recreate it); dump it once those threads have exited", p->pid,
		       p->comm, st.num_threads - 1);
		return -EOPNOTSUPP;
	}
	if (st.state == 'Z' || st.state == 'X') {
		p->state = TASK_DEAD;
		p->exit_code = st.exit_code;
		return 0;
	}
	p->state = st.state == 'T' ? TASK_STOPPED : TASK_ALIVE;
	ret = proc_read_status_live(p->pid, 0, &sts);
	if (ret)
		return ret;
	p->seccomp = sts.seccomp > 0;
	proc_status_free(&sts);
	/* A stopped process stays in its group stop: the injected calls run
	 * from the ptrace stop, and the kernel puts it back into the group
	 * stop when cryo detaches (or dies), so its parent sees nothing. */
	ret = seize_proc_threads(p, timeout_ms);
	if (ret == -ESRCH)
		return exited_while_seized(p);
	return ret;
}

/* A tree that holds cryo itself can't be frozen by it (the kernel won't let
 * cryo trace itself, and its parent shell waits for it).  Say so, rather
 * than let the seize fail on cryo's own PID with "permission denied". */
static int check_not_ancestor(pid_t pid)
{
	if (pid == 1) {
		pr_err("process 1 is the init of cryo's PID namespace: its tree holds every "
		       "process, cryo included, and can't be dumped from inside; dump a "
		       "container's init from outside its PID namespace");
		return -EINVAL;
	}
	pid_t me = getpid(), cur = getppid();
	for (int depth = 0; cur > 1 && depth < 4096; depth++) {
		if (cur == pid) {
			pr_err("process %d is an ancestor of cryo (pid %d): its tree holds cryo "
			       "itself, which can't freeze and dump itself; run cryo from outside the "
			       "tree (another session, e.g. `setsid`, or `systemd-run`)", pid, me);
			return -EINVAL;
		}
		struct proc_stat st;
		if (proc_read_stat_live(cur, 0, &st))
			break;
		cur = st.ppid;
	}
	return 0;
}

static int release_thread(struct seized_proc *p, struct seized_thread *t, enum release_mode mode);

int seize_tree(pid_t pid, unsigned timeout_s, struct seized_tree *tree)
{
	unsigned timeout_ms = (timeout_s ? timeout_s : 10) * 1000;
	struct seized_proc *root;
	int ret;

	memset(tree, 0, sizeof(*tree));
	if (pid <= 0) {
		pr_err("no process to dump: give its PID with -t/--tree");
		return -EINVAL;
	}
	if (pid == getpid()) {
		pr_err("cryo can't dump itself (pid %d)", pid);
		return -EINVAL;
	}
	ret = check_not_ancestor(pid);
	if (ret)
		return ret;
	if (kill(pid, 0) && errno == ESRCH) {
		pr_err("process %d does not exist", pid);
		return -ESRCH;
	}
	ret = add_proc(tree, pid, NULL, &root);
	if (ret)
		goto fail;
	tree->root = root;
	ret = seize_one_proc(root, timeout_ms);
	if (ret == -ESRCH)
		pr_err("process %d exited before it could be seized", pid);
	if (ret)
		goto fail;
	if (root->state == TASK_DEAD) {
		pr_err("process %d is a zombie: there is nothing left to dump", pid);
		ret = -ESRCH;
		goto fail;
	}

	/* Walk children until a pass finds nothing new: a task may fork while
	 * we are seizing its siblings; once its parent is stopped it can't.
	 * A pass in which a listed child was gone (or was not a child any more)
	 * proves nothing either: the kernel writes /proc/PID/task/TID/children by
	 * walking the thread's list of children by position (fs/proc/array.c,
	 * get_children_pid), so a child released during the read (one that
	 * exits while its parent ignores SIGCHLD is released in its own exit,
	 * stopped parent or not) shifts the positions and the live sibling
	 * after it is skipped.  Only a child listed and not yet seized can go
	 * (the others are stopped, or zombies of a stopped parent), and every
	 * one listed is seized or seen gone: a pass with nothing new and
	 * nothing gone was complete. */
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int passes = 0, nr_listed = 0;
	for (bool again = true; again; passes++) {
		int seized = 0, gone = 0;
		again = false;
		for (int i = 0; i < tree->nr_procs; i++) {
			struct seized_proc *p = tree->procs[i];
			pid_t *kids;
			int nk;
			if (p->state == TASK_DEAD)
				continue;
			/* procs[0..nr_listed) had their children listed in an
			 * earlier pass, while they were stopped */
			bool listed_before = i < nr_listed;
			ret = proc_list_children(p->pid, &kids, &nk);
			if (ret)
				goto fail;
			for (int k = 0; k < nk; k++) {
				struct seized_proc *c;
				if (tree_find(tree, kids[k]))
					continue;
				ret = add_proc(tree, kids[k], p, &c);
				if (!ret)
					ret = seize_one_proc(c, timeout_ms);
				if (!ret && c->ppid != p->pid) {
					/* released, and its PID taken by another
					 * process, since the listing: not ours */
					pr_debug("process %d listed as a child of %d has parent %d: "
						 "let go", c->pid, p->pid, c->ppid);
					for (int j = c->nr_threads - 1; j >= 0; j--)
						release_thread(c, &c->threads[j], RELEASE_RESUME);
					ret = -ESRCH;
				}
				if (ret == -ESRCH) {
					/* exited and released meanwhile: drop it,
					 * and list again */
					tree->nr_procs--;
					p->nr_children--;
					free(c->threads);
					free(c);
					ret = 0;
					gone++;
					continue;
				}
				if (ret) {
					free(kids);
					goto fail;
				}
				if (listed_before)
					pr_debug("process %d: child %d was not in an earlier listing "
						 "of its children (a sibling left during it, or it was reparented since)", p->pid,
						 c->pid);
				seized++;
			}
			free(kids);
		}
		nr_listed = tree->nr_procs;
		again = seized || gone;
		if (gone)
			pr_debug("pass %d: %d listed child(ren) gone before cryo could seize them "
				 "(%d new seized): listing again", passes + 1, gone, seized);
		/* each such pass seizes or loses a child that existed before the
		 * parents stopped: it ends unless children that were missed keep
		 * forking; a pass that only lost some past the timeout gives up */
		if (again && !seized && now_ns() > deadline) {
			pr_err("the children of the tree of %d keep exiting while cryo lists them "
			       "(%d pass(es) in %u ms, %d gone in the last): a listing that saw one go "
			       "may have skipped a live sibling, which must not be left out of the "
			       "dump; dump it when it is quieter", pid, passes + 1, timeout_ms, gone);
			ret = -EAGAIN;
			goto fail;
		}
	}
	tree->frozen_at_ns = now_ns();
	pr_info("seized %d process(es) in the tree of %d", tree->nr_procs, pid);
	return 0;
fail:
	release_tree(tree, RELEASE_RESUME);
	free_tree(tree);
	return ret;
}

static int release_thread(struct seized_proc *p, struct seized_thread *t, enum release_mode mode)
{
	int ret = 0;
	if (!t->seized)
		return 0;
	if (mode == RELEASE_KILL) {
		/* Collect the ptrace exit report so the real parent sees the exit now. */
		int st;
		waitpid(t->tid, &st, __WALL);
		t->seized = false;
		return 0;
	}
	if (t->regs_dirty && ptrace(PTRACE_SETREGS, t->tid, 0, &t->regs)) {
		ret = -errno;
		pr_perror("can't restore the registers of task %d", t->tid);
	}
	if (t->mask_dirty && ptrace(PTRACE_SETSIGMASK, t->tid, sizeof(t->sigmask), &t->sigmask)) {
		ret = -errno;
		pr_perror("can't restore the signal mask of task %d", t->tid);
	}
	/* A task that was stopped never left its group stop and re-enters it
	 * at the detach; --leave-stopped stops the others with SIGSTOP. */
	if (mode == RELEASE_STOPPED && p->state != TASK_STOPPED && t->tid == p->pid)
		kill(p->pid, SIGSTOP);
	if (ptrace(PTRACE_DETACH, t->tid, 0, t->pending_signal) && errno != ESRCH) {
		ret = -errno;
		pr_perror("can't detach from task %d", t->tid);
	}
	t->seized = false;
	return ret;
}

int release_tree(struct seized_tree *tree, enum release_mode mode)
{
	int ret = 0;
	/* All killed first: the init of a nested PID namespace ends only
	 * once every process in it is reaped, some by a parent outside it,
	 * which must not be left stopped meanwhile. */
	for (int i = 0; mode == RELEASE_KILL && i < tree->nr_procs; i++)
		if (tree->procs[i]->state != TASK_DEAD)
			kill(tree->procs[i]->pid, SIGKILL);
	for (int i = tree->nr_procs - 1; i >= 0; i--) {
		struct seized_proc *p = tree->procs[i];
		if (mode == RELEASE_KILL && p->state != TASK_DEAD)
			kill(p->pid, SIGKILL);
		/* Last to first: a killed leader is reported only after the other
		 * threads of its group have been reaped. */
		for (int j = p->nr_threads - 1; j >= 0; j--) {
			int r = release_thread(p, &p->threads[j], mode);
			if (r && !ret)
				ret = r;
		}
	}
	if (mode != RELEASE_KILL)
		for (int i = 0; i < tree->nr_procs; i++) {
			struct seized_proc *p = tree->procs[i];
			if (p->state != TASK_DEAD && p->nr_threads &&
			    (mode == RELEASE_STOPPED || p->state == TASK_STOPPED) &&
			    wait_pid_stopped(p->pid, 2000)) {
				/* a terminal stop signal is dropped if the group
				 * became orphaned meanwhile: stop it anyway */
				if (p->state == TASK_STOPPED && p->stop_signo != SIGSTOP) {
					pr_warn("process %d did not stop again with signal %d (%s); "
						"stopped with SIGSTOP instead", p->pid, p->stop_signo,
						strsignal(p->stop_signo));
					kill(p->pid, SIGSTOP);
				} else {
					pr_warn("process %d has not stopped again yet", p->pid);
				}
			}
		}
	return ret;
}

void free_tree(struct seized_tree *tree)
{
	for (int i = 0; i < tree->nr_procs; i++) {
		free(tree->procs[i]->threads);
		free(tree->procs[i]->children);
		free(tree->procs[i]);
	}
	free(tree->procs);
	memset(tree, 0, sizeof(*tree));
}

/* A tree frozen by a cgroup v1 freezer sits in the refrigerator, where a
 * ptrace interrupt can't reach it until it is thawed: each of its threads
 * is seized and interrupted now, while nothing in it can fork or exit, and
 * stops on its way out of the refrigerator, before it runs a user
 * instruction.  seize_tree then waits for those stops (seize_thread finds
 * them ours) and takes the tree as usual.  Best effort: a thread not
 * caught here (an error, a race) is left to seize_tree, which reports it.
 * *@caught: the threads caught, for seize_uncatch. */
int seize_catch_frozen(pid_t root, pid_t **caught, int *nr)
{
	pid_t *todo = malloc(sizeof(pid_t));
	int nt = 1;
	if (!todo)
		return -ENOMEM;
	*caught = NULL;
	*nr = 0;
	todo[0] = root;
	for (int i = 0; i < nt; i++) {
		char path[64];
		pid_t *tids, *kids;
		int n, nk;
		snprintf(path, sizeof(path), "/proc/%d/task", todo[i]);
		if (proc_list_dir_pids_live(path, &tids, &n))
			continue;
		for (int k = 0; k < n; k++) {
			long opts = PTRACE_O_TRACESYSGOOD;
			struct proc_status ts;
			if (!proc_read_status_live(todo[i], tids[k], &ts)) {
				if (ts.seccomp > 0)
					opts |= PTRACE_O_SUSPEND_SECCOMP;
				proc_status_free(&ts);
			}
			if (ptrace(PTRACE_SEIZE, tids[k], 0, opts))
				continue;
			pid_t *v = realloc(*caught, (*nr + 1) * sizeof(*v));
			if (v) {
				*caught = v;
				v[(*nr)++] = tids[k];
			}
			ptrace(PTRACE_INTERRUPT, tids[k], 0, 0);
		}
		free(tids);
		if (proc_list_children(todo[i], &kids, &nk))
			continue;
		pid_t *v = realloc(todo, (nt + nk) * sizeof(*v));
		if (v) {
			todo = v;
			memcpy(todo + nt, kids, nk * sizeof(*kids));
			nt += nk;
		}
		free(kids);
	}
	free(todo);
	return 0;
}

/* After seize_tree: let go of caught threads it did not take (it failed,
 * or they left the tree), once they have stopped. */
void seize_uncatch(const struct seized_tree *tree, pid_t *caught, int nr)
{
	for (int i = 0; i < nr; i++) {
		bool taken = false;
		for (int p = 0; tree && p < tree->nr_procs && !taken; p++)
			for (int t = 0; t < tree->procs[p]->nr_threads && !taken; t++)
				taken = tree->procs[p]->threads[t].tid == caught[i] &&
					tree->procs[p]->threads[t].seized;
		int status;
		if (!taken && seize_caught_by_us(caught[i], caught[i]) &&
		    !ptrace_wait_stop(caught[i], &status, 1000))
			ptrace(PTRACE_DETACH, caught[i], 0, 0);
	}
	free(caught);
}
