/* zombie_leader_refuse: a child whose main thread has exited (a zombie
 * leader) while another of its threads runs.  The kernel can't create a
 * thread group without its leader, so the dump must refuse, naming the
 * process, and leave the tree running: after SIGTERM the root finds the
 * child still there, its thread still counting. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile uint64_t *counter;

static void *worker(void *arg)
{
	(void)arg;
	for (;;)
		(*counter)++;
	return NULL;
}

int main(int argc, char **argv)
{
	test_doc = "a process whose leader thread exited while another thread runs: refused";
	test_init(argc, argv);
	counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counter == MAP_FAILED)
		setup_fail("mmap");
	pid_t c = fork();
	if (c < 0)
		setup_fail("fork");
	if (c == 0) {
		pthread_t t;
		test_forked_child();
		if (pthread_create(&t, NULL, worker, NULL))
			_exit(1);
		syscall(SYS_exit, 0);	/* only the main thread */
	}
	while (!*counter)
		test_sleep_ms(1);
	siginfo_t si = { 0 };
	if (!waitid(P_PID, c, &si, WEXITED | WNOHANG | WNOWAIT) && si.si_pid == c)
		setup_fail("the whole child exited");
	test_daemon();
	test_waitsig();

	uint64_t before = *counter;
	test_sleep_ms(20);
	if (*counter == before)
		fail("the child's thread does not run any more");
	kill(c, SIGKILL);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail("the child ended with status 0x%x, expected killed by SIGKILL", st);
	return test_verdict();
}
