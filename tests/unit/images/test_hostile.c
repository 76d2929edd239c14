/* Hostile input: every truncation point, random bit flips and corrupted
 * length prefixes of every sample image must give a clean, logged error
 * (never a crash, hang or out-of-bounds access; run under ASan+UBSan in CI).
 * Also checks the wording of the main error kinds. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../errcap.h"
#include "images/show.h"
#include "samples.h"
#include "util/log.h"
#include "util/util.h"
#include "../unit.h"

#include "cgroup.pb-c.h"
#include "core.pb-c.h"

static char dir[64], hdir[80];
static int devnull;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void put_file(const char *name, const uint8_t *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", hdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write_all(fd, data, len)) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* Decode @data as file @name every way we can; returns img_show's result. */
static int run(const char *name, const uint8_t *data, size_t len)
{
	char path[256];
	put_file(name, data, len);
	snprintf(path, sizeof(path), "%s/%s", hdir, name);
	err_reset();
	int r1 = img_show(path, devnull, IMG_SHOW_PAYLOAD);
	if (r1) {
		const char *e = err_first();
		/* Errors name the file. */
		if (!e || !strstr(e, name)) {
			fprintf(stderr, "error without file name for %s: %s\n", name, e ? e : "(none)");
			CHECK(0);
		}
	}
	int r2 = img_show(path, devnull, IMG_SHOW_PLAIN);
	CHECK_INT(!!r1, !!r2);
	return r1;
}

/* Offsets where a valid image may end: after magics and after each entry
 * with its payload; -1 if any length is fine past the first entry. */
static size_t boundaries(const struct sample *s, long *out, size_t max)
{
	const struct img_type_info *t = img_type_info(s->type);
	size_t n = 0;
	long off = t->magic ? (t->common ? 8 : 4) : 0;

	if (!t->entry)
		return 0;
	if (t->extra != IMG_EXTRA_GHOST)
		out[n++] = off;
	for (size_t i = 0; i < s->n && n < max; i++) {
		if (s->e[i].msg)
			off += 4 + protobuf_c_message_get_packed_size(s->e[i].msg);
		if (t->extra == IMG_EXTRA_GHOST && i == 0 && s->n == 1) {
			out[n++] = -off;	/* content runs to EOF: any length */
			return n;
		}
		off += s->e[i].raw_len;
		out[n++] = off;
	}
	return n;
}

static bool is_boundary(const long *b, size_t n, long len)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] == len || (b[i] < 0 && len >= -b[i]))
			return true;
	return false;
}

static uint8_t *slurp(int dirfd, const char *name, size_t *len)
{
	char *buf;
	ssize_t n = read_file(dirfd, name, &buf, false);
	if (n < 0)
		exit(1);
	*len = n;
	return (uint8_t *)buf;
}

static void hostile_sample(int dirfd, const struct sample *s)
{
	char name[64];
	size_t len;
	long b[SAMPLE_MAX_ENTRIES + 2];
	const struct img_type_info *t = img_type_info(s->type);

	snprintf(name, sizeof(name), t->pattern, s->id);
	uint8_t *orig = slurp(dirfd, name, &len);
	uint8_t *buf = malloc(len + 16);
	size_t nb = boundaries(s, b, ARRAY_SIZE(b));

	CHECK_INT(run(name, orig, len), 0);

	/* Every truncation point. */
	for (size_t l = 0; l < len; l++) {
		int r = run(name, orig, l);
		if (t->entry && !r && !is_boundary(b, nb, l)) {
			fprintf(stderr, "%s truncated to %zu bytes decodes without error\n", name, l);
			CHECK(0);
		}
	}

	/* Bit flips. */
	for (int i = 0; i < 300; i++) {
		memcpy(buf, orig, len);
		int flips = 1 + next_rand() % 3;
		for (int k = 0; k < flips; k++) {
			size_t at = next_rand() % len;
			buf[at] ^= 1u << (next_rand() % 8);
		}
		run(name, buf, len);
	}

	/* Corrupt each entry length prefix. */
	static const uint32_t bad_lens[] = { 0xffffffff, 0x7fffffff, 0x80000000, 0x04000001, 0, 1 };
	for (size_t i = 0; i + 1 < nb; i++) {
		long at = b[i] < 0 ? -b[i] : b[i];
		if (at + 4 > (long)len)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(bad_lens); k++) {
			memcpy(buf, orig, len);
			memcpy(buf + at, &bad_lens[k], 4);
			int r = run(name, buf, len);
			if (bad_lens[k] > len)
				CHECK(r != 0);
		}
		/* One byte more than the file holds. */
		memcpy(buf, orig, len);
		uint32_t more = len - at - 4 + 1;
		memcpy(buf + at, &more, 4);
		CHECK(run(name, buf, len) != 0);
	}
	/* Garbage appended after a complete image. */
	if (t->entry && t->extra != IMG_EXTRA_GHOST) {
		memcpy(buf, orig, len);
		memcpy(buf + len, "\x05\x00\x00\x00\xff\xff\xff\xff\xff", 9);
		CHECK(run(name, buf, len + 9) != 0);
	}
	free(buf);
	free(orig);
}

static void expect_error(const char *name, const uint8_t *data, size_t len, const char *words)
{
	int r = run(name, data, len);
	const char *e = err_first();
	CHECK(r < 0);
	if (!e || !strstr(e, words)) {
		fprintf(stderr, "%s: expected error with \"%s\", got \"%s\"\n", name, words,
			e ? e : "(none)");
		CHECK(0);
	}
}

static size_t pack_entry(uint8_t *to, uint32_t magic, const ProtobufCMessage *m)
{
	uint32_t hdr[2] = { IMG_COMMON_MAGIC, magic };
	uint32_t l = protobuf_c_message_get_packed_size(m);
	memcpy(to, hdr, 8);
	memcpy(to + 8, &l, 4);
	protobuf_c_message_pack(m, to + 12);
	return 12 + l;
}

static void messages(void)
{
	uint8_t buf[8192];
	uint32_t w[4];

	/* Bad magics. */
	w[0] = IMG_COMMON_MAGIC;
	w[1] = 0x54432030;	/* IDS */
	put_file("core-1.img", (uint8_t *)w, 8);
	struct cr_img *img;
	int dfd = open(hdir, O_RDONLY | O_DIRECTORY);
	err_reset();
	CHECK(img_open(&img, dfd, IMG_CORE, IMG_READ, 1) == -EINVAL);
	CHECK(strstr(err_first(), "core-1.img: offset 4: bad magic 0x54432030 (IDS), expected 0x55053847 (CORE)") != NULL);
	w[0] = 0x12345678;
	put_file("core-1.img", (uint8_t *)w, 8);
	err_reset();
	CHECK(img_open(&img, dfd, IMG_CORE, IMG_READ, 1) == -EINVAL);
	CHECK(strstr(err_first(), "offset 0: bad magic 0x12345678, expected 0x54564319 (IMG_COMMON)") != NULL);
	CHECK(img_open(&img, dfd, IMG_MM, IMG_READ | IMG_MISSING_OK, 1) == -ENOENT);
	close(dfd);
	expect_error("foo.img", (uint8_t *)w, 8, "unknown magic 0x12345678");
	expect_error("core-1.img", (uint8_t *)w, 3, "offset 0");

	/* Lengths. */
	w[0] = IMG_COMMON_MAGIC;
	w[1] = 0x55053847;
	w[2] = 0x7fffffff;
	expect_error("core-2.img", (uint8_t *)w, 12, "offset 8: entry length 2147483647 is absurd");
	w[2] = 100;
	expect_error("core-2.img", (uint8_t *)w, 16, "offset 8: entry length 100 is larger than the 4 bytes left");
	expect_error("core-2.img", (uint8_t *)w, 10, "offset 8: truncated entry length");

	/* Unknown enum value. */
	CoreEntry ce = CORE_ENTRY__INIT;
	ce.has_mtype = 1;
	ce.mtype = 99;
	size_t l = pack_entry(buf, 0x55053847, &ce.base);
	expect_error("core-3.img", buf, l, "offset 8: core_entry.mtype has unknown value 99 for enum core_entry.march");

	/* Not protobuf. */
	memcpy(buf + 12, "\xff\xff\xff\xff", 4);
	w[0] = 4;
	memcpy(buf + 8, w, 4);
	expect_error("core-4.img", buf, 16, "offset 8: 4-byte entry is not a valid core_entry");

	/* Nesting deeper than protobuf-c can safely recurse. */
	size_t depth = 2000;
	{
		/* cgroup_dir_entry.children (field 2) nested @depth deep. */
		size_t cap = depth * 8 + 64;
		uint8_t *a = malloc(cap), *b2 = malloc(cap);
		size_t al = 0;
		for (size_t i = 0; i < depth; i++) {
			size_t h = 0;
			b2[h++] = (2 << 3) | 2;
			size_t v = al;
			do {
				b2[h++] = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
				v >>= 7;
			} while (v);
			memcpy(b2 + h, a, al);
			al += h;
			memcpy(a, b2, al);
		}
		uint32_t hdr[3] = { IMG_COMMON_MAGIC, 0x59383330, 0 };
		/* controllers { dirs { children... } } */
		size_t h = 0;
		uint8_t pre[16];
		size_t dl = al;	/* the dirs entry is itself a cgroup_dir_entry */
		uint8_t dirs_hdr[8];
		size_t dh = 0;
		dirs_hdr[dh++] = (2 << 3) | 2;
		size_t v = dl;
		do {
			dirs_hdr[dh++] = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
			v >>= 7;
		} while (v);
		pre[h++] = (2 << 3) | 2;
		v = dh + dl;
		do {
			pre[h++] = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
			v >>= 7;
		} while (v);
		hdr[2] = h + dh + dl;
		uint8_t *img_buf = malloc(12 + hdr[2]);
		memcpy(img_buf, hdr, 12);
		memcpy(img_buf + 12, pre, h);
		memcpy(img_buf + 12 + h, dirs_hdr, dh);
		memcpy(img_buf + 12 + h + dh, a, dl);
		expect_error("cgroup.img", img_buf, 12 + hdr[2], "nested too deeply");
		free(img_buf);
		free(a);
		free(b2);
	}
}

int main(void)
{
	size_t n;

	log_init(NULL, LOG_ERROR);
	strcpy(dir, "/tmp/cryo-hostile-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(hdir, sizeof(hdir), "%s/h", dir);
	mkdir(hdir, 0700);
	devnull = open("/dev/null", O_WRONLY);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(samples_write(dirfd, false), 0);

	log_set_level(LOG_MSG);	/* thousands of expected errors: keep quiet */
	const struct sample *s = samples_get(&n);
	for (size_t i = 0; i < n; i++)
		hostile_sample(dirfd, &s[i]);
	messages();
	log_set_level(LOG_ERROR);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "can't remove %s\n", dir);
	return unit_done("images-hostile");
}
