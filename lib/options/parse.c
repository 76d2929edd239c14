/* Command line and configuration files, with criu's rules:
 *
 *   /etc/criu/default.conf, $HOME/.criu/default.conf   (skipped with
 *        --no-default-config or --config)
 *   $CRIU_CONFIG_FILE                                   (always read if set)
 *   --config FILE
 *   the command line
 *
 * applied in this order, later settings winning.  Options may come before or
 * after the command (getopt_long permutes argv for criu); long options may be
 * abbreviated to an unambiguous prefix; optional arguments must be attached
 * (--manage-cgroups=full, -v4); "--" ends the options.
 */
#include "options/options.h"
#include "options/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "util/util.h"

/* ---- errors and sources -------------------------------------------------- */

/* Parsing happens before logging is set up: errors go to stderr, and to
 * the running operation's error object (log_capture_errors). */
void opts_error(bool quiet, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (quiet)
		return;		/* a pre-scan: the real pass reports it */
	log_record_error(-EINVAL, "options", msg);
	fprintf(stderr, "%s\n", msg);
}

void opts_set_source(struct cryo_opts *o, const char *src)
{
	snprintf(o->cur_source, sizeof(o->cur_source), "%s", src);
}

const char *opts_current_source(const struct cryo_opts *o)
{
	return o->cur_source[0] ? o->cur_source : "command line";
}

/* ---- the command line ---------------------------------------------------- */

struct argv_scan {
	bool help, version, no_default_config;
	const char *config;
	int npos;
	char **pos;		/* positional arguments (command and its args) */
	const struct cryo_command_desc *cmd;	/* from the pre-scan, may be NULL */
};

static void opt_display(const struct cryo_option *opt, bool neg, char *buf, size_t len)
{
	if (opt->short_name)
		snprintf(buf, len, "-%c/--%s", opt->short_name, opt->name);
	else
		snprintf(buf, len, "--%s%s", neg ? "no-" : "", opt->name);
}

static void warn_not_applicable(const struct argv_scan *sc, const struct cryo_option *opt, bool neg)
{
	char name[160];

	if (!sc->cmd || (opt->flags & OPTF_CMDLINE))
		return;
	if (opt->commands & OPT_CMD(sc->cmd->cmd))
		return;
	if (sc->cmd->cmd == CMD_CPUINFO_DUMP && (opt->commands & OPT_CMD(CMD_CPUINFO_CHECK)))
		return;
	opt_display(opt, neg, name, sizeof(name));
	pr_warn("option %s has no effect on the %s command", name, sc->cmd->name);
}

/* Handle one recognized option.  In the pre-scan (!apply) only note what
 * must be known before configuration files are read. */
static int take_option(struct cryo_opts *o, struct argv_scan *sc, bool apply,
		       const struct cryo_option *opt, bool neg, const char *val)
{
	char err[256], name[160];

	if (!apply) {
		if (!strcmp(opt->name, "help"))
			sc->help = true;
		else if (!strcmp(opt->name, "version"))
			sc->version = true;
		else if (!strcmp(opt->name, "config"))
			sc->config = val;
		else if (!strcmp(opt->name, "no-default-config"))
			sc->no_default_config = true;
		return 0;
	}
	if (opts_apply(o, opt, val, neg, err, sizeof(err))) {
		opt_display(opt, neg, name, sizeof(name));
		if (val)
			opts_error(false, "Error: invalid argument \"%s\" for %s: %s", val, name, err);
		else
			opts_error(false, "Error: option %s %s", name, err);
		return -EINVAL;
	}
	warn_not_applicable(sc, opt, neg);
	return 0;
}

static int walk_argv(struct cryo_opts *o, int argc, char **argv, bool apply, struct argv_scan *sc)
{
	bool only_positional = false;
	bool quiet = !apply;

	sc->npos = 0;
	opts_set_source(o, "command line");
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];

		if (only_positional || a[0] != '-' || a[1] == '\0') {
			sc->pos[sc->npos++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_positional = true;
			continue;
		}
		if (a[1] == '-') {
			/* --name, --name=value, --name value */
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const char *val = eq ? eq + 1 : NULL;
			bool neg, ambiguous;
			const struct cryo_option *opt = opts_find(name, len, &neg, &ambiguous);

			if (!opt) {
				if (ambiguous) {
					char list[512];
					opts_prefix_matches(name, len, list, sizeof(list));
					opts_error(quiet, "Error: option \"--%.*s\" is ambiguous; it could be %s",
						   (int)len, name, list);
				} else {
					const char *s = opts_suggest(name, len);
					if (s)
						opts_error(quiet, "Error: unknown option \"--%.*s\"; did you mean \"--%s\"?",
							   (int)len, name, s);
					else
						opts_error(quiet, "Error: unknown option \"--%.*s\"; run \"cryo help\" "
							   "for the list of options", (int)len, name);
				}
				if (apply)
					return -EINVAL;
				continue;
			}
			if (opt->arg == OPT_ARG_NONE && val) {
				opts_error(quiet, "Error: option --%s%s takes no argument (got \"%s\")",
					   neg ? "no-" : "", opt->name, val);
				if (apply)
					return -EINVAL;
				continue;
			}
			if (opt->arg == OPT_ARG_REQUIRED && !val) {
				if (i + 1 >= argc) {
					opts_error(quiet, "Error: option --%s requires an argument (%s)",
						   opt->name, opt->metavar);
					if (apply)
						return -EINVAL;
					continue;
				}
				val = argv[++i];
			}
			if (take_option(o, sc, apply, opt, neg, val))
				return -EINVAL;
			continue;
		}
		/* a cluster of short options: -dj, -t123, -t 123, -v4, -vvv */
		for (int j = 1; a[j]; j++) {
			const struct cryo_option *opt = opts_find_short(a[j]);
			const char *val = NULL;

			if (!opt) {
				opts_error(quiet, "Error: unknown option \"-%c\"%s%s; run \"cryo help\" for the list of options",
					   a[j], j > 1 ? " in " : "", j > 1 ? a : "");
				if (apply)
					return -EINVAL;
				break;
			}
			if (opt->arg != OPT_ARG_NONE) {
				if (a[j + 1])
					val = a + j + 1;
				else if (opt->arg == OPT_ARG_REQUIRED) {
					if (i + 1 >= argc) {
						opts_error(quiet, "Error: option -%c (--%s) requires an argument (%s)",
							   a[j], opt->name, opt->metavar);
						if (apply)
							return -EINVAL;
						break;
					}
					val = argv[++i];
				}
			}
			if (take_option(o, sc, apply, opt, false, val))
				return -EINVAL;
			if (opt->arg != OPT_ARG_NONE)
				break;	/* the rest of the word was its argument */
		}
	}
	return 0;
}

/* ---- configuration files ------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

#define MAX_WORDS 16

/* Split a line into words in place, as criu does: blanks separate words; a
 * word that starts with '"' runs to the next '"' that is not escaped as \"
 * (other backslashes are literal), "" is an empty word; a word that starts
 * with '#' starts a comment.  Returns the word count or -1 (*why set). */
static int split_line(char *line, char **words, const char **why)
{
	char *p = line;
	int n = 0;

	for (;;) {
		while (is_blank(*p))
			p++;
		if (!*p || *p == '#')
			return n;
		if (n == MAX_WORDS) {
			*why = "too many words (one option and its argument per line)";
			return -1;
		}
		if (*p == '"') {
			char *out = p, *in = p + 1;
			words[n++] = out;
			for (;;) {
				if (!*in || *in == '\n') {
					*why = "unterminated quoted string (a closing \" is missing)";
					return -1;
				}
				if (in[0] == '\\' && in[1] == '"') {
					*out++ = '"';
					in += 2;
					continue;
				}
				if (*in == '"')
					break;
				*out++ = *in++;
			}
			*out = '\0';
			p = in + 1;	/* a new word may start right after the quote */
			continue;
		}
		words[n++] = p;
		while (*p && !is_blank(*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
}

static int config_line(struct cryo_opts *o, const char *path, int lineno, char *line)
{
	char *words[MAX_WORDS], err[256];
	const char *why = NULL, *val = NULL;
	int n = split_line(line, words, &why);
	bool neg, ambiguous;

	if (n < 0) {
		opts_error(false, "%s:%d: %s", path, lineno, why);
		return -EINVAL;
	}
	if (n == 0)
		return 0;

	char *name = words[0];
	char *eq = strchr(name, '=');
	int nextra = n - 1;
	if (eq) {
		*eq = '\0';
		val = eq + 1;
	}
	if (name[0] == '-') {
		const char *bare = name + strspn(name, "-");
		opts_error(false, "%s:%d: write options without the leading dashes: \"%s\" instead of \"%s\"",
			   path, lineno, bare, name);
		return -EINVAL;
	}
	const struct cryo_option *opt = opts_find(name, strlen(name), &neg, &ambiguous);
	/* "page-server" and "lazy-pages" name both a command and an option:
	 * criu reads every line as an option, so the option it is */
	if (opts_command_find(name) &&
	    !(opt && !neg && !strcmp(opt->name, name) && !(opt->flags & OPTF_CMDLINE))) {
		opts_error(false, "%s:%d: \"%s\" is a command; commands are only accepted on the "
			   "command line, configuration files hold options", path, lineno, name);
		return -EINVAL;
	}
	if (!opt) {
		if (ambiguous) {
			char list[512];
			opts_prefix_matches(name, strlen(name), list, sizeof(list));
			opts_error(false, "%s:%d: option \"%s\" is ambiguous; it could be %s",
				   path, lineno, name, list);
		} else {
			const char *s = opts_suggest(name, strlen(name));
			opts_error(false, "%s:%d: unknown option \"%s\"%s%s%s", path, lineno, name,
				   s ? "; did you mean \"" : "", s ? s : "", s ? "\"?" : "");
		}
		return -EINVAL;
	}
	if (opt->flags & OPTF_CMDLINE) {
		if (!strcmp(opt->name, "help") || !strcmp(opt->name, "version")) {
			opts_error(false, "%s:%d: \"%s\" cannot be used in a configuration file",
				   path, lineno, opt->name);
			return -EINVAL;
		}
		/* criu ignores these inside files; say so instead of silently */
		pr_warn("%s:%d: \"%s\" only works on the command line; ignored here",
			path, lineno, opt->name);
		return 0;
	}
	if (opt->arg == OPT_ARG_NONE) {
		if (val || nextra) {
			opts_error(false, "%s:%d: option \"%s\" takes no argument, but \"%s\" follows it "
				   "(one option per line)", path, lineno, words[0], val ? val : words[1]);
			return -EINVAL;
		}
	} else {
		if (!val && nextra) {
			val = words[1];
			nextra--;
		}
		if (nextra) {
			opts_error(false, "%s:%d: unexpected \"%s\" after the argument of \"%s\" "
				   "(quote arguments that contain spaces)", path, lineno,
				   words[n - nextra], opt->name);
			return -EINVAL;
		}
		if (!val && opt->arg == OPT_ARG_REQUIRED) {
			opts_error(false, "%s:%d: option \"%s\" requires an argument (%s)",
				   path, lineno, opt->name, opt->metavar);
			return -EINVAL;
		}
	}

	char src[512];
	snprintf(src, sizeof(src), "%s:%d", path, lineno);
	opts_set_source(o, src);
	if (opts_apply(o, opt, val, neg, err, sizeof(err))) {
		if (val)
			opts_error(false, "%s:%d: invalid argument \"%s\" for \"%s\": %s",
				   path, lineno, val, opt->name, err);
		else
			opts_error(false, "%s:%d: option \"%s\" %s", path, lineno, opt->name, err);
		return -EINVAL;
	}
	return 0;
}

int opts_apply_config_file(struct cryo_opts *o, const char *path, bool must_exist)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, ret = 0;

	if (!f) {
		int e = errno;
		if (!must_exist && e == ENOENT)
			return 0;
		if (!must_exist) {
			/* criu skips unreadable default files silently */
			pr_warn("can't read configuration file %s: %s; skipping it", path, strerror(e));
			return 0;
		}
		opts_error(false, "Error: can't read configuration file %s: %s", path, strerror(e));
		return -e;
	}
	/* fopen() takes a directory; reading it then fails as if it were empty */
	struct stat st;
	if (!fstat(fileno(f), &st) && S_ISDIR(st.st_mode)) {
		fclose(f);
		if (!must_exist) {
			pr_warn("configuration file %s is a directory; skipping it", path);
			return 0;
		}
		opts_error(false, "Error: configuration file %s is a directory: name a file", path);
		return -EISDIR;
	}
	pr_debug("Parsing configuration file %s", path);
	errno = 0;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		if (config_line(o, path, lineno, line))
			ret = -EINVAL;	/* report every bad line, then fail */
	}
	if (ferror(f)) {
		int e = errno ? errno : EIO;
		opts_error(false, "Error: can't read configuration file %s: %s", path, strerror(e));
		ret = -e;
	}
	free(line);
	fclose(f);
	opts_set_source(o, "command line");
	return ret;
}

/* ---- the whole sequence -------------------------------------------------- */

struct opts_sources *opts_default_sources(struct opts_sources *s, char *buf, size_t len)
{
	const char *home = getenv("HOME");

	s->global_conf = OPTS_GLOBAL_CONFIG;
	s->user_conf = NULL;
	if (home && *home) {
		snprintf(buf, len, "%s/%s", home, OPTS_USER_CONFIG);
		s->user_conf = buf;
	}
	s->env_conf = getenv(OPTS_CONFIG_ENV);
	return s;
}

static const struct cryo_command_desc *command_or_complain(const char *name)
{
	const struct cryo_command_desc *d = opts_command_find(name);
	size_t n, best_d = SIZE_MAX;
	const char *best = NULL;

	if (d)
		return d;
	const struct cryo_command_desc *all = opts_commands(&n);
	for (size_t i = 0; i < n; i++) {
		size_t dist = opts_edit_distance(name, strlen(name), all[i].name, strlen(all[i].name));
		if (dist < best_d) {
			best_d = dist;
			best = all[i].name;
		}
	}
	if (best && best_d <= MAX((size_t)2, strlen(name) / 3))
		opts_error(false, "Error: unknown command \"%s\"; did you mean \"%s\"?", name, best);
	else
		opts_error(false, "Error: unknown command \"%s\"; run \"cryo help\" for the list of commands", name);
	return NULL;
}

static int set_command(struct cryo_opts *o, struct argv_scan *sc)
{
	const struct cryo_command_desc *d;
	int nargs = sc->npos - 1;

	if (sc->npos == 0) {
		opts_error(false, "Error: no command given; usage: cryo COMMAND [OPTIONS] "
			   "(\"cryo help\" lists the commands)");
		return -EINVAL;
	}
	d = command_or_complain(sc->pos[0]);
	if (!d)
		return -EINVAL;
	if (o->exec_cmd && d->cmd == CMD_RESTORE && nargs >= 1) {
		/* restore --exec-cmd -- CMD ARGS: the rest is the command */
		char **v = calloc(nargs + 1, sizeof(char *));
		if (!v)
			return -ENOMEM;
		for (int i = 0; i < nargs; i++)
			if (!(v[i] = strdup(sc->pos[1 + i]))) {
				for (int j = 0; j < i; j++)
					free(v[j]);
				free(v);
				return -ENOMEM;
			}
		if (o->exec_argv)
			for (char **p = o->exec_argv; *p; p++)
				free(*p);
		free(o->exec_argv);
		o->exec_argv = v;
		nargs = 0;
	}
	if (nargs > d->max_args) {
		char extra[512] = "";
		size_t used = 0;
		for (int i = 1 + d->max_args; i < sc->npos && used < sizeof(extra) - 1; i++)
			used += snprintf(extra + used, sizeof(extra) - used, " \"%s\"", sc->pos[i]);
		opts_error(false, "Error: excessive parameter%s for command %s:%s (usage: cryo %s%s%s [OPTIONS])",
			   nargs - d->max_args > 1 ? "s" : "", d->name, extra, d->name,
			   *d->args ? " " : "", d->args);
		return -EINVAL;
	}
	if (nargs < d->min_args) {
		opts_error(false, "Error: command %s needs an argument: cryo %s %s", d->name, d->name, d->args);
		return -EINVAL;
	}
	o->command = d->cmd;
	free(o->command_arg);
	o->command_arg = nargs ? strdup(sc->pos[1]) : NULL;
	if (o->exec_cmd && d->cmd != CMD_RESTORE) {
		opts_error(false, "Error: --exec-cmd is available for the restore command only");
		return -EINVAL;
	}
	if (o->exec_cmd && !o->exec_argv) {
		opts_error(false, "Error: --exec-cmd requires a command: cryo restore [OPTIONS] "
			   "--exec-cmd -- COMMAND [ARGS]");
		return -EINVAL;
	}
	if (nargs && !o->command_arg)
		return -ENOMEM;

	if (d->cmd == CMD_CPUINFO_DUMP) {
		if (!strcmp(o->command_arg, "dump"))
			o->command = CMD_CPUINFO_DUMP;
		else if (!strcmp(o->command_arg, "check"))
			o->command = CMD_CPUINFO_CHECK;
		else {
			opts_error(false, "Error: cpuinfo needs \"dump\" or \"check\", not \"%s\"", o->command_arg);
			return -EINVAL;
		}
	} else if (d->cmd == CMD_SWRK) {
		char *end;
		long fd = strtol(o->command_arg, &end, 10);
		if (*end || end == o->command_arg || fd < 0 || fd > 1 << 20) {
			opts_error(false, "Error: swrk needs a file descriptor number, not \"%s\"", o->command_arg);
			return -EINVAL;
		}
		o->swrk_fd = fd;
	} else if (d->cmd == CMD_SERVICE && o->address) {
		free(o->address_socket);
		o->address_socket = strdup(o->address);
	}
	return 0;
}

/* --external TYPE[...]: only the types cryo acts on are accepted (file, tty,
 * net and unix on dump, unix, veth and macvlan on restore); criu's others are
 * refused by name. */
static int validate_external(const struct cryo_opts *o)
{
	static const struct { const char *type, *what; } kinds[] = {
		{ "dev", "external devices of mount namespaces are not implemented yet" },
		{ "veth", "a veth's outside end is named at restore (veth[IN]:OUT)" },
		{ "macvlan", "a macvlan's host device is named at restore (macvlan[IN]:HOSTIF)" },
	};
	bool dump = o->command == CMD_DUMP || o->command == CMD_PRE_DUMP;

	if (!dump && o->command != CMD_RESTORE)
		return 0;
	for (int i = 0; i < o->external.n; i++) {
		const char *e = o->external.v[i];
		size_t tl = strcspn(e, "[");
		const char *what = NULL;

		if (tl == 4 && !strncmp(e, "unix", 4))
			continue;
		if (!e[tl]) {
			/* not TYPE[ID]: criu keeps it, and no lookup ever finds it */
			pr_warn("--external %s is not of the form TYPE[ID]: it names no resource "
				"and is not used", e);
			continue;
		}
		if (tl == 3 && !strncmp(e, "mnt", 3)) {
			/* mnt[MOUNTPOINT]:KEY at dump, mnt[KEY]:PATH at restore
			 * (lib/ns/mnt_dump.c); mnt[] (criu: find them) is what
			 * a dump does anyway */
			const char *end = strchr(e, ']');
			if ((dump && !strcmp(e, "mnt[]")) ||
			    (end && end > e + 4 && end[1] == ':' && end[2]))
				continue;
			opts_error(false, "Error: --external %s: expected mnt[MOUNTPOINT]:KEY on dump, "
				   "mnt[KEY]:PATH on restore", e);
			return -EINVAL;
		}
		if (dump && tl == 4 && !strncmp(e, "file", 4))
			continue;
		if (dump && tl == 3 && !strncmp(e, "tty", 3))
			continue;
		if (tl == 4 && !strncmp(e, "veth", 4)) {	/* a dump has no use for it */
			const char *c = strstr(e, "]:");
			if (e[5] != ']' && c && c[2])
				continue;
			what = "expected veth[IN]:OUT, the device in the namespace and its peer's name";
		}
		if (!dump && tl == 7 && !strncmp(e, "macvlan", 7)) {	/* lib/ns/net_link.c */
			const char *c = strstr(e, "]:");
			if (e[8] != ']' && c && c[2])
				continue;
			what = "expected macvlan[IN]:HOSTIF, the device in the namespace and the one "
			       "of cryo's namespace to make it on";
		}
		if (dump && tl == 3 && !strncmp(e, "net", 3)) {
			char *end;
			if (isdigit((unsigned char)e[4]) && strtoull(e + 4, &end, 10) &&
			    !strncmp(end, "]:", 2) && end[2])
				continue;
			what = "expected net[INODE]:KEY, INODE the network namespace's (stat -L -c %i "
			       "/proc/PID/ns/net)";
		}
		if (!dump && tl == 3 && !strncmp(e, "net", 3))
			what = "an external network namespace is named at dump; restore takes it with "
			       "--inherit-fd fd[N]:KEY or --join-ns net:PATH";
		for (size_t k = 0; !what && k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (strlen(kinds[k].type) == tl && !strncmp(e, kinds[k].type, tl))
				what = kinds[k].what;
		if (!what && tl == 4 && !strncmp(e, "file", 4))
			what = "external files are named at dump; restore takes them with "
			       "--inherit-fd fd[N]:file[MNTID:INODE]";
		if (!what && tl == 3 && !strncmp(e, "tty", 3))
			what = "external terminals are named at dump; restore takes them with "
			       "--inherit-fd fd[N]:tty[RDEV:DEV]";
		opts_error(false, "Error: --external %s: %s; run %s without it", e,
			   what ? what : "cryo knows no external resource of this type",
			   opts_command_name(o->command));
		return -EINVAL;
	}
	return 0;
}

int opts_validate(struct cryo_opts *o)
{
	size_t n;
	const struct cryo_option *table = opts_table(&n);
	const char *cmd = opts_command_name(o->command);
	const struct cryo_command_desc *d = opts_command_desc(o->command);
	int ret = 0;

	/* the command first: its options do not matter if it can't run */
	if (d && d->unavailable) {
		opts_error(false, "Error: %s", d->unavailable);
		return -EINVAL;
	}
	for (int i = 0; i < o->unsupported_opts.n; i++) {
		const struct cryo_option *opt = NULL;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(table[j].name, o->unsupported_opts.v[i]))
				opt = &table[j];
		if (!opt || !(opt->commands & OPT_CMD(o->command)))
			continue;
		const char *src = o->unsupported_srcs.v[i];
		bool cmdline = !strcmp(src, "command line");
		if (opt->flags & OPTF_NOT_YET) {
			opts_error(false, "Error: %s%s--%s: %s; %s %s without it",
				   cmdline ? "" : src, cmdline ? "" : ": ", opt->name, opt->note,
				   cmdline ? "run" : "remove it there, or run", cmd);
			ret = -EINVAL;
		} else {
			pr_warn("%s%s--%s: %s", cmdline ? "" : src, cmdline ? "" : ": ", opt->name, opt->note);
		}
	}
	if (ret)
		return ret;
	ret = validate_external(o);
	if (ret)
		return ret;

	switch (o->command) {
	case CMD_DUMP:
	case CMD_PRE_DUMP:
		if (!o->pid) {
			opts_error(false, "Error: %s needs the root of the process tree: -t PID", cmd);
			return -EINVAL;
		}
		if (o->page_server && o->ps_socket < 0 && (!o->address || !o->port)) {
			opts_error(false, "Error: %s --page-server needs the page server's --address "
				   "and --port (or a connected socket: --ps-socket FD)", cmd);
			return -EINVAL;
		}
		if (o->lazy_pages && (o->command == CMD_PRE_DUMP || o->page_server ||
				      o->leave_running)) {
			opts_error(false, "Error: %s --lazy-pages with %s is not implemented yet; "
				   "dump --lazy-pages --port N alone serves the memory of a full dump",
				   cmd, o->command == CMD_PRE_DUMP ? "pre-dump" :
				   o->page_server ? "--page-server" : "--leave-running");
			return -EINVAL;
		}
		if (o->lazy_pages && !o->port) {
			opts_error(false, "Error: dump --lazy-pages needs the --port (and --address) "
				   "to serve the memory on");
			return -EINVAL;
		}
		if (!o->page_server && !o->lazy_pages && (o->ps_socket >= 0 || o->port))
			pr_warn("--port and --ps-socket only matter with --page-server: %s writes "
				"the pages to the images directory", cmd);
		if (!o->page_server && !o->lazy_pages && o->tls)
			pr_warn("--tls only matters with --page-server or --lazy-pages: %s writes "
				"the pages to the images directory, no connection to protect", cmd);
		break;
	case CMD_PAGE_SERVER:
		if (o->lazy_pages) {
			opts_error(false, "Error: page-server --lazy-pages (serving the pages of a lazy "
				   "restore from here) is not implemented yet; run page-server without it");
			return -EINVAL;
		}
		if (o->ps_socket < 0 && !o->port && !o->port_any) {
			opts_error(false, "Error: page-server needs the --port to listen on (or a "
				   "connected socket: --ps-socket FD)");
			return -EINVAL;
		}
		break;
	case CMD_LAZY_PAGES:
		if (o->page_server && (!o->address || !o->port)) {
			opts_error(false, "Error: lazy-pages --page-server needs the --address and "
				   "--port of the dump --lazy-pages serving the pages");
			return -EINVAL;
		}
		if (!o->page_server && (o->address || o->port))
			pr_warn("--address and --port only matter with --page-server: lazy-pages "
				"reads the pages images of the work directory");
		if (!o->page_server && o->tls)
			pr_warn("--tls only matters with --page-server: lazy-pages reads the pages "
				"images of the work directory, no connection to protect");
		break;
	case CMD_MIGRATE:
		if (!!o->migrate_to == !!o->migrate_listen) {
			opts_error(false, "Error: migrate needs either --to HOST:PORT (the source, with "
				   "-t PID) or --listen PORT (the destination)");
			return -EINVAL;
		}
		if (o->migrate_to && !o->pid) {
			opts_error(false, "Error: migrate --to needs the root of the process tree: -t PID");
			return -EINVAL;
		}
		if (o->page_server || o->prev_images_dir || o->track_mem || o->leave_running ||
		    o->leave_stopped || o->ps_socket >= 0) {
			opts_error(false, "Error: migrate runs its own pre-dumps and dump: --page-server, "
				   "--ps-socket, --prev-images-dir, --track-mem, --leave-running and "
				   "--leave-stopped are not for it (the source tree is killed once "
				   "the destination runs it, and left running on a failure)");
			return -EINVAL;
		}
		break;
	case CMD_RESTORE:
		if (o->restore_sibling && !o->restore_detached) {
			opts_error(false, "Error: --restore-sibling only makes sense with --restore-detached (-d)");
			return -EINVAL;
		}
		if (o->pid)
			pr_warn("-t/--tree is ignored by restore (the tree comes from the images)");
		if (o->exec_cmd && (o->restore_detached || o->pid_ns)) {
			opts_error(false, "Error: %s and --exec-cmd cannot be used together: the "
				   "command takes cryo's place as the restored root's parent",
				   o->restore_detached ? "--restore-detached" : "--pid-ns");
			return -EINVAL;
		}
		break;
	default:
		break;
	}
	return 0;
}

int opts_parse(struct cryo_opts *o, int argc, char **argv, const struct opts_sources *src)
{
	struct argv_scan sc = { 0 };
	int ret;

	sc.pos = calloc(argc + 1, sizeof(char *));
	if (!sc.pos)
		return -ENOMEM;

	/* Pre-scan, as criu does, so --help, --version, --config and
	 * --no-default-config are known before any file is read. */
	walk_argv(o, argc, argv, false, &sc);
	if (sc.help || (sc.npos && !strcmp(sc.pos[0], "help"))) {
		const char *about = NULL;
		if (sc.npos && !strcmp(sc.pos[0], "help"))
			about = sc.npos > 1 ? sc.pos[1] : NULL;
		else if (sc.npos)
			about = sc.pos[0];
		if (sc.npos > 2 && !strcmp(sc.pos[0], "help")) {
			opts_error(false, "Error: excessive parameters for command help (usage: cryo help [COMMAND])");
			ret = -EINVAL;
			goto out;
		}
		if (about) {
			const struct cryo_command_desc *d = command_or_complain(about);
			if (!d) {
				ret = -EINVAL;
				goto out;
			}
			opts_print_help(stdout, d->cmd);
		} else {
			opts_print_help(stdout, CMD_NONE);
		}
		ret = 1;
		goto out;
	}
	if (sc.version) {
		opts_print_version(stdout);
		ret = 1;
		goto out;
	}
	if (sc.npos)
		sc.cmd = opts_command_find(sc.pos[0]);

	if (!sc.no_default_config && !sc.config) {
		if (src->global_conf && (ret = opts_apply_config_file(o, src->global_conf, false)))
			goto out;
		if (src->user_conf && (ret = opts_apply_config_file(o, src->user_conf, false)))
			goto out;
	}
	if (src->env_conf && (ret = opts_apply_config_file(o, src->env_conf, true)))
		goto out;
	if (sc.config && (ret = opts_apply_config_file(o, sc.config, true)))
		goto out;

	ret = walk_argv(o, argc, argv, true, &sc);
	if (ret)
		goto out;
	ret = set_command(o, &sc);
	if (ret)
		goto out;
	ret = opts_validate(o);
out:
	free(sc.pos);
	if (ret < 0)
		ret = -EINVAL;
	return ret;
}

int opts_parse_cmdline(struct cryo_opts *o, int argc, char **argv)
{
	struct opts_sources s;
	char buf[4096];

	return opts_parse(o, argc, argv, opts_default_sources(&s, buf, sizeof(buf)));
}
