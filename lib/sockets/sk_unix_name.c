/* Unix sockets at restore: their names.  Binding to a path (a stale
 * socket file removed first, a deleted socket bound then unlinked, missing
 * directories made), inside the task's changed root where it had one, and
 * connecting by name; the connections themselves are sk_unix_restore.c's. */
#include "sockets/sk_unix_restore-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A deleted socket whose directory was removed too: make the missing
 * directories of @path (relative to the working directory, which is
 * @dir when given), noted so that they go again once its file is
 * unlinked. */
static int make_parents(struct usk_rst *s, const char *path, const char *dir, const char *w)
{
	char p[PATH_MAX];
	if (path[0] != '/' && dir)
		snprintf(p, sizeof(p), "%s/%s", dir, path);
	else
		snprintf(p, sizeof(p), "%s", path);
	char *slash = strrchr(p, '/');
	if (!slash || slash == p)
		return 0;
	*slash = '\0';
	struct stat st;
	if (!stat(p, &st))
		return 0;
	/* from the deepest existing ancestor down */
	for (char *c = p + 1; ; c++) {
		bool end = !*c;
		if (*c != '/' && !end)
			continue;
		*c = '\0';
		if (mkdir(p, 0700) == 0) {
			char **n = xrealloc(s->made_dirs, (s->nr_made_dirs + 1) * sizeof(*n));
			char *d = strdup(p);
			if (!n || !d) {
				free(d);
				if (n)
					s->made_dirs = n;
				rmdir(p);
				return -ENOMEM;
			}
			s->made_dirs = n;
			s->made_dirs[s->nr_made_dirs++] = d;
			pr_debug("%s: made the directory %s (removed since the dump) for a moment",
				 w, p);
		} else if (errno != EEXIST) {
			return_perror("%s: can't make the directory %s to bind the deleted socket in",
				      w, p);
		}
		if (end)
			break;
		*c = '/';
	}
	return 0;
}

/* Remember the file a bind created: a deleted socket's is unlinked at the
 * end (its peers connect by that name first), any on failure. */
static int note_bound(struct usk_rst *s, const char *path, const char *dir, const char *root,
		      bool deleted, const char *w)
{
	struct stat st;
	if (lstat(path, &st))
		return_perror("%s: can't stat %s after binding", w, path);
	struct bound *n = xrealloc(s->bound, (s->nr_bound + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->bound = n;
	char full[PATH_MAX];
	if (path[0] != '/' && dir)
		snprintf(full, sizeof(full), "%s/%s", dir, path);
	else if (root)	/* cryo's path of it, for the end of the restore */
		snprintf(full, sizeof(full), "%s%s", root, path);
	else
		snprintf(full, sizeof(full), "%s", path);
	n[s->nr_bound] = (struct bound){ strdup(full), deleted, st.st_dev, st.st_ino };
	if (!n[s->nr_bound].path)
		return -ENOMEM;
	s->nr_bound++;
	return 0;
}

/* Is a socket of this namespace, alive before cryo created any, bound to
 * the file @st?  Then the path is not stale but in use. */
int usk_path_in_use(struct usk_rst *s, const struct stat *st, bool *busy)
{
	if (!s->live_listed) {
		int ret = usk_list_all(&s->live);
		if (ret)
			return ret;
		s->live_listed = true;
	}
	*busy = false;
	for (int i = 0; i < s->live.nr; i++) {
		struct usk_diag *d = &s->live.v[i];
		if (d->has_vfs && d->vfs_ino == st->st_ino &&
		    d->vfs_dev >> 20 == major(st->st_dev) && (d->vfs_dev & 0xfffff) == minor(st->st_dev))
			*busy = true;
	}
	return 0;
}


/* A name bound inside its task's changed root (cryo_name_root) is bound
 * and connected to with cryo's root changed to that one for the moment
 * (the kernel looks a name up from the caller's root, and it must read the
 * same to the task); cryo is single-threaded here (no CLONE_FS sharer). */
struct saved_root {
	int root, cwd;
	const char *prev;
};

/* The root a name of @e is looked up from: its task's changed root for an
 * absolute name bound inside one, else cryo's own (NULL). */
static const char *name_root(const UnixSkEntry *e)
{
	return e->cryo_name_root && e->name.len && e->name.data[0] == '/' ? e->cryo_name_root
									   : NULL;
}

static bool same_root(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Make @dir (a path from cryo's own root; NULL: that root) cryo's root,
 * from whichever it is in now; @sv keeps where to go back (leave_root). */
static int enter_root(struct usk_rst *s, const char *dir, struct saved_root *sv, const char *w)
{
	sv->root = sv->cwd = -1;
	sv->prev = s->cur_root;
	if (same_root(dir, s->cur_root))
		return 0;
	if (s->real_root < 0) {
		s->real_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);	/* never changed yet */
		if (s->real_root < 0)
			return_perror("%s: can't open cryo's root", w);
	}
	sv->root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	sv->cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;
	if (sv->root < 0 || sv->cwd < 0) {
		ret = -errno;
		pr_perror("%s: can't open cryo's root and working directory", w);
	} else if (fchdir(s->real_root) || chroot(".")) {
		ret = -errno;
		pr_perror("%s: can't go back to cryo's own root", w);
	} else if (dir && (chroot(dir) || chdir("/"))) {
		ret = -errno;
		pr_perror("%s: can't enter %s, the changed root its name was bound in", w, dir);
	}
	if (ret) {
		/* back where it was, as far as it goes */
		if (sv->root >= 0 && sv->cwd >= 0 && (fchdir(sv->root) || chroot(".") ||
						      fchdir(sv->cwd)))
			pr_perror("can't go back to cryo's root");
		if (sv->root >= 0)
			close(sv->root);
		if (sv->cwd >= 0)
			close(sv->cwd);
		sv->root = sv->cwd = -1;
		return ret;
	}
	s->cur_root = dir;
	return 0;
}

static int leave_root(struct usk_rst *s, struct saved_root *sv)
{
	int ret = 0;
	if (sv->root < 0)
		return 0;
	if (fchdir(sv->root) || chroot(".") || fchdir(sv->cwd)) {
		ret = -errno;
		pr_perror("can't go back to cryo's root");
	}
	close(sv->root);
	close(sv->cwd);
	sv->root = sv->cwd = -1;
	s->cur_root = sv->prev;
	return ret;
}

/* connect() @sk to the name of @to, looked up from its root. */
int usk_connect_named(struct usk_rst *s, int sk, const UnixSkEntry *to, const char *w)
{
	struct sockaddr_un a;
	socklen_t len = make_addr(to, &a);
	struct saved_root sv;
	int ret = a.sun_path[0] ? enter_root(s, name_root(to), &sv, w) : 0;
	if (ret)
		return ret;
	if (connect(sk, (struct sockaddr *)&a, len)) {
		ret = -errno;
		pr_perror("%s: connect to %s", w, WHAT(to));
	}
	int r2 = a.sun_path[0] ? leave_root(s, &sv) : 0;
	return ret ? ret : r2;
}

/* bind() to a path: a socket file left there by the dumped socket (nobody
 * bound to it any more) is removed first, as criu does; anything else at
 * the path is an error.  A deleted socket is bound, then unlinked (a file
 * that took its path meanwhile is moved aside for that moment). */
static int bind_path(struct usk_rst *s, int sk, const UnixSkEntry *e, const char *w,
		     struct files_restore *fr, struct rst_file *f, while_named_fn *named)
{
	struct sockaddr_un a;
	socklen_t len = make_addr(e, &a);
	char path[sizeof(a.sun_path) + 1] = { 0 };
	memcpy(path, a.sun_path, len - offsetof(struct sockaddr_un, sun_path));
	int ret = 0, cwd = -1;
	struct saved_root sv;
	if (name_root(e) && e->deleted) {
		pr_err("%s: a deleted name inside a changed root: not supported", w);
		return -EOPNOTSUPP;
	}
	ret = enter_root(s, name_root(e), &sv, w);
	if (ret)
		return ret;
	if (e->name_dir && path[0] != '/') {
		cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cwd < 0)
			return_perror("%s: can't open cryo's working directory", w);
		if (chdir(e->name_dir)) {
			ret = -errno;
			pr_perror("%s: can't enter %s, the directory its relative name is in", w,
				  e->name_dir);
			close(cwd);
			return ret;
		}
	}
	char aside[sizeof(path) + 32] = "";
	struct stat st;
	if (!lstat(path, &st)) {
		bool busy = false;
		if (S_ISSOCK(st.st_mode))
			ret = usk_path_in_use(s, &st, &busy);
		if (ret)
			goto out;
		if (e->deleted) {
			snprintf(aside, sizeof(aside), "%s.cryo-aside-%d", path, getpid());
			if (rename(path, aside)) {
				ret = -errno;
				pr_perror("%s: can't move %s aside to bind the deleted socket", w, path);
				aside[0] = '\0';
				goto out;
			}
		} else if (!S_ISSOCK(st.st_mode) || busy) {
			pr_err("%s: can't bind to %s: %s", w, path,
			       busy ? "a live socket is bound there (is the dumped tree still "
			       "running?)" : "a file that is not a socket is there");
			ret = -EADDRINUSE;
			goto out;
		} else if (unlink(path)) {
			ret = -errno;
			pr_perror("%s: can't remove the stale socket file %s", w, path);
			goto out;
		} else
			pr_debug("%s: removed the stale socket file %s", w, path);
	}
	if (e->deleted && !aside[0]) {
		ret = make_parents(s, path, e->name_dir, w);
		if (ret)
			goto out;
	}
	if (bind(sk, (struct sockaddr *)&a, len)) {
		ret = -errno;
		pr_perror("%s: bind to %s", w, path);
		goto out;
	}
	/* its owner and mode before the tasks connect to it (those making
	 * connections with their own peer credentials are checked against
	 * them, as they were) */
	if (!e->deleted && e->file_perms) {
		const FilePermsEntry *p = e->file_perms;
		if (lchown(path, p->uid, p->gid) || chmod(path, p->mode & 07777)) {
			ret = -errno;
			pr_perror("%s: can't give %s its owner %u:%u and mode %o", w, path, p->uid,
				  p->gid, p->mode & 07777);
			goto out;
		}
	}
	/* its queue is sent to its name: while the name is its own (a file
	 * moved aside comes back just below) */
	if (named)
		ret = named(fr, s, f);
	if (ret)
		goto out;
	if (e->deleted && aside[0]) {
		if (unlink(path)) {
			ret = -errno;
			pr_perror("%s: can't unlink %s (the socket's file was deleted)", w, path);
		}
	}
	if (!ret && !aside[0])
		ret = note_bound(s, path, e->name_dir, name_root(e), e->deleted, w);
out:
	if (aside[0] && rename(aside, path)) {
		pr_perror("%s: can't move %s back to %s", w, aside, path);
		ret = ret ? ret : -EIO;
	}
	if (cwd >= 0) {
		if (fchdir(cwd)) {
			pr_perror("can't go back to cryo's working directory");
			ret = ret ? ret : -EIO;
		}
		close(cwd);
	}
	int r2 = leave_root(s, &sv);
	return ret ? ret : r2;
}

/* Bind @sk to @e's name, then run @named for @f (see while_named_fn). */
int usk_bind_then(struct usk_rst *s, int sk, const UnixSkEntry *e, struct files_restore *fr,
		  struct rst_file *f, while_named_fn *named)
{
	if (has_name(e) && e->name.data[0])
		return bind_path(s, sk, e, WHAT(e), fr, f, named);
	if (has_name(e)) {
		struct sockaddr_un a;
		socklen_t len = make_addr(e, &a);
		if (bind(sk, (struct sockaddr *)&a, len))
			return_perror("%s: bind to its abstract name", WHAT(e));
	}
	return named ? named(fr, s, f) : 0;
}

int usk_bind(struct usk_rst *s, int sk, const UnixSkEntry *e)
{
	return usk_bind_then(s, sk, e, NULL, NULL, NULL);
}