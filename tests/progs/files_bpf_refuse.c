/* files_bpf_refuse: BPF objects cryo can't restore exactly are refused by
 * kind and fd number, and the target goes on unharmed.
 *   --kind ringbuf  a BPF ring buffer map (its contents and positions
 *                   can't be read from outside)
 *   --kind prog     a loaded BPF program (socket filter returning 0)
 *   --kind mmap     a mapping of an mmapable BPF array (the descriptor
 *                   alone would be restored, the mapping can't be)
 * After SIGTERM (the dump refused, the test never stopped running) the
 * object still answers BPF_OBJ_GET_INFO_BY_FD with the same id. */
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *kind = "ringbuf";
TEST_OPTION(kind, string, "ringbuf, prog or mmap", 0);

static long bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

/* the object's id, 0 on failure; @info is a bpf_map_info or bpf_prog_info */
static uint32_t obj_id(int fd, void *info, uint32_t len)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	memset(info, 0, len);
	a.info.bpf_fd = fd;
	a.info.info_len = len;
	a.info.info = (uintptr_t)info;
	if (bpf(BPF_OBJ_GET_INFO_BY_FD, &a))
		return 0;
	return *(uint32_t *)((char *)info + 4);	/* both start with type, id */
}

int main(int argc, char **argv)
{
	test_doc = "BPF ring buffers and programs are refused";
	test_init(argc, argv);
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	int fd;
	uint64_t *mem = NULL;
	if (!strcmp(kind, "ringbuf")) {
		a.map_type = BPF_MAP_TYPE_RINGBUF;
		a.max_entries = 4096;
		fd = bpf(BPF_MAP_CREATE, &a);
	} else if (!strcmp(kind, "mmap")) {
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 8;
		a.max_entries = 512;
		a.map_flags = BPF_F_MMAPABLE;
		fd = bpf(BPF_MAP_CREATE, &a);
		if (fd >= 0) {
			mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (mem == MAP_FAILED)
				setup_fail("mmap of the BPF array: %s", strerror(errno));
			mem[5] = 4242;
		}
	} else {
		struct bpf_insn insns[] = {
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
			{ .code = BPF_JMP | BPF_EXIT },
		};
		a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
		a.insns = (uintptr_t)insns;
		a.insn_cnt = 2;
		a.license = (uintptr_t)"GPL";
		fd = bpf(BPF_PROG_LOAD, &a);
	}
	if (fd < 0)
		setup_fail("%s: %s", kind, strerror(errno));
	union {
		struct bpf_map_info m;
		struct bpf_prog_info p;
	} info;
	uint32_t id = obj_id(fd, &info, strcmp(kind, "prog") ? sizeof(info.m) : sizeof(info.p));
	if (!id)
		setup_fail("BPF_OBJ_GET_INFO_BY_FD: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	uint32_t now = obj_id(fd, &info, strcmp(kind, "prog") ? sizeof(info.m) : sizeof(info.p));
	if (now != id)
		fail("the %s's id is %u, was %u", kind, now, id);
	if (mem) {
		/* the mapping still is the map: a value written there is read back */
		uint32_t k = 5;
		uint64_t v = 0;
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = (uintptr_t)&k;
		a.value = (uintptr_t)&v;
		if (bpf(BPF_MAP_LOOKUP_ELEM, &a) || v != 4242)
			fail("the mapped BPF array's element 5 is %llu, not 4242",
			     (unsigned long long)v);
	}
	pass();
	return 0;
}
