/* tr_ring: data moving through a ring of processes while cryo dumps
 * (criu's zdtm transition tests pipe_loop00, fifo_loop, socket_loop00).
 *
 * The main process P0 sends numbered 1000-byte blocks (contents derived
 * from the number, so a block is not a whole page and pipe pages hold
 * parts of two) to P1, which checks each and passes it to P2, which passes
 * it back to P0; P0 keeps up to 512 blocks in flight, so the channels are
 * full and P1/P2 are blocked in read or write (partly done) at any moment.
 * Any block lost, doubled, reordered or damaged, in the dump or the
 * restore, fails: a child that sees one sends a poison block and stops.
 *   --kind pipe   anonymous pipes (default)
 *   --kind fifo   named FIFOs in a directory of the test's own
 *   --kind unix   unix stream socket pairs
 * After SIGTERM: the ring went on after the restore (P0 got blocks back
 * since), and every block came back in order. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *kind = "pipe";
TEST_OPTION(kind, string, "pipe, fifo or unix", 0);

#define BLK 1000
#define INFLIGHT 512
#define POISON UINT64_MAX

static void make_block(uint8_t *b, uint64_t seq)
{
	memcpy(b, &seq, 8);
	pattern_fill(b + 8, BLK - 8, seq);
}

static bool block_ok(const uint8_t *b, uint64_t seq)
{
	uint64_t s;
	memcpy(&s, b, 8);
	return s == seq && pattern_check(b + 8, BLK - 8, seq) < 0;
}

static int io_full(int fd, void *buf, size_t len, bool wr)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = wr ? write(fd, (char *)buf + done, len - done) :
				 read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* a channel: [0] read end, [1] write end */
static void channel(int ch[2], const char *dir, int i)
{
	if (!strcmp(kind, "unix")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, ch))
			setup_fail("socketpair: %s", strerror(errno));
		shutdown(ch[0], SHUT_WR);
		shutdown(ch[1], SHUT_RD);
	} else if (!strcmp(kind, "fifo")) {
		char p[256];
		snprintf(p, sizeof(p), "%s/f%d", dir, i);
		if (mkfifo(p, 0600) || (ch[0] = open(p, O_RDONLY | O_NONBLOCK)) < 0 ||
		    (ch[1] = open(p, O_WRONLY)) < 0 || fcntl(ch[0], F_SETFL, 0))
			setup_fail("fifo %s: %s", p, strerror(errno));
	} else if (pipe(ch)) {
		setup_fail("pipe: %s", strerror(errno));
	}
}

static void relay(int in, int out)
{
	uint8_t b[BLK];
	for (uint64_t seq = 0;; seq++) {
		if (io_full(in, b, BLK, false))
			_exit(0);	/* the ring is closing */
		if (!block_ok(b, seq)) {
			uint64_t p = POISON;
			memcpy(b, &p, 8);
			io_full(out, b, BLK, true);
			_exit(1);
		}
		if (io_full(out, b, BLK, true))
			_exit(0);
	}
}

int main(int argc, char **argv)
{
	test_doc = "blocks moving through a ring of pipes, fifos or sockets during the dump";
	test_init(argc, argv);
	if (strcmp(kind, "pipe") && strcmp(kind, "fifo") && strcmp(kind, "unix"))
		setup_fail("--kind %s: not pipe, fifo or unix", kind);
	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/cryo-tr-ring-%d", getpid());
	if (!strcmp(kind, "fifo") && mkdir(dir, 0700))
		setup_fail("mkdir %s: %s", dir, strerror(errno));

	int c[3][2];
	for (int i = 0; i < 3; i++)
		channel(c[i], dir, i);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] < 0)
			setup_fail("fork: %s", strerror(errno));
		if (kids[k] == 0) {
			test_forked_child();
			for (int i = 0; i < 3; i++)
				for (int e = 0; e < 2; e++)
					if (!((i == k && e == 0) || (i == k + 1 && e == 1)))
						close(c[i][e]);
			relay(c[k][0], c[k + 1][1]);
		}
	}
	int out = c[0][1], in = c[2][0];
	for (int i = 0; i < 3; i++)
		for (int e = 0; e < 2; e++)
			if (c[i][e] != out && c[i][e] != in)
				close(c[i][e]);
	fcntl(out, F_SETFL, O_NONBLOCK);

	uint8_t wb[BLK], rb[BLK];
	uint64_t sent = 0, got = 0, got_at_ready = 0;
	size_t woff = BLK, roff = 0;	/* progress in the block being moved */
	bool ready = false, bad = false;
	while (!bad && (test_go() || !ready)) {
		if (!ready && got >= 2000) {
			got_at_ready = got;
			test_daemon();
			ready = true;
		}
		struct pollfd p[2] = { { .fd = in, .events = POLLIN },
				       { .fd = out, .events = sent - got < INFLIGHT ? POLLOUT : 0 } };
		if (poll(p, 2, 100) < 0) {
			if (errno == EINTR)
				continue;
			fail_errno("poll");
			break;
		}
		if (p[1].revents & POLLOUT) {
			if (woff == BLK) {
				make_block(wb, sent);
				woff = 0;
			}
			ssize_t n = write(out, wb + woff, BLK - woff);
			if (n > 0 && (woff += n) == BLK)
				sent++;
			else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				fail_errno("write to the ring after %lu blocks", (unsigned long)sent);
				break;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(in, rb + roff, BLK - roff);
			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				fail("the ring broke after %lu blocks: %s", (unsigned long)got,
				     n ? strerror(errno) : "end of file");
				break;
			}
			if (n > 0 && (roff += n) == BLK) {
				roff = 0;
				if (!block_ok(rb, got)) {
					uint64_t s;
					memcpy(&s, rb, 8);
					fail("block %lu came back as %s (number %lu)",
					     (unsigned long)got, s == POISON ? "poison: a relay saw a "
					     "bad block" : "damaged or another", (unsigned long)s);
					bad = true;
				}
				got++;
			}
		}
	}
	if (!bad && got < got_at_ready + 2000)
		fail("only %lu blocks came back after the dump, %lu before",
		     (unsigned long)(got - got_at_ready), (unsigned long)got_at_ready);
	close(out);
	close(in);
	for (int k = 0; k < 2; k++) {
		kill(kids[k], SIGKILL);
		waitpid(kids[k], NULL, 0);
	}
	if (!strcmp(kind, "fifo")) {
		for (int i = 0; i < 3; i++) {
			char p[256];
			snprintf(p, sizeof(p), "%s/f%d", dir, i);
			unlink(p);
		}
		rmdir(dir);
	}
	return test_verdict();
}
