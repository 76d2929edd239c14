/* Regular files, their remaps (ghost files, link remaps), file locks and
 * external files: what regfile.c, ghost.c, locks.c, external.c and memfd.c
 * share. */
#ifndef CRYO_FILES_REG_INT_H
#define CRYO_FILES_REG_INT_H

#include "files/files-int.h"

#include "file-lock.pb-c.h"
#include "regfile.pb-c.h"
#include "remap-file-path.pb-c.h"

/* --- ghost.c: deleted files --- */

/* @d is open on a deleted file (@name, without " (deleted)"), readable
 * through @proc_link.  With no link left (nlink 0) its contents go to a
 * ghost-file image; with links elsewhere (nlink > 0) and --link-remap, a
 * temporary hard link is made next to it.  Writes the remap-fpath entry;
 * refuses (logged) otherwise. */
int ghost_dump(struct fd_dump *d, const char *name, const char *proc_link);
void ghost_dump_finish(struct files_dump *fdm, bool ok);
/* @d is a file in /proc/PID (@name) of a process that has exited: writes
 * criu's PROCFS remap (the restore opens it through a helper process with
 * that PID, which then exits) and returns 1; 0 if it is no such file;
 * refuses (logged) if another process has that PID now. */
int ghost_dump_procfs(struct fd_dump *d, const char *name);
/* A deleted inode that is no fd's (a watched one): @fd, cryo's descriptor
 * of it (O_PATH will do), is saved as a ghost under @name, through a file
 * entry of its own. */
int ghost_dump_inode(struct files_dump *fdm, pid_t pid, int fd, const char *name);
/* Restore: the path to open for file @id instead of its name (a recreated
 * ghost, a link remap), or NULL if it has no remap; error codes are
 * logged.  Created names go away in ghost_restore_finish. */
int ghost_rst_path(struct files_restore *fr, uint32_t id, const char **path);
void ghost_restore_finish(struct files_restore *fr, bool ok);
/* Restore: the path of the recreated ghost of the inode that was @ino on
 * the device @kdev (the kernel's encoding, as fdinfo shows it), or NULL if
 * no ghost was. */
int ghost_rst_path_by_inode(struct files_restore *fr, uint32_t kdev, uint64_t ino,
			    const char **path);

/* --- locks.c: flock, POSIX and OFD locks --- */

/* Save the locks held through @d's open file description (refused without
 * --file-locks). */
int locks_dump(struct fd_dump *d);
/* Does any process hold a lease on the file @dev:@ino (/proc/locks)?  A
 * new open of it by cryo would break the lease. */
bool locks_file_leased(dev_t dev, ino_t ino);
/* Restore: retake the locks of @f held by task @pid (its fd @fd). */
int locks_post(struct files_restore *fr, struct remote *r, pid_t pid, struct rst_file *f,
	       int fd);
void locks_restore_finish(struct files_restore *fr);

/* --- external.c --- */

/* Dump: if @d's file was declared with --external file[MNTID:INODE], its
 * key (static storage), else NULL. */
const char *external_file_key(struct fd_dump *d);

/* restore state of the regular-file kinds (fr->kind_state[FDK_REG]) */
struct reg_rst {
	RemapFilePathEntry **remaps;
	int nr_remaps;
	bool remaps_loaded;
	struct ghost_rst *ghosts;
	int nr_ghosts;
	struct ghost_made *made;	/* directories made on the way to ghosts */
	int nr_made;
	FileLockEntry **locks;
	int nr_locks;
	bool locks_loaded;
	/* cryo's own /proc/self/fd, opened before entering the tree's mount
	 * namespace (whose /proc may be of another PID namespace, without
	 * cryo): the magic links of cryo's descriptors while in there; -1
	 * outside ghost_rst_path */
	int own_fds;
};
struct reg_rst *reg_rst_state(struct files_restore *fr);

#endif
