/* proc_chroot: a process that changed its root (chroot) and holds files
 * opened relative to it.
 *
 * State built before the checkpoint: the test (not chrooted, so it can still
 * reach its outfile) forks a child C that does chroot(R) for a new directory
 * R, chdir("/sub"), opens "/data" (at fd 50, offset 3), "/sub" (fd 51) and,
 * relative to its cwd, "file" (fd 52); it starts G, a child sharing its
 * root and cwd (clone with CLONE_FS).  C then waits on a pipe.
 * --unix_sk: C also binds, by absolute names inside its root, a datagram
 * socket to "/sock" (fd 53) and a stream listener to "/sub/lsock" (fd 54),
 * connects a client to it (fd 55), accepts it (fd 56), and sends "hello"
 * from the client (queued on fd 56), connects an unnamed datagram socket
 * to "/sock" (fd 57), and binds a datagram socket to "/sub/self" connected
 * to itself with "me" queued (fd 58).  After restore C checks the names
 * (getsockname, getpeername), that the socket files are inside its root and
 * nowhere else, that a new client can connect to "/sub/lsock" and a
 * datagram reach "/sock", and the queued bytes.
 * --unix_deleted (with --unix_sk): "/sock" is unlinked before the dump;
 * cryo can't tell where it was bound and must refuse.
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

static bool unix_sk, unix_deleted;
TEST_OPTION(unix_sk, bool, "bind unix sockets inside the root", 0);
TEST_OPTION(unix_deleted, bool, "unlink the datagram socket's name", 0);
static char host_lsock[512];	/* "/sub/lsock" from the test's root */

static struct stat st_root, st_data, st_sub, st_file;

static int same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static bool name_is(int fd, bool peer, const char *name)
{
	struct sockaddr_un a;
	socklen_t len = sizeof(a);
	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&a, &len))
		return false;
	return len == offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1 &&
	       !strcmp(a.sun_path, name);
}

/* the sockets bound inside the root, in C (chrooted) */
static void check_unix(char *msg, size_t size)
{
	struct stat s;
	char buf[16];
	if (!name_is(53, false, "/sock") || !name_is(54, false, "/sub/lsock") ||
	    !name_is(56, false, "/sub/lsock") || !name_is(55, true, "/sub/lsock")) {
		snprintf(msg, size, "fds 53-56 lost their names /sock, /sub/lsock");
		return;
	}
	if ((!unix_deleted && (stat("/sock", &s) || !S_ISSOCK(s.st_mode))) ||
	    stat("/sub/lsock", &s) || !S_ISSOCK(s.st_mode)) {
		snprintf(msg, size, "the socket files are not in the root: %s", strerror(errno));
		return;
	}
	ssize_t n = recv(56, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != 5 || memcmp(buf, "hello", 5)) {
		snprintf(msg, size, "fd 56: the queued bytes: %zd", n);
		return;
	}
	if (send(56, "back", 4, 0) != 4 || recv(55, buf, sizeof(buf), 0) != 4 ||
	    memcmp(buf, "back", 4)) {
		snprintf(msg, size, "fds 55/56 are not connected to each other");
		return;
	}
	struct sockaddr_un la = { .sun_family = AF_UNIX, .sun_path = "/sub/lsock" };
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&la, sizeof(la))) {
		snprintf(msg, size, "connect to /sub/lsock: %s", strerror(errno));
		return;
	}
	int a = accept(54, NULL, NULL);
	if (a < 0 || send(c, "x", 1, 0) != 1 || recv(a, buf, 1, 0) != 1 || buf[0] != 'x') {
		snprintf(msg, size, "fd 54 did not accept the new connection: %s", strerror(errno));
		return;
	}
	close(a);
	close(c);
	struct sockaddr_un from;
	socklen_t fl = sizeof(from);
	if (!name_is(58, false, "/sub/self") || !name_is(58, true, "/sub/self") ||
	    recvfrom(58, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl) != 2 ||
	    memcmp(buf, "me", 2) || strcmp(from.sun_path, "/sub/self")) {
		snprintf(msg, size, "fd 58 is not /sub/self connected to itself with \"me\" queued");
		return;
	}
	if (unix_deleted)	/* nothing to send to */
		return;
	if (!name_is(57, true, "/sock") || send(57, "57", 2, 0) != 2 ||
	    recv(53, buf, sizeof(buf), MSG_DONTWAIT) != 2 || memcmp(buf, "57", 2)) {
		snprintf(msg, size, "fd 57 is not connected to /sock (fd 53)");
		return;
	}
	struct sockaddr_un da = { .sun_family = AF_UNIX, .sun_path = "/sock" };
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (d < 0 || sendto(d, "dg", 2, 0, (struct sockaddr *)&da, sizeof(da)) != 2 ||
	    recv(53, buf, sizeof(buf), MSG_DONTWAIT) != 2 || memcmp(buf, "dg", 2)) {
		snprintf(msg, size, "a datagram to /sock did not reach fd 53: %s", strerror(errno));
		return;
	}
	close(d);
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
	if (access("/proc/self", F_OK) == 0) {
		snprintf(msg, size, "/proc is reachable: C is no longer confined to its root");
		return;
	}
	if (unix_sk)
		check_unix(msg, size);
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
		struct sockaddr_un la = { .sun_family = AF_UNIX, .sun_path = "/sub/lsock" };
		int sk = unix_sk ? socket(AF_UNIX, SOCK_DGRAM, 0) : -1;
		int l = unix_sk ? socket(AF_UNIX, SOCK_STREAM, 0) : -1;
		int cl = unix_sk ? socket(AF_UNIX, SOCK_STREAM, 0) : -1, acc = -1;
		if (!msg[0] && unix_sk && (sk < 0 || bind(sk, (struct sockaddr *)&sa, sizeof(sa)) ||
					   dup2(sk, 53) != 53 || l < 0 ||
					   bind(l, (struct sockaddr *)&la, sizeof(la)) ||
					   listen(l, 4) || dup2(l, 54) != 54 || cl < 0 ||
					   connect(cl, (struct sockaddr *)&la, sizeof(la)) ||
					   dup2(cl, 55) != 55 || (acc = accept(54, NULL, NULL)) < 0 ||
					   dup2(acc, 56) != 56 ||
					   send(55, "hello", 5, 0) != 5))
			snprintf(msg, sizeof(msg), "unix sockets in the root: %s", strerror(errno));
		struct sockaddr_un se = { .sun_family = AF_UNIX, .sun_path = "/sub/self" };
		int d = unix_sk ? socket(AF_UNIX, SOCK_DGRAM, 0) : -1;
		int me = unix_sk ? socket(AF_UNIX, SOCK_DGRAM, 0) : -1;
		if (!msg[0] && unix_sk && (d < 0 || connect(d, (struct sockaddr *)&sa, sizeof(sa)) ||
					   dup2(d, 57) != 57 || me < 0 ||
					   bind(me, (struct sockaddr *)&se, sizeof(se)) ||
					   connect(me, (struct sockaddr *)&se, sizeof(se)) ||
					   send(me, "me", 2, 0) != 2 || dup2(me, 58) != 58))
			snprintf(msg, sizeof(msg), "datagram sockets in the root: %s", strerror(errno));
		if (!msg[0] && unix_sk) {
			close(d);
			close(me);
			close(sk);
			close(l);
			close(cl);
			close(acc);
		}
		if (!msg[0] && unix_deleted && unlink("/sock"))
			snprintf(msg, sizeof(msg), "unlink /sock: %s", strerror(errno));
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
	snprintf(host_lsock, sizeof(host_lsock), "%s/sub/lsock", root);

	test_daemon();
	test_waitsig();

	if (write(ask[1], "x", 1) != 1)
		fail("asking C to check: %s", strerror(errno));
	ssize_t n = read(answer[0], msg, sizeof(msg) - 1);
	if (n <= 0)
		fail("C did not answer");
	else if (msg[0])
		fail("in C: %s", msg);
	struct stat hs;
	/* bound inside the root, and not from cryo's root */
	if (unix_sk && (stat(host_lsock, &hs) || !S_ISSOCK(hs.st_mode)))
		fail("%s is no socket file", host_lsock);
	if (unix_sk && !access("/sub/lsock", F_OK))
		fail("a file /sub/lsock appeared outside C's root");
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("C ended with status %#x", st);
	pass();
	return 0;
}
