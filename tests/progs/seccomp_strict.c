/* seccomp_strict: a process in seccomp strict mode, where only read,
 * write, exit and rt_sigreturn are allowed (anything else is SIGKILL).
 *
 * Before entering strict mode the test opens everything it will need:
 *   - /dev/kmsg: a blocking read() on it is the only way to sleep with just
 *     read/write (it returns the kernel log records, then blocks);
 *   - /proc/self/status, never read before the checkpoint: after restore
 *     its first read() shows the restored process's seccomp mode;
 *   - the outfile, for reading (the token line) and for appending.
 * It writes a random token to the outfile and keeps it in memory, installs
 * its SIGTERM handler (no SA_RESTART, so read() returns EINTR) and enters
 * strict mode.  The dump and the restore must both work without the
 * process making any other syscall, and the restored process must be in
 * strict mode again.
 * After SIGTERM, with only read and write: "Seccomp:\t1" in the status
 * file, the token in the outfile equals the one in memory, then "PASS" is
 * written and the thread ends with exit (exit_group is not allowed).
 */
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t got_term;
static char token[40];
static char status_buf[4096];
static char out_buf[8192];
static char kmsg_buf[8192];

static void on_term(int sig)
{
	got_term = 1;
}

static void raw_write(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

static size_t raw_read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got < size - 1) {
		ssize_t r = read(fd, buf + got, size - 1 - got);

		if (r <= 0)
			break;
		got += r;
	}
	buf[got] = '\0';
	return got;
}

/* Only read/write/exit from here on. */
static void __attribute__((noreturn)) finish(int out_fd, const char *verdict)
{
	raw_write(out_fd, verdict);
	syscall(SYS_exit, 0);
	for (;;)
		;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	unsigned char r[16];
	char line[128];
	int kmsg, status, out_r, out_a;

	test_doc = "seccomp strict mode: only read, write, exit and sigreturn";
	test_init(argc, argv);
	if (!test_outfile())
		setup_fail("needs --outfile");
	kmsg = open("/dev/kmsg", O_RDONLY);
	if (kmsg < 0)
		setup_fail("open /dev/kmsg: %s", strerror(errno));
	status = open("/proc/self/status", O_RDONLY);
	if (status < 0)
		setup_fail("open /proc/self/status: %s", strerror(errno));
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		setup_fail("getrandom: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(token + 2 * i, 3, "%02x", r[i]);
	test_msg("strict token=%s", token);
	out_r = open(test_outfile(), O_RDONLY);
	out_a = open(test_outfile(), O_WRONLY | O_APPEND);
	if (out_r < 0 || out_a < 0)
		setup_fail("open the outfile: %s", strerror(errno));
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))	/* no SA_RESTART */
		setup_fail("sigaction: %s", strerror(errno));
	test_daemon();

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
		setup_fail("PR_SET_SECCOMP strict: %s", strerror(errno));
	/* strict mode: read, write, exit, rt_sigreturn only */
	while (!got_term)
		read(kmsg, kmsg_buf, sizeof(kmsg_buf));	/* blocks once the log is read */

	raw_read_all(status, status_buf, sizeof(status_buf));
	if (!strstr(status_buf, "\nSeccomp:\t1\n"))
		finish(out_a, "FAIL: seccomp_strict.c: /proc/self/status does not say "
			      "Seccomp 1 after restore\n");
	raw_read_all(out_r, out_buf, sizeof(out_buf));
	snprintf(line, sizeof(line), "strict token=%s\n", token);	/* no syscall */
	if (!strstr(out_buf, line))
		finish(out_a, "FAIL: seccomp_strict.c: the token in memory is not the one in "
			      "the outfile (memory not preserved?)\n");
	finish(out_a, "PASS\n");
}
