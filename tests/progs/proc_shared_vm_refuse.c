/* proc_shared_vm_refuse: a child made with clone(CLONE_VM | CLONE_SIGHAND)
 * but not CLONE_THREAD (LinuxThreads style) shares the root's memory and
 * signal actions.  cryo can't recreate an address space shared by two
 * processes: the dump must refuse, naming both, and leave them running
 * (after SIGTERM the child still counts in the shared memory). */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define STACK (256 << 10)

static volatile uint64_t counter;
static volatile int stop;

static int child(void *arg)
{
	(void)arg;
	while (!stop)
		counter++;
	return 0;
}

int main(int argc, char **argv)
{
	test_doc = "a process sharing the root's memory (CLONE_VM without CLONE_THREAD): refused";
	test_init(argc, argv);
	char *st = malloc(STACK);
	pid_t c = clone(child, st + STACK, CLONE_VM | CLONE_SIGHAND | SIGCHLD, NULL);
	if (c < 0)
		setup_fail("clone");
	while (!counter)
		test_sleep_ms(1);
	test_daemon();
	test_waitsig();

	uint64_t before = counter;
	test_sleep_ms(20);
	if (counter == before)
		fail("the child does not run any more");
	stop = 1;
	int s;
	if (waitpid(c, &s, 0) != c || !WIFEXITED(s) || WEXITSTATUS(s))
		fail("the child ended with status 0x%x", s);
	return test_verdict();
}
