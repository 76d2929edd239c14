/* prctl_values: per-process and per-thread settings, each changed from the
 * value a fresh process (or cryo's fork) would have:
 *   - oom_score_adj 345 (/proc/self/oom_score_adj)
 *   - loginuid 4242 (/proc/self/loginuid; needs CAP_AUDIT_CONTROL)
 *   - child subreaper on
 *   - timer slack 123457 ns
 *   - ioprio: best-effort class, level 6
 *   - personality PER_LINUX | ADDR_NO_RANDOMIZE (what it passes on at exec)
 *   - umask 0027, cwd a subdirectory, comm "prctl-vals", THP disabled,
 *     dumpable 0
 *   - parent-death signal SIGUSR1, set once the process has been
 *     reparented (the launcher is gone).  cryo does not restore it for the
 *     root of the restored tree, whose parent is cryo until cryo exits
 *     (docs/creds.md): the test checks that no SIGUSR1 arrived and that
 *     the value reads 0 after restore.
 * After SIGTERM each value is read back and compared.
 */
#include <fcntl.h>
#include <linux/ioprio.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define OOM_ADJ 345
#define LOGINUID 4242
#define SLACK 123457UL
#define IOPRIO IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 6)
#define PERS (PER_LINUX | ADDR_NO_RANDOMIZE)
#define UMASK 0027
#define COMM "prctl-vals"

static volatile sig_atomic_t got_usr1;
static char cwd_want[4096];

static void on_usr1(int sig)
{
	got_usr1++;
}

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -12345;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	return strtol(buf, NULL, 10);
}

static bool loginuid_ok;
static unsigned long long start_before;

/* Field 22 of /proc/self/stat: a restored process is a new task with a
 * later start time; a process left running keeps its own. */
static unsigned long long start_time(void)
{
	char buf[1024] = "", *p;
	unsigned long long v = 0;
	int fd = open("/proc/self/stat", O_RDONLY);

	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			buf[0] = '\0';
		close(fd);
	}
	p = strrchr(buf, ')');
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			"%*d %*d %*d %*d %llu", &v) != 1)
		v = 0;
	return v;
}

static void build_state(void)
{
	char buf[32];
	struct sigaction sa = { .sa_handler = on_usr1 };

	snprintf(buf, sizeof(buf), "%d", OOM_ADJ);
	if (write_str("/proc/self/oom_score_adj", buf))
		setup_fail("oom_score_adj: %s", strerror(errno));
	snprintf(buf, sizeof(buf), "%d", LOGINUID);
	loginuid_ok = !write_str("/proc/self/loginuid", buf);
	if (!loginuid_ok)
		test_msg("can't set loginuid (%s): not checked", strerror(errno));
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		setup_fail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (prctl(PR_SET_TIMERSLACK, SLACK, 0, 0, 0))
		setup_fail("PR_SET_TIMERSLACK: %s", strerror(errno));
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO))
		setup_fail("ioprio_set: %s", strerror(errno));
	if (personality(PERS) < 0)
		setup_fail("personality: %s", strerror(errno));
	umask(UMASK);
	if (mkdir("prctl-cwd", 0755) && errno != EEXIST)
		setup_fail("mkdir: %s", strerror(errno));
	if (chdir("prctl-cwd") || !getcwd(cwd_want, sizeof(cwd_want)))
		setup_fail("chdir: %s", strerror(errno));
	if (prctl(PR_SET_NAME, COMM, 0, 0, 0))
		setup_fail("PR_SET_NAME: %s", strerror(errno));
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		setup_fail("PR_SET_THP_DISABLE: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		setup_fail("PR_SET_DUMPABLE: %s", strerror(errno));
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		setup_fail("sigaction: %s", strerror(errno));
}

static void check_state(void)
{
	char cwd[4096], comm[17] = "";
	int sig = -1;
	long v;

	if ((v = read_long("/proc/self/oom_score_adj")) != OOM_ADJ)
		fail("oom_score_adj is %ld, expected %d", v, OOM_ADJ);
	if (loginuid_ok && (v = read_long("/proc/self/loginuid")) != LOGINUID)
		fail("loginuid is %ld, expected %d", v, LOGINUID);
	if (prctl(PR_GET_CHILD_SUBREAPER, &sig, 0, 0, 0) || sig != 1)
		fail("child subreaper is %d, expected 1", sig);
	if ((unsigned long)(v = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) != SLACK)
		fail("timer slack is %ld ns, expected %lu", v, SLACK);
	if ((v = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0)) != IOPRIO)
		fail("ioprio is %#lx, expected %#lx", v, (long)IOPRIO);
	if ((v = personality(0xffffffff)) != PERS)
		fail("personality is %#lx, expected %#x", v, PERS);
	v = umask(0);
	if (v != UMASK)
		fail("umask is %04lo, expected %04o", v, UMASK);
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, cwd_want))
		fail("cwd is %s, expected %s", cwd, cwd_want);
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	if (strcmp(comm, COMM))
		fail("comm is \"%s\", expected \"%s\"", comm, COMM);
	if ((v = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)) != 1)
		fail("THP disable is %ld, expected 1", v);
	if ((v = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) != 0)
		fail("dumpable is %ld, expected 0", v);
	if (got_usr1)
		fail("the parent-death signal SIGUSR1 arrived %d time(s): the parent (init) did "
		     "not die", (int)got_usr1);
	sig = -1;
	if (start_time() == start_before) {
		/* dumped with --leave-running: the process never went away */
		if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) || sig != SIGUSR1)
			fail("parent-death signal is %d, expected SIGUSR1", sig);
	} else if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) || sig != 0) {
		fail("parent-death signal is %d after restore; cryo documents it as not restored "
		     "for the tree's root (0)", sig);
	}
}

int main(int argc, char **argv)
{
	pid_t launcher;

	test_doc = "oom_score_adj, loginuid, subreaper, timer slack, ioprio, personality, ...";
	test_init(argc, argv);
	launcher = getppid();
	build_state();
	start_before = start_time();
	if (!start_before)
		setup_fail("can't read the start time from /proc/self/stat");
	test_daemon();
	/* wait for the launcher to go, then ask for the parent-death signal:
	 * the new parent (init or a subreaper) stays */
	for (int i = 0; getppid() == launcher && i < 5000; i++)
		test_sleep_ms(1);
	if (getppid() == launcher)
		fail("the launcher %d did not exit", (int)launcher);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0))
		fail_errno("PR_SET_PDEATHSIG");
	test_waitsig();
	check_state();
	return test_verdict();
}
