/* Parsers for /proc/PID files.  Pure text parsing is split from file
 * reading so the parsers are unit-tested without a live process. */
#ifndef CRYO_PROC_H
#define CRYO_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* One line of /proc/PID/maps, plus VmFlags from smaps. */
struct proc_vma {
	uint64_t start, end;
	uint64_t pgoff;		/* file offset in bytes */
	int prot;		/* PROT_* */
	bool shared;		/* 's' in perms */
	unsigned dev_major, dev_minor;
	uint64_t ino;
	char *path;		/* NULL for anonymous; "[heap]", "[stack]", ... */
	bool deleted;		/* path ended with " (deleted)" (stripped) */
	/* VmFlags (smaps) */
	bool vm_growsdown, vm_locked, vm_dontfork, vm_dontdump, vm_wipeonfork;
	bool vm_hugepage, vm_nohugepage, vm_mergeable, vm_io, vm_pfnmap, vm_shadow_stack;
	bool vm_softdirty, vm_uffd_wp, vm_uffd_missing;
	bool vm_maywrite, vm_hugetlb, vm_seq_read, vm_rand_read;	/* mw ht sr rr */
	bool has_vmflags;
	uint64_t vmf;		/* every VmFlag seen, as VMF_* bits */
	char vmf_unknown[4];	/* the first mnemonic this parser doesn't know, or "" */
};

/* VmFlags mnemonics (fs/proc/task_mmu.c show_smap_vma_flags), one bit each.
 * Which of them cryo restores, ignores or refuses is decided in
 * lib/mem/mem_dump.c (vma_flags_check). */
enum {
	VMF_RD, VMF_WR, VMF_EX, VMF_SH, VMF_MR, VMF_MW, VMF_ME, VMF_MS, VMF_GD, VMF_PF,
	VMF_LO, VMF_IO, VMF_SR, VMF_RR, VMF_DC, VMF_DE, VMF_LF, VMF_AC, VMF_NR, VMF_HT,
	VMF_SF, VMF_AR, VMF_WF, VMF_DD, VMF_BT, VMF_SD, VMF_MM, VMF_HG, VMF_NH, VMF_MG,
	VMF_UM, VMF_UW, VMF_MT, VMF_UI, VMF_SS, VMF_DP, VMF_SL, VMF_GU, VMF_DW, VMF_NL,
	VMF_UNKNOWN,		/* "??" (a bit the kernel has no name for) or one not listed */
	VMF__MAX
};
#define VMF(x) (1ULL << VMF_##x)
/* The two-letter mnemonic of VMF_* bit @bit. */
const char *proc_vmf_name(int bit);

struct proc_maps {
	struct proc_vma *v;
	int n;
};

/* Parse maps or smaps text.  Returns 0 or -EINVAL (logs the bad line). */
int proc_parse_maps_text(const char *text, struct proc_maps *out);
int proc_read_maps(pid_t pid, struct proc_maps *out);	/* uses smaps */
void proc_maps_free(struct proc_maps *m);

/* /proc/PID/stat fields cryo needs. */
struct proc_stat {
	pid_t pid;
	char comm[64];
	char state;
	pid_t ppid, pgid, sid;
	unsigned long flags;
	long nice, priority;
	long num_threads;
	uint64_t start_time;
	uint64_t start_code, end_code, start_stack;
	uint64_t start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	int exit_code;
	unsigned rt_priority, policy;
	int processor;
};
int proc_parse_stat_text(const char *text, struct proc_stat *st);
int proc_read_stat(pid_t pid, pid_t tid, struct proc_stat *st);
/* The same for a task that may be gone (while seizing): -ESRCH, not logged. */
int proc_read_stat_live(pid_t pid, pid_t tid, struct proc_stat *st);

/* /proc/PID/status fields. */
struct proc_status {
	char state;
	pid_t tgid, ppid, tracer_pid;
	uint32_t uid[4], gid[4];	/* real, effective, saved, fs */
	uint32_t *groups;
	int ngroups;
	uint64_t sig_pnd, shd_pnd, sig_blk, sig_ign, sig_cgt;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int no_new_privs;
	int seccomp;
	pid_t nspid[32];
	int nspid_levels;
	/* the innermost values of NSpgid and NSsid (0: outside that
	 * namespace; -1: no such line) */
	pid_t nspgid_inner, nssid_inner;
	/* every value of NSpgid and NSsid, outermost first, as nspid */
	pid_t nspgid[32], nssid[32];
	int nspgid_levels, nssid_levels;
	unsigned umask;
	bool has_umask;
};
int proc_parse_status_text(const char *text, struct proc_status *st);
int proc_read_status(pid_t pid, pid_t tid, struct proc_status *st);
/* The same for a task that may be gone (while seizing): -ESRCH, not logged. */
int proc_read_status_live(pid_t pid, pid_t tid, struct proc_status *st);
void proc_status_free(struct proc_status *st);

/* Numeric entries of a /proc directory (tasks, fds), sorted ascending. */
int proc_list_dir_pids(const char *path, pid_t **out, int *n);
/* The same for a directory of a task that may be gone: -ESRCH, not logged. */
int proc_list_dir_pids_live(const char *path, pid_t **out, int *n);
/* Whether process group @pgid is orphaned, as the kernel decides before it
 * acts on a terminal stop signal. */
bool proc_pgrp_orphaned(pid_t pgid);
/* Children of every thread of @pid (from task/TID/children), deduplicated. */
int proc_list_children(pid_t pid, pid_t **out, int *n);

/* /proc/PID/fdinfo/FD */
struct proc_fdinfo {
	uint64_t pos;
	unsigned flags;		/* octal in the file */
	int mnt_id;
	uint64_t ino;
};
int proc_parse_fdinfo_text(const char *text, struct proc_fdinfo *fi);

/* An id map of a user namespace (/proc/PID/uid_map, gid_map): each line
 * maps ids [first, first+count) inside the namespace to [lower,
 * lower+count) of the reader's namespace (the parent's when the reader is
 * in the namespace itself).  At most 340 lines (the kernel's limit). */
#define PROC_IDMAP_MAX 340
struct proc_idmap {
	struct proc_idmap_extent {
		uint32_t first, lower, count;
	} e[PROC_IDMAP_MAX];
	int n;
};
/* 0 or -EINVAL (not logged) for a malformed or overlong text. */
int proc_parse_idmap_text(const char *text, struct proc_idmap *m);
/* /proc/@pid/@which ("uid_map", "gid_map"); 0 or a negative code (logged). */
int proc_read_idmap(pid_t pid, const char *which, struct proc_idmap *m);
/* The id inside for @lower (false: unmapped), and the reverse. */
bool proc_idmap_inside(const struct proc_idmap *m, uint32_t lower, uint32_t *inside);
bool proc_idmap_outside(const struct proc_idmap *m, uint32_t inside, uint32_t *lower);

#endif
