/* pidns_nested: processes in PID namespaces nested below the tree's (as a
 * sandbox made with `unshare -pf`, or a browser's zygote, inside a
 * container).  The root R unshares CLONE_NEWPID and forks I1, the init
 * (PID 1) of X1, and then S, a second process born in X1 (R's
 * pid_for_children stays X1: it differs from R's own namespace).  In X1:
 *   I1  calls setsid(), has a second thread;
 *   A   leads its own process group, with a second thread;
 *   B   joins A's group, and unshares CLONE_NEWPID without forking (its
 *       pid_for_children is a new namespace with no process yet);
 *   Z   exited with status 5, not reaped (a zombie of I1);
 *   --levels 3: I2, the init of X2 nested below X1 (I1 unshared and forked
 *       it, then went back), with a second thread, and its child C2
 *       leading its own group.
 * Every process and thread records, before the dump, its getpid/gettid,
 * getppid, getpgid, getsid and the levels of NSpid in /proc/self/status
 * from the tree's namespace inward (the outer levels are the host's, free
 * at restore).  On SIGTERM, after the restore, R has each check them again
 * and report; also: R's pid_for_children is X1 again (I1's namespace); B's
 * is a new namespace with no process (it reads as ENOENT) whose first
 * child is PID 1 there; Z is still I1's zombie with status 5; and I1 still
 * reaps as its namespace's init: G forks H and exits, H finds itself
 * I1's (getppid() == 1) and I1 reaps it.  Z's NSpid (read by I1 through
 * /proc/thread-self/children) must be the same at every level too.
 *   --lock    A holds a POSIX write lock on a file: after the restore B's
 *             F_GETLK names A (its PID in their namespace) as the owner
 *   --deadns  R unshares CLONE_NEWPID, forks a child that exits and is
 *             reaped: R's pid_for_children is a namespace whose init is
 *             gone (forks there fail), which cryo can't make again: the
 *             dump must refuse. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int levels = 2;
TEST_OPTION(levels, int, "PID namespace levels of the tree's tasks: 2 or 3", 0);
static bool lock;
TEST_OPTION(lock, bool, "A holds a POSIX lock (B checks its owner after the restore)", 0);
static bool deadns;
TEST_OPTION(deadns, bool, "pid_for_children of a namespace whose init exited (refused)", 0);

static int root_levels;		/* R's NSpid length: the tree's namespace is its last */
static int go[2], res[2], ready[2];

struct report {
	char who[8];
	char ok;
	char why[1024];
};

/* NSpid of @path from the tree's level inward, as text */
static void nspid_tail(const char *path, char *out, size_t len, int *nlev)
{
	char buf[4096];
	int fd = open(path, O_RDONLY), n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	*out = '\0';
	if (nlev)
		*nlev = 0;
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *l = strstr(buf, "\nNSpid:");
	if (!l)
		return;
	l += 7;
	long v[40];
	int k = 0;
	char *e;
	while (k < 40 && (v[k] = strtol(l, &e, 10), e != l)) {
		k++;
		l = e;
	}
	if (nlev)
		*nlev = k;
	for (int i = root_levels ? root_levels - 1 : 0; i < k; i++)
		snprintf(out + strlen(out), len - strlen(out), "%ld ", v[i]);
}

struct snap {
	pid_t pid, ppid, pgid, sid;
	char ns[80];
};

static void snap_take(struct snap *s)
{
	s->pid = getpid();
	s->ppid = getppid();
	s->pgid = getpgid(0);
	s->sid = getsid(0);
	nspid_tail("/proc/self/status", s->ns, sizeof(s->ns), NULL);
}

static void snap_cmp(const struct snap *a, const struct snap *b, char *why, size_t len)
{
	if (a->pid != b->pid || a->ppid != b->ppid || a->pgid != b->pgid || a->sid != b->sid ||
	    strcmp(a->ns, b->ns))
		snprintf(why + strlen(why), len - strlen(why),
			 "pid/ppid/pgid/sid/NSpid %d/%d/%d/%d/[%s] were %d/%d/%d/%d/[%s]; ", b->pid,
			 b->ppid, b->pgid, b->sid, b->ns, a->pid, a->ppid, a->pgid, a->sid, a->ns);
}

struct thr {
	pthread_t t;
	int fd[2];
	pid_t tid;
	char ns[80];
	volatile int done;
	char why[256];
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	char c;
	t->tid = syscall(SYS_gettid);
	nspid_tail("/proc/thread-self/status", t->ns, sizeof(t->ns), NULL);
	__atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
	while (read(t->fd[0], &c, 1) < 0 && errno == EINTR)
		;
	char ns[80];
	pid_t tid = syscall(SYS_gettid);
	nspid_tail("/proc/thread-self/status", ns, sizeof(ns), NULL);
	if (tid != t->tid || strcmp(ns, t->ns))
		snprintf(t->why, sizeof(t->why), "thread: tid/NSpid %d/[%s] were %d/[%s]; ", tid,
			 ns, t->tid, t->ns);
	return NULL;
}

static void thr_start(struct thr *t)
{
	if (pipe(t->fd) || pthread_create(&t->t, NULL, thr_main, t))
		_exit(20);
	while (!__atomic_load_n(&t->done, __ATOMIC_SEQ_CST))
		usleep(1000);
}

static void thr_check(struct thr *t, char *why, size_t len)
{
	if (write(t->fd[1], "c", 1) != 1 || pthread_join(t->t, NULL))
		snprintf(why + strlen(why), len - strlen(why), "thread: can't join; ");
	snprintf(why + strlen(why), len - strlen(why), "%s", t->why);
}

static void wait_go(void)
{
	char c;
	while (read(go[0], &c, 1) < 0 && errno == EINTR)
		;
}

static void report(const char *who, const char *why)
{
	struct report r = { .ok = !*why };
	snprintf(r.who, sizeof(r.who), "%s", who);
	snprintf(r.why, sizeof(r.why), "%s", why);
	if (write(res[1], &r, sizeof(r)) != sizeof(r))
		_exit(21);
}

static void say_ready(void)
{
	if (write(ready[1], "r", 1) != 1)
		_exit(22);
}

/* A plain member of a nested namespace: records, waits, checks, reports. */
static void member(const char *who, bool thread, pid_t pgid_to)
{
	struct snap a, b;
	struct thr t = { 0 };
	char why[1024] = "";
	if (pgid_to >= 0 && setpgid(0, pgid_to))
		_exit(23);
	if (lock && !strcmp(who, "A")) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open("pidns_nested.lock", O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || fcntl(fd, F_SETLK, &fl))
			_exit(32);
	}
	if (thread)
		thr_start(&t);
	snap_take(&a);
	say_ready();
	wait_go();
	snap_take(&b);
	snap_cmp(&a, &b, why, sizeof(why));
	if (thread)
		thr_check(&t, why, sizeof(why));
	report(who, why);
	for (;;)
		pause();
}

/* B: unshare without fork; after the restore the first child is PID 1 */
static void member_b(pid_t a)
{
	struct snap s0, s1;
	char why[1024] = "";
	if (setpgid(0, a) || unshare(CLONE_NEWPID))
		_exit(24);
	snap_take(&s0);
	say_ready();
	wait_go();
	snap_take(&s1);
	snap_cmp(&s0, &s1, why, sizeof(why));
	struct stat st;
	if (stat("/proc/self/ns/pid_for_children", &st) == 0 || errno != ENOENT)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "pid_for_children is not an empty new namespace (ENOENT); ");
	pid_t k = fork();
	if (k == 0)
		_exit(getpid() == 1 ? 0 : 1);
	int ws;
	if (k < 0 || waitpid(k, &ws, 0) != k || !WIFEXITED(ws) || WEXITSTATUS(ws))
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "its first child after the restore is not PID 1 of a new namespace; ");
	if (lock) {
		/* A's lock, named with A's PID as B sees it (the same namespace) */
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open("pidns_nested.lock", O_RDWR);
		if (fd < 0 || fcntl(fd, F_GETLK, &fl) || fl.l_type == F_UNLCK || fl.l_pid != a)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "A's lock: type %d owner %d (want A, %d); ", fl.l_type, fl.l_pid, a);
		if (fd >= 0)
			close(fd);
	}
	report("B", why);
	for (;;)
		pause();
}

/* I2, the init of X2 (--levels 3), and its child C2 */
static void init2(void)
{
	struct snap s0, s1;
	struct thr t = { 0 };
	char why[1024] = "";
	if (setsid() < 0)
		_exit(25);
	pid_t c2 = fork();
	if (c2 == 0)
		member("C2", false, 0);
	thr_start(&t);
	snap_take(&s0);
	say_ready();
	wait_go();
	snap_take(&s1);
	snap_cmp(&s0, &s1, why, sizeof(why));
	thr_check(&t, why, sizeof(why));
	if (getpid() != 1)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "not PID 1; ");
	report("I2", why);
	for (;;)
		pause();
}

/* NSpid (from the tree's level) of my child @inner, found through
 * /proc/thread-self/children, which lists them as /proc names them */
static void child_nspid(pid_t inner, char *out, size_t len)
{
	char path[64], list[1024], st[80];
	/* thread-self: gettid() says the TID inside, /proc names another */
	int fd = open("/proc/thread-self/children", O_RDONLY);
	int n = fd >= 0 ? read(fd, list, sizeof(list) - 1) : -1;
	if (fd >= 0)
		close(fd);
	*out = '\0';
	list[n > 0 ? n : 0] = '\0';
	for (char *p = list, *e; n > 0 && (p - list) < n; p = e) {
		long c = strtol(p, &e, 10);
		if (e == p)
			break;
		snprintf(path, sizeof(path), "/proc/%ld/status", c);
		nspid_tail(path, st, sizeof(st), NULL);
		/* the last number of the tail is its PID here */
		char want[16];
		snprintf(want, sizeof(want), "%d ", inner);
		size_t l = strlen(st), w = strlen(want);
		if (l >= w && !strcmp(st + l - w, want) && (l == w || st[l - w - 1] == ' ')) {
			snprintf(out, len, "%s", st);
			return;
		}
	}
}

/* I1, the init of X1 */
static void init1(void)
{
	struct snap s0, s1;
	struct thr t = { 0 };
	char why[1024] = "";
	if (setsid() < 0)
		_exit(26);
	pid_t a = fork();
	if (a == 0)
		member("A", true, 0);
	/* as a shell does: the group exists before B joins it */
	if (a < 0 || setpgid(a, a))
		_exit(31);
	pid_t b = fork();
	if (b == 0)
		member_b(a);
	pid_t z = fork();
	if (z == 0)
		_exit(5);
	siginfo_t si;
	if (waitid(P_PID, z, &si, WEXITED | WNOWAIT))
		_exit(27);
	if (levels >= 3) {
		int back = open("/proc/self/ns/pid", O_RDONLY);
		if (back < 0 || unshare(CLONE_NEWPID))
			_exit(28);
		pid_t i2 = fork();
		if (i2 == 0) {
			close(back);	/* not I2's to hold */
			init2();
		}
		if (i2 < 0 || setns(back, CLONE_NEWPID))
			_exit(29);
		close(back);
	}
	char z0[80], z1[80];
	child_nspid(z, z0, sizeof(z0));
	if (!*z0)
		_exit(33);
	thr_start(&t);
	snap_take(&s0);
	say_ready();
	wait_go();
	snap_take(&s1);
	snap_cmp(&s0, &s1, why, sizeof(why));
	thr_check(&t, why, sizeof(why));
	if (getpid() != 1)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "not PID 1; ");
	/* the zombie's PIDs at every level, as /proc shows them */
	child_nspid(z, z1, sizeof(z1));
	if (strcmp(z0, z1))
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "zombie's NSpid [%s] was [%s]; ", z1, z0);
	/* Z is still its zombie, with its status */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, z, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid != z ||
	    si.si_code != CLD_EXITED || si.si_status != 5)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "zombie %d: pid %d code %d status %d; ", z, si.si_pid, si.si_code,
			 si.si_status);
	/* it reaps orphans of its namespace: H, orphaned by G */
	int hp[2];
	if (pipe(hp))
		_exit(30);
	pid_t g = fork();
	if (g == 0) {
		pid_t h = fork();
		if (h == 0) {
			for (int i = 0; i < 2000 && getppid() != 1; i++)
				usleep(1000);
			_exit(getppid() == 1 ? 0 : 3);
		}
		_exit(write(hp[1], &h, sizeof(h)) == sizeof(h) ? 0 : 1);
	}
	pid_t h = 0;
	int ws;
	if (g < 0 || waitpid(g, &ws, 0) != g || read(hp[0], &h, sizeof(h)) != sizeof(h) ||
	    waitpid(h, &ws, 0) != h || !WIFEXITED(ws) || WEXITSTATUS(ws))
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "the orphan %d was not reparented to and reaped by the init; ", h);
	if (waitpid(z, &ws, 0) != z || !WIFEXITED(ws) || WEXITSTATUS(ws) != 5)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "reaping zombie %d; ", z);
	report("I1", why);
	for (;;)
		pause();
}

static ino_t ns_ino(const char *path)
{
	struct stat st;
	return stat(path, &st) ? 0 : st.st_ino;
}

int main(int argc, char **argv)
{
	test_doc = "processes in PID namespaces nested below the tree's keep their PIDs at "
		   "every level";
	test_init(argc, argv);
	char tmp[80];
	nspid_tail("/proc/self/status", tmp, sizeof(tmp), &root_levels);
	if (!root_levels)
		setup_fail("no NSpid in /proc/self/status");
	if (deadns) {
		if (unshare(CLONE_NEWPID))
			setup_fail("unshare(CLONE_NEWPID): %s", strerror(errno));
		pid_t k = fork();
		if (k == 0)
			_exit(0);
		if (k < 0 || waitpid(k, NULL, 0) != k)
			setup_fail("fork/wait of the short-lived init");
		test_daemon();
		test_waitsig();
		return test_verdict();
	}
	if (levels < 2 || levels > 3)
		setup_fail("--levels: 2 or 3");
	if (pipe(go) || pipe(res) || pipe(ready))
		setup_fail("pipe: %s", strerror(errno));
	if (unshare(CLONE_NEWPID))
		setup_fail("unshare(CLONE_NEWPID): %s", strerror(errno));
	pid_t i1 = fork();
	if (i1 == 0) {
		test_forked_child();
		init1();
	}
	/* a second process born in X1, from outside it */
	pid_t s = fork();
	if (s == 0) {
		test_forked_child();
		member("S", false, 0);
	}
	if (i1 < 0 || s < 0)
		setup_fail("fork: %s", strerror(errno));
	close(ready[1]);	/* a member gone: end of file, not a hang */
	int n = levels >= 3 ? 6 : 4;
	for (int i = 0; i < n; i++) {
		char c;
		if (read(ready[0], &c, 1) != 1)
			setup_fail("a member did not get ready");
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", i1);
	ino_t x1 = ns_ino(path);
	if (!x1 || ns_ino("/proc/self/ns/pid_for_children") != x1)
		setup_fail("pid_for_children is not I1's namespace");
	test_msg("I1 %d, S %d, %d levels", i1, s, levels);

	test_daemon();
	test_waitsig();

	if (ns_ino("/proc/self/ns/pid_for_children") != ns_ino(path))
		fail("pid_for_children is not I1's namespace after the restore");
	for (int i = 0; i < n; i++)
		if (write(go[1], "g", 1) != 1)
			fail_errno("write");
	for (int i = 0; i < n; i++) {
		struct report r;
		if (read(res[0], &r, sizeof(r)) != sizeof(r)) {
			fail("a member did not report");
			break;
		}
		if (!r.ok)
			fail("%s: %s", r.who, r.why);
	}
	/* S first: I1, the init, ends only once every process of X1 is
	 * reaped, S too */
	kill(i1, SIGKILL);
	kill(s, SIGKILL);
	waitpid(s, NULL, 0);
	waitpid(i1, NULL, 0);
	return test_verdict();
}
