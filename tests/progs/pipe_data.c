/* pipe_data: unread pipe data, buffer sizes, ends and flags in one process.
 *
 * State built before the checkpoint:
 *   A: 10000 pattern bytes written, 3000 read: 7000 left; read end
 *      O_NONBLOCK, write end blocking;
 *   B: resized to 1 MiB (F_SETPIPE_SZ) and filled to the last byte;
 *   C: 5000 bytes, write end closed: the reader must get them, then EOF;
 *   D: 3000 bytes, read end closed: only the write end is left (EPIPE);
 *   E: empty, its ends dup'd to fds 50 and 51 (close-on-exec on 51);
 *   F: a second open file description of A's read end (through
 *      /proc/self/fd), blocking, while A's own is non-blocking.
 * After SIGTERM: the data is exact (nothing lost, duplicated or reordered),
 *   the sizes, flags and ends are as they were, EOF/EPIPE where expected,
 *   and every pipe still carries new data; no other process (cryo) holds C.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MIB (1 << 20)

static void read_exact(int fd, char *buf, size_t len, const char *what)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0) {
			fail("%s: read returned %zd after %zu of %zu bytes (%s)", what, n, got, len,
			     n < 0 ? strerror(errno) : "EOF");
			return;
		}
		got += n;
	}
}

static void check_pattern(const char *buf, size_t len, uint64_t seed, size_t skip,
			  const char *what)
{
	/* bytes [skip, skip+len) of pattern @seed */
	char *want = malloc(skip + len);
	pattern_fill(want, skip + len, seed);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != want[skip + i]) {
			fail("%s: byte %zu differs (%#x, expected %#x)", what, skip + i,
			     (uint8_t)buf[i], (uint8_t)want[skip + i]);
			break;
		}
	free(want);
}

static void check_fl(int fd, int want, const char *what)
{
	int fl = fcntl(fd, F_GETFL);
	if ((fl & (O_ACCMODE | O_NONBLOCK)) != want)
		fail("%s: F_GETFL %#o, expected %#o", what, fl & (O_ACCMODE | O_NONBLOCK), want);
}

/* Processes other than this one holding pipe @ino open (cryo must keep
 * none of its copies once the restore is over). */
static int other_holders(ino_t ino)
{
	char want[64], path[512], link[128];
	int n = 0;
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)ino);
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	while (proc && (pe = readdir(proc))) {
		int pid = atoi(pe->d_name);
		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		DIR *fds = opendir(path);
		struct dirent *fe;
		while (fds && (fe = readdir(fds))) {
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fe->d_name);
			ssize_t l = readlink(path, link, sizeof(link) - 1);
			if (l > 0) {
				link[l] = 0;
				if (!strcmp(link, want)) {
					test_msg("process %d holds %s at fd %s", pid, want, fe->d_name);
					n++;
				}
			}
		}
		if (fds)
			closedir(fds);
	}
	if (proc)
		closedir(proc);
	return n;
}

static int queued(int fd)
{
	int n = -1;
	if (ioctl(fd, FIONREAD, &n))
		return -1;
	return n;
}

int main(int argc, char **argv)
{
	test_doc = "pipe data, sizes, half-closed pipes, flags";
	test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	char *buf = malloc(MIB), *rb = malloc(MIB);
	int a[2], b[2], c[2], d[2], e[2];
	if (pipe(a) || pipe(b) || pipe(c) || pipe(d) || pipe(e))
		setup_fail("pipe: %s", strerror(errno));

	pattern_fill(buf, 10000, 1);
	if (write(a[1], buf, 10000) != 10000 || read(a[0], rb, 3000) != 3000)
		setup_fail("pipe A: %s", strerror(errno));
	fcntl(a[0], F_SETFL, O_NONBLOCK);

	if (fcntl(b[1], F_SETPIPE_SZ, MIB) != MIB)
		setup_fail("F_SETPIPE_SZ 1 MiB: %s", strerror(errno));
	pattern_fill(buf, MIB, 2);
	if (write(b[1], buf, MIB) != MIB || queued(b[0]) != MIB)
		setup_fail("filling pipe B: %s", strerror(errno));

	pattern_fill(buf, 5000, 3);
	if (write(c[1], buf, 5000) != 5000)
		setup_fail("pipe C: %s", strerror(errno));
	close(c[1]);

	pattern_fill(buf, 3000, 4);
	if (write(d[1], buf, 3000) != 3000)
		setup_fail("pipe D: %s", strerror(errno));
	close(d[0]);

	if (dup2(e[0], 50) != 50 || dup3(e[1], 51, O_CLOEXEC) != 51)
		setup_fail("dup E: %s", strerror(errno));
	close(e[0]);
	close(e[1]);

	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", a[0]);
	int f = open(p, O_RDONLY);
	if (f < 0)
		setup_fail("reopen A: %s", strerror(errno));

	struct stat sa, sf;
	fstat(a[0], &sa);

	test_daemon();
	test_waitsig();

	/* A */
	check_fl(a[0], O_RDONLY | O_NONBLOCK, "A's read end");
	check_fl(a[1], O_WRONLY, "A's write end");
	check_fl(f, O_RDONLY, "A's second read description");
	if (fstat(f, &sf) || fstat(a[1], &sa) || sf.st_ino != sa.st_ino)
		fail("A's second read description is not on the same pipe as A's write end");
	if (queued(a[0]) != 7000)
		fail("A holds %d bytes, expected 7000", queued(a[0]));
	read_exact(f, rb, 2000, "A (through the second description)");
	check_pattern(rb, 2000, 1, 3000, "A");
	read_exact(a[0], rb, 5000, "A");
	check_pattern(rb, 5000, 1, 5000, "A");
	if (read(a[0], rb, 1) != -1 || errno != EAGAIN)
		fail("A is not empty and non-blocking after its 7000 bytes");
	if (write(a[1], "xyz", 3) != 3 || read(f, rb, 3) != 3 || memcmp(rb, "xyz", 3))
		fail("A does not carry new data");

	/* B */
	if (fcntl(b[0], F_GETPIPE_SZ) != MIB)
		fail("B's size is %d, expected %d", fcntl(b[0], F_GETPIPE_SZ), MIB);
	if (queued(b[0]) != MIB)
		fail("B holds %d bytes, expected %d", queued(b[0]), MIB);
	fcntl(b[1], F_SETFL, O_NONBLOCK);
	if (write(b[1], "x", 1) != -1 || errno != EAGAIN)
		fail("B is not full after restore");
	read_exact(b[0], rb, MIB, "B");
	check_pattern(rb, MIB, 2, 0, "B");

	/* C */
	struct stat sc;
	if (fstat(c[0], &sc) || other_holders(sc.st_ino))
		fail("C: another process holds pipe C open");
	read_exact(c[0], rb, 5000, "C");
	check_pattern(rb, 5000, 3, 0, "C");
	ssize_t n = read(c[0], rb, 1);
	if (n != 0)
		fail("C: no EOF after its data (read returned %zd%s%s): a write end survived", n,
		     n < 0 ? ", " : "", n < 0 ? strerror(errno) : "");

	/* D */
	check_fl(d[1], O_WRONLY, "D's write end");
	if (write(d[1], "x", 1) != -1 || errno != EPIPE)
		fail("D: writing with no reader did not fail with EPIPE");

	/* E */
	int fd50 = fcntl(50, F_GETFD), fd51 = fcntl(51, F_GETFD);
	if (fd50 != 0 || fd51 != FD_CLOEXEC)
		fail("E: FD_CLOEXEC is %d/%d, expected 0/1", fd50, fd51);
	check_fl(50, O_RDONLY, "E's read end");
	check_fl(51, O_WRONLY, "E's write end");
	if (queued(50) != 0)
		fail("E is not empty");
	if (write(51, "hello", 5) != 5 || read(50, rb, 5) != 5 || memcmp(rb, "hello", 5))
		fail("E does not carry data");
	pass();
	return 0;
}
