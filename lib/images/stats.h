#ifndef CRYO_IMAGES_STATS_H
#define CRYO_IMAGES_STATS_H

#include "images/image.h"
#include "stats.pb-c.h"

/* Write @se as image @type (IMG_STATS_DUMP or IMG_STATS_RESTORE) to the
 * images directory @dirfd and, when @work_dir is another directory, there
 * too (criu's place, where its clients read them).  0 or -errno, logged. */
int stats_write(int dirfd, const char *work_dir, enum img_type type, const StatsEntry *se);

#endif
