/* --in-new-ns: the test starts in namespaces of its own (the runner's "ns" variant,
 * criu zdtm's "ns" flavour).
 *
 * The launcher unshares PID, mount, network, IPC, UTS and cgroup
 * namespaces; its next child is PID 1 of the new PID namespace.  That child
 * makes the mount tree private (a peer of the runner's mounts can't be
 * restored), mounts the namespace's own proc on /proc, brings lo up and
 * names the host.  Then it forks the test proper and stays as a small init,
 * as zdtm's ns_init does: the test keeps the semantics of an ordinary
 * process (signals with default actions, orphans going to a reaper that
 * waits for them), while the root of the dumped tree is the init, as a
 * container's is.  The init forwards SIGTERM to the test, reaps orphans, and
 * exits with the test's status once the test is gone (SIGINT, SIGHUP,
 * SIGUSR1 and SIGUSR2 go on too: runner helpers signal the root).  A test
 * that asks for a PID namespace of its own (TEST_NEW_PIDNS) is that init
 * itself, as
 * without --in-new-ns.
 *
 * --in-new-userns (the "uns" variant, zdtm's "uns" flavour): the same
 * namespaces, owned by a new user namespace that maps 0 100000 65536 (uid
 * and gid), the test root inside.  The maps are written by a helper that
 * stays outside (a process can't map other ids than its own from inside),
 * as unshare(1) does.  The new mount namespace is then a copy whose
 * mounts are locked (MNT_LOCKED: they can't be unmounted one by one from
 * inside), so the trimming happens first, in a mount namespace of the
 * runner's user namespace, and the init mounts its proc over the locked
 * one (a user namespace may mount proc only where one is fully visible). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ns.h"
#include "zdtmtst.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define TEST_NS_FLAGS                                                          \
	(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |            \
	 CLONE_NEWUTS | CLONE_NEWCGROUP)
#define TEST_NS_HOSTNAME "cryo-ns-test"

static void trim_mounts(const char *const *keep, bool proc_subs);

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The paths the test needs in its mount namespace (mount_needed) */
struct keep_paths {
	char cwd[PATH_MAX], exe[PATH_MAX], outdir[PATH_MAX];
	const char *list[6];
};

static void keep_paths(struct keep_paths *k, const char *outfile)
{
	ssize_t l;

	if (!getcwd(k->cwd, sizeof(k->cwd)))
		k->cwd[0] = '\0';
	l = readlink("/proc/self/exe", k->exe, sizeof(k->exe) - 1);
	k->exe[l > 0 ? l : 0] = '\0';
	k->outdir[0] = '\0';
	if (outfile) {
		snprintf(k->outdir, sizeof(k->outdir), "%s", outfile);
		char *slash = strrchr(k->outdir, '/');
		if (slash)
			*slash = '\0';
	}
	k->list[0] = k->cwd;
	k->list[1] = k->exe;
	k->list[2] = k->outdir;
	k->list[3] = "/tmp";
	k->list[4] = "/var/tmp";
	k->list[5] = NULL;
}

/* --in-new-userns: the files the test writes (its outfile, the pidfile's
 * and its working directory) become the ids that are root inside: an id
 * the user namespace doesn't map has no capability over its files. */
static int hand_files_to_root_inside(const char *outfile, const char *pidfile)
{
	char dir[PATH_MAX];
	int fd;

	if (outfile) {
		fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || fchown(fd, TEST_USERNS_HOST_ID, TEST_USERNS_HOST_ID)) {
			perror("--in-new-userns: giving the outfile to the root inside");
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	if (pidfile) {
		snprintf(dir, sizeof(dir), "%s", pidfile);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (slash && chown(dir, TEST_USERNS_HOST_ID, TEST_USERNS_HOST_ID)) {
			perror("--in-new-userns: giving the pidfile's directory to the root inside");
			return -1;
		}
	}
	if (chown(".", TEST_USERNS_HOST_ID, TEST_USERNS_HOST_ID)) {
		perror("--in-new-userns: giving the working directory to the root inside");
		return -1;
	}
	return 0;
}

/* unshare(CLONE_NEWUSER | @flags), the maps written by a helper that stays
 * in the runner's user namespace; then root's ids inside. */
static int enter_userns(int flags)
{
	static const char map[] = "0 " TEST_USERNS_HOST_ID_STR " 65536\n";
	pid_t self = getpid(), h;
	int p[2], st = 0;
	char c = 'x';

	if (pipe2(p, O_CLOEXEC)) {
		perror("--in-new-userns: pipe2");
		return -1;
	}
	h = fork();
	if (h < 0) {
		perror("--in-new-userns: fork of the map writer");
		return -1;
	}
	if (!h) {
		char path[64];

		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)self);
		if (write_text(path, map)) {
			perror("--in-new-userns: writing uid_map");
			_exit(3);
		}
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)self);
		if (write_text(path, map)) {
			perror("--in-new-userns: writing gid_map");
			_exit(4);
		}
		_exit(0);
	}
	close(p[0]);
	/* the kernel makes the user namespace first: it owns the others */
	if (unshare(CLONE_NEWUSER | flags)) {
		perror("--in-new-userns: unshare(user, PID, mount, network, IPC, UTS, cgroup "
		       "namespaces)");
		close(p[1]);
		waitpid(h, &st, 0);
		return -1;
	}
	if (write(p[1], &c, 1) != 1 || waitpid(h, &st, 0) != h || !WIFEXITED(st) ||
	    WEXITSTATUS(st)) {
		fprintf(stderr, "--in-new-userns: the helper could not write the maps (status %#x)\n",
			st);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	/* Root inside.  The launcher's host ids (0) are unmapped there: the
	 * kernel counts the change as one from an ordinary uid to the
	 * namespace's root, so the capabilities stay. */
	if (setgroups(0, NULL) || setresgid(0, 0, 0) || setresuid(0, 0, 0)) {
		perror("--in-new-userns: taking root's ids in the new user namespace");
		return -1;
	}
	/* the id change made it non-dumpable: /proc/PID would stay the host
	 * root's */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return 0;
}

int test_ns_unshare(bool userns, const char *outfile, const char *pidfile)
{
	struct keep_paths k;

	if (!userns) {
		if (unshare(TEST_NS_FLAGS)) {
			perror("--in-new-ns: unshare(PID, mount, network, IPC, UTS, cgroup namespaces)");
			return -1;
		}
		return 0;
	}
	if (hand_files_to_root_inside(outfile, pidfile))
		return -1;
	/* trimmed here, where the mounts aren't locked yet */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		perror("--in-new-userns: a mount namespace to trim");
		return -1;
	}
	keep_paths(&k, outfile);
	trim_mounts(k.list, true);
	return enter_userns(TEST_NS_FLAGS);
}

static int lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int ret = -1, sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sk < 0)
		return -1;
	if (!ioctl(sk, SIOCGIFFLAGS, &ifr)) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(sk, SIOCSIFFLAGS, &ifr);
	}
	close(sk);
	return ret;
}

/* Is @mp the mount point of a mount a test needs: the root, /sys and /dev
 * with what is under them, and the mounts holding one of @keep's paths? */
static bool mount_needed(const char *mp, const char *const *keep)
{
	static const char *const trees[] = { "/sys", "/dev", NULL };
	size_t n = strlen(mp);

	if (!strcmp(mp, "/"))
		return true;
	for (int i = 0; trees[i]; i++) {
		size_t t = strlen(trees[i]);
		if (!strncmp(mp, trees[i], t) && (mp[t] == '/' || !mp[t]))
			return true;
	}
	for (int i = 0; keep[i]; i++)
		if (!strncmp(keep[i], mp, n) && (keep[i][n] == '/' || !keep[i][n]))
			return true;
	return false;
}

/* mountinfo's octal escapes (\040 for a space) decoded in place */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

/* The new mount namespace is a copy of the runner's, with whatever other
 * programs on the machine had mounted at that moment (another test's
 * tmpfs, a bound network namespace...).  The dump records each of those as
 * a bind of the host's path, and the restore fails once one is gone: keep
 * only what the test needs, as zdtm gives a test a root of its own. */
static void trim_mounts(const char *const *keep, bool proc_subs)
{
	char (*mps)[256] = NULL, line[4096];
	int nr = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f) {
		test_msg("--in-new-ns: /proc/self/mountinfo: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char mp[256];
		void *m;

		if (sscanf(line, "%*d %*d %*s %*s %255s", mp) != 1)
			continue;
		m = realloc(mps, (nr + 1) * sizeof(*mps));
		if (!m)
			break;
		mps = m;
		unescape(mp);
		snprintf(mps[nr++], sizeof(*mps), "%s", mp);
	}
	fclose(f);
	/* children before parents: mountinfo lists parents first */
	for (int i = nr - 1; i >= 0; i--) {
		if (!strncmp(mps[i], "/proc", 5) && (mps[i][5] == '/' || !mps[i][5])) {
			/* /proc goes as a whole below; with a user namespace
			 * it stays, under the new one, without what is on it */
			if (!proc_subs || !mps[i][5])
				continue;
		} else if (mount_needed(mps[i], keep)) {
			continue;
		}
		if (umount2(mps[i], MNT_DETACH) && errno != EINVAL && errno != ENOENT)
			test_msg("--in-new-ns: umount2(%s): %s", mps[i], strerror(errno));
	}
	free(mps);
}

int test_ns_setup(const char *outfile)
{
	struct keep_paths k;

	/* The copy of the runner's mount tree may have mounts shared with it:
	 * make them all private before anything is mounted here. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		fail_errno("--in-new-ns: making the mount tree private");
		return -1;
	}
	keep_paths(&k, outfile);
	/* (with a user namespace: trimmed before, all locked now) */
	trim_mounts(k.list, false);
	/* proc shows the PID namespace of whoever mounts it: this one's, from
	 * its init.  The runner's proc (and what is mounted on it) goes; a
	 * locked one (user namespace) stays below, EINVAL. */
	if (umount2("/proc", MNT_DETACH) && errno != EINVAL) {
		fail_errno("--in-new-ns: umount2(/proc)");
		return -1;
	}
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		fail_errno("--in-new-ns: mounting the PID namespace's proc on /proc");
		return -1;
	}
	if (lo_up()) {
		fail_errno("--in-new-ns: bringing lo up");
		return -1;
	}
	if (sethostname(TEST_NS_HOSTNAME, strlen(TEST_NS_HOSTNAME))) {
		fail_errno("--in-new-ns: sethostname");
		return -1;
	}
	return 0;
}

/* Signals the runner and its helpers send to the root (SIGTERM for the
 * verdict, SIGUSR1 for predump.py's steps...): passed on to the test. */
static const int init_fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };
#define NR_FWD (int)(sizeof(init_fwd) / sizeof(init_fwd[0]))
static volatile sig_atomic_t init_pending[NR_FWD];

static void init_on_fwd(int sig)
{
	for (int i = 0; i < NR_FWD; i++)
		if (init_fwd[i] == sig)
			init_pending[i] = 1;
}

static void init_on_chld(int sig)
{
	/* only wakes sigsuspend() */
}

/* The init's life: reap, pass signals on, leave with the test's status. */
static void __attribute__((noreturn)) init_loop(pid_t test)
{
	struct sigaction fwd = { .sa_handler = init_on_fwd };
	struct sigaction chld = { .sa_handler = init_on_chld, .sa_flags = SA_NOCLDSTOP };
	sigset_t block, wait;

	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	for (int i = 0; i < NR_FWD; i++)
		sigaddset(&block, init_fwd[i]);
	sigprocmask(SIG_BLOCK, &block, &wait);
	sigemptyset(&fwd.sa_mask);
	sigemptyset(&chld.sa_mask);
	for (int i = 0; i < NR_FWD; i++)
		if (sigaction(init_fwd[i], &fwd, NULL)) {
			kill(test, SIGKILL);
			_exit(1);
		}
	if (sigaction(SIGCHLD, &chld, NULL)) {
		kill(test, SIGKILL);
		_exit(1);
	}
	sigdelset(&wait, SIGCHLD);
	for (int i = 0; i < NR_FWD; i++)
		sigdelset(&wait, init_fwd[i]);
	for (;;) {
		int status;
		pid_t p;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != test)
				continue;	/* an orphan */
			_exit(WIFEXITED(status) ? WEXITSTATUS(status)
						: 128 + WTERMSIG(status));
		}
		if (p < 0 && errno == ECHILD)
			_exit(1);
		for (int i = 0; i < NR_FWD; i++)
			if (init_pending[i]) {
				init_pending[i] = 0;
				kill(test, init_fwd[i]);
			}
		/* a checkpoint may interrupt it: the loop goes round again */
		sigsuspend(&wait);
	}
}

void test_ns_init(int *ready_fd)
{
	pid_t test = fork();

	if (test < 0) {
		fail_errno("--in-new-ns: fork of the test from its init");
		test_exit(1);
	}
	if (test == 0)
		return;
	/* The launcher learns of a test that dies in its setup from the EOF
	 * of the ready pipe: the init must not hold it open. */
	if (*ready_fd >= 0) {
		close(*ready_fd);
		*ready_fd = -1;
	}
	/* a session led from outside the PID namespace has no ID inside it
	 * (cryo refuses it): the init leads its own, as a container's does */
	if (setsid() < 0) {
		kill(test, SIGKILL);
		_exit(1);
	}
	prctl(PR_SET_NAME, "test-ns-init", 0, 0, 0);
	init_loop(test);
}
