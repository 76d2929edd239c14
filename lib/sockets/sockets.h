/* Sockets: the fd kinds for unix, inet (TCP, UDP, raw), netlink and packet
 * sockets (sk_*.c), plus what they share: sock_diag queries and the
 * network lock held around TCP repair. */
#ifndef CRYO_SOCKETS_H
#define CRYO_SOCKETS_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>

/* Send one sock_diag request (@req, @len bytes, starting with its
 * nlmsghdr) on a NETLINK_SOCK_DIAG socket and call @cb for every reply
 * message until NLMSG_DONE (or after the single reply of a non-dump
 * request).  @cb returns 0 to go on, or a negative code that stops the
 * walk and is returned.  A netlink error reply is returned as its negative
 * errno (not logged: an absent socket gives -ENOENT). */
int sock_diag_query(void *req, size_t len, int (*cb)(struct nlmsghdr *h, void *arg), void *arg);

struct cryo_opts;
/* inventory.img's network_lock_method for --network-lock (criu's values):
 * the restore locks and unlocks with the method the dump used. */
unsigned sk_network_lock_method(const struct cryo_opts *o);

/* Restore, once the restored tasks run (@ok) or the restore failed: the
 * network lock of restored TCP connections goes (it stays after a failure,
 * for another try, as criu does). */
void sk_inet_restore_released(bool ok);

#endif
