/* /proc/PID/mountinfo as a table, and the small helpers both sides of
 * the mount namespace share. */
#include "ns/mnt-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static char *unescape(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

static const struct { const char *name; unsigned flag; } mnt_opts[] = {
	{ "ro", MS_RDONLY }, { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV },
	{ "noexec", MS_NOEXEC }, { "noatime", MS_NOATIME }, { "nodiratime", MS_NODIRATIME },
	{ "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
};

static unsigned parse_mnt_opts(const char *s)
{
	unsigned flags = 0;
	char *dup = strdup(s), *save = NULL;
	for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < sizeof(mnt_opts) / sizeof(mnt_opts[0]); i++)
			if (!strcmp(t, mnt_opts[i].name))
				flags |= mnt_opts[i].flag;
	free(dup);
	return flags;
}

/* super-block options without "ro"/"rw" (that is sb_flags) */
static char *parse_sb_opts(const char *s, unsigned *sb_flags)
{
	char *out = xmalloc(strlen(s) + 1), *dup = strdup(s), *save = NULL;
	if (!out || !dup) {
		free(out);
		free(dup);
		return NULL;
	}
	out[0] = '\0';
	*sb_flags = 0;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "ro")) {
			*sb_flags |= MS_RDONLY;
			continue;
		}
		if (!strcmp(t, "rw"))
			continue;
		if (out[0])
			strcat(out, ",");
		strcat(out, t);
	}
	free(dup);
	return out;
}

static int parse_line(char *line, struct mnt_info *m)
{
	char *f[12], *save = NULL, *opt;
	int n = 0;
	memset(m, 0, sizeof(*m));
	/* (the count first: the next token belongs to the loop below) */
	for (char *t; n < 6 && (t = strtok_r(n ? NULL : line, " \n", &save));)
		f[n++] = t;
	if (n < 6 || sscanf(f[0], "%d", &m->id) != 1 || sscanf(f[1], "%d", &m->parent) != 1 ||
	    sscanf(f[2], "%u:%u", &m->maj, &m->min) != 2)
		return -EINVAL;
	m->root = unescape(f[3]);
	m->mp = unescape(f[4]);
	m->mnt_flags = parse_mnt_opts(f[5]);
	/* optional fields up to "-" */
	while ((opt = strtok_r(NULL, " \n", &save)) && strcmp(opt, "-")) {
		if (!strncmp(opt, "shared:", 7))
			m->shared = atoi(opt + 7);
		else if (!strncmp(opt, "master:", 7))
			m->master = atoi(opt + 7);
		else if (!strcmp(opt, "unbindable"))
			m->unbindable = true;
	}
	char *fs = opt ? strtok_r(NULL, " \n", &save) : NULL;
	char *src = fs ? strtok_r(NULL, " \n", &save) : NULL;
	char *sbo = src ? strtok_r(NULL, " \n", &save) : NULL;
	if (!sbo)
		return -EINVAL;
	m->fstype = unescape(fs);
	m->source = unescape(src);
	m->sb_opts = parse_sb_opts(sbo, &m->sb_flags);
	if (!m->root || !m->mp || !m->fstype || !m->source || !m->sb_opts)
		return -ENOMEM;
	return 0;
}

int mnt_table_read(const char *path, struct mnt_table *t)
{
	char *buf = NULL, *save = NULL;
	t->m = NULL;
	t->n = 0;
	ssize_t len = read_file(AT_FDCWD, path, &buf, false);
	if (len < 0)
		return (int)len;
	int ret = 0;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		struct mnt_info *v = xrealloc(t->m, (t->n + 1) * sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			break;
		}
		t->m = v;
		ret = parse_line(l, &t->m[t->n]);
		t->n++;
		if (ret) {
			pr_err("%s: can't parse mount %d (\"%s\")", path, t->n, l);
			break;
		}
	}
	free(buf);
	if (ret)
		mnt_table_free(t);
	return ret;
}

void mnt_table_free(struct mnt_table *t)
{
	mnt_table_free_entries(t);
	free(t->m);
	t->m = NULL;
	t->n = 0;
}

void mnt_table_free_entries(struct mnt_table *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->m[i].root);
		free(t->m[i].mp);
		free(t->m[i].fstype);
		free(t->m[i].source);
		free(t->m[i].sb_opts);
	}
}

struct mnt_info *mnt_find(const struct mnt_table *t, int id)
{
	for (int i = 0; i < t->n; i++)
		if (t->m[i].id == id)
			return &t->m[i];
	return NULL;
}

struct mnt_info *mnt_root(const struct mnt_table *t)
{
	for (int i = 0; i < t->n; i++)
		if (!mnt_find(t, t->m[i].parent))
			return &t->m[i];
	return NULL;
}

bool mnt_path_under(const char *path, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (n == 1 && prefix[0] == '/') {
		*rest = path[0] == '/' && path[1] ? path : "";
		return path[0] == '/';
	}
	if (strncmp(path, prefix, n) || (path[n] && path[n] != '/'))
		return false;
	*rest = path + n;
	return true;
}

static const struct { const char *name; unsigned code; } fstypes[] = {
	{ "proc", 1 }, { "sysfs", 2 }, { "devtmpfs", 3 }, { "binfmt_misc", 4 }, { "tmpfs", 5 },
	{ "devpts", 6 }, { "simfs", 7 }, { "pstore", 8 }, { "securityfs", 9 }, { "fusectl", 10 },
	{ "debugfs", 11 }, { "cgroup", 12 }, { "aufs", 13 }, { "mqueue", 14 }, { "fuse", 15 },
	{ "overlay", 17 }, { "autofs", 18 }, { "tracefs", 19 }, { "cgroup2", 23 },
};

unsigned mnt_fstype_code(const char *fs)
{
	for (size_t i = 0; i < sizeof(fstypes) / sizeof(fstypes[0]); i++)
		if (!strcmp(fs, fstypes[i].name))
			return fstypes[i].code;
	return 16;	/* AUTO: the name is in fsname */
}

bool mnt_fs_recreated(const char *fs)
{
	static const char *const ok[] = { "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
					  "tmpfs" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(fs, ok[i]))
			return true;
	return false;
}

int mnt_run_tar(char *const argv[], int in, int out, const char *what)
{
	pid_t pid = fork();
	if (pid < 0)
		return log_errno(-errno, "can't fork for tar (%s)", what);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (in < 0)
			in = null;
		if (out < 0)
			out = null;
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0)
			_exit(126);
		execvp("tar", argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return log_errno(-errno, "waitpid for tar (%s)", what);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		pr_err("can't run tar(1) for %s: install GNU tar (Debian: apt-get install tar gzip)",
		       what);
		return -ENOENT;
	}
	pr_err("tar (%s) failed: %s %d (see its messages above)", what,
	       WIFEXITED(status) ? "exit status" : "signal",
	       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -EIO;
}
