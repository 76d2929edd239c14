/* Image files: the type table, a buffered reader/writer, validation, and the
 * dump directory's completion marker.  See image.h and docs/images.md. */
#include "images/image.h"
#include "images/image-int.h"
#include "util/log.h"
#include "util/util.h"

#include <endian.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.pb-c.h"
#include "cgroup.pb-c.h"
#include "bpfmap-data.pb-c.h"
#include "cpuinfo.pb-c.h"
#include "fdinfo.pb-c.h"
#include "file-lock.pb-c.h"
#include "fs.pb-c.h"
#include "ghost-file.pb-c.h"
#include "inventory.pb-c.h"
#include "netdev.pb-c.h"
#include "ipc-msg.pb-c.h"
#include "ipc-sem.pb-c.h"
#include "ipc-shm.pb-c.h"
#include "ipc-var.pb-c.h"
#include "memfd.pb-c.h"
#include "mm.pb-c.h"
#include "mnt.pb-c.h"
#include "pagemap.pb-c.h"
#include "pidns.pb-c.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"
#include "remap-file-path.pb-c.h"
#include "seccomp.pb-c.h"
#include "sk-packet.pb-c.h"
#include "stats.pb-c.h"
#include "tcp-stream.pb-c.h"
#include "timens.pb-c.h"
#include "tty.pb-c.h"
#include "userns.pb-c.h"
#include "utsns.pb-c.h"

/* Magics, as in CRIU's criu/include/magic.h. */
#define INVENTORY_MAGIC		0x58313116
#define PSTREE_MAGIC		0x50273030
#define FDINFO_MAGIC		0x56213732
#define PAGEMAP_MAGIC		0x56084025
#define CORE_MAGIC		0x55053847
#define IDS_MAGIC		0x54432030
#define MM_MAGIC		0x57492820
#define FILES_MAGIC		0x56303138
#define FS_MAGIC		0x51403912
#define STATS_MAGIC		0x57093306
#define SECCOMP_MAGIC		0x64413049
#define TTY_INFO_MAGIC		0x59453036
#define TTY_DATA_MAGIC		0x59413026
#define PIPES_DATA_MAGIC	0x56453709
#define FIFO_DATA_MAGIC		0x59333054
#define SK_QUEUES_MAGIC		0x56264026
#define TCP_STREAM_MAGIC	0x51465506
#define GHOST_FILE_MAGIC	0x52583605
#define FILE_LOCKS_MAGIC	0x54323616
#define REMAP_FPATH_MAGIC	0x59133954
#define CPUINFO_MAGIC		0x61404013
#define MEMFD_INODE_MAGIC	0x48453499
#define UTSNS_MAGIC		0x54473203
#define IPC_VAR_MAGIC		0x53115007
#define IPCNS_SHM_MAGIC		0x46283044
#define IPCNS_MSG_MAGIC		0x55453737
#define IPCNS_SEM_MAGIC		0x59573019
#define PIDNS_MAGIC		0x61157326
#define TIMENS_MAGIC		0x43114433
#define USERNS_MAGIC		0x55474906
#define MNTS_MAGIC		0x55563928
#define CGROUP_MAGIC		0x59383330
#define NETDEV_MAGIC		0x57373951
#define NETNS_MAGIC		0x55933752
#define BPFMAP_DATA_MAGIC	0x64324033

#define C IMG_COMMON_MAGIC
#define T(_type, _pat, _name, _magic, _common, _entry, ...)                    \
	[_type] = { .pattern = _pat, .magic_name = _name, .magic = _magic,     \
		    .common = _common, .entry = _entry, __VA_ARGS__ }

static const struct img_type_info types[IMG_TYPE_MAX] = {
	T(IMG_INVENTORY, "inventory.img", "INVENTORY", INVENTORY_MAGIC, 0,
	  &inventory_entry__descriptor),
	T(IMG_PSTREE, "pstree.img", "PSTREE", PSTREE_MAGIC, C, &pstree_entry__descriptor),
	T(IMG_CORE, "core-%lu.img", "CORE", CORE_MAGIC, C, &core_entry__descriptor),
	T(IMG_IDS, "ids-%lu.img", "IDS", IDS_MAGIC, C, &task_kobj_ids_entry__descriptor),
	T(IMG_MM, "mm-%lu.img", "MM", MM_MAGIC, C, &mm_entry__descriptor),
	T(IMG_PAGEMAP, "pagemap-%lu.img", "PAGEMAP", PAGEMAP_MAGIC, C,
	  &pagemap_entry__descriptor, .first = &pagemap_head__descriptor),
	T(IMG_PAGES, "pages-%lu.img", "PAGES", 0, 0, NULL),
	T(IMG_FILES, "files.img", "FILES", FILES_MAGIC, C, &file_entry__descriptor),
	T(IMG_FDINFO, "fdinfo-%lu.img", "FDINFO", FDINFO_MAGIC, C, &fdinfo_entry__descriptor),
	T(IMG_FS, "fs-%lu.img", "FS", FS_MAGIC, C, &fs_entry__descriptor),
	T(IMG_STATS_DUMP, "stats-dump", "STATS", STATS_MAGIC, IMG_SERVICE_MAGIC,
	  &stats_entry__descriptor),
	T(IMG_STATS_RESTORE, "stats-restore", "STATS", STATS_MAGIC, IMG_SERVICE_MAGIC,
	  &stats_entry__descriptor),
	T(IMG_SECCOMP, "seccomp.img", "SECCOMP", SECCOMP_MAGIC, C, &seccomp_entry__descriptor),
	T(IMG_TTY_INFO, "tty-info.img", "TTY_INFO", TTY_INFO_MAGIC, C, &tty_info_entry__descriptor),
	T(IMG_TTY_DATA, "tty-data.img", "TTY_DATA", TTY_DATA_MAGIC, C, &tty_data_entry__descriptor),
	T(IMG_PIPES_DATA, "pipes-data.img", "PIPES_DATA", PIPES_DATA_MAGIC, C,
	  &pipe_data_entry__descriptor, .extra = IMG_EXTRA_PIPE_DATA),
	T(IMG_FIFO_DATA, "fifo-data.img", "FIFO_DATA", FIFO_DATA_MAGIC, C,
	  &pipe_data_entry__descriptor, .extra = IMG_EXTRA_PIPE_DATA),
	T(IMG_SK_QUEUES, "sk-queues.img", "SK_QUEUES", SK_QUEUES_MAGIC, C,
	  &sk_packet_entry__descriptor, .extra = IMG_EXTRA_SK_QUEUE),
	T(IMG_TCP_STREAM, "tcp-stream-%lx.img", "TCP_STREAM", TCP_STREAM_MAGIC, C,
	  &tcp_stream_entry__descriptor, .extra = IMG_EXTRA_TCP_STREAM),
	T(IMG_GHOST_FILE, "ghost-file-%lx.img", "GHOST_FILE", GHOST_FILE_MAGIC, C,
	  &ghost_chunk_entry__descriptor, .first = &ghost_file_entry__descriptor,
	  .extra = IMG_EXTRA_GHOST),
	T(IMG_FILE_LOCKS, "filelocks.img", "FILE_LOCKS", FILE_LOCKS_MAGIC, C,
	  &file_lock_entry__descriptor),
	T(IMG_REMAP_FPATH, "remap-fpath.img", "REMAP_FPATH", REMAP_FPATH_MAGIC, C,
	  &remap_file_path_entry__descriptor),
	T(IMG_CPUINFO, "cpuinfo.img", "CPUINFO", CPUINFO_MAGIC, C, &cpuinfo_entry__descriptor),
	T(IMG_SHMEM_PAGEMAP, "pagemap-shmem-%lu.img", "PAGEMAP", PAGEMAP_MAGIC, C,
	  &pagemap_entry__descriptor, .first = &pagemap_head__descriptor),
	T(IMG_MEMFD_INODE, "memfd.img", "MEMFD_INODE", MEMFD_INODE_MAGIC, C,
	  &memfd_inode_entry__descriptor),
	T(IMG_UTSNS, "utsns-%lu.img", "UTSNS", UTSNS_MAGIC, C, &utsns_entry__descriptor),
	T(IMG_IPC_VAR, "ipcns-var-%lu.img", "IPC_VAR", IPC_VAR_MAGIC, C, &ipc_var_entry__descriptor),
	T(IMG_IPC_SHM, "ipcns-shm-%lu.img", "IPCNS_SHM", IPCNS_SHM_MAGIC, C,
	  &ipc_shm_entry__descriptor, .extra = IMG_EXTRA_IPC_SHM),
	T(IMG_IPC_MSG, "ipcns-msg-%lu.img", "IPCNS_MSG", IPCNS_MSG_MAGIC, C,
	  &ipc_msg_entry__descriptor, .extra = IMG_EXTRA_IPC_MSG),
	T(IMG_IPC_SEM, "ipcns-sem-%lu.img", "IPCNS_SEM", IPCNS_SEM_MAGIC, C,
	  &ipc_sem_entry__descriptor, .extra = IMG_EXTRA_IPC_SEM),
	T(IMG_PIDNS, "pidns-%lu.img", "PIDNS", PIDNS_MAGIC, C, &pidns_entry__descriptor),
	T(IMG_TIMENS, "timens-%lu.img", "TIMENS", TIMENS_MAGIC, C, &timens_entry__descriptor),
	T(IMG_USERNS, "userns-%lu.img", "USERNS", USERNS_MAGIC, C, &userns_entry__descriptor),
	T(IMG_MNTS, "mountpoints-%lu.img", "MNTS", MNTS_MAGIC, C, &mnt_entry__descriptor),
	T(IMG_CGROUP, "cgroup.img", "CGROUP", CGROUP_MAGIC, C, &cgroup_entry__descriptor),
	T(IMG_NETDEV, "netdev-%lu.img", "NETDEV", NETDEV_MAGIC, C, &net_device_entry__descriptor),
	T(IMG_NETNS, "netns-%lu.img", "NETNS", NETNS_MAGIC, C, &netns_entry__descriptor),
	/* iproute2's save formats, no magic of criu's (criu writes them with
	 * `ip ... save`; cryo writes the same bytes itself: lib/ns/net_rtnl.c) */
	T(IMG_IFADDR, "ifaddr-%lu.img", "IFADDR", 0, 0, NULL),
	T(IMG_ROUTE, "route-%lu.img", "ROUTE", 0, 0, NULL),
	T(IMG_ROUTE6, "route6-%lu.img", "ROUTE6", 0, 0, NULL),
	T(IMG_RULE, "rule-%lu.img", "RULE", 0, 0, NULL),
	T(IMG_IPTABLES, "iptables-%lu.img", "IPTABLES", 0, 0, NULL),
	T(IMG_IP6TABLES, "ip6tables-%lu.img", "IP6TABLES", 0, 0, NULL),
	T(IMG_NFTABLES, "nftables-%lu.img", "NFTABLES", 0, 0, NULL),
	/* cryo's own, in the same form (criu saves no neighbours) */
	T(IMG_NEIGH, "neigh-%lu.img", "NEIGH", 0, 0, NULL),
	T(IMG_BPFMAP_DATA, "bpfmap-data.img", "BPFMAP_DATA", BPFMAP_DATA_MAGIC, C,
	  &bpfmap_data_entry__descriptor, .extra = IMG_EXTRA_BPFMAP),
};
#undef T
#undef C

/* Other magics a reader may meet: named in "bad magic" messages. */
static const struct {
	uint32_t magic;
	const char *name;
} other_magics[] = {
	{ IMG_COMMON_MAGIC, "IMG_COMMON" }, { IMG_SERVICE_MAGIC, "IMG_SERVICE" },
	{ 0x54123737, "VMAS" }, { 0x56513555, "PIPES" }, { 0x58364939, "FIFO" },
	{ 0x55344201, "SIGACT" }, { 0x54373943, "UNIXSK" }, { 0x56443851, "INETSK" },
	{ 0x60454618, "PACKETSK" }, { 0x57464056, "ITIMERS" },
	{ 0x52603957, "POSIX_TIMERS" }, { 0x54023547, "CREDS" },
	{ 0x50363636, "REG_FILES" }, { 0x59255641, "EXT_FILES" },
	{ 0x44523722, "EVENTFD_FILE" }, { 0x45023858, "EVENTPOLL_FILE" },
	{ 0x44433746, "EVENTPOLL_TFD" }, { 0x57323820, "SIGNALFD" },
	{ 0x48424431, "INOTIFY_FILE" }, { 0x54562009, "INOTIFY_WD" },
	{ 0x59433025, "TTY_FILES" },
	{ 0x57113925, "RLIMIT" }, { 0x55096122, "FANOTIFY_FILE" },
	{ 0x56506035, "FANOTIFY_MARK" }, { 0x59255647, "SIGNAL" },
	{ 0x58005614, "NETLINK_SK" }, { 0x61394011, "NS_FILES" }, { 0x57143751, "TUNFILE" },
	{ 0x50493712, "TIMERFD" }, { 0x67343323, "BINFMT_MISC" }, { 0x49353943, "AUTOFS" },
	{ 0x57506142, "BPFMAP_FILE" },
	{ 0x59423047, "APPARMOR" }, { 0x57004059, "IRMAP_CACHE" },
};

#define IMG_BUF_SIZE (1u << 20)
#define IMG_MAX_DEPTH 64

struct cr_img {
	int fd;
	enum img_type type;
	bool writing;
	uint8_t *buf;
	size_t cap;
	size_t pos;		/* reading: next unread byte in buf */
	size_t len;		/* reading: valid bytes; writing: buffered bytes */
	off_t base;		/* file offset of buf[0] */
	long long size;		/* reading: file size, -1 if not a regular file */
	int err;		/* writing: first error, already logged */
	char name[NAME_MAX + 1];
};

const struct img_type_info *img_type_info(enum img_type type)
{
	if ((unsigned)type >= IMG_TYPE_MAX)
		return NULL;
	return &types[type];
}

const char *img_type_name(enum img_type type)
{
	const struct img_type_info *t = img_type_info(type);
	return t ? t->magic_name : "UNKNOWN";
}

/* "CORE" for a known magic, else NULL. */
static const char *magic_name(uint32_t m)
{
	for (size_t i = 0; i < IMG_TYPE_MAX; i++)
		if (types[i].magic && types[i].magic == m)
			return types[i].magic_name;
	for (size_t i = 0; i < ARRAY_SIZE(other_magics); i++)
		if (other_magics[i].magic == m)
			return other_magics[i].name;
	return NULL;
}

const char *img_name(const struct cr_img *img) { return img->name; }
enum img_type img_type_of(const struct cr_img *img) { return img->type; }

off_t img_offset(const struct cr_img *img)
{
	return img->base + (off_t)(img->writing ? img->len : img->pos);
}

long long img_bytes_left(const struct cr_img *img)
{
	if (img->writing || img->size < 0)
		return -1;
	long long left = img->size - (long long)img_offset(img);
	return left < 0 ? 0 : left;
}

void img_free(struct cr_img *img)
{
	if (img->fd >= 0)
		close(img->fd);
	free(img->buf);
	free(img);
}

/* ---- reading ---- */

/* Make at least @need bytes available at buf + pos if the file has them.
 * Returns the bytes available (may be less at EOF) or -errno (logged). */
static ssize_t fill(struct cr_img *img, size_t need)
{
	if (img->len - img->pos >= need)
		return img->len - img->pos;
	if (img->pos && need > img->cap - img->pos) {
		memmove(img->buf, img->buf + img->pos, img->len - img->pos);
		img->base += img->pos;
		img->len -= img->pos;
		img->pos = 0;
	}
	while (img->len - img->pos < need && img->len < img->cap) {
		ssize_t n = read(img->fd, img->buf + img->len, img->cap - img->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return_perror("%s: offset %lld: read failed", img->name,
				      (long long)(img->base + img->len));
		}
		if (n == 0)
			break;
		img->len += n;
	}
	return img->len - img->pos;
}

static int truncated(struct cr_img *img, off_t at, const char *what, size_t want, size_t got)
{
	pr_err("%s: offset %lld: truncated %s: %zu bytes expected, only %zu left in the file",
	       img->name, (long long)at, what, want, got);
	return -EIO;
}

/* Copy @len bytes; a short file is reported as truncation of @what. */
static int read_exact(struct cr_img *img, void *to, size_t len, const char *what)
{
	off_t at = img_offset(img);
	size_t done = 0;
	uint8_t *p = to;

	while (done < len) {
		size_t avail = img->len - img->pos;
		if (avail) {
			size_t n = MIN(avail, len - done);
			if (p)
				memcpy(p + done, img->buf + img->pos, n);
			img->pos += n;
			done += n;
			continue;
		}
		/* Buffer empty: big reads bypass it. */
		img->base += img->len;
		img->pos = img->len = 0;
		if (p && len - done >= img->cap) {
			ssize_t n = read(img->fd, p + done, len - done);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return_perror("%s: offset %lld: read failed", img->name,
					      (long long)img->base);
			}
			if (n == 0)
				break;
			img->base += n;
			done += n;
			continue;
		}
		if (!p && img->size >= 0) {
			/* Skipping in a regular file: seek. */
			long long left = img->size - (long long)img->base;
			size_t n = MIN((size_t)MAX(left, 0), len - done);
			if (n == 0)
				break;
			if (lseek(img->fd, img->base + n, SEEK_SET) < 0)
				return_perror("%s: can't seek", img->name);
			img->base += n;
			done += n;
			continue;
		}
		ssize_t n = fill(img, 1);
		if (n < 0)
			return n;
		if (n == 0)
			break;
	}
	if (done < len)
		return truncated(img, at, what, len, done);
	return 0;
}

int img_read_raw(struct cr_img *img, void *buf, size_t len)
{
	return read_exact(img, buf, len, "data");
}

int img_skip_raw(struct cr_img *img, size_t len)
{
	return read_exact(img, NULL, len, "data");
}

static int read_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*i >= len)
			return -1;
		uint8_t b = p[(*i)++];
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* Walk the wire format before protobuf-c does: bounds nesting depth (protobuf-c
 * recurses without a limit) and gives a precise reason for gross damage. */
static int wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		      int depth, const char **why)
{
	size_t i = 0;

	if (depth > IMG_MAX_DEPTH) {
		*why = "messages nested too deeply";
		return -1;
	}
	while (i < len) {
		uint64_t key, v;
		if (read_varint(p, len, &i, &key)) {
			*why = "malformed field key";
			return -1;
		}
		if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
			*why = "invalid field number";
			return -1;
		}
		switch (key & 7) {
		case 0:
			if (read_varint(p, len, &i, &v)) {
				*why = "malformed varint";
				return -1;
			}
			break;
		case 1:
			if (len - i < 8) {
				*why = "truncated 64-bit field";
				return -1;
			}
			i += 8;
			break;
		case 5:
			if (len - i < 4) {
				*why = "truncated 32-bit field";
				return -1;
			}
			i += 4;
			break;
		case 2: {
			if (read_varint(p, len, &i, &v) || v > len - i) {
				*why = "length-delimited field runs past the entry";
				return -1;
			}
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    wire_check(f->descriptor, p + i, v, depth + 1, why))
				return -1;
			i += v;
			break;
		}
		default:
			*why = "unsupported wire type";
			return -1;
		}
	}
	return 0;
}

static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
	    f->type != PROTOBUF_C_TYPE_STRING && f->quantifier_offset)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	return true;
}

static int check_enums(const ProtobufCMessage *m, int depth, char *why, size_t len)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;

	if (depth > IMG_MAX_DEPTH) {
		snprintf(why, len, "messages nested too deeply");
		return -EINVAL;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t n = 1;
		const void *arr = base + f->offset;

		if (f->type != PROTOBUF_C_TYPE_ENUM && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			arr = *(void *const *)(base + f->offset);
		} else if (!field_present(m, f)) {
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			if (f->type == PROTOBUF_C_TYPE_ENUM) {
				int v = ((const int *)arr)[k];
				if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v)) {
					snprintf(why, len, "%s.%s has unknown value %d for enum %s",
						 d->name, f->name, v,
						 ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
					return -EINVAL;
				}
			} else {
				const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)arr)[k];
				if (sub && check_enums(sub, depth + 1, why, len))
					return -EINVAL;
			}
		}
	}
	return 0;
}

int img_check_enums(const ProtobufCMessage *msg, char *why, size_t len)
{
	return check_enums(msg, 0, why, len);
}

static int read_entry(struct cr_img *img, const ProtobufCMessageDescriptor *d,
		      ProtobufCMessage **msg, bool eof_ok)
{
	off_t at = img_offset(img);
	ssize_t n;
	uint32_t len;
	uint8_t *copy = NULL;
	const uint8_t *p;
	const char *why;

	*msg = NULL;
	if (img->writing) {
		pr_err("%s: read from an image opened for writing", img->name);
		return -EBADF;
	}
	n = fill(img, 4);
	if (n < 0)
		return n;
	if (n == 0) {
		if (eof_ok)
			return 0;
		pr_err("%s: offset %lld: %s entry expected, found end of file",
		       img->name, (long long)at, d->name);
		return -ENODATA;
	}
	if (n < 4)
		return truncated(img, at, "entry length", 4, n);
	memcpy(&len, img->buf + img->pos, 4);
	len = le32toh(len);
	if (len > IMG_MAX_ENTRY_SIZE) {
		pr_err("%s: offset %lld: entry length %u is absurd (limit %u): corrupt image",
		       img->name, (long long)at, len, IMG_MAX_ENTRY_SIZE);
		return -EINVAL;
	}
	if (img->size >= 0 && (long long)len > img->size - (long long)at - 4) {
		pr_err("%s: offset %lld: entry length %u is larger than the %lld bytes left in the file: truncated or corrupt",
		       img->name, (long long)at, len, MAX(img->size - (long long)at - 4, 0));
		return -EIO;
	}
	img->pos += 4;

	if (len <= img->cap) {
		n = fill(img, len);
		if (n < 0)
			return n;
		if ((size_t)n < len)
			return truncated(img, at + 4, "entry", len, n);
		p = img->buf + img->pos;
		img->pos += len;
	} else {
		copy = xmalloc(len);
		if (!copy)
			return -ENOMEM;
		int ret = read_exact(img, copy, len, "entry");
		if (ret) {
			free(copy);
			return ret;
		}
		p = copy;
	}

	if (wire_check(d, p, len, 0, &why)) {
		pr_err("%s: offset %lld: %u-byte entry is not a valid %s: %s",
		       img->name, (long long)at, len, d->name, why);
		free(copy);
		return -EINVAL;
	}
	*msg = protobuf_c_message_unpack(d, NULL, len, p);
	free(copy);
	if (!*msg) {
		pr_err("%s: offset %lld: %u-byte entry is not a valid %s (protobuf decoding failed)",
		       img->name, (long long)at, len, d->name);
		return -EINVAL;
	}
	char bad_enum[256];
	if (check_enums(*msg, 0, bad_enum, sizeof(bad_enum))) {
		pr_err("%s: offset %lld: %s", img->name, (long long)at, bad_enum);
		protobuf_c_message_free_unpacked(*msg, NULL);
		*msg = NULL;
		return -EINVAL;
	}
	return 1;
}

int img_read_msg(struct cr_img *img, const ProtobufCMessageDescriptor *d, ProtobufCMessage **msg)
{
	return read_entry(img, d, msg, true);
}

int img_read_one(struct cr_img *img, const ProtobufCMessageDescriptor *d, ProtobufCMessage **msg)
{
	return read_entry(img, d, msg, false);
}

/* ---- writing ---- */

int img_flush(struct cr_img *img)
{
	if (img->err)
		return img->err;
	if (!img->len)
		return 0;
	int ret = write_all(img->fd, img->buf, img->len);
	if (ret) {
		errno = -ret;
		pr_perror("%s: offset %lld: write failed", img->name, (long long)img->base);
		img->err = ret;
		return ret;
	}
	img->base += img->len;
	img->len = 0;
	return 0;
}

static int put(struct cr_img *img, const void *data, size_t n)
{
	if (img->err)
		return img->err;
	if (n > img->cap - img->len) {
		int ret = img_flush(img);
		if (ret)
			return ret;
	}
	if (n >= img->cap) {
		int ret = write_all(img->fd, data, n);
		if (ret) {
			errno = -ret;
			pr_perror("%s: offset %lld: write failed", img->name, (long long)img->base);
			return img->err = ret;
		}
		img->base += n;
		return 0;
	}
	memcpy(img->buf + img->len, data, n);
	img->len += n;
	return 0;
}

struct img_pbuf {
	ProtobufCBuffer base;
	struct cr_img *img;
};

static void pbuf_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
	struct img_pbuf *pb = (struct img_pbuf *)b;
	put(pb->img, data, len);
}

int img_write_msg(struct cr_img *img, const ProtobufCMessage *msg)
{
	if (!img->writing) {
		pr_err("%s: write to an image opened for reading", img->name);
		return -EBADF;
	}
	if (img->err)
		return img->err;
	size_t size = protobuf_c_message_get_packed_size(msg);
	if (size > IMG_MAX_ENTRY_SIZE) {
		pr_err("%s: offset %lld: %s entry of %zu bytes exceeds the %u-byte entry limit",
		       img->name, (long long)img_offset(img), msg->descriptor->name, size,
		       IMG_MAX_ENTRY_SIZE);
		return -EFBIG;
	}
	uint32_t le = htole32((uint32_t)size);
	int ret = put(img, &le, 4);
	if (ret)
		return ret;
	if (size > img->cap - img->len && size <= img->cap) {
		ret = img_flush(img);
		if (ret)
			return ret;
	}
	if (size <= img->cap - img->len) {
		protobuf_c_message_pack(msg, img->buf + img->len);
		img->len += size;
		return 0;
	}
	struct img_pbuf pb = { .base = { .append = pbuf_append }, .img = img };
	protobuf_c_message_pack_to_buffer(msg, &pb.base);
	return img->err;
}

int img_write_raw(struct cr_img *img, const void *buf, size_t len)
{
	if (!img->writing) {
		pr_err("%s: write to an image opened for reading", img->name);
		return -EBADF;
	}
	return put(img, buf, len);
}

int img_raw_fd(struct cr_img *img)
{
	if (img->writing) {
		if (img_flush(img))
			return img->err;
		return img->fd;
	}
	/* Hand over at the logical position: drop what we buffered ahead. */
	off_t at = img_offset(img);
	if (img->len != img->pos && lseek(img->fd, at, SEEK_SET) < 0)
		return_perror("%s: can't seek to offset %lld", img->name, (long long)at);
	img->base = at;
	img->pos = img->len = 0;
	return img->fd;
}

/* ---- open / close ---- */

int img_alloc(struct cr_img **out, const char *name, enum img_type type, bool writing)
{
	struct cr_img *img = xzalloc(sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->fd = -1;
	img->type = type;
	img->writing = writing;
	img->size = -1;
	snprintf(img->name, sizeof(img->name), "%s", name);
	*out = img;
	return 0;
}

static int open_read_fd(struct cr_img *img, int dirfd, const char *name, bool missing_ok)
{
	struct stat st;

	img->fd = open_image_file(dirfd, name);
	if (img->fd < 0) {
		int ret = img->fd;
		if (ret == -ENOENT && missing_ok)
			return -ENOENT;
		if (ret == -ELOOP || ret == -EXDEV)
			pr_err("image %s is a symbolic link or reached through one: images are read "
			       "only as regular files of the images directory", name);
		else if (ret == -EBADFD || ret == -EISDIR)
			pr_err("image %s is a %s, not a regular file: refused", name,
			       ret == -EISDIR ? "directory" : "FIFO, socket or device");
		else
			return log_errno(ret, "can't open image %s", name);
		return ret;
	}
	if (fstat(img->fd, &st))
		return_perror("can't stat image %s", name);
	img->cap = IMG_BUF_SIZE;
	img->size = st.st_size;
	if (st.st_size < (off_t)img->cap)
		img->cap = MAX((size_t)st.st_size, 4096);
	img->buf = xmalloc(img->cap);
	return img->buf ? 0 : -ENOMEM;
}

static int read_magic(struct cr_img *img, uint32_t *m)
{
	off_t at = img_offset(img);
	ssize_t n = fill(img, 4);
	if (n < 0)
		return n;
	if (n < 4) {
		pr_err("%s: offset %lld: file ends before its magic: not a complete image",
		       img->name, (long long)at);
		return -EIO;
	}
	memcpy(m, img->buf + img->pos, 4);
	*m = le32toh(*m);
	img->pos += 4;
	return 0;
}

static int bad_magic(struct cr_img *img, off_t at, uint32_t found, uint32_t want, const char *want_name)
{
	const char *fn = magic_name(found);
	if (fn)
		pr_err("%s: offset %lld: bad magic 0x%08x (%s), expected 0x%08x (%s)",
		       img->name, (long long)at, found, fn, want, want_name);
	else
		pr_err("%s: offset %lld: bad magic 0x%08x, expected 0x%08x (%s): not this kind of image",
		       img->name, (long long)at, found, want, want_name);
	return -EINVAL;
}

static int check_magics(struct cr_img *img)
{
	const struct img_type_info *t = &types[img->type];
	uint32_t m;
	int ret;

	if (!t->magic)
		return 0;
	if (t->common) {
		ret = read_magic(img, &m);
		if (ret)
			return ret;
		if (m != t->common)
			return bad_magic(img, 0, m, t->common,
					 t->common == IMG_SERVICE_MAGIC ? "IMG_SERVICE" : "IMG_COMMON");
	}
	off_t at = img_offset(img);
	ret = read_magic(img, &m);
	if (ret)
		return ret;
	if (m != t->magic)
		return bad_magic(img, at, m, t->magic, t->magic_name);
	return 0;
}

static int write_magics(struct cr_img *img)
{
	const struct img_type_info *t = &types[img->type];
	uint32_t m[2];
	size_t n = 0;

	if (!t->magic)
		return 0;
	if (t->common)
		m[n++] = htole32(t->common);
	m[n++] = htole32(t->magic);
	return put(img, m, n * 4);
}

int img_open_write_fd(struct cr_img *img, int dirfd, const char *name)
{
	/* a fresh file: never through a symlink or hard link planted there */
	img->fd = create_file_at(dirfd, name, 0, 0600);
	if (img->fd < 0)
		return log_errno(img->fd, "can't create image %s", name);
	img->cap = IMG_BUF_SIZE;
	img->buf = xmalloc(img->cap);
	if (!img->buf)
		return -ENOMEM;
	return write_magics(img);
}

static int format_name(char *buf, size_t size, enum img_type type, unsigned long id)
{
	if ((unsigned)type >= IMG_TYPE_MAX || !types[type].pattern) {
		pr_err("unknown image type %d", (int)type);
		return -EINVAL;
	}
	snprintf(buf, size, types[type].pattern, id);
	return 0;
}

int img_open(struct cr_img **out, int dirfd, enum img_type type, unsigned flags, unsigned long id)
{
	char name[NAME_MAX + 1];
	struct cr_img *img;
	bool writing = flags & IMG_WRITE;
	int ret;

	*out = NULL;
	if (!!(flags & IMG_READ) == writing) {
		pr_err("img_open: exactly one of IMG_READ and IMG_WRITE is needed");
		return -EINVAL;
	}
	ret = format_name(name, sizeof(name), type, id);
	if (ret)
		return ret;
	ret = img_alloc(&img, name, type, writing);
	if (ret)
		return ret;
	if (writing)
		ret = img_open_write_fd(img, dirfd, name);
	else {
		ret = open_read_fd(img, dirfd, name, flags & IMG_MISSING_OK);
		if (!ret)
			ret = check_magics(img);
	}
	if (ret) {
		img_free(img);
		return ret;
	}
	*out = img;
	return 0;
}

int img_identify(const void *head, size_t n, const char *name, enum img_type *type)
{
	uint32_t m1 = 0, m2 = 0;

	if (n >= 4) {
		memcpy(&m1, head, 4);
		m1 = le32toh(m1);
	}
	if (n >= 8) {
		memcpy(&m2, (const char *)head + 4, 4);
		m2 = le32toh(m2);
	}
	for (int i = 0; n >= 4 && i < IMG_TYPE_MAX; i++) {
		const struct img_type_info *t = &types[i];
		if (!t->magic)
			continue;
		if ((t->common && t->common == m1 && n >= 8 && t->magic == m2) ||
		    (!t->common && t->magic == m1)) {
			*type = i;
			return 0;
		}
	}
	const char *base = name ? strrchr(name, '/') : NULL;
	base = base ? base + 1 : name;
	/* raw images (pages, iproute2's saves, iptables-save output) by name */
	for (int i = 0; base && i < IMG_TYPE_MAX; i++) {
		const struct img_type_info *t = &types[i];
		char glob[64];
		const char *pc = strchr(t->pattern, '%');
		if (t->magic || t->entry || !pc)
			continue;
		const char *rest = pc + 1;
		while (*rest == 'l')
			rest++;		/* "%lu": the rest after the conversion */
		snprintf(glob, sizeof(glob), "%.*s*%s", (int)(pc - t->pattern), t->pattern,
			 *rest ? rest + 1 : rest);
		if (!fnmatch(glob, base, 0)) {
			*type = i;
			return 0;
		}
	}
	return -ENOENT;
}

int img_open_file(struct cr_img **out, int dirfd, const char *name, enum img_type *type)
{
	struct cr_img *img;
	uint32_t m1, m2 = 0;
	int ret;

	*out = NULL;
	ret = img_alloc(&img, name, IMG_PAGES, false);
	if (ret)
		return ret;
	ret = open_read_fd(img, dirfd, name, false);
	if (ret)
		goto err;

	ssize_t n = fill(img, 8);
	if (n < 0) {
		ret = n;
		goto err;
	}
	if (!img_identify(img->buf, n, name, &img->type))
		goto found;
	if (n >= 4) {
		memcpy(&m1, img->buf, 4);
		m1 = le32toh(m1);
	}
	if (n >= 8) {
		memcpy(&m2, img->buf + 4, 4);
		m2 = le32toh(m2);
	}
	if (n < 4 || ((m1 == IMG_COMMON_MAGIC || m1 == IMG_SERVICE_MAGIC) && n < 8)) {
		pr_err("%s: offset 0: file ends before its magic: not a complete image", name);
		ret = -EIO;
	} else if (m1 == IMG_COMMON_MAGIC || m1 == IMG_SERVICE_MAGIC) {
		const char *mn = magic_name(m2);
		pr_err("%s: offset 4: image magic 0x%08x%s%s%s is not one cryo can read",
		       name, m2, mn ? " (" : "", mn ? mn : "", mn ? ")" : "");
		ret = -EINVAL;
	} else {
		pr_err("%s: offset 0: unknown magic 0x%08x: not a CRIU image (only pages-N.img and a network namespace's raw images are without a magic)",
		       name, m1);
		ret = -EINVAL;
	}
	goto err;
found:
	ret = check_magics(img);
	if (ret)
		goto err;
	if (type)
		*type = img->type;
	*out = img;
	return 0;
err:
	img_free(img);
	return ret;
}

int img_close(struct cr_img *img)
{
	int ret = 0;

	if (!img)
		return 0;
	if (img->writing) {
		ret = img_flush(img);
		if (close(img->fd) && !ret) {
			ret = -errno;
			pr_perror("%s: close failed", img->name);
		}
		img->fd = -1;
	}
	img_free(img);
	return ret;
}
