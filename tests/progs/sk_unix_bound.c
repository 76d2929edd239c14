/* sk_unix_bound: named unix sockets, listeners and connections.
 *
 * Before the checkpoint (files in the outfile's directory):
 *   - stream listener L at srv.sock (mode 0600), one accepted connection
 *     A1/C1 with data queued both ways, two connections C2, C3 not
 *     accepted yet (C2 has shut down its reading side);
 *   - seqpacket listener on an abstract name with an accepted connection
 *     A4/C4 and a record queued to A4;
 *   - datagram server G on an abstract name with three messages queued:
 *     two from an unnamed unconnected socket U, one from K, which is
 *     connected to G (G is not connected back);
 *   - datagram socket R bound to dgr.sock, K2 connected to it, one message;
 *   - datagram socket Z bound to the relative name "rel.sock" (cwd);
 *   - datagram socket D bound to del.sock, whose file was then deleted; E
 *     connected to it;
 *   - accepted connections whose listeners were closed since: A5/C5 on an
 *     abstract name, A6/C6 on a path (old.sock, its file left there).
 * After SIGTERM: names (getsockname/getpeername), queues, pending
 * connections (accepted now), new traffic everywhere, the file's mode,
 * the deleted file still absent.  The restore must remove the stale
 * socket files the dumped processes left.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

static char dir[200];

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

static int mk(int type, const char *name, bool abstract)
{
	int s = socket(AF_UNIX, type, 0);
	if (s < 0)
		setup_fail("socket: %s", strerror(errno));
	if (name) {
		struct sockaddr_un a;
		socklen_t l = addr_of(&a, name, abstract);
		unlink(a.sun_path);
		if (bind(s, (struct sockaddr *)&a, l))
			setup_fail("bind %s: %s", name, strerror(errno));
	}
	return s;
}

static void conn(int s, const char *name, bool abstract)
{
	struct sockaddr_un a;
	socklen_t l = addr_of(&a, name, abstract);
	if (connect(s, (struct sockaddr *)&a, l))
		setup_fail("connect %s: %s", name, strerror(errno));
}

/* the name a socket reports equals @name (NULL: unnamed) */
static void check_name(int s, bool peer, const char *name, bool abstract, const char *what)
{
	struct sockaddr_un a, want;
	socklen_t l = sizeof(a);
	memset(&a, 0, sizeof(a));
	if ((peer ? getpeername : getsockname)(s, (struct sockaddr *)&a, &l)) {
		fail_errno("%s: get%sname", what, peer ? "peer" : "sock");
		return;
	}
	if (!name) {
		if (l != sizeof(sa_family_t))
			fail("%s: expected no %sname, got \"%s\"", what, peer ? "peer " : "",
			     a.sun_path[0] ? a.sun_path : a.sun_path + 1);
		return;
	}
	socklen_t wl = addr_of(&want, name, abstract);
	if (!abstract)
		wl--;	/* the kernel reports path names without the NUL when bound with it? */
	if (memcmp(a.sun_path, want.sun_path, wl - offsetof(struct sockaddr_un, sun_path)))
		fail("%s: %sname is \"%s\", expected \"%s\"", what, peer ? "peer " : "",
		     a.sun_path[0] ? a.sun_path : a.sun_path + 1, name);
}

static void expect(int s, const char *data, const char *what)
{
	char b[256];
	ssize_t n = recv(s, b, sizeof(b), MSG_DONTWAIT);
	if (n != (ssize_t)strlen(data) || memcmp(b, data, n))
		fail("%s: received %zd bytes \"%.*s\", expected \"%s\"", what, n,
		     n > 0 ? (int)n : 0, b, data);
}

static void xsend(int s, const char *data)
{
	if (send(s, data, strlen(data), MSG_NOSIGNAL) != (ssize_t)strlen(data))
		fail_errno("send \"%s\"", data);
}

int main(int argc, char **argv)
{
	test_doc = "named unix sockets: listeners, pending connections, datagram servers";
	test_init(argc, argv);
	char of[256];
	snprintf(of, sizeof(of), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(of));
	if (chdir(dir))
		setup_fail("chdir %s", dir);
	char srv[256], dgr[256], del[256], abs_l[64], abs_g[64];
	snprintf(srv, sizeof(srv), "%s/srv.sock", dir);
	snprintf(dgr, sizeof(dgr), "%s/dgr.sock", dir);
	snprintf(del, sizeof(del), "%s/del.sock", dir);
	snprintf(abs_l, sizeof(abs_l), "cryo-skub-l-%d", getpid());
	snprintf(abs_g, sizeof(abs_g), "cryo-skub-g-%d", getpid());

	int L = mk(SOCK_STREAM, srv, false);
	chmod(srv, 0600);
	if (listen(L, 5))
		setup_fail("listen");
	int C1 = mk(SOCK_STREAM, NULL, false);
	conn(C1, srv, false);
	int A1 = accept(L, NULL, NULL);
	int C2 = mk(SOCK_STREAM, NULL, false), C3 = mk(SOCK_STREAM, NULL, false);
	conn(C2, srv, false);
	conn(C3, srv, false);
	shutdown(C2, SHUT_RD);
	xsend(C1, "to-a1");
	xsend(A1, "to-c1");

	int L2 = mk(SOCK_SEQPACKET, abs_l, true);
	listen(L2, 1);
	int C4 = mk(SOCK_SEQPACKET, NULL, false);
	conn(C4, abs_l, true);
	int A4 = accept(L2, NULL, NULL);
	xsend(C4, "rec-1");

	int G = mk(SOCK_DGRAM, abs_g, true);
	int U = mk(SOCK_DGRAM, NULL, false);
	struct sockaddr_un ga;
	socklen_t gl = addr_of(&ga, abs_g, true);
	if (sendto(U, "u1", 2, 0, (struct sockaddr *)&ga, gl) != 2 ||
	    sendto(U, "u2", 2, 0, (struct sockaddr *)&ga, gl) != 2)
		setup_fail("sendto G");
	int K = mk(SOCK_DGRAM, NULL, false);
	conn(K, abs_g, true);
	xsend(K, "k1");

	int R = mk(SOCK_DGRAM, dgr, false);
	int K2 = mk(SOCK_DGRAM, NULL, false);
	conn(K2, dgr, false);
	xsend(K2, "k2");

	int Z = mk(SOCK_DGRAM, "rel.sock", false);

	char old[256], abs_o[64];
	snprintf(old, sizeof(old), "%s/old.sock", dir);
	snprintf(abs_o, sizeof(abs_o), "cryo-skub-o-%d", getpid());
	int L5 = mk(SOCK_STREAM, abs_o, true), L6 = mk(SOCK_STREAM, old, false);
	listen(L5, 1);
	listen(L6, 1);
	int C5 = mk(SOCK_STREAM, NULL, false), C6 = mk(SOCK_STREAM, NULL, false);
	conn(C5, abs_o, true);
	conn(C6, old, false);
	int A5 = accept(L5, NULL, NULL), A6 = accept(L6, NULL, NULL);
	close(L5);
	close(L6);
	xsend(C6, "to-a6");

	int D = mk(SOCK_DGRAM, del, false);
	int E = mk(SOCK_DGRAM, NULL, false);
	conn(E, del, false);
	unlink(del);

	test_daemon();
	test_waitsig();

	check_name(L, false, srv, false, "listener");
	check_name(A1, false, srv, false, "accepted socket");
	check_name(C1, true, srv, false, "client (peer name)");
	check_name(C1, false, NULL, false, "client");
	expect(A1, "to-a1", "accepted socket's queue");
	expect(C1, "to-c1", "client's queue");
	xsend(C1, "again");
	expect(A1, "again", "accepted socket, new data");
	struct stat st;
	if (stat(srv, &st) || (st.st_mode & 07777) != 0600)
		fail("%s: mode %o, expected 600", srv, st.st_mode & 07777);

	/* the pending connections: accept them now */
	xsend(C2, "from-c2");
	xsend(C3, "from-c3");
	fcntl(L, F_SETFL, O_NONBLOCK);
	int seen = 0;
	for (int i = 0; i < 2; i++) {
		int a = accept(L, NULL, NULL);
		if (a < 0) {
			fail_errno("accepting pending connection %d", i + 1);
			continue;
		}
		char b[32] = { 0 };
		recv(a, b, sizeof(b) - 1, MSG_DONTWAIT);
		if (!strcmp(b, "from-c2")) {
			seen |= 1;
			/* C2 shut down reading: its peer can't send */
			if (send(a, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
				fail("sending to C2 (shut down for reading) did not fail with EPIPE");
		} else if (!strcmp(b, "from-c3")) {
			seen |= 2;
			xsend(a, "to-c3");
			expect(C3, "to-c3", "pending client C3 after accept");
		} else
			fail("pending connection %d brought \"%s\"", i + 1, b);
		close(a);
	}
	if (seen != 3)
		fail("the pending connections were not C2 and C3 (seen %#x)", seen);
	if (accept(L, NULL, NULL) >= 0 || errno != EAGAIN)
		fail("a third connection was pending");
	char c;
	if (recv(C2, &c, 1, MSG_DONTWAIT) != 0)
		fail("C2 is not shut down for reading");

	check_name(A4, false, abs_l, true, "seqpacket accepted");
	check_name(C4, true, abs_l, true, "seqpacket client (peer)");
	expect(A4, "rec-1", "seqpacket record");

	check_name(G, false, abs_g, true, "datagram server");
	check_name(K, true, abs_g, true, "datagram client (peer)");
	expect(G, "u1", "datagram server, 1st");
	expect(G, "u2", "datagram server, 2nd");
	expect(G, "k1", "datagram server, 3rd");
	xsend(K, "k1b");
	expect(G, "k1b", "datagram server, new");
	if (sendto(U, "u3", 2, 0, (struct sockaddr *)&ga, gl) != 2)
		fail_errno("sendto G after restore");
	expect(G, "u3", "datagram server, new from U");

	check_name(R, false, dgr, false, "path datagram socket");
	check_name(K2, true, dgr, false, "its client (peer)");
	expect(R, "k2", "path datagram socket's queue");

	check_name(Z, false, "rel.sock", false, "relative name");
	int t = mk(SOCK_DGRAM, NULL, false);
	struct sockaddr_un za;
	socklen_t zl = addr_of(&za, "rel.sock", false);
	if (sendto(t, "z", 1, 0, (struct sockaddr *)&za, zl) != 1)
		fail_errno("sendto rel.sock");
	expect(Z, "z", "relative-name socket");

	check_name(D, false, del, false, "deleted socket");
	if (!access(del, F_OK))
		fail("%s exists again", del);
	xsend(E, "to-d");
	expect(D, "to-d", "deleted socket");
	check_name(A5, false, abs_o, true, "accepted, listener closed (abstract)");
	check_name(C5, true, abs_o, true, "its client (peer name)");
	check_name(A6, false, old, false, "accepted, listener closed (path)");
	check_name(C6, true, old, false, "its client (peer name)");
	if (access(old, F_OK))
		fail("%s, left by the closed listener, is gone", old);
	expect(A6, "to-a6", "accepted socket of a closed listener");
	xsend(A5, "to-c5");
	expect(C5, "to-c5", "client of a closed listener");
	unlink(old);
	unlink(srv);
	unlink(dgr);
	unlink("rel.sock");
	return test_verdict();
}
