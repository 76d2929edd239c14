/* tree_churn_children: no live child may be left out of a dump while its
 * siblings come and go.
 *
 * The root ignores SIGCHLD (its children are released by the kernel in their
 * own exit, even while the root is stopped by cryo) and, until SIGTERM, keeps
 * forking children that exit within 20 ms, and replaces its SLOTS long-lived
 * children one at a time (the new one, named "slotNN", is ready before the
 * old one is killed): so every slot always has a live child, and the newest
 * long-lived children sit among short-lived ones in the root's list of
 * children.  The kernel builds /proc/PID/task/TID/children by walking that
 * list by position: a sibling released during the read shifts the positions
 * and a live child after it is skipped.  A slot child left out of the dump is
 * not in the restored tree.
 *   --orphans  the root is a child subreaper; each round a child forks a
 *              short-lived child and the new slot child, lingers up to 20 ms
 *              and exits: both become the root's, appended to its list,
 *              while cryo may be seizing the tree (new unseized children in
 *              a later pass of cryo's walk).
 *   --timed    the race made deterministic (white-box; see the --timed
 *              section below): an orphan exits right after the read of
 *              cryo's that shows it, so its sibling is skipped.
 *   --slots=N  long-lived children (12).
 * Checks: before a slot child is replaced, and after SIGTERM for every slot,
 * the recorded PID is a live child of the root named for its slot (the
 * restored tree has it); tests/runner/children_check.py (dump_wrap) checks
 * every dump's images, --leave-running ones included, hold a live slotNN
 * process for each slot.  Bounded: about 300 forks a second, each short-lived
 * child exits within 20 ms (so about 4 of them live at a time); the
 * slot children die with the root (PR_SET_PDEATHSIG), so one left out of a
 * dump that killed the tree does not outlive it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SLOTS_MAX 16

static bool orphans;
TEST_OPTION(orphans, bool, "children come as orphans of an exiting child (subreaper)", 0);
static bool timed;
TEST_OPTION(timed, bool, "an orphan exits in step with cryo's reads (needs "
	    "CRYO_TEST_SLOW_CHILDREN)", 0);
static int slots = 12;
TEST_OPTION(slots, int, "long-lived children (at most 16)", 0);

static pid_t slot[SLOTS_MAX];

/* A slot child: named for its slot, then waits to be killed. */
static void slot_child(int s, pid_t parent, int ready)
{
	char name[16];
	/* --orphans: the spawner's exit makes the root the parent (the
	 * signal set below comes on the parent's exit) */
	for (int i = 0; orphans && getppid() != parent && i < 10000; i++)
		usleep(100);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);	/* the root is gone already */
	snprintf(name, sizeof(name), "slot%02d", s);
	prctl(PR_SET_NAME, name);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
	for (;;)
		pause();
}

/* read() through SIGTERM's handler */
static ssize_t read_all(int fd, void *buf, size_t len)
{
	ssize_t n;
	while ((n = read(fd, buf, len)) < 0 && errno == EINTR)
		;
	return n;
}

/* A child that exits within 20 ms. */
static pid_t churn_child(unsigned life)
{
	pid_t c = fork();
	if (c == 0) {
		if (life)	/* alive through some of cryo's passes */
			usleep(life * 1000);
		_exit(0);
	}
	return c;
}

/* --orphans: an intermediate child forks the short-lived children and the
 * slot child, sends the latter's PID and exits: its children become the
 * root's (a subreaper) at once, appended to its list of children. */
static void orphans_spawner(int s, pid_t root, int ready, unsigned life)
{
	churn_child(life);
	pid_t pid = fork();
	if (pid == 0)
		slot_child(s, root, ready);
	if (pid < 0 || write(ready, &pid, sizeof(pid)) != sizeof(pid))
		_exit(1);
	/* may be seized or still running when cryo lists the root */
	usleep((life + 7) % 20 * 1000);
	_exit(0);
}

static pid_t start_slot(int s, unsigned life)
{
	int p[2];
	char c;
	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid_t me = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (orphans)
			orphans_spawner(s, me, p[1], life);
		slot_child(s, me, p[1]);
	}
	close(p[1]);
	ssize_t n = -1;
	if (pid > 0 && orphans && read_all(p[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = -1;
	if (pid > 0)
		n = read_all(p[0], &c, 1);
	close(p[0]);
	if (pid > 0 && n != 1) {
		kill(pid, SIGKILL);
		return -1;
	}
	return pid;
}

/* ---- --timed: a deterministic version of the race, white-box.
 * The root (a subreaper) keeps its slot children and, one at a time, a
 * spawner child "spawner" with two children of its own: "orph-g" then
 * "orph-x".  The spawner exits as soon as cryo has seized a slot child,
 * i.e. once cryo's first listing of the root's children is done: both
 * become the root's, appended to its list, unseized, for cryo's next pass.
 * orph-g works out from the list which of cryo's 16-byte reads (with
 * CRYO_TEST_SLOW_CHILDREN) shows it, watches the root's children file with
 * inotify and exits right after that read: the kernel's next read starts by
 * position, one too far, and orph-x is not listed.  A walk that ends there
 * leaves orph-x out.  After each dump the root checks orph-x is its live
 * child, then starts the next spawner before killing it (so at any time the
 * tree has a live "spawner" or "orph-x": children_check.py --timed). */
static pid_t spawner_pid, orph_x;

static bool is_traced(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *t = strstr(buf, "\nTracerPid:");
	return t && atoi(t + 11) != 0;
}

/* Wait until the root is our parent (the spawner exited), then die with it;
 * false if another process became the parent (the root died first). */
static bool wait_orphaned(pid_t root)
{
	pid_t first = getppid(), now;
	while ((now = getppid()) != root) {
		if (now != first)
			return false;
		usleep(100);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return getppid() == root;
}

static void orph_x_child(pid_t root)
{
	prctl(PR_SET_NAME, "orph-x");
	if (!wait_orphaned(root))
		_exit(0);
	for (;;)
		pause();
}

static void orph_g_child(pid_t root)
{
	char path[64], buf[4096];
	pid_t spawner = getppid();
	prctl(PR_SET_NAME, "orph-g");
	if (!wait_orphaned(root))
		_exit(0);
	/* the spawner leaves the root's list a little after its children join */
	for (int i = 0; kill(spawner, 0) == 0 && i < 10000; i++)
		usleep(100);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", root, root);
	/* where is this process's record in the list cryo will read? */
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		_exit(0);
	buf[n] = 0;
	long off = -1, me = getpid();
	for (char *q = buf, *end; *q; q = end) {
		long v = strtol(q, &end, 10);
		if (end == q)
			break;
		if (v == me)
			off = q - buf;
		while (*end == ' ')
			end++;
	}
	if (off < 0)
		_exit(0);
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, path, IN_OPEN | IN_ACCESS) < 0)
		_exit(0);
	/* the next open is cryo's next listing; each read shows 16 bytes'
	 * worth of records (a record cut at the end is shown whole) */
	long reads = 0, want = off / 16 + 1;
	bool opened = false;
	while (reads < want) {
		char ev[4096];
		ssize_t r = read(in, ev, sizeof(ev));
		if (r <= 0)
			_exit(0);
		for (char *q = ev; q < ev + r;) {
			struct inotify_event *e = (struct inotify_event *)q;
			if (e->mask & IN_OPEN)
				opened = true;
			else if (opened && (e->mask & IN_ACCESS))
				reads++;
			q += sizeof(*e) + e->len;
		}
	}
	_exit(0);
}

static void spawner(pid_t root, int ready)
{
	prctl(PR_SET_NAME, "spawner");
	pid_t g = fork();
	if (g == 0)
		orph_g_child(root);
	pid_t x = g < 0 ? -1 : fork();
	if (x == 0)
		orph_x_child(root);
	if (x < 0 || write(ready, &x, sizeof(x)) != sizeof(x))
		_exit(1);
	/* exit once cryo has listed the root's children (it is seizing them) */
	while (!is_traced(slot[0]))
		usleep(100);
	_exit(0);
}

static int start_spawner(void)
{
	int p[2];
	pid_t x;
	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid_t me = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		spawner(me, p[1]);
	}
	close(p[1]);
	ssize_t n = pid > 0 ? read_all(p[0], &x, sizeof(x)) : -1;
	close(p[0]);
	if (n != sizeof(x)) {
		if (pid > 0)
			kill(pid, SIGKILL);
		return -1;
	}
	spawner_pid = pid;
	orph_x = x;
	return 0;
}

/* Is @pid gone or not our child any more? */
static bool gone(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	char *c = strrchr(buf, ')'), state;
	int ppid;
	return !c || sscanf(c + 2, "%c %d", &state, &ppid) != 2 || ppid != getpid() ||
	       state == 'Z' || state == 'X';
}

/* One step of --timed's loop: 0, or -1 after a fail(). */
static int timed_step(void)
{
	if (!gone(spawner_pid))
		return 0;
	/* the spawner exited in a dump: its orph-x must be ours now */
	pid_t old = orph_x;
	if (gone(old)) {
		fail("orph-x (%d) is not a live child after the dump: left out of it", old);
		return -1;
	}
	if (start_spawner()) {
		fail_errno("can't start a spawner");
		return -1;
	}
	kill(old, SIGKILL);
	return 0;
}

/* 0 if @pid is a live child of this process named for slot @s, else fail()s. */
static int check_slot(int s, pid_t pid, const char *when)
{
	char path[64], buf[512], want[16];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		fail("%s: slot %d's child %d is gone (left out of a dump?)", when, s, pid);
		return -1;
	}
	buf[n] = 0;
	char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
	char state = 0;
	int ppid = 0;
	if (!open_p || !close_p || sscanf(close_p + 2, "%c %d", &state, &ppid) != 2) {
		fail("%s: can't parse %s", when, path);
		return -1;
	}
	*close_p = 0;
	snprintf(want, sizeof(want), "slot%02d", s);
	if (strcmp(open_p + 1, want) || ppid != getpid() || state == 'Z' || state == 'X') {
		fail("%s: slot %d's child %d is \"%s\", parent %d, state %c: not our live "
		     "\"%s\" (left out of a dump, its PID reused?)", when, s, pid, open_p + 1, ppid,
		     state, want);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	test_doc = "long-lived children among short-lived ones, parent ignoring SIGCHLD";
	test_init(argc, argv);

	if (slots < 1 || slots > SLOTS_MAX)
		setup_fail("--slots=%d: 1 to %d", slots, SLOTS_MAX);
	signal(SIGCHLD, SIG_IGN);
	if ((orphans || timed) && prctl(PR_SET_CHILD_SUBREAPER, 1))
		setup_fail("PR_SET_CHILD_SUBREAPER");
	if (timed)
		orphans = false;	/* the slot children stay */
	for (int s = 0; s < slots; s++)
		if ((slot[s] = start_slot(s, 0)) < 0)
			setup_fail("can't start slot child %d", s);
	if (timed && start_spawner())
		setup_fail("can't start the spawner");
	test_daemon();	/* every slot has its child: the dumps may come */
	unsigned long rounds = 0;
	while (timed && test_go()) {
		if (timed_step())
			return 1;
		rounds++;
		usleep(10000);
	}
	while (!timed && test_go()) {
		unsigned life = rounds * 7 % 20;
		for (int k = 0; k < 2 && !orphans; k++)
			if (churn_child((life + k * 13) % 20) < 0) {
				fail_errno("fork");
				return 1;
			}
		int s = rounds % slots;
		if (check_slot(s, slot[s], "before its replacement"))
			return 1;
		pid_t n = start_slot(s, life);
		if (n < 0) {
			fail_errno("can't start a new slot child %d", s);
			return 1;
		}
		kill(slot[s], SIGKILL);
		slot[s] = n;
		rounds++;
		usleep(10000);
	}
	for (int s = 0; s < slots; s++)
		check_slot(s, slot[s], "at the end");
	if (timed)
		timed_step();
	for (int s = 0; s < slots; s++)
		kill(slot[s], SIGKILL);
	if (timed) {
		kill(spawner_pid, SIGKILL);
		kill(orph_x, SIGKILL);
	}
	if (rounds < 10)
		fail("only %lu rounds", rounds);
	else
		pass();
	return 0;
}
