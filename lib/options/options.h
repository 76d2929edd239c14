/* Every setting of a cryo run.  One table (options.c) defines each option
 * once -- its long/short names, argument, help -- and feeds the command line,
 * the configuration files and the RPC requests.
 */
#ifndef CRYO_OPTIONS_H
#define CRYO_OPTIONS_H

#include <stdbool.h>
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
	char *freeze_cgroup;		/* --freeze-cgroup */
	bool pid_ns;			/* cryo: --pid-ns (restore into a new PID namespace) */

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
	char *manage_cgroups;		/* --manage-cgroups [MODE] */
	bool ext_mount_map_auto;
	struct str_list ext_mount_map;	/* -M/--ext-mount-map */

	/* memory / migration */
	char *prev_images_dir;		/* --prev-images-dir */
	bool track_mem;			/* --track-mem */
	bool auto_dedup;		/* --auto-dedup */
	bool page_server;		/* --page-server (dump sends pages) */
	char *address;			/* --address */
	int port;			/* --port */
	bool lazy_pages;		/* --lazy-pages */
	bool daemon;			/* --daemon */
	bool skip_mnt;

	/* check */
	bool check_all;			/* --all / --extra / --experimental */
	char *check_feature;		/* --feature NAME */

	/* service */
	char *address_socket;		/* service -- --address path */
	int swrk_fd;			/* swrk FD */

	/* cpuinfo */
	char *cpu_cap;			/* --cpu-cap */
};

extern struct cryo_opts opts;

/* Reset to defaults (also used between RPC requests). */
void opts_init(struct cryo_opts *o);
void opts_free(struct cryo_opts *o);

/* Parse argv (after applying configuration files as criu does).
 * Returns 0, 1 if the run should stop successfully (--help, --version), or
 * a negative code after printing the problem. */
int opts_parse_cmdline(struct cryo_opts *o, int argc, char **argv);

#endif
