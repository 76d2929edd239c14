/* seccomp_filter: a process under two stacked seccomp BPF filters.
 *
 * State built before the checkpoint:
 *   - no_new_privs, then filter 1: rt_sigaction fails with EPERM.  cryo's
 *     dump runs rt_sigaction inside the task to read its signal actions, so
 *     it must suspend the filters (PTRACE_O_SUSPEND_SECCOMP) while it works;
 *   - filter 2: uname fails with EACCES (a different errno, so each filter
 *     is seen to be there), and everything else is allowed;
 *   - both fail getsid, filter 1 with EPERM, filter 2 with EACCES: the
 *     kernel returns the errno of the newest, so the order is checked.
 * After SIGTERM: /proc/self/status says Seccomp 2 with exactly 2 filters,
 * rt_sigaction still fails with EPERM, uname with EACCES, and other
 * syscalls (getpid, write to the outfile, clock_gettime) work.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

/* A filter failing syscalls @nr and getsid with @err. */
static int install_deny(long nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getsid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* "Seccomp:" and "Seccomp_filters:" of /proc/self/status */
static void seccomp_status(int *mode, int *filters)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	*mode = *filters = -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Seccomp:", 8))
			*mode = atoi(line + 8);
		else if (!strncmp(line, "Seccomp_filters:", 16))
			*filters = atoi(line + 16);
	}
	fclose(f);
}

static void check_filters(const char *when)
{
	struct sigaction sa;
	struct utsname u;
	struct timespec ts;
	int mode, filters;

	seccomp_status(&mode, &filters);
	if (mode != 2 || filters != 2)
		fail("%s: /proc/self/status says Seccomp %d with %d filters, expected 2 and 2", when,
		     mode, filters);
	errno = 0;
	if (syscall(SYS_rt_sigaction, SIGUSR1, NULL, &sa, 8) != -1 || errno != EPERM)
		fail("%s: rt_sigaction returned errno %d (%s), expected EPERM from filter 1", when,
		     errno, strerror(errno));
	errno = 0;
	if (uname(&u) != -1 || errno != EACCES)
		fail("%s: uname returned errno %d (%s), expected EACCES from filter 2", when, errno,
		     strerror(errno));
	/* both filters fail getsid; the newest one's errno wins */
	errno = 0;
	if (syscall(SYS_getsid, 0) != -1 || errno != EACCES)
		fail("%s: getsid returned errno %d (%s), expected EACCES from filter 2, the "
		     "newest (filters restored in the wrong order?)", when, errno, strerror(errno));
	if (syscall(SYS_getpid) != getpid())
		fail("%s: getpid does not work", when);
	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		fail_errno("%s: clock_gettime", when);
}

int main(int argc, char **argv)
{
	test_doc = "two stacked seccomp filters: rt_sigaction -> EPERM, uname -> EACCES";
	test_init(argc, argv);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		setup_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (install_deny(__NR_rt_sigaction, EPERM))
		setup_fail("seccomp filter 1: %s", strerror(errno));
	if (install_deny(__NR_uname, EACCES))
		setup_fail("seccomp filter 2: %s", strerror(errno));
	check_filters("before the checkpoint");
	if (test_failures())
		test_exit(1);
	test_daemon();
	test_waitsig();
	check_filters("after restore");
	return test_verdict();
}
