/* The front ends' entry points (lib/cryo.h): each operation runs with its
 * caller's error object recording the first error it logs. */
#include "cryo.h"

#include <errno.h>

#include "dump/dump.h"
#include "images/show.h"
#include "kerndat/kerndat.h"
#include "mem/lazy.h"
#include "mem/page_server.h"
#include "restore/restore.h"

#define WITH_ERRORS(err, call)                                                 \
	({                                                                     \
		if (err)                                                       \
			*err = (struct cryo_error){ 0 };                       \
		struct cryo_error *__outer = log_capture_errors(err);           \
		int __ret = (call);                                            \
		cryo_error_finish(err, __ret);                                 \
		log_capture_errors(__outer);                                   \
		__ret;                                                         \
	})

int cryo_dump(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, dump_tree(o));
}

int cryo_pre_dump(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, pre_dump_tree(o));
}

int cryo_restore(struct cryo_opts *o, int *exit_status, struct cryo_error *err)
{
	return WITH_ERRORS(err, restore_tree(o, exit_status));
}

int cryo_check(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, kdat_check(o));
}

int cryo_show(const char *path, int out_fd, struct cryo_error *err)
{
	return WITH_ERRORS(err, img_show(path, out_fd, 0));
}

static int page_server(const struct cryo_opts *o)
{
	if (o->lazy_pages) {
		pr_err("page-server --lazy-pages is not implemented yet (post-copy migration)");
		return -EOPNOTSUPP;
	}
	struct page_server_args a = {
		.dir = o->images_dir, .address = o->address, .port = o->port,
		.ps_socket = o->ps_socket, .daemon = o->daemon, .status_fd = o->status_fd,
		.pidfile = o->pidfile,
	};
	return page_server_run(&a);
}

int cryo_page_server(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, page_server(o));
}

static int lazy_pages(const struct cryo_opts *o)
{
	struct lazy_daemon_args a = {
		.dir = o->work_dir ? o->work_dir : o->images_dir, .daemon = o->daemon,
		.status_fd = o->status_fd, .pidfile = o->pidfile,
		.address = o->page_server ? o->address : NULL, .port = o->page_server ? o->port : 0,
	};
	return lazy_daemon_run(&a);
}

int cryo_lazy_pages(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, lazy_pages(o));
}
