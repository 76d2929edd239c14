/* The previous dumps of an incremental dump, restore side: for one
 * process, its pagemap and pages file in each dump down the chain of
 * "parent" links (images/imgdir.c opens the directories), each a local
 * page source whose PE_PARENT runs resolve in the next one.  The pages
 * files are opened in cryo at 100 and up without close-on-exec, like the
 * process's own: the tasks inherit them and read their pages themselves
 * (the in-task pread fast path), then close them with the others. */
#include "mem/page_source.h"
#include "mem/mem.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct page_prev {
	struct mem_image mi;	/* its pagemap only */
	int fd;			/* its pages-N.img */
	struct page_source src;
};

int page_prevs_open(const int *dirs, int ndirs, int pid, struct page_prevs *pp)
{
	int ret = 0;
	memset(pp, 0, sizeof(*pp));
	if (!ndirs)
		return 0;
	pp->v = xzalloc(sizeof(*pp->v) * ndirs);
	if (!pp->v)
		return -ENOMEM;
	for (int i = 0; i < ndirs; i++) {
		struct page_prev *x = &pp->v[i];
		struct cr_img *img;
		x->fd = -1;
		/* a process forked after that dump has no pages there */
		ret = mem_pagemap_load(dirs[i], pid, &x->mi, true);
		if (ret) {
			mem_image_free(&x->mi);
			if (ret == -ENOENT)
				ret = 0;
			break;
		}
		ret = img_open(&img, dirs[i], IMG_PAGES, IMG_READ, x->mi.pages_id);
		if (!ret) {
			x->fd = fcntl(img_raw_fd(img), F_DUPFD, 100);	/* inherited */
			if (x->fd < 0)
				ret = log_errno(-errno, "can't duplicate the descriptor of a "
						"previous dump's pages-%u.img", x->mi.pages_id);
			img_close(img);
		}
		if (!ret)
			ret = page_source_local(&x->src, &x->mi, x->fd);
		if (ret) {
			if (x->fd >= 0)
				close(x->fd);
			mem_image_free(&x->mi);
			break;
		}
		pp->n++;
		if (i)
			pp->v[i - 1].src.parent = &x->src;
	}
	if (ret)
		page_prevs_close(pp);
	return ret;
}

struct page_source *page_prevs_head(struct page_prevs *pp)
{
	return pp->n ? &pp->v[0].src : NULL;
}

void page_prevs_close(struct page_prevs *pp)
{
	for (int i = 0; i < pp->n; i++) {
		page_source_fini(&pp->v[i].src);
		mem_image_free(&pp->v[i].mi);
		if (pp->v[i].fd >= 0)
			close(pp->v[i].fd);
	}
	free(pp->v);
	memset(pp, 0, sizeof(*pp));
}

int page_prevs_fd(const struct page_prevs *pp, int i)
{
	return pp->v[i].fd;
}
