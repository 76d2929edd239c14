/* The page sink of an images directory: pagemap-PID.img (a PagemapHead,
 * then one PagemapEntry per run) and pages-N.img (the raw contents of the
 * PE_PRESENT runs, in entry order).  See page_sink.h. */
#include "mem/page_sink.h"
#include "mem/mem.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct local_sink {
	struct page_sink s;
	int dirfd;		/* not owned */
	struct cr_img *pagemap, *pages;
	int out_fd;		/* pages-N.img */
};

static struct local_sink *local(struct page_sink *s)
{
	return (struct local_sink *)s;
}

static int close_imgs(struct local_sink *l)
{
	int ret = 0;
	if (l->pages) {
		ret = img_close(l->pages);
		l->pages = NULL;
	}
	if (l->pagemap) {
		int r = img_close(l->pagemap);
		ret = ret ? ret : r;
		l->pagemap = NULL;
	}
	l->out_fd = -1;
	return ret;
}

static int open_imgs(struct local_sink *l, enum img_type type, uint64_t id, uint32_t pages_id)
{
	int ret = img_open(&l->pagemap, l->dirfd, type, IMG_WRITE, id);
	if (!ret)
		ret = img_open(&l->pages, l->dirfd, IMG_PAGES, IMG_WRITE, pages_id);
	if (ret) {
		close_imgs(l);
		return ret;
	}
	l->out_fd = img_raw_fd(l->pages);

	PagemapHead ph = PAGEMAP_HEAD__INIT;
	ph.has_pages_id = 1;
	ph.pages_id = pages_id;
	ret = img_write_msg(l->pagemap, &ph.base);
	if (ret)
		close_imgs(l);
	return ret;
}

static int local_open(struct page_sink *s, pid_t pid, uint32_t pages_id)
{
	s->pid = pid;
	return open_imgs(local(s), IMG_PAGEMAP, pid, pages_id);
}

static int local_open_shmem(struct page_sink *s, uint64_t shmid, uint32_t pages_id)
{
	s->pid = 0;
	return open_imgs(local(s), IMG_SHMEM_PAGEMAP, shmid, pages_id);
}

static int local_add_run(struct page_sink *s, const struct page_run *run)
{
	PagemapEntry pe = PAGEMAP_ENTRY__INIT;
	pe.has_vaddr = pe.has_nr_pages = pe.has_flags = 1;
	pe.vaddr = run->vaddr;
	pe.nr_pages = run->nr_pages;
	pe.flags = run->flags;
	pe.has_cow_parent = pe.cow_parent = run->cow_parent;
	return img_write_msg(local(s)->pagemap, &pe.base);
}

/* Called from the dump's writer thread. */
static int local_write(struct page_sink *s, const void *buf, size_t len)
{
	int ret = write_all(local(s)->out_fd, buf, len);
	if (ret && s->pid)
		log_errno(ret, "can't write pages of process %d to the image", s->pid);
	else if (ret)
		log_errno(ret, "can't write the pages of a shared memory object to the image");
	return ret;
}

static int local_finish(struct page_sink *s)
{
	return close_imgs(local(s));
}

/* The half-written images stay: without inventory.img the directory is no
 * dump, and the next dump replaces them. */
static void local_abort(struct page_sink *s)
{
	close_imgs(local(s));
}

static void local_destroy(struct page_sink *s)
{
	close_imgs(local(s));
	free(s);
}

static const struct page_sink_ops local_ops = {
	.open = local_open,
	.add_run = local_add_run,
	.write = local_write,
	.finish = local_finish,
	.abort = local_abort,
	.destroy = local_destroy,
	.open_shmem = local_open_shmem,
};

int page_sink_local(int dirfd, struct page_sink **out)
{
	struct local_sink *l = xzalloc(sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->s.ops = &local_ops;
	l->dirfd = dirfd;
	l->out_fd = -1;
	*out = &l->s;
	return 0;
}
