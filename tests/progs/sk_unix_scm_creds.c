/* sk_unix_scm_creds: the credentials queued messages were sent with.
 *
 * Before the checkpoint, with SO_PASSCRED on both receivers:
 *   - datagram D1 has a message "dead" from a child that switched to gid
 *     12345 and uid 23456, sent it and exited (its PID is free then);
 *   - stream S1 has "p1" sent with the test's own credentials and "p2"
 *     sent with explicit ones (the test's pid, uid 4242, gid 4343): a
 *     stream read does not merge bytes of different senders;
 *   - datagram D1 also has "mine" with the test's own credentials;
 *   - datagram N1 has "none", sent before it set SO_PASSCRED: a message
 *     without credentials (reads as pid 0 and the overflow uid/gid).
 * After SIGTERM each message reads back with the pid, uid and gid it had.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static void send_cred(int sk, const char *b, const struct ucred *uc, const char *what)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} c;
	struct iovec iov = { (void *)b, strlen(b) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (uc) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.b;
		mh.msg_controllen = sizeof(c.b);
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_CREDENTIALS;
		ch->cmsg_len = CMSG_LEN(sizeof(*uc));
		memcpy(CMSG_DATA(ch), uc, sizeof(*uc));
	}
	if (sendmsg(sk, &mh, 0) != (ssize_t)strlen(b))
		setup_fail("sendmsg %s: %s", what, strerror(errno));
}

static void expect(int sk, const char *want, pid_t pid, uid_t uid, gid_t gid, const char *what)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred)) + 64];
	} c;
	char buf[64];
	size_t len = strlen(want);
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = sizeof(c.b) };
	ssize_t r = recvmsg(sk, &mh, MSG_DONTWAIT);
	if (r != (ssize_t)len || memcmp(buf, want, len)) {
		fail("%s: got %zd bytes \"%.*s\", want \"%s\" (%s)", what, r, (int)(r > 0 ? r : 0),
		     buf, want, r < 0 ? strerror(errno) : "");
		return;
	}
	struct ucred *uc = NULL;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch))
		if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_CREDENTIALS)
			uc = (struct ucred *)CMSG_DATA(ch);
	if (!uc) {
		fail("%s: no SCM_CREDENTIALS", what);
		return;
	}
	if (uc->pid != pid || uc->uid != uid || uc->gid != gid)
		fail("%s: credentials pid %d uid %u gid %u, want pid %d uid %u gid %u", what,
		     uc->pid, uc->uid, uc->gid, pid, uid, gid);
}

int main(int argc, char **argv)
{
	test_doc = "SCM_CREDENTIALS of queued unix messages";
	test_init(argc, argv);

	int d[2], s[2], n[2], one = 1;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, d) || socketpair(AF_UNIX, SOCK_STREAM, 0, s) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, n))
		setup_fail("socketpair: %s", strerror(errno));
	setsockopt(d[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	setsockopt(s[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));

	pid_t child = fork();
	if (child < 0)
		setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		if (setgid(12345) || setuid(23456))
			_exit(2);
		send_cred(d[0], "dead", NULL, "dead");
		_exit(0);
	}
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		setup_fail("the sending child failed");
	send_cred(d[0], "mine", NULL, "mine");
	send_cred(s[0], "p1", NULL, "p1");
	struct ucred other = { getpid(), 4242, 4343 };
	send_cred(s[0], "p2", &other, "p2");
	send_cred(n[0], "none", NULL, "none");
	setsockopt(n[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	unsigned ovuid = 65534, ovgid = 65534;
	FILE *f = fopen("/proc/sys/kernel/overflowuid", "r");
	if (f && fscanf(f, "%u", &ovuid) != 1)
		ovuid = 65534;
	if (f)
		fclose(f);
	f = fopen("/proc/sys/kernel/overflowgid", "r");
	if (f && fscanf(f, "%u", &ovgid) != 1)
		ovgid = 65534;
	if (f)
		fclose(f);

	test_daemon();
	test_waitsig();

	expect(d[1], "dead", child, 23456, 12345, "message of an exited sender");
	expect(d[1], "mine", getpid(), getuid(), getgid(), "message of the test");
	expect(s[1], "p1", getpid(), getuid(), getgid(), "stream bytes of the test");
	expect(s[1], "p2", getpid(), 4242, 4343, "stream bytes with other credentials");
	expect(n[1], "none", 0, ovuid, ovgid, "message without credentials");
	pass();
	return 0;
}
