/* files_restore.as_creator: calls run by a given process of the tree with
 * given effective ids, for the peer credentials of unix sockets (the
 * kernel takes the caller's tgid, euid, egid and groups at socketpair,
 * listen and connect; lib/sockets/sk_unix_cred.c).
 *
 * The process is the task of the tree with that PID, or, when the
 * socket's maker is no task of the tree (it exited), a helper forked by
 * the root with that PID (clone3 set_tid, so in the tree's PID and user
 * namespaces), which exits once the calls are made; its PID then stays in
 * the socket as the maker's did.  Either runs before any task's
 * credentials are restored, so it may still change its ids: raw
 * setgroups, setresgid, setresuid for the calls (the injected calls are
 * per thread, as the kernel's are; the saved uid stays 0, so the effective
 * one can go back to 0 with its capabilities), then back. */
#include "restore/restore.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_GROUPS 1024

struct ids {
	uint32_t uid, gid;
	uint32_t groups[MAX_GROUPS];
	int nr_groups;
};

static int get_ids(struct remote *r, struct ids *o)
{
	remote_scratch_reset(r);
	uint64_t u = remote_scratch_alloc(r, 3 * sizeof(uint32_t));
	uint64_t g = remote_scratch_alloc(r, 3 * sizeof(uint32_t));
	uint64_t gl = remote_scratch_alloc(r, sizeof(o->groups));
	if (!u || !g || !gl)
		return -ENOSPC;
	long ret = remote_call(r, "getresuid", __NR_getresuid, u, u + 4, u + 8);
	if (!ret)
		ret = remote_call(r, "getresgid", __NR_getresgid, g, g + 4, g + 8);
	long n = ret ? ret : remote_call(r, "getgroups", __NR_getgroups, MAX_GROUPS, gl);
	if (n < 0)
		return n;
	o->nr_groups = n;
	if (remote_read(r, u + 4, &o->uid, 4) || remote_read(r, g + 4, &o->gid, 4) ||
	    remote_read(r, gl, o->groups, n * sizeof(uint32_t)))
		return -EIO;
	return 0;
}

static bool same_groups(const struct ids *a, const uint32_t *g, size_t n)
{
	return (size_t)a->nr_groups == n && !memcmp(a->groups, g, n * sizeof(uint32_t));
}

/* Effective ids and groups of @r's thread: @uid, @gid, @groups (@cur: what
 * they are now).  Logged with @what. */
static int set_ids(struct remote *r, const struct ids *cur, uint32_t uid, uint32_t gid,
		   const uint32_t *groups, size_t n, const char *what)
{
	long ret = 0;
	if (n > MAX_GROUPS) {
		pr_err("%s: its maker had %zu groups, more than cryo sets (%d)", what, n,
		       MAX_GROUPS);
		return -EOPNOTSUPP;
	}
	if (!same_groups(cur, groups, n)) {
		remote_scratch_reset(r);
		uint64_t at = n ? remote_scratch_put(r, groups, n * sizeof(uint32_t)) : 0;
		if (n && !at)
			return -ENOSPC;
		ret = remote_syscall(r, __NR_setgroups, n, at, 0, 0, 0, 0);
		if (ret) {
			pr_err("%s: setgroups(%zu groups) in process %d: %s%s", what, n, r->tid,
			       strerror(-ret), ret == -EPERM ? " (its user namespace denies "
			       "setgroups: the socket's maker had other groups than the tree's "
			       "tasks get)" : "");
			return ret;
		}
	}
	if (gid != cur->gid)
		ret = remote_syscall(r, __NR_setresgid, -1, gid, -1, 0, 0, 0);
	if (ret) {
		pr_err("%s: setresgid(-1, %u, -1) in process %d: %s", what, gid, r->tid,
		       strerror(-ret));
		return ret;
	}
	if (uid != cur->uid)
		ret = remote_syscall(r, __NR_setresuid, -1, uid, -1, 0, 0, 0);
	if (ret)
		pr_err("%s: setresuid(-1, %u, -1) in process %d: %s%s", what, uid, r->tid,
		       strerror(-ret), ret == -EINVAL ? " (an id the tree's user namespace "
		       "does not map)" : "");
	return ret;
}

static int ids_back(struct remote *r, const struct ids *was, uint32_t uid, uint32_t gid,
		    const uint32_t *groups, size_t n, const char *what)
{
	long ret = 0;
	/* the uid first: with euid 0 back, the task may set the rest */
	if (uid != was->uid)
		ret = remote_syscall(r, __NR_setresuid, -1, was->uid, -1, 0, 0, 0);
	if (!ret && gid != was->gid)
		ret = remote_syscall(r, __NR_setresgid, -1, was->gid, -1, 0, 0, 0);
	if (!ret && !same_groups(was, groups, n)) {
		remote_scratch_reset(r);
		uint64_t at = was->nr_groups ? remote_scratch_put(r, was->groups,
								  was->nr_groups * sizeof(uint32_t)) : 0;
		ret = was->nr_groups && !at ? -ENOSPC
			: remote_syscall(r, __NR_setgroups, was->nr_groups, at, 0, 0, 0, 0);
	}
	if (ret)
		pr_err("%s: process %d can't take its own ids back after making it: %s", what,
		       r->tid, strerror(-ret));
	return ret;
}

static struct rst_proc *proc_of(struct rst_ctx *ctx, pid_t vpid)
{
	for (int i = 0; i < ctx->nr_procs; i++)
		if (ctx->procs[i].vpid == vpid)
			return &ctx->procs[i];
	return NULL;
}

int restore_as_creator(void *arg, const struct files_creator *c, files_creator_fn *fn,
		       void *fn_arg)
{
	struct rst_ctx *ctx = arg;
	struct rst_proc *p = proc_of(ctx, c->pid), *root = &ctx->procs[0];
	struct remote hr, *r;
	pid_t host;
	bool helper = !p;
	if (p && (!p->created || p->state == TASK_DEAD || p->exited)) {
		pr_err("%s: its peer credentials are those of process %d, a zombie of the tree: "
		       "cryo can't make a socket in it", c->what, c->pid);
		return -EOPNOTSUPP;
	}
	if (p) {
		r = &rst_leader(p)->r;
		host = p->pid;
	} else {
		int ret = restore_clone_in(&rst_leader(root)->r, c->pid, SIGCHLD, &host);
		if (ret) {
			pr_err("%s: its peer credentials name process %d, which left the tree; "
			       "cryo makes the socket in a helper with that PID, which it can't "
			       "have: %s", c->what, c->pid, ret == -EEXIST ?
			       "another process holds it" : strerror(-ret));
			return ret;
		}
		ret = remote_init_sibling(&hr, &rst_leader(root)->r, host);
		if (ret) {
			kill(host, SIGKILL);
			return ret;
		}
		r = &hr;
		pr_debug("%s: helper %d (%d in cryo's view) makes it", c->what, c->pid, host);
	}
	struct ids *was = xmalloc(sizeof(*was));
	int ret = was ? get_ids(r, was) : -ENOMEM;
	if (!ret)
		ret = set_ids(r, was, c->uid, c->gid, c->groups, c->nr_groups, c->what);
	if (!ret) {
		ret = fn(&ctx->files, r, host, fn_arg);
		int r2 = helper ? 0 : ids_back(r, was, c->uid, c->gid, c->groups, c->nr_groups,
					      c->what);
		ret = ret ? ret : r2;
	}
	free(was);
	if (helper) {
		int r2 = remote_syscall_noreturn(r, __NR_exit_group, 0, 0, 0);
		remote_fini(r);
		long got = r2 ? r2 : remote_call(&rst_leader(root)->r, "wait4 of a helper task",
						__NR_wait4, c->pid, 0, __WALL, 0);
		if (!r2 && got != c->pid)
			r2 = got < 0 ? got : -EIO;
		if (!r2)
			r2 = take_back_sigchld(root, c->pid);
		ret = ret ? ret : r2;
	}
	return ret;
}
