/* overlayfs mounts of a tree's own mount namespace (one cryo's namespace
 * does not have, so not bound from the host): recorded with the options
 * mountinfo shows (lowerdir, upperdir, workdir, redirect_dir, index, xino,
 * metacopy, userxattr, ...) and mounted again from them at restore.
 *
 * The kernel (6.x) shows each layer's path as the mounter gave it,
 * resolved then against its root and working directory.  A relative one
 * can't be placed again and is refused; an absolute one must lead to a
 * directory in the tree's namespace at dump (else the layer was moved,
 * renamed or its mount detached) and in the restored tree at restore: the
 * mount is made by a child chrooted into the tree being built, so the
 * paths resolve as they did in the tree. */
#include "ns/mnt-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Copy one token of @s up to an unescaped @sep (backslash escapes the
 * next character: overlay shows ':' in a lowerdir path as "\:") into
 * @out; returns where the next token starts, or NULL at the end. */
static const char *token(const char *s, char sep, char *out, size_t outsz, bool keep_esc)
{
	size_t n = 0;
	for (; *s && *s != sep; s++) {
		if (*s == '\\' && s[1]) {
			if (keep_esc && n + 1 < outsz)
				out[n++] = *s;
			s++;
		}
		if (n + 1 < outsz)
			out[n++] = *s;
	}
	out[n] = '\0';
	return *s ? s + 1 : NULL;
}

int mnt_ovl_layers(const char *opts, char ***paths, int *n)
{
	char opt[PATH_MAX * 2], dir[PATH_MAX];
	char **v = NULL;
	int k = 0;
	*paths = NULL;
	*n = 0;
	for (const char *s = opts; s && *s;) {
		s = token(s, ',', opt, sizeof(opt), true);
		char *eq = strchr(opt, '=');
		if (!eq)
			continue;
		*eq = '\0';
		bool list = !strcmp(opt, "lowerdir");
		if (!list && strcmp(opt, "upperdir") && strcmp(opt, "workdir") &&
		    strcmp(opt, "lowerdir+") && strcmp(opt, "datadir+"))
			continue;
		/* lowerdir=A:B::C (C a data-only layer) */
		for (const char *p = eq + 1; p;) {
			p = list ? token(p, ':', dir, sizeof(dir), false)
				 : (token(p, '\0', dir, sizeof(dir), false), NULL);
			if (!dir[0])
				continue;
			char **nv = xrealloc(v, (k + 1) * sizeof(*v));
			if (!nv || !(nv[k] = xstrdup(dir))) {
				if (nv)
					v = nv;
				for (int i = 0; i < k; i++)
					free(v[i]);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			k++;
		}
	}
	*paths = v;
	*n = k;
	return 0;
}

void mnt_ovl_layers_free(char **paths, int n)
{
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int mnt_ovl_dump_check(const struct mnt_info *m, pid_t pid)
{
	char **l;
	int n, ret = mnt_ovl_layers(m->sb_opts, &l, &n);
	if (ret)
		return ret;
	if (!n) {
		pr_err("overlay %s in the mount namespace of process %d shows no layers in its "
		       "options (\"%s\"): cryo can't mount it again", m->mp, pid, m->sb_opts);
		ret = -EOPNOTSUPP;
	}
	for (int i = 0; !ret && i < n; i++) {
		char path[PATH_MAX + 64];
		struct stat st;
		if (l[i][0] != '/') {
			pr_err("overlay %s in the mount namespace of process %d has the layer \"%s\", "
			       "a relative path as given to mount(2): cryo can't know the directory "
			       "it was relative to (mount it with absolute layer paths)", m->mp,
			       pid, l[i]);
			ret = -EOPNOTSUPP;
			break;
		}
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, l[i]);
		int sr = stat(path, &st) ? errno : 0;
		if (sr || !S_ISDIR(st.st_mode)) {
			pr_err("overlay %s in the mount namespace of process %d: its layer %s is not "
			       "a directory reachable in that namespace (%s): it was moved, renamed "
			       "or its mount detached since, and cryo could not mount the overlay "
			       "again", m->mp, pid, l[i],
			       sr ? strerror(sr) : "not a directory");
			ret = -EOPNOTSUPP;
		}
	}
	mnt_ovl_layers_free(l, n);
	return ret;
}

int mnt_ovl_mount(const char *yard, const char *mountpoint, const char *source,
		  const char *opts)
{
	char **l;
	int n, ret = mnt_ovl_layers(opts, &l, &n);
	if (ret)
		return ret;
	/* the layers as the tree sees them: under the yard */
	for (int i = 0; i < n && !ret; i++) {
		char path[PATH_MAX * 2];
		struct stat st;
		snprintf(path, sizeof(path), "%s%s", yard, l[i]);
		if (l[i][0] != '/' || stat(path, &st) || !S_ISDIR(st.st_mode)) {
			pr_err("overlay %s: its layer %s is not a directory in the restored mount "
			       "tree: cryo can't mount it again (give the layers' mounts back, or "
			       "restore where they are)", mountpoint, l[i]);
			ret = -ENOENT;
		}
	}
	mnt_ovl_layers_free(l, n);
	if (ret)
		return ret;
	pid_t c = fork();
	if (c < 0)
		return log_errno(-errno, "can't fork to mount overlay %s", mountpoint);
	if (c == 0) {
		/* cryo's copy of the namespace is the child's: chroot only */
		if (chroot(yard) || chdir("/"))
			_exit(errno & 0xff);
		if (mount(source, mountpoint, "overlay", 0, opts[0] ? opts : NULL))
			_exit(errno & 0xff);
		_exit(0);
	}
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	int err = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
	if (err)
		return log_errno(-err, "can't mount overlay %s (source %s, options \"%s\") in the "
				 "restored tree", mountpoint, source, opts);
	return 0;
}
