/* libcryo: the operations that the command line and the RPC service share.
 *
 * Each returns 0 (or a count) on success and a negative errno on failure;
 * @err (may be NULL) then holds the first error the operation logged: its
 * code, its one-line message and where it was found.  The CLI has printed
 * that message already; the RPC service replies with it. */
#ifndef CRYO_H
#define CRYO_H

#include "options/options.h"
#include "util/log.h"

int cryo_dump(struct cryo_opts *o, struct cryo_error *err);
int cryo_pre_dump(struct cryo_opts *o, struct cryo_error *err);
/* On success with !restore_detached, *exit_status gets the root's wait status. */
int cryo_restore(struct cryo_opts *o, int *exit_status, struct cryo_error *err);
/* Returns 0 when the basics are present ("Looks good."), >0 / <0 otherwise. */
int cryo_check(struct cryo_opts *o, struct cryo_error *err);
/* Receive a dump's pages (dump --page-server) into o->images_dir; one
 * session, as criu's page server. */
int cryo_page_server(struct cryo_opts *o, struct cryo_error *err);
/* cpuinfo dump / cpuinfo check (o->command), in o->images_dir */
int cryo_cpuinfo(struct cryo_opts *o, struct cryo_error *err);
/* A page server in a process of its own, listening once this returns (RPC
 * PAGE_SERVER / PAGE_SERVER_CHLD): a child of the caller, or with
 * @detach a process of its own session that is nobody's child.  @close_fd
 * (>= 0) is closed in it.  *@pid and *@port (the port it listens on, also
 * when --port was 0) say where it is. */
int cryo_page_server_start(struct cryo_opts *o, bool detach, int close_fd, pid_t *pid, int *port,
			   struct cryo_error *err);
/* Punch out of the previous dumps of o->images_dir the pages it replaces
 * (criu's dedup). */
int cryo_dedup(struct cryo_opts *o, struct cryo_error *err);
/* `cryo lazy-pages`: fill in a tree restored with --lazy-pages (mem/lazy.h). */
int cryo_lazy_pages(struct cryo_opts *o, struct cryo_error *err);
/* `cryo migrate`: --to (the source) or --listen (the destination);
 * lib/migrate/migrate.h. */
int cryo_migrate(struct cryo_opts *o, struct cryo_error *err);
/* Decode an image file, or every image in a directory, to JSON. */
int cryo_show(const char *path, int out_fd, struct cryo_error *err);

#endif
