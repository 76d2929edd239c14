/* The migration stream (cryo's own; one TCP connection, source to
 * destination, with the destination's answers on the way back).
 *
 * Every message is a 16-byte header (little-endian) followed by its name
 * (name_len bytes, no NUL) and its payload (size bytes):
 *
 *   HELLO    name "cryo-migrate/3"                  -> RESULT
 *   DIR      name: "1".."64" or "final"; the FILE and LINK messages after
 *            it go into that directory (made fresh under -D)
 *   FILE     name: a file name; payload: its contents
 *   LINK     name "parent"; payload: its target, "../N"
 *   DIR_END  the directory is complete                -> RESULT
 *   RESTORE  payload: struct mig_restore             -> RESULT "ready"
 *            once the tree is restored and held, not running yet (or
 *            the restore failed)
 *   GO       the source's tree can never run again (it is frozen, dies
 *            with the source's cryo, and is killed): the destination lets
 *            its tree go                               -> RESULT once it runs
 *   RESULT   payload: int32 code (0 or -errno), then a message
 *   LAZY     payload: struct mig_restore (MIG_RESTORE_LAZY and the port),
 *            no answer: sent just before the final dump freezes the tree
 *            (its lazy pages' listener is up), so that the destination
 *            starts its lazy-pages daemon while the tree is being dumped
 *            rather than after (DIR "final" then finds the directory the
 *            daemon works in made already)
 *
 * The hand-over is two-phase so that the two trees never both run: a
 * source that does not get "ready" lets its tree go on; a destination
 * that does not get GO kills its restored tree and keeps the images.  A
 * closed connection at any point before "ready" is a failure on both
 * ends: the source lets its tree go on. */
#ifndef CRYO_MIGRATE_INT_H
#define CRYO_MIGRATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC 0x47494d43u	/* "CMIG" */
#define MIG_HELLO_NAME "cryo-migrate/3"	/* 2: LAZY, 3: ready/GO */

enum mig_type {
	MIG_HELLO = 1,
	MIG_DIR,
	MIG_FILE,
	MIG_LINK,
	MIG_DIR_END,
	MIG_RESTORE,
	MIG_RESULT,
	MIG_LAZY,
	MIG_GO,
};

struct mig_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t name_len;
	uint64_t size;
} __attribute__((packed));

#define MIG_RESTORE_LAZY 0x1	/* --lazy-pages: the source serves the rest */

struct mig_restore {
	uint32_t flags;
	uint32_t lazy_port;	/* where the source's dump serves them */
} __attribute__((packed));

#define MIG_NAME_MAX 255
#define MIG_IO_TIMEOUT 300	/* s: the longest silence either end accepts */
#define MIG_MSG_MAX 1024

struct ps_tls;
struct mig_conn {
	int sk;
	const char *peer;	/* for messages: "HOST:PORT" */
	uint64_t sent;		/* bytes written so far */
	struct ps_tls *tls;	/* --tls: every byte goes through it; NULL: none */
};

/* --tls (mem/ps_tls.h, as the page server's): the source is the client,
 * checking that the destination's certificate names the --to host unless
 * --tls-no-cn-verify; the destination requires the source's certificate.
 * 0, or an error logged naming the peer (the connection is then useless). */
struct cryo_opts;
int mig_tls_start(struct mig_conn *c, const struct cryo_opts *o, bool server, const char *host);
/* --tls: the files of @o load (ps_tls_check_files), before any connection. */
int mig_tls_check(const struct cryo_opts *o, bool source);

/* TCP_NODELAY and MIG_IO_TIMEOUT both ways on @sk. */
int mig_set_timeouts(int sk);
int mig_write(struct mig_conn *c, const void *buf, size_t len);
int mig_read(struct mig_conn *c, void *buf, size_t len);
int mig_send(struct mig_conn *c, enum mig_type type, const char *name, const void *payload,
	     uint64_t size);
/* The next header and its name (NUL-terminated into @name, MIG_NAME_MAX+1). */
int mig_recv_hdr(struct mig_conn *c, struct mig_hdr *h, char *name);
/* RESULT: @code and @msg to the peer. */
int mig_send_result(struct mig_conn *c, int code, const char *msg);
/* Wait for a RESULT; its code (a negative errno from the peer, logged with
 * its message) or this end's error. */
int mig_wait_result(struct mig_conn *c, const char *what);
/* Send directory @name of @basefd: DIR, a FILE per regular file, LINK for
 * "parent", DIR_END; waits for the RESULT.  *@bytes: what it sent. */
int mig_send_dir(struct mig_conn *c, int basefd, const char *name, uint64_t *bytes);

#endif
