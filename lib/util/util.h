/* Small helpers shared by every subsystem. */
#ifndef CRYO_UTIL_UTIL_H
#define CRYO_UTIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
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

/* Files in the images and work directories are input from whoever can
 * write there: a planted symlink, a hard link to a file elsewhere or a FIFO
 * must not make cryo read or write outside, nor hang.
 *
 * open_image_file(): open @name (relative to @dirfd, no symlink anywhere
 * on the way, not above @dirfd) for reading without blocking; it must be a
 * regular file.  Returns the fd, or -ELOOP (a symlink), -EXDEV (escapes
 * @dirfd), -EISDIR, -EBADFD (a FIFO, socket or device), or -errno; not
 * logged (the caller names the image).
 *
 * create_file_at(): create @path for writing, replacing whatever has the
 * name.  A relative @path is resolved below @dirfd with no symlink on the
 * way, the old entry is removed first and the new file is made with
 * O_EXCL|O_NOFOLLOW, so the write lands in a fresh file right there.  An
 * absolute @path names what the user chose (a log on /dev/stderr, say) and
 * is opened as given, truncated.  @flags may add O_APPEND.  Returns the fd
 * or -errno, not logged. */
int open_image_file(int dirfd, const char *name);
/* openat2() with RESOLVE_* flags @resolve; where the kernel lacks openat2
 * (before 5.6), the last component at least is not followed.  Returns the
 * fd or -errno (not logged). */
int openat_resolve(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);
int create_file_at(int dirfd, const char *path, int flags, mode_t mode);

/* --pidfile: @pid in decimal, in a file made by create_file_at() (relative
 * to the work directory).  Logs failures. */
int write_pidfile(const char *path, pid_t pid);

/* A TCP connection to @host:@port (every address getaddrinfo gives, in
 * turn).  Returns the socket (close-on-exec), or -EADDRNOTAVAIL with
 * *@gai_err set when the name does not resolve, or the last connect's
 * -errno; not logged (the caller says what it was connecting to). */
int tcp_connect(const char *host, int port, const char **gai_err);

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);

/* Wait (up to timeout_ms) until PID is in group stop (state T in
 * /proc/PID/stat).  Returns 0, or -ETIMEDOUT (not logged). */
int wait_pid_stopped(pid_t pid, int timeout_ms);

/* Wait (up to timeout_ms) until /proc/PID disappears. Returns 0 or -ETIMEDOUT. */
int wait_pid_gone(pid_t pid, int timeout_ms);

/* qsort that accepts an empty (NULL) array: qsort(NULL, 0, ...) is
 * undefined behaviour, and a list with one entry needs no sorting. */
static inline void xqsort(void *base, size_t n, size_t size,
			  int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

#endif
