/* criu's RPC: the request loop over a SOCK_SEQPACKET socket (swrk: an
 * inherited one; service: each accepted connection, service.c).
 *
 * One request is one datagram holding a criu_req; each gets one criu_resp
 * (notifications excepted: NOTIFY answers go back and forth while a dump
 * or restore runs).  Answers that need no state (VERSION, FEATURE_CHECK,
 * WAIT_PID, refusals) are given here; an operation (DUMP, CHECK, ...) runs
 * in a fresh child process with its own options, log and error object, so
 * that a failure, or a crash, never takes the service down.  RESTORE runs
 * in the serving process itself: over swrk the restored root must be the
 * client's child, which a sibling of this process (CLONE_PARENT) is and a
 * sibling of a request process would not be.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cryo.h"
#include "images/image.h"
#include "kerndat/kerndat.h"
#include "util/pipeline.h"
#include "rpc/rpc.h"
#include "rpc/rpc-int.h"
#include "util/log.h"
#include "util/util.h"
#include "pstree.pb-c.h"

#ifndef EBADRQC
#define EBADRQC 56
#endif

#define RPC_DEFAULT_LOG "criu.log"	/* criu's, in the work directory */

/* The client of the request being served, for its notifications: the
 * pipelines' stage hook (util/pipeline.h) calls rpc_notify with it. */
struct rpc_notifier {
	int sk;
	bool resumed_failed;	/* a notification past the point of no return failed */
};

/* ---- messages ------------------------------------------------------------ */

/* Returns 1 with *@out, 0 at the end of the connection, or a negative code. */
static int recv_req(int sk, CriuReq **out)
{
	ssize_t len, got;
	uint8_t *buf;

	do
		len = recv(sk, NULL, 0, MSG_TRUNC | MSG_PEEK);
	while (len < 0 && errno == EINTR);
	if (len < 0)
		return_perror("RPC: can't read a request");
	if (len == 0) {
		/* an empty datagram reads like the end: take it off */
		(void)!recv(sk, NULL, 0, MSG_DONTWAIT);
		return 0;
	}
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	got = recv(sk, buf, len, 0);
	if (got != len) {
		int e = got < 0 ? errno : EIO;
		free(buf);
		return log_errno(-e, "RPC: can't read a request of %zd bytes", len);
	}
	*out = criu_req__unpack(NULL, len, buf);
	free(buf);
	if (!*out) {
		pr_err("RPC: a request of %zd bytes is not a criu_req message (criu's rpc.proto)", len);
		return -EBADMSG;
	}
	return 1;
}

int rpc_send_resp(int sk, const CriuResp *resp)
{
	size_t len = criu_resp__get_packed_size(resp);
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	criu_resp__pack(resp, buf);
	n = send(sk, buf, len, MSG_NOSIGNAL);
	free(buf);
	if (n != (ssize_t)len)
		return_perror("RPC: can't send the answer");
	return 0;
}

/* A failure answer: criu's cr_errno (an errno; EBADRQC for bad options)
 * and the one-line message the command line would print. */
int rpc_send_error(int sk, CriuReqType type, int code, const char *msg)
{
	CriuResp resp = CRIU_RESP__INIT;

	resp.has_type = true;
	resp.type = type;
	resp.has_success = true;
	resp.success = false;
	resp.has_cr_errno = true;
	resp.cr_errno = code < 0 ? -code : code;
	if (!resp.cr_errno)
		resp.cr_errno = EIO;
	resp.cr_errmsg = (char *)msg;
	return rpc_send_resp(sk, &resp);
}

/* @resp with descriptor @fd attached (SCM_RIGHTS, in the same datagram:
 * runc reads the descriptor with the notification it comes with). */
static int send_resp_fd(int sk, const CriuResp *resp, int fd)
{
	size_t len = criu_resp__get_packed_size(resp);
	uint8_t *buf = malloc(len ? len : 1);
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	criu_resp__pack(resp, buf);
	iov.iov_base = buf;
	iov.iov_len = len;
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	n = sendmsg(sk, &mh, MSG_NOSIGNAL);
	free(buf);
	if (n != (ssize_t)len)
		return_perror("RPC: can't send the answer with a descriptor");
	return 0;
}

static int send_ok(int sk, CriuResp *resp, CriuReqType type)
{
	resp->has_type = true;
	resp->type = type;
	resp->has_success = true;
	resp->success = true;
	return rpc_send_resp(sk, resp);
}

/* ---- notifications ------------------------------------------------------ */

/* Tell the client that stage @script is reached (@pid: the tree's root,
 * 0 if none yet) and wait for its answer: a failure or no answer fails
 * the operation at that boundary (criu's order, see the stage tables). */
static int notify_client(const char *script, int pid, int fd, struct rpc_notifier *nf)
{
	CriuResp resp = CRIU_RESP__INIT;
	CriuNotify n = CRIU_NOTIFY__INIT;
	CriuReq *ans = NULL;
	int ret;

	n.script = (char *)script;
	if (pid) {
		n.has_pid = true;
		n.pid = pid;
	}
	resp.notify = &n;
	pr_info("RPC: notifying the client: %s (pid %d%s)", script, pid,
		fd >= 0 ? ", a descriptor with it" : "");
	if (fd >= 0) {
		resp.has_type = resp.has_success = resp.success = true;
		resp.type = CRIU_REQ_TYPE__NOTIFY;
		ret = send_resp_fd(nf->sk, &resp, fd);
	} else {
		ret = send_ok(nf->sk, &resp, CRIU_REQ_TYPE__NOTIFY);
	}
	if (!ret) {
		ret = recv_req(nf->sk, &ans);
		if (ret == 0) {
			pr_err("RPC: the client went away instead of answering the %s notification",
			       script);
			ret = -ECONNRESET;
		}
	}
	if (ret > 0) {
		ret = 0;
		if (ans->type != CRIU_REQ_TYPE__NOTIFY) {
			pr_err("RPC: the client answered the %s notification with a request of type "
			       "%d, not NOTIFY", script, ans->type);
			ret = -EBADMSG;
		} else if (!ans->notify_success) {
			pr_err("RPC: the client's %s notification script failed", script);
			ret = -ECANCELED;
		}
		criu_req__free_unpacked(ans, NULL);
	}
	/* past the point of no return the tree runs on: the RPC ends it */
	if (ret && (!strcmp(script, "network-unlock") || !strcmp(script, "post-resume")))
		nf->resumed_failed = true;
	return ret;
}

static int rpc_notify(const char *script, int pid, void *arg)
{
	return notify_client(script, pid, -1, arg);
}

int rpc_notify_one(int sk, const char *script, int pid, int fd)
{
	struct rpc_notifier nf = { .sk = sk };
	return notify_client(script, pid, fd, &nf);
}

/* criu's orphan-pts-master: the notification carries the new pty master
 * (criu's notify has no pid then). */
static int rpc_notify_fd(const char *script, int fd, void *arg)
{
	return notify_client(script, 0, fd, arg);
}

/* ---- the requests that need no operation -------------------------------- */

static int do_version(int sk)
{
	CriuResp resp = CRIU_RESP__INIT;
	CriuVersion v = CRIU_VERSION__INIT;
	int major = 0, minor = 0, sub = 0;

	/* the criu release whose interface cryo implements: runc and podman
	 * compare it with what they need (podman: 3.11) */
	int n = sscanf(CRYO_CRIU_COMPAT_VERSION, "%d.%d.%d", &major, &minor, &sub);
	v.has_major_number = v.has_minor_number = true;
	v.major_number = major;
	v.minor_number = minor;
	if (n == 3) {
		v.has_sublevel = true;
		v.sublevel = sub;
	}
	v.gitid = (char *)"cryo-" CRYO_VERSION;
	v.name = (char *)"cryo";
	resp.version = &v;
	return send_ok(sk, &resp, CRIU_REQ_TYPE__VERSION);
}

static int do_feature_check(int sk, const CriuReq *req)
{
	CriuResp resp = CRIU_RESP__INIT;
	CriuFeatures f = CRIU_FEATURES__INIT;
	const CriuFeatures *ask = req->features;

	/* criu answers the features asked about, each true or false */
	if (ask && ask->has_mem_track) {
		f.has_mem_track = true;
		/* pre-dump and dump --track-mem work where cryo's tracking
		 * (uffd-wp async + PAGEMAP_SCAN, else soft-dirty) does */
		f.mem_track = kdat_has(KF_MEM_DIRTY_TRACK);
	}
	if (ask && ask->has_lazy_pages) {
		f.has_lazy_pages = true;
		/* restore --lazy-pages and cryo lazy-pages, as this kernel allows */
		f.lazy_pages = kdat_has(KF_LAZY_PAGES);
	}
	if (ask && ask->has_pidfd_store) {
		f.has_pidfd_store = true;
		f.pidfd_store = kdat_has(KF_PIDFD_STORE);
	}
	resp.features = &f;
	return send_ok(sk, &resp, CRIU_REQ_TYPE__FEATURE_CHECK);
}

static int do_wait_pid(int sk, const CriuReq *req)
{
	CriuResp resp = CRIU_RESP__INIT;
	char msg[256];
	int status;
	pid_t pid = req->has_pid ? (pid_t)req->pid : 0;

	if (pid <= 0)
		return rpc_send_error(sk, CRIU_REQ_TYPE__WAIT_PID, -EINVAL,
				      "WAIT_PID needs the pid of a process to wait for (criu_req.pid)");
	while (waitpid(pid, &status, 0) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		snprintf(msg, sizeof(msg), "can't wait for process %d: %s%s", pid, strerror(e),
			 e == ECHILD ? " (only a child of this cryo can be waited for; a tree "
				       "restored over swrk is the client's child)" : "");
		return rpc_send_error(sk, CRIU_REQ_TYPE__WAIT_PID, -e, msg);
	}
	resp.has_status = true;
	resp.status = status;
	return send_ok(sk, &resp, CRIU_REQ_TYPE__WAIT_PID);
}

/* ---- operations ---------------------------------------------------------- */

static enum cryo_command req_command(CriuReqType t)
{
	switch (t) {
	case CRIU_REQ_TYPE__DUMP: return CMD_DUMP;
	case CRIU_REQ_TYPE__RESTORE: return CMD_RESTORE;
	case CRIU_REQ_TYPE__CHECK: return CMD_CHECK;
	case CRIU_REQ_TYPE__PRE_DUMP: return CMD_PRE_DUMP;
	case CRIU_REQ_TYPE__SINGLE_PRE_DUMP: return CMD_PRE_DUMP;
	case CRIU_REQ_TYPE__PAGE_SERVER: return CMD_PAGE_SERVER;
	case CRIU_REQ_TYPE__PAGE_SERVER_CHLD: return CMD_PAGE_SERVER;
	case CRIU_REQ_TYPE__CPUINFO_DUMP: return CMD_CPUINFO_DUMP;
	case CRIU_REQ_TYPE__CPUINFO_CHECK: return CMD_CPUINFO_CHECK;
	default: return CMD_NONE;
	}
}

/* The work directory (default: the images directory), then the log in it
 * (criu.log unless the request names one or asks for standard error).  A
 * CHECK without directories logs to standard error: there is no directory
 * of the client's to write to. */
static int prepare_request(struct cryo_opts *o, const CriuOpts *ro)
{
	bool dirs = ro && (ro->has_images_dir_fd || ro->has_work_dir_fd);

	if (o->command != CMD_CHECK && !(ro && ro->has_images_dir_fd)) {
		pr_err("%s needs the images directory: criu_opts.images_dir_fd",
		       opts_command_name(o->command));
		return -EBADRQC;
	}
	if (!dirs)
		return log_init(o->log_file, o->verbosity);
	const char *wd = o->work_dir ? o->work_dir : o->images_dir;
	if (chdir(wd))
		return_perror("can't change to the work directory %s", wd);
	if (ro->has_log_to_stderr && ro->log_to_stderr)
		return log_init(NULL, o->verbosity);
	return log_init(o->log_file ? o->log_file : RPC_DEFAULT_LOG, o->verbosity);
}

/* The request's images and work directories were taken (absolute paths
 * from the client's descriptors) before its options were refused: its log
 * can be written where the client looks for it, nowhere else. */
static bool client_dirs_known(const struct cryo_opts *o, const CriuOpts *ro)
{
	return ro && ro->has_images_dir_fd && o->images_dir && o->images_dir[0] == '/' &&
	       (!ro->has_work_dir_fd || (o->work_dir && o->work_dir[0] == '/'));
}

/* The root's PID from the pidfile the restore wrote (relative: the work
 * directory); 0 if it can't be read. */
static pid_t read_pidfile(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : 0;
}

/* A notification failed once the tree runs: criu then kills the tree.
 * Its processes are the images' (pstree.img); with --pid-ns only the
 * root's host PID is known. */
static void kill_restored(const struct cryo_opts *o, pid_t root)
{
	struct cr_img *img = NULL;
	PstreeEntry *pe;
	int dfd;

	if (root > 0)
		kill(root, SIGKILL);
	if (o->pid_ns)
		return;
	dfd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (!img_open(&img, dfd, IMG_PSTREE, IMG_READ, 0)) {
		bool first = true;
		while (img_read_msg(img, &pstree_entry__descriptor, (ProtobufCMessage **)&pe) > 0) {
			/* a root that is PID 1 was the init of a PID namespace
			 * of its own: the PIDs are that namespace's, not ours,
			 * and the root's death has ended them all */
			bool pidns = first && pe->pid == 1;
			first = false;
			if (pe->pid > 0 && !pidns)
				kill(pe->pid, SIGKILL);
			protobuf_c_message_free_unpacked(&pe->base, NULL);
			if (pidns)
				break;
		}
		img_close(img);
	}
	close(dfd);
}

static int run_restore(struct cryo_opts *o, CriuResp *resp, CriuRestoreResp *rr,
		       struct cryo_error *err, const struct rpc_peer *peer,
		       const struct rpc_notifier *nf)
{
	char tmpdir[] = "/tmp/cryo-rpc.XXXXXX", own[sizeof(tmpdir) + 16];
	bool own_pidfile = !o->pidfile;
	int ret, status = 0;
	pid_t root;

	/* the client is the restored tree's parent: over swrk it is ours */
	o->restore_detached = true;
	if (peer->swrk)
		o->restore_sibling = true;
	/* cryo_restore reports the root's PID through --pidfile (the host
	 * PID with --pid-ns too): use a private one unless the client set it */
	if (own_pidfile) {
		if (!mkdtemp(tmpdir))
			return_perror("can't create a directory for the restore's pidfile");
		snprintf(own, sizeof(own), "%s/root.pid", tmpdir);
		o->pidfile = strdup(own);
		if (!o->pidfile) {
			rmdir(tmpdir);
			return -ENOMEM;
		}
	}
	/* the notifications come from the restore's stages */
	ret = cryo_restore(o, &status, err);
	root = !ret || nf->resumed_failed ? read_pidfile(o->pidfile) : 0;
	if (own_pidfile) {
		unlink(own);
		rmdir(tmpdir);
	}
	if (ret) {
		if (nf->resumed_failed)
			kill_restored(o, root);
		return ret;
	}
	rr->has_pid = true;
	rr->pid = root;
	resp->restore = rr;
	return 0;
}

/* Run @req's operation in this process and send its answer.  Returns 0
 * once an answer is sent, a negative code if none could be. */
static int run_operation(int sk, const CriuReq *req, const struct rpc_peer *peer)
{
	CriuResp resp = CRIU_RESP__INIT;
	CriuDumpResp dr = CRIU_DUMP_RESP__INIT;
	CriuRestoreResp rr = CRIU_RESTORE_RESP__INIT;
	CriuPageServerInfo psi = CRIU_PAGE_SERVER_INFO__INIT;
	struct cryo_error err = { 0 }, *outer;
	struct cryo_opts o;
	struct rpc_notifier nf = { .sk = -1 };
	struct pipeline_hook hook = { .notify = rpc_notify, .arg = &nf,
				      .notify_fd = rpc_notify_fd };
	enum cryo_command cmd = req_command(req->type);
	const struct cryo_command_desc *d = opts_command_desc(cmd);
	int ret;

	if (d && d->unavailable) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", d->unavailable);
		return rpc_send_error(sk, req->type, -EOPNOTSUPP, msg);
	}
	opts_init(&o);
	outer = log_capture_errors(&err);
	ret = rpc_opts_from_req(&o, req->opts, cmd, peer);
	if (ret == -EBADRQC)
		err.code = ret;	/* criu's cr_errno for bad options, whatever was logged */
	if (ret && client_dirs_known(&o, req->opts) && !prepare_request(&o, req->opts)) {
		/* the client reads the log it named (runc shows only cr_errno):
		 * the refused request and why go there too */
		rpc_log_opts(opts_command_name(cmd), req->opts, true);
		pr_warn("RPC %s refused: %s", opts_command_name(cmd), err.msg);
	}
	if (!ret)
		ret = prepare_request(&o, req->opts);
	if (!ret) {
		pr_info("cryo %s (criu %s interface): RPC %s, images in %s", CRYO_VERSION,
			CRYO_CRIU_COMPAT_VERSION, opts_command_name(cmd), o.images_dir);
		rpc_log_opts(opts_command_name(cmd), req->opts, false);
		/* the client's notifications, at the pipelines' stage boundaries */
		nf.sk = sk;
		if (req->opts && req->opts->has_notify_scripts && req->opts->notify_scripts)
			o.notify = &hook;
	}
	log_capture_errors(outer);

	if (!ret) {
		switch (cmd) {
		case CMD_DUMP:
			ret = cryo_dump(&o, &err);
			if (!ret) {
				dr.has_restored = true;
				dr.restored = false;
				resp.dump = &dr;
			}
			break;
		case CMD_PRE_DUMP:
			ret = cryo_pre_dump(&o, &err);
			if (!ret) {
				dr.has_restored = true;
				dr.restored = false;
				resp.dump = &dr;
			}
			break;
		case CMD_RESTORE:
			outer = log_capture_errors(&err);
			ret = run_restore(&o, &resp, &rr, &err, peer, &nf);
			log_capture_errors(outer);
			break;
		case CMD_PAGE_SERVER: {
			pid_t ps_pid = 0;
			int ps_port = 0;
			ret = cryo_page_server_start(&o, req->type == CRIU_REQ_TYPE__PAGE_SERVER, sk,
						     &ps_pid, &ps_port, &err);
			if (!ret) {
				psi.has_pid = psi.has_port = true;
				psi.pid = ps_pid;
				psi.port = ps_port;
				resp.ps = &psi;
			}
			break;
		}
		case CMD_CPUINFO_DUMP:
		case CMD_CPUINFO_CHECK:
			ret = cryo_cpuinfo(&o, &err);
			break;
		case CMD_CHECK:
			ret = cryo_check(&o, &err);
			if (ret > 0) {
				/* the missing features went to the log (pr_msg) */
				outer = log_capture_errors(&err);
				pr_err("the kernel lacks features cryo needs; \"cryo check\" (or "
				       "this request's log) names them and what helps");
				log_capture_errors(outer);
				ret = -EOPNOTSUPP;
			}
			break;
		default:
			ret = -EOPNOTSUPP;
			break;
		}
	}
	o.notify = NULL;
	if (ret && !err.code)
		cryo_error_finish(&err, ret);
	if (ret)
		pr_debug("RPC %s failed (%s, first error at %s): %s", opts_command_name(cmd),
			 strerror(-err.code), err.where[0] ? err.where : "?", err.msg);
	log_fini();
	opts_free(&o);
	if (ret)
		return rpc_send_error(sk, req->type, err.code ? err.code : ret,
				      err.msg[0] ? err.msg : strerror(-ret));
	return send_ok(sk, &resp, req->type);
}

/* An operation in a child process of its own: the serving process keeps
 * no state of it, and answers for it if it dies without answering. */
static int fork_operation(int sk, const CriuReq *req, const struct rpc_peer *peer)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return_perror("RPC: can't fork a process for the request");
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		_exit(run_operation(sk, req, peer) ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return_perror("RPC: can't wait for the request's process %d", pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char msg[256];
	if (WIFSIGNALED(status))
		snprintf(msg, sizeof(msg), "cryo's process for the request was killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(msg, sizeof(msg), "cryo's process for the request could not answer (exit "
			 "status %d); see its log", WEXITSTATUS(status));
	pr_err("RPC: %s", msg);
	return rpc_send_error(sk, req->type, -EIO, msg);
}

/* ---- the loop ------------------------------------------------------------- */

static int serve_one(int sk, const CriuReq *req, const struct rpc_peer *peer)
{
	char msg[256];

	switch (req->type) {
	case CRIU_REQ_TYPE__VERSION:
		return do_version(sk);
	case CRIU_REQ_TYPE__FEATURE_CHECK:
		return do_feature_check(sk, req);
	case CRIU_REQ_TYPE__WAIT_PID:
		return do_wait_pid(sk, req);
	case CRIU_REQ_TYPE__RESTORE:
	case CRIU_REQ_TYPE__PAGE_SERVER:
	case CRIU_REQ_TYPE__PAGE_SERVER_CHLD: {
		/* in this process (see the top; PAGE_SERVER_CHLD's server is its
		 * child, for WAIT_PID); back to where we were after */
		int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		int ret = run_operation(sk, req, peer);
		if (cwd >= 0) {
			(void)!fchdir(cwd);
			close(cwd);
		}
		return ret;
	}
	case CRIU_REQ_TYPE__DUMP:
	case CRIU_REQ_TYPE__CHECK:
	case CRIU_REQ_TYPE__PRE_DUMP:
	case CRIU_REQ_TYPE__SINGLE_PRE_DUMP:
	case CRIU_REQ_TYPE__CPUINFO_DUMP:
	case CRIU_REQ_TYPE__CPUINFO_CHECK:
		return fork_operation(sk, req, peer);
	case CRIU_REQ_TYPE__NOTIFY:
		return rpc_send_error(sk, req->type, -EBADRQC,
				      "a NOTIFY answer came while no notification was pending");
	default:
		snprintf(msg, sizeof(msg), "unknown request type %d (criu %s's rpc.proto knows 1-13)",
			 req->type, CRYO_CRIU_COMPAT_VERSION);
		return rpc_send_error(sk, req->type, -EBADRQC, msg);
	}
}

int rpc_serve(int sk, const struct rpc_peer *peer)
{
	for (;;) {
		CriuReq *req = NULL;
		int ret = recv_req(sk, &req);

		if (ret == -EBADMSG) {
			/* answer what can't be read, then go on */
			if (rpc_send_error(sk, CRIU_REQ_TYPE__EMPTY, -EBADMSG,
					   "the request is not a criu_req message (criu's rpc.proto)"))
				return -EIO;
			continue;
		}
		if (ret <= 0)
			return ret;
		if (req->base.n_unknown_fields) {
			ret = rpc_send_error(sk, req->type, -EBADRQC,
					     "the request has fields cryo does not know (criu's "
					     "rpc.proto has no such criu_req field)");
		} else {
			pr_info("RPC: request type %d%s", req->type, req->keep_open ? " (keep open)" : "");
			ret = serve_one(sk, req, peer);
		}
		bool more = req->keep_open;
		criu_req__free_unpacked(req, NULL);
		if (ret)
			return ret;
		/* criu: the connection ends with the answer unless keep_open */
		if (!more)
			return 0;
	}
}

pid_t rpc_peer_pid(int sk)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return 0;
	return cr.pid;
}

/* fds 0-2 closed (libcriu and pycriu close them before exec) would be
 * taken by the first files opened: give them /dev/null. */
static void fill_stdio(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);
			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
}

int rpc_swrk(struct cryo_opts *base, int fd)
{
	struct rpc_peer peer = { .pid = 0, .swrk = true };
	int type = 0;
	socklen_t len = sizeof(type);

	fill_stdio();
	(void)base;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_SEQPACKET) {
		pr_err("swrk %d: descriptor %d is not a SOCK_SEQPACKET socket (%s); libcriu and "
		       "go-criu pass one end of a socketpair", fd, fd,
		       errno == EBADF ? "not open" : "another kind");
		return -EBADF;
	}
	/* not for the restored tree (which closes cryo's descriptors anyway) */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* Descriptor numbers in requests are the client's (pycriu opens the
	 * images directory close-on-exec): the socketpair's creator. */
	peer.pid = rpc_peer_pid(fd);
	if (peer.pid <= 0)
		peer.pid = getppid();
	int ret = rpc_serve(fd, &peer);
	close(fd);
	return ret < 0 ? ret : 0;
}
