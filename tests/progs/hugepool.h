/* Helpers of the hugetlb tests (mem_hugetlb_*.c): 2 MiB pages added to
 * vm.nr_hugepages for the test and given back at its end, and what
 * pagemap says of a page. */
#ifndef CRYO_TESTS_HUGEPOOL_H
#define CRYO_TESTS_HUGEPOOL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HPAGE (2UL << 20)

static const char *hugepool_path = "/proc/sys/vm/nr_hugepages";
static long hugepool_old = -1;

static inline long hugepool_read(void)
{
	long v = -1;
	FILE *f = fopen(hugepool_path, "re");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static inline int hugepool_write(long v)
{
	FILE *f = fopen(hugepool_path, "we");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static inline void hugepool_put_back(void)
{
	if (hugepool_old >= 0)
		hugepool_write(hugepool_old);
}

/* Adds @n pages to the pool (given back at exit); -1 if it can't. */
static inline int hugepool_grow(long n)
{
	hugepool_old = hugepool_read();
	if (hugepool_old < 0)
		return -1;
	if (hugepool_write(hugepool_old + n) || hugepool_read() < hugepool_old + n) {
		hugepool_put_back();
		hugepool_old = -1;
		return -1;
	}
	atexit(hugepool_put_back);
	return 0;
}

/* The pagemap entry of the page at @addr (0 if it can't be read). */
static inline uint64_t pagemap_entry(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &e, sizeof(e), (uintptr_t)addr / 4096 * 8) != sizeof(e))
			e = 0;
		close(fd);
	}
	return e;
}
#define PM_PRESENT_BIT (1ULL << 63)
#define PM_FILE_BIT (1ULL << 61)

/* A present page of a private mapping: its own copy (anonymous) or the
 * file's page. */
static inline bool page_is_private_copy(const void *addr)
{
	uint64_t e = pagemap_entry(addr);
	return (e & PM_PRESENT_BIT) && !(e & PM_FILE_BIT);
}

#endif
