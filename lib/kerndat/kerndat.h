/* kerndat: what the running kernel (and our privileges) can do.
 *
 * Every feature cryo relies on has a probe that really exercises it (a
 * child is seized, a userfaultfd is registered, a netlink request is sent),
 * run lazily the first time somebody asks and cached for the life of the
 * process.  Dump and restore use it to pick a path and to explain a refusal:
 *
 *	if (!kdat_has(KF_PAGEMAP_SCAN)) ...
 *	ret = kdat_require(KF_TCP_REPAIR, "--tcp-established");
 *	if (ret)
 *		return ret;	// already logged: what is missing, why, what helps
 *
 * Probes fork short-lived children (always reaped, with timeouts), so call
 * kdat_*() before installing a SIGCHLD handler that reaps everything, or
 * call kdat_probe_all() early.  Not thread-safe: probe from one thread.
 */
#ifndef CRYO_KERNDAT_H
#define CRYO_KERNDAT_H

#include <stdbool.h>
#include <stdint.h>

enum kdat_feature {
	/* ptrace: seizing and reading a stopped task */
	KF_PTRACE_SEIZE,	/* SEIZE + INTERRUPT + O_TRACECLONE/EXITKILL */
	KF_PTRACE_XSTATE,	/* PTRACE_GETREGSET NT_X86_XSTATE (FPU/AVX) */
	KF_PTRACE_PEEKSIGINFO,
	KF_PTRACE_SIGMASK,	/* PTRACE_GETSIGMASK / SETSIGMASK */
	KF_PTRACE_RSEQ_CONF,	/* PTRACE_GET_RSEQ_CONFIGURATION */
	KF_SECCOMP_SUSPEND,	/* PTRACE_O_SUSPEND_SECCOMP */
	KF_SECCOMP_FILTERS,	/* PTRACE_SECCOMP_GET_FILTER */
	/* task access from outside */
	KF_PIDFD_OPEN,
	KF_PIDFD_GETFD,
	KF_PIDFD_SEND_SIGNAL,
	KF_PIDFD_STORE,		/* criu name: pidfd_open && pidfd_getfd */
	KF_PROCESS_VM,		/* process_vm_readv / writev */
	KF_PROC_PID_MEM,	/* pread/pwrite /proc/PID/mem */
	KF_MEM_ACCESS,		/* either of the two above */
	KF_MAP_FILES,		/* /proc/PID/map_files/ */
	KF_KCMP,		/* kcmp(KCMP_FILE) */
	KF_KCMP_EPOLL,		/* kcmp(KCMP_EPOLL_TFD) */
	KF_NS_PID,		/* NSpid: in /proc/PID/status */
	KF_MNT_ID,		/* mnt_id: in /proc/PID/fdinfo */
	KF_FDINFO_LOCK,		/* lock: in /proc/PID/fdinfo */
	KF_POSIX_TIMERS,	/* /proc/PID/timers */
	/* restore */
	KF_CLONE3_SET_TID,
	KF_PR_SET_MM_MAP,	/* prctl(PR_SET_MM, PR_SET_MM_MAP) */
	KF_USERNS,		/* user namespaces + PR_SET_MM_MAP */
	KF_TIMER_RESTORE_IDS,	/* PR_TIMER_CREATE_RESTORE_IDS (6.17) */
	KF_TIMERFD,		/* TFD_IOC_SET_TICKS */
	KF_AIO_REMAP,
	KF_CAN_MAP_VDSO,	/* arch_prctl(ARCH_MAP_VDSO_*) */
	KF_RSEQ,
	KF_MEMFD,
	KF_MEMFD_HUGETLB,
	KF_OPENAT2,
	KF_MOVE_MOUNT_SET_GROUP,
	KF_LOGINUID,
	/* memory tracking and lazy pages */
	KF_UFFD,		/* userfaultfd() syscall, UFFD_API handshake */
	KF_DEV_USERFAULTFD,	/* /dev/userfaultfd */
	KF_UFFD_NONCOOP,	/* EVENT_FORK / REMAP / REMOVE / UNMAP */
	KF_UFFD_WP,		/* UFFD_FEATURE_PAGEFAULT_FLAG_WP */
	KF_UFFD_WP_ASYNC,
	KF_UFFD_WP_UNPOPULATED,
	KF_PAGEMAP_SCAN,
	KF_SOFT_DIRTY,
	KF_MEM_DIRTY_TRACK,	/* what cryo tracks with: uffd-wp async + PAGEMAP_SCAN */
	KF_LAZY_PAGES,		/* cryo's lazy restore: full uffd, noncoop events, copy */
	KF_BG_SNAPSHOT,		/* --background-snapshot: sync uffd-wp, remap events */
	/* sockets and network */
	KF_SOCK_DIAG_UNIX,
	KF_SOCK_DIAG_TCP,
	KF_SOCK_DIAG_UDP,
	KF_SOCK_DIAG_INET6,
	KF_SOCK_DIAG_PACKET,
	KF_SOCK_DIAG_NETLINK,
	KF_SOCK_DIAG_RAW,	/* criu: net_diag_raw */
	KF_TCP_REPAIR,
	KF_TCP_REPAIR_WINDOW,
	KF_TCP_HALF_CLOSED,
	KF_SK_NS,		/* SIOCGSKNS */
	KF_SK_UNIX_FILE,	/* SIOCUNIXFILE */
	KF_SOCKOPT_BUF_LOCK,	/* SO_BUF_LOCK */
	KF_TUN,
	KF_TUN_NS,		/* TUNGETDEVNETNS */
	KF_NSID,		/* RTM_GETNSID */
	KF_LINK_NSID,		/* IFLA_LINK_NETNSID */
	KF_NEWIFINDEX,		/* IFLA_NEW_IFINDEX */
	KF_NFTABLES,		/* nft binary for --network-lock nftables */
	KF_IPTABLES,		/* iptables/ip6tables binaries */
	KF_IPT_LEGACY,		/* iptables-legacy */
	KF_EXTERNAL_NET_NS,	/* cryo feature, always present */
	/* namespaces, cgroups, security */
	KF_NAMESPACES,		/* /proc/self/ns/{mnt,net,pid,ipc,uts} */
	KF_CGROUPNS,
	KF_TIMENS,
	KF_CGROUP_FREEZE,	/* cgroup v2 cgroup.freeze or v1 freezer */
	KF_APPARMOR_STACKING,
	KF_AUTOFS,
	KF_COMPAT_CR,		/* ia32 tasks (not supported by cryo) */
	/* privileges */
	KF_CAP_CHECKPOINT_RESTORE,
	KF_CAP_SYS_ADMIN,
	KF_CAP_SYS_RESOURCE,
	KF_CAP_NET_ADMIN,

	KF__MAX
};

/* Static description of a feature. */
struct kdat_info {
	const char *name;	/* criu's --feature name where criu has one */
	const char *descr;	/* one line: what it is */
	const char *needed_by;	/* commands / options that need it */
	const char *hint;	/* what helps when it is missing */
	bool basic;		/* dump/restore can't work without it */
	bool alternative;	/* one of several ways; its absence is no problem
				   on its own (soft-dirty when uffd-wp works) */
};

enum kdat_dirty_track {
	KDAT_DT_NONE = 0,
	KDAT_DT_UFFD_WP_SCAN,	/* uffd-wp async + PAGEMAP_SCAN */
	KDAT_DT_SOFT_DIRTY,	/* clear_refs 4 + pagemap bit 55 */
};

/* Is @f available?  Probes on first use, then answers from the cache. */
struct cryo_opts;
/* `cryo check` (cryo_check in lib/cryo.h): 0 when the basics are present. */
int kdat_check(struct cryo_opts *o);

bool kdat_has(enum kdat_feature f);
/* What the probe found: "" when present without remarks, otherwise why it
 * is missing ("EPERM: needs CAP_NET_ADMIN", "kernel lacks it", ...). */
const char *kdat_detail(enum kdat_feature f);
/* Static description; NULL for an invalid @f. */
const struct kdat_info *kdat_info(enum kdat_feature f);
/* Feature by (criu) name or alias; -ENOENT when unknown. */
int kdat_lookup(const char *name);

/* Returns 0 if @f is available, else logs once (pr_err) what is missing,
 * that @who needs it, and what helps, and returns -EOPNOTSUPP. */
int kdat_require(enum kdat_feature f, const char *who);

/* Which dirty-memory tracking pre-dump / --track-mem will use. */
enum kdat_dirty_track kdat_dirty_track(void);
const char *kdat_dirty_track_name(enum kdat_dirty_track dt);

/* UFFD_API features the kernel offers (0 when userfaultfd is missing). */
uint64_t kdat_uffd_features(void);

/* Run every probe now (e.g. before the process tree is frozen). */
void kdat_probe_all(void);
/* Forget cached results (tests, or after a privilege change). */
void kdat_reset(void);

#endif
