/* vdso_proxy: the dumped vDSO redirected to this kernel's (a "vdso proxy").
 *
 * Restored with CRYO_VDSO_PROXY=1, which makes cryo act as on a kernel
 * whose vDSO differs: this kernel's vDSO goes to a free spot, and the
 * dumped one comes back at its old address with each function jumping to
 * the new one.  glibc resolved the vDSO functions at startup, so the
 * process keeps calling the old addresses.
 * After SIGTERM (in the process and in a child forked before the dump):
 * [vdso] is no longer at the address it had (so the proxy path ran), the old
 * address is still mapped, and clock_gettime (MONOTONIC, REALTIME, coarse),
 * gettimeofday, time and sched_getcpu, all through glibc's vDSO pointers,
 * agree with the raw system calls.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static uint64_t old_vdso;

static uint64_t vdso_in_maps(void)
{
	char line[512];
	uint64_t a = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]"))
			a = strtoull(line, NULL, 16);
	if (f)
		fclose(f);
	return a;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* 0 if all is well, else a code naming what is wrong */
static int check(void)
{
	uint64_t now = vdso_in_maps();
	if (!now || now == old_vdso)
		return 1;	/* the proxy path did not run */
	if (msync((void *)old_vdso, 4096, MS_ASYNC))
		return 2;	/* the old address is not mapped */
	clockid_t clocks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_MONOTONIC_COARSE,
			       CLOCK_BOOTTIME };
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		struct timespec v, s;
		if (clock_gettime(clocks[i], &v) || syscall(SYS_clock_gettime, clocks[i], &s))
			return 3;
		int64_t d = ts_ns(&s) - ts_ns(&v);
		if (d < -20000000 || d > 200000000)
			return 4;
	}
	struct timeval tv;
	if (gettimeofday(&tv, NULL) || llabs((int64_t)tv.tv_sec - (int64_t)syscall(SYS_time, NULL)) > 1)
		return 5;
	if (llabs((int64_t)time(NULL) - (int64_t)syscall(SYS_time, NULL)) > 1)
		return 6;
	unsigned cpu = 0;
	if (sched_getcpu() < 0 || syscall(SYS_getcpu, &cpu, NULL, NULL))
		return 7;
	return 0;
}

int main(int argc, char **argv)
{
	test_doc = "the dumped vDSO comes back as a proxy to this kernel's vDSO";
	test_init(argc, argv);
	old_vdso = getauxval(AT_SYSINFO_EHDR);
	if (!old_vdso || vdso_in_maps() != old_vdso)
		setup_fail("no vDSO, or [vdso] is not at AT_SYSINFO_EHDR");
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);	/* resolve it before the dump */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	pid_t child = fork();
	if (child == 0) {
		test_forked_child();
		int sig;
		sigwait(&usr1, &sig);
		_exit(check() ? 10 + check() : 0);
	}

	test_daemon();
	test_waitsig();

	int c = check();
	if (c)
		fail("check %d failed in the process (1: [vdso] did not move, 2: old address "
		     "unmapped, 3-7: clock_gettime/gettimeofday/time/getcpu wrong)", c);
	kill(child, SIGUSR1);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child found its vDSO wrong (status %#x)", st);
	pass();
	return 0;
}
