/* Open files: dumped into files.img (one file_entry per open file
 * description, shared ones deduplicated with kcmp) and fdinfo-N.img (the fd
 * table of each process).  Regular files, directories and character devices
 * such as /dev/null are supported; other kinds are refused by name. */
#ifndef CRYO_FILES_H
#define CRYO_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdinfo.pb-c.h"

struct cr_img;

struct file_seen {
	uint32_t id;
	pid_t pid;
	int fd;			/* -1 for path-only files (exe, cwd, mappings) */
	dev_t dev;
	ino_t ino;
};

struct files_dump {
	int dirfd;
	struct cr_img *files_img;
	uint32_t next_id;
	struct file_seen *seen;
	int nr_seen;
};

int files_dump_begin(struct files_dump *fd, int dirfd);
int files_dump_end(struct files_dump *fd);	/* closes files.img */

/* A file reached through a /proc link (exe, cwd, root, map_files/...) that
 * is not an open descriptor: one entry per distinct inode.  @what names it
 * in error messages. */
int files_dump_link(struct files_dump *fd, pid_t pid, const char *proc_link, const char *what,
		    uint32_t *id);
/* The fd table of @pid into fdinfo-@files_id.img. */
int files_dump_fds(struct files_dump *fd, pid_t pid, uint32_t files_id);
/* cwd, root and umask into fs-@pid.img. */
int files_dump_fs(struct files_dump *fd, pid_t pid, unsigned umask);

/* Restore side: the images read back. */
struct files_restore {
	FileEntry **files;
	int nr_files;
};
int files_restore_load(struct files_restore *fr, int dirfd);
void files_restore_free(struct files_restore *fr);
const FileEntry *files_find(const struct files_restore *fr, uint32_t id);

#endif
