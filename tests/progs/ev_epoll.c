/* ev_epoll: epoll registrations, nested epoll, dup'd targets, flags.
 *
 * State built before the checkpoint:
 *   E1 registers: a pipe's read end (data in the pipe) EPOLLIN; the same
 *      file at another fd (dup, fd 40) EPOLLIN|EPOLLET; an empty eventfd
 *      EPOLLIN|EPOLLEXCLUSIVE; E2 (nested) EPOLLIN; the read end of a third
 *      pipe EPOLLIN|EPOLLRDHUP|EPOLLPRI (data with the high bits set);
 *   E2 registers an eventfd holding 1 (so E2, and E2 in E1, are ready);
 *   E3 registers a pipe's write end EPOLLOUT|EPOLLONESHOT, which fired once
 *      (epoll_wait) and is now disarmed.
 * After SIGTERM: the fdinfo registrations (tfd, events, data) of E1, E2 and
 *   E3 are identical; epoll_wait(E1) reports exactly the pipe (both
 *   numbers) and E2 with their data; after writing to the eventfd it is
 *   reported too; E3 reports nothing until EPOLL_CTL_MOD re-arms it; the
 *   third pipe reports EPOLLHUP once its write end is closed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zdtmtst.h"

/* "tfd: N events: X data: Y" of each registration, without pos/ino/sdev
 * (inode numbers change across a restore) */
static void regs(int ep, char *out, size_t size)
{
	char p[64], buf[8192];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", ep);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = 0;
	/* sorted: the kernel lists them in the order of file addresses */
	char *lines[64];
	int nl = 0;
	for (char *l = strtok(buf, "\n"); l && nl < 64; l = strtok(NULL, "\n")) {
		if (strncmp(l, "tfd:", 4))
			continue;
		char *pos = strstr(l, "pos:");
		if (pos)
			*pos = 0;
		lines[nl++] = l;
	}
	for (int i = 0; i < nl; i++)
		for (int j = i + 1; j < nl; j++)
			if (strcmp(lines[j], lines[i]) < 0) {
				char *t = lines[i];
				lines[i] = lines[j];
				lines[j] = t;
			}
	out[0] = 0;
	for (int i = 0; i < nl; i++) {
		strncat(out, lines[i], size - strlen(out) - 2);
		strcat(out, "\n");
	}
}

static void reg(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		setup_fail("epoll_ctl(ADD %d): %s", fd, strerror(errno));
}

/* The data of the ready events of @ep, sorted, as a string. */
static void ready(int ep, char *out)
{
	struct epoll_event ev[16];
	int n = epoll_wait(ep, ev, 16, 0);
	uint64_t d[16];
	for (int i = 0; i < n; i++)
		d[i] = ev[i].data.u64;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (d[j] < d[i]) {
				uint64_t t = d[i];
				d[i] = d[j];
				d[j] = t;
			}
	out[0] = 0;
	for (int i = 0; i < n; i++)
		sprintf(out + strlen(out), "%llx ", (unsigned long long)d[i]);
}

int main(int argc, char **argv)
{
	test_doc = "epoll registrations, nesting, dup'd targets, oneshot, exclusive";
	test_init(argc, argv);
	int p[2], q[2], sp[2];
	if (pipe(p) || pipe(q) || pipe(sp))
		setup_fail("pipe/socketpair: %s", strerror(errno));
	if (write(p[1], "data", 4) != 4 || dup2(p[0], 40) != 40)
		setup_fail("pipe: %s", strerror(errno));
	int efd = eventfd(0, EFD_NONBLOCK), efd2 = eventfd(1, 0);
	int e1 = epoll_create1(0), e2 = epoll_create1(EPOLL_CLOEXEC), e3 = epoll_create1(0);
	if (efd < 0 || efd2 < 0 || e1 < 0 || e2 < 0 || e3 < 0)
		setup_fail("eventfd/epoll_create1: %s", strerror(errno));
	reg(e2, efd2, EPOLLIN, 0x6666);
	reg(e1, p[0], EPOLLIN, 0x1111);
	reg(e1, 40, EPOLLIN | EPOLLET, 0x2222);
	reg(e1, efd, EPOLLIN | EPOLLEXCLUSIVE, 0x3333);
	reg(e1, e2, EPOLLIN, 0x5555);
	reg(e1, sp[0], EPOLLIN | EPOLLRDHUP | EPOLLPRI, 0xffffffff00007777ull);
	reg(e3, q[1], EPOLLOUT | EPOLLONESHOT, 0x4444);
	struct epoll_event ev;
	if (epoll_wait(e3, &ev, 1, 0) != 1 || ev.data.u64 != 0x4444)
		setup_fail("E3 did not fire");
	char r1[2048], r2[2048], r3[2048], now[2048];
	regs(e1, r1, sizeof(r1));
	regs(e2, r2, sizeof(r2));
	regs(e3, r3, sizeof(r3));

	test_daemon();
	test_waitsig();

	regs(e1, now, sizeof(now));
	if (strcmp(now, r1))
		fail("E1's registrations differ:\nbefore:\n%safter:\n%s", r1, now);
	regs(e2, now, sizeof(now));
	if (strcmp(now, r2))
		fail("E2's registrations differ:\nbefore:\n%safter:\n%s", r2, now);
	regs(e3, now, sizeof(now));
	if (strcmp(now, r3))
		fail("E3's registrations differ:\nbefore:\n%safter:\n%s", r3, now);
	if (fcntl(e2, F_GETFD) != FD_CLOEXEC || fcntl(e1, F_GETFD) != 0)
		fail("FD_CLOEXEC of the epoll fds changed");

	char got[256];
	ready(e1, got);
	if (strcmp(got, "1111 2222 5555 "))
		fail("E1 reports '%s', expected '1111 2222 5555 '", got);
	ready(e2, got);
	if (strcmp(got, "6666 "))
		fail("E2 reports '%s', expected '6666 '", got);
	uint64_t one = 1;
	if (write(efd, &one, 8) != 8)
		fail("eventfd write: %s", strerror(errno));
	ready(e1, got);
	/* 2222 is edge-triggered: reported once */
	if (strcmp(got, "1111 3333 5555 "))
		fail("E1 reports '%s' after the eventfd write, expected '1111 3333 5555 '", got);
	ready(e3, got);
	if (got[0])
		fail("E3's oneshot registration fired again: '%s'", got);
	ev = (struct epoll_event){ .events = EPOLLOUT | EPOLLONESHOT, .data.u64 = 0x4445 };
	if (epoll_ctl(e3, EPOLL_CTL_MOD, q[1], &ev))
		fail("EPOLL_CTL_MOD on E3: %s", strerror(errno));
	ready(e3, got);
	if (strcmp(got, "4445 "))
		fail("E3 reports '%s' once re-armed, expected '4445 '", got);
	close(sp[1]);
	struct epoll_event evs[8];
	int n = epoll_wait(e1, evs, 8, 0), seen = 0;
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == 0xffffffff00007777ull)
			seen = evs[i].events;
	if (!(seen & EPOLLHUP))
		fail("the third pipe's EPOLLHUP was not reported (events %#x)", seen);
	pass();
	return 0;
}
