/* Open files: dumped into files.img (one file_entry per open file
 * description, shared ones found with kcmp) and fdinfo-N.img (the fd table
 * of each process), plus per-kind images (pipe data, socket queues...).
 * At restore, cryo opens every description itself and passes it to the
 * tasks.  This is lib/files' one public header; files-int.h is how a kind
 * plugs in (lib/files' kinds and lib/sockets' socket kinds), and the
 * other *-int.h headers are private to lib/files. */
#ifndef CRYO_FILES_H
#define CRYO_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ns/ns.h"

#include "fdinfo.pb-c.h"

/* room for each file kind's state (enum fd_kind_id in files-int.h) */
#define FILES_KIND_SLOTS 32

struct cr_img;
struct stat;
struct cryo_opts;
struct remote;
struct fd_bucket;
struct rst_file;
struct seized_tree;

struct file_seen {
	uint32_t id;
	pid_t pid;
	int fd;			/* -1 for path-only files (exe, cwd, mappings) */
	dev_t dev;
	ino_t ino;
};

/* memfd inodes: memfd.img is shared with the memory mappings, and lib/mem
 * (the layer above) keeps it; the memfd descriptor kind reaches it through
 * these, which the pipeline takes from lib/mem (shmem_memfd_dump_ops,
 * shmem_memfd_restore_ops) and puts into files_dump / files_restore.  NULL
 * (or @arg NULL): no dump or restore of shared memory in progress. */
struct files_memfd_ops {
	void *arg;
	/* dump: the inode_id of the memfd open as @fd (named @name), its
	 * memfd.img entry and contents written the first time it is seen */
	int (*dump_inode)(void *arg, int fd, const struct stat *st, const char *name,
			  uint32_t *inode_id);
	/* restore: a new descriptor of memfd inode @inode_id in cryo, opened
	 * with @flags; returns it or a negative code (logged) */
	int (*open)(void *arg, uint32_t inode_id, unsigned flags);
};

struct files_dump {
	int dirfd;
	const struct cryo_opts *opts;
	struct cr_img *files_img;
	uint32_t next_id;
	struct file_seen *seen;	/* path-only files */
	int nr_seen;
	struct fd_bucket *buckets;	/* descriptors by (dev, ino), kcmp-sorted */
	int nr_buckets, cap_buckets;
	struct cr_img *extra[32];	/* per-kind images kept open (files_dump_img) */
	int extra_type[32];
	int nr_extra;
	void *kind_state[FILES_KIND_SLOTS];	/* each kind's own, by enum fd_kind_id */
	int pidfd;			/* of the process being dumped */
	pid_t pidfd_pid;
	int *inflight;			/* cryo's copies of descriptors in flight */
	int nr_inflight, cap_inflight;
	bool failed;			/* set before files_dump_end when the dump failed */
	const struct seized_tree *tree;	/* the tree being dumped */
	struct files_memfd_ops memfd;	/* set by the pipeline (lib/mem) */
	struct ns_dump *ns;		/* the tree's namespaces (namespace files) */
};

int files_dump_begin(struct files_dump *fdm, int dirfd, const struct cryo_opts *opts);
/* Closes files.img and the kinds' images; returns the first error. */
int files_dump_end(struct files_dump *fdm);
/* Once the dump is over (@ok) and before the tree is let go: kinds undo
 * what the dump changed in the files (e.g. TCP repair mode) unless the tree
 * is to be killed (@killed). */
void files_dump_finish(struct files_dump *fdm, bool ok, bool killed);
/* After files_dump_finish(fdm, true, true), once the tree is dead. */
void files_dump_killed(struct files_dump *fdm);

/* A file reached through a /proc link (exe, cwd, root, map_files/...) that
 * is not an open descriptor: one entry per distinct inode.  @what names it
 * in error messages. */
int files_dump_link(struct files_dump *fd, pid_t pid, const char *proc_link, const char *what,
		    uint32_t *id);
/* The fd table of @pid into fdinfo-@files_id.img. */
int files_dump_fds(struct files_dump *fd, pid_t pid, uint32_t files_id);
/* cwd, root and umask of @pid into fs-@img_pid.img (its PID in the images). */
int files_dump_fs(struct files_dump *fd, pid_t pid, pid_t img_pid, unsigned umask_val);

/* Restore side. */
struct files_owner_later {
	int lfd;			/* cryo's duplicate of the file's descriptor */
	pid_t vtid;			/* the thread, as the tree sees it */
	char what[64];
};

/* Who makes a socket at restore (files_restore.as_creator). */
struct files_creator {
	pid_t pid;			/* as the tree sees it */
	uint32_t uid, gid;		/* effective, as the tree sees them */
	const uint32_t *groups;
	size_t nr_groups;
	const char *what;		/* the socket, for messages */
};
struct files_restore;
/* Runs in that process (@r: its calls; @host: its PID as cryo sees it). */
typedef int files_creator_fn(struct files_restore *fr, struct remote *r, pid_t host, void *arg);

struct files_restore {
	int dirfd;
	const struct cryo_opts *opts;
	FileEntry **files;		/* sorted by id */
	struct rst_file *rf;		/* one per entry of files[] */
	int nr_files;
	int transport[2];		/* [0] cryo's end, [1] the end every task inherits */
	struct cr_img *extra[32];	/* images read by the kinds (files_restore_img) */
	int extra_type[32];
	int nr_extra;
	void *kind_state[FILES_KIND_SLOTS];
	void *sockets;			/* lib/sockets' state shared by its kinds */
	struct files_memfd_ops memfd;	/* set by the pipeline (lib/mem) */
	/* the namespaces the files are opened in, unless an rst_file names
	 * its own (today cryo's own: ns_set_self) */
	struct ns_set ns;
	int ns_back[NS__MAX];		/* files_rst_enter_ns: where to come back */
	unsigned ns_entered;		/* 1 << kind: inside files_rst_enter_ns */
	/* The PID cryo sees of process, thread or group (@type: F_OWNER_PID,
	 * F_OWNER_TID, F_OWNER_PGRP) @vpid of the images (the tree's: they
	 * differ in a PID namespace of its own); 0 if it does not exist (yet).
	 * NULL: the same.  Set by the restore after files_restore_load. */
	pid_t (*host_pid)(void *arg, int type, pid_t vpid);
	void *host_pid_arg;
	/* owners that are threads not created yet when their file is opened
	 * (host_pid gave -EAGAIN): set by files_restore_owners */
	struct files_owner_later *later;
	int nr_later;
	/* the root process's namespace ids (its core image): which
	 * namespaces namespace files name (set by the pipeline) */
	const TaskKobjIdsEntry *tree_ids;
	/* Run @fn in the process of the tree whose PID (the tree's) is
	 * @c->pid, with its effective ids and groups @c's for the calls @fn
	 * injects (a unix socket's peer credentials are its maker's); a
	 * short-lived helper task with that PID when it is no task of the
	 * tree.  Called with host_pid_arg; set by the restore (NULL: none). */
	int (*as_creator)(void *arg, const struct files_creator *c, files_creator_fn *fn,
			  void *fn_arg);
	/* Before as_creator runs for PID @pid (and outside the tree's mount
	 * namespace: it may fork a helper and open its /proc files): that
	 * process exists until creators_release.  @what names the socket. */
	int (*creator_hold)(void *arg, pid_t pid, const char *what);
	int (*creators_release)(void *arg);
};
/* Open the files that must be made while every task of the tree can
 * still run calls for them (unix sockets with peer credentials): once the
 * tree exists, before any task's state is restored. */
int files_restore_preopen(struct files_restore *fr);
/* Load files.img and make the transport socket (its task end is inherited
 * by every task created from now on). */
int files_restore_load(struct files_restore *fr, int dirfd, const struct cryo_opts *opts);
/* Put the fds @fds[0..@nr) into task @pid (driven through @r), then run the
 * kinds' post steps there, and close the transport end in the task. */
int files_restore_fds(struct files_restore *fr, struct remote *r, pid_t pid, FdinfoEntry **fds,
		      int nr);
/* Before files_restore_fds: give task @pid (driven through @r) a copy of
 * cryo's descriptor @lfd over the transport; the number it got there (the
 * task closes it), -EBADF if the task no longer has the transport (nothing
 * was sent), or another negative code (logged). */
int files_restore_give_fd(const struct files_restore *fr, struct remote *r, pid_t pid, int lfd);
/* The same without checking through /proc that the task still has the
 * transport (for callers that know it does, e.g. inside the tree's mount
 * namespace where /proc is the tree's). */
int files_restore_pass_fd(const struct files_restore *fr, struct remote *r, pid_t pid, int lfd);
/* Once every thread exists: give the files whose owner is a thread created
 * after them that owner (F_SETOWN_EX).  0 or a negative code (logged). */
int files_restore_owners(struct files_restore *fr);
/* Once every task has its fds (@ok) or the restore failed. */
void files_restore_finish(struct files_restore *fr, bool ok);
void files_restore_free(struct files_restore *fr);
const FileEntry *files_find(const struct files_restore *fr, uint32_t id);
/* The fd number every new task has the transport at (keep it open). */
static inline int files_transport_fd(const struct files_restore *fr)
{
	return fr->transport[1];
}
/* The path to open the regular file @id by at restore (mappings, exe): its
 * name, or where a deleted file was recreated for the restore (removed
 * once the restore is over).  NULL if @id is no regular file or its ghost
 * can't be recreated (logged). */
const char *files_reg_open_path(const struct files_restore *fr, uint32_t id);
/* The descriptor cryo keeps for regular file @id, when the file is reached
 * only through it (an O_TMPFILE ghost, a ghost whose name was taken); -1
 * otherwise. */
int files_reg_cryo_fd(const struct files_restore *fr, uint32_t id);

/* --- terminals (tty.c, tty_restore.c), called by the pipelines --- */

/* Dump, once every process's descriptors are dumped and before the images
 * are closed: the checks that need the whole tree (whose terminal is it,
 * which session leads it), tty-info.img, then the queued bytes. */
int tty_dump_tree(struct files_dump *fdm, const struct seized_tree *tree);

/* Restore, in process @pid (of session @sid) before its descriptors are put
 * in place: a session leader takes its controlling terminal (and sets the
 * foreground group); /dev/tty descriptors are opened there, in the task,
 * since /dev/tty means "my session's terminal". */
int tty_restore_task(struct files_restore *fr, struct remote *r, pid_t pid, pid_t sid,
		     FdinfoEntry **fds, int nr);

/* Mount restore: the bind of a devpts file @rest ("/N") of the devpts
 * mount at O_PATH @devpts_fd, whose pty does not exist yet (a container's
 * /dev/console): make pty N there and hold it for the terminal restore
 * (tty_hold.c).  -ENOENT if @rest names no pty slave. */
int tty_devpts_hold(int devpts_fd, const char *rest, const char *mountpoint);
/* Close the ptys held and not adopted (end of a restore). */
void tty_devpts_release(void);

#endif
