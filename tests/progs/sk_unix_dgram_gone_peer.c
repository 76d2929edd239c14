/* sk_unix_dgram_gone_peer: queued datagrams whose senders are gone.
 *
 * Before the checkpoint, datagram socket R (bound to D/r.sock, not
 * connected) has four messages: from S1 bound to "@cryo-gp-PID" (closed
 * since), from S2 bound to D/s2.sock (closed, its file removed), from an
 * unnamed S3 (closed), from S4 bound to "@cryo-gp4-PID", which is still
 * open, and from S5 bound to D/s5.sock (closed, its file left there).
 * After SIGTERM recvfrom gives each message with its sender's address as
 * before, S4 can still send to R, and D/s5.sock is the same file.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sk_unix_util.h"

static void send_to(int s, const char *data, const char *to)
{
	struct sockaddr_un a;
	socklen_t l = un_addr(&a, to);
	if (sendto(s, data, strlen(data), 0, (struct sockaddr *)&a, l) != (ssize_t)strlen(data))
		setup_fail("sendto %s: %s", to, strerror(errno));
}

int main(int argc, char **argv)
{
	test_doc = "queued datagrams from senders that are gone";
	test_init(argc, argv);

	char dir[64], pr[96], p2[96], p5[96], a1[64], a4[64];
	snprintf(dir, sizeof(dir), "/tmp/cryo-sk-gp-%d", getpid());
	snprintf(pr, sizeof(pr), "%s/r.sock", dir);
	snprintf(p2, sizeof(p2), "%s/s2.sock", dir);
	snprintf(p5, sizeof(p5), "%s/s5.sock", dir);
	snprintf(a1, sizeof(a1), "@cryo-gp-%d", getpid());
	snprintf(a4, sizeof(a4), "@cryo-gp4-%d", getpid());
	if (mkdir(dir, 0755))
		setup_fail("mkdir %s: %s", dir, strerror(errno));
	int r = un_socket(SOCK_DGRAM, pr);
	int s1 = un_socket(SOCK_DGRAM, a1), s2 = un_socket(SOCK_DGRAM, p2);
	int s3 = un_socket(SOCK_DGRAM, NULL), s4 = un_socket(SOCK_DGRAM, a4);
	send_to(s1, "from-s1", pr);
	send_to(s2, "from-s2", pr);
	send_to(s3, "from-s3", pr);
	send_to(s4, "from-s4", pr);
	int s5 = un_socket(SOCK_DGRAM, p5);
	send_to(s5, "from-s5", pr);
	close(s5);
	struct stat st5;
	if (lstat(p5, &st5))
		setup_fail("stat %s: %s", p5, strerror(errno));
	close(s1);
	close(s2);
	unlink(p2);
	close(s3);

	test_daemon();
	test_waitsig();

	un_expect_from(r, "from-s1", a1, "message of S1 (abstract, closed)");
	un_expect_from(r, "from-s2", p2, "message of S2 (path, closed, removed)");
	un_expect_from(r, "from-s3", NULL, "message of S3 (unnamed, closed)");
	un_expect_from(r, "from-s4", a4, "message of S4 (abstract, open)");
	un_expect_from(r, "from-s5", p5, "message of S5 (path, closed, file left)");
	un_check_name(s4, false, a4, "S4");
	struct sockaddr_un a;
	socklen_t l = un_addr(&a, pr);
	if (sendto(s4, "again", 5, 0, (struct sockaddr *)&a, l) != 5)
		fail("S4 can't send to R: %s", strerror(errno));
	else
		un_expect_from(r, "again", a4, "new message of S4");
	struct stat st;
	if (!lstat(p2, &st))
		fail("%s exists again after the restore", p2);
	if (lstat(p5, &st) || st.st_ino != st5.st_ino)
		fail("%s is not the same file any more", p5);
	unlink(pr);
	unlink(p5);
	rmdir(dir);
	pass();
	return 0;
}
