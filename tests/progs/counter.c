/* counter: counts up, printing one number per line to stdout every ~100 ms.
 *
 * The README demo (scripts/demo.sh) checkpoints it and shows the count going
 * on from where it stopped.  As a test (stdout on a regular file) it checks,
 * after SIGTERM, that the file holds exactly 1, 2, ... N -- the count it has
 * in memory -- so a restore that loses the counter, the file offset or the
 * stdio buffer, or that restarts the program, fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static unsigned interval_ms = 100;
TEST_OPTION(interval_ms, uint, "milliseconds between two numbers (100)", 0);

static int check_output(unsigned long n)
{
	struct stat st;
	unsigned long want = 1, got;
	char line[64];
	FILE *f;

	if (fstat(STDOUT_FILENO, &st) || !S_ISREG(st.st_mode)) {
		test_msg("stdout is not a regular file: output not checked");
		return 0;
	}
	f = fopen("/proc/self/fd/1", "re");
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
	test_msg("stdout holds 1..%lu", n);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n = 0;

	test_doc = "prints 1, 2, 3, ... to stdout every --interval_ms";
	test_init(argc, argv);
	test_daemon();
	while (test_go()) {
		printf("%lu\n", ++n);
		fflush(stdout);
		test_sleep_ms(interval_ms);
	}
	test_msg("stopped at %lu", n);
	test_check_stdio();
	check_output(n);
	return test_verdict();
}
