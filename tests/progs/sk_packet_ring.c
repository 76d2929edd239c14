/* sk_packet_ring: packet sockets with rings mapped in the process (needs
 * CAP_NET_RAW; loopback only).
 *
 * Before the checkpoint: socket A (ETH_P_ALL, bound to lo) with
 * PACKET_VERSION --version (2 or 3), PACKET_RESERVE 16 and a receive ring
 * of 4 blocks of 8 KiB (frames of 2 KiB; V3: a 10 ms block timeout),
 * mapped; socket B (TPACKET_V2, bound to lo) with a receive and a transmit
 * ring (4 blocks of 4 KiB each) in one mapping.  Nothing has been sent
 * through them: both rings are at their first frame.
 * (--close_a: A's descriptor is closed after the mmap, so only the mapping
 * holds the socket: the dump must refuse.  --fork: a child forked after
 * the mmaps holds both mappings and descriptors too; after SIGTERM it
 * checks that its mappings are at the same addresses, from its A and B.)
 * After SIGTERM: versions and reserve are the same; both mappings are at
 * the same addresses with the same sizes and are the rings of the restored
 * A and B (/proc/self/maps names their inodes); a frame with a marker put
 * in B's transmit ring and sent is transmitted (its status goes back to
 * available) and shows up in A's receive ring.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int version = 2;
TEST_OPTION(version, int, "TPACKET version of A (2 or 3)", 0);
static bool close_a;
TEST_OPTION(close_a, bool, "close A after mapping its ring", 0);
static bool fork_child;
TEST_OPTION(fork_child, bool, "a child shares the rings", 0);

#define A_BLOCK 8192
#define A_BLOCKS 4
#define B_BLOCK 4096
#define B_BLOCKS 4
#define FRAME 2048
#define ETH_P_TEST 0x88b5	/* IEEE local experimental */

static const char marker[] = "cryo-sk-packet-ring-marker";

static int getopt_int(int s, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	getsockopt(s, SOL_PACKET, opt, &v, &l);
	return v;
}

static void setopt(int s, int opt, int v, const char *name)
{
	if (setsockopt(s, SOL_PACKET, opt, &v, sizeof(v)))
		setup_fail("%s: %s", name, strerror(errno));
}

static void bind_lo(int s, int lo)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				 .sll_ifindex = lo };
	if (bind(s, (struct sockaddr *)&a, sizeof(a)))
		setup_fail("bind to lo: %s", strerror(errno));
}

/* Is [@p, @p + @len) one mapping of socket @s in /proc/self/maps? */
static bool mapped_from(void *p, size_t len, int s)
{
	struct stat st;
	if (fstat(s, &st))
		return false;
	char want[128], line[512];
	snprintf(want, sizeof(want), "%lx-%lx ", (unsigned long)p, (unsigned long)p + len);
	FILE *f = fopen("/proc/self/maps", "r");
	bool ok = false;
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, want, strlen(want)))
			continue;
		char sock[64];
		snprintf(sock, sizeof(sock), "socket:[%lu]", (unsigned long)st.st_ino);
		ok = strstr(line, sock) != NULL;
	}
	if (f)
		fclose(f);
	return ok;
}

/* Give every frame (V2) or block (V3) of A's ring back to the kernel. */
static void release_all(char *ring)
{
	if (version == 3) {
		for (int b = 0; b < A_BLOCKS; b++) {
			struct tpacket_block_desc *bd = (void *)(ring + b * A_BLOCK);
			bd->hdr.bh1.block_status = TP_STATUS_KERNEL;
		}
		return;
	}
	for (int i = 0; i < A_BLOCKS * A_BLOCK / FRAME; i++)
		((struct tpacket2_hdr *)(ring + i * FRAME))->tp_status = TP_STATUS_KERNEL;
	__sync_synchronize();
}

static bool has_marker(const char *data, unsigned len)
{
	return len >= sizeof(marker) && memmem(data, len, marker, sizeof(marker));
}

/* Does A's ring hold a frame with the marker? */
static bool ring_has_marker(char *ring)
{
	__sync_synchronize();
	if (version == 3) {
		for (int b = 0; b < A_BLOCKS; b++) {
			struct tpacket_block_desc *bd = (void *)(ring + b * A_BLOCK);
			if (!(bd->hdr.bh1.block_status & TP_STATUS_USER))
				continue;
			char *p = (char *)bd + bd->hdr.bh1.offset_to_first_pkt;
			for (unsigned k = 0; k < bd->hdr.bh1.num_pkts; k++) {
				struct tpacket3_hdr *h = (void *)p;
				if (has_marker(p + h->tp_mac, h->tp_snaplen))
					return true;
				p += h->tp_next_offset;
			}
		}
		return false;
	}
	for (int i = 0; i < A_BLOCKS * A_BLOCK / FRAME; i++) {
		struct tpacket2_hdr *h = (void *)(ring + i * FRAME);
		if ((h->tp_status & TP_STATUS_USER) &&
		    has_marker((char *)h + h->tp_mac, h->tp_snaplen))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	test_doc = "packet sockets with mapped RX/TX rings";
	test_init(argc, argv);
	int lo = if_nametoindex("lo");
	int a = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	int b = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (a < 0 || b < 0 || !lo)
		setup_fail("socket(AF_PACKET): %s", strerror(errno));
	setopt(a, PACKET_VERSION, version == 3 ? TPACKET_V3 : TPACKET_V2, "PACKET_VERSION");
	setopt(a, PACKET_RESERVE, 16, "PACKET_RESERVE");
	struct tpacket_req3 ra = { .tp_block_size = A_BLOCK, .tp_block_nr = A_BLOCKS,
				   .tp_frame_size = FRAME,
				   .tp_frame_nr = A_BLOCKS * A_BLOCK / FRAME,
				   .tp_retire_blk_tov = 10 };
	if (setsockopt(a, SOL_PACKET, PACKET_RX_RING, &ra,
		       version == 3 ? sizeof(ra) : sizeof(struct tpacket_req)))
		setup_fail("PACKET_RX_RING on A: %s", strerror(errno));
	size_t alen = A_BLOCK * A_BLOCKS;
	char *aring = mmap(NULL, alen, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	if (aring == MAP_FAILED)
		setup_fail("mmap of A's ring: %s", strerror(errno));
	bind_lo(a, lo);

	setopt(b, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
	struct tpacket_req rb = { .tp_block_size = B_BLOCK, .tp_block_nr = B_BLOCKS,
				  .tp_frame_size = FRAME,
				  .tp_frame_nr = B_BLOCKS * B_BLOCK / FRAME };
	if (setsockopt(b, SOL_PACKET, PACKET_RX_RING, &rb, sizeof(rb)) ||
	    setsockopt(b, SOL_PACKET, PACKET_TX_RING, &rb, sizeof(rb)))
		setup_fail("rings on B: %s", strerror(errno));
	size_t blen = 2 * B_BLOCK * B_BLOCKS;
	char *bring = mmap(NULL, blen, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	if (bring == MAP_FAILED)
		setup_fail("mmap of B's rings: %s", strerror(errno));
	bind_lo(b, lo);
	if (close_a)
		close(a);
	int go[2] = { -1, -1 };
	pid_t child = -1;
	if (fork_child) {
		if (pipe(go))
			setup_fail("pipe: %s", strerror(errno));
		child = fork();
		if (child < 0)
			setup_fail("fork: %s", strerror(errno));
		if (child == 0) {
			test_forked_child();
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(3);
			_exit(mapped_from(aring, alen, a) && mapped_from(bring, blen, b) ? 0 : 1);
		}
		close(go[0]);
	}

	test_daemon();
	test_waitsig();

	if (close_a) {
		/* the refused dump left it as it was */
		if (!mapped_from(bring, blen, b))
			fail("B's rings are no longer mapped");
		return test_verdict();
	}
	if (getopt_int(a, PACKET_VERSION) != (version == 3 ? TPACKET_V3 : TPACKET_V2) ||
	    getopt_int(a, PACKET_RESERVE) != 16 || getopt_int(b, PACKET_VERSION) != TPACKET_V2)
		fail("A has version %d reserve %d, B version %d", getopt_int(a, PACKET_VERSION),
		     getopt_int(a, PACKET_RESERVE), getopt_int(b, PACKET_VERSION));
	if (!mapped_from(aring, alen, a))
		fail("A's ring is not mapped at %p (%#zx bytes) from A", aring, alen);
	if (!mapped_from(bring, blen, b))
		fail("B's rings are not mapped at %p (%#zx bytes) from B", bring, blen);
	if (fork_child) {
		int st = -1;
		if (write(go[1], "x", 1) != 1 || waitpid(child, &st, 0) != child ||
		    !WIFEXITED(st) || WEXITSTATUS(st))
			fail("the child's rings are not mapped from its A and B (status %#x)", st);
	}
	if (test_failures())
		return test_verdict();

	/* B's transmit ring follows its receive ring; frame 0 is the next */
	struct tpacket2_hdr *tx = (void *)(bring + B_BLOCK * B_BLOCKS);
	char *frame = (char *)tx + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
	struct ethhdr eh = { .h_proto = htons(ETH_P_TEST) };
	memcpy(frame, &eh, sizeof(eh));
	memcpy(frame + sizeof(eh), marker, sizeof(marker));
	bool seen = false;
	for (int tries = 0; tries < 5 && !seen; tries++) {
		if (tx->tp_status != TP_STATUS_AVAILABLE) {
			fail("B's transmit frame 0 has status %#x, not available", tx->tp_status);
			break;
		}
		release_all(aring);
		tx->tp_len = sizeof(eh) + sizeof(marker);
		__sync_synchronize();
		tx->tp_status = TP_STATUS_SEND_REQUEST;
		if (send(b, NULL, 0, 0) != (ssize_t)(sizeof(eh) + sizeof(marker))) {
			fail("send from B's transmit ring: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < 100 && tx->tp_status != TP_STATUS_AVAILABLE; i++)
			usleep(1000);
		for (int i = 0; i < 50 && !seen; i++) {
			struct pollfd p = { a, POLLIN, 0 };
			poll(&p, 1, 20);
			seen = ring_has_marker(aring);
		}
		/* the kernel sends from the next frame from now on */
		tx = (void *)((char *)tx + FRAME);
		frame = (char *)tx + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
		memcpy(frame, &eh, sizeof(eh));
		memcpy(frame + sizeof(eh), marker, sizeof(marker));
	}
	if (!seen)
		fail("a frame sent through B's transmit ring did not reach A's receive ring");
	return test_verdict();
}
