/* seccomp_notify: a filter that hands getppid to a user-space supervisor
 * (SECCOMP_RET_USER_NOTIF), whose listener fd the process holds.  The link
 * between filter and listener can't be recreated, so cryo must refuse the
 * dump, clearly, and leave the process as it was (see seccomp_notify.desc).
 * After SIGTERM: still one seccomp filter, the listener fd still open.
 * getppid is never called (it would wait for the supervisor).
 */
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static int filters(void)
{
	char line[256];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Seccomp_filters:", 16))
			n = atoi(line + 16);
	if (f)
		fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	int listener;

	test_doc = "seccomp user notification: the dump must refuse";
	test_init(argc, argv);
	listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			   &prog);
	if (listener < 0)
		setup_fail("seccomp with a listener: %s", strerror(errno));
	test_daemon();
	test_waitsig();
	if (filters() != 1)
		fail("/proc/self/status lists %d seccomp filters, expected 1", filters());
	if (fcntl(listener, F_GETFD) < 0)
		fail_errno("the listener fd %d is gone", listener);
	return test_verdict();
}
