/* The page server connection over TLS (ps_tls.h), with GnuTLS; the lazy
 * pages' connection (lazy_dump.c, lazy_tls.c) and cryo migrate's stream
 * (migrate/wire.c) use it too.
 *
 * As criu's tls.c: both ends load the CA (--tls-cacert, default
 * /etc/pki/CA/cacert.pem), a certificate revocation list if there is one
 * (--tls-cacrl, default /etc/pki/CA/cacrl.pem, skipped when absent) and
 * their own certificate and key (--tls-cert, --tls-key, defaults
 * /etc/pki/criu/cert.pem and /etc/pki/criu/private/key.pem); the server
 * requires a client certificate; after the handshake each end checks the
 * other's chain against the CA, and the dump checks that the server's
 * certificate names the --address it connected to (unless
 * --tls-no-cn-verify).  The socket stays blocking with its own timeouts:
 * a timeout reads as EAGAIN, as from recv(2); only the lazy-pages
 * daemon's handshake runs on an O_NONBLOCK socket, in steps. */
#include "mem/ps_tls.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEF_CACERT "/etc/pki/CA/cacert.pem"
#define DEF_CACRL "/etc/pki/CA/cacrl.pem"
#define DEF_CERT "/etc/pki/criu/cert.pem"
#define DEF_KEY "/etc/pki/criu/private/key.pem"

struct ps_tls {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
	bool session_on;
	bool server, check_name;
	char hostname[256];
	char peer[200];		/* "page server HOST:PORT" ... for messages */
};

static int tls_err(int gerr, const char *what, const char *peer)
{
	pr_err("%s: TLS: %s: %s", peer, what, gnutls_strerror(gerr));
	return -EPROTO;
}

static int load_creds(struct ps_tls *t, const struct ps_tls_opts *o, const char *peer)
{
	const char *ca = o->cacert ? o->cacert : DEF_CACERT;
	const char *crl = o->cacrl ? o->cacrl : DEF_CACRL;
	const char *cert = o->cert ? o->cert : DEF_CERT;
	const char *key = o->key ? o->key : DEF_KEY;
	char what[PATH_MAX * 2 + 64];

	int r = gnutls_certificate_allocate_credentials(&t->cred);
	if (r < 0) {
		t->cred = NULL;
		return tls_err(r, "can't allocate credentials", peer);
	}
	r = gnutls_certificate_set_x509_trust_file(t->cred, ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		snprintf(what, sizeof(what), "can't load a CA certificate from %s (--tls-cacert)",
			 ca);
		return r < 0 ? tls_err(r, what, peer) : (pr_err("%s: TLS: %s: no "
			"certificate in it", peer, what), -EINVAL);
	}
	/* criu loads the CRL only if it is there */
	if (o->cacrl || !access(crl, F_OK)) {
		r = gnutls_certificate_set_x509_crl_file(t->cred, crl, GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			snprintf(what, sizeof(what), "can't load the revocation list %s "
				 "(--tls-cacrl)", crl);
			return tls_err(r, what, peer);
		}
	}
	r = gnutls_certificate_set_x509_key_file(t->cred, cert, key, GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		snprintf(what, sizeof(what), "can't load the certificate %s and key %s "
			 "(--tls-cert, --tls-key)", cert, key);
		return tls_err(r, what, peer);
	}
	return 0;
}

static int verify_peer(struct ps_tls *t, const char *hostname, const char *peer)
{
	unsigned status = 0;
	int r = gnutls_certificate_verify_peers3(t->session, hostname, &status);
	if (r < 0)
		return tls_err(r, "can't check the peer's certificate", peer);
	if (!status)
		return 0;
	gnutls_datum_t out = { 0 };
	r = gnutls_certificate_verification_status_print(
		status, gnutls_certificate_type_get(t->session), &out, 0);
	pr_err("%s: TLS: the peer's certificate is not accepted: %s%s%s%s", peer,
	       r < 0 ? "(no details)" : (const char *)out.data,
	       hostname ? " (it must name " : "", hostname ? hostname : "",
	       hostname ? "; --tls-no-cn-verify skips that check)" : "");
	if (r >= 0)
		gnutls_free(out.data);
	return -EACCES;
}

int ps_tls_begin(int sk, bool server, const struct ps_tls_opts *o, const char *peer,
		 struct ps_tls **out)
{
	struct ps_tls *t = xzalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	snprintf(t->peer, sizeof(t->peer), "%s %s", o->what ? o->what : "page server", peer);
	t->server = server;
	t->check_name = !server && !o->no_cn_verify && o->hostname;
	if (t->check_name)
		snprintf(t->hostname, sizeof(t->hostname), "%s", o->hostname);
	int ret = load_creds(t, o, t->peer);
	int r = 0;
	if (!ret) {
		r = gnutls_init(&t->session, server ? GNUTLS_SERVER : GNUTLS_CLIENT);
		if (r < 0)
			ret = tls_err(r, "can't start a session", t->peer);
		else
			t->session_on = true;
	}
	if (!ret) {
		r = gnutls_set_default_priority(t->session);
		if (!r)
			r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred);
		if (r < 0)
			ret = tls_err(r, "can't set up the session", t->peer);
	}
	if (ret) {
		ps_tls_end(t);
		return ret;
	}
	if (server)
		gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
	gnutls_transport_set_int(t->session, sk);
	gnutls_handshake_set_timeout(t->session, o->no_handshake_timeout ?
				     GNUTLS_INDEFINITE_TIMEOUT : GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
	*out = t;
	return 0;
}

int ps_tls_handshake(struct ps_tls *t)
{
	int r;
	do
		r = gnutls_handshake(t->session);
	while (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_WARNING_ALERT_RECEIVED);
	/* an O_NONBLOCK socket with nothing to read yet: call again later */
	if (r == GNUTLS_E_AGAIN)
		return -EAGAIN;
	if (r < 0)
		return tls_err(r, "the handshake failed (do both ends use --tls, with "
			       "certificates from one CA?)", t->peer);
	/* the server checks the client's chain; the client also the name */
	int ret = verify_peer(t, t->check_name ? t->hostname : NULL, t->peer);
	if (ret)
		return ret;
	pr_info("%s: TLS session established (%s)", t->peer,
		gnutls_protocol_get_name(gnutls_protocol_get_version(t->session)));
	return 0;
}

bool ps_tls_handshake_wants_write(struct ps_tls *t)
{
	return gnutls_record_get_direction(t->session) == 1;
}

int ps_tls_start(int sk, bool server, const struct ps_tls_opts *o, const char *peer,
		 struct ps_tls **out)
{
	struct ps_tls *t;
	int ret = ps_tls_begin(sk, server, o, peer, &t);
	if (ret)
		return ret;
	/* a blocking socket (with its own timeouts: EAGAIN is one) */
	ret = ps_tls_handshake(t);
	if (ret == -EAGAIN)
		ret = tls_err(GNUTLS_E_TIMEDOUT, "the handshake failed", t->peer);
	if (ret) {
		ps_tls_end(t);
		return ret;
	}
	*out = t;
	return 0;
}

int ps_tls_peer_named(struct ps_tls *t, const char *host)
{
	unsigned n = 0;
	const gnutls_datum_t *der = gnutls_certificate_get_peers(t->session, &n);
	gnutls_x509_crt_t crt;
	if (!der || !n || gnutls_x509_crt_init(&crt) < 0)
		return -EACCES;
	int ok = gnutls_x509_crt_import(crt, &der[0], GNUTLS_X509_FMT_DER) >= 0 &&
		 gnutls_x509_crt_check_hostname(crt, host);
	gnutls_x509_crt_deinit(crt);
	return ok ? 0 : -EACCES;
}

int ps_tls_check_files(const struct ps_tls_opts *o, const char *peer)
{
	struct ps_tls t = { 0 };
	char name[200];
	snprintf(name, sizeof(name), "%s %s", o->what ? o->what : "page server", peer);
	int ret = load_creds(&t, o, name);
	if (t.cred)
		gnutls_certificate_free_credentials(t.cred);
	return ret;
}

static ssize_t io_result(ssize_t r)
{
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN)
		errno = EAGAIN;
	else if (r == GNUTLS_E_INTERRUPTED)
		errno = EINTR;
	else if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;	/* the connection closed without TLS's goodbye */
	else {
		pr_debug("TLS: %s", gnutls_strerror((int)r));
		errno = EPROTO;
	}
	return -1;
}

ssize_t ps_tls_send(struct ps_tls *t, const void *buf, size_t len)
{
	return io_result(gnutls_record_send(t->session, buf, len));
}

ssize_t ps_tls_recv(struct ps_tls *t, void *buf, size_t len)
{
	return io_result(gnutls_record_recv(t->session, buf, len));
}

ssize_t ps_io_read_all(int sk, struct ps_tls *t, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = t ? ps_tls_recv(t, p + got, len - got) : read(sk, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

int ps_io_write_all(int sk, struct ps_tls *t, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = t ? ps_tls_send(t, p, len) : send(sk, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

void ps_tls_end(struct ps_tls *t)
{
	if (!t)
		return;
	if (t->session_on) {
		gnutls_bye(t->session, GNUTLS_SHUT_WR);
		gnutls_deinit(t->session);
	}
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}
