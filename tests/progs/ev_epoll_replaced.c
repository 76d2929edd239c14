/* ev_epoll_replaced: epoll registrations whose fd was closed or now names
 * another file (the kernel keeps a registration until its file is freed).
 *
 * Before the checkpoint, in epoll fd 52:
 *   A (pipe p1's read end) registered at fd 50 (data 0x11), moved to fd 60
 *     and fd 50 closed;
 *   B (pipe p2's read end) registered at fd 51 (data 0x22), moved to fd 61,
 *     then fd 51 replaced by an eventfd E (FD_CLOEXEC) that is registered
 *     at 51 too (data 0x33): two registrations with fd number 51;
 *   C (pipe p3's read end) registered at fd 53 (data 0x44), kept there.
 *   The epoll fd itself is 52; a registration of D (pipe p4) made at fd
 *     54, D moved to 62, and the epoll fd dup'd onto 54 (data 0x55):
 *     fd 54 now names the epoll itself.
 * After SIGTERM: fdinfo of fd 52 lists exactly (50, 0x11, A's inode),
 *   (51, 0x22, B's), (51, 0x33, E's), (53, 0x44, C's), (54, 0x55, D's);
 *   fd 50 is closed, 51 is E with FD_CLOEXEC, 54 is the epoll; each file's
 *   readiness is reported with its own data (and only then).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

struct want {
	int tfd;
	unsigned long long data;
	ino_t ino;
	int seen;
};

static ino_t ino_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) ? 0 : st.st_ino;
}

static void reg(int ep, int fd, unsigned long long data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		setup_fail("epoll_ctl(%d): %s", fd, strerror(errno));
}

static void move(int from, int to)
{
	if (dup2(from, to) != to || close(from))
		setup_fail("dup2(%d, %d): %s", from, to, strerror(errno));
}

/* the one event ready now must carry @data */
static void expect_ready(int ep, unsigned long long data, const char *what)
{
	struct epoll_event ev[8];
	int n = epoll_wait(ep, ev, 8, 0);
	if (!data ? n != 0 : n != 1 || ev[0].data.u64 != data)
		fail("%s: %d events ready (first data 0x%llx), expected one with 0x%llx", what, n,
		     n > 0 ? (unsigned long long)ev[0].data.u64 : 0ULL, data);
}

int main(int argc, char **argv)
{
	test_doc = "epoll registrations whose fd was closed or reused";
	test_init(argc, argv);
	int p1[2], p2[2], p3[2], p4[2];
	if (pipe(p1) || pipe(p2) || pipe(p3) || pipe(p4))
		setup_fail("pipe: %s", strerror(errno));
	int ep = epoll_create1(0);
	if (ep < 0)
		setup_fail("epoll_create1: %s", strerror(errno));
	move(ep, 52);
	move(p1[0], 50);
	move(p2[0], 51);
	move(p3[0], 53);
	move(p4[0], 54);
	reg(52, 50, 0x11);
	reg(52, 51, 0x22);
	reg(52, 53, 0x44);
	reg(52, 54, 0x55);
	move(50, 60);
	if (dup2(51, 61) != 61)
		setup_fail("dup2: %s", strerror(errno));
	int e = eventfd(0, EFD_CLOEXEC);
	if (e < 0 || dup3(e, 51, O_CLOEXEC) != 51 || close(e))
		setup_fail("eventfd at 51: %s", strerror(errno));
	reg(52, 51, 0x33);
	if (dup2(54, 62) != 62 || dup2(52, 54) != 54)
		setup_fail("dup2: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	/* (inodes after the restore: pipes and eventfds get new ones) */
	struct want w[] = {
		{ 50, 0x11, ino_of(60), 0 }, { 51, 0x22, ino_of(61), 0 },
		{ 51, 0x33, ino_of(51), 0 }, { 53, 0x44, ino_of(53), 0 },
		{ 54, 0x55, ino_of(62), 0 },
	};

	/* the registrations, as the kernel lists them */
	FILE *f = fopen("/proc/self/fdinfo/52", "r");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof(line), f)) {
		int tfd;
		unsigned ev;
		unsigned long long data, ino;
		if (sscanf(line, "tfd: %d events: %x data: %llx pos:%*i ino:%llx", &tfd, &ev, &data,
			   &ino) != 4)
			continue;
		n++;
		bool ok = false;
		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
			if (w[i].tfd == tfd && w[i].data == data) {
				w[i].seen++;
				ok = w[i].ino == ino;
				if (!ok)
					fail("registration (fd %d, data 0x%llx) is of inode %llu, expected "
					     "%llu", tfd, data, ino, (unsigned long long)w[i].ino);
			}
		if (!ok)
			fail("unexpected registration: %s", line);
	}
	if (f)
		fclose(f);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (w[i].seen != 1)
			fail("registration (fd %d, data 0x%llx) seen %d times", w[i].tfd, w[i].data,
			     w[i].seen);
	if (n != 5)
		fail("%d registrations, expected 5", n);
	if (fcntl(50, F_GETFD) != -1 || errno != EBADF)
		fail("fd 50 is open, it was closed");
	if (fcntl(51, F_GETFD) != FD_CLOEXEC || ino_of(51) != w[2].ino)
		fail("fd 51 is not the eventfd with FD_CLOEXEC (flags %d)", fcntl(51, F_GETFD));
	if (ino_of(54) != ino_of(52) || fcntl(54, F_GETFD) != 0)
		fail("fd 54 is not the epoll any more");
	/* each works, on its own file */
	expect_ready(52, 0, "nothing written");
	if (write(p1[1], "a", 1) != 1)
		fail("write");
	expect_ready(52, 0x11, "A written");
	char c;
	uint64_t one = 1;
	if (read(60, &c, 1) != 1 || write(p2[1], "b", 1) != 1)
		fail("read/write");
	expect_ready(52, 0x22, "B written");
	if (read(61, &c, 1) != 1 || write(51, &one, 8) != 8)
		fail("read/write");
	expect_ready(52, 0x33, "E written");
	if (read(51, &one, 8) != 8 || write(p3[1], "c", 1) != 1)
		fail("read/write");
	expect_ready(52, 0x44, "C written");
	if (read(53, &c, 1) != 1 || write(p4[1], "d", 1) != 1)
		fail("read/write");
	expect_ready(52, 0x55, "D written");
	pass();
	return 0;
}
