/* sk_unix_relative: unix sockets bound to relative names, from a working
 * directory the process left afterwards.
 *
 * Before the checkpoint: in directory D, a datagram socket R is bound to
 * "rel.sock" and a stream listener L to "sub/rel.lsk" (both relative),
 * then the process moves to "/".  After SIGTERM: R and L still carry their
 * relative names, their files are sockets in D, a datagram sent to
 * D/rel.sock reaches R, a connection to D/sub/rel.lsk reaches L.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sk_unix_util.h"

int main(int argc, char **argv)
{
	test_doc = "unix sockets bound to relative names from a directory left since";
	test_init(argc, argv);

	char dir[64], sub[96], p1[128], p2[128];
	snprintf(dir, sizeof(dir), "/tmp/cryo-sk-relative-%d", getpid());
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	if (mkdir(dir, 0755) || mkdir(sub, 0755) || chdir(dir))
		setup_fail("mkdir/chdir %s: %s", dir, strerror(errno));
	int r = un_socket(SOCK_DGRAM, "rel.sock");
	int l = un_socket(SOCK_STREAM, "sub/rel.lsk");
	if (listen(l, 4))
		setup_fail("listen: %s", strerror(errno));
	if (chdir("/"))
		setup_fail("chdir /");
	snprintf(p1, sizeof(p1), "%s/rel.sock", dir);
	snprintf(p2, sizeof(p2), "%s/sub/rel.lsk", dir);

	test_daemon();
	test_waitsig();

	un_check_name(r, false, "rel.sock", "R");
	un_check_name(l, false, "sub/rel.lsk", "L");
	struct stat st;
	if (stat(p1, &st) || !S_ISSOCK(st.st_mode))
		fail("%s is not a socket any more", p1);
	int t = un_socket(SOCK_DGRAM, NULL);
	struct sockaddr_un a;
	socklen_t al = un_addr(&a, p1);
	if (sendto(t, "hi", 2, 0, (struct sockaddr *)&a, al) != 2)
		fail("send to %s: %s", p1, strerror(errno));
	else
		un_expect_from(r, "hi", NULL, "datagram to R by its path");
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	al = un_addr(&a, p2);
	if (connect(c, (struct sockaddr *)&a, al))
		fail("connect to %s: %s", p2, strerror(errno));
	else if (accept(l, NULL, NULL) < 0)
		fail("L accepts nothing: %s", strerror(errno));
	unlink(p1);
	unlink(p2);
	rmdir(sub);
	rmdir(dir);
	pass();
	return 0;
}
