/* Fields of the mm only the task can report or set: brk, dumpable, THP
 * disabled, membarrier registrations, memory-deny-write-execute; from outside the coredump filter
 * (/proc/PID/coredump_filter); at restore also the rest of
 * mm-PID.img's layout (code, data, stack, args, env, auxv) and the
 * executable, with prctl(PR_SET_MM_MAP). */
#include "task/task-int.h"
#include "files/files.h"
#include "mem/mem.h"
#include "restore/restore.h"
#include "seize/remote.h"
#include "seize/seize.h"
#include "util/log.h"
#include "util/util.h"

#include "regfile.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat/uapi-extra.h"

/* membarrier registrations belong to the mm and only the task can ask for
 * them (MEMBARRIER_CMD_GET_REGISTRATIONS, 6.3).  A kernel without membarrier
 * has none to lose; one without the query can't tell us, so the restored
 * process might miss a registration: say so. */
static int dump_membarrier(struct remote *r, MmEntry *mm)
{
	long lr = remote_syscall(r, __NR_membarrier, CRYO_MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0,
				 0, 0, 0);
	if (lr == -ENOSYS)
		return 0;
	if (lr == -EINVAL) {
		pr_warn("process %d: this kernel can't report membarrier registrations "
			"(MEMBARRIER_CMD_GET_REGISTRATIONS needs 6.3): the restored process will "
			"have none", r->tid);
		return 0;
	}
	if (lr < 0)
		return log_errno(lr, "membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS) in task %d failed", r->tid);
	if (lr) {
		mm->has_cryo_membarrier = 1;
		mm->cryo_membarrier = lr;
	}
	return 0;
}

/* The coredump filter is the MMF_DUMP_* bits of mm->flags: a fork inherits
 * its parent's, so the restored process has cryo's until it is written.
 * /proc/PID/coredump_filter reads and writes it from outside. */
static int coredump_filter_path(pid_t pid, char *buf, size_t size)
{
	return snprintf(buf, size, "/proc/%d/coredump_filter", pid);
}

static int dump_coredump_filter(pid_t pid, MmEntry *mm)
{
	char path[64], buf[32];
	coredump_filter_path(pid, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open %s", path);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = errno;
	close(fd);
	if (n <= 0)
		return log_errno(n < 0 ? -err : -EIO, "can't read %s", path);
	buf[n] = 0;
	char *end;
	unsigned long v = strtoul(buf, &end, 16);
	if (end == buf || v > UINT32_MAX) {
		pr_err("%s: unexpected content \"%s\"", path, buf);
		return -EINVAL;
	}
	mm->has_cryo_coredump_filter = 1;
	mm->cryo_coredump_filter = v;
	return 0;
}

static int restore_coredump_filter(pid_t pid, const MmEntry *mm)
{
	char path[64], buf[32];
	if (!mm->has_cryo_coredump_filter)
		return 0;
	coredump_filter_path(pid, path, sizeof(path));
	int len = snprintf(buf, sizeof(buf), "0x%x", mm->cryo_coredump_filter);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open %s to restore the coredump filter", path);
	ssize_t n = write(fd, buf, len);
	int err = errno;
	close(fd);
	if (n != len)
		return log_errno(n < 0 ? -err : -EIO, "can't write the coredump filter %s to %s",
				 buf, path);
	return 0;
}

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif

/* Memory-deny-write-execute (PR_SET_MDWE, 6.3; systemd's
 * MemoryDenyWriteExecute= uses it) can't be turned off once set and stops
 * any mapping from gaining PROT_EXEC: it is set again only when the
 * process's memory, its children and the trampoline are all in place
 * (task_item_mdwe, TASK_PH_SHARED).  A kernel without it has none. */
static void dump_mdwe(struct remote *r, MmEntry *mm)
{
	long lr = remote_syscall(r, __NR_prctl, PR_GET_MDWE, 0, 0, 0, 0, 0);
	if (lr > 0) {
		mm->has_cryo_mdwe = 1;
		mm->cryo_mdwe = lr;
	}
}

static int mdwe_restore(const struct task_rst *tr)
{
	const MmEntry *mm = tr->p->mem.mm;
	if (!mm || !mm->has_cryo_mdwe || !mm->cryo_mdwe)
		return 0;
	long ret = remote_syscall(tr->r, __NR_prctl, PR_SET_MDWE, mm->cryo_mdwe, 0, 0, 0, 0);
	if (ret) {
		pr_err("prctl(PR_SET_MDWE, %#x) in restored process %d failed: %s (this kernel "
		       "lacks memory-deny-write-execute, 6.3+, or its flags)", mm->cryo_mdwe,
		       tr->p->pid, strerror((int)-ret));
		return ret < 0 ? (int)ret : -EIO;
	}
	return 0;
}

const struct task_item task_item_mdwe = {
	"memory-deny-write-execute", TASK_PROC, TASK_PH_SHARED, NULL, mdwe_restore,
};

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

/* KSM for every mapping of the process (PR_SET_MEMORY_MERGE, 6.4): a
 * kernel without KSM or the prctl has none to save. */
static void dump_memory_merge(struct remote *r, MmEntry *mm)
{
	long lr = remote_syscall(r, __NR_prctl, PR_GET_MEMORY_MERGE, 0, 0, 0, 0, 0);
	if (lr > 0)
		mm->has_cryo_memory_merge = mm->cryo_memory_merge = 1;
}

/* /proc/PID/status VmLck in kB, or -1 */
static long vmlck_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* mlockall(MCL_FUTURE [| MCL_ONFAULT]) leaves VM_LOCKED [| VM_LOCKONFAULT]
 * in the mm's default flags, which nothing in /proc shows: a page mapped in
 * the task tells (a shared one: it merges with nothing).  It is locked
 * (VmLck grows) only under MCL_FUTURE; "lf" in its VmFlags tells
 * MCL_ONFAULT; EAGAIN means locked beyond RLIMIT_MEMLOCK, so locked too. */
static int dump_mcl_future(struct remote *r, pid_t pid, MmEntry *mm)
{
	long pg = sysconf(_SC_PAGESIZE), lck0 = vmlck_kb(pid);
	long addr = remote_syscall(r, __NR_mmap, 0, pg, PROT_READ, MAP_SHARED | MAP_ANONYMOUS,
				   (uint64_t)-1, 0);
	if (addr == -EAGAIN) {
		mm->has_cryo_mcl_future = 1;
		mm->cryo_mcl_future = MCL_FUTURE;
		return 0;
	}
	if (addr < 0)
		return log_errno((int)addr, "can't map a page in process %d to see whether it "
				 "called mlockall(MCL_FUTURE)", pid);
	int ret = 0;
	long lck1 = vmlck_kb(pid);
	if (lck0 >= 0 && lck1 > lck0) {
		mm->has_cryo_mcl_future = 1;
		mm->cryo_mcl_future = MCL_FUTURE;
		struct proc_maps maps = { 0 };
		ret = proc_read_maps(pid, &maps);
		for (int i = 0; !ret && i < maps.n; i++)
			if (maps.v[i].start == (uint64_t)addr && (maps.v[i].vmf & VMF(LF)))
				mm->cryo_mcl_future |= MCL_ONFAULT;
		proc_maps_free(&maps);
	}
	long ur = remote_syscall(r, __NR_munmap, addr, pg, 0, 0, 0, 0);
	if (ur)
		ret = log_errno(ur < 0 ? (int)ur : -EIO, "can't unmap cryo's page at 0x%lx from "
				"process %d", addr, pid);
	return ret;
}

/* After every mapping of the restore is in place (TASK_PH_SHARED), so that
 * only the task's own later mappings are locked. */
static int mcl_future_restore(const struct task_rst *tr)
{
	const MmEntry *mm = tr->p->mem.mm;
	if (!mm || !mm->has_cryo_mcl_future || !mm->cryo_mcl_future)
		return 0;
	long ret = remote_syscall(tr->r, __NR_mlockall, mm->cryo_mcl_future, 0, 0, 0, 0, 0);
	if (ret)
		return log_errno(ret < 0 ? (int)ret : -EIO, "mlockall(%#x) in restored process "
				 "%d (it had locked its future mappings) failed", mm->cryo_mcl_future,
				 tr->p->pid);
	return 0;
}

const struct task_item task_item_mcl_future = {
	"mlockall(MCL_FUTURE)", TASK_PROC, TASK_PH_SHARED, NULL, mcl_future_restore,
};

static int mm_dump(struct task_dump *d)
{
	MmEntry *mm = d->mm;
	struct remote *r = d->r;
	long lr = remote_call(r, "brk", __NR_brk, 0);
	if (lr < 0)
		return lr;
	mm->has_mm_brk = 1;
	mm->mm_brk = lr;
	lr = remote_call(r, "prctl(PR_GET_DUMPABLE)", __NR_prctl, PR_GET_DUMPABLE);
	if (lr < 0)
		return lr;
	mm->has_dumpable = 1;
	mm->dumpable = lr;
	lr = remote_call(r, "prctl(PR_GET_THP_DISABLE)", __NR_prctl, PR_GET_THP_DISABLE);
	if (lr < 0)
		return lr;
	mm->has_thp_disabled = 1;
	mm->thp_disabled = lr;
	int ret = dump_membarrier(r, mm);
	if (!ret)
		ret = dump_coredump_filter(d->p->pid, mm);
	if (!ret) {
		dump_mdwe(r, mm);
		dump_memory_merge(r, mm);
	}
	if (!ret)
		ret = dump_mcl_future(r, d->p->pid, mm);
	if (!ret)	/* AIO rings: only the task can tell which are its own */
		ret = aio_dump_check(r, d->p->pid, mm);
	return ret;
}

/* Each membarrier registration is its REGISTER_* command issued again in
 * the task (registrations belong to the mm; issuing one twice is harmless,
 * so a fork that came with its parent's gets no error). */
static int restore_membarrier(struct remote *r, pid_t pid, const MmEntry *mm)
{
	static const unsigned known = MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED |
				      MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED |
				      MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE |
				      MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ;
	if (!mm->has_cryo_membarrier || !mm->cryo_membarrier)
		return 0;
	if (mm->cryo_membarrier & ~known) {
		pr_err("process %d was registered for membarrier commands 0x%x that cryo does "
		       "not know", pid, mm->cryo_membarrier & ~known);
		return -EOPNOTSUPP;
	}
	for (unsigned bit = 1; bit <= known; bit <<= 1) {
		if (!(mm->cryo_membarrier & bit))
			continue;
		long ret = remote_syscall(r, __NR_membarrier, bit, 0, 0, 0, 0, 0);
		if (ret < 0) {
			pr_err("membarrier registration 0x%x of restored process %d failed: %s "
			       "(this kernel or its configuration lacks the command)", bit, pid,
			       strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int mm_restore(const struct task_rst *tr)
{
	struct rst_proc *p = tr->p;
	struct remote *r = tr->r;
	const MmEntry *mm = p->mem.mm;
	const FileEntry *exe = files_find(&tr->ctx->files, mm->exe_file_id);
	if (!exe || !exe->reg || !exe->reg->name) {
		pr_err("mm-%d.img: executable file id %u is not in files.img", p->pid, mm->exe_file_id);
		return -EINVAL;
	}
	remote_scratch_reset(r);
	uint64_t path = remote_scratch_put(r, exe->reg->name, strlen(exe->reg->name) + 1);
	if (!path)
		return -ENOSPC;
	long exe_fd = remote_call(r, "open of the executable", __NR_openat, AT_FDCWD, path,
				  O_RDONLY | O_CLOEXEC);
	if (exe_fd < 0) {
		pr_err("can't open the executable %s of process %d", exe->reg->name, p->pid);
		return exe_fd;
	}
	struct prctl_mm_map map = {
		.start_code = mm->mm_start_code,
		.end_code = mm->mm_end_code,
		.start_data = mm->mm_start_data,
		.end_data = mm->mm_end_data,
		.start_brk = mm->mm_start_brk,
		.brk = mm->mm_brk,
		.start_stack = mm->mm_start_stack,
		.arg_start = mm->mm_arg_start,
		.arg_end = mm->mm_arg_end,
		.env_start = mm->mm_env_start,
		.env_end = mm->mm_env_end,
		.exe_fd = exe_fd,
	};
	if (mm->n_mm_saved_auxv) {
		if (mm->n_mm_saved_auxv > 256) {
			pr_err("mm-%d.img: auxv is too long", p->pid);
			return -EINVAL;
		}
		map.auxv_size = mm->n_mm_saved_auxv * 8;
		map.auxv = (__u64 *)(uintptr_t)remote_scratch_put(r, mm->mm_saved_auxv, map.auxv_size);
		if (!map.auxv)
			return -ENOSPC;
	}
	uint64_t m = remote_scratch_put(r, &map, sizeof(map));
	if (!m)
		return -ENOSPC;
	long ret = remote_syscall(r, __NR_prctl, PR_SET_MM, PR_SET_MM_MAP, m, sizeof(map), 0, 0);
	if (ret) {
		pr_err("prctl(PR_SET_MM_MAP) in restored task %d failed: %s (cryo needs "
		       "CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN to set the executable)", p->pid,
		       strerror(-ret));
		return ret;
	}
	remote_call(r, "close", __NR_close, exe_fd);
	/* before dumpable: a non-dumpable task's /proc files belong to root */
	ret = restore_coredump_filter(p->pid, mm);
	if (ret)
		return ret;
	if (mm->has_dumpable && mm->dumpable != 1) {
		ret = remote_call(r, "prctl(PR_SET_DUMPABLE)", __NR_prctl, PR_SET_DUMPABLE,
				  mm->dumpable);
		if (ret)
			return ret;
	}
	if (mm->has_thp_disabled && mm->thp_disabled) {
		ret = remote_call(r, "prctl(PR_SET_THP_DISABLE)", __NR_prctl, PR_SET_THP_DISABLE, 1);
		if (ret)
			return ret;
	}
	if (mm->has_cryo_memory_merge && mm->cryo_memory_merge) {
		ret = remote_call(r, "prctl(PR_SET_MEMORY_MERGE) (KSM for the whole process; needs "
				  "CONFIG_KSM and CAP_SYS_RESOURCE)", __NR_prctl, PR_SET_MEMORY_MERGE, 1);
		if (ret)
			return ret < 0 ? ret : -EIO;
	}
	return restore_membarrier(r, p->pid, mm);
}

const struct task_item task_item_mm = {
	"mm fields", TASK_PROC, TASK_PH_MM, mm_dump, mm_restore,
};
