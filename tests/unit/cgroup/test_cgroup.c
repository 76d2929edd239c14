/* lib/cgroup's helpers: /proc/PID/cgroup parsing, criu's property lists,
 * path joins. */
#include "cgroup/cgroup-int.h"
#include "../unit.h"

static void test_parse(void)
{
	struct cg_set s = { 0 };
	const char *text = "9:name=systemd:/\n8:pids:/a/b\n2:cpu,cpuacct:/c\n0::/v2 path\n";
	CHECK_INT(cg_parse_set(text, &s), 0);
	CHECK_INT(s.n, 4);
	CHECK_STR(s.text, text);
	CHECK_STR(cg_set_path(&s, "name=systemd"), "/");
	CHECK_STR(cg_set_path(&s, "pids"), "/a/b");
	CHECK_STR(cg_set_path(&s, "cpu,cpuacct"), "/c");
	CHECK_STR(cg_set_path(&s, CG_V2_NAME), "/v2 path");
	CHECK(cg_set_path(&s, "memory") == NULL);
	cg_set_clear(&s);
	CHECK_INT(s.n, 0);
	/* no trailing newline, a malformed line skipped */
	CHECK_INT(cg_parse_set("garbage\n3:memory:/m", &s), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(cg_set_path(&s, "memory"), "/m");
	cg_set_clear(&s);
}

static bool has_prop(const char *hier, const char *prop)
{
	for (int i = 0; cg_prop_at(hier, i); i++)
		if (!strcmp(cg_prop_at(hier, i), prop))
			return true;
	return false;
}

static void test_props(void)
{
	CHECK(has_prop("cpu", "cpu.shares"));
	CHECK(has_prop("memory", "memory.limit_in_bytes"));
	CHECK(has_prop("cpuset", "cpuset.cpus"));
	CHECK(has_prop("pids", "pids.max"));
	CHECK(has_prop("devices", "devices.list"));
	/* a shared mount: both controllers' lists */
	CHECK(has_prop("cpu,cpuacct", "cpu.cfs_quota_us"));
	CHECK(has_prop("net_cls,net_prio", "net_prio.ifpriomap"));
	CHECK(has_prop("net_cls,net_prio", "net_cls.classid"));
	CHECK(!has_prop("cpu", "memory.limit_in_bytes"));
	CHECK(cg_prop_at("name=systemd", 0) == NULL);
	CHECK(!has_prop("freezer", "freezer.state"));	/* not a property */
	CHECK(has_prop("freezer", "notify_on_release"));
	CHECK(has_prop(CG_V2_NAME, "memory.max"));
	CHECK(has_prop(CG_V2_NAME, "cpu.max"));
	CHECK(has_prop(CG_V2_NAME, "pids.max"));
	CHECK(!has_prop(CG_V2_NAME, "cgroup.freeze"));
	/* criu names v2 "" (sets and cnames); users say cgroup2 or unified */
	CHECK(cg_names_ctl("", "cgroup2", 7));
	CHECK(cg_names_ctl("", "unified", 7));
	CHECK(cg_names_ctl("", "", 0));
	CHECK(!cg_names_ctl("cpu", "unified", 7));
	CHECK(!cg_names_ctl("cpu", "", 0));
	CHECK(cg_names_ctl("cpu,cpuacct", "cpuacct", 7));
	CHECK(cg_names_ctl("name=systemd", "name=systemd", 12));
	CHECK(!cg_names_ctl("cpu,cpuacct", "cpuac", 5));
	CHECK(cg_names_ctl("cpu,cpuacct", "cpu,cpuacct", 11));	/* runc's cg_root */
	CHECK(cg_names_ctl("cpu,cpuacct", "cpuacct,cpu", 11));
	CHECK(!cg_names_ctl("cpu", "cpu,cpuacct", 11));
	CHECK(!cg_names_ctl("cpu,cpuacct", "cpu,", 4));
}

static void test_join(void)
{
	char *s;
	CHECK_STR(s = cg_join("/sys/fs/cgroup/pids", "/a/b"), "/sys/fs/cgroup/pids/a/b");
	free(s);
	CHECK_STR(s = cg_join("/sys/fs/cgroup/pids/", "a"), "/sys/fs/cgroup/pids/a");
	free(s);
	CHECK_STR(s = cg_join("/", "/x"), "/x");
	free(s);
	CHECK_STR(s = cg_join("/m", "/"), "/m");
	free(s);
}

static bool in(char **v, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static void free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void test_custom_props(void)
{
	struct cg_props p = { 0 };
	char **v;
	int n;
	CHECK_INT(cg_props_parse(&p, "\"cpu\":\n - \"strategy\": \"replace\"\n"
				 " - \"properties\": [\"cpu.shares\", \"cpu.idle\"]\n"
				 "memory:\n - properties: [memory.high]\n"
				 "unified: - strategy: replace - properties: [memory.max]", "test"), 0);
	CHECK_INT(p.n, 3);
	CHECK_STR(p.ctls[0].name, "cpu");
	CHECK(p.ctls[0].replace);
	CHECK_INT(p.ctls[0].nr, 2);
	CHECK(!p.ctls[1].replace);	/* merge: the default */
	/* replace: only the given list */
	CHECK_INT(cg_props_for(&p, "cpu", &v, &n), 0);
	CHECK_INT(n, 2);
	CHECK(in(v, n, "cpu.idle") && !in(v, n, "cpu.cfs_quota_us"));
	free_list(v, n);
	/* merge: criu's list and the new one */
	CHECK_INT(cg_props_for(&p, "memory", &v, &n), 0);
	CHECK(in(v, n, "memory.high") && in(v, n, "memory.limit_in_bytes"));
	free_list(v, n);
	/* a shared hierarchy: cpu replaced, cpuacct has no list */
	CHECK_INT(cg_props_for(&p, "cpu,cpuacct", &v, &n), 0);
	CHECK_INT(n, 2);
	free_list(v, n);
	/* v2, named "" */
	CHECK_INT(cg_props_for(&p, CG_V2_NAME, &v, &n), 0);
	CHECK(n == 1 && in(v, n, "memory.max"));
	free_list(v, n);
	/* untouched: the default */
	CHECK_INT(cg_props_for(&p, "pids", &v, &n), 0);
	CHECK(n == 2 && in(v, n, "pids.max"));
	free_list(v, n);
	cg_props_free(&p);
	/* malformed */
	CHECK(cg_props_parse(&p, "cpu - strategy: replace", "test") < 0);
	cg_props_free(&p);
	CHECK(cg_props_parse(&p, "cpu: - strategy: sometimes", "test") < 0);
	cg_props_free(&p);
	CHECK(cg_props_parse(&p, "cpu: - properties: [a, ../b]", "test") < 0);
	cg_props_free(&p);
	CHECK(cg_props_parse(&p, "cpu: - properties: [a", "test") < 0);
	cg_props_free(&p);
	CHECK(cg_props_parse(&p, "\"cpu", "test") < 0);
	cg_props_free(&p);
	CHECK_INT(cg_props_parse(&p, "", "test"), 0);
	CHECK_INT(p.n, 0);
}

static void test_paths(void)
{
	CHECK(cg_path_ok("/"));
	CHECK(cg_path_ok("/a/b"));
	CHECK(cg_path_ok("/a/.b/c.."));
	CHECK(!cg_path_ok("a/b"));
	CHECK(!cg_path_ok("/a/../b"));
	CHECK(!cg_path_ok("/.."));
	CHECK(!cg_path_ok("/a/."));
	CHECK(!cg_path_ok("/a//b"));
	CHECK(!cg_path_ok(NULL));
}

int main(void)
{
	test_paths();
	test_custom_props();
	test_parse();
	test_props();
	test_join();
	return unit_done("cgroup");
}
