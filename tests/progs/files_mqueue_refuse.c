/* files_mqueue_refuse: a POSIX message queue descriptor (here of cryo's own
 * IPC namespace, unlinked at once so nothing outlives the test) can't be
 * saved yet: refused at dump, naming the descriptor; the process goes on
 * with the queue and its message intact. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	char name[64], buf[64];
	unsigned prio = 0;

	test_doc = "a POSIX message queue descriptor is refused at dump, unharmed";
	test_init(argc, argv);
	snprintf(name, sizeof(name), "/cryo-mq-refuse-%d", getpid());
	struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 64 };
	mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
	if (q == (mqd_t)-1)
		setup_fail("mq_open(%s): %s", name, strerror(errno));
	mq_unlink(name);
	if (mq_send(q, "kept", 4, 3))
		setup_fail("mq_send: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	ssize_t n = mq_receive(q, buf, sizeof(buf), &prio);
	if (n != 4 || memcmp(buf, "kept", 4) || prio != 3)
		fail("the queue's message is not the one sent (%zd bytes, priority %u)", n, prio);
	return test_verdict();
}
