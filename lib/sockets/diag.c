#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sock_diag_query(void *req, size_t len, int (*cb)(struct nlmsghdr *h, void *arg), void *arg)
{
	struct nlmsghdr *rh = req;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (sk < 0)
		return_perror("can't open a NETLINK_SOCK_DIAG socket");
	rh->nlmsg_len = len;
	rh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	rh->nlmsg_flags |= NLM_F_REQUEST;
	int ret = 0;
	if (sendto(sk, req, len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)len) {
		ret = -errno;
		pr_perror("can't send a sock_diag request");
		goto out;
	}
	size_t bufsz = 64 * 1024;
	char *buf = xmalloc(bufsz);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	bool dump = rh->nlmsg_flags & NLM_F_DUMP;
	for (bool done = false; !done;) {
		ssize_t n = recv(sk, buf, bufsz, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			pr_perror("can't read a sock_diag reply");
			break;
		}
		if (n == 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				ret = e->error;
				done = true;
				break;
			}
			ret = cb(h, arg);
			if (ret || !dump) {
				done = true;
				break;
			}
		}
	}
	free(buf);
out:
	close(sk);
	return ret;
}
