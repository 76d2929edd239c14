/* sk_unix_name_replaced: unix sockets whose bound names now hold other
 * files.
 *
 * Before the checkpoint: datagram socket Y is bound to D/y.sock (a message
 * queued), its file removed and a FIFO made at that name; stream listener
 * Z is bound to D/z.sock with a pending connection from ZC and an accepted
 * one (ZA/ZB), its file removed and a regular file with "precious"
 * written there.  After SIGTERM: Y and Z have their names, Y
 * reads its message, Z accepts ZC's connection and ZA/ZB carry data, and
 * D/y.sock is the same FIFO (inode) and D/z.sock the
 * same regular file with its contents: the restore did not clobber them.
 * --overmount (sk_unix_overmount_refuse): only a datagram socket W bound
 * in D/m, over which a tmpfs is then mounted: the dump must refuse; W
 * still works afterwards.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sk_unix_util.h"

static bool overmount;
TEST_OPTION(overmount, bool, "a socket whose directory is mounted over (must refuse)", 0);

static int overmount_test(void)
{
	char dir[64], m[96], pw[128];
	snprintf(dir, sizeof(dir), "/tmp/cryo-sk-overmount-%d", getpid());
	snprintf(m, sizeof(m), "%s/m", dir);
	snprintf(pw, sizeof(pw), "%s/w.sock", m);
	if (mkdir(dir, 0755) || mkdir(m, 0755))
		setup_fail("mkdir %s: %s", m, strerror(errno));
	int w = un_socket(SOCK_DGRAM, pw);
	if (mount("cryo-test", m, "tmpfs", 0, "size=64k"))
		setup_fail("mount tmpfs on %s: %s", m, strerror(errno));
	test_daemon();
	test_waitsig();
	un_check_name(w, false, pw, "W");
	if (umount2(m, MNT_DETACH))
		fail("umount %s: %s", m, strerror(errno));
	int t = un_socket(SOCK_DGRAM, NULL);
	struct sockaddr_un a;
	socklen_t al = un_addr(&a, pw);
	if (sendto(t, "w", 1, 0, (struct sockaddr *)&a, al) != 1)
		fail("send to W at %s: %s", pw, strerror(errno));
	else
		un_expect_from(w, "w", NULL, "W's message");
	unlink(pw);
	rmdir(m);
	rmdir(dir);
	pass();
	return 0;
}

int main(int argc, char **argv)
{
	test_doc = "unix sockets whose names were taken by a FIFO and a file";
	test_init(argc, argv);
	if (overmount)
		return overmount_test();

	char dir[64], py[96], pz[96];
	snprintf(dir, sizeof(dir), "/tmp/cryo-sk-replaced-%d", getpid());
	snprintf(py, sizeof(py), "%s/y.sock", dir);
	snprintf(pz, sizeof(pz), "%s/z.sock", dir);
	if (mkdir(dir, 0755))
		setup_fail("mkdir %s: %s", dir, strerror(errno));
	int y = un_socket(SOCK_DGRAM, py);
	int z = un_socket(SOCK_STREAM, pz);
	if (listen(z, 2))
		setup_fail("listen");
	int zb = un_socket(SOCK_STREAM, NULL);
	un_connect(zb, pz);
	int za = accept(z, NULL, NULL);
	int zc = un_socket(SOCK_STREAM, NULL);
	un_connect(zc, pz);
	if (za < 0)
		setup_fail("accept: %s", strerror(errno));
	int t = un_socket(SOCK_DGRAM, NULL);
	un_connect(t, py);
	if (send(t, "msg", 3, 0) != 3)
		setup_fail("send");
	close(t);
	struct stat fy, fz;
	if (unlink(py) || mkfifo(py, 0600) || stat(py, &fy))
		setup_fail("fifo: %s", strerror(errno));
	int f = -1;
	if (unlink(pz) || (f = open(pz, O_CREAT | O_WRONLY, 0644)) < 0 ||
	    write(f, "precious", 8) != 8 || fstat(f, &fz))
		setup_fail("file: %s", strerror(errno));
	close(f);

	test_daemon();
	test_waitsig();

	un_check_name(y, false, py, "Y");
	un_check_name(z, false, pz, "Z");
	un_expect_from(y, "msg", NULL, "Y's message");
	int zd = accept(z, NULL, NULL);
	char zbuf[8];
	if (zd < 0)
		fail("Z lost its pending connection: %s", strerror(errno));
	else if (send(zc, "zc", 2, 0) != 2 || recv(zd, zbuf, sizeof(zbuf), MSG_DONTWAIT) != 2)
		fail("ZC's connection carries no data");
	if (send(zb, "zb", 2, 0) != 2 || recv(za, zbuf, sizeof(zbuf), MSG_DONTWAIT) != 2)
		fail("the accepted connection ZA/ZB carries no data");
	un_check_name(za, false, pz, "ZA");
	un_check_name(zb, true, pz, "ZB's peer");
	struct stat st;
	if (lstat(py, &st) || !S_ISFIFO(st.st_mode) || st.st_ino != fy.st_ino)
		fail("%s is not the same FIFO any more", py);
	char b[16] = { 0 };
	f = open(pz, O_RDONLY);
	if (f < 0 || fstat(f, &st) || st.st_ino != fz.st_ino || read(f, b, sizeof(b)) != 8 ||
	    memcmp(b, "precious", 8))
		fail("%s is not the same file with its contents any more", pz);
	close(f);
	unlink(py);
	unlink(pz);
	rmdir(dir);
	pass();
	return 0;
}
