/* Kernel UAPI items newer than the system headers (Debian 12 ships the
 * linux-libc-dev of kernel 6.1).  Always include the system <linux/...>
 * header first; everything here is defined only when that header lacks it,
 * and each item names the kernel header and version it comes from.  The
 * values are kernel ABI and never change.
 *
 * Add new items here (one place for the whole project), each under #ifndef
 * with its origin; include the system header that normally carries the
 * item before this one.
 */
#ifndef CRYO_COMPAT_UAPI_EXTRA_H
#define CRYO_COMPAT_UAPI_EXTRA_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/fs.h>
#include <linux/prctl.h>
#include <linux/userfaultfd.h>

/* ---- <linux/userfaultfd.h> ---------------------------------------------- */

/* linux/userfaultfd.h, kernel 6.4: UFFDIO_WRITEPROTECT works on
 * not-yet-populated anonymous/shmem ranges (no need to touch pages first). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif

/* linux/userfaultfd.h, kernel 6.7: write faults on write-protected pages are
 * resolved by the kernel without a message (dirty tracking with
 * PAGEMAP_SCAN). */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* linux/userfaultfd.h, kernel 6.8: UFFDIO_MOVE. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

/* ---- <linux/fs.h>: PAGEMAP_SCAN ioctl on /proc/PID/pagemap, kernel 6.7 --- */

#ifndef PAGEMAP_SCAN
/* linux/fs.h, kernel 6.7: page categories (struct page_region.categories and
 * the pm_scan_arg masks). */
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

/* linux/fs.h, kernel 6.7: one output region of PAGEMAP_SCAN. */
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

/* linux/fs.h, kernel 6.7: PAGEMAP_SCAN flags. */
#define PM_SCAN_WP_MATCHING (1 << 0)	/* write-protect the matched pages */
#define PM_SCAN_CHECK_WPASYNC (1 << 1)	/* fail on a non-WP_ASYNC range */

/* linux/fs.h, kernel 6.7: PAGEMAP_SCAN argument. */
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

/* linux/fs.h, kernel 6.7 (PROCFS_IOCTL_MAGIC is 'f'). */
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif /* PAGEMAP_SCAN */

/* linux/fs.h, kernel 6.14: guard-region category (defined on its own: a
 * 6.7..6.13 header has PAGEMAP_SCAN but not this). */
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8)
#endif

/* linux/fs.h does not carry it: bit 58 of a /proc/PID/pagemap entry marks a
 * guard region page (Documentation/admin-guide/mm/pagemap.rst, kernel 6.14). */
#ifndef PM_GUARD_REGION
#define PM_GUARD_REGION (1ULL << 58)
#endif

/* ---- <linux/mman.h>, <asm-generic/mman-common.h> ----------------------------
 * (glibc's <sys/mman.h> carries these when it is new enough: include it
 * first.) */

/* linux/mman.h, kernel 6.11: a mapping type (in place of MAP_PRIVATE) whose
 * anonymous pages the kernel may drop under memory pressure. */
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

/* asm-generic/mman-common.h, kernel 6.13: guard regions (a touch raises
 * SIGSEGV, the VMA is not split). */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* asm/unistd_64.h, kernel 6.10: mseal(addr, len, 0) seals a range of
 * mappings against munmap, mremap, mprotect and discarding madvise. */
#ifndef __NR_mseal
#define __NR_mseal 462
#endif

/* ---- <linux/prctl.h> ------------------------------------------------------ */

/* linux/prctl.h, kernel 6.17: timer_create() takes the timer ID from
 * *created_timer_id (restore of POSIX timer IDs). */
#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#define PR_TIMER_CREATE_RESTORE_IDS_GET 2
#endif

/* ---- <linux/timerfd.h> ---------------------------------------------------- */

/* linux/timerfd.h, kernel 3.17.  The system header has it, but it pulls in
 * <asm/fcntl.h>, which clashes with glibc's <fcntl.h>, and glibc's
 * <sys/timerfd.h> lacks it. */
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, __u64)
#endif

/* ---- <linux/memfd.h>, <linux/fcntl.h>: executable memfds, kernel 6.3 ---- */

/* linux/memfd.h, kernel 6.3: memfd_create() flags choosing whether the
 * memfd may be executed (mode 0777) or not (0666 and sealed F_SEAL_EXEC). */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
/* linux/fcntl.h, kernel 6.3: the exec bits of the mode can't change. */
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

/* ---- <asm-generic/socket.h>, <linux/in.h> -------------------------------- */

/* asm-generic/socket.h, kernel 6.5: pass a pidfd of the sender (unix) */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
/* asm-generic/socket.h, kernel 6.16: SCM_RIGHTS accepted (unix; default on) */
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
/* linux/in.h, kernel 6.3: the local port range of one socket */
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

/* ---- <linux/membarrier.h> ---------------------------------------------- */

/* linux/membarrier.h, kernel 6.3: the registrations of the caller's mm (the
 * REGISTER_* command bits).  An enum constant there, so under our own name. */
#define CRYO_MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)

/* ---- <linux/pidfd.h> ----------------------------------------------------- */

/* linux/pidfd.h, kernel 6.13: PIDFD_GET_INFO; PIDFD_INFO_EXIT (the exit
 * status, also of a reaped process) 6.15.  The first version of the
 * structure (PIDFD_INFO_SIZE_VER0, 64 bytes): the kernel takes its size
 * from the ioctl number. */
#ifndef PIDFD_GET_INFO
struct pidfd_info {
	__u64 mask;
	__u64 cgroupid;
	__u32 pid, tgid, ppid;
	__u32 ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	__s32 exit_code;
};
#define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info)
#endif
#ifndef PIDFD_INFO_EXIT
#define PIDFD_INFO_EXIT (1UL << 3)
#endif

#endif /* CRYO_COMPAT_UAPI_EXTRA_H */
