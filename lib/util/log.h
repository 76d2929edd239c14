/* Logging and the project-wide error idiom.
 *
 * Functions return 0 (or a count) on success and a negative errno-style code
 * on failure.  An error is logged exactly once, by the function that knows
 * the context (which call failed, on what object); callers just propagate the
 * code.  Messages say what was found, why it blocks, and what helps.
 *
 * Verbosity follows criu: -v0 silent except pr_msg, 1 errors, 2 warnings
 * (default), 3 info, 4 debug.
 */
#ifndef CRYO_UTIL_LOG_H
#define CRYO_UTIL_LOG_H

#include <errno.h>
#include <stdarg.h>

enum log_level {
	LOG_MSG = 0,	/* user-facing output, always printed */
	LOG_ERROR = 1,
	LOG_WARN = 2,
	LOG_INFO = 3,
	LOG_DEBUG = 4,
};

#define DEFAULT_LOGLEVEL LOG_WARN

/* Send log output to @path (NULL or "-" = stderr).  Returns 0 or -errno. */
int log_init(const char *path, int level);
void log_set_level(int level);
int log_get_level(void);
void log_fini(void);
/* The log's descriptor (standard error when there is no log file): where
 * child programs (action scripts) write their output. */
int log_get_fd(void);
/* The first error of an operation, as an object a front end can return:
 * the CLI has printed it already when it was logged, the RPC service
 * replies with it (criu's cr_errno and the message). */
struct cryo_error {
	int code;		/* negative errno of the failure; 0: none */
	char msg[1024];		/* the first error logged, one line, no "Error: " */
	char where[64];		/* the source line that logged it, "dump/dump.c:452" */
};

/* From now on, the first error logged is recorded in @e (if it holds none
 * yet: clear it first for a fresh start); NULL stops recording.  Returns the object recorded into before, so that
 * nested operations can restore it.  The object belongs to the caller: the
 * log keeps only where to write, never the error itself. */
struct cryo_error *log_capture_errors(struct cryo_error *e);
/* The end of an operation that returned @ret: a success clears @e; a failure
 * fills in the code (and a message, if none was logged). */
void cryo_error_finish(struct cryo_error *e, int ret);
/* Record an error reported some other way than cr_log (the option parser
 * prints before logging is set up; a child process reports over a pipe). */
void log_record_error(int code, const char *where, const char *msg);

void cr_log(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* cr_log for an error whose code is known (the error object keeps it). */
void cr_log_code(int code, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define pr_msg(fmt, ...)   cr_log(LOG_MSG, __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...)   cr_log(LOG_ERROR, __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)  cr_log(LOG_WARN, __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)  cr_log(LOG_INFO, __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) cr_log(LOG_DEBUG, __FILE__, __LINE__, fmt, ##__VA_ARGS__)

/* pr_err with ": strerror(errno)" appended; errno is preserved. */
#define pr_perror(fmt, ...)                                                    \
	do {                                                                   \
		int __e = errno;                                               \
		cr_log_code(-__e, __FILE__, __LINE__, fmt ": %s", ##__VA_ARGS__, \
			    strerror(__e));                                    \
		errno = __e;                                                   \
	} while (0)

/* Log with errno and return -errno from the enclosing function. */
#define return_perror(fmt, ...)                                                \
	do {                                                                   \
		int __e2 = errno ? errno : EIO;                                \
		pr_perror(fmt, ##__VA_ARGS__);                                 \
		return -__e2;                                                  \
	} while (0)

/* pr_err with ": strerror(-ret)" appended; evaluates to @ret, so that
 * "return log_errno(ret, "can't read %s", path);" logs once and passes the
 * code up (systemd's log_error_errno()). */
#define log_errno(ret, fmt, ...)                                               \
	({                                                                     \
		int __r = (ret);                                               \
		cr_log_code(__r < 0 ? __r : -__r, __FILE__, __LINE__, fmt ": %s", \
			    ##__VA_ARGS__, strerror(__r < 0 ? -__r : __r));    \
		__r;                                                           \
	})

#include <string.h>

#endif
