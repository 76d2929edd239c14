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
static char last_error[512];

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
const char *log_last_error(void) { return last_error[0] ? last_error : NULL; }

void cr_log(int level, const char *file, int line, const char *fmt, ...)
{
	char buf[4096];
	int n = 0;
	va_list ap;

	if (level == LOG_ERROR) {
		va_start(ap, fmt);
		vsnprintf(last_error, sizeof(last_error), fmt, ap);
		va_end(ap);
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
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
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
