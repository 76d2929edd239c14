/* ev_inotify: inotify watches, their masks and wd numbers.
 *
 * State built before the checkpoint (a directory next to the outfile):
 *   wd 1 on the directory D (IN_CREATE | IN_DELETE); wds 2 and 3 added and
 *   removed again (so the next ones skip them); wd 4 on the file D/f
 *   (IN_MODIFY | IN_CLOSE_WRITE); wd 5 on the subdirectory D/s
 *   (IN_ALL_EVENTS | IN_EXCL_UNLINK); the instance is non-blocking.
 * After SIGTERM: fdinfo lists the same wds with the same masks and inodes;
 *   creating D/new gives wd 1 IN_CREATE "new", writing D/f gives wd 4
 *   IN_MODIFY, touching D/s gives wd 5 IN_ATTRIB; nothing else is queued.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

/* "wd:W ino:I ... mask:M" of each watch, sorted by wd (sdev kept too) */
static void watches(int fd, char *out, size_t size)
{
	char p[64], buf[8192];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = 0;
	out[0] = 0;
	for (int wd = 1; wd < 16; wd++) {
		char key[32];
		snprintf(key, sizeof(key), "inotify wd:%x ", wd);
		char *l = strstr(buf, key);
		if (!l)
			continue;
		char *end = strstr(l, " ignored_mask");
		if (end)
			snprintf(out + strlen(out), size - strlen(out), "%.*s\n", (int)(end - l), l);
	}
}

static int next_event(int fd, struct inotify_event *ev, char *name)
{
	char buf[4096] __attribute__((aligned(8)));
	static char pending[4096];
	static ssize_t have, at;
	if (at >= have) {
		have = read(fd, pending, sizeof(pending));
		at = 0;
		if (have <= 0)
			return -1;
	}
	memcpy(buf, pending + at, sizeof(*ev));
	memcpy(ev, buf, sizeof(*ev));
	strcpy(name, ev->len ? pending + at + sizeof(*ev) : "");
	at += sizeof(*ev) + ev->len;
	return 0;
}

static void expect(int fd, int wd, uint32_t mask, const char *name, const char *what)
{
	struct inotify_event ev;
	char got[256];
	if (next_event(fd, &ev, got)) {
		fail("%s: no event (%s)", what, strerror(errno));
		return;
	}
	if (ev.wd != wd || !(ev.mask & mask) || strcmp(got, name))
		fail("%s: got wd %d mask %#x name '%s', expected wd %d mask %#x name '%s'", what,
		     ev.wd, ev.mask, got, wd, mask, name);
}

int main(int argc, char **argv)
{
	test_doc = "inotify watches: paths, masks, wd numbers";
	test_init(argc, argv);
	char dir[2048], d[4096], f[4200], s[4200], x[4200], nw[4200];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(d, sizeof(d), "%s/ev_inotify.d", dirname(dir));
	snprintf(f, sizeof(f), "%s/f", d);
	snprintf(s, sizeof(s), "%s/s", d);
	snprintf(x, sizeof(x), "%s/x", d);
	snprintf(nw, sizeof(nw), "%s/new", d);
	unlink(nw);
	unlink(f);
	unlink(x);
	rmdir(s);
	rmdir(d);
	if (mkdir(d, 0700) || mkdir(s, 0700))
		setup_fail("mkdir: %s", strerror(errno));
	int t = open(f, O_CREAT | O_WRONLY, 0600), tx = open(x, O_CREAT | O_WRONLY, 0600);
	if (t < 0 || tx < 0)
		setup_fail("create: %s", strerror(errno));
	close(t);
	close(tx);
	int in = inotify_init1(IN_NONBLOCK);
	if (in < 0)
		setup_fail("inotify_init1: %s", strerror(errno));
	int w1 = inotify_add_watch(in, d, IN_CREATE | IN_DELETE);
	int w2 = inotify_add_watch(in, x, IN_OPEN);
	inotify_rm_watch(in, w2);
	int w3 = inotify_add_watch(in, x, IN_OPEN);
	inotify_rm_watch(in, w3);
	int w4 = inotify_add_watch(in, f, IN_MODIFY | IN_CLOSE_WRITE);
	int w5 = inotify_add_watch(in, s, IN_ALL_EVENTS | IN_EXCL_UNLINK);
	if (w1 != 1 || w2 != 2 || w3 != 3 || w4 != 4 || w5 != 5)
		setup_fail("unexpected wds %d %d %d %d %d", w1, w2, w3, w4, w5);
	char buf[4096];
	while (read(in, buf, sizeof(buf)) > 0)
		;	/* the IN_IGNORED of wds 2 and 3 */
	char before[2048], after[2048];
	watches(in, before, sizeof(before));

	test_daemon();
	test_waitsig();

	watches(in, after, sizeof(after));
	if (strcmp(before, after))
		fail("watches differ:\nbefore:\n%safter:\n%s", before, after);
	if (!(fcntl(in, F_GETFL) & O_NONBLOCK))
		fail("lost O_NONBLOCK");
	if (read(in, buf, sizeof(buf)) != -1 || errno != EAGAIN)
		fail("events queued after restore");
	int c = open(nw, O_CREAT | O_WRONLY, 0600);
	close(c);
	expect(in, 1, IN_CREATE, "new", "creating D/new");
	int wf = open(f, O_WRONLY);
	if (write(wf, "x", 1) != 1)
		fail("write: %s", strerror(errno));
	expect(in, 4, IN_MODIFY, "", "writing D/f");
	close(wf);
	expect(in, 4, IN_CLOSE_WRITE, "", "closing D/f");
	chmod(s, 0750);
	expect(in, 5, IN_ATTRIB, "", "chmod D/s");
	struct inotify_event ev;
	char name[256];
	if (!next_event(in, &ev, name))
		fail("unexpected event wd %d mask %#x '%s'", ev.wd, ev.mask, name);
	unlink(nw);
	pass();
	return 0;
}
