/* Round trip: every sample written through the image API reads back
 * byte-identical (entries re-packed, raw payloads compared), then EOF. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../errcap.h"
#include "samples.h"
#include "util/log.h"
#include "../unit.h"

#include "pipe-data.pb-c.h"

static int mktemp_dir(char *buf)
{
	strcpy(buf, "/tmp/cryo-images-XXXXXX");
	return mkdtemp(buf) ? open(buf, O_RDONLY | O_DIRECTORY) : -1;
}

static void check_sample(int dirfd, const struct sample *s)
{
	const struct img_type_info *t = img_type_info(s->type);
	struct cr_img *img;
	int ret = img_open(&img, dirfd, s->type, IMG_READ, s->id);
	CHECK_INT(ret, 0);
	if (ret)
		return;
	for (size_t i = 0; i < s->n; i++) {
		const struct sample_entry *e = &s->e[i];
		if (e->msg) {
			ProtobufCMessage *m = NULL;
			const ProtobufCMessageDescriptor *d = e->msg->descriptor;
			CHECK(d == (i == 0 && t->first ? t->first : t->entry));
			CHECK_INT(img_read_msg(img, d, &m), 1);
			if (!m)
				break;
			size_t a = protobuf_c_message_get_packed_size(e->msg);
			size_t b = protobuf_c_message_get_packed_size(m);
			CHECK_INT(a, b);
			uint8_t *pa = malloc(a + 1), *pb = malloc(b + 1);
			protobuf_c_message_pack(e->msg, pa);
			protobuf_c_message_pack(m, pb);
			if (a == b && memcmp(pa, pb, a)) {
				fprintf(stderr, "%s entry %zu differs\n", img_name(img), i);
				CHECK(0);
			}
			free(pa);
			free(pb);
			protobuf_c_message_free_unpacked(m, NULL);
		}
		if (e->raw_len) {
			uint8_t *buf = malloc(e->raw_len);
			CHECK_INT(img_read_raw(img, buf, e->raw_len), 0);
			CHECK(!memcmp(buf, e->raw, e->raw_len));
			free(buf);
		}
	}
	if (t->entry) {
		ProtobufCMessage *m = NULL;
		CHECK_INT(img_read_msg(img, t->entry, &m), 0);
		CHECK(m == NULL);
	} else {
		char c;
		CHECK(img_read_raw(img, &c, 1) < 0);	/* past the end: truncation */
	}
	CHECK_INT(img_close(img), 0);
}

int main(void)
{
	char dir[64];
	size_t n;
	int dirfd = mktemp_dir(dir);

	log_init(NULL, LOG_ERROR);
	CHECK(dirfd >= 0);
	CHECK_INT(samples_write(dirfd, false), 0);
	const struct sample *s = samples_get(&n);
	for (size_t i = 0; i < n; i++)
		check_sample(dirfd, &s[i]);

	/* The completion marker. */
	CHECK_INT(img_dir_check_complete(dirfd, dir), 0);
	CHECK(faccessat(dirfd, ".inventory.img.tmp", F_OK, 0) != 0);
	CHECK_INT(img_dir_begin_dump(dirfd), 0);
	log_set_level(-1);
	err_reset();
	CHECK_INT(img_dir_check_complete(dirfd, dir), -ENOENT);
	CHECK(strstr(err_first(), "has no inventory.img: not a complete dump") != NULL);
	log_set_level(LOG_ERROR);

	/* Every type identifies by magic, whatever the file is called. */
	for (size_t i = 0; i < n; i++) {
		char name[64];
		struct cr_img *img;
		enum img_type type;
		if (s[i].type == IMG_PAGES)
			continue;
		char orig[64];
		snprintf(orig, sizeof(orig), img_type_info(s[i].type)->pattern, s[i].id);
		snprintf(name, sizeof(name), "renamed-%zu", i);
		CHECK_INT(renameat(dirfd, orig, dirfd, name), 0);
		CHECK_INT(img_open_file(&img, dirfd, name, &type), 0);
		renameat(dirfd, name, dirfd, orig);
		const struct img_type_info *a = img_type_info(type), *b = img_type_info(s[i].type);
		CHECK(a->magic == b->magic && a->entry == b->entry);
		img_close(img);
	}

	/* Raw fd hand-over keeps the logical position. */
	struct cr_img *img;
	CHECK_INT(img_open(&img, dirfd, IMG_PIPES_DATA, IMG_READ, 0), 0);
	ProtobufCMessage *m;
	CHECK_INT(img_read_msg(img, &pipe_data_entry__descriptor, &m), 1);
	protobuf_c_message_free_unpacked(m, NULL);
	char c;
	CHECK_INT(read(img_raw_fd(img), &c, 1), 1);
	CHECK(c == 'a');
	img_close(img);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "can't remove %s\n", dir);
	return unit_done("images-roundtrip");
}
