/* Data patterns, checksums and process-state helpers for test programs. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

/* splitmix64: every 8-byte word of the pattern is a hash of (seed, index). */
static inline uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint64_t pattern_word(uint64_t seed, size_t idx)
{
	return mix(seed * 0x100000001b3ULL + idx);
}

uint8_t pattern_byte(uint64_t seed, size_t off)
{
	uint64_t w = pattern_word(seed, off / 8);

	return (uint8_t)(w >> (8 * (off % 8)));	/* little-endian layout */
}

void pattern_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	size_t i, words = len / 8;

	for (i = 0; i < words; i++) {
		uint64_t w = pattern_word(seed, i);
		memcpy(p + 8 * i, &w, 8);
	}
	for (i = words * 8; i < len; i++)
		p[i] = pattern_byte(seed, i);
}

ssize_t pattern_check(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf;
	size_t i, words = len / 8;

	for (i = 0; i < words; i++) {
		uint64_t w = pattern_word(seed, i), got;

		memcpy(&got, p + 8 * i, 8);
		if (got != w) {
			size_t j;

			for (j = 8 * i; j < 8 * i + 8; j++)
				if (p[j] != pattern_byte(seed, j))
					return j;
		}
	}
	for (i = words * 8; i < len; i++)
		if (p[i] != pattern_byte(seed, i))
			return i;
	return -1;
}

ssize_t zero_check(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return i;
	return -1;
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int k;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return ~crc;
}

void datagen(void *buf, size_t len, uint32_t *crc)
{
	static uint64_t counter;

	pattern_fill(buf, len, test_now_ns() ^ (++counter << 48) ^ (uint64_t)getpid());
	*crc = crc32c(0, buf, len);
}

int datachk(const void *buf, size_t len, uint32_t *crc)
{
	uint32_t c = crc32c(0, buf, len);

	if (c != *crc) {
		test_msg("datachk: crc32c %08x, expected %08x", c, *crc);
		return 1;
	}
	return 0;
}

int maps_perms(const void *addr, char perms[5])
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t start, end;
		char p[5];

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s", &start, &end, p) != 3)
			continue;
		if ((uintptr_t)addr >= start && (uintptr_t)addr < end) {
			memcpy(perms, p, 5);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

void fd_snap_take(int fd, struct fd_snap *s)
{
	struct stat st;
	int fl;

	memset(s, 0, sizeof(*s));
	if (fstat(fd, &st))
		return;
	s->open = true;
	s->dev = st.st_dev;
	s->rdev = st.st_rdev;
	s->ino = st.st_ino;
	s->mode = st.st_mode;
	fl = fcntl(fd, F_GETFL);
	s->flags = fl < 0 ? -1 : fl & (O_ACCMODE | O_APPEND | O_NONBLOCK);
	s->fdflags = fcntl(fd, F_GETFD);
}

int fd_snap_check(int fd, const struct fd_snap *s, const char *what)
{
	struct fd_snap now;

	fd_snap_take(fd, &now);
	if (now.open != s->open) {
		fail("%s (fd %d) is %s, it was %s", what, fd, now.open ? "open" : "closed",
		     s->open ? "open" : "closed");
		return -1;
	}
	if (!s->open)
		return 0;
	if (now.dev != s->dev || now.ino != s->ino || now.rdev != s->rdev) {
		fail("%s (fd %d) now refers to dev %#lx ino %lu rdev %#lx, it was dev "
		     "%#lx ino %lu rdev %#lx", what, fd, (unsigned long)now.dev,
		     (unsigned long)now.ino, (unsigned long)now.rdev,
		     (unsigned long)s->dev, (unsigned long)s->ino, (unsigned long)s->rdev);
		return -1;
	}
	if (now.mode != s->mode) {
		fail("%s (fd %d) mode %o, it was %o", what, fd, now.mode, s->mode);
		return -1;
	}
	if (now.flags != s->flags) {
		fail("%s (fd %d) flags %#x, they were %#x", what, fd, now.flags, s->flags);
		return -1;
	}
	if (now.fdflags != s->fdflags) {
		fail("%s (fd %d) fd flags %#x, they were %#x", what, fd, now.fdflags,
		     s->fdflags);
		return -1;
	}
	return 0;
}

uint64_t test_now_ns(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);	/* not through the vDSO */
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void test_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR && !test_sig_received)
		;
}
