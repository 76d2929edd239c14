/* mem_migrate: memory that keeps changing while `cryo migrate` copies it
 * (tests/runner/migrate.py; also the target of scripts/bench migrate).
 *
 * --pages N pages of private anonymous memory (default 4096, 16 MiB), each
 * filled with a pattern seeded by (page, generation).  A hot set (--hot
 * percent of the pages, default 10) is rewritten all the time, --rate pages
 * a millisecond (default 16), and every 64th write goes to a cold page in
 * turn, so that every pre-copy iteration finds pages written since the one
 * before, hot and cold.  The generations live in a second mapping.  After
 * SIGTERM every byte of every page must be its generation's pattern: a page
 * left to an older iteration, or lost on the way, fails.
 *
 * --serve PORT (benchmark): also answer one TCP connection on 127.0.0.1 /
 * any address: each byte read is echoed back at once (the client measures
 * the downtime as the longest gap between replies). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

static unsigned pages = 4096;
TEST_OPTION(pages, uint, "pages of memory (4096)", 0);
static unsigned hot = 10;
TEST_OPTION(hot, uint, "percent of the pages rewritten all the time (10)", 0);
static unsigned rate = 16;
TEST_OPTION(rate, uint, "pages written a millisecond (16)", 0);
static unsigned serve = 0;
TEST_OPTION(serve, uint, "TCP port to echo one connection on (0: none)", 0);

static uint64_t seed(size_t page, uint32_t gen)
{
	return ((uint64_t)gen << 32) | page | 0x4d00000000000000ull;
}

static int serve_listen(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(serve) };
	int one = 1, sk = socket(AF_INET, SOCK_STREAM, 0);
	if (sk < 0 || setsockopt(sk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(sk, (struct sockaddr *)&a, sizeof(a)) || listen(sk, 1))
		setup_fail("can't listen on port %u", serve);
	return sk;
}

/* echo what the client sent, without blocking */
static void echo(int *lsk, int *csk)
{
	struct pollfd p = { .fd = *csk >= 0 ? *csk : *lsk, .events = POLLIN };
	if (poll(&p, 1, 0) <= 0)
		return;
	if (*csk < 0) {
		*csk = accept(*lsk, NULL, NULL);
		if (*csk >= 0) {
			int one = 1;
			setsockopt(*csk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		return;
	}
	char buf[256];
	ssize_t n = read(*csk, buf, sizeof(buf));
	if (n > 0 && write(*csk, buf, n) != n)
		test_msg("echo: short write");
	if (n == 0) {
		close(*csk);
		*csk = -1;
	}
}

int main(int argc, char **argv)
{
	const size_t P = sysconf(_SC_PAGESIZE);
	int lsk = -1, csk = -1;

	test_doc = "memory rewritten all the time, every byte checked after the migration";
	test_init(argc, argv);
	if (!pages || hot > 100 || !rate)
		setup_fail("bad --pages, --hot or --rate");
	char *mem = mmap(NULL, (size_t)pages * P, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *gen = mmap(NULL, pages * sizeof(*gen), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || gen == MAP_FAILED)
		setup_fail("mmap of %u pages failed", pages);
	madvise(mem, (size_t)pages * P, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < pages; i++) {
		gen[i] = 1;
		pattern_fill(mem + i * P, P, seed(i, 1));
	}
	if (serve)
		lsk = serve_listen();
	size_t nhot = (size_t)pages * hot / 100, ncold = pages - nhot;
	unsigned long writes = 0;
	size_t next_hot = 0, next_cold = 0;
	test_daemon();
	while (test_go()) {
		for (unsigned k = 0; k < rate; k++) {
			size_t i;
			if ((writes++ % 64 == 63 || !nhot) && ncold)
				i = nhot + next_cold++ % ncold;
			else if (nhot)
				i = next_hot++ % nhot;
			else
				continue;
			/* the page first, then its generation: a freeze between the
			 * two is resumed where it was */
			pattern_fill(mem + i * P, P, seed(i, gen[i] + 1));
			gen[i]++;
		}
		if (lsk >= 0)
			echo(&lsk, &csk);
		test_sleep_ms(1);
	}
	size_t bad = 0;
	for (size_t i = 0; i < pages; i++) {
		ssize_t off = pattern_check(mem + i * P, P, seed(i, gen[i]));
		if (off >= 0 && !bad++)
			fail("page %zu (generation %u) differs at byte %zd", i, gen[i], off);
	}
	test_msg("%lu page writes, %zu of %u pages wrong", writes, bad, pages);
	if (!bad)
		pass();
	return test_verdict();
}
