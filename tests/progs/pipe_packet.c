/* pipe_packet: pipes in packet mode (O_DIRECT) keep their message
 * boundaries and flags across a checkpoint.
 *
 * Before the checkpoint:
 *   P: pipe2(O_DIRECT), packets "abc", "de", then a 5000-byte write (the
 *      kernel splits it in a 4096-byte and a 904-byte packet), unread;
 *   Q: pipe2(O_DIRECT|O_NONBLOCK), empty;
 *   S: pipe2(O_DIRECT|O_NONBLOCK), one packet "solo!" (a 2-byte read of it
 *      drops the rest);
 *   R: a plain pipe whose write end was switched to packet mode with
 *      F_SETFL: "xy" written before (a byte stream), "z" after (a packet).
 *   F: a FIFO (next to the outfile) open O_RDWR, switched to packet mode
 *      with F_SETFL (open refuses O_DIRECT on a FIFO), packets "ab", "c".
 * After SIGTERM: each end's flags are what they were, P's packets come back
 * one per read, Q is empty and still makes packets, R's data reads back.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static void expect_read(int fd, const void *want, ssize_t len, const char *what)
{
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n != len || memcmp(buf, want, len))
		fail("%s: read %zd bytes, expected %zd", what, n, len);
}

int main(int argc, char **argv)
{
	test_doc = "packet-mode pipes";
	test_init(argc, argv);
	int p[2], q[2], r[2], s[2];
	static char big[5000];
	pattern_fill(big, sizeof(big), 5);
	if (pipe2(p, O_DIRECT) || pipe2(q, O_DIRECT | O_NONBLOCK) || pipe(r) || pipe2(s, O_DIRECT | O_NONBLOCK) ||
	    write(s[1], "solo!", 5) != 5)
		setup_fail("pipe2(O_DIRECT): %s", strerror(errno));
	if (write(p[1], "abc", 3) != 3 || write(p[1], "de", 2) != 2 ||
	    write(p[1], big, sizeof(big)) != sizeof(big))
		setup_fail("write: %s", strerror(errno));
	if (write(r[1], "xy", 2) != 2 || fcntl(r[1], F_SETFL, O_DIRECT) ||
	    write(r[1], "z", 1) != 1)
		setup_fail("write: %s", strerror(errno));
	char tmp[2048], ff[2100];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(ff, sizeof(ff), "%s/packet-fifo", dirname(tmp));
	unlink(ff);
	int f = -1;
	if (mkfifo(ff, 0600) || (f = open(ff, O_RDWR | O_NONBLOCK)) < 0 ||
	    fcntl(f, F_SETFL, O_DIRECT | O_NONBLOCK) || write(f, "ab", 2) != 2 ||
	    write(f, "c", 1) != 1)
		setup_fail("FIFO %s: %s", ff, strerror(errno));
	int ffl = fcntl(f, F_GETFL);
	int fl[6];
	int fds[6] = { p[0], p[1], q[0], q[1], r[0], r[1] };
	for (int i = 0; i < 6; i++)
		fl[i] = fcntl(fds[i], F_GETFL);
	test_daemon();
	test_waitsig();
	for (int i = 0; i < 6; i++)
		if (fcntl(fds[i], F_GETFL) != fl[i])
			fail("fd %d: flags %#x, expected %#x", fds[i], fcntl(fds[i], F_GETFL), fl[i]);
	expect_read(p[0], "abc", 3, "P packet 1");
	expect_read(p[0], "de", 2, "P packet 2");
	expect_read(p[0], big, 4096, "P packet 3");
	expect_read(p[0], big + 4096, 904, "P packet 4");
	char c;
	if (read(q[0], &c, 1) != -1 || errno != EAGAIN)
		fail("Q is not empty");
	if (write(q[1], "12", 2) != 2 || write(q[1], "3", 1) != 1)
		fail("write to Q: %s", strerror(errno));
	expect_read(q[0], "12", 2, "Q packet 1");
	expect_read(q[0], "3", 1, "Q packet 2");
	if (fcntl(f, F_GETFL) != ffl)
		fail("FIFO flags %#x, expected %#x", fcntl(f, F_GETFL), ffl);
	expect_read(f, "ab", 2, "F packet 1");
	expect_read(f, "c", 1, "F packet 2");
	unlink(ff);
	char buf[16];
	if (read(s[0], buf, 2) != 2 || memcmp(buf, "so", 2) || read(s[0], buf, 1) != -1 ||
	    errno != EAGAIN)
		fail("S: not one packet");
	ssize_t n = read(r[0], buf, sizeof(buf));
	if (n == 2)
		n += read(r[0], buf + 2, sizeof(buf) - 2);
	if (n != 3 || memcmp(buf, "xyz", 3))
		fail("R: read %zd bytes", n);
	pass();
	return 0;
}
