/* pipe_packet: a pipe in packet mode (O_DIRECT) keeps message boundaries
 * that its saved bytes can't: cryo must refuse the dump and leave the
 * process unharmed (its packets still separate). */
#include <fcntl.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "packet-mode pipe: refused";
	test_init(argc, argv);
	int p[2];
	if (pipe2(p, O_DIRECT))
		setup_fail("pipe2(O_DIRECT): %s", strerror(errno));
	if (write(p[1], "abc", 3) != 3 || write(p[1], "de", 2) != 2)
		setup_fail("write: %s", strerror(errno));
	test_daemon();
	test_waitsig();
	char buf[16];
	if (read(p[0], buf, sizeof(buf)) != 3 || read(p[0], buf, sizeof(buf)) != 2)
		fail("the packets were merged");
	pass();
	return 0;
}
