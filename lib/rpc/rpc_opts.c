/* criu_opts -> struct cryo_opts: the request's options go through the
 * same option table as the command line and the configuration files.
 *
 * The mapping is derived from the protobuf-c descriptor: a field named
 * like an option (tcp_established -> --tcp-established) sets it, with the
 * value converted by the field's type.  The table below lists only the
 * exceptions: fields whose option has another name or whose value needs
 * converting (enums, sub-messages, descriptor numbers), and the fields
 * that are no option at all.  A field that sets an option cryo refuses is
 * refused by opts_validate() with the option's note, as on the command
 * line; the unit test (tests/unit/rpc) checks that every field of the
 * schema is mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options/options.h"
#include "rpc/rpc.h"
#include "util/log.h"
#include "util/util.h"

#ifndef EBADRQC
#define EBADRQC 56
#endif

/* A converter writes the option's value for one element of the field
 * (@v points at it: int32_t, uint32_t, protobuf_c_boolean, char *, a
 * message pointer or an enum's int) to @buf and points *@val at it (or
 * at NULL: the option is a flag).  Returns 0, 1 to set nothing, or a
 * negative code after logging why. */
typedef int (*conv_fn)(const struct rpc_peer *peer, const char *field, const void *v,
		       char *buf, size_t len, const char **val);

struct field_map {
	const char *field;
	enum rpc_field_kind kind;
	const char *option;	/* RPC_FIELD_OPTION */
	conv_fn conv;		/* NULL: by the field's type */
	const char *why;
};

/* ---- converters ---------------------------------------------------------- */

/* A descriptor number of the client: swrk inherits the client's table (the
 * number is ours); the service opens it through /proc/PEER/fd. */
static int conv_client_dir(const struct rpc_peer *peer, const char *field, const void *v,
			   char *buf, size_t len, const char **val)
{
	int fd = *(const int32_t *)v;
	char link[64];

	if (fd < 0) {
		pr_err("RPC field %s: %d is not a descriptor number", field, fd);
		return -EBADRQC;
	}
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", peer->pid ? peer->pid : getpid(), fd);
	/* the magic link resolves to the directory the client opened */
	char *path = realpath(link, NULL);
	if (!path) {
		int e = errno;
		pr_err("RPC field %s: can't resolve the client's descriptor %d (%s): %s; the client "
		       "must keep it open until the answer", field, fd, link, strerror(e));
		return -EBADRQC;
	}
	snprintf(buf, len, "%s", path);
	free(path);
	*val = buf;
	return 0;
}

static int conv_log_file(const struct rpc_peer *peer, const char *field, const void *v,
			 char *buf, size_t len, const char **val)
{
	const char *s = *(char *const *)v;
	(void)peer;
	/* criu: the log lives in the work directory, no sub-directories */
	if (strchr(s, '/') || !strcmp(s, "..") || !*s) {
		pr_err("RPC field %s: \"%s\" must be a plain file name (the log is written in the "
		       "work directory, work_dir_fd)", field, s);
		return -EBADRQC;
	}
	snprintf(buf, len, "%s", s);
	*val = buf;
	return 0;
}

static int conv_true_flag(const struct rpc_peer *peer, const char *field, const void *v,
			  char *buf, size_t len, const char **val)
{
	(void)peer, (void)field, (void)buf, (void)len;
	if (!*(const protobuf_c_boolean *)v)
		return 1;
	*val = NULL;
	return 0;
}

static int conv_auto_ext_mnt(const struct rpc_peer *peer, const char *field, const void *v,
			     char *buf, size_t len, const char **val)
{
	(void)peer, (void)field;
	if (!*(const protobuf_c_boolean *)v)
		return 1;
	snprintf(buf, len, "auto");
	*val = buf;
	return 0;
}

/* exec_cmd's words: the option is a flag (refused) */
static int conv_any_flag(const struct rpc_peer *peer, const char *field, const void *v,
			 char *buf, size_t len, const char **val)
{
	(void)peer, (void)field, (void)v, (void)buf, (void)len;
	*val = NULL;
	return 0;
}

static int conv_veth(const struct rpc_peer *peer, const char *field, const void *v,
		     char *buf, size_t len, const char **val)
{
	const CriuVethPair *p = *(CriuVethPair *const *)v;
	(void)peer, (void)field;
	snprintf(buf, len, "%s=%s", p->if_in ? p->if_in : "", p->if_out ? p->if_out : "");
	*val = buf;
	return 0;
}

static int conv_ext_mnt(const struct rpc_peer *peer, const char *field, const void *v,
			char *buf, size_t len, const char **val)
{
	const ExtMountMap *m = *(ExtMountMap *const *)v;
	(void)peer, (void)field;
	snprintf(buf, len, "%s:%s", m->key ? m->key : "", m->val ? m->val : "");
	*val = buf;
	return 0;
}

static int conv_cg_root(const struct rpc_peer *peer, const char *field, const void *v,
			char *buf, size_t len, const char **val)
{
	const CgroupRoot *r = *(CgroupRoot *const *)v;
	(void)peer, (void)field;
	snprintf(buf, len, "%s%s%s", r->ctrl ? r->ctrl : "", r->ctrl ? ":" : "", r->path ? r->path : "");
	*val = buf;
	return 0;
}

static int conv_inherit_fd(const struct rpc_peer *peer, const char *field, const void *v,
			   char *buf, size_t len, const char **val)
{
	const InheritFd *i = *(InheritFd *const *)v;
	if (!peer->swrk) {
		/* the numbers are the client's: only swrk inherits its table */
		pr_err("RPC field %s: inherited descriptors need \"cryo swrk\" (started by the "
		       "client, which passes them); the service can't take the client's fd %d",
		       field, i->fd);
		return -EBADRQC;
	}
	snprintf(buf, len, "fd[%d]:%s", i->fd, i->key ? i->key : "");
	*val = buf;
	return 0;
}

static int conv_unix_sk(const struct rpc_peer *peer, const char *field, const void *v,
			char *buf, size_t len, const char **val)
{
	const UnixSk *u = *(UnixSk *const *)v;
	(void)peer, (void)field;
	snprintf(buf, len, "unix[%u]", u->inode);
	*val = buf;
	return 0;
}

static int conv_join_ns(const struct rpc_peer *peer, const char *field, const void *v,
			char *buf, size_t len, const char **val)
{
	const JoinNamespace *j = *(JoinNamespace *const *)v;
	(void)peer, (void)field;
	snprintf(buf, len, "%s:%s%s%s", j->ns ? j->ns : "", j->ns_file ? j->ns_file : "",
		 j->extra_opt ? "," : "", j->extra_opt ? j->extra_opt : "");
	*val = buf;
	return 0;
}

/* criu's CPU_CAP_* bits: fpu 1, cpu 2, ins 4; all bits: "all" */
static int conv_cpu_cap(const struct rpc_peer *peer, const char *field, const void *v,
			char *buf, size_t len, const char **val)
{
	uint32_t caps = *(const uint32_t *)v;
	static const char *const words[] = { "fpu", "cpu", "ins" };
	size_t used = 0;
	(void)peer, (void)field;

	if (caps == UINT32_MAX)
		snprintf(buf, len, "all");
	else if (!caps)
		snprintf(buf, len, "none");
	else
		for (int i = 0; i < 3; i++)
			if (caps & (1u << i))
				used += snprintf(buf + used, len - used, "%s%s", used ? "," : "", words[i]);
	*val = buf;
	return 0;
}

static int conv_empty_ns(const struct rpc_peer *peer, const char *field, const void *v,
			 char *buf, size_t len, const char **val)
{
	uint32_t flags = *(const uint32_t *)v;
	(void)peer;
	if (!flags)
		return 1;
	if (flags != CLONE_NEWNET) {
		pr_err("RPC field %s: 0x%x: criu knows only CLONE_NEWNET (0x%x) here", field, flags,
		       CLONE_NEWNET);
		return -EBADRQC;
	}
	snprintf(buf, len, "net");
	*val = buf;
	return 0;
}

/* enums: the value's position in a list of option words */
static int conv_enum(const char *field, int value, const char *const *words, int n,
		     char *buf, size_t len, const char **val)
{
	if (value < 0 || value >= n || !words[value]) {
		pr_err("RPC field %s: unknown value %d", field, value);
		return -EBADRQC;
	}
	snprintf(buf, len, "%s", words[value]);
	*val = buf;
	return 0;
}

static int conv_cg_mode(const struct rpc_peer *peer, const char *field, const void *v,
			char *buf, size_t len, const char **val)
{
	/* IGNORE, CG_NONE, PROPS, SOFT, FULL, STRICT, DEFAULT (criu's default: soft) */
	static const char *const m[] = { "ignore", "none", "props", "soft", "full", "strict", "soft" };
	(void)peer;
	return conv_enum(field, *(const int *)v, m, 7, buf, len, val);
}

static int conv_net_lock(const struct rpc_peer *peer, const char *field, const void *v,
			 char *buf, size_t len, const char **val)
{
	static const char *const m[] = { NULL, "iptables", "nftables", "skip" };
	(void)peer;
	return conv_enum(field, *(const int *)v, m, 4, buf, len, val);
}

static int conv_pre_dump_mode(const struct rpc_peer *peer, const char *field, const void *v,
			      char *buf, size_t len, const char **val)
{
	static const char *const m[] = { NULL, "splice", "read" };
	(void)peer;
	return conv_enum(field, *(const int *)v, m, 3, buf, len, val);
}

/* ---- the exceptions -------------------------------------------------------- */

#define OPT(f, o, c) { f, RPC_FIELD_OPTION, o, c, NULL }
#define RPC(f, w) { f, RPC_FIELD_RPC, NULL, NULL, w }
#define REFUSED(f, w) { f, RPC_FIELD_REFUSED, NULL, NULL, w }
#define IGNORED(f, w) { f, RPC_FIELD_IGNORED, NULL, NULL, w }

static const struct field_map exceptions[] = {
	OPT("images_dir_fd", "images-dir", conv_client_dir),
	OPT("work_dir_fd", "work-dir", conv_client_dir),
	OPT("pid", "tree", NULL),
	OPT("log_level", "verbosity", NULL),
	OPT("log_file", "log-file", conv_log_file),
	/* ps: where a dump sends its pages (--page-server; its address and
	 * port: rpc_ps below) */
	OPT("ps", "page-server", conv_any_flag),
	OPT("parent_img", "prev-images-dir", NULL),
	OPT("veths", "veth-pair", conv_veth),
	OPT("cpu_cap", "cpu-cap", conv_cpu_cap),
	OPT("exec_cmd", "exec-cmd", conv_any_flag),
	OPT("ext_mnt", "ext-mount-map", conv_ext_mnt),
	OPT("cg_root", "cgroup-root", conv_cg_root),
	OPT("rst_sibling", "restore-sibling", NULL),
	OPT("inherit_fd", "inherit-fd", conv_inherit_fd),
	OPT("auto_ext_mnt", "ext-mount-map", conv_auto_ext_mnt),
	OPT("ext_sharing", "enable-external-sharing", conv_true_flag),
	OPT("ext_masters", "enable-external-masters", conv_true_flag),
	OPT("unix_sk_ino", "external", conv_unix_sk),
	OPT("manage_cgroups_mode", "manage-cgroups", conv_cg_mode),
	OPT("irmap_scan_paths", "irmap-scan-path", NULL),
	OPT("empty_ns", "empty-ns", conv_empty_ns),
	OPT("join_ns", "join-ns", conv_join_ns),
	OPT("tcp_skip_in_flight", "skip-in-flight", NULL),
	OPT("pre_dump_mode", "pre-dump-mode", conv_pre_dump_mode),
	OPT("network_lock", "network-lock", conv_net_lock),
	RPC("notify_scripts", "the service sends criu's notifications to the client and waits "
	    "for each answer"),
	RPC("config_file", "read after the request's other options, which it overrides (criu's "
	    "order)"),
	RPC("log_to_stderr", "the log goes to the service's standard error instead of the work "
	    "directory's log file"),
	REFUSED("keep_network_lock", "keeping the network locked once the dump is over is "
		"not implemented yet"),
	IGNORED("pidfd_store_sk", "the pidfds it would keep let a later dump of a pre-dumped tree "
		"spot reused PIDs; cryo's tracking holder (cryo-track) keeps a pidfd of each "
		"tracked process itself"),
};

static const struct field_map *exception(const char *field)
{
	for (size_t i = 0; i < ARRAY_SIZE(exceptions); i++)
		if (!strcmp(exceptions[i].field, field))
			return &exceptions[i];
	return NULL;
}

/* The option a field of the same name sets ("tcp_established"). */
static const struct cryo_option *same_name_option(const char *field, char *name, size_t len)
{
	bool neg;
	const struct cryo_option *opt;

	snprintf(name, len, "%s", field);
	for (char *c = name; *c; c++)
		if (*c == '_')
			*c = '-';
	opt = opts_find(name, strlen(name), &neg, NULL);
	if (!opt || neg || strcmp(opt->name, name))
		return NULL;
	return opt;
}

int rpc_field_info(const char *field, struct rpc_field_info *info)
{
	const struct field_map *m = exception(field);
	char name[128];

	if (!protobuf_c_message_descriptor_get_field_by_name(&criu_opts__descriptor, field))
		return -ENOENT;
	if (m) {
		*info = (struct rpc_field_info){ m->kind, m->option, m->why, m->conv != NULL };
		return 0;
	}
	const struct cryo_option *opt = same_name_option(field, name, sizeof(name));
	if (!opt)
		return -ENOENT;
	*info = (struct rpc_field_info){ RPC_FIELD_OPTION, opt->name, NULL, false };
	return 0;
}

/* ---- applying a request --------------------------------------------------- */

static int set_one(struct cryo_opts *o, const ProtobufCFieldDescriptor *f, const struct field_map *m,
		   const struct cryo_option *opt, const void *v, const struct rpc_peer *peer)
{
	char buf[PATH_MAX + 64], name[160], src[160];
	const char *val = NULL;
	int ret;

	snprintf(name, sizeof(name), "%s", opt->name);
	if (m && m->conv) {
		ret = m->conv(peer, f->name, v, buf, sizeof(buf), &val);
		if (ret)
			return ret > 0 ? 0 : ret;
	} else {
		switch (f->type) {
		case PROTOBUF_C_TYPE_BOOL:
			if (*(const protobuf_c_boolean *)v)
				break;
			if (!(opt->flags & OPTF_NEGATABLE))
				return 0;	/* false: the option's default */
			snprintf(name, sizeof(name), "no-%s", opt->name);
			break;
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
		case PROTOBUF_C_TYPE_SFIXED32:
			snprintf(buf, sizeof(buf), "%d", *(const int32_t *)v);
			val = buf;
			break;
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			snprintf(buf, sizeof(buf), "%u", *(const uint32_t *)v);
			val = buf;
			break;
		case PROTOBUF_C_TYPE_STRING:
			val = *(char *const *)v;
			break;
		default:
			pr_err("RPC field %s: no conversion to --%s (a bug in the RPC mapping)",
			       f->name, opt->name);
			return -EINVAL;
		}
	}
	snprintf(src, sizeof(src), "RPC field %s", f->name);
	ret = opts_set(o, name, val, src);
	return ret ? -EBADRQC : 0;
}

static int apply_field(struct cryo_opts *o, const CriuOpts *req, const ProtobufCFieldDescriptor *f,
		       const struct rpc_peer *peer)
{
	const char *base = (const char *)req;
	const struct field_map *m = exception(f->name);
	const struct cryo_option *opt = NULL;
	size_t n = 1, elem;
	const char *vals;
	char name[128];

	/* is it set? */
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n = *(const size_t *)(base + f->quantifier_offset);
		vals = *(char *const *)(base + f->offset);
	} else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		if (!*(void *const *)(base + f->offset))
			return 0;
		vals = base + f->offset;
	} else {
		if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
			return 0;
		vals = base + f->offset;
	}
	if (!n)
		return 0;

	if (m && m->kind == RPC_FIELD_RPC)
		return 0;	/* the caller's */
	if (m && m->kind == RPC_FIELD_IGNORED) {
		pr_warn("RPC field %s: ignored: %s", f->name, m->why);
		return 0;
	}
	if (m && m->kind == RPC_FIELD_REFUSED) {
		if (f->type == PROTOBUF_C_TYPE_BOOL && !*(const protobuf_c_boolean *)vals)
			return 0;
		pr_err("RPC field %s: %s; send the request without it", f->name, m->why);
		return -EBADRQC;
	}
	if (m) {
		bool neg;
		opt = opts_find(m->option, strlen(m->option), &neg, NULL);
	} else {
		opt = same_name_option(f->name, name, sizeof(name));
	}
	if (!opt) {
		pr_err("RPC field %s: no cryo option for it (a bug in the RPC mapping)", f->name);
		return -EINVAL;
	}

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		elem = sizeof(void *);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		elem = sizeof(protobuf_c_boolean);
		break;
	default:
		elem = 4;	/* int32, uint32, enum */
		break;
	}
	for (size_t i = 0; i < n; i++) {
		int ret = set_one(o, f, m, opt, vals + i * elem, peer);
		if (ret)
			return ret;
	}
	return 0;
}

/* criu_page_server_info: the page server a dump sends to. */
static int rpc_ps(struct cryo_opts *o, const CriuPageServerInfo *ps)
{
	char port[16];
	if (!ps)
		return 0;
	if (ps->has_fd) {
		pr_err("RPC field ps.fd: a connected page server socket of the client's is not "
		       "supported; send ps.address and ps.port instead");
		return -EBADRQC;
	}
	if (ps->address && opts_set(o, "address", ps->address, "RPC"))
		return -EBADRQC;
	snprintf(port, sizeof(port), "%d", ps->port);
	if (o->command == CMD_PAGE_SERVER && (!ps->has_port || !ps->port)) {
		o->port_any = true;	/* criu: the kernel picks one, the answer says it */
		return 0;
	}
	if (ps->has_port && opts_set(o, "port", port, "RPC"))
		return -EBADRQC;
	return 0;
}

int rpc_opts_from_req(struct cryo_opts *o, const CriuOpts *req, enum cryo_command cmd,
		      const struct rpc_peer *peer)
{
	const ProtobufCMessageDescriptor *d = &criu_opts__descriptor;
	int ret;

	o->command = cmd;
	if ((cmd == CMD_DUMP || cmd == CMD_PRE_DUMP) && !(req && req->has_pid)) {
		/* criu then dumps the client itself: that tree would hold this
		 * cryo, the client's child */
		pr_err("%s needs the root of the tree: criu_opts.pid (cryo can't dump the requesting "
		       "process, whose tree holds cryo itself)", opts_command_name(cmd));
		return -EBADRQC;
	}
	if (!req) {
		ret = 0;
		goto validate;
	}
	if (req->base.n_unknown_fields) {
		char nums[256] = "";
		size_t used = 0;
		for (unsigned i = 0; i < req->base.n_unknown_fields && used < sizeof(nums) - 16; i++)
			used += snprintf(nums + used, sizeof(nums) - used, "%s%u", i ? ", " : "",
					 req->base.unknown_fields[i].tag);
		pr_err("the request's options have field%s %s, which cryo does not know (criu %s's "
		       "rpc.proto has no such field); send the request without %s",
		       req->base.n_unknown_fields > 1 ? "s" : "", nums, CRYO_CRIU_COMPAT_VERSION,
		       req->base.n_unknown_fields > 1 ? "them" : "it");
		return -EBADRQC;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		ret = apply_field(o, req, &d->fields[i], peer);
		if (ret)
			return ret;
	}
	ret = rpc_ps(o, req->ps);
	if (ret)
		return ret;
	if (req->config_file) {
		/* criu's order: the request's own file overrides its fields.
		 * A missing one is no error: runc names /etc/criu/runc.conf
		 * whether it exists or not, and criu skips it then. */
		if (opts_apply_config_file(o, req->config_file, false))
			return -EBADRQC;
	}
validate:
	/* An RPC restore is always detached (run_restore), so rst_sibling,
	 * which libcriu's criu_restore_child sends, is valid with it. */
	if (cmd == CMD_RESTORE)
		o->restore_detached = true;
	/* opts_validate prints to stderr, which swrk may not have: the error
	 * object keeps the message */
	if (opts_validate(o))
		return -EBADRQC;	/* criu's code for bad options */
	return 0;
}

/* ---- the request in the log ------------------------------------------------- */

static size_t fmt_value(char *buf, size_t len, const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return snprintf(buf, len, "%s", *(const protobuf_c_boolean *)v ? "true" : "false");
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return snprintf(buf, len, "%d", *(const int32_t *)v);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return snprintf(buf, len, "%u", *(const uint32_t *)v);
	case PROTOBUF_C_TYPE_STRING:
		return snprintf(buf, len, "\"%s\"", *(char *const *)v);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v);
		if (ev)
			return snprintf(buf, len, "%s", ev->name);
		return snprintf(buf, len, "%d", *(const int *)v);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		/* ext_mnt, cg_root, inherit_fd...: their scalar fields, so the
		 * log shows what a client sent */
		const ProtobufCMessage *m = *(const ProtobufCMessage *const *)v;
		const ProtobufCMessageDescriptor *md = f->descriptor;
		size_t used = snprintf(buf, len, "{");
		for (unsigned i = 0; m && i < md->n_fields && used < len; i++) {
			const ProtobufCFieldDescriptor *sf = &md->fields[i];
			const char *base = (const char *)m;
			if (sf->label == PROTOBUF_C_LABEL_REPEATED || sf->type == PROTOBUF_C_TYPE_MESSAGE)
				continue;
			if (sf->type == PROTOBUF_C_TYPE_STRING ? !*(char *const *)(base + sf->offset) :
			    sf->label != PROTOBUF_C_LABEL_REQUIRED &&
			    !*(const protobuf_c_boolean *)(base + sf->quantifier_offset))
				continue;
			used += snprintf(buf + used, len - used, "%s%s:", used > 1 ? " " : "",
					 sf->name);
			if (used < len)
				used += fmt_value(buf + used, len - used, sf, base + sf->offset);
		}
		if (used < len)
			used += snprintf(buf + used, len - used, "}");
		return used;
	}
	default:
		return snprintf(buf, len, "{...}");
	}
}

void rpc_log_opts(const char *what, const CriuOpts *req, bool refused)
{
	const ProtobufCMessageDescriptor *d = &criu_opts__descriptor;
	char line[3072];
	size_t used = 0;

	line[0] = '\0';
	for (unsigned i = 0; req && i < d->n_fields && used < sizeof(line) - 64; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)req;
		size_t n = 1, elem;
		const char *vals;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			vals = *(char *const *)(base + f->offset);
		} else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
			n = *(void *const *)(base + f->offset) ? 1 : 0;
			vals = base + f->offset;
		} else {
			n = *(const protobuf_c_boolean *)(base + f->quantifier_offset) ? 1 : 0;
			vals = base + f->offset;
		}
		elem = (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) ?
			       sizeof(void *) : 4;
		for (size_t k = 0; k < n && used < sizeof(line) - 64; k++) {
			/* a log line holds 4 KiB: a long request goes on more lines */
			if (used > 2048) {
				if (refused)
					pr_warn("RPC %s request:%s", what, line);
				else
					pr_info("RPC %s request:%s", what, line);
				used = 0;
				line[0] = '\0';
				what = "... (continued)";
			}
			used += snprintf(line + used, sizeof(line) - used, " %s=", f->name);
			used += fmt_value(line + used, sizeof(line) - used, f, vals + k * elem);
		}
	}
	if (used >= sizeof(line))
		used = sizeof(line) - 1;
	if (!used && strstr(what, "continued"))
		return;
	if (refused)
		pr_warn("RPC %s request:%s", what, line[0] ? line : " (no options)");
	else
		pr_info("RPC %s request:%s", what, line[0] ? line : " (no options)");
}
