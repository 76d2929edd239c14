/* `cryo show`: decode images to JSON generically, from protobuf-c
 * descriptors, in the layout crit (CRIU's image tool) uses, so the two can
 * be compared and existing scripts keep working. */
#include "cryo.h"
#include "images/image.h"
#include "images/jsonbuf.h"
#include "images/show.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bpfmap-data.pb-c.h"
#include "ghost-file.pb-c.h"
#include "ipc-msg.pb-c.h"
#include "ipc-sem.pb-c.h"
#include "ipc-shm.pb-c.h"
#include "pipe-data.pb-c.h"
#include "sk-packet.pb-c.h"
#include "tcp-stream.pb-c.h"

/* ---- crit's presentation of particular fields (its opts.proto) ---- */

enum ann_kind { ANN_HEX, ANN_FLAGS, ANN_DEV, ANN_ODEV, ANN_DICT, ANN_IPADD, ANN_UNIX_NAME };

struct ann {
	const char *msg, *field;
	enum ann_kind kind;
	const char *arg;
};

static const struct ann anns[] = {
	{ "task_core_entry", "task_state", ANN_DICT, "gen" },
	{ "task_core_entry", "blk_sigset", ANN_HEX, NULL },
	{ "task_core_entry", "blk_sigset_extended", ANN_HEX, NULL },
	{ "thread_info_x86", "clear_tid_addr", ANN_HEX, NULL },
	{ "thread_info_x86", "gpregs", ANN_HEX, NULL },
	{ "bpfmap_file_entry", "flags", ANN_FLAGS, "rfile.flags" },
	{ "irmap_cache_entry", "dev", ANN_ODEV, NULL },
	{ "inotify_wd_entry", "mask", ANN_HEX, NULL },
	{ "inotify_wd_entry", "ignored_mask", ANN_HEX, NULL },
	{ "inotify_wd_entry", "s_dev", ANN_DEV, NULL },
	{ "inotify_file_entry", "flags", ANN_HEX, NULL },
	{ "fanotify_mark_entry", "mflags", ANN_HEX, NULL },
	{ "fanotify_mark_entry", "mask", ANN_HEX, NULL },
	{ "fanotify_mark_entry", "ignored_mask", ANN_HEX, NULL },
	{ "fanotify_mark_entry", "s_dev", ANN_DEV, NULL },
	{ "fanotify_file_entry", "flags", ANN_HEX, NULL },
	{ "fanotify_file_entry", "faflags", ANN_HEX, NULL },
	{ "fanotify_file_entry", "evflags", ANN_HEX, NULL },
	{ "ghost_file_entry", "dev", ANN_DEV, NULL },
	{ "ghost_file_entry", "rdev", ANN_ODEV, NULL },
	{ "memfd_file_entry", "flags", ANN_FLAGS, "rfile.flags" },
	{ "memfd_inode_entry", "seals", ANN_FLAGS, "seals.flags" },
	{ "mm_entry", "mm_start_code", ANN_HEX, NULL },
	{ "mm_entry", "mm_end_code", ANN_HEX, NULL },
	{ "mm_entry", "mm_start_data", ANN_HEX, NULL },
	{ "mm_entry", "mm_end_data", ANN_HEX, NULL },
	{ "mm_entry", "mm_start_stack", ANN_HEX, NULL },
	{ "mm_entry", "mm_start_brk", ANN_HEX, NULL },
	{ "mm_entry", "mm_brk", ANN_HEX, NULL },
	{ "mm_entry", "mm_arg_start", ANN_HEX, NULL },
	{ "mm_entry", "mm_arg_end", ANN_HEX, NULL },
	{ "mm_entry", "mm_env_start", ANN_HEX, NULL },
	{ "mm_entry", "mm_env_end", ANN_HEX, NULL },
	{ "mnt_entry", "root_dev", ANN_DEV, NULL },
	{ "mnt_entry", "flags", ANN_HEX, NULL },
	{ "mnt_entry", "sb_flags", ANN_HEX, NULL },
	{ "packet_sock_entry", "flags", ANN_HEX, NULL },
	{ "pagemap_entry", "vaddr", ANN_HEX, NULL },
	{ "pagemap_entry", "flags", ANN_FLAGS, "pmap.flags" },
	{ "pipe_entry", "flags", ANN_HEX, NULL },
	{ "reg_file_entry", "flags", ANN_FLAGS, "rfile.flags" },
	{ "sa_entry", "sigaction", ANN_HEX, NULL },
	{ "sa_entry", "flags", ANN_HEX, NULL },
	{ "sa_entry", "restorer", ANN_HEX, NULL },
	{ "sa_entry", "mask", ANN_HEX, NULL },
	{ "sa_entry", "mask_extended", ANN_HEX, NULL },
	{ "signalfd_entry", "flags", ANN_HEX, NULL },
	{ "signalfd_entry", "sigmask", ANN_HEX, NULL },
	{ "inet_sk_entry", "family", ANN_DICT, "sk" },
	{ "inet_sk_entry", "type", ANN_DICT, "sk" },
	{ "inet_sk_entry", "proto", ANN_DICT, "sk" },
	{ "inet_sk_entry", "state", ANN_DICT, "sk" },
	{ "inet_sk_entry", "flags", ANN_HEX, NULL },
	{ "inet_sk_entry", "src_addr", ANN_IPADD, NULL },
	{ "inet_sk_entry", "dst_addr", ANN_IPADD, NULL },
	{ "netlink_sk_entry", "flags", ANN_HEX, NULL },
	{ "unix_sk_entry", "type", ANN_DICT, "sk" },
	{ "unix_sk_entry", "state", ANN_DICT, "sk" },
	{ "unix_sk_entry", "flags", ANN_HEX, NULL },
	{ "unix_sk_entry", "uflags", ANN_HEX, NULL },
	{ "unix_sk_entry", "name", ANN_UNIX_NAME, NULL },
	{ "tcp_stream_entry", "opt_mask", ANN_HEX, NULL },
	{ "timerfd_entry", "flags", ANN_HEX, NULL },
	{ "timerfd_entry", "settime_flags", ANN_HEX, NULL },
	{ "tty_file_entry", "flags", ANN_HEX, NULL },
	{ "tun_link_entry", "flags", ANN_HEX, NULL },
	{ "vma_entry", "start", ANN_HEX, NULL },
	{ "vma_entry", "end", ANN_HEX, NULL },
	{ "vma_entry", "prot", ANN_FLAGS, "mmap.prot" },
	{ "vma_entry", "flags", ANN_FLAGS, "mmap.flags" },
	{ "vma_entry", "status", ANN_FLAGS, "mmap.status" },
	{ "vma_entry", "madv", ANN_HEX, NULL },
	{ "vma_entry", "fdflags", ANN_HEX, NULL },
	{ "vma_entry", "cryo_flags", ANN_HEX, NULL },
	{ "vma_guard_run", "start", ANN_HEX, NULL },
	{ "vma_guard_run", "end", ANN_HEX, NULL },
};

static const struct ann *find_ann(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(anns); i++)
		if (!strcmp(anns[i].field, f->name) && !strcmp(anns[i].msg, d->name))
			return &anns[i];
	return NULL;
}

struct bitname {
	const char *name;
	uint64_t bit;
};

static const struct bitname prot_bits[] = {
	{ "PROT_READ", 0x1 }, { "PROT_WRITE", 0x2 }, { "PROT_EXEC", 0x4 }, { 0 } };
static const struct bitname mmap_bits[] = {
	{ "MAP_SHARED", 0x1 }, { "MAP_PRIVATE", 0x2 }, { "MAP_DROPPABLE", 0x8 },
	{ "MAP_ANON", 0x20 }, { "MAP_GROWSDOWN", 0x100 }, { "MAP_LOCKED", 0x2000 },
	{ "MAP_NORESERVE", 0x4000 }, { 0 } };
static const struct bitname status_bits[] = {
	{ "VMA_AREA_REGULAR", 1 << 0 }, { "VMA_AREA_STACK", 1 << 1 },
	{ "VMA_AREA_VSYSCALL", 1 << 2 }, { "VMA_AREA_VDSO", 1 << 3 },
	{ "VMA_AREA_HEAP", 1 << 5 }, { "VMA_FILE_PRIVATE", 1 << 6 },
	{ "VMA_FILE_SHARED", 1 << 7 }, { "VMA_ANON_SHARED", 1 << 8 },
	{ "VMA_ANON_PRIVATE", 1 << 9 }, { "VMA_AREA_SYSVIPC", 1 << 10 },
	{ "VMA_AREA_SOCKET", 1 << 11 }, { "VMA_AREA_VVAR", 1 << 12 },
	{ "VMA_AREA_AIORING", 1 << 13 }, { "VMA_UNSUPP", 1u << 31 }, { 0 } };
static const struct bitname open_bits[] = {
	{ "O_WRONLY", 01 }, { "O_RDWR", 02 }, { "O_CREAT", 0100 }, { "O_EXCL", 0200 },
	{ "O_NOCTTY", 0400 }, { "O_TRUNC", 01000 }, { "O_APPEND", 02000 },
	{ "O_NONBLOCK", 04000 }, { "O_DSYNC", 010000 }, { "FASYNC", 020000 },
	{ "O_DIRECT", 040000 }, { "O_LARGEFILE", 0100000 }, { "O_DIRECTORY", 0200000 },
	{ "O_NOFOLLOW", 0400000 }, { "O_NOATIME", 01000000 }, { "O_CLOEXEC", 02000000 },
	{ 0 } };
static const struct bitname seal_bits[] = {
	{ "F_SEAL_SEAL", 0x1 }, { "F_SEAL_SHRINK", 0x2 }, { "F_SEAL_GROW", 0x4 },
	{ "F_SEAL_WRITE", 0x8 }, { "F_SEAL_FUTURE_WRITE", 0x10 }, { 0 } };
static const struct bitname pmap_bits[] = {
	{ "PE_PARENT", 1 }, { "PE_LAZY", 2 }, { "PE_PRESENT", 4 }, { 0 } };

static const struct {
	const char *name;
	const struct bitname *bits;
} flag_maps[] = {
	{ "mmap.prot", prot_bits }, { "mmap.flags", mmap_bits }, { "mmap.status", status_bits },
	{ "rfile.flags", open_bits }, { "pmap.flags", pmap_bits }, { "seals.flags", seal_bits },
};

static void show_flags(struct jb *j, uint64_t v, const char *map)
{
	const struct bitname *bits = NULL;
	struct jb t = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(flag_maps); i++)
		if (!strcmp(flag_maps[i].name, map))
			bits = flag_maps[i].bits;
	if (!bits) {
		jb_printf(j, "\"0x%" PRIx64 "\"", v);
		return;
	}
	uint64_t rest = v;
	for (const struct bitname *b = bits; b->name; b++) {
		if (v & b->bit) {
			if (t.len)
				jb_puts(&t, " | ");
			jb_puts(&t, b->name);
		}
		rest &= ~b->bit;
	}
	if (rest) {
		if (t.len)
			jb_puts(&t, " | ");
		jb_printf(&t, "0x%" PRIx64, rest);
	}
	if (t.oom)
		j->oom = true;
	jb_str(j, t.p ? t.p : "", t.len);
	free(t.p);
}

static const char *dict_name(const char *dict, const char *field, uint64_t v)
{
	static const struct {
		const char *dict, *field;
		uint64_t v;
		const char *name;
	} tab[] = {
		{ "gen", "task_state", 1, "Alive" }, { "gen", "task_state", 3, "Zombie" },
		{ "gen", "task_state", 6, "Stopped" },
		{ "sk", "family", 1, "UNIX" }, { "sk", "family", 2, "INET" },
		{ "sk", "family", 10, "INET6" }, { "sk", "family", 16, "NETLINK" },
		{ "sk", "family", 17, "PACKET" },
		{ "sk", "type", 1, "STREAM" }, { "sk", "type", 2, "DGRAM" },
		{ "sk", "type", 3, "RAW" }, { "sk", "type", 5, "SEQPACKET" },
		{ "sk", "type", 10, "PACKET" },
		{ "sk", "state", 1, "ESTABLISHED" }, { "sk", "state", 2, "SYN_SENT" },
		{ "sk", "state", 3, "SYN_RECV" }, { "sk", "state", 4, "FIN_WAIT1" },
		{ "sk", "state", 5, "FIN_WAIT2" }, { "sk", "state", 6, "TIME_WAIT" },
		{ "sk", "state", 7, "CLOSE" }, { "sk", "state", 8, "CLOSE_WAIT" },
		{ "sk", "state", 9, "LAST_ACK" }, { "sk", "state", 10, "LISTEN" },
		{ "sk", "proto", 0, "IP" }, { "sk", "proto", 6, "TCP" },
		{ "sk", "proto", 17, "UDP" }, { "sk", "proto", 136, "UDPLITE" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
		if (tab[i].v == v && !strcmp(tab[i].dict, dict) && !strcmp(tab[i].field, field))
			return tab[i].name;
	return NULL;
}

/* crit's IP address strings: one word is IPv4, four are IPv6 (words hold
 * the address bytes in memory order, i.e. network order). */
static void show_ip(struct jb *j, const uint32_t *w, size_t n)
{
	char buf[64];
	uint8_t b[16];

	for (size_t i = 0; i < n && i < 4; i++) {
		b[i * 4 + 0] = w[i] & 0xff;
		b[i * 4 + 1] = (w[i] >> 8) & 0xff;
		b[i * 4 + 2] = (w[i] >> 16) & 0xff;
		b[i * 4 + 3] = w[i] >> 24;
	}
	if (n == 1) {
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	} else {
		/* Python's IPv6Address.compressed: longest run (>= 2) of zero
		 * groups becomes "::", the first such run on a tie. */
		unsigned g[8];
		int best = -1, best_len = 0;
		for (int i = 0; i < 8; i++)
			g[i] = b[2 * i] << 8 | b[2 * i + 1];
		for (int i = 0; i < 8;) {
			int k = i;
			while (k < 8 && !g[k])
				k++;
			if (k - i > best_len && k - i >= 2) {
				best = i;
				best_len = k - i;
			}
			i = k > i ? k : i + 1;
		}
		size_t o = 0;
		for (int i = 0; i < 8; i++) {
			if (i == best) {
				o += snprintf(buf + o, sizeof(buf) - o, "::");
				i += best_len - 1;
				continue;
			}
			o += snprintf(buf + o, sizeof(buf) - o, "%s%x",
				      (i && i != best + best_len) ? ":" : "", g[i]);
		}
	}
	jb_str(j, buf, strlen(buf));
}

/* ---- messages ---- */

struct show_ctx {
	unsigned flags;
};

static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) > 0;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
		return *(const void *const *)(base + f->offset) != NULL &&
		       (f->type == PROTOBUF_C_TYPE_MESSAGE ||
			*(const void *const *)(base + f->offset) != f->default_value);
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	return true;
}

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 8;
	}
}

static void show_msg(struct jb *j, const ProtobufCMessage *m, bool hex, const struct show_ctx *c);

static void show_value(struct jb *j, const ProtobufCFieldDescriptor *f, const struct ann *a,
		       const void *v, bool hex, const struct show_ctx *c)
{
	bool pretty = !(c->flags & IMG_SHOW_PLAIN);
	uint64_t u;
	int64_t s;

	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		show_msg(j, *(const ProtobufCMessage *const *)v, hex, c);
		return;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v);
		if (ev)
			jb_str(j, ev->name, strlen(ev->name));
		else
			jb_printf(j, "%d", *(const int *)v);
		return;
	}
	case PROTOBUF_C_TYPE_BOOL:
		jb_puts(j, *(const protobuf_c_boolean *)v ? "true" : "false");
		return;
	case PROTOBUF_C_TYPE_STRING: {
		const char *str = *(const char *const *)v;
		jb_str(j, str ? str : "", str ? strlen(str) : 0);
		return;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = v;
		if (a && a->kind == ANN_UNIX_NAME)
			jb_quopri(j, b->data, b->len);
		else
			jb_base64(j, b->data, b->len);
		return;
	}
	case PROTOBUF_C_TYPE_FLOAT:
		jb_printf(j, "%.9g", *(const float *)v);
		return;
	case PROTOBUF_C_TYPE_DOUBLE:
		jb_printf(j, "%.17g", *(const double *)v);
		return;
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		s = *(const int32_t *)v;
		u = (uint64_t)s;
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		s = *(const int64_t *)v;
		u = (uint64_t)s;
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		u = *(const uint32_t *)v;
		s = -1;
		break;
	default:
		u = *(const uint64_t *)v;
		s = -1;
		break;
	}
	bool is_signed = s != -1 || (f->type != PROTOBUF_C_TYPE_UINT32 &&
				     f->type != PROTOBUF_C_TYPE_FIXED32 &&
				     f->type != PROTOBUF_C_TYPE_UINT64 &&
				     f->type != PROTOBUF_C_TYPE_FIXED64);
	if (pretty && (hex || (a && a->kind == ANN_HEX))) {
		/* Python's "0x%x" of a negative number is "-0x..." */
		if (is_signed && s < 0)
			jb_printf(j, "\"-0x%" PRIx64 "\"", (uint64_t)-(s + 1) + 1);
		else
			jb_printf(j, "\"0x%" PRIx64 "\"", u);
		return;
	}
	if (pretty && a && a->kind == ANN_DEV) {
		jb_printf(j, "\"%" PRIu64 ":%" PRIu64 "\"", u >> 20, u & 0xfffff);
		return;
	}
	if (pretty && a && a->kind == ANN_ODEV) {
		jb_printf(j, "\"%u:%u\"", major(u), minor(u));
		return;
	}
	if (pretty && a && a->kind == ANN_FLAGS) {
		show_flags(j, u, a->arg);
		return;
	}
	if (pretty && a && a->kind == ANN_DICT) {
		const char *n = dict_name(a->arg, f->name, u);
		if (n) {
			jb_str(j, n, strlen(n));
			return;
		}
	}
	if (is_signed)
		jb_printf(j, "%" PRId64, s);
	else
		jb_printf(j, "%" PRIu64, u);
}

/* The fields of @m as members of the JSON object open at j's top. */
static void show_fields(struct jb *j, const ProtobufCMessage *m, bool hex, const struct show_ctx *c)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	bool pretty = !(c->flags & IMG_SHOW_PLAIN);

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!present(m, f))
			continue;
		const struct ann *a = find_ann(d, f);
		bool h = hex || (a && a->kind == ANN_HEX);

		jb_key(j, f->name);
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			show_value(j, f, a, base + f->offset, h, c);
			continue;
		}
		size_t n = *(const size_t *)(base + f->quantifier_offset);
		const char *arr = *(const char *const *)(base + f->offset);
		jb_open(j, '[');
		if (pretty && a && a->kind == ANN_IPADD && (n == 1 || n == 4)) {
			jb_item(j);
			show_ip(j, (const uint32_t *)arr, n);
		} else {
			for (size_t k = 0; k < n; k++) {
				jb_item(j);
				show_value(j, f, a, arr + k * type_size(f->type), h, c);
			}
		}
		jb_close(j, ']');
	}
}

static void show_msg(struct jb *j, const ProtobufCMessage *m, bool hex, const struct show_ctx *c)
{
	jb_open(j, '{');
	show_fields(j, m, hex, c);
	jb_close(j, '}');
}

/* ---- images ---- */

/* crit's human_readable() for payload summaries. */
static void jb_size_summary(struct jb *j, uint64_t n)
{
	static const char *units[] = { "", "K", "M", "G", "T", "P", "E", "Z" };
	double num = n;
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (num < 1024.0) {
			if ((double)(uint64_t)num == num)
				snprintf(buf, sizeof(buf), "... <%" PRIu64 "%sB>", (uint64_t)num, units[i]);
			else
				snprintf(buf, sizeof(buf), "... <%.1f%sB>", num, units[i]);
			jb_str(j, buf, strlen(buf));
			return;
		}
		num /= 1024.0;
	}
	snprintf(buf, sizeof(buf), "... <%.1fYB>", num);
	jb_str(j, buf, strlen(buf));
}

/* Read @len payload bytes (base64 into the JSON, or skipped). */
static int show_payload(struct jb *j, struct cr_img *img, uint64_t len, bool b64)
{
	long long left = img_bytes_left(img);

	if (left >= 0 && len > (unsigned long long)left) {
		pr_err("%s: offset %lld: truncated data: %" PRIu64 " bytes expected, only %lld left in the file",
		       img_name(img), (long long)img_offset(img), len, left);
		return -EIO;
	}
	if (!b64)
		return img_skip_raw(img, len);
	if (len > SIZE_MAX / 2) {
		pr_err("%s: payload of %" PRIu64 " bytes is too large to show", img_name(img), len);
		return -EFBIG;
	}
	uint8_t *buf = xmalloc(len);
	if (!buf)
		return -ENOMEM;
	int ret = img_read_raw(img, buf, len);
	if (!ret)
		jb_base64(j, buf, len);
	free(buf);
	return ret;
}

static int show_extra(struct jb *j, struct cr_img *img, const struct img_type_info *t,
		      const ProtobufCMessage *m, const struct show_ctx *c)
{
	bool pl = c->flags & IMG_SHOW_PAYLOAD;
	uint64_t len = 0;
	int ret = 0;

	switch (t->extra) {
	case IMG_EXTRA_PIPE_DATA:
		len = ((const PipeDataEntry *)m)->bytes;
		break;
	case IMG_EXTRA_SK_QUEUE:
		len = ((const SkPacketEntry *)m)->length;
		break;
	case IMG_EXTRA_IPC_SHM:
		len = ((const IpcShmEntry *)m)->size;
		break;
	case IMG_EXTRA_BPFMAP:
		len = (uint64_t)((const BpfmapDataEntry *)m)->keys_bytes +
		      ((const BpfmapDataEntry *)m)->values_bytes;
		break;
	case IMG_EXTRA_TCP_STREAM: {
		const TcpStreamEntry *e = (const TcpStreamEntry *)m;
		jb_key(j, "extra");
		if (!pl) {
			jb_size_summary(j, (uint64_t)e->inq_len + e->outq_len);
			return img_skip_raw(img, (uint64_t)e->inq_len + e->outq_len);
		}
		jb_open(j, '{');
		jb_key(j, "inq");
		ret = show_payload(j, img, e->inq_len, true);
		if (!ret) {
			jb_key(j, "outq");
			ret = show_payload(j, img, e->outq_len, true);
		}
		jb_close(j, '}');
		return ret;
	}
	case IMG_EXTRA_IPC_SEM: {
		uint32_t nsems = ((const IpcSemEntry *)m)->nsems;
		uint64_t size = (uint64_t)nsems * 2, rounded = ROUND_UP(size, 8);
		jb_key(j, "extra");
		if (!pl) {
			jb_size_summary(j, size);
			return show_payload(j, img, rounded, false);
		}
		long long left = img_bytes_left(img);
		if (left >= 0 && rounded > (unsigned long long)left)
			return show_payload(j, img, rounded, false); /* reports truncation */
		jb_open(j, '[');
		for (uint32_t i = 0; i < nsems && !ret; i++) {
			uint16_t v;
			ret = img_read_raw(img, &v, 2);
			if (!ret) {
				jb_item(j);
				jb_printf(j, "%u", v);
			}
		}
		jb_close(j, ']');
		return ret ? ret : img_skip_raw(img, rounded - size);
	}
	case IMG_EXTRA_IPC_MSG: {
		uint32_t qnum = ((const IpcMsgEntry *)m)->qnum;
		uint64_t total = 0;
		struct show_ctx plain = { .flags = c->flags | IMG_SHOW_PLAIN };
		struct jb skip = { 0 };
		struct jb *o = pl ? j : &skip;
		jb_key(j, "extra");
		if (pl)
			jb_open(j, '[');
		for (uint32_t i = 0; i < qnum && !ret; i++) {
			ProtobufCMessage *pm;
			off_t at = img_offset(img);
			ret = img_read_one(img, &ipc_msg__descriptor, &pm);
			if (ret < 0)
				break;
			ret = 0;
			uint32_t msize = ((IpcMsg *)pm)->msize;
			total += (img_offset(img) - at - 4) + msize;
			jb_item(o);
			show_msg(o, pm, false, &plain);
			protobuf_c_message_free_unpacked(pm, NULL);
			jb_item(o);
			ret = show_payload(o, img, msize, pl);
			if (!ret)
				ret = img_skip_raw(img, ROUND_UP((uint64_t)msize, 8) - msize);
		}
		free(skip.p);
		if (pl)
			jb_close(j, ']');
		else
			jb_size_summary(j, total);
		return ret;
	}
	default:
		return 0;
	}
	/* Plain "len bytes follow" payloads. */
	jb_key(j, "extra");
	if (!pl) {
		jb_size_summary(j, len);
		ret = show_payload(j, img, len, false);
	} else {
		ret = show_payload(j, img, len, true);
	}
	if (!ret && t->extra == IMG_EXTRA_IPC_SHM)
		ret = img_skip_raw(img, ROUND_UP(len, 4) - len);
	return ret;
}

/* ghost-file-N.img: a ghost_file_entry, then either chunk entries each
 * followed by its bytes, or (no chunks) the whole content to end of file. */
static int show_ghost(struct jb *j, struct cr_img *img, const struct show_ctx *c)
{
	bool pl = c->flags & IMG_SHOW_PAYLOAD;
	ProtobufCMessage *m;
	int ret = img_read_one(img, &ghost_file_entry__descriptor, &m);
	if (ret < 0)
		return ret;
	GhostFileEntry *g = (GhostFileEntry *)m;
	bool chunks = g->has_chunks && g->chunks;

	jb_item(j);
	jb_open(j, '{');
	show_fields(j, m, false, c);
	protobuf_c_message_free_unpacked(m, NULL);
	if (!chunks) {
		long long left = img_bytes_left(img);
		if (pl && left >= 0) {
			jb_key(j, "extra");
			ret = show_payload(j, img, left, true);
		} else if (left >= 0) {
			ret = img_skip_raw(img, left);
		}
		jb_close(j, '}');
		return ret;
	}
	jb_close(j, '}');
	for (;;) {
		ProtobufCMessage *cm;
		ret = img_read_msg(img, &ghost_chunk_entry__descriptor, &cm);
		if (ret <= 0)
			return ret;
		uint64_t len = ((GhostChunkEntry *)cm)->len;
		jb_item(j);
		jb_open(j, '{');
		show_fields(j, cm, false, c);
		protobuf_c_message_free_unpacked(cm, NULL);
		if (pl)
			jb_key(j, "extra");
		ret = show_payload(j, img, len, pl);
		jb_close(j, '}');
		if (ret)
			return ret;
	}
}

static int show_image(struct jb *j, int dirfd, const char *name, const struct show_ctx *c)
{
	struct cr_img *img;
	enum img_type type;
	int ret = img_open_file(&img, dirfd, name, &type);
	if (ret)
		return ret;
	const struct img_type_info *t = img_type_info(type);

	jb_open(j, '{');
	jb_key(j, "magic");
	jb_str(j, t->magic_name, strlen(t->magic_name));
	if (!t->entry) {
		long long left = img_bytes_left(img);
		jb_key(j, "size");
		jb_printf(j, "%lld", left);
		jb_close(j, '}');
		return img_close(img);
	}
	jb_key(j, "entries");
	jb_open(j, '[');
	if (t->extra == IMG_EXTRA_GHOST) {
		ret = show_ghost(j, img, c);
	} else {
		for (bool first = true;; first = false) {
			const ProtobufCMessageDescriptor *d = first && t->first ? t->first : t->entry;
			ProtobufCMessage *m;
			ret = img_read_msg(img, d, &m);
			if (ret <= 0)
				break;
			jb_item(j);
			jb_open(j, '{');
			show_fields(j, m, false, c);
			ret = show_extra(j, img, t, m, c);
			jb_close(j, '}');
			protobuf_c_message_free_unpacked(m, NULL);
			if (ret < 0)
				break;
		}
	}
	jb_close(j, ']');
	jb_close(j, '}');
	img_close(img);
	return ret < 0 ? ret : 0;
}

static int out_write(int fd, struct jb *j)
{
	if (j->oom) {
		pr_err("out of memory formatting JSON");
		return -ENOMEM;
	}
	int ret = write_all(fd, j->p, j->len);
	if (ret) {
		errno = -ret;
		pr_perror("can't write the JSON output");
	}
	j->len = 0;
	return ret;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int show_dir(int out_fd, const char *path, const struct show_ctx *c, struct jb *j)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return_perror("can't open %s", path);
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return_perror("can't read directory %s", path);
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0, first_err = 0;
	struct dirent *de;

	while ((de = readdir(dir))) {
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		uint8_t head[8];
		int fd = open_image_file(dfd, de->d_name);
		if (fd < 0)
			continue;
		ssize_t got = read_all(fd, head, sizeof(head));
		close(fd);
		enum img_type type;
		if (got < 0 || img_identify(head, got, de->d_name, &type)) {
			pr_info("%s/%s: not an image, skipped", path, de->d_name);
			continue;
		}
		if (n == cap) {
			char **nn = xrealloc(names, (cap = cap * 2 + 16) * sizeof(*names));
			if (!nn) {
				ret = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = xstrdup(de->d_name))) {
			ret = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		xqsort(names, n, sizeof(*names), name_cmp);

	jb_open(j, '{');
	for (size_t i = 0; i < n; i++) {
		size_t mark = j->len;
		int depth = j->depth;
		bool items = j->items[depth];

		jb_key(j, names[i]);
		struct cryo_error err = { 0 };
		struct cryo_error *outer = log_capture_errors(&err);
		int r = show_image(j, dfd, names[i], c);
		log_capture_errors(outer);
		if (r && outer && !outer->msg[0])
			*outer = err;	/* the caller's first error is still the first */
		if (r) {
			/* Replace the partial output with the error. */
			const char *msg = err.msg[0] ? err.msg : NULL;
			j->len = mark;
			j->depth = depth;
			j->items[depth] = items;
			jb_key(j, names[i]);
			jb_open(j, '{');
			jb_key(j, "error");
			jb_str(j, msg ? msg : "unreadable", msg ? strlen(msg) : 10);
			jb_close(j, '}');
			if (!first_err)
				first_err = r;
		}
		if (j->len > (1u << 20) && (ret = out_write(out_fd, j)))
			goto out;
	}
	jb_close(j, '}');
	jb_puts(j, "\n");
	ret = out_write(out_fd, j);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return ret ? ret : first_err;
}

int img_show(const char *path, int out_fd, unsigned flags)
{
	struct show_ctx c = { .flags = flags };
	struct jb j = { .pretty = !(flags & IMG_SHOW_PLAIN) };
	struct stat st;
	int ret;

	if (stat(path, &st))
		return_perror("can't access %s", path);
	if (S_ISDIR(st.st_mode)) {
		ret = show_dir(out_fd, path, &c, &j);
	} else {
		/* the file, opened as images are: relative to its directory */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		const char *base = slash ? slash + 1 : path;
		if (slash)
			*slash = '\0';
		int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return_perror("can't open the directory of %s", path);
		ret = show_image(&j, dfd, base, &c);
		close(dfd);
		if (!ret) {
			jb_puts(&j, "\n");
			ret = out_write(out_fd, &j);
		}
	}
	free(j.p);
	return ret;
}
