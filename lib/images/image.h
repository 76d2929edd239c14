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

#include "inventory.pb-c.h"

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
	IMG_SHMEM_PAGEMAP,	/* pagemap-shmem-%lu.img */
	IMG_MEMFD_INODE,	/* memfd.img */
	IMG_UTSNS,		/* utsns-%u.img */
	IMG_IPC_VAR,		/* ipcns-var-%u.img */
	IMG_IPC_SHM,		/* ipcns-shm-%u.img, segment data follows */
	IMG_IPC_MSG,		/* ipcns-msg-%u.img */
	IMG_IPC_SEM,		/* ipcns-sem-%u.img */
	IMG_PIDNS,		/* pidns-%u.img */
	IMG_TIMENS,		/* timens-%u.img */
	IMG_USERNS,		/* userns-%u.img */
	IMG_MNTS,		/* mountpoints-%u.img */
	IMG_CGROUP,		/* cgroup.img */
	IMG_NETDEV,		/* netdev-%u.img */
	IMG_NETNS,		/* netns-%u.img */
	IMG_IFADDR,		/* ifaddr-%u.img, raw: `ip addr save` */
	IMG_ROUTE,		/* route-%u.img, raw: `ip route save` */
	IMG_ROUTE6,		/* route6-%u.img, raw: `ip -6 route save` */
	IMG_RULE,		/* rule-%u.img, raw: `ip rule save` */
	IMG_IPTABLES,		/* iptables-%u.img, raw: iptables-save */
	IMG_IP6TABLES,		/* ip6tables-%u.img, raw: ip6tables-save */
	IMG_NFTABLES,		/* nftables-%u.img, raw: nft list table output */
	IMG_NEIGH,		/* neigh-%u.img, raw: static neighbours (cryo's) */
	IMG_BPFMAP_DATA,	/* bpfmap-data.img, keys then values follow */
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

/* Largest entry a reader accepts (a larger length prefix is corruption). */
#define IMG_MAX_ENTRY_SIZE (64u << 20)

/* What follows an entry besides the next entry. */
enum img_extra {
	IMG_EXTRA_NONE,
	IMG_EXTRA_PIPE_DATA,	/* pipe_data_entry.bytes raw bytes */
	IMG_EXTRA_SK_QUEUE,	/* sk_packet_entry.length raw bytes */
	IMG_EXTRA_TCP_STREAM,	/* inq_len then outq_len raw bytes */
	IMG_EXTRA_GHOST,	/* ghost_file_entry then chunks or raw content */
	IMG_EXTRA_IPC_SHM,	/* size bytes, padded to 4 */
	IMG_EXTRA_IPC_SEM,	/* nsems u16 values, padded to 8 */
	IMG_EXTRA_IPC_MSG,	/* qnum x (u32 len, ipc_msg, msize bytes padded to 8) */
	IMG_EXTRA_BPFMAP,	/* keys_bytes then values_bytes raw bytes */
};

/* Everything known about an image type. */
struct img_type_info {
	const char *pattern;	/* file name; printf pattern taking the id */
	const char *magic_name;	/* crit's name for the magic: "CORE" */
	uint32_t magic;		/* per-image magic; 0 for raw images */
	uint32_t common;	/* IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, or 0 */
	const ProtobufCMessageDescriptor *first;	/* first entry, if special */
	const ProtobufCMessageDescriptor *entry;	/* entries; NULL = raw */
	enum img_extra extra;
};
const struct img_type_info *img_type_info(enum img_type type);

/* Open an existing image file @name (relative to @dirfd) for reading and
 * identify its type by its magic, not its name.  A file with no known magic
 * is taken as raw pages only when named pages-*.img.  Returns 0 or a
 * negative code (logged, with the file name). */
int img_open_file(struct cr_img **out, int dirfd, const char *name, enum img_type *type);
enum img_type img_type_of(const struct cr_img *img);
/* The identification img_open_file does, on the first @n (<= 8) bytes of a
 * file: 0 with *type set, or -ENOENT (not logged) if it is no image. */
int img_identify(const void *head, size_t n, const char *name, enum img_type *type);
/* Bytes left before end of file (regular files; -1 if unknown). */
long long img_bytes_left(const struct cr_img *img);
/* Skip @len bytes of raw data (truncation is reported like img_read_raw). */
int img_skip_raw(struct cr_img *img, size_t len);

/* Check a decoded message: every enum field holds a known value.  Returns 0,
 * or -EINVAL with @why (@len bytes) describing the first bad field. */
int img_check_enums(const ProtobufCMessage *msg, char *why, size_t len);

/* Open the images directory @dir (NULL or "": the current one), creating it
 * first with @create.  Returns the descriptor or a logged negative errno. */
int img_dir_open(const char *dir, bool create);

/* The completion marker.  A dump directory is complete only once
 * inventory.img exists; it is written last, atomically (temporary name,
 * fsync, rename).  img_dir_begin_dump() removes a stale inventory.img so an
 * interrupted dump can never look complete. */
int img_dir_begin_dump(int dirfd);
/* img_dir_commit() records the size of every image in @inventory
 * (cryo_image_sizes); img_dir_read_inventory() refuses a directory where
 * one differs. */
int img_dir_commit(int dirfd, InventoryEntry *inventory);
/* Restore side: 0 if dirfd holds a complete dump, else a logged error.
 * With @inv, the inventory entry is handed over (free it with
 * protobuf_c_message_free_unpacked). */
int img_dir_check_complete(int dirfd, const char *dirname);
int img_dir_read_inventory(int dirfd, const char *dirname, ProtobufCMessage **inv);

/* Incremental dumps: "parent", criu's link to the previous dump's
 * directory.  img_dir_open_parent() opens the one of @dirfd (*@out = -1
 * if there is none); img_dir_parents() opens the whole chain into @dirs
 * (the parent first, at most @max) and returns how many (logs, refuses
 * loops and chains longer than IMG_MAX_PARENTS). */
#define IMG_PARENT_LINK "parent"
#define IMG_MAX_PARENTS 64
int img_dir_open_parent(int dirfd, const char *dirname, int *out);
int img_dir_parents(int dirfd, const char *dirname, int *dirs, int max);

#endif
