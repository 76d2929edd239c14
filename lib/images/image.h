/* Image files: CRIU's on-disk format.
 *
 * A protobuf image starts with a u32 common magic (IMG_COMMON_MAGIC, or
 * IMG_SERVICE_MAGIC for stats), then a u32 per-image magic (inventory.img has
 * only its own magic).  Then entries: a u32 little-endian length followed by
 * a packed protobuf message, some followed by raw data.  pages-N.img is raw.
 *
 * Reading validates everything (magic, truncation, absurd lengths, unknown
 * enum values) and reports the file and byte offset of any problem.
 */
#ifndef CRYO_IMAGES_IMAGE_H
#define CRYO_IMAGES_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#define IMG_COMMON_MAGIC 0x54564319
#define IMG_SERVICE_MAGIC 0x55105940

enum img_type {
	IMG_INVENTORY,
	IMG_PSTREE,
	IMG_CORE,		/* core-%d.img, per thread id */
	IMG_IDS,		/* ids-%d.img */
	IMG_MM,			/* mm-%d.img */
	IMG_PAGEMAP,		/* pagemap-%d.img */
	IMG_PAGES,		/* pages-%u.img, raw */
	IMG_FILES,		/* files.img */
	IMG_FDINFO,		/* fdinfo-%u.img, per files id */
	IMG_FS,			/* fs-%d.img */
	IMG_STATS_DUMP,		/* stats-dump */
	IMG_STATS_RESTORE,	/* stats-restore */
	IMG_SECCOMP,		/* seccomp.img */
	IMG_TTY_INFO,		/* tty-info.img */
	IMG_TTY_DATA,		/* tty-data.img */
	IMG_PIPES_DATA,		/* pipes-data.img */
	IMG_FIFO_DATA,		/* fifo-data.img */
	IMG_SK_QUEUES,		/* sk-queues.img */
	IMG_TCP_STREAM,		/* tcp-stream-%x.img */
	IMG_GHOST_FILE,		/* ghost-file-%x.img */
	IMG_FILE_LOCKS,		/* filelocks.img */
	IMG_REMAP_FPATH,	/* remap-fpath.img */
	IMG_CPUINFO,		/* cpuinfo.img */
	IMG_TYPE_MAX,
};

/* Flags for img_open */
#define IMG_READ	0x1
#define IMG_WRITE	0x2
#define IMG_MISSING_OK	0x4	/* reading: absent file -> -ENOENT, not logged */

struct cr_img;

/* Open image @type in @dirfd; the name is formed from the type's pattern
 * and @id where it has one ("core-%d.img").  Returns 0 or -errno (logged,
 * naming the file). */
int img_open(struct cr_img **out, int dirfd, enum img_type type, unsigned flags, unsigned long id);
/* Flush and close; returns the first write error, if any.  NULL is fine. */
int img_close(struct cr_img *img);

/* Read the next entry as a message of descriptor @d (allocated with
 * protobuf-c's default allocator; free with protobuf_c_message_free_unpacked).
 * Returns 1 with *msg set, 0 at a clean end of file, or a negative code
 * (logged with file name and byte offset). */
int img_read_msg(struct cr_img *img, const ProtobufCMessageDescriptor *d, ProtobufCMessage **msg);
/* Like img_read_msg but a missing entry (EOF) is an error. */
int img_read_one(struct cr_img *img, const ProtobufCMessageDescriptor *d, ProtobufCMessage **msg);
int img_write_msg(struct cr_img *img, const ProtobufCMessage *msg);

/* Raw data that follows an entry (or a whole raw image). Exact lengths:
 * a short read is reported as truncation. */
int img_read_raw(struct cr_img *img, void *buf, size_t len);
int img_write_raw(struct cr_img *img, const void *buf, size_t len);

/* Underlying descriptor for bulk I/O (flushes buffered writes first).
 * Raw page images are read/written through it directly. */
int img_raw_fd(struct cr_img *img);
const char *img_name(const struct cr_img *img);
/* Current byte offset in the file (for error messages and indexes). */
off_t img_offset(const struct cr_img *img);

/* Name and magic of a type (for `show` and error messages). */
const char *img_type_name(enum img_type type);

/* The completion marker.  A dump directory is complete only once
 * inventory.img exists; it is written last, atomically (temporary name,
 * fsync, rename).  img_dir_begin_dump() removes a stale inventory.img so an
 * interrupted dump can never look complete. */
int img_dir_begin_dump(int dirfd);
int img_dir_commit(int dirfd, const ProtobufCMessage *inventory);
/* Restore side: 0 if dirfd holds a complete dump, else a logged error. */
int img_dir_check_complete(int dirfd, const char *dirname);

#endif
