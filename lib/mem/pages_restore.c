/* Filling restored memory from pages-N.img: one pread per run of pages,
 * run inside the task (one copy, straight into its memory), batched. */
#include "mem/mem.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#define FILL_CHUNK (1ULL << 30)

/* Run a batch of preads and check each one read everything. */
static int flush_fill(struct remote *r, struct remote_batch *b, uint32_t pages_id)
{
	int done = remote_batch_run(r, b);
	if (done < 0)
		return done;
	for (int i = 0; i < b->n; i++) {
		const struct remote_call *c = &b->calls[i];
		if (i < done && (uint64_t)c->ret == c->a[2])
			continue;
		pr_err("filling memory at 0x%llx from pages-%u.img failed: %s",
		       (unsigned long long)c->a[1], pages_id,
		       c->ret < 0 ? strerror((int)-c->ret) : "the image is truncated");
		return c->ret < 0 ? (int)c->ret : -EIO;
	}
	b->n = 0;
	return 0;
}

int pages_restore_fill(struct remote *r, const struct mem_image *mi, int pages_fd)
{
	struct remote_batch *b = xzalloc(sizeof(*b));
	uint64_t off = 0;
	int ret = 0;
	if (!b)
		return -ENOMEM;
	for (int i = 0; i < mi->n_pe && !ret; i++) {
		const PagemapEntry *pe = mi->pe[i];
		uint64_t len = (uint64_t)pe->nr_pages * PAGE_SIZE;
		if (pe->has_flags && (pe->flags & (PE_PARENT | PE_LAZY))) {
			pr_err("pagemap entry at 0x%llx needs a parent image or lazy pages: not "
			       "supported yet", (unsigned long long)pe->vaddr);
			ret = -EOPNOTSUPP;
			break;
		}
		if ((pe->vaddr & (PAGE_SIZE - 1)) || !pe->nr_pages || pe->vaddr + len < pe->vaddr) {
			pr_err("pagemap image: invalid entry 0x%llx (%u pages)",
			       (unsigned long long)pe->vaddr, pe->nr_pages);
			ret = -EINVAL;
			break;
		}
		/* one read returns at most 2 GiB - 4 KiB: chunk long runs */
		for (uint64_t done = 0; done < len && !ret; done += FILL_CHUNK) {
			uint64_t n = MIN(FILL_CHUNK, len - done);
			b->calls[b->n++] = (struct remote_call){
				__NR_pread64, { pages_fd, pe->vaddr + done, n, off + done, 0, 0 }, 0 };
			if (b->n == REMOTE_BATCH_MAX)
				ret = flush_fill(r, b, mi->pages_id);
		}
		off += len;
		if (!ret && b->n && i == mi->n_pe - 1)
			ret = flush_fill(r, b, mi->pages_id);
	}

	free(b);
	return ret;
}
