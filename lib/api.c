/* The front ends' entry points (lib/cryo.h): each operation runs with its
 * caller's error object recording the first error it logs. */
#include "cryo.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "action_scripts.h"
#include "arch/cpuinfo.h"
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

static int cpuinfo(const struct cryo_opts *o)
{
	unsigned caps;
	int ret = cpuinfo_parse_caps(o->cpu_cap ? o->cpu_cap : "fpu,ins", &caps);
	if (ret)
		return ret;
	int dirfd = img_dir_open(o->images_dir, o->command == CMD_CPUINFO_DUMP);
	if (dirfd < 0)
		return dirfd;
	ret = o->command == CMD_CPUINFO_DUMP ? cpuinfo_dump(dirfd) :
	      cpuinfo_check(dirfd, o->images_dir, caps);
	close(dirfd);
	return ret;
}

int cryo_cpuinfo(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, cpuinfo(o));
}

int cryo_page_server(struct cryo_opts *o, struct cryo_error *err)
{
	return WITH_ERRORS(err, page_server(o));
}

static int page_server_start(struct cryo_opts *o, bool detach, int close_fd, pid_t *pid,
			     int *port)
{
	if (o->lazy_pages || o->ps_socket >= 0 || o->daemon) {
		pr_err("a page server started over RPC listens on criu_opts.ps (address, port) "
		       "and serves one dump; %s is not for it", o->lazy_pages ? "lazy_pages" :
		       o->ps_socket >= 0 ? "ps.fd" : "daemon");
		return -EINVAL;
	}
	char name[320];
	int lsk = page_server_listen(o->address, o->port, name, sizeof(name));
	if (lsk < 0)
		return lsk;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(lsk, (struct sockaddr *)&ss, &sl)) {
		int ret = log_errno(-errno, "page server: getsockname of %s failed", name);
		close(lsk);
		return ret;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		      ((struct sockaddr_in *)&ss)->sin_port);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC)) {
		int ret = log_errno(-errno, "page server: can't make a pipe");
		close(lsk);
		return ret;
	}
	pid_t child = fork();
	if (child < 0) {
		int ret = log_errno(-errno, "page server: can't fork");
		close(lsk);
		close(pfd[0]);
		close(pfd[1]);
		return ret;
	}
	if (child == 0) {
		if (close_fd >= 0)
			close(close_fd);
		close(pfd[0]);
		if (detach) {
			/* criu's daemon mode: a session of its own, and not our child */
			setsid();
			pid_t g = fork();
			if (g != 0) {
				(void)!write(pfd[1], &g, sizeof(g));
				_exit(g < 0);
			}
		}
		close(pfd[1]);
		struct ps_tls_opts tls = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
					   .cert = o->tls_cert, .key = o->tls_key,
					   .no_cn_verify = o->tls_no_cn_verify };
		struct page_server_args a = {
			.dir = o->images_dir, .ps_socket = -1, .listening = true, .listen_fd = lsk,
			.status_fd = -1, .tls = o->tls ? &tls : NULL,
		};
		_exit(page_server_run(&a) ? 1 : 0);
	}
	close(lsk);
	close(pfd[1]);
	*pid = child;
	int ret = 0;
	if (detach) {
		pid_t g = -1;
		ssize_t n = read(pfd[0], &g, sizeof(g));
		int st;
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
		if (n != sizeof(g) || g <= 0)
			ret = log_errno(-ECHILD, "page server: its process could not go into the "
					"background");
		*pid = g;
	}
	close(pfd[0]);
	if (!ret)
		pr_info("page server %d listening on port %d, writing into %s", *pid, *port,
			o->images_dir);
	return ret;
}

int cryo_page_server_start(struct cryo_opts *o, bool detach, int close_fd, pid_t *pid, int *port,
			   struct cryo_error *err)
{
	return WITH_ERRORS(err, page_server_start(o, detach, close_fd, pid, port));
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
	struct ps_tls_opts tls = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
				   .cert = o->tls_cert, .key = o->tls_key,
				   .no_cn_verify = o->tls_no_cn_verify };
	struct lazy_daemon_args a = {
		.dir = o->work_dir ? o->work_dir : o->images_dir, .daemon = o->daemon,
		.status_fd = o->status_fd, .pidfile = o->pidfile,
		.address = o->page_server ? o->address : NULL, .port = o->page_server ? o->port : 0,
		.tls = o->page_server && o->tls ? &tls : NULL,
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
