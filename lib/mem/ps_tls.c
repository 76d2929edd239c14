/* The page server connection over TLS (ps_tls.h), with GnuTLS.
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
 * a timeout reads as EAGAIN, as from recv(2). */
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
#include <unistd.h>

#define DEF_CACERT "/etc/pki/CA/cacert.pem"
#define DEF_CACRL "/etc/pki/CA/cacrl.pem"
#define DEF_CERT "/etc/pki/criu/cert.pem"
#define DEF_KEY "/etc/pki/criu/private/key.pem"

struct ps_tls {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
	bool session_on;
};

static int tls_err(int gerr, const char *what, const char *peer)
{
	pr_err("page server %s: TLS: %s: %s", peer, what, gnutls_strerror(gerr));
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
		return r < 0 ? tls_err(r, what, peer) : (pr_err("page server %s: TLS: %s: no "
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
	pr_err("page server %s: TLS: the peer's certificate is not accepted: %s%s%s%s", peer,
	       r < 0 ? "(no details)" : (const char *)out.data,
	       hostname ? " (it must name " : "", hostname ? hostname : "",
	       hostname ? "; --tls-no-cn-verify skips that check)" : "");
	if (r >= 0)
		gnutls_free(out.data);
	return -EACCES;
}

int ps_tls_start(int sk, bool server, const struct ps_tls_opts *o, const char *peer,
		 struct ps_tls **out)
{
	struct ps_tls *t = xzalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	int ret = load_creds(t, o, peer);
	int r = 0;
	if (!ret) {
		r = gnutls_init(&t->session, server ? GNUTLS_SERVER : GNUTLS_CLIENT);
		if (r < 0)
			ret = tls_err(r, "can't start a session", peer);
		else
			t->session_on = true;
	}
	if (!ret) {
		r = gnutls_set_default_priority(t->session);
		if (!r)
			r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred);
		if (r < 0)
			ret = tls_err(r, "can't set up the session", peer);
	}
	if (!ret) {
		if (server)
			gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
		gnutls_transport_set_int(t->session, sk);
		gnutls_handshake_set_timeout(t->session, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
		do
			r = gnutls_handshake(t->session);
		while (r < 0 && !gnutls_error_is_fatal(r));
		if (r < 0)
			ret = tls_err(r, "the handshake failed (do both ends use --tls, with "
				      "certificates from one CA?)", peer);
	}
	/* the server checks the client's chain; the client also the name */
	if (!ret)
		ret = verify_peer(t, server || o->no_cn_verify ? NULL : o->hostname, peer);
	if (ret) {
		ps_tls_end(t);
		return ret;
	}
	pr_info("page server %s: TLS session established (%s)", peer,
		gnutls_protocol_get_name(gnutls_protocol_get_version(t->session)));
	*out = t;
	return 0;
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
