/* files_bpf_refuse: BPF objects cryo can't restore exactly are refused by
 * kind and fd number, and the target goes on unharmed.
 *   --kind ringbuf  a BPF ring buffer map (its contents and positions
 *                   can't be read from outside)
 *   --kind prog     a loaded BPF program (socket filter returning 0)
 * After SIGTERM (the dump refused, the test never stopped running) the
 * object still answers BPF_OBJ_GET_INFO_BY_FD with the same id. */
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *kind = "ringbuf";
TEST_OPTION(kind, string, "ringbuf or prog", 0);

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
	if (!strcmp(kind, "ringbuf")) {
		a.map_type = BPF_MAP_TYPE_RINGBUF;
		a.max_entries = 4096;
		fd = bpf(BPF_MAP_CREATE, &a);
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
	uint32_t id = obj_id(fd, &info, strcmp(kind, "ringbuf") ? sizeof(info.p) : sizeof(info.m));
	if (!id)
		setup_fail("BPF_OBJ_GET_INFO_BY_FD: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	uint32_t now = obj_id(fd, &info, strcmp(kind, "ringbuf") ? sizeof(info.p) : sizeof(info.m));
	if (now != id)
		fail("the %s's id is %u, was %u", kind, now, id);
	pass();
	return 0;
}
