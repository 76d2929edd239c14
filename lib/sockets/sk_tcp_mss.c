/* The send MSS (mss_cache: TCP_MAXSEG, tcpi_snd_mss) of a connection
 * restored in repair mode.
 *
 * connect() in repair mode computes mss_cache (tcp_connect_init ->
 * tcp_sync_mss) while mss_clamp is still the default 536, and before the
 * options are known: TCP_REPAIR_OPTIONS is refused until the socket is
 * ESTABLISHED, that is until after connect(), and it sets mss_clamp
 * without resyncing.  Setting TCP_MAXSEG before connect() does not help
 * (user_mss becomes the clamp, but timestamps are not on yet and the value
 * stays as user_mss afterwards).  So the restored connection reported 524
 * (536 less the timestamp option) and sent 524-byte segments until
 * something made the kernel resync.
 *
 * Two setsockopts call tcp_sync_mss on a connected socket: IP_OPTIONS
 * (do_ip_setsockopt: icsk_sync_mss with the path MTU cookie, on IPv4
 * sockets and on IPv6 ones, which take SOL_IP through ip_setsockopt) and
 * the IPv6 extension headers (ipv6_update_options).  cryo sets IP_OPTIONS
 * again to what the socket holds (read with getsockopt; usually none):
 * the extension header length goes down by the old and up by the new
 * length, unchanged, and the MSS is recomputed with the restored clamp and
 * timestamps.
 *
 * tcp_sync_mss bounds the MSS to half the largest window the peer ever
 * offered (tcp_bound_to_half_wnd, max_window) at the moment it runs, and
 * the dumped mss_cache was computed at its own moment (the handshake,
 * usually, with a smaller max_window than at the dump).  With the dumped
 * value (tcp_stream_entry.cryo_snd_mss) cryo resyncs under a window whose
 * bound is exactly that value (TCP_REPAIR_WINDOW can be set again; it
 * requires max_window >= snd_wnd); the dumped window is set later, after
 * the queues.  Without it (an image of another tool)
 * the resync runs with no window yet: the clamp and the path MTU bound it.
 * This runs before the queues are filled: the kernel cuts queued data into
 * segments of the MSS of the moment. */
#include "sockets/sk_inet-int.h"
#include "util/log.h"

#include "tcp-stream.pb-c.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#ifndef TCP_MSS_DESIRED
#define TCP_MSS_DESIRED 1220U	/* include/net/tcp.h: tcp_bound_to_half_wnd */
#endif

/* IP_OPTIONS set to what the socket has: tcp_sync_mss. */
static int resync(int sk, uint32_t id)
{
	unsigned char opt[40];
	socklen_t l = sizeof(opt);
	if (getsockopt(sk, SOL_IP, IP_OPTIONS, opt, &l) ||
	    setsockopt(sk, SOL_IP, IP_OPTIONS, opt, l))
		return_perror("TCP connection %u: can't set IP_OPTIONS again to resync its MSS", id);
	return 0;
}

int tcp_restore_mss(int sk, uint32_t id, const TcpStreamEntry *t, uint32_t rcv_nxt)
{
	if (!t->has_cryo_snd_mss || !t->cryo_snd_mss || !t->has_snd_wnd)
		return resync(sk, id);
	struct tcp_repair_window w;
	socklen_t l = sizeof(w);
	if (getsockopt(sk, SOL_TCP, TCP_REPAIR_WINDOW, &w, &l))
		return_perror("TCP connection %u: getsockopt(TCP_REPAIR_WINDOW)", id);
	/* A window whose bound (half of it above 1220 bytes) is the dumped
	 * MSS.  The kernel checks snd_wl1 and rcv_wup against rcv_nxt (after
	 * connect() they are 0): rcv_nxt for both.  The caller sets the
	 * dumped window later. */
	uint32_t mss = t->cryo_snd_mss;
	w.max_window = 2 * mss > TCP_MSS_DESIRED ? 2 * mss : mss;
	w.snd_wnd = 0;
	w.snd_wl1 = w.rcv_wup = rcv_nxt;
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)))
		return_perror("TCP connection %u: setsockopt(TCP_REPAIR_WINDOW) to resync its MSS",
			      id);
	int ret = resync(sk, id);
	if (ret)
		return ret;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (!getsockopt(sk, SOL_TCP, TCP_INFO, &ti, &tl) && ti.tcpi_snd_mss != mss)
		pr_info("TCP connection %u: send MSS %u after the restore, %u when dumped (the "
			"path MTU or the mss clamp differ here)", id, ti.tcpi_snd_mss, mss);
	return 0;
}
