/* Dirty-memory tracking with soft-dirty bits (CONFIG_MEM_SOFT_DIRTY), the
 * fallback where uffd-wp async + PAGEMAP_SCAN is missing.  See track.h.
 *
 * The kernel's side (Documentation/admin-guide/mm/soft-dirty.rst):
 * writing 4 to /proc/PID/clear_refs clears the bit in every pte and pmd of
 * the process and write-protects them, and clears VM_SOFTDIRTY of every
 * VMA; the next write faults and sets the bit again.  Bit 55 of a pagemap
 * entry reports it:
 *  - for a present page, and for a swapped one (the swap pte keeps the bit,
 *    and a swap-in carries it back);
 *  - for every page of a VMA that has VM_SOFTDIRTY: one mapped since (mmap,
 *    the far end of an mremap, a VMA split or merged with a new one): those
 *    pages are all written again, which costs pages, never correctness;
 *  - a THP split keeps the pmd's bit in each pte; an mremap'd pte gets it.
 * A page that is neither present nor swapped is not dumped at all (the
 * restore makes it a hole), whatever its bit. */
#include "mem/track.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SD_CHUNK 512	/* pagemap words per read */

int mem_sd_runs(const uint64_t *pme, size_t n, uint64_t start, struct mem_page_runs *written,
		struct mem_page_runs *clean)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t a = start + i * PAGE_SIZE;
		struct mem_page_runs *to = NULL;
		if (pme[i] & (PME_PRESENT | PME_SWAP))
			to = (pme[i] & PME_SOFT_DIRTY) ? written : clean;
		if (!to)
			continue;
		int ret = mem_page_runs_add(to, a, a + PAGE_SIZE);
		if (ret)
			return ret;
	}
	return 0;
}

int mem_sd_scan(int pm, pid_t pid, uint64_t start, uint64_t end, struct mem_page_runs *written,
		struct mem_page_runs *clean)
{
	uint64_t buf[SD_CHUNK];
	while (start < end) {
		size_t n = MIN((end - start) / PAGE_SIZE, (uint64_t)SD_CHUNK);
		off_t off = (off_t)(start / PAGE_SIZE) * sizeof(uint64_t);
		ssize_t got = pread(pm, buf, n * sizeof(uint64_t), off);
		if (got < 0)
			return log_errno(-errno, "can't read the pagemap of process %d at 0x%llx "
					 "(soft-dirty tracking)", pid, (unsigned long long)start);
		if (got < (ssize_t)sizeof(uint64_t)) {
			pr_err("the pagemap of process %d ends at 0x%llx, before 0x%llx "
			       "(soft-dirty tracking)", pid, (unsigned long long)start,
			       (unsigned long long)end);
			return -EIO;
		}
		n = got / sizeof(uint64_t);
		int ret = mem_sd_runs(buf, n, start, written, clean);
		if (ret)
			return ret;
		start += n * PAGE_SIZE;
	}
	return 0;
}

int mem_sd_clear_refs(const char *proc, pid_t pid)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%d/clear_refs", proc, pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open %s to clear the soft-dirty bits of process %d",
				 path, pid);
	/* "4": CLEAR_REFS_SOFT_DIRTY */
	ssize_t w = write(fd, "4", 1);
	int ret = w == 1 ? 0 : -(w < 0 ? errno : EIO);
	close(fd);
	if (ret)
		return log_errno(ret, "can't clear the soft-dirty bits of process %d (write 4 "
				 "to %s)", pid, path);
	return 0;
}

int mem_sd_start_time(const char *proc, pid_t pid, unsigned long long *st)
{
	char path[PATH_MAX], *buf;
	snprintf(path, sizeof(path), "%s/%d/stat", proc, pid);
	ssize_t r = read_file(AT_FDCWD, path, &buf, true);
	if (r < 0)
		return (int)r;
	/* the name may hold anything: the fields start after its last ')' */
	char *p = strrchr(buf, ')');
	int ret = -EINVAL;
	for (int field = 2; p && *p; field++) {
		p = strchr(p, ' ');
		if (!p)
			break;
		p++;
		if (field + 1 == 22) {
			char *e;
			errno = 0;
			*st = strtoull(p, &e, 10);
			if (e != p && !errno)
				ret = 0;
			break;
		}
	}
	free(buf);
	return ret;
}

int mem_sd_hold(int dirfd, struct mem_track *t, const char *proc)
{
	const char *tmp = MEM_SD_MARKER ".tmp";
	/* a fresh file right there, whatever was planted under the name */
	int fd = create_file_at(dirfd, tmp, 0, 0600);
	if (fd < 0)
		return log_errno(fd, "can't create the soft-dirty tracking marker %s",
				 MEM_SD_MARKER);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	int n = 0;
	fprintf(f, "cryo soft-dirty tracking v1: pid start-time\n");
	for (int i = 0; i < t->n; i++) {
		unsigned long long st;
		/* its bits were not cleared: nothing to track */
		if (t->v[i].fresh || mem_sd_start_time(proc, t->v[i].pid, &st))
			continue;
		fprintf(f, "%d %llu\n", t->v[i].pid, st);
		n++;
	}
	int ret = 0;
	if (fflush(f) || ferror(f))
		ret = -errno ?: -EIO;
	if (fclose(f) && !ret)
		ret = -errno ?: -EIO;
	if (!ret && renameat(dirfd, tmp, dirfd, MEM_SD_MARKER))
		ret = -errno;
	if (ret) {
		unlinkat(dirfd, tmp, 0);
		return log_errno(ret, "can't write the soft-dirty tracking marker %s",
				 MEM_SD_MARKER);
	}
	pr_info("soft-dirty tracking of %d process(es) marked for the next dump (%s)", n,
		MEM_SD_MARKER);
	mem_track_free(t);
	return 0;
}

int mem_sd_take(int prev_dirfd, const char *prev_name, struct mem_track *t, const char *proc)
{
	/* the directory is input: no symlink followed, no FIFO waited on */
	int fd = open_image_file(prev_dirfd, MEM_SD_MARKER);
	if (fd == -ENOENT)
		return 1;
	if (fd == -ELOOP || fd == -EXDEV || fd == -EBADFD || fd == -EISDIR) {
		pr_warn("the soft-dirty tracking marker %s of %s is not a regular file: ignored, "
			"this dump writes every page, as a full dump", MEM_SD_MARKER,
			prev_name ? prev_name : "the images directory");
		if (fd != -EISDIR)
			unlinkat(prev_dirfd, MEM_SD_MARKER, 0);
		return 0;
	}
	if (fd < 0)
		return log_errno(fd, "can't open the soft-dirty tracking marker %s of %s",
				 MEM_SD_MARKER, prev_name ? prev_name : "the images directory");
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	/* taken: a later clear makes it wrong, and the dump gives it back
	 * if it fails before that */
	if (unlinkat(prev_dirfd, MEM_SD_MARKER, 0))
		pr_warn("can't remove the soft-dirty tracking marker of %s: %s",
			prev_name ? prev_name : "the images directory", strerror(errno));
	char line[128];
	bool bad = !fgets(line, sizeof(line), f) || strncmp(line, "cryo soft-dirty tracking v1", 27);
	while (!bad && fgets(line, sizeof(line), f)) {
		int pid;
		unsigned long long st, now;
		if (sscanf(line, "%d %llu", &pid, &st) != 2 || pid <= 0) {
			bad = true;
			break;
		}
		/* the pidfd first: the start time then tells it is the same
		 * process, and the pidfd keeps it so */
		int pidfd = syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			continue;
		if (mem_sd_start_time(proc, pid, &now) || now != st) {
			pr_debug("process %d of the previous dump is gone: its tracking too", pid);
			close(pidfd);
			continue;
		}
		int ret = mem_track_add(t, pid, -1, pidfd);
		if (ret) {
			fclose(f);
			mem_track_free(t);
			return ret;
		}
	}
	fclose(f);
	if (bad) {
		mem_track_free(t);
		pr_warn("the soft-dirty tracking marker of %s is unreadable: this dump writes every "
			"page, as a full dump", prev_name ? prev_name : "the images directory");
		return 0;
	}
	if (t->n)
		t->kind = KDAT_DT_SOFT_DIRTY;
	pr_info("soft-dirty tracking of %d process(es) taken from %s", t->n,
		prev_name ? prev_name : "this directory");
	return 0;
}
