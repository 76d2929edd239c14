/* Per-process and per-thread settings that are not credentials:
 *
 *   process  rlimits           prlimit64(pid) from outside      tc.rlimits
 *            oom_score_adj     /proc/PID/oom_score_adj          tc.oom_score_adj
 *            loginuid          /proc/PID/loginuid; restored by
 *                              the task itself (kernel rule)   tc.loginuid
 *            child subreaper   prctl in the task                tc.child_subreaper
 *            autogroup nice    /proc/PID/autogroup, session     tc.cryo_autogroup_nice
 *                              leaders only                     (ext.)
 *   thread   parent-death sig  prctl in the task                tce.pdeath_sig
 *            timer slack       prctl in the task                tce.timer_slack_ns (ext.)
 *            ioprio            ioprio_get/set(tid) from outside tce.ioprio (ext.)
 *
 * What the kernel does not let cryo restore without a privilege it lacks
 * (raising a hard rlimit or lowering oom_score_adj needs CAP_SYS_RESOURCE,
 * setting loginuid CAP_AUDIT_CONTROL) is reported once per process, as a
 * warning naming the value kept instead, and the restore goes on: the
 * process runs as before, only with the restorer's tighter limit.  See
 * docs/creds.md. */
#include "creds/creds-int.h"
#include "proc/proc.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "rlimit.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/ioprio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const rlimit_names[] = {
	"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
	"RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",
	"RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
	"RLIMIT_RTPRIO", "RLIMIT_RTTIME",
};
#define NR_RLIMITS ((int)ARRAY_SIZE(rlimit_names))

const char *rlimit_name(int res)
{
	return res >= 0 && res < NR_RLIMITS ? rlimit_names[res] : "RLIMIT_?";
}

static int read_proc_long(pid_t pid, const char *name, long long *out)
{
	char path[64], *s;
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	ssize_t n = read_file(AT_FDCWD, path, &s, false);
	if (n < 0)
		return n;
	char *end;
	errno = 0;
	*out = strtoll(s, &end, 10);
	bool bad = errno || end == s;
	free(s);
	if (bad) {
		pr_err("can't parse %s", path);
		return -EINVAL;
	}
	return 0;
}

/* An int the task writes through a pointer (PR_GET_PDEATHSIG...). */
static long get_int_prctl(struct remote *r, const char *what, int option, int *out)
{
	uint64_t slot = remote_scratch_alloc(r, sizeof(int));
	if (!slot)
		return -ENOSPC;
	long ret = remote_call(r, what, __NR_prctl, option, slot, 0, 0);
	if (ret)
		return ret < 0 ? ret : -EIO;
	return remote_read(r, slot, out, sizeof(*out));
}

static char *fmt_lim(uint64_t v, char *buf, size_t size)
{
	if (v == RLIM_INFINITY)
		snprintf(buf, size, "unlimited");
	else
		snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

/* ---- dump --------------------------------------------------------------- */

/* prlimit64 from outside needs CAP_SYS_RESOURCE for a task of another
 * uid, even to read; the task itself may always read its own. */
static int get_rlimit(struct remote *r, pid_t pid, int res, struct rlimit *rl, uint64_t *slot)
{
	if (!prlimit(pid, res, NULL, rl))
		return 0;
	if (errno != EPERM)
		return_perror("prlimit(%d, %s) failed", pid, rlimit_name(res));
	if (!*slot && !(*slot = remote_scratch_alloc(r, sizeof(*rl))))
		return -ENOSPC;
	long ret = remote_call(r, "prlimit64", __NR_prlimit64, 0, res, 0, *slot);
	if (ret)
		return ret < 0 ? ret : -EIO;
	return remote_read(r, *slot, rl, sizeof(*rl));
}

static int dump_rlimits(struct remote *r, pid_t pid, TaskCoreEntry *tc)
{
	TaskRlimitsEntry *re = xmalloc(sizeof(*re));
	if (!re)
		return -ENOMEM;
	task_rlimits_entry__init(re);
	tc->rlimits = re;	/* freed with the core */
	re->rlimits = xzalloc(NR_RLIMITS * sizeof(RlimitEntry *));
	if (!re->rlimits)
		return -ENOMEM;
	uint64_t slot = 0;
	for (int res = 0; res < NR_RLIMITS; res++) {
		struct rlimit rl;
		int ret = get_rlimit(r, pid, res, &rl, &slot);
		if (ret)
			return ret;
		RlimitEntry *e = xmalloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		rlimit_entry__init(e);
		e->has_cur = e->has_max = 1;
		e->cur = rl.rlim_cur;
		e->max = rl.rlim_max;
		re->rlimits[re->n_rlimits++] = e;
	}
	return 0;
}

/* The autogroup is made by setsid() and shared by the whole session: its
 * nice value is saved with the session leader and written back once the
 * restored leader has made its new session.  "/autogroup-N nice X"; the file
 * is missing without CONFIG_SCHED_AUTOGROUP. */
static int read_autogroup_nice(pid_t pid, int *nice)
{
	char path[64], *s;
	snprintf(path, sizeof(path), "/proc/%d/autogroup", pid);
	ssize_t n = read_file(AT_FDCWD, path, &s, false);
	if (n < 0)
		return n;
	char *p = strstr(s, " nice ");
	int ok = p && sscanf(p, " nice %d", nice) == 1;
	free(s);
	if (!ok) {
		pr_err("can't parse %s", path);
		return -EINVAL;
	}
	return 0;
}

static void dump_autogroup(pid_t pid, TaskCoreEntry *tc)
{
	int nice;
	if (getsid(pid) != pid || read_autogroup_nice(pid, &nice) || !nice)
		return;
	tc->has_cryo_autogroup_nice = 1;
	tc->cryo_autogroup_nice = nice;
}

static int restore_autogroup(pid_t pid, int want, char *report, size_t size)
{
	size_t used = strlen(report);
	int cur;
	if (getsid(pid) != pid) {
		/* e.g. --shell-job: the session, and its autogroup, are cryo's */
		snprintf(report + used, size - used, "%sautogroup nice %d not restored: the process "
			 "is no longer a session leader", used ? "; " : "", want);
		return 0;
	}
	if (read_autogroup_nice(pid, &cur)) {
		snprintf(report + used, size - used, "%sautogroup nice %d not restored: this kernel "
			 "has no /proc/PID/autogroup", used ? "; " : "", want);
		return 0;
	}
	if (cur == want)
		return 0;
	char path[64], val[16];
	snprintf(path, sizeof(path), "/proc/%d/autogroup", pid);
	int n = snprintf(val, sizeof(val), "%d", want);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open %s", path);
	int ret = write(fd, val, n) == n ? 0 : -errno;
	close(fd);
	if (ret == -EACCES || ret == -EPERM) {
		snprintf(report + used, size - used, "%sautogroup nice %d instead of %d: a value "
			 "below 0 needs CAP_SYS_NICE", used ? "; " : "", cur, want);
		return 0;
	}
	if (ret)
		pr_err("can't write %d to %s: %s", want, path, strerror(-ret));
	return ret;
}

int settings_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc)
{
	int ret = dump_rlimits(r, pid, tc);
	if (ret)
		return ret;
	long long v;
	ret = read_proc_long(pid, "oom_score_adj", &v);
	if (ret)
		return ret;
	tc->has_oom_score_adj = 1;
	tc->oom_score_adj = v;
	/* absent without CONFIG_AUDIT */
	if (!read_proc_long(pid, "loginuid", &v)) {
		tc->has_loginuid = 1;
		tc->loginuid = (uint32_t)v;
	}
	int subreaper = 0;
	ret = get_int_prctl(r, "prctl(PR_GET_CHILD_SUBREAPER)", PR_GET_CHILD_SUBREAPER, &subreaper);
	if (ret)
		return ret;
	tc->has_child_subreaper = 1;
	tc->child_subreaper = subreaper != 0;
	dump_autogroup(pid, tc);
	pr_debug("process %d: oom_score_adj %d, loginuid %u, child subreaper %d", pid,
		 tc->oom_score_adj, tc->loginuid, subreaper);
	return 0;
}

int settings_dump_thread(struct remote *r, pid_t pid, pid_t tid, ThreadCoreEntry *tce)
{
	int sig = 0;
	int ret = get_int_prctl(r, "prctl(PR_GET_PDEATHSIG)", PR_GET_PDEATHSIG, &sig);
	if (ret)
		return ret;
	tce->has_pdeath_sig = 1;
	tce->pdeath_sig = sig;
	long slack = remote_call(r, "prctl(PR_GET_TIMERSLACK)", __NR_prctl, PR_GET_TIMERSLACK, 0,
				 0, 0);
	if (slack < 0 && slack >= -4095)
		return slack;
	tce->has_timer_slack_ns = 1;
	tce->timer_slack_ns = (unsigned long)slack;
	long prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
	if (prio < 0)
		return_perror("ioprio_get of thread %d failed", tid);
	tce->has_ioprio = 1;
	tce->ioprio = prio;
	pr_debug("thread %d: pdeath_sig %d, timer slack %lu ns, ioprio class %ld level %ld", tid,
		 sig, (unsigned long)slack, (long)IOPRIO_PRIO_CLASS(prio),
		 (long)IOPRIO_PRIO_DATA(prio));
	return 0;
}

/* ---- restore ------------------------------------------------------------ */

/* Set what the image says, lowering a hard limit the kernel won't let cryo
 * raise to cryo's own.  Appends to @report what was kept instead. */
static int restore_rlimits(pid_t pid, const TaskRlimitsEntry *re, char *report, size_t size)
{
	size_t used = strlen(report);
	if (re->n_rlimits > NR_RLIMITS)
		pr_warn("core-%d.img: %zu rlimits, this kernel has %d; the others are ignored",
			pid, re->n_rlimits, NR_RLIMITS);
	for (int res = 0; res < (int)re->n_rlimits && res < NR_RLIMITS; res++) {
		const RlimitEntry *e = re->rlimits[res];
		struct rlimit want = { e->cur, e->max }, cur;
		if (want.rlim_cur > want.rlim_max) {
			pr_err("core-%d.img: %s soft limit %llu is above its hard limit %llu", pid,
			       rlimit_name(res), (unsigned long long)want.rlim_cur,
			       (unsigned long long)want.rlim_max);
			return -EINVAL;
		}
		if (prlimit(pid, res, NULL, &cur))
			return_perror("prlimit(%d, %s) failed", pid, rlimit_name(res));
		if (cur.rlim_cur == want.rlim_cur && cur.rlim_max == want.rlim_max)
			continue;
		if (!prlimit(pid, res, &want, NULL))
			continue;
		int e1 = errno;
		if ((e1 != EPERM && e1 != EINVAL) || want.rlim_max <= cur.rlim_max) {
			pr_err("prlimit(%d, %s, %llu/%llu) failed: %s", pid, rlimit_name(res),
			       (unsigned long long)want.rlim_cur, (unsigned long long)want.rlim_max,
			       strerror(e1));
			return -e1;
		}
		/* Raising the hard limit was refused: keep ours. */
		struct rlimit kept = { MIN(want.rlim_cur, cur.rlim_max), cur.rlim_max };
		if (prlimit(pid, res, &kept, NULL))
			return_perror("prlimit(%d, %s, %llu/%llu) failed", pid, rlimit_name(res),
				      (unsigned long long)kept.rlim_cur,
				      (unsigned long long)kept.rlim_max);
		char a[24], b[24], c[24], d[24];
		used += snprintf(report + used, used < size ? size - used : 0,
				 "%s%s %s/%s (soft/hard) instead of %s/%s: raising a hard limit needs "
				 "CAP_SYS_RESOURCE%s", used ? "; " : "",
				 rlimit_name(res), fmt_lim(kept.rlim_cur, a, sizeof(a)),
				 fmt_lim(kept.rlim_max, b, sizeof(b)),
				 fmt_lim(want.rlim_cur, c, sizeof(c)),
				 fmt_lim(want.rlim_max, d, sizeof(d)),
				 res == RLIMIT_NOFILE ? " (and at most fs.nr_open)" : "");
		if (used >= size)
			used = size - 1;
	}
	return 0;
}

static int restore_oom_score_adj(pid_t pid, int want, char *report, size_t size)
{
	long long cur;
	int ret = read_proc_long(pid, "oom_score_adj", &cur);
	if (ret || cur == want)
		return ret;
	char path[64], val[16];
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", pid);
	int n = snprintf(val, sizeof(val), "%d", want);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open %s", path);
	ret = write(fd, val, n) == n ? 0 : -errno;
	close(fd);
	if (ret == -EACCES || ret == -EPERM) {
		size_t used = strlen(report);
		snprintf(report + used, size - used, "%soom_score_adj %lld instead of %d: lowering "
			 "it below %lld needs CAP_SYS_RESOURCE", used ? "; " : "", cur, want, cur);
		return 0;
	}
	if (ret)
		pr_err("can't write %d to %s: %s", want, path, strerror(-ret));
	return ret;
}

/* /proc/PID/loginuid can only be written by the task itself. */
static int restore_loginuid(struct remote *r, pid_t pid, uint32_t want, char *report,
			    size_t size)
{
	long long cur;
	if (read_proc_long(pid, "loginuid", &cur))
		return 0;	/* no audit support here: nothing to restore into */
	if ((uint32_t)cur == want)
		return 0;
	char val[16];
	int n = snprintf(val, sizeof(val), "%u", want);
	remote_scratch_reset(r);
	uint64_t path = remote_scratch_put(r, "/proc/self/loginuid", sizeof("/proc/self/loginuid"));
	uint64_t buf = remote_scratch_put(r, val, n);
	if (!path || !buf)
		return -ENOSPC;
	long fd = remote_call(r, "open of /proc/self/loginuid", __NR_openat, AT_FDCWD, path,
			      O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long w = remote_syscall(r, __NR_write, fd, buf, n, 0, 0, 0);
	remote_call(r, "close", __NR_close, fd, 0, 0, 0);
	if (w == n)
		return 0;
	size_t used = strlen(report);
	snprintf(report + used, size - used, "%sloginuid %u instead of %u: writing it failed (%s; "
		 "it needs CAP_AUDIT_CONTROL, and is refused once set if the audit loginuid is "
		 "immutable)", used ? "; " : "", (uint32_t)cur, want,
		 strerror(w < 0 ? (int)-w : EIO));
	return 0;
}

int settings_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc)
{
	char report[2048] = "";
	int ret = 0;
	if (tc->rlimits)
		ret = restore_rlimits(pid, tc->rlimits, report, sizeof(report));
	if (!ret && tc->has_oom_score_adj)
		ret = restore_oom_score_adj(pid, tc->oom_score_adj, report, sizeof(report));
	if (!ret && tc->has_loginuid)
		ret = restore_loginuid(r, pid, tc->loginuid, report, sizeof(report));
	if (!ret && tc->has_cryo_autogroup_nice)
		ret = restore_autogroup(pid, tc->cryo_autogroup_nice, report, sizeof(report));
	if (!ret && tc->has_child_subreaper && tc->child_subreaper) {
		long lr = remote_call(r, "prctl(PR_SET_CHILD_SUBREAPER)", __NR_prctl,
				      PR_SET_CHILD_SUBREAPER, 1, 0, 0);
		if (lr)
			ret = lr < 0 ? lr : -EIO;
	}
	if (report[0])
		pr_warn("process %d: some settings could not be restored and keep the restorer's "
			"values: %s", pid, report);
	return ret;
}

int settings_restore_thread_early(struct remote *r, pid_t pid, pid_t tid,
				  const ThreadCoreEntry *tce)
{
	if (tce->has_timer_slack_ns && tce->timer_slack_ns) {
		long cur = remote_call(r, "prctl(PR_GET_TIMERSLACK)", __NR_prctl,
				       PR_GET_TIMERSLACK, 0, 0, 0);
		if (cur < 0 && cur >= -4095)
			return cur;
		if ((unsigned long)cur != tce->timer_slack_ns) {
			long lr = remote_call(r, "prctl(PR_SET_TIMERSLACK)", __NR_prctl,
					      PR_SET_TIMERSLACK, tce->timer_slack_ns, 0, 0);
			if (lr)
				return lr < 0 ? lr : -EIO;
		}
	}
	if (tce->has_ioprio) {
		long cur = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
		if (cur < 0)
			return_perror("ioprio_get of restored thread %d failed", tid);
		if ((uint32_t)cur != tce->ioprio &&
		    syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, tce->ioprio))
			return_perror("ioprio_set(class %u, level %u) of restored thread %d failed",
				      (unsigned)IOPRIO_PRIO_CLASS(tce->ioprio),
				      (unsigned)IOPRIO_PRIO_DATA(tce->ioprio), tid);
	}
	return 0;
}

int settings_restore_thread_late(struct remote *r, pid_t pid, pid_t tid,
				 const ThreadCoreEntry *tce)
{
	uint32_t sig = tce->has_pdeath_sig ? tce->pdeath_sig : 0;
	if (sig > 64) {
		pr_err("core-%d.img: parent-death signal %u is not a signal", tid, sig);
		return -EINVAL;
	}
	struct proc_status st;
	int ret = proc_read_status(pid, tid, &st);
	if (ret)
		return ret;
	pid_t ppid = st.ppid;
	proc_status_free(&st);
	if (ppid == getpid()) {
		/* The root of the restored tree is cryo's child until cryo lets it
		 * go: the image's signal would fire when cryo exits, a parent death
		 * that never happened to the dumped process.  And the SIGKILL it
		 * was created with (restore.c new_task_wait) goes. */
		if (sig) {
			const char *abbrev = sigabbrev_np(sig);
			pr_warn("thread %d: its parent-death signal %u (SIG%s) is not restored: its "
				"parent after the restore is cryo, whose exit would deliver it", tid,
				sig, abbrev ? abbrev : "RT");
		}
		sig = 0;
	} else if (!sig) {
		return 0;	/* born without one */
	}
	long lr = remote_call(r, "prctl(PR_SET_PDEATHSIG)", __NR_prctl, PR_SET_PDEATHSIG, sig, 0,
			      0);
	return lr ? (lr < 0 ? lr : -EIO) : 0;
}
