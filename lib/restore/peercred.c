/* files_restore.as_creator: calls run by a given process of the tree with
 * given effective ids, for the peer credentials of unix sockets (the
 * kernel takes the caller's tgid, euid, egid and groups at socketpair,
 * listen and connect; lib/sockets/sk_unix_cred.c).
 *
 * The process is the task of the tree with that PID, or, when the
 * socket's maker is no task of the tree (it exited), a helper forked by
 * the root with that PID (clone3 set_tid, so in the tree's PID and user
 * namespaces), held from before the first socket is made (creator_hold:
 * outside the tree's mount namespace, whose /proc may not show it to
 * cryo) to the last, then made to exit; its PID then stays in the socket
 * as the maker's did.  Either runs before any task's credentials are
 * restored, so it may still change its ids: raw setgroups, setresgid,
 * setresuid for the calls (injected calls are per thread, as the
 * kernel's are), then back.  SECBIT_NO_SETUID_FIXUP is set meanwhile: a
 * change of the effective uid to or from 0 would otherwise clear the
 * effective capabilities (and, in a user namespace where the task's ids
 * are all unmapped, leaving 0 would clear the permitted ones too). */
#include "restore/restore.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_GROUPS 1024

struct ids {
	uint32_t uid, gid;
	uint32_t groups[MAX_GROUPS];
	int nr_groups;
	long secbits;
};

/* Helpers with the PIDs of sockets' makers that left the tree. */
struct rst_creators {
	struct held {
		pid_t pid, host;	/* the tree's, cryo's */
		struct remote r;
		bool traced;		/* r is set up */
	} *v;
	int nr;
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
	o->secbits = remote_call(r, "prctl(PR_GET_SECUREBITS)", __NR_prctl, PR_GET_SECUREBITS);
	return o->secbits < 0 ? o->secbits : 0;
}

static bool same_groups(const struct ids *a, const uint32_t *g, size_t n)
{
	return (size_t)a->nr_groups == n && (!n || !memcmp(a->groups, g, n * sizeof(uint32_t)));
}

static int set_groups(struct remote *r, const uint32_t *groups, size_t n)
{
	remote_scratch_reset(r);
	uint64_t at = n ? remote_scratch_put(r, groups, n * sizeof(uint32_t)) : 0;
	if (n && !at)
		return -ENOSPC;
	return remote_syscall(r, __NR_setgroups, n, at, 0, 0, 0, 0);
}

static bool no_fixup(const struct ids *cur)
{
	return cur->secbits & SECBIT_NO_SETUID_FIXUP;
}

/* Effective ids and groups of @r's thread: @c's (@cur: what they are now). */
static int set_ids(struct remote *r, const struct ids *cur, const struct files_creator *c)
{
	long ret = 0;
	if (c->nr_groups > MAX_GROUPS) {
		pr_err("%s: its maker had %zu groups, more than cryo sets (%d)", c->what,
		       c->nr_groups, MAX_GROUPS);
		return -EOPNOTSUPP;
	}
	if (c->uid != cur->uid && !no_fixup(cur)) {
		ret = remote_syscall(r, __NR_prctl, PR_SET_SECUREBITS,
				     cur->secbits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0, 0);
		if (ret) {
			pr_err("%s: prctl(PR_SET_SECUREBITS) in process %d: %s", c->what, r->tid,
			       strerror(-ret));
			return ret;
		}
	}
	if (!same_groups(cur, c->groups, c->nr_groups)) {
		ret = set_groups(r, c->groups, c->nr_groups);
		if (ret) {
			pr_err("%s: setgroups(%zu groups) in process %d: %s%s", c->what,
			       c->nr_groups, r->tid, strerror(-ret), ret == -EPERM ? " (its user "
			       "namespace denies setgroups: the socket's maker had other groups "
			       "than the tree's tasks get)" : "");
			return ret;
		}
	}
	if (c->gid != cur->gid)
		ret = remote_syscall(r, __NR_setresgid, -1, c->gid, -1, 0, 0, 0);
	if (ret) {
		pr_err("%s: setresgid(-1, %u, -1) in process %d: %s%s", c->what, c->gid, r->tid,
		       strerror(-ret), ret == -EINVAL ? " (a group its user namespace does "
		       "not map)" : "");
		return ret;
	}
	if (c->uid != cur->uid)
		ret = remote_syscall(r, __NR_setresuid, -1, c->uid, -1, 0, 0, 0);
	if (ret)
		pr_err("%s: setresuid(-1, %u, -1) in process %d: %s%s", c->what, c->uid, r->tid,
		       strerror(-ret), ret == -EINVAL ? " (a user its user namespace does not "
		       "map)" : "");
	return ret;
}

/* Back to @was, whatever set_ids got done. */
static int ids_back(struct remote *r, const struct ids *was, const struct files_creator *c)
{
	long ret = remote_syscall(r, __NR_setresuid, -1, was->uid, -1, 0, 0, 0);
	if (!ret)
		ret = remote_syscall(r, __NR_setresgid, -1, was->gid, -1, 0, 0, 0);
	if (!ret && !same_groups(was, c->groups, c->nr_groups))
		ret = set_groups(r, was->groups, was->nr_groups);
	if (!ret && !no_fixup(was) && c->uid != was->uid)
		ret = remote_syscall(r, __NR_prctl, PR_SET_SECUREBITS, was->secbits, 0, 0, 0, 0);
	if (ret)
		pr_err("%s: process %d can't take its own ids back after making it: %s", c->what,
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

static struct held *held_of(struct rst_ctx *ctx, pid_t pid)
{
	for (int i = 0; ctx->creators && i < ctx->creators->nr; i++)
		if (ctx->creators->v[i].pid == pid)
			return &ctx->creators->v[i];
	return NULL;
}

int restore_creator_hold(void *arg, pid_t pid, const char *what)
{
	struct rst_ctx *ctx = arg;
	struct rst_proc *p = proc_of(ctx, pid), *root = &ctx->procs[0];
	if (p && (!p->created || p->state == TASK_DEAD || p->exited)) {
		pr_err("%s: its peer credentials are those of process %d, a zombie of the tree: "
		       "cryo can't make a socket in it", what, pid);
		return -EOPNOTSUPP;
	}
	if (p || held_of(ctx, pid))
		return 0;
	if (!ctx->creators) {
		ctx->creators = xzalloc(sizeof(*ctx->creators));
		if (!ctx->creators)
			return -ENOMEM;
	}
	struct rst_creators *cs = ctx->creators;
	struct held *n = xrealloc(cs->v, (cs->nr + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	cs->v = n;
	struct held *h = &cs->v[cs->nr];
	*h = (struct held){ .pid = pid };
	int ret = restore_clone_in(&rst_leader(root)->r, pid, SIGCHLD, &h->host);
	if (ret) {
		pr_err("%s: its peer credentials name process %d, which left the tree; cryo "
		       "makes the socket in a helper with that PID, which it can't have: %s",
		       what, pid, ret == -EEXIST ? "another process holds it" : strerror(-ret));
		return ret;
	}
	cs->nr++;
	ret = remote_init_sibling(&h->r, &rst_leader(root)->r, h->host);
	if (ret)
		return ret;
	h->traced = true;
	pr_debug("%s: helper %d (%d in cryo's view) makes it", what, pid, h->host);
	return 0;
}

int restore_creators_release(void *arg)
{
	struct rst_ctx *ctx = arg;
	struct rst_creators *cs = ctx->creators;
	struct rst_proc *root = &ctx->procs[0];
	int ret = 0;
	for (int i = 0; cs && i < cs->nr; i++) {
		struct held *h = &cs->v[i];
		int r2;
		if (h->traced) {
			r2 = remote_syscall_noreturn(&h->r, __NR_exit_group, 0, 0, 0);
			remote_fini(&h->r);
		} else {
			int st;
			r2 = kill(h->host, SIGKILL) || waitpid(h->host, &st, __WALL) != h->host ?
				-errno : 0;
		}
		long got = r2 ? r2 : remote_call(&rst_leader(root)->r, "wait4 of a helper task",
						__NR_wait4, h->pid, 0, __WALL, 0);
		if (!r2 && got != h->pid)
			r2 = got < 0 ? got : -EIO;
		if (!r2)
			r2 = take_back_sigchld(root, h->pid);
		ret = ret ? ret : r2;
	}
	if (cs)
		free(cs->v);
	free(cs);
	ctx->creators = NULL;
	return ret;
}

int restore_as_creator(void *arg, const struct files_creator *c, files_creator_fn *fn,
		       void *fn_arg)
{
	struct rst_ctx *ctx = arg;
	struct rst_proc *p = proc_of(ctx, c->pid);
	struct held *h = p ? NULL : held_of(ctx, c->pid);
	if (!p && (!h || !h->traced)) {
		pr_err("%s: process %d, its maker, was not held for it (a bug)", c->what, c->pid);
		return -EINVAL;
	}
	if (p && (!p->created || p->state == TASK_DEAD || p->exited))
		return restore_creator_hold(arg, c->pid, c->what);	/* logs why */
	struct remote *r = p ? &rst_leader(p)->r : &h->r;
	pid_t host = p ? p->pid : h->host;
	struct ids *was = xmalloc(sizeof(*was));
	int ret = was ? get_ids(r, was) : -ENOMEM;
	if (!ret) {
		ret = set_ids(r, was, c);
		if (!ret)
			ret = fn(&ctx->files, r, host, fn_arg);
		int r2 = ids_back(r, was, c);
		ret = ret ? ret : r2;
	}
	free(was);
	return ret;
}
