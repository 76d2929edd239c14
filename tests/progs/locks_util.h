/* Helpers of the file lock tests (files_locks_combo, files_locks_ofd):
 * what /proc/locks says about one file, and lock probes. */
#ifndef CRYO_TESTS_LOCKS_UTIL_H
#define CRYO_TESTS_LOCKS_UTIL_H

#include "zdtmtst.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* One line of /proc/locks. */
struct lk {
	char kind[16];		/* POSIX, FLOCK, OFDLCK */
	char type[8];		/* READ, WRITE */
	int pid;
	long long start, end;	/* end -1: EOF */
	int blocked;		/* a "->" line: a waiter, not a holder */
};

/* The lines of /proc/locks about @path's inode (at most @max); returns
 * their number, or -1. */
static inline int locks_of(const char *path, struct lk *v, int max)
{
	struct stat st;
	if (stat(path, &st))
		return -1;
	FILE *f = fopen("/proc/locks", "r");
	if (!f)
		return -1;
	char line[512];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		struct lk l = { 0 };
		char end[32], *p = strchr(line, ':');
		unsigned maj, min;
		unsigned long ino;
		if (!p)
			continue;
		p++;
		while (*p == ' ')
			p++;
		if (!strncmp(p, "->", 2)) {
			l.blocked = 1;
			p += 2;
		}
		if (sscanf(p, "%15s %*s %7s %d %x:%x:%lu %lld %31s", l.kind, l.type, &l.pid, &maj,
			   &min, &ino, &l.start, end) != 8)
			continue;
		if (ino != st.st_ino || makedev(maj, min) != st.st_dev)
			continue;
		l.end = strcmp(end, "EOF") ? atoll(end) : -1;
		if (n < max)
			v[n] = l;
		n++;
	}
	fclose(f);
	return n;
}

/* @path's holders (lines without "->") must be exactly @want (any order),
 * and @nwait waiters ("->") must be there, owned by @waiters. */
static inline void expect_proc_locks(const char *what, const char *path, const struct lk *want,
				     int nwant, const int *waiters, int nwait)
{
	struct lk got[32];
	int n = -1, holders = 0, waits = 0;
	/* a restored waiter re-enters its blocking call when it resumes */
	for (int tries = 0; tries < 200; tries++) {
		n = locks_of(path, got, 32);
		waits = 0;
		for (int i = 0; i < n && i < 32; i++)
			waits += got[i].blocked;
		if (waits >= nwait)
			break;
		usleep(10000);
	}
	if (n < 0 || n > 32) {
		fail("%s: can't read /proc/locks (%d lines)", what, n);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (got[i].blocked) {
			bool known = false;
			for (int j = 0; j < nwait; j++)
				known |= waiters[j] == got[i].pid;
			if (!known)
				fail("%s: /proc/locks shows a waiter %s %s of pid %d that is not ours",
				     what, got[i].kind, got[i].type, got[i].pid);
			continue;
		}
		holders++;
		bool found = false;
		for (int j = 0; j < nwant && !found; j++)
			found = !strcmp(got[i].kind, want[j].kind) &&
				!strcmp(got[i].type, want[j].type) && got[i].pid == want[j].pid &&
				got[i].start == want[j].start && got[i].end == want[j].end;
		if (!found)
			fail("%s: /proc/locks shows %s %s of pid %d on [%lld, %lld], not expected", what,
			     got[i].kind, got[i].type, got[i].pid, got[i].start, got[i].end);
	}
	if (holders != nwant)
		fail("%s: /proc/locks shows %d lock(s) held, expected %d", what, holders, nwant);
	for (int j = 0; j < nwait; j++) {
		bool found = false;
		for (int i = 0; i < n && !found; i++)
			found = got[i].blocked && got[i].pid == waiters[j];
		if (!found)
			fail("%s: process %d is no longer waiting for a lock", what, waiters[j]);
	}
}

static inline int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	return fcntl(fd, cmd, &fl);
}

/* @cmd (F_GETLK or F_OFD_GETLK) for a write lock on [start, +len) of a new
 * description of @path must report @type, that range and @pid.  The
 * descriptor is left open (a close would drop this process's POSIX
 * locks on the file). */
static inline void expect_getlk(int cmd, const char *path, off_t start, off_t len, short type,
				pid_t pid, const char *what)
{
	int fd = open(path, O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start,
			    .l_len = len };
	if (fd < 0 || fcntl(fd, cmd, &fl)) {
		fail_errno("%s: %s on %s", what, cmd == F_GETLK ? "F_GETLK" : "F_OFD_GETLK", path);
		return;
	}
	if (fl.l_type != type || (type != F_UNLCK && (fl.l_start != start || fl.l_len != len ||
						      fl.l_pid != pid)))
		fail("%s: found type %d [%lld, +%lld) pid %d, expected type %d [%lld, +%lld) pid %d",
		     what, fl.l_type, (long long)fl.l_start, (long long)fl.l_len, fl.l_pid, type,
		     (long long)start, (long long)len, pid);
}

/* Taking lock @type on [start, +len) with @cmd (F_SETLK, F_OFD_SETLK)
 * through a new description of @path must fail with EAGAIN (@conflict) or
 * succeed (then it is let go again). */
static inline void expect_setlk(int cmd, const char *path, short type, off_t start, off_t len,
				bool conflict, const char *what)
{
	int fd = open(path, O_RDWR);
	if (fd < 0) {
		fail_errno("%s: open %s", what, path);
		return;
	}
	int r = setlk(fd, cmd, type, start, len);
	if (conflict && (r == 0 || (errno != EAGAIN && errno != EACCES)))
		fail("%s: a conflicting %s lock on [%lld, +%lld) of %s was granted (%s)", what,
		     type == F_RDLCK ? "read" : "write", (long long)start, (long long)len, path,
		     r ? strerror(errno) : "no error");
	if (!conflict && r)
		fail_errno("%s: a compatible %s lock on [%lld, +%lld) of %s was refused", what,
			   type == F_RDLCK ? "read" : "write", (long long)start, (long long)len,
			   path);
	if (!r)
		setlk(fd, cmd, F_UNLCK, start, len);
	/* kept open: see expect_getlk */
}

/* flock(@op | LOCK_NB) through a new description of @path must fail with
 * EWOULDBLOCK (@conflict) or succeed (then it is let go again). */
static inline void expect_flock(const char *path, int op, bool conflict, const char *what)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fail_errno("%s: open %s", what, path);
		return;
	}
	int r = flock(fd, op | LOCK_NB);
	if (conflict && (r == 0 || errno != EWOULDBLOCK))
		fail("%s: a conflicting flock(%s) of %s was granted (%s)", what,
		     op == LOCK_SH ? "LOCK_SH" : "LOCK_EX", path, r ? strerror(errno) : "no error");
	if (!conflict && r)
		fail_errno("%s: a compatible flock(%s) of %s was refused", what,
			   op == LOCK_SH ? "LOCK_SH" : "LOCK_EX", path);
	close(fd);
}

#endif
