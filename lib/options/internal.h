/* Shared between the files of lib/options; not for other subsystems. */
#ifndef CRYO_OPTIONS_INTERNAL_H
#define CRYO_OPTIONS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options/options.h"

/* Validate and store one option (see struct cryo_option.set). */
int opts_apply(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
	       bool neg, char *err, size_t errlen);

/* Report a parse error: to stderr and to the operation's error object
 * (util/log.h), unless @quiet (a pre-scan whose errors the real pass
 * reports). */
void opts_error(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where the option being applied comes from ("command line", "FILE:LINE"). */
void opts_set_source(struct cryo_opts *o, const char *src);
const char *opts_current_source(const struct cryo_opts *o);

/* "16M" -> 16777216; K, M, G (either case) suffixes. */
int opts_parse_size(const char *s, uint64_t *out);

/* Writes "--a, --b" for every option name starting with @name; returns count. */
int opts_prefix_matches(const char *name, size_t len, char *out, size_t outlen);

size_t opts_edit_distance(const char *a, size_t la, const char *b, size_t lb);

/* help.c: "-t, --tree PID" style synopsis; options shared by all commands. */
void opts_format_synopsis(const struct cryo_option *opt, char *buf, size_t len);
bool opts_is_common(const struct cryo_option *opt);

/* opts_migrate.c: the setters of `cryo migrate`'s own options. */
int opts_set_migrate_to(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
			bool neg, char *err, size_t errlen);
int opts_set_migrate_listen(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
			    bool neg, char *err, size_t errlen);
int opts_set_max_iterations(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
			    bool neg, char *err, size_t errlen);
int opts_set_converge(struct cryo_opts *o, const struct cryo_option *opt, const char *val,
		      bool neg, char *err, size_t errlen);

#endif
