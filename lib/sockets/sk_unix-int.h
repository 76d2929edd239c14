/* Unix sockets, shared by sk_unix.c (the kind, sock_diag listing),
 * sk_unix_dump.c and sk_unix_restore.c. */
#ifndef CRYO_SK_UNIX_H
#define CRYO_SK_UNIX_H

#include "files/files-int.h"

#include "sk-unix.pb-c.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

/* unix_sk_entry.uflags, as criu writes them */
#define USK_EXTERN	0x1	/* not a descriptor: a peer outside the tree */

/* One socket as sock_diag shows it. */
struct usk_diag {
	uint32_t ino, peer;
	uint8_t type, state, shutdown;
	bool has_vfs;
	uint32_t vfs_ino, vfs_dev;	/* the bound file (kernel dev_t encoding) */
	uint32_t rq, wq;		/* UNIX_DIAG_RQLEN */
	int namelen;			/* bytes of sun_path (abstract: leading NUL) */
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	uint32_t *icons;		/* listening: client inodes of pending connections */
	int nr_icons;
};

struct usk_list {
	struct usk_diag *v;		/* sorted by ino */
	int nr, cap;
};

/* Every unix socket of cryo's network namespace. */
int usk_list_all(struct usk_list *l);
void usk_list_free(struct usk_list *l);
struct usk_diag *usk_list_find(struct usk_list *l, uint32_t ino);

/* "name" for messages: @name/@len as printable text (abstract as "@..."). */
const char *usk_name_str(const void *name, size_t len, char *buf, size_t size);

int usk_dump(struct fd_dump *d);
int usk_dump_end(struct files_dump *fdm);
int usk_open(struct files_restore *fr, struct rst_file *f);
void usk_restore_finish(struct files_restore *fr, bool ok);
int usk_preopen(struct files_restore *fr);

#endif
