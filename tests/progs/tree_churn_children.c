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
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SLOTS 12

static bool orphans;
TEST_OPTION(orphans, bool, "children come as orphans of an exiting child (subreaper)", 0);

static pid_t slot[SLOTS];

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
static void spawner(int s, pid_t root, int ready, unsigned life)
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
			spawner(s, me, p[1], life);
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

	signal(SIGCHLD, SIG_IGN);
	if (orphans && prctl(PR_SET_CHILD_SUBREAPER, 1))
		setup_fail("PR_SET_CHILD_SUBREAPER");
	for (int s = 0; s < SLOTS; s++)
		if ((slot[s] = start_slot(s, 0)) < 0)
			setup_fail("can't start slot child %d", s);
	test_daemon();	/* every slot has its child: the dumps may come */
	unsigned long rounds = 0;
	while (test_go()) {
		unsigned life = rounds * 7 % 20;
		for (int k = 0; k < 2 && !orphans; k++)
			if (churn_child((life + k * 13) % 20) < 0) {
				fail_errno("fork");
				return 1;
			}
		int s = rounds % SLOTS;
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
	for (int s = 0; s < SLOTS; s++)
		check_slot(s, slot[s], "at the end");
	for (int s = 0; s < SLOTS; s++)
		kill(slot[s], SIGKILL);
	if (rounds < 10)
		fail("only %lu rounds", rounds);
	else
		pass();
	return 0;
}
