/* Internal to lib/images: the pieces of the image reader/writer that
 * imgdir.c (the completion marker) builds on. */
#ifndef CRYO_IMAGES_IMAGE_INT_H
#define CRYO_IMAGES_IMAGE_INT_H

#include "images/image.h"

int img_alloc(struct cr_img **out, const char *name, enum img_type type, bool writing);
int img_open_write_fd(struct cr_img *img, int dirfd, const char *name);
int img_flush(struct cr_img *img);
void img_free(struct cr_img *img);

#endif
