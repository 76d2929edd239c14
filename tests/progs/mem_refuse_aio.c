/* mem_refuse_aio: a mapping cryo can't save -- the ring of an AIO context
 * (io_setup).  The dump must refuse, naming it, and leave the process
 * running unharmed: after SIGTERM the ring is still mapped and the context
 * can still be destroyed.
 */
#include <linux/aio_abi.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	test_doc = "an AIO ring: the dump refuses clearly";
	test_init(argc, argv);
	if (syscall(SYS_io_setup, 8, &ctx))
		setup_fail("io_setup: %s", strerror(errno));
	test_daemon();
	test_waitsig();
	struct smaps_vma v;
	if (smaps_lookup((void *)ctx, NULL, &v) || strncmp(v.path, "/[aio]", 6))
		fail("the AIO ring at 0x%lx is gone", (unsigned long)ctx);
	if (syscall(SYS_io_destroy, ctx))
		fail_errno("io_destroy");
	return test_verdict();
}
