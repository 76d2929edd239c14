/* Linux security module labels: each thread's SELinux context or AppArmor
 * profile, kept as criu keeps them (creds.lsm_profile, creds.lsm_sockcreate,
 * inventory.lsmtype) and given back to each restored process.
 *
 * Which LSM labels a task is a property of the host: the inventory records
 * the host's at dump, and a restore carries labels over only to a host with
 * the same LSM active.  A label is written by the task itself (the kernel
 * lets a task set only its own attr/current), in its leader before any
 * other thread exists: SELinux lets only a single-threaded process change
 * its context, and the threads created afterwards inherit it.  See
 * docs/creds.md. */
#include "creds/creds-int.h"
#include "options/options.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "inventory.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *lsm_type_name(int type)
{
	switch (type) {
	case LSMTYPE__SELINUX:
		return "SELinux";
	case LSMTYPE__APPARMOR:
		return "AppArmor";
	default:
		return "no LSM";
	}
}

static bool file_says(const char *path, const char *want)
{
	char *s = NULL;
	ssize_t n = read_file(AT_FDCWD, path, &s, true);
	bool yes = n > 0 && !strncmp(s, want, strlen(want));
	free(s);
	return yes;
}

/* The list securityfs gives ("lockdown,capability,landlock,apparmor"), or
 * what each LSM's own file system shows when securityfs is not mounted. */
static int probe_host(void)
{
	char *list = NULL;
	ssize_t n = read_file(AT_FDCWD, "/sys/kernel/security/lsm", &list, true);
	if (n > 0) {
		int type = LSMTYPE__NO_LSM;
		for (char *save, *t = strtok_r(list, ",\n", &save); t; t = strtok_r(NULL, ",\n", &save)) {
			if (!strcmp(t, "selinux")) {
				type = LSMTYPE__SELINUX;
				break;
			}
			if (!strcmp(t, "apparmor")) {
				type = LSMTYPE__APPARMOR;
				break;
			}
		}
		free(list);
		return type;
	}
	free(list);
	if (access("/sys/fs/selinux/enforce", F_OK) == 0)
		return LSMTYPE__SELINUX;
	if (file_says("/sys/module/apparmor/parameters/enabled", "Y"))
		return LSMTYPE__APPARMOR;
	return LSMTYPE__NO_LSM;
}

int lsm_host(void)
{
	static int type = -1;
	if (type < 0)
		type = probe_host();
	return type;
}

/* With stacked LSMs each has its own directory; attr/current belongs to
 * the first "major" one. */
static void attr_path(char *buf, size_t size, const char *where, int type, const char *attr)
{
	char own[256];
	snprintf(own, sizeof(own), "%s/attr/%s/%s", where,
		 type == LSMTYPE__APPARMOR ? "apparmor" : "selinux", attr);
	if (access(own, F_OK) == 0)
		snprintf(buf, size, "%s", own);
	else
		snprintf(buf, size, "%s/attr/%s", where, attr);
}

char *lsm_label_clean(int type, const char *raw)
{
	size_t n = strcspn(raw, "\n");
	while (n && raw[n - 1] == '\0')
		n--;
	char *s = strndup(raw, n);
	if (!s)
		return NULL;
	if (type == LSMTYPE__APPARMOR) {
		/* "name (enforce)": the mode is the profile's own, not the task's */
		char *sp = strrchr(s, ' ');
		if (sp && sp[1] == '(' && s[strlen(s) - 1] == ')')
			*sp = '\0';
		if (!strcmp(s, "unconfined"))
			s[0] = '\0';
	}
	return s;
}

static int read_label(pid_t pid, pid_t tid, int type, const char *attr, char **out)
{
	char where[64], path[320], *raw = NULL;
	snprintf(where, sizeof(where), "/proc/%d/task/%d", pid, tid);
	attr_path(path, sizeof(path), where, type, attr);
	*out = NULL;
	ssize_t n = read_file(AT_FDCWD, path, &raw, true);
	if (n < 0)
		return log_errno((int)n, "can't read the %s label of thread %d from %s",
				 lsm_type_name(type), tid, path);
	char *s = lsm_label_clean(type, raw ? raw : "");
	free(raw);
	if (!s)
		return -ENOMEM;
	if (s[0])
		*out = s;
	else
		free(s);
	return 0;
}

int lsm_dump_thread(pid_t pid, pid_t tid, CredsEntry *ce)
{
	int type = lsm_host();
	if (type == LSMTYPE__NO_LSM)
		return 0;
	int ret = read_label(pid, tid, type, "current", &ce->lsm_profile);
	if (!ret && type == LSMTYPE__SELINUX)
		ret = read_label(pid, tid, type, "sockcreate", &ce->lsm_sockcreate);
	if (!ret)
		pr_debug("thread %d: %s label \"%s\"%s%s", tid, lsm_type_name(type),
			 ce->lsm_profile ? ce->lsm_profile : "", ce->lsm_sockcreate ?
			 ", sockcreate " : "", ce->lsm_sockcreate ? ce->lsm_sockcreate : "");
	return ret;
}

int lsm_parse_profile(const char *arg, int *type, char **name)
{
	const char *colon = strchr(arg, ':');
	size_t tl = colon ? (size_t)(colon - arg) : strlen(arg);
	*name = NULL;
	if (tl == 7 && !strncmp(arg, "selinux", 7))
		*type = LSMTYPE__SELINUX;
	else if (tl == 8 && !strncmp(arg, "apparmor", 8))
		*type = LSMTYPE__APPARMOR;
	else if (tl == 4 && !strncmp(arg, "none", 4))
		*type = LSMTYPE__NO_LSM;
	else {
		pr_err("--lsm-profile \"%s\": the type must be apparmor, selinux or none "
		       "(as TYPE:NAME)", arg);
		return -EINVAL;
	}
	if (*type != LSMTYPE__NO_LSM) {
		if (!colon || !colon[1]) {
			pr_err("--lsm-profile \"%s\": the %s label is missing (TYPE:NAME)", arg,
			       lsm_type_name(*type));
			return -EINVAL;
		}
		if (strchr(colon + 1, '\n')) {
			pr_err("--lsm-profile: a label has no newline");
			return -EINVAL;
		}
		*name = xstrdup(colon + 1);
		if (!*name)
			return -ENOMEM;
	}
	return 0;
}

int lsm_restore_prepare(struct creds_restore *cr, const struct cryo_opts *o, bool img_has_type,
			int img_type)
{
	int host = lsm_host();
	cr->lsm_type = img_has_type ? img_type : LSMTYPE__NO_LSM;
	if (o->lsm_profile) {
		int type;
		int ret = lsm_parse_profile(o->lsm_profile, &type, &cr->lsm_profile);
		if (ret)
			return ret;
		/* AppArmor's "unconfined" is no confinement: what every task has on
		 * a host without an LSM (LXC passes it for lxc.apparmor.profile =
		 * unconfined); it stands for no label there */
		if (type == LSMTYPE__APPARMOR && host == LSMTYPE__NO_LSM &&
		    !strcmp(cr->lsm_profile, "unconfined")) {
			pr_info("--lsm-profile apparmor:unconfined on a host without an LSM: no label");
			type = LSMTYPE__NO_LSM;
			free(cr->lsm_profile);
			cr->lsm_profile = NULL;
		}
		if (type != LSMTYPE__NO_LSM && type != host) {
			pr_err("--lsm-profile %s: this host has %s active, so no %s label can be set "
			       "(restore on a host with %s, or give --lsm-profile %s)", o->lsm_profile,
			       lsm_type_name(host), lsm_type_name(type), lsm_type_name(type),
			       host == LSMTYPE__SELINUX ? "selinux:CONTEXT" :
			       host == LSMTYPE__APPARMOR ? "apparmor:PROFILE" : "none: (no label)");
			return -EOPNOTSUPP;
		}
		cr->lsm_override = true;
		cr->lsm_type = type;
	}
	if (o->lsm_mount_context && host != LSMTYPE__SELINUX) {
		pr_err("--lsm-mount-context %s: this host has %s active; a mount context is an "
		       "SELinux label and needs SELinux", o->lsm_mount_context,
		       lsm_type_name(host));
		return -EOPNOTSUPP;
	}
	return 0;
}

void lsm_restore_finish(struct creds_restore *cr)
{
	free(cr->lsm_profile);
	cr->lsm_profile = NULL;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int lsm_restore_check(const struct creds_restore *cr, pid_t pid,
		      const ThreadCoreEntry *const *tces, int n)
{
	const CredsEntry *lead = n && tces[0] ? tces[0]->creds : NULL;
	const char *label = lead ? lead->lsm_profile : NULL;
	const char *sock = lead ? lead->lsm_sockcreate : NULL;
	for (int i = 1; i < n; i++) {
		const CredsEntry *ce = tces[i] ? tces[i]->creds : NULL;
		if (cr->lsm_override)
			break;
		if (!same(label, ce ? ce->lsm_profile : NULL) ||
		    !same(sock, ce ? ce->lsm_sockcreate : NULL)) {
			pr_err("process %d: its threads carry different %s labels (\"%s\" and \"%s\"): "
			       "the label is set once per process, before its threads are made, so "
			       "cryo can't give each thread its own (--lsm-profile sets one for all)",
			       pid, lsm_type_name(cr->lsm_type), label ? label : "",
			       ce && ce->lsm_profile ? ce->lsm_profile : "");
			return -EOPNOTSUPP;
		}
	}
	if (cr->lsm_override || (!label && !sock))
		return 0;
	int host = lsm_host();
	if (cr->lsm_type != host) {
		pr_err("process %d ran with the %s label \"%s\", and this host has %s active: the "
		       "label can't be set here (restore on a host with %s, or choose a label with "
		       "--lsm-profile TYPE:NAME, \"none:\" for none)", pid,
		       lsm_type_name(cr->lsm_type), label ? label : sock,
		       lsm_type_name(host), lsm_type_name(cr->lsm_type));
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The task writes its own attribute (proc_pid_attr_write lets only the
 * task itself do that). */
static int write_attr(struct remote *r, pid_t pid, int type, const char *attr, const char *val)
{
	char path[128];
	attr_path(path, sizeof(path), "/proc/thread-self", type, attr);
	size_t n = strlen(val);
	remote_scratch_reset(r);
	uint64_t rpath = remote_scratch_put(r, path, strlen(path) + 1);
	uint64_t rval = remote_scratch_put(r, val, n);
	if (!rpath || !rval)
		return -ENOSPC;
	long fd = remote_syscall(r, __NR_openat, AT_FDCWD, rpath, O_WRONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return log_errno((int)fd, "process %d: can't open %s to set its %s label \"%s\" "
				 "(is /proc mounted in its root?)", pid, path, lsm_type_name(type),
				 val);
	long w = remote_syscall(r, __NR_write, fd, rval, n, 0, 0, 0);
	remote_call(r, "close", __NR_close, fd, 0, 0, 0);
	if (w != (long)n)
		return log_errno(w < 0 ? (int)w : -EIO, "process %d: writing \"%s\" to %s failed "
				 "(the policy must allow the restorer's domain to change to it)",
				 pid, val, path);
	return 0;
}

int lsm_restore_proc(struct remote *r, const struct creds_restore *cr, pid_t pid,
		     const ThreadCoreEntry *leader)
{
	const CredsEntry *ce = leader ? leader->creds : NULL;
	const char *label = cr->lsm_override ? cr->lsm_profile : ce ? ce->lsm_profile : NULL;
	const char *sock = cr->lsm_override ? NULL : ce ? ce->lsm_sockcreate : NULL;
	int ret = 0;
	if (label) {
		if (cr->lsm_type == LSMTYPE__APPARMOR) {
			char buf[4200];
			if ((size_t)snprintf(buf, sizeof(buf), "changeprofile %s", label) >= sizeof(buf))
				return log_errno(-ENAMETOOLONG, "process %d: AppArmor profile name "
						 "too long", pid);
			ret = write_attr(r, pid, cr->lsm_type, "current", buf);
		} else {
			ret = write_attr(r, pid, cr->lsm_type, "current", label);
		}
	}
	if (!ret && sock)
		ret = write_attr(r, pid, cr->lsm_type, "sockcreate", sock);
	if (!ret && (label || sock))
		pr_debug("process %d: %s label \"%s\" set", pid, lsm_type_name(cr->lsm_type),
			 label ? label : "");
	return ret;
}

int lsm_mount_options(const char *context, char **options)
{
	/* criu replaces the context= of every mount that has one */
	char *o = *options, *at = NULL;
	for (char *p = o; (p = strstr(p, "context=")); p++)
		if (p == o || p[-1] == ',') {
			at = p;
			break;
		}
	if (!at)
		return 0;
	char *end = at + strlen("context=");
	if (*end == '"') {
		char *q = strchr(end + 1, '"');
		end = q ? q + 1 : end + strlen(end);
	} else {
		end += strcspn(end, ",");
	}
	size_t len = (size_t)(at - o) + strlen("context=\"") + strlen(context) + 1 + strlen(end) + 1;
	char *n = xmalloc(len);
	if (!n)
		return -ENOMEM;
	snprintf(n, len, "%.*scontext=\"%s\"%s", (int)(at - o), o, context, end);
	free(o);
	*options = n;
	return 1;
}
