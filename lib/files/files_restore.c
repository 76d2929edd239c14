#include "files/files.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>

int files_restore_load(struct files_restore *fr, int dirfd)
{
	struct cr_img *img;
	int ret, cap = 0;
	fr->files = NULL;
	fr->nr_files = 0;
	ret = img_open(&img, dirfd, IMG_FILES, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		FileEntry *fe;
		ret = img_read_msg(img, &file_entry__descriptor, (ProtobufCMessage **)&fe);
		if (ret <= 0)
			break;
		if (fr->nr_files == cap) {
			cap = cap ? cap * 2 : 32;
			FileEntry **n = xrealloc(fr->files, cap * sizeof(*n));
			if (!n) {
				protobuf_c_message_free_unpacked(&fe->base, NULL);
				ret = -ENOMEM;
				break;
			}
			fr->files = n;
		}
		fr->files[fr->nr_files++] = fe;
	}
	img_close(img);
	return ret;
}

void files_restore_free(struct files_restore *fr)
{
	for (int i = 0; i < fr->nr_files; i++)
		protobuf_c_message_free_unpacked(&fr->files[i]->base, NULL);
	free(fr->files);
	fr->files = NULL;
	fr->nr_files = 0;
}

const FileEntry *files_find(const struct files_restore *fr, uint32_t id)
{
	for (int i = 0; i < fr->nr_files; i++)
		if (fr->files[i]->id == id)
			return fr->files[i];
	return NULL;
}
