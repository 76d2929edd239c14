/* A page sink that records the runs and bytes given to it, and how it was
 * opened, finished and aborted, for the unit tests of the page writers and
 * the dirty trackers. */
#ifndef CRYO_TEST_REC_SINK_H
#define CRYO_TEST_REC_SINK_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/page_sink.h"

struct rec_sink {
	struct page_sink s;
	int opened, finished, aborted;
	pid_t pid;
	uint32_t pages_id;
	struct page_run runs[64];
	int n;
	size_t len;
	char *data;
};

static int rec_open(struct page_sink *s, pid_t pid, uint32_t pages_id)
{
	struct rec_sink *r = (struct rec_sink *)s;
	r->opened++;
	r->pid = pid;
	r->pages_id = pages_id;
	return 0;
}

static int rec_add_run(struct page_sink *s, const struct page_run *run)
{
	struct rec_sink *r = (struct rec_sink *)s;
	if (r->n == 64)
		return -E2BIG;
	r->runs[r->n++] = *run;
	return 0;
}

static int rec_write(struct page_sink *s, const void *buf, size_t len)
{
	struct rec_sink *r = (struct rec_sink *)s;
	r->data = realloc(r->data, r->len + len);
	memcpy(r->data + r->len, buf, len);
	r->len += len;
	return 0;
}

static int rec_finish(struct page_sink *s)
{
	((struct rec_sink *)s)->finished++;
	return 0;
}

static void rec_abort(struct page_sink *s)
{
	((struct rec_sink *)s)->aborted++;
}

static void rec_destroy(struct page_sink *s)
{
	(void)s;	/* on the test's stack; data freed by the test */
}

static const struct page_sink_ops rec_ops = { .open = rec_open, .add_run = rec_add_run,
					      .write = rec_write, .finish = rec_finish,
					      .abort = rec_abort, .destroy = rec_destroy };

#endif
