/* "cryo help", "cryo COMMAND --help" and "--version", from the option table. */
#include "options/options.h"
#include "options/internal.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

#define WIDTH 79

void opts_print_version(FILE *f)
{
	/* Tools (runc, podman, go-criu) parse this first line as criu's. */
	fprintf(f, "Version: %s\n", CRYO_CRIU_COMPAT_VERSION);
	fprintf(f, "cryo %s\n", CRYO_VERSION);
}

/* Print @text wrapped to WIDTH, every line indented by @indent. */
static void wrap(FILE *f, const char *text, int indent)
{
	int col = 0;
	const char *p = text;

	while (*p) {
		while (*p == ' ')
			p++;
		size_t w = strcspn(p, " ");
		if (!w)
			break;
		if (col && col + 1 + (int)w > WIDTH) {
			fputc('\n', f);
			col = 0;
		}
		if (!col) {
			fprintf(f, "%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, w, f);
		col += w;
		p += w;
	}
	if (col)
		fputc('\n', f);
}

/* "-t, --tree PID", "--[no-]tcp-established", "-v[N], --verbosity[=N]" */
void opts_format_synopsis(const struct cryo_option *opt, char *buf, size_t len)
{
	size_t n = 0;

	if (opt->short_name) {
		if (opt->arg == OPT_ARG_OPTIONAL)
			n += snprintf(buf + n, len - n, "-%c[%s], ", opt->short_name, opt->metavar);
		else
			n += snprintf(buf + n, len - n, "-%c, ", opt->short_name);
	}
	n += snprintf(buf + n, len - n, "--%s%s", (opt->flags & OPTF_NEGATABLE) ? "[no-]" : "", opt->name);
	if (n >= len)
		return;
	if (opt->arg == OPT_ARG_REQUIRED)
		snprintf(buf + n, len - n, " %s", opt->metavar);
	else if (opt->arg == OPT_ARG_OPTIONAL)
		snprintf(buf + n, len - n, "[=%s]", opt->metavar);
}

bool opts_is_common(const struct cryo_option *opt)
{
	unsigned need = OPT_CMD(CMD_DUMP) | OPT_CMD(CMD_RESTORE) | OPT_CMD(CMD_CHECK);
	return (opt->commands & need) == need;
}

static bool applies(const struct cryo_option *opt, enum cryo_command cmd)
{
	if (cmd == CMD_CPUINFO_DUMP || cmd == CMD_CPUINFO_CHECK)
		return opt->commands & (OPT_CMD(CMD_CPUINFO_DUMP) | OPT_CMD(CMD_CPUINFO_CHECK));
	return opt->commands & OPT_CMD(cmd);
}

static void print_option(FILE *f, const struct cryo_option *opt)
{
	char syn[160];

	opts_format_synopsis(opt, syn, sizeof(syn));
	fprintf(f, "  %s\n", syn);
	wrap(f, opt->help, 8);
}

static void print_names(FILE *f, const char *title, enum cryo_command cmd, unsigned flag)
{
	size_t n;
	const struct cryo_option *t = opts_table(&n);
	char line[4096];
	size_t used = 0;
	bool any = false;

	used = snprintf(line, sizeof(line), "%s", title);
	for (size_t i = 0; i < n; i++) {
		if (!(t[i].flags & flag) || (t[i].flags & OPTF_HIDDEN) ||
		    (cmd != CMD_NONE && !applies(&t[i], cmd)))
			continue;
		if (used < sizeof(line))
			used += snprintf(line + used, sizeof(line) - used, "%s --%s", any ? "," : "", t[i].name);
		any = true;
	}
	if (any) {
		fputc('\n', f);
		wrap(f, line, 0);
	}
}

static void print_general(FILE *f)
{
	size_t n;
	const struct cryo_command_desc *cmds = opts_commands(&n);
	const struct cryo_option *t;

	fprintf(f, "Usage: cryo COMMAND [OPTIONS]\n"
		   "       cryo help [COMMAND]\n\n");
	wrap(f, "cryo checkpoints Linux process trees into image files and restores them. "
		"It is a drop-in replacement for criu: same commands, options, configuration "
		"files and image format. Options may come before or after the command.", 0);
	fprintf(f, "\nCommands:\n");
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s%s%s", cmds[i].name, *cmds[i].args ? " " : "", cmds[i].args);
		fprintf(f, "  %-20s %s%s\n", name, cmds[i].summary,
			cmds[i].unavailable ? " (not available)" : "");
	}
	fprintf(f, "\nCommon options:\n");
	t = opts_table(&n);
	for (size_t i = 0; i < n; i++)
		if (opts_is_common(&t[i]) && !(t[i].flags & (OPTF_HIDDEN | OPTF_NOT_YET | OPTF_IGNORED)))
			print_option(f, &t[i]);
	fputc('\n', f);
	wrap(f, "Run \"cryo help COMMAND\" (or \"cryo COMMAND --help\") for the options of a "
		"command. Options are also read from /etc/criu/default.conf, "
		"$HOME/.criu/default.conf, $CRIU_CONFIG_FILE and --config FILE, one per line "
		"without the leading dashes; see cryo(8).", 0);
}

void opts_print_help(FILE *f, enum cryo_command cmd)
{
	const struct cryo_command_desc *d = opts_command_desc(cmd);
	size_t n;
	const struct cryo_option *t = opts_table(&n);
	bool any = false;

	if (cmd == CMD_NONE || !d) {
		print_general(f);
		return;
	}
	fprintf(f, "Usage: cryo %s%s%s%s [OPTIONS]\n\n", d->name, *d->args ? " " : "", d->args,
		(cmd == CMD_DUMP || cmd == CMD_PRE_DUMP) ? " -t PID" : "");
	wrap(f, d->description, 0);
	if (d->unavailable) {
		char buf[512];
		snprintf(buf, sizeof(buf), "Not available: %s.", d->unavailable);
		fputc('\n', f);
		wrap(f, buf, 0);
	}
	if (cmd == CMD_HELP || cmd == CMD_EXEC)
		return;
	for (size_t i = 0; i < n; i++) {
		if (opts_is_common(&t[i]) || !applies(&t[i], cmd) ||
		    (t[i].flags & (OPTF_HIDDEN | OPTF_NOT_YET | OPTF_IGNORED)))
			continue;
		if (!any)
			fprintf(f, "\nOptions:\n");
		any = true;
		print_option(f, &t[i]);
	}
	fprintf(f, "\nCommon options:\n");
	for (size_t i = 0; i < n; i++)
		if (opts_is_common(&t[i]) && applies(&t[i], cmd) &&
		    !(t[i].flags & (OPTF_HIDDEN | OPTF_NOT_YET | OPTF_IGNORED)))
			print_option(f, &t[i]);
	print_names(f, "Accepted for criu compatibility but not supported yet (refused when given):",
		    cmd, OPTF_NOT_YET);
	print_names(f, "Accepted for criu compatibility, without effect in cryo:", cmd, OPTF_IGNORED);
}
