/* Sockets: the fd kinds for unix, inet (TCP, UDP, raw), netlink and packet
 * sockets (sk_*.c), plus what they share: sock_diag queries and the
 * network lock held around TCP repair. */
#ifndef CRYO_SOCKETS_H
#define CRYO_SOCKETS_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Send one sock_diag request (@req, @len bytes, starting with its
 * nlmsghdr) on a NETLINK_SOCK_DIAG socket and call @cb for every reply
 * message until NLMSG_DONE (or after the single reply of a non-dump
 * request).  @cb returns 0 to go on, or a negative code that stops the
 * walk and is returned.  A netlink error reply is returned as its negative
 * errno (not logged: an absent socket gives -ENOENT). */
int sock_diag_query(void *req, size_t len, int (*cb)(struct nlmsghdr *h, void *arg), void *arg);

/* --- sk_packet.c: packet rings mapped by the task --- */
struct files_dump;
struct VmaEntry;
/* Dump, once @pid's fds are dumped: the VMA_AREA_SOCKET vma @v (shmid: the
 * socket's inode) gets the file id of its packet socket as shmid; a
 * mapping of another socket, or of part of the rings, is refused. */
int packet_vma_fixup(struct files_dump *fdm, pid_t pid, struct VmaEntry *v);

/* --- sk_queue.c: queued data (sk-queues.img) --- */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct files_dump;
struct files_restore;
struct SkOptsEntry;

/* Read the receive queue of socket @lfd (cryo's duplicate) without
 * consuming it and write it to sk-queues.img for file id @id: one entry
 * per datagram (@type SOCK_DGRAM/SOCK_SEQPACKET) or per chunk (stream).
 * @rcv_shut: the socket is shut down for reading.  The socket's SO_PEEK_OFF
 * is put back.  Descriptors in flight (SCM_RIGHTS) are dumped as files
 * (files_dump_inflight); credentials (SO_PASSCRED) and a datagram's named
 * sender are kept.
 * @what names the socket in messages. */
int sk_queue_dump(struct files_dump *fdm, int lfd, uint32_t id, int type, bool rcv_shut,
		  const char *what);
/* Whether sk-queues.img holds data for file id @id. */
bool sk_queue_has(struct files_restore *fr, uint32_t id);
/* Who sends a message whose sender's address was saved: @get gives a
 * socket that has that address (or @dflt, or a negative code, logged);
 * @put is called with it after the send, unless it was @dflt. */
struct skq_sender {
	int (*get)(void *arg, const void *addr, size_t len, int dflt);
	void (*put)(void *arg, int fd);
	void *arg;
};
/* Send the data queued for file id @id from @sender (to @to if given), in
 * order, with the descriptors (SCM_RIGHTS, opened through the file restore)
 * and credentials they came with; with @as, a message with a saved sender
 * address is sent by the socket @as gives.  The sender's send buffer is
 * enlarged meanwhile and put back. */
int sk_queue_restore(struct files_restore *fr, uint32_t id, int sender, const struct sockaddr *to,
		     socklen_t tolen, const struct skq_sender *as, const char *what);
/* Call @fn for each message queued for file id @id, in order, with its
 * sender's address when the image has it; stops at the first non-zero. */
int sk_queue_foreach(struct files_restore *fr, uint32_t id,
		     int (*fn)(const void *data, size_t len, const void *addr, size_t addr_len,
			       void *arg), void *arg);
/* Free what sk_queue_restore loaded (once the restore is over).  The
 * queues are the one state the socket kinds share at restore: it hangs off
 * fr->sockets, made on first use. */
void sk_queue_release(struct files_restore *fr);

/* --- sk_opts.c: the options every socket kind shares (sk_opts_entry) ---
 * Each kind dumps and restores them with skopt_dump / skopt_restore only;
 * inet sockets (sk_inet_opts.c) add their IP, IPv6 and TCP levels on top
 * with the same integer tables (skopt_ints_*). */
struct SkIntOptEntry;

/* getsockopt of an int: 0 or -errno (not logged) */
int skopt_get_int(int fd, int level, int opt, int *val);

/* An integer option cryo saves when it is not at its default. */
struct skopt_int {
	int level, name;
	const char *str;
	int64_t def;		/* its default (unless SKOPT_FRESH) */
	unsigned flags;
};
#define SKOPT_FRESH	0x1	/* the default is what a new socket of the kind says */
#define SKOPT_U64	0x2	/* a 64-bit value (SO_MAX_PACING_RATE) */
#define SKOPT_WIDE	0x4	/* with SKOPT_U64: always set as 8 bytes (SO_TXTIME) */
/* (0x100 and up: for the callers' @skip masks) */

/* Read the options of @tab on @lfd; those that differ from their default
 * (read on @fresh, a new socket of the same kind, for SKOPT_FRESH ones;
 * -1: none) go to *@out (one allocation: free() it), *@nout of them.
 * Options the socket does not have are left out, as are entries whose
 * flags meet @skip. */
int skopt_ints_dump(int lfd, int fresh, const struct skopt_int *tab, size_t n, unsigned skip,
		    struct SkIntOptEntry ***out, size_t *nout);
/* Set the @n options of @v on @sk; each must be in @tab (refused, logged,
 * otherwise). */
int skopt_ints_restore(int sk, struct SkIntOptEntry *const *v, size_t n,
		       const struct skopt_int *tab, size_t ntab, const char *what);

/* What skopt_dump allocated for the entry. */
struct skopt_mem {
	uint64_t *filter;
	char *dev;
	struct SkIntOptEntry **ints;
};
/* SO_SNDBUF/RCVBUF and their locks, timeouts, SO_REUSEADDR, SO_PASSCRED,
 * SO_LINGER, SO_BINDTODEVICE, the BPF filter... into @o (criu's required
 * fields set), the rest of the SOL_SOCKET options in o->int_opts; memory in
 * @m (skopt_mem_free). */
int skopt_dump(int lfd, struct SkOptsEntry *o, struct skopt_mem *m, const char *what);
void skopt_mem_free(struct skopt_mem *m);
/* Set them on a new socket, before bind/connect (@what names it). */
int skopt_restore(int lfd, const struct SkOptsEntry *o, const char *what);

struct cryo_opts;
/* inventory.img's network_lock_method for --network-lock (criu's values):
 * the restore locks and unlocks with the method the dump used. */
unsigned sk_network_lock_method(const struct cryo_opts *o);
/* After a restore with opts->netlock_tidy_later (cryo migrate's
 * destination, once it answered the source): the connections it let
 * through go out of the lock, and cryo's chain / table goes if it locks
 * nothing any more. */
void sk_network_lock_tidy(const struct cryo_opts *o);

/* Restore, once the restored tasks run (@ok) or the restore failed: the
 * network lock of restored TCP connections goes (it stays after a failure,
 * for another try, as criu does), and the inet kind's state of @fr with it.
 * Every restore that got as far as creating tasks must call it. */
void sk_inet_restore_released(struct files_restore *fr, bool ok);

/* sk_udp_queue.c: datagrams queued on a UDP socket, with their senders.
 * Dump: read without consuming them into sk-queues.img (address in each
 * entry).  Restore: sent again to the restored socket @sk (bound, not yet
 * connected) from their original sender addresses (crafted with a raw
 * socket, so recvfrom() sees the same source). */
int sk_udp_queue_dump(struct files_dump *fdm, int lfd, uint32_t id, const char *what);
int sk_udp_queue_restore(struct files_restore *fr, uint32_t id, int sk, const char *what);

/* sk_kinds.c: register the socket descriptor kinds (unix, inet, netlink,
 * packet) with lib/files; the pipelines call it before their first use of
 * descriptors (idempotent). */
void sockets_register_fd_kinds(void);

#endif
