/* sk_filter_ebpf_refuse: a UDP socket with an eBPF socket filter
 * (SO_ATTACH_BPF, a BPF_PROG_TYPE_SOCKET_FILTER program that accepts
 * everything).  The kernel can't give the program back from the socket
 * (SO_GET_FILTER answers EACCES), so the dump must refuse instead of
 * restoring the socket without its filter; the process goes on unharmed
 * (the filter still attached). */
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sk_inet_util.h"

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif

int main(int argc, char **argv)
{
	test_doc = "an eBPF socket filter: refused at dump";
	test_init(argc, argv);
	/* r0 = 0xffff (keep the packet); exit */
	struct bpf_insn prog[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0xffff },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insn_cnt = 2;
	a.insns = (uintptr_t)prog;
	a.license = (uintptr_t)"GPL";
	int pfd = syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (pfd < 0 || fd < 0 || setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &pfd, sizeof(pfd)))
		setup_fail("BPF_PROG_LOAD, SO_ATTACH_BPF: %s", strerror(errno));
	close(pfd);
	socklen_t l = 0;
	if (!getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &l) || errno != EACCES)
		setup_fail("SO_GET_FILTER on an eBPF filter does not answer EACCES here");
	test_daemon();
	test_waitsig();
	l = 0;
	if (!getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &l) || errno != EACCES)
		fail("the eBPF filter is gone");
	return test_verdict();
}
