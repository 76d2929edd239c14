/* proc_shared_files: processes sharing one descriptor table and/or one
 * fs_struct (cwd, root, umask) without being threads of one group.
 *
 *   root R
 *   +-- A   clone(CLONE_FILES | CLONE_FS): shares both with R
 *   |   +-- G   clone(CLONE_FS) by A: shares R's cwd/umask, own fd table
 *   +-- C   clone(CLONE_FILES): shares R's fd table, own cwd
 *   +-- B   fork(): shares nothing
 *
 * Before the dump, A opens a file at fd 70 (so R has it too) and writes
 * into it.  After restore, kcmp(KCMP_FILES / KCMP_FS) must say exactly who
 * shares what, and so must the effects: a descriptor R opens (fd 77)
 * appears in A and C and not in G or B; R's chdir and umask are seen by A
 * and G and not by C or B; fd 70 is still there in R with its offset. */
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
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

#define STACK (256 << 10)

static pid_t g;
static char dir[64] = "/tmp/cryo-shfs-XXXXXX";
static char file[96];

static int idle(void *arg)
{
	(void)arg;
	while (test_go())
		test_sleep_ms(5);
	return 0;
}

/* A: opens fd 70 (in the table it shares with R), makes G, idles */
static int child_a(void *arg)
{
	(void)arg;
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, 70) != 70 || write(70, "shared", 6) != 6)
		_exit(100);
	close(fd);
	char *st = malloc(STACK);
	g = clone(idle, st + STACK, CLONE_FS | SIGCHLD, NULL);
	if (g < 0)
		_exit(101);
	while (test_go())
		test_sleep_ms(5);
	kill(g, SIGTERM);
	int s;
	if (waitpid(g, &s, 0) != g || !WIFEXITED(s) || WEXITSTATUS(s))
		_exit(102);
	_exit(0);
}

static long kcmp(pid_t a, pid_t b, int type)
{
	return syscall(SYS_kcmp, a, b, type, 0, 0);
}

static bool has_fd(pid_t pid, int fd)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	return !stat(path, &st);
}

static void cwd_of(pid_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
	ssize_t n = readlink(path, buf, size - 1);
	buf[n < 0 ? 0 : n] = '\0';
}

static unsigned umask_of(pid_t pid)
{
	char path[64], line[128];
	unsigned m = ~0u;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return m;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &m) == 1)
			break;
	fclose(f);
	return m;
}

int main(int argc, char **argv)
{
	test_doc = "processes sharing a descriptor table (CLONE_FILES) and cwd/umask (CLONE_FS)";
	test_init(argc, argv);
	if (!mkdtemp(dir))
		setup_fail("mkdtemp");
	snprintf(file, sizeof(file), "%s/data", dir);
	if (chdir("/"))
		setup_fail("chdir");
	umask(022);

	/* no test_forked_child() in A or C: they share R's table, and the
	 * launcher's pipe in it is R's to close */
	char *sa = malloc(STACK), *sc = malloc(STACK);
	pid_t a = clone(child_a, sa + STACK, CLONE_FILES | CLONE_FS | SIGCHLD, NULL);
	if (a < 0)
		setup_fail("clone A");
	pid_t c = clone(idle, sc + STACK, CLONE_FILES | SIGCHLD, NULL);
	if (c < 0)
		setup_fail("clone C");
	pid_t b = fork();
	if (b == 0) {
		test_forked_child();
		idle(NULL);
		_exit(0);
	}
	for (int i = 0; i < 2000 && !has_fd(getpid(), 70); i++)
		test_sleep_ms(1);
	if (!has_fd(getpid(), 70))
		setup_fail("A did not open fd 70 in the shared table");
	pid_t kids[8];
	int nk = 0;
	for (int i = 0; i < 2000 && nk < 1; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", a, a);
		FILE *f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%d", &kids[0]) == 1)
				nk = 1;
			fclose(f);
		}
		if (!nk)
			test_sleep_ms(1);
	}
	if (!nk)
		setup_fail("A did not make G");
	g = kids[0];

	test_daemon();
	test_waitsig();

	struct {
		const char *name;
		pid_t pid;
		bool files, fs;
	} who[] = { { "A", a, true, true }, { "C", c, true, false }, { "G", g, false, true },
		    { "B", b, false, false } };
	for (unsigned i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		long rf = kcmp(getpid(), who[i].pid, KCMP_FILES);
		long rs = kcmp(getpid(), who[i].pid, KCMP_FS);
		if (rf < 0 || rs < 0)
			fail_errno("kcmp with %s (%d)", who[i].name, who[i].pid);
		else if ((rf == 0) != who[i].files || (rs == 0) != who[i].fs)
			fail("%s (%d): shares the fd table: %s (expected %s), the fs: %s (expected %s)",
			     who[i].name, who[i].pid, rf ? "no" : "yes", who[i].files ? "yes" : "no",
			     rs ? "no" : "yes", who[i].fs ? "yes" : "no");
	}
	if (lseek(70, 0, SEEK_CUR) != 6)
		fail("fd 70 is not at offset 6 (%ld)", (long)lseek(70, 0, SEEK_CUR));

	/* the effects: a new fd, a chdir, a umask */
	if (dup2(2, 77) != 77)
		fail_errno("dup2");
	if (chdir(dir))
		fail_errno("chdir %s", dir);
	umask(027);
	char real[PATH_MAX];
	if (!realpath(dir, real))
		fail_errno("realpath");
	for (unsigned i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		char cwd[PATH_MAX];
		cwd_of(who[i].pid, cwd, sizeof(cwd));
		if (has_fd(who[i].pid, 77) != who[i].files)
			fail("%s (%d): the fd R opened is %s there", who[i].name, who[i].pid,
			     who[i].files ? "not" : "also");
		if (!strcmp(cwd, real) != who[i].fs)
			fail("%s (%d): cwd %s after R's chdir to %s", who[i].name, who[i].pid, cwd,
			     real);
		unsigned m = umask_of(who[i].pid);
		if ((m == 027) != who[i].fs)
			fail("%s (%d): umask %03o after R's umask(027)", who[i].name, who[i].pid, m);
	}
	close(77);
	pid_t all[] = { a, c, b };
	for (int i = 0; i < 3; i++) {
		int st;
		kill(all[i], SIGTERM);
		if (waitpid(all[i], &st, 0) != all[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			fail("child %d ended with status 0x%x", all[i], st);
	}
	if (chdir("/"))
		fail_errno("chdir /");
	close(70);
	unlink(file);
	rmdir(dir);
	return test_verdict();
}
