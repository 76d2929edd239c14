/* Peer credentials of unix sockets (SO_PEERCRED, SO_PEERGROUPS).
 *
 * The kernel takes them from the calling task, once: socketpair() gives
 * both ends the caller's (tgid, euid, egid, groups); listen() gives the
 * listener its caller's, which connect() copies to the client; the
 * accepted socket gets the connecting task's.  Nothing sets them later,
 * so a restore that made these sockets in cryo would leave cryo's process
 * and root in them.  The dump records what the task sees; the restore
 * makes each socket through a process of the tree with the recorded PID
 * (lib/restore/peercred.c: the task itself, or a short-lived helper with
 * that PID when its creator is gone), its effective ids set to the
 * recorded ones for that one call.
 */
#include "sockets/sk_unix-int.h"
#include "sockets/sk_unix_cred.h"
#include "util/log.h"
#include "util/util.h"
#include "compat/uapi-extra.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)	/* linux/un.h, Linux 5.15+ */
#endif
#ifndef PIDFD_INFO_CREDS
#define PIDFD_INFO_CREDS (1UL << 1)
#endif

#define USK_MAX_GROUPS 1024	/* what a restore can set again (the trampoline's scratch) */

struct raw_cred {
	struct ucred uc;
	int nr_groups;		/* -1: none (no credentials) */
	uint32_t groups[USK_MAX_GROUPS];
};

/* getsockopt as the calling process sees them. */
static int read_cred(int lfd, struct raw_cred *c)
{
	socklen_t len = sizeof(c->uc);
	if (getsockopt(lfd, SOL_SOCKET, SO_PEERCRED, &c->uc, &len))
		return -errno;
	len = sizeof(c->groups);
	c->nr_groups = -1;
	if (!getsockopt(lfd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len))
		c->nr_groups = len / sizeof(uint32_t);
	else if (errno == ERANGE)
		return -E2BIG;
	else if (errno != ENODATA)
		return -errno;
	return 0;
}

static bool same_ns(pid_t pid, const char *kind)
{
	char p[64];
	struct stat a, b;
	snprintf(p, sizeof(p), "/proc/%d/ns/%s", pid, kind);
	if (stat(p, &a))
		return false;
	snprintf(p, sizeof(p), "/proc/self/ns/%s", kind);
	return !stat(p, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* The credentials as @pid sees them, when it is in other PID or user
 * namespaces than cryo: read by a process in those (the kernel translates
 * the PID to the reader's PID namespace, the ids to its user namespace; a
 * creator that is gone has no /proc entry to translate it by).  A child
 * enters the PID namespace (for its children) and the user namespace; its
 * own child reads and reports through a pipe. */
static int read_cred_as(pid_t pid, int lfd, struct raw_cred *c, const char *what)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC))
		return_perror("%s: pipe", what);
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/ns/pid", pid);
	int pidns = open(p, O_RDONLY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/%d/ns/user", pid);
	int userns = open(p, O_RDONLY | O_CLOEXEC);
	int ret = 0;
	if (pidns < 0 || userns < 0) {
		ret = -errno;
		pr_perror("%s: can't open the namespaces of process %d", what, pid);
		goto out;
	}
	pid_t child = fork();
	if (child < 0) {
		ret = -errno;
		pr_perror("%s: fork", what);
		goto out;
	}
	if (!child) {
		close(pfd[0]);
		int err = 0;
		if (!same_ns(pid, "pid") && setns(pidns, CLONE_NEWPID))
			err = errno;
		if (!err && !same_ns(pid, "user") && setns(userns, CLONE_NEWUSER))
			err = errno;
		pid_t g = err ? -1 : fork();
		if (!g) {
			struct raw_cred rc;
			int r = read_cred(lfd, &rc);
			if (r)
				memset(&rc, 0, sizeof(rc));
			rc.uc.pid = r ? r : rc.uc.pid;	/* r < 0 reported as the PID */
			rc.nr_groups = r ? -2 : rc.nr_groups;
			_exit(write(pfd[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 1);
		}
		if (g < 0) {
			err = err ? err : errno;
			_exit(write(pfd[1], &err, sizeof(err)) == sizeof(err) ? 2 : 1);
		}
		int st;
		_exit(waitpid(g, &st, 0) == g && WIFEXITED(st) ? WEXITSTATUS(st) : 1);
	}
	close(pfd[1]);
	pfd[1] = -1;
	ssize_t n = read(pfd[0], c, sizeof(*c));
	int st;
	waitpid(child, &st, 0);
	if (n == sizeof(*c) && c->nr_groups == -2) {
		ret = c->uc.pid;
		pr_err("%s: getsockopt(SO_PEERCRED) in the task's namespaces: %s", what,
		       strerror(-ret));
	} else if (n == sizeof(int)) {
		ret = -*(int *)c;
		pr_err("%s: can't enter the PID and user namespaces of process %d to read its "
		       "peer credentials: %s", what, pid, strerror(-ret));
	} else if (n != sizeof(*c)) {
		pr_err("%s: reading its peer credentials in the task's namespaces failed", what);
		ret = -EIO;
	}
out:
	if (pidns >= 0)
		close(pidns);
	if (userns >= 0)
		close(userns);
	close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return ret;
}

int usk_cred_dump(struct files_dump *fdm, int lfd, pid_t pid, UnixSkEntry *e, const char *what)
{
	struct raw_cred *c = xmalloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	int ret = read_cred(lfd, c);
	bool own_user = !ret && c->nr_groups >= 0 && !same_ns(pid, "user");
	pid_t vpid = ret || c->nr_groups < 0 || own_user ? 0 :
		     fd_dump_tree_vpid(fdm, F_OWNER_PID, c->uc.pid);
	if (vpid > 0)	/* a process of the tree (or the tree is in cryo's namespaces) */
		c->uc.pid = vpid;
	else if (!ret && c->nr_groups >= 0 && (own_user || !same_ns(pid, "pid")))
		ret = read_cred_as(pid, lfd, c, what);
	else if (ret)
		pr_err("%s: getsockopt(SO_PEERCRED, SO_PEERGROUPS): %s%s", what, strerror(-ret),
		       ret == -E2BIG ? " (its peer has more groups than cryo restores, "
		       "1024)" : "");
	if (!ret && c->nr_groups > 0) {
		e->cryo_peer_groups = xmalloc(c->nr_groups * sizeof(uint32_t));
		if (!e->cryo_peer_groups)
			ret = -ENOMEM;
		else {
			memcpy(e->cryo_peer_groups, c->groups, c->nr_groups * sizeof(uint32_t));
			e->n_cryo_peer_groups = c->nr_groups;
		}
	}
	if (!ret) {
		e->has_cryo_peer_pid = e->has_cryo_peer_uid = e->has_cryo_peer_gid = 1;
		e->cryo_peer_pid = c->nr_groups < 0 ? 0 : c->uc.pid;
		e->cryo_peer_uid = c->nr_groups < 0 ? USK_NO_CRED : c->uc.uid;
		e->cryo_peer_gid = c->nr_groups < 0 ? USK_NO_CRED : c->uc.gid;
		pr_debug("%s: peer credentials pid %u uid %u gid %u, %zu groups", what,
			 e->cryo_peer_pid, e->cryo_peer_uid, e->cryo_peer_gid,
			 e->n_cryo_peer_groups);
	}
	free(c);
	return ret;
}

void usk_cred_free(UnixSkEntry *e)
{
	free(e->cryo_peer_groups);
	e->cryo_peer_groups = NULL;
	e->n_cryo_peer_groups = 0;
}

/* --- restore --- */

bool usk_cred_recorded(const UnixSkEntry *e)
{
	return e->has_cryo_peer_pid && e->has_cryo_peer_uid && e->has_cryo_peer_gid;
}

bool usk_cred_has(const UnixSkEntry *e)
{
	return usk_cred_recorded(e) && e->cryo_peer_uid != USK_NO_CRED;
}

bool usk_cred_none(const UnixSkEntry *e)
{
	return usk_cred_recorded(e) && e->cryo_peer_uid == USK_NO_CRED;
}

static struct files_creator creator_of(const UnixSkEntry *e, const char *what)
{
	return (struct files_creator){ .pid = e->cryo_peer_pid, .uid = e->cryo_peer_uid,
				       .gid = e->cryo_peer_gid, .groups = e->cryo_peer_groups,
				       .nr_groups = e->n_cryo_peer_groups, .what = what };
}

/* 0: a process of the tree makes it; 1: cryo does (a maker outside the
 * tree's PID namespace, read there as PID 0: so is cryo); or an error. */
static int check_creator(struct files_restore *fr, const UnixSkEntry *e, const char *what)
{
	if (!fr->as_creator) {
		pr_err("%s: its peer credentials can't be restored here (no tasks to make it in)",
		       what);
		return -EOPNOTSUPP;
	}
	if (e->cryo_peer_pid)
		return 0;
	if (e->cryo_peer_uid || e->cryo_peer_gid)
		pr_warn("%s: made by a process outside the tree's PID namespace, with uid %u gid "
			"%u: made by cryo again (PID 0 there too), whose ids it gets instead",
			what, e->cryo_peer_uid, e->cryo_peer_gid);
	return 1;
}

/* A descriptor of the task into cryo (pidfd_getfd: the same file). */
static int take_fd(pid_t host, int fd, const char *what)
{
	int pfd = syscall(SYS_pidfd_open, host, 0);
	if (pfd < 0)
		return_perror("%s: pidfd_open(%d)", what, host);
	int lfd = syscall(SYS_pidfd_getfd, pfd, fd, 0);
	int ret = lfd < 0 ? -errno : lfd;
	if (lfd < 0)
		pr_perror("%s: pidfd_getfd of fd %d of process %d", what, fd, host);
	close(pfd);
	return ret;
}

struct pair_arg {
	int type, sv[2];
	const char *what;
};

static int pair_in_task(struct files_restore *fr, struct remote *r, pid_t host, void *arg)
{
	(void)fr;
	struct pair_arg *a = arg;
	remote_scratch_reset(r);
	uint64_t at = remote_scratch_alloc(r, 2 * sizeof(int));
	if (!at)
		return -ENOSPC;
	long got = remote_call(r, "socketpair", __NR_socketpair, AF_UNIX,
			       a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, at);
	if (got < 0)
		return got;
	int tv[2];
	int ret = remote_read(r, at, tv, sizeof(tv));
	if (ret)
		return ret;
	for (int i = 0; i < 2 && !ret; i++) {
		a->sv[i] = take_fd(host, tv[i], a->what);
		if (a->sv[i] < 0)
			ret = a->sv[i];
	}
	for (int i = 0; i < 2; i++)
		remote_syscall(r, __NR_close, tv[i], 0, 0, 0, 0, 0);
	return ret;
}

int usk_cred_socketpair(struct files_restore *fr, const UnixSkEntry *e, int type, int sv[2],
			const char *what)
{
	if (!usk_cred_has(e))
		return 1;
	int ret = check_creator(fr, e, what);
	if (ret)
		return ret;	/* 1: cryo makes it */
	struct pair_arg a = { .type = type, .sv = { -1, -1 }, .what = what };
	struct files_creator c = creator_of(e, what);
	ret = fr->as_creator(fr->host_pid_arg, &c, pair_in_task, &a);
	if (ret) {
		for (int i = 0; i < 2; i++)
			if (a.sv[i] >= 0)
				close(a.sv[i]);
		return ret;
	}
	sv[0] = a.sv[0];
	sv[1] = a.sv[1];
	pr_debug("%s: socket pair made in process %d (uid %u gid %u)", what, c.pid, c.uid, c.gid);
	return 0;
}

struct call_arg {
	int lfd;
	int backlog;			/* listen */
	const struct sockaddr_un *addr;	/* connect */
	socklen_t len;
	int target;			/* connect: cryo's listener bound to that path */
	const char *what;
};

/* A task connects by path only with write permission on the socket file:
 * one cryo bound (owned by cryo's ids, unmapped in a user namespace of the
 * tree, so no capability of the task overrides them) is given the task's
 * effective ids for the connect (@back: what it had; the file of @sk,
 * SIOCUNIXFILE).  Returns the O_PATH descriptor to give it back, -1 if
 * nothing was changed. */
static int own_for_task(int sk, pid_t host, struct stat *back, const char *what)
{
	int pfd = ioctl(sk, SIOCUNIXFILE);
	if (pfd < 0)
		return -1;
	struct pidfd_info pi = { .mask = PIDFD_INFO_CREDS };
	int pid_fd = syscall(SYS_pidfd_open, host, 0);
	bool got = pid_fd >= 0 && !ioctl(pid_fd, PIDFD_GET_INFO, &pi) &&
		   (pi.mask & PIDFD_INFO_CREDS);
	if (pid_fd >= 0)
		close(pid_fd);
	if (!got || fstat(pfd, back) || (back->st_uid == pi.euid && back->st_gid == pi.egid)) {
		close(pfd);
		return -1;
	}
	if (fchownat(pfd, "", pi.euid, pi.egid, AT_EMPTY_PATH)) {
		pr_warn("%s: can't give the socket file it connects to the ids of process %d "
			"(%u:%u) for the connect: %s", what, host, pi.euid, pi.egid,
			strerror(errno));
		close(pfd);
		return -1;
	}
	return pfd;
}

static int own_back(int pfd, const struct stat *back, const char *what)
{
	if (pfd < 0)
		return 0;
	int ret = 0;
	if (fchownat(pfd, "", back->st_uid, back->st_gid, AT_EMPTY_PATH) ||
	    (back->st_mode & 06000 && fchmodat(pfd, "", back->st_mode & 07777, AT_EMPTY_PATH))) {
		ret = -errno;
		pr_perror("%s: can't give the socket file it connected to its owner %u:%u back",
			  what, back->st_uid, back->st_gid);
	}
	close(pfd);
	return ret;
}

static int call_in_task(struct files_restore *fr, struct remote *r, pid_t host, void *arg)
{
	struct call_arg *a = arg;
	int fd = files_restore_pass_fd(fr, r, r->tid, a->lfd);
	if (fd < 0)
		return fd;
	long got;
	if (a->addr) {
		struct stat back;
		int own = a->target >= 0 && a->addr->sun_path[0] ?
			  own_for_task(a->target, host, &back, a->what) : -1;
		remote_scratch_reset(r);
		uint64_t at = remote_scratch_put(r, a->addr, a->len);
		got = at ? remote_syscall(r, __NR_connect, fd, at, a->len, 0, 0, 0) : -ENOSPC;
		int r2 = own_back(own, &back, a->what);
		got = got < 0 ? got : r2;
	} else {
		got = remote_syscall(r, __NR_listen, fd, a->backlog, 0, 0, 0, 0);
	}
	if (got < 0)
		pr_err("%s: %s in process %d: %s", a->what, a->addr ? "connect" : "listen", r->tid,
		       strerror(-got));
	remote_syscall(r, __NR_close, fd, 0, 0, 0, 0, 0);
	return got < 0 ? got : 0;
}

int usk_cred_listen(struct files_restore *fr, const UnixSkEntry *e, int sk, int backlog,
		    const char *what)
{
	if (!usk_cred_has(e))
		return listen(sk, backlog) ? -errno : 0;
	int ret = check_creator(fr, e, what);
	if (ret)
		return ret > 0 ? (listen(sk, backlog) ? -errno : 0) : ret;
	struct call_arg a = { .lfd = sk, .backlog = backlog, .target = -1, .what = what };
	struct files_creator c = creator_of(e, what);
	return fr->as_creator(fr->host_pid_arg, &c, call_in_task, &a);
}

int usk_cred_connect(struct files_restore *fr, const UnixSkEntry *e, int sk,
		     const struct sockaddr_un *addr, socklen_t len, int target, const char *what)
{
	int ret = check_creator(fr, e, what);
	if (ret)
		return ret;	/* 1: cryo connects */
	struct call_arg a = { .lfd = sk, .addr = addr, .len = len, .target = target,
			      .what = what };
	struct files_creator c = creator_of(e, what);
	return fr->as_creator(fr->host_pid_arg, &c, call_in_task, &a);
}

int usk_cred_task_addr(const UnixSkEntry *to, struct sockaddr_un *a, socklen_t *len,
		       const char *what)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	size_t n = to->name.len;
	if (!n || n > sizeof(a->sun_path)) {
		pr_err("%s: its peer has no name to connect to", what);
		return -EINVAL;
	}
	if (!to->name.data[0]) {	/* abstract */
		memcpy(a->sun_path, to->name.data, n);
		*len = offsetof(struct sockaddr_un, sun_path) + n;
		return 0;
	}
	/* the task looks the name up from its root and working directory,
	 * which are not the tree's yet: an absolute path from the root of
	 * its mount namespace, as cryo's are */
	char p[sizeof(a->sun_path) + 1] = { 0 };
	memcpy(p, to->name.data, n);
	const char *pre = "", *sep = "";
	if (p[0] == '/' && to->cryo_name_root)
		pre = to->cryo_name_root;
	else if (p[0] != '/' && to->name_dir) {
		pre = to->name_dir;
		sep = "/";
	} else if (p[0] != '/') {
		pr_err("%s: its peer's name %s is relative to a directory the image does not "
		       "name", what, p);
		return -EOPNOTSUPP;
	}
	int l = snprintf(a->sun_path, sizeof(a->sun_path), "%s%s%s", pre, sep, p);
	if (l < 0 || (size_t)l >= sizeof(a->sun_path)) {
		pr_err("%s: its peer's name %s%s%s is too long for the connect that gives it "
		       "its peer credentials", what, pre, sep, p);
		return -ENAMETOOLONG;
	}
	*len = offsetof(struct sockaddr_un, sun_path) + l;
	return 0;
}

/* Sockets with peer credentials are made by the tasks of the tree, which
 * can do so only until their own state is restored: all of them first. */
int usk_preopen(struct files_restore *fr)
{
	int ret = 0;
	bool held = false;
	for (int pass = 0; pass < 2 && !ret; pass++)
		for (int i = 0; i < fr->nr_files && !ret; i++) {
			struct rst_file *f = &fr->rf[i];
			const UnixSkEntry *e = f->fe->usk;
			if (f->fe->type != FD_TYPES__UNIXSK || !e || f->lfd >= 0 ||
			    e->uflags & USK_EXTERN || !usk_cred_has(e))
				continue;
			if (pass == 1) {
				ret = files_rst_open(fr, f);
				ret = ret < 0 ? ret : 0;
			} else if (fr->creator_hold && e->cryo_peer_pid) {
				/* its maker, before cryo enters the tree's mount
				 * namespace */
				char what[64];
				snprintf(what, sizeof(what), "unix socket %u (file %u)", e->ino,
					 e->id);
				held = true;
				ret = fr->creator_hold(fr->host_pid_arg, e->cryo_peer_pid, what);
			}
		}
	if (held && fr->creators_release) {
		int r2 = fr->creators_release(fr->host_pid_arg);
		ret = ret ? ret : r2;
	}
	return ret;
}
