/* cryo migrate's stream (lib/migrate/wire.c, dest.c) over a socket pair:
 * a directory sent by mig_send_dir arrives byte for byte with its parent
 * link; the destination refuses names that would leave its directory or
 * overwrite, links elsewhere, a bad magic, and a restore before the final
 * images, answering each with an error RESULT and writing nothing outside
 * -D. */
#include "../unit.h"
#include "migrate/migrate-int.h"
#include "migrate/migrate.h"
#include "options/options.h"
#include "util/log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[] = "/tmp/cryo-unit-mig.XXXXXX";

struct dest_arg {
	int sk;
	int ret;
	char dir[64];
};

static void *dest_thread(void *p)
{
	struct dest_arg *a = p;
	struct cryo_opts o;
	opts_init(&o);
	free(o.images_dir);
	o.images_dir = strdup(a->dir);
	a->ret = migrate_dest_session(&o, a->sk, "test peer", "127.0.0.1");
	opts_free(&o);
	return NULL;
}

static void start_dest(struct dest_arg *a, pthread_t *t, int *src_sk, const char *sub)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(a->dir, sizeof(a->dir), "%s/%s", base, sub);
	CHECK_INT(mkdir(a->dir, 0700), 0);
	a->sk = sv[1];
	*src_sk = sv[0];
	CHECK_INT(pthread_create(t, NULL, dest_thread, a), 0);
}

static void end_dest(struct dest_arg *a, pthread_t t, int src_sk)
{
	close(src_sk);
	pthread_join(t, NULL);
	close(a->sk);
}

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, data, strlen(data)), (long long)strlen(data));
	close(fd);
}

static void check_file(const char *path, const char *data)
{
	char buf[256] = "";
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK_INT(n, (long long)strlen(data));
	CHECK_STR(buf, data);
}

/* two directories, the second with a parent link, arrive whole */
static void test_dirs(void)
{
	struct dest_arg a;
	pthread_t t;
	int sk;
	char path[256];

	snprintf(path, sizeof(path), "%s/src", base);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/src/1", base);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/src/2", base);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/src/1/pages-1.img", base);
	write_file(path, "one");
	snprintf(path, sizeof(path), "%s/src/1/dump.log", base);
	write_file(path, "a log: not sent");
	snprintf(path, sizeof(path), "%s/src/2/pagemap-7.img", base);
	write_file(path, "two two");
	snprintf(path, sizeof(path), "%s/src/2/parent", base);
	CHECK_INT(symlink("../1", path), 0);
	snprintf(path, sizeof(path), "%s/src", base);
	int srcfd = open(path, O_RDONLY | O_DIRECTORY);
	CHECK(srcfd >= 0);

	start_dest(&a, &t, &sk, "dst");
	struct mig_conn c = { .sk = sk, .peer = "dest" };
	CHECK_INT(mig_send(&c, MIG_HELLO, MIG_HELLO_NAME, NULL, 0), 0);
	CHECK_INT(mig_wait_result(&c, "hello"), 0);
	uint64_t bytes = 0;
	CHECK_INT(mig_send_dir(&c, srcfd, "1", &bytes), 0);
	CHECK_INT(mig_send_dir(&c, srcfd, "2", &bytes), 0);
	CHECK_INT(bytes, 10);
	end_dest(&a, t, sk);
	CHECK_INT(a.ret, -EPIPE);	/* closed before any restore */
	close(srcfd);

	snprintf(path, sizeof(path), "%s/dst/1/pages-1.img", base);
	check_file(path, "one");
	snprintf(path, sizeof(path), "%s/dst/2/pagemap-7.img", base);
	check_file(path, "two two");
	snprintf(path, sizeof(path), "%s/dst/1/dump.log", base);
	CHECK(access(path, F_OK) && errno == ENOENT);
	char target[32] = "";
	snprintf(path, sizeof(path), "%s/dst/2/parent", base);
	CHECK_INT(readlink(path, target, sizeof(target) - 1), 4);
	CHECK_STR(target, "../1");
}

static void raw(int sk, uint32_t magic, uint16_t type, const char *name, const void *payload,
		uint64_t size)
{
	struct mig_hdr h = { .magic = htole32(magic), .type = htole16(type),
			     .name_len = htole16(strlen(name)), .size = htole64(size) };
	CHECK_INT(write(sk, &h, sizeof(h)), (long long)sizeof(h));
	if (*name)
		CHECK_INT(write(sk, name, strlen(name)), (long long)strlen(name));
	if (size)
		CHECK_INT(write(sk, payload, size), (long long)size);
}

/* one hostile message after a good hello and (optionally) a directory:
 * the destination answers with an error and stops */
static void hostile(const char *sub, bool in_dir, uint32_t magic, uint16_t type, const char *name,
		    const char *payload, int want)
{
	struct dest_arg a;
	pthread_t t;
	int sk;
	start_dest(&a, &t, &sk, sub);
	struct mig_conn c = { .sk = sk, .peer = "dest" };
	CHECK_INT(mig_send(&c, MIG_HELLO, MIG_HELLO_NAME, NULL, 0), 0);
	CHECK_INT(mig_wait_result(&c, "hello"), 0);
	if (in_dir)
		raw(sk, MIG_MAGIC, MIG_DIR, "1", NULL, 0);
	raw(sk, magic, type, name, payload, payload ? strlen(payload) : 0);
	if (magic == MIG_MAGIC)
		CHECK_INT(mig_wait_result(&c, "the hostile message"), want);
	end_dest(&a, t, sk);
	CHECK_INT(a.ret, want);
}

static void test_hostile(void)
{
	char path[256];
	hostile("h1", true, MIG_MAGIC, MIG_FILE, "../escape.img", "x", -EPROTO);
	hostile("h2", true, MIG_MAGIC, MIG_FILE, "a/b.img", "x", -EPROTO);
	hostile("h3", false, MIG_MAGIC, MIG_FILE, "top.img", "x", -EPROTO);
	hostile("h4", false, MIG_MAGIC, MIG_DIR, "..", NULL, -EPROTO);
	hostile("h5", false, MIG_MAGIC, MIG_DIR, "65", NULL, -EPROTO);
	hostile("h6", true, MIG_MAGIC, MIG_LINK, "parent", "/etc", -EPROTO);
	hostile("h7", true, MIG_MAGIC, MIG_LINK, "other", "../1", -EPROTO);
	hostile("h8", true, MIG_MAGIC, MIG_DIR, "2", NULL, -EPROTO);	/* nested */
	hostile("h9", false, 0x12345678, MIG_DIR, "1", NULL, -EPROTO);
	hostile("h10", false, MIG_MAGIC, MIG_RESTORE, "", "12345678", -EPROTO);
	snprintf(path, sizeof(path), "%s/escape.img", base);
	CHECK(access(path, F_OK) && errno == ENOENT);
	snprintf(path, sizeof(path), "%s/h1/escape.img", base);
	CHECK(access(path, F_OK) && errno == ENOENT);

	/* a file sent twice is not overwritten */
	struct dest_arg a;
	pthread_t t;
	int sk;
	start_dest(&a, &t, &sk, "twice");
	struct mig_conn c = { .sk = sk, .peer = "dest" };
	CHECK_INT(mig_send(&c, MIG_HELLO, MIG_HELLO_NAME, NULL, 0), 0);
	CHECK_INT(mig_wait_result(&c, "hello"), 0);
	raw(sk, MIG_MAGIC, MIG_DIR, "final", NULL, 0);
	raw(sk, MIG_MAGIC, MIG_FILE, "x.img", "first", 5);
	raw(sk, MIG_MAGIC, MIG_FILE, "x.img", "again", 5);
	CHECK_INT(mig_wait_result(&c, "the second file"), -EEXIST);
	end_dest(&a, t, sk);
	snprintf(path, sizeof(path), "%s/twice/final/x.img", base);
	check_file(path, "first");
}

int main(void)
{
	log_init(NULL, 0);
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	test_dirs();
	test_hostile();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd))
		fprintf(stderr, "can't remove %s\n", base);
	return unit_done("migrate-wire");
}
