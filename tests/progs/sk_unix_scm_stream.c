/* sk_unix_scm_stream: where descriptors in flight sit in a stream queue.
 *
 * A stream reader's recvmsg stops after the queued message (skb) that
 * carried descriptors, and takes them with it.  Queued on a stream pair
 * before the checkpoint, with the first byte already read:
 *   "AAAA"        no descriptors
 *   "BBBBBB"      a regular file (offset 2) and the read end of a pipe
 *   "CCC"         no descriptors
 *   "DDDDDDDD"    an eventfd (count 9)
 *   "EE"          no descriptors
 * After SIGTERM the reader checks each recvmsg of 64 bytes: "AAABBBBBB"
 * with the file and the pipe, "CCCDDDDDDDD" with the eventfd, "EE" with
 * nothing, then an empty queue; the descriptors are the right files
 * (contents, offset, pipe, count).  Where a message with descriptors ends
 * is kept exactly; where it begins can't be found by peeking (see
 * sk_queue.c): a read of fewer bytes than "AAA" would get the
 * descriptors with them after the restore (docs/unix-sockets.md).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

static void send_with(int sk, const char *data, const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} c;
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(&c.h), fds, nfds * sizeof(int));
	}
	if (sendmsg(sk, &mh, 0) != (ssize_t)strlen(data))
		setup_fail("sendmsg %s: %s", data, strerror(errno));
}

/* One recvmsg of at most @size bytes: must give @data and @nfds
 * descriptors (into @fds). */
static bool expect(int sk, size_t size, const char *data, int nfds, int *fds, const char *what)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(16 * sizeof(int))];
	} c;
	char buf[64] = "";
	struct iovec iov = { buf, size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = sizeof(c.b) };
	ssize_t n = recvmsg(sk, &mh, MSG_DONTWAIT);
	int got = 0;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch))
		if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
			int k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int), sizeof(fd));
				if (got < 16 && fds)
					fds[got] = fd;
				got++;
			}
		}
	if (n != (ssize_t)strlen(data) || memcmp(buf, data, n) || got != nfds) {
		fail("%s: recvmsg(%zu) gave %zd bytes \"%.*s\" and %d descriptors, expected "
		     "\"%s\" and %d", what, size, n, n > 0 ? (int)n : 0, buf, got, data, nfds);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	test_doc = "SCM_RIGHTS on a stream socket: reads end where they did, with the descriptors";
	test_init(argc, argv);
	int s[2], p[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) || pipe(p))
		setup_fail("socketpair/pipe: %s", strerror(errno));
	char tmp[] = "/tmp/cryo-scm-stream.XXXXXX";
	int reg = mkstemp(tmp);
	if (reg < 0 || write(reg, "xyhello", 7) != 7 || lseek(reg, 2, SEEK_SET) != 2)
		setup_fail("regular file: %s", strerror(errno));
	unlink(tmp);
	int ev = eventfd(9, 0);
	if (ev < 0)
		setup_fail("eventfd: %s", strerror(errno));

	send_with(s[0], "AAAA", NULL, 0);
	int b_fds[2] = { reg, p[0] };
	send_with(s[0], "BBBBBB", b_fds, 2);
	send_with(s[0], "CCC", NULL, 0);
	send_with(s[0], "DDDDDDDD", &ev, 1);
	send_with(s[0], "EE", NULL, 0);
	char c;
	if (read(s[1], &c, 1) != 1 || c != 'A')	/* the first message partly read */
		setup_fail("reading the first byte");
	/* only in flight now: the file, the pipe's read end and the eventfd */
	close(reg);
	close(p[0]);
	close(ev);

	test_daemon();
	test_waitsig();

	int fds[16];
	if (expect(s[1], 64, "AAABBBBBB", 2, fds, "messages A (partly read before) and B")) {
		char buf[16] = "";
		if (read(fds[0], buf, sizeof(buf)) != 5 || memcmp(buf, "hello", 5))
			fail("message B: the file does not read \"hello\" from offset 2");
		if (write(p[1], "pipe", 4) != 4 || read(fds[1], buf, 4) != 4 || memcmp(buf, "pipe", 4))
			fail("message B: the second descriptor is not the pipe's read end");
		close(fds[0]);
		close(fds[1]);
	}
	if (expect(s[1], 64, "CCCDDDDDDDD", 1, fds, "messages C and D")) {
		uint64_t v = 0;
		if (read(fds[0], &v, sizeof(v)) != sizeof(v) || v != 9)
			fail("message D: the eventfd's count is %llu, not 9", (unsigned long long)v);
		close(fds[0]);
	}
	expect(s[1], 64, "EE", 0, NULL, "message E");
	if (recv(s[1], &c, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("bytes left after message E");
	return test_verdict();
}
