/* `cryo migrate`: live migration of a process tree (source.c, dest.c).
 *
 * The destination (`migrate --listen PORT -D DIR`) takes one TCP
 * connection; the source (`migrate -t PID --to HOST:PORT -D DIR`) runs
 * pre-dumps into DIR/1, DIR/2, ... while the tree runs, sends each
 * directory as it is written, then the final dump into DIR/final, and,
 * from the dump's post-dump notification (the tree frozen, the images
 * committed), asks the destination to restore it and waits for its
 * answer: a failure there fails the dump, which lets the tree go on. */
#ifndef CRYO_MIGRATE_H
#define CRYO_MIGRATE_H

#include "options/options.h"

int migrate_source(struct cryo_opts *o);
int migrate_dest(struct cryo_opts *o);
/* The destination's side of one connected stream @sk (@peer names it,
 * @srcip is where a --lazy-pages source serves its pages): receive into
 * o->images_dir, restore on request. */
int migrate_dest_session(struct cryo_opts *o, int sk, const char *peer, const char *srcip);

#endif
