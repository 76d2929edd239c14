/* fifo_data: named FIFOs with data, opened in different ways.
 *
 * State built before the checkpoint (FIFOs next to the outfile):
 *   R: opened O_RDWR once, 3000 bytes in it;
 *   S: a reader (O_RDONLY|O_NONBLOCK) and a writer (O_WRONLY), 2000 bytes
 *      written, 500 read;
 *   W: only a writer left (the reader that let it open was closed), with
 *      1000 bytes in it.
 * After SIGTERM: the data is exact; flags are as they were; a new reader of
 *   W (opened by path) gets W's bytes: the restored writer is on the FIFO.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static void check(int fd, size_t len, uint64_t seed, size_t skip, const char *what)
{
	char buf[8192], want[8192];
	size_t got = 0;
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);	/* missing data fails, not hangs */
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0) {
			fail("%s: read returned %zd after %zu bytes (%s)", what, n, got,
			     n < 0 ? strerror(errno) : "EOF");
			return;
		}
		got += n;
	}
	pattern_fill(want, skip + len, seed);
	if (memcmp(buf, want + skip, len))
		fail("%s: data differs", what);
	if (read(fd, buf, 1) != -1 || errno != EAGAIN)
		fail("%s: more data than expected", what);
	fcntl(fd, F_SETFL, fl);
}

int main(int argc, char **argv)
{
	test_doc = "named FIFOs: data, O_RDWR and single ends";
	test_init(argc, argv);
	char dir[2048], r_path[4096], s_path[4096], w_path[4096];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(r_path, sizeof(r_path), "%s/fifo_data.R", dirname(dir));
	snprintf(s_path, sizeof(s_path), "%s/fifo_data.S", dir);
	snprintf(w_path, sizeof(w_path), "%s/fifo_data.W", dir);
	char buf[4096];
	unlink(r_path);
	unlink(s_path);
	unlink(w_path);
	if (mkfifo(r_path, 0600) || mkfifo(s_path, 0600) || mkfifo(w_path, 0600))
		setup_fail("mkfifo: %s", strerror(errno));

	int r = open(r_path, O_RDWR);
	pattern_fill(buf, 3000, 21);
	if (r < 0 || write(r, buf, 3000) != 3000)
		setup_fail("R: %s", strerror(errno));

	int sr = open(s_path, O_RDONLY | O_NONBLOCK);
	int sw = open(s_path, O_WRONLY);
	pattern_fill(buf, 2000, 22);
	if (sr < 0 || sw < 0 || write(sw, buf, 2000) != 2000 || read(sr, buf, 500) != 500)
		setup_fail("S: %s", strerror(errno));

	int wr = open(w_path, O_RDONLY | O_NONBLOCK);
	int ww = open(w_path, O_WRONLY);
	pattern_fill(buf, 1000, 23);
	if (wr < 0 || ww < 0 || write(ww, buf, 1000) != 1000)
		setup_fail("W: %s", strerror(errno));
	close(wr);

	test_daemon();
	test_waitsig();

	if ((fcntl(r, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_RDWR)
		fail("R's flags changed: %#o", fcntl(r, F_GETFL));
	if ((fcntl(sr, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != (O_RDONLY | O_NONBLOCK))
		fail("S's reader flags changed: %#o", fcntl(sr, F_GETFL));
	if ((fcntl(sw, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_WRONLY)
		fail("S's writer flags changed: %#o", fcntl(sw, F_GETFL));
	if ((fcntl(ww, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_WRONLY)
		fail("W's writer flags changed: %#o", fcntl(ww, F_GETFL));
	check(r, 3000, 21, 0, "R");
	check(sr, 1500, 22, 500, "S");
	if (write(sw, "abc", 3) != 3 || read(sr, buf, 3) != 3 || memcmp(buf, "abc", 3))
		fail("S's writer and reader are not on one FIFO");
	wr = open(w_path, O_RDONLY | O_NONBLOCK);
	if (wr < 0)
		fail("W: reopen: %s", strerror(errno));
	else
		check(wr, 1000, 23, 0, "W (a new reader)");
	unlink(r_path);
	unlink(s_path);
	unlink(w_path);
	pass();
	return 0;
}
