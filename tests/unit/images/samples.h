/* Sample images of every kind cryo writes, for the round trip, hostile
 * input, crit oracle and fuzz seed tests. */
#ifndef CRYO_TESTS_IMAGES_SAMPLES_H
#define CRYO_TESTS_IMAGES_SAMPLES_H
#include <stddef.h>
#include <stdint.h>
#include "images/image.h"

#define SAMPLE_MAX_ENTRIES 24

struct sample_entry {
	const ProtobufCMessage *msg;	/* NULL: raw bytes only */
	const void *raw;		/* bytes written after the message */
	size_t raw_len;
};

struct sample {
	enum img_type type;
	unsigned long id;
	bool newer_than_crit;	/* uses fields crit 3.17 does not know */
	size_t n;
	struct sample_entry e[SAMPLE_MAX_ENTRIES];
};

/* All samples (static storage). */
const struct sample *samples_get(size_t *n);
/* Write every sample into @dirfd (with inventory.img through
 * img_dir_commit).  With @crit_only, skip samples crit cannot know.
 * Returns 0 or a negative code. */
int samples_write(int dirfd, bool crit_only);
/* Write one sample. */
int sample_write(int dirfd, const struct sample *s);

#endif
