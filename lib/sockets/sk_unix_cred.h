/* Peer credentials of unix sockets (sk_unix_cred.c): recorded at dump,
 * made again at restore by a process of the tree with the recorded PID
 * and ids (files_restore.as_creator). */
#ifndef CRYO_SK_UNIX_CRED_H
#define CRYO_SK_UNIX_CRED_H

#include "files/files-int.h"
#include "seize/remote.h"

#include "sk-unix.pb-c.h"

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#define USK_NO_CRED 0xffffffffu	/* cryo_peer_uid: the socket has none */

/* Dump: SO_PEERCRED and SO_PEERGROUPS of cryo's copy @lfd of a socket of
 * the tree whose root is @pid into @e, as the tree sees them.  0 or a
 * negative code (logged). */
int usk_cred_dump(struct files_dump *fdm, int lfd, pid_t pid, UnixSkEntry *e, const char *what);
void usk_cred_free(UnixSkEntry *e);

/* Restore.  recorded: the image has them; has: ... and there are some
 * (paired, connected or listening); none: recorded, and there are none. */
bool usk_cred_recorded(const UnixSkEntry *e);
bool usk_cred_has(const UnixSkEntry *e);
bool usk_cred_none(const UnixSkEntry *e);
/* A socket pair of @type made by @e's credentials' process (both ends
 * get them): 0 and @sv in cryo; 1: none recorded, make it in cryo;
 * negative: failed (logged). */
int usk_cred_socketpair(struct files_restore *fr, const UnixSkEntry *e, int type, int sv[2],
			const char *what);
/* listen(@sk, @backlog) by @e's credentials' process (by cryo if none are
 * recorded or its maker was outside the tree's PID namespace; then the
 * error is returned unlogged). */
int usk_cred_listen(struct files_restore *fr, const UnixSkEntry *e, int sk, int backlog,
		    const char *what);
/* connect(@sk, @addr) by @e's credentials' process (@e must have some):
 * the accepted end gets them; 1: that is cryo (a maker outside the tree's
 * PID namespace), which connects as it would without them.  @addr is looked up from that process's
 * root and working directory; @target: cryo's listener bound there (its
 * file is given that process's ids for the call), or -1. */
int usk_cred_connect(struct files_restore *fr, const UnixSkEntry *e, int sk,
		     const struct sockaddr_un *addr, socklen_t len, int target, const char *what);
/* @to's name, to connect to from a task of the tree (before its root
 * and working directory are restored). */
int usk_cred_task_addr(const UnixSkEntry *to, struct sockaddr_un *a, socklen_t *len,
		       const char *what);

#endif
