/* kerndat probes: namespaces, procfs fields, capabilities, cgroup freezer,
 * LSM/filesystems, and a few syscalls (openat2, move_mount, kcmp epoll). */
#include "kerndat/kerndat-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif
#define CAP_NET_ADMIN_BIT 12
#define CAP_SYS_ADMIN_BIT 21
#define CAP_SYS_RESOURCE_BIT 24

static bool path_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* ---- namespaces -------------------------------------------------------------- */

void kdat_probe_ns(void)
{
	static const char *const basic[] = { "mnt", "net", "pid", "ipc", "uts" };
	char missing[64] = "", path[64], *buf = NULL;
	unsigned int size = 0;

	for (size_t i = 0; i < ARRAY_SIZE(basic); i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", basic[i]);
		if (!path_exists(path)) {
			strncat(missing, " ", sizeof(missing) - strlen(missing) - 1);
			strncat(missing, basic[i], sizeof(missing) - strlen(missing) - 1);
		}
	}
	if (missing[0])
		kdat_set(KF_NAMESPACES, false, "missing:%s", missing);
	else
		kdat_set(KF_NAMESPACES, true, NULL);

	if (path_exists("/proc/self/ns/cgroup"))
		kdat_set(KF_CGROUPNS, true, NULL);
	else
		kdat_set(KF_CGROUPNS, false, "no /proc/self/ns/cgroup");

	if (!path_exists("/proc/self/ns/user"))
		kdat_set(KF_USERNS, false, "no /proc/self/ns/user (CONFIG_USER_NS off)");
	else if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&size, 0, 0))
		kdat_set(KF_USERNS, false, "PR_SET_MM_MAP_SIZE: %s", kdat_errname(errno));
	else
		kdat_set(KF_USERNS, true, NULL);

	if (read_file(AT_FDCWD, "/proc/self/status", &buf, true) >= 0 && strstr(buf, "\nNSpid:"))
		kdat_set(KF_NS_PID, true, NULL);
	else
		kdat_set(KF_NS_PID, false, "no NSpid: in /proc/self/status (kernel < 4.1)");
	free(buf);
}

static int timens_child(void *arg, int msg)
{
	struct stat a, b;

	if (unshare(CLONE_NEWTIME)) {
		kdat_child_msg(msg, "unshare(CLONE_NEWTIME): %s", errno == EPERM ? "EPERM: needs CAP_SYS_ADMIN"
										      : kdat_errname(errno));
		return 1;
	}
	if (stat("/proc/self/ns/time", &a) || stat("/proc/self/ns/time_for_children", &b)) {
		kdat_child_msg(msg, "stat time ns: %s", kdat_errname(errno));
		return 1;
	}
	if (a.st_ino == b.st_ino) {
		kdat_child_msg(msg, "time_for_children did not change after unshare");
		return 1;
	}
	return 0;
}

void kdat_probe_timens(void)
{
	char msg[200];
	int r;

	if (!path_exists("/proc/self/ns/time")) {
		kdat_set(KF_TIMENS, false, "no /proc/self/ns/time (kernel < 5.6 or CONFIG_TIME_NS off)");
		return;
	}
	r = kdat_run_child(timens_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));
	kdat_set(KF_TIMENS, r == 0, r ? "%s" : NULL, msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
}

/* ---- procfs fields --------------------------------------------------------- */

static int fdinfo_has(int fd, const char *field)
{
	char path[64], *buf = NULL;
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	ret = read_file(AT_FDCWD, path, &buf, true);
	if (ret < 0)
		return ret;
	ret = strstr(buf, field) != NULL;
	free(buf);
	return ret;
}

void kdat_probe_fdinfo(void)
{
	int fd = memfd_create("cryo-kerndat-lock", MFD_CLOEXEC), r;

	if (fd < 0)
		fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kdat_set(KF_MNT_ID, false, "can't open a file: %s", kdat_errname(errno));
		kdat_set(KF_FDINFO_LOCK, false, "can't open a file");
	} else {
		r = fdinfo_has(fd, "\nmnt_id:");
		kdat_set(KF_MNT_ID, r > 0, r > 0 ? NULL : "%s", r < 0 ? kdat_errname(r) : "no mnt_id: in fdinfo");
		if (flock(fd, LOCK_SH | LOCK_NB)) {
			kdat_set(KF_FDINFO_LOCK, false, "flock: %s", kdat_errname(errno));
		} else {
			r = fdinfo_has(fd, "\nlock:");
			kdat_set(KF_FDINFO_LOCK, r > 0, r > 0 ? NULL : "%s",
				 r < 0 ? kdat_errname(r) : "no lock: in fdinfo of a locked file");
			flock(fd, LOCK_UN);
		}
		close(fd);
	}
	if (access("/proc/self/timers", R_OK) == 0)
		kdat_set(KF_POSIX_TIMERS, true, NULL);
	else
		kdat_set(KF_POSIX_TIMERS, false, "/proc/self/timers: %s", kdat_errname(errno));
}

/* ---- capabilities ------------------------------------------------------------ */

static void cap(enum kdat_feature f, int bit, const char *name)
{
	if (kdat_cap_eff(bit))
		kdat_set(f, true, NULL);
	else
		kdat_set(f, false, "%s is not in our effective set", name);
}

void kdat_probe_caps(void)
{
	char *buf = NULL;
	int last = 0;

	cap(KF_CAP_SYS_ADMIN, CAP_SYS_ADMIN_BIT, "CAP_SYS_ADMIN");
	cap(KF_CAP_SYS_RESOURCE, CAP_SYS_RESOURCE_BIT, "CAP_SYS_RESOURCE");
	cap(KF_CAP_NET_ADMIN, CAP_NET_ADMIN_BIT, "CAP_NET_ADMIN");
	if (read_file(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", &buf, true) > 0)
		last = atoi(buf);
	free(buf);
	if (last && last < CAP_CHECKPOINT_RESTORE)
		kdat_set(KF_CAP_CHECKPOINT_RESTORE, false, "kernel < 5.9 has no CAP_CHECKPOINT_RESTORE (CAP_SYS_ADMIN %s)",
			 kdat_cap_eff(CAP_SYS_ADMIN_BIT) ? "is present and covers it" : "is missing too");
	else
		cap(KF_CAP_CHECKPOINT_RESTORE, CAP_CHECKPOINT_RESTORE, "CAP_CHECKPOINT_RESTORE");
}

/* ---- cgroup freezer ------------------------------------------------------------ */

/* Mount point of the first @fstype mount (with @opt in its super options when
 * given), from /proc/self/mountinfo. */
static int find_mount(const char *fstype, const char *opt, char *out, size_t len)
{
	char *buf = NULL, *line, *next;
	int ret = -ENOENT;

	if (read_file(AT_FDCWD, "/proc/self/mountinfo", &buf, true) < 0)
		return -EIO;
	for (line = buf; line && *line; line = next) {
		char mnt[512], type[64], sopts[512];
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %511s", type, sopts) != 2)
			continue;
		if (strcmp(type, fstype))
			continue;
		if (opt && !strstr(sopts, opt))
			continue;
		snprintf(out, len, "%s", mnt);
		ret = 0;
		break;
	}
	free(buf);
	return ret;
}

/* Make a scratch child cgroup under @mnt and look for @file in it. */
static int scratch_cgroup_has(const char *mnt, const char *file)
{
	char dir[600], path[700];
	int ret;

	snprintf(dir, sizeof(dir), "%s/cryo-kerndat.%d", mnt, getpid());
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	ret = path_exists(path) ? 1 : 0;
	rmdir(dir);
	return ret;
}

void kdat_probe_cgroup_freeze(void)
{
	char mnt[512], why[1200] = "";
	int r;

	if (find_mount("cgroup2", NULL, mnt, sizeof(mnt)) == 0) {
		r = scratch_cgroup_has(mnt, "cgroup.freeze");
		if (r > 0) {
			kdat_set(KF_CGROUP_FREEZE, true, "cgroup v2 cgroup.freeze (%s)", mnt);
			return;
		}
		snprintf(why, sizeof(why), "cgroup v2 at %s: %s; ", mnt,
			 r < 0 ? kdat_errname(r) : "no cgroup.freeze (kernel < 5.2)");
	}
	if (find_mount("cgroup", "freezer", mnt, sizeof(mnt)) == 0) {
		r = scratch_cgroup_has(mnt, "freezer.state");
		if (r > 0) {
			kdat_set(KF_CGROUP_FREEZE, true, "%scgroup v1 freezer (%s)", why, mnt);
			return;
		}
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "v1 freezer at %s: %s", mnt,
			 r < 0 ? kdat_errname(r) : "no freezer.state");
	}
	kdat_set(KF_CGROUP_FREEZE, false, "%s", why[0] ? why : "no cgroup2 mount and no v1 freezer mount");
}

/* ---- LSM, filesystems, cryo-level features ----------------------------------- */

void kdat_probe_lsm_fs(void)
{
	char *buf = NULL;

	kdat_set(KF_EXTERNAL_NET_NS, true, NULL);	/* lib/ns/join.c */
	kdat_set(KF_COMPAT_CR, false, "cryo does not checkpoint 32-bit (ia32) tasks");

	if (read_file(AT_FDCWD, "/sys/kernel/security/apparmor/features/domain/stack", &buf, true) > 0 &&
	    !strncmp(buf, "yes", 3))
		kdat_set(KF_APPARMOR_STACKING, true, NULL);
	else
		kdat_set(KF_APPARMOR_STACKING, false, "%s", buf ? "AppArmor without stacking"
							  : "AppArmor not enabled (or securityfs not mounted)");
	free(buf);
	buf = NULL;

	if (read_file(AT_FDCWD, "/proc/filesystems", &buf, true) > 0 && strstr(buf, "\tautofs\n"))
		kdat_set(KF_AUTOFS, true, NULL);
	else
		kdat_set(KF_AUTOFS, false, "autofs not in /proc/filesystems (CONFIG_AUTOFS_FS off or module not loaded)");
	free(buf);
}

/* ---- syscalls ------------------------------------------------------------------ */

static int loginuid_child(void *arg, int msg)
{
	char *buf = NULL;
	int fd;

	if (read_file(AT_FDCWD, "/proc/self/loginuid", &buf, true) < 0) {
		kdat_child_msg(msg, "no /proc/self/loginuid (CONFIG_AUDIT off)");
		return 1;
	}
	fd = open("/proc/self/loginuid", O_WRONLY);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0) {
		kdat_child_msg(msg, "writing /proc/self/loginuid: %s", errno == EPERM ?
			       "EPERM: needs CAP_AUDIT_CONTROL (or loginuid is immutable)" : kdat_errname(errno));
		return 1;
	}
	return 0;
}

void kdat_probe_syscalls(void)
{
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS };
	char msg[200];
	int fd, r;

	fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
	if (fd >= 0) {
		kdat_set(KF_OPENAT2, true, NULL);
		close(fd);
	} else {
		kdat_set(KF_OPENAT2, false, "%s", kdat_errname(errno));
	}

	/* bad fds: EBADF/ENOENT once the flag is accepted, EINVAL when not */
	r = syscall(SYS_move_mount, -1, "", -1, "",
		    MOVE_MOUNT_SET_GROUP | MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	if (r == 0 || errno == EBADF || errno == ENOENT)
		kdat_set(KF_MOVE_MOUNT_SET_GROUP, true, NULL);
	else if (errno == EPERM)
		kdat_set(KF_MOVE_MOUNT_SET_GROUP, false, "EPERM: needs CAP_SYS_ADMIN");
	else
		kdat_set(KF_MOVE_MOUNT_SET_GROUP, false, "%s", errno == EINVAL ? "EINVAL: kernel < 5.15"
									    : kdat_errname(errno));

	/* kcmp on an epoll target */
	int ep = epoll_create1(EPOLL_CLOEXEC), p[2] = { -1, -1 };
	if (ep < 0 || pipe2(p, O_CLOEXEC)) {
		kdat_set(KF_KCMP_EPOLL, false, "can't set up epoll: %s", kdat_errname(errno));
	} else {
		struct epoll_event ev = { .events = EPOLLIN };
		struct kcmp_epoll_slot slot = { .efd = ep, .tfd = p[0], .toff = 0 };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev))
			kdat_set(KF_KCMP_EPOLL, false, "epoll_ctl: %s", kdat_errname(errno));
		else if ((r = syscall(SYS_kcmp, getpid(), getpid(), KCMP_EPOLL_TFD, p[0], &slot)) == 0)
			kdat_set(KF_KCMP_EPOLL, true, NULL);
		else
			kdat_set(KF_KCMP_EPOLL, false, "%s", r < 0 ? kdat_errname(errno) : "target differs");
	}
	if (ep >= 0)
		close(ep);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}

	r = kdat_run_child(loginuid_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));
	kdat_set(KF_LOGINUID, r == 0, r ? "%s" : NULL, msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
}
