/* Command-line parsing: criu's option names and argument styles. */
#include <errno.h>

#include "test_common.h"
#include "util/log.h"

static void test_defaults(void)
{
	CHECK_INT(parse("check"), 0);
	CHECK_INT(O.command, CMD_CHECK);
	CHECK_INT(O.verbosity, LOG_WARN);
	CHECK_STR(O.images_dir, ".");
	CHECK(O.work_dir == NULL);
	CHECK_INT(O.status_fd, -1);
	CHECK_INT(O.ghost_limit, 1 << 20);
	CHECK(!O.tcp_established && !O.shell_job);
}

static void test_positions_and_styles(void)
{
	/* options before and after the command */
	CHECK_INT(parse("-D", "/imgs", "dump", "-t", "42"), 0);
	CHECK_INT(O.command, CMD_DUMP);
	CHECK_INT(O.pid, 42);
	CHECK_STR(O.images_dir, "/imgs");
	CHECK_INT(parse("dump", "--images-dir", "/a", "--tree", "7"), 0);
	CHECK_STR(O.images_dir, "/a");
	CHECK_INT(O.pid, 7);
	/* attached forms */
	CHECK_INT(parse("dump", "-t123", "-D/b", "-W/w", "-ofile.log"), 0);
	CHECK_INT(O.pid, 123);
	CHECK_STR(O.images_dir, "/b");
	CHECK_STR(O.work_dir, "/w");
	CHECK_STR(O.log_file, "file.log");
	CHECK_INT(parse("--tree=9", "dump", "--images-dir=/c", "--log-file=x"), 0);
	CHECK_INT(O.pid, 9);
	CHECK_STR(O.images_dir, "/c");
	CHECK_STR(O.log_file, "x");
	/* clusters of short flags, and a cluster ending in an argument */
	CHECK_INT(parse("dump", "-jlRt", "5"), 0);
	CHECK(O.shell_job && O.file_locks && O.leave_running);
	CHECK_INT(O.pid, 5);
	CHECK_INT(parse("restore", "-dSj"), 0);
	CHECK(O.restore_detached && O.restore_sibling && O.shell_job);
	/* every listed short option */
	CHECK_INT(parse("restore", "-s", "-r", "/root", "-M", "auto", "-x", "-L", "/lib"), 0);
	CHECK(O.leave_stopped && O.ext_mount_map_auto && O.ext_unix_sk);
	CHECK_STR(O.root, "/root");
	/* "--" ends the options */
	CHECK_INT(parse("show", "--", "-odd-name"), 0);
	CHECK_INT(O.command, CMD_SHOW);
	CHECK_STR(O.command_arg, "-odd-name");
	/* a lone "-" is an argument */
	CHECK_INT(parse("show", "-"), 0);
	CHECK_STR(O.command_arg, "-");
	/* getopt_long's unambiguous abbreviations */
	CHECK_INT(parse("dump", "-t", "1", "--leave-run", "--tcp-est"), 0);
	CHECK(O.leave_running && O.tcp_established);
}

static void test_negation(void)
{
	CHECK_INT(parse("dump", "-t", "1", "--tcp-established", "--no-tcp-established"), 0);
	CHECK(!O.tcp_established);
	CHECK_INT(parse("dump", "-t", "1", "-j", "--no-shell-job", "--no-file-locks", "--skip-in-flight"), 0);
	CHECK(!O.shell_job && !O.file_locks && O.skip_in_flight);
	CHECK_INT(parse("restore", "--restore-detached", "--no-restore-detached"), 0);
	CHECK(!O.restore_detached);
	CHECK_REFUSED(parse("dump", "-t", "1", "--display-stats", "--link-remap", "--stream",
			    "--evasive-devices", "--track-mem", "--auto-dedup", "--page-server", "--lazy-pages", "--log-pid"));
	CHECK(O.display_stats && O.link_remap && O.evasive_devices && O.track_mem &&
	      O.auto_dedup && O.page_server && O.lazy_pages && O.log_pid);
	CHECK_INT(parse("dump", "-t", "1", "--no-display-stats", "--no-link-remap", "--no-evasive-devices",
			"--no-track-mem", "--no-auto-dedup", "--no-page-server", "--no-lazy-pages", "--no-log-pid"), 0);
	CHECK(!O.display_stats && !O.link_remap && !O.evasive_devices && !O.track_mem &&
	      !O.auto_dedup && !O.page_server && !O.lazy_pages && !O.log_pid);
	CHECK_INT(parse("restore", "--pid-ns", "--tcp-close"), 0);
	CHECK(O.pid_ns && O.tcp_close);
	/* options with a value have no --no- form */
	CHECK(parse("dump", "-t", "1", "--no-tree") < 0);
	CHECK_ERR("--no-tree");
	/* -R and -s: the last one wins, as criu's final_state */
	CHECK_INT(parse("dump", "-t", "1", "-R", "-s"), 0);
	CHECK(O.leave_stopped && !O.leave_running);
	CHECK_INT(parse("dump", "-t", "1", "-s", "-R"), 0);
	CHECK(!O.leave_stopped && O.leave_running);
	/* --daemon is criu's alias of --restore-detached */
	CHECK_INT(parse("restore", "--daemon"), 0);
	CHECK(O.daemon && O.restore_detached);
}

static void test_verbosity(void)
{
	CHECK_INT(parse("check", "-v"), 0);
	CHECK_INT(O.verbosity, 3);
	CHECK_INT(parse("check", "-vv"), 0);
	CHECK_INT(O.verbosity, 4);
	CHECK_INT(parse("check", "-vvv"), 0);
	CHECK_INT(O.verbosity, 4);	/* clamped to debug */
	for (int l = 0; l <= 4; l++) {
		char arg[8];
		snprintf(arg, sizeof(arg), "-v%d", l);
		CHECK_INT(parse("check", arg), 0);
		CHECK_INT(O.verbosity, l);
	}
	CHECK_INT(parse("check", "--verbosity"), 0);
	CHECK_INT(O.verbosity, 3);
	CHECK_INT(parse("check", "--verbosity=1"), 0);
	CHECK_INT(O.verbosity, 1);
	CHECK_INT(parse("check", "-v0", "-v"), 0);
	CHECK_INT(O.verbosity, 1);
	CHECK(parse("check", "-vx") < 0);
	CHECK_ERR("-v4");
	/* optional arguments must be attached (getopt): "-v 3" leaves "3" */
	CHECK(parse("check", "-v", "3") < 0);
	CHECK_ERR("excessive parameter");
}

static void test_values(void)
{
	CHECK_INT(parse("dump", "-t", "1", "--ghost-limit", "16M"), 0);
	CHECK_INT(O.ghost_limit, 16 << 20);
	CHECK_INT(parse("dump", "-t", "1", "--ghost-limit=2K"), 0);
	CHECK_INT(O.ghost_limit, 2048);
	CHECK_INT(parse("dump", "-t", "1", "--ghost-limit", "1G"), 0);
	CHECK_INT(O.ghost_limit, 1 << 30);
	CHECK_INT(parse("dump", "-t", "1", "--ghost-limit", "4096"), 0);
	CHECK_INT(O.ghost_limit, 4096);
	CHECK(parse("dump", "-t", "1", "--ghost-limit", "1T") < 0);
	CHECK_ERR("K, M or G");
	CHECK(parse("dump", "-t", "1", "--ghost-limit", "M") < 0);

	CHECK_INT(parse("dump", "-t", "1", "--page-server", "--address", "10.0.0.1", "--port", "1234"), 0);
	CHECK_STR(O.address, "10.0.0.1");
	CHECK_INT(O.port, 1234);
	CHECK(O.page_server);
	CHECK_INT(O.ps_socket, -1);
	CHECK(parse("dump", "-t", "1", "--page-server", "--port", "1234") < 0);
	CHECK_ERR("--address");
	CHECK(parse("dump", "-t", "1", "--page-server", "--address", "h") < 0);
	CHECK_ERR("--port");
	CHECK_INT(parse("dump", "-t", "1", "--page-server", "--ps-socket", "7"), 0);
	CHECK_INT(O.ps_socket, 7);
	CHECK(parse("dump", "-t", "1", "--ps-socket", "x") < 0);
	CHECK_INT(parse("dump", "-t", "1", "--page-server", "--address", "h", "--port", "1",
			"--tls", "--tls-cacert", "ca.pem", "--tls-no-cn-verify"), 0);
	CHECK(O.tls && O.tls_no_cn_verify);
	CHECK_STR(O.tls_cacert, "ca.pem");
	CHECK_REFUSED(parse("page-server", "--port", "1", "--lazy-pages"));
	CHECK(parse("page-server") < 0);
	CHECK_ERR("--port");
	CHECK_INT(parse("page-server", "--ps-socket", "3"), 0);
	CHECK(parse("dump", "-t", "1", "--port", "0") < 0);
	CHECK(parse("dump", "-t", "1", "--port", "70000") < 0);
	CHECK(parse("dump", "-t", "1", "--port", "12ab") < 0);
	CHECK_ERR("1-65535");

	CHECK_REFUSED(parse("dump", "-t", "1", "--timeout", "30", "--freeze-cgroup", "/sys/fs/cgroup/x",
			    "--stream", "--pidfile", "p"));
	CHECK_INT(O.timeout, 30);
	CHECK_STR(O.freeze_cgroup, "/sys/fs/cgroup/x");
	CHECK_STR(O.pidfile, "p");
	CHECK_INT(parse("dump", "-t", "1", "--auto-dedup"), 0);
	CHECK(O.auto_dedup);
	CHECK(parse("dump", "-t", "0") < 0);
	CHECK(parse("dump", "-t", "-5") < 0);
	CHECK(parse("dump", "-t", "12x") < 0);
	CHECK_ERR("process ID");

	CHECK_INT(parse("page-server", "--port", "9000", "--status-fd", "5", "--daemon"), 0);
	CHECK_INT(O.status_fd, 5);
	CHECK(parse("page-server", "--status-fd", "x") < 0);

	CHECK_INT(parse("restore", "--manage-cgroups"), 0);
	CHECK_STR(O.manage_cgroups, "soft");
	CHECK_INT(parse("restore", "--manage-cgroups=full"), 0);
	CHECK_STR(O.manage_cgroups, "full");
	CHECK(parse("restore", "--manage-cgroups=bogus") < 0);
	CHECK(parse("restore", "--manage-cgroups", "full") < 0);	/* attached only */

	CHECK_INT(parse("restore", "--cpu-cap"), 0);
	CHECK_STR(O.cpu_cap, "all");
	CHECK_INT(parse("restore", "--cpu-cap=fpu,^ins", "--cpu-cap=cpu"), 0);
	CHECK_STR(O.cpu_cap, "fpu,^ins,cpu");
	CHECK(parse("restore", "--cpu-cap=sse") < 0);

	CHECK_INT(parse("restore", "--file-validation", "buildid", "--network-lock", "nftables"), 0);
	CHECK_STR(O.file_validation, "buildid");
	CHECK_STR(O.network_lock, "nftables");
	CHECK(parse("restore", "--file-validation", "md5") < 0);
	CHECK(parse("restore", "--network-lock", "pf") < 0);
	CHECK_INT(parse("pre-dump", "-t", "3", "--pre-dump-mode", "read"), 0);
	CHECK_STR(O.pre_dump_mode, "read");
	CHECK_INT(O.command, CMD_PRE_DUMP);

	CHECK_INT(parse("dump", "-t", "1", "--external", "file[1f:2a]", "--external", "unix[123]"), 0);
	CHECK_INT(O.external.n, 2);
	CHECK_STR(O.external.v[1], "unix[123]");
	CHECK(opts_external_unix(&O, 123) && opts_external_unix(&O, 0) && !opts_external_unix(&O, 12));
	/* not TYPE[ID] (LXC's "apparmor:PROFILE"): kept, as criu does, never matched */
	CHECK_INT(parse("dump", "-t", "1", "--external", "nobrackets"), 0);
	CHECK(parse("dump", "-t", "1", "--external", "") < 0);
	/* LXC's dump line: criu's permissions cryo meets by refusing such mounts by name */
	CHECK_INT(parse("dump", "-t", "1", "--enable-external-sharing", "--enable-external-masters",
			"--enable-fs", "hugetlbfs", "--enable-fs", "tracefs,fuse", "--force-irmap",
			"--ext-mount-map", "auto", "--ext-mount-map", "console:"), 0);
	CHECK(O.ext_sharing && O.ext_masters && O.force_irmap && O.ext_mount_map_auto);
	CHECK_INT(O.enable_fs.n, 3);
	CHECK_STR(O.enable_fs.v[2], "fuse");
	CHECK_INT(O.ext_mount_map.n, 0);
	CHECK(parse("dump", "-t", "1", "--ext-mount-map", ":x") < 0);
	/* types cryo does not act on are refused, by name */
	CHECK_INT(parse("dump", "-t", "1", "--external", "mnt[/data]:data", "--external", "mnt[]"), 0);
	CHECK_INT(parse("restore", "--external", "mnt[data]:/srv/data"), 0);
	CHECK(parse("restore", "--external", "mnt[]") < 0);
	CHECK_ERR("expected mnt[MOUNTPOINT]:KEY on dump");
	CHECK(parse("dump", "-t", "1", "--external", "mnt[/data]") < 0);
	CHECK_INT(parse("restore", "--external", "macvlan[eth0]:eth0"), 0);
	CHECK(parse("restore", "--external", "macvlan[eth0]") < 0);
	CHECK_ERR("expected macvlan[IN]:HOSTIF");
	CHECK(parse("dump", "-t", "1", "--external", "macvlan[eth0]:eth0") < 0);
	CHECK_ERR("a macvlan's host device is named at restore");
	CHECK(parse("restore", "--external", "veth[eth0]") < 0);
	CHECK(parse("restore", "--external", "file[1:2]") < 0);
	CHECK_ERR("--inherit-fd");
	CHECK(parse("dump", "-t", "1", "--external", "bogus[1]") < 0);
	CHECK_ERR("no external resource of this type");
	CHECK_INT(parse("check", "--external", "mnt[/data]:data"), 0);	/* not check's business */
	/* criu's old --ext-unix-sk=IDs: only those sockets */
	CHECK_INT(parse("dump", "-t", "1", "--ext-unix-sk=12,34"), 0);
	CHECK(!O.ext_unix_sk);
	CHECK_INT(O.external.n, 2);
	CHECK_STR(O.external.v[0], "unix[12]");
	CHECK_STR(O.external.v[1], "unix[34]");
	CHECK_INT(parse("dump", "-t", "1", "--ext-unix-sk"), 0);
	CHECK(O.ext_unix_sk);

	CHECK_INT(parse("restore", "--inherit-fd", "fd[3]:pipe[123]", "--inherit-fd", "fd[0]:/dev/null"), 0);
	CHECK_INT(O.inherit_fd.n, 2);
	CHECK_STR(O.inherit_fd.v[0], "fd[3]:pipe[123]");
	CHECK(parse("restore", "--inherit-fd", "3:pipe[1]") < 0);
	CHECK_ERR("fd[N]:RESOURCE");
	CHECK(parse("restore", "--inherit-fd", "fd[3]:") < 0);

	CHECK_INT(parse("restore", "-M", "/mnt:name", "--ext-mount-map", "auto"), 0);
	CHECK_INT(O.ext_mount_map.n, 1);
	CHECK(O.ext_mount_map_auto);
	CHECK(parse("restore", "-M", "nocolon") < 0);

	CHECK_INT(parse("dump", "-t", "1", "--skip-mnt", "/proc/sys", "--close", "7"), 0);
	CHECK(O.skip_mnt);
	CHECK_STR(O.skip_mnts.v[0], "/proc/sys");
	CHECK_STR(O.close_fds.v[0], "7");
	CHECK(parse("dump", "-t", "1", "--close", "x") < 0);
}

static void test_check_and_commands(void)
{
	CHECK_INT(parse("check", "--all"), 0);
	CHECK(O.check_all && O.check_extra && O.check_experimental);
	CHECK_INT(parse("check", "--extra"), 0);
	CHECK(O.check_all && O.check_extra && !O.check_experimental);
	CHECK_INT(parse("check", "--experimental"), 0);
	CHECK(O.check_all && !O.check_extra && O.check_experimental);
	CHECK_INT(parse("check", "--feature", "list"), 0);
	CHECK_STR(O.check_feature, "list");
	CHECK(parse("check", "--ms") < 0);
	CHECK_ERR("removed");

	CHECK_INT(parse("cpuinfo", "dump"), 0);
	CHECK_INT(O.command, CMD_CPUINFO_DUMP);
	CHECK_INT(parse("cpuinfo", "check", "--cpu-cap=fpu"), 0);
	CHECK_INT(O.command, CMD_CPUINFO_CHECK);
	CHECK(parse("cpuinfo", "eat") < 0);
	CHECK(parse("cpuinfo") < 0);
	CHECK_INT(parse("swrk", "3"), 0);
	CHECK_INT(O.command, CMD_SWRK);
	CHECK_INT(O.swrk_fd, 3);
	CHECK(parse("swrk", "x") < 0);
	CHECK_INT(parse("service", "--address", "/run/criu.sock"), 0);
	CHECK_STR(O.address_socket, "/run/criu.sock");
	CHECK_INT(parse("page-server", "--port", "9000"), 0);
	CHECK_INT(O.command, CMD_PAGE_SERVER);
	CHECK_INT(parse("lazy-pages"), 0);
	CHECK_INT(O.command, CMD_LAZY_PAGES);
	CHECK_INT(parse("lazy-pages", "--page-server", "--address", "h", "--port", "1"), 0);
	CHECK(parse("lazy-pages", "--page-server", "--port", "1") < 0);
	CHECK_ERR("--address");
	CHECK_INT(parse("restore", "--lazy-pages"), 0);
	CHECK(O.lazy_pages);
	CHECK(parse("dump", "-t", "1", "--lazy-pages") < 0);
	CHECK_ERR("--port");
	CHECK_INT(parse("dump", "-t", "1", "--lazy-pages", "--port", "7"), 0);
	CHECK_REFUSED(parse("dump", "-t", "1", "--lazy-pages", "--port", "7", "--page-server",
			    "--address", "h"));
	CHECK_REFUSED(parse("pre-dump", "-t", "1", "--lazy-pages", "--port", "7"));
	CHECK_UNAVAILABLE(parse("exec"));	/* parsed, then refused */
	CHECK_INT(O.command, CMD_EXEC);
	CHECK(opts_command_desc(CMD_EXEC)->unavailable != NULL);
	CHECK(opts_command_desc(CMD_DUMP)->unavailable == NULL);

	CHECK(parse("show") < 0);
	CHECK_ERR("needs an argument");
	CHECK(parse("dump", "-t", "1", "extra", "more") < 0);
	CHECK_ERR("excessive parameters for command dump");
	CHECK(parse("-t", "1") < 0);
	CHECK_ERR("no command");
	CHECK(parse("dupm", "-t", "1") < 0);
	CHECK_ERR("did you mean \"dump\"");
	CHECK(parse("frobnicate") < 0);
	CHECK_ERR("cryo help");

	/* --help, help and --version stop successfully, even with bad options */
	CHECK_INT(parse("--help"), 1);
	CHECK_INT(parse("dump", "--help", "--bogus"), 1);
	CHECK_INT(parse("help", "restore"), 1);
	CHECK_INT(parse("help"), 1);
	CHECK(parse("help", "nosuch") < 0);
	CHECK_INT(parse("-h", "check"), 1);
	CHECK_INT(parse("--version"), 1);
	CHECK_INT(parse("-V", "dump"), 1);
}

static void test_errors_and_suggestions(void)
{
	CHECK(parse("dump", "-t", "1", "--tcp-establised") < 0);
	CHECK_ERR("unknown option \"--tcp-establised\"; did you mean \"--tcp-established\"?");
	CHECK(parse("dump", "-t", "1", "--leave-runing") < 0);
	CHECK_ERR("did you mean \"--leave-running\"");
	CHECK(parse("dump", "-t", "1", "--no-shel-job") < 0);
	CHECK_ERR("did you mean \"--no-shell-job\"");
	CHECK(parse("dump", "-t", "1", "--zzzzzzzzzzzzzz") < 0);
	CHECK_ERR("run \"cryo help\"");
	CHECK(parse("dump", "-t", "1", "--tcp") < 0);
	CHECK_ERR("ambiguous");
	CHECK_ERR("--tcp-close");
	CHECK(parse("dump", "-t", "1", "-X") < 0);
	CHECK_ERR("unknown option \"-X\"");
	CHECK(parse("dump", "-t") < 0);
	CHECK_ERR("-t (--tree) requires an argument (PID)");
	CHECK(parse("dump", "-t", "1", "--images-dir") < 0);
	CHECK_ERR("--images-dir requires an argument (DIR)");
	CHECK(parse("dump", "-t", "1", "--shell-job=yes") < 0);
	CHECK_ERR("takes no argument");
	CHECK(parse("dump", "-t", "1", "--port", "x") < 0);
	CHECK_ERR("invalid argument \"x\" for --port");
	CHECK(parse("dump") < 0);
	CHECK_ERR("-t PID");
	CHECK(parse("restore", "-S") < 0);
	CHECK_ERR("--restore-detached");
	CHECK_INT(parse("restore", "-S", "-d"), 0);
}

static void test_unsupported(void)
{
	/* refused only where they would change behaviour */
	CHECK_INT(parse("restore", "--veth-pair", "eth0=veth1"), 0);
	CHECK_INT(parse("restore", "--external", "veth[eth0]:veth1"), 0);
	CHECK_INT(parse("restore", "--external", "macvlan[eth0]:eth1"), 0);
	CHECK_INT(parse("dump", "-t", "1", "--external", "net[4026531840]:blue"), 0);
	CHECK(parse("dump", "-t", "1", "--external", "net[blue]:x") < 0);
	CHECK(parse("restore", "--external", "net[4026531840]:blue") < 0);
	CHECK_INT(parse("dump", "-t", "1", "--veth-pair", "eth0=veth1"), 0);	/* restore-only */
	CHECK_INT(parse("dump", "-t", "1", "--force-irmap"), 0);
	CHECK_INT(parse("restore", "--lsm-profile", "apparmor:x"), 0);	/* checked at restore */
	CHECK(parse("dump", "-t", "1", "--stream") < 0);
	CHECK_INT(parse("dump", "-t", "1", "--stream", "--no-stream"), 0);	/* net effect: off */
	CHECK_INT(parse("dump", "-t", "1", "--no-force-irmap"), 0);
	CHECK_INT(parse("restore", "-J", "net:/proc/1/ns/net"), 0);
	CHECK_INT(parse("restore", "--join-ns", "uts:1"), 0);
	CHECK(parse("restore", "--join-ns", "net") < 0);
	CHECK(parse("restore", "--join-ns", "user:/proc/1/ns/user,0,0") < 0);
	/* accepted without effect */
	CHECK_INT(parse("restore", "--weak-sysctls", "-L", "/usr/lib/criu", "--deprecated"), 0);
	CHECK_INT(parse("dump", "-t", "1", "--ghost-fiemap"), 0);
}

static void test_table_and_set(void)
{
	size_t n;
	const struct cryo_option *t = opts_table(&n);
	bool neg, amb;

	CHECK(n > 60);
	for (size_t i = 0; i < n; i++) {
		CHECK(t[i].name && t[i].help && t[i].set && t[i].commands);
		CHECK(t[i].arg == OPT_ARG_NONE || t[i].metavar);
		if (t[i].flags & (OPTF_NOT_YET | OPTF_IGNORED))
			CHECK(t[i].note != NULL);
		for (size_t j = i + 1; j < n; j++) {
			CHECK(strcmp(t[i].name, t[j].name) != 0);
			CHECK(!t[i].short_name || t[i].short_name != t[j].short_name);
		}
		/* every option is found by its own name */
		CHECK(opts_find(t[i].name, strlen(t[i].name), &neg, &amb) == &t[i] && !neg);
	}
	/* the options the issue lists */
	static const char *const must[] = {
		"tree", "images-dir", "work-dir", "log-file", "verbosity", "pidfile", "display-stats",
		"leave-running", "leave-stopped", "restore-detached", "restore-sibling", "shell-job",
		"file-locks", "tcp-established", "tcp-close", "skip-in-flight", "ext-unix-sk",
		"link-remap", "ghost-limit", "file-validation", "external", "inherit-fd",
		"network-lock", "freeze-cgroup", "timeout", "prev-images-dir", "track-mem",
		"page-server", "address", "port", "lazy-pages", "daemon", "status-fd", "root",
		"manage-cgroups", "ext-mount-map", "evasive-devices", "log-pid", "config",
		"no-default-config", "all", "extra", "experimental", "feature", "cpu-cap",
		"version", "help", "pid-ns", "auto-dedup", "close", "libdir",
	};
	for (size_t i = 0; i < ARRAY_LEN(must); i++) {
		const struct cryo_option *o = opts_find(must[i], strlen(must[i]), &neg, &amb);
		CHECK(o && !strcmp(o->name, must[i]));
		if (!o)
			fprintf(stderr, "missing option %s\n", must[i]);
	}
	CHECK(opts_find_short('t') && !strcmp(opts_find_short('t')->name, "tree"));
	CHECK(opts_find_short('Q') == NULL);
	CHECK(opts_find("no-tcp-established", 18, &neg, &amb) && neg);
	CHECK_STR(opts_suggest("tcp-estabilshed", 15), "tcp-established");
	CHECK(opts_suggest("qqqqqqqqqq", 10) == NULL);

	/* opts_set: the RPC path, by full name only */
	opts_free(&O);
	opts_init(&O);
	CHECK_INT(opts_set(&O, "tcp-established", NULL, "RPC"), 0);
	CHECK(O.tcp_established);
	CHECK_INT(opts_set(&O, "no-tcp-established", NULL, "RPC"), 0);
	CHECK(!O.tcp_established);
	CHECK_INT(opts_set(&O, "tree", "77", "RPC"), 0);
	CHECK_INT(O.pid, 77);
	CHECK_INT(opts_set(&O, "tree", "x", "RPC"), -EINVAL);
	CHECK_INT(opts_set(&O, "tcp-est", NULL, "RPC"), -ENOENT);
	CHECK_INT(opts_set(&O, "shell-job", "1", "RPC"), -EINVAL);
	CHECK_INT(opts_set(&O, "images-dir", NULL, "RPC"), -EINVAL);
	CHECK_INT(opts_set(&O, "no-such", NULL, "RPC"), -ENOENT);
	CHECK_INT(opts_set(&O, "ghost-limit", "3M", NULL), 0);
	CHECK_INT(O.ghost_limit, 3 << 20);
	CHECK_INT(opts_set(&O, "empty-ns", "net", "RPC"), 0);
	CHECK(O.empty_ns_net);
	CHECK_INT(opts_set(&O, "empty-ns", "pid", "RPC"), -EINVAL);
	CHECK_INT(opts_set(&O, "mntns-compat-mode", NULL, "RPC"), 0);
	O.command = CMD_RESTORE;
	err_reset();
	CHECK(opts_validate(&O) < 0);
	CHECK_ERR("RPC: --mntns-compat-mode");
	opts_free(&O);
	opts_init(&O);
}

int main(void)
{
	log_init(NULL, LOG_ERROR);	/* keep expected warnings quiet */
	test_defaults();
	test_positions_and_styles();
	test_negation();
	test_verbosity();
	test_values();
	test_check_and_commands();
	test_errors_and_suggestions();
	test_unsupported();
	test_table_and_set();
	opts_free(&O);
	return unit_done("options-cmdline");
}
