/* lib/cgroup's private helpers: the host's hierarchies, a task's cgroup
 * set as /proc/PID/cgroup shows it, and criu's property lists. */
#ifndef CRYO_CGROUP_INT_H
#define CRYO_CGROUP_INT_H

#include "cgroup/cgroup.h"

#include <stdbool.h>
#include <stddef.h>

/* criu's name of the cgroup v2 hierarchy (the "0::PATH" line): empty, in
 * sets and cnames alike; users may call it "cgroup2" or "unified" */
#define CG_V2_NAME ""
#define CG_SHOW(name) ((name)[0] ? (name) : "cgroup2")

/* one line of /proc/PID/cgroup: a hierarchy's controllers ("cpu",
 * "cpu,cpuacct", "name=systemd", CG_V2_NAME) and the cgroup's path */
struct cg_member {
	char *name;
	char *path;
};

struct cg_set {
	uint32_t id;
	char *text;		/* /proc/PID/cgroup as read (the set's identity) */
	struct cg_member *m;
	int n;
};

int cg_parse_set(const char *text, struct cg_set *s);
void cg_set_clear(struct cg_set *s);
/* the path of hierarchy @name in @s, or NULL */
const char *cg_set_path(const struct cg_set *s, const char *name);

/* Where hierarchy @name is mounted in cryo's mount namespace (a mount of
 * its root: a bind of a sub-cgroup does not do); *@mnt is malloc'd.
 * With @yard (--cgroup-yard), only its mount at @yard/cg_yard_dir(@name)
 * does.  -ENOENT (not logged) when it is not; -errno of a @yard that
 * can't be resolved. */
int cg_find_mount(const char *yard, const char *name, char **mnt);
/* the directory of hierarchy @name in a --cgroup-yard, as criu names it:
 * its controllers ("cpu,cpuacct", "name=systemd"), "unified" for v2 */
const char *cg_yard_dir(const char *name);
/* --cgroup-yard @yard (NULL: none) given with --manage-cgroups=@mode: a
 * directory (logged error), or a warning that it does nothing */
int cg_yard_check(const char *yard, const char *mode);

/* criu's default properties of hierarchy @name (NULL-terminated, one
 * controller of a shared mount after the other via @i: returns NULL past
 * the last) */
const char *cg_prop_at(const char *name, int i);

/* Is @ctl (@len bytes; "cgroup2", "unified" or "" for v2) one of
 * hierarchy @name's controllers? */
bool cg_names_ctl(const char *name, const char *ctl, size_t len);

/* props.c: --cgroup-props[-file] */
struct cg_props_ctl {
	char *name;		/* a controller ("cpu", "unified") */
	bool replace;		/* else merged with criu's default list */
	char **props;
	int nr;
};
struct cg_props {
	struct cg_props_ctl *ctls;
	int n;
};
/* parse criu's form of @text into @p (added to what it has); errors are
 * logged naming @what */
int cg_props_parse(struct cg_props *p, const char *text, const char *what);
void cg_props_free(struct cg_props *p);
/* the properties to save in hierarchy @name (malloc'd strings) */
int cg_props_for(const struct cg_props *p, const char *name, char ***out, int *nr);

/* an absolute cgroup path without "." or ".." components ("/" too) */
bool cg_path_ok(const char *p);

/* "/a/b" + "c" -> malloc'd "MNT/a/b/c"-style joins */
char *cg_join(const char *a, const char *b);
/* read a cgroup file, its trailing newline cut; -errno, not logged */
int cg_read_prop(const char *dir, const char *name, char **val);
/* write @val to @dir/@name; -errno, not logged */
int cg_write_file(const char *dir, const char *name, const char *val);

#endif
