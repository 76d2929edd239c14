/* --images-trust owner: images that come from an unprivileged user get no
 * more than that user has.
 *
 * A root restore does what the images say: criu trusts them the same way.
 * With this option the images directory's owner is taken as the author of
 * the images.  The directory and every file in it must be writable by no
 * one else (else anyone could have forged them), and, unless the owner is
 * root, the restored tasks may have only the owner's uid and groups, no
 * capabilities, no raised hard limits, no real-time scheduling, and only the
 * files, directories and ports the owner could open, create or bind
 * itself.  docs/security.md lists what images can ask for without it. */
#include "images/image.h"
#include "restore/restore.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ghost-file.pb-c.h"

struct owner {
	uid_t uid;
	gid_t gids[NGROUPS_MAX];	/* gids[0]: the primary group */
	int nr_gids;
	char name[64];
};

static bool owner_has_gid(const struct owner *w, gid_t g)
{
	for (int i = 0; i < w->nr_gids; i++)
		if (w->gids[i] == g)
			return true;
	return false;
}

static int find_owner(struct owner *w, const struct stat *st)
{
	w->uid = st->st_uid;
	struct passwd *pw = getpwuid(st->st_uid);
	if (!pw) {
		/* no account: only the directory's group */
		snprintf(w->name, sizeof(w->name), "uid %u", (unsigned)st->st_uid);
		w->gids[0] = st->st_gid;
		w->nr_gids = 1;
		return 0;
	}
	snprintf(w->name, sizeof(w->name), "%s (uid %u)", pw->pw_name, (unsigned)st->st_uid);
	int n = NGROUPS_MAX;
	if (getgrouplist(pw->pw_name, pw->pw_gid, w->gids, &n) < 0) {
		pr_err("--images-trust owner: can't list the groups of %s", w->name);
		return -E2BIG;
	}
	w->nr_gids = n;
	if (!owner_has_gid(w, pw->pw_gid) && w->nr_gids < NGROUPS_MAX)
		w->gids[w->nr_gids++] = pw->pw_gid;
	return 0;
}

/* Nobody but the owner (or root) may have written the images. */
/* Call @fn for each entry of the images directory but . and ..; stops at
 * the first error. */
static int walk_images_dir(int dirfd, const char *dirname,
			   int (*fn)(int dirfd, const char *dirname, const char *name, void *arg),
			   void *arg)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return_perror("can't read the images directory %s", dirname);
	}
	rewinddir(d);
	int ret = 0;
	struct dirent *de;
	while (!ret && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ret = fn(dirfd, dirname, de->d_name, arg);
	closedir(d);
	return ret;
}

/* Every image: a regular file of the directory's owner or root, writable
 * by nobody else. */
static int check_dir_file(int dirfd, const char *dirname, const char *name, void *arg)
{
	const struct stat *dst = arg;
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		int e = errno;
		pr_perror("can't stat %s/%s", dirname, name);
		return -e;
	}
	/* the link to the previous dump of an incremental one: its
	 * directory is checked as the images directory is */
	bool parent_link = S_ISLNK(st.st_mode) && !strcmp(name, IMG_PARENT_LINK);
	if (!S_ISREG(st.st_mode) && !parent_link) {
		pr_err("--images-trust owner: %s/%s is not a regular file: refused", dirname, name);
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != dst->st_uid) {
		pr_err("--images-trust owner: %s/%s belongs to uid %u, not to the directory's "
		       "owner %u or root: refused", dirname, name, (unsigned)st.st_uid,
		       (unsigned)dst->st_uid);
		return -EPERM;
	}
	if (!parent_link && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		pr_err("--images-trust owner: %s/%s is writable by %s (mode 0%o): refused",
		       dirname, name, st.st_mode & S_IWOTH ? "everyone" : "its group",
		       st.st_mode & 07777);
		return -EPERM;
	}
	return 0;
}

static int check_dir_files(int dirfd, const char *dirname, const struct stat *dst)
{
	if (dst->st_mode & (S_IWGRP | S_IWOTH)) {
		pr_err("--images-trust owner: the images directory %s is writable by %s (mode 0%o): "
		       "anyone who can write there could have forged the images; chmod go-w it",
		       dirname, dst->st_mode & S_IWOTH ? "everyone" : "its group",
		       dst->st_mode & 07777);
		return -EPERM;
	}
	return walk_images_dir(dirfd, dirname, check_dir_file, (void *)dst);
}

static int refuse_cred(const struct rst_proc *p, pid_t tid, const struct owner *w,
		       const char *what, unsigned long long val)
{
	pr_err("--images-trust owner: thread %d of process %d asks for %s %llu, which %s, the "
	       "owner of the images, does not have: refused", tid, p->pid, what, val, w->name);
	return -EPERM;
}

static int check_creds(const struct rst_proc *p, const struct rst_thread *t, const struct owner *w)
{
	const ThreadCoreEntry *tc = t->core->thread_core;
	const CredsEntry *c = tc ? tc->creds : NULL;
	if (!c) {
		pr_err("--images-trust owner: thread %d of process %d has no credentials in its "
		       "core image: refused", t->tid, p->pid);
		return -EPERM;
	}
	const uint32_t uids[] = { c->uid, c->euid, c->suid, c->fsuid };
	const uint32_t gids[] = { c->gid, c->egid, c->sgid, c->fsgid };
	for (size_t i = 0; i < ARRAY_SIZE(uids); i++)
		if (uids[i] != w->uid)
			return refuse_cred(p, t->tid, w, "uid", uids[i]);
	for (size_t i = 0; i < ARRAY_SIZE(gids); i++)
		if (!owner_has_gid(w, gids[i]))
			return refuse_cred(p, t->tid, w, "gid", gids[i]);
	for (size_t i = 0; i < c->n_groups; i++)
		if (!owner_has_gid(w, c->groups[i]))
			return refuse_cred(p, t->tid, w, "supplementary group", c->groups[i]);
	struct { const char *name; size_t n; const uint32_t *v; } caps[] = {
		{ "permitted capabilities", c->n_cap_prm, c->cap_prm },
		{ "effective capabilities", c->n_cap_eff, c->cap_eff },
		{ "inheritable capabilities", c->n_cap_inh, c->cap_inh },
		{ "ambient capabilities", c->n_cap_amb, c->cap_amb },
	};
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++)
		for (size_t k = 0; k < caps[i].n; k++)
			if (caps[i].v[k]) {
				char what[64];
				snprintf(what, sizeof(what), "%s (word %zu)", caps[i].name, k);
				return refuse_cred(p, t->tid, w, what, caps[i].v[k]);
			}
	if (tc->has_sched_policy && tc->sched_policy != SCHED_OTHER &&
	    tc->sched_policy != SCHED_BATCH && tc->sched_policy != SCHED_IDLE)
		return refuse_cred(p, t->tid, w, "real-time scheduling policy", tc->sched_policy);
	if (tc->has_sched_nice && tc->sched_nice < 0)
		return refuse_cred(p, t->tid, w, "negative nice value (as a positive number)",
				   (unsigned long long)-tc->sched_nice);
	return 0;
}

static int check_rlimits(const struct rst_proc *p, const struct owner *w)
{
	const TaskCoreEntry *tc = p->core->tc;
	if (!tc || !tc->rlimits)
		return 0;
	for (size_t i = 0; i < tc->rlimits->n_rlimits; i++) {
		struct rlimit mine;
		const RlimitEntry *r = tc->rlimits->rlimits[i];
		if (getrlimit((int)i, &mine))
			continue;	/* a limit this kernel lacks: the restore says so */
		if (mine.rlim_max != RLIM_INFINITY && r->max > mine.rlim_max) {
			pr_err("--images-trust owner: process %d asks for a hard limit of %llu for "
			       "resource %zu, above this host's %llu that %s could have: refused",
			       p->pid, (unsigned long long)r->max, i,
			       (unsigned long long)mine.rlim_max, w->name);
			return -EPERM;
		}
	}
	return 0;
}

/* What opening a file with @flags needs (O_PATH: only to reach it). */
static int access_mode(uint32_t flags)
{
	if (flags & O_PATH)
		return F_OK;
	switch (flags & O_ACCMODE) {
	case O_WRONLY: return W_OK;
	case O_RDWR: return R_OK | W_OK;
	default: return R_OK;
	}
}

struct path_check {
	char *path;
	int mode;		/* for faccessat; -1: bind a unix socket there */
	const char *what;
};

/* As the owner (a child that dropped to its ids): can it open each path,
 * or, where the path is gone (a deleted file cryo recreates, a socket to
 * bind), create an entry in its directory?  Returns the index of the first
 * refused path and the errno in *@err, or -1 if all may. */
static int check_paths_as(const struct owner *w, const struct path_check *pc, int n, int *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC))
		return_perror("--images-trust owner: can't make a pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		pr_err("--images-trust owner: can't fork the access checker: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		int res[2] = { -1, 0 };
		if (setgroups(w->nr_gids, w->gids) || setresgid(w->gids[0], w->gids[0], w->gids[0]) ||
		    setresuid(w->uid, w->uid, w->uid)) {
			res[0] = -2;
			res[1] = errno;
		}
		for (int i = 0; res[0] == -1 && i < n; i++) {
			int mode = pc[i].mode < 0 ? F_OK : pc[i].mode;
			struct stat st;
			if (!stat(pc[i].path, &st) && S_ISDIR(st.st_mode))
				mode |= X_OK;
			if (pc[i].mode >= 0 && !faccessat(AT_FDCWD, pc[i].path, mode, AT_EACCESS))
				continue;
			if (pc[i].mode >= 0 && errno != ENOENT) {
				res[0] = i;
				res[1] = errno;
				break;
			}
			/* gone, or a name to bind: its directory must take a new entry */
			char dir[PATH_MAX];
			snprintf(dir, sizeof(dir), "%s", pc[i].path);
			char *s = strrchr(dir, '/');
			if (s)
				*s = '\0';
			if (faccessat(AT_FDCWD, s ? (dir[0] ? dir : "/") : ".", W_OK | X_OK,
				      AT_EACCESS)) {
				res[0] = i;
				res[1] = errno;
			}
		}
		_exit(write(pfd[1], res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	close(pfd[1]);
	int res[2];
	ssize_t got = read_all(pfd[0], res, sizeof(res));
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got != sizeof(res)) {
		pr_err("--images-trust owner: the access checker died");
		return -EIO;
	}
	if (res[0] == -2) {
		pr_err("--images-trust owner: can't take the ids of %s: %s", w->name,
		       strerror(res[1]));
		return -res[1];
	}
	*err = res[1];
	return res[0];
}

/* @dir/@name (@len bytes) or @name alone, copied */
static int add_check(struct path_check **pc, int *n, const char *dir, const char *name, size_t len,
		     int mode, const char *what)
{
	struct path_check *p = xrealloc(*pc, (*n + 1) * sizeof(**pc));
	if (!p)
		return -ENOMEM;
	*pc = p;
	char *path = NULL;
	if (asprintf(&path, "%s%s%.*s", dir ? dir : "", dir ? "/" : "", (int)len, name) < 0)
		return -ENOMEM;
	p[*n] = (struct path_check){ .path = path, .mode = mode, .what = what };
	*pc = p;
	(*n)++;
	return 0;
}

static int check_files(const struct rst_ctx *ctx, const struct owner *w)
{
	const struct files_restore *fr = &ctx->files;
	struct path_check *pc = NULL;
	int n = 0, ret = 0;
	int low_port = 1024;
	char *s = NULL;
	if (read_file(AT_FDCWD, "/proc/sys/net/ipv4/ip_unprivileged_port_start", &s, true) > 0)
		low_port = atoi(s);
	free(s);

	for (int i = 0; i < fr->nr_files && !ret; i++) {
		const FileEntry *fe = fr->files[i];
		const UnixSkEntry *u = fe->usk;
		if (fe->reg && fe->reg->name) {
			ret = add_check(&pc, &n, NULL, fe->reg->name, strlen(fe->reg->name),
					access_mode(fe->reg->flags), "open");
		} else if (u && u->name.len && u->name.data[0]) {
			/* a relative name is bound in the binder's cwd, recorded as name_dir */
			size_t len = strnlen((const char *)u->name.data, u->name.len);
			if (u->name.data[0] != '/' && !u->name_dir) {
				pr_err("--images-trust owner: unix socket %u is bound to the relative "
				       "name %.*s with no directory recorded: refused", fe->id,
				       (int)len, (const char *)u->name.data);
				ret = -EPERM;
			} else {
				ret = add_check(&pc, &n, u->name.data[0] == '/' ? NULL : u->name_dir,
						(const char *)u->name.data, len, -1,
						"bind a unix socket at");
			}
		} else if (fe->isk && fe->isk->src_port && (int)fe->isk->src_port < low_port) {
			pr_err("--images-trust owner: an inet socket (file %u) is bound to port %u, "
			       "which %s may not bind: refused", fe->id, fe->isk->src_port, w->name);
			ret = -EPERM;
		} else if (fe->psk || (fe->isk && fe->isk->type == SOCK_RAW)) {
			pr_err("--images-trust owner: file %u is a raw or packet socket, which needs "
			       "CAP_NET_RAW that %s does not have: refused", fe->id, w->name);
			ret = -EPERM;
		}
	}
	if (!ret && n) {
		int err = 0, bad = check_paths_as(w, pc, n, &err);
		if (bad >= 0) {
			pr_err("--images-trust owner: the images ask to %s %s, which %s may not: %s: "
			       "refused", pc[bad].what, pc[bad].path, w->name, strerror(err));
			ret = -EPERM;
		} else if (bad < -1) {
			ret = bad;
		}
	}
	for (int i = 0; i < n; i++)
		free(pc[i].path);
	free(pc);
	return ret;
}

/* Recreated deleted files take owner and mode from their image. */
/* A ghost file (a deleted file recreated for the restore) of an owner or
 * kind the images' owner could not have made. */
static int check_ghost(int dirfd, const char *dirname, const char *name, void *arg)
{
	const struct owner *w = arg;
	unsigned long id;
	char tail[8];
	if (sscanf(name, "ghost-file-%lx.im%1s", &id, tail) != 2 || strcmp(tail, "g"))
		return 0;
	struct cr_img *img;
	GhostFileEntry *g = NULL;
	int ret = img_open(&img, dirfd, IMG_GHOST_FILE, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_one(img, &ghost_file_entry__descriptor, (ProtobufCMessage **)&g);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = 0;
	if (g->uid != w->uid || !owner_has_gid(w, g->gid)) {
		pr_err("--images-trust owner: %s recreates a file owned by %u:%u, which %s "
		       "could not make: refused", name, g->uid, g->gid, w->name);
		ret = -EPERM;
	} else if (S_ISCHR(g->mode) || S_ISBLK(g->mode)) {
		/* mknod of a device needs CAP_MKNOD: a forged one could open any disk */
		pr_err("--images-trust owner: %s recreates a device node (rdev 0x%x), which %s "
		       "could not make: refused", name, g->rdev, w->name);
		ret = -EPERM;
	}
	protobuf_c_message_free_unpacked(&g->base, NULL);
	return ret;
}

int restore_check_trust(struct rst_ctx *ctx)
{
	const char *dirname = ctx->opts->images_dir ? ctx->opts->images_dir : ".";
	struct stat st;
	struct owner w;

	if (!ctx->opts->images_trust_owner)
		return 0;
	if (fstat(ctx->dirfd, &st))
		return_perror("can't stat the images directory %s", dirname);
	int ret = check_dir_files(ctx->dirfd, dirname, &st);
	/* the previous dumps (incremental): the owner's (or root's) too, or
	 * their pages could be another user's memory */
	for (int i = 0; !ret && i < ctx->nr_prev_dirs; i++) {
		struct stat pst;
		if (fstat(ctx->prev_dirs[i], &pst))
			return_perror("can't stat a previous dump's directory");
		if (pst.st_uid != 0 && pst.st_uid != st.st_uid) {
			pr_err("--images-trust owner: the previous dump %d levels down the parent "
			       "links of %s belongs to uid %u, not to the images' owner %u or root: "
			       "refused", i + 1, dirname, (unsigned)pst.st_uid, (unsigned)st.st_uid);
			return -EPERM;
		}
		ret = check_dir_files(ctx->prev_dirs[i], "(a previous dump)", &pst);
	}
	if (ret || st.st_uid == 0) {
		if (!ret)
			pr_info("--images-trust owner: the images belong to root");
		return ret;
	}
	ret = find_owner(&w, &st);
	/* the mounts would be made by cryo, as root, from what the images say
	 * (sources, binds of host paths, tmpfs archives) */
	if (!ret && (ctx->ns_flags & CLONE_NEWNS)) {
		pr_err("--images-trust owner: the images hold a mount namespace of the tree's own, "
		       "whose mounts cryo would make as root from what they say; not for images "
		       "of %s (restore them as root's, or without --images-trust owner)", w.name);
		ret = -EPERM;
	}
	/* a PID namespace nested below the tree's is made by cryo as root
	 * (its owner: cryo's user namespace), which the images' owner could
	 * not have made there */
	for (int i = 0; !ret && i < ctx->nr_procs; i++)
		if (ctx->procs[i].nslv || ctx->procs[i].kids_pidns || ctx->procs[i].kids_unshare) {
			pr_err("--images-trust owner: process %d is in (or makes its children in) a "
			       "PID namespace nested below the tree's, which cryo would make as root; "
			       "not for images of %s (restore them as root's, or without "
			       "--images-trust owner)", ctx->procs[i].vpid, w.name);
			ret = -EPERM;
		}
	for (int i = 0; !ret && i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		if (p->state == TASK_DEAD)
			continue;
		for (int t = 0; !ret && t < p->nr_threads; t++)
			ret = check_creds(p, &p->thr[t], &w);
		if (!ret)
			ret = check_rlimits(p, &w);
	}
	if (!ret)
		ret = walk_images_dir(ctx->dirfd, dirname, check_ghost, &w);
	if (!ret)
		ret = check_files(ctx, &w);
	if (!ret)
		pr_info("--images-trust owner: nothing in the images exceeds what %s has", w.name);
	return ret;
}
