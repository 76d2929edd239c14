/* sk_unix_removed_dir: a unix socket bound in a directory removed since.
 *
 * Before the checkpoint: datagram socket X is bound to D/E/x.sock with two
 * messages queued; its file is unlinked and D/E and D removed.  After
 * SIGTERM: X still has its name, reads both messages, and neither D nor
 * anything under it exists again (the restore made and removed what it
 * needed).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sk_unix_util.h"

int main(int argc, char **argv)
{
	test_doc = "unix socket bound in a directory removed since";
	test_init(argc, argv);

	char dir[64], sub[96], path[128];
	snprintf(dir, sizeof(dir), "/tmp/cryo-sk-rmdir-%d", getpid());
	snprintf(sub, sizeof(sub), "%s/E", dir);
	snprintf(path, sizeof(path), "%s/x.sock", sub);
	if (mkdir(dir, 0755) || mkdir(sub, 0755))
		setup_fail("mkdir %s: %s", sub, strerror(errno));
	int x = un_socket(SOCK_DGRAM, path);
	int t = un_socket(SOCK_DGRAM, NULL);
	un_connect(t, path);
	if (send(t, "one", 3, 0) != 3 || send(t, "two", 3, 0) != 3)
		setup_fail("send: %s", strerror(errno));
	close(t);
	if (unlink(path) || rmdir(sub) || rmdir(dir))
		setup_fail("remove %s: %s", dir, strerror(errno));

	test_daemon();
	test_waitsig();

	un_check_name(x, false, path, "X");
	un_expect_from(x, "one", NULL, "first message");
	un_expect_from(x, "two", NULL, "second message");
	struct stat st;
	if (!lstat(dir, &st))
		fail("%s exists again after the restore", dir);
	pass();
	return 0;
}
