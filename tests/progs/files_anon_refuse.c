/* files_anon_refuse: descriptor kinds cryo can't dump are refused by kind
 * and fd number, and the target goes on unharmed.
 *   --kind io_uring     an io_uring instance (io_uring_setup)
 *   --kind userfaultfd  a userfaultfd
 * After SIGTERM (the dump refused, the test never stopped running) the
 * descriptor still works: the ring's parameters, the userfaultfd's API
 * handshake. */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *kind = "io_uring";
TEST_OPTION(kind, string, "io_uring or userfaultfd", 0);

int main(int argc, char **argv)
{
	test_doc = "io_uring and userfaultfd descriptors are refused";
	test_init(argc, argv);
	int fd;
	struct io_uring_params p;
	if (!strcmp(kind, "io_uring")) {
		memset(&p, 0, sizeof(p));
		fd = syscall(SYS_io_uring_setup, 8, &p);
	} else {
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	}
	if (fd < 0)
		setup_fail("%s: %s", kind, strerror(errno));

	test_daemon();
	test_waitsig();

	if (!strcmp(kind, "io_uring")) {
		/* a NOP-less enter: the ring still answers */
		if (syscall(SYS_io_uring_enter, fd, 0, 0, 0, NULL, 0) < 0)
			fail("io_uring_enter on the ring: %s", strerror(errno));
	} else {
		struct uffdio_api api = { .api = UFFD_API };
		if (ioctl(fd, UFFDIO_API, &api))
			fail("UFFDIO_API on the userfaultfd: %s", strerror(errno));
	}
	pass();
	return 0;
}
