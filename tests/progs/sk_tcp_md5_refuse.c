/* sk_tcp_md5_refuse: a loopback TCP connection signed with TCP MD5 keys
 * (TCP_MD5SIG, as BGP daemons set them) and its listener, both ends in the
 * tree.  The keys can be set but not read back with getsockopt, and cryo
 * does not restore them: the dump must refuse (a restore without them
 * would leave a connection whose every segment the peer drops).
 * After SIGTERM: the connection still carries data both ways. */
#include <signal.h>
#include <unistd.h>

#include "sk_inet_util.h"

static int md5(int fd, const struct sockaddr_storage *peer, socklen_t l)
{
	struct tcp_md5sig m;
	memset(&m, 0, sizeof(m));
	memcpy(&m.tcpm_addr, peer, l);
	m.tcpm_keylen = 8;
	memcpy(m.tcpm_key, "cryo-md5", 8);
	return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &m, sizeof(m));
}

int main(int argc, char **argv)
{
	test_doc = "a TCP connection with MD5 signature keys: refused at dump";
	test_init(argc, argv);
	struct sockaddr_storage ss, lo;
	socklen_t l = loopback(AF_INET, &ss, 0);
	loopback(AF_INET, &lo, 0);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || c < 0 || md5(lfd, &lo, l) || md5(c, &lo, l) ||
	    bind(lfd, (struct sockaddr *)&ss, l) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &l) || connect(c, (struct sockaddr *)&ss, l))
		setup_fail("MD5 keys, connect: %s", strerror(errno));
	int s = accept_wait(lfd, 2000);
	if (s < 0)
		setup_fail("accept: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	char b[2] = "";
	struct pollfd p = { .fd = s, .events = POLLIN };
	if (send(c, "x", 1, 0) != 1 || poll(&p, 1, 2000) != 1 || recv(s, b, 1, 0) != 1 || b[0] != 'x')
		fail("no data from the client to the server");
	p.fd = c;
	if (send(s, "y", 1, 0) != 1 || poll(&p, 1, 2000) != 1 || recv(c, b, 1, 0) != 1 || b[0] != 'y')
		fail("no data from the server to the client");
	return test_verdict();
}
