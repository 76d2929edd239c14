/* libcriu's options object and what criu.c and opts.c share. */
#ifndef CRYO_LIBCRIU_INT_H
#define CRYO_LIBCRIU_INT_H

#include <sys/types.h>

#include "criu.h"
#include "rpc.pb-c.h"

struct criu_opts {
	CriuOpts *rpc;                  /* the request's options, sent as they are */
	int (*notify)(char *action, criu_notify_arg_t na);
	enum criu_service_comm comm;
	char *service_address;          /* CRIU_COMM_SK */
	int service_fd;                 /* CRIU_COMM_FD */
	char *service_binary;           /* CRIU_COMM_BIN; NULL: the default cryo */
	pid_t swrk_pid;                 /* the swrk child of the request running */
};

/* criu_init_opts()'s object, used by every function without "local". */
extern criu_opts *lc_global;
extern const char *criu_lib_version;
void criu_free_service(criu_opts *opts);

#define LC_DEFAULT_SERVICE_ADDRESS "/var/run/criu_service.socket"

/* Prints "libcriu: MESSAGE" on standard error: the library has no log of its own. */
void lc_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
