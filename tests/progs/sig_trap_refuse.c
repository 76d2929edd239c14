/* sig_trap_refuse: a pending SIGTRAP can't be restored (the restore
 * trampoline stops on int3, which unblocks and consumes SIGTRAP), so the
 * dump must refuse and leave the process as it was.
 *
 * Before the checkpoint: SIGTRAP blocked, and queued to the process with
 * sigqueue() (value 0x7777).  After SIGTERM (the dump was refused): SIGTRAP
 * is still pending with its value.
 */
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	sigset_t trap;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	union sigval v = { .sival_int = 0x7777 };

	test_doc = "a pending SIGTRAP: the dump refuses";
	test_init(argc, argv);
	sigemptyset(&trap);
	sigaddset(&trap, SIGTRAP);
	if (sigprocmask(SIG_BLOCK, &trap, NULL) || sigqueue(getpid(), SIGTRAP, v))
		setup_fail("SIGTRAP: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	if (sigtimedwait(&trap, &si, &zero) != SIGTRAP)
		fail("SIGTRAP is no longer pending: %s", strerror(errno));
	else if (si.si_code != SI_QUEUE || si.si_value.sival_int != 0x7777)
		fail("SIGTRAP: code %d value %#x", si.si_code, si.si_value.sival_int);
	return test_verdict();
}
