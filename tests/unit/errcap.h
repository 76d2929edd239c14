/* The first error libcryo logs from a point on (log_capture_errors), for
 * tests that check what a refusal says. */
#ifndef CRYO_TESTS_ERRCAP_H
#define CRYO_TESTS_ERRCAP_H
#include "util/log.h"

static struct cryo_error unit_err;

/* Forget what was recorded; record the next error. */
static inline void err_reset(void)
{
	unit_err = (struct cryo_error){ 0 };
	log_capture_errors(&unit_err);
}

/* The first error since err_reset(), NULL if none. */
static inline const char *err_first(void)
{
	return unit_err.msg[0] ? unit_err.msg : NULL;
}
#endif
