/* Life cycle, options and verdicts of a test program (see zdtmtst.h). */
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ns.h"
#include "zdtmtst.h"

unsigned test_flags;
const char *test_doc;
volatile sig_atomic_t test_sig_received;

static const char *prog_name = "test";
static char *opt_pidfile, *opt_outfile;
/* TEST_NEW_PIDNS: the init's PID as the runner knows it, read at start
 * from /proc (still the runner's: the test may mount its own later) */
static pid_t host_pid;

static pid_t pid_from_runners_proc(void)
{
	char link[32];
	ssize_t l = readlink("/proc/self", link, sizeof(link) - 1);
	if (l <= 0)
		return -1;
	link[l] = '\0';
	return atoi(link);
}
static bool opt_no_daemon;
static bool opt_ns;		/* --in-new-ns: namespaces of its own (ns.c) */
static bool opt_uns;		/* --in-new-userns: the same, owned by a user namespace */
static struct test_option *extra_opts;
static int ready_fd = -1;	/* child -> launcher: "ready" byte */
static bool daemonized;
static int nr_failures;
static bool passed;
static char ready_token[33];	/* hex, written to the outfile by test_daemon */
static struct fd_snap stdio_snap[3];

void test_register_option(struct test_option *opt)
{
	opt->next = extra_opts;
	extra_opts = opt;
}

/* ---- output ---------------------------------------------------------- */

/* Append one line to the outfile (or stderr without one).  Opened per line,
 * so no fd stays open across a checkpoint; one write(), so lines of
 * concurrent processes/threads do not interleave. */
static void out_line(const char *line)
{
	int fd = -1;

	if (opt_outfile)
		fd = open(opt_outfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (write(STDERR_FILENO, line, strlen(line)) < 0) {
			/* nowhere left to report */
		}
		return;
	}
	if (write(fd, line, strlen(line)) < 0) {
		/* nothing better to do */
	}
	close(fd);
}

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	char buf[4096];
	struct timespec ts;
	int n;

	/* the raw call: a test may have unmapped its vDSO (mem_no_vdso) */
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
	n = snprintf(buf, sizeof(buf), "%s%02ld:%02ld:%02ld.%03ld %d: ", prefix,
		     (long)(ts.tv_sec / 3600) % 24, (long)(ts.tv_sec / 60) % 60,
		     (long)ts.tv_sec % 60, ts.tv_nsec / 1000000L, (int)getpid());
	if (n < 0 || n >= (int)sizeof(buf))
		n = 0;
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	n = strlen(buf);
	buf[n++] = '\n';
	buf[n] = 0;
	out_line(buf);
}

void test_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("# ", fmt, ap);
	va_end(ap);
}

void __fail(const char *file, int line, const char *fmt, ...)
{
	char buf[4096], msg[3800];
	va_list ap;

	nr_failures++;
	while (!strncmp(file, "../", 3))	/* meson builds with relative paths */
		file += 3;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(buf, sizeof(buf), "FAIL: %s:%d: %s\n", file, line, msg);
	out_line(buf);
}

const char *test_pidfile(void)
{
	return opt_pidfile;
}

const char *test_outfile(void)
{
	return opt_outfile;
}

bool test_ns(void)
{
	return opt_ns;
}

bool test_uns(void)
{
	return opt_uns;
}

int test_failures(void)
{
	return nr_failures;
}

/* The token test_daemon() wrote first into the outfile; "" if none. */
static void read_first_token(char *tok, size_t size)
{
	char buf[8192];
	const char *p;
	ssize_t n;
	int fd;

	tok[0] = 0;
	fd = open(opt_outfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strstr(buf, "ready token=");
	if (!p)
		return;
	p += strlen("ready token=");
	snprintf(tok, size, "%.*s", (int)strcspn(p, " \n"), p);
}

void pass(void)
{
	if (opt_outfile && ready_token[0]) {
		char tok[64];

		read_first_token(tok, sizeof(tok));
		if (strcmp(tok, ready_token)) {
			fail("memory not preserved: ready token in memory is %s, the "
			     "outfile recorded %s (was the program restarted instead "
			     "of restored?)", ready_token, tok[0] ? tok : "none");
			return;
		}
	}
	if (nr_failures) {
		test_msg("pass() called after %d failure(s): ignored", nr_failures);
		return;
	}
	if (passed)
		return;
	passed = true;
	out_line("PASS\n");
}

int test_verdict(void)
{
	if (!nr_failures)
		pass();
	return nr_failures ? 1 : 0;
}

void test_exit(int code)
{
	exit(code);
}

/* ---- arguments ------------------------------------------------------- */

static void usage(FILE *f)
{
	struct test_option *o;

	fprintf(f, "usage: %s --pidfile FILE --outfile FILE [--no-daemon]", prog_name);
	for (o = extra_opts; o; o = o->next)
		fprintf(f, " %s--%s%s%s", o->required ? "" : "[", o->name,
			o->type == TOPT_BOOL ? "" : " VALUE", o->required ? "" : "]");
	fprintf(f, "\n");
	if (test_doc)
		fprintf(f, "%s\n", test_doc);
	fprintf(f, "  --pidfile FILE  written (pid of the test) once its state is built\n"
		   "  --outfile FILE  receives messages and the verdict (PASS / FAIL: ...)\n"
		   "  --no-daemon     do not fork; the pid is this process's own\n"
		   "  --in-new-ns     start in new PID, mount, network, IPC, UTS and cgroup\n"
		   "                  namespaces, under a small init (the pidfile names it)\n"
		   "  --in-new-userns as --in-new-ns, the namespaces owned by a new user\n"
		   "                  namespace (maps 0 100000 65536), the test root there\n");
	for (o = extra_opts; o; o = o->next)
		fprintf(f, "  --%-14s %s\n", o->name, o->doc ? o->doc : "");
}

static int set_extra(struct test_option *o, const char *val)
{
	char *end;
	long v;

	o->seen = true;
	switch (o->type) {
	case TOPT_STRING:
		*(char **)o->ptr = (char *)val;
		return 0;
	case TOPT_BOOL:
		*(bool *)o->ptr = true;
		return 0;
	case TOPT_INT:
	case TOPT_UINT:
		errno = 0;
		v = strtol(val, &end, 0);
		if (errno || *end || end == val || v > INT_MAX || v < INT_MIN ||
		    (o->type == TOPT_UINT && v < 0))
			return -1;
		if (o->type == TOPT_INT)
			*(int *)o->ptr = (int)v;
		else
			*(unsigned *)o->ptr = (unsigned)v;
		return 0;
	}
	return -1;
}

static void parse_args(int argc, char **argv)
{
	struct test_option *o;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *eq;
		size_t nlen;

		if (strncmp(a, "--", 2)) {
			fprintf(stderr, "%s: unexpected argument '%s'\n", prog_name, a);
			usage(stderr);
			exit(2);
		}
		a += 2;
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		if (!strcmp(a, "help")) {
			usage(stdout);
			exit(0);
		}
		if (nlen == 9 && !strncmp(a, "no-daemon", nlen)) {
			opt_no_daemon = true;
			continue;
		}
		if (nlen == 9 && !strncmp(a, "in-new-ns", nlen)) {
			opt_ns = true;
			continue;
		}
		if (nlen == 13 && !strncmp(a, "in-new-userns", nlen)) {
			opt_ns = opt_uns = true;
			continue;
		}
		for (o = extra_opts; o; o = o->next)
			if (strlen(o->name) == nlen && !strncmp(a, o->name, nlen))
				break;
		bool is_pidfile = nlen == 7 && !strncmp(a, "pidfile", 7);
		bool is_outfile = nlen == 7 && !strncmp(a, "outfile", 7);
		if (!o && !is_pidfile && !is_outfile) {
			fprintf(stderr, "%s: unknown option '%s'\n", prog_name, argv[i]);
			usage(stderr);
			exit(2);
		}
		if (o && o->type == TOPT_BOOL) {
			set_extra(o, "1");
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "%s: %s needs a value\n", prog_name, argv[i]);
			exit(2);
		}
		if (is_pidfile)
			opt_pidfile = (char *)val;
		else if (is_outfile)
			opt_outfile = (char *)val;
		else if (set_extra(o, val)) {
			fprintf(stderr, "%s: bad value '%s' for --%s\n", prog_name, val, o->name);
			exit(2);
		}
	}
	for (o = extra_opts; o; o = o->next)
		if (o->required && !o->seen) {
			fprintf(stderr, "%s: --%s is required\n", prog_name, o->name);
			usage(stderr);
			exit(2);
		}
}

/* ---- life cycle ------------------------------------------------------ */

static void sigterm_handler(int sig)
{
	test_sig_received = 1;
}

/* The launcher: wait until the child is ready (exit 0) or died (its status). */
static void __attribute__((noreturn)) launcher(pid_t child, int rfd)
{
	char c;
	ssize_t n;
	int status;

	do
		n = read(rfd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == 'R')
		_exit(0);
	/* The child exited (or closed the pipe) before test_daemon(). */
	if (waitpid(child, &status, 0) < 0)
		fail("setup failed: child %d lost: %s", (int)child, strerror(errno));
	else if (WIFEXITED(status))
		fail("setup failed: child %d exited with %d before test_daemon()",
		     (int)child, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fail("setup failed: child %d killed by signal %d before test_daemon()",
		     (int)child, WTERMSIG(status));
	fprintf(stderr, "%s: setup failed (see %s)\n", prog_name,
		opt_outfile ? opt_outfile : "messages above");
	_exit(1);
}

void test_init(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = sigterm_handler };
	int p[2];
	pid_t pid;

	if (argc > 0 && argv[0]) {
		const char *s = strrchr(argv[0], '/');
		prog_name = s ? s + 1 : argv[0];
	}
	parse_args(argc, argv);

	if (opt_outfile && opt_outfile[0] != '/') {
		/* absolute, so a test may chdir() */
		char cwd[PATH_MAX], *abs;

		if (getcwd(cwd, sizeof(cwd)) && asprintf(&abs, "%s/%s", cwd, opt_outfile) > 0)
			opt_outfile = abs;
	}
	if (opt_pidfile && opt_pidfile[0] != '/') {
		char cwd[PATH_MAX], *abs;

		if (getcwd(cwd, sizeof(cwd)) && asprintf(&abs, "%s/%s", cwd, opt_pidfile) > 0)
			opt_pidfile = abs;
	}

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL)) {
		perror("sigaction");
		exit(1);
	}

	if (opt_ns && opt_no_daemon) {
		fprintf(stderr, "%s: --in-new-ns needs the daemon mode (not --no-daemon)\n", prog_name);
		exit(2);
	}
	if (!opt_no_daemon) {
		if (pipe2(p, O_CLOEXEC)) {
			perror("pipe2");
			exit(1);
		}
		/* the launcher's next child is the new namespace's init */
		if (opt_ns && test_ns_unshare(opt_uns, opt_outfile, opt_pidfile))
			exit(1);
		else if (!opt_ns && (test_flags & TEST_NEW_PIDNS) && unshare(CLONE_NEWPID)) {
			perror("unshare(CLONE_NEWPID)");
			exit(1);
		}
		pid = fork();
		if (pid < 0) {
			perror("fork");
			exit(1);
		}
		if (pid > 0) {
			close(p[1]);
			launcher(pid, p[0]);
		}
		close(p[0]);
		ready_fd = p[1];
		daemonized = true;
		if (opt_ns || (test_flags & TEST_NEW_PIDNS))
			host_pid = pid_from_runners_proc();
		if (opt_ns) {
			if (test_ns_setup(opt_outfile))
				test_exit(1);
			/* the test runs under an init, unless it is one itself */
			if (!(test_flags & TEST_NEW_PIDNS))
				test_ns_init(&ready_fd);
		}
	}
	if (!(test_flags & TEST_NO_SETSID) && getsid(0) != getpid() && setsid() < 0) {
		perror("setsid");
		exit(1);
	}
	test_msg("%s: started", prog_name);
}

static void make_token(void)
{
	unsigned char r[16];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		uint64_t t = test_now_ns() ^ ((uint64_t)getpid() << 32);
		memcpy(r, &t, 8);
		memcpy(r + 8, &t, 8);
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(ready_token + 2 * i, 3, "%02x", r[i]);
}

void test_forked_child(void)
{
	if (ready_fd >= 0) {
		close(ready_fd);
		ready_fd = -1;
	}
}

static int write_pidfile(const char *path)
{
	char tmp[PATH_MAX + 8], buf[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	/* --in-new-ns: the init's (the root of the tree), which is the test's own
	 * with TEST_NEW_PIDNS */
	pid_t self = opt_ns || (test_flags & TEST_NEW_PIDNS) ? host_pid : getpid();
	if (self <= 0) {
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)self);
	if (write(fd, buf, n) != n) {
		close(fd);
		return -1;
	}
	close(fd);
	return rename(tmp, path);	/* atomic: the runner never reads half */
}

void test_daemon(void)
{
	int i;

	for (i = 0; i < 3; i++)
		fd_snap_take(i, &stdio_snap[i]);
	make_token();
	test_msg("ready token=%s", ready_token);
	if (opt_pidfile && write_pidfile(opt_pidfile)) {
		fail_errno("cannot write pidfile %s", opt_pidfile);
		test_exit(1);
	}
	if (ready_fd >= 0) {
		char c = 'R';

		if (write(ready_fd, &c, 1) != 1)
			test_msg("cannot signal the launcher: %s", strerror(errno));
		close(ready_fd);
		ready_fd = -1;
	}
}

bool test_go(void)
{
	return !test_sig_received;
}

void test_waitsig(void)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	/* Checkpoint/restore may interrupt sigsuspend(): just go round again. */
	while (!test_sig_received) {
		sigset_t wait = old;

		sigdelset(&wait, SIGTERM);
		sigsuspend(&wait);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int test_check_stdio(void)
{
	static const char *names[] = { "stdin", "stdout", "stderr" };
	int i, ret = 0;

	for (i = 0; i < 3; i++)
		if (fd_snap_check(i, &stdio_snap[i], names[i]))
			ret = -1;
	return ret;
}
