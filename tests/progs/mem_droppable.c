/* mem_droppable: MAP_DROPPABLE memory (kernel 6.11), the kind the vDSO's
 * getrandom() state lives in.
 *
 * State built before the checkpoint: a 16-page MAP_DROPPABLE mapping whose
 * pages 0-5 hold a pattern (the rest never touched), and a plain private
 * mapping beside it.
 * After SIGTERM: the mapping is still droppable ("dp" in VmFlags, with the
 * "wf" and "dd" the kernel gives such mappings), is still rw-p, one VMA of
 * 16 pages, and holds the pattern (the kernel may drop droppable pages only
 * under memory pressure, which the test machine is not under: pages present
 * at the dump must be back), the untouched pages read as zeros; a child
 * forked now sees the mapping wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

#define NPG 16
enum { S_DROP = 0xd100, S_PLAIN = 0xd200 };

int main(int argc, char **argv)
{
	test_doc = "MAP_DROPPABLE memory comes back droppable, with its pages";
	test_init(argc, argv);
	size_t pg = sysconf(_SC_PAGESIZE);
	char *d = mmap(NULL, NPG * pg, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
	char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d == MAP_FAILED || p == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	pattern_fill(d, 6 * pg, S_DROP);
	pattern_fill(p, 4 * pg, S_PLAIN);
	if (!vma_has_flag(d, "dp"))
		setup_fail("this kernel does not show \"dp\" for a MAP_DROPPABLE mapping");

	test_daemon();
	test_waitsig();

	struct smaps_vma v;
	if (smaps_lookup(d, NULL, &v)) {
		fail("the droppable mapping at %p is gone", d);
		return test_verdict();
	}
	if (v.start != (uintptr_t)d || v.end != (uintptr_t)d + NPG * pg)
		fail("the droppable mapping is 0x%lx-0x%lx, expected %p-%p", (unsigned long)v.start,
		     (unsigned long)v.end, d, d + NPG * pg);
	if (strcmp(v.perms, "rw-p"))
		fail("the droppable mapping is %s, expected rw-p", v.perms);
	const char *want[] = { "dp", "wf", "dd" };
	for (int i = 0; i < 3; i++)
		if (!vma_has_flag(d, want[i]))
			fail("the droppable mapping lacks VmFlag %s (VmFlags:%s)", want[i], v.vmflags);
	if (vma_has_flag(p, "dp"))
		fail("the plain mapping became droppable");
	ssize_t off = pattern_check(d, 6 * pg, S_DROP);
	if (off >= 0)
		fail("droppable page %zd: byte 0x%zx is 0x%02x, expected 0x%02x", off / pg, off,
		     (uint8_t)d[off], pattern_byte(S_DROP, off));
	if (zero_check(d + 6 * pg, (NPG - 6) * pg) >= 0)
		fail("untouched droppable pages are not zero");
	if (pattern_check(p, 4 * pg, S_PLAIN) >= 0)
		fail("the plain mapping differs");

	pid_t c = fork();
	if (c == 0)
		_exit(zero_check(d, NPG * pg) >= 0);	/* VM_WIPEONFORK: zeros */
	int st;
	if (c < 0 || waitpid(c, &st, 0) != c)
		fail_errno("fork/waitpid");
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("a child forked after the restore still sees the droppable pages");
	return test_verdict();
}
