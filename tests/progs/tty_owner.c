/* tty_owner: a pty slave's owner, group and mode come back.
 *
 * Pty A: the slave is held open, fchown'ed to uid 1000 gid 5 (as grantpt
 * does for a user) and made 0620.  Pty B: only the master is held; its
 * slave was set to uid 1234 gid 4321, mode 0604, and closed, and the pty
 * is locked against new opens (TIOCSPTLCK).
 * After restore: fstat of A's slave, stat of /dev/pts/N of both, and a
 * slave of B opened from its master (TIOCGPTPEER, O_PATH) show those
 * owners and modes; the masters still stat as they did. */
#include "zdtmtst.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

struct want {
	uid_t uid;
	gid_t gid;
	mode_t mode;
};

static int open_pair(char *name, size_t len)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, len))
		setup_fail("posix_openpt/grantpt/unlockpt: %s", strerror(errno));
	return m;
}

static void check(const char *what, const struct stat *st, const struct want *w)
{
	if (!S_ISCHR(st->st_mode) || st->st_uid != w->uid || st->st_gid != w->gid ||
	    (st->st_mode & 07777) != w->mode)
		fail("%s: uid %u gid %u mode %04o, expected uid %u gid %u mode %04o", what,
		     st->st_uid, st->st_gid, st->st_mode & 07777, w->uid, w->gid, w->mode);
}

static void check_master(const char *what, int m, const struct stat *before)
{
	struct stat st;
	if (fstat(m, &st))
		fail_errno("fstat of the master of %s", what);
	else if (st.st_rdev != before->st_rdev || st.st_uid != before->st_uid ||
		 st.st_gid != before->st_gid || st.st_mode != before->st_mode)
		fail("the master of %s: rdev %#lx uid %u gid %u mode %o, was rdev %#lx uid %u "
		     "gid %u mode %o", what, (long)st.st_rdev, st.st_uid, st.st_gid, st.st_mode,
		     (long)before->st_rdev, before->st_uid, before->st_gid, before->st_mode);
}

int main(int argc, char **argv)
{
	char na[64], nb[64], now[64];
	const struct want wa = { 1000, 5, 0620 }, wb = { 1234, 4321, 0604 };
	struct stat ma_st, mb_st, st;

	test_doc = "owner, group and mode of pty slaves";
	test_init(argc, argv);
	int ma = open_pair(na, sizeof(na));
	int sa = open(na, O_RDWR | O_NOCTTY);
	if (sa < 0 || fchown(sa, wa.uid, wa.gid) || fchmod(sa, wa.mode))
		setup_fail("open/fchown/fchmod %s: %s", na, strerror(errno));
	int mb = open_pair(nb, sizeof(nb));
	int sb = open(nb, O_RDWR | O_NOCTTY);
	int one = 1, v = 0;
	if (sb < 0 || fchown(sb, wb.uid, wb.gid) || fchmod(sb, wb.mode) || close(sb) ||
	    ioctl(mb, TIOCSPTLCK, &one))
		setup_fail("open/fchown/fchmod/lock %s: %s", nb, strerror(errno));
	if (fstat(ma, &ma_st) || fstat(mb, &mb_st))
		setup_fail("fstat of the masters: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	if (ptsname_r(ma, now, sizeof(now)) || strcmp(now, na))
		fail("pty A is no longer %s", na);
	if (ptsname_r(mb, now, sizeof(now)) || strcmp(now, nb))
		fail("pty B is no longer %s", nb);
	if (fstat(sa, &st))
		fail_errno("fstat of A's slave");
	else
		check("fstat of A's slave", &st, &wa);
	if (stat(na, &st))
		fail_errno("stat %s", na);
	else
		check(na, &st, &wa);
	if (stat(nb, &st))
		fail_errno("stat %s", nb);
	else
		check(nb, &st, &wb);
	int pb = ioctl(mb, TIOCGPTPEER, O_PATH | O_CLOEXEC);
	if (pb < 0 || fstat(pb, &st))
		fail_errno("B's slave from its master");
	else
		check("B's slave from its master", &st, &wb);
	if (ioctl(mb, TIOCGPTLCK, &v) || v != 1)
		fail("pty B is no longer locked");
	check_master(na, ma, &ma_st);
	check_master(nb, mb, &mb_st);
	return test_verdict();
}
