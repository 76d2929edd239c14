/* sk_unix_queued_bound: a listener's pending connections (not accepted
 * yet) from clients that are bound themselves.
 *
 * Before the checkpoint: stream listener L at D/l.sock has two pending
 * connections: C1 bound to the abstract name "cryo-qb-PID", C2 bound to
 * D/c2.sock; seqpacket listener M on "@cryo-qbm-PID" has one from C3
 * bound to D/c3.sock.  After SIGTERM: each client still has its name and
 * the listener as its peer; accepting gives sockets whose peer names are
 * the clients' names, and data crosses each connection.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sk_unix_util.h"

static void check_accept(int l, int c, const char *cname, const char *what)
{
	int a = accept(l, NULL, NULL);
	if (a < 0) {
		fail("%s: nothing to accept: %s", what, strerror(errno));
		return;
	}
	un_check_name(a, true, cname, what);
	char b[8];
	if (send(c, "ping", 4, 0) != 4 || recv(a, b, sizeof(b), MSG_DONTWAIT) != 4 ||
	    memcmp(b, "ping", 4))
		fail("%s: data does not cross the connection", what);
	close(a);
}

int main(int argc, char **argv)
{
	test_doc = "pending connections from bound clients";
	test_init(argc, argv);

	char dir[64], pl[96], pc2[96], pc3[96], a1[64], am[64];
	snprintf(dir, sizeof(dir), "/tmp/cryo-sk-qb-%d", getpid());
	snprintf(pl, sizeof(pl), "%s/l.sock", dir);
	snprintf(pc2, sizeof(pc2), "%s/c2.sock", dir);
	snprintf(pc3, sizeof(pc3), "%s/c3.sock", dir);
	snprintf(a1, sizeof(a1), "@cryo-qb-%d", getpid());
	snprintf(am, sizeof(am), "@cryo-qbm-%d", getpid());
	if (mkdir(dir, 0755))
		setup_fail("mkdir %s: %s", dir, strerror(errno));
	int l = un_socket(SOCK_STREAM, pl), m = un_socket(SOCK_SEQPACKET, am);
	if (listen(l, 8) || listen(m, 8))
		setup_fail("listen: %s", strerror(errno));
	int c1 = un_socket(SOCK_STREAM, a1), c2 = un_socket(SOCK_STREAM, pc2);
	int c3 = un_socket(SOCK_SEQPACKET, pc3);
	un_connect(c1, pl);
	un_connect(c2, pl);
	un_connect(c3, am);

	test_daemon();
	test_waitsig();

	un_check_name(c1, false, a1, "C1");
	un_check_name(c2, false, pc2, "C2");
	un_check_name(c3, false, pc3, "C3");
	un_check_name(c1, true, pl, "C1's peer");
	un_check_name(c3, true, am, "C3's peer");
	/* accepted in the order of their file ids after a restore (see the
	 * docs): accept both and match them by peer name */
	int a[2];
	for (int i = 0; i < 2; i++)
		a[i] = accept(l, NULL, NULL);
	if (a[0] < 0 || a[1] < 0) {
		fail("L: two pending connections expected: %s", strerror(errno));
	} else {
		struct sockaddr_un x;
		socklen_t xl = sizeof(x);
		getpeername(a[0], (struct sockaddr *)&x, &xl);
		if (!un_is(&x, xl, a1)) {
			int t = a[0];
			a[0] = a[1];
			a[1] = t;
		}
		un_check_name(a[0], true, a1, "accepted from C1");
		un_check_name(a[1], true, pc2, "accepted from C2");
		char b[8];
		if (send(c2, "pong", 4, 0) != 4 || recv(a[1], b, sizeof(b), MSG_DONTWAIT) != 4)
			fail("C2's connection carries no data");
	}
	check_accept(m, c3, pc3, "accepted from C3");
	unlink(pl);
	unlink(pc2);
	unlink(pc3);
	rmdir(dir);
	pass();
	return 0;
}
