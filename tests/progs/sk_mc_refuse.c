/* sk_mc_refuse: a UDP socket joined a multicast group on lo with a source
 * filter (IP_ADD_SOURCE_MEMBERSHIP), which cryo can't restore: the dump
 * must refuse, and the process go on unharmed (still a member). */
#include <net/if.h>
#include <unistd.h>

#include "sk_inet_util.h"

static bool member(int fd)
{
	struct ip_msfilter f = { .imsf_fmode = 0 };
	socklen_t l = sizeof(f);
	inet_pton(AF_INET, "239.1.2.4", &f.imsf_multiaddr);
	f.imsf_interface.s_addr = htonl(INADDR_LOOPBACK);
	return !getsockopt(fd, SOL_IP, IP_MSFILTER, &f, &l);
}

int main(int argc, char **argv)
{
	test_doc = "a source-specific multicast membership: refused at dump";
	test_init(argc, argv);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ip_mreq_source mr = { .imr_interface = { htonl(INADDR_LOOPBACK) } };
	inet_pton(AF_INET, "239.1.2.4", &mr.imr_multiaddr);
	inet_pton(AF_INET, "127.0.0.2", &mr.imr_sourceaddr);
	if (fd < 0 || setsockopt(fd, SOL_IP, IP_ADD_SOURCE_MEMBERSHIP, &mr, sizeof(mr)) || !member(fd))
		setup_fail("IP_ADD_SOURCE_MEMBERSHIP: %s", strerror(errno));
	test_daemon();
	test_waitsig();
	if (!member(fd))
		fail("no longer a member of 239.1.2.4");
	return test_verdict();
}
