/* AIO contexts (io_setup).
 *
 * A context is known to the process by its ring: a shared mapping
 * "/[aio] (deleted)" whose address is the aio_context_t.  The ring holds a
 * header (head, tail, ...) and the completed events the process has not
 * reaped yet.  As criu does, the ring's pages are saved like private
 * anonymous memory (vma status VMA_AREA_AIORING | VMA_ANON_PRIVATE, one
 * aio_ring_entry in mm.aios) and come back at the old address as such.
 * Then, in the task: io_setup() a context of the same size, bring the
 * kernel's own tail to the dumped one, copy the events and the head, and
 * mremap() the new ring over the old address (the kernel then takes that
 * address as the context's id).
 *
 * Requests still in flight at dump (an O_DIRECT read the device has not
 * answered) are not restored, and cryo can't tell from outside whether
 * there are any, so it can't refuse them: each dump of a context warns.
 * The ring shows completions only (head and tail are the events not yet
 * reaped); the requests live in the kernel's kioctx (a percpu count of
 * free slots, the active_reqs list of cancellable ones), which no /proc
 * file, fdinfo (a context has no descriptor) or pagemap bit shows.  The
 * calls that reach the context from inside disturb it: io_getevents reaps
 * completions; io_cancel needs each request's iocb address and cancels
 * only poll requests; io_submit of a probe (a bad fd: EBADF if a slot was
 * free, EAGAIN if none) tells only whether one slot is free, and the free
 * slots can't be counted, since up to half of them sit in other CPUs'
 * caches (kioctx.req_batch); io_destroy waits for them and ends the
 * context.  Pinned user pages of a direct read are not shown either.
 */
#include "mem/mem.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/aio_abi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The ring header as the kernel lays it out (fs/aio.c struct aio_ring). */
struct aio_ring_hdr {
	uint32_t id;		/* index in the mm's context table */
	uint32_t nr;		/* number of io_event slots */
	uint32_t head;
	uint32_t tail;
	uint32_t magic;
	uint32_t compat_features;
	uint32_t incompat_features;
	uint32_t header_length;
};
#define AIO_RING_MAGIC 0xa10a10a1
#define AIO_RING_COMPAT_FEATURES 1
#define AIO_RING_INCOMPAT_FEATURES 0

/* The io_setup() argument that makes a ring of @ring_len bytes.  The
 * kernel doubles the request (after raising it to 4 per possible CPU), adds
 * 2 and rounds the ring up to whole pages; every slot of those pages is
 * used.  (n - 2) / 2 of the slots a ring has gives that ring back. */
static uint32_t aio_nr_req(uint64_t ring_len)
{
	uint64_t slots = (ring_len - sizeof(struct aio_ring_hdr)) / sizeof(struct io_event);
	return slots > 2 ? (slots - 2) / 2 : 0;
}

int aio_dump_vma(pid_t pid, const struct proc_vma *pv, VmaEntry *v, MmEntry *mm)
{
	uint64_t len = pv->end - pv->start;
	uint32_t nr_req = aio_nr_req(len);
	if (!nr_req || len > (1ULL << 30)) {
		pr_err("process %d: AIO ring 0x%llx-0x%llx has a size no io_setup() makes", pid,
		       (unsigned long long)pv->start, (unsigned long long)pv->end);
		return -EOPNOTSUPP;
	}
	/* the whole ring, as io_setup() made it (not a part of one that was
	 * partly unmapped): or a restore could not make it again */
	struct aio_ring_hdr h;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd < 0 ? -1 : pread(fd, &h, sizeof(h), pv->start);
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)sizeof(h)) {
		pr_err("can't read the AIO ring of process %d at 0x%llx: %s", pid,
		       (unsigned long long)pv->start, got < 0 ? strerror(err) : "short read");
		return got < 0 ? -err : -EIO;
	}
	if (h.magic != AIO_RING_MAGIC || h.header_length != sizeof(h) ||
	    h.incompat_features != AIO_RING_INCOMPAT_FEATURES ||
	    h.nr != (len - sizeof(h)) / sizeof(struct io_event) || h.head >= h.nr || h.tail >= h.nr) {
		pr_err("process %d: the AIO ring at 0x%llx-0x%llx is not one cryo can make again "
		       "(magic %#x, %u events, head %u, tail %u; partly unmapped?)", pid,
		       (unsigned long long)pv->start, (unsigned long long)pv->end, h.magic, h.nr,
		       h.head, h.tail);
		return -EOPNOTSUPP;
	}
	v->status = VMA_AREA_REGULAR | VMA_AREA_AIORING | VMA_ANON_PRIVATE;
	v->flags = MAP_PRIVATE | MAP_ANONYMOUS;
	AioRingEntry **n = xrealloc(mm->aios, (mm->n_aios + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	mm->aios = n;
	AioRingEntry *a = xmalloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	aio_ring_entry__init(a);
	pr_warn("process %d: AIO context 0x%llx: requests in flight at the dump (if any: "
		"cryo can't see them from outside) are not restored; its completed events are",
		pid, (unsigned long long)pv->start);
	a->has_id = a->has_nr_req = a->has_ring_len = 1;
	a->id = pv->start;
	a->nr_req = nr_req;
	a->ring_len = len;
	mm->aios[mm->n_aios++] = a;
	return 0;
}

void aio_dump_free(MmEntry *mm)
{
	for (size_t i = 0; i < mm->n_aios; i++)
		free(mm->aios[i]);
	free(mm->aios);
	mm->aios = NULL;
	mm->n_aios = 0;
}

/* A ring mapping is a context of the task only if the kernel knows it in
 * the task's mm: a fork keeps a copy of its parent's ring mappings but not
 * the contexts.  io_getevents(ctx, 0, 0) tells, without reaping anything. */
int aio_dump_check(struct remote *r, pid_t pid, const MmEntry *mm)
{
	for (size_t i = 0; i < mm->n_aios; i++) {
		long ret = remote_syscall(r, __NR_io_getevents, mm->aios[i]->id, 0, 0, 0, 0, 0);
		if (ret == -EINVAL) {
			pr_err("process %d maps an AIO ring at 0x%llx that is not one of its own AIO "
			       "contexts (a copy of its parent's ring, kept across fork()): cryo can't "
			       "restore such a mapping; unmap it in the child (or exec) to dump it",
			       pid, (unsigned long long)mm->aios[i]->id);
			return -EOPNOTSUPP;
		}
		if (ret < 0)
			return log_errno(ret, "io_getevents on the AIO context 0x%llx of task %d failed",
					 (unsigned long long)mm->aios[i]->id, r->tid);
	}
	return 0;
}

/* ---- restore ---- */

#define DUMMY_BATCH 64

/* Submit @n requests that complete at once (reads of 0 bytes from the pages
 * image, @fd in the task), and reap them if @reap.  Each completion moves
 * the context's tail (kept by the kernel, not in the ring) by one. */
static int aio_dummies(struct remote *r, uint64_t ctx, int fd, uint32_t n, bool reap)
{
	while (n) {
		uint32_t k = MIN(n, (uint32_t)DUMMY_BATCH);
		struct iocb cbs[DUMMY_BATCH];
		uint64_t ptrs[DUMMY_BATCH];
		remote_scratch_reset(r);
		uint64_t cb_at = remote_scratch_alloc(r, sizeof(cbs));
		uint64_t ptr_at = remote_scratch_alloc(r, sizeof(ptrs));
		uint64_t ev_at = remote_scratch_alloc(r, DUMMY_BATCH * sizeof(struct io_event));
		if (!cb_at || !ptr_at || !ev_at)
			return -ENOSPC;
		memset(cbs, 0, sizeof(cbs));
		for (uint32_t i = 0; i < k; i++) {
			cbs[i].aio_lio_opcode = IOCB_CMD_PREAD;
			cbs[i].aio_fildes = fd;
			cbs[i].aio_buf = ev_at;	/* any valid address: nothing is read */
			cbs[i].aio_nbytes = 0;
			ptrs[i] = cb_at + i * sizeof(struct iocb);
		}
		int ret = remote_write(r, cb_at, cbs, sizeof(cbs));
		if (!ret)
			ret = remote_write(r, ptr_at, ptrs, sizeof(ptrs));
		if (ret)
			return ret;
		long got = remote_syscall(r, __NR_io_submit, ctx, k, ptr_at, 0, 0, 0);
		if (got != (long)k) {
			pr_err("io_submit of %u empty reads in restored task %d (to position the AIO "
			       "ring 0x%llx) returned %ld%s%s", k, r->tid, (unsigned long long)ctx, got,
			       got < 0 ? ": " : "", got < 0 ? strerror(-got) : "");
			return got < 0 ? got : -EIO;
		}
		if (reap) {
			got = remote_syscall(r, __NR_io_getevents, ctx, k, k, ev_at, 0, 0);
			if (got != (long)k) {
				pr_err("io_getevents of %u events in restored task %d returned %ld", k,
				       r->tid, got);
				return got < 0 ? got : -EIO;
			}
		}
		n -= k;
	}
	remote_scratch_reset(r);
	return 0;
}

static bool aio_vma_found(const MmEntry *mm, uint64_t start, uint64_t len)
{
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (v->start == start && v->end == start + len && (v->status & VMA_AREA_AIORING) &&
		    (v->status & VMA_ANON_PRIVATE) && (v->prot & PROT_READ))
			return true;
	}
	return false;
}

static int aio_restore_one(struct remote *r, const MmEntry *mm, const AioRingEntry *a, int fd)
{
	uint64_t old = a->id, len = a->ring_len;
	struct aio_ring_hdr h, nh;
	int ret;

	if (!a->has_id || !a->has_ring_len || !a->nr_req || (old | len) & (PAGE_SIZE - 1) ||
	    len < PAGE_SIZE || len > (1ULL << 30) || !aio_vma_found(mm, old, len)) {
		pr_err("mm image: invalid AIO ring entry at 0x%llx (%llu bytes)",
		       (unsigned long long)old, (unsigned long long)len);
		return -EINVAL;
	}
	/* the dumped ring, back as plain memory at its address */
	uint8_t *saved = xmalloc(len);
	if (!saved)
		return -ENOMEM;
	ret = remote_read(r, old, saved, len);
	if (ret)
		goto out;
	memcpy(&h, saved, sizeof(h));
	if (h.magic != AIO_RING_MAGIC || h.header_length != sizeof(h) ||
	    h.incompat_features != AIO_RING_INCOMPAT_FEATURES ||
	    h.nr != (len - sizeof(h)) / sizeof(struct io_event) || h.head >= h.nr ||
	    h.tail >= h.nr) {
		pr_err("the dumped AIO ring at 0x%llx is not one cryo knows (magic %#x, %u slots, "
		       "head %u, tail %u)", (unsigned long long)old, h.magic, h.nr, h.head, h.tail);
		ret = -EINVAL;
		goto out;
	}
	long lr = remote_syscall(r, __NR_munmap, old, len, 0, 0, 0, 0);
	if (lr) {
		ret = lr;
		pr_err("munmap of the saved AIO ring at 0x%llx in task %d failed: %s",
		       (unsigned long long)old, r->tid, strerror(-ret));
		goto out;
	}
	remote_scratch_reset(r);
	uint64_t ctx_at = remote_scratch_alloc(r, sizeof(aio_context_t));
	aio_context_t zero = 0, ctx = 0;
	ret = ctx_at ? remote_write(r, ctx_at, &zero, sizeof(zero)) : -ENOSPC;
	if (ret)
		goto out;
	lr = remote_syscall(r, __NR_io_setup, a->nr_req, ctx_at, 0, 0, 0, 0);
	if (!lr)
		lr = remote_read(r, ctx_at, &ctx, sizeof(ctx));
	if (lr) {
		ret = lr;
		pr_err("io_setup(%u) in restored task %d failed: %s (see fs.aio-max-nr)",
		       a->nr_req, r->tid, strerror(-ret));
		goto out;
	}
	ret = remote_read(r, ctx, &nh, sizeof(nh));
	if (ret)
		goto out;
	if (nh.nr != h.nr) {
		pr_err("io_setup(%u) in restored task %d made a ring of %u events, the dumped one "
		       "had %u (a kernel with another ring layout or number of CPUs)", a->nr_req,
		       r->tid, nh.nr, h.nr);
		ret = -EOPNOTSUPP;
		goto out;
	}
	/* The kernel writes the next completion at its own tail, not the
	 * ring's: move it to the dumped head with requests reaped at once,
	 * then to the dumped tail with requests left unreaped (they hold their
	 * slots, as the dumped completions did), whose events are then
	 * overwritten with the dumped ones. */
	uint32_t pending = (h.tail + h.nr - h.head) % h.nr;
	ret = aio_dummies(r, ctx, fd, h.head, true);
	if (!ret)
		ret = aio_dummies(r, ctx, fd, pending, false);
	if (!ret)
		ret = remote_read(r, ctx, &nh, sizeof(nh));
	if (ret)
		goto out;
	if (nh.head != h.head || nh.tail != h.tail) {
		pr_err("AIO ring of restored task %d: head/tail %u/%u, expected %u/%u", r->tid,
		       nh.head, nh.tail, h.head, h.tail);
		ret = -EIO;
		goto out;
	}
	ret = remote_write(r, ctx + sizeof(h), saved + sizeof(h), len - sizeof(h));
	if (ret)
		goto out;
	lr = remote_syscall(r, __NR_mremap, ctx, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, old, 0);
	if (lr != (long)old) {
		ret = lr < 0 ? lr : -EIO;
		pr_err("mremap of the AIO ring of restored task %d to 0x%llx failed: %s", r->tid,
		       (unsigned long long)old, strerror(-ret));
		goto out;
	}
	pr_debug("task %d: AIO context 0x%llx restored (%u events pending)", r->tid,
		 (unsigned long long)old, pending);
out:
	remote_scratch_reset(r);
	free(saved);
	return ret;
}

int aio_restore_rings(struct remote *r, const MmEntry *mm, int pages_fd)
{
	int ret = 0;
	for (size_t i = 0; i < mm->n_aios && !ret; i++)
		ret = aio_restore_one(r, mm, mm->aios[i], pages_fd);
	return ret;
}
