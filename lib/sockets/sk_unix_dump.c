/* Dumping unix sockets.
 *
 * sock_diag lists every unix socket of the network namespace once (name,
 * bound file, peer, pending connections, queue lengths, shutdown).  Each
 * socket of the tree gets its unix_sk_entry built at ->dump (its receive
 * queue goes to sk-queues.img right away, while cryo holds a duplicate),
 * but the entries are written only at ->dump_end, once the whole tree is
 * known: only then can a peer be told "in the tree", "a pending connection
 * of a listener of the tree" (criu's convention: the client's peer is the
 * listener) or "external" (--ext-unix-sk: written as an entry of its own
 * with uflags EXTERN, that the restore reconnects to by name).
 */
#include "sockets/sk_unix-int.h"
#include "sockets/sk_unix_cred.h"
#include "seize/seize.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)	/* linux/un.h, Linux 5.15+ */
#endif

struct usk_dumped {
	UnixSkEntry e;
	FownEntry fown;
	SkOptsEntry opts;
	FilePermsEntry perms;
	struct skopt_mem som;
	char *name_dir;
	char *name_root;	/* the task's changed root the name is bound in */
	struct usk_diag *dg;
	pid_t pid;
	int fd;
	uint32_t id;
	char what[160];
};

struct usk_dump_state {
	struct usk_list all;
	struct usk_dumped **v;
	int nr, cap;
};

static struct usk_dump_state *state(struct files_dump *fdm, bool create)
{
	struct usk_dump_state *s = fdm->kind_state[FDK_UNIX];
	if (s || !create)
		return s;
	s = xzalloc(sizeof(*s));
	if (!s)
		return NULL;
	if (usk_list_all(&s->all)) {
		free(s);
		return NULL;
	}
	fdm->kind_state[FDK_UNIX] = s;
	return s;
}

/* Does the file at @path (relative to @dirfd) hold the socket's bound
 * inode?  Fills @st. */
static bool same_vfs(int dirfd, const char *path, const struct usk_diag *dg, struct stat *st)
{
	if (fstatat(dirfd, path, st, AT_SYMLINK_NOFOLLOW))
		return false;
	/* sock_diag gives the kernel's dev_t: major << 20 | minor */
	return S_ISSOCK(st->st_mode) && st->st_ino == dg->vfs_ino &&
	       major(st->st_dev) == dg->vfs_dev >> 20 && minor(st->st_dev) == (dg->vfs_dev & 0xfffff);
}

/* The file a bound socket holds, asked of the socket itself
 * (SIOCUNIXFILE, Linux 5.15+, CAP_NET_ADMIN): its path as the kernel sees
 * it now (with " (deleted)" once unlinked) and its stat.  False if the
 * kernel can't say. */
static bool bound_file(int lfd, char *real, size_t size, struct stat *st)
{
	int pfd = ioctl(lfd, SIOCUNIXFILE);
	if (pfd < 0)
		return false;
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	ssize_t n = readlink(self, real, size - 1);
	bool ok = n > 0 && !fstat(pfd, st);
	close(pfd);
	if (ok)
		real[n] = '\0';
	return ok;
}

/* Does @real (a path the kernel gave) end with "/" @name? Then *dirlen is
 * the length of the directory part. */
static bool ends_with_name(const char *real, const char *name, size_t *dirlen)
{
	size_t rl = strlen(real), nl = strlen(name);
	if (rl <= nl + 1 || real[rl - nl - 1] != '/' || strcmp(real + rl - nl, name))
		return false;
	*dirlen = rl - nl - 1;
	return true;
}

static int dump_path_name_at(struct fd_dump *d, struct usk_dumped *u, int lfd, int top,
			     const char *path, char *real);

/* An absolute name not found from cryo's root, of a socket of process
 * @d->pid whose root is @rdir (cryo's path of it; @root its /proc link):
 * bound inside that root (after the chroot), the name is looked up there.
 * Then the restore binds it from that root too (cryo_name_root), and the
 * name reads the same to the task.  Returns 0 with @st filled if so, 1 if
 * the name is not there either, a negative errno on failure. */
static int name_in_root(struct fd_dump *d, struct usk_dumped *u, const char *path,
			const char *root, const char *rdir, struct stat *st)
{
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return 1;
	struct stat rst, cst;
	bool found = same_vfs(rfd, path + 1, u->dg, st);
	/* the root must be reachable by its path from cryo's root */
	bool reach = !fstat(rfd, &rst) && !stat(rdir, &cst) && rst.st_dev == cst.st_dev &&
		     rst.st_ino == cst.st_ino;
	close(rfd);
	if (!found)
		return 1;
	if (!reach) {
		pr_err("%s is bound to \"%s\" inside the changed root of process %d, whose "
		       "path %s does not lead to that root from cryo's (it was moved, or is in "
		       "another mount namespace): cryo can't bind the name there again", u->what,
		       path, d->pid, rdir);
		return -EOPNOTSUPP;
	}
	u->name_root = strdup(rdir);
	if (!u->name_root)
		return -ENOMEM;
	u->e.cryo_name_root = u->name_root;
	pr_debug("%s: bound inside the root %s of process %d", u->what, rdir, d->pid);
	return 0;
}

/* A name bound to a path: the file's permissions, whether it was deleted,
 * and for a relative name the directory it is relative to. */
static int dump_path_name(struct fd_dump *d, struct usk_dumped *u, int lfd)
{
	struct usk_diag *dg = u->dg;
	char path[sizeof(dg->name) + 1];
	memcpy(path, dg->name, dg->namelen);
	path[dg->namelen] = '\0';
	char real[PATH_MAX];
	/* a process in a mount namespace of its own: its names are looked up
	 * from its root (the restore binds them inside its namespace) */
	char mns[64];
	struct stat a, b;
	snprintf(mns, sizeof(mns), "/proc/%d/ns/mnt", d->pid);
	int top = AT_FDCWD;
	if (!stat(mns, &a) && !stat("/proc/self/ns/mnt", &b) && a.st_ino != b.st_ino) {
		snprintf(mns, sizeof(mns), "/proc/%d/root", d->pid);
		top = open(mns, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (top < 0)
			return log_errno(-errno, "%s: can't open the root of process %d (%s)",
					 u->what, d->pid, mns);
	}
	int ret = dump_path_name_at(d, u, lfd, top, path, real);
	if (top >= 0)
		close(top);
	return ret;
}

static int dump_path_name_at(struct fd_dump *d, struct usk_dumped *u, int lfd, int top,
			     const char *path, char *real)
{
	struct usk_diag *dg = u->dg;
	struct stat st, fst;
	/* @top: absolute names relative to it (the process's root) */
#define AT(p) (top == AT_FDCWD || (p)[0] != '/' ? (p) : (p)[1] ? (p) + 1 : ".")
	bool known = bound_file(lfd, real, PATH_MAX, &fst);
	bool found;
	if (known && !fst.st_nlink) {
		/* unlinked: the kernel's path says where it was */
		size_t rl = strlen(real);
		if (rl > 10 && !strcmp(real + rl - 10, " (deleted)"))
			real[rl - 10] = '\0';
	}
	if (path[0] == '/') {
		found = same_vfs(top, AT(path), dg, &st);
		/* An absolute name is the binder's, looked up from its root.
		 * Found from cryo's root it was bound before a chroot, or its
		 * process never changed root.  Otherwise, in a process with a
		 * changed root it may have been bound inside that root: looked
		 * up there (name_in_root). */
		char root[64], rdir[PATH_MAX];
		snprintf(root, sizeof(root), "/proc/%d/root", d->pid);
		/* (in a mount namespace of its own, @top is that root already) */
		ssize_t rn = found || top != AT_FDCWD ? 0 :
			     readlink(root, rdir, sizeof(rdir) - 1);
		if (rn > 0 && !(rn == 1 && rdir[0] == '/')) {
			rdir[rn] = '\0';
			int ret = name_in_root(d, u, path, root, rdir, &st);
			if (ret < 0)
				return ret;
			if (ret > 0) {
				pr_err("%s is bound to \"%s\", which is neither there from cryo's "
				       "root nor from the changed root %s of process %d (chroot): "
				       "cryo can't tell where to bind it (was it deleted or hidden "
				       "by a mount inside that root?)", u->what, path, rdir, d->pid);
				return -EOPNOTSUPP;
			}
			found = true;
		}
		if (!found && known && fst.st_nlink) {
			if (!strcmp(real, path)) {
				pr_err("%s: its file %s is hidden (a mount was made over its "
				       "directory since it was bound): cryo can't bind it there "
				       "again; unmount what covers it before the dump", u->what,
				       path);
				return -EOPNOTSUPP;
			}
			pr_warn("%s: its file was moved to %s; it is restored bound to %s with "
				"its file unlinked", u->what, real, path);
		}
	} else {
		/* relative to the binder's working directory at bind time: the
		 * kernel's path of the file tells which one it was; without it,
		 * the working directory now (as criu does) */
		size_t dl;
		char dir[PATH_MAX];
		found = false;
		if (known && ends_with_name(real, path, &dl)) {
			memcpy(dir, real, dl);
			dir[dl] = '\0';
			found = fst.st_nlink && same_vfs(top, AT(real), dg, &st);
		} else {
			char cwd[64];
			snprintf(cwd, sizeof(cwd), "/proc/%d/cwd", d->pid);
			int dfd = open(cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			found = dfd >= 0 && same_vfs(dfd, path, dg, &st);
			if (dfd >= 0)
				close(dfd);
			ssize_t n = found ? readlink(cwd, dir, sizeof(dir) - 1) : -1;
			if (n <= 0) {
				pr_err("%s is bound to the relative path \"%s\", which is not in "
				       "the working directory of process %d%s: cryo can't tell "
				       "where it is", u->what, path, d->pid, known ? "" :
				       " (and SIOCUNIXFILE can't name its file)");
				return -EOPNOTSUPP;
			}
			dir[n] = '\0';
		}
		u->name_dir = strdup(dir);
		if (!u->name_dir)
			return -ENOMEM;
		u->e.name_dir = u->name_dir;
	}
	if (!found) {
		/* unlinked (or replaced): bound again at restore, then unlinked */
		u->e.has_deleted = 1;
		u->e.deleted = 1;
		pr_info("%s: its file %s was deleted", u->what, path);
		return 0;
	}
	u->perms.has_mode = u->perms.has_uid = u->perms.has_gid = 1;
	u->perms.mode = st.st_mode;
	u->perms.uid = st.st_uid;
	u->perms.gid = st.st_gid;
	u->e.file_perms = &u->perms;
	return 0;
}
#undef AT

static const char *type_name(int t)
{
	return t == SOCK_STREAM ? "stream" : t == SOCK_DGRAM ? "datagram" :
	       t == SOCK_SEQPACKET ? "seqpacket" : "?";
}

int usk_dump(struct fd_dump *d)
{
	struct usk_dump_state *s = state(d->fdm, true);
	if (!s)
		return -ENOMEM;
	uint32_t ino = d->st.st_ino;
	struct usk_diag *dg = usk_list_find(&s->all, ino);
	if (!dg) {
		pr_err(FD_FMT " is unix socket %u, which sock_diag does not list: is the process "
		       "in another network namespace? (cryo dumps sockets of its own network "
		       "namespace)", FD_ARGS(d), ino);
		return -EOPNOTSUPP;
	}
	struct usk_dumped *u = xzalloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	if (s->nr == s->cap) {
		int ncap = s->cap ? s->cap * 2 : 16;
		struct usk_dumped **n = xrealloc(s->v, ncap * sizeof(*n));
		if (!n) {
			free(u);
			return -ENOMEM;
		}
		s->v = n;
		s->cap = ncap;
	}
	s->v[s->nr++] = u;
	char nm[400];
	snprintf(u->what, sizeof(u->what), "unix %s socket %s (" FD_FMT ")", type_name(dg->type),
		 usk_name_str(dg->name, dg->namelen, nm, sizeof(nm)), FD_ARGS(d));
	u->dg = dg;
	u->pid = d->pid;
	u->fd = d->fd;
	u->id = d->id;

	UnixSkEntry *e = &u->e;
	unix_sk_entry__init(e);
	fown_entry__init(&u->fown);
	sk_opts_entry__init(&u->opts);
	file_perms_entry__init(&u->perms);
	e->has_id = e->has_ino = e->has_type = e->has_state = e->has_flags = e->has_uflags = 1;
	e->has_backlog = e->has_peer = 1;
	e->id = d->id;
	e->ino = ino;
	e->type = dg->type;
	e->state = dg->state;
	e->flags = d->fi.flags & ~O_CLOEXEC;
	e->backlog = dg->state == TCP_LISTEN ? dg->wq : 0;
	e->peer = dg->peer;
	e->fown = &u->fown;
	e->opts = &u->opts;
	e->has_name = 1;
	e->name.data = (uint8_t *)dg->name;
	e->name.len = dg->namelen;
	if (dg->shutdown) {
		e->has_shutdown = 1;
		e->shutdown = dg->shutdown & 3;
	}
	int ret = fd_dump_fown(d, &u->fown);
	if (ret)
		return ret;
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	ret = skopt_dump(lfd, &u->opts, &u->som, u->what);
	if (ret)
		return ret;
	/* as the tree sees them: through its root's namespaces (a socket in
	 * flight is held by cryo itself) */
	ret = usk_cred_dump(d->fdm, lfd, d->fdm->tree && d->fdm->tree->root ? d->fdm->tree->root->pid :
			    d->pid, e, u->what);
	if (ret)
		return ret;
	if (dg->namelen && dg->name[0]) {
		ret = dump_path_name(d, u, lfd);
		if (ret)
			return ret;
	}
	/* a stream or seqpacket socket has a queue only once connected (peeking
	 * at an unconnected one fails) */
	if (dg->state != TCP_LISTEN && (dg->type == SOCK_DGRAM || dg->state == TCP_ESTABLISHED)) {
		ret = sk_queue_dump(d->fdm, lfd, d->id, dg->type, dg->shutdown & 1, u->what);
		if (ret)
			return ret;
	}
	pr_debug("%s: ino %u peer %u state %u", u->what, ino, dg->peer, dg->state);
	return 0;
}

static int cmp_dumped(const void *a, const void *b)
{
	uint32_t x = (*(struct usk_dumped *const *)a)->e.ino;
	uint32_t y = (*(struct usk_dumped *const *)b)->e.ino;
	return x < y ? -1 : x > y;
}

/* (s->v is sorted by inode at dump_end) */
static struct usk_dumped *find_dumped(struct usk_dump_state *s, uint32_t ino)
{
	int lo = 0, hi = s->nr;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		uint32_t m = s->v[mid]->e.ino;
		if (m == ino)
			return s->v[mid];
		if (m < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int emit(struct files_dump *fdm, uint32_t id, UnixSkEntry *e)
{
	struct fd_dump d = { .fdm = fdm, .id = id, .kind = FDK_UNIX, .lfd = -1 };
	FileEntry fe = FILE_ENTRY__INIT;
	fe.usk = e;
	return files_emit(&d, &fe);
}

/* The entry for a peer outside the tree (--ext-unix-sk), once per peer. */
static int emit_external(struct files_dump *fdm, struct usk_diag *p, uint32_t **done, int *nr_done)
{
	for (int i = 0; i < *nr_done; i++)
		if ((*done)[i] == p->ino)
			return 0;
	uint32_t *n = xrealloc(*done, (*nr_done + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	*done = n;
	n[(*nr_done)++] = p->ino;
	UnixSkEntry e = UNIX_SK_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	SkOptsEntry o = SK_OPTS_ENTRY__INIT;
	fown.has_uid = fown.has_euid = fown.has_signum = fown.has_pid_type = fown.has_pid = 1;
	o.has_so_sndbuf = o.has_so_rcvbuf = 1;
	o.has_so_snd_tmo_sec = o.has_so_snd_tmo_usec = 1;
	o.has_so_rcv_tmo_sec = o.has_so_rcv_tmo_usec = 1;
	e.has_id = e.has_ino = e.has_type = e.has_state = e.has_flags = e.has_uflags = 1;
	e.has_backlog = e.has_peer = e.has_name = 1;
	e.id = fdm->next_id++;
	e.ino = p->ino;
	e.type = p->type;
	e.state = p->state;
	e.uflags = USK_EXTERN;
	e.name.data = (uint8_t *)p->name;
	e.name.len = p->namelen;
	e.fown = &fown;
	e.opts = &o;
	return emit(fdm, e.id, &e);
}

/* Where @u's peer is; sets u->e.peer; refuses (logged) what can't be
 * restored. */
static int resolve_peer(struct files_dump *fdm, struct usk_dump_state *s, struct usk_dumped *u,
			uint32_t **ext, int *nr_ext)
{
	struct usk_diag *dg = u->dg;
	char nm[400];
	if (dg->state == TCP_LISTEN) {
		for (int i = 0; i < dg->nr_icons; i++) {
			struct usk_dumped *c = find_dumped(s, dg->icons[i]);
			if (!c) {
				pr_err("%s has a pending connection (not accepted yet) from socket %u, "
				       "which is outside the dumped tree: cryo can't recreate it",
				       u->what, dg->icons[i]);
				return -EOPNOTSUPP;
			}
			if (c->dg->wq) {
				pr_err("%s has a pending connection (not accepted yet) from %s, which "
				       "already sent %u bytes: cryo can't read data of a connection "
				       "that is not accepted", u->what, c->what, c->dg->wq);
				return -EOPNOTSUPP;
			}
			/* criu's convention: a pending client's peer is the listener */
			c->e.peer = u->e.ino;
		}
		u->e.peer = 0;
		return 0;
	}
	if (!dg->peer || find_dumped(s, dg->peer))
		return 0;
	/* the embryo of a pending connection: resolved by its listener */
	for (int i = 0; i < s->nr; i++) {
		struct usk_diag *l = s->v[i]->dg;
		for (int j = 0; l->state == TCP_LISTEN && j < l->nr_icons; j++)
			if (l->icons[j] == u->e.ino)
				return 0;
	}
	struct usk_diag *p = usk_list_find(&s->all, dg->peer);
	const char *pname = p ? usk_name_str(p->name, p->namelen, nm, sizeof(nm)) : "(gone)";
	/* The kernel connects a socket only to a name: a peer without one (a
	 * client's socket, one end of a socketpair) can't be reached again, so
	 * --ext-unix-sk is no help and is not suggested. */
	if (!p || !p->namelen) {
		pr_err("%s is connected to unix socket %u %s outside the dumped tree: External "
		       "socket is used, and that peer has no name to connect to again at restore "
		       "(--ext-unix-sk can't help): dump the peer's process in the same tree, or "
		       "close the connection before the dump", u->what, dg->peer, pname);
		return -EOPNOTSUPP;
	}
	if (!fdm->opts->ext_unix_sk && !opts_external_unix(fdm->opts, u->e.ino) &&
	    !opts_external_unix(fdm->opts, dg->peer)) {
		pr_err("%s is connected to unix socket %u %s outside the dumped tree: External "
		       "socket is used. Consider using --ext-unix-sk option (to reconnect it "
		       "to the peer's name at restore)", u->what, dg->peer, pname);
		return -EOPNOTSUPP;
	}
	if (dg->type != SOCK_DGRAM) {
		if (dg->rq || dg->wq) {
			pr_err("%s is connected to %s outside the dumped tree and has data in "
			       "flight (%u bytes received, %u sent and unread): with --ext-unix-sk "
			       "a stream is reconnected as a new connection, which would lose it",
			       u->what, pname, dg->rq, dg->wq);
			return -EOPNOTSUPP;
		}
		pr_warn("%s is connected to %s outside the dumped tree: --ext-unix-sk: it will "
			"be a new connection to that name after restore", u->what, pname);
	} else if (dg->rq && !dg->namelen) {
		pr_err("%s has queued messages from %s outside the dumped tree but no name of "
		       "its own: cryo can't put them back", u->what, pname);
		return -EOPNOTSUPP;
	}
	return emit_external(fdm, p, ext, nr_ext);
}

int usk_dump_end(struct files_dump *fdm)
{
	struct usk_dump_state *s = state(fdm, false);
	if (!s)
		return 0;
	uint32_t *ext = NULL;
	int nr_ext = 0, ret = fdm->failed ? -ECANCELED : 0;
	if (s->nr)
		xqsort(s->v, s->nr, sizeof(s->v[0]), cmp_dumped);
	/* listeners first: they fix their pending clients' peers */
	for (int pass = 0; pass < 2 && !ret; pass++)
		for (int i = 0; i < s->nr && !ret; i++)
			if ((s->v[i]->dg->state == TCP_LISTEN) == !pass)
				ret = resolve_peer(fdm, s, s->v[i], &ext, &nr_ext);
	for (int i = 0; i < s->nr && !ret; i++)
		ret = emit(fdm, s->v[i]->id, &s->v[i]->e);
	if (!ret)
		pr_info("%d unix sockets dumped, %d external peers", s->nr, nr_ext);
	if (ret == -ECANCELED)
		ret = 0;	/* the dump failed already */
	free(ext);
	for (int i = 0; i < s->nr; i++) {
		skopt_mem_free(&s->v[i]->som);
		free(s->v[i]->name_dir);
		free(s->v[i]->name_root);
		usk_cred_free(&s->v[i]->e);
		free(s->v[i]);
	}
	free(s->v);
	usk_list_free(&s->all);
	free(s);
	fdm->kind_state[FDK_UNIX] = NULL;
	return ret;
}
