/* Unix sockets at restore, shared by sk_unix_restore.c (the connections)
 * and sk_unix_name.c (binding and connecting by name). */
#ifndef CRYO_SK_UNIX_RESTORE_INT_H
#define CRYO_SK_UNIX_RESTORE_INT_H

#include "sockets/sk_unix-int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

struct usk_rst {
	struct rst_file **v;	/* the unix entries, by inode */
	int nr;
	struct rst_file **listeners;	/* those listening (not external) */
	int nr_listeners;
	struct usk_list live;	/* sockets alive before the restore (stale files) */
	bool live_listed;
	struct bound {
		char *path;	/* absolute */
		bool deleted;	/* unlinked once every peer has connected */
		dev_t dev;
		ino_t ino;
	} *bound;		/* files cryo created by binding */
	int nr_bound;
	char **made_dirs;	/* directories made to bind deleted sockets in */
	int nr_made_dirs;
	int real_root;		/* cryo's own root (O_PATH), once a name needs another */
	const char *cur_root;	/* the changed root cryo is in now, NULL: its own */
};

static inline const char *what(const UnixSkEntry *e, char *buf, size_t size)
{
	char nm[400];
	snprintf(buf, size, "unix socket %u %s (file %u)", e->ino,
		 usk_name_str(e->name.data, e->name.len, nm, sizeof(nm)), e->id);
	return buf;
}
#define WHAT(e) what((e), (char[480]){ 0 }, 480)

static inline socklen_t make_addr(const UnixSkEntry *e, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	size_t n = e->name.len < sizeof(a->sun_path) ? e->name.len : sizeof(a->sun_path);
	if (n)
		memcpy(a->sun_path, e->name.data, n);
	return offsetof(struct sockaddr_un, sun_path) + n;
}

static inline bool has_name(const UnixSkEntry *e)
{
	return e->name.len > 0;
}

static inline bool same_name(const UnixSkEntry *a, const UnixSkEntry *b)
{
	return a->name.len && a->name.len == b->name.len &&
	       !memcmp(a->name.data, b->name.data, a->name.len);
}

/* What is done while a socket's name leads to it (a deleted socket's
 * name is unlinked, or given back to the file that took it, right after):
 * its queue sent to its name, a listener's connections made by name. */
typedef int while_named_fn(struct files_restore *fr, struct usk_rst *s, struct rst_file *f);

/* Is a socket of this namespace, alive before cryo created any, bound to
 * the file @st?  Then the path is not stale but in use (*@busy). */
int usk_path_in_use(struct usk_rst *s, const struct stat *st, bool *busy);
/* connect() @sk to the name of @to, looked up from its root. */
int usk_connect_named(struct usk_rst *s, int sk, const UnixSkEntry *to, const char *w);
/* Bind @sk to @e's name, then run @named for @f (see while_named_fn). */
int usk_bind_then(struct usk_rst *s, int sk, const UnixSkEntry *e, struct files_restore *fr,
		  struct rst_file *f, while_named_fn *named);
int usk_bind(struct usk_rst *s, int sk, const UnixSkEntry *e);

#endif
