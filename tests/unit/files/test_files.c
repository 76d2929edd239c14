/* lib/files without root: the descriptor-kind table (the socket kinds
 * registered by lib/sockets), the common end of an ->open step
 * (files_rst_adopt) and the namespace context ->open steps run in. */
#include "../unit.h"
#include "files/files-int.h"
#include "sockets/sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_kinds(void)
{
	/* lib/files alone lacks the socket kinds, and says so */
	CHECK(fd_kind(FDK_UNIX) == NULL);
	CHECK(fd_kind(FDK_REG) != NULL);
	fprintf(stderr, "(an error about descriptor kind %d is expected)\n", FDK_UNIX);
	CHECK_INT(fd_kinds_check(), -EINVAL);
	sockets_register_fd_kinds();
	sockets_register_fd_kinds();	/* again: harmless */
	CHECK_INT(fd_kinds_check(), 0);
	for (int k = 0; k < FDK_MAX; k++) {
		const struct fd_kind *d = fd_kind(k);
		CHECK(d != NULL);
		if (!d)
			continue;
		CHECK(fd_kind_of_type(d->fd_type) == d);
		CHECK(d->name && d->dump && d->open);
	}
	CHECK_STR(fd_kind(FDK_UNIX)->name, "unix socket");
	CHECK_INT(fd_kind(FDK_PIPE)->fd_type, FD_TYPES__PIPE);
	CHECK_INT(fd_kind(FDK_INET)->fd_type, FD_TYPES__INETSK);
	CHECK(fd_kind(FDK_MAX) == NULL);
	CHECK(fd_kind_of_type(-1) == NULL);
	/* a subsystem can't take over one of lib/files' own kinds */
	const struct fd_kind *reg = fd_kind(FDK_REG);
	fd_kind_register(FDK_REG, fd_kind(FDK_UNIX));
	CHECK(fd_kind(FDK_REG) == reg);
}

static void test_adopt(void)
{
	FileEntry fe = FILE_ENTRY__INIT;
	struct rst_file f = { .fe = &fe, .lfd = -1 };
	int p[2];

	CHECK_INT(pipe2(p, O_CLOEXEC), 0);
	/* flags as dumped (O_NONBLOCK on), no owner */
	CHECK_INT(files_rst_adopt(&f, p[0], 0, O_RDONLY | O_NONBLOCK, NULL, "a pipe"), 0);
	CHECK_INT(f.lfd, p[0]);
	CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	/* as opened: the flags are left alone */
	f.lfd = -1;
	CHECK_INT(files_rst_adopt(&f, p[1], 0, FILES_FLAGS_AS_OPENED, NULL, "a pipe"), 0);
	CHECK_INT(f.lfd, p[1]);
	CHECK(!(fcntl(p[1], F_GETFL) & O_NONBLOCK));
	/* the owner as dumped */
	FownEntry fown = FOWN_ENTRY__INIT;
	fown.pid = getpid();
	fown.pid_type = F_OWNER_PID;
	fown.signum = SIGIO;
	CHECK_INT(files_rst_adopt(&f, p[1], 0, FILES_FLAGS_AS_OPENED, &fown, "a pipe"), 0);
	struct f_owner_ex o = { 0 };
	CHECK_INT(fcntl(p[1], F_GETOWN_EX, &o), 0);
	CHECK_INT(o.pid, getpid());
	CHECK_INT(fcntl(p[1], F_GETSIG), SIGIO);
	/* an earlier step failed: the descriptor is closed, @f keeps none */
	f.lfd = -1;
	CHECK_INT(files_rst_adopt(&f, p[0], -EIO, O_RDONLY, NULL, "a pipe"), -EIO);
	CHECK(!fd_open(p[0]));
	CHECK_INT(f.lfd, -1);
	/* nothing made: nothing closed */
	CHECK_INT(files_rst_adopt(&f, -1, -ENOENT, O_RDONLY, NULL, "a pipe"), -ENOENT);
	close(p[1]);
	/* a flag that can't be set (O_DIRECT on a socket): closed too */
	int sp[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fprintf(stderr, "(an error about fcntl on a socket is expected)\n");
	CHECK_INT(files_rst_adopt(&f, sp[0], 0, O_RDWR | O_DIRECT, NULL, "a socket"), -EINVAL);
	CHECK(!fd_open(sp[0]));
	CHECK_INT(f.lfd, -1);
	close(sp[1]);
}

static void test_ns(void)
{
	char dir[] = "/tmp/cryo-unit-files-XXXXXX";
	struct files_restore fr;
	FileEntry fe = FILE_ENTRY__INIT;
	struct rst_file f = { .fe = &fe, .lfd = -1 };

	CHECK(mkdtemp(dir) != NULL);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dirfd >= 0);
	/* no files.img: an empty restore */
	CHECK_INT(files_restore_load(&fr, dirfd, NULL), 0);
	CHECK_INT(fr.nr_files, 0);
	for (int k = 0; k < NS__MAX; k++)
		CHECK_INT(fr.ns.fd[k], -1);	/* cryo's own */
	CHECK_INT(files_rst_enter_ns(&fr, &f, CLONE_NEWNET), 0);
	fprintf(stderr, "(two errors about namespaces, bugs, are expected)\n");
	CHECK_INT(files_rst_enter_ns(&fr, &f, CLONE_NEWNET), -EBUSY);
	CHECK_INT(files_rst_enter_ns(&fr, &f, CLONE_NEWNS), 0);	/* another kind */
	CHECK_INT(files_rst_leave_ns(&fr, CLONE_NEWNS), 0);
	CHECK_INT(files_rst_leave_ns(&fr, CLONE_NEWNET), 0);
	CHECK_INT(files_rst_leave_ns(&fr, CLONE_NEWNET), -EINVAL);
	int sk = files_rst_socket(&fr, &f, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(sk >= 0);
	int dom = 0;
	socklen_t l = sizeof(dom);
	CHECK_INT(getsockopt(sk, SOL_SOCKET, SO_DOMAIN, &dom, &l), 0);
	CHECK_INT(dom, AF_UNIX);
	close(sk);
	/* socket's own error comes back as it is */
	CHECK_INT(files_rst_socket(&fr, &f, 12345, SOCK_STREAM, 0), -EAFNOSUPPORT);
	CHECK_INT(fr.ns_entered, 0);
	files_restore_free(&fr);
	close(dirfd);
	rmdir(dir);
}

int main(void)
{
	test_kinds();
	test_adopt();
	test_ns();
	return unit_done("files");
}
