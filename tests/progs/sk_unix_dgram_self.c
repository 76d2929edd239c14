/* sk_unix_dgram_self: unix datagram sockets connected to themselves.
 *
 * Before the checkpoint:
 *   p  bound to self.sock (in the outfile's directory) and connected to that
 *      name, two messages it sent itself queued ("one", "two");
 *   a  bound to an abstract name and connected to it, one message queued;
 *   e  the same as a, nothing queued.
 * After SIGTERM: each is connected to its own name, its queue comes first,
 * then a new message it sends itself.
 */
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

static socklen_t addr_of(struct sockaddr_un *a, const char *name, bool abstract)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s", name);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static int self_sock(const struct sockaddr_un *a, socklen_t l)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (const struct sockaddr *)a, l) || connect(fd, (const struct sockaddr *)a, l))
		return -1;
	return fd;
}

static bool name_is(int fd, const struct sockaddr_un *a, socklen_t l, bool peer)
{
	struct sockaddr_un now;
	socklen_t nl = sizeof(now);
	memset(&now, 0, sizeof(now));
	if (peer ? getpeername(fd, (struct sockaddr *)&now, &nl) :
		   getsockname(fd, (struct sockaddr *)&now, &nl))
		return false;
	return nl == l && !memcmp(&now, a, l);
}

static void expect_msg(int fd, const char *want, const struct sockaddr_un *a, socklen_t l,
		       const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[64];
	struct sockaddr_un from;
	socklen_t fl = sizeof(from);
	memset(&from, 0, sizeof(from));
	if (poll(&p, 1, 2000) != 1) {
		fail("%s: no message \"%s\" (waited 2 s)", what, want);
		return;
	}
	ssize_t n = recvfrom(fd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n != (ssize_t)strlen(want) || memcmp(b, want, n))
		fail("%s: got %zd bytes \"%.*s\", expected \"%s\"", what, n, n > 0 ? (int)n : 0, b,
		     want);
	else if (fl != l || memcmp(&from, a, l))
		fail("%s: \"%s\" came from another name than its own", what, want);
}

static void check(int fd, const struct sockaddr_un *a, socklen_t l, const char **queued,
		  const char *what)
{
	if (!name_is(fd, a, l, false))
		fail("%s: its own name changed", what);
	if (!name_is(fd, a, l, true))
		fail("%s: it is no longer connected to itself", what);
	for (; *queued; queued++)
		expect_msg(fd, *queued, a, l, what);
	char b[8];
	if (recv(fd, b, sizeof(b), MSG_DONTWAIT) >= 0)
		fail("%s: more messages queued than it sent itself", what);
	if (send(fd, "new", 3, 0) != 3)
		fail("%s: send to itself: %s", what, strerror(errno));
	else
		expect_msg(fd, "new", a, l, what);
}

int main(int argc, char **argv)
{
	test_doc = "unix datagram sockets bound and connected to their own names";
	test_init(argc, argv);
	char of[512], path[600], abs1[64], abs2[64];
	snprintf(of, sizeof(of), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(path, sizeof(path), "%s/self.sock", dirname(of));
	snprintf(abs1, sizeof(abs1), "cryo-self-a-%d", getpid());
	snprintf(abs2, sizeof(abs2), "cryo-self-e-%d", getpid());
	struct sockaddr_un ap, aa, ae;
	socklen_t lp = addr_of(&ap, path, false), la = addr_of(&aa, abs1, true);
	socklen_t le = addr_of(&ae, abs2, true);
	unlink(path);
	int p = self_sock(&ap, lp), a = self_sock(&aa, la), e = self_sock(&ae, le);
	if (p < 0 || a < 0 || e < 0)
		setup_fail("sockets: %s", strerror(errno));
	if (send(p, "one", 3, 0) != 3 || send(p, "two", 3, 0) != 3 || send(a, "abs", 3, 0) != 3)
		setup_fail("send: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	const char *qp[] = { "one", "two", NULL }, *qa[] = { "abs", NULL }, *qe[] = { NULL };
	check(p, &ap, lp, qp, "p (path)");
	check(a, &aa, la, qa, "a (abstract)");
	check(e, &ae, le, qe, "e (abstract, empty)");
	unlink(path);
	return test_verdict();
}
