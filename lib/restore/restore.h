/* Internal to the restore pipeline. */
#ifndef CRYO_RESTORE_H
#define CRYO_RESTORE_H

#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/types.h>

#include "files/files.h"
#include "mem/mem.h"
#include "options/options.h"
#include "core.pb-c.h"
#include "fs.pb-c.h"

/* ptrace options of every restored task (PTRACE_SEIZE in create_root);
 * lib/creds adds PTRACE_O_SUSPEND_SECCOMP to these with PTRACE_SETOPTIONS. */
#define RESTORE_PTRACE_OPTIONS (PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)

struct rst_proc {
	pid_t pid, ppid, pgid, sid;
	pid_t *threads;
	int nr_threads;
	CoreEntry *core;		/* leader's core */
	struct mem_image mem;
	FsEntry *fs;
	FdinfoEntry **fds;
	int nr_fds;
	int pages_fd;			/* in cryo (inherited by the new task) */
	bool created;			/* exists: kill it if the restore fails */
};

struct rst_ctx {
	struct cryo_opts *opts;
	int dirfd;
	struct rst_proc *procs;
	int nr_procs;
	struct files_restore files;
};

/* Bring the freshly created task (a stopped fork of cryo) into its dumped
 * state, up to and including its final registers. It is left stopped and
 * traced. */
int restore_task_state(struct rst_ctx *ctx, struct rst_proc *p);

#endif
