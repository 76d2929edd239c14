/* mem_predump_uffd_refuse: a process that registered memory with a
 * userfaultfd of its own.  cryo pre-dump can't track it (its registration
 * would read as cryo's) and must refuse, leaving it running unharmed:
 * tests/runner/predump.py pre-only runs just the pre-dump. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	size_t len = 8 * sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	struct uffdio_api api = { .api = UFFD_API };
	if (m == MAP_FAILED || uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		setup_fail("userfaultfd: %s", strerror(errno));
	memset(m, 'u', len);
	struct uffdio_register reg = { .range = { (unsigned long)m, len },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		setup_fail("UFFDIO_REGISTER: %s", strerror(errno));
	test_daemon();
	test_waitsig();
	for (size_t i = 0; i < len; i++)
		if (m[i] != 'u') {
			fail("registered memory changed at byte %zu", i);
			break;
		}
	return test_verdict();
}
