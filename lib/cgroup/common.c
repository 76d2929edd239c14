/* lib/cgroup: the host's hierarchies, cgroup sets and criu's property
 * lists, shared by the dump and the restore. */
#include "cgroup/cgroup-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cg_parse_set(const char *text, struct cg_set *s)
{
	s->text = xstrdup(text);
	if (!s->text)
		return -ENOMEM;
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		/* "ID:CONTROLLERS:PATH"; v2's CONTROLLERS is empty */
		const char *c1 = memchr(l, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (c1 + 1 - l)) : NULL;
		if (c2) {
			struct cg_member *v = realloc(s->m, (s->n + 1) * sizeof(*v));
			if (!v)
				return -ENOMEM;
			s->m = v;
			v = &s->m[s->n++];
			v->name = c2 == c1 + 1 ? xstrdup(CG_V2_NAME) : strndup(c1 + 1, c2 - c1 - 1);
			v->path = strndup(c2 + 1, len - (c2 + 1 - l));
			if (!v->name || !v->path)
				return -ENOMEM;
		}
		l += len + (nl ? 1 : 0);
	}
	return 0;
}

void cg_set_clear(struct cg_set *s)
{
	for (int i = 0; i < s->n; i++) {
		free(s->m[i].name);
		free(s->m[i].path);
	}
	free(s->m);
	free(s->text);
	s->m = NULL;
	s->text = NULL;
	s->n = 0;
}

const char *cg_set_path(const struct cg_set *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->m[i].name, name))
			return s->m[i].path;
	return NULL;
}

/* Is every controller of @name ("a,b") among the mount's super options? */
static bool opts_have(const char *opts, const char *name)
{
	char want[256];
	snprintf(want, sizeof(want), "%s", name);
	for (char *sv, *c = strtok_r(want, ",", &sv); c; c = strtok_r(NULL, ",", &sv)) {
		bool found = false;
		const char *o = opts;
		size_t cl = strlen(c);
		while (*o && !found) {
			size_t ol = strcspn(o, ",");
			found = ol == cl && !strncmp(o, c, cl);
			o += ol + (o[ol] ? 1 : 0);
		}
		if (!found)
			return false;
	}
	return true;
}

int cg_yard_check(const char *yard, const char *mode)
{
	struct stat st;
	if (!yard)
		return 0;
	if (!mode || !strcmp(mode, "ignore")) {
		pr_warn("--cgroup-yard %s has no effect without --manage-cgroups (or with ignore)",
			yard);
		return 0;
	}
	if (stat(yard, &st))
		return log_errno(-errno, "--cgroup-yard %s", yard);
	if (!S_ISDIR(st.st_mode)) {
		pr_err("--cgroup-yard %s is not a directory (expected one with a mount of each "
		       "cgroup hierarchy under it)", yard);
		return -ENOTDIR;
	}
	return 0;
}

const char *cg_yard_dir(const char *name)
{
	return strcmp(name, CG_V2_NAME) ? name : "unified";
}

int cg_find_mount(const char *yard, const char *name, char **mnt)
{
	bool v2 = !strcmp(name, CG_V2_NAME);
	char want[PATH_MAX + 256] = "";
	if (yard) {
		/* mountinfo shows the mount point resolved, as realpath does */
		char *real = realpath(yard, NULL);
		if (!real)
			return -errno;
		snprintf(want, sizeof(want), "%s/%s", strcmp(real, "/") ? real : "", cg_yard_dir(name));
		free(real);
	}
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret == -ENOENT && getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS] - FSTYPE SOURCE SUPER */
		char root[4096], mp[4096], fstype[64], super[1024];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*d %*d %*s %4095s %4095s", root, mp) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (strcmp(root, "/") || (yard && strcmp(mp, want)))
			continue;
		if (v2 ? strcmp(fstype, "cgroup2") : (strcmp(fstype, "cgroup") || !opts_have(super, name)))
			continue;
		*mnt = xstrdup(mp);	/* mountinfo escapes blanks as \040: cgroup mounts have none */
		ret = *mnt ? 0 : -ENOMEM;
	}
	free(line);
	fclose(f);
	return ret;
}

/* criu's default property lists (criu/cgroup-props.c), v1 per controller;
 * v2: the interface files of the controllers and cgroup.* limits. */
static const char *const props_v1[][13] = {
	{ "cpu", "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.rt_period_us",
	  "cpu.rt_runtime_us", "notify_on_release" },
	{ "memory", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness",
	  "memory.soft_limit_in_bytes", "memory.move_charge_at_immigrate", "memory.oom_control",
	  "memory.use_hierarchy", "memory.kmem.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes",
	  "notify_on_release" },
	{ "cpuset", "cpuset.cpus", "cpuset.mems", "cpuset.memory_migrate", "cpuset.cpu_exclusive",
	  "cpuset.mem_exclusive", "cpuset.mem_hardwall", "cpuset.memory_spread_page",
	  "cpuset.memory_spread_slab", "cpuset.sched_load_balance",
	  "cpuset.sched_relax_domain_level", "notify_on_release" },
	{ "blkio", "blkio.weight", "notify_on_release" },
	{ "freezer", "notify_on_release" },
	{ "net_cls", "net_cls.classid", "notify_on_release" },
	{ "net_prio", "net_prio.ifpriomap", "notify_on_release" },
	{ "pids", "pids.max", "notify_on_release" },
	{ "devices", "devices.list", "notify_on_release" },
};

static const char *const props_v2[] = {
	"cgroup.subtree_control", "cgroup.max.descendants", "cgroup.max.depth",
	"cpu.weight", "cpu.max", "cpuset.cpus", "cpuset.mems",
	"memory.min", "memory.low", "memory.high", "memory.max", "memory.swap.max",
	"memory.oom.group", "io.weight", "pids.max", NULL,
};

const char *cg_prop_at(const char *name, int i)
{
	if (!strcmp(name, CG_V2_NAME))
		return i < (int)(sizeof(props_v2) / sizeof(props_v2[0])) ? props_v2[i] : NULL;
	for (size_t k = 0; k < sizeof(props_v1) / sizeof(props_v1[0]); k++) {
		if (!opts_have(name, props_v1[k][0]))
			continue;
		int n = 0;
		while (n + 1 < 13 && props_v1[k][n + 1])
			n++;
		if (i < n)
			return props_v1[k][i + 1];
		i -= n;
	}
	return NULL;
}

bool cg_path_ok(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	for (const char *c = p + 1; *c;) {
		size_t l = strcspn(c, "/");
		if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.') ||
		    (!l && c[0] == '/'))
			return false;
		c += l + (c[l] ? 1 : 0);
	}
	return true;
}

/* is the one controller @c (@len bytes) in @name's list? */
static bool has_one(const char *name, const char *c, size_t len)
{
	for (const char *n = name; *n;) {
		size_t l = strcspn(n, ",");
		if (l == len && !strncmp(n, c, len))
			return true;
		n += l + (n[l] ? 1 : 0);
	}
	return false;
}

bool cg_names_ctl(const char *name, const char *ctl, size_t len)
{
	if (!len || (len == 7 && !strncmp(ctl, "cgroup2", 7)) ||
	    (len == 7 && !strncmp(ctl, "unified", 7)))
		return !strcmp(name, CG_V2_NAME);
	/* "cpu" or "cpu,cpuacct" (runc's cg_root names a whole hierarchy):
	 * each must be one of @name's */
	if (ctl[len - 1] == ',')
		return false;
	for (size_t off = 0; off < len;) {
		size_t l = 0;
		while (off + l < len && ctl[off + l] != ',')
			l++;
		if (!l || !has_one(name, ctl + off, l))
			return false;
		off += l + 1;
	}
	return true;
}

char *cg_join(const char *a, const char *b)
{
	char *s;
	while (*b == '/')
		b++;
	size_t al = strlen(a);
	while (al > 1 && a[al - 1] == '/')
		al--;
	if (asprintf(&s, "%.*s%s%s", (int)al, a, *b && !(al == 1 && a[0] == '/') ? "/" : "", b) < 0)
		return NULL;
	return s;
}

int cg_read_prop(const char *dir, const char *name, char **val)
{
	char *p = cg_join(dir, name);
	if (!p)
		return -ENOMEM;
	ssize_t n = read_file(AT_FDCWD, p, val, true);
	free(p);
	if (n < 0)
		return n;
	while (n > 0 && ((*val)[n - 1] == '\n' || (*val)[n - 1] == ' '))
		(*val)[--n] = 0;
	return 0;
}

int cg_write_file(const char *dir, const char *name, const char *val)
{
	char *p = cg_join(dir, name);
	if (!p)
		return -ENOMEM;
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return -errno;
	int ret = write_all(fd, val, strlen(val));
	close(fd);
	return ret;
}
