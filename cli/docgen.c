/* cryo-docgen: write the command reference from the option table, so the
 * documentation cannot drift from what the parser accepts.
 *
 *   cryo-docgen man        cryo.8 (troff, installed by meson)
 *   cryo-docgen markdown   docs/commands.md (committed; a unit test checks
 *                          that it matches)
 *   cryo-docgen table      one line per option, tab-separated: name, short
 *                          name (or -), flags (words or -), commands (for
 *                          tests/unit/options/option_readers.py)
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "options/options.h"
#include "options/internal.h"

enum fmt { MAN, MD };
static enum fmt fmt;
static bool in_list;	/* markdown: a list item was the last thing written */

/* Option groups, by the first option of each group in table order. */
static const struct { const char *first, *title; } groups[] = {
	{ "verbosity", "Common options" },
	{ "tree", "Process tree" },
	{ "file-locks", "Files, sockets and mounts" },
	{ "prev-images-dir", "Memory, incremental and remote dumps" },
	{ "all", "check options" },
	{ "cpu-cap", "CPU" },
	{ "libdir", "Accepted without effect" },
	{ "action-script", "Accepted but not supported yet" },
};

static void text(const char *s)
{
	if (fmt == MD) {
		for (; *s; s++)
			fputs(*s == '\\' ? "\\\\" : (char[2]){ *s, 0 }, stdout);
		return;
	}
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

static void end_list(void)
{
	if (in_list)
		putchar('\n');
	in_list = false;
}

static void para(const char *s)
{
	end_list();
	if (fmt == MAN)
		puts(".PP");
	text(s);
	puts(fmt == MD ? "\n" : "");
}

static void section(const char *title)
{
	if (fmt == MAN) {
		fputs(".SH ", stdout);
		for (const char *p = title; *p; p++)
			putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		putchar('\n');
	} else {
		end_list();
		printf("## %s\n\n", title);
	}
}

static void subsection(const char *title)
{
	if (fmt == MAN) {
		fputs(".SS ", stdout);
		text(title);
		putchar('\n');
	} else {
		end_list();
		printf("### %s\n\n", title);
	}
}

/* a term (bold in man, code in markdown) followed by its description */
static void item(const char *term, const char *desc, const char *extra)
{
	if (fmt == MAN) {
		puts(".TP");
		fputs("\\fB", stdout);
		text(term);
		puts("\\fR");
		text(desc);
		putchar('\n');
		if (extra) {
			puts(".br");
			text(extra);
			putchar('\n');
		}
	} else {
		printf("- `%s`: %s", term, desc);
		if (extra)
			printf(" %s", extra);
		putchar('\n');
		in_list = true;
	}
}

static void command_list(unsigned commands, char *buf, size_t len)
{
	size_t n, used = 0;
	const struct cryo_command_desc *c = opts_commands(&n);
	int count = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (c[i].cmd == CMD_HELP || c[i].cmd == CMD_EXEC || c[i].cmd == CMD_SHOW)
			continue;
		if (!(commands & OPT_CMD(c[i].cmd)))
			continue;
		used += snprintf(buf + used, len - used, "%s%s", count ? ", " : "", c[i].name);
		count++;
		if (used >= len)
			break;
	}
	if (commands == OPT_CMDS_ALL)
		snprintf(buf, len, "all");
}

static void options_reference(void)
{
	size_t n;
	const struct cryo_option *t = opts_table(&n);

	section("Options");
	para("Every long option can be abbreviated to an unambiguous prefix. Options shown "
	     "as --[no-]NAME are flags that --no-NAME switches off again (useful to override "
	     "a configuration file). An optional argument (shown as [=ARG]) must be attached: "
	     "--manage-cgroups=full, -v4. A required argument may follow as the next word or "
	     "be attached with = (long) or directly (short: -t123).");
	for (size_t i = 0; i < n; i++) {
		char syn[200], extra[512], cmds[256];

		for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
			if (!strcmp(groups[g].first, t[i].name))
				subsection(groups[g].title);
		if (t[i].flags & OPTF_HIDDEN)
			continue;
		opts_format_synopsis(&t[i], syn, sizeof(syn));
		command_list(t[i].commands, cmds, sizeof(cmds));
		if (t[i].flags & OPTF_NOT_YET)
			snprintf(extra, sizeof(extra), "Commands: %s. Refused: %s.", cmds, t[i].note);
		else if (t[i].flags & OPTF_IGNORED)
			snprintf(extra, sizeof(extra), "Commands: %s. Accepted, but %s.", cmds, t[i].note);
		else
			snprintf(extra, sizeof(extra), "Commands: %s.", cmds);
		item(syn, t[i].help, extra);
	}
}

static void commands_reference(void)
{
	size_t n;
	const struct cryo_command_desc *c = opts_commands(&n);

	section("Commands");
	for (size_t i = 0; i < n; i++) {
		char term[128], extra[600];
		snprintf(term, sizeof(term), "%s%s%s", c[i].name, *c[i].args ? " " : "", c[i].args);
		if (c[i].unavailable)
			snprintf(extra, sizeof(extra), "Not available: %s.", c[i].unavailable);
		item(term, c[i].description, c[i].unavailable ? extra : NULL);
	}
}

static void config_files(void)
{
	section("Configuration files");
	para("Options are read, in this order, later settings winning: "
	     "/etc/criu/default.conf; $HOME/.criu/default.conf; the file named by "
	     "$CRIU_CONFIG_FILE; the file given with --config FILE; then the command line. "
	     "--no-default-config skips the first two, and so does --config; "
	     "$CRIU_CONFIG_FILE is read in every case. Missing default files are skipped "
	     "silently; a missing --config or $CRIU_CONFIG_FILE file is an error. --help, "
	     "--version, --config and --no-default-config are looked for on the command line "
	     "before any file is read, so a broken file cannot hide the help.");
	para("One option per line, written without the leading dashes, its argument after "
	     "whitespace (or attached with =). Double quotes around an argument keep its "
	     "spaces; inside them \\\" is a literal quote and any other backslash is literal; "
	     "\"\" is an empty argument. A word that starts with # starts a comment, so "
	     "comments may follow an option, while a # inside a word (/a#b) is kept. Blank "
	     "lines are ignored. Commands (dump, restore, ...) are refused in a file, and so "
	     "are help and version; config and no-default-config are ignored there with a "
	     "warning, as criu ignores them. Every bad line is reported as FILE:LINE: followed "
	     "by what is wrong, and the command fails.");
	para("Differences from criu, all on input criu would silently misread: an optional "
	     "argument after whitespace (verbosity 4) is taken as the argument, where criu "
	     "increments the verbosity and drops the 4; extra words after an option are an "
	     "error, where criu ignores them; an unterminated quote is an error, where criu "
	     "keeps the quote character.");
	para("An option that cryo accepts but does not support yet is refused only when the "
	     "command is one it affects, so a file shared by dump and restore can carry "
	     "restore-only settings. Example, so that every dump and restore handles TCP "
	     "connections and shell jobs without saying so each time:");
	end_list();
	if (fmt == MAN)
		puts(".PP\n.nf\n.RS\n# /etc/criu/default.conf\ntcp\\-established\nshell\\-job\n"
		     "work\\-dir \"/var/lib/cryo/my \\e\"work\\e\" dir\"   # quoted\n.RE\n.fi");
	else
		puts("```\n# /etc/criu/default.conf\ntcp-established\nshell-job\n"
		     "work-dir \"/var/lib/cryo/my \\\"work\\\" dir\"   # quoted\n```\n");
}

static void rpc_section(void)
{
	section("RPC: swrk and service");
	para("Container runtimes do not type cryo's commands: runc and podman (through "
	     "go-criu), crun (libcriu) and pycriu start \"criu swrk FD\" with one end of a "
	     "SOCK_SEQPACKET socket pair and send criu's RPC requests over it (protobuf "
	     "messages of criu's rpc.proto; cryo's schema has the same field numbers, "
	     "lib/images/proto/rpc.proto). Other clients connect to \"cryo service\" (--address "
	     "PATH, default criu_service.socket in the work directory; or one socket passed by "
	     "systemd with LISTEN_FDS=1 and LISTEN_PID; --daemon, --pidfile). Install cryo as "
	     "criu (a criu symlink first in PATH, or runc --criu PATH) and the clients use it "
	     "unchanged.");
	para("Requests: VERSION answers the criu release whose interface cryo implements. "
	     "FEATURE_CHECK answers each feature asked about as `cryo check --feature` does: "
	     "mem_track as mem_dirty_track (pre-dump and dump --track-mem work; runc "
	     "checkpoint --pre-dump asks), lazy_pages as lazy_pages (restore --lazy-pages "
	     "works), pidfd_store true when the kernel has pidfd_open and pidfd_getfd. CHECK, "
	     "DUMP, PRE_DUMP and RESTORE run as the commands do. WAIT_PID waits for a child of "
	     "cryo and answers its wait status. SINGLE_PRE_DUMP runs one pre-dump (as "
	     "PRE_DUMP). PAGE_SERVER and PAGE_SERVER_CHLD start a page server on criu_opts.ps "
	     "(address, port; port 0 picks a free one) writing into the images directory, and "
	     "answer its pid and port: PAGE_SERVER's is in a session of its own, "
	     "PAGE_SERVER_CHLD's a child of this cryo (for WAIT_PID); it serves one dump and "
	     "exits. CPUINFO_DUMP and CPUINFO_CHECK run as cpuinfo dump and cpuinfo check "
	     "(criu_opts.cpu_cap chooses the checks). A request of an unknown type, or with a field cryo "
	     "does not know, gets success false and a message naming it. The connection ends "
	     "after the answer unless the request sets keep_open.");
	para("Options: each criu_opts field sets the option of the same meaning "
	     "(tcp_established: --tcp-established; parent_img: --prev-images-dir; log_level: "
	     "--verbosity; ...) through the same table as the command line, so a field whose "
	     "option cryo refuses is refused with the same note. images_dir_fd and work_dir_fd "
	     "are the client's descriptors (opened through /proc/CLIENT/fd); the log is "
	     "log_file (default criu.log) in the work directory, or standard error with "
	     "log_to_stderr. inherit_fd needs swrk (the descriptors are inherited). "
	     "config_file is read after the other fields and wins over them (criu's order); "
	     "the default configuration files are not read. A dump needs pid: cryo does not "
	     "dump the requesting process itself. orphan_pts_master is --orphan-pts-master: the "
	     "new pty master is sent with the orphan-pts-master notification (notify_scripts); "
	     "pidfd_store_sk is accepted and unused (there are no pre-dumps to keep pidfds "
	     "between).");
	para("Each operation runs in a process of its own, with its own options, log and "
	     "error, so a failed or crashed request never ends the service. RESTORE is run "
	     "by the process serving the connection and is always detached; over swrk the "
	     "restored root is made the client's child (--restore-sibling), as runc expects, "
	     "and criu_restore_resp.pid is its PID.");
	para("Errors: success false, cr_errno criu's code (EBADRQC for bad options, ESRCH "
	     "for a missing process, otherwise the errno of the failure) and cr_errmsg the "
	     "one-line message the command line prints for the same error.");
	para("Notifications: with notify_scripts, cryo sends criu_resp NOTIFY messages "
	     "(script, pid) and waits for the client's NOTIFY answer before it goes on; an "
	     "answer with notify_success false fails the operation (a restored tree is then "
	     "killed). Sent today: pre-dump (before the tree is frozen) and post-dump (after "
	     "the dump, with the tree already killed or left running); pre-restore, and "
	     "post-restore and post-resume once the restored tree runs. criu's other "
	     "stages (network-lock, setup-namespaces, pre-resume, ...) are not sent yet.");
	para("C programs: cryo builds libcriu.so.2, criu's client library with its API "
	     "(criu.h: criu_init_opts, criu_set_pid, criu_set_images_dir_fd, criu_dump, "
	     "criu_restore_child, criu_get_version, criu_feature_check, ... and their "
	     "criu_local_* forms; meson -Dlibcriu=true installs it and criu/criu.h), so "
	     "programs and crun built against libcriu run on cryo. Each call starts "
	     "\"cryo swrk FD\" (criu_set_service_binary names another binary; by default the "
	     "cryo installed beside the library, else cryo from PATH), or uses "
	     "criu_set_service_address / criu_set_service_fd. Return values are libcriu's: "
	     "-EBADE when cryo answered with a failure (errno is its cr_errno), "
	     "-ECONNREFUSED when cryo could not be started, -ECOMM when the connection "
	     "failed; a notify callback's non-zero return fails the operation and is "
	     "returned. criu_restore_child always runs swrk, so the restored root is the "
	     "caller's child.");
}

static void tail_sections(void)
{
	section("Environment");
	item("CRIU_CONFIG_FILE", "A configuration file read after the default ones and before "
	     "--config (also with --no-default-config).", NULL);
	item("HOME", "Locates the per-user configuration file $HOME/.criu/default.conf.", NULL);

	section("Exit status");
	para("0 on success, 1 on any failure, as criu. check exits 0 when the kernel has what "
	     "cryo needs. restore without -d waits until the restored tree exits and then exits "
	     "0, whatever the restored root's own exit code (criu does the same); the root's "
	     "status is logged at -v3.");

	section("Compatibility");
	para("cryo accepts criu's commands, option names (long and short), argument styles, "
	     "configuration files and image format, so runc, crun, podman and scripts can run "
	     "it as criu (meson -Dinstall_as_criu=true installs a criu symlink). --version "
	     "prints \"Version: X.Y\" with the criu release whose interface cryo implements, "
	     "then cryo's own version. Commands and options cryo does not implement yet are "
	     "accepted by the parser and then refused with an explanation, never silently "
	     "ignored; options without any effect in cryo are accepted with a warning.");

	section("Examples");
	end_list();
	if (fmt == MAN)
		puts(".PP\n.nf\n.RS\ncryo dump \\-t 1234 \\-D /tmp/ckpt \\-j \\-o dump.log \\-v4\n"
		     "cryo restore \\-D /tmp/ckpt \\-j \\-d\ncryo check \\-\\-all\n"
		     "cryo show /tmp/ckpt/pstree.img\ncryo help restore\n.RE\n.fi");
	else
		puts("```\ncryo dump -t 1234 -D /tmp/ckpt -j -o dump.log -v4\n"
		     "cryo restore -D /tmp/ckpt -j -d\ncryo check --all\n"
		     "cryo show /tmp/ckpt/pstree.img\ncryo help restore\n```\n");
	section("See also");
	para("criu(8), crit(1), runc(8)");
}

static void table_lines(void)
{
	static const struct { unsigned flag; const char *word; } fl[] = {
		{ OPTF_NEGATABLE, "negatable" }, { OPTF_NOT_YET, "not_yet" },
		{ OPTF_IGNORED, "ignored" }, { OPTF_CMDLINE, "cmdline" }, { OPTF_HIDDEN, "hidden" },
	};
	size_t n, nc;
	const struct cryo_option *t = opts_table(&n);
	const struct cryo_command_desc *c = opts_commands(&nc);

	for (size_t i = 0; i < n; i++) {
		bool any = false;
		printf("%s\t%c\t", t[i].name, t[i].short_name ? t[i].short_name : '-');
		for (size_t k = 0; k < sizeof(fl) / sizeof(fl[0]); k++)
			if (t[i].flags & fl[k].flag) {
				printf("%s%s", any ? "," : "", fl[k].word);
				any = true;
			}
		printf("%s\t", any ? "" : "-");
		any = false;
		for (size_t k = 0; k < nc; k++)
			if (t[i].commands & OPT_CMD(c[k].cmd)) {
				printf("%s%s", any ? "," : "", c[k].name);
				any = true;
			}
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "table")) {
		table_lines();
		return 0;
	}
	if (argc != 2 || (strcmp(argv[1], "man") && strcmp(argv[1], "markdown"))) {
		fprintf(stderr, "usage: cryo-docgen man|markdown|table\n");
		return 1;
	}
	fmt = strcmp(argv[1], "man") ? MD : MAN;

	if (fmt == MAN) {
		printf(".\\\" Generated by cryo-docgen from lib/options; do not edit.\n");
		printf(".TH CRYO 8 \"\" \"cryo %s\" \"cryo manual\"\n", CRYO_VERSION);
		puts(".SH NAME\ncryo \\- checkpoint and restore Linux process trees (criu compatible)");
		puts(".SH SYNOPSIS\n.B cryo\n.I command\n[\\fIoption\\fR ...]\n.br\n.B cryo help\n[\\fIcommand\\fR]");
	} else {
		puts("<!-- Generated by cryo-docgen from lib/options (build/cli/cryo-docgen markdown > "
		     "docs/commands.md); do not edit by hand. -->\n");
		puts("# cryo(8) command reference\n");
		puts("## Synopsis\n\n```\ncryo COMMAND [OPTION...]\ncryo help [COMMAND]\n```\n");
	}
	section("Description");
	para("cryo checkpoints a running process tree into a directory of image files and "
	     "restores it later, on the same or another machine. It is a drop-in replacement "
	     "for criu: the same commands, options, configuration files and image format. "
	     "Options may come before or after the command; \"--\" ends the options.");
	para("Paths: -D and -W are relative to the directory cryo was started in; the work "
	     "directory defaults to the images directory; -o and --pidfile are relative to "
	     "the work directory.");
	commands_reference();
	options_reference();
	config_files();
	rpc_section();
	tail_sections();
	return 0;
}
