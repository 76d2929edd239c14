/* --tls: the page server connection over TLS (GnuTLS, criu's tls.c
 * semantics: both ends present an X.509 certificate signed by the CA and
 * check the other's; the dump also checks that the server's certificate
 * names --address unless --tls-no-cn-verify). */
#ifndef CRYO_MEM_PS_TLS_H
#define CRYO_MEM_PS_TLS_H

#include <stdbool.h>
#include <sys/types.h>

struct ps_tls_opts {
	const char *cacert, *cacrl, *cert, *key;	/* NULL: criu's defaults */
	bool no_cn_verify;
	const char *hostname;	/* the client's: the server's expected name */
};

struct ps_tls;
/* Handshake on the connected @sk (the server side with @server) and check
 * the peer's certificate; logs (naming @peer) and fails otherwise. */
int ps_tls_start(int sk, bool server, const struct ps_tls_opts *o, const char *peer,
		 struct ps_tls **out);
/* As send(2)/recv(2) on a blocking socket: bytes, or -1 with errno
 * (EAGAIN: the socket's timeout; ECONNRESET, EPROTO: the TLS stream). */
ssize_t ps_tls_send(struct ps_tls *t, const void *buf, size_t len);
ssize_t ps_tls_recv(struct ps_tls *t, void *buf, size_t len);
/* Close the TLS stream (not the socket) and free @t (NULL: nothing). */
void ps_tls_end(struct ps_tls *t);

#endif
