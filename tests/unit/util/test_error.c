/* The error object: the first error of an operation reaches the front end
 * with its code, message and source line; nested captures keep the outer
 * one; a success leaves no error behind. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../unit.h"
#include "cryo.h"
#include "util/log.h"

static int fails_with_errno(void)
{
	return log_errno(-ENOENT, "can't open %s", "/nowhere");
}

static int fails_with_perror(void)
{
	errno = EACCES;
	return_perror("can't read %s", "/secret");
}

int main(void)
{
	struct cryo_error e = { 0 }, inner = { 0 };

	log_init(NULL, -1);	/* quiet: the object still records */

	/* the first error wins, with its code and where it was logged */
	log_capture_errors(&e);
	CHECK_INT(fails_with_errno(), -ENOENT);
	pr_err("a second error");
	CHECK_INT(e.code, -ENOENT);
	CHECK_STR(e.msg, "can't open /nowhere: No such file or directory");
	CHECK(!strncmp(e.where, "test_error.c:", 13));

	/* pr_perror's code is errno; a plain pr_err leaves the code to
	 * cryo_error_finish */
	e = (struct cryo_error){ 0 };
	CHECK_INT(fails_with_perror(), -EACCES);
	CHECK_INT(e.code, -EACCES);
	e = (struct cryo_error){ 0 };
	pr_err("Error: refused\nsecond line");
	CHECK_INT(e.code, 0);
	CHECK_STR(e.msg, "refused second line");	/* one line, no prefix */
	cryo_error_finish(&e, -EPERM);
	CHECK_INT(e.code, -EPERM);

	/* nested: the inner object gets the inner error; the outer one is
	 * untouched and recording resumes into it */
	e = (struct cryo_error){ 0 };
	struct cryo_error *outer = log_capture_errors(&inner);
	CHECK(outer == &e);
	pr_err("inner failure");
	CHECK(log_capture_errors(outer) == &inner);
	CHECK_STR(inner.msg, "inner failure");
	CHECK_INT(e.msg[0], 0);
	pr_err("outer failure");
	CHECK_STR(e.msg, "outer failure");

	/* success clears; failure without a message gets strerror */
	cryo_error_finish(&e, 0);
	CHECK_INT(e.code, 0);
	CHECK_INT(e.msg[0], 0);
	cryo_error_finish(&e, -EBUSY);
	CHECK_STR(e.msg, strerror(EBUSY));
	log_capture_errors(NULL);

	/* an entry point fills its caller's object and stops recording after */
	int devnull = open("/dev/null", O_WRONLY);
	e = (struct cryo_error){ .code = 1 };
	CHECK(cryo_show("/nonexistent/core-1.img", devnull, &e) < 0);
	CHECK(e.code < 0);
	CHECK(strstr(e.msg, "/nonexistent/core-1.img") != NULL);
	struct cryo_error copy = e;
	pr_err("after the operation");
	CHECK_STR(e.msg, copy.msg);
	close(devnull);

	return unit_done("error");
}
