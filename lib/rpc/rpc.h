/* criu's RPC front end: `cryo swrk FD` and `cryo service` speak criu's
 * rpc.proto (lib/images/proto/rpc.proto) over a SOCK_SEQPACKET socket and
 * run the same libcryo operations as the command line (lib/cryo.h).
 */
#ifndef CRYO_RPC_H
#define CRYO_RPC_H

#include <stdbool.h>
#include <sys/types.h>

#include "options/options.h"
#include "rpc.pb-c.h"

/* `cryo swrk FD`: serve the requests of the client at the other end of the
 * inherited socket @fd until it closes it.  @base: the command line's
 * options (log level, work dir are not inherited by requests). */
int rpc_swrk(struct cryo_opts *base, int fd);

/* `cryo service`: accept connections on --address (or a socket passed by
 * systemd, LISTEN_FDS) and serve each in its own process. */
int rpc_service(struct cryo_opts *base);

/* ---- criu_opts -> struct cryo_opts (rpc_opts.c) ----------------------- */

/* What a criu_opts field becomes. */
enum rpc_field_kind {
	RPC_FIELD_OPTION,	/* sets the cryo option of the same meaning */
	RPC_FIELD_RPC,		/* handled by the RPC code itself */
	RPC_FIELD_REFUSED,	/* a request that sets it is refused */
	RPC_FIELD_IGNORED,	/* accepted, no effect (with a reason) */
};

struct rpc_field_info {
	enum rpc_field_kind kind;
	const char *option;	/* RPC_FIELD_OPTION: the option's long name */
	const char *why;	/* the other kinds: what is done and why */
	bool converted;		/* the value is converted (not by the field's type) */
};

/* How the criu_opts field @field is mapped; -ENOENT if the field is
 * unknown to the mapping (a schema field nobody mapped: a bug the unit
 * test catches). */
int rpc_field_info(const char *field, struct rpc_field_info *info);

/* Who sent the request: descriptor numbers in it (images_dir_fd,
 * work_dir_fd) are the client's. */
struct rpc_peer {
	pid_t pid;		/* SO_PEERCRED; 0: numbers are our own */
	bool swrk;		/* the client is our parent (swrk) */
};

/* Fill @o (fresh from opts_init) from @req's options for @cmd: every set
 * field through the option table (source "RPC field NAME"), then the
 * request's configuration file (criu's order: the file wins), then
 * opts_validate().  Errors are logged (and so land in the caller's error
 * object); returns 0 or a negative code (-EBADRQC for bad options). */
int rpc_opts_from_req(struct cryo_opts *o, const CriuOpts *req, enum cryo_command cmd,
		      const struct rpc_peer *peer);

/* Log the options of a @what request (every set field, name=value), so a
 * log shows what the client sent. */
/* @refused: at warning level (the request was refused: shown at any
 * log level but 0 and 1) */
void rpc_log_opts(const char *what, const CriuOpts *req, bool refused);

#endif
