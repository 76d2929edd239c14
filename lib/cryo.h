/* libcryo: the operations that the command line and the RPC service share. */
#ifndef CRYO_H
#define CRYO_H

#include "options/options.h"

int cryo_dump(struct cryo_opts *o);
int cryo_pre_dump(struct cryo_opts *o);
/* On success with !restore_detached, *exit_status gets the root's wait status. */
int cryo_restore(struct cryo_opts *o, int *exit_status);
/* Returns 0 when the basics are present ("Looks good."), >0 / <0 otherwise. */
int cryo_check(struct cryo_opts *o);
/* Decode an image file, or every image in a directory, to JSON. */
int cryo_show(const char *path, int out_fd);

#endif
