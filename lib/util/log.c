#include "util/log.h"
#include "util/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = DEFAULT_LOGLEVEL;
static int log_fd = STDERR_FILENO;
static struct timespec log_start;
/* Where the running operation wants its first error (its own object). */
static struct cryo_error *err_sink;

static const char *level_prefix[] = {
	[LOG_MSG] = "", [LOG_ERROR] = "Error", [LOG_WARN] = "Warn",
	[LOG_INFO] = "", [LOG_DEBUG] = "",
};

int log_init(const char *path, int level)
{
	clock_gettime(CLOCK_MONOTONIC, &log_start);
	log_level = level;
	if (!path || !strcmp(path, "-") || !*path) {
		log_fd = STDERR_FILENO;
		return 0;
	}
	/* relative: in the work directory, never through what was planted there */
	int fd = create_file_at(AT_FDCWD, path, O_APPEND, 0600);
	if (fd < 0) {
		int e = -fd;
		fprintf(stderr, "Error: can't open log file %s: %s\n", path, strerror(e));
		return -e;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	/* the logs of several processes (cryo migrate's two ends, a lazy-pages
	 * daemon) and a client's own times can be put on one time line */
	pr_debug("log times count from CLOCK_MONOTONIC %lld.%06ld", (long long)log_start.tv_sec,
		 log_start.tv_nsec / 1000);
	return 0;
}

void log_fini(void)
{
	if (log_fd != STDERR_FILENO) {
		close(log_fd);
		log_fd = STDERR_FILENO;
	}
}

void log_set_level(int level) { log_level = level; }
int log_get_level(void) { return log_level; }

struct cryo_error *log_capture_errors(struct cryo_error *e)
{
	struct cryo_error *prev = err_sink;
	err_sink = e;
	return prev;
}

/* "../lib/dump/dump.c" -> "dump/dump.c" */
static const char *short_file(const char *file)
{
	const char *p = strstr(file, "lib/");
	if (p)
		return p + 4;
	p = strrchr(file, '/');
	return p ? p + 1 : file;
}

void log_record_error(int code, const char *where, const char *msg)
{
	if (!err_sink || err_sink->msg[0])
		return;
	if (!strncmp(msg, "Error: ", 7))
		msg += 7;
	snprintf(err_sink->msg, sizeof(err_sink->msg), "%s", msg);
	/* one line: a message is a sentence, not a report */
	for (char *c = err_sink->msg; *c; c++)
		if (*c == '\n')
			*c = ' ';
	size_t l = strlen(err_sink->msg);
	while (l && err_sink->msg[l - 1] == ' ')
		err_sink->msg[--l] = '\0';
	snprintf(err_sink->where, sizeof(err_sink->where), "%s", where ? where : "");
	err_sink->code = code;
}

void cryo_error_finish(struct cryo_error *e, int ret)
{
	if (!e)
		return;
	if (ret >= 0) {
		memset(e, 0, sizeof(*e));
		return;
	}
	if (!e->code)
		e->code = ret;
	if (!e->msg[0])
		snprintf(e->msg, sizeof(e->msg), "%s", strerror(-ret));
}

static void vlog(int level, int code, const char *file, int line, const char *fmt, va_list ap)
{
	char buf[4096];
	int n = 0;

	if (level == LOG_ERROR && err_sink && !err_sink->msg[0]) {
		char msg[sizeof(err_sink->msg)];
		va_list aq;
		va_copy(aq, ap);
		vsnprintf(msg, sizeof(msg), fmt, aq);
		va_end(aq);
		char where[sizeof(err_sink->where)];
		snprintf(where, sizeof(where), "%s:%d", short_file(file), line);
		log_record_error(code, where, msg);
	}
	if (level > log_level && level != LOG_MSG)
		return;

	if (level != LOG_MSG && (log_fd != STDERR_FILENO || log_level >= LOG_DEBUG)) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long us = (now.tv_sec - log_start.tv_sec) * 1000000L +
			  (now.tv_nsec - log_start.tv_nsec) / 1000;
		n = snprintf(buf, sizeof(buf), "(%02ld.%06ld) ", us / 1000000, us % 1000000);
	}
	if (level == LOG_ERROR || level == LOG_WARN) {
		if (log_level >= LOG_DEBUG)
			n += snprintf(buf + n, sizeof(buf) - n, "%s (%s:%d): ",
				      level_prefix[level], file, line);
		else
			n += snprintf(buf + n, sizeof(buf) - n, "%s: ", level_prefix[level]);
	}
	int m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (n >= (int)sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	if (buf[n - 1] != '\n')
		buf[n++] = '\n';
	int fd = level == LOG_MSG ? (log_fd == STDERR_FILENO ? STDOUT_FILENO : log_fd) : log_fd;
	(void)!write(fd, buf, n);
	/* Errors also reach the terminal when logging to a file. */
	if (level == LOG_ERROR && log_fd != STDERR_FILENO)
		(void)!write(STDERR_FILENO, buf, n);
}

void cr_log(int level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, 0, file, line, fmt, ap);
	va_end(ap);
}

void cr_log_code(int code, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_ERROR, code, file, line, fmt, ap);
	va_end(ap);
}

int log_get_fd(void)
{
	return log_fd;
}
