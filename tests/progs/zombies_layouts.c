/* zombies_layouts: zombies in every layout a tree can hold them.
 *
 *   root R (session and group leader)
 *   +-- Z1   exit(7), in R's group
 *   +-- Z2   own group (setpgid(0,0)), exit(9); M, a live child of R,
 *   |        is a member of Z2's group
 *   +-- Z3   killed by SIGKILL
 *   +-- Z4   killed by SIGUSR1
 *   +-- Z5   killed by SIGABRT (no core: RLIMIT_CORE 0)
 *   +-- Z6   own session (setsid), exit(13)
 *   +-- C    live, own group; its zombie children:
 *   |   +-- CZ1  exit(3), in C's group
 *   |   +-- CZ2  own group, killed by SIGTERM
 *   |   +-- CZ3  in R's group (not its parent's), exit(11)
 *   +-- Z7   in C's group (a live sibling's), exit(21)
 *   +-- M    live, in Z2's group
 *
 * After restore every zombie must still be a zombie child of the same
 * parent, with the same exit status (waitid WNOWAIT, then the full
 * waitpid status: no core-dump flag that was not there), process group
 * (getpgid) and session (getsid). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

struct zomb {
	const char *name;
	pid_t pid, pgid, sid, ppid;
	int status;	/* as waitpid reports it */
};

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}

/* Wait (without reaping) until @pid is a zombie. */
static void wait_zombie(pid_t pid)
{
	siginfo_t si = { 0 };
	if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT))
		setup_fail("waitid(%d)", pid);
}

enum how { EXIT, KILL };

/* Fork a child that sets itself up with @setup (0: none, 'g': own group,
 * 's': own session, or a group to join) and then exits or is killed. */
static pid_t make_zombie(struct zomb *z, const char *name, int setup, pid_t join, enum how how,
			 int code)
{
	int p[2];
	if (pipe(p))
		setup_fail("pipe");
	pid_t pid = fork();
	if (pid < 0)
		setup_fail("fork");
	if (pid == 0) {
		test_forked_child();
		close(p[0]);
		if (setup == 'g')
			setpgid(0, 0);
		else if (setup == 's')
			setsid();
		else if (setup == 'j' && setpgid(0, join))
			_exit(100);
		struct rlimit rl = { 0, 0 };
		setrlimit(RLIMIT_CORE, &rl);
		signal(code, SIG_DFL);
		close(p[1]);
		if (how == KILL) {
			sigset_t s;
			sigemptyset(&s);
			sigaddset(&s, code);
			sigprocmask(SIG_UNBLOCK, &s, NULL);
			kill(getpid(), code);
			pause();
		}
		_exit(code);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) < 0)
		setup_fail("read");
	close(p[0]);
	wait_zombie(pid);
	z->name = name;
	z->pid = pid;
	z->ppid = getpid();
	z->pgid = getpgid(pid);
	z->sid = getsid(pid);
	z->status = how == KILL ? code : code << 8;
	if (z->pgid < 0 || z->sid < 0)
		setup_fail("getpgid/getsid of zombie %s", name);
	if ((setup == 'g' && z->pgid != pid) || (setup == 's' && z->sid != pid) ||
	    (setup == 'j' && z->pgid != join))
		setup_fail("zombie %s: group %d session %d", name, z->pgid, z->sid);
	return pid;
}

static int check_zombies(const char *who, struct zomb *zs, int n)
{
	int bad = 0;
	for (int i = 0; i < n; i++) {
		struct zomb *z = &zs[i];
		siginfo_t si = { 0 };
		if (waitid(P_PID, z->pid, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid != z->pid) {
			test_msg("%s: zombie %s (%d) is not a zombie child any more", who, z->name,
				 z->pid);
			bad = 1;
			continue;
		}
		int code = WIFSIGNALED(z->status) ? CLD_KILLED : CLD_EXITED;
		int val = WIFSIGNALED(z->status) ? WTERMSIG(z->status) : WEXITSTATUS(z->status);
		if (si.si_code != code || si.si_status != val) {
			test_msg("%s: zombie %s: code %d status %d, expected code %d status %d", who,
				 z->name, si.si_code, si.si_status, code, val);
			bad = 1;
		}
		if (proc_state(z->pid) != 'Z') {
			test_msg("%s: zombie %s is in state %c", who, z->name, proc_state(z->pid));
			bad = 1;
		}
		if (getpgid(z->pid) != z->pgid || getsid(z->pid) != z->sid) {
			test_msg("%s: zombie %s: group %d session %d, expected group %d session %d",
				 who, z->name, getpgid(z->pid), getsid(z->pid), z->pgid, z->sid);
			bad = 1;
		}
		int st;
		if (waitpid(z->pid, &st, 0) != z->pid || st != z->status) {
			test_msg("%s: zombie %s: wait status 0x%x, expected 0x%x", who, z->name, st,
				 z->status);
			bad = 1;
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	struct zomb zs[8];
	int nz = 0;
	test_doc = "zombies: exit codes, kill signals, groups and sessions, children of children";
	test_init(argc, argv);

	/* M: a live member of the group Z2 leads; it is told Z2's PID */
	int mp[2], ms[2];
	if (pipe(mp) || pipe(ms))
		setup_fail("pipe");
	pid_t m = fork();
	if (m == 0) {
		test_forked_child();
		close(mp[1]);
		close(ms[0]);
		pid_t g;
		if (read(mp[0], &g, sizeof(g)) != sizeof(g) || setpgid(0, g))
			_exit(100);
		close(mp[0]);
		if (write(ms[1], "x", 1) != 1)
			_exit(101);
		close(ms[1]);
		test_waitsig();
		_exit(getpgid(0) == g ? 0 : 1);
	}
	close(mp[0]);
	close(ms[1]);

	make_zombie(&zs[nz++], "Z1", 0, 0, EXIT, 7);
	/* Z2 must be alive when M joins its group */
	{
		int p[2];
		if (pipe(p))
			setup_fail("pipe");
		pid_t z2 = fork();
		if (z2 == 0) {
			test_forked_child();
			close(p[1]);
			setpgid(0, 0);
			char c;
			if (read(p[0], &c, 1) < 0)
				_exit(100);
			_exit(9);
		}
		close(p[0]);
		setpgid(z2, z2);
		if (write(mp[1], &z2, sizeof(z2)) != sizeof(z2))
			setup_fail("write");
		close(mp[1]);
		char c;
		if (read(ms[0], &c, 1) != 1)
			setup_fail("M did not join Z2's group");
		close(ms[0]);
		close(p[1]);	/* Z2 exits */
		wait_zombie(z2);
		zs[nz++] = (struct zomb){ "Z2", z2, z2, getsid(0), getpid(), 9 << 8 };
	}
	make_zombie(&zs[nz++], "Z3", 0, 0, KILL, SIGKILL);
	make_zombie(&zs[nz++], "Z4", 'g', 0, KILL, SIGUSR1);
	make_zombie(&zs[nz++], "Z5", 0, 0, KILL, SIGABRT);
	make_zombie(&zs[nz++], "Z6", 's', 0, EXIT, 13);

	int cs[2];
	if (pipe(cs))
		setup_fail("pipe");
	pid_t root_pgid = getpgid(0);
	pid_t c = fork();
	if (c == 0) {
		struct zomb czs[3];
		test_forked_child();
		close(cs[0]);
		setpgid(0, 0);
		make_zombie(&czs[0], "CZ1", 0, 0, EXIT, 3);
		make_zombie(&czs[1], "CZ2", 'g', 0, KILL, SIGTERM);
		make_zombie(&czs[2], "CZ3", 'j', root_pgid, EXIT, 11);
		if (write(cs[1], "x", 1) != 1)
			_exit(101);
		close(cs[1]);
		test_waitsig();
		_exit(check_zombies("C", czs, 3));
	}
	close(cs[1]);
	char ch;
	if (read(cs[0], &ch, 1) != 1)
		setup_fail("C did not make its zombies");
	close(cs[0]);
	make_zombie(&zs[nz++], "Z7", 'j', c, EXIT, 21);

	test_daemon();
	test_waitsig();

	if (getpgid(m) != zs[1].pid)
		fail("M (%d) is in group %d, expected Z2's %d", m, getpgid(m), zs[1].pid);
	if (check_zombies("R", zs, nz))
		fail("zombies of the root differ (see messages)");
	int st;
	kill(c, SIGTERM);
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("C (%d): its zombies differ (status 0x%x, see messages)", c, st);
	kill(m, SIGTERM);
	if (waitpid(m, &st, 0) != m || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("M (%d) failed (status 0x%x)", m, st);
	return test_verdict();
}
