/* Every setting of a cryo run.  One table (options.c) defines each option
 * once -- its long/short names, argument, help -- and feeds the command line,
 * the configuration files and the RPC requests.
 */
#ifndef CRYO_OPTIONS_H
#define CRYO_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

enum cryo_command {
	CMD_NONE = 0,
	CMD_DUMP,
	CMD_PRE_DUMP,
	CMD_RESTORE,
	CMD_CHECK,
	CMD_PAGE_SERVER,
	CMD_LAZY_PAGES,
	CMD_SERVICE,
	CMD_SWRK,
	CMD_CPUINFO_DUMP,
	CMD_CPUINFO_CHECK,
	CMD_SHOW,	/* cryo extension: decode images to JSON */
	CMD_EXEC,	/* criu's removed "exec": refused with an explanation */
	CMD_DEDUP,	/* criu's "dedup" (not implemented yet) */
	CMD_HELP,	/* "cryo help [COMMAND]" */
	CMD_MIGRATE,	/* cryo extension: live migration (lib/migrate) */
	CMD__MAX,
};

/* A growable list of strings (for repeatable options such as --external). */
struct str_list {
	char **v;
	int n;
};

struct cryo_opts {
	enum cryo_command command;
	char *command_arg;		/* "cryo show PATH", "cpuinfo dump" */

	/* general */
	int verbosity;			/* -v/-vN, criu levels 0..4 */
	char *log_file;			/* -o/--log-file, relative to work dir */
	bool log_pid;			/* --log-pid */
	char *images_dir;		/* -D/--images-dir */
	char *work_dir;			/* -W/--work-dir */
	char *pidfile;			/* --pidfile */
	bool display_stats;		/* --display-stats */
	char *config_file;		/* --config */
	bool no_default_config;		/* --no-default-config */
	char *root;			/* -r/--root */
	int status_fd;			/* --status-fd, -1 if unset */
	unsigned timeout;		/* --timeout seconds (freezing), 0 = default */

	/* tree and process behaviour */
	pid_t pid;			/* -t/--tree */
	bool leave_running;		/* -R/--leave-running */
	bool leave_stopped;		/* -s/--leave-stopped */
	bool restore_detached;		/* -d/--restore-detached */
	bool restore_sibling;		/* --restore-sibling */
	bool shell_job;			/* -j/--shell-job */
	bool evasive_devices;		/* --evasive-devices */
	bool allow_uprobes;		/* --allow-uprobes */
	char *freeze_cgroup;		/* --freeze-cgroup */
	bool pid_ns;			/* cryo: --pid-ns (restore into a new PID namespace) */
	bool with_cpu_affinity;		/* --with-cpu-affinity (restore) */
	bool cow_parent;		/* cryo: --cow-parent (default on): cow_parent pagemap entries */
	bool images_trust_owner;	/* cryo: --images-trust owner */
	bool skip_file_rwx_check;	/* --skip-file-rwx-check */
	bool exec_cmd;			/* --exec-cmd: restore's extra arguments... */
	char **exec_argv;		/* ...are a command to exec after it, NULL-ended */
	char *lsm_profile;		/* --lsm-profile TYPE:NAME */
	char *lsm_mount_context;	/* --lsm-mount-context CONTEXT */

	/* files and sockets */
	bool file_locks;		/* -l/--file-locks */
	bool link_remap;		/* --link-remap */
	uint64_t ghost_limit;		/* --ghost-limit bytes */
	char *file_validation;		/* --file-validation filesize|buildid */
	bool tcp_established;		/* --tcp-established */
	bool tcp_close;			/* --tcp-close */
	bool skip_in_flight;		/* --skip-in-flight */
	bool ext_unix_sk;		/* --ext-unix-sk */
	char *network_lock;		/* --network-lock iptables|nftables|skip */
	struct str_list external;	/* --external */
	struct str_list inherit_fd;	/* --inherit-fd fd[N]:NAME */
	struct str_list irmap_scan;	/* --irmap-scan-path PATH (repeatable) */
	struct str_list join_ns;	/* --join-ns KIND:PATH (lib/ns: ns_restore_joins) */
	bool empty_ns_net;		/* --empty-ns net: the tree's network namespace's
					 * contents are neither saved nor restored */
	char *manage_cgroups;		/* --manage-cgroups [MODE] */
	struct str_list cgroup_roots;	/* --cgroup-root [CTRL:]PATH (repeatable) */
	struct str_list cgroup_dump_ctls; /* --cgroup-dump-controller NAME (repeatable) */
	char *cgroup_props;		/* --cgroup-props SPEC (criu's form) */
	char *cgroup_props_file;	/* --cgroup-props-file FILE */
	char *cgroup_yard;		/* --cgroup-yard DIR (lib/cgroup) */
	bool ext_mount_map_auto;
	struct str_list ext_mount_map;	/* -M/--ext-mount-map */
	/* criu's permissions to meet mounts cryo can't rebuild yet (LXC passes
	 * them every time): accepted; such a mount is still refused, by name */
	bool ext_sharing, ext_masters;	/* --enable-external-sharing/-masters */
	struct str_list enable_fs;	/* --enable-fs FS[,FS] */
	bool force_irmap;		/* --force-irmap: cryo always saves watch paths */

	/* memory / migration */
	char *prev_images_dir;		/* --prev-images-dir */
	bool track_mem;			/* --track-mem */
	bool auto_dedup;		/* --auto-dedup */
	bool page_server;		/* --page-server (dump sends pages) */
	char *address;			/* --address */
	int port;			/* --port */
	bool port_any;			/* RPC PAGE_SERVER with ps.port 0: a free port */
	int ps_socket;			/* --ps-socket, -1 if unset */
	bool lazy_pages;		/* --lazy-pages */
	bool background_snapshot;	/* --background-snapshot (cryo's) */
	bool daemon;			/* --daemon */
	bool skip_mnt;

	/* check */
	bool check_all;			/* --all / --extra / --experimental */
	char *check_feature;		/* --feature NAME */

	/* service */
	char *address_socket;		/* service -- --address path */
	int swrk_fd;			/* swrk FD */
	const struct pipeline_hook *notify;	/* called at the pipelines' stage
					 * boundaries (util/pipeline.h); NULL: none */
	bool netlock_tidy_later;	/* not an option: the restore's unlock leaves
					 * the lock's tidying up to its caller's
					 * sk_network_lock_tidy() (cryo migrate's
					 * destination, after its answer) */

	/* cpuinfo */
	char *cpu_cap;			/* --cpu-cap, criu syntax ("fpu,ins", "^cpu"); NULL = criu default (fpu,ins) */

	/* --- fields added with the option table (lib/options/options.c) --- */
	bool check_extra;		/* --extra (also sets check_all, see above) */
	bool check_experimental;	/* --experimental (also sets check_all) */
	struct str_list skip_mnts;	/* --skip-mnt PATH (skip_mnt is true when non-empty) */
	char *pre_dump_mode;		/* --pre-dump-mode splice|read, NULL = splice */
	struct str_list close_fds;	/* --close FD: decimal fds the CLI closes first */
	struct str_list action_scripts;	/* --action-script SCRIPT (repeatable), run by `sh -c` */
	bool tls;			/* --tls: the page server connection over TLS */
	bool tls_no_cn_verify;		/* --tls-no-cn-verify */
	char *tls_cacert, *tls_cacrl, *tls_cert, *tls_key;	/* NULL: criu's defaults */

	/* migrate (lib/migrate) */
	char *migrate_to;		/* --to HOST:PORT: the host part */
	int migrate_port;		/* --to HOST:PORT: the port */
	int migrate_listen;		/* --listen PORT (destination) */
	int migrate_iters;		/* --max-iterations N of pre-copy (10) */
	int migrate_converge;		/* --converge PERCENT unchanged to stop (70) */

	/* Internal to lib/options: options that cryo accepts but does not
	 * implement (or ignores), and where each was set ("command line",
	 * "FILE:LINE", "RPC").  opts_validate() refuses/warns about them once
	 * the command is known. */
	struct str_list unsupported_opts;
	struct str_list unsupported_srcs;
	char cur_source[512];		/* while parsing: where the option being applied
					 * comes from ("FILE:LINE"; empty: the command line) */
	bool orphan_pts_master;		/* --orphan-pts-master (criu's) */
};

extern struct cryo_opts opts;

/* Reset to defaults (also used between RPC requests). */
void opts_init(struct cryo_opts *o);
void opts_free(struct cryo_opts *o);

/* Parse argv (after applying configuration files as criu does).
 * Returns 0, 1 if the run should stop successfully (--help, --version), or
 * a negative code after printing the problem. */
int opts_parse_cmdline(struct cryo_opts *o, int argc, char **argv);

/* ---- The option table ------------------------------------------------- */

enum opt_arg {
	OPT_ARG_NONE,		/* a flag */
	OPT_ARG_REQUIRED,	/* --name VALUE, --name=VALUE, -xVALUE, -x VALUE */
	OPT_ARG_OPTIONAL,	/* only attached: --name=VALUE, -xVALUE (getopt rules) */
};

/* flags of struct cryo_option */
#define OPTF_NEGATABLE	0x01	/* also accepted as --no-NAME */
#define OPTF_NOT_YET	0x02	/* accepted but refused by opts_validate() */
#define OPTF_IGNORED	0x04	/* accepted, has no effect in cryo (warned) */
#define OPTF_CMDLINE	0x08	/* meaningful on the command line only */
#define OPTF_HIDDEN	0x10	/* not listed in help (still accepted) */

#define OPT_CMD(c)	(1u << (c))
#define OPT_CMDS_ALL	(~0u)

struct cryo_option {
	const char *name;		/* long name, without "--" */
	char short_name;		/* 0 if none */
	enum opt_arg arg;
	const char *metavar;		/* argument placeholder in help ("PID") */
	unsigned commands;		/* OPT_CMD() mask where it has an effect */
	unsigned flags;			/* OPTF_* */
	/* Store the value; @val is NULL for flags and absent optional
	 * arguments, @neg is true for --no-NAME.  Returns 0, or -EINVAL with
	 * what was expected written to @err (no option name, no newline). */
	int (*set)(struct cryo_opts *o, const struct cryo_option *opt,
		   const char *val, bool neg, char *err, size_t errlen);
	const char *help;		/* one or more sentences */
	const char *note;		/* why not supported / ignored, or NULL */
};

/* The whole table (*n entries), in help order. */
const struct cryo_option *opts_table(size_t *n);
/* Look an option up by long name: exact, "no-NAME" for negatable ones,
 * or an unambiguous prefix (as getopt_long does).  Returns NULL if unknown
 * or ambiguous (then *ambiguous is set when non-NULL). */
const struct cryo_option *opts_find(const char *name, size_t len, bool *neg, bool *ambiguous);
const struct cryo_option *opts_find_short(char c);
/* The closest long option name to @name ("no-" forms included), or NULL
 * when nothing is close enough to suggest. */
const char *opts_suggest(const char *name, size_t len);

/* Set one option by long name and string value, as RPC requests and
 * configuration files do (value NULL for flags; "no-NAME" negates).
 * @source says where it came from, for messages ("RPC").  Errors are
 * logged with pr_err.  Returns 0, -ENOENT (unknown), -EINVAL (bad value). */
int opts_set(struct cryo_opts *o, const char *name, const char *value, const char *source);

/* ---- Commands --------------------------------------------------------- */

struct cryo_command_desc {
	const char *name;		/* "dump" */
	enum cryo_command cmd;		/* for cpuinfo: CMD_CPUINFO_DUMP */
	const char *args;		/* usage of the arguments after it, "" if none */
	int min_args, max_args;		/* positional arguments after the name */
	const char *summary;		/* one line */
	const char *description;	/* a paragraph for help and the man page */
	const char *unavailable;	/* NULL, or why it is refused */
};

const struct cryo_command_desc *opts_commands(size_t *n);
const struct cryo_command_desc *opts_command_find(const char *name);
const struct cryo_command_desc *opts_command_desc(enum cryo_command cmd);
const char *opts_command_name(enum cryo_command cmd);

/* ---- Parsing ---------------------------------------------------------- */

/* Where configuration files are looked for.  opts_parse_cmdline() uses
 * opts_default_sources(); tests pass their own paths. */
struct opts_sources {
	const char *global_conf;	/* /etc/criu/default.conf, NULL = none */
	const char *user_conf;		/* $HOME/.criu/default.conf, NULL = none */
	const char *env_conf;		/* $CRIU_CONFIG_FILE, NULL = unset */
};

#define OPTS_GLOBAL_CONFIG "/etc/criu/default.conf"
#define OPTS_USER_CONFIG ".criu/default.conf"	/* under $HOME */
#define OPTS_CONFIG_ENV "CRIU_CONFIG_FILE"

/* Fill @s from the environment ($HOME, $CRIU_CONFIG_FILE); @buf holds the
 * user path.  Returns @s. */
struct opts_sources *opts_default_sources(struct opts_sources *s, char *buf, size_t len);

/* The full criu sequence: default configs (unless --no-default-config or
 * --config), $CRIU_CONFIG_FILE, --config FILE, then argv; then the command
 * and its arguments; then opts_validate().  --help/-h, "help" and
 * --version/-V are found before any configuration file is read, so a bad
 * file cannot hide them; they print and return 1.  Errors are printed to
 * stderr ("FILE:LINE: what" for configuration files) and give -EINVAL. */
int opts_parse(struct cryo_opts *o, int argc, char **argv, const struct opts_sources *src);

/* Apply one configuration file.  A missing file is fine (returns 0) unless
 * @must_exist.  Every bad line is reported as "FILE:LINE: what is wrong";
 * returns -EINVAL if there was one. */
int opts_apply_config_file(struct cryo_opts *o, const char *path, bool must_exist);

/* Checks that need the final set of options and the command: refuses
 * options that cryo does not support yet for this command, warns about
 * ignored ones, criu's consistency rules (--restore-sibling needs
 * --restore-detached, dump needs -t).  Returns 0 or -EINVAL (printed). */
int opts_validate(struct cryo_opts *o);

/* ---- Help --------------------------------------------------------------- */

/* "cryo help" (cmd == CMD_NONE) or "cryo help COMMAND". */
void opts_print_help(FILE *f, enum cryo_command cmd);
/* "Version: X.Y" (criu compatible, parsed by tools) then "cryo X.Y.Z". */
void opts_print_version(FILE *f);

/* --external unix[INO] (or criu's old --ext-unix-sk=INO) names the unix
 * socket @ino as allowed to have a peer outside the tree; @ino 0: whether
 * any such socket is named. */
bool opts_external_unix(const struct cryo_opts *o, unsigned long ino);

/* str_list helpers */
int str_list_add(struct str_list *l, const char *s);
void str_list_free(struct str_list *l);

#endif
