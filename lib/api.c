/* The front ends' entry points (lib/cryo.h): each operation runs with its
 * caller's error object recording the first error it logs. */
#include "cryo.h"

#include <errno.h>
#include <unistd.h>

#include "action_scripts.h"
#include "dump/dump.h"
#include "images/show.h"
#include "kerndat/kerndat.h"
#include "images/image.h"
#include "mem/mem.h"
#include "mem/lazy.h"
#include "mem/page_server.h"
#include "mem/ps_tls.h"
#include "migrate/migrate.h"
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

/* --action-script: the operation's hook runs the scripts, then the front
 * end's own (action_scripts.h). */
#define WITH_SCRIPTS(o, call)                                                  \
	({                                                                     \
		struct action_scripts __as;                                    \
		const struct pipeline_hook *__prev =                           \
			action_scripts_install(&__as, (o));                    \
		int __r = (call);                                              \
		(o)->notify = __prev;                                          \
		__r;                                                           \
	})

int cryo_dump(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_SCRIPTS(o, WITH_ERRORS(err, dump_tree(o)));
}

int cryo_pre_dump(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_SCRIPTS(o, WITH_ERRORS(err, pre_dump_tree(o)));
}

int cryo_restore(struct cryo_opts *o, int *exit_status, struct cryo_error *err)
{
	return WITH_SCRIPTS(o, WITH_ERRORS(err, restore_tree(o, exit_status)));
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
	struct ps_tls_opts tls = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
				   .cert = o->tls_cert, .key = o->tls_key,
				   .no_cn_verify = o->tls_no_cn_verify };
	struct page_server_args a = {
		.dir = o->images_dir, .address = o->address, .port = o->port,
		.ps_socket = o->ps_socket, .daemon = o->daemon, .status_fd = o->status_fd,
		.pidfile = o->pidfile, .tls = o->tls ? &tls : NULL,
	};
	return page_server_run(&a);
}

int cryo_page_server(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, page_server(o));
}

static int dedup(const struct cryo_opts *o)
{
	int dirfd = img_dir_open(o->images_dir, false);
	if (dirfd < 0)
		return dirfd;
	int ret = img_dir_check_complete(dirfd, o->images_dir);
	if (!ret)
		ret = mem_dedup(dirfd, o->images_dir, false);
	close(dirfd);
	return ret;
}

int cryo_dedup(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, dedup(o));
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

static int migrate(struct cryo_opts *o)
{
	return o->migrate_listen ? migrate_dest(o) : migrate_source(o);
}

int cryo_migrate(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, migrate(o));
}
