/* fault_target: the process the fault-injection tests (run.py, ids
 * fault:dump:STAGE and fault:restore:STAGE) try to harm.
 *
 * A failed dump must leave it exactly as it was, and a failed restore must
 * not disturb a later good one.  So it holds a bit of every kind of state a
 * dump touches and checks all of it after SIGTERM:
 *   - an 8 MiB private anonymous mapping and a read-only page (patterns),
 *     a heap block (pattern);
 *   - a regular file open read-write at a known offset;
 *   - a SIGUSR1 handler with its flags, SIGUSR2 blocked;
 *   - a loop that counts, printing 1, 2, 3, ... to stdout (a regular file)
 *     every 20 ms, with an accumulator in registers/stack that must match
 *     the count: the runner watches stdout grow to see it is running, not
 *     just alive; the test checks stdout holds exactly 1..N.
 * It is also a plain test (fault_target.desc) so its checks are known good.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define AREA_SIZE	(8UL << 20)
#define HEAP_SIZE	(256UL << 10)
#define FILE_OFFSET	12345
#define SEED_AREA	0x1111
#define SEED_RO		0x2222
#define SEED_HEAP	0x3333

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

static uint64_t acc_step(uint64_t acc, uint64_t n)
{
	return acc * 6364136223846793005ULL + n * 1442695040888963407ULL;
}

static int check_output(unsigned long n)
{
	unsigned long want = 1, got;
	char line[64];
	FILE *f = fopen("/proc/self/fd/1", "re");

	if (!f) {
		fail_errno("cannot reopen stdout");
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *end;

		got = strtoul(line, &end, 10);
		if (*end != '\n' || got != want) {
			fail("stdout line %lu reads \"%.*s\", expected %lu", want,
			     (int)strcspn(line, "\n"), line, want);
			fclose(f);
			return -1;
		}
		want++;
	}
	fclose(f);
	if (want - 1 != n) {
		fail("stdout holds %lu numbers, the counter in memory is %lu", want - 1, n);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t psz = sysconf(_SC_PAGESIZE);
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART | SA_NODEFER };
	struct sigaction cur;
	struct fd_snap fsnap;
	struct stat st;
	sigset_t set, now;
	char *area, *ro, *heap, perms[5];
	uint64_t acc = 0, acc2 = 0;
	unsigned long n = 0, i;
	ssize_t off;
	int fd;

	test_doc = "state a failed dump must not disturb; counts on stdout";
	test_init(argc, argv);

	area = mmap(NULL, AREA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	heap = malloc(HEAP_SIZE);
	if (area == MAP_FAILED || ro == MAP_FAILED || !heap)
		setup_fail("allocations failed");
	pattern_fill(area, AREA_SIZE, SEED_AREA);
	pattern_fill(ro, psz, SEED_RO);
	pattern_fill(heap, HEAP_SIZE, SEED_HEAP);
	if (mprotect(ro, psz, PROT_READ))
		setup_fail("mprotect failed");

	fd = open("fault_target.data", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 2 * FILE_OFFSET) || lseek(fd, FILE_OFFSET, SEEK_SET) < 0)
		setup_fail("data file setup failed");
	fd_snap_take(fd, &fsnap);

	if (sigaction(SIGUSR1, &sa, NULL))
		setup_fail("sigaction failed");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		setup_fail("sigprocmask failed");
	if (fstat(STDOUT_FILENO, &st) || !S_ISREG(st.st_mode))
		setup_fail("stdout must be a regular file (stdio = file)");

	test_daemon();
	while (test_go()) {
		acc = acc_step(acc, ++n);
		printf("%lu\n", n);
		fflush(stdout);
		test_sleep_ms(20);
	}
	test_msg("stopped at %lu", n);

	for (i = 1; i <= n; i++)
		acc2 = acc_step(acc2, i);
	if (acc != acc2)
		fail("accumulator %#llx, expected %#llx after %lu steps",
		     (unsigned long long)acc, (unsigned long long)acc2, n);
	if (n < 1)
		fail("the loop did not run");
	off = pattern_check(area, AREA_SIZE, SEED_AREA);
	if (off >= 0)
		fail("8M mapping differs at offset %zd", off);
	off = pattern_check(ro, psz, SEED_RO);
	if (off >= 0)
		fail("read-only page differs at offset %zd", off);
	if (maps_perms(ro, perms) || strcmp(perms, "r--p"))
		fail("read-only page has permissions %s, expected r--p", perms);
	off = pattern_check(heap, HEAP_SIZE, SEED_HEAP);
	if (off >= 0)
		fail("heap block differs at offset %zd", off);
	fd_snap_check(fd, &fsnap, "data file");
	if (lseek(fd, 0, SEEK_CUR) != FILE_OFFSET)
		fail("data file offset %lld, expected %d", (long long)lseek(fd, 0, SEEK_CUR),
		     FILE_OFFSET);
	if (sigaction(SIGUSR1, NULL, &cur) || cur.sa_handler != on_usr1 ||
	    (cur.sa_flags & (SA_RESTART | SA_NODEFER)) != (SA_RESTART | SA_NODEFER))
		fail("SIGUSR1 action changed (handler %p, flags %#x)",
		     (void *)cur.sa_handler, (unsigned)cur.sa_flags);
	if (sigprocmask(SIG_BLOCK, NULL, &now))
		fail_errno("sigprocmask");
	else if (!sigismember(&now, SIGUSR2) || sigismember(&now, SIGUSR1) ||
		 sigismember(&now, SIGTERM))
		fail("signal mask changed");
	if (usr1_seen)
		fail("SIGUSR1 delivered %d times, nobody sent it", (int)usr1_seen);
	test_check_stdio();
	check_output(n);
	return test_verdict();
}
