/* kerndat: feature table, result cache and helpers for the probes. */
#include "kerndat/kerndat-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct kdat_entry {
	struct kdat_info info;
	void (*probe)(void);
	const char *aliases[3];
};

#define CAP_HINT "run as root (CAP_CHECKPOINT_RESTORE, or CAP_SYS_ADMIN on kernels before 5.9)"

static const struct kdat_entry table[KF__MAX] = {
	[KF_PTRACE_SEIZE] = { { "ptrace_seize", "PTRACE_SEIZE + PTRACE_INTERRUPT with O_TRACECLONE/O_EXITKILL",
		"dump, pre-dump (freezing and inspecting tasks)",
		"CAP_SYS_PTRACE; kernel.yama.ptrace_scope <= 2; no LSM denying ptrace", true, false },
		kdat_probe_ptrace, { "ptrace" } },
	[KF_PTRACE_XSTATE] = { { "ptrace_xstate", "PTRACE_GETREGSET NT_X86_XSTATE (FPU/SSE/AVX state)",
		"dump (FPU and vector registers)", "kernel with x86 xsave support", true, false },
		kdat_probe_ptrace, {0} },
	[KF_PTRACE_PEEKSIGINFO] = { { "ptrace_peeksiginfo", "PTRACE_PEEKSIGINFO (pending signals)",
		"dump (pending signals)", "kernel >= 3.10", true, false },
		kdat_probe_ptrace, {0} },
	[KF_PTRACE_SIGMASK] = { { "ptrace_sigmask", "PTRACE_GETSIGMASK / PTRACE_SETSIGMASK",
		"dump (blocked signal mask)", "kernel >= 3.11", true, false },
		kdat_probe_ptrace, {0} },
	[KF_PTRACE_RSEQ_CONF] = { { "get_rseq_conf", "PTRACE_GET_RSEQ_CONFIGURATION",
		"dump of tasks with a registered rseq area (glibc >= 2.35 registers one in every thread)",
		"kernel >= 5.13", false, false },
		kdat_probe_ptrace, { "ptrace_get_rseq_conf", "rseq_conf" } },
	[KF_SECCOMP_SUSPEND] = { { "seccomp_suspend", "PTRACE_O_SUSPEND_SECCOMP",
		"dump and restore of tasks under seccomp (injected syscalls must not be filtered)",
		"kernel >= 4.3 with CONFIG_SECCOMP; needs CAP_SYS_ADMIN", false, false },
		kdat_probe_ptrace, {0} },
	[KF_SECCOMP_FILTERS] = { { "seccomp_filters", "PTRACE_SECCOMP_GET_FILTER (dump seccomp BPF filters)",
		"dump of tasks with seccomp filters",
		"kernel >= 4.4 with CONFIG_SECCOMP_FILTER and CONFIG_CHECKPOINT_RESTORE; needs CAP_SYS_ADMIN", false, false },
		kdat_probe_seccomp_filters, {0} },
	[KF_PIDFD_OPEN] = { { "pidfd_open", "pidfd_open(2)",
		"dump (stable task handles), restore", "kernel >= 5.3", true, false },
		kdat_probe_ptrace, {0} },
	[KF_PIDFD_GETFD] = { { "pidfd_getfd", "pidfd_getfd(2) (steal a task's file descriptors)",
		"dump of open files and sockets (cryo has no parasite to send them)",
		"kernel >= 5.6; needs ptrace access to the task", true, false },
		kdat_probe_ptrace, {0} },
	[KF_PIDFD_SEND_SIGNAL] = { { "pidfd_send_signal", "pidfd_send_signal(2)",
		"dump/restore (race-free signalling)", "kernel >= 5.1", false, false },
		kdat_probe_ptrace, {0} },
	[KF_PIDFD_STORE] = { { "pidfd_store", "pidfd_open + pidfd_getfd (criu's pidfd store)",
		"pre-dump / --track-mem across RPC calls (task identity check)", "kernel >= 5.6", false, false },
		kdat_probe_ptrace, {0} },
	[KF_PROCESS_VM] = { { "process_vm", "process_vm_readv / process_vm_writev",
		"dump (fast page reads), restore", "kernel with CONFIG_CROSS_MEMORY_ATTACH", false, true },
		kdat_probe_ptrace, { "process_vm_readv" } },
	[KF_PROC_PID_MEM] = { { "proc_pid_mem", "read/write /proc/PID/mem of a stopped task",
		"dump and restore (memory access without a parasite)", "procfs mounted; ptrace access", false, true },
		kdat_probe_ptrace, {0} },
	[KF_MEM_ACCESS] = { { "task_mem_access", "access to another task's memory (/proc/PID/mem or process_vm_readv)",
		"dump, pre-dump, restore", "kernel with CONFIG_CROSS_MEMORY_ATTACH or procfs; ptrace access", true, false },
		kdat_probe_ptrace, {0} },
	[KF_MAP_FILES] = { { "map_files", "/proc/PID/map_files (open the files behind mappings)",
		"dump of file mappings (deleted and shared files)",
		"CONFIG_CHECKPOINT_RESTORE; " CAP_HINT, true, false },
		kdat_probe_ptrace, {0} },
	[KF_KCMP] = { { "kcmp", "kcmp(2) KCMP_FILE (which fds share a file)",
		"dump (shared files, fd tables, mm/fs/sighand sharing)", "CONFIG_KCMP (or CONFIG_CHECKPOINT_RESTORE)", true, false },
		kdat_probe_ptrace, {0} },
	[KF_KCMP_EPOLL] = { { "kcmp_epoll", "kcmp(2) KCMP_EPOLL_TFD (epoll targets)",
		"dump of epoll instances whose target fd was closed or duplicated", "kernel >= 4.13 with CONFIG_KCMP", false, false },
		kdat_probe_syscalls, {0} },
	[KF_NS_PID] = { { "ns_pid", "NSpid: line in /proc/PID/status",
		"dump of tasks in nested PID namespaces", "kernel >= 4.1", false, false },
		kdat_probe_ns, {0} },
	[KF_MNT_ID] = { { "mnt_id", "mnt_id: in /proc/PID/fdinfo/FD",
		"dump of files (which mount a file lives on)", "kernel >= 3.15", true, false },
		kdat_probe_fdinfo, {0} },
	[KF_FDINFO_LOCK] = { { "fdinfo_lock", "lock: lines in /proc/PID/fdinfo/FD",
		"dump with --file-locks", "kernel >= 4.1", false, false },
		kdat_probe_fdinfo, {0} },
	[KF_POSIX_TIMERS] = { { "posix_timers", "/proc/PID/timers (POSIX timers)",
		"dump of tasks with POSIX timers", "CONFIG_CHECKPOINT_RESTORE and CONFIG_POSIX_TIMERS", false, false },
		kdat_probe_fdinfo, {0} },
	[KF_CLONE3_SET_TID] = { { "clone3_set_tid", "clone3(2) with set_tid (create a task with a chosen PID)",
		"restore (tasks get their old PIDs back)",
		"kernel >= 5.5; " CAP_HINT " in the target PID namespace", true, false },
		kdat_probe_clone3, {0} },
	[KF_PR_SET_MM_MAP] = { { "prctl_mm_map", "prctl(PR_SET_MM, PR_SET_MM_MAP) (set mm layout: brk, args, auxv)",
		"restore", "CONFIG_CHECKPOINT_RESTORE, kernel >= 3.18", true, false },
		kdat_probe_mm_map, { "prctl" } },
	[KF_USERNS] = { { "userns", "user namespaces with PR_SET_MM_MAP",
		"dump and restore of containers with a user namespace", "CONFIG_USER_NS; user.max_user_namespaces > 0",
		false, false },
		kdat_probe_ns, {0} },
	[KF_TIMER_RESTORE_IDS] = { { "timer_cr_ids", "prctl(PR_TIMER_CREATE_RESTORE_IDS) (timer_create with a chosen ID)",
		"restore of POSIX timers with their IDs (otherwise IDs are recreated in order, which may fail)",
		"kernel >= 6.17; " CAP_HINT, false, false },
		kdat_probe_timer_ids, { "posix_timer_ids", "timer_restore_ids" } },
	[KF_TIMERFD] = { { "timerfd", "TFD_IOC_SET_TICKS on a timerfd",
		"restore of timerfds with pending expirations", "CONFIG_CHECKPOINT_RESTORE, kernel >= 3.17", false, false },
		kdat_probe_timerfd, {0} },
	[KF_AIO_REMAP] = { { "aio_remap", "mremap() of an AIO ring keeps it working",
		"restore of tasks with AIO contexts", "kernel >= 3.19 with CONFIG_AIO", false, false },
		kdat_probe_aio_remap, {0} },
	[KF_CAN_MAP_VDSO] = { { "can_map_vdso", "arch_prctl(ARCH_MAP_VDSO_*) (map a vDSO at a chosen address)",
		"restore on a kernel whose vDSO differs from the dumped one (else mremap is used)",
		"x86 kernel >= 4.9 with CONFIG_CHECKPOINT_RESTORE", false, false },
		kdat_probe_vdso, {0} },
	[KF_RSEQ] = { { "rseq", "rseq(2) (restartable sequences)",
		"restore of rseq registrations", "kernel >= 4.18 with CONFIG_RSEQ", false, false },
		kdat_probe_rseq, {0} },
	[KF_MEMFD] = { { "memfd", "memfd_create(2)",
		"dump/restore of memfds; restore of shared anonymous memory", "kernel >= 3.17 with CONFIG_MEMFD_CREATE",
		true, false },
		kdat_probe_memfd, { "memfd_create" } },
	[KF_MEMFD_HUGETLB] = { { "memfd_hugetlb", "memfd_create(MFD_HUGETLB)",
		"dump/restore of hugetlb memfds and hugetlb shared mappings", "kernel >= 4.14 with CONFIG_HUGETLBFS",
		false, false },
		kdat_probe_memfd, {0} },
	[KF_OPENAT2] = { { "openat2", "openat2(2) with RESOLVE_* flags",
		"safe path resolution on restore", "kernel >= 5.6", false, false },
		kdat_probe_syscalls, {0} },
	[KF_MOVE_MOUNT_SET_GROUP] = { { "move_mount_set_group", "move_mount(MOVE_MOUNT_SET_GROUP)",
		"restore of mount propagation groups", "kernel >= 5.15; CAP_SYS_ADMIN", false, false },
		kdat_probe_syscalls, {0} },
	[KF_LOGINUID] = { { "loginuid", "writing /proc/PID/loginuid",
		"restore of the audit login UID", "CONFIG_AUDIT; CAP_AUDIT_CONTROL", false, false },
		kdat_probe_syscalls, {0} },
	[KF_UFFD] = { { "uffd", "userfaultfd(2) with the UFFD_API handshake",
		"--lazy-pages, restore with lazy pages, uffd-based dirty tracking",
		"CONFIG_USERFAULTFD; root or sysctl vm.unprivileged_userfaultfd=1", false, false },
		kdat_probe_uffd, { "userfaultfd" } },
	[KF_DEV_USERFAULTFD] = { { "dev_userfaultfd", "/dev/userfaultfd (USERFAULTFD_IOC_NEW)",
		"userfaultfd when the syscall is restricted", "kernel >= 6.1; access to /dev/userfaultfd", false, true },
		kdat_probe_uffd, {0} },
	[KF_UFFD_NONCOOP] = { { "uffd-noncoop", "non-cooperative userfaultfd (EVENT_FORK/REMAP/REMOVE/UNMAP)",
		"--lazy-pages (the restored task may fork, mremap or munmap)", "kernel >= 4.11 with CONFIG_USERFAULTFD",
		false, false },
		kdat_probe_uffd, { "uffd_noncoop" } },
	[KF_UFFD_WP] = { { "uffd_wp", "userfaultfd write-protect (UFFD_FEATURE_PAGEFAULT_FLAG_WP)",
		"uffd-based dirty tracking (pre-dump, --track-mem)", "kernel >= 5.7 with CONFIG_HAVE_ARCH_USERFAULTFD_WP",
		false, false },
		kdat_probe_uffd, {0} },
	[KF_UFFD_WP_ASYNC] = { { "uffd_wp_async", "asynchronous userfaultfd write-protect (UFFD_FEATURE_WP_ASYNC)",
		"uffd-based dirty tracking (pre-dump, --track-mem)", "kernel >= 6.7", false, false },
		kdat_probe_uffd, {0} },
	[KF_UFFD_WP_UNPOPULATED] = { { "uffd_wp_unpopulated", "write-protect of unpopulated memory (UFFD_FEATURE_WP_UNPOPULATED)",
		"cheaper dirty tracking (no need to populate page tables)", "kernel >= 6.4", false, true },
		kdat_probe_uffd, {0} },
	[KF_PAGEMAP_SCAN] = { { "pagemap_scan", "PAGEMAP_SCAN ioctl on /proc/PID/pagemap",
		"uffd-based dirty tracking; fast scan of present/swapped pages on dump", "kernel >= 6.7", false, false },
		kdat_probe_pagemap_scan, {0} },
	[KF_SOFT_DIRTY] = { { "soft_dirty", "soft-dirty bits (clear_refs 4, pagemap bit 55)",
		"dirty tracking on kernels without uffd-wp async + PAGEMAP_SCAN", "CONFIG_MEM_SOFT_DIRTY (x86, arm64 >= 6.x, ...)",
		false, true },
		kdat_probe_soft_dirty, { "soft-dirty" } },
	[KF_MEM_DIRTY_TRACK] = { { "mem_dirty_track", "dirty memory tracking as cryo does it (uffd-wp async + PAGEMAP_SCAN, else soft-dirty)",
		"pre-dump, dump --track-mem, --prev-images-dir (iterative migration)",
		"kernel >= 6.7 (uffd WP_ASYNC + PAGEMAP_SCAN), or CONFIG_MEM_SOFT_DIRTY", false, false },
		kdat_probe_dirty_track, {0} },
	[KF_LAZY_PAGES] = { { "lazy_pages", "cryo's lazy restore: a kernel-mode userfaultfd with the fork, remap, remove and unmap events and thread ids, missing-page registration and UFFDIO_COPY",
		"restore --lazy-pages, cryo lazy-pages (post-copy migration)",
		"kernel >= 4.14 with CONFIG_USERFAULTFD; root (CAP_SYS_PTRACE) or vm.unprivileged_userfaultfd=1", false, false },
		kdat_probe_uffd_users, {0} },
	[KF_BG_SNAPSHOT] = { { "background_snapshot", "cryo's background snapshot: a kernel-mode userfaultfd with synchronous write-protection and remap events, PAGEMAP_SCAN",
		"dump --leave-running --background-snapshot",
		"kernel >= 6.7 with CONFIG_HAVE_ARCH_USERFAULTFD_WP; the dumped tree needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1", false, false },
		kdat_probe_uffd_users, { "bg_snapshot" } },
	[KF_SOCK_DIAG_UNIX] = { { "sock_diag_unix", "sock_diag for AF_UNIX sockets",
		"dump of unix sockets", "CONFIG_UNIX_DIAG (or load unix_diag.ko)", true, false },
		kdat_probe_sock_diag, {0} },
	[KF_SOCK_DIAG_TCP] = { { "sock_diag_tcp", "sock_diag for TCP sockets",
		"dump of TCP sockets", "CONFIG_INET_DIAG and CONFIG_INET_TCP_DIAG (or load inet_diag.ko, tcp_diag.ko)", true, false },
		kdat_probe_sock_diag, {0} },
	[KF_SOCK_DIAG_UDP] = { { "sock_diag_udp", "sock_diag for UDP sockets",
		"dump of UDP sockets", "CONFIG_INET_UDP_DIAG (or load udp_diag.ko)", true, false },
		kdat_probe_sock_diag, {0} },
	[KF_SOCK_DIAG_INET6] = { { "sock_diag_inet6", "sock_diag for IPv6 TCP/UDP sockets",
		"dump of IPv6 sockets", "CONFIG_IPV6 with the inet diag modules", false, false },
		kdat_probe_sock_diag, {0} },
	[KF_SOCK_DIAG_PACKET] = { { "sock_diag_packet", "sock_diag for AF_PACKET sockets",
		"dump of packet sockets", "CONFIG_PACKET_DIAG (or load af_packet_diag.ko)", false, false },
		kdat_probe_sock_diag, {0} },
	[KF_SOCK_DIAG_NETLINK] = { { "sock_diag_netlink", "sock_diag for AF_NETLINK sockets",
		"dump of netlink sockets", "CONFIG_NETLINK_DIAG (or load netlink_diag.ko)", false, false },
		kdat_probe_sock_diag, {0} },
	[KF_SOCK_DIAG_RAW] = { { "net_diag_raw", "sock_diag for raw IPv4/IPv6 sockets",
		"dump of raw sockets", "CONFIG_INET_RAW_DIAG (or load raw_diag.ko)", false, false },
		kdat_probe_sock_diag, {0} },
	[KF_TCP_REPAIR] = { { "tcp_repair", "TCP_REPAIR socket option",
		"--tcp-established (dump/restore of connected TCP sockets)", "CAP_NET_ADMIN in the socket's network namespace",
		false, false },
		kdat_probe_tcp, { "tcp" } },
	[KF_TCP_REPAIR_WINDOW] = { { "tcp_window", "TCP_REPAIR_WINDOW socket option",
		"--tcp-established (exact window restore)", "kernel >= 4.8; CAP_NET_ADMIN", false, false },
		kdat_probe_tcp, {0} },
	[KF_TCP_HALF_CLOSED] = { { "tcp_half_closed", "TCP_REPAIR on half-closed (FIN_WAIT/CLOSE_WAIT) sockets",
		"--tcp-established with half-closed connections", "kernel >= 4.10; CAP_NET_ADMIN; loopback up", false, false },
		kdat_probe_tcp, {0} },
	[KF_SK_NS] = { { "sk_ns", "SIOCGSKNS (a socket's network namespace)",
		"dump of sockets from other network namespaces", "kernel >= 4.9; CAP_NET_ADMIN", false, false },
		kdat_probe_sockopts, {0} },
	[KF_SK_UNIX_FILE] = { { "sk_unix_file", "SIOCUNIXFILE (the file behind a bound unix socket)",
		"dump of unix sockets bound to overmounted or deleted paths", "kernel >= 6.1; CAP_NET_ADMIN", false, false },
		kdat_probe_sockopts, {0} },
	[KF_SOCKOPT_BUF_LOCK] = { { "sockopt_buf_lock", "SO_BUF_LOCK socket option",
		"dump/restore of locked socket buffer sizes", "kernel >= 5.14", false, false },
		kdat_probe_sockopts, {0} },
	[KF_TUN] = { { "tun", "TUN/TAP devices (/dev/net/tun)",
		"dump/restore of tun/tap devices and their fds", "CONFIG_TUN; /dev/net/tun", false, false },
		kdat_probe_tun, {0} },
	[KF_TUN_NS] = { { "tun_ns", "TUNGETDEVNETNS (a tun device's network namespace)",
		"dump of tun fds whose device is in another network namespace", "kernel >= 5.2 with CONFIG_TUN", false, false },
		kdat_probe_tun, {0} },
	[KF_NSID] = { { "nsid", "network namespace IDs (RTM_GETNSID)",
		"dump/restore of nested network namespaces", "kernel >= 4.0", false, false },
		kdat_probe_netns_links, {0} },
	[KF_LINK_NSID] = { { "link_nsid", "IFLA_LINK_NETNSID (peer namespace of veth and other links)",
		"dump of veth pairs crossing network namespaces", "kernel >= 4.0; CONFIG_VETH for the test", false, false },
		kdat_probe_netns_links, {0} },
	[KF_NEWIFINDEX] = { { "newifindex", "IFLA_NEW_IFINDEX (keep ifindex when moving a link to another netns)",
		"restore of network devices with their ifindex", "kernel >= 5.13; CONFIG_VETH for the test",
		false, false },
		kdat_probe_netns_links, {0} },
	[KF_NFTABLES] = { { "nftables", "nft(8) binary for --network-lock nftables",
		"--network-lock nftables (the default when available)", "install the nftables package", false, false },
		kdat_probe_netfilter, { "network_lock_nftables", "nft" } },
	[KF_IPTABLES] = { { "iptables", "iptables(8)/ip6tables(8) binaries for --network-lock iptables",
		"--network-lock iptables", "install the iptables package", false, true },
		kdat_probe_netfilter, {0} },
	[KF_IPT_LEGACY] = { { "has_ipt_legacy", "iptables-legacy binary",
		"--network-lock iptables on hosts whose iptables is the nft variant", "install iptables (legacy)", false, true },
		kdat_probe_netfilter, { "ipt_legacy" } },
	[KF_EXTERNAL_NET_NS] = { { "external_net_ns", "--external net[INODE]:NAME support (cryo feature)",
		"restore into an existing network namespace", "-", false, false },
		kdat_probe_lsm_fs, {0} },
	[KF_NAMESPACES] = { { "namespaces", "/proc/self/ns/{mnt,net,pid,ipc,uts}",
		"dump (namespace identification), restore of containers", "CONFIG_NAMESPACES and the *_NS options", false, false },
		kdat_probe_ns, {0} },
	[KF_CGROUPNS] = { { "cgroupns", "cgroup namespaces", "dump/restore of containers with a cgroup namespace",
		"kernel >= 4.6 with CONFIG_CGROUPS", false, false },
		kdat_probe_ns, {0} },
	[KF_TIMENS] = { { "timens", "time namespaces (unshare CLONE_NEWTIME)",
		"restore with monotonic/boottime clocks continuing from the dump", "kernel >= 5.6 with CONFIG_TIME_NS; CAP_SYS_ADMIN",
		false, false },
		kdat_probe_timens, { "time_ns" } },
	[KF_CGROUP_FREEZE] = { { "cgroup_freeze", "cgroup freezer (v2 cgroup.freeze or v1 freezer)",
		"--freeze-cgroup; freezing large trees atomically", "cgroup v2 (kernel >= 5.2) or the v1 freezer controller mounted",
		false, false },
		kdat_probe_cgroup_freeze, { "freezer" } },
	[KF_APPARMOR_STACKING] = { { "apparmor_stacking", "AppArmor namespaces with stacking",
		"dump/restore of containers with AppArmor namespaces", "AppArmor enabled, kernel with stacking", false, false },
		kdat_probe_lsm_fs, {0} },
	[KF_AUTOFS] = { { "autofs", "autofs filesystem", "dump/restore of autofs mounts", "CONFIG_AUTOFS_FS (modprobe autofs4)",
		false, false },
		kdat_probe_lsm_fs, {0} },
	[KF_COMPAT_CR] = { { "compat_cr", "checkpoint/restore of 32-bit (ia32) tasks",
		"dump/restore of 32-bit tasks", "not supported by cryo", false, true },
		kdat_probe_lsm_fs, {0} },
	[KF_CAP_CHECKPOINT_RESTORE] = { { "cap_checkpoint_restore", "CAP_CHECKPOINT_RESTORE in our effective set",
		"restore (clone3 set_tid, map_files, PR_SET_MM exe file)", "run as root or grant cap_checkpoint_restore",
		false, true },
		kdat_probe_caps, {0} },
	[KF_CAP_SYS_ADMIN] = { { "cap_sys_admin", "CAP_SYS_ADMIN in our effective set",
		"namespaces, mounts, seccomp suspend/dump, kernels before 5.9", "run as root", false, false },
		kdat_probe_caps, {0} },
	[KF_CAP_SYS_RESOURCE] = { { "cap_sys_resource", "CAP_SYS_RESOURCE in our effective set",
		"restore of rlimits above our own hard limits, pipe buffers above fs.pipe-max-size, large mqueues",
		"run with CAP_SYS_RESOURCE (containers often drop it)", false, false },
		kdat_probe_caps, {0} },
	[KF_CAP_NET_ADMIN] = { { "cap_net_admin", "CAP_NET_ADMIN in our effective set",
		"--tcp-established, network namespaces, network lock", "run as root", false, false },
		kdat_probe_caps, {0} },
};

struct kdat_result {
	bool known;
	bool present;
	char detail[200];
};

/* Facts about the running kernel, probed once per cryo process: the same
 * for every operation an RPC service runs (not per-run state). */
static struct kdat_result results[KF__MAX];
static enum kdat_dirty_track dt_choice;

void kdat_set_dirty_track(enum kdat_dirty_track dt)
{
	dt_choice = dt;
}

const struct kdat_info *kdat_info(enum kdat_feature f)
{
	if ((unsigned)f >= KF__MAX)
		return NULL;
	return &table[f].info;
}

int kdat_lookup(const char *name)
{
	for (int f = 0; f < KF__MAX; f++) {
		if (!strcmp(table[f].info.name, name))
			return f;
		for (size_t i = 0; i < ARRAY_SIZE(table[f].aliases) && table[f].aliases[i]; i++)
			if (!strcmp(table[f].aliases[i], name))
				return f;
	}
	return -ENOENT;
}

bool kdat_known(enum kdat_feature f)
{
	return (unsigned)f < KF__MAX && results[f].known;
}

void kdat_set(enum kdat_feature f, bool present, const char *fmt, ...)
{
	struct kdat_result *r;

	if ((unsigned)f >= KF__MAX)
		return;
	r = &results[f];
	r->known = true;
	r->present = present;
	r->detail[0] = '\0';
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
		va_end(ap);
	}
	pr_debug("kerndat: %s: %s%s%s\n", table[f].info.name, present ? "yes" : "no",
		 r->detail[0] ? ", " : "", r->detail);
}

static void probe(enum kdat_feature f)
{
	struct sigaction old, dfl = { .sa_handler = SIG_DFL };
	bool restore_sigchld = false;

	if (results[f].known)
		return;
	/* with SIGCHLD ignored, children are auto-reaped and waitpid() fails */
	if (sigaction(SIGCHLD, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		restore_sigchld = sigaction(SIGCHLD, &dfl, NULL) == 0;
	if (table[f].probe)
		table[f].probe();
	if (restore_sigchld)
		sigaction(SIGCHLD, &old, NULL);
	if (!results[f].known)
		kdat_set(f, false, "probe gave no answer");
}

bool kdat_has(enum kdat_feature f)
{
	if ((unsigned)f >= KF__MAX)
		return false;
	probe(f);
	return results[f].present;
}

const char *kdat_detail(enum kdat_feature f)
{
	if ((unsigned)f >= KF__MAX)
		return "unknown feature";
	probe(f);
	return results[f].detail;
}

int kdat_require(enum kdat_feature f, const char *who)
{
	const struct kdat_info *i = kdat_info(f);

	if (!i)
		return -EINVAL;
	if (kdat_has(f))
		return 0;
	pr_err("%s needs %s (%s), which is missing here%s%s%s; what helps: %s\n",
	       who ? who : i->needed_by, i->descr, i->name,
	       results[f].detail[0] ? " (" : "", results[f].detail,
	       results[f].detail[0] ? ")" : "", i->hint);
	return -EOPNOTSUPP;
}

void kdat_probe_all(void)
{
	for (int f = 0; f < KF__MAX; f++)
		probe(f);
}

void kdat_reset(void)
{
	memset(results, 0, sizeof(results));
	dt_choice = KDAT_DT_NONE;
}

enum kdat_dirty_track kdat_dirty_track(void)
{
	/* the dirty-track probe prefers uffd-wp and records what it chose */
	if (!kdat_has(KF_MEM_DIRTY_TRACK))
		return KDAT_DT_NONE;
	return dt_choice;
}

const char *kdat_dirty_track_name(enum kdat_dirty_track dt)
{
	switch (dt) {
	case KDAT_DT_UFFD_WP_SCAN:
		return "uffd-wp async + PAGEMAP_SCAN";
	case KDAT_DT_SOFT_DIRTY:
		return "soft-dirty";
	default:
		return "none";
	}
}

/* ---- helpers for the probes ---------------------------------------------- */

int kdat_wait(pid_t pid, int *status, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int st = 0;

	for (;;) {
		pid_t r = waitpid(pid, &st, __WALL | WNOHANG);
		if (r == pid) {
			if (status)
				*status = st;
			return 0;
		}
		if (r < 0 && errno != EINTR) {
			int e = errno;
			pr_debug("kerndat: waitpid(%d): %s\n", pid, strerror(e));
			return -e;
		}
		if (now_ns() >= deadline)
			break;
		struct timespec ts = { 0, 1000000 };	/* 1ms */
		nanosleep(&ts, NULL);
	}
	pr_warn("kerndat: probe child %d did not answer within %d ms, killing it\n", pid, timeout_ms);
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
	return -ETIMEDOUT;
}

void kdat_kill_reap(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	/* A traced child being killed may first report its stop; keep reaping
	 * until it is gone. */
	for (int i = 0; i < 16; i++) {
		if (kdat_wait(pid, &st, KDAT_TIMEOUT_MS) < 0)
			return;
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return;
	}
}

pid_t kdat_fork_sleeper(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		pr_perror("kerndat: can't fork a probe child");
		return -errno;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(1);
		for (;;)
			pause();
	}
	return pid;
}

void kdat_child_msg(int fd, const char *fmt, ...)
{
	char buf[200];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	if (n > 0 && write(fd, buf, n) < 0)
		return;
}

int kdat_run_child(int (*fn)(void *arg, int msg_fd), void *arg, int timeout_ms,
		   char *msg, size_t msg_len)
{
	int p[2], st, ret;
	pid_t pid, parent = getpid();

	if (msg && msg_len)
		msg[0] = '\0';
	if (pipe2(p, O_CLOEXEC)) {
		pr_perror("kerndat: can't make a pipe");
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		pr_perror("kerndat: can't fork a probe child");
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(126);
		_exit(fn(arg, p[1]) & 0xff);
	}
	close(p[1]);
	ret = kdat_wait(pid, &st, timeout_ms);
	if (msg && msg_len) {
		size_t got = 0;
		/* the child is gone: the pipe has EOF, reading can't block */
		while (got + 1 < msg_len) {
			ssize_t n = read(p[0], msg + got, msg_len - 1 - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += n;
		}
		msg[got] = '\0';
	}
	close(p[0]);
	if (ret < 0)
		return ret;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (msg && msg_len && !msg[0])
		snprintf(msg, msg_len, "probe child killed by signal %d", WTERMSIG(st));
	return -EINTR;
}

bool kdat_cap_eff(int cap)
{
	char *buf = NULL, *p;
	unsigned long long eff = 0;
	bool ret = false;

	if (read_file(AT_FDCWD, "/proc/self/status", &buf, true) < 0)
		return false;
	p = strstr(buf, "\nCapEff:");
	if (p && sscanf(p + 8, "%llx", &eff) == 1)
		ret = (eff >> cap) & 1;
	free(buf);
	return ret;
}

const char *kdat_errname(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case EPERM:
		return "EPERM (not permitted: missing capability or blocked by policy)";
	case EACCES:
		return "EACCES (access denied)";
	case ENOSYS:
		return "ENOSYS (the kernel lacks the system call)";
	case EINVAL:
		return "EINVAL (the kernel doesn't know this request)";
	case ENOENT:
		return "ENOENT (not present)";
	case ENOTTY:
		return "ENOTTY (the kernel doesn't know this ioctl)";
	case EOPNOTSUPP:
		return "EOPNOTSUPP (not supported)";
	case ENOPROTOOPT:
		return "ENOPROTOOPT (the kernel doesn't know this option)";
	case ETIMEDOUT:
		return "timed out";
	default:
		return strerror(err);
	}
}
