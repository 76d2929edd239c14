/* The restore side of lib/cgroup: cgroup.img's directories made and their
 * properties set per --manage-cgroups mode (criu's semantics), and each
 * process put into its set's cgroups before it runs.
 *
 *   none    the cgroups must exist; no property is written
 *   props   the cgroups must exist; every saved property is written
 *   soft    missing cgroups are made; properties only on those cryo made
 *   full    missing cgroups are made; every property is written
 *   strict  no saved cgroup may exist: all are made, every property
 *           written, and a property that can't be is an error
 *   ignore  (and no --manage-cgroups) nothing: every task lands in the
 *           restoring cryo's cgroups
 *
 * Paths of the dumping tool's own set (root_cg_set) mean the restoring
 * cryo's own, as in criu.  --cgroup-root [CTRL:]PATH moves what was saved
 * under a hierarchy's top directory (or, without saved directories, the
 * root process's cgroup) to PATH: runc's cg_root for a new container. */
#include "cgroup/cgroup-int.h"
#include "images/image.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include "cgroup.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum cg_mode { CGM_NONE, CGM_PROPS, CGM_SOFT, CGM_FULL, CGM_STRICT };

struct cg_restore {
	const char *mode_name;
	enum cg_mode mode;
	CgroupEntry *e;
	const CgSetEntry *root_set;	/* the dumping tool's own */
	const CgSetEntry *top_set;	/* the root process's */
	struct cg_set self;		/* the restoring cryo's */
	const struct str_list *roots;	/* --cgroup-root */
	const char *yard;		/* --cgroup-yard: the hierarchies' mounts */
	char **created;			/* directories made, parents first */
	int nr_created;
	struct { char *name, *mnt; } *mnts;
	int nr_mnts;
};

static const CgSetEntry *find_set(const struct cg_restore *cg, uint32_t id)
{
	for (size_t i = 0; cg->e && i < cg->e->n_sets; i++)
		if (cg->e->sets[i]->id == id)
			return cg->e->sets[i];
	return NULL;
}

static const char *set_path(const CgSetEntry *s, const char *name)
{
	for (size_t i = 0; s && i < s->n_ctls; i++)
		if (s->ctls[i]->name && !strcmp(s->ctls[i]->name, name))
			return s->ctls[i]->path;
	return NULL;
}

/* the mount of hierarchy @name, cached; NULL when it is not mounted */
static const char *mnt_of(struct cg_restore *cg, const char *name)
{
	for (int i = 0; i < cg->nr_mnts; i++)
		if (!strcmp(cg->mnts[i].name, name))
			return cg->mnts[i].mnt;
	char *mnt = NULL;
	if (cg_find_mount(cg->yard, name, &mnt))
		mnt = NULL;
	else if (cg->yard)
		pr_info("cgroup hierarchy %s: through %s (--cgroup-yard)", CG_SHOW(name), mnt);
	void *v = realloc(cg->mnts, (cg->nr_mnts + 1) * sizeof(*cg->mnts));
	if (!v) {
		free(mnt);
		return NULL;
	}
	cg->mnts = v;
	cg->mnts[cg->nr_mnts].name = xstrdup(name);
	cg->mnts[cg->nr_mnts++].mnt = mnt;
	return mnt;
}

static bool covers(const char *a, const char *b)
{
	size_t l = strlen(a);
	if (!strcmp(a, "/"))
		return true;
	return !strncmp(a, b, l) && (b[l] == 0 || b[l] == '/');
}

/* --cgroup-root's new path for hierarchy @name, or NULL */
static const char *new_root(const struct cg_restore *cg, const char *name)
{
	const char *dflt = NULL;
	for (int i = 0; cg->roots && i < cg->roots->n; i++) {
		const char *r = cg->roots->v[i], *c = strchr(r, ':');
		if (r[0] == '/')
			dflt = r;
		else if (c && cg_names_ctl(name, r, c - r))
			return c + 1;
	}
	return dflt;
}

static const CgControllerEntry *controller(const struct cg_restore *cg, const char *name)
{
	for (size_t i = 0; cg->e && i < cg->e->n_controllers; i++) {
		const CgControllerEntry *c = cg->e->controllers[i];
		if (!c->n_cnames)
			continue;
		bool all = true;
		for (size_t k = 0; k < c->n_cnames && all; k++)
			all = cg_names_ctl(name, c->cnames[k], strlen(c->cnames[k]));
		if (all)
			return c;
	}
	return NULL;
}

/* The path dumped path @p of hierarchy @name gets at this restore
 * (malloc'd): moved under --cgroup-root's path, if one applies. */
static char *rewrite(const struct cg_restore *cg, const char *name, const char *p)
{
	const char *to = new_root(cg, name);
	if (!to)
		return xstrdup(p);
	const CgControllerEntry *c = controller(cg, name);
	char top[4096];
	bool found = false;
	for (size_t i = 0; c && i < c->n_dirs && !found; i++) {
		snprintf(top, sizeof(top), "/%s", c->dirs[i]->dir_name + (c->dirs[i]->dir_name[0] == '/'));
		found = covers(top, p);
	}
	if (!found) {
		const char *rp = set_path(cg->top_set, name);
		if (!rp || !strcmp(rp, "/") || !covers(rp, p) ||
		    !strcmp(rp, set_path(cg->root_set, name) ?: ""))
			return xstrdup(p);
		snprintf(top, sizeof(top), "%s", rp);
	}
	char *s;
	if (asprintf(&s, "%s%s", to, p + strlen(top)) < 0)
		return NULL;
	return s;
}

/* --cgroup-yard: every hierarchy the restore will make cgroups in or put
 * a process into (not one where it stays in cryo's own cgroup) must be
 * mounted in the yard; refused here, before anything is made. */
static int yard_need(struct cg_restore *cg, const char *name, const char *why)
{
	if (mnt_of(cg, name))
		return 0;
	pr_err("--cgroup-yard %s: cgroup hierarchy %s is not mounted at %s/%s (the restore %s): "
	       "mount its root there", cg->yard, CG_SHOW(name), cg->yard, cg_yard_dir(name), why);
	return -ENOENT;
}

static int yard_has_all(struct cg_restore *cg, const uint32_t *sets, int nr)
{
	int ret = 0;
	for (size_t i = 0; !ret && i < cg->e->n_controllers; i++) {
		const CgControllerEntry *c = cg->e->controllers[i];
		char name[256];
		int off = 0;
		name[0] = 0;
		for (size_t k = 0; k < c->n_cnames; k++)
			off += snprintf(name + off, sizeof(name) - off, "%s%s", k ? "," : "",
					c->cnames[k]);
		if (c->n_dirs)
			ret = yard_need(cg, name, "makes the tree's cgroups in it");
	}
	for (int i = 0; !ret && i < nr; i++) {
		const CgSetEntry *s = find_set(cg, sets[i]);
		for (size_t k = 0; !ret && k < s->n_ctls; k++) {
			const char *name = s->ctls[k]->name, *rp = set_path(cg->root_set, name);
			if (!rp || strcmp(rp, s->ctls[k]->path))
				ret = yard_need(cg, name, "puts processes into its cgroups");
		}
	}
	return ret;
}

int cg_restore_prepare(struct cg_restore **out, const struct cryo_opts *o, int dirfd,
		       uint32_t root_set, const uint32_t *sets, int nr)
{
	static const char *const modes[] = { "none", "props", "soft", "full", "strict" };
	const char *mode = o->manage_cgroups;
	struct cr_img *img;
	char *self = NULL;

	*out = NULL;
	if (!mode || !strcmp(mode, "ignore")) {
		if (o->cgroup_roots.n)
			pr_warn("--cgroup-root has no effect without --manage-cgroups (or with ignore)");
		return 0;
	}
	struct cg_restore *cg = xzalloc(sizeof(*cg));
	if (!cg)
		return -ENOMEM;
	*out = cg;
	cg->mode_name = mode;
	for (int i = 0; i < 5; i++)
		if (!strcmp(mode, modes[i]))
			cg->mode = i;
	cg->roots = &o->cgroup_roots;
	cg->yard = o->cgroup_yard;
	if (cg_yard_check(cg->yard, mode))
		return -EINVAL;
	for (int i = 0; i < o->cgroup_roots.n; i++) {
		const char *r = o->cgroup_roots.v[i], *c = strchr(r, ':');
		if (!cg_path_ok(r[0] == '/' ? r : c ? c + 1 : NULL)) {
			pr_err("--cgroup-root %s: expected [CONTROLLER:]/PATH", r);
			return -EINVAL;
		}
	}
	int ret = read_file(AT_FDCWD, "/proc/self/cgroup", &self, false);
	if (ret < 0)
		return log_errno(ret, "can't read /proc/self/cgroup");
	ret = cg_parse_set(self, &cg->self);
	free(self);
	if (ret)
		return ret;
	ret = img_open(&img, dirfd, IMG_CGROUP, IMG_READ | IMG_MISSING_OK, 0);
	if (!ret) {
		ret = img_read_one(img, &cgroup_entry__descriptor, (ProtobufCMessage **)&cg->e);
		img_close(img);
		if (ret > 0)
			ret = 0;
	}
	bool all_root = true;
	for (int i = 0; i < nr; i++)
		all_root &= sets[i] == root_set;
	if (ret == -ENOENT && all_root)
		return 0;	/* an older cryo's images: nothing to put back */
	if (ret == -ENOENT) {
		pr_err("--manage-cgroups=%s: the images have no cgroup.img (written by an older cryo) "
		       "but processes were outside the dumping tool's cgroups: restore with "
		       "--manage-cgroups=ignore or without the option to put them into cryo's", mode);
		return -EOPNOTSUPP;
	}
	if (ret)
		return ret;
	/* paths from the images name directories cryo makes and writes to */
	for (size_t i = 0; i < cg->e->n_sets; i++)
		for (size_t k = 0; k < cg->e->sets[i]->n_ctls; k++) {
			const CgMemberEntry *m = cg->e->sets[i]->ctls[k];
			if (!m->name || !cg_path_ok(m->path)) {
				pr_err("cgroup.img: set %u has the cgroup path \"%s\": the images are "
				       "damaged", cg->e->sets[i]->id, m->path ?: "");
				return -EINVAL;
			}
		}
	cg->root_set = find_set(cg, root_set);
	cg->top_set = nr ? find_set(cg, sets[0]) : NULL;
	for (int i = 0; i < nr; i++)
		if (!find_set(cg, sets[i]) || !cg->root_set) {
			pr_err("cgroup.img has no cgroup set %u: the images are damaged",
			       cg->root_set ? sets[i] : root_set);
			return -EINVAL;
		}
	return cg->yard ? yard_has_all(cg, sets, nr) : 0;
}

/* ---- directories and properties ---- */

static int note_created(struct cg_restore *cg, const char *path)
{
	char **v = realloc(cg->created, (cg->nr_created + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	cg->created = v;
	return (v[cg->nr_created++] = xstrdup(path)) ? 0 : -ENOMEM;
}

/* Make @path (and its missing parents, if the mode makes cgroups); *@made:
 * whether @path itself was made. */
static int ensure_dir(struct cg_restore *cg, const char *path, bool *made)
{
	struct stat st;
	*made = false;
	if (!stat(path, &st)) {
		if (cg->mode != CGM_STRICT)
			return 0;
		pr_err("--manage-cgroups=strict: cgroup %s exists already: strict restores cgroups "
		       "from scratch; remove it, or restore with --manage-cgroups=full or soft", path);
		return -EEXIST;
	}
	if (cg->mode == CGM_NONE || cg->mode == CGM_PROPS) {
		pr_err("--manage-cgroups=%s: cgroup %s does not exist: this mode needs the cgroups "
		       "made beforehand (soft, full and strict make them)", cg->mode_name, path);
		return -ENOENT;
	}
	char *parent = xstrdup(path), *sl = parent ? strrchr(parent, '/') : NULL;
	int ret = parent ? 0 : -ENOMEM;
	if (sl && sl != parent) {
		*sl = 0;
		if (stat(parent, &st)) {	/* parents: made, whatever the mode */
			enum cg_mode m = cg->mode;
			bool pm;
			cg->mode = CGM_FULL;
			ret = ensure_dir(cg, parent, &pm);
			cg->mode = m;
		}
	}
	free(parent);
	if (!ret && mkdir(path, 0755))
		ret = log_errno(-errno, "can't make cgroup %s", path);
	if (!ret) {
		*made = true;
		ret = note_created(cg, path);
	}
	return ret;
}

static int write_prop(const char *dir, const CgroupPropEntry *pe)
{
	const char *n = pe->name, *v = pe->value ?: "";
	char buf[1024];
	if (!strcmp(n, "memory.oom_control")) {	/* reads "oom_kill_disable N\n..." */
		const char *d = strstr(v, "oom_kill_disable ");
		return d ? cg_write_file(dir, n, d[17] == '1' ? "1" : "0") : 0;
	}
	if (!strcmp(n, "cgroup.subtree_control")) {	/* reads "cpu memory" */
		int off = 0;
		char w[256];
		snprintf(w, sizeof(w), "%s", v);
		buf[0] = 0;
		for (char *sv, *t = strtok_r(w, " ", &sv); t; t = strtok_r(NULL, " ", &sv))
			off += snprintf(buf + off, sizeof(buf) - off, "%s+%s", off ? " " : "", t);
		return off ? cg_write_file(dir, n, buf) : 0;
	}
	if (!strcmp(n, "devices.list")) {	/* a deny-all, then each allowed rule */
		int ret = cg_write_file(dir, "devices.deny", "a");
		for (const char *l = v; !ret && *l;) {
			size_t len = strcspn(l, "\n");
			snprintf(buf, sizeof(buf), "%.*s", (int)len, l);
			ret = cg_write_file(dir, "devices.allow", buf);
			l += len + (l[len] ? 1 : 0);
		}
		return ret;
	}
	return cg_write_file(dir, n, v);
}

static int restore_props(struct cg_restore *cg, const char *path, const CgroupDirEntry *d)
{
	for (size_t i = 0; i < d->n_properties; i++) {
		const CgroupPropEntry *pe = d->properties[i];
		char *cur = NULL;
		if (!pe->name || strchr(pe->name, '/') || pe->name[0] == '.') {
			pr_err("cgroup.img: a property named \"%s\": the images are damaged",
			       pe->name ?: "");
			return -EINVAL;
		}
		/* membership is the placement's, never a property (criu skips them) */
		if (!strcmp(pe->name, "cgroup.procs") || !strcmp(pe->name, "tasks") ||
		    !strcmp(pe->name, "cgroup.threads"))
			continue;
		bool same = !cg_read_prop(path, pe->name, &cur) && !strcmp(cur, pe->value ?: "");
		free(cur);
		if (same)
			continue;
		int ret = write_prop(path, pe);
		if (!ret) {
			pr_debug("cgroup %s: %s = %s", path, pe->name, pe->value);
			continue;
		}
		if (cg->mode == CGM_STRICT)
			return log_errno(ret, "--manage-cgroups=strict: can't set %s/%s to \"%s\"", path,
					 pe->name, pe->value);
		pr_warn("can't set cgroup property %s/%s to \"%s\": %s (left as it is)", path,
			pe->name, pe->value, strerror(-ret));
	}
	return 0;
}

static int restore_dir(struct cg_restore *cg, const char *path, const CgroupDirEntry *d)
{
	bool made;
	int ret = ensure_dir(cg, path, &made);
	if (ret)
		return ret;
	if (made && d->dir_perms && d->dir_perms->has_mode &&
	    (chmod(path, d->dir_perms->mode & 07777) ||
	     chown(path, d->dir_perms->uid, d->dir_perms->gid)))
		pr_warn("can't give cgroup %s its owner and mode: %m", path);
	if (cg->mode == CGM_PROPS || cg->mode == CGM_FULL || cg->mode == CGM_STRICT ||
	    (cg->mode == CGM_SOFT && made))
		ret = restore_props(cg, path, d);
	for (size_t i = 0; !ret && i < d->n_children; i++) {
		const char *n = d->children[i]->dir_name;
		if (!n || !*n || strchr(n, '/') || !strcmp(n, "..") || !strcmp(n, ".")) {
			pr_err("cgroup.img: a directory named \"%s\" under %s: the images are damaged",
			       n ?: "", path);
			return -EINVAL;
		}
		char *sub = cg_join(path, n);
		ret = sub ? restore_dir(cg, sub, d->children[i]) : -ENOMEM;
		free(sub);
	}
	return ret;
}

int cg_restore_dirs(struct cg_restore *cg)
{
	int ret = 0;
	for (size_t i = 0; cg && cg->e && !ret && i < cg->e->n_controllers; i++) {
		const CgControllerEntry *c = cg->e->controllers[i];
		char name[256];
		int off = 0;
		name[0] = 0;
		for (size_t k = 0; k < c->n_cnames; k++)
			off += snprintf(name + off, sizeof(name) - off, "%s%s", k ? "," : "",
					c->cnames[k]);
		if (!c->n_dirs)
			continue;
		const char *mnt = mnt_of(cg, name);
		if (!mnt) {
			pr_err("--manage-cgroups=%s: cgroup hierarchy %s is not mounted here: mount it "
			       "(cryo makes the tree's cgroups through it)", cg->mode_name, CG_SHOW(name));
			return -ENOENT;
		}
		for (size_t k = 0; !ret && k < c->n_dirs; k++) {
			const char *dn = c->dirs[k]->dir_name ?: "";
			char top[4096];
			snprintf(top, sizeof(top), "/%s", dn + (dn[0] == '/'));
			if (!cg_path_ok(top) || !strcmp(top, "/")) {
				pr_err("cgroup.img: a top cgroup \"%s\": the images are damaged", dn);
				return -EINVAL;
			}
			char *to = rewrite(cg, name, top);
			char *path = to ? cg_join(mnt, to) : NULL;
			ret = path ? restore_dir(cg, path, c->dirs[k]) : -ENOMEM;
			if (!ret)
				pr_info("cgroup %s:%s restored as %s (%s)", CG_SHOW(name), top, to,
					cg->mode_name);
			free(path);
			free(to);
		}
	}
	return ret;
}

/* @pid into set @set's cgroups; @tid > 0: only its thread @tid (written to
 * "tasks" in v1, to "cgroup.threads" in v2, where the cgroup must be in
 * the process's threaded subtree) */
static int place(struct cg_restore *cg, pid_t pid, pid_t tid, uint32_t set)
{
	const CgSetEntry *s = cg ? find_set(cg, set) : NULL;
	struct cg_set cur = { 0 };
	char spid[16], path[64], *text = NULL;
	snprintf(spid, sizeof(spid), "%d", tid > 0 ? tid : pid);
	/* where it is now (its parent's, its process's, or cryo's): no write
	 * needed there */
	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	int r0 = s ? read_file(AT_FDCWD, path, &text, false) : 0;
	if (r0 < 0)
		return log_errno(r0, "can't read %s", path);
	if (text && (r0 = cg_parse_set(text, &cur))) {
		free(text);
		cg_set_clear(&cur);
		return r0;
	}
	free(text);
	for (size_t i = 0; s && i < s->n_ctls; i++) {
		const char *name = s->ctls[i]->name, *p = s->ctls[i]->path;
		const char *rp = set_path(cg->root_set, name);
		bool own = rp && p && !strcmp(rp, p);
		char *to = own ? xstrdup(cg_set_path(&cg->self, name) ?: "/") : rewrite(cg, name, p);
		const char *now = cg_set_path(&cur, name);
		if (to && now && !strcmp(to, now)) {
			free(to);
			continue;
		}
		const char *mnt = mnt_of(cg, name);
		int ret = to ? 0 : -ENOMEM;
		if (!ret && !mnt) {
			free(to);
			if (own)
				continue;	/* cryo's own, in a hierarchy not mounted here */
			pr_err("can't put process %d into cgroup %s:%s: the hierarchy is not mounted "
			       "here; mount it", pid, CG_SHOW(name), p);
			cg_set_clear(&cur);
			return -ENOENT;
		}
		char *dir = ret ? NULL : cg_join(mnt, to);
		bool made;
		if (!ret && !dir)
			ret = -ENOMEM;
		if (!ret && access(dir, F_OK)) {
			enum cg_mode m = cg->mode;
			if (m == CGM_STRICT)	/* not saved (a dump in mode none): made bare */
				cg->mode = CGM_FULL;
			ret = ensure_dir(cg, dir, &made);
			cg->mode = m;
		}
		const char *file = tid <= 0 ? "cgroup.procs" : name[0] ? "tasks" : "cgroup.threads";
		if (!ret) {
			ret = cg_write_file(dir, file, spid);
			if (ret && tid > 0)
				log_errno(ret, "can't put thread %d of process %d into cgroup %s:%s "
					  "(writing %s/%s)%s", tid, pid, CG_SHOW(name), to, dir, file,
					  name[0] ? "" : ": a cgroup v2 takes a thread apart from "
					  "its process only in the process's threaded subtree "
					  "(cgroup.type \"threaded\"; restore with a "
					  "--manage-cgroups mode that sets properties)");
			else if (ret)
				log_errno(ret, "can't put process %d into cgroup %s (writing %s/cgroup.procs)",
					  pid, to, dir);
			else
				pr_debug("%s %d put into cgroup %s:%s", tid > 0 ? "thread" : "process",
					 tid > 0 ? tid : pid, CG_SHOW(name), to);
		}
		free(dir);
		free(to);
		if (ret) {
			cg_set_clear(&cur);
			return ret;
		}
	}
	cg_set_clear(&cur);
	return 0;
}

int cg_restore_place(struct cg_restore *cg, pid_t pid, uint32_t set)
{
	return place(cg, pid, 0, set);
}

int cg_restore_place_thread(struct cg_restore *cg, pid_t pid, pid_t tid, uint32_t set)
{
	if (!set || !cg)
		return 0;
	if (!find_set(cg, set)) {
		pr_err("thread %d of process %d: cgroup set %u is not in cgroup.img: the images "
		       "are damaged", tid, pid, set);
		return -EINVAL;
	}
	return place(cg, pid, tid, set);
}

void cg_restore_undo(struct cg_restore *cg)
{
	for (int i = cg ? cg->nr_created - 1 : -1; i >= 0; i--) {
		/* a task just reaped may still hold its cgroup for a moment */
		int tries = 0;
		while (rmdir(cg->created[i]) && errno == EBUSY && tries++ < 200)
			usleep(5000);
		if (!access(cg->created[i], F_OK))
			pr_warn("can't remove cgroup %s made by the failed restore: %m",
				cg->created[i]);
		free(cg->created[i]);
	}
	if (cg)
		cg->nr_created = 0;	/* done once */
}

void cg_restore_free(struct cg_restore *cg)
{
	if (!cg)
		return;
	for (int i = 0; i < cg->nr_created; i++)
		free(cg->created[i]);
	for (int i = 0; i < cg->nr_mnts; i++) {
		free(cg->mnts[i].name);
		free(cg->mnts[i].mnt);
	}
	free(cg->mnts);
	free(cg->created);
	cg_set_clear(&cg->self);
	if (cg->e)
		protobuf_c_message_free_unpacked(&cg->e->base, NULL);
	free(cg);
}

/* cryo back into the cgroups it was started in (cg_restore_place of cryo
 * itself moved it away); every hierarchy is tried, the first error kept */
int cg_restore_self_back(struct cg_restore *cg)
{
	char spid[16];
	int ret = 0;
	snprintf(spid, sizeof(spid), "%d", getpid());
	for (int i = 0; cg && i < cg->self.n; i++) {
		const char *name = cg->self.m[i].name, *mnt = mnt_of(cg, name);
		if (!mnt)
			continue;
		char *dir = cg_join(mnt, cg->self.m[i].path);
		int r = dir ? cg_write_file(dir, "cgroup.procs", spid) : -ENOMEM;
		if (r && r != -ENOMEM)
			log_errno(r, "can't move cryo back into its cgroup %s:%s (writing "
				  "%s/cgroup.procs)", CG_SHOW(name), cg->self.m[i].path, dir);
		free(dir);
		if (r && !ret)
			ret = r;
	}
	return ret;
}
