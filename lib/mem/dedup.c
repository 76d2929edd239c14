/* Deduplication of incremental dumps: `cryo dedup`, dump/pre-dump
 * --auto-dedup and restore --auto-dedup (criu's semantics).
 *
 * A dump made with --prev-images-dir writes the pages written since the
 * previous dump and leaves the others to it (PE_PARENT).  The previous
 * dumps' copies of the pages it wrote are then dead weight for a restore
 * from the newest dump: they are punched out of their pages-N.img
 * (fallocate PUNCH_HOLE | KEEP_SIZE), in every dump down the chain of
 * "parent" links that holds them (criu's dedup_one_iovec goes down every
 * level as well).  The files keep their size, so every offset recorded in
 * the pagemaps (and the sizes inventory.img records) stays right; the
 * holes read as zeros and take no blocks.  A previous dump deduplicated so
 * can no longer be restored on its own (as with criu).
 *
 * Nothing else refers to those copies: the newest dump's PE_PARENT runs
 * reach a previous dump's page only where it did not write the page
 * itself, and pre-dumps write no cow_parent entries (mem_dump_pages with no
 * parent), so no other process's run leads to them either.
 *
 * Only regular files are punched (checked before they are opened, never
 * through a symlink), and only those owned by the images directory's owner
 * or by cryo's user (who wrote them): a parent link may lead anywhere, and
 * another user's dump must not lose its pages because someone's newer dump
 * names it (such a dump is left whole, with a warning).
 *
 * restore --auto-dedup (criu's: the images are spent as they are read)
 * also punches every page the restore read, in the images directory
 * itself and down the chain.  Shared memory (pagemap-shmem-*) is written
 * whole by the final dump, never left to a previous one, and is not
 * punched at restore. */
#include "mem/mem.h"
#include "mem/page_source.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One dump of the chain, for one process. */
struct dd_level {
	struct mem_image mi;
	int fd;			/* pages-N.img, open for writing */
	struct page_source src;
	int depth;		/* 0: the images directory, 1: its parent, ... */
	bool loaded;
};

/* Contiguous bytes of one file waiting to be punched. */
struct dd_punch {
	const struct dd_level *lv;
	uint64_t off, len;
	uint64_t bytes;		/* punched so far */
	pid_t pid;
	const char *dir;
};

static int punch_flush(struct dd_punch *p)
{
	if (!p->len)
		return 0;
	if (fallocate(p->lv->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)p->off,
		      (off_t)p->len))
		return log_errno(-errno, "can't punch out %llu bytes at offset %llu of "
				 "pages-%u.img (process %d, %d dump(s) down the parent links "
				 "of %s; the file system must support FALLOC_FL_PUNCH_HOLE)",
				 (unsigned long long)p->len, (unsigned long long)p->off,
				 p->lv->mi.pages_id, p->pid, p->lv->depth, p->dir);
	p->bytes += p->len;
	p->len = 0;
	return 0;
}

static int punch_add(struct dd_punch *p, const struct dd_level *lv, uint64_t off)
{
	if (p->len && p->lv == lv && p->off + p->len == off) {
		p->len += PAGE_SIZE;
		return 0;
	}
	int ret = punch_flush(p);
	p->lv = lv;
	p->off = off;
	p->len = PAGE_SIZE;
	return ret;
}

static void level_free(struct dd_level *lv)
{
	if (!lv->loaded)
		return;
	page_source_fini(&lv->src);
	mem_image_free(&lv->mi);
	if (lv->fd >= 0)
		close(lv->fd);
	lv->loaded = false;
}

/* @pid's pagemap and pages file in @dirfd; -ENOENT (not logged): the dump
 * has no pagemap of @pid (a process forked after it). */
static int level_load(struct dd_level *lv, int dirfd, pid_t pid, int depth, uid_t owner)
{
	char name[32];
	struct stat st;
	memset(lv, 0, sizeof(*lv));
	lv->fd = -1;
	lv->depth = depth;
	int ret = mem_pagemap_load(dirfd, pid, &lv->mi, true);
	if (ret) {
		mem_image_free(&lv->mi);
		return ret;
	}
	snprintf(name, sizeof(name), "pages-%u.img", lv->mi.pages_id);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) {
		ret = log_errno(-EINVAL, "%s of process %d (%d dump(s) down the parent links) "
				"is not a regular file", name, pid, depth);
	} else if (st.st_uid != owner && st.st_uid != geteuid()) {
		pr_warn("dedup: %s of process %d (%d dump(s) down the parent links) belongs to "
			"uid %u, neither the images directory's owner (%u) nor cryo's user: left "
			"whole", name, pid,
			depth, (unsigned)st.st_uid, (unsigned)owner);
		mem_image_free(&lv->mi);
		return -ENOENT;
	} else {
		lv->fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (lv->fd < 0)
			ret = log_errno(-errno, "can't open %s of process %d for writing (%d "
					"dump(s) down the parent links)", name, pid, depth);
		else if (fstat(lv->fd, &st) || !S_ISREG(st.st_mode) ||
			 (st.st_uid != owner && st.st_uid != geteuid()))
			ret = log_errno(-EINVAL, "%s of process %d (%d dump(s) down the parent "
					"links) changed while it was opened", name, pid, depth);
	}
	if (!ret)
		ret = page_source_local(&lv->src, &lv->mi, lv->fd);
	if (ret) {
		if (lv->fd >= 0)
			close(lv->fd);
		mem_image_free(&lv->mi);
		return ret;
	}
	lv->loaded = true;
	return 0;
}

/* Punch [@a, @end) out of every level that holds those pages itself. */
static int dedup_range(struct dd_level *lv, int n, uint64_t a, uint64_t end, struct dd_punch *p)
{
	for (int l = 0; l < n; l++) {
		for (uint64_t x = a; x < end; x += PAGE_SIZE) {
			int e;
			uint64_t off;
			if (page_source_kind(&lv[l].src, x, &e, &off) != PAGE_OWN)
				continue;
			int ret = punch_add(p, &lv[l], off);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* One process: @top is its pagemap in the images directory, @lv[0..n) its
 * pagemaps down the chain (with @restored, @lv[0] is @top itself). */
static int dedup_pid(const struct dd_level *top, struct dd_level *lv, int n, bool restored,
		     struct dd_punch *p)
{
	for (int i = 0; i < top->mi.n_pe; i++) {
		const PagemapEntry *pe = top->mi.pe[i];
		int e;
		uint64_t off;
		enum page_kind k = page_source_kind((struct page_source *)&top->src, pe->vaddr, &e,
						    &off);
		/* the dump's own pages replace the older copies; a restore
		 * spends its own and those it read from previous dumps */
		if (k != PAGE_OWN && !(restored && k == PAGE_PREV))
			continue;
		int ret = dedup_range(lv, n, pe->vaddr,
				      pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE, p);
		if (ret)
			return ret;
	}
	return punch_flush(p);
}

static int dedup_one(int dirfd, const char *dir, const int *dirs, int ndirs, pid_t pid,
		     bool restored, uid_t owner, struct dd_punch *p)
{
	struct dd_level *lv = xzalloc(sizeof(*lv) * (ndirs + 1));
	if (!lv)
		return -ENOMEM;
	int ret = level_load(&lv[0], dirfd, pid, 0, owner);
	int n = 1;
	if (ret == -ENOENT) {
		pr_err("pagemap-%d.img or its pages image of %s vanished or changed owner during "
		       "the deduplication", pid, dir);
		ret = -ENOENT;
	}
	/* the chain of this process ends where a dump has no pagemap of it
	 * (or one that is not the owner's: left whole, and what is below it
	 * is only reached through it) */
	for (int i = 0; !ret && i < ndirs; i++) {
		ret = level_load(&lv[n], dirs[i], pid, i + 1, owner);
		if (ret == -ENOENT) {
			ret = 0;
			break;
		}
		if (!ret)
			n++;
	}
	p->pid = pid;
	if (!ret)
		ret = restored ? dedup_pid(&lv[0], lv, n, true, p)
			       : dedup_pid(&lv[0], lv + 1, n - 1, false, p);
	for (int i = 0; i < n; i++)
		level_free(&lv[i]);
	free(lv);
	return ret;
}

int mem_dedup(int dirfd, const char *dir, bool restored)
{
	int dirs[IMG_MAX_PARENTS];
	int ndirs = img_dir_parents(dirfd, dir, dirs, IMG_MAX_PARENTS);
	if (ndirs < 0)
		return ndirs;
	if (!ndirs && !restored) {
		pr_info("dedup: %s has no previous dump (no \"parent\" link): nothing to do", dir);
		return 0;
	}
	int ret = 0;
	struct dd_punch p = { .dir = dir };
	struct stat st;
	if (fstat(dirfd, &st)) {
		ret = log_errno(-errno, "can't stat the images directory %s", dir);
		for (int i = 0; i < ndirs; i++)
			close(dirs[i]);
		return ret;
	}
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		ret = log_errno(-errno, "can't list the images directory %s", dir);
		if (fd >= 0)
			close(fd);
	}
	struct dirent *de;
	while (!ret && d && (de = readdir(d))) {
		int pid, len = 0;
		if (sscanf(de->d_name, "pagemap-%d.img%n", &pid, &len) != 1 ||
		    de->d_name[len] || pid <= 0)
			continue;	/* pagemap-shmem-*.img too */
		ret = dedup_one(dirfd, dir, dirs, ndirs, pid, restored, st.st_uid, &p);
	}
	if (d)
		closedir(d);
	for (int i = 0; i < ndirs; i++)
		close(dirs[i]);
	if (!ret)
		pr_info("dedup: %llu KiB punched out of the pages images %s",
			(unsigned long long)p.bytes / 1024,
			restored ? "the restore read" : "the newer dump replaces");
	return ret;
}
