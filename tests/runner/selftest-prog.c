/* A test program for the runner's self-test (selftest.py): it builds no
 * state and behaves as --mode says, so every outcome the runner must report
 * can be produced on purpose, with the fake cryo (fake-cryo) standing in for
 * the engine.  Its "pass" verdict is written directly, skipping pass()'s
 * memory-preservation check, which fake-cryo's re-run would (rightly) fail.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *mode = "pass";
TEST_OPTION(mode, string, "pass | fail | noverdict | hang | setupfail", 0);

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (!strcmp(mode, "setupfail"))
		setup_fail("deliberate setup failure");
	test_daemon();
	test_waitsig();
	if (!strcmp(mode, "fail")) {
		fail("deliberate failure");
		return 1;
	}
	if (!strcmp(mode, "noverdict"))
		return 0;
	if (!strcmp(mode, "hang"))
		for (;;)
			pause();
	if (test_outfile()) {
		int fd = open(test_outfile(), O_WRONLY | O_APPEND | O_CLOEXEC);

		if (fd < 0 || write(fd, "PASS\n", 5) != 5)
			return 1;
		close(fd);
	}
	return 0;
}
