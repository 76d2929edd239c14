/* The dump side of lib/cgroup: cgroup sets and criu's cgroup.img.
 *
 * A set is a distinct /proc/PID/cgroup (paths as cryo's cgroup namespace
 * shows them); set CG_ROOT_SET is cryo's own.  In the modes that restore
 * properties (props, soft, full, strict) the directories the tree lives in
 * below cryo's are saved, per hierarchy: each "top" directory (a task's
 * cgroup that is neither cryo's nor above it; nested ones fold into the
 * outermost) with its subtree, each directory's criu-default properties
 * that exist there, and its owner and mode. */
#include "cgroup/cgroup-int.h"
#include "images/image.h"
#include "options/options.h"
#include "util/log.h"
#include "util/util.h"

#include "cgroup.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cg_dump {
	const struct str_list *only;	/* --cgroup-dump-controller */
	const struct str_list *roots;	/* --cgroup-root */
	struct cg_props props;		/* --cgroup-props[-file] */
	const char *mode;
	const char *yard;		/* --cgroup-yard */
	bool manage, dirs;
	struct cg_set *sets;
	int nr;
};

static int add_set(struct cg_dump *cg, const char *text, uint32_t *id)
{
	for (int i = 0; i < cg->nr; i++)
		if (!strcmp(cg->sets[i].text, text)) {
			*id = cg->sets[i].id;
			return 0;
		}
	struct cg_set *v = realloc(cg->sets, (cg->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	cg->sets = v;
	v = &cg->sets[cg->nr];
	memset(v, 0, sizeof(*v));
	v->id = *id = CG_ROOT_SET + cg->nr++;
	return cg_parse_set(text, v);
}

int cg_dump_init(struct cg_dump **out, const struct cryo_opts *o)
{
	struct cg_dump *cg = xzalloc(sizeof(*cg));
	char *self = NULL;
	uint32_t id;

	if (!cg)
		return -ENOMEM;
	*out = cg;
	cg->mode = o->manage_cgroups;
	cg->only = &o->cgroup_dump_ctls;
	cg->manage = cg->mode && strcmp(cg->mode, "ignore");
	cg->dirs = cg->manage && strcmp(cg->mode, "none");
	cg->roots = &o->cgroup_roots;
	cg->yard = o->cgroup_yard;
	int ret = cg_yard_check(cg->yard, cg->mode);
	if (!ret && o->cgroup_props)
		ret = cg_props_parse(&cg->props, o->cgroup_props, "--cgroup-props");
	if (!ret && o->cgroup_props_file) {
		char *text = NULL;
		ret = read_file(AT_FDCWD, o->cgroup_props_file, &text, false);
		if (ret >= 0)
			ret = cg_props_parse(&cg->props, text, o->cgroup_props_file);
		else
			log_errno(ret, "can't read --cgroup-props-file %s", o->cgroup_props_file);
		free(text);
	}
	if (ret)
		return ret;
	ret = read_file(AT_FDCWD, "/proc/self/cgroup", &self, false);
	if (ret < 0)
		return log_errno(ret, "can't read /proc/self/cgroup");
	ret = add_set(cg, self, &id);
	free(self);
	return ret;
}

/* @text (/proc/PID/cgroup or /proc/PID/task/TID/cgroup of @pid) as a set;
 * its hierarchies must be mounted for --manage-cgroups to save them */
static int dump_text(struct cg_dump *cg, pid_t pid, const char *comm, const char *text,
		     uint32_t *set)
{
	int ret = add_set(cg, text, set);
	const struct cg_set *s = ret ? NULL : &cg->sets[*set - CG_ROOT_SET];
	for (int i = 0; s && *set != CG_ROOT_SET && i < s->n; i++) {
		const char *mine = cg_set_path(&cg->sets[0], s->m[i].name);
		char *mnt = NULL;
		if (mine && !strcmp(mine, s->m[i].path))
			continue;
		if (!cg->manage) {
			pr_warn("process %d (%s) is in cgroup %s:%s, not in cryo's (%s): it will be "
				"restored into the restoring cryo's cgroup (see --manage-cgroups)", pid,
				comm, CG_SHOW(s->m[i].name), s->m[i].path, mine ? mine : "none");
			break;
		}
		int r = cg_find_mount(cg->yard, s->m[i].name, &mnt);
		free(mnt);
		if (r && cg->yard) {
			pr_err("--manage-cgroups=%s: process %d (%s) is in cgroup %s:%s, whose hierarchy "
			       "is not mounted at %s/%s (--cgroup-yard): mount it there to have it "
			       "saved, or dump with --manage-cgroups=ignore", cg->mode, pid, comm,
			       CG_SHOW(s->m[i].name), s->m[i].path, cg->yard, cg_yard_dir(s->m[i].name));
			ret = -EOPNOTSUPP;
			break;
		}
		if (r) {
			pr_err("--manage-cgroups=%s: process %d (%s) is in cgroup %s:%s, whose hierarchy "
			       "is not mounted (whole) in cryo's mount namespace: mount it to have it "
			       "saved, or dump with --manage-cgroups=ignore", cg->mode, pid, comm,
			       CG_SHOW(s->m[i].name), s->m[i].path);
			ret = -EOPNOTSUPP;
			break;
		}
	}
	return ret;
}

int cg_dump_task(struct cg_dump *cg, pid_t pid, const char *comm, uint32_t *set)
{
	char path[64], *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	int ret = read_file(AT_FDCWD, path, &text, false);
	if (ret < 0)
		return log_errno(ret, "can't read %s", path);
	ret = dump_text(cg, pid, comm, text, set);
	free(text);
	return ret;
}

int cg_dump_thread(struct cg_dump *cg, pid_t pid, pid_t tid, const char *comm, uint32_t *set)
{
	char path[64], *text = NULL;
	*set = 0;
	if (!cg->manage)	/* the restore puts threads where their process is */
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", pid, tid);
	int ret = read_file(AT_FDCWD, path, &text, false);
	if (ret < 0)
		return log_errno(ret, "can't read %s", path);
	ret = dump_text(cg, pid, comm, text, set);
	free(text);
	return ret;
}

/* ---- cgroup.img ---- */

static CgroupPerms *perms_of(const char *path)
{
	struct stat st;
	CgroupPerms *p;
	if (stat(path, &st) || !(p = xzalloc(sizeof(*p))))
		return NULL;
	cgroup_perms__init(p);
	p->has_mode = p->has_uid = p->has_gid = 1;
	p->mode = st.st_mode;	/* criu keeps the type bits too */
	p->uid = st.st_uid;
	p->gid = st.st_gid;
	return p;
}

static void dir_free(CgroupDirEntry *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_children; i++)
		dir_free(d->children[i]);
	for (size_t i = 0; i < d->n_properties; i++) {
		free(d->properties[i]->name);
		free(d->properties[i]->value);
		free(d->properties[i]->perms);
		free(d->properties[i]);
	}
	free(d->children);
	free(d->properties);
	free(d->dir_perms);
	free(d->dir_name);
	free(d);
}

static int dump_dir(char *const *props, int nprops, const char *path, const char *name,
		    int depth, CgroupDirEntry **out)
{
	CgroupDirEntry *d = xzalloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	cgroup_dir_entry__init(d);
	*out = d;
	d->dir_name = xstrdup(name);
	d->dir_perms = perms_of(path);
	if (!d->dir_name || !d->dir_perms)
		return d->dir_perms ? -ENOMEM : log_errno(-errno ?: -EIO, "can't stat cgroup %s", path);
	if (depth > 64) {
		pr_err("cgroup %s: deeper than 64 levels", path);
		return -ELOOP;
	}
	/* v2: a threaded cgroup (cgroup.type "threaded") first, so that the
	 * restore makes it threaded before anything else (its parent becomes
	 * "domain threaded" by itself; neither "domain" value can be written) */
	for (int i = -1; i < nprops; i++) {
		const char *pn = i < 0 ? "cgroup.type" : props[i];
		char *val = NULL;
		if (i >= 0 && !strcmp(pn, "cgroup.type"))
			continue;
		if (cg_read_prop(path, pn, &val))
			continue;	/* not in this kernel or not in this cgroup */
		if (i < 0 && strcmp(val, "threaded")) {
			free(val);
			continue;
		}
		CgroupPropEntry *pe = xzalloc(sizeof(*pe));
		CgroupPropEntry **v = realloc(d->properties, (d->n_properties + 1) * sizeof(*v));
		char *fp = cg_join(path, pn);
		if (!pe || !v || !fp) {
			free(pe);
			free(val);
			free(fp);
			return -ENOMEM;
		}
		cgroup_prop_entry__init(pe);
		d->properties = v;
		v[d->n_properties++] = pe;
		pe->name = xstrdup(pn);
		pe->value = val;
		pe->perms = perms_of(fp);
		free(fp);
		if (!pe->name)
			return -ENOMEM;
	}
	DIR *dir = opendir(path);
	if (!dir)
		return log_errno(-errno, "can't list cgroup %s", path);
	int ret = 0;
	for (struct dirent *e; !ret && (e = readdir(dir));) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		CgroupDirEntry **v = realloc(d->children, (d->n_children + 1) * sizeof(*v));
		char *sub = cg_join(path, e->d_name);
		if (!v || !sub) {
			free(sub);
			ret = -ENOMEM;
			break;
		}
		d->children = v;
		v[d->n_children] = NULL;
		ret = dump_dir(props, nprops, sub, e->d_name, depth + 1, &v[d->n_children]);
		d->n_children++;
		free(sub);
	}
	closedir(dir);
	return ret;
}

/* is @a @b or above it? */
static bool covers(const char *a, const char *b)
{
	size_t l = strlen(a);
	if (!strcmp(a, "/"))
		return true;
	return !strncmp(a, b, l) && (b[l] == 0 || b[l] == '/');
}

/* The top directories of hierarchy @name that the tree lives in. */
static int tops_of(struct cg_dump *cg, const char *name, char ***tops, int *nr)
{
	const char *mine = cg_set_path(&cg->sets[0], name);
	for (int i = 1; i < cg->nr; i++) {
		const char *p = cg_set_path(&cg->sets[i], name);
		if (!p || (mine && covers(p, mine)))
			continue;
		bool inside = false;
		for (int k = 0; k < *nr && !inside; k++)
			inside = covers((*tops)[k], p);
		if (inside)
			continue;
		for (int k = 0; k < *nr;)	/* nested under @p: folded into it */
			if (covers(p, (*tops)[k])) {
				free((*tops)[k]);
				(*tops)[k] = (*tops)[--*nr];
			} else {
				k++;
			}
		char **v = realloc(*tops, (*nr + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		*tops = v;
		if (!(v[(*nr)++] = xstrdup(p)))
			return -ENOMEM;
	}
	return 0;
}

/* --cgroup-root [CTRL:]PATH at dump: criu saves the directories below PATH
 * instead of below the tasks' cgroup.  cryo saves the tasks' top cgroups;
 * a PATH that is that very directory (what LXC passes: the container's
 * cgroup) asks for nothing else and is accepted, any other is refused.
 * Controllers the tree is not in are not saved at all. */
static int check_root(const struct cg_dump *cg, const char *name, char **tops, int nr)
{
	const char *want = NULL;
	for (int i = 0; i < cg->roots->n; i++) {
		const char *r = cg->roots->v[i], *c = strchr(r, ':');
		if (r[0] == '/' && !want)
			want = r;
		else if (c && cg_names_ctl(name, r, c - r))
			want = c + 1;
	}
	if (!want || (nr == 1 && !strcmp(tops[0], want)))
		return 0;
	pr_err("--cgroup-root %s at dump for hierarchy %s: the tree's cgroup there is %s, and "
	       "cryo saves the directories below the tasks' own cgroups only (a --cgroup-root "
	       "naming that cgroup is accepted); dump without it and give --cgroup-root to the "
	       "restore to move them", want, CG_SHOW(name), nr == 1 ? tops[0] :
	       nr ? "in several cgroups" : "cryo's own");
	return -EOPNOTSUPP;
}

static int dump_controller(struct cg_dump *cg, const char *name, CgControllerEntry *c)
{
	char names[256], *sv;
	bool v2 = !strcmp(name, CG_V2_NAME);	/* criu: one cname, "" */
	snprintf(names, sizeof(names), "%s", name);
	for (char *t = v2 ? names : strtok_r(names, ",", &sv); t;
	     t = v2 ? NULL : strtok_r(NULL, ",", &sv)) {
		char **v = realloc(c->cnames, (c->n_cnames + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->cnames = v;
		if (!(v[c->n_cnames++] = xstrdup(t)))
			return -ENOMEM;
	}
	bool wanted = !cg->only->n;
	for (int i = 0; i < cg->only->n && !wanted; i++)
		wanted = cg_names_ctl(name, cg->only->v[i], strlen(cg->only->v[i]));
	if (!cg->dirs || !wanted)
		return 0;
	char **tops = NULL, *mnt = NULL, **props = NULL;
	int nr = 0, nprops = 0;
	int ret = tops_of(cg, name, &tops, &nr);
	if (!ret)
		ret = check_root(cg, name, tops, nr);
	if (!ret)
		ret = cg_props_for(&cg->props, name, &props, &nprops);
	if (!ret && nr && (ret = cg_find_mount(cg->yard, name, &mnt))) {
		if (cg->yard)
			log_errno(ret, "hierarchy %s is not mounted at %s/%s (--cgroup-yard)",
				  CG_SHOW(name), cg->yard, cg_yard_dir(name));
		else
			log_errno(ret, "hierarchy %s is not mounted in cryo's mount namespace",
				  CG_SHOW(name));
	}
	if (!ret && nr && !(c->dirs = calloc(nr, sizeof(*c->dirs))))
		ret = -ENOMEM;
	for (int i = 0; !ret && i < nr; i++) {
		char *path = cg_join(mnt, tops[i]);
		ret = path ? dump_dir(props, nprops, path, tops[i] + 1, 0, &c->dirs[i]) : -ENOMEM;
		c->n_dirs++;
		if (!ret)
			pr_info("cgroup %s:%s saved", CG_SHOW(name), tops[i]);
		free(path);
	}
	for (int i = 0; i < nr; i++)
		free(tops[i]);
	for (int i = 0; i < nprops; i++)
		free(props[i]);
	free(props);
	free(tops);
	free(mnt);
	return ret;
}

int cg_dump_write(struct cg_dump *cg, int dirfd)
{
	CgroupEntry e = CGROUP_ENTRY__INIT;
	const struct cg_set *root = &cg->sets[0];
	int ret = 0;

	e.sets = calloc(cg->nr, sizeof(*e.sets));
	e.controllers = calloc(root->n, sizeof(*e.controllers));
	if (!e.sets || !e.controllers)
		ret = -ENOMEM;
	for (int i = 0; !ret && i < cg->nr; i++) {
		CgSetEntry *s = xzalloc(sizeof(*s));
		if (s)
			cg_set_entry__init(s);
		if (!s || !(s->ctls = calloc(cg->sets[i].n, sizeof(*s->ctls)))) {
			free(s);
			ret = -ENOMEM;
			break;
		}
		e.sets[e.n_sets++] = s;
		s->has_id = 1;
		s->id = cg->sets[i].id;
		for (int k = 0; k < cg->sets[i].n; k++) {
			CgMemberEntry *m = xzalloc(sizeof(*m));
			if (!m) {
				ret = -ENOMEM;
				break;
			}
			cg_member_entry__init(m);
			s->ctls[s->n_ctls++] = m;
			m->name = cg->sets[i].m[k].name;	/* borrowed */
			m->path = cg->sets[i].m[k].path;
		}
	}
	for (int i = 0; !ret && i < root->n; i++) {
		CgControllerEntry *c = xzalloc(sizeof(*c));
		if (!c) {
			ret = -ENOMEM;
			break;
		}
		cg_controller_entry__init(c);
		e.controllers[e.n_controllers++] = c;
		ret = dump_controller(cg, root->m[i].name, c);
	}
	if (!ret) {
		struct cr_img *img;
		ret = img_open(&img, dirfd, IMG_CGROUP, IMG_WRITE, 0);
		if (!ret) {
			ret = img_write_msg(img, &e.base);
			int r2 = img_close(img);
			ret = ret ? ret : r2;
		}
	}
	for (size_t i = 0; i < e.n_sets; i++) {
		for (size_t k = 0; k < e.sets[i]->n_ctls; k++)
			free(e.sets[i]->ctls[k]);
		free(e.sets[i]->ctls);
		free(e.sets[i]);
	}
	for (size_t i = 0; i < e.n_controllers; i++) {
		for (size_t k = 0; k < e.controllers[i]->n_cnames; k++)
			free(e.controllers[i]->cnames[k]);
		for (size_t k = 0; k < e.controllers[i]->n_dirs; k++)
			dir_free(e.controllers[i]->dirs[k]);
		free(e.controllers[i]->cnames);
		free(e.controllers[i]->dirs);
		free(e.controllers[i]);
	}
	free(e.sets);
	free(e.controllers);
	return ret;
}

void cg_dump_free(struct cg_dump *cg)
{
	if (!cg)
		return;
	for (int i = 0; i < cg->nr; i++)
		cg_set_clear(&cg->sets[i]);
	cg_props_free(&cg->props);
	free(cg->sets);
	free(cg);
}

