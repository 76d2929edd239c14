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
	const char *what;	/* the connection, in messages (NULL: "page server") */
	bool no_handshake_timeout;	/* wait for the peer's side as long as it takes */
};

struct ps_tls;
/* Handshake on the connected @sk (the server side with @server) and check
 * the peer's certificate; logs (naming @peer) and fails otherwise. */
int ps_tls_start(int sk, bool server, const struct ps_tls_opts *o, const char *peer,
		 struct ps_tls **out);
/* The same in steps, for a socket that may be O_NONBLOCK: ps_tls_begin()
 * loads the credentials and sets the session up (no I/O);
 * ps_tls_handshake() goes on with the handshake: 0 once it is done and
 * the peer's certificate checked, -EAGAIN when the socket has nothing yet
 * (poll for ps_tls_handshake_wants_write() ? POLLOUT : POLLIN, then call
 * again; a blocking socket never gives -EAGAIN but at its timeout), any
 * other error logged.  ps_tls_end() frees it. */
int ps_tls_begin(int sk, bool server, const struct ps_tls_opts *o, const char *peer,
		 struct ps_tls **out);
int ps_tls_handshake(struct ps_tls *t);
bool ps_tls_handshake_wants_write(struct ps_tls *t);
/* Does the peer's certificate (checked by the handshake) name @host?
 * 0 or -EACCES; logs nothing. */
int ps_tls_peer_named(struct ps_tls *t, const char *host);
/* Load the CA, CRL, certificate and key of @o and drop them: a check
 * before anything is frozen that the files are there and usable. */
int ps_tls_check_files(const struct ps_tls_opts *o, const char *peer);
/* As send(2)/recv(2) on a blocking socket: bytes, or -1 with errno
 * (EAGAIN: the socket's timeout; ECONNRESET, EPROTO: the TLS stream). */
ssize_t ps_tls_send(struct ps_tls *t, const void *buf, size_t len);
ssize_t ps_tls_recv(struct ps_tls *t, void *buf, size_t len);
/* As read_all()/write_all() (util.h) on @sk, through @t when it is not
 * NULL: never a read on the socket behind GnuTLS's back, which may hold
 * the rest of a record already.  Bytes read (short: the peer closed), 0,
 * or a negative errno. */
ssize_t ps_io_read_all(int sk, struct ps_tls *t, void *buf, size_t len);
int ps_io_write_all(int sk, struct ps_tls *t, const void *buf, size_t len);
/* Close the TLS stream (not the socket) and free @t (NULL: nothing). */
void ps_tls_end(struct ps_tls *t);

#endif
