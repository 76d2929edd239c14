/* The whole option table, walked: every option cryo does not implement
 * (OPTF_NOT_YET) is refused for each command it belongs to, wherever it is
 * given -- the command line, a configuration file, the RPC path
 * (opts_set) -- with its note; its --no- form is not refused.  Options
 * declared without effect (OPTF_IGNORED) are accepted.  Which field each
 * implemented option feeds, and the test showing its effect, is checked by
 * option_readers.py. */
#include <errno.h>
#include <unistd.h>

#include "test_common.h"
#include "util/log.h"

static char conf[64];

/* A value the option's own parser accepts. */
static const char *sample(const struct cryo_option *opt)
{
	static const struct { const char *name, *val; } v[] = {
		{ "port", "1234" }, { "status-fd", "3" }, { "pre-dump-mode", "read" },
		{ "join-ns", "net:/proc/1/ns/net" }, { "veth-pair", "eth0=veth0" },
		{ "ext-mount-map", "/mnt:name" }, { "empty-ns", "net" },
	};
	if (opt->arg != OPT_ARG_REQUIRED)
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(v); i++)
		if (!strcmp(v[i].name, opt->name))
			return v[i].val;
	return "/x";
}

/* argv for "cryo COMMAND ..." with what the command itself needs. */
static int command_argv(const struct cryo_command_desc *c, char **argv)
{
	int n = 0;
	argv[n++] = "cryo";
	argv[n++] = "--no-default-config";
	argv[n++] = (char *)c->name;
	if (c->cmd == CMD_DUMP || c->cmd == CMD_PRE_DUMP) {
		argv[n++] = "-t";
		argv[n++] = "1";
	}
	if (c->cmd == CMD_PAGE_SERVER) {
		argv[n++] = "--port";
		argv[n++] = "1";
	}
	if (c->cmd == CMD_MIGRATE) {
		argv[n++] = "--listen";
		argv[n++] = "1";
	}
	return n;
}

static void check_refused(const struct cryo_option *opt, const char *where, const char *cmd)
{
	char want[256];
	const char *e = err_first();

	snprintf(want, sizeof(want), "--%s: %s", opt->name, opt->note);
	unit_checks++;
	if (!e || !strstr(e, want)) {
		unit_failures++;
		fprintf(stderr, "FAIL %s %s --%s: not refused with its note (\"%s\")\n", where, cmd,
			opt->name, e ? e : "accepted");
	}
}

static void walk(void)
{
	size_t n, nc;
	const struct cryo_option *t = opts_table(&n);
	const struct cryo_command_desc *cmds = opts_commands(&nc);
	int refusals = 0;

	for (size_t i = 0; i < n; i++) {
		const struct cryo_option *opt = &t[i];
		const char *val = sample(opt);
		char arg[256], line[300];

		if (!(opt->flags & (OPTF_NOT_YET | OPTF_IGNORED)))
			continue;
		CHECK(opt->note && *opt->note);
		for (size_t k = 0; k < nc; k++) {
			const struct cryo_command_desc *c = &cmds[k];
			char *argv[16];
			int argc;

			if (!(opt->commands & OPT_CMD(c->cmd)) || c->unavailable ||
			    c->cmd == CMD_HELP || c->min_args)
				continue;
			snprintf(arg, sizeof(arg), "--%s%s%s", opt->name, val ? "=" : "", val ? val : "");

			/* the command line */
			argc = command_argv(c, argv);
			argv[argc++] = arg;
			int ret = parse_argv(NULL, argc, argv);
			if (opt->flags & OPTF_IGNORED) {
				CHECK_INT(ret, 0);
				continue;
			}
			CHECK(ret < 0);
			check_refused(opt, "command line", c->name);
			refusals++;

			/* a configuration file */
			snprintf(line, sizeof(line), "%s%s%s\n", opt->name, val ? " " : "", val ? val : "");
			FILE *f = fopen(conf, "w");
			CHECK(f != NULL);
			if (!f)
				return;
			fputs(line, f);
			fclose(f);
			struct opts_sources src = { .env_conf = conf };
			argc = command_argv(c, argv);
			CHECK(parse_argv(&src, argc, argv) < 0);
			check_refused(opt, "configuration file", c->name);
			char src_prefix[128];
			snprintf(src_prefix, sizeof(src_prefix), "%s:1: --%s", conf, opt->name);
			CHECK_ERR(src_prefix);

			/* the RPC path: set by name, validated for the command */
			opts_free(&O);
			opts_init(&O);
			CHECK_INT(opts_set(&O, opt->name, val, "RPC"), 0);
			O.command = c->cmd;
			if (c->cmd == CMD_DUMP || c->cmd == CMD_PRE_DUMP)
				O.pid = 1;
			if (c->cmd == CMD_PAGE_SERVER)
				O.port = 1;
			if (c->cmd == CMD_MIGRATE)
				O.migrate_listen = 1;
			CHECK(opts_validate(&O) < 0);
			check_refused(opt, "RPC", c->name);

			/* --no-NAME sets nothing to refuse */
			if (opt->flags & OPTF_NEGATABLE) {
				snprintf(arg, sizeof(arg), "--no-%s", opt->name);
				argc = command_argv(c, argv);
				argv[argc++] = arg;
				CHECK_INT(parse_argv(NULL, argc, argv), 0);
			}
		}
	}
	printf("option table: %zu options, %d refusals checked\n", n, refusals);
	/* a floor that shows the loop ran: it sinks as options get implemented
	 * (62 with the mount namespace work, 37 once merged with s7/mig's, 18
	 * with --empty-ns, --lsm-*, --exec-cmd and --skip-file-rwx-check) */
	CHECK(refusals > 8);
}

int main(void)
{
	log_init(NULL, LOG_ERROR);	/* keep expected warnings quiet */
	snprintf(conf, sizeof(conf), "/tmp/cryo-opt-table-%d.conf", (int)getpid());
	walk();
	unlink(conf);
	opts_free(&O);
	return unit_done("options-table");
}
