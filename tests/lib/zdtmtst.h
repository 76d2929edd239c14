/* cryo test library: the small zdtm-style runtime every test program in
 * tests/progs links against.
 *
 * Life of a test program (the runner, tests/runner/run.py, drives it):
 *
 *   int main(int argc, char **argv)
 *   {
 *       test_init(argc, argv);   // parse --pidfile/--outfile, daemonize
 *       ... build real state ...
 *       test_daemon();           // state is built: write pidfile, detach
 *       test_waitsig();          // wait for SIGTERM (dump/restore happen here)
 *       ... verify the state ...
 *       if (ok) pass(); else fail("heap block %d differs at %zu", i, off);
 *       return 0;
 *   }
 *
 * test_init() forks: the parent (which the runner started) stays until the
 * child calls test_daemon(), then exits 0 -- or non-zero if the child died
 * during setup.  The child becomes a session leader (setsid) so its tree is
 * self-contained and needs no --shell-job.
 *
 * Verdicts and messages go to --outfile (opened and closed for each line, so
 * the library holds no file descriptor the test did not ask for): "PASS" or
 * "FAIL: file:line: reason"; other lines start with '#'.
 *
 * Honesty: test_daemon() also writes a random token to the outfile; pass()
 * checks the in-memory copy against it, so a "restore" that merely re-runs
 * the program (losing its memory) is reported as FAIL.
 */
#ifndef CRYO_TESTS_ZDTMTST_H
#define CRYO_TESTS_ZDTMTST_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* ---- options ---------------------------------------------------------- */

enum test_opt_type { TOPT_STRING, TOPT_INT, TOPT_UINT, TOPT_BOOL };

struct test_option {
	const char *name;	/* "--name VALUE" (bool: "--name") */
	enum test_opt_type type;
	void *ptr;		/* char **, int *, unsigned *, bool * */
	const char *doc;
	bool required;
	bool seen;
	struct test_option *next;
};

void test_register_option(struct test_option *opt);

/* Declare an extra command-line option of a test (zdtm style):
 *   static char *filename;  TEST_OPTION(filename, string, "file to use", 1);
 * Types: string (char *), int, uint (unsigned), bool. */
#define TEST_OPTION(var, type, doc, req)                                       \
	static struct test_option __test_opt_##var = {                        \
		#var, TOPT_##type##_T, &(var), doc, req, false, NULL };        \
	static void __attribute__((constructor)) __test_opt_reg_##var(void)    \
	{                                                                      \
		test_register_option(&__test_opt_##var);                       \
	}
#define TOPT_string_T TOPT_STRING
#define TOPT_int_T TOPT_INT
#define TOPT_uint_T TOPT_UINT
#define TOPT_bool_T TOPT_BOOL

/* Set before test_init() to change how the test is started. */
#define TEST_NO_SETSID	0x1	/* stay in the runner's session (tty tests) */
/* the test process is born as the init (PID 1) of a new PID namespace
 * (clone CLONE_NEWPID instead of fork); the pidfile gets its PID in the
 * runner's namespace.  Needs the daemon mode (not --no-daemon). */
#define TEST_NEW_PIDNS	0x2
extern unsigned test_flags;
extern const char *test_doc;	/* one line, printed by --help */

/* ---- life cycle ------------------------------------------------------- */

void test_init(int argc, char **argv);
void test_daemon(void);		/* state is built: write pidfile, release parent */
#define test_ready() test_daemon()
/* First thing in a child forked before test_daemon(): drops the launcher's
 * "ready" pipe, which only the test's main process may hold. */
void test_forked_child(void);
void test_waitsig(void);	/* wait (sigsuspend) until SIGTERM arrives */
bool test_go(void);		/* true until SIGTERM arrived (for busy loops) */
extern volatile sig_atomic_t test_sig_received;

/* ---- verdicts and messages -------------------------------------------- */

void pass(void);
void __fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define fail(fmt, ...) __fail(__FILE__, __LINE__, fmt, ##__VA_ARGS__)
/* fail() with ": strerror(errno)" appended */
#define fail_errno(fmt, ...)                                                   \
	__fail(__FILE__, __LINE__, fmt ": %s (errno %d)", ##__VA_ARGS__,       \
	       strerror(errno), errno)
void test_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define pr_perror(fmt, ...)                                                    \
	test_msg("ERR: %s:%d: " fmt ": %s", __FILE__, __LINE__,                \
		 ##__VA_ARGS__, strerror(errno))
/* Setup failed (before test_daemon()): record FAIL and exit(1), which makes
 * the launcher exit non-zero so the runner reports a start failure. */
#define setup_fail(fmt, ...)                                                   \
	do {                                                                   \
		__fail(__FILE__, __LINE__, "setup: " fmt, ##__VA_ARGS__);      \
		test_exit(1);                                                  \
	} while (0)
void test_exit(int code) __attribute__((noreturn));
int test_failures(void);	/* number of fail() calls so far */
/* started with --in-new-ns (the runner's "ns" variant): in namespaces of its own,
 * under a small init that is PID 1 there (see tests/lib/ns.c) */
bool test_ns(void);
/* started with --in-new-userns (the "uns" variant): the same, the namespaces
 * owned by a user namespace of their own (maps 0 100000 65536), root inside */
bool test_uns(void);
const char *test_pidfile(void);	/* --pidfile (absolute), or NULL */
const char *test_outfile(void);	/* --outfile (absolute), or NULL */
/* pass() if nothing failed so far; returns the exit code for main(). */
int test_verdict(void);

/* ---- data patterns and checksums --------------------------------------- */

/* Fill @buf with a pattern that depends on @seed and on the offset, so that
 * shifted, swapped or zeroed data never matches. */
void pattern_fill(void *buf, size_t len, uint64_t seed);
/* Offset of the first byte that differs from pattern_fill(seed), or -1. */
ssize_t pattern_check(const void *buf, size_t len, uint64_t seed);
/* The byte pattern_fill() puts at @off (for messages). */
uint8_t pattern_byte(uint64_t seed, size_t off);
/* Offset of the first non-zero byte, or -1. */
ssize_t zero_check(const void *buf, size_t len);
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* zdtm compatibility: random data; datachk() verifies it against @crc. */
void datagen(void *buf, size_t len, uint32_t *crc);
int datachk(const void *buf, size_t len, uint32_t *crc);

/* ---- process state helpers ------------------------------------------- */

/* Permissions ("rw-p") of the mapping that contains @addr, from
 * /proc/self/maps; returns 0 or -1 if no mapping contains it. */
int maps_perms(const void *addr, char perms[5]);

/* Snapshot of what an fd refers to (not its offset). */
struct fd_snap {
	bool open;
	dev_t dev, rdev;
	ino_t ino;
	mode_t mode;
	int flags;		/* O_ACCMODE | O_APPEND | O_NONBLOCK */
	int fdflags;		/* FD_CLOEXEC */
};
void fd_snap_take(int fd, struct fd_snap *s);
/* 0 if @fd still matches @s; otherwise fail()s with details and returns -1. */
int fd_snap_check(int fd, const struct fd_snap *s, const char *what);
/* Check fds 0-2 against the snapshot test_daemon() took of them. */
int test_check_stdio(void);

uint64_t test_now_ns(void);	/* CLOCK_MONOTONIC */
void test_sleep_ms(unsigned ms);

#endif
