/* Inside lib/sockets: what sk_inet.c (every inet socket), sk_tcp.c (TCP
 * connections through TCP_REPAIR) and netlock.c (the network lock held
 * around repair) share. */
#ifndef CRYO_SOCKETS_SK_INET_H
#define CRYO_SOCKETS_SK_INET_H

#include "files/files-int.h"

#include "sockets/sockets.h"

#include "sk-inet.pb-c.h"

#include <net/if.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* One TCP connection as the network lock sees it: addresses in network
 * byte order (IPv4 in src[0]/dst[0]), ports in host order. */
struct inet_conn {
	int family;
	uint32_t src[4], dst[4];
	uint16_t sport, dport;
};

/* "127.0.0.1:40000 -> 127.0.0.1:5000" into @buf (for messages). */
const char *inet_conn_str(const struct inet_conn *c, char *buf, size_t size);
/* The connection of an image entry. */
void inet_conn_of(const InetSkEntry *ie, struct inet_conn *c);
/* An image address into a sockaddr (@src: the local one). */
int inet_sockaddr(const InetSkEntry *ie, bool src, struct sockaddr_storage *ss, socklen_t *len);

/* --- sk_inet_opts.c --- */

/* setsockopt of an int, logged naming the socket */
int inet_set_int(int sk, int level, int opt, int val, const char *name, const InetSkEntry *ie);
/* GET in a function with a struct fd_dump *d and its duplicate lfd;
 * SET in one with the new socket sk and its entry ie */
#define GET(level, opt, dst)                                                   \
	do {                                                                   \
		int __v;                                                       \
		if (skopt_get_int(lfd, level, opt, &__v))                       \
			return_perror("getsockopt(" #opt ") on " FD_FMT, FD_ARGS(d)); \
		dst = __v;                                                     \
	} while (0)
#define SET(level, opt, val) inet_set_int(sk, level, opt, val, #opt, ie)

/* What inet_dump_opts fills and allocates for one entry. */
struct inet_opts_mem {
	SkOptsEntry so;
	IpOptsEntry io;
	IpOptsRawEntry raw;
	TcpOptsEntry to;
	struct skopt_mem sm;
	SkIntOptEntry **ipi, **tcpi;
	struct inet_mc {
		uint8_t addr[16];
		size_t len;
		int ifindex;
		char dev[IFNAMSIZ + 1];
	} *mc;
	int nr_mc;
	IpMcEntry *mce, **mcp;
	SkBytesOptEntry *be, **bep;	/* IP_OPTIONS, IPv6 extension headers */
	uint8_t *bbuf;
	char cc[32];		/* TCP_CONGESTION */
	uint32_t icmp_filter[8];
};
/* Every option of the socket (its state in @ie already set) into @ie's
 * opts, ip_opts and tcp_opts, pointing into @m (inet_opts_mem_free, also
 * after a failure).  Refuses (logged) what can't be restored. */
int inet_dump_opts(struct fd_dump *d, int lfd, InetSkEntry *ie, struct inet_opts_mem *m);
void inet_opts_mem_free(struct inet_opts_mem *m);
/* Set them on the new socket @sk before bind/connect; @conn: a connection
 * restored through repair (TCP_NODELAY/CORK are set by sk_tcp.c). */
int inet_restore_opts(int sk, const InetSkEntry *ie, bool conn);

/* Remove the descriptor-less sockets (TIME_WAIT, orphans) holding a
 * listener's port (@peer false) or a connection's 4-tuple (@peer true).
 * The number removed, or -errno. */
int inet_clear_holders(const InetSkEntry *ie, bool peer);

/* --- per-run state: hung off the file dump/restore context --- */

/* The inet kind at restore (fr->kind_state[FDK_INET]): made on first use,
 * freed by sk_inet_restore_released, which every restore reaches once a
 * socket was opened (after a failure too). */
struct inet_rst_state {
	struct inet_rst {		/* every inet socket restored, for the */
		struct rst_file *f;	/* final SO_REUSEADDR */
		bool repair;
	} *socks;
	int nr_socks;
	struct inet_conn *conns;	/* connections locked */
	int nr_conns;
	int method;			/* enum netlock_method, once known */
	bool method_known;
	bool prelocked;			/* every connection of the images locked */
	struct sockaddr_storage (*seeded)[2];	/* sk_tcp_rtt.c: source, peer */
	int nr_seeded;
	int *kick;			/* cryo's duplicates of the connections */
	int nr_kick;			/* restored, pushed once unlocked */
};
struct inet_rst_state *inet_rst_state(struct files_restore *fr);

/* --- netlock.c --- */

/* Packets with this mark (criu's SOCCR_MARK) pass the lock. */
#define NETLOCK_MARK 0xc114
/* criu's values, as in inventory.img's network_lock_method */
enum netlock_method { NETLOCK_IPTABLES = 0, NETLOCK_NFTABLES = 1, NETLOCK_SKIP = 2 };
/* --network-lock (iptables when not given, as criu) */
enum netlock_method netlock_method(const struct cryo_opts *o);
/* Drop every packet of these connections (both directions), or stop
 * dropping them.  Locking an already locked connection is fine.  0 or a
 * negative code (logged, naming the connection and the tool). */
int netlock_lock(enum netlock_method m, const struct inet_conn *c, int n);
int netlock_unlock(enum netlock_method m, const struct inet_conn *c, int n);
/* The same, for a caller that tidies up once the restored tree's traffic
 * flows (sk_network_lock_tidy): nftables lets the connections through
 * (pass sets) and leaves them in the lock's sets and the table in place
 * (deleting waits for RCU grace periods: 10-20 ms for the elements, 30-40
 * ms for the table); iptables takes the rules out and leaves the chain. */
int netlock_unlock_keep(enum netlock_method m, const struct inet_conn *c, int n);

/* --- guard.c: undoing the dump's lock and repair mode if cryo dies --- */

/* One dump's guard: its helper's socket and pid (sk -1: none started). */
struct net_guard {
	int sk;
	pid_t pid;
};
#define NET_GUARD_INIT { .sk = -1 }

/* These connections are about to be locked / this socket (cryo's duplicate;
 * @pid: its process) about to be put in repair mode by the dump: called
 * BEFORE the change, returns once the guard has taken it in (starting @g's
 * helper at the first change).  0 or -errno (logged): then the change must
 * not be made. */
int guard_locked(struct net_guard *g, enum netlock_method m, const struct inet_conn *c, int n);
int guard_repair(struct net_guard *g, int fd, pid_t pid, bool reuseaddr);
/* The dump is committed and the tree about to be killed: should cryo die
 * now, the sockets of dead processes close in repair mode, the lock stays. */
int guard_killing(struct net_guard *g);
/* The dump has undone them, or keeps them for the restore: the helper
 * ends. */
void guard_done(struct net_guard *g);

/* --- sk_tcp.c --- */

/* A connection the dump put in repair mode. */
struct tcp_held {
	int fd;			/* cryo's duplicate */
	struct inet_conn conn;
	bool reuseaddr;
	bool repair;		/* in repair mode now */
	bool dumped;		/* its state was read in repair mode */
};
/* The inet kind at dump (fdm->kind_state[FDK_INET]): made by the first
 * connection dumped, freed by ->dump_finish or, when the tree is killed,
 * ->dump_killed. */
struct inet_dump_state {
	struct tcp_held *held;
	int nr_held;
	struct inet_conn *locked;	/* every connection locked so far */
	int nr_locked;
	pid_t prelocked_pid;		/* the process whose were locked at once */
	struct net_guard guard;
};

/* An established connection at dump time: lock it, put it in repair mode
 * (on a duplicate cryo keeps until ->dump_finish) and write
 * tcp-stream-INO.img.  @reuseaddr: its SO_REUSEADDR (repair-off resets it). */
int tcp_dump_conn(struct fd_dump *d, int lfd, const InetSkEntry *ie, bool reuseaddr);
void tcp_dump_finish(struct files_dump *fdm, bool ok, bool killed);
/* ESTABLISHED, SYN_SENT and the half-closed states: restored through
 * repair mode (TIME_WAIT has no descriptor; CLOSE has no connection). */
bool tcp_state_repairable(unsigned state);
/* After a committed dump, once the tree is dead: the sockets close in
 * repair mode (silently), the lock stays for the restore. */
void tcp_dump_killed(struct files_dump *fdm);
/* Restore an established connection on the new socket @sk (left in repair
 * mode until tcp_restore_finish). */
int tcp_restore_conn(struct files_restore *fr, struct rst_file *f, int sk, const InetSkEntry *ie);
/* A connection restored closed (--tcp-close): its lock still goes away
 * once the restore is over. */
int tcp_restore_closed(struct files_restore *fr, const InetSkEntry *ie);
/* --- sk_tcp_rtt.c --- */
/* Before @ie's connect in repair mode: a TCP metrics entry (its first RTO)
 * for its addresses where the peer's is local.  0 (best effort) or -ENOMEM. */
int tcp_seed_rtt(struct files_restore *fr, const InetSkEntry *ie);
void tcp_restore_finish(struct files_restore *fr, bool ok);
/* --- sk_tcp_mss.c --- */
/* In repair mode, after TCP_REPAIR_OPTIONS and before the queues: the
 * send MSS recomputed with the restored clamp and options, bounded as
 * when dumped; @rcv_nxt: the receive sequence set before connect().
 * 0 or -errno (logged). */
int tcp_restore_mss(int sk, uint32_t id, const TcpStreamEntry *t, uint32_t rcv_nxt);

/* --- sk_tcp_fin.c --- */

/* A segment from the peer of connected socket @sk (connection @id, for
 * messages) to it, sent on a raw socket with NETLOCK_MARK (so it passes
 * the lock): no data, ACK and the TCP_INJ_* @flags.  0 or -errno (logged). */
#define TCP_INJ_FIN 1
#define TCP_INJ_RST 2
int tcp_inject(int sk, uint32_t id, uint32_t seq, uint32_t ack, uint16_t win, unsigned flags);

/* --- sk_tcp_closed.c: connections that ended, the socket still open --- */

/* A TCP socket in CLOSE state (@ie filled but for these): an ended
 * connection gets shutdown BOTH, a pending error so_error, unread data
 * tcp-stream-INO.img.  0 or -errno (logged; refused errors). */
int tcp_dump_closed(struct fd_dump *d, int lfd, InetSkEntry *ie);
/* Restore such a socket (so_error set or an image there) on @sk; 1 if it
 * is not one (restored as an unconnected socket), 0, or -errno (logged). */
int tcp_restore_closed_conn(struct files_restore *fr, int sk, const InetSkEntry *ie);
/* shared with sk_tcp.c */
int tcp_fill_queue(int sk, const char *buf, uint32_t len, const char *what, uint32_t id);

#endif
