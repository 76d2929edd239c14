/* proc_chroot: a process that changed its root (chroot) and holds files
 * opened relative to it.
 *
 * State built before the checkpoint: the test (not chrooted, so it can still
 * reach its outfile) forks a child C that does chroot(R) for a new directory
 * R, chdir("/sub"), opens "/data" (at fd 50, offset 3), "/sub" (fd 51) and,
 * relative to its cwd, "file" (fd 52); it starts G, a child sharing its
 * root and cwd (clone with CLONE_FS).  C then waits on a pipe.
 * (--unix: C also binds a unix socket to "/sock" inside its root, fd 53,
 * which cryo refuses, naming it.)
 * After SIGTERM: the test asks C to check, C answers on a pipe: "/" is R
 * (same device and inode), getcwd() is "/sub", fds 50-52 are the same files
 * (inodes) with fd 50 at offset 3, "/data" and "file" open by those paths
 * inside the root and show the expected contents, "/proc" (outside R)
 * does not exist for C, and G is alive (C ends it).
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool unix_sk;
TEST_OPTION(unix_sk, bool, "bind a unix socket inside the root", 0);

static struct stat st_root, st_data, st_sub, st_file;

static int same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* in C, chrooted: empty string if all is well */
static void check(char *msg, size_t size)
{
	struct stat s;
	char buf[64], cwd[256];
	msg[0] = 0;
	if (stat("/", &s) || !same(&s, &st_root)) {
		snprintf(msg, size, "\"/\" is not the directory C changed its root to");
		return;
	}
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/sub")) {
		snprintf(msg, size, "getcwd: %.64s, expected /sub", getcwd(cwd, sizeof(cwd)) ? cwd :
			 strerror(errno));
		return;
	}
	if (fstat(50, &s) || !same(&s, &st_data) || fstat(51, &s) || !same(&s, &st_sub) ||
	    fstat(52, &s) || !same(&s, &st_file)) {
		snprintf(msg, size, "fds 50-52 are not /data, /sub and /sub/file");
		return;
	}
	if (lseek(50, 0, SEEK_CUR) != 3) {
		snprintf(msg, size, "fd 50 is at offset %ld, expected 3",
			 (long)lseek(50, 0, SEEK_CUR));
		return;
	}
	int fd = open("/data", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n != 10 || memcmp(buf, "root data\n", 10)) {
		snprintf(msg, size, "/data inside the root: %s", fd < 0 ? strerror(errno) :
			 "wrong contents");
		return;
	}
	close(fd);
	fd = open("file", O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n != 9 || memcmp(buf, "sub file\n", 9)) {
		snprintf(msg, size, "file (relative to the cwd): %s", fd < 0 ? strerror(errno) :
			 "wrong contents");
		return;
	}
	close(fd);
	if (access("/proc/self", F_OK) == 0)
		snprintf(msg, size, "/proc is reachable: C is no longer confined to its root");
}

static char g_stack[65536] __attribute__((aligned(16)));

static int g_main(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

static void put(const char *path, const char *text, struct stat *st)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fstat(fd, st))
		setup_fail("%s: %s", path, strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	test_doc = "a process that changed its root, with files opened inside it";
	test_init(argc, argv);
	char root[] = "proc_chroot.XXXXXX", path[256];
	if (!mkdtemp(root))
		setup_fail("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/sub", root);
	if (mkdir(path, 0755) || stat(root, &st_root) || stat(path, &st_sub))
		setup_fail("mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/data", root);
	put(path, "root data\n", &st_data);
	snprintf(path, sizeof(path), "%s/sub/file", root);
	put(path, "sub file\n", &st_file);

	int ask[2], answer[2], ready[2];
	if (pipe(ask) || pipe(answer) || pipe(ready))
		setup_fail("pipe: %s", strerror(errno));
	pid_t c = fork();
	if (c == 0) {
		test_forked_child();
		char msg[256] = "", b;
		if (chroot(root) || chdir("/sub"))
			snprintf(msg, sizeof(msg), "chroot %s: %s", root, strerror(errno));
		int fd = open("/data", O_RDWR);
		if (!msg[0] && (fd < 0 || dup2(fd, 50) != 50 || lseek(50, 3, SEEK_SET) != 3 ||
				dup2(open("/sub", O_RDONLY | O_DIRECTORY), 51) != 51 ||
				dup2(open("file", O_RDONLY), 52) != 52))
			snprintf(msg, sizeof(msg), "open in the root: %s", strerror(errno));
		struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/sock" };
		int sk = unix_sk ? socket(AF_UNIX, SOCK_DGRAM, 0) : -1;
		if (!msg[0] && unix_sk && (sk < 0 || bind(sk, (struct sockaddr *)&sa, sizeof(sa)) ||
					   dup2(sk, 53) != 53))
			snprintf(msg, sizeof(msg), "unix socket in the root: %s", strerror(errno));
		pid_t g = msg[0] ? -1 : clone(g_main, g_stack + sizeof(g_stack),
					       CLONE_FS | SIGCHLD, NULL);
		if (!msg[0] && g < 0)
			snprintf(msg, sizeof(msg), "clone(CLONE_FS): %s", strerror(errno));
		if (write(ready[1], msg, strlen(msg) + 1) < 0)
			_exit(2);
		if (read(ask[0], &b, 1) != 1)
			_exit(3);
		check(msg, sizeof(msg));
		if (!msg[0] && kill(g, 0))
			snprintf(msg, sizeof(msg), "G (sharing C's root) is gone");
		kill(g, SIGKILL);
		waitpid(g, NULL, 0);
		_exit(write(answer[1], msg, strlen(msg) + 1) > 0 ? 0 : 4);
	}
	char msg[256];
	if (read(ready[0], msg, sizeof(msg)) <= 0 || msg[0])
		setup_fail("child: %s", msg);

	test_daemon();
	test_waitsig();

	if (write(ask[1], "x", 1) != 1)
		fail("asking C to check: %s", strerror(errno));
	ssize_t n = read(answer[0], msg, sizeof(msg) - 1);
	if (n <= 0)
		fail("C did not answer");
	else if (msg[0])
		fail("in C: %s", msg);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("C ended with status %#x", st);
	pass();
	return 0;
}
