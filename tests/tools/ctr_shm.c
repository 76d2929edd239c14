// SPDX-License-Identifier: GPL-2.0
/*
 * ctr_shm: the SysV shared-memory writer of tests/runner/container.py,
 * linked statically to run in a busybox root file system.
 *
 * ctr_shm run KEY   create a 1 MiB segment with KEY, fill it with a pattern;
 *                   then every 0.1 s verify the whole pattern and bump the
 *                   counter in its first 8 bytes, writing "COUNT ok" (or
 *                   "COUNT BAD AT OFFSET") to /shm.status
 * ctr_shm read KEY  attach the segment (in the IPC namespace entered, e.g.
 *                   by nsenter -i) and print "COUNT ok" or "COUNT BAD ..."
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#define SIZE (1 << 20)

static unsigned char pattern(size_t off)
{
	return (unsigned char)(off * 31 + (off >> 12) * 7 + 5);
}

/* -1: the pattern is intact, else the first offset that differs */
static long check(const unsigned char *p)
{
	for (size_t off = 8; off < SIZE; off++)
		if (p[off] != pattern(off))
			return (long)off;
	return -1;
}

static void status(const unsigned char *p, FILE *f)
{
	uint64_t count;
	long bad = check(p);

	memcpy(&count, p, sizeof(count));
	if (bad < 0)
		fprintf(f, "%llu ok\n", (unsigned long long)count);
	else
		fprintf(f, "%llu BAD AT %ld\n", (unsigned long long)count, bad);
}

int main(int argc, char **argv)
{
	unsigned char *p;
	key_t key;
	int id;

	if (argc != 3) {
		fprintf(stderr, "usage: ctr_shm run|read KEY\n");
		return 2;
	}
	key = (key_t)strtol(argv[2], NULL, 0);
	if (!strcmp(argv[1], "read")) {
		id = shmget(key, 0, 0);
		p = id < 0 ? (void *)-1 : shmat(id, NULL, SHM_RDONLY);
		if (p == (void *)-1) {
			perror("ctr_shm: shmget/shmat");
			return 1;
		}
		status(p, stdout);
		return 0;
	}
	id = shmget(key, SIZE, IPC_CREAT | IPC_EXCL | 0600);
	p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (p == (void *)-1) {
		perror("ctr_shm: shmget/shmat");
		return 1;
	}
	memset(p, 0, 8);
	for (size_t off = 8; off < SIZE; off++)
		p[off] = pattern(off);
	for (;;) {
		uint64_t count;
		FILE *f;

		memcpy(&count, p, sizeof(count));
		count++;
		memcpy(p, &count, sizeof(count));
		f = fopen("/shm.status.tmp", "w");
		if (f) {
			status(p, f);
			fclose(f);
			rename("/shm.status.tmp", "/shm.status");
		}
		usleep(100000);
	}
}
