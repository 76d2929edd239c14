/* The restore pipeline: read the images, create each task with its old PID
 * (clone3 with set_tid), drive it from outside into its dumped state, then
 * let it go.  Any failure kills what was created: nothing is left behind. */
#include "cryo.h"
#include "images/image.h"
#include "restore/restore.h"
#include "creds/creds.h"
#include "seize/seize.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

#include "inventory.pb-c.h"
#include "pstree.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int open_images_dir(const char *dir, bool create);

static int load_pstree(struct rst_ctx *ctx)
{
	struct cr_img *img;
	int ret = img_open(&img, ctx->dirfd, IMG_PSTREE, IMG_READ, 0);
	if (ret)
		return ret;
	for (;;) {
		PstreeEntry *pe;
		ret = img_read_msg(img, &pstree_entry__descriptor, (ProtobufCMessage **)&pe);
		if (ret <= 0)
			break;
		struct rst_proc *n = xrealloc(ctx->procs, (ctx->nr_procs + 1) * sizeof(*n));
		if (!n) {
			protobuf_c_message_free_unpacked(&pe->base, NULL);
			ret = -ENOMEM;
			break;
		}
		ctx->procs = n;
		struct rst_proc *p = &ctx->procs[ctx->nr_procs++];
		memset(p, 0, sizeof(*p));
		p->pages_fd = -1;
		p->pid = pe->pid;
		p->ppid = pe->ppid;
		p->pgid = pe->pgid;
		p->sid = pe->sid;
		p->nr_threads = pe->n_threads;
		p->threads = xmalloc(sizeof(pid_t) * (pe->n_threads + 1));
		if (!p->threads) {
			protobuf_c_message_free_unpacked(&pe->base, NULL);
			ret = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < pe->n_threads; i++)
			p->threads[i] = pe->threads[i];
		protobuf_c_message_free_unpacked(&pe->base, NULL);
		if (p->pid <= 0) {
			pr_err("pstree.img: invalid pid %d", p->pid);
			ret = -EINVAL;
			break;
		}
	}
	img_close(img);
	if (!ret && !ctx->nr_procs) {
		pr_err("pstree.img holds no process");
		ret = -EINVAL;
	}
	return ret;
}

static int load_proc(struct rst_ctx *ctx, struct rst_proc *p)
{
	struct cr_img *img;
	int ret = img_open(&img, ctx->dirfd, IMG_CORE, IMG_READ, p->pid);
	if (ret)
		return ret;
	ret = img_read_one(img, &core_entry__descriptor, (ProtobufCMessage **)&p->core);
	img_close(img);
	if (ret < 0)
		return ret;
	if (!p->core->tc) {
		pr_err("core-%d.img has no task state", p->pid);
		return -EINVAL;
	}
	if (p->core->tc->task_state != TASK_ALIVE && p->core->tc->task_state != TASK_STOPPED) {
		pr_err("process %d was dumped in state %u (zombie or helper): restoring those is "
		       "not supported yet", p->pid, p->core->tc->task_state);
		return -EOPNOTSUPP;
	}
	if (p->nr_threads > 1) {
		pr_err("process %d has %d threads: restoring multithreaded processes is not "
		       "supported yet", p->pid, p->nr_threads);
		return -EOPNOTSUPP;
	}
	if (!p->core->thread_info || !p->core->thread_core) {
		pr_err("core-%d.img lacks the thread's CPU state", p->pid);
		return -EINVAL;
	}
	ret = mem_image_load(ctx->dirfd, p->pid, &p->mem);
	if (ret)
		return ret;

	ret = img_open(&img, ctx->dirfd, IMG_FS, IMG_READ, p->pid);
	if (ret)
		return ret;
	ret = img_read_one(img, &fs_entry__descriptor, (ProtobufCMessage **)&p->fs);
	img_close(img);
	if (ret < 0)
		return ret;

	uint32_t files_id = p->core->ids ? p->core->ids->files_id : 0;
	ret = img_open(&img, ctx->dirfd, IMG_FDINFO, IMG_READ | IMG_MISSING_OK, files_id);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (;;) {
		FdinfoEntry *fe;
		ret = img_read_msg(img, &fdinfo_entry__descriptor, (ProtobufCMessage **)&fe);
		if (ret <= 0)
			break;
		FdinfoEntry **n = xrealloc(p->fds, (p->nr_fds + 1) * sizeof(*n));
		if (!n) {
			protobuf_c_message_free_unpacked(&fe->base, NULL);
			ret = -ENOMEM;
			break;
		}
		p->fds = n;
		p->fds[p->nr_fds++] = fe;
	}
	img_close(img);
	if (ret < 0)
		return ret;

	ret = img_open(&img, ctx->dirfd, IMG_PAGES, IMG_READ, p->mem.pages_id);
	if (ret)
		return ret;
	p->pages_fd = dup(img_raw_fd(img));
	img_close(img);
	if (p->pages_fd < 0)
		return_perror("can't dup the pages image descriptor");
	return 0;
}

static void free_procs(struct rst_ctx *ctx)
{
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		free(p->threads);
		if (p->core)
			protobuf_c_message_free_unpacked(&p->core->base, NULL);
		if (p->fs)
			protobuf_c_message_free_unpacked(&p->fs->base, NULL);
		for (int j = 0; j < p->nr_fds; j++)
			protobuf_c_message_free_unpacked(&p->fds[j]->base, NULL);
		free(p->fds);
		mem_image_free(&p->mem);
		if (p->pages_fd >= 0)
			close(p->pages_fd);
	}
	free(ctx->procs);
	ctx->procs = NULL;
	ctx->nr_procs = 0;
}

/* Describe who holds @pid now, for the refusal message. */
static void describe_pid_owner(pid_t pid, char *buf, size_t size)
{
	char path[64], *comm = NULL;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (read_file(AT_FDCWD, path, &comm, true) >= 0) {
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(buf, size, "process '%s'", comm);
		free(comm);
	} else {
		snprintf(buf, size, "another process");
	}
}

/* The child side of clone3: wait, with every signal blocked, to be driven. */
static __attribute__((noreturn)) void new_task_wait(void)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (;;)
		pause();
}

static int create_root(struct rst_ctx *ctx, struct rst_proc *p)
{
	pid_t set_tid = p->pid;
	struct clone_args args = {
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)(uintptr_t)&set_tid,
		.set_tid_size = 1,
	};
	pid_t child = -1;
	/* A dumped-and-killed task may still wait to be reaped by its old
	 * parent (init reaps orphans slowly): retry for a while. */
	for (int waited = 0;; waited += 10) {
		child = syscall(SYS_clone3, &args, sizeof(args));
		if (child == 0)
			new_task_wait();
		if (child > 0)
			break;
		if (errno == EEXIST && waited < 5000) {
			usleep(10000);
			continue;
		}
		int e = errno;
		if (e == EEXIST) {
			char who[128];
			describe_pid_owner(p->pid, who, sizeof(who));
			pr_err("PID %d is in use by %s: the dumped process needs that PID back. "
			       "Stop that process, or restore into a new PID namespace", p->pid, who);
		} else if (e == EPERM) {
			pr_err("clone3 with set_tid=%d was refused: cryo needs CAP_CHECKPOINT_RESTORE "
			       "or CAP_SYS_ADMIN to choose PIDs", p->pid);
		} else {
			pr_err("clone3 with set_tid=%d failed: %s", p->pid, strerror(e));
		}
		return -e;
	}
	p->created = true;
	long popts = RESTORE_PTRACE_OPTIONS;
	if (ptrace(PTRACE_SEIZE, child, 0, popts) || ptrace(PTRACE_INTERRUPT, child, 0, 0))
		return_perror("can't seize the new task %d", child);
	int status;
	int ret = ptrace_wait_stop(child, &status, 10000);
	if (ret)
		return ret;
	if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
		pr_err("new task %d did not stop as expected (status 0x%x)", child, status);
		return -EIO;
	}
	return 0;
}

static void kill_created(struct rst_ctx *ctx)
{
	for (int i = 0; i < ctx->nr_procs; i++) {
		struct rst_proc *p = &ctx->procs[i];
		if (!p->created)
			continue;
		kill(p->pid, SIGKILL);
		int st;
		while (waitpid(p->pid, &st, __WALL) < 0 && errno == EINTR)
			;
		p->created = false;
	}
}

static int write_pidfile(const char *path, pid_t pid)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return_perror("can't create the pidfile %s", path);
	int n = snprintf(buf, sizeof(buf), "%d", pid);
	int ret = write_all(fd, buf, n);
	close(fd);
	if (ret)
		pr_err("can't write the pidfile %s: %s", path, strerror(-ret));
	return ret;
}

int cryo_restore(struct cryo_opts *o, int *exit_status)
{
	struct rst_ctx ctx = { .opts = o };
	int ret;

	ctx.dirfd = open_images_dir(o->images_dir, false);
	if (ctx.dirfd < 0)
		return ctx.dirfd;
	ret = img_dir_check_complete(ctx.dirfd, o->images_dir ? o->images_dir : ".");
	if (ret)
		goto out;
	ret = load_pstree(&ctx);
	if (ret)
		goto out;
	if (ctx.nr_procs > 1) {
		pr_err("the images hold a tree of %d processes: restoring process trees is not "
		       "supported yet", ctx.nr_procs);
		ret = -EOPNOTSUPP;
		goto out;
	}
	ret = files_restore_load(&ctx.files, ctx.dirfd);
	if (!ret)
		ret = creds_restore_prepare(ctx.dirfd);
	if (ret)
		goto out;
	for (int i = 0; i < ctx.nr_procs && !ret; i++)
		ret = load_proc(&ctx, &ctx.procs[i]);
	if (ret)
		goto out;

	FAULT_POINT_RET(ret, "restore:before-create");
	if (ret)
		goto out;
	struct rst_proc *root = &ctx.procs[0];
	pr_debug("images loaded");
	ret = create_root(&ctx, root);
	pr_debug("task %d created", root->pid);
	if (!ret)
		ret = restore_task_state(&ctx, root);
	if (!ret)
		FAULT_POINT_RET(ret, "restore:before-release");
	if (ret) {
		kill_created(&ctx);
		pr_err("restore failed; nothing of it was left running");
		goto out;
	}

	if (o->pidfile) {
		ret = write_pidfile(o->pidfile, root->pid);
		if (ret) {
			kill_created(&ctx);
			goto out;
		}
	}
	/* Let it go: from here on it runs as if it had never stopped. */
	bool stopped = o->leave_stopped || root->core->tc->task_state == TASK_STOPPED;
	if (stopped)
		kill(root->pid, SIGSTOP);
	if (ptrace(PTRACE_DETACH, root->pid, 0, 0)) {
		ret = -errno;
		pr_perror("can't detach from the restored task %d", root->pid);
		kill_created(&ctx);
		goto out;
	}
	pr_info("restored process %d", root->pid);
	if (!o->restore_detached) {
		int st;
		while (waitpid(root->pid, &st, 0) < 0) {
			if (errno != EINTR) {
				ret = -errno;
				pr_perror("waiting for the restored process %d failed", root->pid);
				goto out;
			}
		}
		if (exit_status)
			*exit_status = st;
	}
out:
	free_procs(&ctx);
	files_restore_free(&ctx.files);
	creds_restore_finish();
	close(ctx.dirfd);
	return ret;
}
