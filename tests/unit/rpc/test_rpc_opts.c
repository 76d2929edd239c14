/* criu_opts (rpc.proto) <-> the option table: every field of the schema is
 * mapped to an option or listed as handled by the RPC code, refused or
 * ignored, with a reason; a field's type fits its option; and requests set
 * what they should (values, negations, refusals with the option's note). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../unit.h"
#include "cryo.h"
#include "rpc/rpc.h"
#include "util/log.h"

static void check_every_field(void)
{
	const ProtobufCMessageDescriptor *d = &criu_opts__descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		struct rpc_field_info info;
		int ret = rpc_field_info(f->name, &info);

		if (ret) {
			fprintf(stderr, "FAIL: criu_opts.%s (%u) is mapped to nothing: name an option "
				"for it or list it in lib/rpc/rpc_opts.c's exceptions\n", f->name, f->id);
			unit_failures++;
			continue;
		}
		unit_checks++;
		if (info.kind != RPC_FIELD_OPTION) {
			CHECK(info.why && strlen(info.why) > 20);
			continue;
		}
		bool neg;
		const struct cryo_option *opt = opts_find(info.option, strlen(info.option), &neg, NULL);
		CHECK(opt && !strcmp(opt->name, info.option));
		if (!opt)
			continue;
		/* enums and sub-messages have no string form of their own */
		if ((f->type == PROTOBUF_C_TYPE_ENUM || f->type == PROTOBUF_C_TYPE_MESSAGE) &&
		    !info.converted) {
			fprintf(stderr, "FAIL: field %s (enum or message) maps to --%s without a "
				"converter\n", f->name, opt->name);
			unit_failures++;
		}
		/* a bool field sets a flag (or an option with an optional value);
		 * a value field needs an option that takes one */
		if (f->type == PROTOBUF_C_TYPE_BOOL && opt->arg == OPT_ARG_REQUIRED &&
		    strcmp(f->name, "auto_ext_mnt")) {
			fprintf(stderr, "FAIL: bool field %s maps to --%s, which needs a value\n",
				f->name, opt->name);
			unit_failures++;
		}
		if ((f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_INT32 ||
		     f->type == PROTOBUF_C_TYPE_UINT32) && opt->arg == OPT_ARG_NONE &&
		    strcmp(f->name, "exec_cmd")) {
			fprintf(stderr, "FAIL: value field %s maps to flag --%s\n", f->name, opt->name);
			unit_failures++;
		}
	}
	/* names that are no field of the schema are not mapped */
	struct rpc_field_info info;
	CHECK_INT(rpc_field_info("no_such_field", &info), -ENOENT);
	CHECK_INT(rpc_field_info("tcp_established", &info), 0);
	CHECK_INT(info.kind, RPC_FIELD_OPTION);
	CHECK_STR(info.option, "tcp-established");
	CHECK_INT(rpc_field_info("tcp_skip_in_flight", &info), 0);
	CHECK_STR(info.option, "skip-in-flight");
	CHECK_INT(rpc_field_info("orphan_pts_master", &info), 0);
	CHECK_INT(info.kind, RPC_FIELD_OPTION);
	CHECK_STR(info.option, "orphan-pts-master");
	CHECK_INT(rpc_field_info("keep_network_lock", &info), 0);
	CHECK_INT(info.kind, RPC_FIELD_REFUSED);
}

static int apply(struct cryo_opts *o, CriuOpts *ro, enum cryo_command cmd, struct cryo_error *e)
{
	struct rpc_peer peer = { .pid = getpid(), .swrk = true };
	struct cryo_error *outer;
	int ret;

	opts_init(o);
	*e = (struct cryo_error){ 0 };
	outer = log_capture_errors(e);
	ret = rpc_opts_from_req(o, ro, cmd, &peer);
	log_capture_errors(outer);
	return ret;
}

static void check_requests(void)
{
	struct cryo_opts o;
	struct cryo_error e;
	CriuOpts ro = CRIU_OPTS__INIT;
	char *ext[] = { (char *)"unix[42]" };
	int dfd = open("/tmp", O_RDONLY | O_DIRECTORY);

	/* values through the table: the images dir from the descriptor */
	ro.has_images_dir_fd = true;
	ro.images_dir_fd = dfd;
	ro.has_pid = true;
	ro.pid = 1234;
	ro.has_leave_running = true;
	ro.leave_running = true;
	ro.has_tcp_skip_in_flight = true;
	ro.tcp_skip_in_flight = true;
	ro.has_ghost_limit = true;
	ro.ghost_limit = 4096;
	ro.has_log_level = true;
	ro.log_level = 4;
	ro.has_network_lock = true;
	ro.network_lock = CRIU_NETWORK_LOCK_METHOD__NFTABLES;
	ro.n_external = 1;
	ro.external = ext;
	CHECK_INT(apply(&o, &ro, CMD_DUMP, &e), 0);
	CHECK_STR(o.images_dir, "/tmp");
	CHECK_INT(o.pid, 1234);
	CHECK(o.leave_running);
	CHECK(o.skip_in_flight);
	CHECK_INT(o.ghost_limit, 4096);
	CHECK_INT(o.verbosity, 4);
	CHECK_STR(o.network_lock, "nftables");
	CHECK_INT(o.external.n, 1);
	CHECK_STR(o.external.v[0], "unix[42]");
	opts_free(&o);

	/* false on a negatable option is its --no- form: shell_job false
	 * from the request beats nothing, file_locks true sets it */
	CriuOpts r2 = CRIU_OPTS__INIT;
	r2.has_images_dir_fd = true;
	r2.images_dir_fd = dfd;
	r2.has_file_locks = true;
	r2.file_locks = true;
	r2.has_manage_cgroups_mode = true;
	r2.manage_cgroups_mode = CRIU_CG_MODE__IGNORE;
	r2.has_rst_sibling = true;
	r2.rst_sibling = false;
	CHECK_INT(apply(&o, &r2, CMD_RESTORE, &e), 0);
	CHECK(o.file_locks);
	CHECK(!o.restore_sibling);
	CHECK_STR(o.manage_cgroups, "ignore");
	opts_free(&o);
	/* rst_sibling true, as libcriu's criu_restore_child sends it: valid
	 * (an RPC restore is always detached), not refused as on the CLI */
	r2.rst_sibling = true;
	CHECK_INT(apply(&o, &r2, CMD_RESTORE, &e), 0);
	CHECK(o.restore_sibling);
	opts_free(&o);

	/* a field whose option cryo refuses: refused with the option's note */
	CriuOpts r3 = CRIU_OPTS__INIT;
	r3.has_images_dir_fd = true;
	r3.images_dir_fd = dfd;
	r3.has_pid = true;
	r3.pid = 1;
	r3.has_unprivileged = true;
	r3.unprivileged = true;
	CHECK(apply(&o, &r3, CMD_DUMP, &e) < 0);
	CHECK(strstr(e.msg, "RPC field unprivileged") != NULL);
	CHECK(strstr(e.msg, "--unprivileged") != NULL);
	CHECK(strstr(e.msg, "not implemented") != NULL);
	opts_free(&o);

	/* ps: a dump to a page server */
	CriuPageServerInfo ps = CRIU_PAGE_SERVER_INFO__INIT;
	ps.address = (char *)"127.0.0.1";
	ps.has_port = true;
	ps.port = 4567;
	r3.parent_img = NULL;
	r3.has_unprivileged = false;
	r3.ps = &ps;
	CHECK_INT(apply(&o, &r3, CMD_DUMP, &e), 0);
	CHECK(o.page_server);
	CHECK_STR(o.address, "127.0.0.1");
	CHECK_INT(o.port, 4567);
	opts_free(&o);
	ps.has_port = false;	/* no port: refused, naming it */
	CHECK(apply(&o, &r3, CMD_DUMP, &e) < 0);
	CHECK(strstr(e.msg, "--port") != NULL);
	opts_free(&o);
	ps.has_fd = true;	/* the client's socket: refused */
	ps.fd = 5;
	CHECK(apply(&o, &r3, CMD_DUMP, &e) < 0);
	CHECK(strstr(e.msg, "ps.fd") != NULL);
	opts_free(&o);
	r3.ps = NULL;

	/* refused without an option, and a bad value */
	CriuOpts r4 = CRIU_OPTS__INIT;
	r4.has_images_dir_fd = true;
	r4.images_dir_fd = dfd;
	r4.has_keep_network_lock = true;
	r4.keep_network_lock = true;
	CHECK(apply(&o, &r4, CMD_RESTORE, &e) < 0);
	CHECK(strstr(e.msg, "keep_network_lock") != NULL);
	opts_free(&o);
	r4.keep_network_lock = false;	/* false: nothing asked */
	CHECK_INT(apply(&o, &r4, CMD_RESTORE, &e), 0);
	opts_free(&o);
	/* runc sends orphan_pts_master with every request */
	r4.has_orphan_pts_master = true;
	r4.orphan_pts_master = true;
	CHECK_INT(apply(&o, &r4, CMD_RESTORE, &e), 0);
	CHECK(o.orphan_pts_master);
	opts_free(&o);
	r4.log_file = (char *)"../x.log";
	CHECK(apply(&o, &r4, CMD_RESTORE, &e) < 0);
	CHECK(strstr(e.msg, "log_file") != NULL);
	opts_free(&o);

	/* a descriptor the client does not have */
	CriuOpts r5 = CRIU_OPTS__INIT;
	r5.has_images_dir_fd = true;
	r5.images_dir_fd = 999;
	CHECK(apply(&o, &r5, CMD_RESTORE, &e) < 0);
	CHECK(strstr(e.msg, "images_dir_fd") != NULL);
	opts_free(&o);

	/* unknown fields (a newer client's) are refused by number */
	uint8_t wire[] = { 0x08, 0x03, 0xa0, 0x06, 0x01 };	/* field 1 = 3, field 100 = 1 */
	CriuOpts *u = criu_opts__unpack(NULL, sizeof(wire), wire);
	CHECK(u != NULL);
	if (u) {
		CHECK_INT(u->base.n_unknown_fields, 1);
		CHECK(apply(&o, u, CMD_RESTORE, &e) < 0);
		CHECK(strstr(e.msg, "100") != NULL);
		opts_free(&o);
		criu_opts__free_unpacked(u, NULL);
	}
	/* config_file is read after the fields and wins (criu's order); its
	 * refusals name the file and line */
	char conf[] = "/tmp/cryo-rpc-test.XXXXXX";
	int cfd = mkstemp(conf);
	CHECK(cfd >= 0);
	CHECK(write(cfd, "no-leave-running\ntcp-established\n", 33) == 33);
	CriuOpts r6 = CRIU_OPTS__INIT;
	r6.has_images_dir_fd = true;
	r6.images_dir_fd = dfd;
	r6.has_pid = true;
	r6.pid = 1;
	r6.has_leave_running = true;
	r6.leave_running = true;
	r6.config_file = conf;
	CHECK_INT(apply(&o, &r6, CMD_DUMP, &e), 0);
	CHECK(!o.leave_running);
	CHECK(o.tcp_established);
	opts_free(&o);
	CHECK(write(cfd, "unprivileged\n", 13) == 13);
	CHECK(apply(&o, &r6, CMD_DUMP, &e) < 0);
	CHECK(strstr(e.msg, ":3: --unprivileged") != NULL);
	opts_free(&o);
	close(cfd);
	unlink(conf);
	/* a missing one is skipped, as criu does: runc always names
	 * /etc/criu/runc.conf */
	CHECK_INT(apply(&o, &r6, CMD_DUMP, &e), 0);
	CHECK(o.leave_running);
	opts_free(&o);

	/* a dump names its tree: criu would dump the client, cryo's parent */
	CriuOpts r7 = CRIU_OPTS__INIT;
	r7.has_images_dir_fd = true;
	r7.images_dir_fd = dfd;
	CHECK(apply(&o, &r7, CMD_DUMP, &e) < 0);
	CHECK(strstr(e.msg, "criu_opts.pid") != NULL);
	opts_free(&o);
	close(dfd);
}

int main(void)
{
	log_init(NULL, -1);
	check_every_field();
	check_requests();
	return unit_failures ? 1 : 0;
}
