/* mem_aio: AIO contexts (io_setup) come back with their rings.
 *
 * Context A has completed requests the process has not reaped yet (some
 * reaped before, so the ring's head is not 0); context B has had all its
 * events reaped (head == tail != 0); context C was never used.  After the
 * restore each context is at its old address, io_getevents on A returns the
 * pending events exactly as they were (data, obj, res, res2), and every
 * context still works: new reads complete with the right bytes and the
 * right events, also once the ring has wrapped around, and io_destroy
 * succeeds.  A forked child (which unmapped its copies of the parent's
 * rings) has a context of its own with two unreaped completions: after the
 * restore it reaps exactly those and its context works.
 */
#include <linux/aio_abi.h>
#include <stdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

struct ring_hdr {
	unsigned id, nr, head, tail, magic, compat, incompat, hdr_len;
};

static int fd;
static char bufs[64][64];
static struct iocb cbs[64];

static long submit_read(aio_context_t ctx, int slot, uint64_t data, off_t off, size_t len)
{
	struct iocb *p = &cbs[slot];
	memset(p, 0, sizeof(*p));
	p->aio_data = data;
	p->aio_lio_opcode = IOCB_CMD_PREAD;
	p->aio_fildes = fd;
	p->aio_buf = (uintptr_t)bufs[slot];
	p->aio_nbytes = len;
	p->aio_offset = off;
	return syscall(SYS_io_submit, ctx, 1, &p);
}

static long getevents(aio_context_t ctx, long n, struct io_event *ev)
{
	struct timespec ts = { 2, 0 };
	return syscall(SYS_io_getevents, ctx, n, n, ev, &ts);
}

static char file_byte(off_t off)
{
	return (char)('A' + off % 53);
}

/* one read of @len at @off through @ctx, its event checked */
static void roundtrip(aio_context_t ctx, const char *what, uint64_t data, off_t off, size_t len)
{
	struct io_event ev;
	memset(bufs[63], 0, sizeof(bufs[63]));
	if (submit_read(ctx, 63, data, off, len) != 1) {
		fail("%s: io_submit: %s", what, strerror(errno));
		return;
	}
	long n = getevents(ctx, 1, &ev);
	if (n != 1) {
		fail("%s: io_getevents returned %ld (%s)", what, n, n < 0 ? strerror(errno) : "");
		return;
	}
	if (ev.data != data || ev.obj != (uintptr_t)&cbs[63] || ev.res != (int64_t)len || ev.res2)
		fail("%s: event data %llx obj %llx res %lld, expected %llx %p %zu", what,
		     (unsigned long long)ev.data, (unsigned long long)ev.obj, (long long)ev.res,
		     (unsigned long long)data, (void *)&cbs[63], len);
	for (size_t i = 0; i < len; i++)
		if (bufs[63][i] != file_byte(off + i)) {
			fail("%s: byte %zu read %02x, expected %02x", what, i, bufs[63][i],
			     file_byte(off + i));
			break;
		}
}

/* the child: its own context, 2 completions left in it; after the go on
 * @in, reap and check them, use the context, report on @out */
static void child(int in, int out, aio_context_t *parents, int n)
{
	aio_context_t d = 0;
	struct io_event ev[4];
	char x = 1;
	for (int i = 0; i < n; i++) {
		unsigned len = ((struct ring_hdr *)parents[i])->nr * sizeof(struct io_event) + 32;
		munmap((void *)parents[i], (len + 4095) & ~4095u);
	}
	if (syscall(SYS_io_setup, 8, &d) || submit_read(d, 20, 0x7001, 100, 5) != 1 ||
	    submit_read(d, 21, 0x7002, 200, 6) != 1)
		_exit(2);
	if (write(out, &x, 1) != 1 || read(in, &x, 1) != 1)
		_exit(3);
	x = 0;
	if (getevents(d, 2, ev) != 2 || ev[0].data != 0x7001 || ev[0].res != 5 ||
	    ev[1].data != 0x7002 || ev[1].res != 6 || bufs[20][0] != file_byte(100) ||
	    bufs[21][5] != file_byte(205))
		x |= 1;
	roundtrip(d, "child", 0x7003, 300, 7);
	if (test_failures() || syscall(SYS_io_destroy, d))
		x |= 2;
	if (write(out, &x, 1) != 1)
		_exit(4);
	_exit(0);
}

int main(int argc, char **argv)
{
	aio_context_t a = 0, b = 0, c = 0;
	struct io_event ev[64], pend[8];
	test_doc = "AIO contexts with unreaped completions survive dump/restore";
	test_init(argc, argv);

	fd = memfd_create("mem_aio", 0);
	if (fd < 0)
		setup_fail("memfd_create: %s", strerror(errno));
	char data[4096];
	for (int i = 0; i < (int)sizeof(data); i++)
		data[i] = file_byte(i);
	if (write(fd, data, sizeof(data)) != sizeof(data))
		setup_fail("write: %s", strerror(errno));
	if (syscall(SYS_io_setup, 16, &a) || syscall(SYS_io_setup, 4, &b) ||
	    syscall(SYS_io_setup, 300, &c))
		setup_fail("io_setup: %s", strerror(errno));

	/* A: 5 completed reads, 2 reaped, 3 left in the ring */
	for (int i = 0; i < 5; i++)
		if (submit_read(a, i, 0x1000 + i, i * 7, 10 + i) != 1)
			setup_fail("io_submit: %s", strerror(errno));
	if (getevents(a, 2, ev) != 2)
		setup_fail("io_getevents: %s", strerror(errno));
	/* B: 7 reads, all reaped */
	for (int i = 0; i < 7; i++)
		if (submit_read(b, 10 + i, 0x2000 + i, i, 3) != 1 || getevents(b, 1, ev) != 1)
			setup_fail("io_submit/getevents on B: %s", strerror(errno));

	const struct ring_hdr *ra = (void *)a, *rb = (void *)b;
	struct ring_hdr ha = *ra, hb = *rb;
	if (ha.magic != 0xa10a10a1 || ha.head != 2 || ha.tail != 5 || hb.head != 7 || hb.tail != 7)
		setup_fail("unexpected ring state: A %u/%u B %u/%u", ha.head, ha.tail, hb.head, hb.tail);
	const struct io_event *evs = (const void *)(ra + 1);
	for (int i = 0; i < 3; i++)
		pend[i] = evs[ha.head + i];
	struct smaps_vma va;
	if (smaps_lookup((void *)a, NULL, &va) || strncmp(va.path, "/[aio]", 6))
		setup_fail("no /[aio] mapping at the context");

	int p2c[2], c2p[2];
	char x;
	if (pipe(p2c) || pipe(c2p))
		setup_fail("pipe");
	aio_context_t parents[] = { a, b, c };
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork");
	if (kid == 0) {
		test_forked_child();
		child(p2c[0], c2p[1], parents, 3);
	}
	if (read(c2p[0], &x, 1) != 1)
		setup_fail("the child did not set up its context");

	test_daemon();
	test_waitsig();

	struct aio_ctx {
		aio_context_t ctx;
		const char *name;
	} all[] = { { a, "A" }, { b, "B" }, { c, "C" } };
	for (int i = 0; i < 3; i++) {
		struct smaps_vma v;
		if (smaps_lookup((void *)all[i].ctx, NULL, &v) || strncmp(v.path, "/[aio]", 6) ||
		    v.start != all[i].ctx)
			fail("context %s: no AIO ring at 0x%lx any more (%s)", all[i].name,
			     (unsigned long)all[i].ctx, v.path);
	}
	if (test_failures()) {
		kill(kid, SIGKILL);
		return test_verdict();
	}
	if (ra->head != ha.head || ra->tail != ha.tail || rb->head != hb.head || rb->tail != hb.tail)
		fail("ring head/tail: A %u/%u B %u/%u, expected A %u/%u B %u/%u", ra->head, ra->tail,
		     rb->head, rb->tail, ha.head, ha.tail, hb.head, hb.tail);
	long n = getevents(a, 3, ev);
	if (n != 3)
		fail("io_getevents on A: %ld (%s), expected the 3 pending events", n,
		     n < 0 ? strerror(errno) : "");
	for (int i = 0; i < n && i < 3; i++)
		if (memcmp(&ev[i], &pend[i], sizeof(ev[i])))
			fail("pending event %d: data %llx res %lld, expected data %llx res %lld", i,
			     (unsigned long long)ev[i].data, (long long)ev[i].res,
			     (unsigned long long)pend[i].data, (long long)pend[i].res);
	struct timespec zero = { 0, 0 };
	n = syscall(SYS_io_getevents, a, 0, 8, ev, &zero);
	if (n != 0)
		fail("A has %ld more events than it had", n);
	char what[64];
	/* every context works, also around the end of its ring */
	for (int i = 0; i < 3; i++) {
		unsigned nr = ((const struct ring_hdr *)all[i].ctx)->nr;
		for (unsigned k = 0; k < nr + 3 && !test_failures(); k++) {
			snprintf(what, sizeof(what), "context %s, read %u", all[i].name, k);
			roundtrip(all[i].ctx, what, 0x5000 + k, (k * 13) % 4000, 1 + k % 60);
		}
	}
	for (int i = 0; i < 3; i++)
		if (syscall(SYS_io_destroy, all[i].ctx))
			fail("io_destroy of %s: %s", all[i].name, strerror(errno));
	int status = 0;
	x = 0;
	if (write(p2c[1], "g", 1) != 1 || read(c2p[0], &x, 1) != 1)
		fail("the child does not answer");
	else if (x)
		fail("the child's context: %s%s", x & 1 ? "pending events differ " : "",
		     x & 2 ? "it does not work" : "");
	if (waitpid(kid, &status, 0) != kid || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("the child ended with status 0x%x", status);
	return test_verdict();
}
