/* Inside lib/files (and lib/sockets): one "kind" per sort of open file.
 *
 * Dump: files_dump.c walks a task's fd table, classifies each descriptor
 * (fd_classify), gives every distinct open file description one id (shared
 * descriptions are found with kcmp), and calls the kind's ->dump once per
 * description.  The kind writes the file_entry for that id (files_emit) and
 * whatever extra images it needs (pipe data, socket queues...).
 *
 * Restore: cryo itself opens or creates every open file description (the
 * kind's ->open, run in cryo's own process with ordinary syscalls) and hands
 * the descriptors to the restored tasks over a socket every task inherited
 * from cryo (SCM_RIGHTS), where injected dup3 calls put them at their
 * numbers.  One description shared by several fds or processes is thus one
 * description after restore.  Whatever only the task itself can do (epoll
 * registrations by fd number, POSIX locks, the controlling terminal) is the
 * kind's ->post, run in the task by injected syscalls once all its fds are
 * in place.
 */
#ifndef CRYO_FILES_INT_H
#define CRYO_FILES_INT_H

#include "files/files.h"
#include "images/image.h"
#include "options/options.h"
#include "proc/proc.h"

#include "fdinfo.pb-c.h"
#include "fown.pb-c.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct remote;

enum fd_kind_id {
	FDK_REG,		/* regular files, directories, devices that reopen by path */
	FDK_MEMFD,
	FDK_PIPE,
	FDK_FIFO,
	FDK_UNIX,
	FDK_INET,		/* TCP, UDP, raw; IPv4 and IPv6 */
	FDK_NETLINK,
	FDK_PACKET,
	FDK_EVENTFD,
	FDK_EPOLL,
	FDK_SIGNALFD,
	FDK_TIMERFD,
	FDK_INOTIFY,
	FDK_FANOTIFY,
	FDK_TTY,
	FDK_PIDFD,
	FDK_NSFILE,		/* /proc/PID/ns/KIND held open */
	FDK_TUN,		/* /dev/net/tun */
	FDK_BPFMAP,		/* anon_inode:bpf-map */
	FDK_MAX,
};
_Static_assert(FDK_MAX <= FILES_KIND_SLOTS, "kind_state has no slot for every file kind");

/* One descriptor being dumped. */
struct fd_dump {
	struct files_dump *fdm;
	pid_t pid;
	int fd;
	int lfd;			/* cryo's copy (fd_dump_lfd), -1 until asked */
	char path[PATH_MAX];		/* readlink of /proc/PID/fd/FD */
	struct stat st;			/* stat (follows the link) */
	struct proc_fdinfo fi;		/* pos, flags, mnt_id */
	char *fdinfo;			/* the raw /proc/PID/fdinfo/FD text */
	int sk_family, sk_type, sk_proto;	/* sockets */
	uint32_t id;			/* id of this open file description */
	enum fd_kind_id kind;
};

/* One open file description at restore time. */
struct rst_file {
	FileEntry *fe;
	int lfd;			/* cryo's descriptor once opened; -1 before */
	void *priv;			/* the kind's own */
	/* the namespaces it is opened in (a socket's network namespace...);
	 * NULL: the restore's (fr->ns) */
	const struct ns_set *ns;
	struct files_restore *fr;	/* the restore it belongs to */
};

struct fd_kind {
	const char *name;		/* "pipe", "unix socket"... in messages */
	int fd_type;			/* FD_TYPES__* in fdinfo entries */
	/* Write the file_entry of d->id (and extra images). */
	int (*dump)(struct fd_dump *d);
	/* Open or create it in cryo, setting f->lfd (and possibly the lfd of
	 * other entries created together, such as a pipe's other end). */
	int (*open)(struct files_restore *fr, struct rst_file *f);
	/* Optional: in task @pid once all its fds are in place (@fd is where
	 * this file sits). */
	int (*post)(struct files_restore *fr, struct remote *r, pid_t pid, struct rst_file *f,
		    int fd);
	/* Optional, dump side: once the tree's dump is over (@ok), before it
	 * is let go (@killed: it will be killed). */
	void (*dump_finish)(struct files_dump *fdm, bool ok, bool killed);
	/* Optional, dump side: after dump_finish(ok, killed), once the
	 * killed tree is dead. */
	void (*dump_killed)(struct files_dump *fdm);
	/* Optional, dump side: once every process's fds were walked, before
	 * the images are closed (files.img still writable): entries that need
	 * the whole tree (a socket's peer) are written here.  An error fails
	 * the dump.  Also called after a failed dump (fdm->failed): then it
	 * only frees its state. */
	int (*dump_end)(struct files_dump *fdm);
	/* Optional, restore side: once every task has its fds. */
	void (*restore_finish)(struct files_restore *fr, bool ok);
	/* Optional, restore side: files_restore_preopen. */
	int (*preopen)(struct files_restore *fr);
};

/* The kind @id: lib/files' own, or one registered by another subsystem;
 * NULL if none is. */
const struct fd_kind *fd_kind(enum fd_kind_id id);
/* The kind of an image's FD_TYPES__* @fd_type, or NULL. */
const struct fd_kind *fd_kind_of_type(int fd_type);
/* Kinds that live in another subsystem (the socket kinds: lib/sockets,
 * sockets_register_fd_kinds) register themselves, so that lib/files, below
 * them, names none of their objects.  Process-wide: which code handles a
 * kind is no per-run state; registering again is harmless. */
void fd_kind_register(enum fd_kind_id id, const struct fd_kind *k);
/* Every kind present, with a name, an fd_type of its own, dump and open
 * steps: 0, or -EINVAL (logged) naming the first that is not. */
int fd_kinds_check(void);
/* lib/files' own kinds, each in its own file */
extern const struct fd_kind fdk_reg, fdk_memfd, fdk_pipe, fdk_fifo, fdk_eventfd, fdk_epoll,
	fdk_signalfd, fdk_timerfd, fdk_inotify, fdk_fanotify, fdk_tty, fdk_pidfd, fdk_nsfile;
extern const struct fd_kind fdk_tun, fdk_bpfmap;

/* --- dump helpers (files_dump.c) --- */

/* cryo's own duplicate of the descriptor (pidfd_getfd; the task is stopped).
 * Closed by the framework after ->dump.  Returns it or a negative code
 * (logged). */
int fd_dump_lfd(struct fd_dump *d);
/* Write file_entry @fe; its id and type are filled in from @d. */
int files_emit(struct fd_dump *d, FileEntry *fe);
/* Fill @fown from the fdinfo/fcntl state of @d's file (the owner's PID as
 * the tree sees it; one outside the tree's PID namespace is refused). */
int fd_dump_fown(struct fd_dump *d, FownEntry *fown);
/* Whether the tree runs in a PID namespace of its own (lib/dump/vpid.c). */
bool fd_dump_in_pidns(const struct files_dump *fdm);
/* Process, thread or group (@type: F_OWNER_PID/TID/PGRP) @pid as cryo sees
 * it, as the tree sees it: @pid itself when the tree is in cryo's PID
 * namespace; 0 when it is not the tree's. */
pid_t fd_dump_tree_vpid(const struct files_dump *fdm, int type, pid_t pid);
/* An extra image kept open for the whole dump (pipes-data.img...), opened
 * on first use; closed by files_dump_end. */
int files_dump_img(struct files_dump *fdm, int type, struct cr_img **img);
/* A descriptor that came with a message peeked from a socket queue
 * (SCM_RIGHTS): the id of its open file description, dumped as a file
 * entry the first time it is seen (it may be held by no task at all).
 * Takes @fd (kept open until the dump ends).  @what names the queue. */
int files_dump_inflight(struct files_dump *fdm, int fd, const char *what, uint32_t *id);
/* "fd 5 of process 123" */
#define FD_FMT "fd %d of process %d"
#define FD_ARGS(d) (d)->fd, (d)->pid

/* regfile.c: refuse (logged) a path-only file (exe, cwd, mapping) that
 * can't be reopened by its path; @what names it. */
int regfile_check_path(struct fd_dump *d, const char *what);

/* --- restore helpers (files_restore.c) --- */

/* The entry with id @id, or NULL. */
struct rst_file *files_rst_find(struct files_restore *fr, uint32_t id);
/* Open @f if not yet opened; returns its lfd or a negative code (logged). */
int files_rst_open(struct files_restore *fr, struct rst_file *f);
/* An image read back whole at restore time (pipes-data.img...). */
int files_restore_img(struct files_restore *fr, int type, struct cr_img **img);
/* The end of every ->open step: unless @ret (the steps before) failed, give
 * @fd, just made in cryo, its status flags and owner (files_apply_flags,
 * files_apply_fown; a NULL @fown sets none); then it becomes @f's, or is
 * closed on any failure (@fd < 0: nothing was made).  @flags
 * FILES_FLAGS_AS_OPENED: the open call already gave @fd its flags.
 * Returns 0 or the first error. */
#define FILES_FLAGS_AS_OPENED (~0u)
int files_rst_adopt(struct rst_file *f, int fd, int ret, unsigned flags, const FownEntry *fown,
		    const char *what);
/* ->open runs in cryo: what it makes must be made in the namespaces of
 * the file (a socket in its network namespace, a path looked up through
 * its mount namespace).  Enter @f's namespace of kind @clone_flag
 * (CLONE_NEWNET...) for the steps that need it, and leave it right after,
 * before anything else runs; no nesting of one kind.  Today every file is
 * opened in cryo's own namespaces, and both are no-ops (no setns).  0 or a
 * negative code (logged); a failed leave must fail the restore. */
int files_rst_enter_ns(struct files_restore *fr, const struct rst_file *f, int clone_flag);
int files_rst_leave_ns(struct files_restore *fr, int clone_flag);
/* Paths of the tree: into its mount namespace (the restore made one for
 * it), unless cryo is in it already (nesting is fine: only the outermost
 * pair enters and leaves).  A setns into a mount namespace resets cryo's
 * working directory: *@cwd keeps it for files_rst_leave_mnt (-1: nothing
 * was entered).  0 or a negative code (logged). */
int files_rst_enter_mnt(struct files_restore *fr, int *cwd);
int files_rst_leave_mnt(struct files_restore *fr, int cwd);
/* socket(2) in @f's network namespace: the socket, or a negative code;
 * socket's own error is returned unlogged (the caller names the socket),
 * namespace errors are logged. */
int files_rst_socket(struct files_restore *fr, const struct rst_file *f, int family, int type,
		     int protocol);

/* F_SETOWN_EX / F_SETSIG as dumped. */
int files_apply_fown(struct files_restore *fr, int lfd, const FownEntry *fown,
		     const char *what);
/* F_SETFL with the file-status flags that can be changed (O_APPEND,
 * O_NONBLOCK, O_ASYNC, O_DIRECT, O_NOATIME). */
int files_apply_flags(int lfd, unsigned flags, const char *what);

/* external.c: cryo's own descriptor given with --inherit-fd fd[N]:@key,
 * -1 if none names @key, or -EBADF (logged) if cryo has no such fd. */
int files_inherited_fd(struct files_restore *fr, const char *key);

#endif
