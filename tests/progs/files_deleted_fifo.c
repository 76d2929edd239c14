/* files_deleted_fifo: a FIFO removed while open, with data queued.
 *
 * Before the checkpoint (in the outfile's directory): the FIFO dfifo (mode
 * 0640, owner 1234:5678) open O_RDWR at fd 40 and O_RDONLY|O_NONBLOCK at fd
 * 41, O_WRONLY at fd 42, O_PATH at fd 43, 5000 pattern bytes written, then
 * unlinked.
 * After SIGTERM: the four fds show "dfifo (deleted)", one FIFO inode with
 * nlink 0, mode 0640 and that owner; fd 41 reads the 5000 bytes back and
 * then nothing (EAGAIN); a write on 42 is read on 41; no name is left.
 * --taken: once the FIFO is unlinked a regular file holding "other" takes
 * its name; after SIGTERM the fds still show "dfifo (deleted)" and dfifo
 * is that file still.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool taken;
TEST_OPTION(taken, bool, "a regular file takes the FIFO's name", 0);

int main(int argc, char **argv)
{
	test_doc = "a deleted FIFO with queued data";
	test_init(argc, argv);
	char tmp[2048], dir[2048], name[4096];
	snprintf(tmp, sizeof(tmp), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(name, sizeof(name), "%s/dfifo", dir);
	static char buf[5000], rb[6000];
	pattern_fill(buf, sizeof(buf), 41);
	if (mkfifo(name, 0600) || chown(name, 1234, 5678) || chmod(name, 0640))
		setup_fail("mkfifo %s: %s", name, strerror(errno));
	int rw = open(name, O_RDWR), r = open(name, O_RDONLY | O_NONBLOCK), w = open(name, O_WRONLY);
	int op = open(name, O_PATH);
	if (rw < 0 || r < 0 || w < 0 || op < 0 || dup2(rw, 40) != 40 || dup2(r, 41) != 41 ||
	    dup2(w, 42) != 42 || dup2(op, 43) != 43 || close(rw) || close(r) || close(w) ||
	    close(op))
		setup_fail("open %s: %s", name, strerror(errno));
	if (write(42, buf, sizeof(buf)) != sizeof(buf) || unlink(name))
		setup_fail("write/unlink: %s", strerror(errno));
	int o;
	if (taken && ((o = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 ||
		      write(o, "other", 5) != 5 || close(o)))
		setup_fail("taking the name %s: %s", name, strerror(errno));

	test_daemon();
	test_waitsig();

	struct stat st[4];
	for (int i = 0; i < 4; i++) {
		char p[64], l[4096], want[4200];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", 40 + i);
		ssize_t n = readlink(p, l, sizeof(l) - 1);
		l[n > 0 ? n : 0] = '\0';
		snprintf(want, sizeof(want), "%s (deleted)", name);
		if (strcmp(l, want))
			fail("fd %d is \"%s\", expected \"%s\"", 40 + i, l, want);
		if (fstat(40 + i, &st[i]))
			fail("fstat: %s", strerror(errno));
		if (st[i].st_ino != st[0].st_ino)
			fail("fd %d is not the same FIFO as fd 40", 40 + i);
	}
	if (!S_ISFIFO(st[0].st_mode) || st[0].st_nlink || (st[0].st_mode & 07777) != 0640 ||
	    st[0].st_uid != 1234 || st[0].st_gid != 5678)
		fail("FIFO: mode 0%o nlink %lu owner %u:%u", st[0].st_mode,
		     (unsigned long)st[0].st_nlink, st[0].st_uid, st[0].st_gid);
	if ((fcntl(40, F_GETFL) & O_ACCMODE) != O_RDWR || (fcntl(41, F_GETFL) & O_ACCMODE) != O_RDONLY ||
	    !(fcntl(41, F_GETFL) & O_NONBLOCK) || (fcntl(42, F_GETFL) & O_ACCMODE) != O_WRONLY ||
	    !(fcntl(43, F_GETFL) & O_PATH))
		fail("the access modes or O_NONBLOCK changed");
	ssize_t n = read(41, rb, sizeof(rb));
	if (n != sizeof(buf) || pattern_check(rb, sizeof(buf), 41) >= 0)
		fail("read %zd bytes of queued data, expected the %zu written", n, sizeof(buf));
	if (read(41, rb, 1) != -1 || errno != EAGAIN)
		fail("more data than was queued");
	if (write(42, "z", 1) != 1 || read(41, rb, 1) != 1 || rb[0] != 'z')
		fail("a write on fd 42 is not read on fd 41");
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, "dfifo") && (!taken || strcmp(e->d_name, "dfifo")))
			fail("%s/%s was left behind", dir, e->d_name);
	if (d)
		closedir(d);
	char other[16] = "";
	if (taken && ((o = open(name, O_RDONLY)) < 0 || read(o, other, sizeof(other)) != 5 ||
		      memcmp(other, "other", 5)))
		fail("%s is no longer the regular file holding \"other\"", name);
	if (taken)
		unlink(name);
	return test_verdict();
}
