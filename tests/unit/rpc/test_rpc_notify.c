/* The RPC's notifications with a descriptor (criu's orphan-pts-master):
 * the descriptor comes in the same datagram as the NOTIFY answer, as runc
 * reads it, and the client's reply decides the result. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit.h"
#include "rpc/rpc-int.h"
#include "util/log.h"

/* The client: checks what came (exit status: the number of problems),
 * answers @ok.  @want_ino: the inode the descriptor must be on (0: none). */
static int client(int sk, const char *script, ino_t want_ino, bool ok)
{
	uint8_t buf[4096];
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	int bad = 0, fd = -1;
	ssize_t n = recvmsg(sk, &mh, 0);
	if (n <= 0)
		return 100;
	CriuResp *r = criu_resp__unpack(NULL, n, buf);
	if (!r || r->type != CRIU_REQ_TYPE__NOTIFY || !r->success || !r->notify ||
	    !r->notify->script || strcmp(r->notify->script, script))
		bad++;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	struct stat st;
	if (want_ino && (fd < 0 || fstat(fd, &st) || st.st_ino != want_ino))
		bad++;
	if (!want_ino && fd >= 0)
		bad++;
	if (r)
		criu_resp__free_unpacked(r, NULL);
	CriuReq q = CRIU_REQ__INIT;
	q.has_type = true;
	q.type = CRIU_REQ_TYPE__NOTIFY;
	q.has_notify_success = true;
	q.notify_success = ok;
	size_t len = criu_req__get_packed_size(&q);
	criu_req__pack(&q, buf);
	if (send(sk, buf, len, 0) != (ssize_t)len)
		bad++;
	return bad;
}

static void one(const char *script, int pid, bool with_fd, bool ok)
{
	int sk[2], p[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sk), 0);
	CHECK_INT(pipe(p), 0);
	struct stat st;
	CHECK_INT(fstat(p[0], &st), 0);
	pid_t c = fork();
	if (c == 0) {
		close(sk[0]);
		_exit(client(sk[1], script, with_fd ? st.st_ino : 0, ok));
	}
	close(sk[1]);
	int ret = rpc_notify_one(sk[0], script, pid, with_fd ? p[0] : -1);
	CHECK_INT(ret, ok ? 0 : -ECANCELED);
	int status;
	CHECK_INT(waitpid(c, &status, 0), c);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	close(sk[0]);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	log_init(NULL, -1);
	one("orphan-pts-master", 0, true, true);
	one("orphan-pts-master", 0, true, false);
	one("post-restore", 42, false, true);
	return unit_failures ? 1 : 0;
}
