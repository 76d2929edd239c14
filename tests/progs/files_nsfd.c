/* files_nsfd: descriptors held on namespace files of the namespaces the
 * test runs in (cryo's own: network, UTS, IPC, mount, user, cgroup), one
 * of them dup'ed, one with O_CLOEXEC: after restore each names the
 * namespace the process is in again (fstat inode == /proc/self/ns/KIND),
 * keeps its close-on-exec flag, and setns(2) takes it (lib/files/nsfile.c). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static const char *const kinds[] = { "net", "uts", "ipc", "mnt", "user", "cgroup" };
#define N (sizeof(kinds) / sizeof(kinds[0]))

static ino_t self_ino(const char *kind)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	return stat(path, &st) ? 0 : st.st_ino;
}

int main(int argc, char **argv)
{
	int fd[N];
	test_init(argc, argv);
	for (size_t i = 0; i < N; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i]);
		fd[i] = open(path, O_RDONLY | (i == 1 ? O_CLOEXEC : 0));
		if (fd[i] < 0)
			setup_fail("open %s: %s", path, strerror(errno));
	}
	int dup_net = dup(fd[0]);
	if (dup_net < 0)
		setup_fail("dup: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	for (size_t i = 0; i < N; i++) {
		struct stat st;
		if (fstat(fd[i], &st))
			fail_errno("fstat of the %s namespace descriptor", kinds[i]);
		else if (st.st_ino != self_ino(kinds[i]))
			fail("the %s namespace descriptor names inode %lu, the process is in %lu",
			     kinds[i], (unsigned long)st.st_ino, (unsigned long)self_ino(kinds[i]));
		int fl = fcntl(fd[i], F_GETFD);
		if (fl < 0 || !!(fl & FD_CLOEXEC) != (i == 1))
			fail("the %s namespace descriptor's close-on-exec flag is %d", kinds[i], fl);
	}
	struct stat a, b;
	if (fstat(dup_net, &a) || fstat(fd[0], &b) || a.st_ino != b.st_ino)
		fail("the dup'ed network namespace descriptor names another namespace");
	if (setns(fd[0], CLONE_NEWNET))
		fail_errno("setns with the restored network namespace descriptor");
	if (setns(fd[1], CLONE_NEWUTS))
		fail_errno("setns with the restored UTS namespace descriptor");
	pass();
	return 0;
}
