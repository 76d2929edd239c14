/* Helpers shared by the options unit tests. */
#ifndef CRYO_TEST_OPTIONS_COMMON_H
#define CRYO_TEST_OPTIONS_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../errcap.h"
#include "../unit.h"
#include "options/options.h"

static struct cryo_opts O;
static bool O_ready;

/* Parse @argv (argv[@argc] is set to NULL) with the given configuration
 * sources (NULL = none at all) into the fresh options O. */
static __attribute__((unused)) int parse_argv(const struct opts_sources *src, int argc, char **argv)
{
	static const struct opts_sources none;

	argv[argc] = NULL;
	if (O_ready)
		opts_free(&O);
	opts_init(&O);
	O_ready = true;
	err_reset();
	return opts_parse(&O, argc, argv, src ? src : &none);
}

/* Parse "cryo ARGS..." (NULL-terminated), as parse_argv(). */
static __attribute__((unused)) int parse_src(const struct opts_sources *src, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	argv[argc++] = "cryo";
	va_start(ap, src);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	return parse_argv(src, argc, argv);
}

#define parse(...) parse_src(NULL, __VA_ARGS__, NULL)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The parser's error (the first of the last parse) contains @needle. */
#define CHECK_ERR(needle)                                                      \
	do {                                                                   \
		const char *__e = err_first();                           \
		unit_checks++;                                                 \
		if (!__e || !strstr(__e, (needle))) {                          \
			unit_failures++;                                       \
			fprintf(stderr, "FAIL %s:%d: last error \"%s\" lacks \"%s\"\n", \
				__FILE__, __LINE__, __e ? __e : "(none)", (needle)); \
		}                                                              \
	} while (0)

/* Parsed (the values are stored), then refused as not implemented yet. */
#define CHECK_REFUSED(call)                                                    \
	do {                                                                   \
		CHECK((call) < 0);                                             \
		CHECK_ERR("not implemented yet");                              \
	} while (0)

/* Parsed, then refused because the command itself is not available. */
#define CHECK_UNAVAILABLE(call)                                                \
	do {                                                                   \
		CHECK((call) < 0);                                             \
		CHECK_ERR("command ");                                         \
	} while (0)

#endif
