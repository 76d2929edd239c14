#include "util/util.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		pr_err("out of memory allocating %zu bytes", size);
	return p;
}

void *xzalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);
	if (!p)
		pr_err("out of memory allocating %zu bytes", size);
	return p;
}

void *xrealloc(void *old, size_t size)
{
	void *p = realloc(old, size ? size : 1);
	if (!p)
		pr_err("out of memory reallocating %zu bytes", size);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		pr_err("out of memory duplicating a string");
	return p;
}

ssize_t read_file(int dirfd, const char *path, char **out, bool quiet)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (!quiet)
			pr_perror("can't open %s", path);
		return -e;
	}
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			char *nb = xrealloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			if (!quiet)
				pr_perror("can't read %s", path);
			free(buf);
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	return len;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

ssize_t read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int wait_pid_gone(pid_t pid, int timeout_ms)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d", pid);
	for (int waited = 0;; waited += 5) {
		if (access(path, F_OK) && errno == ENOENT)
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

int wait_pid_stopped(pid_t pid, int timeout_ms)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (int waited = 0;; waited++) {
		char *st;
		if (read_file(AT_FDCWD, path, &st, true) < 0)
			return -ESRCH;
		char *rp = strrchr(st, ')');
		bool stopped = rp && rp[1] == ' ' && rp[2] == 'T';
		free(st);
		if (stopped)
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

int openat_resolve(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)flags, .resolve = resolve };
	if (flags & O_CREAT)
		how.mode = mode;
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		return -errno;
	fd = openat(dirfd, path, flags | O_NOFOLLOW, mode);
	return fd >= 0 ? (int)fd : -errno;
}

int open_image_file(int dirfd, const char *name)
{
	int fd = openat_resolve(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0,
				RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st)) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
	}
	/* a regular file never blocks; later reads may be large and want to wait */
	if (fcntl(fd, F_SETFL, 0)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int create_file_at(int dirfd, const char *path, int flags, mode_t mode)
{
	if (path[0] == '/') {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | flags, mode);
		return fd >= 0 ? fd : -errno;
	}
	const char *base = strrchr(path, '/');
	int pfd = dirfd, fd;
	if (base) {
		char dir[PATH_MAX];
		size_t len = (size_t)(base - path);
		if (len >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, len);
		dir[len] = '\0';
		base++;
		pfd = openat_resolve(dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
				     RESOLVE_NO_SYMLINKS);
		if (pfd < 0)
			return pfd;
	} else {
		base = path;
	}
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		fd = -EISDIR;
		goto out;
	}
	if (unlinkat(pfd, base, 0) && errno != ENOENT) {
		fd = -errno;
		goto out;
	}
	fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | flags, mode);
	if (fd < 0)
		fd = -errno;
out:
	if (pfd != dirfd)
		close(pfd);
	return fd;
}

int write_pidfile(const char *path, pid_t pid)
{
	char buf[32];
	int fd = create_file_at(AT_FDCWD, path, 0, 0600);
	if (fd < 0)
		return log_errno(fd, "can't create the pidfile %s", path);
	int n = snprintf(buf, sizeof(buf), "%d", pid);
	int ret = write_all(fd, buf, n);
	close(fd);
	if (ret)
		return log_errno(ret, "can't write the pidfile %s", path);
	return 0;
}

int tcp_connect(const char *host, int port, const char **gai_err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	char service[16];
	int err = -ECONNREFUSED, sk = -1;

	*gai_err = NULL;
	snprintf(service, sizeof(service), "%d", port);
	int r = getaddrinfo(host, service, &hints, &res);
	if (r) {
		*gai_err = gai_strerror(r);
		return -EADDRNOTAVAIL;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		sk = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (sk < 0) {
			err = -errno;
			continue;
		}
		if (!connect(sk, ai->ai_addr, ai->ai_addrlen))
			break;
		err = -errno;
		close(sk);
		sk = -1;
	}
	freeaddrinfo(res);
	return sk >= 0 ? sk : err;
}
