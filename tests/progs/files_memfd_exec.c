/* files_memfd_exec: a restored memfd can be executed, and keeps its exec
 * behaviour (MFD_EXEC, MFD_NOEXEC_SEAL, F_SEAL_EXEC).
 *
 * Before the checkpoint, each holding a copy of /bin/true:
 *   fd 70: memfd "exe-plain" (flags 0), plus fd 71, a read-only reopen of
 *          it through /proc/self/fd/70;
 *   fd 72: memfd "exe-sealed" (MFD_ALLOW_SEALING | MFD_EXEC), sealed
 *          F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, then
 *          mapped MAP_SHARED read-only (possible only once write-sealed);
 *   fd 73: memfd "exe-mapped", also mapped MAP_SHARED read-only (so the
 *          restored task creates it);
 *   fd 74: memfd "noexec" (MFD_NOEXEC_SEAL): mode 0666, sealed F_SEAL_EXEC;
 *   fd 75: memfd "exec-locked" (MFD_EXEC | MFD_ALLOW_SEALING), chmod 0750,
 *          then sealed F_SEAL_EXEC (which seals writes as well).
 * Each executable one is run (fork + fexecve, or execveat AT_EMPTY_PATH)
 * before the checkpoint too, so the test checks the restore, not the kernel.
 * After SIGTERM: 70, 71 (read-only), 72, 73 and 75 run /bin/true with exit
 * status 0; 74 can't be executed (EACCES), keeps mode 0666 and F_SEAL_EXEC
 * and can't be chmod'ed executable; 75 keeps mode 0750 and its seals.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

extern char **environ;

/* Run the program in @fd in a child; its exit status, or -errno of the
 * exec, or -1000 on other trouble. */
static int run(int fd, bool at)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return -1000;
	pid_t k = fork();
	if (k < 0)
		return -1000;
	if (k == 0) {
		char *args[] = { "true", NULL };
		if (at)
			syscall(SYS_execveat, fd, "", args, environ, AT_EMPTY_PATH);
		else
			fexecve(fd, args, environ);
		int e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	int e = 0, st;
	ssize_t n = read(p[0], &e, sizeof(e));
	close(p[0]);
	if (waitpid(k, &st, 0) != k)
		return -1000;
	if (n == sizeof(e))
		return -e;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1000;
}

static void expect_runs(int fd, const char *what, bool at)
{
	int r = run(fd, at);
	if (r < 0 && r != -1000)
		fail("%s: exec failed: %s", what, strerror(-r));
	else if (r)
		fail("%s: /bin/true exited with %d", what, r);
}

static int make(const char *name, unsigned flags, int at)
{
	int fd = memfd_create(name, flags);
	int src = open("/bin/true", O_RDONLY);
	struct stat st;
	if (fd < 0 || src < 0 || fstat(src, &st) ||
	    sendfile(fd, src, NULL, st.st_size) != st.st_size)
		setup_fail("memfd %s with a copy of /bin/true: %s", name, strerror(errno));
	close(src);
	if (dup2(fd, at) != at || close(fd))
		setup_fail("dup2: %s", strerror(errno));
	return at;
}

/* The seals of 74 and 75 as they were set up: F_SEAL_EXEC on an
 * executable memfd adds the write seals too (kernel 6.3+, so that a sealed
 * program can't be changed). */
static int seals74, seals75;

static void expect_mode_seals(int fd, const char *what, mode_t mode, int seals)
{
	struct stat st;
	if (fstat(fd, &st) || (st.st_mode & 07777) != mode)
		fail("%s has mode 0%o, expected 0%o", what, st.st_mode & 07777, mode);
	int s = fcntl(fd, F_GET_SEALS);
	if (s != seals)
		fail("%s has seals 0x%x, expected 0x%x", what, s, seals);
}

static void check(const char *when)
{
	char what[96];
	snprintf(what, sizeof(what), "%s: memfd exe-plain (fd 70, fexecve)", when);
	expect_runs(70, what, false);
	snprintf(what, sizeof(what), "%s: memfd exe-plain (fd 71, read-only, execveat)", when);
	expect_runs(71, what, true);
	snprintf(what, sizeof(what), "%s: memfd exe-sealed (fd 72, execveat)", when);
	expect_runs(72, what, true);
	snprintf(what, sizeof(what), "%s: memfd exe-mapped (fd 73, fexecve)", when);
	expect_runs(73, what, false);
	snprintf(what, sizeof(what), "%s: memfd exec-locked (fd 75, execveat)", when);
	expect_runs(75, what, true);

	int r = run(74, true);
	if (r != -EACCES)
		fail("%s: memfd noexec (MFD_NOEXEC_SEAL) %s, expected EACCES", when,
		     r >= 0 ? "could be executed" : strerror(-r));
	snprintf(what, sizeof(what), "%s: memfd noexec", when);
	expect_mode_seals(74, what, 0666, seals74);
	if (fchmod(74, 0777) == 0 || errno != EPERM)
		fail("%s: memfd noexec could be chmod'ed 0777 (F_SEAL_EXEC lost)", when);
	snprintf(what, sizeof(what), "%s: memfd exec-locked", when);
	expect_mode_seals(75, what, 0750, seals75);
	if (fchmod(75, 0640) == 0 || errno != EPERM)
		fail("%s: memfd exec-locked could be chmod'ed 0640 (F_SEAL_EXEC lost)", when);
	snprintf(what, sizeof(what), "%s: memfd exe-sealed", when);
	expect_mode_seals(72, what, 0777,
			  F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	if ((fcntl(71, F_GETFL) & O_ACCMODE) != O_RDONLY || (fcntl(70, F_GETFL) & O_ACCMODE) != O_RDWR)
		fail("%s: fds 70/71 are not read-write/read-only", when);
}

int main(int argc, char **argv)
{
	test_doc = "a restored memfd can be executed; MFD_EXEC, MFD_NOEXEC_SEAL, F_SEAL_EXEC";
	test_init(argc, argv);

	make("exe-plain", 0, 70);
	int fd = open("/proc/self/fd/70", O_RDONLY);
	if (fd < 0 || dup2(fd, 71) != 71 || close(fd))
		setup_fail("reopen: %s", strerror(errno));
	make("exe-sealed", MFD_ALLOW_SEALING | MFD_EXEC, 72);
	if (fcntl(72, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		setup_fail("F_ADD_SEALS: %s", strerror(errno));
	struct stat st;
	fstat(72, &st);
	char *ms = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, 72, 0);
	make("exe-mapped", 0, 73);
	char *m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, 73, 0);
	if (m == MAP_FAILED || ms == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	make("noexec", MFD_NOEXEC_SEAL, 74);
	make("exec-locked", MFD_EXEC | MFD_ALLOW_SEALING, 75);
	if (fchmod(75, 0750) || fcntl(75, F_ADD_SEALS, F_SEAL_EXEC))
		setup_fail("chmod/seal exec-locked: %s", strerror(errno));
	seals74 = fcntl(74, F_GET_SEALS);
	seals75 = fcntl(75, F_GET_SEALS);
	if (!(seals74 & F_SEAL_EXEC) || !(seals75 & F_SEAL_EXEC))
		setup_fail("MFD_NOEXEC_SEAL or F_ADD_SEALS(F_SEAL_EXEC) gave seals 0x%x, 0x%x", seals74,
			   seals75);

	check("before the checkpoint");
	if (test_failures())
		setup_fail("the kernel does not behave as this test expects");

	test_daemon();
	test_waitsig();

	check("after restore");
	if (memcmp(m, "\x7f" "ELF", 4) || memcmp(ms, "\x7f" "ELF", 4))
		fail("the mappings of exe-mapped or exe-sealed lost their contents");
	return test_verdict();
}
