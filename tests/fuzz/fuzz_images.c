/* libFuzzer target for the image readers.
 *
 * Input: byte 0 picks the image type (it names the file, so raw pages-N.img
 * is reachable too), byte 1 the show flags, the rest is the file content.
 * Each input goes through img_show() (identification by magic, every entry
 * kind and payload) and through the typed reader (img_open + img_read_msg).
 * Any crash, leak, hang or sanitizer report is a bug.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/image.h"
#include "images/show.h"
#include "util/log.h"
#include "util/util.h"

static char dir[64];
static int dirfd_ = -1, devnull = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(NULL, LOG_MSG);	/* errors are expected; keep quiet */
	snprintf(dir, sizeof(dir), "%s/cryo-fuzz-XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(dir))
		abort();
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
	devnull = open("/dev/null", O_WRONLY);
	if (dirfd_ < 0 || devnull < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[64], path[160];

	if (size < 2)
		return 0;
	enum img_type type = data[0] % IMG_TYPE_MAX;
	unsigned flags = data[1] & (IMG_SHOW_PLAIN | IMG_SHOW_PAYLOAD);
	const struct img_type_info *t = img_type_info(type);
	snprintf(name, sizeof(name), t->pattern, 1UL);
	snprintf(path, sizeof(path), "%s/%s", dir, name);

	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write_all(fd, data + 2, size - 2))
		abort();
	close(fd);

	img_show(path, devnull, flags);

	struct cr_img *img;
	if (!img_open(&img, dirfd_, type, IMG_READ, 1)) {
		for (int i = 0; t->entry && i < 100000; i++) {
			ProtobufCMessage *m;
			const ProtobufCMessageDescriptor *d = !i && t->first ? t->first : t->entry;
			if (img_read_msg(img, d, &m) <= 0)
				break;
			protobuf_c_message_free_unpacked(m, NULL);
		}
		img_close(img);
	}
	unlinkat(dirfd_, name, 0);
	return 0;
}
