/* Small helpers shared by every subsystem. */
#ifndef CRYO_UTIL_UTIL_H
#define CRYO_UTIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef PAGE_SIZE
#define PAGE_SIZE 4096UL
#endif
#ifndef PAGE_MASK
#define PAGE_MASK (~(PAGE_SIZE - 1))
#endif
#define ROUND_UP(x, a) (((x) + (a) - 1) / (a) * (a))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Allocation failures are logged here; callers return -ENOMEM. */
void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

/* Read a whole (small, /proc-like) file into a NUL-terminated malloc'd
 * buffer.  Returns length or -errno; logs failures unless @quiet. */
ssize_t read_file(int dirfd, const char *path, char **out, bool quiet);
/* write() until done; returns 0 or -errno (not logged). */
int write_all(int fd, const void *buf, size_t len);
/* read() exactly len bytes; returns bytes read (short only at EOF) or -errno. */
ssize_t read_all(int fd, void *buf, size_t len);

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);

/* Wait (up to timeout_ms) until PID is in group stop (state T in
 * /proc/PID/stat).  Returns 0, or -ETIMEDOUT (not logged). */
int wait_pid_stopped(pid_t pid, int timeout_ms);

/* Wait (up to timeout_ms) until /proc/PID disappears. Returns 0 or -ETIMEDOUT. */
int wait_pid_gone(pid_t pid, int timeout_ms);

#endif
