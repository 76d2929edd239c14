/* files_many: many descriptors at scattered numbers (the passing of
 * descriptors in chunks of 253, and received ones moved out of the way).
 *
 * State built before the checkpoint: 700 descriptors at numbers spread over
 * 3..2100 (i * 37 mod 2097 + 3), each either a new open of one of 40 files
 * (a distinct description, at its own offset) or a dup of an earlier one;
 * every third has close-on-exec.
 * After SIGTERM: every number holds the same inode, offset and close-on-exec
 * flag, dups still share their offset with their original, and no other
 * descriptor is open.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define N 700

struct rec {
	int fd, dup_of;
	ino_t ino;
	off_t off;
	bool cloexec;
};
static struct rec recs[N];

int main(int argc, char **argv)
{
	test_doc = "700 descriptors at scattered numbers, dups and close-on-exec";
	test_init(argc, argv);
	char dir[2048], path[4096];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	char *d = dirname(dir);
	for (int i = 0; i < N; i++) {
		struct rec *r = &recs[i];
		r->fd = 3 + (int)((long)i * 37 % 2097);
		r->cloexec = i % 3 == 0;
		r->dup_of = (i % 5 == 4) ? i - 1 - (i % 7) : -1;
		int tmp;
		if (r->dup_of >= 0) {
			tmp = dup(recs[r->dup_of].fd);
			r->off = recs[r->dup_of].off;
		} else {
			snprintf(path, sizeof(path), "%s/files_many.%d", d, i % 40);
			tmp = open(path, O_RDWR | O_CREAT, 0600);
			if (tmp >= 0 && ftruncate(tmp, 8192))
				setup_fail("ftruncate: %s", strerror(errno));
			r->off = i * 3 % 8192;
			lseek(tmp, r->off, SEEK_SET);
		}
		if (tmp < 0)
			setup_fail("fd %d: %s", r->fd, strerror(errno));
		if (tmp == r->fd) {
			fcntl(tmp, F_SETFD, r->cloexec ? FD_CLOEXEC : 0);
		} else {
			if (dup3(tmp, r->fd, r->cloexec ? O_CLOEXEC : 0) != r->fd)
				setup_fail("fd %d: %s", r->fd, strerror(errno));
			close(tmp);
		}
		struct stat st;
		fstat(r->fd, &st);
		r->ino = st.st_ino;
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < i; j++)
			if (recs[j].fd == recs[i].fd)
				setup_fail("fd numbers collide (%d)", recs[i].fd);

	test_daemon();
	test_waitsig();

	int bad = 0;
	for (int i = 0; i < N && bad < 5; i++) {
		struct rec *r = &recs[i];
		struct stat st;
		int fl = fcntl(r->fd, F_GETFD);
		if (fstat(r->fd, &st) || st.st_ino != r->ino) {
			fail("fd %d: not the same file after restore", r->fd);
			bad++;
		} else if (lseek(r->fd, 0, SEEK_CUR) != r->off) {
			fail("fd %d: offset %lld, expected %lld", r->fd,
			     (long long)lseek(r->fd, 0, SEEK_CUR), (long long)r->off);
			bad++;
		} else if (!!(fl & FD_CLOEXEC) != r->cloexec) {
			fail("fd %d: close-on-exec is %d, expected %d", r->fd, !!(fl & FD_CLOEXEC),
			     r->cloexec);
			bad++;
		}
	}
	/* dups share the offset: move the original, see it in the dup */
	for (int i = 0; i < N && !bad; i++)
		if (recs[i].dup_of >= 0) {
			int o = recs[recs[i].dup_of].fd;
			lseek(o, 4000, SEEK_SET);
			if (lseek(recs[i].fd, 0, SEEK_CUR) != 4000) {
				fail("fd %d no longer shares its offset with fd %d", recs[i].fd, o);
				bad++;
			}
		}
	/* nothing else is open (test library: fds 0-2 only) */
	DIR *dd = opendir("/proc/self/fd");
	struct dirent *de;
	int count = 0;
	while (dd && (de = readdir(dd)))
		if (de->d_name[0] != '.')
			count++;
	if (dd)
		closedir(dd);
	if (count != N + 3 + 1)	/* + the one opendir uses */
		fail("%d descriptors are open, expected %d", count - 1, N + 3);
	pass();
	return 0;
}
