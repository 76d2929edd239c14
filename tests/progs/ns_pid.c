/* ns_pid: the dumped root is the init (PID 1) of a PID namespace of its
 * own, as a container's is (TEST_NEW_PIDNS: the launcher unshares
 * CLONE_NEWPID before it forks the test).  Inside the namespace:
 *   A  a child leading its own process group, with two more threads;
 *   C  a grandchild that made its own session, orphaned before the dump
 *      (its parent B exited and was reaped): reparented to the init;
 *   Z  a child that exited with status 7 and is not reaped (a zombie).
 * On SIGTERM, after the restore, the init checks that it is PID 1 of its
 * namespace again (getpid, NSpid of /proc/self/status, pid_for_children),
 * that A and C report the same PIDs, parent, group and session, and A's
 * threads the same TIDs (gettid and NSpid of /proc/thread-self/status)
 * as before the dump, that Z is still a zombie with its status, and that
 * it reaps as init: C forks E and exits; E, orphaned, must find itself the
 * init's child (getppid() == 1) and be reaped by it.  The init also keeps
 * two blocked signals pending, one for the process (SIGUSR2) and one for
 * its thread (SIGUSR1): they come back with their values and sender (the
 * init itself, PID 1), and a POSIX timer that signals its thread
 * (SIGEV_THREAD_ID: the image must hold the TID inside, 1).
 *   --nested  one more child, N, in a PID namespace nested below the
 *             init's (must be refused at dump)
 *   --fown    a file whose signals go to the init (F_SETOWN with its PID
 *             inside, 1; cryo's fcntl sees another), another to A's first
 *             thread (F_OWNER_TID; created by the restore after the files):
 *             after the restore F_GETOWN(_EX) must give them again
 *   --fownout a file whose signals go to the runner, outside the namespace
 *             (set before the launcher forks the init, which inherits it;
 *             the owner must live: F_GETOWN gives 0 for a dead one): no PID
 *             inside to record; must be refused at dump
 *   --pidfd   the init holds a pidfd of A: after the restore its fdinfo's
 *             NSpid ends in A's PID inside, and pidfd_send_signal ends A
 *             (seen through waitid(P_PIDFD))
 *   --pidfdout a pidfd of the runner, outside the namespace (opened before
 *             the launcher forks the init): must be refused at dump
 *   --pidfc   the init unshares its PID namespace for its children and
 *             does not fork before the dump (pid_for_children differs from
 *             its own: must be refused at dump, as criu does)
 *   --nosetsid the init stays in the launcher's session, whose
 *             leader is outside the namespace (NSsid 0; must be refused
 *             at dump)
 *   --lock    the init holds a POSIX write lock on a file: after the
 *             restore a new child's F_GETLK must name the init (PID 1) as
 *             its owner (the image records the namespace's PIDs)
 *   --proc    the init also unshares its mount namespace and mounts the
 *             PID namespace's own proc on /proc, as a container's init
 *             does: after the restore /proc/self must read 1 and list the
 *             children by their PIDs inside (proc shows the namespace of
 *             whoever mounted it: the restore must mount it from inside) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NTHR 2

static bool nested;
TEST_OPTION(nested, bool, "a child in a nested PID namespace", 0);
static bool fown;
TEST_OPTION(fown, bool, "a file owned (F_SETOWN) by the init", 0);
static bool lock;
TEST_OPTION(lock, bool, "a POSIX lock held by the init", 0);
static bool fownout;
TEST_OPTION(fownout, bool, "a file owned by a process outside the namespace", 0);
static bool pidfd;
TEST_OPTION(pidfd, bool, "a pidfd of A held by the init", 0);
static bool pidfdout;
TEST_OPTION(pidfdout, bool, "a pidfd of a process outside the namespace", 0);
static bool pidfc;
TEST_OPTION(pidfc, bool, "unshare CLONE_NEWPID in the init before the dump", 0);
static bool nosetsid;
TEST_OPTION(nosetsid, bool, "stay in a session led from outside the namespace", 0);
static bool own_proc;
TEST_OPTION(own_proc, bool, "a mount namespace with the PID namespace's proc", 0);
static bool own_sys;
TEST_OPTION(own_sys, bool, "with --own_proc: a network namespace of its own, its sysfs on /sys", 0);

/* /sys, mounted in this network namespace, lists its devices only: lo */
static void check_own_sys(const char *when)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	char seen[512] = "";
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(seen) + strlen(e->d_name) + 2 < sizeof(seen)) {
			if (seen[0])
				strcat(seen, " ");
			strcat(seen, e->d_name);
		}
	if (d)
		closedir(d);
	if (strcmp(seen, "lo"))
		fail("%s: /sys/class/net lists \"%s\", not lo alone: /sys is not this network "
		     "namespace's sysfs", when, seen);
}

/* /proc, mounted in this PID namespace, names the tasks by their PIDs here */
static void check_own_proc(const char *when, pid_t child)
{
	char b[32] = "", path[64];
	ssize_t n = readlink("/proc/self", b, sizeof(b) - 1);
	if (n > 0)
		b[n] = '\0';
	if (strcmp(b, "1"))
		fail("%s: /proc/self reads \"%s\", not 1: /proc is not this PID namespace's", when, b);
	snprintf(path, sizeof(path), "/proc/%d/stat", child);
	FILE *f = fopen(path, "r");
	int pid = 0, ppid = 0;
	char state;
	if (!f || fscanf(f, "%d %*s %c %d", &pid, &state, &ppid) != 3 || pid != child || ppid != 1)
		fail("%s: %s: pid %d ppid %d, want %d and 1 (%s)", when, path, pid, ppid, child,
		     f ? "read" : strerror(errno));
	if (f)
		fclose(f);
}

struct report {
	pid_t pid, ppid, pgid, sid, nspid;
	pid_t tids[NTHR], tid_nspid[NTHR];
};

/* The last value of the NSpid line of @path: the PID in the innermost
 * namespace (the tree's), whatever namespace /proc belongs to. */
static pid_t nspid_of(const char *path)
{
	char line[256];
	pid_t last = -1;
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		char *p = line + 6, *end;
		for (;;) {
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			last = v;
			p = end;
		}
	}
	fclose(f);
	return last;
}

static pid_t nspid_of_fdinfo(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return nspid_of(path);
}

static void fill_proc(struct report *r)
{
	r->pid = getpid();
	r->ppid = getppid();
	r->pgid = getpgrp();
	r->sid = getsid(0);
	r->nspid = nspid_of("/proc/self/status");
}

static int xread(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

static int xwrite(int fd, const void *buf, size_t len)
{
	ssize_t n;
	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

/* --- A: a group leader with threads --- */
static int treq[NTHR][2], trep[2];

struct tinfo {
	int idx;
	pid_t tid, nspid;
};

static void *thread_fn(void *arg)
{
	int idx = (int)(long)arg;
	char c;
	while (xread(treq[idx][0], &c, 1) == 0) {
		struct tinfo ti = { idx, (pid_t)syscall(SYS_gettid),
				    nspid_of("/proc/thread-self/status") };
		if (xwrite(trep[1], &ti, sizeof(ti)))
			break;
	}
	return NULL;
}

static void __attribute__((noreturn)) proc_a(int req, int rep)
{
	pthread_t th[NTHR];
	if (setpgid(0, 0))
		_exit(3);
	if (pipe(trep))
		_exit(3);
	for (int i = 0; i < NTHR; i++)
		if (pipe(treq[i]) || pthread_create(&th[i], NULL, thread_fn, (void *)(long)i))
			_exit(3);
	char c;
	while (xread(req, &c, 1) == 0) {
		struct report r;
		fill_proc(&r);
		for (int i = 0; i < NTHR; i++)
			if (xwrite(treq[i][1], "r", 1))
				_exit(4);
		for (int i = 0; i < NTHR; i++) {
			struct tinfo ti;
			if (xread(trep[0], &ti, sizeof(ti)) || ti.idx < 0 || ti.idx >= NTHR)
				_exit(4);
			r.tids[ti.idx] = ti.tid;
			r.tid_nspid[ti.idx] = ti.nspid;
		}
		if (xwrite(rep, &r, sizeof(r)))
			_exit(4);
	}
	_exit(0);
}

/* --- C: an orphan in a session of its own --- */
static void __attribute__((noreturn)) proc_c(int req, int rep)
{
	char c;
	while (xread(req, &c, 1) == 0) {
		struct report r = { 0 };
		fill_proc(&r);
		if (c == 'r') {
			if (xwrite(rep, &r, sizeof(r)))
				_exit(4);
			continue;
		}
		/* 'o': leave an orphan E to the init */
		pid_t e = fork();
		if (e < 0)
			_exit(5);
		if (e == 0) {
			for (int i = 0; i < 1000 && getppid() != 1; i++)
				usleep(10000);
			struct report er = { 0 };
			fill_proc(&er);
			(void)!xwrite(rep, &er, sizeof(er));
			_exit(9);
		}
		_exit(0);
	}
	_exit(0);
}

static int same(const char *who, const struct report *a, const struct report *b, bool threads)
{
	int bad = 0;
#define CMP(f) \
	if (a->f != b->f) { \
		fail("%s: " #f " is %d after the restore, was %d", who, (int)b->f, (int)a->f); \
		bad = 1; \
	}
	CMP(pid) CMP(ppid) CMP(pgid) CMP(sid) CMP(nspid)
	for (int i = 0; threads && i < NTHR; i++) {
		CMP(tids[i]) CMP(tid_nspid[i])
	}
#undef CMP
	return bad;
}

static ino_t ns_ino(const char *name)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	return stat(path, &st) ? 0 : st.st_ino;
}

static int ask(int req, int rep, char what, struct report *r)
{
	memset(r, 0, sizeof(*r));
	return xwrite(req, &what, 1) || xread(rep, r, sizeof(*r)) ? -1 : 0;
}

int main(int argc, char **argv)
{
	int areq[2], arep[2], creq[2], crep[2], ready[2];
	struct report ra0, rc0, r;
	int st;

	test_doc = "a tree whose root is the init of its own PID namespace keeps its PIDs inside";
	test_flags |= TEST_NEW_PIDNS;
	/* test_init() makes the process a session leader unless told before
	 * it parses the options */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--nosetsid"))
			test_flags |= TEST_NO_SETSID;
		/* the runner (our parent) stays outside the namespace */
		int fd;
		if (!strcmp(argv[i], "--fownout") &&
		    ((fd = open("/dev/null", O_RDONLY)) < 0 || fcntl(fd, F_SETOWN, getppid())))
			setup_fail("F_SETOWN on /dev/null: %s", strerror(errno));
		if (!strcmp(argv[i], "--pidfdout") && syscall(SYS_pidfd_open, getppid(), 0) < 0)
			setup_fail("pidfd_open of the runner: %s", strerror(errno));
	}
	test_init(argc, argv);
	if (getpid() != 1)
		setup_fail("not the init of a new PID namespace (pid %d)", getpid());
	if (own_proc && (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
			 mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)))
		setup_fail("a mount namespace with this PID namespace's proc: %s", strerror(errno));
	if (own_sys && (!own_proc || unshare(CLONE_NEWNET) ||
			mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)))
		setup_fail("--own_sys (needs --own_proc): a network namespace with its sysfs on "
			   "/sys: %s", strerror(errno));
	if (pipe(areq) || pipe(arep) || pipe(creq) || pipe(crep) || pipe(ready))
		setup_fail("pipe: %s", strerror(errno));

	pid_t a = fork();
	if (a < 0)
		setup_fail("fork: %s", strerror(errno));
	if (a == 0) {
		test_forked_child();
		proc_a(areq[0], arep[1]);
	}
	pid_t b = fork();
	if (b < 0)
		setup_fail("fork: %s", strerror(errno));
	if (b == 0) {
		test_forked_child();
		pid_t c = fork();
		if (c < 0)
			_exit(1);
		if (c == 0) {
			if (setsid() < 0)
				_exit(2);
			(void)!xwrite(ready[1], "c", 1);
			proc_c(creq[0], crep[1]);
		}
		char x;
		_exit(xread(ready[0], &x, 1) ? 1 : 0);
	}
	if (waitpid(b, &st, 0) != b || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("the middle child %d failed (status 0x%x)", b, st);
	pid_t z = fork();
	if (z < 0)
		setup_fail("fork: %s", strerror(errno));
	if (z == 0) {
		test_forked_child();
		_exit(7);
	}
	siginfo_t si;
	if (waitid(P_PID, z, &si, WEXITED | WNOWAIT))
		setup_fail("waitid of the zombie-to-be: %s", strerror(errno));

	pid_t n = 0;
	if (nested) {
		int back = open("/proc/self/ns/pid", O_RDONLY);
		if (back < 0 || unshare(CLONE_NEWPID))
			setup_fail("unshare(CLONE_NEWPID): %s", strerror(errno));
		n = fork();
		if (n < 0)
			setup_fail("fork: %s", strerror(errno));
		if (n == 0) {
			test_forked_child();
			for (;;)
				pause();
		}
		if (setns(back, CLONE_NEWPID))
			setup_fail("setns back: %s", strerror(errno));
		close(back);
	}
	int lfd = -1;
	if (lock) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		lfd = open("ns_pid.lock", O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (lfd < 0 || fcntl(lfd, F_SETLK, &fl))
			setup_fail("locking ns_pid.lock: %s", strerror(errno));
	}
	int pfd = pidfd ? syscall(SYS_pidfd_open, a, 0) : -1;
	if (pidfd && pfd < 0)
		setup_fail("pidfd_open of A: %s", strerror(errno));
	int ofd = -1;
	if (fown) {
		ofd = open("/dev/null", O_RDONLY);
		if (ofd < 0 || fcntl(ofd, F_SETOWN, getpid()))
			setup_fail("F_SETOWN on /dev/null: %s", strerror(errno));
	}

	if (ask(areq[1], arep[0], 'r', &ra0) || ask(creq[1], crep[0], 'r', &rc0))
		setup_fail("the children did not report");
	if (ra0.pid != a || ra0.ppid != 1 || ra0.pgid != a || ra0.sid != getsid(0))
		setup_fail("A: unexpected pid %d ppid %d pgid %d sid %d", ra0.pid, ra0.ppid,
			   ra0.pgid, ra0.sid);
	if (rc0.ppid != 1 || rc0.sid != rc0.pid || rc0.pgid != rc0.pid)
		setup_fail("C: not an orphan of the init in its own session (pid %d ppid %d "
			   "pgid %d sid %d)", rc0.pid, rc0.ppid, rc0.pgid, rc0.sid);
	test_msg("A %d (threads %d %d), C %d, zombie %d", a, ra0.tids[0], ra0.tids[1],
		 rc0.pid, z);
	int tfd = -1;
	if (fown) {
		struct f_owner_ex o = { .type = F_OWNER_TID, .pid = ra0.tids[0] };
		tfd = open("/dev/null", O_RDONLY);
		if (tfd < 0 || fcntl(tfd, F_SETOWN_EX, &o))
			setup_fail("F_SETOWN_EX on /dev/null: %s", strerror(errno));
	}

	/* pending signals: queued again at restore by the task itself */
	sigset_t usr;
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	sigaddset(&usr, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr, NULL);
	union sigval sv = { .sival_int = 42 };
	siginfo_t qi = { .si_signo = SIGUSR1, .si_code = SI_QUEUE, .si_pid = getpid(),
			 .si_uid = getuid() };
	qi.si_value.sival_int = 43;
	if (sigqueue(getpid(), SIGUSR2, sv) ||
	    syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR1, &qi))
		setup_fail("queueing signals: %s", strerror(errno));
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	struct itimerspec its = { .it_value = { .tv_sec = 3600 } };
	timer_t tmr;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tmr) || timer_settime(tmr, 0, &its, NULL))
		setup_fail("a POSIX timer for the init's thread: %s", strerror(errno));

	if (own_proc)
		check_own_proc("before the dump", a);
	if (own_sys)
		check_own_sys("before the dump");
	if (pidfc && unshare(CLONE_NEWPID))
		setup_fail("unshare(CLONE_NEWPID): %s", strerror(errno));
	test_daemon();
	test_waitsig();

	if (own_proc)
		check_own_proc("after the restore", a);
	if (own_sys)
		check_own_sys("after the restore");
	if (getpid() != 1 || getppid() != 0)
		fail("the init is pid %d (parent %d) after the restore, not 1 (0)", getpid(),
		     getppid());
	pid_t me = nspid_of("/proc/self/status");
	if (me != 1)
		fail("NSpid of /proc/self/status ends in %d, not 1", me);
	/* (the namespace is a new one: its inode may or may not be the
	 * freed one's again, so it is not compared) */
	if (ns_ino("pid_for_children") == ns_ino("pid") ? pidfc : !pidfc)
		fail("pid_for_children %s the init's PID namespace", pidfc ? "is" : "differs from");
	struct itimerspec left;
	if (timer_gettime(tmr, &left) || left.it_value.tv_sec <= 3000)
		fail("the POSIX timer: %ld s left (want about 3600)", (long)left.it_value.tv_sec);
	struct timespec zero = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		siginfo_t got_si;
		int sig = sigtimedwait(&usr, &got_si, &zero);
		int want = sig == SIGUSR2 ? 42 : 43;
		if (sig != SIGUSR1 && sig != SIGUSR2)
			fail("pending signal %d of 2 is gone (sigtimedwait: %s)", i + 1,
			     strerror(errno));
		else if (got_si.si_pid != 1 || got_si.si_value.sival_int != want)
			fail("pending signal %d: from pid %d with value %d, want 1 and %d", sig,
			     got_si.si_pid, got_si.si_value.sival_int, want);
	}
	if (ask(areq[1], arep[0], 'r', &r))
		fail("A did not report after the restore");
	else
		same("A", &ra0, &r, true);
	if (ask(creq[1], crep[0], 'r', &r))
		fail("C did not report after the restore");
	else
		same("C", &rc0, &r, false);
	pid_t got = waitpid(z, &st, WNOHANG);
	if (got != z || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		fail("the zombie %d: waitpid gave %d, status 0x%x (want exit 7)", z, got, st);

	/* the init reaps orphans: C leaves E behind */
	if (ask(creq[1], crep[0], 'o', &r))
		fail("C's orphan did not report");
	else if (r.ppid != 1)
		fail("C's orphan %d has parent %d, not the init", r.pid, r.ppid);
	got = waitpid(rc0.pid, &st, 0);
	if (got != rc0.pid || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("C %d: waitpid gave %d, status 0x%x", rc0.pid, got, st);
	if (r.pid > 0) {
		got = waitpid(r.pid, &st, 0);
		if (got != r.pid || !WIFEXITED(st) || WEXITSTATUS(st) != 9)
			fail("the orphan %d: waitpid by the init gave %d, status 0x%x", r.pid, got,
			     st);
	}
	if (fown && fcntl(ofd, F_GETOWN) != 1)
		fail("the owner (F_GETOWN) of /dev/null is %d after the restore, not the init (1)",
		     fcntl(ofd, F_GETOWN));
	struct f_owner_ex to = { 0 };
	if (fown && (fcntl(tfd, F_GETOWN_EX, &to) || to.type != F_OWNER_TID ||
		     to.pid != ra0.tids[0]))
		fail("the owner of /dev/null is type %d pid %d after the restore, not A's thread "
		     "%d", to.type, to.pid, ra0.tids[0]);
	if (lock) {
		/* a new task of the namespace asks who holds the lock */
		pid_t k = fork();
		if (k == 0) {
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
			int fd = open("ns_pid.lock", O_RDWR);
			if (fd < 0 || fcntl(fd, F_GETLK, &fl))
				_exit(100);
			_exit(fl.l_type == F_UNLCK ? 101 : fl.l_pid > 99 ? 99 : fl.l_pid);
		}
		got = waitpid(k, &st, 0);
		if (got != k || !WIFEXITED(st) || WEXITSTATUS(st) != 1)
			fail("the lock on ns_pid.lock: a child's F_GETLK gives %d (1: held by the "
			     "init; 0: another; 101: not held; 100: failed)",
			     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		close(lfd);
		unlink("ns_pid.lock");
	}
	if (pidfd) {
		pid_t got_a = nspid_of_fdinfo(pfd);
		siginfo_t wi = { 0 };
		if (got_a != a)
			fail("the pidfd of A (%d) names %d after the restore", a, got_a);
		if (syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0))
			fail("pidfd_send_signal to A: %s", strerror(errno));
		else if (waitid(P_PIDFD, pfd, &wi, WEXITED))
			fail("waitid(P_PIDFD) of A: %s", strerror(errno));
		else if (wi.si_pid != a || wi.si_code != CLD_KILLED)
			fail("waitid(P_PIDFD) of A: pid %d code %d", wi.si_pid, wi.si_code);
	}
	kill(a, SIGKILL);
	waitpid(a, &st, 0);
	if (n) {
		kill(n, SIGKILL);
		waitpid(n, &st, 0);
	}
	return test_verdict();
}
