/* The option table: every cryo/criu option defined once.  The command line,
 * configuration files (parse.c), help and docs (help.c, cli/docgen.c) and
 * RPC requests (opts_set) all read it.
 */
#include "options/options.h"
#include "options/internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

struct cryo_opts opts;

#define DEFAULT_GHOST_LIMIT (1ULL << 20)	/* criu: 1M */

/* ---- small helpers ---------------------------------------------------- */

int str_list_add(struct str_list *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n] = strdup(s);
	if (!v[l->n])
		return -ENOMEM;
	v[++l->n] = NULL;
	return 0;
}

void str_list_free(struct str_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void str_list_remove(struct str_list *l, int i)
{
	free(l->v[i]);
	memmove(&l->v[i], &l->v[i + 1], (l->n - i) * sizeof(char *));
	l->n--;
}

static int set_str(char **dst, const char *val)
{
	char *s = strdup(val);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int errf(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Parse a decimal integer in [min, max]; the whole string must be used. */
static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int opts_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'K': case 'k': mult = 1ULL << 10; end++; break;
	case 'M': case 'm': mult = 1ULL << 20; end++; break;
	case 'G': case 'g': mult = 1ULL << 30; end++; break;
	default: return -EINVAL;
	}
	if (*end || v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

static bool one_of(const char *val, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(val, *words))
			return true;
	return false;
}

#define FIELD(o, T, off) ((T *)((char *)(o) + (off)))

/* ---- setters ---------------------------------------------------------- */

#define SETTER(name)                                                           \
	static int name(struct cryo_opts *o, const struct cryo_option *opt,    \
			const char *val, bool neg, char *err, size_t errlen)

/* Flags whose field is found by name in this switch keep the table simple
 * and make every flag's storage visible in one place. */
static bool *flag_field(struct cryo_opts *o, const char *name)
{
	static const struct { const char *name; size_t off; } map[] = {
		{ "restore-detached", offsetof(struct cryo_opts, restore_detached) },
		{ "restore-sibling", offsetof(struct cryo_opts, restore_sibling) },
		{ "shell-job", offsetof(struct cryo_opts, shell_job) },
		{ "file-locks", offsetof(struct cryo_opts, file_locks) },
		{ "tcp-established", offsetof(struct cryo_opts, tcp_established) },
		{ "tcp-close", offsetof(struct cryo_opts, tcp_close) },
		{ "skip-in-flight", offsetof(struct cryo_opts, skip_in_flight) },
		{ "enable-external-sharing", offsetof(struct cryo_opts, ext_sharing) },
		{ "enable-external-masters", offsetof(struct cryo_opts, ext_masters) },
		{ "force-irmap", offsetof(struct cryo_opts, force_irmap) },
		{ "link-remap", offsetof(struct cryo_opts, link_remap) },
		{ "evasive-devices", offsetof(struct cryo_opts, evasive_devices) },
		{ "allow-uprobes", offsetof(struct cryo_opts, allow_uprobes) },
		{ "log-pid", offsetof(struct cryo_opts, log_pid) },
		{ "exec-cmd", offsetof(struct cryo_opts, exec_cmd) },
		{ "skip-file-rwx-check", offsetof(struct cryo_opts, skip_file_rwx_check) },
		{ "display-stats", offsetof(struct cryo_opts, display_stats) },
		{ "track-mem", offsetof(struct cryo_opts, track_mem) },
		{ "auto-dedup", offsetof(struct cryo_opts, auto_dedup) },
		{ "page-server", offsetof(struct cryo_opts, page_server) },
		{ "lazy-pages", offsetof(struct cryo_opts, lazy_pages) },
		{ "background-snapshot", offsetof(struct cryo_opts, background_snapshot) },
		{ "pid-ns", offsetof(struct cryo_opts, pid_ns) },
		{ "cow-parent", offsetof(struct cryo_opts, cow_parent) },
		{ "tls", offsetof(struct cryo_opts, tls) },
		{ "tls-no-cn-verify", offsetof(struct cryo_opts, tls_no_cn_verify) },
		{ "orphan-pts-master", offsetof(struct cryo_opts, orphan_pts_master) },
		{ "with-cpu-affinity", offsetof(struct cryo_opts, with_cpu_affinity) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(map[i].name, name))
			return FIELD(o, bool, map[i].off);
	return NULL;
}

SETTER(set_flag)
{
	bool *f = flag_field(o, opt->name);
	if (!f)
		return errf(err, errlen, "internal error: no field for this flag");
	*f = !neg;
	return 0;
}

SETTER(set_leave_running)
{
	o->leave_running = !neg;
	if (!neg)
		o->leave_stopped = false;	/* criu: the last of -R/-s wins */
	return 0;
}

SETTER(set_leave_stopped)
{
	o->leave_stopped = !neg;
	if (!neg)
		o->leave_running = false;
	return 0;
}

SETTER(set_daemon)
{
	/* criu stores --daemon in the same place as --restore-detached */
	o->daemon = !neg;
	o->restore_detached = !neg;
	return 0;
}

SETTER(set_verbosity)
{
	long v;

	if (!val) {
		o->verbosity++;
	} else if (val[0] == 'v') {
		/* -vvv arrives as -v with argument "vv" */
		for (const char *p = val; *p; p++)
			if (*p != 'v')
				return errf(err, errlen, "expected a level 0-4 (-v4) or repeated v's (-vvv)");
		o->verbosity += strlen(val) + 1;
	} else {
		if (parse_long(val, 0, INT_MAX, &v))
			return errf(err, errlen, "expected a level 0-4 (-v4) or repeated v's (-vvv)");
		o->verbosity = v;
	}
	if (o->verbosity > LOG_DEBUG)
		o->verbosity = LOG_DEBUG;
	return 0;
}

#define STR_SETTER(fn, field)                                                  \
	SETTER(fn)                                                             \
	{                                                                      \
		return set_str(&o->field, val);                                \
	}

STR_SETTER(set_images_dir, images_dir)
STR_SETTER(set_work_dir, work_dir)
STR_SETTER(set_log_file, log_file)
STR_SETTER(set_pidfile, pidfile)
STR_SETTER(set_root, root)
STR_SETTER(set_freeze_cgroup, freeze_cgroup)
STR_SETTER(set_cgroup_props, cgroup_props)
STR_SETTER(set_cgroup_props_file, cgroup_props_file)
STR_SETTER(set_cgroup_yard, cgroup_yard)
STR_SETTER(set_prev_images_dir, prev_images_dir)
STR_SETTER(set_address, address)
STR_SETTER(set_config, config_file)
STR_SETTER(set_tls_cacert, tls_cacert)
STR_SETTER(set_tls_cacrl, tls_cacrl)
STR_SETTER(set_tls_cert, tls_cert)
STR_SETTER(set_tls_key, tls_key)
STR_SETTER(set_lsm_profile, lsm_profile)
STR_SETTER(set_lsm_mount_context, lsm_mount_context)

SETTER(set_feature)
{
	if (!*val)
		return errf(err, errlen, "expected a feature name (\"list\" lists them)");
	return set_str(&o->check_feature, val);
}

SETTER(set_no_default_config)
{
	o->no_default_config = true;
	return 0;
}

SETTER(set_nothing)
{
	return 0;
}

SETTER(set_tree)
{
	long v;
	if (parse_long(val, 1, INT_MAX, &v))
		return errf(err, errlen, "expected a process ID (a positive number)");
	o->pid = v;
	return 0;
}

SETTER(set_ps_socket)
{
	long v;
	if (parse_long(val, 0, INT_MAX, &v))
		return errf(err, errlen, "expected a descriptor number");
	o->ps_socket = v;
	return 0;
}

SETTER(set_port)
{
	long v;
	if (parse_long(val, 1, 65535, &v))
		return errf(err, errlen, "expected a TCP port number 1-65535");
	o->port = v;
	return 0;
}

SETTER(set_status_fd)
{
	long v;
	if (parse_long(val, 0, INT_MAX, &v))
		return errf(err, errlen, "expected a file descriptor number");
	o->status_fd = v;
	return 0;
}

SETTER(set_close)
{
	long v;
	if (parse_long(val, 0, INT_MAX, &v))
		return errf(err, errlen, "expected a file descriptor number");
	return str_list_add(&o->close_fds, val);
}

SETTER(set_timeout)
{
	long v;
	if (parse_long(val, 0, UINT_MAX, &v))
		return errf(err, errlen, "expected a number of seconds");
	o->timeout = v;
	return 0;
}

SETTER(set_ghost_limit)
{
	uint64_t v;
	if (opts_parse_size(val, &v))
		return errf(err, errlen, "expected a size in bytes, optionally with a K, M or G suffix (e.g. 16M)");
	o->ghost_limit = v;
	return 0;
}

SETTER(set_file_validation)
{
	static const char *const ok[] = { "filesize", "buildid", NULL };
	if (!one_of(val, ok))
		return errf(err, errlen, "expected \"filesize\" or \"buildid\"");
	return set_str(&o->file_validation, val);
}

SETTER(set_network_lock)
{
	static const char *const ok[] = { "iptables", "nftables", "skip", NULL };
	if (!one_of(val, ok))
		return errf(err, errlen, "expected \"iptables\", \"nftables\" or \"skip\"");
	return set_str(&o->network_lock, val);
}

SETTER(set_images_trust)
{
	static const char *const ok[] = { "any", "owner", NULL };
	if (!one_of(val, ok))
		return errf(err, errlen, "expected \"any\" or \"owner\"");
	o->images_trust_owner = !strcmp(val, "owner");
	return 0;
}

SETTER(set_pre_dump_mode)
{
	static const char *const ok[] = { "splice", "read", NULL };
	if (!one_of(val, ok))
		return errf(err, errlen, "expected \"splice\" or \"read\"");
	return set_str(&o->pre_dump_mode, val);
}

SETTER(set_manage_cgroups)
{
	static const char *const ok[] = { "none", "props", "soft", "full", "strict", "ignore", NULL };
	if (!val)
		val = "soft";	/* criu: --manage-cgroups alone means soft */
	if (!one_of(val, ok))
		return errf(err, errlen, "expected a mode: none, props, soft, full, strict or ignore");
	return set_str(&o->manage_cgroups, val);
}

/* criu's cpu-cap syntax: words fpu, cpu, ins, all, none; '^' inverts the
 * next word, ',' separates.  Several --cpu-cap accumulate in criu, which
 * is what joining them with ',' gives. */
SETTER(set_cpu_cap)
{
	static const char *const words[] = { "fpu", "cpu", "ins", "all", "none" };
	const char *p;
	char *joined;

	if (!val)
		val = "all";
	for (p = val; *p;) {
		size_t i;
		if (*p == '^' || *p == ',') {
			p++;
			continue;
		}
		for (i = 0; i < ARRAY_SIZE(words); i++)
			if (!strncmp(p, words[i], strlen(words[i])))
				break;
		if (i == ARRAY_SIZE(words))
			return errf(err, errlen, "expected a list of fpu, cpu, ins, all, none (\"^\" inverts one), e.g. fpu,^ins");
		p += strlen(words[i]);
	}
	if (!o->cpu_cap)
		return set_str(&o->cpu_cap, val);
	if (asprintf(&joined, "%s,%s", o->cpu_cap, val) < 0)
		return -ENOMEM;
	free(o->cpu_cap);
	o->cpu_cap = joined;
	return 0;
}

SETTER(set_action_script)
{
	if (!*val)
		return errf(err, errlen, "expected a command for sh -c");
	return str_list_add(&o->action_scripts, val);
}

SETTER(set_cgroup_root)
{
	const char *c = strchr(val, ':');
	/* ":/PATH" (an empty controller, as runc sends for cgroup v2): v2 */
	if (val[0] != '/' && (!c || c[1] != '/'))
		return errf(err, errlen, "expected [CONTROLLER:]/PATH, e.g. /new or memory:/new");
	if (strstr(val, "/../") || strstr(val, "/./") || strstr(val, "//") ||
	    (strlen(val) > 2 && !strcmp(val + strlen(val) - 3, "/..")))
		return errf(err, errlen, "the path must not have \".\" or \"..\" components");
	return str_list_add(&o->cgroup_roots, val);
}

SETTER(set_cgroup_dump_ctl)
{
	if (!*val || strchr(val, '/') || strchr(val, ':'))
		return errf(err, errlen, "expected a controller name, e.g. memory or name=systemd");
	return str_list_add(&o->cgroup_dump_ctls, val);
}

SETTER(set_external)
{
	if (!*val)
		return errf(err, errlen, "expected TYPE[ID] or TYPE[ID]:VALUE, e.g. mnt[/data]:data or unix[12345]");
	/* criu keeps any string and looks its resources up by key: one that
	 * names none (LXC 5.0 passes "--external apparmor:PROFILE" for a
	 * container without a network) is kept and never matches */
	return str_list_add(&o->external, val);
}

SETTER(set_irmap_scan_path)
{
	if (val[0] != '/')
		return errf(err, errlen, "expected an absolute path, e.g. /var/lib/app");
	return str_list_add(&o->irmap_scan, val);
}

SETTER(set_enable_fs)
{
	char *dup = xstrdup(val), *save = NULL;
	int ret = dup ? 0 : -ENOMEM;
	for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t && !ret;
	     t = strtok_r(NULL, ",", &save))
		ret = str_list_add(&o->enable_fs, t);
	free(dup);
	return ret;
}

SETTER(set_inherit_fd)
{
	const char *p = val;
	if (strncmp(p, "fd[", 3))
		goto bad;
	p += 3;
	if (!isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p))
		p++;
	if (strncmp(p, "]:", 2) || !p[2])
		goto bad;
	return str_list_add(&o->inherit_fd, val);
bad:
	return errf(err, errlen, "expected fd[N]:RESOURCE, e.g. fd[3]:pipe[12345] or fd[0]:tty[8800:5]");
}

SETTER(set_join_ns)
{
	const char *colon = strchr(val, ':');
	if (!colon || colon == val || !colon[1])
		return errf(err, errlen, "expected NS:PATH or NS:PID, e.g. net:/run/netns/blue or net:1234");
	if (strchr(colon, ','))
		return errf(err, errlen, "extra options after the path (NS:PATH,OPTS: a user "
			    "namespace's) are not supported");
	return str_list_add(&o->join_ns, val);
}

SETTER(set_empty_ns)
{
	if (strcmp(val, "net"))
		return errf(err, errlen, "expected \"net\" (criu's only kind here)");
	o->empty_ns_net = true;
	return 0;
}

/* criu's older form of --external veth[IN]:OUT */
SETTER(set_veth_pair)
{
	const char *eq = strchr(val, '=');
	char *ext;
	if (!eq || eq == val || !eq[1] || strchr(val, '['))
		return errf(err, errlen, "expected IN=OUT, e.g. eth0=veth101");
	if (asprintf(&ext, "veth[%.*s]:%s", (int)(eq - val), val, eq + 1) < 0)
		return -ENOMEM;
	int ret = str_list_add(&o->external, ext);
	free(ext);
	return ret;
}

SETTER(set_ext_mount_map)
{
	const char *colon;
	if (!strcmp(val, "auto")) {
		o->ext_mount_map_auto = true;
		return 0;
	}
	colon = strchr(val, ':');
	if (!colon || colon == val)
		return errf(err, errlen, "expected KEY:VALUE (the mount point and its name) or \"auto\"");
	/* "KEY:" (LXC's console:NAME without a console) maps KEY to nothing:
	 * as with criu, it is not recorded; a mount that needs KEY is missing */
	if (!colon[1])
		return 0;
	return str_list_add(&o->ext_mount_map, val);
}

SETTER(set_ext_unix_sk)
{
	/* criu's old --ext-unix-sk=ID[,ID...]: the same as --external unix[ID]
	 * for each, allowing those sockets only; without IDs, every socket */
	if (neg || !val) {
		o->ext_unix_sk = !neg;
		return 0;
	}
	const char *p = val;
	while (*p) {
		char buf[64];
		size_t n = strcspn(p, ",");
		long v;
		if (n == 0 || n >= 20)
			goto bad;
		char id[24];
		memcpy(id, p, n);
		id[n] = '\0';
		if (parse_long(id, 1, LONG_MAX, &v))
			goto bad;
		snprintf(buf, sizeof(buf), "unix[%s]", id);
		if (str_list_add(&o->external, buf))
			return -ENOMEM;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
bad:
	return errf(err, errlen, "expected socket inode numbers separated by commas");
}

SETTER(set_skip_mnt)
{
	if (!*val)
		return errf(err, errlen, "expected a mount point path");
	o->skip_mnt = true;
	return str_list_add(&o->skip_mnts, val);
}

SETTER(set_check_all)
{
	o->check_all = o->check_extra = o->check_experimental = !neg;
	return 0;
}

SETTER(set_check_extra)
{
	o->check_extra = !neg;
	if (!neg)
		o->check_all = true;	/* the check code keys on check_all */
	return 0;
}

SETTER(set_check_experimental)
{
	o->check_experimental = !neg;
	if (!neg)
		o->check_all = true;
	return 0;
}

SETTER(set_ms)
{
	return errf(err, errlen, "--ms was removed from criu; use \"check\" with --extra, --experimental or --all");
}

/* Options cryo accepts but does not implement (OPTF_NOT_YET) or ignores
 * (OPTF_IGNORED): their value is checked and stored like any other, and
 * the option is remembered here; opts_validate() decides once the command
 * is known, so a configuration file shared with restore does not break
 * "check".  The last of --NAME / --no-NAME wins. */
static int note_unsupported(struct cryo_opts *o, const struct cryo_option *opt, bool neg)
{
	for (int i = 0; i < o->unsupported_opts.n; i++)
		if (!strcmp(o->unsupported_opts.v[i], opt->name)) {
			str_list_remove(&o->unsupported_opts, i);
			str_list_remove(&o->unsupported_srcs, i);
			break;
		}
	if (neg)
		return 0;
	if (str_list_add(&o->unsupported_opts, opt->name) ||
	    str_list_add(&o->unsupported_srcs, opts_current_source(o)))
		return -ENOMEM;
	return 0;
}

bool opts_external_unix(const struct cryo_opts *o, unsigned long ino)
{
	for (int i = 0; i < o->external.n; i++) {
		unsigned long v;
		char end;
		if (sscanf(o->external.v[i], "unix[%lu%c", &v, &end) == 2 && end == ']' &&
		    (!ino || v == ino))
			return true;
	}
	return false;
}

/* ---- the table ---------------------------------------------------------- */

#define C(x) OPT_CMD(CMD_##x)
#define DUMPS (C(DUMP) | C(PRE_DUMP) | C(MIGRATE))
#define DR (C(DUMP) | C(RESTORE) | C(MIGRATE))
#define CPUINFO (C(CPUINFO_DUMP) | C(CPUINFO_CHECK))
#define ALL OPT_CMDS_ALL
#define NEG OPTF_NEGATABLE
#define NOARG OPT_ARG_NONE
#define REQ OPT_ARG_REQUIRED
#define OPTARG OPT_ARG_OPTIONAL

/* Refused by opts_validate() for the commands in its mask, with its note. */
#define NOT_YET() (OPTF_NOT_YET), set_nothing

static const struct cryo_option table[] = {
	/* ---- common ---- */
	{ "verbosity", 'v', OPTARG, "N", ALL, 0, set_verbosity,
	  "Logging level: -v0 nothing but results, -v1 errors, -v2 warnings (default), "
	  "-v3 information, -v4 debug. -v alone or repeated (-vv, -vvv) raises the level "
	  "by one per v; --verbosity=N sets it.", NULL },
	{ "log-file", 'o', REQ, "FILE", ALL, 0, set_log_file,
	  "Write the log to FILE, relative to the work directory (-W). Default: standard error.", NULL },
	{ "log-pid", 0, NOARG, NULL, C(RESTORE), NEG | OPTF_NOT_YET, set_flag,
	  "Write a separate log file per restored process (FILE.PID).",
	  "per-process restore logs are not implemented yet (cryo restores every process from one "
	  "process, and its one log holds them all)" },
	{ "images-dir", 'D', REQ, "DIR", ALL & ~(C(SERVICE) | C(SWRK) | C(SHOW) | C(HELP)), 0, set_images_dir,
	  "Directory holding the image files. Default: the current directory.", NULL },
	{ "work-dir", 'W', REQ, "DIR", ALL & ~(C(SHOW) | C(HELP)), 0, set_work_dir,
	  "Directory for the log file, pidfile and statistics; relative -o and --pidfile "
	  "paths are taken from here. Default: the images directory.", NULL },
	{ "pidfile", 0, REQ, "FILE", C(RESTORE) | C(PAGE_SERVER) | C(SERVICE) | C(LAZY_PAGES) | C(MIGRATE), 0, set_pidfile,
	  "Write the PID of the restored root task (or of the service / page server) to FILE.", NULL },
	{ "display-stats", 0, NOARG, NULL, DUMPS | C(RESTORE), NEG, set_flag,
	  "Print dump or restore statistics (times, page counts) at the end.", NULL },
	{ "config", 0, REQ, "FILE", ALL, OPTF_CMDLINE, set_config,
	  "Read options from FILE after $CRIU_CONFIG_FILE and before the command line; "
	  "the default configuration files are then not read.", NULL },
	{ "no-default-config", 0, NOARG, NULL, ALL, OPTF_CMDLINE, set_no_default_config,
	  "Do not read /etc/criu/default.conf and $HOME/.criu/default.conf "
	  "($CRIU_CONFIG_FILE and --config are still read).", NULL },
	{ "close", 0, REQ, "FD", ALL, 0, set_close,
	  "Close file descriptor FD before doing anything else (repeatable).", NULL },
	{ "timeout", 0, REQ, "SECONDS", DUMPS, 0, set_timeout,
	  "Give up freezing or seizing the tree after SECONDS (criu default: 10).", NULL },
	{ "status-fd", 0, REQ, "FD", C(PAGE_SERVER) | C(LAZY_PAGES) | C(SERVICE), 0, set_status_fd,
	  "Write a zero byte to FD and close it once ready to serve requests (service: "
	  "listening, in the background with --daemon).", NULL },
	{ "version", 'V', NOARG, NULL, ALL, OPTF_CMDLINE, set_nothing,
	  "Print \"Version: X.Y\" (the criu release whose interface cryo implements) and cryo's "
	  "own version, then exit.", NULL },
	{ "help", 'h', NOARG, NULL, ALL, OPTF_CMDLINE, set_nothing,
	  "Print help (for the command, if one is given) and exit.", NULL },

	/* ---- process tree ---- */
	{ "tree", 't', REQ, "PID", DUMPS, 0, set_tree,
	  "Checkpoint the whole process tree rooted at PID. Required for dump and pre-dump.", NULL },
	{ "leave-running", 'R', NOARG, NULL, DUMPS, NEG, set_leave_running,
	  "Leave the tasks running after the checkpoint instead of killing them. "
	  "Dangerous: they may change files and connections the images refer to.", NULL },
	{ "leave-stopped", 's', NOARG, NULL, DUMPS | C(RESTORE), NEG, set_leave_stopped,
	  "Leave the tasks stopped (SIGSTOP) after dump or restore instead of killing/resuming them.", NULL },
	{ "freeze-cgroup", 0, REQ, "PATH", DUMPS, 0, set_freeze_cgroup,
	  "Freeze the tree with this freezer cgroup instead of seizing tasks one by one.", NULL },
	{ "restore-detached", 'd', NOARG, NULL, C(RESTORE), NEG, set_flag,
	  "Detach from the restored tree once restore is complete; without it cryo waits until "
	  "the restored tree exits.", NULL },
	{ "restore-sibling", 'S', NOARG, NULL, C(RESTORE), NEG, set_flag,
	  "Restore the root task as a sibling of cryo instead of a child (needs --restore-detached).", NULL },
	{ "daemon", 0, NOARG, NULL, C(RESTORE) | C(PAGE_SERVER) | C(LAZY_PAGES) | C(SERVICE), NEG, set_daemon,
	  "Run in the background (service, page server, lazy-pages); for restore, the same as --restore-detached.", NULL },
	{ "shell-job", 'j', NOARG, NULL, DR, NEG, set_flag,
	  "Allow a shell job: the tree's session and process group belong to the shell, and its "
	  "terminal is external. On restore the tasks join cryo's session. Needed for both dump "
	  "and restore.", NULL },
	{ "root", 'r', REQ, "PATH", C(RESTORE), 0, set_root,
	  "Restore with PATH as the root file system (when a mount namespace is restored): "
	  "the directory becomes the root mount of the tree's new mount namespace.", NULL },
	{ "with-cpu-affinity", 0, NOARG, NULL, C(RESTORE), NEG, set_flag,
	  "Give every restored thread the CPU affinity it had when dumped (dump always saves "
	  "it). Without it the restored threads may run on any CPU cryo may use.", NULL },
	{ "pid-ns", 0, NOARG, NULL, C(RESTORE) | C(MIGRATE), NEG, set_flag,
	  "cryo extension: restore into a new PID namespace so the original PIDs can be reused "
	  "even when they are taken on this host.", NULL },
	{ "images-trust", 0, REQ, "MODE", C(RESTORE), 0, set_images_trust,
	  "cryo extension: how far the images are trusted. \"any\" (default, as criu): they "
	  "may ask for anything root can do. \"owner\": the images directory and its files "
	  "must not be writable by others, and the restored tasks get no more than the "
	  "directory's owner has: its uid and groups, no capabilities, only files it may "
	  "open (docs/security.md).", NULL },
	{ "evasive-devices", 0, NOARG, NULL, C(DUMP), NEG, set_flag,
	  "Use any path to a device file if the original one is inaccessible: a character "
	  "device whose name is gone or now names another device is saved under another node "
	  "of the same device found under the task's /dev.", NULL },

	/* ---- files, sockets, mounts ---- */
	{ "file-locks", 'l', NOARG, NULL, DR, NEG, set_flag,
	  "Dump and restore file locks. Only safe when no process outside the tree holds locks "
	  "on the same files.", NULL },
	{ "link-remap", 0, NOARG, NULL, DR, NEG, set_flag,
	  "Allow linking open-but-unlinked files back into the file system (changes the file "
	  "system during restore).", NULL },
	{ "ghost-limit", 0, REQ, "SIZE", C(DUMP), 0, set_ghost_limit,
	  "Largest deleted-but-open file to store in the images; SIZE may end in K, M or G. "
	  "Default: 1M.", NULL },
	{ "file-validation", 0, REQ, "METHOD", DR, 0, set_file_validation,
	  "How restore checks that a file is the one that was dumped: \"filesize\" or "
	  "\"buildid\" (ELF build-id, falling back to size).", NULL },
	{ "tcp-established", 0, NOARG, NULL, DR, NEG, set_flag,
	  "Checkpoint and restore established TCP connections (the network must stay locked "
	  "between dump and restore).", NULL },
	{ "tcp-close", 0, NOARG, NULL, DR, NEG, set_flag,
	  "Restore connected TCP sockets in the closed state.", NULL },
	{ "skip-in-flight", 0, NOARG, NULL, C(DUMP), NEG, set_flag,
	  "Ignore TCP connections that are not fully established instead of failing.", NULL },
	{ "ext-unix-sk", 'x', OPTARG, "ID,...", DR, NEG, set_ext_unix_sk,
	  "Allow UNIX sockets connected to peers outside the tree. With IDs (criu's old form), "
	  "the same as --external unix[ID] for each.", NULL },
	{ "external", 0, REQ, "TYPE[ID]:VALUE", DUMPS | C(RESTORE), 0, set_external,
	  "Declare an external resource (repeatable): mnt[MOUNTPOINT]:NAME, mnt[], "
	  "dev[MAJOR/MINOR]:NAME, file[MNTID:INODE], tty[RDEV:DEV], unix[ID] on dump; "
	  "mnt[NAME]:PATH, dev[NAME]:/dev/PATH, veth[IN]:OUT[@BRIDGE], macvlan[IN]:OUT on restore.", NULL },
	{ "inherit-fd", 0, REQ, "fd[N]:RESOURCE", C(RESTORE), 0, set_inherit_fd,
	  "Use the already open descriptor N for the file identified by RESOURCE (repeatable): "
	  "tty[RDEV:DEV], pipe[INODE], socket[INODE], file[MNTID:INODE] or a path.", NULL },
	{ "ext-mount-map", 'M', REQ, "KEY:VALUE", DR, 0, set_ext_mount_map,
	  "Map an external mount: on dump MOUNTPOINT:NAME, on restore NAME:PATH; \"auto\" "
	  "detects external mounts (repeatable; what cryo does anyway: mounts its own "
	  "namespace has too are recorded as host:PATH).", NULL },
	{ "network-lock", 0, REQ, "METHOD", DR, 0, set_network_lock,
	  "How the network is locked during dump/restore: \"iptables\" (default), "
	  "\"nftables\" or \"skip\".", NULL },
	{ "manage-cgroups", 0, OPTARG, "MODE", DR, 0, set_manage_cgroups,
	  "Dump cgroups and restore them in MODE: none, props, soft (default when given "
	  "without MODE), full, strict or ignore.", NULL },
	{ "skip-mnt", 0, REQ, "PATH", C(DUMP), 0, set_skip_mnt,
	  "Leave the mount at PATH (in the tree's mount namespace) and the mounts under it "
	  "out of the dump: the restored namespace will not have them (repeatable).", NULL },

	/* ---- memory, iterative and remote ---- */
	{ "cow-parent", 0, NOARG, NULL, C(DUMP), NEG, set_flag,
	  "cryo extension, on by default: a child's pages that are still its parent's (shared "
	  "copy-on-write since the fork, unchanged) are saved once, in the parent's images; "
	  "the child's pagemap refers to them (cow_parent entries, docs/images.md). criu can't "
	  "restore such images: --no-cow-parent saves every process's pages in full (as "
	  "--page-server does: criu's page server protocol has no such entries).", NULL },
	{ "prev-images-dir", 0, REQ, "DIR", DUMPS, 0, set_prev_images_dir,
	  "Images of the previous pre-dump, relative to the images directory (a \"parent\" "
	  "link to it is made there); with --track-mem (dump) only memory changed since then "
	  "is written, the rest is left to the previous images (PE_PARENT entries).", NULL },
	{ "track-mem", 0, NOARG, NULL, DUMPS, NEG, set_flag,
	  "Use the memory change tracking (userfaultfd write-protection read back with "
	  "PAGEMAP_SCAN, or soft-dirty bits where the kernel lacks those) that the pre-dump "
	  "named by --prev-images-dir started. pre-dump always tracks.", NULL },
	{ "auto-dedup", 0, NOARG, NULL, DUMPS | C(RESTORE), NEG, set_flag,
	  "Punch out of the previous dumps' pages images (down the parent links) the pages a "
	  "dump with --prev-images-dir wrote again (dump, pre-dump), or the pages a restore "
	  "read out of its images (restore); the files keep their size. The previous dumps "
	  "can then no longer be restored on their own.", NULL },
	{ "pre-dump-mode", 0, REQ, "MODE", C(PRE_DUMP), 0, set_pre_dump_mode,
	  "How pre-dump reads memory: \"splice\" (default) or \"read\". In criu, splice "
	  "vmsplices the pages into pipes from inside the frozen tree and writes them once it "
	  "runs again, read copies them with process_vm_readv after the tree runs again. cryo "
	  "injects no code that could vmsplice: in both modes it copies the pages from outside "
	  "(process_vm_readv, /proc/PID/mem for pages shared copy-on-write) while the tree is "
	  "frozen, so the pre-dump's images are exact; the mode is recorded in inventory.img.",
	  NULL },
	{ "page-server", 0, NOARG, NULL, DUMPS | C(LAZY_PAGES), NEG, set_flag,
	  "Send memory pages to a page server (--address and --port, or --ps-socket) instead of "
	  "writing pagemap and pages images; the other images are still written to -D.", NULL },
	{ "address", 0, REQ, "ADDR", DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES) | C(SERVICE), 0, set_address,
	  "For service, the path of its socket; for page-server, the address to listen on "
	  "(default: every address); for dump --page-server, the page server's host name or IP.", NULL },
	{ "port", 0, REQ, "PORT", DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES), 0, set_port,
	  "Page server TCP port.", NULL },
	{ "lazy-pages", 0, NOARG, NULL, DR | C(PAGE_SERVER), NEG, set_flag,
	  "Lazy pages (post-copy). dump: write every image but the private anonymous memory's "
	  "contents (PE_LAZY entries), then keep the tree frozen and serve those pages on "
	  "--address/--port until the destination has them all (then kill the tree). restore: "
	  "leave that memory to a `cryo lazy-pages` daemon (started first, on the same work "
	  "directory), which fills it on demand. Not yet for page-server.", NULL },
	{ "background-snapshot", 0, NOARG, NULL, DUMPS, NEG, set_flag,
	  "cryo extension, with --leave-running: freeze the tree only to collect its state and "
	  "write-protect its private memory (userfaultfd), then let it run while the pages are "
	  "copied; a page the tree writes before cryo copied it is saved first. The images are "
	  "the memory as of the freeze, whose length no longer grows with the memory. dump: "
	  "needs a kernel-mode userfaultfd in the tree (root, or vm.unprivileged_userfaultfd=1); "
	  "memory the tree unmaps before it was copied fails the dump (the tree runs on). "
	  "pre-dump: copy after the release (criu's --pre-dump-mode read); pages written "
	  "meanwhile are left to the next dump by the dirty tracking.", NULL },

	{ "to", 0, REQ, "HOST:PORT", C(MIGRATE), 0, opts_set_migrate_to,
	  "migrate (source): the `cryo migrate --listen` to move the tree to.", NULL },
	{ "listen", 0, REQ, "PORT", C(MIGRATE), 0, opts_set_migrate_listen,
	  "migrate (destination): the TCP port to take one migration on (on --address, "
	  "default every address); the images go under -D.", NULL },
	{ "max-iterations", 0, REQ, "N", C(MIGRATE), 0, opts_set_max_iterations,
	  "migrate: at most N pre-copy iterations (pre-dumps sent while the tree runs) before "
	  "the final dump; 0: none (default 10).", NULL },
	{ "converge", 0, REQ, "PERCENT", C(MIGRATE), 0, opts_set_converge,
	  "migrate: stop pre-copying once this share of the pages scanned was left unchanged "
	  "since the previous iteration (default 70, as LXD's).", NULL },

	/* ---- check ---- */
	{ "all", 0, NOARG, NULL, C(CHECK), NEG, set_check_all,
	  "Check every kernel feature, including the extra and experimental ones.", NULL },
	{ "extra", 0, NOARG, NULL, C(CHECK), NEG, set_check_extra,
	  "Also check features needed only in some cases (category 2).", NULL },
	{ "experimental", 0, NOARG, NULL, C(CHECK), NEG, set_check_experimental,
	  "Also check experimental features (category 3).", NULL },
	{ "feature", 0, REQ, "NAME", C(CHECK), 0, set_feature,
	  "Check only the kernel feature NAME; \"list\" lists the names.", NULL },
	{ "ms", 0, NOARG, NULL, C(CHECK), OPTF_HIDDEN, set_ms,
	  "Removed from criu.", NULL },

	/* ---- cpu ---- */
	{ "cpu-cap", 0, OPTARG, "CAP,...", DR | CPUINFO, 0, set_cpu_cap,
	  "With it, dump writes this CPU's features to cpuinfo.img and restore checks this CPU "
	  "against them: fpu (XSAVE features and size), ins (instruction sets), cpu (every "
	  "CPUID feature), all, none; \"^\" before a word inverts it; from criu's default "
	  "fpu,ins; without a value, all. Without the option, restore still checks that this "
	  "CPU has every XSAVE feature the threads' saved registers use.", NULL },

	/* ---- accepted, ignored ---- */
	{ "libdir", 'L', REQ, "PATH", ALL, OPTF_IGNORED, set_nothing,
	  "Plugin directory.", "cryo has no plugins; the option has no effect" },
	{ "deprecated", 0, NOARG, NULL, ALL, NEG | OPTF_IGNORED, set_nothing,
	  "Allow deprecated functionality.", "cryo has no deprecated functionality; no effect" },
	{ "weak-sysctls", 0, NOARG, NULL, C(RESTORE), NEG | OPTF_IGNORED, set_nothing,
	  "Skip sysctls that do not exist on this kernel.", "no effect in cryo" },
	{ "ghost-fiemap", 0, NOARG, NULL, C(DUMP), NEG | OPTF_IGNORED, set_nothing,
	  "Store sparse deleted files compactly.", "no effect in cryo (ghost files always keep their holes: only the data are stored)" },

	/* ---- accepted, refused: not supported yet ---- */
	{ "action-script", 0, REQ, "SCRIPT", DUMPS | C(RESTORE), 0, set_action_script,
	  "Run SCRIPT (with sh -c; repeatable, in order) at each of criu's action points: "
	  "pre-dump, post-dump; pre-restore, setup-namespaces, post-setup-namespaces, "
	  "post-restore, pre-resume, network-unlock, post-resume. Its environment has "
	  "CRTOOLS_SCRIPT_ACTION (the action), CRTOOLS_IMAGE_DIR (the images directory) and, "
	  "once the tree's root is known, CRTOOLS_INIT_PID; its output goes to the log. A "
	  "script that fails fails the operation there (before post-dump's commit is undone: "
	  "the tree goes on as before; a failed restore leaves no process).", NULL },
	{ "join-ns", 'J', REQ, "NS:PATH", C(RESTORE), 0, set_join_ns,
	  "Restore into an existing namespace (repeatable): net, uts, ipc or cgroup, given by "
	  "the path of a namespace file (/proc/PID/ns/net, /run/netns/NAME) or a PID.", NULL },
	{ "veth-pair", 0, REQ, "IN=OUT", C(RESTORE), 0, set_veth_pair,
	  "Name the outer end of a restored veth pair (criu's older form of --external "
	  "veth[IN]:OUT).", NULL },
	{ "empty-ns", 0, REQ, "net", DR, 0, set_empty_ns,
	  "Do not dump/restore the contents of the tree's network namespace (devices, addresses, "
	  "routes, rules, firewall, sysctls): the runtime makes them again (runc sends it). The "
	  "restore still gives the tree a new network namespace, with its loopback device up and "
	  "nothing else; its sockets are dumped and restored as usual.", NULL },
	{ "cgroup-root", 0, REQ, "[CTRL:]PATH", DR, 0, set_cgroup_root,
	  "With --manage-cgroups at restore: put the cgroups saved under a controller's top "
	  "cgroup (all controllers without CTRL:) under PATH instead (repeatable). At dump "
	  "only the tasks' own top cgroup is accepted (as LXC passes it).", NULL },
	{ "cgroup-props", 0, REQ, "SPEC", C(DUMP), 0, set_cgroup_props,
	  "With --manage-cgroups: the cgroup properties to save per controller, in criu's form "
	  "('\"cpu\": - \"strategy\": \"replace\" - \"properties\": [\"cpu.shares\"]'; "
	  "strategy merge, the default, adds to criu's list, replace replaces it).", NULL },
	{ "cgroup-props-file", 0, REQ, "FILE", C(DUMP), 0, set_cgroup_props_file,
	  "As --cgroup-props, from FILE (read at the dump).", NULL },
	{ "cgroup-dump-controller", 0, REQ, "NAME", C(DUMP), 0, set_cgroup_dump_ctl,
	  "With --manage-cgroups: save the cgroup directories and properties of this "
	  "controller's hierarchy only (repeatable; cgroup2 or unified for v2); the tasks' "
	  "cgroup paths are saved for every hierarchy.", NULL },
	{ "cgroup-yard", 0, REQ, "PATH", DR, 0, set_cgroup_yard,
	  "With --manage-cgroups: reach the cgroup hierarchies through the ones the caller "
	  "mounted under PATH (as criu: one directory per hierarchy, named after its "
	  "controllers, comma-separated where co-mounted, name=NAME for a named one, unified "
	  "for cgroup v2), not through cryo's mounts of them; a hierarchy the tree needs that "
	  "is not mounted there is refused, by name.", NULL },
	{ "force-irmap", 0, NOARG, NULL, DUMPS, NEG, set_flag,
	  "Resolve paths of inotify/fanotify watches.  cryo always does: each watch's path is "
	  "found from its file handle, checked and saved (--irmap-scan-path for those whose "
	  "handle gives none).", NULL },
	{ "irmap-scan-path", 0, REQ, "PATH", DUMPS, 0, set_irmap_scan_path,
	  "Where to look for the files of inotify/fanotify watches whose file handle leads to "
	  "no usable path: the tree under PATH is searched for the inode (repeatable).", NULL },
	{ "enable-fs", 0, REQ, "FS[,FS]", C(DUMP), 0, set_enable_fs,
	  "Dump mounts of these file systems (criu mounts them anew).  cryo can't mount "
	  "other file systems than its own list anew yet: a mount of one of these is still "
	  "refused, by name (LXC passes hugetlbfs and tracefs every time).", NULL },
	{ "enable-external-sharing", 0, NOARG, NULL, C(DUMP), 0, set_flag,
	  "Allow mounts shared with mounts outside the tree (in a peer group of cryo's mount "
	  "namespace): the restore puts the mount back in that peer group, which must exist "
	  "then.  Without it such a mount is refused, by name.", NULL },
	{ "enable-external-masters", 0, NOARG, NULL, C(DUMP), 0, set_flag,
	  "Allow slave mounts whose master is outside the tree (a peer group of cryo's mount "
	  "namespace): the restore makes the mount a slave of that group again, which must "
	  "exist then.  Without it such a mount is refused, by name.", NULL },
	{ "mntns-compat-mode", 0, NOARG, NULL, C(RESTORE), NEG | OPTF_NOT_YET, set_nothing,
	  "Use the old mount namespace restore engine.", "mount namespaces are not implemented yet" },
	{ "lsm-profile", 0, REQ, "TYPE:NAME", C(RESTORE), 0, set_lsm_profile,
	  "Give every restored process this LSM label instead of its own: apparmor:PROFILE, "
	  "selinux:CONTEXT, or none: (keep the restorer's).  TYPE must be the LSM active on "
	  "this host.  Without it, each process gets back the label it had, which needs the "
	  "same LSM active here as at the dump.", NULL },
	{ "lsm-mount-context", 0, REQ, "CONTEXT", C(RESTORE), 0, set_lsm_mount_context,
	  "SELinux context given to every restored mount that had a context= option, in "
	  "place of the one it had.  Needs SELinux active.", NULL },
	{ "stream", 0, NOARG, NULL, DUMPS | C(RESTORE), NEG | OPTF_NOT_YET, set_nothing,
	  "Stream images through criu-image-streamer.", "image streaming is not implemented yet" },
	{ "ps-socket", 0, REQ, "FD", DUMPS | C(PAGE_SERVER), 0, set_ps_socket,
	  "Page server connection on an open socket: dump sends over it, page-server "
	  "receives from it (instead of --address/--port).", NULL },
	{ "tls", 0, NOARG, NULL, DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES), NEG, set_flag,
	  "Use TLS for the page server connection (dump --page-server and page-server), the "
	  "lazy pages' (dump --lazy-pages and lazy-pages --page-server) and migrate's (both "
	  "ends): each end shows a certificate signed by the CA and checks the other's "
	  "(GnuTLS).", NULL },
	{ "tls-cacert", 0, REQ, "FILE", DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES), 0, set_tls_cacert,
	  "TLS CA certificate (default /etc/pki/CA/cacert.pem).", NULL },
	{ "tls-cacrl", 0, REQ, "FILE", DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES), 0, set_tls_cacrl,
	  "TLS certificate revocation list (default /etc/pki/CA/cacrl.pem, if it exists).", NULL },
	{ "tls-cert", 0, REQ, "FILE", DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES), 0, set_tls_cert,
	  "TLS certificate (default /etc/pki/criu/cert.pem).", NULL },
	{ "tls-key", 0, REQ, "FILE", DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES), 0, set_tls_key,
	  "TLS private key (default /etc/pki/criu/private/key.pem).", NULL },
	{ "tls-no-cn-verify", 0, NOARG, NULL, DUMPS | C(PAGE_SERVER) | C(LAZY_PAGES), NEG, set_flag,
	  "Do not check that the server's certificate names the address connected to (the "
	  "page server's or lazy pages' --address, migrate's --to host and, at migrate's "
	  "destination, the source's address).", NULL },
	{ "skip-file-rwx-check", 0, NOARG, NULL, C(RESTORE), NEG, set_flag,
	  "Restore files whose permission bits (rwx for user, group, others) changed since "
	  "the dump; without it such a file stops the restore, as with criu.", NULL },
	{ "unprivileged", 0, NOARG, NULL, DR | C(CHECK), NEG | OPTF_NOT_YET, set_nothing,
	  "Run without root, with CAP_CHECKPOINT_RESTORE.", "unprivileged mode is not implemented yet" },
	{ "allow-uprobes", 0, NOARG, NULL, C(DUMP), NEG, set_flag,
	  "Allow dumping tasks with uprobes: the kernel's [uprobes] area is not saved (the "
	  "probes belong to the files; the kernel makes the area again when one is hit).", NULL },
	{ "exec-cmd", 0, NOARG, NULL, C(RESTORE), 0, set_flag,
	  "After a successful restore, cryo becomes the command given after the options "
	  "(cryo restore ... --exec-cmd -- CMD ARGS): it runs as cryo's process, the restored "
	  "root's parent, instead of cryo waiting for the root.  Not with -d.", NULL },
	{ "orphan-pts-master", 0, NOARG, NULL, DR, NEG, set_flag,
	  "A pseudo-terminal slave whose master is outside the tree (a container's console: "
	  "runc's \"terminal\": true, podman -t) is dumped, and restored on a new pty pair "
	  "whose master goes to the RPC client (the orphan-pts-master notification, the "
	  "descriptor passed with it); the client hands it to whoever held the old master. "
	  "Restoring such a tree needs an RPC client (runc, podman, libcriu).", NULL },
};

const struct cryo_option *opts_table(size_t *n)
{
	*n = ARRAY_SIZE(table);
	return table;
}

/* ---- defaults ----------------------------------------------------------- */

void opts_init(struct cryo_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->verbosity = DEFAULT_LOGLEVEL;
	o->images_dir = strdup(".");
	o->status_fd = -1;
	o->ps_socket = -1;
	o->swrk_fd = -1;
	o->ghost_limit = DEFAULT_GHOST_LIMIT;
	o->cow_parent = true;
	o->migrate_iters = 10;
	o->migrate_converge = 70;
}

void opts_free(struct cryo_opts *o)
{
	if (o->exec_argv)
		for (char **p = o->exec_argv; *p; p++)
			free(*p);
	free(o->exec_argv);
	o->exec_argv = NULL;
	char **strs[] = {
		&o->command_arg, &o->log_file, &o->images_dir, &o->work_dir,
		&o->pidfile, &o->config_file, &o->root, &o->freeze_cgroup,
		&o->file_validation, &o->network_lock, &o->manage_cgroups,
		&o->cgroup_props, &o->cgroup_props_file, &o->lsm_profile, &o->lsm_mount_context,
		&o->prev_images_dir, &o->address, &o->check_feature,
		&o->address_socket, &o->cpu_cap, &o->pre_dump_mode,
		&o->tls_cacert, &o->tls_cacrl, &o->tls_cert, &o->tls_key,
		&o->migrate_to,
		&o->cgroup_yard,
	};
	struct str_list *lists[] = {
		&o->external, &o->inherit_fd, &o->join_ns, &o->ext_mount_map, &o->skip_mnts,
		&o->irmap_scan, &o->enable_fs,
		&o->close_fds, &o->unsupported_opts, &o->unsupported_srcs,
		&o->action_scripts, &o->cgroup_roots, &o->cgroup_dump_ctls,
	};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		str_list_free(lists[i]);
}

/* ---- setting one option ------------------------------------------------- */

int opts_apply(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
	       bool neg, char *err, size_t errlen)
{
	err[0] = '\0';
	if (neg && !(opt->flags & OPTF_NEGATABLE))
		return errf(err, errlen, "cannot be negated");
	if (opt->arg == OPT_ARG_NONE && val)
		return errf(err, errlen, "takes no argument");
	if (opt->arg == OPT_ARG_REQUIRED && !val)
		return errf(err, errlen, "requires an argument (%s)", opt->metavar);
	int ret = opt->set(o, opt, val, neg, err, errlen);
	if (!ret && (opt->flags & (OPTF_NOT_YET | OPTF_IGNORED)))
		ret = note_unsupported(o, opt, neg);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return ret;
}

int opts_set(struct cryo_opts *o, const char *name, const char *value, const char *source)
{
	const struct cryo_option *opt;
	char err[256];
	bool neg;

	char full[160];

	opt = opts_find(name, strlen(name), &neg, NULL);
	/* RPC and programmatic callers must use full names, not prefixes */
	if (opt)
		snprintf(full, sizeof(full), "%s%s", neg ? "no-" : "", opt->name);
	if (!opt || strcmp(full, name)) {
		const char *s = opts_suggest(name, strlen(name));
		pr_err("%s: unknown option \"%s\"%s%s%s", source ? source : "cryo", name,
		       s ? "; did you mean \"" : "", s ? s : "", s ? "\"?" : "");
		return -ENOENT;
	}
	opts_set_source(o, source ? source : "RPC");
	if (opts_apply(o, opt, value, neg, err, sizeof(err))) {
		pr_err("%s: invalid value \"%s\" for %s: %s", source ? source : "cryo",
		       value ? value : "", opt->name, err);
		return -EINVAL;
	}
	return 0;
}
