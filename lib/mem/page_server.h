/* `cryo page-server` (page_server.c): receive a dump's pages over criu's
 * page server protocol into an images directory. */
#ifndef CRYO_MEM_PAGE_SERVER_H
#define CRYO_MEM_PAGE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct ps_tls_opts;

struct page_server_args {
	const char *dir;	/* the images directory (-D) */
	const char *address;	/* NULL: every address */
	int port;
	int ps_socket;		/* a connected socket instead, or -1 */
	bool listening;		/* listen_fd: a socket already listening (RPC) */
	int listen_fd;
	bool daemon;
	int status_fd;		/* -1: none */
	const char *pidfile;
	const struct ps_tls_opts *tls;	/* --tls (mem/ps_tls.h), NULL: none */
};

/* Listen (or take the socket), serve one session, return its result. */
int page_server_run(const struct page_server_args *a);
/* Serve one session on the connected @sk into @dirfd; @peer names it. */
int page_server_serve(int sk, int dirfd, const char *peer);

/* Listen on @address (NULL: every address) : @port (TCP); @name gets
 * "ADDRESS:PORT" for messages.  Returns the socket. */
int page_server_listen(const char *address, int port, char *name, size_t namelen);

#endif
