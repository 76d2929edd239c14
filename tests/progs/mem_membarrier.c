/* mem_membarrier: membarrier registrations (per process) come back.  The
 * process registers for private expedited barriers, with SYNC_CORE and with
 * RSEQ; after restore each of those commands must work (EPERM when not
 * registered) and MEMBARRIER_CMD_GET_REGISTRATIONS must report the same set
 * (in particular not the global expedited one it never asked for).
 */
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define CMD_GET_REGISTRATIONS (1 << 9)	/* kernel 6.3 */

static long mb(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

int main(int argc, char **argv)
{
	static const struct {
		int reg, cmd;
		const char *name;
	} kinds[] = {
		{ MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, MEMBARRIER_CMD_PRIVATE_EXPEDITED,
		  "PRIVATE_EXPEDITED" },
		{ MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
		  MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, "PRIVATE_EXPEDITED_SYNC_CORE" },
		{ MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
		  "PRIVATE_EXPEDITED_RSEQ" },
	};
	test_doc = "membarrier registrations survive: registered commands still work";
	test_init(argc, argv);
	long supported = mb(MEMBARRIER_CMD_QUERY);
	if (supported < 0)
		setup_fail("membarrier(QUERY): %s", strerror(errno));
	long expect = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!(supported & kinds[i].reg))
			continue;
		/* before registering, the command is refused: the check below means something */
		if (mb(kinds[i].cmd) != -1 || errno != EPERM)
			setup_fail("%s works without registration", kinds[i].name);
		if (mb(kinds[i].reg))
			setup_fail("register %s: %s", kinds[i].name, strerror(errno));
		expect |= kinds[i].reg;
	}
	if (!(expect & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED))
		setup_fail("private expedited membarrier not supported");
	long regs = mb(CMD_GET_REGISTRATIONS);
	if (regs != expect)
		setup_fail("GET_REGISTRATIONS: %ld (%s), expected 0x%lx", regs,
			   regs < 0 ? strerror(errno) : "", expect);

	test_daemon();
	test_waitsig();

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((expect & kinds[i].reg) && mb(kinds[i].cmd))
			fail("membarrier(%s) after restore: %s (the registration was lost)",
			     kinds[i].name, strerror(errno));
	regs = mb(CMD_GET_REGISTRATIONS);
	if (regs != expect)
		fail("GET_REGISTRATIONS after restore: 0x%lx, expected 0x%lx", regs, expect);
	return test_verdict();
}
