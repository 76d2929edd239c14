/* mem_vmflags_refuse: a VMA flag cryo can't give back -- an mseal()ed
 * mapping ("sl" in VmFlags, kernel 6.10).  The dump must refuse naming the
 * flag and the mapping, and leave the process running unharmed: after
 * SIGTERM the mapping is still sealed (munmap fails with EPERM) and holds
 * its data.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#ifndef __NR_mseal
#define __NR_mseal 462
#endif

int main(int argc, char **argv)
{
	test_doc = "an mseal()ed mapping: the dump refuses, naming the flag";
	test_init(argc, argv);
	size_t pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	pattern_fill(p, 2 * pg, 0x5e1);
	if (syscall(__NR_mseal, p, 2 * pg, 0))
		setup_fail("mseal: %s", strerror(errno));
	test_daemon();
	test_waitsig();
	if (!vma_has_flag(p, "sl"))
		fail("the mapping is no longer sealed");
	if (pattern_check(p, 2 * pg, 0x5e1) >= 0)
		fail("the sealed mapping's data changed");
	if (!munmap(p, 2 * pg) || errno != EPERM)
		fail("munmap of the sealed mapping did not fail with EPERM");
	return test_verdict();
}
