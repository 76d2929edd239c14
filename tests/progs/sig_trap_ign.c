/* sig_trap_ign: SIGTRAP ignored (SIG_IGN) in a two-thread process.
 *
 * The restore stops the task on int3 many times, and each forced SIGTRAP
 * resets an ignored SIGTRAP to SIG_DFL: the ignored disposition must still
 * be there afterwards.  After SIGTERM: sigaction(SIGTRAP) is SIG_IGN (with
 * its flags and mask), raise(SIGTRAP) does not kill the process, and SIGUSR2
 * keeps its handler.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t got_usr2;
static void on_usr2(int s) { (void)s; got_usr2 = 1; }
static void *idle(void *a) { (void)a; for (;;) pause(); return NULL; }

int main(int argc, char **argv)
{
	test_doc = "SIGTRAP set to SIG_IGN survives the restore's int3 stops";
	test_init(argc, argv);
	struct sigaction ign = { .sa_handler = SIG_IGN, .sa_flags = SA_RESTART };
	sigaddset(&ign.sa_mask, SIGUSR1);
	struct sigaction u2 = { .sa_handler = on_usr2 };
	if (sigaction(SIGTRAP, &ign, NULL) || sigaction(SIGUSR2, &u2, NULL))
		setup_fail("sigaction: %s", strerror(errno));
	pthread_t th;
	if (pthread_create(&th, NULL, idle, NULL))
		setup_fail("pthread_create");

	test_daemon();
	test_waitsig();

	struct sigaction now;
	sigaction(SIGTRAP, NULL, &now);
	if (now.sa_handler != SIG_IGN)
		fail("SIGTRAP's handler is %p, not SIG_IGN", (void *)now.sa_handler);
	else if (!(now.sa_flags & SA_RESTART) || !sigismember(&now.sa_mask, SIGUSR1))
		fail("SIGTRAP's flags %#x or mask lost", now.sa_flags);
	else {
		raise(SIGTRAP);	/* ignored: we go on */
		raise(SIGUSR2);
		if (!got_usr2)
			fail("SIGUSR2's handler did not run");
	}
	pass();
	return 0;
}
