/* Internals shared by the kerndat probe files. */
#ifndef CRYO_KERNDAT_INT_H
#define CRYO_KERNDAT_INT_H

#include "kerndat/kerndat.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Default limit for anything a probe waits on. */
#define KDAT_TIMEOUT_MS 3000

/* Record a result.  @fmt (may be NULL) says what was found; for a missing
 * feature it should say why ("EPERM", "kernel lacks it"). */
void kdat_set(enum kdat_feature f, bool present, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The dirty-track probe records the mechanism it validated. */
void kdat_set_dirty_track(enum kdat_dirty_track dt);
/* Already probed? (group probes skip what somebody else recorded) */
bool kdat_known(enum kdat_feature f);

/* waitpid(__WALL) with a deadline; on timeout SIGKILLs and reaps the child.
 * Returns 0 with *status filled, or -ETIMEDOUT / -errno. */
int kdat_wait(pid_t pid, int *status, int timeout_ms);
/* SIGKILL and reap (bounded). */
void kdat_kill_reap(pid_t pid);
/* Fork a child that just sleeps until killed (dies with us too). */
pid_t kdat_fork_sleeper(void);

/* Run @fn in a forked child (its return value is the exit code, 0 = ok).
 * The child may write a message to @msg_fd; it lands in @msg.  Returns the
 * exit code (>= 0), -ETIMEDOUT, or -errno when the child couldn't run or
 * died on a signal (-EINTR). */
int kdat_run_child(int (*fn)(void *arg, int msg_fd), void *arg, int timeout_ms,
		   char *msg, size_t msg_len);
/* Child side: format a message for kdat_run_child(). */
void kdat_child_msg(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bit @cap of CapEff in /proc/self/status. */
bool kdat_cap_eff(int cap);
/* "EPERM (needs CAP_X)"-style text for an errno. */
const char *kdat_errname(int err);

/* Probe groups; each records every feature it covers. */
void kdat_probe_ptrace(void);		/* ptrace family, pidfd, mem, map_files, kcmp */
void kdat_probe_seccomp_filters(void);
void kdat_probe_clone3(void);
void kdat_probe_uffd(void);		/* uffd, /dev/userfaultfd, features */
void kdat_probe_pagemap_scan(void);
void kdat_probe_soft_dirty(void);
void kdat_probe_dirty_track(void);
void kdat_probe_uffd_users(void);	/* lazy_pages, background_snapshot */
void kdat_probe_mm_map(void);
void kdat_probe_memfd(void);
void kdat_probe_aio_remap(void);
void kdat_probe_vdso(void);
void kdat_probe_rseq(void);
void kdat_probe_timer_ids(void);
void kdat_probe_timerfd(void);
void kdat_probe_sock_diag(void);
void kdat_probe_tcp(void);
void kdat_probe_sockopts(void);		/* sk_ns, sk_unix_file, buf_lock */
void kdat_probe_tun(void);
void kdat_probe_netns_links(void);	/* nsid, link_nsid, newifindex */
void kdat_probe_netfilter(void);
void kdat_probe_ns(void);		/* namespaces, cgroupns, userns, ns_pid */
void kdat_probe_timens(void);
void kdat_probe_fdinfo(void);		/* mnt_id, fdinfo_lock, posix_timers */
void kdat_probe_caps(void);
void kdat_probe_cgroup_freeze(void);
void kdat_probe_lsm_fs(void);		/* apparmor, autofs, compat, external */
void kdat_probe_syscalls(void);		/* openat2, move_mount, kcmp_epoll, loginuid */

#endif
