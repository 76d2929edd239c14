/* files_root_dropped: files a child opened as root before it dropped to
 * nobody (setresuid), as daemons do.
 *
 * Before the checkpoint (files next to the outfile), in the child C:
 *   fd 10: "p2-root" (0600, root's) O_RDWR, also at the highest number its
 *          hard RLIMIT_NOFILE allows (at most 70000): the restore must find
 *          room for its own descriptors without raising the hard limit;
 *   fd 11: O_PATH of "p2-opath", then deleted;
 *   fd 12: O_WRONLY|O_APPEND of "p2-app" (300 bytes), then deleted;
 *   fd 13: a memfd of 3000 bytes sealed F_SEAL_WRITE|SHRINK|SEAL;
 *   fd 14: a memfd mapped MAP_SHARED read-write, then sealed
 *          F_SEAL_FUTURE_WRITE (the mapping stays writable).
 *   Then C drops to uid/gid 65534 and waits.
 * After SIGTERM: C still reads and writes fd 10, fd 11 is the deleted file
 * O_PATH, fd 12 appends, the seals and data are as they were, the mapping
 * is writable but the memfd not.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "files opened before dropping root";
	test_init(argc, argv);
	char tmp[2048], dir[2048], a[3000], b[3000], c[3000];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(a, sizeof(a), "%s/p2-root", dir);
	snprintf(b, sizeof(b), "%s/p2-opath", dir);
	snprintf(c, sizeof(c), "%s/p2-app", dir);
	static char buf[8192], rd[8192];
	pattern_fill(buf, sizeof(buf), 3);
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, 500) != 500 || dup2(fd, 10) != 10 || close(fd))
		setup_fail("a");
	fd = open(b, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || write(fd, buf, 100) != 100 || close(fd))
		setup_fail("b");
	fd = open(b, O_PATH);
	if (fd < 0 || dup2(fd, 11) != 11 || close(fd) || unlink(b))
		setup_fail("b2");
	fd = open(c, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, 300) != 300 || dup2(fd, 12) != 12 || close(fd) || unlink(c))
		setup_fail("c");
	/* memfd sealed for writing */
	int m1 = memfd_create("p2-sealw", MFD_ALLOW_SEALING);
	if (m1 < 0 || write(m1, buf, 3000) != 3000 ||
	    fcntl(m1, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_SEAL) || dup2(m1, 13) != 13)
		setup_fail("m1: %s", strerror(errno));
	int m2 = memfd_create("p2-future", MFD_ALLOW_SEALING);
	if (m2 < 0 || ftruncate(m2, 8192))
		setup_fail("m2");
	char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m2, 0);
	if (map == MAP_FAILED)
		setup_fail("mmap m2");
	memcpy(map, buf, 8192);
	if (fcntl(m2, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) || dup2(m2, 14) != 14)
		setup_fail("m2 seal: %s", strerror(errno));
	int s1 = fcntl(13, F_GET_SEALS), s2 = fcntl(14, F_GET_SEALS);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	int big = rl.rlim_max > 70001 ? 70000 : (int)rl.rlim_max - 1;
	if (setrlimit(RLIMIT_NOFILE, &rl) || dup2(10, big) != big)
		setup_fail("big fd: %s", strerror(errno));
	int sync[2];
	if (pipe(sync))
		setup_fail("pipe");
	pid_t kid = fork();
	if (kid == 0) {
		test_forked_child();
		close(sync[0]);
		sigset_t ss;
		sigemptyset(&ss);
		sigaddset(&ss, SIGTERM);
		sigprocmask(SIG_BLOCK, &ss, NULL);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(3);
		close(sync[1]);
		int sig;
		sigwait(&ss, &sig);
		goto check;
	}
	close(sync[1]);
	char ch;
	if (read(sync[0], &ch, 1) != 0)
		setup_fail("child");
	test_daemon();
	test_waitsig();
	kill(kid, SIGTERM);
	int status;
	waitpid(kid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("child: status %#x", status);
	pass();
	return 0;
check:

	if (pread(10, rd, 500, 0) != 500 || memcmp(rd, buf, 500) || pwrite(10, "x", 1, 0) != 1)
		fail("fd 10 (root-only file, opened before dropping root): %s", strerror(errno));
	struct stat st;
	char l[4096], want[4200];
	snprintf(want, sizeof(want), "%s (deleted)", b);
	ssize_t n = readlink("/proc/self/fd/11", l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = 0;
	if (strcmp(l, want) || (fcntl(11, F_GETFL) & O_PATH) == 0 || fstat(11, &st) ||
	    st.st_size != 100 || st.st_nlink)
		fail("fd 11 O_PATH deleted: %s flags %#x", l, fcntl(11, F_GETFL));
	if (fstat(12, &st) || st.st_size != 300 || write(12, "z", 1) != 1 || fstat(12, &st) ||
	    st.st_size != 301 || !(fcntl(12, F_GETFL) & O_APPEND))
		fail("fd 12 O_APPEND deleted: size %lld", (long long)st.st_size);
	if (fcntl(13, F_GET_SEALS) != s1 || pread(13, rd, 3000, 0) != 3000 || memcmp(rd, buf, 3000))
		fail("memfd 13 seals %#x want %#x", fcntl(13, F_GET_SEALS), s1);
	if (fcntl(14, F_GET_SEALS) != s2 || memcmp(map, buf, 8192))
		fail("memfd 14 seals %#x want %#x", fcntl(14, F_GET_SEALS), s2);
	map[5] = 1;
	if (pwrite(14, "q", 1, 0) != -1)
		fail("memfd 14 writable");
	char pm[5];
	if (maps_perms(map, pm) || strcmp(pm, "rw-s"))
		fail("map perms %s", pm);
	if (fcntl(big, F_GETFD) < 0)
		fail("fd big gone");
	_exit(test_failures() ? 1 : 0);
}
