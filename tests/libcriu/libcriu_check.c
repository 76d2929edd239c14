/*
 * libcriu_check: a C program built against our libcriu.so (criu.h), as crun
 * and other libcriu users are, driving `cryo swrk`.  Prints one line per
 * check, "PASS libcriu:NAME" or "FAIL libcriu:NAME: why"; exits 1 if any
 * failed.  Usage: libcriu_check CRYO PROG TMPDIR VARIANT, PROG being
 * tests/progs/anon_mem (it daemonizes, writes --pidfile, and reports PASS
 * into --outfile on SIGTERM after checking its memory).
 *
 *   version          criu_get_version is cryo's criu interface by libcriu's
 *                    rule (3.19 with a gitid, as cryo answers: 32000);
 *                    criu_check_version for it and one above
 *   features         criu_feature_check: pidfd_store on this kernel,
 *                    mem_track and lazy_pages as `cryo check --feature`
 *                    answers mem_dirty_track and lazy_pages; a structure
 *                    larger than ours: -EINVAL
 *                    (not checked with criu's libcriu, which returns -1)
 *   check            criu_check succeeds
 *   no-binary        a service binary that does not exist: -ECONNREFUSED,
 *                    errno ENOENT (SKIP with criu's libcriu: -ECOMM)
 *   dump-esrch       a dump of a PID nobody has: -EBADE, errno ESRCH
 *   dump-restore     a dump (not left running) of anon_mem: 0, the
 *                    notifications pre-dump then post-dump, the process is
 *                    gone; criu_restore_child: its PID, our child (we reap
 *                    it), and it reports PASS
 *   notify-fail      a notify callback failing pre-dump: the dump returns
 *                    its value and the process runs on
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef LIBCRIU_SYSTEM_HEADER
#include <criu/criu.h> /* criu's own (Debian's libcriu-dev): the API as criu declares it */
#else
#include "criu.h"
#endif

static const char *cryo, *prog, *tmp, *variant;
static int failed;

static void report(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (!fmt) {
		printf("PASS libcriu:%s/%s\n", variant, name);
	} else {
		printf("FAIL libcriu:%s/%s: ", variant, name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
		failed = 1;
	}
	fflush(stdout);
}

static int gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && (p[2] == 'Z' || p[2] == 'X');
}

static pid_t ppid_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

static int wait_gone(pid_t pid, int seconds)
{
	int i;

	for (i = 0; i < seconds * 20; i++) {
		if (gone(pid))
			return 1;
		usleep(50000);
	}
	return 0;
}

/* Starts anon_mem as a daemon in a session of its own; returns its PID. */
static pid_t start_prog(const char *tag, char *outfile, size_t outlen)
{
	char pidfile[512];
	pid_t pid, daemon_pid = -1;
	int st, fd;
	FILE *f;

	snprintf(pidfile, sizeof(pidfile), "%s/%s.pid", tmp, tag);
	snprintf(outfile, outlen, "%s/%s.out", tmp, tag);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid();
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(prog, prog, "--pidfile", pidfile, "--outfile", outfile, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	f = fopen(pidfile, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &daemon_pid) != 1)
		daemon_pid = -1;
	fclose(f);
	return daemon_pid;
}

static int open_imgdir(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -1;
	return open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
}

static int says_pass(const char *outfile)
{
	char line[256];
	FILE *f = fopen(outfile, "r");
	int pass = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strcmp(line, "PASS\n") == 0 || strcmp(line, "PASS") == 0)
			pass = 1;
	fclose(f);
	return pass;
}

/* ---- notifications ---- */

static char seen[256];
static int fail_at_pre_dump;

static int notify_cb(char *action, criu_notify_arg_t na)
{
	(void)na;
	if (strlen(seen) + strlen(action) + 2 < sizeof(seen)) {
		strcat(seen, action);
		strcat(seen, " ");
	}
	if (fail_at_pre_dump && strcmp(action, "pre-dump") == 0)
		return -EPERM;
	return 0;
}

/* ---- the checks ---- */

static void check_version(void)
{
	/*
	 * cryo's VERSION answer carries a gitid ("cryo-X.Y.Z"), which
	 * libcriu counts as the next minor release (runc's rule).
	 */
	int expect = CRIU_COMPAT_MAJOR * 10000 + (CRIU_COMPAT_MINOR + 1) * 100;
	int v = criu_get_version(), at, above;

	if (v != expect) {
		report("version", "criu_get_version() = %d, expected %d", v, expect);
		return;
	}
	at = criu_check_version(expect);
	above = criu_check_version(expect + 1);
	if (at != 1 || above != 0)
		report("version", "criu_check_version(%d) = %d (expected 1), (%d) = %d (expected 0)",
		       expect, at, expect + 1, above);
	else
		report("version", NULL);
}

/* `CRYO check --feature NAME` says yes */
static bool feature_on(const char *name)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "'%s' check --feature %s >/dev/null 2>&1", cryo, name);
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void check_features(void)
{
	struct criu_feature_check f = { .mem_track = true, .lazy_pages = true, .pidfd_store = true };
	char big[sizeof(f) + 8] = { 0 };
	int ret = criu_feature_check(&f, sizeof(f)), ret2;

	ret2 = criu_feature_check((struct criu_feature_check *)big, sizeof(big));
	if (ret != 0)
		report("features", "criu_feature_check() = %d (errno %d)", ret, errno);
	else if (!f.pidfd_store || f.lazy_pages != feature_on("lazy_pages") ||
		 f.mem_track != feature_on("mem_dirty_track"))
		report("features", "pidfd_store %d (expected 1), lazy_pages %d, mem_track %d (expected "
		       "%d, %d: cryo check)", f.pidfd_store, f.lazy_pages, f.mem_track,
		       feature_on("lazy_pages"), feature_on("mem_dirty_track"));
	else if (ret2 != -EINVAL && strcmp(variant, "criulib") != 0) /* criu's: -1 */
		report("features", "a structure larger than criu.h's: %d, expected -EINVAL", ret2);
	else
		report("features", NULL);
}

static void check_check(void)
{
	int ret = criu_check();

	if (ret)
		report("check", "criu_check() = %d (errno %d)", ret, errno);
	else
		report("check", NULL);
}

static void check_no_binary(void)
{
	criu_opts *o = NULL;
	int ret, err;

	if (strcmp(variant, "criulib") == 0) {
		/* criu's libcriu only notices when the answer does not come (-ECOMM) */
		printf("SKIP libcriu:%s/no-binary: criu's libcriu reports a missing binary as -ECOMM\n", variant);
		return;
	}

	if (criu_local_init_opts(&o)) {
		report("no-binary", "criu_local_init_opts failed");
		return;
	}
	criu_local_set_service_binary(o, "/nonexistent/cryo");
	ret = criu_local_check(o);
	err = errno;
	criu_local_free_opts(o);
	if (ret != -ECONNREFUSED || err != ENOENT)
		report("no-binary", "criu_local_check() = %d errno %d, expected %d errno %d",
		       ret, err, -ECONNREFUSED, ENOENT);
	else
		report("no-binary", NULL);
}

static void check_dump_esrch(void)
{
	pid_t pid = fork();
	int dir, ret, err;

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0); /* a PID nobody has now */
	dir = open_imgdir("esrch");
	criu_set_pid(pid);
	criu_set_images_dir_fd(dir);
	ret = criu_dump();
	err = errno;
	close(dir);
	if (ret != -EBADE || err != ESRCH)
		report("dump-esrch", "criu_dump() of PID %d = %d errno %d, expected %d errno %d",
		       pid, ret, err, -EBADE, ESRCH);
	else
		report("dump-esrch", NULL);
}

static void check_dump_restore(void)
{
	char outfile[512];
	pid_t pid = start_prog("dr", outfile, sizeof(outfile)), rpid, w;
	int dir, ret, st;

	if (pid <= 0) {
		report("dump-restore", "%s did not start", prog);
		return;
	}
	dir = open_imgdir("dr");
	criu_init_opts();
	criu_set_service_binary(cryo);
	criu_set_pid(pid);
	criu_set_images_dir_fd(dir);
	criu_set_leave_running(false);
	criu_set_log_level(4);
	criu_set_log_file("dump.log");
	criu_set_notify_cb(notify_cb);
	seen[0] = 0;
	ret = criu_dump();
	if (ret != 0) {
		report("dump-restore", "criu_dump() = %d (errno %d), see %s/dr/dump.log", ret, errno, tmp);
		goto kill;
	}
	if (strcmp(seen, "pre-dump post-dump ") != 0) {
		report("dump-restore", "notifications \"%s\", expected \"pre-dump post-dump \"", seen);
		goto kill;
	}
	if (!wait_gone(pid, 10)) {
		report("dump-restore", "PID %d still runs after a dump not left running", pid);
		goto kill;
	}

	criu_init_opts();
	criu_set_service_binary(cryo);
	criu_set_images_dir_fd(dir);
	criu_set_log_level(4);
	criu_set_log_file("restore.log");
	rpid = criu_restore_child();
	if (rpid != pid) {
		report("dump-restore", "criu_restore_child() = %d (errno %d), expected PID %d, see %s/dr/restore.log",
		       rpid, errno, pid, tmp);
		if (rpid > 0)
			pid = rpid;
		goto kill;
	}
	if (ppid_of(rpid) != getpid()) {
		report("dump-restore", "the restored %d has parent %d, not us (%d)", rpid, ppid_of(rpid), getpid());
		goto kill;
	}
	kill(rpid, SIGTERM);
	w = waitpid(rpid, &st, 0);
	if (w != rpid)
		report("dump-restore", "waitpid(%d): %s", rpid, strerror(errno));
	else if (!says_pass(outfile))
		report("dump-restore", "the restored program does not report PASS (%s, status 0x%x)", outfile, st);
	else
		report("dump-restore", NULL);
	close(dir);
	return;
kill:
	close(dir);
	if (!gone(pid))
		kill(pid, SIGKILL);
}

static void check_notify_fail(void)
{
	char outfile[512];
	pid_t pid = start_prog("nf", outfile, sizeof(outfile));
	int dir, ret;

	if (pid <= 0) {
		report("notify-fail", "%s did not start", prog);
		return;
	}
	dir = open_imgdir("nf");
	criu_init_opts();
	criu_set_service_binary(cryo);
	criu_set_pid(pid);
	criu_set_images_dir_fd(dir);
	criu_set_log_file("dump.log");
	criu_set_notify_cb(notify_cb);
	seen[0] = 0;
	fail_at_pre_dump = 1;
	ret = criu_dump();
	fail_at_pre_dump = 0;
	close(dir);
	if (ret != -EPERM)
		report("notify-fail", "criu_dump() = %d, expected the callback's %d", ret, -EPERM);
	else if (gone(pid))
		report("notify-fail", "PID %d is gone after a dump that failed before the freeze", pid);
	else if (kill(pid, SIGTERM) || !wait_gone(pid, 20) || !says_pass(outfile))
		report("notify-fail", "the program does not report PASS after the failed dump (%s)", outfile);
	else
		report("notify-fail", NULL);
	if (!gone(pid))
		kill(pid, SIGKILL);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s CRYO PROG TMPDIR VARIANT\n", argv[0]);
		return 2;
	}
	cryo = argv[1];
	prog = argv[2];
	tmp = argv[3];
	variant = argv[4];

	if (criu_init_opts() || criu_set_service_binary(cryo)) {
		printf("FAIL libcriu:%s/init: criu_init_opts\n", variant);
		return 1;
	}
	check_version();
	check_features();
	check_check();
	check_no_binary();
	check_dump_esrch();
	check_dump_restore();
	check_notify_fail();
	criu_free_opts();
	return failed;
}
