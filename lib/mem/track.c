/* Dirty-memory tracking: userfaultfd write-protection in async mode, read
 * back with PAGEMAP_SCAN, or soft-dirty bits (track_sd.c).  See track.h. */
#include "mem/track.h"
#include "kerndat/kerndat.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include "compat/uapi-extra.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TRACK_VEC 256

struct mem_track_proc *mem_track_find(struct mem_track *t, pid_t pid)
{
	for (int i = 0; t && i < t->n; i++)
		if (t->v[i].pid == pid)
			return &t->v[i];
	return NULL;
}

int mem_track_add(struct mem_track *t, pid_t pid, int uffd, int pidfd)
{
	struct mem_track_proc *v = xrealloc(t->v, sizeof(*v) * (t->n + 1));
	if (!v) {
		close(uffd);
		close(pidfd);
		return -ENOMEM;
	}
	t->v = v;
	t->v[t->n++] = (struct mem_track_proc){ .pid = pid, .uffd = uffd, .pidfd = pidfd };
	return 0;
}

void mem_track_free(struct mem_track *t)
{
	for (int i = 0; i < t->n; i++) {
		if (t->v[i].uffd >= 0)
			close(t->v[i].uffd);
		close(t->v[i].pidfd);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* The PID a pidfd refers to now: -1 once the process exited, 0 if it is
 * in no PID namespace of ours (fdinfo's "Pid:"). */
static long pidfd_pid(int pidfd)
{
	char path[64], *buf, *p;
	long pid = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if (read_file(AT_FDCWD, path, &buf, false) < 0)
		return -1;
	p = strstr(buf, "\nPid:");
	if (p)
		pid = strtol(p + 5, NULL, 10);
	free(buf);
	return pid;
}

void mem_track_prune(struct mem_track *t)
{
	int n = 0;
	for (int i = 0; i < t->n; i++) {
		if (pidfd_pid(t->v[i].pidfd) == t->v[i].pid) {
			t->v[n++] = t->v[i];
			continue;
		}
		pr_debug("process %d of the previous dump is gone: its tracking too", t->v[i].pid);
		if (t->v[i].uffd >= 0)
			close(t->v[i].uffd);
		close(t->v[i].pidfd);
	}
	t->n = n;
}

int mem_track_start(struct mem_track *t, struct remote *r, pid_t pid)
{
	/* User-mode-only: an unprivileged task may create it whatever
	 * vm.unprivileged_userfaultfd says, and async write-protection is
	 * resolved by the kernel itself, from kernel-mode writes too (the
	 * fault never reaches the descriptor). */
	long tfd = remote_call(r, "userfaultfd", __NR_userfaultfd,
			       O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (tfd < 0)
		return (int)tfd;
	int pidfd = syscall(SYS_pidfd_open, pid, 0), uffd = -1, ret = 0;
	if (pidfd < 0)
		ret = log_errno(-errno, "pidfd_open of process %d failed", pid);
	if (!ret) {
		uffd = syscall(SYS_pidfd_getfd, pidfd, (int)tfd, 0);
		if (uffd < 0)
			ret = log_errno(-errno, "can't take the userfaultfd of process %d "
					"(pidfd_getfd)", pid);
	}
	/* the task keeps no descriptor of ours */
	long c = remote_call(r, "close", __NR_close, tfd);
	if (!ret && c < 0)
		ret = (int)c;
	if (!ret) {
		/* WP_UNPOPULATED: PAGEMAP_SCAN write-protects pages of an
		 * anonymous VMA only where the uffd uses pte markers */
		struct uffdio_api api = { .api = UFFD_API,
					  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
		if (ioctl(uffd, UFFDIO_API, &api))
			ret = log_errno(-errno, "UFFDIO_API (async write-protection) on the "
					"userfaultfd of process %d failed", pid);
	}
	if (ret) {
		if (uffd >= 0)
			close(uffd);
		if (pidfd >= 0)
			close(pidfd);
		return ret;
	}
	return mem_track_add(t, pid, uffd, pidfd);
}

enum kdat_dirty_track mem_track_backend(const char **why)
{
	const char *want = getenv(MEM_TRACK_ENV);
	enum kdat_dirty_track dt = kdat_dirty_track();
	static __thread char msg[512];
	if (!want || !*want) {
		if (dt == KDAT_DT_NONE) {
			snprintf(msg, sizeof(msg), "%s", kdat_detail(KF_MEM_DIRTY_TRACK));
			*why = msg;
		}
		return dt;
	}
	if (!strcmp(want, "soft-dirty")) {
		if (kdat_has(KF_SOFT_DIRTY))
			return KDAT_DT_SOFT_DIRTY;
		snprintf(msg, sizeof(msg), "soft-dirty tracking was asked for (%s=soft-dirty, a test "
			 "setting), but the kernel has no soft-dirty bits: CONFIG_MEM_SOFT_DIRTY is "
			 "off or broken (%s); unset %s to track with uffd-wp", MEM_TRACK_ENV,
			 kdat_detail(KF_SOFT_DIRTY), MEM_TRACK_ENV);
	} else if (!strcmp(want, "uffd")) {
		if (dt == KDAT_DT_UFFD_WP_SCAN)
			return dt;
		snprintf(msg, sizeof(msg), "uffd-wp tracking was asked for (%s=uffd, a test "
			 "setting), but it does not work here (%s)", MEM_TRACK_ENV,
			 kdat_detail(KF_MEM_DIRTY_TRACK));
	} else {
		snprintf(msg, sizeof(msg), "%s=%s: unknown backend (uffd or soft-dirty)",
			 MEM_TRACK_ENV, want);
	}
	*why = msg;
	return KDAT_DT_NONE;
}

int mem_track_start_sd(struct mem_track *t, pid_t pid)
{
	/* without the bits every page would read as clean */
	if (!kdat_has(KF_SOFT_DIRTY)) {
		pr_err("can't track process %d with soft-dirty bits: the kernel has none (%s)",
		       pid, kdat_detail(KF_SOFT_DIRTY));
		return -EOPNOTSUPP;
	}
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return log_errno(-errno, "pidfd_open of process %d failed", pid);
	int ret = mem_track_add(t, pid, -1, pidfd);
	if (!ret)
		t->v[t->n - 1].fresh = true;
	return ret;
}

int mem_track_rearm(struct mem_track_proc *tp)
{
	if (!tp || tp->uffd >= 0)
		return 0;
	int ret = mem_sd_clear_refs("/proc", tp->pid);
	if (!ret)
		tp->fresh = false;
	return ret;
}

/* Private anonymous memory: what uffd-wp can track. */
static bool vma_trackable(const VmaEntry *v)
{
	const unsigned other = VMA_FILE_PRIVATE | VMA_FILE_SHARED | VMA_ANON_SHARED |
			       VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL | VMA_AREA_AIORING |
			       VMA_AREA_SOCKET | VMA_AREA_MEMFD | VMA_AREA_SYSVIPC;
	return (v->status & VMA_ANON_PRIVATE) && !(v->status & other);
}

/* One PAGEMAP_SCAN pass over [@start, @end): the pages that exist
 * (present or swapped) and, with @written, have been written since they
 * were protected, into @out if not NULL; with @protect, write-protect them
 * too.  Holes never match: protecting them would fill page tables with
 * markers (a sparse reservation of gigabytes), and a page that appears in
 * one later is new, hence written (or the zero page, which no dump saves).
 * -EPERM (not logged): the VMA has no async uffd-wp registration. */
static int scan(int pm, pid_t pid, uint64_t start, uint64_t end, bool written, bool protect,
		struct mem_page_runs *out)
{
	struct page_region vec[TRACK_VEC];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_CHECK_WPASYNC | (protect ? PM_SCAN_WP_MATCHING : 0),
		.start = start,
		.end = end,
		.vec = (uintptr_t)vec,
		.vec_len = TRACK_VEC,
		.category_mask = written ? PAGE_IS_WRITTEN : 0,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_WRITTEN,
	};
	while (a.start < end) {
		long n = ioctl(pm, PAGEMAP_SCAN, &a);
		if (n < 0) {
			if (errno == EPERM)
				return -EPERM;
			return log_errno(-errno, "PAGEMAP_SCAN of process %d at 0x%llx (dirty "
					 "tracking) failed", pid, (unsigned long long)a.start);
		}
		for (long i = 0; out && i < n; i++) {
			int ret = mem_page_runs_add(out, vec[i].start, vec[i].end);
			if (ret)
				return ret;
		}
		if (a.walk_end <= a.start || a.walk_end > end) {
			pr_err("PAGEMAP_SCAN of process %d stopped at 0x%llx, outside 0x%llx-0x%llx",
			       pid, (unsigned long long)a.walk_end, (unsigned long long)a.start,
			       (unsigned long long)end);
			return -EIO;
		}
		a.start = a.walk_end;
	}
	return 0;
}

/* A VMA not tracked yet: register it for async write-protection and
 * protect its pages that exist (pages populated later are written by
 * definition).  One the kernel won't register is simply written whole by
 * each dump. */
static int track_vma(struct mem_track_proc *tp, int pm, const VmaEntry *v)
{
	struct uffdio_register reg = { .range = { v->start, v->end - v->start },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	if (ioctl(tp->uffd, UFFDIO_REGISTER, &reg)) {
		pr_info("process %d: memory 0x%llx-0x%llx can't be tracked (UFFDIO_REGISTER: %s): "
			"each dump writes it whole", tp->pid, (unsigned long long)v->start,
			(unsigned long long)v->end, strerror(errno));
		return 0;
	}
	int ret = scan(pm, tp->pid, v->start, v->end, false, true, NULL);
	if (ret == -EPERM)
		ret = log_errno(ret, "PAGEMAP_SCAN of process %d refuses to write-protect "
				"0x%llx-0x%llx", tp->pid, (unsigned long long)v->start,
				(unsigned long long)v->end);
	return ret;
}

int mem_track_scan(struct mem_track_proc *tp, const MmEntry *mm, bool protect,
		   struct mem_page_runs *clean)
{
	struct mem_page_runs written = { 0 };
	char path[64];
	int ret = 0;
	if (!tp || (tp->uffd < 0 && tp->fresh))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", tp->pid);
	int pm = open(path, O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return_perror("can't open %s", path);
	for (size_t i = 0; !ret && i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!vma_trackable(v))
			continue;
		if (tp->uffd < 0) {
			/* soft-dirty; hugetlb pages are left out of clear_refs */
			if (!(v->flags & MAP_HUGETLB))
				ret = mem_sd_scan(pm, tp->pid, v->start, v->end, NULL, clean);
			continue;
		}
		written.n = 0;
		ret = scan(pm, tp->pid, v->start, v->end, true, protect, &written);
		if (ret == -EPERM) {
			/* not registered: mapped (or moved) since, nothing clean */
			ret = protect ? track_vma(tp, pm, v) : 0;
			continue;
		}
		uint64_t pos = v->start;
		for (size_t k = 0; !ret && k < written.n; k++) {
			if (written.start[k] > pos)
				ret = mem_page_runs_add(clean, pos, written.start[k]);
			pos = written.end[k];
		}
		if (!ret && pos < v->end)
			ret = mem_page_runs_add(clean, pos, v->end);
	}
	mem_page_runs_free(&written);
	close(pm);
	return ret;
}

void mem_track_unflag(struct proc_maps *maps)
{
	for (int i = 0; i < maps->n; i++) {
		maps->v[i].vmf &= ~VMF(UW);
		maps->v[i].vm_uffd_wp = false;
	}
}
