/* criu's page server protocol (lib/mem/page_xfer.c, page_sink_server.c,
 * page_server.c): the header layout and encodings, the checks of malformed
 * headers, and a session over a socket pair: what the server writes is
 * byte for byte what the local sink writes for the same calls. */
#include "../unit.h"
#include "mem/mem.h"
#include "mem/page_server.h"
#include "mem/page_sink.h"
#include "mem/page_xfer.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define P 4096ULL

static void test_encoding(void)
{
	/* criu's struct page_server_iov, field by field */
	CHECK_INT(sizeof(struct ps_iov), 24);
	CHECK_INT(offsetof(struct ps_iov, nr_pages), 4);
	CHECK_INT(offsetof(struct ps_iov, vaddr), 8);
	CHECK_INT(offsetof(struct ps_iov, dst_id), 16);
	CHECK_INT(PS_IOV_ADD, 1);
	CHECK_INT(PS_IOV_HOLE, 2);
	CHECK_INT(PS_IOV_OPEN, 3);
	CHECK_INT(PS_IOV_OPEN2, 4);
	CHECK_INT(PS_IOV_PARENT, 5);
	CHECK_INT(PS_IOV_ADD_F, 6);
	CHECK_INT(PS_IOV_GET, 7);
	CHECK_INT(PS_IOV_FLUSH, 0x1023);
	CHECK_INT(PS_IOV_FLUSH_N_CLOSE, 0x1024);

	CHECK_INT(ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 0x40006);
	CHECK_INT(ps_cmd_of(0x40006), PS_IOV_ADD_F);
	CHECK_INT(ps_flags_of(0x40006), PE_PRESENT);
	CHECK_INT(ps_dst_id(PS_TYPE_PID, 1234), (1234ULL << 8) | 1);
	CHECK_INT(ps_dst_id(PS_TYPE_SHMEM, 0x77), (0x77ULL << 8) | 2);

	uint64_t id = 0;
	CHECK_INT(ps_dst_decode(ps_dst_id(PS_TYPE_PID, 99), &id), PS_TYPE_PID);
	CHECK_INT(id, 99);
	CHECK_INT(ps_dst_decode(ps_dst_id(PS_TYPE_SHMEM, 5), &id), PS_TYPE_SHMEM);
	CHECK_INT(id, 5);
	/* the type numbers of criu 1.x-3.2 */
	CHECK_INT(ps_dst_decode(7ULL << 8 | 11, &id), PS_TYPE_PID);
	CHECK_INT(id, 7);
	CHECK_INT(ps_dst_decode(7ULL << 8 | 34, &id), PS_TYPE_SHMEM);
	CHECK_INT(ps_dst_decode(7ULL << 8 | 3, &id), -1);

	struct ps_iov add = { ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 2, 0x1000, ps_dst_id(1, 5) };
	struct ps_iov hole = { PS_IOV_HOLE, 2, 0x1000, ps_dst_id(1, 5) };
	struct ps_iov old = { PS_IOV_ADD, 2, 0x1000, ps_dst_id(1, 5) };
	CHECK_INT(ps_entry_flags(&add), PE_PRESENT);
	CHECK_INT(ps_entry_flags(&hole), PE_PARENT);
	CHECK_INT(ps_entry_flags(&old), PE_PRESENT);
	char b[16];
	CHECK_STR(ps_cmd_name(0x40006, b, sizeof(b)), "ADD_F");
	CHECK_STR(ps_cmd_name(PS_IOV_FLUSH_N_CLOSE, b, sizeof(b)), "FLUSH_N_CLOSE");
	CHECK_STR(ps_cmd_name(0x99, b, sizeof(b)), "0x99");
}

static void test_checks(void)
{
	char why[160];
	const uint64_t d = ps_dst_id(PS_TYPE_PID, 10);
	const struct { struct ps_iov pi; const char *why; } bad[] = {
		{ { 0x77, 1, 0, d }, "unknown command" },
		{ { 0, 0, 0, 0 }, "unknown command" },
		{ { ps_cmd(PS_IOV_ADD_F, 0), 1, 0, d }, "flags 0x0" },
		{ { ps_cmd(PS_IOV_ADD_F, 0x10), 1, 0, d }, "flags 0x10" },
		{ { ps_cmd(PS_IOV_ADD_F, PE_PRESENT | PE_PARENT), 1, 0, d }, "both" },
		{ { ps_cmd(PS_IOV_ADD, PE_PRESENT), 1, 0, d }, "old-style" },
		{ { ps_cmd(PS_IOV_OPEN2, 1), 0, 0, d }, "on an open" },
		{ { ps_cmd(PS_IOV_FLUSH, 4), 0, 0, 0 }, "on a flush" },
		{ { ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 0, 0x1000, d }, "0 pages" },
		{ { ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 1, 0x1001, d }, "not page aligned" },
		{ { ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 0x10, ~0ULL & ~(P - 1), d }, "wraps" },
		{ { ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 1, 0, 10ULL << 8 | 3 }, "unknown image type" },
		{ { PS_IOV_OPEN2, 0, 0, 10ULL << 8 | 0 }, "unknown image type" },
		{ { PS_IOV_GET, 1, 0, d }, "lazy-pages" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		CHECK_INT(ps_iov_check(&bad[i].pi, why, sizeof(why)), -EBADMSG);
		if (!strstr(why, bad[i].why))
			fprintf(stderr, "FAIL case %zu: \"%s\" lacks \"%s\"\n", i, why, bad[i].why),
				unit_failures++;
	}
	const struct ps_iov good[] = {
		{ PS_IOV_OPEN2, 0, 0, d },
		{ PS_IOV_OPEN, 0, 0, d },
		{ PS_IOV_PARENT, 0, 0, d },
		{ ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 3, 0x7f0000000000, d },
		{ ps_cmd(PS_IOV_ADD_F, PE_PARENT), 3, 0x1000, d },
		{ ps_cmd(PS_IOV_ADD_F, PE_PRESENT | PE_LAZY), 1, 0, d },
		{ PS_IOV_ADD, 1, 0, d },
		{ PS_IOV_HOLE, 1, 0, d },
		{ PS_IOV_FLUSH, 0, 0, 0 },
		{ PS_IOV_FLUSH_N_CLOSE, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_INT(ps_iov_check(&good[i], why, sizeof(why)), 0);
}

/* ---- a session over a socket pair ---- */

struct server {
	pthread_t t;
	int sk, dirfd, ret;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	s->ret = page_server_serve(s->sk, s->dirfd, "test peer");
	close(s->sk);
	return NULL;
}

static int start_server(struct server *s, const char *dir, int *client)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	s->sk = sv[1];
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*client = sv[0];
	return pthread_create(&s->t, NULL, serve, s);
}

static int stop_server(struct server *s)
{
	pthread_join(s->t, NULL);
	close(s->dirfd);
	return s->ret;
}

static char *mkdir_tmp(void)
{
	char t[] = "/tmp/cryo-psXXXXXX";
	char *d = mkdtemp(t);
	return d ? strdup(d) : NULL;
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	fstat(fd, &st);
	char *b = malloc(st.st_size + 1);
	*len = read(fd, b, st.st_size);
	close(fd);
	return b;
}

static void rm_dir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

/* The same calls a dump makes: a process with runs and a queued PE_PARENT
 * run between them, its data handed over in pieces that don't match the
 * runs, then a shared memory object. */
static int feed(struct page_sink *s, const char *data)
{
	const struct page_run runs[] = {
		{ 0x10000, 3, PE_PRESENT, false },
		{ 0x20000, 2, PE_PARENT, false },
		{ 0x30000, 1, PE_PRESENT, false },
		{ 0x7fff0000, 4, PE_PRESENT, false },
	};
	int ret = s->ops->open(s, 4321, 1);
	for (size_t i = 0; !ret && i < 4; i++)
		ret = s->ops->add_run(s, &runs[i]);
	/* 8 pages of data in pieces of 5000, 12000, ... bytes */
	size_t off = 0, sizes[] = { 5000, 12000, 1, 8191, 7575 };
	for (size_t i = 0; !ret && i < 5; i++) {
		ret = s->ops->write(s, data + off, sizes[i]);
		off += sizes[i];
	}
	if (!ret)
		ret = s->ops->write(s, data + off, 8 * P - off);
	if (!ret)
		ret = s->ops->finish(s);
	if (!ret)
		ret = s->ops->open_shmem(s, 0xabcd, 2);
	const struct page_run sh = { 0x2000, 2, PE_PRESENT, false };
	if (!ret)
		ret = s->ops->add_run(s, &sh);
	if (!ret)
		ret = s->ops->write(s, data + 8 * P, 2 * P);
	if (!ret)
		ret = s->ops->finish(s);
	if (!ret)
		ret = page_sink_end(s);
	return ret;
}

static void test_session(void)
{
	char *ldir = mkdir_tmp(), *rdir = mkdir_tmp();
	char *data = malloc(10 * P);
	for (size_t i = 0; i < 10 * P; i++)
		data[i] = (char)(i * 7 + i / P);

	/* the local sink */
	int ldfd = open(ldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct page_sink *loc;
	CHECK_INT(page_sink_local(ldfd, &loc), 0);
	CHECK_INT(feed(loc, data), 0);
	page_sink_destroy(loc);
	close(ldfd);

	/* the same through a page server */
	struct server srv;
	int csk;
	CHECK_INT(start_server(&srv, rdir, &csk), 0);
	struct page_sink *rem;
	CHECK_INT(page_sink_server(csk, "socketpair", false, &rem), 0);
	CHECK(rem->no_cow_parent);
	CHECK_INT(feed(rem, data), 0);
	page_sink_destroy(rem);		/* closes: the server's session ends */
	CHECK_INT(stop_server(&srv), 0);

	const char *names[] = { "pagemap-4321.img", "pages-1.img", "pagemap-shmem-43981.img",
				"pages-2.img" };
	for (int i = 0; i < 4; i++) {
		size_t ll = 0, rl = 0;
		char *l = slurp(ldir, names[i], &ll), *r = slurp(rdir, names[i], &rl);
		CHECK(l && r);
		CHECK_INT(rl, ll);
		CHECK(l && r && ll == rl && !memcmp(l, r, ll));
		free(l);
		free(r);
	}
	size_t pl = 0;
	char *pages = slurp(rdir, "pages-1.img", &pl);
	CHECK_INT(pl, 8 * P);
	CHECK(pages && !memcmp(pages, data, 8 * P));
	free(pages);
	free(data);
	rm_dir(ldir);
	rm_dir(rdir);
}

/* Raw bytes to a server: it must end the session with @expect. */
static int raw_session(const void *bytes, size_t len, bool close_after)
{
	char *dir = mkdir_tmp();
	struct server srv;
	int csk;
	if (start_server(&srv, dir, &csk))
		return -1;
	if (write(csk, bytes, len) != (ssize_t)len)
		fprintf(stderr, "short write to the server\n");
	if (close_after)
		shutdown(csk, SHUT_WR);
	int ret = stop_server(&srv);
	close(csk);
	rm_dir(dir);
	return ret;
}

static void test_garbage(void)
{
	const uint64_t d = ps_dst_id(PS_TYPE_PID, 10);
	struct ps_iov open2 = { PS_IOV_OPEN2, 0, 0, d };
	struct ps_iov flush_close = { PS_IOV_FLUSH_N_CLOSE, 0, 0, 0 };

	/* an unknown command, a bad flag, a wrapped run, a GET */
	struct ps_iov bad[] = {
		{ 0x55, 0, 0, d },
		{ ps_cmd(PS_IOV_ADD_F, 0x20), 1, 0, d },
		{ ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 16, ~0ULL & ~(P - 1), d },
		{ PS_IOV_GET, 1, 0x1000, d },
		{ PS_IOV_OPEN2, 0, 0, ps_dst_id(PS_TYPE_PID, 0) },	/* PID 0 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ps_iov seq[2] = { open2, bad[i] };
		CHECK_INT(raw_session(seq, sizeof(seq), false), -EBADMSG);
	}
	/* runs out of order */
	struct ps_iov order[] = { open2, { ps_cmd(PS_IOV_ADD_F, PE_PARENT), 2, 0x4000, d },
				  { ps_cmd(PS_IOV_ADD_F, PE_PARENT), 1, 0x5000, d } };
	CHECK_INT(raw_session(order, sizeof(order), false), -EBADMSG);
	/* half a header, then the end */
	CHECK_INT(raw_session(&open2, 10, true), -ECONNRESET);
	/* a run whose pages never come */
	struct ps_iov cut[] = { open2, { ps_cmd(PS_IOV_ADD_F, PE_PRESENT), 2, 0x4000, d } };
	CHECK_INT(raw_session(cut, sizeof(cut), true), -ECONNRESET);
	/* the connection closing without a flush: the dump died */
	CHECK_INT(raw_session(&open2, sizeof(open2), true), -ECONNRESET);
	/* nothing at all, then a flush: fine */
	CHECK_INT(raw_session(&flush_close, sizeof(flush_close), false), 0);
}

/* The client side when the server goes away mid-dump: errors, no SIGPIPE. */
static void test_server_gone(void)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct page_sink *s;
	CHECK_INT(page_sink_server(sv[0], "gone", false, &s), 0);
	char reply = 0;
	/* the server answers the open, then dies */
	CHECK_INT(write(sv[1], &reply, 1), 1);
	CHECK_INT(s->ops->open(s, 77, 1), 0);
	close(sv[1]);
	const struct page_run r = { 0x1000, 256, PE_PRESENT, false };
	int ret = s->ops->add_run(s, &r);
	char *buf = calloc(1, 256 * P);
	for (int i = 0; !ret && i < 4; i++)
		ret = s->ops->write(s, buf, 64 * P);
	CHECK(ret == -EPIPE || ret == -ECONNRESET);
	CHECK(s->ops->finish(s) < 0);
	CHECK(page_sink_end(s) < 0);
	page_sink_destroy(s);
	free(buf);
}

int main(void)
{
	test_encoding();
	test_checks();
	test_session();
	test_garbage();
	test_server_gone();
	return unit_done("mem-page-xfer");
}
