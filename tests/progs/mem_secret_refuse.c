/* mem_secret_refuse: memfd_secret() memory (kernel 5.14) can be read by no
 * process but its owner (not through /proc/PID/mem, process_vm_readv or
 * ptrace; /proc/PID/map_files won't open it), so cryo can't save it yet:
 * the dump must refuse, naming the mapping, and leave the process running
 * unharmed.  State: a 3-page secret memfd mapped MAP_SHARED with a pattern
 * in pages 0-1, its descriptor kept open (cryo refuses such a descriptor
 * alone too), and a 1-page one whose descriptor was closed.  After
 * SIGTERM: contents, zeros, and one object with the descriptor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

enum { S_A = 0x3100, S_B = 0x3200, S_NEW = 0x3300 };

static char *secret(size_t len, int *fdp)
{
	int fd = syscall(SYS_memfd_secret, 0);
	if (fd < 0)
		setup_fail("memfd_secret: %s", strerror(errno));
	if (ftruncate(fd, len))
		setup_fail("ftruncate: %s", strerror(errno));
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap secretmem: %s", strerror(errno));
	*fdp = fd;
	return p;
}

int main(int argc, char **argv)
{
	int fa, fb;

	test_doc = "memfd_secret memory is refused at dump, unharmed";
	test_init(argc, argv);
	size_t pg = sysconf(_SC_PAGESIZE);
	char *a = secret(3 * pg, &fa);
	pattern_fill(a, 2 * pg, S_A);
	char *b = secret(pg, &fb);
	pattern_fill(b, pg, S_B);
	close(fb);

	test_daemon();
	test_waitsig();

	if (pattern_check(a, 2 * pg, S_A) >= 0)
		fail("A pages 0-1 differ");
	if (zero_check(a + 2 * pg, pg) >= 0)
		fail("A page 2 (never touched) is not zero");
	if (pattern_check(b, pg, S_B) >= 0)
		fail("B differs");
	char *a2 = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fa, pg);
	if (a2 == MAP_FAILED) {
		fail_errno("mmap of A's descriptor");
	} else {
		pattern_fill(a2, pg, S_NEW);
		if (pattern_check(a + pg, pg, S_NEW) >= 0)
			fail("A's descriptor and mapping are not one object");
	}
	return test_verdict();
}
