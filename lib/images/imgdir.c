/* The images directory as a whole: opening it, the completion marker (inventory.img,
 * written last and atomically) and the sizes it records of every image. */
#include "images/image.h"
#include "images/image-int.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <limits.h>
#include <linux/openat2.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inventory.pb-c.h"

int img_dir_open(const char *dir, bool create)
{
	const char *d = dir && *dir ? dir : ".";
	if (create && mkdir(d, 0700) && errno != EEXIST)
		return_perror("can't create the images directory %s", d);
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return_perror("can't open the images directory %s", d);
	return fd;
}

/* ---- completion marker ---- */

#define INVENTORY_NAME "inventory.img"
#define INVENTORY_TMP ".inventory.img.tmp"

int img_dir_begin_dump(int dirfd)
{
	if (unlinkat(dirfd, INVENTORY_NAME, 0) && errno != ENOENT)
		return_perror("can't remove the stale " INVENTORY_NAME " of an earlier dump");
	if (unlinkat(dirfd, INVENTORY_TMP, 0) && errno != ENOENT)
		return_perror("can't remove " INVENTORY_TMP);
	/* an earlier incremental dump's link: this dump makes its own */
	if (unlinkat(dirfd, IMG_PARENT_LINK, 0) && errno != ENOENT)
		return_perror("can't remove the " IMG_PARENT_LINK " link of an earlier dump");
	/* The removal must reach the disk before new images do, or a crash
	 * could leave the old marker in front of a half-written dump. */
	if (fsync(dirfd))
		return_perror("can't fsync the images directory");
	return 0;
}

/* Every image of the directory with its size, into @inv (freed by
 * free_sizes).  Images of an earlier dump left in the directory are listed
 * too: harmless, as they are checked against what they are now. */
static int list_sizes(int dirfd, InventoryEntry *inv)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return_perror("can't list the images directory");
	}
	int ret = 0;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;
		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".img") ||
		    !strcmp(de->d_name, INVENTORY_NAME))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (inv->n_cryo_image_sizes == cap) {
			cap = cap ? cap * 2 : 64;
			CryoImageSize **n = xrealloc(inv->cryo_image_sizes, cap * sizeof(*n));
			if (!n) {
				ret = -ENOMEM;
				break;
			}
			inv->cryo_image_sizes = n;
		}
		CryoImageSize *e = xmalloc(sizeof(*e));
		char *name = xstrdup(de->d_name);
		if (!e || !name) {
			free(e);
			free(name);
			ret = -ENOMEM;
			break;
		}
		cryo_image_size__init(e);
		e->name = name;
		e->has_size = 1;
		e->size = (uint64_t)st.st_size;
		inv->cryo_image_sizes[inv->n_cryo_image_sizes++] = e;
	}
	closedir(d);
	return ret;
}

static void free_sizes(InventoryEntry *inv)
{
	for (size_t i = 0; i < inv->n_cryo_image_sizes; i++) {
		free(inv->cryo_image_sizes[i]->name);
		free(inv->cryo_image_sizes[i]);
	}
	free(inv->cryo_image_sizes);
	inv->cryo_image_sizes = NULL;
	inv->n_cryo_image_sizes = 0;
}

/* Each image the dump recorded must still have the size it was written
 * with. */
static int check_sizes(int dirfd, const char *dirname, const InventoryEntry *inv)
{
	for (size_t i = 0; i < inv->n_cryo_image_sizes; i++) {
		const CryoImageSize *e = inv->cryo_image_sizes[i];
		struct stat st;
		if (!e->name || !e->name[0] || strchr(e->name, '/') || !e->has_size) {
			pr_err("%s/" INVENTORY_NAME ": entry %zu of the image sizes is malformed",
			       dirname, i);
			return -EINVAL;
		}
		if (fstatat(dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno == ENOENT)
				continue;	/* left over, since removed; needed ones fail on open */
			return_perror("can't stat image %s/%s", dirname, e->name);
		}
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
			pr_err("image %s/%s is %lld bytes, but the dump wrote %llu: it was cut short, "
			       "grown or replaced since the dump; refused (copy the images directory "
			       "again)", dirname, e->name, (long long)st.st_size,
			       (unsigned long long)e->size);
			return -EBADMSG;
		}
	}
	return 0;
}

int img_dir_commit(int dirfd, InventoryEntry *inventory)
{
	struct cr_img *img;
	int ret;

	/* Everything the marker vouches for is on disk first. */
	if (syncfs(dirfd))
		return_perror("can't sync the images before writing " INVENTORY_NAME);
	ret = list_sizes(dirfd, inventory);
	if (ret) {
		free_sizes(inventory);
		return ret;
	}
	ret = img_alloc(&img, INVENTORY_TMP, IMG_INVENTORY, true);
	if (ret) {
		free_sizes(inventory);
		return ret;
	}
	ret = img_open_write_fd(img, dirfd, INVENTORY_TMP);
	if (!ret)
		ret = img_write_msg(img, &inventory->base);
	free_sizes(inventory);
	if (!ret)
		ret = img_flush(img);
	if (!ret && fsync(img_raw_fd(img))) {
		ret = -errno;
		pr_perror("can't fsync %s", INVENTORY_TMP);
	}
	img_free(img);
	if (!ret && renameat(dirfd, INVENTORY_TMP, dirfd, INVENTORY_NAME)) {
		ret = -errno;
		pr_perror("can't rename %s to %s", INVENTORY_TMP, INVENTORY_NAME);
	}
	if (!ret && fsync(dirfd)) {
		ret = -errno;
		pr_perror("can't fsync the images directory");
	}
	if (ret)
		unlinkat(dirfd, INVENTORY_TMP, 0);
	return ret;
}

int img_dir_check_complete(int dirfd, const char *dirname)
{
	ProtobufCMessage *inv;
	int ret = img_dir_read_inventory(dirfd, dirname, &inv);

	if (!ret)
		protobuf_c_message_free_unpacked(inv, NULL);
	return ret;
}

int img_dir_read_inventory(int dirfd, const char *dirname, ProtobufCMessage **out)
{
	struct cr_img *img;
	ProtobufCMessage *inv;
	int ret;

	if (!dirname)
		dirname = ".";
	ret = img_open(&img, dirfd, IMG_INVENTORY, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT) {
		pr_err("%s has no " INVENTORY_NAME ": not a complete dump (an interrupted dump leaves none)",
		       dirname);
		return -ENOENT;
	}
	if (ret)
		return ret;
	ret = img_read_one(img, &inventory_entry__descriptor, &inv);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = check_sizes(dirfd, dirname, (const InventoryEntry *)inv);
	if (ret) {
		protobuf_c_message_free_unpacked(inv, NULL);
		return ret;
	}
	*out = inv;
	return 0;
}

/* ---- the chain of previous dumps (incremental dumps) ---- */

/* criu's layout: DIR/parent is a symbolic link to the previous dump's
 * directory (relative to DIR, e.g. "../pre1").  It is never followed by
 * the kernel: its text is read once and resolved from DIR with
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, so exactly one link (the
 * one cryo looks at) stands between two dumps of a chain, and the parent's
 * images are then read like any others (regular files, no symlinks). */
int img_dir_open_parent(int dirfd, const char *dirname, int *out)
{
	char target[PATH_MAX];
	struct stat st;
	*out = -1;
	if (fstatat(dirfd, IMG_PARENT_LINK, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return 0;
		return_perror("can't look at %s/" IMG_PARENT_LINK, dirname);
	}
	if (!S_ISLNK(st.st_mode)) {
		pr_err("%s/" IMG_PARENT_LINK " is not a symbolic link: the previous dump of an "
		       "incremental dump is named by a link to its directory (--prev-images-dir)",
		       dirname);
		return -EINVAL;
	}
	ssize_t n = readlinkat(dirfd, IMG_PARENT_LINK, target, sizeof(target) - 1);
	if (n < 0)
		return_perror("can't read the link %s/" IMG_PARENT_LINK, dirname);
	target[n] = '\0';
	int fd = openat_resolve(dirfd, target, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
				RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return log_errno(fd, "can't open the previous dump's directory %s (%s/" IMG_PARENT_LINK
				 "; the path may contain no symbolic link)", target, dirname);
	*out = fd;
	return 0;
}

int img_dir_parents(int dirfd, const char *dirname, int *dirs, int max)
{
	struct stat seen[IMG_MAX_PARENTS + 1];
	int n = 0, cur = dirfd, ret = 0;
	if (fstat(dirfd, &seen[0]))
		return_perror("can't stat the images directory %s", dirname);
	for (;;) {
		int next;
		ret = img_dir_open_parent(cur, n ? "(a previous dump)" : dirname, &next);
		if (ret || next < 0)
			break;
		struct stat st;
		if (fstat(next, &st)) {
			ret = -errno;
			close(next);
			break;
		}
		for (int i = 0; i <= n; i++)
			if (seen[i].st_dev == st.st_dev && seen[i].st_ino == st.st_ino) {
				pr_err("the chain of previous dumps of %s loops (a parent link "
				       "leads back to a dump already in it)", dirname);
				ret = -ELOOP;
			}
		if (!ret && (n == max || n == IMG_MAX_PARENTS)) {
			pr_err("the chain of previous dumps of %s is longer than %d", dirname, n);
			ret = -E2BIG;
		}
		if (ret) {
			close(next);
			break;
		}
		seen[n + 1] = st;
		dirs[n++] = cur = next;
	}
	if (ret) {
		for (int i = 0; i < n; i++)
			close(dirs[i]);
		return ret;
	}
	return n;
}
