/*
 * libcriu's requests: each call connects to the service (by default it
 * starts `cryo swrk FD` with one end of a SOCK_SEQPACKET pair, as libcriu
 * starts criu), sends one criu_req, answers the notifications on the way
 * (the callback decides) and returns the final criu_resp in libcriu's
 * return-value convention (criu.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libcriu-int.h"

/* errno the last call leaves behind: cryo's cr_errno, or the failed call's. */
static __thread int lc_errno;

static const char *req_name(CriuReqType t)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&criu_req_type__descriptor, t);

	return v ? v->name : "?";
}

/*
 * The service binary: the one set, else the cryo installed beside this
 * library (meson's bindir), else "cryo" from PATH.
 */
static const char *service_binary(const criu_opts *opts)
{
	if (opts->service_binary)
		return opts->service_binary;
	if (access(LIBCRIU_DEFAULT_SERVICE_BIN, X_OK) == 0)
		return LIBCRIU_DEFAULT_SERVICE_BIN;
	return "cryo";
}

/* Starts `BIN swrk FD`; returns our end of the socket or a negative errno. */
static int swrk_start(criu_opts *opts)
{
	const char *bin = service_binary(opts);
	int sks[2], errp[2], err = 0;
	char fdstr[16];
	ssize_t n;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sks)) {
		lc_errno = errno;
		lc_err("socketpair for %s swrk: %s", bin, strerror(errno));
		return -ECONNREFUSED;
	}
	/* exec's failure comes back through this pipe; success closes it. */
	if (pipe2(errp, O_CLOEXEC)) {
		lc_errno = errno;
		lc_err("pipe for %s swrk: %s", bin, strerror(errno));
		close(sks[0]);
		close(sks[1]);
		return -ECONNREFUSED;
	}
	snprintf(fdstr, sizeof(fdstr), "%d", sks[1]);

	pid = fork();
	if (pid < 0) {
		lc_errno = errno;
		lc_err("fork for %s swrk: %s", bin, strerror(errno));
		close(sks[0]);
		close(sks[1]);
		close(errp[0]);
		close(errp[1]);
		return -ECONNREFUSED;
	}
	if (pid == 0) {
		sigset_t mask;

		/*
		 * The caller may block SIGCHLD (libcriu's callers do, so a
		 * restored child's exit can't race the call); the service
		 * needs it to notice its own children.
		 */
		sigemptyset(&mask);
		sigaddset(&mask, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		if (fcntl(sks[1], F_SETFD, 0) == 0)
			execlp(bin, bin, "swrk", fdstr, (char *)NULL);
		err = errno;
		if (write(errp[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(sks[1]);
	close(errp[1]);
	do
		n = read(errp[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(errp[0]);
	if (n == sizeof(err)) {
		waitpid(pid, NULL, 0);
		close(sks[0]);
		lc_errno = err;
		lc_err("cannot run the service binary %s: %s (criu_set_service_binary() names another)",
		       bin, strerror(err));
		return -ECONNREFUSED;
	}
	opts->swrk_pid = pid;
	return sks[0];
}

static int sk_connect(const criu_opts *opts)
{
	const char *path = opts->service_address ? opts->service_address : LC_DEFAULT_SERVICE_ADDRESS;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		lc_errno = ENAMETOOLONG;
		lc_err("service address %s: too long for a UNIX socket path", path);
		return -ECONNREFUSED;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		lc_errno = errno;
		lc_err("connect to the service at %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -ECONNREFUSED;
	}
	return fd;
}

static int lc_connect(criu_opts *opts)
{
	opts->swrk_pid = -1;
	switch (opts->comm) {
	case CRIU_COMM_FD:
		if (opts->service_fd < 0) {
			lc_errno = EBADF;
			lc_err("criu_set_service_fd() was given no descriptor");
			return -ECONNREFUSED;
		}
		return opts->service_fd;
	case CRIU_COMM_SK:
		return sk_connect(opts);
	case CRIU_COMM_BIN:
		return swrk_start(opts);
	}
	lc_errno = EINVAL;
	return -EINVAL;
}

/* Closes what lc_connect() opened and reaps the swrk child. */
static void lc_disconnect(criu_opts *opts, int fd)
{
	if (opts->comm != CRIU_COMM_FD)
		close(fd);
	if (opts->swrk_pid > 0) {
		while (waitpid(opts->swrk_pid, NULL, 0) < 0 && errno == EINTR)
			;
		opts->swrk_pid = -1;
	}
}

static int send_req(int fd, CriuReq *req)
{
	size_t len = criu_req__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	if (!buf) {
		lc_errno = ENOMEM;
		return -ENOMEM;
	}
	criu_req__pack(req, buf);
	n = send(fd, buf, len, MSG_NOSIGNAL);
	free(buf);
	if (n != (ssize_t)len) {
		lc_errno = n < 0 ? errno : EMSGSIZE;
		lc_err("send the %s request: %s", req_name(req->type), strerror(lc_errno));
		return -ECOMM;
	}
	return 0;
}

static int recv_resp(int fd, CriuReqType sent, CriuResp **out)
{
	uint8_t *buf;
	ssize_t len;

	/* One datagram is one message: its size first, then the message. */
	do
		len = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (len < 0 && errno == EINTR);
	if (len <= 0) {
		lc_errno = len < 0 ? errno : ECONNRESET;
		lc_err("receive the answer to %s: %s", req_name(sent),
		       len < 0 ? strerror(errno) : "the service closed the connection without answering");
		return -ECOMM;
	}
	buf = malloc(len);
	if (!buf) {
		lc_errno = ENOMEM;
		return -ENOMEM;
	}
	len = recv(fd, buf, len, 0);
	if (len < 0) {
		lc_errno = errno;
		lc_err("receive the answer to %s: %s", req_name(sent), strerror(errno));
		free(buf);
		return -ECOMM;
	}
	*out = criu_resp__unpack(NULL, len, buf);
	free(buf);
	if (!*out) {
		lc_errno = EBADMSG;
		lc_err("the answer to %s does not decode as criu_resp", req_name(sent));
		return -EBADMSG;
	}
	return 0;
}

/*
 * Sends @req on @fd and returns its answer in *resp, answering the
 * notifications that come first.  A callback's failure is sent back (cryo
 * then fails the operation); its value is returned once cryo has answered.
 */
static int exchange(criu_opts *opts, int fd, CriuReq *req, CriuResp **resp)
{
	int ret, cb_ret = 0;

	*resp = NULL;
	ret = send_req(fd, req);
	if (ret)
		return ret;
	for (;;) {
		CriuReq ack = CRIU_REQ__INIT;

		ret = recv_resp(fd, req->type, resp);
		if (ret)
			return cb_ret ? cb_ret : ret;
		if ((*resp)->type != CRIU_REQ_TYPE__NOTIFY)
			break;
		if (cb_ret == 0) {
			CriuNotify *na = (*resp)->notify;

			if (opts->notify && na)
				cb_ret = opts->notify(na->script ? na->script : "", na);
			ack.has_type = true;
			ack.type = CRIU_REQ_TYPE__NOTIFY;
			ack.has_notify_success = true;
			ack.notify_success = (cb_ret == 0);
			ret = send_req(fd, &ack);
			if (ret && !cb_ret)
				cb_ret = ret;
		}
		criu_resp__free_unpacked(*resp, NULL);
		*resp = NULL;
	}
	if ((*resp)->has_cr_errno)
		lc_errno = (*resp)->cr_errno;
	if (cb_ret)
		return cb_ret;
	if ((*resp)->type != req->type) {
		/* criu answers a request type it does not know with EMPTY. */
		if ((*resp)->type == CRIU_REQ_TYPE__EMPTY && !(*resp)->success)
			return -EINVAL;
		lc_err("the answer to %s is of type %s", req_name(req->type), req_name((*resp)->type));
		return -EBADMSG;
	}
	if (!(*resp)->success) {
		if ((*resp)->cr_errmsg)
			lc_err("%s failed: %s", req_name(req->type), (*resp)->cr_errmsg);
		return -EBADE;
	}
	return 0;
}

/* One request on a connection of its own; *resp is the caller's to free. */
static int request(criu_opts *opts, CriuReq *req, CriuResp **resp)
{
	int fd, ret;

	if (!opts) {
		lc_err("no options: call criu_init_opts() first");
		return -EINVAL;
	}
	fd = lc_connect(opts);
	if (fd < 0)
		return fd;
	ret = exchange(opts, fd, req, resp);
	lc_disconnect(opts, fd);
	return ret;
}

static int finish(int ret, CriuResp *resp)
{
	if (resp)
		criu_resp__free_unpacked(resp, NULL);
	errno = lc_errno;
	return ret;
}

int criu_local_check(criu_opts *opts)
{
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;

	lc_errno = 0;
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__CHECK;
	/* not finish(request(.., &resp), resp): the order in which arguments
	 * are evaluated is unspecified (resp could be read before it is set) */
	int ret = request(opts, &req, &resp);
	return finish(ret, resp);
}

int criu_local_dump(criu_opts *opts)
{
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;
	int ret;

	lc_errno = 0;
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__DUMP;
	req.opts = opts ? opts->rpc : NULL;
	ret = request(opts, &req, &resp);
	if (ret == 0 && resp->dump && resp->dump->has_restored && resp->dump->restored)
		ret = 1;
	return finish(ret, resp);
}

int criu_local_pre_dump(criu_opts *opts)
{
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;

	lc_errno = 0;
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__PRE_DUMP;
	req.opts = opts ? opts->rpc : NULL;
	int ret = request(opts, &req, &resp);
	return finish(ret, resp);
}

static int restore_pid(int ret, CriuResp *resp)
{
	if (ret)
		return ret;
	if (!resp->restore || !resp->restore->has_pid) {
		lc_err("the answer to RESTORE carries no PID");
		return -EBADMSG;
	}
	return resp->restore->pid;
}

int criu_local_restore(criu_opts *opts)
{
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;

	lc_errno = 0;
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__RESTORE;
	req.opts = opts ? opts->rpc : NULL;
	int ret = request(opts, &req, &resp);
	ret = restore_pid(ret, resp);
	return finish(ret, resp);
}

int criu_local_restore_child(criu_opts *opts)
{
	enum criu_service_comm comm;
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;
	int ret;

	if (!opts)
		return request(NULL, &req, &resp);   /* says what is missing */
	lc_errno = 0;
	/*
	 * Only a service that is our child can make the restored root our
	 * child (it restores with CLONE_PARENT), so this always runs swrk,
	 * whatever service was set, as libcriu does.
	 */
	comm = opts->comm;
	opts->comm = CRIU_COMM_BIN;
	opts->rpc->has_rst_sibling = true;
	opts->rpc->rst_sibling = true;
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__RESTORE;
	req.opts = opts->rpc;
	ret = request(opts, &req, &resp);
	opts->comm = comm;
	opts->rpc->has_rst_sibling = false;
	opts->rpc->rst_sibling = false;
	return finish(restore_pid(ret, resp), resp);
}

int criu_local_dump_iters(criu_opts *opts, int (*more)(criu_predump_info pi))
{
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;
	int fd, ret, uret;

	lc_errno = 0;
	if (!opts || !more || !opts->rpc->has_pid) {
		lc_err("criu_dump_iters needs options with a PID and a callback");
		return -EINVAL;
	}
	fd = lc_connect(opts);
	if (fd < 0)
		return finish(fd, NULL);
	/* The pre-dumps keep the connection open for the next request. */
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__PRE_DUMP;
	req.opts = opts->rpc;
	req.has_keep_open = true;
	req.keep_open = true;
	for (;;) {
		ret = exchange(opts, fd, &req, &resp);
		if (ret)
			goto out;
		criu_resp__free_unpacked(resp, NULL);
		resp = NULL;
		uret = more(NULL);
		if (uret < 0) {
			ret = uret;
			goto out;
		}
		if (uret == 0)
			break;
	}
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__DUMP;
	req.has_keep_open = false;
	req.keep_open = false;
	ret = exchange(opts, fd, &req, &resp);
out:
	lc_disconnect(opts, fd);
	return finish(ret, resp);
}

int criu_local_get_version(criu_opts *opts)
{
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;
	CriuVersion *v;
	int ret;

	lc_errno = 0;
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__VERSION;
	ret = request(opts, &req, &resp);
	if (ret)
		return finish(ret, resp);
	v = resp->version;
	if (!v || !v->has_major_number || !v->has_minor_number) {
		lc_err("the answer to VERSION carries no version");
		return finish(-EBADMSG, resp);
	}
	ret = v->major_number * 10000 + v->minor_number * 100;
	if (v->has_sublevel)
		ret += v->sublevel;
	/* libcriu's rule: a build from a git tree counts as the next minor release. */
	if (v->gitid)
		ret = ret - ret % 100 + 100;
	return finish(ret, resp);
}

int criu_local_check_version(criu_opts *opts, int minimum)
{
	int version = criu_local_get_version(opts);

	if (version < 0)
		return version;
	return version >= minimum ? 1 : 0;
}

int criu_local_feature_check(criu_opts *opts, struct criu_feature_check *features, size_t size)
{
	CriuFeatures ask = CRIU_FEATURES__INIT;
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp = NULL;
	CriuFeatures *got;
	struct criu_feature_check f = { 0 };
	int ret;

	lc_errno = 0;
	/* A caller built with an older criu.h passes a smaller structure. */
	if (!features || size > sizeof(f)) {
		lc_errno = EINVAL;
		return finish(-EINVAL, NULL);
	}
	memcpy(&f, features, size);
#define LC_ASK(name)                                                            \
	if (size >= offsetof(struct criu_feature_check, name) + sizeof(bool) && f.name) { \
		ask.has_##name = true;                                          \
		ask.name = true;                                                \
	}
	LC_ASK(mem_track)
	LC_ASK(lazy_pages)
	LC_ASK(pidfd_store)
#undef LC_ASK
	req.has_type = true;
	req.type = CRIU_REQ_TYPE__FEATURE_CHECK;
	req.features = &ask;
	ret = request(opts, &req, &resp);
	if (ret)
		return finish(ret, resp);
	got = resp->features;
	if (!got) {
		lc_err("the answer to FEATURE_CHECK carries no features");
		return finish(-EBADMSG, resp);
	}
	/* What was not asked, or not answered, is reported missing. */
	f.mem_track = ask.mem_track && got->has_mem_track && got->mem_track;
	f.lazy_pages = ask.lazy_pages && got->has_lazy_pages && got->lazy_pages;
	f.pidfd_store = ask.pidfd_store && got->has_pidfd_store && got->pidfd_store;
	memcpy(features, &f, size);
	return finish(0, resp);
}

int criu_check(void) { return criu_local_check(lc_global); }
int criu_dump(void) { return criu_local_dump(lc_global); }
int criu_pre_dump(void) { return criu_local_pre_dump(lc_global); }
int criu_restore(void) { return criu_local_restore(lc_global); }
int criu_restore_child(void) { return criu_local_restore_child(lc_global); }
int criu_dump_iters(int (*more)(criu_predump_info pi)) { return criu_local_dump_iters(lc_global, more); }
int criu_get_version(void) { return criu_local_get_version(lc_global); }
int criu_check_version(int minimum) { return criu_local_check_version(lc_global, minimum); }
int criu_feature_check(struct criu_feature_check *features, size_t size)
{
	return criu_local_feature_check(lc_global, features, size);
}
