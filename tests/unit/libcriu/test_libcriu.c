/*
 * libcriu.so against a scripted service on a socket pair
 * (criu_local_set_service_fd): the options as they reach the wire, the
 * return-value convention (criu.h), notifications and their answers,
 * VERSION's arithmetic and FEATURE_CHECK's structure sizes.  No cryo, no
 * root: the end-to-end test is tests/runner/libcriu.py.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "criu.h"
#include "rpc.pb-c.h"

static int failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);    \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			failures++;                                             \
		}                                                               \
	} while (0)

/* ---- the scripted service ---- */

struct script {
	int fd;
	void (*serve)(struct script *s);
	CriuReq *first;         /* the request received first, for the test to check */
	int acks[4];            /* notify_success of each NOTIFY answer, -1: none */
	int nr_acks;
};

static CriuReq *recv_req(int fd)
{
	uint8_t buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	return n > 0 ? criu_req__unpack(NULL, n, buf) : NULL;
}

static void send_resp(int fd, CriuResp *r)
{
	uint8_t buf[4096];
	size_t len = criu_resp__pack(r, buf);

	if (send(fd, buf, len, 0) != (ssize_t)len)
		perror("send");
}

static void send_notify(struct script *s, const char *action, int pid)
{
	CriuResp r = CRIU_RESP__INIT;
	CriuNotify n = CRIU_NOTIFY__INIT;
	CriuReq *ack;

	n.script = (char *)action;
	n.has_pid = pid != 0;
	n.pid = pid;
	r.has_type = true;
	r.type = CRIU_REQ_TYPE__NOTIFY;
	r.has_success = true;
	r.success = true;
	r.notify = &n;
	send_resp(s->fd, &r);
	ack = recv_req(s->fd);
	s->acks[s->nr_acks++] = ack && ack->type == CRIU_REQ_TYPE__NOTIFY && ack->has_notify_success
				? ack->notify_success : -1;
	if (ack)
		criu_req__free_unpacked(ack, NULL);
}

static void *serve_thread(void *arg)
{
	struct script *s = arg;

	s->first = recv_req(s->fd);
	if (s->first)
		s->serve(s);
	close(s->fd);
	return NULL;
}

/* Runs @op on options served by @serve; *s keeps what the service saw. */
static int run(criu_opts *o, void (*serve)(struct script *), struct script *s,
	       int (*op)(criu_opts *))
{
	pthread_t t;
	int sk[2], ret;

	memset(s, 0, sizeof(*s));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sk)) {
		perror("socketpair");
		exit(1);
	}
	s->fd = sk[1];
	s->serve = serve;
	criu_local_set_service_fd(o, sk[0]);
	pthread_create(&t, NULL, serve_thread, s);
	ret = op(o);
	shutdown(sk[0], SHUT_RDWR);   /* a service still waiting gives up */
	pthread_join(t, NULL);
	close(sk[0]);
	return ret;
}

static void answer(struct script *s, CriuReqType type, bool success, int cr_errno)
{
	CriuResp r = CRIU_RESP__INIT;

	r.has_type = true;
	r.type = type;
	r.has_success = true;
	r.success = success;
	if (cr_errno) {
		r.has_cr_errno = true;
		r.cr_errno = cr_errno;
		r.cr_errmsg = "scripted failure";
	}
	send_resp(s->fd, &r);
}

static void serve_dump_restored(struct script *s)
{
	CriuResp r = CRIU_RESP__INIT;
	CriuDumpResp d = CRIU_DUMP_RESP__INIT;

	d.has_restored = true;
	d.restored = true;
	r.has_type = true;
	r.type = CRIU_REQ_TYPE__DUMP;
	r.has_success = true;
	r.success = true;
	r.dump = &d;
	send_resp(s->fd, &r);
}

/* A RESTORE that worked: the restored root's PID. */
static void serve_restored(struct script *s)
{
	CriuResp r = CRIU_RESP__INIT;
	CriuRestoreResp rr = CRIU_RESTORE_RESP__INIT;

	rr.has_pid = true;
	rr.pid = 4242;
	r.has_type = true;
	r.type = CRIU_REQ_TYPE__RESTORE;
	r.has_success = true;
	r.success = true;
	r.restore = &rr;
	send_resp(s->fd, &r);
}

static void serve_esrch(struct script *s) { answer(s, s->first->type, false, ESRCH); }
static void serve_empty(struct script *s) { answer(s, CRIU_REQ_TYPE__EMPTY, false, 0); }
static void serve_wrong(struct script *s) { answer(s, CRIU_REQ_TYPE__CHECK, true, 0); }
static void serve_nothing(struct script *s) { (void)s; }

static void serve_notify(struct script *s)
{
	send_notify(s, "pre-dump", 0);
	send_notify(s, "post-dump", 4242);
	answer(s, CRIU_REQ_TYPE__DUMP, s->acks[1] == 1, s->acks[1] == 1 ? 0 : EPERM);
}

static int version_sublevel, version_git;

static void serve_version(struct script *s)
{
	CriuResp r = CRIU_RESP__INIT;
	CriuVersion v = CRIU_VERSION__INIT;

	v.has_major_number = v.has_minor_number = true;
	v.major_number = 3;
	v.minor_number = 19;
	v.has_sublevel = version_sublevel >= 0;
	v.sublevel = version_sublevel;
	v.gitid = version_git ? "abc" : NULL;
	r.has_type = true;
	r.type = CRIU_REQ_TYPE__VERSION;
	r.has_success = r.success = true;
	r.version = &v;
	send_resp(s->fd, &r);
}

static void serve_features(struct script *s)
{
	CriuResp r = CRIU_RESP__INIT;
	CriuFeatures f = CRIU_FEATURES__INIT;

	/* Says yes to everything, asked or not: the library reports only what was asked. */
	f.has_mem_track = f.has_lazy_pages = f.has_pidfd_store = true;
	f.mem_track = f.lazy_pages = f.pidfd_store = true;
	r.has_type = true;
	r.type = CRIU_REQ_TYPE__FEATURE_CHECK;
	r.has_success = r.success = true;
	r.features = &f;
	send_resp(s->fd, &r);
}

/* ---- the tests ---- */

static int seen_pid;
static char seen_actions[128];
static int cb_fail_at_post;

static int notify_cb(char *action, criu_notify_arg_t na)
{
	strcat(seen_actions, action);
	strcat(seen_actions, ";");
	if (strcmp(action, "post-dump") == 0) {
		seen_pid = criu_notify_pid(na);
		if (cb_fail_at_post)
			return -ENOTRECOVERABLE;
	}
	return 0;
}

static void test_options_on_the_wire(void)
{
	char *cmd[] = { "a", "b" };
	struct script s;
	criu_opts *o = NULL;
	CriuOpts *r;
	int ret;

	CHECK(criu_local_init_opts(&o) == 0, "init");
	criu_local_set_pid(o, 1234);
	criu_local_set_images_dir_fd(o, 7);
	criu_local_set_work_dir_fd(o, 8);
	criu_local_set_leave_running(o, true);
	criu_local_set_tcp_established(o, true);
	criu_local_set_shell_job(o, false);
	criu_local_set_log_level(o, CRIU_LOG_DEBUG);
	CHECK(criu_local_set_log_file(o, "d.log") == 0, "log_file");
	CHECK(criu_local_set_log_file(o, "dump.log") == 0, "log_file again");
	CHECK(criu_local_add_external(o, "mnt[/a]:a") == 0, "external");
	CHECK(criu_local_add_external(o, "file[1:2]") == 0, "external");
	CHECK(criu_local_add_inherit_fd(o, 5, "pipe:[99]") == 0, "inherit_fd");
	CHECK(criu_local_add_inherit_fd(o, -1, "x") == -EINVAL, "inherit_fd -1");
	criu_local_set_manage_cgroups_mode(o, CRIU_CG_MODE_SOFT);
	CHECK(criu_local_set_network_lock(o, CRIU_NETWORK_LOCK_NFTABLES) == 0, "network_lock");
	CHECK(criu_local_set_network_lock(o, 9) == -EINVAL, "bad network_lock");
	CHECK(criu_local_set_page_server_address_port(o, "127.0.0.1", 1234) == 0, "ps");
	CHECK(criu_local_join_ns_add(o, "net", "/proc/1/ns/net", NULL) == 0, "join_ns");
	CHECK(criu_local_set_exec_cmd(o, 2, cmd) == 0, "exec_cmd");
	CHECK(criu_local_add_unix_sk(o, 77) == 0, "unix_sk");

	ret = run(o, serve_dump_restored, &s, criu_local_dump);
	CHECK(ret == 1, "dump answered restored: %d, expected 1", ret);
	CHECK(s.first && s.first->type == CRIU_REQ_TYPE__DUMP && s.first->opts, "no DUMP with options");
	if (s.first && s.first->opts) {
		r = s.first->opts;
		CHECK(r->has_pid && r->pid == 1234, "pid");
		CHECK(r->has_images_dir_fd && r->images_dir_fd == 7, "images_dir_fd");
		CHECK(r->has_work_dir_fd && r->work_dir_fd == 8, "work_dir_fd");
		CHECK(r->has_leave_running && r->leave_running, "leave_running");
		CHECK(r->has_tcp_established && r->tcp_established, "tcp_established");
		CHECK(r->has_shell_job && !r->shell_job, "shell_job false, sent");
		CHECK(!r->has_file_locks, "file_locks not set, not sent");
		CHECK(r->has_log_level && r->log_level == 4, "log_level");
		CHECK(r->log_file && strcmp(r->log_file, "dump.log") == 0, "log_file");
		CHECK(r->n_external == 2 && strcmp(r->external[1], "file[1:2]") == 0, "external");
		CHECK(r->n_inherit_fd == 1 && r->inherit_fd[0]->fd == 5 &&
		      strcmp(r->inherit_fd[0]->key, "pipe:[99]") == 0, "inherit_fd");
		CHECK(r->has_manage_cgroups_mode && r->manage_cgroups_mode == CRIU_CG_MODE__SOFT, "cg mode");
		CHECK(r->has_network_lock && r->network_lock == CRIU_NETWORK_LOCK_METHOD__NFTABLES, "nl");
		CHECK(r->ps && r->ps->port == 1234 && strcmp(r->ps->address, "127.0.0.1") == 0, "ps");
		CHECK(r->n_join_ns == 1 && strcmp(r->join_ns[0]->ns_file, "/proc/1/ns/net") == 0 &&
		      !r->join_ns[0]->extra_opt, "join_ns");
		CHECK(r->n_exec_cmd == 2 && strcmp(r->exec_cmd[1], "b") == 0, "exec_cmd");
		CHECK(r->has_ext_unix_sk && r->ext_unix_sk && r->n_unix_sk_ino == 1 &&
		      r->unix_sk_ino[0]->inode == 77, "unix_sk");
		CHECK(!r->has_notify_scripts, "notify_scripts without a callback");
		criu_req__free_unpacked(s.first, NULL);
	}
	criu_local_free_opts(o);
}

static void test_errors(void)
{
	struct script s;
	criu_opts *o = NULL;
	int ret;

	criu_local_init_opts(&o);
	criu_local_set_pid(o, 1);
	errno = 0;
	ret = run(o, serve_esrch, &s, criu_local_dump);
	CHECK(ret == -EBADE && errno == ESRCH, "failed dump: %d errno %d", ret, errno);
	criu_req__free_unpacked(s.first, NULL);

	ret = run(o, serve_empty, &s, criu_local_check);
	CHECK(ret == -EINVAL, "unknown request: %d", ret);
	criu_req__free_unpacked(s.first, NULL);

	ret = run(o, serve_wrong, &s, criu_local_dump);
	CHECK(ret == -EBADMSG, "answer of another type: %d", ret);
	criu_req__free_unpacked(s.first, NULL);

	ret = run(o, serve_nothing, &s, criu_local_restore);
	CHECK(ret == -ECOMM, "no answer: %d", ret);
	criu_req__free_unpacked(s.first, NULL);

	/* the answer is read after it arrived (a call's arguments are
	 * evaluated in no set order: it once read resp before the request) */
	ret = run(o, serve_restored, &s, criu_local_restore);
	CHECK(ret == 4242, "restore answered with PID 4242: %d", ret);
	criu_req__free_unpacked(s.first, NULL);
	ret = run(o, serve_empty, &s, criu_local_pre_dump);
	CHECK(ret == -EINVAL, "pre-dump of an unknown request: %d", ret);
	criu_req__free_unpacked(s.first, NULL);

	ret = criu_local_feature_check(o, NULL, 0);
	CHECK(ret == -EINVAL, "feature_check(NULL): %d", ret);
	CHECK(criu_dump() == -EINVAL, "criu_dump() before criu_init_opts()");
	criu_local_free_opts(o);
}

static void test_notify(void)
{
	struct script s;
	criu_opts *o = NULL;
	int ret;

	criu_local_init_opts(&o);
	criu_local_set_pid(o, 1);
	criu_local_set_notify_cb(o, notify_cb);
	seen_actions[0] = 0;
	ret = run(o, serve_notify, &s, criu_local_dump);
	CHECK(ret == 0, "dump with notifications: %d", ret);
	CHECK(strcmp(seen_actions, "pre-dump;post-dump;") == 0, "actions %s", seen_actions);
	CHECK(seen_pid == 4242, "criu_notify_pid %d", seen_pid);
	CHECK(s.nr_acks == 2 && s.acks[0] == 1 && s.acks[1] == 1, "acks %d: %d %d", s.nr_acks,
	      s.acks[0], s.acks[1]);
	CHECK(s.first->opts->has_notify_scripts && s.first->opts->notify_scripts, "notify_scripts");
	criu_req__free_unpacked(s.first, NULL);

	cb_fail_at_post = 1;
	ret = run(o, serve_notify, &s, criu_local_dump);
	cb_fail_at_post = 0;
	CHECK(ret == -ENOTRECOVERABLE, "callback's failure: %d", ret);
	CHECK(s.nr_acks == 2 && s.acks[1] == 0, "failed ack: %d", s.acks[1]);
	criu_req__free_unpacked(s.first, NULL);
	criu_local_free_opts(o);
}

static void test_version(void)
{
	struct script s;
	criu_opts *o = NULL;
	int ret;

	criu_local_init_opts(&o);
	version_sublevel = 2;
	version_git = 0;
	ret = run(o, serve_version, &s, criu_local_get_version);
	CHECK(ret == 31902, "3.19.2: %d", ret);
	criu_req__free_unpacked(s.first, NULL);
	version_sublevel = -1;
	version_git = 1;
	ret = run(o, serve_version, &s, criu_local_get_version);
	CHECK(ret == 32000, "3.19 from git: %d", ret);
	criu_req__free_unpacked(s.first, NULL);
	criu_local_free_opts(o);
}

static criu_opts *fc_opts;
static struct criu_feature_check *fc_f;
static size_t fc_size;

static int do_feature_check(criu_opts *o)
{
	return criu_local_feature_check(o, fc_f, fc_size);
}

static void test_features(void)
{
	struct criu_feature_check f[2];
	struct script s;
	int ret;

	criu_local_init_opts(&fc_opts);
	memset(f, 0x55, sizeof(f));
	f[0].mem_track = true;
	f[0].lazy_pages = false;
	fc_f = f;
	fc_size = sizeof(bool) * 2; /* an older criu.h: mem_track and lazy_pages only */
	ret = run(fc_opts, serve_features, &s, do_feature_check);
	CHECK(ret == 0, "feature_check: %d", ret);
	CHECK(s.first->features && s.first->features->has_mem_track && !s.first->features->has_lazy_pages &&
	      !s.first->features->has_pidfd_store, "asked more than mem_track");
	CHECK(f[0].mem_track && !f[0].lazy_pages, "answers %d %d", f[0].mem_track, f[0].lazy_pages);
	CHECK(((unsigned char *)f)[2] == 0x55, "wrote past the caller's size");
	criu_req__free_unpacked(s.first, NULL);
	fc_size = sizeof(f[0]) + 1;
	CHECK(do_feature_check(fc_opts) == -EINVAL, "a larger structure than criu.h's");
	criu_local_free_opts(fc_opts);
}

int main(void)
{
	test_options_on_the_wire();
	test_errors();
	test_notify();
	test_version();
	test_features();
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("libcriu: all passed\n");
	return 0;
}
