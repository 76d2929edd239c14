/* files_bpfmap: BPF maps (criu's zdtm bpf_hash / bpf_array and more).
 *
 * State built before the checkpoint (bpf(2) directly):
 *   H: hash (u32 -> u64, 64 entries, BPF_F_NO_PREALLOC), 40 patterned
 *      entries, shared with a forked child (same descriptor);
 *   R: a second, read-only descriptor of H (BPF_MAP_GET_FD_BY_ID with
 *      BPF_F_RDONLY);
 *   A: array (u32 -> 24 bytes, 16 entries, BPF_F_RDONLY_PROG), filled,
 *      then frozen;
 *   W: array (u32 -> u32, 8 entries) created BPF_F_WRONLY: its only
 *      descriptor can't read it (the dump must find another way);
 *   P: per-CPU array (u32 -> u32, 4 entries), one value per CPU;
 *   T: LPM trie (prefix + 4 bytes -> u32), three prefixes;
 *   U: LRU hash (u64 -> u32, 32 entries), 20 entries;
 *   Q: per-CPU hash (u32 -> u64 per CPU, 16 entries), 5 entries;
 *   S: hash (u32 -> 64 KiB, 65536 entries, BPF_F_NO_PREALLOC), 3 entries:
 *      a map that may hold 4 GiB of values but holds 192 KiB (the dump
 *      once sized its buffers by max_entries and refused it).
 * After SIGTERM: every map's info (type, key/value size, max_entries,
 * flags, name) is what it was; every key and value is there and no other;
 * A refuses updates (EPERM: frozen) and says frozen; R refuses updates
 * (EPERM) and its file is O_RDONLY; W refuses lookups and is O_WRONLY;
 * an update through H is seen through R (one map) and by the child, whose
 * own update is seen by the parent.
 */
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static long bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static int map_create(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags,
		      const char *name)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ks;
	a.value_size = vs;
	a.max_entries = max;
	a.map_flags = flags;
	snprintf(a.map_name, sizeof(a.map_name), "%s", name);
	int fd = bpf(BPF_MAP_CREATE, &a);
	if (fd < 0)
		setup_fail("BPF_MAP_CREATE %s: %s", name, strerror(errno));
	return fd;
}

static int update(int fd, const void *k, const void *v)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	a.flags = BPF_ANY;
	return bpf(BPF_MAP_UPDATE_ELEM, &a) ? -errno : 0;
}

static int lookup(int fd, const void *k, void *v)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	return bpf(BPF_MAP_LOOKUP_ELEM, &a) ? -errno : 0;
}

static int count_keys(int fd, uint32_t ks)
{
	char cur[64], next[64];
	int n = 0;
	for (void *k = NULL;; k = cur, n++) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = (uintptr_t)k;
		a.next_key = (uintptr_t)next;
		if (bpf(BPF_MAP_GET_NEXT_KEY, &a))
			return errno == ENOENT ? n : -errno;
		memcpy(cur, next, ks);
	}
}

static void info(int fd, struct bpf_map_info *i)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	memset(i, 0, sizeof(*i));
	a.info.bpf_fd = fd;
	a.info.info_len = sizeof(*i);
	a.info.info = (uintptr_t)i;
	if (bpf(BPF_OBJ_GET_INFO_BY_FD, &a))
		memset(i, 0xff, sizeof(*i));
}

static bool same_info(const char *what, const struct bpf_map_info *was,
		      const struct bpf_map_info *now)
{
	if (was->type != now->type || was->key_size != now->key_size ||
	    was->value_size != now->value_size || was->max_entries != now->max_entries ||
	    was->map_flags != now->map_flags || strcmp(was->name, now->name)) {
		fail("%s: map info changed: type %u/%u key %u/%u value %u/%u max %u/%u "
		     "flags %#x/%#x name %s/%s", what, was->type, now->type, was->key_size,
		     now->key_size, was->value_size, now->value_size, was->max_entries,
		     now->max_entries, was->map_flags, now->map_flags, was->name, now->name);
		return false;
	}
	return true;
}

static const char *fdinfo_line(int fd, const char *key)
{
	static char buf[4096];
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = 0;
	char *l = strstr(buf, key);
	if (!l)
		return "";
	char *e = strchr(l, '\n');
	if (e)
		*e = 0;
	return l;
}

static uint64_t hval(uint32_t k)
{
	return 0x0101010100000000ull * (k & 0xff) + k * 2654435761u;
}

#define H_N 40
#define ARR_N 16
#define W_N 8
#define P_N 4
#define U_N 20
#define Q_N 5
#define S_N 3
#define S_VS 65536

struct lpm_key {
	uint32_t prefixlen;
	uint8_t data[4];
};

static const struct lpm_key lpm_keys[] = {
	{ 8, { 10, 0, 0, 0 } }, { 16, { 192, 168, 0, 0 } }, { 32, { 192, 168, 1, 7 } },
};

int main(int argc, char **argv)
{
	test_doc = "BPF maps: hash, array, frozen, read-only and write-only fds, per-CPU, "
		   "LPM trie, LRU, shared";
	test_init(argc, argv);

	int ncpu = sysconf(_SC_NPROCESSORS_CONF);
	FILE *pf = fopen("/sys/devices/system/cpu/possible", "r");
	if (pf) {
		int a0, b0;
		if (fscanf(pf, "%d-%d", &a0, &b0) == 2)
			ncpu = b0 + 1;
		else
			ncpu = 1;
		fclose(pf);
	}

	int h = map_create(BPF_MAP_TYPE_HASH, 4, 8, 64, BPF_F_NO_PREALLOC, "cryo_hash");
	for (uint32_t i = 0; i < H_N; i++) {
		uint32_t k = i * 7 + 3;
		uint64_t v = hval(k);
		if (update(h, &k, &v))
			setup_fail("H update: %s", strerror(errno));
	}
	struct bpf_map_info hi;
	info(h, &hi);
	union bpf_attr ga;
	memset(&ga, 0, sizeof(ga));
	ga.map_id = hi.id;
	ga.open_flags = BPF_F_RDONLY;
	int r = bpf(BPF_MAP_GET_FD_BY_ID, &ga);
	if (r < 0)
		setup_fail("BPF_MAP_GET_FD_BY_ID: %s", strerror(errno));

	int arr = map_create(BPF_MAP_TYPE_ARRAY, 4, 24, ARR_N, BPF_F_RDONLY_PROG, "cryo_arr");
	for (uint32_t k = 0; k < ARR_N; k++) {
		char v[24];
		for (int j = 0; j < 24; j++)
			v[j] = (char)(k * 31 + j);
		if (update(arr, &k, v))
			setup_fail("A update: %s", strerror(errno));
	}
	union bpf_attr fa;
	memset(&fa, 0, sizeof(fa));
	fa.map_fd = arr;
	if (bpf(BPF_MAP_FREEZE, &fa))
		setup_fail("BPF_MAP_FREEZE: %s", strerror(errno));
	struct bpf_map_info ai;
	info(arr, &ai);

	int w = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, W_N, BPF_F_WRONLY, "cryo_wonly");
	for (uint32_t k = 0; k < W_N; k++) {
		uint32_t v = 0xabc00000 + k;
		if (update(w, &k, &v))
			setup_fail("W update: %s", strerror(errno));
	}
	struct bpf_map_info wi;
	info(w, &wi);

	int p = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, P_N, 0, "cryo_pcpu");
	uint64_t *pv = calloc(ncpu, 8);
	for (uint32_t k = 0; k < P_N; k++) {
		for (int c = 0; c < ncpu; c++)
			pv[c] = 1000 * k + c + 1;
		if (update(p, &k, pv))
			setup_fail("P update: %s", strerror(errno));
	}
	struct bpf_map_info pi;
	info(p, &pi);

	int t = map_create(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct lpm_key), 4, 16,
			   BPF_F_NO_PREALLOC, "cryo_lpm");
	for (uint32_t i = 0; i < 3; i++) {
		uint32_t v = 77 + i;
		if (update(t, &lpm_keys[i], &v))
			setup_fail("T update: %s", strerror(errno));
	}
	struct bpf_map_info ti;
	info(t, &ti);

	sigset_t u2;
	sigemptyset(&u2);
	sigaddset(&u2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &u2, NULL);
	int u = map_create(BPF_MAP_TYPE_LRU_HASH, 8, 4, 32, 0, "cryo_lru");
	for (uint64_t i = 0; i < U_N; i++) {
		uint64_t uk = 0x100000000ull * i + 17;
		uint32_t uv = (uint32_t)i * 3 + 1;
		if (update(u, &uk, &uv))
			setup_fail("U update: %s", strerror(errno));
	}
	struct bpf_map_info ui;
	info(u, &ui);

	int q = map_create(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, 0, "cryo_pchash");
	for (uint32_t qk = 100; qk < 100 + Q_N; qk++) {
		for (int c = 0; c < ncpu; c++)
			pv[c] = 0x10000ull * qk + c;
		if (update(q, &qk, pv))
			setup_fail("Q update: %s", strerror(errno));
	}
	struct bpf_map_info qi;
	info(q, &qi);

	int sm = map_create(BPF_MAP_TYPE_HASH, 4, S_VS, 65536, BPF_F_NO_PREALLOC, "cryo_sparse");
	static uint8_t sv[S_VS];
	for (uint32_t sk = 0; sk < S_N; sk++) {
		for (size_t j = 0; j < S_VS; j++)
			sv[j] = (uint8_t)(sk * 13 + j / 7);
		uint32_t key = sk * 1000 + 1;
		if (update(sm, &key, sv))
			setup_fail("S update: %s", strerror(errno));
	}
	struct bpf_map_info si;
	info(sm, &si);

	pid_t child = fork();
	if (child < 0)
		setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		test_forked_child();
		int sig;
		if (sigwait(&u2, &sig))
			_exit(1);
		uint32_t k = 1000;
		uint64_t v = 0;
		if (lookup(h, &k, &v) || v != 0x1234)
			_exit(2);
		k = 2000;
		v = 0x5678;
		_exit(update(h, &k, &v) ? 3 : 0);
	}

	test_daemon();
	test_waitsig();

	struct bpf_map_info now;
	info(h, &now);
	same_info("H", &hi, &now);
	info(r, &now);
	same_info("R", &hi, &now);
	info(arr, &now);
	same_info("A", &ai, &now);
	info(w, &now);
	same_info("W", &wi, &now);
	info(p, &now);
	same_info("P", &pi, &now);
	info(t, &now);
	same_info("T", &ti, &now);
	info(u, &now);
	same_info("U", &ui, &now);
	info(q, &now);
	same_info("Q", &qi, &now);
	info(sm, &now);
	same_info("S", &si, &now);

	/* S: the sparse map with large values */
	static uint8_t got[S_VS];
	for (uint32_t sk = 0; sk < S_N; sk++) {
		uint32_t key = sk * 1000 + 1;
		memset(got, 0, sizeof(got));
		bool same = !lookup(sm, &key, got);
		for (size_t j = 0; same && j < S_VS; j++)
			same = got[j] == (uint8_t)(sk * 13 + j / 7);
		if (!same)
			fail("S[%u] differs", key);
	}
	int sn = count_keys(sm, 4);
	if (sn != S_N)
		fail("S has %d keys, expected %d", sn, S_N);

	/* H: every key, through H and through R */
	for (uint32_t i = 0; i < H_N; i++) {
		uint32_t k = i * 7 + 3;
		uint64_t v = 0, v2 = 0;
		if (lookup(h, &k, &v) || v != hval(k))
			fail("H[%u] is %#llx (%s), expected %#llx", k, (unsigned long long)v,
			     strerror(errno), (unsigned long long)hval(k));
		if (lookup(r, &k, &v2) || v2 != hval(k))
			fail("R[%u] is %#llx, expected %#llx", k, (unsigned long long)v2,
			     (unsigned long long)hval(k));
	}
	int n = count_keys(h, 4);
	if (n != H_N)
		fail("H has %d keys, expected %d", n, H_N);
	uint32_t k = 1000;
	uint64_t v = 0x1234;
	if (update(r, &k, &v) != -EPERM)
		fail("an update through the read-only R did not fail with EPERM");
	if ((fcntl(r, F_GETFL) & O_ACCMODE) != O_RDONLY)
		fail("R is not O_RDONLY any more");
	if (update(h, &k, &v))
		fail("update through H: %s", strerror(errno));
	v = 0;
	if (lookup(r, &k, &v) || v != 0x1234)
		fail("an update through H is not seen through R (%#llx): not one map",
		     (unsigned long long)v);

	/* A: frozen, its contents */
	for (uint32_t ak = 0; ak < ARR_N; ak++) {
		char av[24], want[24];
		for (int j = 0; j < 24; j++)
			want[j] = (char)(ak * 31 + j);
		if (lookup(arr, &ak, av) || memcmp(av, want, 24))
			fail("A[%u] differs", ak);
	}
	uint32_t ak = 3;
	char zero[24] = { 0 };
	if (update(arr, &ak, zero) != -EPERM)
		fail("an update of the frozen A did not fail with EPERM");
	if (!strstr(fdinfo_line(arr, "frozen:"), "1"))
		fail("A is not frozen: '%s'", fdinfo_line(arr, "frozen:"));

	/* W: write-only, its contents (read through a readable fd) */
	uint32_t wk = 0, wv;
	if (lookup(w, &wk, &wv) != -EPERM)
		fail("a lookup through the write-only W did not fail with EPERM");
	if ((fcntl(w, F_GETFL) & O_ACCMODE) != O_WRONLY)
		fail("W is not O_WRONLY any more");
	struct bpf_map_info wnow;
	info(w, &wnow);
	memset(&ga, 0, sizeof(ga));
	ga.map_id = wnow.id;
	ga.open_flags = BPF_F_RDONLY;
	int wr = bpf(BPF_MAP_GET_FD_BY_ID, &ga);
	if (wr < 0)
		fail("BPF_MAP_GET_FD_BY_ID for W: %s", strerror(errno));
	for (wk = 0; wr >= 0 && wk < W_N; wk++)
		if (lookup(wr, &wk, &wv) || wv != 0xabc00000 + wk)
			fail("W[%u] is %#x, expected %#x", wk, wv, 0xabc00000 + wk);

	/* P: each CPU's value */
	for (uint32_t pk = 0; pk < P_N; pk++) {
		memset(pv, 0, ncpu * 8);
		if (lookup(p, &pk, pv))
			fail("P[%u]: %s", pk, strerror(errno));
		for (int c = 0; c < ncpu; c++)
			if (pv[c] != 1000 * pk + c + 1)
				fail("P[%u] on CPU %d is %llu, expected %u", pk, c,
				     (unsigned long long)pv[c], 1000 * pk + c + 1);
	}

	/* T: exact prefixes and a longest-prefix match */
	for (uint32_t i = 0; i < 3; i++) {
		uint32_t tv = 0;
		if (lookup(t, &lpm_keys[i], &tv) || tv != 77 + i)
			fail("T prefix %u is %u, expected %u", i, tv, 77 + i);
	}
	struct lpm_key lq = { 32, { 192, 168, 1, 9 } };
	uint32_t tv = 0;
	if (lookup(t, &lq, &tv) || tv != 78)
		fail("T: 192.168.1.9 matched %u, expected 78 (the /16)", tv);
	if ((n = count_keys(t, sizeof(struct lpm_key))) != 3)
		fail("T has %d prefixes, expected 3", n);

	/* U: LRU hash */
	for (uint64_t i = 0; i < U_N; i++) {
		uint64_t uk = 0x100000000ull * i + 17;
		uint32_t uv = 0;
		if (lookup(u, &uk, &uv) || uv != (uint32_t)i * 3 + 1)
			fail("U[%llu] is %u, expected %u", (unsigned long long)uk, uv,
			     (uint32_t)i * 3 + 1);
	}
	if ((n = count_keys(u, 8)) != U_N)
		fail("U has %d keys, expected %d", n, U_N);

	/* Q: per-CPU hash */
	for (uint32_t qk = 100; qk < 100 + Q_N; qk++) {
		memset(pv, 0, ncpu * 8);
		if (lookup(q, &qk, pv))
			fail("Q[%u]: %s", qk, strerror(errno));
		for (int c = 0; c < ncpu; c++)
			if (pv[c] != 0x10000ull * qk + c)
				fail("Q[%u] on CPU %d is %#llx", qk, c, (unsigned long long)pv[c]);
	}
	if ((n = count_keys(q, 4)) != Q_N)
		fail("Q has %d keys, expected %d", n, Q_N);

	/* the child shares H */
	kill(child, SIGUSR2);
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child failed (status %#x): it does not share H", st);
	k = 2000;
	v = 0;
	if (lookup(h, &k, &v) || v != 0x5678)
		fail("the child's update is not seen in H (%#llx)", (unsigned long long)v);
	pass();
	return 0;
}
