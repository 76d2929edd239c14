/* Configuration files, with criu's sources, order and syntax. */
#include <errno.h>
#include <unistd.h>

#include "test_common.h"
#include "util/log.h"

static char dir[64];
static char global[128], user[128], env[128], cfg[128], other[128];
static struct opts_sources src;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void reset_files(void)
{
	unlink(global);
	unlink(user);
	unlink(env);
	unlink(cfg);
	unlink(other);
	src.global_conf = global;
	src.user_conf = user;
	src.env_conf = NULL;
}

#define P(...) parse_src(&src, __VA_ARGS__, NULL)

/* The example: options normally given on the command line go into
 * default.conf instead. */
static void test_default_conf_example(void)
{
	reset_files();
	put(global, "tcp-established\nshell-job\n");
	CHECK_INT(P("dump", "-t", "1"), 0);
	CHECK(O.tcp_established && O.shell_job);
	/* the same from $HOME/.criu/default.conf */
	reset_files();
	put(user, "tcp-established\nshell-job\n");
	CHECK_INT(P("restore"), 0);
	CHECK(O.tcp_established && O.shell_job);
	/* missing default files are fine */
	reset_files();
	CHECK_INT(P("restore"), 0);
	CHECK(!O.tcp_established);
}

static void test_precedence(void)
{
	reset_files();
	put(global, "log-file g.log\n");
	CHECK_INT(P("check"), 0);
	CHECK_STR(O.log_file, "g.log");

	put(user, "log-file u.log\n");
	CHECK_INT(P("check"), 0);
	CHECK_STR(O.log_file, "u.log");	/* user after global */

	put(env, "log-file e.log\n");
	src.env_conf = env;
	CHECK_INT(P("check"), 0);
	CHECK_STR(O.log_file, "e.log");	/* $CRIU_CONFIG_FILE after both */

	CHECK_INT(P("check", "-o", "cmd.log"), 0);
	CHECK_STR(O.log_file, "cmd.log");	/* command line last */

	put(cfg, "log-file c.log\n");
	CHECK_INT(P("check", "--config", cfg), 0);
	CHECK_STR(O.log_file, "c.log");	/* --config after $CRIU_CONFIG_FILE */
	CHECK_STR(O.config_file, cfg);

	CHECK_INT(P("check", "--config", cfg, "--log-file=cmd2.log"), 0);
	CHECK_STR(O.log_file, "cmd2.log");	/* command line after --config */
	/* position on the command line does not matter: files come first */
	CHECK_INT(P("-o", "cmd3.log", "check", "--config", cfg), 0);
	CHECK_STR(O.log_file, "cmd3.log");

	/* settings that do not collide accumulate from every file */
	reset_files();
	put(global, "tcp-established\n");
	put(user, "file-locks\n");
	put(env, "link-remap\n");
	src.env_conf = env;
	CHECK_INT(P("dump", "-t", "1", "-j"), 0);
	CHECK(O.tcp_established && O.file_locks && O.link_remap && O.shell_job);

	/* a later source switches a flag off with its no- form */
	reset_files();
	put(global, "tcp-established\nshell-job\n");
	put(user, "no-tcp-established\n");
	CHECK_INT(P("dump", "-t", "1"), 0);
	CHECK(!O.tcp_established && O.shell_job);
	CHECK_INT(P("dump", "-t", "1", "--no-shell-job", "--tcp-established"), 0);
	CHECK(O.tcp_established && !O.shell_job);
}

static void test_skipping_defaults(void)
{
	reset_files();
	put(global, "shell-job\n");
	put(user, "file-locks\n");
	put(env, "tcp-established\n");

	CHECK_INT(P("dump", "-t", "1", "--no-default-config"), 0);
	CHECK(!O.shell_job && !O.file_locks);
	CHECK(O.no_default_config);

	/* $CRIU_CONFIG_FILE is still read with --no-default-config */
	src.env_conf = env;
	CHECK_INT(P("--no-default-config", "dump", "-t", "1"), 0);
	CHECK(O.tcp_established && !O.shell_job && !O.file_locks);

	/* --config skips the default files too, in both spellings */
	src.env_conf = NULL;
	put(cfg, "link-remap\n");
	CHECK_INT(P("dump", "-t", "1", "--config", cfg), 0);
	CHECK(O.link_remap && !O.shell_job && !O.file_locks);
	CHECK_INT(P("dump", "-t", "1", "--config=" "/dev/null"), 0);
	CHECK(!O.shell_job && !O.file_locks && !O.link_remap);

	/* ... but not $CRIU_CONFIG_FILE */
	src.env_conf = env;
	CHECK_INT(P("dump", "-t", "1", "--config", cfg), 0);
	CHECK(O.link_remap && O.tcp_established && !O.shell_job);

	/* the last --config wins, as in criu */
	put(other, "skip-in-flight\n");
	CHECK_INT(P("dump", "-t", "1", "--config", cfg, "--config", other), 0);
	CHECK(O.skip_in_flight && !O.link_remap);

	/* explicitly named files must exist */
	src.env_conf = NULL;
	CHECK(P("dump", "-t", "1", "--config", "/nonexistent/cryo.conf") < 0);
	CHECK_ERR("can't read configuration file /nonexistent/cryo.conf");
	src.env_conf = "/nonexistent/env.conf";
	CHECK(P("dump", "-t", "1") < 0);
	CHECK_ERR("/nonexistent/env.conf");
	src.env_conf = NULL;
	CHECK(P("dump", "-t", "1", "--config") < 0);
	CHECK_ERR("--config requires an argument");
}

static void test_syntax(void)
{
	reset_files();
	put(global,
	    "# a comment line\n"
	    "\n"
	    "   \t\n"
	    "  tcp-established   # a comment after an option\n"
	    "\twork-dir \"/tmp/my \\\"work\\\" directory\"\n"
	    "images-dir /a#b\n"
	    "log-file \"\"\n"
	    "root \"C:\\path\"\n"
	    "no-restore-sibling\n"
	    "\"shell-job\"\n"
	    "pidfile=/run/x.pid\n"
	    "file-locks\r\n"
	    "ghost-limit 8M #comment\n"
	    "external \"mnt[/with space]:name\"\n"
	    "tcp-est\n");
	/* "check": the syntax is all that matters here, so root and the
	 * restore's external mount (not implemented yet) are not refused */
	CHECK_INT(P("check"), 0);
	CHECK(O.tcp_established);
	CHECK_STR(O.work_dir, "/tmp/my \"work\" directory");
	CHECK_STR(O.images_dir, "/a#b");	/* '#' inside a word is not a comment */
	CHECK_STR(O.log_file, "");
	CHECK_STR(O.root, "C:\\path");	/* only \" is an escape */
	CHECK(!O.restore_sibling);
	CHECK(O.shell_job);
	CHECK_STR(O.pidfile, "/run/x.pid");
	CHECK(O.file_locks);
	CHECK_INT(O.ghost_limit, 8 << 20);
	CHECK_INT(O.external.n, 1);
	CHECK_STR(O.external.v[0], "mnt[/with space]:name");

	/* optional arguments: after whitespace in a file (criu would ignore it) */
	reset_files();
	put(global, "verbosity 4\nmanage-cgroups\n");
	CHECK_INT(P("restore"), 0);
	CHECK_INT(O.verbosity, 4);
	CHECK_STR(O.manage_cgroups, "soft");
	put(global, "verbosity\n");
	CHECK_INT(P("check"), 0);
	CHECK_INT(O.verbosity, 3);

	/* --config / no-default-config inside a file: ignored, as criu does */
	put(global, "config /nonexistent\nno-default-config\nshell-job\n");
	CHECK_INT(P("check"), 0);
	CHECK(O.shell_job);

	/* an unsupported option in a shared file only matters for its command */
	put(global, "mntns-compat-mode\n");
	CHECK_INT(P("check"), 0);
	CHECK(P("restore") < 0);
	char want[200];
	snprintf(want, sizeof(want), "%s:1: --mntns-compat-mode", global);
	CHECK_ERR(want);
}

static void expect_bad(const char *text, int line, const char *what)
{
	char want[300];

	reset_files();
	put(global, text);
	CHECK(P("dump", "-t", "1") < 0);
	snprintf(want, sizeof(want), "%s:%d: ", global, line);
	CHECK_ERR(want);
	const char *e = err_first();
	CHECK(e && !strncmp(e, want, strlen(want)));	/* FILE:LINE: first */
	CHECK_ERR(what);
}

static void test_errors(void)
{
	expect_bad("tcp-established\n\ndump\n", 3, "\"dump\" is a command");
	expect_bad("restore\n", 1, "is a command");
	expect_bad("# x\ntcp-establised\n", 2, "did you mean \"tcp-established\"");
	expect_bad("--tcp-established\n", 1, "without the leading dashes");
	expect_bad("tcp-established shell-job\n", 1, "takes no argument");
	expect_bad("images-dir\n", 1, "requires an argument (DIR)");
	expect_bad("images-dir /a /b\n", 1, "unexpected \"/b\"");
	expect_bad("work-dir \"/a b\n", 1, "unterminated");
	expect_bad("tree abc\n", 1, "invalid argument \"abc\" for \"tree\"");
	expect_bad("shell-job=1\n", 1, "takes no argument");
	expect_bad("tcp\n", 1, "ambiguous");
	expect_bad("version\n", 1, "cannot be used in a configuration file");
	expect_bad("help\n", 1, "\"help\" is a command");
	expect_bad("ghost-limit 5X\n", 1, "K, M or G");
	/* every bad line is reported; the first is the operation's error */
	expect_bad("bogus1\nshell-job\nbogus2\n", 1, "bogus1");

	/* a directory is no configuration file: refused when named, skipped
	 * (with a warning) as a default file */
	reset_files();
	CHECK(P("dump", "-t", "1", "--config", dir) < 0);
	src.env_conf = dir;
	CHECK(P("dump", "-t", "1") < 0);
	src.env_conf = NULL;
	src.global_conf = dir;
	CHECK_INT(P("dump", "-t", "1"), 0);
	reset_files();

	/* --help works even when a configuration file is broken */
	reset_files();
	put(global, "dump\n");
	CHECK_INT(P("dump", "--help"), 1);
	CHECK_INT(P("--version"), 1);
	CHECK(P("dump", "-t", "1") < 0);
}

static void test_default_sources(void)
{
	struct opts_sources s;
	char buf[256];

	setenv("HOME", "/home/someone", 1);
	setenv("CRIU_CONFIG_FILE", "/etc/some.conf", 1);
	opts_default_sources(&s, buf, sizeof(buf));
	CHECK_STR(s.global_conf, "/etc/criu/default.conf");
	CHECK_STR(s.user_conf, "/home/someone/.criu/default.conf");
	CHECK_STR(s.env_conf, "/etc/some.conf");
	unsetenv("HOME");
	unsetenv("CRIU_CONFIG_FILE");
	opts_default_sources(&s, buf, sizeof(buf));
	CHECK(s.user_conf == NULL);
	CHECK(s.env_conf == NULL);
}

int main(void)
{
	log_init(NULL, LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/cryo-opts-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(global, sizeof(global), "%s/global.conf", dir);
	snprintf(user, sizeof(user), "%s/user.conf", dir);
	snprintf(env, sizeof(env), "%s/env.conf", dir);
	snprintf(cfg, sizeof(cfg), "%s/cfg.conf", dir);
	snprintf(other, sizeof(other), "%s/other.conf", dir);

	test_default_conf_example();
	test_precedence();
	test_skipping_defaults();
	test_syntax();
	test_errors();
	test_default_sources();

	reset_files();
	rmdir(dir);
	opts_free(&O);
	return unit_done("options-config");
}
