/* Minimal unit-test helpers: each test binary is one meson test (exit 0 =
 * pass, 1 = fail, 77 = skip).  Failures print file:line and the expression. */
#ifndef CRYO_TESTS_UNIT_H
#define CRYO_TESTS_UNIT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures, unit_checks;

#define CHECK(cond)                                                            \
	do {                                                                   \
		unit_checks++;                                                 \
		if (!(cond)) {                                                 \
			unit_failures++;                                       \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long __a = (a), __b = (b);                                \
		unit_checks++;                                                 \
		if (__a != __b) {                                              \
			unit_failures++;                                       \
			fprintf(stderr, "FAIL %s:%d: %s == %lld, expected %lld\n", \
				__FILE__, __LINE__, #a, __a, __b);             \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *__a = (a), *__b = (b);                             \
		unit_checks++;                                                 \
		if (!__a || !__b || strcmp(__a, __b)) {                        \
			unit_failures++;                                       \
			fprintf(stderr, "FAIL %s:%d: %s == \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a, __a ? __a : "(null)",  \
				__b ? __b : "(null)");                         \
		}                                                              \
	} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}
#endif
