/* BPF maps (anon_inode:bpf-map), in criu's images: a bpfmap_file_entry per
 * open file description in files.img, and the contents of each map (one
 * entry per map id, whatever number of descriptions or processes hold it)
 * in bpfmap-data.img, its keys then its values.
 *
 * Only plain data maps are done: hash, array, their per-CPU and LRU forms
 * and LPM tries.  Everything a restore could not make exactly the same is
 * refused at dump: maps that hold other kernel objects (programs, maps,
 * sockets, perf events...), queues and stacks (reading them empties them),
 * ring buffers and bloom filters (no way to read them), maps with BTF (the
 * BTF object would have to be restored too) and offloaded ones.
 *
 * The attributes come from the fdinfo text (map_type, key_size,
 * value_size, max_entries, map_flags, map_extra, memlock, map_id, frozen)
 * and BPF_OBJ_GET_INFO_BY_FD (name, ifindex, BTF ids).  BPF_F_RDONLY and
 * BPF_F_WRONLY belong to a descriptor, not to the map (the kernel drops
 * them from map_flags): the descriptor's access mode (its O_ACCMODE) says
 * them.
 *
 * Restore, in cryo: BPF_MAP_CREATE with the saved attributes, filled with
 * BPF_MAP_UPDATE_ELEM, BPF_MAP_FREEZE if it was frozen; that descriptor is
 * kept until the restore ends.  Each open file description is then a
 * BPF_MAP_GET_FD_BY_ID of the new map with its own access mode (so two
 * descriptions stay two, and a read-only one stays read-only); this needs
 * CAP_SYS_ADMIN, as BPF_MAP_CREATE needs CAP_BPF.  The new map has another
 * id: ids are the kernel's. */
#include "files/events-int.h"
#include "util/log.h"
#include "util/util.h"

#include "bpfmap-data.pb-c.h"
#include "bpfmap-file.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static bool map_type_percpu(uint32_t t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool map_type_lru(uint32_t t)
{
	return t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* Why a map of type @t can't be dumped, or NULL when it can. */
static const char *map_type_refusal(uint32_t t)
{
	switch (t) {
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_LPM_TRIE:
		return NULL;
	case BPF_MAP_TYPE_QUEUE:
	case BPF_MAP_TYPE_STACK:
		return "a queue or stack map can only be read by popping its elements, which "
		       "would change the running map";
	case BPF_MAP_TYPE_RINGBUF:
	case BPF_MAP_TYPE_USER_RINGBUF:
		return "a ring buffer's contents and positions can't be read from outside";
	case BPF_MAP_TYPE_BLOOM_FILTER:
		return "a bloom filter's bits can't be read";
	case BPF_MAP_TYPE_PROG_ARRAY:
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
	case BPF_MAP_TYPE_HASH_OF_MAPS:
	case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
	case BPF_MAP_TYPE_SOCKMAP:
	case BPF_MAP_TYPE_SOCKHASH:
	case BPF_MAP_TYPE_REUSEPORT_SOCKARRAY:
	case BPF_MAP_TYPE_DEVMAP:
	case BPF_MAP_TYPE_DEVMAP_HASH:
	case BPF_MAP_TYPE_CPUMAP:
	case BPF_MAP_TYPE_XSKMAP:
	case BPF_MAP_TYPE_CGROUP_ARRAY:
	case BPF_MAP_TYPE_STACK_TRACE:
		return "its values are other kernel objects (programs, maps, sockets, "
		       "devices, perf events, cgroups or stack traces), which cryo does not "
		       "checkpoint";
	default:
		return "cryo restores only plain data maps (hash, array, their per-CPU and "
		       "LRU forms, LPM tries)";
	}
}

/* Map flags a restore passes on to BPF_MAP_CREATE: those that describe the
 * map and that the kernel keeps in map_flags.  The image is input: flags
 * that make the kernel use another field of the call (BPF_F_TOKEN_FD's
 * token descriptor, BPF_F_VTYPE_BTF_OBJ_FD's BTF object) or that cryo
 * does not know are refused, never passed on. */
#define BPFMAP_RESTORE_FLAGS                                                    \
	(BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | \
	 BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_MMAPABLE | BPF_F_INNER_MAP)

/* The number of possible CPUs: a per-CPU map's value holds one slot
 * (rounded up to 8 bytes) for each. */
static int possible_cpus(void)
{
	char buf[256];
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	if (!f)
		return_perror("can't open /sys/devices/system/cpu/possible");
	char *l = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!l)
		return -EIO;
	int n = 0;
	for (char *p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			return -EINVAL;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		n += b - a + 1;
		p = *end == ',' ? end + 1 : end;
	}
	return n > 0 ? n : -EINVAL;
}

/* The size of a value as BPF_MAP_LOOKUP_ELEM / UPDATE_ELEM move it. */
static int value_bytes(uint32_t type, uint32_t value_size, uint64_t *out)
{
	if (!map_type_percpu(type)) {
		*out = value_size;
		return 0;
	}
	int n = possible_cpus();
	if (n < 0)
		return log_errno(n, "can't read the number of possible CPUs");
	*out = (((uint64_t)value_size + 7) & ~7ull) * n;
	return 0;
}

/* --- dump --- */

/* Map ids whose data is already in bpfmap-data.img. */
struct bpfmap_seen {
	uint32_t *id;
	int nr, cap;
};

static int seen_add(struct files_dump *fdm, uint32_t id, bool *fresh)
{
	struct bpfmap_seen *s = fdm->kind_state[FDK_BPFMAP];
	if (!s) {
		s = xzalloc(sizeof(*s));
		if (!s)
			return -ENOMEM;
		fdm->kind_state[FDK_BPFMAP] = s;
	}
	*fresh = false;
	for (int i = 0; i < s->nr; i++)
		if (s->id[i] == id)
			return 0;
	if (s->nr == s->cap) {
		int ncap = s->cap ? s->cap * 2 : 8;
		uint32_t *n = xrealloc(s->id, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->id = n;
		s->cap = ncap;
	}
	s->id[s->nr++] = id;
	*fresh = true;
	return 0;
}

static void bpfmap_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	(void)ok;
	(void)killed;
	struct bpfmap_seen *s = fdm->kind_state[FDK_BPFMAP];
	if (s) {
		free(s->id);
		free(s);
		fdm->kind_state[FDK_BPFMAP] = NULL;
	}
}

static int fdinfo_u64(struct fd_dump *d, const char *key, int base, uint64_t *v)
{
	const char *s = fdinfo_field(d->fdinfo, key);
	char *end;
	if (s) {
		errno = 0;
		*v = strtoull(s, &end, base);
		if (!errno && end != s)
			return 0;
	}
	pr_err(FD_FMT " is a BPF map, but its fdinfo has no %s (a kernel without it is too "
	       "old for cryo's BPF map support)", FD_ARGS(d), key);
	return -EINVAL;
}

/* Every key and value of the map behind @mfd (readable), into
 * bpfmap-data.img under @map_id. */
static int bpfmap_data_dump(struct fd_dump *d, int mfd, uint32_t map_id, uint32_t type,
			    uint32_t key_size, uint64_t vsize, uint32_t max_entries)
{
	/* the buffers grow with what the map holds, not with max_entries (a
	 * sparse hash map may allow far more entries than memory); the image
	 * holds at most 4 GiB of keys and of values */
	uint64_t lim = max_entries;
	lim = MIN(lim, UINT32_MAX / (key_size ? key_size : 1));
	lim = MIN(lim, UINT32_MAX / (vsize ? vsize : 1));
	uint32_t cap = 0, n = 0;
	char *keys = NULL, *vals = NULL;
	char *cur = xmalloc(key_size ? key_size : 1);
	int ret = 0;
	if (!cur) {
		ret = -ENOMEM;
		goto out;
	}
	bool first = true;
	for (;;) {
		if (n == cap && n < lim) {
			/* from about 1 MiB, doubling */
			uint64_t first_cap = MAX((1 << 20) / ((uint64_t)key_size + vsize + 1), 1);
			uint32_t ncap = (uint32_t)MIN(lim, cap ? (uint64_t)cap * 2 : first_cap);
			char *nk = xrealloc(keys, MAX((uint64_t)ncap * key_size, 1));
			if (nk)
				keys = nk;
			char *nv = nk ? xrealloc(vals, MAX((uint64_t)ncap * vsize, 1)) : NULL;
			if (!nv) {
				ret = -ENOMEM;
				goto out;
			}
			vals = nv;
			cap = ncap;
		}
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_fd = mfd;
		a.key = first ? 0 : (uintptr_t)cur;
		a.next_key = (uintptr_t)(keys + (uint64_t)n * key_size);
		if (n == lim) {
			/* one more key than fits: the map changed under us, or
			 * it holds more than the image can */
			a.next_key = (uintptr_t)cur;
			if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a) == 0) {
				if (lim < max_entries) {
					pr_err(FD_FMT " is a BPF map (id %u) with more than %u entries "
					       "of %u+%" PRIu64 " bytes: more than bpfmap-data.img's "
					       "4 GiB of keys or values", FD_ARGS(d), map_id, n,
					       key_size, vsize);
					ret = -EFBIG;
				} else {
					pr_err(FD_FMT ": BPF map %u has more than its %u entries while "
					       "it is read (changed by someone outside the tree?)",
					       FD_ARGS(d), map_id, max_entries);
					ret = -EAGAIN;
				}
				goto out;
			}
			if (errno != ENOENT) {
				ret = -errno;
				pr_perror(FD_FMT ": BPF_MAP_GET_NEXT_KEY on map %u", FD_ARGS(d), map_id);
			}
			break;
		}
		if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a)) {
			if (errno == ENOENT)
				break;
			ret = -errno;
			pr_perror(FD_FMT ": BPF_MAP_GET_NEXT_KEY on map %u", FD_ARGS(d), map_id);
			goto out;
		}
		char *key = keys + (uint64_t)n * key_size;
		memset(&a, 0, sizeof(a));
		a.map_fd = mfd;
		a.key = (uintptr_t)key;
		a.value = (uintptr_t)(vals + (uint64_t)n * vsize);
		if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a)) {
			/* deleted between the two calls (by a program, or a
			 * process outside the tree): it is gone; the walk goes
			 * on from the last key read (from a key no longer in
			 * the map the kernel would start again from the first,
			 * reading every key twice) */
			if (errno == ENOENT && type != BPF_MAP_TYPE_ARRAY &&
			    type != BPF_MAP_TYPE_PERCPU_ARRAY)
				continue;
			ret = -errno;
			pr_perror(FD_FMT ": BPF_MAP_LOOKUP_ELEM on map %u", FD_ARGS(d), map_id);
			goto out;
		}
		first = false;
		memcpy(cur, key, key_size);
		n++;
	}
	if (ret)
		goto out;
	BpfmapDataEntry de = BPFMAP_DATA_ENTRY__INIT;
	de.has_map_id = de.has_keys_bytes = de.has_values_bytes = de.has_count = 1;
	de.map_id = map_id;
	de.count = n;
	de.keys_bytes = n * key_size;
	de.values_bytes = n * vsize;
	struct cr_img *img;
	ret = files_dump_img(d->fdm, IMG_BPFMAP_DATA, &img);
	if (!ret)
		ret = img_write_msg(img, &de.base);
	if (!ret && de.keys_bytes)
		ret = img_write_raw(img, keys, de.keys_bytes);
	if (!ret && de.values_bytes)
		ret = img_write_raw(img, vals, de.values_bytes);
	if (!ret)
		pr_debug("BPF map %u: %u entries, %u bytes of keys, %u of values", map_id, n,
			 de.keys_bytes, de.values_bytes);
out:
	free(keys);
	free(vals);
	free(cur);
	return ret;
}

static int bpfmap_dump(struct fd_dump *d)
{
	uint64_t type, key_size, value_size, max_entries, map_flags, map_extra = 0, memlock, map_id,
		frozen;
	int ret = fdinfo_u64(d, "map_type:", 10, &type);
	if (!ret)
		ret = fdinfo_u64(d, "key_size:", 10, &key_size);
	if (!ret)
		ret = fdinfo_u64(d, "value_size:", 10, &value_size);
	if (!ret)
		ret = fdinfo_u64(d, "max_entries:", 10, &max_entries);
	if (!ret)
		ret = fdinfo_u64(d, "map_flags:", 16, &map_flags);
	if (!ret && fdinfo_field(d->fdinfo, "map_extra:"))
		ret = fdinfo_u64(d, "map_extra:", 16, &map_extra);
	if (!ret)
		ret = fdinfo_u64(d, "memlock:", 10, &memlock);
	if (!ret)
		ret = fdinfo_u64(d, "map_id:", 10, &map_id);
	if (!ret)
		ret = fdinfo_u64(d, "frozen:", 10, &frozen);
	if (ret)
		return ret;
	const char *why = map_type_refusal(type);
	if (why) {
		pr_err(FD_FMT " is a BPF map of type %" PRIu64 " (id %" PRIu64 "), which cryo can't "
		       "dump: %s", FD_ARGS(d), type, map_id, why);
		return -EOPNOTSUPP;
	}
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	struct bpf_map_info info;
	memset(&info, 0, sizeof(info));
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = lfd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)&info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a))
		return_perror(FD_FMT ": BPF_OBJ_GET_INFO_BY_FD on BPF map %" PRIu64, FD_ARGS(d),
			      map_id);
	if (info.btf_id || info.btf_vmlinux_value_type_id) {
		pr_err(FD_FMT " is BPF map %" PRIu64 " \"%s\", which carries BTF type information "
		       "(BTF object %u): cryo can't restore BTF objects, so the map can't be "
		       "made the same (create it without BTF to checkpoint it)", FD_ARGS(d),
		       map_id, info.name, info.btf_id);
		return -EOPNOTSUPP;
	}
	if (info.ifindex) {
		pr_err(FD_FMT " is BPF map %" PRIu64 " \"%s\", offloaded to network device %u: "
		       "cryo can't read or make offloaded maps", FD_ARGS(d), map_id, info.name,
		       info.ifindex);
		return -EOPNOTSUPP;
	}
	uint64_t unknown = map_flags & ~(uint64_t)(BPFMAP_RESTORE_FLAGS | BPF_F_RDONLY | BPF_F_WRONLY);
	if (unknown) {
		pr_err(FD_FMT " is BPF map %" PRIu64 " \"%s\" with map flags %#" PRIx64 ", of which "
		       "cryo does not know %#" PRIx64 ": it can't make such a map the same",
		       FD_ARGS(d), map_id, info.name, map_flags, unknown);
		return -EOPNOTSUPP;
	}
	if (map_flags & BPF_F_MMAPABLE) {
		/* its values may be written through a mapping while the
		 * tree runs; the mapping itself is refused by the memory
		 * dump, the map alone is fine */
		pr_debug(FD_FMT ": BPF map %" PRIu64 " is mmapable", FD_ARGS(d), map_id);
	}

	FileEntry fe = FILE_ENTRY__INIT;
	BpfmapFileEntry e = BPFMAP_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	ret = fd_dump_fown(d, &fown);
	if (ret)
		return ret;
	e.has_id = e.has_flags = e.has_pos = e.has_map_type = e.has_key_size = 1;
	e.has_value_size = e.has_map_id = e.has_max_entries = e.has_map_flags = 1;
	e.has_memlock = e.has_frozen = e.has_ifindex = e.has_map_extra = 1;
	e.id = d->id;
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.pos = 0;
	e.fown = &fown;
	e.map_type = type;
	e.key_size = key_size;
	e.value_size = value_size;
	e.map_id = map_id;
	e.max_entries = max_entries;
	e.map_flags = map_flags;
	e.memlock = memlock;
	e.frozen = frozen != 0;
	e.map_name = info.name;
	e.ifindex = 0;
	e.map_extra = map_extra;
	fe.bpf = &e;
	ret = files_emit(d, &fe);
	if (ret)
		return ret;

	bool fresh;
	ret = seen_add(d->fdm, map_id, &fresh);
	if (ret || !fresh)
		return ret;
	uint64_t vsize;
	ret = value_bytes(type, value_size, &vsize);
	if (ret)
		return ret;
	/* a write-only descriptor can't read the map: a read-only one of
	 * the same map, by id (CAP_SYS_ADMIN) */
	int rfd = lfd;
	if ((d->fi.flags & O_ACCMODE) == O_WRONLY) {
		memset(&a, 0, sizeof(a));
		a.map_id = map_id;
		a.open_flags = BPF_F_RDONLY;
		rfd = sys_bpf(BPF_MAP_GET_FD_BY_ID, &a);
		if (rfd < 0)
			return_perror(FD_FMT " is a write-only descriptor of BPF map %" PRIu64
				      ": can't get a readable one by its id to read its contents "
				      "(BPF_MAP_GET_FD_BY_ID needs CAP_SYS_ADMIN)", FD_ARGS(d),
				      map_id);
	}
	ret = bpfmap_data_dump(d, rfd, map_id, type, key_size, vsize, max_entries);
	if (rfd != lfd)
		close(rfd);
	return ret;
}

/* --- restore --- */

/* One map's saved contents, and the map once made. */
struct bpfmap_rst_map {
	uint32_t map_id;		/* at dump time */
	uint32_t count, keys_bytes, values_bytes;
	char *data;			/* keys then values */
	int fd;				/* the made map, read-write; -1 before */
	uint32_t new_id;
};

struct bpfmap_rst {
	struct bpfmap_rst_map *m;
	int nr;
	bool loaded;
};

static void bpfmap_restore_finish(struct files_restore *fr, bool ok)
{
	(void)ok;
	struct bpfmap_rst *s = fr->kind_state[FDK_BPFMAP];
	if (!s)
		return;
	for (int i = 0; i < s->nr; i++) {
		free(s->m[i].data);
		if (s->m[i].fd >= 0)
			close(s->m[i].fd);
	}
	free(s->m);
	free(s);
	fr->kind_state[FDK_BPFMAP] = NULL;
}

static int bpfmap_data_load(struct files_restore *fr, struct bpfmap_rst *s)
{
	struct cr_img *img;
	s->loaded = true;
	int ret = img_open(&img, fr->dirfd, IMG_BPFMAP_DATA, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		BpfmapDataEntry *de;
		ret = img_read_msg(img, &bpfmap_data_entry__descriptor, (ProtobufCMessage **)&de);
		if (ret <= 0)
			break;
		struct bpfmap_rst_map m = { .map_id = de->map_id, .count = de->count,
					    .keys_bytes = de->keys_bytes,
					    .values_bytes = de->values_bytes, .fd = -1 };
		protobuf_c_message_free_unpacked(&de->base, NULL);
		uint64_t total = (uint64_t)m.keys_bytes + m.values_bytes;
		long long left = img_bytes_left(img);
		if (left >= 0 && total > (unsigned long long)left) {
			pr_err("bpfmap-data.img: BPF map %u claims %" PRIu64 " bytes of keys and "
			       "values, the image holds %lld more (damaged images)", m.map_id,
			       total, left);
			ret = -EINVAL;
			break;
		}
		m.data = xmalloc(total ? total : 1);
		if (!m.data) {
			ret = -ENOMEM;
			break;
		}
		ret = img_read_raw(img, m.data, total);
		struct bpfmap_rst_map *n = ret ? NULL : xrealloc(s->m, (s->nr + 1) * sizeof(*n));
		if (!n) {
			free(m.data);
			ret = ret ? ret : -ENOMEM;
			break;
		}
		s->m = n;
		s->m[s->nr++] = m;
	}
	img_close(img);
	return ret < 0 ? ret : 0;
}

/* Create, fill and freeze the map of @e (once per saved map id). */
static int bpfmap_make(struct files_restore *fr, const BpfmapFileEntry *e,
		       struct bpfmap_rst_map **out)
{
	struct bpfmap_rst *s = fr->kind_state[FDK_BPFMAP];
	if (!s) {
		s = xzalloc(sizeof(*s));
		if (!s)
			return -ENOMEM;
		fr->kind_state[FDK_BPFMAP] = s;
	}
	if (!s->loaded) {
		int ret = bpfmap_data_load(fr, s);
		if (ret)
			return ret;
	}
	struct bpfmap_rst_map *m = NULL;
	for (int i = 0; i < s->nr; i++)
		if (s->m[i].map_id == e->map_id)
			m = &s->m[i];
	if (!m) {
		pr_err("bpfmap-data.img has no contents for BPF map %u (damaged or missing image)",
		       e->map_id);
		return -EINVAL;
	}
	*out = m;
	if (m->fd >= 0)
		return 0;
	const char *why = map_type_refusal(e->map_type);
	if (why) {
		pr_err("BPF map %u is of type %u, which cryo can't restore: %s", e->map_id,
		       e->map_type, why);
		return -EOPNOTSUPP;
	}
	if (e->ifindex) {
		pr_err("BPF map %u is offloaded to a network device: cryo can't restore it",
		       e->map_id);
		return -EOPNOTSUPP;
	}
	uint32_t flags = e->map_flags & ~(BPF_F_RDONLY | BPF_F_WRONLY);
	if (flags & ~BPFMAP_RESTORE_FLAGS) {
		pr_err("BPF map %u has map flags %#x, of which %#x are not ones a dump of a plain "
		       "data map saves (damaged or forged images)", e->map_id, e->map_flags,
		       flags & ~BPFMAP_RESTORE_FLAGS);
		return -EINVAL;
	}
	uint64_t vsize;
	int ret = value_bytes(e->map_type, e->value_size, &vsize);
	if (ret)
		return ret;
	if ((uint64_t)m->count * e->key_size != m->keys_bytes ||
	    (uint64_t)m->count * vsize != m->values_bytes || m->count > e->max_entries) {
		pr_err("BPF map %u: %u entries of %u+%" PRIu64 " bytes do not match the %u+%u "
		       "bytes saved (per-CPU values: the dump had another number of possible "
		       "CPUs; else damaged images)", e->map_id, m->count, e->key_size, vsize,
		       m->keys_bytes, m->values_bytes);
		return -EINVAL;
	}
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = e->map_type;
	a.key_size = e->key_size;
	a.value_size = e->value_size;
	a.max_entries = e->max_entries;
	/* read-write here; each description gets its own mode below */
	a.map_flags = flags;
	a.map_extra = e->map_extra;
	if (e->map_name)
		snprintf(a.map_name, sizeof(a.map_name), "%s", e->map_name);
	int fd = sys_bpf(BPF_MAP_CREATE, &a);
	if (fd < 0)
		return_perror("BPF_MAP_CREATE for BPF map %u \"%s\" (type %u, flags %#x) "
			      "(needs CAP_BPF, or CAP_SYS_ADMIN)", e->map_id,
			      e->map_name ? e->map_name : "", e->map_type, e->map_flags);
	for (uint32_t i = 0; i < m->count && !ret; i++) {
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = (uintptr_t)(m->data + (uint64_t)i * e->key_size);
		a.value = (uintptr_t)(m->data + m->keys_bytes + (uint64_t)i * vsize);
		a.flags = BPF_ANY;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a)) {
			ret = -errno;
			pr_perror("can't put entry %u of %u back into BPF map %u", i, m->count,
				  e->map_id);
		}
	}
	if (!ret && map_type_lru(e->map_type)) {
		/* an LRU map may evict while filled (per-CPU free lists):
		 * every entry must still be there */
		char *v = xmalloc(vsize ? vsize : 1);
		for (uint32_t i = 0; v && i < m->count && !ret; i++) {
			memset(&a, 0, sizeof(a));
			a.map_fd = fd;
			a.key = (uintptr_t)(m->data + (uint64_t)i * e->key_size);
			a.value = (uintptr_t)v;
			if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a)) {
				ret = -errno;
				pr_perror("LRU BPF map %u lost entry %u of %u while it was filled "
					  "(evicted)", e->map_id, i, m->count);
			}
		}
		if (!v)
			ret = -ENOMEM;
		free(v);
	}
	if (!ret && e->frozen) {
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		if (sys_bpf(BPF_MAP_FREEZE, &a)) {
			ret = -errno;
			pr_perror("BPF_MAP_FREEZE on BPF map %u", e->map_id);
		}
	}
	struct bpf_map_info info;
	if (!ret) {
		memset(&info, 0, sizeof(info));
		memset(&a, 0, sizeof(a));
		a.info.bpf_fd = fd;
		a.info.info_len = sizeof(info);
		a.info.info = (uintptr_t)&info;
		if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a)) {
			ret = -errno;
			pr_perror("BPF_OBJ_GET_INFO_BY_FD on the new BPF map %u", e->map_id);
		}
	}
	if (ret) {
		close(fd);
		return ret;
	}
	m->fd = fd;
	m->new_id = info.id;
	pr_debug("BPF map %u made as map %u with %u entries%s", e->map_id, m->new_id, m->count,
		 e->frozen ? ", frozen" : "");
	return 0;
}

static int bpfmap_open(struct files_restore *fr, struct rst_file *f)
{
	const BpfmapFileEntry *e = f->fe->bpf;
	if (!e) {
		pr_err("files.img: BPF map file %u has no bpf entry", f->fe->id);
		return -EINVAL;
	}
	char what[48];
	snprintf(what, sizeof(what), "BPF map %u (file %u)", e->map_id, f->fe->id);
	struct bpfmap_rst_map *m;
	int ret = bpfmap_make(fr, e, &m);
	if (ret)
		return ret;
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_id = m->new_id;
	switch (e->flags & O_ACCMODE) {
	case O_RDONLY:
		a.open_flags = BPF_F_RDONLY;
		break;
	case O_WRONLY:
		a.open_flags = BPF_F_WRONLY;
		break;
	}
	/* its own open file description, with its own access mode */
	int fd = sys_bpf(BPF_MAP_GET_FD_BY_ID, &a);
	if (fd < 0)
		return_perror("BPF_MAP_GET_FD_BY_ID for %s (the new map %u; needs "
			      "CAP_SYS_ADMIN)", what, m->new_id);
	return files_rst_adopt(f, fd, 0, e->flags, e->fown, what);
}

const struct fd_kind fdk_bpfmap = {
	.name = "BPF map",
	.fd_type = FD_TYPES__BPFMAP,
	.dump = bpfmap_dump,
	.open = bpfmap_open,
	.dump_finish = bpfmap_dump_finish,
	.restore_finish = bpfmap_restore_finish,
};
