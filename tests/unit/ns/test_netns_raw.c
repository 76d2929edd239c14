/* iproute2's save format as lib/ns/net_rtnl.c reads it back: a damaged
 * ifaddr/route/rule image (wrong magic, a message cut short, a length
 * running past the end, a message of another type) is refused as a whole
 * before anything is sent (the socket given is -1: a send would fail
 * otherwise), an absent optional one is fine, an absent required one is
 * an error.  Needs no privilege. */
#include "../unit.h"
#include "ns/net-int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int dirfd_;

static void put(const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, a, alen) == (ssize_t)alen);
	if (blen)
		CHECK(write(fd, b, blen) == (ssize_t)blen);
	close(fd);
}

int main(void)
{
	char dir[] = "/tmp/cryo-test-netns-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dirfd_ >= 0);

	uint32_t addr_magic = 0x47361222, route_magic = 0x45311224;
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg a;
	} m = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
		       .nlmsg_type = RTM_NEWADDR } };

	fprintf(stderr, "(errors about damaged images are expected)\n");
	/* not iproute2's magic */
	put("ifaddr-1.img", &route_magic, 4, &m, sizeof(m));
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_IFADDR, 1, false), -EINVAL);
	/* a message whose length runs past the end of the file */
	m.h.nlmsg_len = 4096;
	put("ifaddr-1.img", &addr_magic, 4, &m, sizeof(m));
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_IFADDR, 1, false), -EINVAL);
	/* one shorter than its header */
	m.h.nlmsg_len = NLMSG_LENGTH(0);
	put("ifaddr-1.img", &addr_magic, 4, &m, sizeof(m));
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_IFADDR, 1, false), -EINVAL);
	/* a whole header cut short */
	put("ifaddr-1.img", &addr_magic, 4, &m, 6);
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_IFADDR, 1, false), -EINVAL);
	/* a message of another type than the image holds */
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	m.h.nlmsg_type = RTM_DELADDR;
	put("ifaddr-1.img", &addr_magic, 4, &m, sizeof(m));
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_IFADDR, 1, false), -EINVAL);
	/* shorter than the magic */
	put("route-1.img", &route_magic, 2, NULL, 0);
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_ROUTE, 1, false), -EINVAL);
	/* the magic alone: nothing to send */
	put("route-1.img", &route_magic, 4, NULL, 0);
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_ROUTE, 1, false), 0);
	/* absent: fine where optional (route6, rule), an error where not */
	CHECK_INT(rtnl_replay(-1, dirfd_, IMG_RULE, 1, true), 0);
	CHECK(rtnl_replay(-1, dirfd_, IMG_ROUTE6, 1, false) < 0);

	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return unit_done("netns-raw");
}
