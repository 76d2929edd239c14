/* The migration stream's messages (migrate-int.h). */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/ps_tls.h"
#include "migrate/migrate-int.h"
#include "options/options.h"
#include "util/log.h"

int mig_set_timeouts(int sk)
{
	/* neither end waits forever on the other: the source's tree is
	 * frozen while it waits for the restore's answer */
	struct timeval tv = { .tv_sec = MIG_IO_TIMEOUT };
	int one = 1;
	setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(sk, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return log_errno(-errno, "migrate: can't set the connection's timeouts");
	return 0;
}

int mig_tls_start(struct mig_conn *c, const struct cryo_opts *o, bool server, const char *host)
{
	struct ps_tls_opts t = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
				 .cert = o->tls_cert, .key = o->tls_key,
				 .no_cn_verify = o->tls_no_cn_verify, .hostname = host,
				 .what = server ? "migrate: the source" : "migrate: the destination" };
	return ps_tls_start(c->sk, server, &t, c->peer, &c->tls);
}

int mig_tls_check(const struct cryo_opts *o, bool source)
{
	struct ps_tls_opts t = { .cacert = o->tls_cacert, .cacrl = o->tls_cacrl,
				 .cert = o->tls_cert, .key = o->tls_key, .what = "migrate" };
	return ps_tls_check_files(&t, source ? "--to" : "--listen");
}

int mig_write(struct mig_conn *c, const void *buf, size_t len)
{
	int ret = ps_io_write_all(c->sk, c->tls, buf, len);
	if (ret == -EAGAIN || ret == -EWOULDBLOCK) {
		pr_err("migrate: %s took nothing for %d s: giving up", c->peer, MIG_IO_TIMEOUT);
		return -ETIMEDOUT;
	}
	if (ret)
		return log_errno(ret, "migrate: can't send to %s", c->peer);
	c->sent += len;
	return 0;
}

int mig_read(struct mig_conn *c, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = c->tls ? ps_tls_recv(c->tls, p, len) : recv(c->sk, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			pr_err("migrate: %s sent nothing for %d s: giving up", c->peer,
			       MIG_IO_TIMEOUT);
			return -ETIMEDOUT;
		}
		if (n < 0)
			return log_errno(-errno, "migrate: can't read from %s", c->peer);
		if (n == 0) {
			pr_err("migrate: %s closed the connection in the middle of the migration",
			       c->peer);
			return -EPIPE;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int mig_send(struct mig_conn *c, enum mig_type type, const char *name, const void *payload,
	     uint64_t size)
{
	size_t nl = name ? strlen(name) : 0;
	if (nl > MIG_NAME_MAX) {
		pr_err("migrate: the name %s is longer than %d bytes", name, MIG_NAME_MAX);
		return -ENAMETOOLONG;
	}
	struct mig_hdr h = { .magic = htole32(MIG_MAGIC), .type = htole16(type),
			     .name_len = htole16(nl), .size = htole64(size) };
	int ret = mig_write(c, &h, sizeof(h));
	if (!ret && nl)
		ret = mig_write(c, name, nl);
	if (!ret && payload && size)
		ret = mig_write(c, payload, size);
	return ret;
}

int mig_recv_hdr(struct mig_conn *c, struct mig_hdr *h, char *name)
{
	int ret = mig_read(c, h, sizeof(*h));
	if (ret)
		return ret;
	h->magic = le32toh(h->magic);
	h->type = le16toh(h->type);
	h->name_len = le16toh(h->name_len);
	h->size = le64toh(h->size);
	if (h->magic != MIG_MAGIC || h->name_len > MIG_NAME_MAX || !h->type ||
	    h->type > MIG_GO) {
		pr_err("migrate: %s sent a malformed message (magic %#x, type %u, name of %u "
		       "bytes): is it a cryo migrate of this version?", c->peer, h->magic, h->type,
		       h->name_len);
		return -EPROTO;
	}
	ret = mig_read(c, name, h->name_len);
	name[ret ? 0 : h->name_len] = '\0';
	return ret;
}

int mig_send_result(struct mig_conn *c, int code, const char *msg)
{
	char buf[4 + MIG_MSG_MAX];
	int32_t v = htole32(code);
	size_t n = msg ? strnlen(msg, MIG_MSG_MAX) : 0;
	memcpy(buf, &v, 4);
	if (n)
		memcpy(buf + 4, msg, n);
	return mig_send(c, MIG_RESULT, NULL, buf, 4 + n);
}

int mig_wait_result(struct mig_conn *c, const char *what)
{
	struct mig_hdr h;
	char name[MIG_NAME_MAX + 1], msg[MIG_MSG_MAX + 1];
	int32_t code;
	int ret = mig_recv_hdr(c, &h, name);
	if (ret)
		return ret;
	if (h.type != MIG_RESULT || h.size < 4 || h.size > 4 + MIG_MSG_MAX) {
		pr_err("migrate: %s answered %s with message type %u, not a result", c->peer,
		       what, h.type);
		return -EPROTO;
	}
	ret = mig_read(c, &code, 4);
	if (!ret)
		ret = mig_read(c, msg, h.size - 4);
	if (ret)
		return ret;
	msg[h.size - 4] = '\0';
	code = le32toh(code);
	if (code > 0 || code < -4095)
		code = -EPROTO;
	if (code) {
		pr_err("migrate: the destination %s failed %s: %s", c->peer, what,
		       msg[0] ? msg : strerror(-code));
		return code;
	}
	return 0;
}

static bool skipped_name(const char *n)
{
	size_t l = strlen(n);
	/* the logs of the run itself, if -o put them there */
	return l > 4 && !strcmp(n + l - 4, ".log");
}

static int send_file(struct mig_conn *c, int dirfd, const char *name, uint64_t *bytes)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "migrate: can't open %s to send it", name);
	struct stat st;
	int ret = 0;
	if (fstat(fd, &st))
		ret = log_errno(-errno, "migrate: can't stat %s", name);
	if (!ret)
		ret = mig_send(c, MIG_FILE, name, NULL, st.st_size);
	off_t off = 0;
	/* TLS: through a buffer (sendfile(2) would bypass the session) */
	while (!ret && c->tls && off < st.st_size) {
		char buf[1 << 16];
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = log_errno(n ? -errno : -EIO, "migrate: can't read %s to send it", name);
			break;
		}
		ret = mig_write(c, buf, n);
		off += n;
	}
	while (!ret && !c->tls && off < st.st_size) {
		ssize_t n = sendfile(c->sk, fd, &off, st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 && errno == EAGAIN ? -ETIMEDOUT : n ? -errno : -EIO;
			ret = log_errno(ret, "migrate: can't send %s to %s", name, c->peer);
			break;
		}
		c->sent += n;
	}
	if (!ret)
		*bytes += st.st_size;
	close(fd);
	return ret;
}

int mig_send_dir(struct mig_conn *c, int basefd, const char *name, uint64_t *bytes)
{
	int dfd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_errno(-errno, "migrate: can't open the images directory %s", name);
	int dup_fd = dup(dfd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		int ret = log_errno(-errno, "migrate: can't list the images directory %s", name);
		if (dup_fd >= 0)
			close(dup_fd);
		close(dfd);
		return ret;
	}
	uint64_t before = c->sent;
	int ret = mig_send(c, MIG_DIR, name, NULL, 0);
	struct dirent *de;
	while (!ret && (errno = 0, de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' || skipped_name(de->d_name))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			ret = log_errno(-errno, "migrate: can't stat %s/%s", name, de->d_name);
			break;
		}
		if (S_ISREG(st.st_mode)) {
			ret = send_file(c, dfd, de->d_name, bytes);
		} else if (S_ISLNK(st.st_mode) && !strcmp(de->d_name, "parent")) {
			char target[64];
			ssize_t n = readlinkat(dfd, de->d_name, target, sizeof(target) - 1);
			if (n < 0)
				ret = log_errno(-errno, "migrate: can't read %s/parent", name);
			else
				ret = mig_send(c, MIG_LINK, "parent", target, n);
		}
		/* anything else (a socket of a daemon) is not an image */
	}
	if (!ret && errno)
		ret = log_errno(-errno, "migrate: can't list the images directory %s", name);
	closedir(d);
	close(dfd);
	if (!ret)
		ret = mig_send(c, MIG_DIR_END, NULL, NULL, 0);
	if (!ret)
		ret = mig_wait_result(c, "to store the images");
	if (!ret)
		pr_info("migrate: sent %s (%llu bytes on the wire)", name,
			(unsigned long long)(c->sent - before));
	return ret;
}
