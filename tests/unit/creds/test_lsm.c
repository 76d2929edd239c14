/* lib/creds/lsm.c: --lsm-profile parsing, labels as /proc shows them,
 * --lsm-mount-context's rewrite of mount options, and the restore's checks
 * (a label this host can't set, threads with different labels). */
#include "../unit.h"
#include "../errcap.h"
#include "creds/creds.h"
#include "options/options.h"
#include "inventory.pb-c.h"
#include <stdlib.h>
#include <string.h>

static void test_parse(void)
{
	int type;
	char *name;
	CHECK_INT(lsm_parse_profile("selinux:system_u:system_r:container_t:s0", &type, &name), 0);
	CHECK_INT(type, LSMTYPE__SELINUX);
	CHECK_STR(name, "system_u:system_r:container_t:s0");
	free(name);
	CHECK_INT(lsm_parse_profile("apparmor:containers-default-0.50", &type, &name), 0);
	CHECK_INT(type, LSMTYPE__APPARMOR);
	CHECK_STR(name, "containers-default-0.50");
	free(name);
	CHECK_INT(lsm_parse_profile("none:", &type, &name), 0);
	CHECK_INT(type, LSMTYPE__NO_LSM);
	CHECK(name == NULL);
	CHECK_INT(lsm_parse_profile("none", &type, &name), 0);
	CHECK_INT(type, LSMTYPE__NO_LSM);
	err_reset();
	CHECK_INT(lsm_parse_profile("smack:foo", &type, &name), -EINVAL);
	CHECK(err_first() && strstr(err_first(), "apparmor, selinux or none"));
	err_reset();
	CHECK_INT(lsm_parse_profile("selinux:", &type, &name), -EINVAL);
	CHECK(err_first() && strstr(err_first(), "label is missing"));
	CHECK_INT(lsm_parse_profile("apparmor", &type, &name), -EINVAL);
	CHECK_INT(lsm_parse_profile("selinuxx:a", &type, &name), -EINVAL);
}

static void test_clean(void)
{
	char *s = lsm_label_clean(LSMTYPE__APPARMOR, "docker-default (enforce)\n");
	CHECK_STR(s, "docker-default");
	free(s);
	s = lsm_label_clean(LSMTYPE__APPARMOR, "my profile (complain)");
	CHECK_STR(s, "my profile");
	free(s);
	s = lsm_label_clean(LSMTYPE__APPARMOR, "unconfined\n");
	CHECK_STR(s, "");
	free(s);
	/* SELinux ends the context with a NUL */
	s = lsm_label_clean(LSMTYPE__SELINUX, "system_u:system_r:container_t:s0:c1,c2");
	CHECK_STR(s, "system_u:system_r:container_t:s0:c1,c2");
	free(s);
	s = lsm_label_clean(LSMTYPE__SELINUX, "unconfined_u:unconfined_r:unconfined_t:s0\n");
	CHECK_STR(s, "unconfined_u:unconfined_r:unconfined_t:s0");
	free(s);
}

static void mount_ctx(const char *in, const char *want, int ret)
{
	char *o = strdup(in);
	CHECK_INT(lsm_mount_options("system_u:object_r:container_file_t:s0:c9", &o), ret);
	CHECK_STR(o, want);
	free(o);
}

static void test_mount(void)
{
	mount_ctx("rw,size=65536k,mode=755", "rw,size=65536k,mode=755", 0);
	mount_ctx("context=\"system_u:object_r:tmpfs_t:s0\",size=1k",
		  "context=\"system_u:object_r:container_file_t:s0:c9\",size=1k", 1);
	mount_ctx("rw,context=system_u:object_r:tmpfs_t:s0,mode=700",
		  "rw,context=\"system_u:object_r:container_file_t:s0:c9\",mode=700", 1);
	/* fscontext= and rootcontext= are other options */
	mount_ctx("rw,fscontext=a:b:c:s0", "rw,fscontext=a:b:c:s0", 0);
	mount_ctx("rw,rootcontext=a:b:c:s0,context=x:y:z:s0",
		  "rw,rootcontext=a:b:c:s0,context=\"system_u:object_r:container_file_t:s0:c9\"", 1);
}

static ThreadCoreEntry *tce_with(const char *label)
{
	ThreadCoreEntry *t = calloc(1, sizeof(*t));
	CredsEntry *c = calloc(1, sizeof(*c));
	thread_core_entry__init(t);
	creds_entry__init(c);
	c->lsm_profile = label ? strdup(label) : NULL;
	t->creds = c;
	return t;
}

static void tce_free(ThreadCoreEntry *t)
{
	free(t->creds->lsm_profile);
	free(t->creds);
	free(t);
}

static void test_check(void)
{
	struct cryo_opts o;
	opts_init(&o);
	struct creds_restore cr = { 0 };
	ThreadCoreEntry *a = tce_with("system_u:system_r:container_t:s0"), *b = tce_with(NULL);
	const ThreadCoreEntry *both[2] = { a, b };
	int host = lsm_host();

	/* an image from an SELinux host */
	CHECK_INT(lsm_restore_prepare(&cr, &o, true, LSMTYPE__SELINUX), 0);
	err_reset();
	CHECK_INT(lsm_restore_check(&cr, 42, both, 2), -EOPNOTSUPP);
	CHECK(err_first() && strstr(err_first(), "threads carry different SELinux labels"));
	err_reset();
	int ret = lsm_restore_check(&cr, 42, both, 1);
	if (host == LSMTYPE__SELINUX) {
		CHECK_INT(ret, 0);
	} else {
		CHECK_INT(ret, -EOPNOTSUPP);
		CHECK(err_first() && strstr(err_first(), "ran with the SELinux label"));
	}
	/* a process without labels restores anywhere */
	const ThreadCoreEntry *none[1] = { b };
	CHECK_INT(lsm_restore_check(&cr, 42, none, 1), 0);
	lsm_restore_finish(&cr);

	/* --lsm-profile none: keeps the restorer's label for all */
	o.lsm_profile = strdup("none:");
	cr = (struct creds_restore){ 0 };
	CHECK_INT(lsm_restore_prepare(&cr, &o, true, LSMTYPE__SELINUX), 0);
	CHECK(cr.lsm_override && !cr.lsm_profile);
	CHECK_INT(lsm_restore_check(&cr, 42, both, 2), 0);
	lsm_restore_finish(&cr);
	free(o.lsm_profile);

	/* a profile of an LSM the host does not run */
	int other = host == LSMTYPE__APPARMOR ? LSMTYPE__SELINUX : LSMTYPE__APPARMOR;
	o.lsm_profile = strdup(other == LSMTYPE__APPARMOR ? "apparmor:p" : "selinux:a:b:c:s0");
	cr = (struct creds_restore){ 0 };
	err_reset();
	CHECK_INT(lsm_restore_prepare(&cr, &o, true, LSMTYPE__NO_LSM), -EOPNOTSUPP);
	CHECK(err_first() && strstr(err_first(), "so no"));
	lsm_restore_finish(&cr);
	free(o.lsm_profile);
	o.lsm_profile = NULL;

	/* a mount context needs SELinux */
	o.lsm_mount_context = strdup("system_u:object_r:container_file_t:s0");
	cr = (struct creds_restore){ 0 };
	ret = lsm_restore_prepare(&cr, &o, false, 0);
	CHECK_INT(ret, host == LSMTYPE__SELINUX ? 0 : -EOPNOTSUPP);
	lsm_restore_finish(&cr);
	free(o.lsm_mount_context);
	o.lsm_mount_context = NULL;

	tce_free(a);
	tce_free(b);
	opts_free(&o);
}

int main(void)
{
	test_parse();
	test_clean();
	test_mount();
	test_check();
	return unit_done("creds-lsm");
}
