/* kerndat probes for memory: userfaultfd, PAGEMAP_SCAN, soft-dirty, dirty
 * tracking, PR_SET_MM_MAP, memfd, AIO remap, vDSO, rseq, timers. */
#include "kerndat/kerndat-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <linux/prctl.h>
#include <linux/userfaultfd.h>
#include "compat/uapi-extra.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <asm/prctl.h>
#endif

#define UFFD_NONCOOP_FEATURES (UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | \
			       UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)

static uint64_t uffd_features;	/* the kernel's, probed once (a machine fact) */

uint64_t kdat_uffd_features(void)
{
	kdat_has(KF_UFFD);
	return uffd_features;
}

/* A userfaultfd from the syscall, or from /dev/userfaultfd as a fallback.
 * Returns the fd or -errno; *via says which way worked. */
static int open_uffd(const char **via)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0 && errno == EINVAL)	/* kernel < 5.11: no UFFD_USER_MODE_ONLY */
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		*via = "syscall";
		return fd;
	}
	int e = errno;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd >= 0) {
			*via = "/dev/userfaultfd";
			return fd;
		}
	}
	return -e;
}

/* UFFD_API handshake asking for @features.  0 or -errno; *got = offered. */
static int uffd_api(int fd, uint64_t features, uint64_t *got)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (ioctl(fd, UFFDIO_API, &api))
		return -errno;
	if (got)
		*got = api.features;
	return 0;
}

/* Register one anonymous page for WP and protect/unprotect it (no writes:
 * a synchronous WP fault would block on us). */
static int exercise_uffd_wp(char *why, size_t why_len)
{
	const char *via;
	int fd = open_uffd(&via), ret = -1;
	void *m;

	if (fd < 0) {
		snprintf(why, why_len, "no userfaultfd");
		return -1;
	}
	if (uffd_api(fd, UFFD_FEATURE_PAGEFAULT_FLAG_WP, NULL)) {
		snprintf(why, why_len, "UFFD_API with FLAG_WP: %s", kdat_errname(errno));
		close(fd);
		return -1;
	}
	m = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		snprintf(why, why_len, "mmap: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*(volatile char *)m = 1;
	struct uffdio_register reg = { .range = { (uintptr_t)m, PAGE_SIZE }, .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .range = { (uintptr_t)m, PAGE_SIZE }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		snprintf(why, why_len, "UFFDIO_REGISTER MODE_WP: %s", kdat_errname(errno));
	else if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp))
		snprintf(why, why_len, "UFFDIO_WRITEPROTECT: %s", kdat_errname(errno));
	else {
		wp.mode = 0;
		if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp))
			snprintf(why, why_len, "UFFDIO_WRITEPROTECT (un-protect): %s", kdat_errname(errno));
		else
			ret = 0;
	}
	munmap(m, PAGE_SIZE);
	close(fd);
	return ret;
}

void kdat_probe_uffd(void)
{
	const char *via = NULL;
	char why[160] = "";
	int fd, dev, r;

	/* /dev/userfaultfd on its own */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		kdat_set(KF_DEV_USERFAULTFD, false, "open /dev/userfaultfd: %s", kdat_errname(errno));
	} else {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			kdat_set(KF_DEV_USERFAULTFD, false, "USERFAULTFD_IOC_NEW: %s", kdat_errname(errno));
		else {
			r = uffd_api(fd, 0, NULL);
			kdat_set(KF_DEV_USERFAULTFD, r == 0, r ? "UFFD_API: %s" : NULL, kdat_errname(r));
			close(fd);
		}
		close(dev);
	}

	fd = open_uffd(&via);
	if (fd < 0) {
		const char *w = fd == -EPERM ? "EPERM: set vm.unprivileged_userfaultfd=1 or run as root"
					     : kdat_errname(fd);
		uffd_features = 0;
		kdat_set(KF_UFFD, false, "userfaultfd(): %s", w);
		kdat_set(KF_UFFD_NONCOOP, false, "no userfaultfd");
		kdat_set(KF_UFFD_WP, false, "no userfaultfd");
		kdat_set(KF_UFFD_WP_ASYNC, false, "no userfaultfd");
		kdat_set(KF_UFFD_WP_UNPOPULATED, false, "no userfaultfd");
		return;
	}
	/* features = 0 asks for nothing and reports everything offered */
	r = uffd_api(fd, 0, &uffd_features);
	close(fd);
	if (r) {
		uffd_features = 0;
		kdat_set(KF_UFFD, false, "UFFD_API: %s", kdat_errname(r));
		kdat_set(KF_UFFD_NONCOOP, false, "UFFD_API failed");
		kdat_set(KF_UFFD_WP, false, "UFFD_API failed");
		kdat_set(KF_UFFD_WP_ASYNC, false, "UFFD_API failed");
		kdat_set(KF_UFFD_WP_UNPOPULATED, false, "UFFD_API failed");
		return;
	}
	kdat_set(KF_UFFD, true, "via %s, features %#llx", via, (unsigned long long)uffd_features);

	if ((uffd_features & UFFD_NONCOOP_FEATURES) == UFFD_NONCOOP_FEATURES)
		kdat_set(KF_UFFD_NONCOOP, true, NULL);
	else
		kdat_set(KF_UFFD_NONCOOP, false, "UFFD_API lacks event features %#llx",
			 (unsigned long long)(UFFD_NONCOOP_FEATURES & ~uffd_features));

	if (!(uffd_features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		kdat_set(KF_UFFD_WP, false, "UFFD_API doesn't offer UFFD_FEATURE_PAGEFAULT_FLAG_WP");
	else if (exercise_uffd_wp(why, sizeof(why)))
		kdat_set(KF_UFFD_WP, false, "%s", why);
	else
		kdat_set(KF_UFFD_WP, true, NULL);

	if (uffd_features & UFFD_FEATURE_WP_ASYNC)
		kdat_set(KF_UFFD_WP_ASYNC, true, NULL);
	else
		kdat_set(KF_UFFD_WP_ASYNC, false, "UFFD_API doesn't offer UFFD_FEATURE_WP_ASYNC (kernel < 6.7)");
	if (uffd_features & UFFD_FEATURE_WP_UNPOPULATED)
		kdat_set(KF_UFFD_WP_UNPOPULATED, true, NULL);
	else
		kdat_set(KF_UFFD_WP_UNPOPULATED, false, "UFFD_API doesn't offer UFFD_FEATURE_WP_UNPOPULATED (kernel < 6.4)");
}

/* ---- PAGEMAP_SCAN ---------------------------------------------------------- */

static long pm_scan(int fd, void *start, size_t len, uint64_t flags, uint64_t cat_mask,
		    uint64_t ret_mask, struct page_region *vec, size_t nvec)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = flags,
		.start = (uintptr_t)start,
		.end = (uintptr_t)start + len,
		.vec = (uintptr_t)vec,
		.vec_len = nvec,
		.category_mask = cat_mask,
		.return_mask = ret_mask,
	};
	long r = ioctl(fd, PAGEMAP_SCAN, &a);
	return r < 0 ? -errno : r;
}

void kdat_probe_pagemap_scan(void)
{
	struct page_region vec[4];
	char *m;
	int fd;
	long r;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kdat_set(KF_PAGEMAP_SCAN, false, "open /proc/self/pagemap: %s", kdat_errname(errno));
		return;
	}
	m = mmap(NULL, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		kdat_set(KF_PAGEMAP_SCAN, false, "mmap: %s", strerror(errno));
		close(fd);
		return;
	}
	/* populate pages 1 and 3; expect exactly those two present regions */
	m[PAGE_SIZE] = 1;
	m[3 * PAGE_SIZE] = 1;
	r = pm_scan(fd, m, 4 * PAGE_SIZE, 0, PAGE_IS_PRESENT, PAGE_IS_PRESENT, vec, ARRAY_SIZE(vec));
	if (r < 0)
		kdat_set(KF_PAGEMAP_SCAN, false, "PAGEMAP_SCAN: %s", r == -ENOTTY ? "ENOTTY: kernel < 6.7" : kdat_errname(r));
	else if (r != 2 || vec[0].start != (uintptr_t)m + PAGE_SIZE || vec[0].end != (uintptr_t)m + 2 * PAGE_SIZE ||
		 vec[1].start != (uintptr_t)m + 3 * PAGE_SIZE)
		kdat_set(KF_PAGEMAP_SCAN, false, "PAGEMAP_SCAN gave %ld unexpected regions", r);
	else
		kdat_set(KF_PAGEMAP_SCAN, true, NULL);
	munmap(m, 4 * PAGE_SIZE);
	close(fd);
}

/* ---- soft-dirty -------------------------------------------------------------- */

#define PME_SOFT_DIRTY (1ULL << 55)

static int pagemap_entry(int fd, void *addr, uint64_t *pme)
{
	off_t off = (off_t)((uintptr_t)addr / PAGE_SIZE) * sizeof(uint64_t);
	return pread(fd, pme, sizeof(*pme), off) == sizeof(*pme) ? 0 : -errno;
}

static int soft_dirty_child(void *arg, int msg)
{
	uint64_t pme = 0;
	char *m;
	int pm, cr;

	m = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pm = open("/proc/self/pagemap", O_RDONLY);
	cr = open("/proc/self/clear_refs", O_WRONLY);
	if (m == MAP_FAILED || pm < 0 || cr < 0) {
		kdat_child_msg(msg, "can't set up: %s", strerror(errno));
		return 2;
	}
	m[0] = 1;
	if (write(cr, "4", 1) != 1) {
		kdat_child_msg(msg, "write 4 to /proc/self/clear_refs: %s", kdat_errname(errno));
		return 1;
	}
	if (pagemap_entry(pm, m, &pme)) {
		kdat_child_msg(msg, "read pagemap: %s", strerror(errno));
		return 2;
	}
	if (pme & PME_SOFT_DIRTY) {
		kdat_child_msg(msg, "bit 55 still set after clear_refs");
		return 1;
	}
	m[0] = 2;
	if (pagemap_entry(pm, m, &pme)) {
		kdat_child_msg(msg, "read pagemap: %s", strerror(errno));
		return 2;
	}
	if (!(pme & PME_SOFT_DIRTY)) {
		kdat_child_msg(msg, "written page has no soft-dirty bit: kernel built without CONFIG_MEM_SOFT_DIRTY");
		return 1;
	}
	return 0;
}

void kdat_probe_soft_dirty(void)
{
	char msg[200];
	int r = kdat_run_child(soft_dirty_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));

	if (r == 0)
		kdat_set(KF_SOFT_DIRTY, true, NULL);
	else
		kdat_set(KF_SOFT_DIRTY, false, "%s", msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
}

/* ---- dirty tracking through uffd-wp async + PAGEMAP_SCAN ------------------- */

/* In a child (a write to a page that is write-protected synchronously would
 * block forever): protect 4 pages, write one, PAGEMAP_SCAN must report just
 * that one as written; re-protect it with PM_SCAN_WP_MATCHING and expect a
 * clean scan. */
static int uffd_track_child(void *arg, int msg)
{
	const size_t len = 4 * PAGE_SIZE;
	uint64_t want = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_ASYNC, got = 0;
	struct page_region vec[4];
	const char *via;
	int fd, pm;
	long r;
	char *m;

	if (kdat_uffd_features() & UFFD_FEATURE_WP_UNPOPULATED)
		want |= UFFD_FEATURE_WP_UNPOPULATED;
	fd = open_uffd(&via);
	if (fd < 0) {
		kdat_child_msg(msg, "no userfaultfd: %s", kdat_errname(fd));
		return 1;
	}
	if ((r = uffd_api(fd, want, &got)) || (got & want) != want) {
		kdat_child_msg(msg, "UFFD_API with WP_ASYNC: %s", r ? kdat_errname(r) : "features refused");
		return 1;
	}
	pm = open("/proc/self/pagemap", O_RDONLY);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pm < 0 || m == MAP_FAILED) {
		kdat_child_msg(msg, "can't set up: %s", strerror(errno));
		return 2;
	}
	if (!(want & UFFD_FEATURE_WP_UNPOPULATED))
		memset(m, 1, len);
	struct uffdio_register reg = { .range = { (uintptr_t)m, len }, .mode = UFFDIO_REGISTER_MODE_WP };
	if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
		kdat_child_msg(msg, "UFFDIO_REGISTER MODE_WP: %s", kdat_errname(errno));
		return 1;
	}
	struct uffdio_writeprotect wp = { .range = { (uintptr_t)m, len }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) {
		kdat_child_msg(msg, "UFFDIO_WRITEPROTECT: %s", kdat_errname(errno));
		return 1;
	}
	r = pm_scan(pm, m, len, PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, vec, 4);
	if (r != 0) {
		kdat_child_msg(msg, "PAGEMAP_SCAN after protecting: %s", r < 0 ? kdat_errname(r) : "pages reported written");
		return 1;
	}
	m[2 * PAGE_SIZE] = 3;	/* resolved by the kernel: WP_ASYNC */
	r = pm_scan(pm, m, len, PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, vec, 4);
	if (r != 1 || vec[0].start != (uintptr_t)m + 2 * PAGE_SIZE || vec[0].end != (uintptr_t)m + 3 * PAGE_SIZE) {
		kdat_child_msg(msg, "PAGEMAP_SCAN after a write: %s",
			       r < 0 ? kdat_errname(r) : "wrong written pages reported");
		return 1;
	}
	/* collect-and-reprotect, as pre-dump iterations do */
	r = pm_scan(pm, m, len, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, vec, 4);
	if (r != 1) {
		kdat_child_msg(msg, "PAGEMAP_SCAN with PM_SCAN_WP_MATCHING: %s", r < 0 ? kdat_errname(r) : "unexpected result");
		return 1;
	}
	r = pm_scan(pm, m, len, PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, vec, 4);
	if (r != 0) {
		kdat_child_msg(msg, "page still written after re-protect: %s", r < 0 ? kdat_errname(r) : "yes");
		return 1;
	}
	return 0;
}

void kdat_probe_dirty_track(void)
{
	char msg[200] = "", uffd_why[240] = "";

	if (kdat_has(KF_UFFD_WP_ASYNC) && kdat_has(KF_PAGEMAP_SCAN)) {
		int r = kdat_run_child(uffd_track_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));
		if (r == 0) {
			kdat_set_dirty_track(KDAT_DT_UFFD_WP_SCAN);
			kdat_set(KF_MEM_DIRTY_TRACK, true, "via %s", kdat_dirty_track_name(KDAT_DT_UFFD_WP_SCAN));
			return;
		}
		snprintf(uffd_why, sizeof(uffd_why), "uffd-wp async test failed: %s",
			 msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
	} else {
		snprintf(uffd_why, sizeof(uffd_why), "uffd-wp async + PAGEMAP_SCAN: %s",
			 !kdat_has(KF_UFFD_WP_ASYNC) ? kdat_detail(KF_UFFD_WP_ASYNC) : kdat_detail(KF_PAGEMAP_SCAN));
	}
	/* the fallback: soft-dirty bits (mem/track_sd.c) */
	if (kdat_has(KF_SOFT_DIRTY)) {
		kdat_set_dirty_track(KDAT_DT_SOFT_DIRTY);
		kdat_set(KF_MEM_DIRTY_TRACK, true, "via %s (%s)",
			 kdat_dirty_track_name(KDAT_DT_SOFT_DIRTY), uffd_why);
		return;
	}
	kdat_set(KF_MEM_DIRTY_TRACK, false, "%s; soft-dirty: %s", uffd_why,
		 kdat_detail(KF_SOFT_DIRTY));
}

/* ---- lazy pages and the background snapshot ---------------------------------- */

#define LAZY_FEATURES (UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | \
		       UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_THREAD_ID)
#define BG_FEATURES (UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_EVENT_REMAP)

/* A userfaultfd that also catches the kernel's accesses (not
 * UFFD_USER_MODE_ONLY), as lazy.c and bgsnap.c make in the task, with
 * @features; -errno, and *why says what failed. */
static int full_uffd(uint64_t features, const char **why)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		*why = e == EPERM ? "userfaultfd() for kernel-mode faults: EPERM (needs CAP_SYS_PTRACE "
				    "or vm.unprivileged_userfaultfd=1)"
				  : "userfaultfd() for kernel-mode faults failed";
		return -e;
	}
	if (uffd_api(fd, features, NULL)) {
		int e = errno;
		close(fd);
		*why = "UFFD_API refuses the features";
		return -e;
	}
	return fd;
}

/* Lazy pages: register a page for missing faults and fill it with
 * UFFDIO_COPY (no fault is taken: nothing can block). */
static int exercise_lazy(const char **why)
{
	int fd = full_uffd(LAZY_FEATURES, why), ret = -1;
	if (fd < 0)
		return fd;
	char *m = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static char src[4096] = { 7 };
	if (m == MAP_FAILED) {
		*why = "mmap failed";
		close(fd);
		return -ENOMEM;
	}
	struct uffdio_register reg = { .range = { (uintptr_t)m, PAGE_SIZE },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_copy cp = { .dst = (uintptr_t)m, .src = (uintptr_t)src, .len = PAGE_SIZE };
	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		*why = "UFFDIO_REGISTER (missing) failed";
	else if (ioctl(fd, UFFDIO_COPY, &cp) || cp.copy != PAGE_SIZE)
		*why = "UFFDIO_COPY failed";
	else if (m[0] != 7)
		*why = "UFFDIO_COPY filled the page wrong";
	else
		ret = 0;
	/* first: with the unmap event asked for, munmap would wait for
	 * this very thread to read the event */
	close(fd);
	munmap(m, PAGE_SIZE);
	return ret;
}

void kdat_probe_uffd_users(void)
{
	const char *why = "";
	if (!kdat_has(KF_UFFD)) {
		kdat_set(KF_LAZY_PAGES, false, "no userfaultfd: %s", kdat_detail(KF_UFFD));
		kdat_set(KF_BG_SNAPSHOT, false, "no userfaultfd: %s", kdat_detail(KF_UFFD));
		return;
	}
	if ((kdat_uffd_features() & LAZY_FEATURES) != LAZY_FEATURES)
		kdat_set(KF_LAZY_PAGES, false, "UFFD_API lacks features %#llx",
			 (unsigned long long)(LAZY_FEATURES & ~kdat_uffd_features()));
	else if (exercise_lazy(&why))
		kdat_set(KF_LAZY_PAGES, false, "%s", why);
	else
		kdat_set(KF_LAZY_PAGES, true, NULL);

	int fd = -1;
	if (!kdat_has(KF_UFFD_WP))
		kdat_set(KF_BG_SNAPSHOT, false, "uffd_wp: %s", kdat_detail(KF_UFFD_WP));
	else if (!kdat_has(KF_PAGEMAP_SCAN))
		kdat_set(KF_BG_SNAPSHOT, false, "pagemap_scan: %s", kdat_detail(KF_PAGEMAP_SCAN));
	else if ((fd = full_uffd(BG_FEATURES, &why)) < 0)
		kdat_set(KF_BG_SNAPSHOT, false, "%s", why);
	else
		kdat_set(KF_BG_SNAPSHOT, true, NULL);
	if (fd >= 0)
		close(fd);
}


/* ---- PR_SET_MM_MAP ------------------------------------------------------------ */

/* In a child: set the mm layout to what it already is. */
static int mm_map_child(void *arg, int msg)
{
	unsigned long f[52] = { 0 };
	__u64 auxv[128];
	struct prctl_mm_map map;
	char *buf = NULL, *p;
	ssize_t n;
	int fd, i;

	if (read_file(AT_FDCWD, "/proc/self/stat", &buf, true) < 0) {
		kdat_child_msg(msg, "can't read /proc/self/stat");
		return 2;
	}
	p = strrchr(buf, ')');
	/* field 3 (state) follows ") "; fields are 1-based */
	p = p ? p + 2 : buf;
	for (i = 3; i <= 51 && p && *p; i++) {
		if (i > 3)
			f[i] = strtoul(p, NULL, 10);
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	free(buf);
	fd = open("/proc/self/auxv", O_RDONLY);
	n = fd >= 0 ? read(fd, auxv, sizeof(auxv)) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		kdat_child_msg(msg, "can't read /proc/self/auxv");
		return 2;
	}
	memset(&map, 0, sizeof(map));
	map.start_code = f[26];
	map.end_code = f[27];
	map.start_stack = f[28];
	map.start_data = f[45];
	map.end_data = f[46];
	map.start_brk = f[47];
	map.brk = (uintptr_t)sbrk(0);
	map.arg_start = f[48];
	map.arg_end = f[49];
	map.env_start = f[50];
	map.env_end = f[51];
	map.auxv = auxv;
	map.auxv_size = n;
	map.exe_fd = -1;
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&map, sizeof(map), 0)) {
		kdat_child_msg(msg, "PR_SET_MM_MAP with our own layout: %s", kdat_errname(errno));
		return 1;
	}
	return 0;
}

void kdat_probe_mm_map(void)
{
	unsigned int size = 0;
	char msg[200];
	int r;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&size, 0, 0)) {
		kdat_set(KF_PR_SET_MM_MAP, false, "PR_SET_MM_MAP_SIZE: %s (CONFIG_CHECKPOINT_RESTORE off?)",
			 kdat_errname(errno));
		return;
	}
	if (size != sizeof(struct prctl_mm_map)) {
		kdat_set(KF_PR_SET_MM_MAP, false, "kernel's prctl_mm_map is %u bytes, ours %zu",
			 size, sizeof(struct prctl_mm_map));
		return;
	}
	r = kdat_run_child(mm_map_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));
	if (r == 0)
		kdat_set(KF_PR_SET_MM_MAP, true, NULL);
	else
		kdat_set(KF_PR_SET_MM_MAP, false, "%s", msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
}

/* ---- memfd ------------------------------------------------------------------ */

void kdat_probe_memfd(void)
{
	int fd = memfd_create("cryo-kerndat", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0) {
		kdat_set(KF_MEMFD, false, "memfd_create: %s", kdat_errname(errno));
	} else {
		if (ftruncate(fd, PAGE_SIZE) || fcntl(fd, F_ADD_SEALS, F_SEAL_GROW))
			kdat_set(KF_MEMFD, false, "memfd resize/seal: %s", kdat_errname(errno));
		else
			kdat_set(KF_MEMFD, true, NULL);
		close(fd);
	}
	fd = memfd_create("cryo-kerndat-huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0)
		kdat_set(KF_MEMFD_HUGETLB, false, "memfd_create(MFD_HUGETLB): %s", kdat_errname(errno));
	else {
		kdat_set(KF_MEMFD_HUGETLB, true, NULL);
		close(fd);
	}
}

/* ---- AIO ring remap ------------------------------------------------------------ */

static unsigned long aio_ring_len(unsigned long addr)
{
	char *buf = NULL, *line;
	unsigned long len = 0;

	if (read_file(AT_FDCWD, "/proc/self/maps", &buf, true) < 0)
		return 0;
	for (line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s == addr) {
			len = e - s;
			break;
		}
	}
	free(buf);
	return len;
}

static int aio_child(void *arg, int msg)
{
	aio_context_t ctx = 0;
	struct timespec ts = { 0, 0 };
	unsigned long len;
	void *to;

	if (syscall(SYS_io_setup, 16, &ctx)) {
		kdat_child_msg(msg, "io_setup: %s", kdat_errname(errno));
		return 1;
	}
	len = aio_ring_len(ctx);
	if (!len) {
		kdat_child_msg(msg, "AIO ring not found in /proc/self/maps");
		return 1;
	}
	to = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (to == MAP_FAILED) {
		kdat_child_msg(msg, "mmap: %s", strerror(errno));
		return 2;
	}
	if (mremap((void *)ctx, len, len, MREMAP_FIXED | MREMAP_MAYMOVE, to) == MAP_FAILED) {
		kdat_child_msg(msg, "mremap of the AIO ring: %s", kdat_errname(errno));
		return 1;
	}
	if (syscall(SYS_io_getevents, (aio_context_t)to, 0, 1, NULL, &ts) < 0) {
		kdat_child_msg(msg, "io_getevents on the moved ring: %s", kdat_errname(errno));
		return 1;
	}
	syscall(SYS_io_destroy, (aio_context_t)to);
	return 0;
}

void kdat_probe_aio_remap(void)
{
	char msg[200];
	int r = kdat_run_child(aio_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));

	kdat_set(KF_AIO_REMAP, r == 0, r ? "%s" : NULL, msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
}

/* ---- vDSO mapping ------------------------------------------------------------- */

#if defined(__x86_64__)
static int vdso_child(void *arg, int msg)
{
	/* A task that already has a vDSO gets EEXIST when the call exists. */
	long r = syscall(SYS_arch_prctl, ARCH_MAP_VDSO_64, 0x1000000UL);
	if (r == 0 || errno == EEXIST)
		return 0;
	kdat_child_msg(msg, "arch_prctl(ARCH_MAP_VDSO_64): %s", kdat_errname(errno));
	return 1;
}
#endif

void kdat_probe_vdso(void)
{
#if defined(__x86_64__)
	char msg[200];
	int r = kdat_run_child(vdso_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));

	kdat_set(KF_CAN_MAP_VDSO, r == 0, r ? "%s" : NULL, msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
#else
	kdat_set(KF_CAN_MAP_VDSO, false, "only probed on x86_64");
#endif
}

/* ---- rseq ------------------------------------------------------------------ */

void kdat_probe_rseq(void)
{
	/* Invalid arguments: EINVAL/EBUSY mean the syscall exists (glibc may
	 * already have registered an area); nothing changes. */
	if (syscall(SYS_rseq, NULL, 0, 0, 0) == 0 || errno != ENOSYS)
		kdat_set(KF_RSEQ, true, NULL);
	else
		kdat_set(KF_RSEQ, false, "ENOSYS: kernel without CONFIG_RSEQ or < 4.18");
}

/* ---- POSIX timer IDs ------------------------------------------------------- */

static int timer_ids_child(void *arg, int msg)
{
	timer_t id = (timer_t)(intptr_t)4242;
	int kid = 4242;

	if (prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0)) {
		kdat_child_msg(msg, "PR_TIMER_CREATE_RESTORE_IDS_ON: %s",
			       errno == EPERM ? "EPERM: needs CAP_CHECKPOINT_RESTORE" : kdat_errname(errno));
		return 1;
	}
	/* raw syscall: the kernel reads the wanted ID from *created_timer_id */
	if (syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &kid)) {
		kdat_child_msg(msg, "timer_create with ID 4242: %s", kdat_errname(errno));
		return 1;
	}
	if (kid != 4242) {
		kdat_child_msg(msg, "timer_create ignored the requested ID (got %d)", kid);
		return 1;
	}
	(void)id;
	return 0;
}

void kdat_probe_timer_ids(void)
{
	char msg[200];
	int r;

	r = prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0);
	if (r < 0) {
		kdat_set(KF_TIMER_RESTORE_IDS, false, "prctl(PR_TIMER_CREATE_RESTORE_IDS): %s",
			 errno == EINVAL ? "EINVAL: kernel < 6.17" : kdat_errname(errno));
		return;
	}
	r = kdat_run_child(timer_ids_child, NULL, KDAT_TIMEOUT_MS, msg, sizeof(msg));
	kdat_set(KF_TIMER_RESTORE_IDS, r == 0, r ? "%s" : NULL, msg[0] ? msg : kdat_errname(r < 0 ? r : EIO));
}

/* ---- timerfd ticks -------------------------------------------------------------- */

void kdat_probe_timerfd(void)
{
	uint64_t ticks = 1;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0) {
		kdat_set(KF_TIMERFD, false, "timerfd_create: %s", kdat_errname(errno));
		return;
	}
	if (ioctl(fd, TFD_IOC_SET_TICKS, &ticks))
		kdat_set(KF_TIMERFD, false, "TFD_IOC_SET_TICKS: %s", errno == ENOTTY ?
			 "ENOTTY: kernel without CONFIG_CHECKPOINT_RESTORE" : kdat_errname(errno));
	else
		kdat_set(KF_TIMERFD, true, NULL);
	close(fd);
}
