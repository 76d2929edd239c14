/* task_exe_deleted: a process runs a copy of its program that was deleted
 * after exec (as a program does whose package was upgraded under it).  The
 * test (the root, running the real binary so the runner knows it) copies
 * its executable next to its outfile; a child execs the copy, removes it and
 * waits.  After restore the child checks that /proc/self/exe still names
 * the deleted copy ("... (deleted)"), opens to the same contents (size,
 * nlink 0, bytes at 4096) and that the copy did not come back in the
 * directory; it exits 0 if so, and the root reports. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define ENV_MARK "TASK_EXE_DELETED_COPY"

static volatile sig_atomic_t got_term;
static void on_term(int s) { (void)s; got_term = 1; }

/* the child, running the copy: returns its exit code */
static int child_main(const char *copy)
{
	char exe0[4096], buf[4096], head0[64], head1[64];
	struct stat st0, st1;
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	signal(SIGTERM, on_term);
	if (unlink(copy))
		return 10;
	ssize_t n = readlink("/proc/self/exe", exe0, sizeof(exe0) - 1);
	if (n < 0)
		return 11;
	exe0[n] = 0;
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0 || fstat(fd, &st0) || pread(fd, head0, sizeof(head0), 4096) != sizeof(head0))
		return 12;
	close(fd);
	if (write(3, "r", 1) != 1)	/* ready */
		return 13;
	close(3);
	while (!got_term)
		sigsuspend(&old);

	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = 0;
	if (strcmp(buf, exe0)) {
		fprintf(stderr, "exe is \"%s\", expected \"%s\"\n", buf, exe0);
		return 1;
	}
	fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0 || fstat(fd, &st1) || pread(fd, head1, sizeof(head1), 4096) != sizeof(head1))
		return 2;
	if (st1.st_size != st0.st_size || st1.st_nlink || memcmp(head0, head1, sizeof(head0)))
		return 3;
	if (!access(copy, F_OK))
		return 4;
	return 0;
}

static void copy_exe(const char *path)
{
	struct stat st;
	int in = open("/proc/self/exe", O_RDONLY);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (in < 0 || out < 0 || fstat(in, &st))
		setup_fail("copy the executable: %s", strerror(errno));
	for (off_t off = 0; off < st.st_size;)
		if (sendfile(out, in, &off, st.st_size - off) <= 0)
			setup_fail("sendfile: %s", strerror(errno));
	close(in);
	close(out);
}

int main(int argc, char **argv)
{
	static const char *why[] = {
		[1] = "/proc/self/exe changed", [2] = "can't read the executable",
		[3] = "the executable is not the deleted copy (size, nlink or contents)",
		[4] = "the deleted copy is back in the directory",
	};
	char path[4096];
	int p[2], status;

	if (getenv(ENV_MARK))
		return child_main(getenv(ENV_MARK));
	test_doc = "a process whose executable was deleted after exec";
	test_init(argc, argv);
	snprintf(path, sizeof(path), "./task_exe_deleted.copy.%d", (int)getpid());
	copy_exe(path);
	if (pipe(p))
		setup_fail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], 3);
		setenv(ENV_MARK, path, 1);
		char *args[] = { path, NULL };
		execv(path, args);
		_exit(20);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		setup_fail("the child did not start (status %#x)", status);
	}
	close(p[0]);

	test_daemon();
	test_waitsig();

	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid)
		fail("waitpid: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		fail("the child running the deleted copy: status %#x (%s)", status,
		     code > 0 && code < 5 ? why[code] : "failed");
	}
	pass();
	return 0;
}
